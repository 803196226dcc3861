"""``neurosim sweep``: many virtual patients, several arms, streamed to one HDF5 file."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

__all__ = ["register"]

_HEADLINE = (("pain_auc", "pain AUC"), ("nrs_endpoint", "NRS end"),
             ("responder_30", "resp>=30%"), ("mme_per_day", "MME/day"),
             ("side_effect_burden", "side eff."))


def register(subparsers) -> None:
    """Add the ``sweep`` subcommand."""
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep or virtual trial (many patients, several arms)",
        description=("Run a sweep file (a scenario file with a [sweep] section: distributions, "
                     "design, arms; docs/sweeps.md) and stream the results to an HDF5 file as "
                     "batches finish. Interrupt it with Ctrl-C (finished batches are kept) and "
                     "finish it later with --resume. Exit status: 0 success, 1 a patient's "
                     "simulation or the workers failed, 2 bad input (an existing file is not "
                     "changed), 130 Ctrl-C, 143 SIGTERM."))
    p.add_argument("sweep", help="sweep file (.toml)")
    p.add_argument("-o", "--output", metavar="FILE.h5",
                   help="results file (default: <sweep name>.h5 in the current folder)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="run batches on N single-threaded worker processes (default: this "
                            "process, batches in parallel over --threads)")
    where.add_argument("--dask", metavar="SPEC",
                       help="run batches on a Dask cluster: local:N (N workers on this machine) "
                            "or the scheduler's address tcp://HOST:PORT")
    p.add_argument("--threads", type=int, metavar="N",
                   help="solver threads in this process (default: all cores)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="finish the interrupted sweep in the output file (same sweep file)")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace an existing output file")
    p.add_argument("--summary-only", action="store_true",
                   help="keep the metrics per patient but no trajectories")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="patients per batch (default: about 64 MiB of working memory); results "
                        "do not depend on it")
    p.add_argument("--progress", choices=("auto", "none", "text", "tqdm"), default="auto",
                   help="progress report: a tqdm bar on a terminal, plain lines otherwise "
                        "(default: auto)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="when the sweep is finished, also save its overview figure (bands over "
                        "time, responder rates, change of pain; as 'neurosim plot')")
    p.add_argument("--check", action="store_true",
                   help="check the sweep file, describe it in words and stop")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_sweep)


def format_table(res) -> str:
    """The headline metrics of every arm (means over patients; responders: the rate)."""
    import math

    lines = [f"  {'arm':20s} {'patients':>9s}" + "".join(f" {h:>10s}" for _, h in _HEADLINE)]
    for arm in res.arms:
        s = res.summary(arm)
        ok = int(((res.status(arm) == 0) & res.done(arm)).sum())
        cells = []
        for k, _ in _HEADLINE:
            v = s[k]
            if k.startswith("responder") and not math.isnan(v):
                cells.append(f"{100 * v:9.1f}%")
            else:
                cells.append("-" if math.isnan(v) else f"{v:.4g}")
        lines.append(f"  {arm:20s} {ok:9d}" + "".join(f" {c:>10s}" for c in cells))
    return "\n".join(lines)


def _cmd_sweep(args) -> int:
    from ._cli_common import (FIGURE_SUFFIXES, check_target, command_line, progress_spec,
                              safe_name)
    from .errors import NeurosimValueError
    from .sweep import SweepInterrupted, load_sweep, run_sweep
    from .sweep.runner import SweepRunError

    for opt in ("workers", "threads", "batch_size"):
        v = getattr(args, opt)
        if v is not None and v < 1:
            raise NeurosimValueError(f"--{opt.replace('_', '-')} must be >= 1; got {v}.")
    if args.plot:
        check_target(args.plot, FIGURE_SUFFIXES, "--plot")
    sw = load_sweep(args.sweep)
    if not args.quiet:
        for w in sw.warnings:
            print(f"neurosim: warning: {w}", file=sys.stderr)
    if args.check:
        print(sw.describe())
        return 0
    out = Path(args.output) if args.output else Path(f"{safe_name(sw.name)}.h5")
    if not args.quiet and args.resume and not out.exists():
        print(f"neurosim sweep: {out} does not exist; starting the sweep.", file=sys.stderr)
    try:
        res = run_sweep(sw, out, resume=args.resume, overwrite=args.overwrite,
                        summary_only=args.summary_only, batch_size=args.batch_size,
                        threads=args.threads, workers=args.workers, dask=args.dask,
                        progress=None if args.quiet else progress_spec(args.progress),
                        command_line=command_line(args))
    except SweepInterrupted as exc:
        print(f"neurosim sweep: {exc}", file=sys.stderr)
        return 130 if exc.signum == signal.SIGINT else 128 + exc.signum
    except SweepRunError as exc:
        print(f"neurosim sweep: error: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for arm in res.arms:
        bad = int(((res.status(arm) != 0) & res.done(arm)).sum())
        if bad:
            failed += bad
            print(f"neurosim sweep: {arm}: {bad} patient(s) failed (status per patient in "
                  f"/arms/{arm}/status)", file=sys.stderr)
    if not args.quiet:
        print(f"{sw.name}: {sw.n_patients} patients x {len(res.arms)} arm(s); metrics to "
              f"{sw.base.endpoint / 168:g} weeks (means; responders: share of patients):")
        print(format_table(res))
        print(f"wrote {out}")
        if len(res.arms) > 1:
            print(f"each arm against '{res.arms[0]}', patient by patient: neurosim effects "
                  f"{out}")
    if args.plot:
        from .analysis.plots import overview
        from .comparison import save_figure

        save_figure(overview(res), args.plot)
        if not args.quiet:
            print(f"wrote {args.plot}")
    sys.stdout.flush()
    return 1 if failed else 0
