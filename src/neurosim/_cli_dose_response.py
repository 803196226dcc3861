"""``neurosim dose-response``: a drug at several doses on the same virtual patients."""
from __future__ import annotations

import signal
import sys

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``dose-response`` subcommand."""
    p = subparsers.add_parser(
        "dose-response", help="dose-response of a drug: responders, side effects, ED50, window",
        description=("Run the scenario's regimen of DRUG at each dose (the same virtual patients "
                     "at every dose, plus a control arm without the drug and any comparators), "
                     "print the responder rate, mean pain reduction and side-effect burden per "
                     "dose, the Emax fit with ED50 and its bootstrap interval, the dose at which "
                     "the side-effect burden reaches the threshold, the therapeutic window and "
                     "paired differences with comparators (docs/dose-response.md). With -o, "
                     "Ctrl-C keeps the finished batches and --resume finishes the run. Exit "
                     "status: 0 success, 1 some patients failed, 2 bad input (nothing written), "
                     "130 interrupted."))
    p.add_argument("scenario", help="scenario file (.toml) or packaged scenario name")
    p.add_argument("--drug", required=True, metavar="NAME", help="the drug whose dose varies")
    p.add_argument("--doses", required=True, metavar="D1,D2,...",
                   help="dose levels per administration, positive and increasing, e.g. 5,10,20")
    p.add_argument("--unit", default="mg",
                   help="unit of --doses: mg, ug, g, mg/kg (doses) or mg/h, ug/h (rates); "
                        "default mg")
    p.add_argument("--patients", type=int, default=200, metavar="N",
                   help="virtual patients (default 200)")
    p.add_argument("--seed", type=int, metavar="S",
                   help="seed of the patients and the bootstrap (default: the scenario's)")
    p.add_argument("--compare", nargs="+", default=[], metavar="DRUG[:REGIMEN]",
                   help="comparators on the same patients, e.g. morphine or "
                        "'oxycodone:10 mg po q6h' (a bare drug takes its packaged regimen)")
    p.add_argument("--response", default="responder_30", metavar="METRIC",
                   help="response metric (default responder_30)")
    p.add_argument("--side-effect", default="side_effect_burden", metavar="METRIC",
                   help="side-effect metric (default side_effect_burden)")
    p.add_argument("--threshold", type=float, default=None, metavar="X",
                   help="tolerability threshold of the mean side-effect metric (default 0.2)")
    p.add_argument("--bootstrap", type=int, default=500, metavar="B",
                   help="bootstrap resamples of the patients (default 500)")
    p.add_argument("--plot", metavar="FILE.png", help="write the dose-response figure")
    p.add_argument("-o", "--output", metavar="FILE.h5|FILE.csv",
                   help="keep every run (.h5) or the summary table (.csv)")
    p.add_argument("--resume", action="store_true",
                   help="finish the interrupted run of the same command (needs -o; the "
                        "unfinished runs wait beside it in .NAME.running.h5)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="patients per batch (default: as neurosim sweep); results do not "
                        "depend on it")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="run batches on N single-threaded worker processes")
    where.add_argument("--dask", metavar="SPEC", help="run on a Dask cluster (local:N or "
                                                       "tcp://HOST:PORT)")
    p.add_argument("--threads", type=int, metavar="N", help="solver threads (default: all)")
    p.add_argument("--progress", choices=("auto", "none", "text", "tqdm"), default="auto",
                   help="progress report (default: auto)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_dose_response)


def _parse_doses(text: str) -> list:
    from .errors import NeurosimValueError

    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            out.append(float(part))
        except ValueError:
            raise NeurosimValueError(f"--doses: {part!r} is not a number; give numbers "
                                     "separated by commas, e.g. --doses 5,10,20,40 (the unit "
                                     "goes in --unit).") from None
    return out


def _cmd_dose_response(args) -> int:
    from ._cli_common import FIGURE_SUFFIXES, check_target, command_line, progress_spec
    from .analysis.doseresponse import DEFAULT_THRESHOLD, dose_response, running_file
    from .errors import NeurosimValueError
    from .sweep import SweepInterrupted

    for opt in ("workers", "threads", "patients", "bootstrap", "batch_size"):
        v = getattr(args, opt)
        if v is not None and v < 1:
            raise NeurosimValueError(f"--{opt.replace('_', '-')} must be >= 1; got {v}.")
    if args.resume and not args.output:
        raise NeurosimValueError("--resume finishes the interrupted run written with -o FILE; "
                                 "give the same -o as that run.")
    if args.plot:
        check_target(args.plot, FIGURE_SUFFIXES, "--plot")
    doses = _parse_doses(args.doses)
    if args.resume and not args.quiet and not running_file(args.output).exists():
        print(f"neurosim dose-response: no unfinished run beside {args.output}; starting.",
              file=sys.stderr)
    try:
        res = dose_response(args.scenario, args.drug, doses, unit=args.unit,
                            patients=args.patients, seed=args.seed, compare=args.compare,
                            response=args.response, side_effect=args.side_effect,
                            threshold=(DEFAULT_THRESHOLD if args.threshold is None
                                       else args.threshold),
                            n_boot=args.bootstrap, output=args.output, threads=args.threads,
                            workers=args.workers, dask=args.dask,
                            progress=None if args.quiet else progress_spec(args.progress),
                            command_line=command_line(args), resume=args.resume,
                            batch_size=args.batch_size)
    except SweepInterrupted as exc:
        print(f"neurosim dose-response: {exc}", file=sys.stderr)
        return 130 if exc.signum == signal.SIGINT else 128 + exc.signum
    if not args.quiet:
        print(res.table())
        if res.path is not None:
            print(f"wrote {res.path}")
    if args.plot:
        from .analysis.sa_plots import plot_dose_response
        from .comparison import save_figure

        save_figure(plot_dose_response(res), args.plot)
        if not args.quiet:
            print(f"wrote {args.plot}")
    sys.stdout.flush()
    if res.failed:
        print(f"neurosim dose-response: {res.failed} patient(s) failed in some arm and were "
              "left out", file=sys.stderr)
        return 1
    return 0
