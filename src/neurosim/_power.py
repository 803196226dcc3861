"""``x ** a`` for the model's compiled code, without ``pow`` for the common exponents.

Hill coefficients in the parameter tables are mostly 1 or 2 (the opioid
system's slope is 1; capsular stretch is 6 in diameter, so 2 in volume).
The C library's ``pow`` treats them like any other exponent and, on the
reference virtual trial, was the largest single cost left in a solver step
(an eighth of it). :func:`power` returns ``x`` for ``a == 1`` (exactly what
``pow`` returns) and ``x * x`` for ``a == 2`` (the correctly rounded square;
``pow`` is accurate to within an ulp of it), and calls ``pow`` otherwise.
"""
from __future__ import annotations

from . import _indexing  # noqa: F401  (compiled code indexes without wraparound)

from numba import njit


@njit(inline="always", error_model="numpy", _nrt=False)
def power(x, a):
    """``x ** a`` for ``x >= 0``; exponents 1 and 2 without a call to ``pow``."""
    if a == 1.0:
        return x
    if a == 2.0:
        return x * x
    return x ** a
