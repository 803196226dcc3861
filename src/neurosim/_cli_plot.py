"""``neurosim plot``: figures from a results file written earlier (a run, a sweep, ...)."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register", "KINDS"]

#: Figures ``neurosim plot`` draws, with the words of its help.
KINDS = {
    "overview": "bands over time, responder rates and the change of pain, all arms "
                "(a sensitivity file: its indices)",
    "bands": "median and 5-95 % band of --trajectory over time, all arms in one panel",
    "patients": "--patients random patients' trajectories over the median, one panel per arm",
    "waterfall": "each patient's change of pain, sorted, one panel per arm",
    "responders": "IMMPACT responder rates with Wilson 95 % intervals",
    "change": "box plots of the change of pain from baseline",
    "by-input": "--metric per patient against --input (a varied parameter or drug factor)",
}


def register(subparsers) -> None:
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot", help="draw a figure from a results file (run, sweep, sensitivity, "
                     "dose-response)",
        description=("Draw a figure from a neurosim results file: one written by 'neurosim "
                     "run', 'sweep', 'dose-response' or 'sensitivity' (also a sweep still "
                     "running or interrupted: finished patients are drawn). Kinds: "
                     + "; ".join(f"{k}: {v}" for k, v in KINDS.items())
                     + ". Exit status: 0 success, 2 bad input (nothing written)."))
    p.add_argument("file", help="results file (.h5)")
    p.add_argument("-o", "--output", metavar="FILE.png",
                   help="figure file, .png, .pdf or .svg (default: <file>_<kind>.png in the "
                        "current folder)")
    p.add_argument("--kind", choices=tuple(KINDS), default="overview",
                   help="which figure (default: overview)")
    p.add_argument("--arm", action="append", metavar="ARM",
                   help="a sweep arm to draw (repeat for several; default: every arm)")
    p.add_argument("--trajectory", default="nrs", metavar="OUTPUT",
                   help="output drawn over time by overview, bands and patients (default: nrs)")
    p.add_argument("--input", metavar="NAME",
                   help="by-input: the varied model parameter or drug factor on the x axis "
                        "(e.g. nrs_s50, morphine.cl)")
    p.add_argument("--metric", default="mme_per_day", metavar="NAME",
                   help="by-input: the metric on the y axis (default: mme_per_day)")
    p.add_argument("--patients", type=int, default=20, metavar="N",
                   help="patients: how many random patients (default: 20)")
    p.add_argument("--max-patients", type=int, default=20_000, metavar="N",
                   help="overview, bands and patients: a random sample of at most N patients "
                        "per arm for the bands and medians (default: 20000; 0: all)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random samples (default: 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_plot)


def _has_group(res, name: str) -> bool:
    with res._file() as f:
        return name in f


def _per_arm(res, arms, draw):
    """One panel per arm, ``draw(arm, ax)`` in each; returns the Figure."""
    from matplotlib.figure import Figure

    from .analysis.plots import _arms_of

    arms = list(arms) if arms else list(_arms_of(res).arms)
    cols = min(len(arms), 2)
    rows = -(-len(arms) // cols)
    fig = Figure(figsize=(7.0 * cols, 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for a, ax in zip(arms, axes):
        draw(a, ax)
    for ax in axes[len(arms):]:
        ax.set_visible(False)
    return fig


def _figure(res, args):
    from matplotlib.figure import Figure

    from .analysis import plots
    from .errors import NeurosimValueError

    sweep = plots._is_sweep(res)
    if args.arm and not sweep:
        raise NeurosimValueError(f"--arm applies to sweep files; {args.file} holds one "
                                 "scenario run.")
    arms = args.arm if args.arm else None
    cap = args.max_patients or None
    if args.kind == "overview":
        if sweep and _has_group(res, "sensitivity"):
            from .analysis.sa_plots import plot_sensitivity
            from .analysis.sensitivity import open_sensitivity

            if arms is not None and len(arms) > 1:
                raise NeurosimValueError("the overview of a sensitivity file shows one arm; "
                                         "give at most one --arm.")
            return plot_sensitivity(open_sensitivity(res.path), arm=arms[0] if arms else None)
        return plots.overview(res, arm=arms, output=args.trajectory, max_patients=cap,
                              seed=args.seed)
    if args.kind in ("bands", "responders", "change", "by-input"):
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        ax = fig.subplots()
        if args.kind == "bands":
            plots.population_bands(res, args.trajectory, arm=arms, ax=ax, max_patients=cap,
                                   seed=args.seed)
        elif args.kind == "responders":
            plots.responder_rates(res, arm=arms, ax=ax)
        elif args.kind == "change":
            plots.change_distribution(res, arm=arms, ax=ax)
        else:
            if not args.input:
                raise NeurosimValueError("--kind by-input needs --input NAME (a model "
                                         "parameter that varies between the patients, or a "
                                         "drug factor such as morphine.cl).")
            plots.metric_by_input(res, args.input, args.metric, arm=arms, ax=ax)
        return fig
    if args.kind == "patients":
        return _per_arm(res, arms, lambda a, ax: plots.patient_trajectories(
            res, args.trajectory, arm=a, n=args.patients, seed=args.seed, ax=ax,
            max_patients=cap))
    return _per_arm(res, arms, lambda a, ax: plots.waterfall(res, arm=a, ax=ax))


def _cmd_plot(args) -> int:
    from ._cli_common import FIGURE_SUFFIXES, check_target, safe_name
    from .comparison import save_figure
    from .errors import NeurosimValueError
    from .io import open_results

    if args.patients < 1:
        raise NeurosimValueError(f"--patients must be >= 1; got {args.patients}.")
    if args.max_patients < 0:
        raise NeurosimValueError(f"--max-patients must be >= 0; got {args.max_patients}.")
    out = Path(args.output) if args.output else Path(
        f"{safe_name(Path(args.file).stem)}_{args.kind.replace('-', '_')}.png")
    check_target(out, FIGURE_SUFFIXES, "-o")
    res = open_results(args.file)
    fig = _figure(res, args)
    save_figure(fig, out)
    if not args.quiet:
        print(f"wrote {out}")
    sys.stdout.flush()
    return 0
