"""Helpers shared by the scenario subcommands (run, compare, validate, demo)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .errors import ResultsFileError

__all__ = ["command_line", "output_dir", "expand_scenarios", "report_failures",
           "add_run_options", "safe_name", "check_target", "FIGURE_SUFFIXES"]

#: File name endings a figure can be saved with.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def check_target(path, suffixes, option) -> None:
    """Check, before any work, that ``path`` can be written by ``option``.

    Raises
    ------
    ResultsFileError
        The name does not end in one of ``suffixes``, or its folder does not exist.
    """
    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise ResultsFileError(f"{option} {path}: use a file name ending in "
                               f"{' or '.join(suffixes)}.")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ResultsFileError(f"{option} {path}: the folder {folder} does not exist.")


def command_line(args) -> str:
    """The command, rebuilt from the parsed arguments (recorded in results files)."""
    if sys.argv and Path(sys.argv[0]).name == "neurosim":
        return shlex.join(["neurosim"] + sys.argv[1:])
    parts = ["neurosim", args.command]
    for key, value in vars(args).items():
        if key in ("func", "command") or value is None or value is False:
            continue
        if key in ("scenario", "scenarios", "files"):
            parts += [str(v) for v in (value if isinstance(value, list) else [value])]
        elif value is True:
            parts.append(f"--{key.replace('_', '-')}")
        else:
            parts.append(f"--{key.replace('_', '-')}={value}")
    return shlex.join(parts)


def output_dir(path) -> Path:
    """Create (if needed) and return an output folder, with a clear error if it cannot be."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsFileError(f"cannot create the output folder {p}: "
                               f"{exc.strerror or exc}.") from None
    if not p.is_dir():
        raise ResultsFileError(f"{p} exists and is not a folder; choose another -o.")
    return p


def expand_scenarios(items) -> list:
    """Scenario files from the arguments; comparison sets expand to their scenarios."""
    from .scenario import is_comparison, load_comparison

    out = []
    for item in items:
        if is_comparison(item):
            out += load_comparison(item)[2]
        else:
            out.append(item)
    return out


def report_failures(result, stream=None) -> bool:
    """Print the failed patients of a result; True if any failed."""
    stream = sys.stderr if stream is None else stream
    bad = [(i, m) for i, m in enumerate(result.status_messages) if m != "success"]
    for i, m in bad[:5]:
        print(f"neurosim: {result.name}: patient {i} failed: {m}", file=stream)
    if len(bad) > 5:
        print(f"neurosim: {result.name}: ... and {len(bad) - 5} more failed patients",
              file=stream)
    return bool(bad)


def print_warnings(scenario, stream=None) -> None:
    stream = sys.stderr if stream is None else stream
    for w in scenario.warnings:
        print(f"neurosim: warning: {w}", file=stream)


def progress_spec(choice: str, *, off_terminal="text"):
    """The progress reporter for a ``--progress`` choice.

    ``"auto"`` is a tqdm bar when stderr is a terminal (plain lines when tqdm is
    not installed) and ``off_terminal`` otherwise: ``"text"`` (lines every few
    seconds, for long work whose log should show it) or None (silent).
    """
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    if not sys.stderr.isatty():
        return off_terminal
    try:
        import tqdm  # noqa: F401

        return "tqdm"
    except ImportError:
        return "text"


def add_run_options(p) -> None:
    """Options shared by run and compare."""
    p.add_argument("--patients", type=int, metavar="N",
                   help="simulate N patients drawn from the virtual population (scenario seed)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="solver threads (default: all cores); results do not depend on it")
    p.add_argument("--progress", choices=("auto", "none", "text", "tqdm"), default="auto",
                   help="progress report over patients on stderr (default auto: a bar on a "
                        "terminal when more than one patient is simulated, nothing otherwise)")


def run_progress(args, scenario):
    """``--progress`` of run and compare for one scenario (``--patients`` or its own)."""
    n_patients = args.patients if args.patients is not None else scenario.population_size
    if getattr(args, "quiet", False):
        return None
    if args.progress == "auto" and n_patients <= 1:
        return None
    return progress_spec(args.progress, off_terminal=None)


def check_run_options(args) -> None:
    from .errors import NeurosimValueError

    if args.patients is not None and args.patients < 1:
        raise NeurosimValueError(f"--patients must be >= 1; got {args.patients}.")
    if args.threads is not None:
        import numba

        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            raise NeurosimValueError(f"--threads must be from 1 to "
                                     f"{numba.config.NUMBA_NUM_THREADS}; got {args.threads}.")


def safe_name(text: str, max_len: int = 100) -> str:
    """A file-name-safe version of a scenario name (at most ``max_len`` characters)."""
    out = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in text)
    return out[:max_len].strip("._") or "scenario"


def unique(names) -> list:
    seen: dict = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k + 1}")
    return out


__all__ += ["print_warnings", "check_run_options", "unique"]
