"""Reference integration of the drug block for the treatment-layer tests.

``simulate`` integrates ``drug_rhs`` with scipy's ``solve_ivp`` (Radau,
tight tolerances, analytic Jacobian) piecewise between dose events and
applies each event with the dose hook: an event loop independent of the
project's solver. ``block_rhs``/``block_jac`` put the drug block alone in
solver form for the test that runs the project's solver.
"""
from __future__ import annotations

import numba
import numpy as np
from scipy.integrate import solve_ivp

from neurosim.treatments import pk as _pk
from neurosim.treatments.pk import drug_jac, drug_rhs


def simulate(ct, t_eval, *, p_model=(), y0_core=(), hook=None, core_rhs=None, rtol=1e-10,
             atol=1e-12, p=None):
    """Integrate a compiled scenario; returns ``(y, p)``, ``y`` of shape (len(t_eval), n_total).

    Parameters
    ----------
    ct : CompiledTreatments
    t_eval : array_like
        Save times (h), increasing, starting at the simulation start. A save
        time equal to a dose time includes the dose.
    p_model, y0_core : array_like
        Model parameters and core states (stand-ins in these tests).
    hook : callable, optional
        ``hook(t, y, p, target, amount, tag)``; default: ``ct.dose_hook()``.
    core_rhs : callable, optional
        ``core_rhs(t, y, p, dydt)`` writing the core derivatives (default: 0).
    rtol, atol : float
        Tolerances of ``solve_ivp``.
    p : ndarray, optional
        The full parameter vector (default: ``ct.parameters(p_model)``).
    """
    if p is None:
        p = ct.parameters(np.asarray(p_model, dtype=float))
    y = np.concatenate([np.asarray(y0_core, dtype=float), ct.y0])
    n = y.size
    n_core, off = ct.n_core, ct.p_offset
    hook = ct.dose_hook() if hook is None else hook

    def f(t, yy):
        d = np.zeros(n)
        drug_rhs(t, yy, p, n_core, off, d)
        if core_rhs is not None:
            core_rhs(t, yy, p, d)
        return d

    def jac(t, yy):
        J = np.zeros((n, n))
        drug_jac(t, yy, p, n_core, off, J)
        return J

    times, targets, amounts, tags = ct.doses
    t_eval = np.asarray(t_eval, dtype=float)
    out = np.empty((t_eval.size, n))
    t = t_eval[0]
    k = 0
    stops = np.union1d(times[times <= t_eval[-1]], t_eval)
    for stop in stops:
        if stop > t:
            sol = solve_ivp(f, (t, stop), y, method="Radau",
                            jac=jac if core_rhs is None else None, rtol=rtol, atol=atol)
            assert sol.success, sol.message
            y = sol.y[:, -1].copy()
            t = stop
        while k < times.size and times[k] <= t + 1e-12:
            hook(t, y, p, targets[k], amounts[k], tags[k])
            k += 1
        hit = np.flatnonzero(t_eval == t)
        if hit.size:
            out[hit] = y
    return out, p


# Module-level and cached (the block functions referenced as module attributes), so the
# solver's compiled kernel for them is reused between test runs.
@numba.njit(cache=True)
def block_rhs(t, y, p, dydt):
    n = p.shape[0]
    _pk.drug_rhs(t, y, p, int(p[n - 2]), int(p[n - 1]), dydt)


@numba.njit(cache=True)
def block_jac(t, y, p, J):
    n = p.shape[0]
    _pk.drug_jac(t, y, p, int(p[n - 2]), int(p[n - 1]), J)
