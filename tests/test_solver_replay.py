"""Step replay after repeated doses (Rosenbrock methods).

A stiff state that tracks a nonlinear function of a drug concentration,
dosed every 12 h: each dose interval repeats the previous one, so from the
second dose on the solver tries the steps the previous interval's errors
allowed.

References:
* accuracy: scipy's Radau IIA at rtol=1e-12, restarted at every dose (the
  same definition of a bolus: the dose is added at its time);
* the saving: the same solver on the same problem with fewer doses, so that
  the steps of the later dose intervals are counted on their own.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurosim.solver import solve_ensemble

_P = np.array([1.0, 0.2, 2000.0])  # ka, ke (1/h), tracking rate of the stiff state (1/h)
_RTOL = 1e-6
_ATOL = 1e-9


@numba.njit(cache=True)
def _rhs(t, y, p, dydt):
    ka, ke, kf = p[0], p[1], p[2]
    dydt[0] = -ka * y[0]
    dydt[1] = ka * y[0] - ke * y[1]
    dydt[2] = -kf * (y[2] - y[1] / (1.0 + y[1]))


@numba.njit(cache=True)
def _jac(t, y, p, J):
    ka, ke, kf = p[0], p[1], p[2]
    J[0, 0] = -ka
    J[1, 0] = ka
    J[1, 1] = -ke
    J[2, 1] = kf / (1.0 + y[1]) ** 2
    J[2, 2] = -kf


def _solve(amounts):
    n = len(amounts)
    t = np.linspace(0.0, 12.0 * n, 12 * n + 1)
    return solve_ensemble(_rhs, [0.0, 0.0, 0.0], t, _P, jac=_jac, method="rodas4",
                          rtol=_RTOL, atol=_ATOL,
                          doses=(np.arange(n) * 12.0, np.zeros(n, dtype=int),
                                 np.asarray(amounts, dtype=float)))


def _radau(amounts):
    """Hourly reference: Radau from dose to dose."""
    y = np.zeros(3)
    rows = [y.copy()]
    for k, amount in enumerate(amounts):
        y[0] += amount
        rows[-1] = y.copy()  # the save time at a dose includes it
        te = np.linspace(12.0 * k, 12.0 * (k + 1), 13)
        sol = solve_ivp(lambda tt, u: _rhs_py(u), (te[0], te[-1]), y, method="Radau",
                        t_eval=te, jac=lambda tt, u: _jac_py(u), rtol=1e-12, atol=1e-15)
        assert sol.success
        rows.extend(sol.y.T[1:])
        y = sol.y[:, -1].copy()
    return np.array(rows)


def _scaled_error(amounts):
    res = _solve(amounts)
    assert res.status[0] == 0
    ref = _radau(amounts)
    return np.max(np.abs(res.y[0] - ref) / (np.abs(ref) + 1e-3))


def _rhs_py(u):
    d = np.empty(3)
    _rhs(0.0, u, _P, d)
    return d


def _jac_py(u):
    J = np.zeros((3, 3))
    _jac(0.0, u, _P, J)
    return J


def test_replayed_steps_stay_accurate():
    """20 doses: within 100*rtol of Radau, scaled by |y| + 1e-3 (the states reach 0.1-5)."""
    assert _scaled_error(np.ones(20)) < 100 * _RTOL


def test_later_dose_intervals_take_fewer_steps():
    """The steps of doses 11-20 average less than 0.85x those of the second dose interval.

    Without the replay every interval after the first costs about the same
    (the PI controller rebuilds the step from the first one after the dose);
    measured: 0.98x without, 0.72x with.
    """
    steps = {n: int(_solve(np.ones(n)).stats["n_steps"][0]) for n in (1, 2, 10, 20)}
    second = steps[2] - steps[1]
    later = (steps[20] - steps[10]) / 10
    assert later < 0.85 * second, steps


@pytest.mark.parametrize("amount", [0.2, 5.0])
def test_a_changed_dose_is_still_solved_accurately(amount):
    """Steps learned on ten doses of 1.0 tried on ten of ``amount``: the error test rules."""
    amounts = np.where(np.arange(20) < 10, 1.0, amount)
    assert _scaled_error(amounts) < 100 * _RTOL
