"""Array indexing without negative-index wraparound in neurosim's compiled code.

Numba follows Python: ``a[i]`` with a negative signed ``i`` means
``a[len(a) + i]``. Where it cannot prove ``i >= 0`` it compiles a test and a
select around every access. In the solver and the model almost every index
comes from an array (the sparse factors' row and column lists, the
closed-form states, the treatment block's state offsets), so nothing can be
proved, and the tests cost more than the arithmetic: on the reference virtual
trial, removing them makes a solver step 1.3x faster with bit-for-bit the
same results.

:func:`install`, run when this module is first imported, makes Numba skip
the wraparound in functions defined in the ``neurosim`` package only. Every
neurosim module that defines compiled functions imports this one first
(which also installs :mod:`neurosim._jitcache`: their disk cache follows
every file of the package). Everyone else's code, including a user's
right-hand side passed to :func:`neurosim.solver.solve_ensemble`, keeps
Python's meaning. The rule for neurosim's own compiled code is therefore:
**never index an array with a negative number**. Write ``a[n - 1]``, not
``a[-1]``. Slices (``a[:k]``, ``a[-2:]``) are not affected.

To check the rule, set ``NEUROSIM_CHECK_INDEX=1`` and use empty cache
directories (``NUMBA_CACHE_DIR`` and ``NEUROSIM_CACHE_DIR``, because cached
machine code is reused as it is). Each negative index in neurosim's compiled
code then prints ``neurosim: negative index`` with the function's name and
is wrapped as Python would. ``tests/test_indexing.py`` runs the solver, the
model and the treatments this way.

This is done by wrapping ``numba.np.arrayobj.fix_integer_index``, the
function Numba's array indexing calls to apply the wraparound. If a Numba
release renames it, nothing is installed and indexing stays as Numba makes
it: slower, never wrong.
"""
from __future__ import annotations

import os

from numba.core import cgutils, types

# The other Numba setting for neurosim's own functions: their disk cache is
# invalidated by a change to any file of the package (see neurosim._jitcache).
from . import _jitcache  # noqa: F401

try:
    from numba.np import arrayobj as _arrayobj
except ImportError:  # pragma: no cover - a Numba without this module
    _arrayobj = None

# Numba names each compiled function after its module and qualified name,
# Itanium-style: ``neurosim.solver._kernels._ros_step`` becomes
# ``_ZN8neurosim6solver8_kernels9_ros_step...``.
_OWN_PREFIX = "_ZN8neurosim"

_original = None
_CHECK = os.environ.get("NEUROSIM_CHECK_INDEX", "") not in ("", "0")


def _own(builder) -> bool:
    try:
        return builder.function.name.startswith(_OWN_PREFIX)
    except AttributeError:  # pragma: no cover - not inside a function
        return False


def _fix_integer_index(context, builder, idxty, idx, size, *more, **named):
    # Anything but the call this was written for (a later Numba's extra
    # arguments) goes to Numba's own function unchanged.
    if more or named or not (getattr(idxty, "signed", False) and _own(builder)):
        return _original(context, builder, idxty, idx, size, *more, **named)
    ind = context.cast(builder, idx, idxty, types.intp)
    if _CHECK:
        negative = builder.icmp_signed("<", ind, ind.type(0))
        with builder.if_then(negative, likely=False):
            cgutils.printf(builder, "neurosim: negative index %lld in "
                           + builder.function.name + "\n", ind)
        ind = builder.select(negative, builder.add(ind, size), ind)
    return ind


def install() -> bool:
    """Install the rule (idempotent). Returns True if it is in effect."""
    global _original
    if _original is not None:
        return True
    original = getattr(_arrayobj, "fix_integer_index", None)
    if original is None:  # pragma: no cover - depends on the Numba release
        return False
    _original = original
    _arrayobj.fix_integer_index = _fix_integer_index
    return True


def installed() -> bool:
    """True when neurosim's compiled code indexes without wraparound."""
    return _original is not None and _arrayobj.fix_integer_index is _fix_integer_index


# Every neurosim module that defines compiled functions imports this one, so
# the rule is in place before the first of them is compiled (at its first call).
install()
