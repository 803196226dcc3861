"""Write docs/api.md, the index of neurosim's Python API, from the docstrings.

For each public module (its ``__all__``, or else the functions and classes it
defines whose names do not start with ``_``): every function's and class's
signature and the first paragraph of its docstring; for a class, its public
methods and properties the same way. ``tests/test_docs_python.py`` fails
when the page is out of date.

Usage::

    python docs/scripts/gen_api_docs.py           # rewrite docs/api.md
    python docs/scripts/gen_api_docs.py --check   # exit 1 if it is out of date
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "api.md"

#: (module, what it is for), in the order of the page
MODULES = [
    ("neurosim", "scenarios and their simulation: the entry points"),
    ("neurosim.scenario", "scenario files and the Scenario object"),
    ("neurosim.simulation", "simulating a scenario; results and metrics"),
    ("neurosim.comparison", "several scenarios on the same patients; the demo's figures"),
    ("neurosim.io", "results files (HDF5)"),
    ("neurosim.sweep", "sweep files, running sweeps, reading their results"),
    ("neurosim.analysis.effects", "paired effects of treatment arms against a control"),
    ("neurosim.analysis.biomarkers", "which baseline markers predict pain and response"),
    ("neurosim.analysis.sensitivity", "global sensitivity analysis (Sobol, Morris)"),
    ("neurosim.analysis.doseresponse", "dose-response studies"),
    ("neurosim.analysis.plots", "figures from results and sweep files"),
    ("neurosim.analysis.sa_plots", "figures of sensitivity and dose-response results"),
    ("neurosim.analysis.stats", "intervals and estimators used by the analyses"),
    ("neurosim.notebook", "the slider explorer and notebook helpers"),
    ("neurosim.model", "the disease model: states, parameters, equations, outputs"),
    ("neurosim.treatments", "drugs, liver states, regimens, compiled treatment blocks"),
    ("neurosim.solver", "the ensemble ODE solver"),
    ("neurosim.units", "quantities with units"),
    ("neurosim.errors", "the exceptions neurosim raises"),
]

HEADER = """# Python API reference

An index of neurosim's public Python API: each function and class with its
signature and the first paragraph of its docstring. The whole docstring
(parameters, returns, errors, examples) is one `help(...)` away in Python,
or `name?` in Jupyter. Generated from the docstrings by
`docs/scripts/gen_api_docs.py`; the tests fail when this page is out of date.

Where to start: [docs/tutorial.md](tutorial.md). Names not listed here
(leading underscore, or missing from a module's `__all__`) may change
without notice.

"""


def _summary(obj) -> str:
    """The first paragraph of ``obj``'s docstring, on one line."""
    doc = inspect.getdoc(getattr(obj, "py_func", obj)) or ""
    first = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in first.splitlines())


def _signature(obj) -> str:
    """The call signature without annotations (they are in the docstrings)."""
    obj = getattr(obj, "py_func", obj)   # a compiled (numba) function: its Python source
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    sig = sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty)
                                  for p in sig.parameters.values()],
                      return_annotation=inspect.Signature.empty)
    text = str(sig)
    # default values that print their memory address or a long repr
    return re.sub(r"<([\w.]+)(?: object)? at 0x[0-9a-f]+>", r"\1", text)


def _public_names(module) -> list:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            out.append(name)
    return out


def _members(cls) -> list:
    """(kind, name, object) of the public methods and properties ``cls`` defines."""
    out = []
    for name, obj in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(obj, property):
            out.append(("property", name, obj.fget))
        elif isinstance(obj, (staticmethod, classmethod)):
            out.append(("method", name, obj.__func__))
        elif inspect.isfunction(obj):
            out.append(("method", name, obj))
    return out


def _entry(qualname: str, obj) -> list:
    lines = []
    if inspect.isclass(obj):
        # a result record's constructor is not for users: no signature
        sig = "" if dataclasses.is_dataclass(obj) else _signature(obj)
        lines.append(f"### class `{qualname}{sig}`\n")
    elif callable(obj):
        lines.append(f"### `{qualname}{_signature(obj)}`\n")
    else:
        lines.append(f"### `{qualname}`: {_value(obj)}\n")
        return lines
    summary = _summary(obj)
    if summary:
        lines.append(summary + "\n")
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        members = _members(obj)
        if members:
            for kind, name, fn in members:
                sig = "" if kind == "property" else _signature(fn).replace("(self, ", "(", 1) \
                    .replace("(self)", "()", 1).replace("(cls, ", "(", 1)
                text = _summary(fn)
                lines.append(f"- `{name}{sig}`" + (f": {text}" if text else ""))
            lines.append("")
    return lines


def _section_of(module_name, listed):
    """The page section that documents a name defined in ``module_name`` (or None)."""
    if not module_name:
        return None
    best = None
    for m in listed:
        inside = module_name == m or (m != "neurosim" and module_name.startswith(m + "."))
        if inside and (best is None or len(m) > len(best)):
            best = m
    return best


def _value(obj) -> str:
    """A constant in a few words."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        return f"array of shape {obj.shape}"
    if isinstance(obj, (tuple, list)) and len(obj) > 3:
        kinds = sorted({type(v).__name__ for v in obj})
        return f"{type(obj).__name__} of {len(obj)} {' / '.join(kinds)}"
    if isinstance(obj, dict) and len(obj) > 3:
        return f"dict of {len(obj)} entries"
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def render() -> str:
    """The whole page."""
    parts = [HEADER, "| module | for |\n| --- | --- |\n"]
    parts += [f"| [`{m}`](#{m.replace('.', '')}) | {what} |\n" for m, what in MODULES]
    listed = {m for m, _ in MODULES}
    for name, what in MODULES:
        module = importlib.import_module(name)
        parts.append(f"\n## {name}\n\n{what[0].upper() + what[1:]}.\n\n")
        aliases = []
        for attr in _public_names(module):
            obj = getattr(module, attr)
            if inspect.ismodule(obj):
                continue
            home = _section_of(getattr(obj, "__module__", None), listed) \
                if callable(obj) else None
            if home is not None and home != name:   # documented in its own module's section
                aliases.append(f"`{name}.{attr}` (see `{home}.{attr}`)")
                continue
            parts.append("\n".join(_entry(f"{name}.{attr}", obj)) + "\n")
        if aliases:
            parts.append("Also here: " + ", ".join(aliases) + ".\n")
    return "".join(parts).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date; run python docs/scripts/gen_api_docs.py",
                  file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
