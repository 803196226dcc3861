"""``neurosim demo``: every standard intervention, healthy liver vs Child-Pugh B.

The demo runs the packaged comparison set (``compare_standard.toml``: the
untreated course, each standard intervention and a hypothetical drug) for
the default patient twice, with a healthy liver and with Child-Pugh B
cirrhosis, and writes results, a table and figures to one folder.
"""
from __future__ import annotations

import sys
import time

__all__ = ["register", "DEMO_LIVERS", "QUICK_CHANGES"]

#: Liver states the demo compares.
DEMO_LIVERS = ("healthy", "child_pugh_b")
#: Settings of ``--quick`` (a short run that exercises everything).
QUICK_CHANGES = {"duration": "2 weeks", "history": "1 week", "output_interval": "6 h"}


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo", help="every standard intervention, healthy liver vs Child-Pugh B",
        description=("Simulate every scenario of the packaged comparison set for the default "
                     "patient with a healthy liver and with Child-Pugh B cirrhosis (12 weeks "
                     "of treatment from presentation with moderate pain). Writes to the "
                     "output folder: results/<scenario>_<liver>.h5, summary.csv, "
                     "nrs_trajectories.png, components.png and liver_comparison.png; prints "
                     "the table. The first run compiles the solver (about a minute)."))
    p.add_argument("-o", "--output", metavar="DIR", default="neurosim-demo",
                   help="output folder (default: ./neurosim-demo)")
    p.add_argument("--quick", action="store_true",
                   help="2 weeks of treatment sampled every 6 h (a fast check)")
    p.add_argument("--threads", type=int, metavar="N", help="solver threads (default: all)")
    p.add_argument("--progress", choices=("auto", "none", "text", "tqdm"), default="auto",
                   help="progress over the simulations on stderr (default auto: a bar on a "
                        "terminal, nothing otherwise)")
    p.set_defaults(func=_cmd_demo)


def demo_scenarios(quick: bool = False) -> list:
    """The demo's scenarios: the packaged comparison set in each liver state of :data:`DEMO_LIVERS`."""
    from .scenario import load_comparison, load_scenario, scenario_path

    _, _, paths = load_comparison(scenario_path("compare_standard"))
    base = [load_scenario(p) for p in paths]
    extra = QUICK_CHANGES if quick else {}
    return [sc.with_changes(liver=liver, **extra) for liver in DEMO_LIVERS for sc in base]


def _cmd_demo(args) -> int:
    from matplotlib.figure import Figure

    from ._cli_common import command_line, output_dir, progress_spec, report_failures, safe_name
    from ._progress import make_progress
    from .comparison import (format_table, liver_label, plot_component_grid, plot_liver_bars,
                             plot_trajectories, save_figure, summary_rows, write_csv)
    from .errors import NeurosimValueError
    from .io.results import write_results
    from .simulation import simulate_scenario

    t0 = time.perf_counter()
    if args.threads is not None:
        import numba

        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            raise NeurosimValueError(f"--threads must be from 1 to "
                                     f"{numba.config.NUMBA_NUM_THREADS}; got {args.threads}.")
    scenarios = demo_scenarios(args.quick)
    outdir = output_dir(args.output)
    resdir = output_dir(outdir / "results")
    print(f"neurosim demo: {len(scenarios)} simulations ({len(scenarios) // len(DEMO_LIVERS)} "
          f"scenarios x {', '.join(DEMO_LIVERS)}); the first run compiles the solver.",
          flush=True)
    cmd = command_line(args)
    results, failed = [], False
    with make_progress(progress_spec(args.progress, off_terminal=None), len(scenarios),
                       "neurosim demo", unit="simulations") as bar:
        for sc in scenarios:
            res = simulate_scenario(sc, threads=args.threads)
            failed |= report_failures(res)
            write_results(res, resdir / f"{safe_name(sc.name)}_{sc.liver}.h5", command_line=cmd)
            results.append(res)
            bar.update(1)
    rows = summary_rows(results)
    write_csv(rows, outdir / "summary.csv")

    fig = Figure(figsize=(15, 5.2))
    axes = fig.subplots(1, len(DEMO_LIVERS), sharey=True)
    for k, (ax, liver) in enumerate(zip(axes, DEMO_LIVERS)):
        plot_trajectories([r for r in results if r.liver == liver], ax,
                          title=f"NRS, {liver_label(liver)} liver",
                          legend=k == len(DEMO_LIVERS) - 1)
    fig.tight_layout()
    save_figure(fig, outdir / "nrs_trajectories.png")
    save_figure(plot_component_grid([r for r in results if r.liver == DEMO_LIVERS[0]]),
                outdir / "components.png")
    save_figure(plot_liver_bars(rows, livers=DEMO_LIVERS), outdir / "liver_comparison.png")

    print(format_table(rows), end="")
    print(f"wrote {outdir}/: summary.csv, nrs_trajectories.png, components.png, "
          f"liver_comparison.png and {len(results)} results files in results/ "
          f"({time.perf_counter() - t0:.1f} s)")
    sys.stdout.flush()
    return 1 if failed else 0
