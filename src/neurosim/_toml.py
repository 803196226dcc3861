"""A small TOML writer for the data neurosim itself produces.

The standard library reads TOML (``tomllib``) but does not write it.
neurosim writes TOML in one place: a scenario built or changed in Python
is stored as text in results files, so that the file says exactly what
was run. That data is always plain tables, arrays, strings, numbers and
booleans, which is all this writer supports.

``tomllib.loads(dumps(d)) == d`` for every such ``d`` (tested).
"""
from __future__ import annotations

import math
import re
from typing import Mapping

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k) -> str:
    k = str(k)
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, (list, tuple)):
        items = [_value(x) for x in v]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= 88:
            return one_line
        return "[\n" + "".join(f"    {x},\n" for x in items) + "]"
    raise TypeError(f"cannot write a {type(v).__name__} as TOML")


def _is_table_array(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, Mapping) for x in v)


def _emit_table(lines: list, path: list, table: Mapping, header: str | None):
    simple = [(k, v) for k, v in table.items()
              if not isinstance(v, Mapping) and not _is_table_array(v)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    if header is not None and (simple or not (tables or arrays)):
        if lines:
            lines.append("")
        lines.append(header)
    for k, v in simple:
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        sub = path + [_key(k)]
        _emit_table(lines, sub, v, "[" + ".".join(sub) + "]")
    for k, v in arrays:
        sub = path + [_key(k)]
        for item in v:
            if lines:
                lines.append("")
            lines.append("[[" + ".".join(sub) + "]]")
            _emit_table(lines, sub, item, None)


def dumps(data: Mapping, *, header: str = "") -> str:
    """Write a mapping as a TOML document.

    Parameters
    ----------
    data : mapping
        Nested tables (mappings) whose leaves are str, int, float, bool or
        lists of them (a list of mappings becomes an array of tables).
    header : str, optional
        Comment lines put at the top (each prefixed with ``# ``).

    Returns
    -------
    str
    """
    lines: list[str] = []
    for line in header.splitlines():
        lines.append(f"# {line}".rstrip())
    _emit_table(lines, [], data, None)
    return "\n".join(lines) + "\n"
