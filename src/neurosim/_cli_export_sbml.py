"""``neurosim export-sbml``: write one patient of a scenario as an SBML model."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``export-sbml`` subcommand."""
    p = subparsers.add_parser(
        "export-sbml", help="export a scenario's model (one patient) to SBML",
        description=("Write the disease model, the scenario's drugs and procedures and its "
                     "dose schedule as an SBML Level 3 Version 1 model that COPASI, "
                     "libRoadRunner or Tellurium can simulate (docs/sbml.md). Model time 0 is "
                     "treatment start unless --from-diagnosis is given. Needs python-libsbml "
                     "(pip install \"neurosim[sbml]\"). Exit status: 0 written, 2 bad input or "
                     "a feature SBML cannot express (nothing written)."))
    p.add_argument("scenario", nargs="?", default="baseline",
                   help="scenario file (.toml) or packaged scenario name (default: baseline, "
                        "the untreated default patient)")
    p.add_argument("-o", "--output", metavar="FILE.xml",
                   help="SBML file to write (default: <scenario name>.xml in the current folder)")
    p.add_argument("--patient", type=int, metavar="K",
                   help="for a scenario with a virtual population: export patient K (from 0)")
    p.add_argument("--from-diagnosis", action="store_true",
                   help="start the model at diagnosis (the natural history included) instead "
                        "of at treatment start")
    p.add_argument("--rtol", type=float, default=1e-10, metavar="X",
                   help="relative tolerance of the natural history that gives the state at "
                        "treatment start (default: 1e-10)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_export_sbml)


def _cmd_export_sbml(args) -> int:
    from ._cli_common import safe_name
    from .errors import ResultsFileError
    from .sbml import export_sbml, sbml_consistency
    from .scenario import load_scenario

    sc = load_scenario(args.scenario)
    out = Path(args.output) if args.output else Path(f"{safe_name(sc.name)}.xml")
    if out.suffix.lower() not in (".xml", ".sbml"):
        raise ResultsFileError(f"-o {out}: an SBML file ends in .xml or .sbml.")
    if str(out.parent) and not out.parent.is_dir():
        raise ResultsFileError(f"-o {out}: the folder {out.parent} does not exist.")
    text = export_sbml(sc, out, patient=args.patient, from_diagnosis=args.from_diagnosis,
                       rtol=args.rtol)
    if not args.quiet:
        checks = sbml_consistency(text)
        n_err = sum(1 for sev, _ in checks if sev == "error")
        n_warn = sum(1 for sev, _ in checks if sev == "warning")
        start = "diagnosis" if args.from_diagnosis else "treatment start"
        print(f"wrote {out}: scenario {sc.name!r}, liver {sc.liver}, time 0 = {start}, "
              f"hours; libsbml consistency check: {n_err} error(s), {n_warn} warning(s)")
    sys.stdout.flush()
    return 0
