"""``neurosim run``: simulate one scenario, save the results, print the metrics."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``run`` subcommand."""
    from ._cli_common import add_run_options

    p = subparsers.add_parser(
        "run", help="simulate a scenario file and save the results (HDF5)",
        description=("Simulate one scenario (a .toml file, or the name of a packaged scenario "
                     "such as 'morphine_fixed'), write the results to an HDF5 file "
                     "(docs/file-format.md) and print its metrics. Exit status: 0 success, "
                     "1 a patient's simulation failed (results still written), 2 bad input "
                     "(nothing written)."))
    p.add_argument("scenario", help="scenario file (.toml) or packaged scenario name")
    p.add_argument("-o", "--output", metavar="FILE.h5",
                   help="results file (default: <scenario name>.h5 in the current folder)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also save a figure of the NRS and its components (png, pdf, svg)")
    add_run_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_run)


def format_metrics(result) -> str:
    """The metrics of a result as aligned lines (means over patients)."""
    import math

    from .simulation import METRICS

    s = result.summary()
    lines = []
    width = max(len(name) for name, _, _ in METRICS)
    for name, unit, desc in METRICS:
        v = s[name]
        text = "-" if (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"
        lines.append(f"  {name:{width}s} {text:>10s} {unit:8s} {desc}")
    return "\n".join(lines)


def _cmd_run(args) -> int:
    from ._cli_common import (FIGURE_SUFFIXES, check_run_options, check_target, command_line,
                              print_warnings, report_failures, run_progress, safe_name)
    from .comparison import save_figure
    from .errors import ResultsFileError
    from .io.results import write_results
    from .scenario import load_scenario
    from .simulation import simulate_scenario

    check_run_options(args)
    sc = load_scenario(args.scenario)
    out = Path(args.output) if args.output else Path(f"{safe_name(sc.name)}.h5")
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise ResultsFileError(f"-o {out}: a results file ends in .h5 or .hdf5.")
    if not out.parent.is_dir() and str(out.parent):
        raise ResultsFileError(f"-o {out}: the folder {out.parent} does not exist.")
    if args.plot:
        check_target(args.plot, FIGURE_SUFFIXES, "--plot")
    if not args.quiet:
        print_warnings(sc)
    res = simulate_scenario(sc, patients=args.patients, threads=args.threads,
                            progress=run_progress(args, sc))
    write_results(res, out, command_line=command_line(args))
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 4.5))
        res.plot(fig.subplots())
        fig.tight_layout()
        save_figure(fig, args.plot)
    failed = report_failures(res)
    if not args.quiet:
        print(f"{sc.name}: {res.n_patients} patient(s), liver {sc.liver}, treatment from "
              f"{sc.start_label}; metrics to {res.endpoint / 168:g} weeks:")
        print(format_metrics(res))
        for f in res.safety:
            print(f"  SAFETY ({f['severity']}): {f['message']}")
        print(f"wrote {out}" + (f" and {args.plot}" if args.plot else ""))
    sys.stdout.flush()
    return 1 if failed else 0
