"""The full system: disease model plus the compiled drug block.

``p = [model parameters | treatment block]`` and ``y = [core states | drug
states]`` (``docs/architecture.md``). The functions here are the solver-form
right-hand side, Jacobian and dose hook of any scenario; the treatment block
carries the scenario, so one compiled kernel serves every drug, regimen and
procedure.
"""
from __future__ import annotations

from . import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import numpy as np
from numba import njit

from ._stack import stack_empty, stack_empty_2d
from .model import equations as eq
from .model.states import N_CORE, N_SLOTS
from .treatments import pk

# Compiled with error_model="numpy": a division by zero gives inf/NaN, which the
# solver reports as that patient's status, instead of an exception that would
# abort every patient of a parallel ensemble.

__all__ = ["system_rhs", "system_jac", "system_dose_hook", "slot_values"]


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _layout(p):
    # The block's trailer holds n_core and the block's offset in p. Here the core
    # is always this disease model's N_CORE states (disease_rhs writes exactly
    # those), so the constant is used: loops with known bounds compile tighter.
    return N_CORE, int(p[p.shape[0] - 1])


@njit(cache=True, error_model="numpy", _nrt=False)
def slot_values(t, y, p, s):
    """Treatment slot values for the state ``y`` (written into ``s``)."""
    n_core, off = _layout(p)
    pk.drug_slot_values(t, y, p, n_core, off, s)


@njit(cache=True, error_model="numpy", _nrt=False)
def system_rhs(t, y, p, dydt):
    """Right-hand side of disease model plus drugs (per hour)."""
    n_core, off = _layout(p)
    s = stack_empty(N_SLOTS)
    pk.drug_slot_values(t, y, p, n_core, off, s)
    eq.disease_rhs(t, y, p, s, dydt)
    pk.drug_rhs(t, y, p, n_core, off, dydt)


@njit(cache=True, error_model="numpy", _nrt=False)
def system_jac(t, y, p, J):
    """Analytic Jacobian of :func:`system_rhs`.

    The core block comes from the disease model, the drug block from the
    treatment layer; drugs never depend on core states, and the core depends
    on drug states only through the slots: ``J[core, drug] = dfds @ dsdy``.
    """
    n_core, off = _layout(p)
    n = y.shape[0]
    nd = n - n_core
    s = stack_empty(N_SLOTS)
    dsdy = stack_empty_2d(N_SLOTS, nd)
    dfds = stack_empty_2d(n_core, N_SLOTS)
    pk.drug_slots(t, y, p, n_core, off, s, dsdy)
    eq.disease_jac(t, y, p, s, J, dfds)
    pk.drug_jac(t, y, p, n_core, off, J)
    # J[core, drug] = dfds @ dsdy, a column at a time. Both factors are sparse (a
    # slot depends on a few drug states, a core state on a few slots), so the
    # product skips the zero entries of dsdy; the terms add in order of k.
    for j in range(nd):
        for i in range(n_core):
            J[i, n_core + j] = 0.0
        for k in range(N_SLOTS):
            d = dsdy[k, j]
            if d != 0.0:
                for i in range(n_core):
                    J[i, n_core + j] += dfds[i, k] * d
    for i in range(n_core, n):
        for j in range(n_core):
            J[i, j] = 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def system_dose_hook(t, y, p, target, amount, tag):
    """Apply one dose record; titration and rescue decisions read the NRS."""
    nrs = np.nan
    if pk.dose_needs_nrs(tag):
        n_core, off = _layout(p)
        s = stack_empty(N_SLOTS)
        pk.drug_slot_values(t, y, p, n_core, off, s)
        nrs = eq.nrs_value(t, y, p, s)
    pk.apply_dose(t, y, p, target, amount, tag, nrs)
