"""``neurosim params``: list the disease-model parameter table.

The table is read from ``neurosim/data/parameters.toml`` (the single source
of truth); this command only filters and formats it.
"""
from __future__ import annotations

import csv
import io
import shutil
import sys

__all__ = ["register", "format_parameters"]

_FORMATS = ("table", "csv", "markdown")


def register(subparsers) -> None:
    """Add the ``params`` subcommand to an argparse subparsers object."""
    from .model.parameters import MODULES

    p = subparsers.add_parser(
        "params",
        help="list the disease-model parameters (value, unit, range, variability, source)",
        description=("List the annotated parameter table of the disease model. Times are in "
                     "hours; 'cv' is the between-patient coefficient of variation used for "
                     "virtual populations."))
    p.add_argument("--module", choices=MODULES, help="only parameters of this model module")
    p.add_argument("--name", metavar="TEXT",
                   help="only parameters whose name contains TEXT (case-insensitive)")
    p.add_argument("--format", choices=_FORMATS, default="table",
                   help="output format (default: table)")
    p.add_argument("--full", action="store_true",
                   help="table format: show descriptions and sources in full")
    p.set_defaults(func=_cmd_params)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def format_parameters(rows, fmt: str = "table", *, full: bool = False, width: int = 100) -> str:
    """Format parameter rows.

    Parameters
    ----------
    rows : sequence of neurosim.model.Parameter
        Rows to show, in order.
    fmt : {"table", "csv", "markdown"}
        Output format. CSV has every field (range as ``low``/``high``);
        Markdown is the table used in ``docs/model.md``.
    full : bool
        Table format only: do not shorten descriptions and add sources.
    width : int
        Table format only: target line width (characters).

    Returns
    -------
    str
    """
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "value", "unit", "low", "high", "cv", "module", "description",
                    "source"])
        for r in rows:
            w.writerow([r.name, _fmt(r.value), r.unit, _fmt(r.low), _fmt(r.high), _fmt(r.cv),
                        r.module, r.description, r.source])
        return buf.getvalue()
    if fmt == "markdown":
        esc = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines = ["| name | value | unit | range | cv | module | description | source |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            lines.append(f"| `{r.name}` | {_fmt(r.value)} | {esc(r.unit)} | "
                         f"{_fmt(r.low)}-{_fmt(r.high)} | {_fmt(r.cv)} | {r.module} | "
                         f"{esc(r.description)} | {esc(r.source)} |")
        return "\n".join(lines) + "\n"
    if fmt != "table":
        from .errors import NeurosimValueError

        raise NeurosimValueError(f"unknown format '{fmt}'; use one of {', '.join(_FORMATS)}")
    head = ["name", "value", "unit", "range", "cv", "module"]
    body = [[r.name, _fmt(r.value), r.unit, f"[{_fmt(r.low)}, {_fmt(r.high)}]", _fmt(r.cv),
             r.module] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    fixed = sum(widths) + 2 * len(widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  description"]
    room = max(40, width - fixed)
    for r, b in zip(rows, body):
        desc = r.description
        if not full and len(desc) > room:
            desc = desc[: room - 3] + "..."
        out.append("  ".join(c.ljust(w) for c, w in zip(b, widths)) + "  " + desc)
        if full:
            out.append(" " * (fixed) + "source: " + r.source)
    out.append(f"({len(rows)} parameter{'s' if len(rows) != 1 else ''}; times in h)")
    return "\n".join(out) + "\n"


def _cmd_params(args) -> int:
    from .errors import NeurosimKeyError, did_you_mean
    from .model.parameters import PARAMETERS

    rows = PARAMETERS.select(module=args.module, name=args.name)
    if not rows:
        hint = did_you_mean(args.name or "", PARAMETERS.names)
        raise NeurosimKeyError(f"no parameter matches --name '{args.name}'"
                               + (f" in module '{args.module}'" if args.module else "")
                               + "." + hint)
    width = max(shutil.get_terminal_size((120, 24)).columns, 100)
    sys.stdout.write(format_parameters(rows, args.format, full=args.full, width=width))
    return 0
