"""Numba's disk cache for neurosim's functions, invalidated by any change to the package.

Numba keys a cached function on its own source file only. A compiled
function carries the machine code of the functions it calls, so
``system.system_rhs`` (in ``system.py``) keeps the code of
``equations.disease_rhs`` it was compiled with: after an edit to
``model/equations.py`` alone, a checkout with warm caches would go on
running the old model, silently. (A fresh install rewrites every file,
so this bites working copies: an edit, a ``git pull`` or a branch switch.)

:func:`install` makes the cache stamp of every function defined in the
``neurosim`` package include a digest of all the package's Python source
and data files, so that any change to any of them recompiles neurosim's
functions the next time they are needed. Functions outside the package
keep Numba's per-file rule.

This adds a locator class in front of Numba's own
(``numba.core.caching.CacheImpl._locator_classes``, a private list): it
finds the cache directory exactly as Numba would and changes only the
stamp. If a Numba release renames the list, nothing is installed and
caching works as Numba makes it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

try:
    from numba.core import caching as _caching
except ImportError:  # pragma: no cover - a Numba without this module
    _caching = None

PACKAGE_DIR = Path(__file__).resolve().parent
_SUFFIXES = (".py", ".toml", ".csv")
_digest: str | None = None
_original_classes: list = []  # Numba's own locators, tried in order by ours


def package_digest() -> str:
    """SHA-256 of every source and data file of the package (computed once)."""
    global _digest
    if _digest is None:
        h = hashlib.sha256()
        for path in sorted(PACKAGE_DIR.rglob("*")):
            if path.suffix not in _SUFFIXES or "__pycache__" in path.parts:
                continue
            h.update(str(path.relative_to(PACKAGE_DIR)).encode())
            try:
                h.update(path.read_bytes())
            except OSError:
                continue
        _digest = h.hexdigest()
    return _digest


def _inside_package(py_file) -> bool:
    try:
        return Path(py_file).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


if _caching is not None and hasattr(_caching, "_CacheLocator"):
    class PackageStampLocator(_caching._CacheLocator):
        """Numba's own locator for the file, with the package digest in the stamp."""

        def __init__(self, inner):
            self._inner = inner

        def ensure_cache_path(self):
            self._inner.ensure_cache_path()

        def get_cache_path(self):
            return self._inner.get_cache_path()

        def get_source_stamp(self):
            return (self._inner.get_source_stamp(), package_digest())

        def get_disambiguator(self):
            return self._inner.get_disambiguator()

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _inside_package(py_file):
                return None
            for other in _original_classes:
                inner = other.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner)
            return None
else:  # pragma: no cover - depends on the Numba release
    PackageStampLocator = None


def _locator_list():
    impl = getattr(_caching, "CacheImpl", None) or getattr(_caching, "_CacheImpl", None)
    return getattr(impl, "_locator_classes", None)


def install() -> bool:
    """Put the package-wide stamp in place (idempotent). True if it is in effect."""
    classes = _locator_list()
    if PackageStampLocator is None or not isinstance(classes, list):  # pragma: no cover
        return False
    if classes and classes[0] is PackageStampLocator:
        return True
    _original_classes[:] = list(classes)
    classes.insert(0, PackageStampLocator)
    return True


def installed() -> bool:
    """True when neurosim's cached functions carry the package digest in their stamp."""
    classes = _locator_list() or []
    return bool(classes) and classes[0] is PackageStampLocator


install()
