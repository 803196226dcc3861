"""Linear states advanced in closed form (``solve_ensemble(..., linear=...)``).

References:
* repeated oral doses: the closed-form superposition of single-dose Bateman
  curves (:func:`neurosim.solver.problems.oral_pk_exact`);
* a PK/PD model whose response is nonlinear: scipy's Radau IIA at rtol=1e-12
  with the doses applied between restarts;
* the neurosim simulation: the same scenario solved with every state
  stepped (the default before closed form existed).
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurosim.errors import NeurosimValueError
from neurosim.solver import solve_ensemble
from neurosim.solver import problems as P


# A 2-compartment oral PK model with an effect site and a tolerance state (all
# linear), driving an indirect-response state through an Imax function (not
# linear: it has a constant production term and a Hill function of ce).
@numba.njit(cache=True)
def pkpd_rhs(t, y, p, dydt):
    ka, cl, vc, q, vp, ke0, ktol, imax, ec50, kin, kout = (p[0], p[1], p[2], p[3], p[4], p[5],
                                                           p[6], p[7], p[8], p[9], p[10])
    dydt[0] = -ka * y[0]
    dydt[1] = ka * y[0] - (cl + q) / vc * y[1] + q / vp * y[2]
    dydt[2] = q / vc * y[1] - q / vp * y[2]
    dydt[3] = ke0 * (y[1] / vc - y[3])
    dydt[4] = ktol * (y[3] - y[4])
    ce = max(y[3], 0.0)
    inh = imax * ce * ce / (ce * ce + (ec50 * (1.0 + y[4])) ** 2)
    dydt[5] = kin * (1.0 - inh) - kout * y[5]


@numba.njit(cache=True)
def pkpd_jac(t, y, p, J):
    ka, cl, vc, q, vp, ke0, ktol, imax, ec50, kin, kout = (p[0], p[1], p[2], p[3], p[4], p[5],
                                                           p[6], p[7], p[8], p[9], p[10])
    J[0, 0] = -ka
    J[1, 0] = ka
    J[1, 1] = -(cl + q) / vc
    J[1, 2] = q / vp
    J[2, 1] = q / vc
    J[2, 2] = -q / vp
    J[3, 1] = ke0 / vc
    J[3, 3] = -ke0
    J[4, 3] = ktol
    J[4, 4] = -ktol
    ce = max(y[3], 0.0)
    e = ec50 * (1.0 + y[4])
    d = ce * ce + e * e
    if y[3] > 0.0:
        J[5, 3] = -kin * imax * 2.0 * ce * e * e / (d * d)
    J[5, 4] = kin * imax * ce * ce * 2.0 * e * ec50 / (d * d)
    J[5, 5] = -kout


PKPD_P = np.array([1.2, 5.0, 20.0, 8.0, 60.0, 0.8, 0.05, 0.9, 0.3, 10.0, 0.5])
PKPD_Y0 = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 20.0])


def _pkpd_reference(t_eval, dose_t, amounts, p):
    """scipy Radau at rtol 1e-12, restarted at each dose."""
    def f(tt, y):
        d = np.empty(6)
        pkpd_rhs(tt, y, p, d)
        return d

    def jf(tt, y):
        m = np.zeros((6, 6))
        pkpd_jac(tt, y, p, m)
        return m

    y = PKPD_Y0.copy()
    out = np.empty((t_eval.size, 6))
    edges = list(dose_t) + [t_eval[-1]]
    t0 = t_eval[0]
    k = 0
    for i, te in enumerate(edges):
        if i < len(dose_t) and dose_t[i] == t0:
            y[0] += amounts[i]
        if te > t0:
            mask = (t_eval >= t0) & (t_eval < te) if i < len(dose_t) else (t_eval >= t0)
            sol = solve_ivp(f, (t0, te), y, method="Radau", jac=jf, rtol=1e-12, atol=1e-14,
                            t_eval=t_eval[mask], dense_output=True)
            assert sol.success
            out[mask] = sol.y.T
            y = sol.sol(te).copy()
            t0 = te
        if i < len(dose_t) and dose_t[i] == te and te > t_eval[0]:
            y[0] += amounts[i]
            k += 1
    return out


def _doses(n=10, every=12.0, amount=50.0):
    times = np.arange(n) * every
    return times, np.zeros(n, dtype=np.int64), np.full(n, amount)


def test_oral_doses_in_closed_form_match_superposition():
    """Every state linear: the solution is the superposition, to rounding (1e-10 relative)."""
    ka, ke = 1.3, 0.17
    t = np.linspace(0.0, 96.0, 97)
    dose_t, target, amounts = _doses(8, 12.0, 100.0)
    res = solve_ensemble(P.oral_pk_rhs, [0.0, 0.0], t, [ka, ke], jac=P.oral_pk_jac,
                         doses=(dose_t, target, amounts), rtol=1e-6, atol=1e-9, linear="auto")
    assert res.n_linear.tolist() == [2]
    gut, central = P.oral_pk_exact(t, dose_t, amounts, ka, ke)
    exact = np.stack([gut, central], axis=1)
    assert np.max(np.abs(res.y[0] - exact)) <= 1e-10 * np.max(np.abs(exact))
    # nothing to step: one step per dose interval
    assert res.stats["n_steps"][0] <= len(dose_t)


@pytest.mark.parametrize("method", ["rodas4", "dp5", "auto"])
def test_pkpd_with_linear_pk_matches_radau(method):
    """Five linear states in closed form, the response stepped: error ~ rtol vs Radau 1e-12."""
    t = np.linspace(0.0, 120.0, 241)
    dose_t, target, amounts = _doses(10)
    ref = _pkpd_reference(t, dose_t, amounts, PKPD_P)
    res = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, jac=pkpd_jac, method=method,
                         doses=(dose_t, target, amounts), rtol=1e-7, atol=1e-9,
                         autonomous=True, linear="auto")
    assert res.status[0] == 0
    assert res.n_linear.tolist() == [5]
    # linear states: exact up to rounding; the stepped response: the tolerance
    assert np.max(np.abs(res.y[0, :, :5] - ref[:, :5])) <= 1e-9 * np.max(np.abs(ref[:, :5]))
    assert np.max(np.abs(res.y[0, :, 5] - ref[:, 5])) <= 1e-5 * np.max(np.abs(ref[:, 5]))


def test_auto_stays_with_dormand_prince_when_states_are_in_closed_form():
    """At rtol <= 1e-4 "auto" starts with DOP853, except with ``linear=``: with the PK
    in closed form, the one stepped state sees a dose only through its input, and
    DOP853's error estimate accepted too long a first step after a dose (docs/solver.md).
    So "auto" with ``linear=`` is, bit for bit, Dormand-Prince with ``linear=``."""
    t = np.linspace(0.0, 120.0, 241)
    dose_t, target, amounts = _doses(10)
    kw = dict(jac=pkpd_jac, doses=(dose_t, target, amounts), rtol=1e-7, atol=1e-9,
              autonomous=True, linear="auto")
    auto = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, method="auto", **kw)
    dp5 = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, method="dp5", **kw)
    assert auto.stats["n_switches"][0] == 0
    assert np.array_equal(auto.y, dp5.y)
    # without linear= the same tolerance starts with DOP853
    kw.pop("linear")
    stepped = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, method="auto", **kw)
    dop = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, method="dop853", **kw)
    assert np.array_equal(stepped.y, dop.y)


def test_linear_mode_needs_fewer_steps():
    """PK transients no longer set the step size: fewer steps, error still set by rtol.

    Measured when written (rodas4, rtol 1e-6): 1760 steps closed form vs 2425
    stepped, response error 3.1e-6 vs 2.8e-6 against Radau at 1e-12.
    """
    t = np.linspace(0.0, 240.0, 241)
    dose_t, target, amounts = _doses(20)
    ref = _pkpd_reference(t, dose_t, amounts, PKPD_P)
    kw = dict(jac=pkpd_jac, doses=(dose_t, target, amounts), rtol=1e-6, atol=1e-8,
              autonomous=True, method="rodas4")
    stepped = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, **kw)
    closed = solve_ensemble(pkpd_rhs, PKPD_Y0, t, PKPD_P, linear="auto", **kw)
    err = lambda r: np.max(np.abs(r.y[0, :, 5] - ref[:, 5]))  # noqa: E731
    scale = np.max(np.abs(ref[:, 5]))
    assert err(closed) <= 1e-6 * scale          # rtol times the size of the response
    assert err(stepped) <= 1e-6 * scale
    assert closed.stats["n_steps"][0] < 0.85 * stepped.stats["n_steps"][0]


def test_closed_form_is_bitwise_reproducible_across_ensembles_and_threads():
    rng = np.random.default_rng(3)
    n = 12
    p = np.tile(PKPD_P, (n, 1))
    p[:, 1] *= rng.uniform(0.5, 2.0, n)
    t = np.linspace(0.0, 48.0, 49)
    doses = _doses(4)
    kw = dict(jac=pkpd_jac, doses=doses, rtol=1e-6, atol=1e-9, linear="auto")
    full = solve_ensemble(pkpd_rhs, PKPD_Y0, t, p, threads=1, **kw)
    if numba.config.NUMBA_NUM_THREADS > 1:
        two = solve_ensemble(pkpd_rhs, PKPD_Y0, t, p, threads=2, **kw)
        assert np.array_equal(full.y, two.y)
    alone = solve_ensemble(pkpd_rhs, PKPD_Y0, t, p[5], threads=1, **kw)
    assert np.array_equal(alone.y[0], full.y[5])


def test_constant_input_and_nonlinear_states_are_stepped():
    """The response (constant production, Hill function) is never put in closed form."""
    res = solve_ensemble(pkpd_rhs, PKPD_Y0, [0.0, 1.0], PKPD_P, jac=pkpd_jac,
                         doses=_doses(1), linear="auto")
    assert res.n_linear.tolist() == [5]
    # an index list restricts the search; a state whose input is left out is dropped too
    res = solve_ensemble(pkpd_rhs, PKPD_Y0, [0.0, 1.0], PKPD_P, jac=pkpd_jac,
                         doses=_doses(1), linear=[0, 1, 2, 5])
    assert res.n_linear.tolist() == [3]
    res = solve_ensemble(pkpd_rhs, PKPD_Y0, [0.0, 1.0], PKPD_P, jac=pkpd_jac,
                         doses=_doses(1), linear=[1, 2])  # central is fed by the gut
    assert res.n_linear.tolist() == [0]


@numba.njit(cache=True)
def chain_rhs(t, y, p, dydt):
    # two compartments with the same rate: A = [[-k, 0], [k, -k]] is defective
    dydt[0] = -p[0] * y[0]
    dydt[1] = p[0] * y[0] - p[0] * y[1]


@numba.njit(cache=True)
def chain_jac(t, y, p, J):
    J[0, 0] = -p[0]
    J[1, 0] = p[0]
    J[1, 1] = -p[0]


def test_defective_matrix_falls_back_to_stepping():
    """Equal rates give a Jordan block (no eigenvector basis): that member is stepped."""
    t = np.linspace(0.0, 10.0, 11)
    p = np.array([[0.5], [0.7]])
    res = solve_ensemble(chain_rhs, [1.0, 0.0], t, p, jac=chain_jac, rtol=1e-8, atol=1e-12,
                         linear="auto")
    assert res.n_linear.tolist() == [0, 0]
    k = p[:, 0][:, None]
    exact = k * t[None, :] * np.exp(-k * t[None, :])  # y1 = k t exp(-k t)
    assert np.max(np.abs(res.y[:, :, 1] - exact)) < 1e-7


def test_linear_argument_errors():
    with pytest.raises(NeurosimValueError, match="jac"):
        solve_ensemble(P.oral_pk_rhs, [1.0, 0.0], [0.0, 1.0], [1.0, 0.1], linear="auto")
    with pytest.raises(NeurosimValueError, match="linear must be"):
        solve_ensemble(P.oral_pk_rhs, [1.0, 0.0], [0.0, 1.0], [1.0, 0.1], jac=P.oral_pk_jac,
                       linear="yes")
    with pytest.raises(NeurosimValueError, match="does not exist"):
        solve_ensemble(P.oral_pk_rhs, [1.0, 0.0], [0.0, 1.0], [1.0, 0.1], jac=P.oral_pk_jac,
                       linear=[0, 7])


def test_simulation_agrees_with_every_state_stepped(monkeypatch):
    """A titrated morphine scenario: closed-form drug compartments vs all stepped.

    Both at rtol 1e-6; they must agree to 1e-4 on the 0-10 NRS (two solutions of
    one model whose difference is set by the tolerance), and the opioid given
    (titration decisions read the NRS) must be identical.
    """
    import neurosim.solver as S
    from neurosim.scenario import load_scenario
    from neurosim.simulation import simulate_scenario
    from pathlib import Path

    sc = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "morphine_titrated.toml")
    a = simulate_scenario(sc, patients=3, threads=1, rtol=1e-6)
    original = S.solve_ensemble
    seen = []

    def stepped(*args, **kw):
        seen.append(kw.get("linear"))
        kw["linear"] = None
        return original(*args, **kw)

    monkeypatch.setattr(S, "solve_ensemble", stepped)
    b = simulate_scenario(sc, patients=3, threads=1, rtol=1e-6)
    assert "auto" in seen
    assert np.max(np.abs(a["nrs"] - b["nrs"])) < 1e-4
    assert np.array_equal(a.metrics()["mme_per_day"], b.metrics()["mme_per_day"])
