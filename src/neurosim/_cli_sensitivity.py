"""``neurosim sensitivity``: Sobol indices or Morris screening of scenario metrics."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``sensitivity`` subcommand."""
    p = subparsers.add_parser(
        "sensitivity", help="global sensitivity analysis (Sobol indices, Morris screening)",
        description=("Run a sensitivity file (a scenario file with a [sensitivity] section: "
                     "method, parameters and ranges, sample size, outputs; "
                     "docs/sensitivity.md): sample the parameters with SALib, simulate every "
                     "sample through the sweep engine (streamed to HDF5, resumable with "
                     "--resume), and print the parameters ranked by influence on each output. "
                     "Exit status: 0 success, 1 some runs failed, 2 bad input, 130 Ctrl-C."))
    p.add_argument("file", metavar="SA.toml", help="sensitivity file (.toml)")
    p.add_argument("-o", "--output", metavar="FILE.h5",
                   help="results file: every run and the indices (default: <name>.h5)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="run batches on N single-threaded worker processes")
    where.add_argument("--dask", metavar="SPEC",
                       help="run batches on a Dask cluster: local:N or tcp://HOST:PORT")
    p.add_argument("--threads", type=int, metavar="N",
                   help="solver threads in this process (default: all cores)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="finish an interrupted analysis in the output file")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write a figure: tornado plots (Sobol) or mu*-sigma plots (Morris)")
    p.add_argument("--progress", choices=("auto", "none", "text", "tqdm"), default="auto",
                   help="progress report (default: auto)")
    p.add_argument("--check", action="store_true",
                   help="check the file, describe the analysis and stop")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_sensitivity)


def _cmd_sensitivity(args) -> int:
    from ._cli_common import (FIGURE_SUFFIXES, check_target, command_line, progress_spec,
                              safe_name)
    from .analysis.sensitivity import load_sensitivity, run_sensitivity
    from .errors import NeurosimValueError
    from .sweep import SweepInterrupted
    from .sweep.runner import SweepRunError

    for opt in ("workers", "threads"):
        v = getattr(args, opt)
        if v is not None and v < 1:
            raise NeurosimValueError(f"--{opt} must be >= 1; got {v}.")
    if args.plot:
        check_target(args.plot, FIGURE_SUFFIXES, "--plot")
    sp = load_sensitivity(args.file)
    if not args.quiet:
        for w in sp.warnings:
            print(f"neurosim: warning: {w}", file=sys.stderr)
    if args.check:
        print(sp.describe())
        return 0
    out = Path(args.output) if args.output else Path(f"{safe_name(sp.name)}.h5")
    try:
        res = run_sensitivity(sp, out, resume=args.resume, overwrite=args.overwrite,
                              threads=args.threads, workers=args.workers, dask=args.dask,
                              progress=None if args.quiet else progress_spec(args.progress),
                              command_line=command_line(args))
    except SweepInterrupted as exc:
        print(f"neurosim sensitivity: {exc}", file=sys.stderr)
        return 130 if exc.signum == signal.SIGINT else 128 + exc.signum
    except SweepRunError as exc:
        print(f"neurosim sensitivity: error: {exc}", file=sys.stderr)
        return 1
    from .sweep import open_sweep

    sweep = open_sweep(out)
    failed = 0
    for arm in sweep.arms:
        bad = int((sweep.status(arm) != 0).sum())
        if bad:
            failed += bad
            print(f"neurosim sensitivity: {arm}: {bad} run(s) failed (status per run in "
                  f"/arms/{arm}/status); outputs with a missing run have no indices",
                  file=sys.stderr)
    if not args.quiet:
        d = sp.design
        print(f"{sp.name}: {d.method}, {d.n_runs} runs x {len(res.arms)} arm(s), "
              f"{len(d.parameters)} parameters; ranked by "
              + ("total-order index ST" if d.method == "sobol" else "mu*") + ":")
        for arm in res.arms:
            for o in res.outputs:
                print(res.table(o, arm))
        print(f"wrote {out}")
    if args.plot:
        from .analysis.sa_plots import plot_sensitivity
        from .comparison import save_figure

        for arm in res.arms:
            fig = plot_sensitivity(res, arm=arm)
            target = Path(args.plot)
            if len(res.arms) > 1:
                target = target.with_name(f"{target.stem}_{safe_name(arm)}{target.suffix}")
            save_figure(fig, target)
            if not args.quiet:
                print(f"wrote {target}")
    sys.stdout.flush()
    return 1 if failed else 0
