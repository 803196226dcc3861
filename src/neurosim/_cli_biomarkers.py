"""``neurosim biomarkers``: which baseline markers predict severe pain and response in a sweep."""
from __future__ import annotations

import sys

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``biomarkers`` subcommand."""
    p = subparsers.add_parser(
        "biomarkers", help="rank baseline biomarkers as predictors of severe pain and response",
        description=("Read a sweep file (neurosim sweep) and rank the patients' values at "
                     "treatment start -- plasma IL-6, TNF-alpha, NGF, tumour volume, baseline "
                     "NRS, genotypes and named varied parameters -- by how well they predict "
                     "severe pain in the reference (untreated) arm and response in each "
                     "treatment arm: ROC AUC and Spearman rho with seeded bootstrap intervals "
                     "(docs/biomarkers.md). Failed or unfinished patients are left out and "
                     "counted. Exit status: 0 success, 2 bad input (nothing written)."))
    p.add_argument("sweep", metavar="SWEEP.h5", help="sweep results file")
    p.add_argument("--arm", action="append", metavar="NAME",
                   help="treatment arm whose response is analysed (repeat for several; default: "
                        "every arm but the untreated reference)")
    p.add_argument("--reference", metavar="NAME",
                   help="arm of the severe-pain outcome (default: the first untreated arm, "
                        "else the first arm)")
    p.add_argument("--outcome", action="append", metavar="NAME",
                   help="severe_pain, response, response_50 or a metric name such as "
                        "mme_per_day (repeat for several; default: severe_pain and response)")
    p.add_argument("--parameter", action="append", metavar="NAME",
                   help="a varied parameter of the sweep to add as a predictor (repeatable)")
    p.add_argument("--severe-nrs", type=float, default=7.0, metavar="NRS",
                   help="endpoint NRS counted as severe pain (default 7)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples for the intervals (default 1000; 0: none)")
    p.add_argument("--level", type=float, default=0.95,
                   help="coverage of the intervals (default 0.95)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the resampling (default 0); same seed, same intervals")
    p.add_argument("--min-patients", type=int, default=20, metavar="N",
                   help="fewest finished patients accepted (default 20)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also save a forest plot of the rankings (png, pdf, svg)")
    p.add_argument("--csv", metavar="FILE.csv", help="also write every row as CSV")
    p.add_argument("--format", choices=("table", "markdown", "csv"), default="table",
                   help="what to print (default: table)")
    p.add_argument("--progress", choices=("auto", "none", "text", "tqdm"), default="auto",
                   help="progress report on stderr (default auto: a bar on a terminal, "
                        "nothing otherwise)")
    p.set_defaults(func=_cmd_biomarkers)


def _cmd_biomarkers(args) -> int:
    from ._cli_common import FIGURE_SUFFIXES, check_target, progress_spec
    from .analysis.biomarkers import rank_biomarkers
    from .errors import NeurosimValueError

    # Check every output target before any work: bad input writes nothing.
    if args.plot:
        check_target(args.plot, FIGURE_SUFFIXES, "--plot")
    if args.csv:
        check_target(args.csv, (".csv",), "--csv")
    if args.min_patients < 2:
        raise NeurosimValueError(f"--min-patients must be >= 2; got {args.min_patients}.")
    ranking = rank_biomarkers(
        args.sweep, arms=args.arm, reference=args.reference,
        outcomes=args.outcome or ("severe_pain", "response"),
        parameters=args.parameter or (), severe_nrs=args.severe_nrs, n_boot=args.bootstrap,
        level=args.level, seed=args.seed, min_patients=args.min_patients,
        progress=progress_spec(args.progress, off_terminal=None))
    written = []
    if args.plot:
        from .comparison import save_figure

        save_figure(ranking.plot(), args.plot)
        written.append(args.plot)
    if args.csv:
        ranking.to_csv(args.csv)
        written.append(args.csv)
    if args.format == "csv":
        sys.stdout.write(ranking.to_csv())
    elif args.format == "markdown":
        sys.stdout.write(ranking.to_markdown())
    else:
        sys.stdout.write(ranking.to_text())
    if written:
        print(f"wrote {' and '.join(written)}", file=sys.stderr if args.format == "csv"
              else sys.stdout)
    sys.stdout.flush()
    return 0
