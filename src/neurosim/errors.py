"""Exception hierarchy for neurosim.

Every error neurosim raises on purpose derives from :class:`NeurosimError`.
Subclasses also inherit the matching builtin, so ``except ValueError``
keeps working for callers who do not know about neurosim.
"""
from __future__ import annotations

import difflib
from typing import Iterable

__all__ = [
    "NeurosimError",
    "NeurosimValueError",
    "NeurosimKeyError",
    "NeurosimTypeError",
    "ScenarioError",
    "UnitError",
    "ResultsFileError",
    "MissingDependencyError",
    "did_you_mean",
    "bare_message",
]


class NeurosimError(Exception):
    """Base class of all errors raised by neurosim."""


class NeurosimValueError(NeurosimError, ValueError):
    """An argument has the right type but a value that is not allowed."""


class NeurosimTypeError(NeurosimValueError, TypeError):
    """An argument of the wrong kind (e.g. an rhs that is not jitted).

    Derives from both ``ValueError`` and ``TypeError`` so that callers
    catching either see it.
    """


class NeurosimKeyError(NeurosimError, KeyError):
    """A name (state, parameter, drug, output) that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class UnitError(NeurosimValueError):
    """A quantity whose unit is unknown or does not fit the expected dimension."""


class ScenarioError(NeurosimValueError):
    """A scenario or sweep file that cannot be used as written.

    Parameters
    ----------
    message : str
        What is wrong and what is allowed.
    file : str, optional
        Path of the offending file.
    key : str, optional
        Dotted key inside the file (e.g. ``treatments[2].dose``).
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        where = ""
        if file:
            where = f"{file}: "
        if key:
            where += f"[{key}] "
        super().__init__(where + message)


class ResultsFileError(NeurosimValueError):
    """A results file that is missing, corrupt or of an unsupported format."""


class MissingDependencyError(NeurosimError, ImportError):
    """An optional package (pandas, ipywidgets, ...) that a feature needs is not installed."""


def require(module: str, feature: str, extra: str = "notebook"):
    """Import an optional dependency, or say which package to install for ``feature``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs the optional package '{package}', which is not installed. "
            f"Install it with: pip install {package}  (or all notebook extras: "
            f"pip install \"neurosim[{extra}]\").") from None


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ``" Did you mean 'x'?"`` suffix, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean '{close[0]}'?"
    return " Did you mean " + ", ".join(f"'{c}'" for c in close[:-1]) + f" or '{close[-1]}'?"


def bare_message(exc: Exception) -> str:
    """The message of an error without the ``file: [key]`` prefix its reader gave it.

    For re-raising a nested error under another file or key.
    """
    msg = str(exc)
    file = getattr(exc, "file", None)
    key = getattr(exc, "key", None)
    if file and msg.startswith(f"{file}: "):
        msg = msg[len(file) + 2:]
    if key and msg.startswith(f"[{key}] "):
        msg = msg[len(key) + 3:]
    return msg
