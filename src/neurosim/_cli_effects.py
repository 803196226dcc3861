"""``neurosim effects``: paired effects of each arm against a control arm."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``effects`` subcommand."""
    p = subparsers.add_parser(
        "effects", help="paired effects of each arm against a control (differences with "
                        "confidence intervals)",
        description=("Compare each arm of a virtual trial with a control arm on the same "
                     "patients: the mean paired difference of each metric with its paired t "
                     "interval, and for the IMMPACT responder rates the difference with "
                     "Newcombe's paired score interval, McNemar's exact p-value and the "
                     "number needed to treat (docs/effects.md). Give a sweep file with arms "
                     "(neurosim sweep, dose-response), or several population run files of "
                     "the same patients (neurosim run/compare --patients N). Failed or "
                     "unfinished patients and undefined metrics are left out pair by pair. "
                     "Exit status: 0 success, 2 bad input (nothing written)."))
    p.add_argument("files", nargs="+", metavar="FILE.h5",
                   help="a sweep file, or two or more population run files")
    p.add_argument("--control", metavar="ARM",
                   help="the control arm (default: the first arm); with run files, the "
                        "scenario name")
    p.add_argument("--arm", action="append", metavar="ARM",
                   help="an arm to compare with the control (repeat for several; default: "
                        "every other arm)")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="a per-patient metric (repeat for several; default: nrs_endpoint, "
                        "pain_auc, pct_time_nrs_ge4, responder_30, responder_50, mme_per_day, "
                        "side_effect_burden)")
    p.add_argument("--by", metavar="GENOTYPE",
                   help="also one table per category of this genotype of the sweep (a "
                        "subgroup analysis, e.g. --by UGT2B7)")
    p.add_argument("--level", type=float, default=0.95,
                   help="coverage of the intervals (default 0.95)")
    p.add_argument("--csv", metavar="FILE.csv", help="also write every effect as CSV")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also save a forest plot of the differences (png, pdf, svg)")
    p.set_defaults(func=_cmd_effects)


def _arms_from_files(files):
    """A sweep result, or the population runs of several files as a ResultSet."""
    from .analysis.plots import ResultSet, _is_sweep
    from .errors import NeurosimValueError
    from .io import open_results

    seen = {}
    for f in files:
        key = Path(f).resolve()
        if key in seen:
            raise NeurosimValueError(f"{f} is given twice (as {seen[key]} before); each file is "
                                     "one arm.")
        seen[key] = f
    opened = [open_results(f) for f in files]
    if len(opened) == 1:
        (res,) = opened
        if not _is_sweep(res):
            raise NeurosimValueError(
                f"{files[0]} holds one scenario run; give the run files of the other "
                "scenarios too (same patients), or a sweep file with arms.")
        return res
    sweeps = [f for f, r in zip(files, opened) if _is_sweep(r)]
    if sweeps:
        raise NeurosimValueError(f"{sweeps[0]} is a sweep file; give one sweep file alone, "
                                 "or run files only.")
    return ResultSet(opened)


def _subgroups(res, genotype):
    """(words, mask) per category of a sweep's genotype, in the file's order; none for None."""
    from .analysis.plots import _is_sweep
    from .errors import NeurosimKeyError, NeurosimValueError, did_you_mean

    if genotype is None:
        return []
    if not _is_sweep(res):
        raise NeurosimValueError("--by needs a sweep file with [[sweep.genotypes]]; run files "
                                 "hold no genotypes.")
    genos = res.genotypes()
    if genotype not in genos:
        raise NeurosimKeyError(f"--by: the sweep has no genotype {genotype!r}."
                               + did_you_mean(genotype, list(genos))
                               + (f" Genotypes: {', '.join(genos)}." if genos else
                                  " It has none ([[sweep.genotypes]])."))
    labels = genos[genotype]
    cats = [c for c in dict.fromkeys(labels.tolist()) if c]
    return [(f"{genotype} = {c}", labels == c) for c in sorted(cats)]


def _cmd_effects(args) -> int:
    from ._cli_common import FIGURE_SUFFIXES, check_target
    from .analysis.effects import EffectTable, plot_effects, treatment_effects

    # Check every output target before any work: bad input writes nothing.
    if args.plot:
        check_target(args.plot, FIGURE_SUFFIXES, "--plot")
    if args.csv:
        check_target(args.csv, (".csv",), "--csv")
    res = _arms_from_files(args.files)
    kw = dict(arms=args.arm, metrics=args.metric, level=args.level)
    table = treatment_effects(res, args.control, **kw)
    tables = [table] + [treatment_effects(res, args.control, rows=mask, subgroup=words, **kw)
                        for words, mask in _subgroups(res, args.by)]
    fig = plot_effects(table) if args.plot else None
    written = []
    if args.csv:
        EffectTable([e for t in tables for e in t], table.control, table.level,
                    table.source).to_csv(args.csv)
        written.append(args.csv)
    if fig is not None:
        from .comparison import save_figure

        save_figure(fig, args.plot)
        written.append(args.plot)
    print("\n\n".join(t.format() for t in tables))
    if written:
        print(f"wrote {' and '.join(written)}")
    sys.stdout.flush()
    return 0
