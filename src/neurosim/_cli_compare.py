"""``neurosim compare``: run several scenarios and compare them side by side."""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``compare`` subcommand."""
    from ._cli_common import add_run_options

    p = subparsers.add_parser(
        "compare", help="run scenarios side by side: one figure, a table and a CSV",
        description=("Simulate each scenario (files, packaged names, or comparison sets that "
                     "list scenarios) and write, in the output folder: comparison.png (NRS "
                     "of every scenario and its four components), comparison.csv (every "
                     "metric), one results file per scenario and, for populations "
                     "(--patients N), population.png (bands over time, responder rates and "
                     "change of pain per scenario) and effects.csv (each scenario against the "
                     "first on the same patients, as 'neurosim effects'); print the tables. Exit "
                     "status: 0 success, 1 a simulation failed, 2 bad input (nothing "
                     "written)."))
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                   help="scenario files (.toml), comparison sets or packaged scenario names")
    p.add_argument("-o", "--output", metavar="DIR", default="neurosim-compare",
                   help="output folder (default: ./neurosim-compare)")
    p.add_argument("--liver", metavar="STATE",
                   help="run every scenario in this liver state (healthy, child_pugh_a, "
                        "child_pugh_b, child_pugh_c)")
    add_run_options(p)
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    from ._cli_common import (check_run_options, command_line, expand_scenarios, output_dir,
                              print_warnings, report_failures, run_progress, safe_name,
                              unique)
    from .comparison import (format_table, plot_comparison, save_figure, summary_rows,
                             write_csv)
    from .io.results import write_results
    from .scenario import load_scenario
    from .simulation import simulate_scenario

    check_run_options(args)
    # Read and check every scenario first: bad input writes nothing.
    scenarios = []
    for path in expand_scenarios(args.scenarios):
        sc = load_scenario(path)
        if args.liver:
            from .errors import NeurosimError, NeurosimValueError, bare_message

            try:
                sc = sc.with_changes(liver=args.liver)
            except NeurosimError as exc:
                raise NeurosimValueError(f"--liver: {bare_message(exc)}") from None
        scenarios.append(sc)
    outdir = Path(args.output)
    results, failed = [], False
    for sc in scenarios:
        print_warnings(sc)
        res = simulate_scenario(sc, patients=args.patients, threads=args.threads,
                                progress=run_progress(args, sc))
        failed |= report_failures(res)
        results.append(res)
    output_dir(outdir)
    cmd = command_line(args)
    names = unique([safe_name(r.name) for r in results])
    for r, n in zip(results, names):
        write_results(r, outdir / f"{n}.h5", command_line=cmd)
    rows = summary_rows(results)
    write_csv(rows, outdir / "comparison.csv")
    fig = plot_comparison(results)
    save_figure(fig, outdir / "comparison.png")
    figures = [outdir / "comparison.png"]
    if len({r.n_patients for r in results}) == 1 and results[0].n_patients > 1:
        from .analysis.plots import ResultSet, overview

        arms = ResultSet(results, names=names)
        save_figure(overview(arms), outdir / "population.png")
        figures.append(outdir / "population.png")
        effects = _paired_effects(arms, outdir)
    else:
        effects = None
    print(format_table(rows), end="")
    tables = [outdir / "comparison.csv"]
    if effects is not None:
        print()
        print(effects.format())
        tables.append(outdir / "effects.csv")
    print(f"wrote {', '.join(str(f) for f in figures + tables)} and {len(results)} results "
          f"file(s) in {outdir}")
    sys.stdout.flush()
    return 1 if failed else 0


def _paired_effects(arms, outdir):
    """Effects of every scenario against the first on the same patients (effects.csv).

    None, with a note on stderr, when the runs are not the same patients.
    """
    from .analysis.effects import treatment_effects
    from .errors import NeurosimValueError

    try:
        effects = treatment_effects(arms)
    except NeurosimValueError as exc:
        print(f"neurosim compare: no paired effects: {exc}", file=sys.stderr)
        return None
    effects.to_csv(outdir / "effects.csv")
    return effects
