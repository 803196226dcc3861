"""Accuracy of neurosim.solver against independent references.

References:
* stiff test problems (HIRES, Robertson, Van der Pol mu=1000): scipy's
  Radau IIA at rtol=1e-12 (an independent implicit Runge-Kutta code);
* repeated oral doses: the closed-form superposition of single-dose
  Bateman curves;
* orders of convergence: the exact solution of a nonlinear, non-autonomous
  test system, integrated with fixed steps by the compiled steppers.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurosim.solver import Status, solve_ensemble
from neurosim.solver import _kernels as K
from neurosim.solver import _tableaus as T
from neurosim.solver import problems as P


def scipy_reference(rhs, jac, y0, t, p, rtol=1e-12, atol=1e-14):
    """Solve one member with scipy Radau at tight tolerance (the reference)."""
    p = np.asarray(p, dtype=float)

    def f(tt, y):
        d = np.empty_like(y)
        rhs(tt, y, p, d)
        return d

    def jf(tt, y):
        m = np.empty((y.size, y.size))
        jac(tt, y, p, m)
        return m

    sol = solve_ivp(f, (t[0], t[-1]), np.asarray(y0, float), method="Radau", t_eval=t,
                    jac=jf, rtol=rtol, atol=atol)
    assert sol.success
    return sol.y.T


def scaled_error(y, ref, floor):
    """max |y - ref| / (|ref| + floor): relative error, absolute below `floor`."""
    return float(np.max(np.abs(y - ref) / (np.abs(ref) + floor)))


# ---------------------------------------------------------------------------
# Stiff problems from the literature


@pytest.fixture(scope="module")
def hires_reference():
    t = np.linspace(0.0, P.HIRES_T_END, 41)
    return t, scipy_reference(P.hires_rhs, P.hires_jac, P.HIRES_Y0, t, P.HIRES_P)


@pytest.mark.parametrize("use_jac,method", [(True, "rodas4"), (False, "rodas4"),
                                            (True, "rodas5p"), (True, "auto")])
def test_hires_matches_radau(hires_reference, use_jac, method):
    """HIRES at rtol=1e-8 within 100*rtol of Radau(rtol=1e-12), with and without jac."""
    t, ref = hires_reference
    rtol = 1e-8
    res = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, method=method,
                         jac=P.hires_jac if use_jac else None, rtol=rtol, atol=1e-12)
    assert res.all_success
    assert scaled_error(res.y[0], ref, 1e-6) < 100 * rtol


def test_hires_explicit_method(hires_reference):
    """The explicit pair also solves HIRES (mildly stiff) to its tolerance."""
    t, ref = hires_reference
    res = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, method="dp5", rtol=1e-8,
                         atol=1e-12)
    assert res.all_success
    assert scaled_error(res.y[0], ref, 1e-6) < 100 * 1e-8


def test_robertson_matches_radau():
    """Robertson over [0, 1e11] (Bari test set span) at rtol=1e-8: within 100*rtol."""
    t = np.concatenate([[0.0], np.logspace(-5, 11, 33)])
    ref = scipy_reference(P.robertson_rhs, P.robertson_jac, P.ROBERTSON_Y0, t,
                          P.ROBERTSON_P, atol=1e-20)
    floors = np.array([1e-8, 1e-14, 1e-8])
    res = solve_ensemble(P.robertson_rhs, P.ROBERTSON_Y0, t, P.ROBERTSON_P,
                         jac=P.robertson_jac, rtol=1e-8, atol=floors * 1e-4)
    assert res.all_success
    assert scaled_error(res.y[0], ref, floors) < 100 * 1e-8
    # mass is conserved to rounding by a linear-invariant-preserving method
    assert np.max(np.abs(res.y[0].sum(axis=1) - 1.0)) < 1e-12


def test_van_der_pol_stiff_matches_radau():
    """Van der Pol mu=1000 over [0, 3000] (two relaxation jumps).

    Errors are amplified near the jumps (a small shift in their time moves
    y2 by O(mu)); at rtol=1e-8 the error stays below 1e-5 relative (floor
    1e-3) and shrinks at least 10x from rtol=1e-6.
    """
    t = np.linspace(0.0, 3000.0, 31)
    ref = scipy_reference(P.vdp_rhs, P.vdp_jac, P.VDP_Y0, t, [1000.0], atol=1e-12)
    errs = []
    for rtol in (1e-6, 1e-8):
        res = solve_ensemble(P.vdp_rhs, P.VDP_Y0, t, [1000.0], jac=P.vdp_jac, rtol=rtol,
                             atol=rtol)
        assert res.all_success
        errs.append(scaled_error(res.y[0], ref, 1e-3))
    assert errs[1] < 1e-5
    assert errs[1] < errs[0] / 10


# ---------------------------------------------------------------------------
# Dosing


@pytest.mark.parametrize("method", ["rodas4", "rodas5p", "dp5", "dop853", "auto"])
def test_repeated_oral_doses_match_superposition(method):
    """q12h oral doses for 5 days against the closed-form superposition."""
    ka, ke = 1.2, 0.15
    dose_t = np.arange(0.0, 120.0, 12.0)
    amounts = np.full(dose_t.size, 50.0)
    t = np.linspace(0.0, 132.0, 265)  # includes every dose time
    res = solve_ensemble(P.oral_pk_rhs, [0.0, 0.0], t, [ka, ke], jac=P.oral_pk_jac,
                         doses=(dose_t, np.zeros(dose_t.size, dtype=int), amounts),
                         rtol=1e-10, atol=1e-10, method=method)
    gut, central = P.oral_pk_exact(t, dose_t, amounts, ka, ke)
    assert res.all_success
    # the save time at a dose includes it: the gut jumps by the dose there
    assert np.allclose(res.y[0, :, 0], gut, rtol=1e-7, atol=1e-8)
    assert np.allclose(res.y[0, :, 1], central, rtol=1e-7, atol=1e-8)


def test_doses_at_same_time_add_and_per_member_amounts():
    """Two records at one time add; 2-D amounts give each member its own doses."""
    ka, ke = 1.0, 0.1
    dose_t = np.array([0.0, 24.0, 24.0])
    amounts = np.array([[10.0, 5.0, 5.0], [20.0, 0.0, 30.0]])
    t = np.array([0.0, 12.0, 24.0, 48.0])
    res = solve_ensemble(P.oral_pk_rhs, [0.0, 0.0], t, [ka, ke], jac=P.oral_pk_jac,
                         doses=(dose_t, [0, 0, 0], amounts), rtol=1e-10, atol=1e-12)
    for m in range(2):
        eff_t = np.array([0.0, 24.0])
        eff_a = np.array([amounts[m, 0], amounts[m, 1] + amounts[m, 2]])
        gut, central = P.oral_pk_exact(t, eff_t, eff_a, ka, ke)
        assert np.allclose(res.y[m, :, 0], gut, rtol=1e-8, atol=1e-10)
        assert np.allclose(res.y[m, :, 1], central, rtol=1e-8, atol=1e-10)


def test_first_output_is_y0_without_dose():
    y0 = np.array([[3.0, 1.0], [0.5, 0.25]])
    res = solve_ensemble(P.oral_pk_rhs, y0, [0.0, 1.0, 2.0], [1.0, 0.1])
    assert np.array_equal(res.y[:, 0, :], y0)


@numba.njit(cache=True)
def _switch_hook(t, y, p, target, amount, tag):
    # tag 1: set an infusion-rate state; tag 2: scale a state
    if tag == 1:
        y[target] = amount
    elif tag == 2:
        y[target] *= amount


@numba.njit(cache=True)
def _rate_rhs(t, y, p, dydt):
    dydt[0] = y[1] - p[0] * y[0]   # amount with zero-order input y[1]
    dydt[1] = 0.0                   # infusion rate, switched by the hook


def test_dose_hook_runs_infusions_exactly():
    """A hook switching a rate state on and off reproduces the infusion closed form."""
    k = 0.3
    t = np.linspace(0.0, 20.0, 41)
    doses = (np.array([2.0, 6.0]), np.array([1, 1]), np.array([4.0, 0.0]), np.array([1, 1]))
    res = solve_ensemble(_rate_rhs, [0.0, 0.0], t, [k], doses=doses, dose_hook=_switch_hook,
                         rtol=1e-10, atol=1e-12)
    # closed form: infusion of 4 mg/h from 2 h to 6 h into a first-order compartment
    a_end = 4.0 / k * (1 - np.exp(-k * 4.0))
    exact = np.where(t < 2, 0.0, np.where(t <= 6, 4.0 / k * (1 - np.exp(-k * (t - 2))),
                                          a_end * np.exp(-k * (t - 6))))
    assert np.allclose(res.y[0, :, 0], exact, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------
# Orders of convergence with fixed steps on an exactly solvable system:
# y1' = y1 (1 - y1)              (logistic, nonlinear)
# y2' = -y2 + sin(t) + y1 - y1   (forced, non-autonomous; exercises df/dt)
# y1 = 1 / (1 + 3 exp(-t)) from y1(0) = 0.25;
# y2 = (sin t - cos t)/2 + (y2(0) + 1/2) exp(-t).


@numba.njit(cache=True)
def _conv_rhs(t, y, p, dydt):
    dydt[0] = y[0] * (1.0 - y[0])
    dydt[1] = -y[1] + np.sin(t)


@numba.njit(cache=True)
def _conv_jac(t, y, p, J):
    J[0, 0] = 1.0 - 2.0 * y[0]
    J[0, 1] = 0.0
    J[1, 0] = 0.0
    J[1, 1] = -1.0


def _conv_exact(t):
    y1 = 1.0 / (1.0 + 3.0 * np.exp(-t))
    y2 = 0.5 * (np.sin(t) - np.cos(t)) + (1.0 + 0.5) * np.exp(-t)
    return np.stack([y1, y2], axis=-1)


@numba.njit
def _fixed_ros(n_steps, t_end, gamma, a, c, alpha, gi, m, e, dense, last_stage=False, rid=-1):
    """Fixed Rosenbrock steps: the array-driven step (rid < 0) or the kernel's
    compiled step of table number rid."""
    n = 2
    h = t_end / n_steps
    y = np.array([0.25, 1.0])
    p = np.zeros(1)
    f0 = np.empty(n)
    dfdt = np.empty(n)
    J = np.empty((n, n))
    W = np.empty((n, n))
    piv = np.empty(n, np.int64)
    U = np.empty((m.size, n))
    ynew = np.empty(n)
    err = np.empty(n)
    yt = np.empty(n)
    ft = np.empty(n)
    mid = np.empty((n_steps, n))
    sp = K.sparse_symbolic(np.zeros((0, 0), np.bool_), np.arange(n))  # dense factorisation
    rowmax = np.empty(n)
    t = 0.0
    for k in range(n_steps):
        _conv_rhs(t, y, p, f0)
        _conv_jac(t, y, p, J)
        dt = 1e-7
        _conv_rhs(t + dt, y, p, ft)
        for i in range(n):
            dfdt[i] = (ft[i] - f0[i]) / dt
        # exact df/dt for this system (the FD above checks the plumbing only)
        dfdt[0] = 0.0
        dfdt[1] = np.cos(t)
        fptr, fcol = K.fill_rows(sp[5])
        if rid < 0:
            K._ros_step(_conv_rhs, None, t, h, y, p, f0, dfdt, J, W, piv, gamma, a, c, alpha, gi,
                        m, e, last_stage, U, ynew, err, yt, ft, 0, sp, False, rowmax, fptr, fcol)
        else:
            K._ros_step_table(rid, _conv_rhs, None, t, h, y, p, f0, dfdt, J, W, piv, U, ynew, err,
                              yt, ft, 0, sp, False, rowmax, fptr, fcol)
        K._ros_dense(0.5, y, ynew, U, dense, mid[k])
        y[:] = ynew
        t = (k + 1) * h
    return y, mid


@numba.njit
def _fixed_rk(n_steps, t_end, eid):
    """Fixed steps of the kernel's compiled explicit method number ``eid``."""
    n = 2
    h = t_end / n_steps
    y = np.array([0.25, 1.0])
    p = np.zeros(1)
    f0 = np.empty(n)
    Kst = np.empty((K.RK_ROWS, n))
    ynew = np.empty(n)
    err = np.empty(n)
    err3 = np.empty(n)
    yt = np.empty(n)
    ys = np.empty(n)
    mid = np.empty((n_steps, n))
    t = 0.0
    for k in range(n_steps):
        _conv_rhs(t, y, p, f0)
        K._rk_step(eid, _conv_rhs, None, t, h, y, p, f0, Kst, ynew, err, err3, yt, ys)
        K._rk_extras(eid, _conv_rhs, None, t, h, y, p, Kst, yt)
        K._rk_dense(eid, 0.5, h, y, Kst, mid[k])
        y[:] = ynew
        t = (k + 1) * h
    return y, mid


def _observed_orders(run, steps, t_end=2.0):
    end_err, mid_err = [], []
    for n in steps:
        y, mid = run(n)
        h = t_end / n
        end_err.append(np.max(np.abs(y - _conv_exact(np.array(t_end)))))
        tmid = (np.arange(n) + 0.5) * h
        mid_err.append(np.max(np.abs(mid - _conv_exact(tmid))))
    ratio = steps[1] / steps[0]
    end_order = np.log(np.array(end_err[:-1]) / np.array(end_err[1:])) / np.log(ratio)
    mid_order = np.log(np.array(mid_err[:-1]) / np.array(mid_err[1:])) / np.log(ratio)
    return end_order, mid_order


def test_rodas4_order_of_convergence():
    """Global order 4; dense output of order 3 (interpolation error O(h^4))."""
    tab = T.RODAS4
    end, mid = _observed_orders(
        lambda n: _fixed_ros(n, 2.0, tab.gamma, tab.a, tab.c, tab.alpha, tab.gammai, tab.m,
                             tab.e, tab.dense, True), [8, 16, 32, 64])
    assert np.all(np.abs(end[-2:] - 4.0) < 0.3), end
    assert np.all(mid[-2:] > 3.7), mid


def test_rodas5p_order_of_convergence():
    """Global order 5; dense output of order 4 (interpolation error O(h^5))."""
    tab = T.RODAS5P
    end, mid = _observed_orders(
        lambda n: _fixed_ros(n, 2.0, tab.gamma, tab.a, tab.c, tab.alpha, tab.gammai, tab.m,
                             tab.e, tab.dense, True), [16, 32, 64, 128])
    assert np.all(np.abs(end[-2:] - 5.0) < 0.3), end
    assert np.all(mid[-2:] > 4.7), mid


@pytest.mark.parametrize("name", ["rodas4", "rodas5p"])
def test_rosenbrock_last_stage_shortcut_is_exact(name):
    """Reading the solution and error estimate of a stiffly accurate table off its last
    stage gives bit-for-bit the numbers of the full sums m @ U and e @ U."""
    tab = T.ROSENBROCK[name]
    assert tab.last_stage
    args = (tab.gamma, tab.a, tab.c, tab.alpha, tab.gammai, tab.m, tab.e, tab.dense)
    y_sum, mid_sum = _fixed_ros(24, 2.0, *args, False)
    y_last, mid_last = _fixed_ros(24, 2.0, *args, True)
    assert np.array_equal(y_sum, y_last) and np.array_equal(mid_sum, mid_last)


@pytest.mark.parametrize("name", ["rodas4", "rodas5p"])
def test_compiled_rosenbrock_step_matches_its_table(name):
    """The kernel's Rosenbrock step, compiled with the table's coefficients as
    constants (neurosim.solver._unroll), gives bit-for-bit the numbers of the
    array-driven step on the same table (same terms in the same order)."""
    tab = T.ROSENBROCK[name]
    rid = K.ROSENBROCK_TABLES.index(tab)
    args = (tab.gamma, tab.a, tab.c, tab.alpha, tab.gammai, tab.m, tab.e, tab.dense)
    y_ref, mid_ref = _fixed_ros(24, 2.0, *args, False)
    y_c, mid_c = _fixed_ros(24, 2.0, *args, True, rid)
    assert np.array_equal(y_ref, y_c) and np.array_equal(mid_ref, mid_c)


def test_dp5_order_of_convergence():
    """Global order 5; Shampine's dense output of order 4 (error O(h^5))."""
    eid = K.EXPLICIT_TABLES.index(T.DP5)
    end, mid = _observed_orders(lambda n: _fixed_rk(n, 2.0, eid), [16, 32, 64, 128])
    assert np.all(np.abs(end[-2:] - 5.0) < 0.3), end
    assert np.all(mid[-2:] > 4.7), mid


def test_dop853_order_of_convergence():
    """Global order 8; Hairer's dense output of order 7 (error O(h^8)), with its three
    extra stages. Over t in [0, 20] with h from 1 to 0.25, so that the errors stay far
    above roundoff; the global error still converges a little faster than h^8 there
    (observed orders 8.4-8.7), hence the one-sided margin."""
    eid = K.EXPLICIT_TABLES.index(T.DOP853)
    end, mid = _observed_orders(lambda n: _fixed_rk(n, 20.0, eid), [20, 40, 80], t_end=20.0)
    assert np.all((end > 7.7) & (end < 9.0)), end
    assert np.all(mid > 7.5), mid


def _ordered_sum(coef, rows):
    """sum_j coef[j] * rows[j], term by term in order of j (as the compiled step sums)."""
    acc = np.zeros(rows.shape[1])
    for j, cj in enumerate(coef):
        if cj != 0.0:
            acc = acc + cj * rows[j]
    return acc


def _numpy_rk_step(t, h, y, a, b, e, c):
    """The explicit step written from the Butcher table with NumPy, stage by stage."""
    s = len(b)
    k = np.zeros((s, y.size))
    for i in range(s):
        f = np.empty(y.size)
        _conv_rhs(t + c[i] * h, y + h * _ordered_sum(a[i, :i], k[:i]), None, f)
        k[i] = f
    return y + h * _ordered_sum(b, k), h * _ordered_sum(e, k), k


@pytest.mark.parametrize("name", ["dp5", "dop853"])
def test_compiled_explicit_step_matches_its_table(name):
    """The step compiled with literal coefficients (neurosim.solver._unroll) is the
    table: new solution, error estimates, stages, extra stages and dense output agree
    to 1e-15 relative with a NumPy evaluation of the table that sums in the same order
    (the error estimates, differences of near-equal sums, to the roundoff of their
    terms)."""
    tab = T.EXPLICIT[name]
    eid = K.EXPLICIT_TABLES.index(tab)
    t, h = 0.3, 0.17
    y = np.array([0.4, -0.7])
    ynew_ref, err_ref, k_ref = _numpy_rk_step(t, h, y, tab.a, tab.b, tab.e, tab.c)
    f0 = np.empty(2)
    _conv_rhs(t, y, None, f0)
    Kst = np.empty((K.RK_ROWS, 2))
    ynew, err, err3, yt, ys = (np.empty(2) for _ in range(5))
    p = np.zeros(1)
    nf = K._rk_step(eid, _conv_rhs, None, t, h, y, p, f0, Kst, ynew, err, err3, yt, ys)
    assert nf == tab.stages - 1
    s = tab.stages
    np.testing.assert_allclose(Kst[:s], k_ref, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(ynew, ynew_ref, rtol=1e-15, atol=1e-16)
    # an estimate is a difference of near-equal sums: compare at the roundoff of
    # its terms, 8 eps * h * sum |e_j K_j| (NumPy sums in another order)
    for est, coef in ((err, tab.e), (err3, tab.e3)):
        if coef is None:
            continue
        bound = 8 * np.finfo(float).eps * h * (np.abs(coef) @ np.abs(k_ref))
        assert np.all(np.abs(est - h * _ordered_sum(coef, k_ref)) <= bound), (est, bound)
    # the input of the stage before the FSAL one, kept for the stiffness test
    np.testing.assert_allclose(ys, y + h * _ordered_sum(tab.a[-2, :-2], k_ref[:-2]), rtol=1e-15)
    # stages only the dense output uses
    assert K._rk_extras(eid, _conv_rhs, None, t, h, y, p, Kst, yt) == len(tab.c_extra)
    k_all = np.zeros((tab.rows, 2))
    k_all[:s] = k_ref
    for k in range(len(tab.c_extra)):
        r = s + k
        f = np.empty(2)
        _conv_rhs(t + tab.c_extra[k] * h, y + h * _ordered_sum(tab.a_extra[k, :r], k_all[:r]),
                  None, f)
        k_all[r] = f
    np.testing.assert_allclose(Kst[:tab.rows], k_all, rtol=1e-15, atol=1e-16)
    for theta in (0.0, 0.25, 0.6, 1.0):
        out = np.empty(2)
        K._rk_dense(eid, theta, h, y, Kst, out)
        w = np.zeros(tab.rows)  # each stage's weight by Horner's rule, as compiled
        for col in range(tab.dense.shape[1] - 1, -1, -1):
            w = tab.dense[:, col] + theta * w if col < tab.dense.shape[1] - 1 else tab.dense[:, col]
        ref = y + h * _ordered_sum(theta * w, k_all)
        np.testing.assert_allclose(out, ref, rtol=1e-15, atol=1e-16)
    # the continuous extension ends at the step's solution
    out = np.empty(2)
    K._rk_dense(eid, 1.0, h, y, Kst, out)
    np.testing.assert_allclose(out, ynew, rtol=1e-13)



@pytest.mark.parametrize("method", ["rodas4", "dp5", "dop853"])
def test_adaptive_error_tracks_tolerance(method):
    """Adaptive global error on the test system falls as rtol tightens (every method).

    The steps interpolate the save times here (``land_on_saves=False``), so that the
    error control alone chooses them: landed on 21 save times, DOP853's steps at rtol
    1e-4 and 1e-6 are the save spacing both times, and so is the error."""
    t = np.linspace(0.0, 10.0, 21)
    errs = []
    for rtol in (1e-4, 1e-6, 1e-8):
        res = solve_ensemble(_conv_rhs, [0.25, 1.0], t, None, jac=_conv_jac, rtol=rtol,
                             atol=rtol * 1e-2, method=method, land_on_saves=False)
        errs.append(np.max(np.abs(res.y[0] - _conv_exact(t))))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-6


@pytest.mark.parametrize("rtol, method", [(1e-3, "dp5"), (2e-4, "dp5"), (1e-4, "dop853"),
                                          (1e-7, "dop853")])
def test_auto_starts_with_the_explicit_method_for_its_tolerance(rtol, method):
    """On a non-stiff problem "auto" never switches, so it must give bit for bit the
    result of the explicit method it starts with: DOP853 at rtol <= 1e-4, Dormand-Prince
    above (each with its own save-time rule: DOP853's steps land on them)."""
    t = np.linspace(0.0, 10.0, 21)
    kw = dict(jac=_conv_jac, rtol=rtol, atol=rtol * 1e-2)
    auto = solve_ensemble(_conv_rhs, [0.25, 1.0], t, None, method="auto", **kw)
    fixed = solve_ensemble(_conv_rhs, [0.25, 1.0], t, None, method=method, **kw)
    assert auto.stats["n_switches"][0] == 0
    assert np.array_equal(auto.y, fixed.y)
    assert auto.stats["n_steps"][0] == fixed.stats["n_steps"][0]


# ---------------------------------------------------------------------------
# Ensembles: determinism, isolation of failures


def _hires_ensemble(n):
    params = np.tile(P.HIRES_P, (n, 1))
    params[:, 0] *= np.linspace(0.5, 1.5, n)
    return params


def _pk_ensemble(n):
    ka = np.linspace(0.5, 2.0, n)
    return np.stack([ka, np.full(n, 0.1)], axis=1)


@pytest.mark.parametrize("problem,method", [("hires", "rodas4"), ("pk", "rodas4"),
                                            ("pk", "dp5"), ("pk", "dop853")])
def test_results_identical_across_threads_and_ensembles(problem, method):
    """Bit-for-bit: 1 vs 2 threads, and a member alone vs inside the ensemble."""
    if problem == "hires":
        params = _hires_ensemble(64)
        args = (P.hires_rhs, P.HIRES_Y0, np.linspace(0.0, P.HIRES_T_END, 11))
        kw = dict(jac=P.hires_jac, rtol=1e-6, atol=1e-10, method=method)
    else:
        params = _pk_ensemble(64)
        dose_t = np.arange(0.0, 240.0, 12.0)
        amounts = np.outer(np.linspace(10, 100, 64), np.ones(dose_t.size))
        args = (P.oral_pk_rhs, [0.0, 0.0], np.linspace(0.0, 240.0, 241))
        kw = dict(rtol=1e-6, atol=1e-8, method=method,
                  doses=(dose_t, np.zeros(dose_t.size, dtype=int), amounts))
    r1 = solve_ensemble(*args, params, threads=1, **kw)
    r2 = solve_ensemble(*args, params, threads=2, **kw)
    assert r1.all_success
    assert np.array_equal(r1.y, r2.y)
    assert not np.isnan(r1.y).any()
    assert np.array_equal(r1.stats["n_steps"], r2.stats["n_steps"])
    if "doses" in kw:
        kw["doses"] = kw["doses"][:2] + (kw["doses"][2][37],)
    alone = solve_ensemble(*args, params[37], threads=1, **kw)
    assert np.array_equal(alone.y[0], r2.y[37])


@numba.njit(cache=True)
def _blowup_rhs(t, y, p, dydt):
    # y' = y^2 blows up at t = 1/y0; member with p[0] < 0 takes sqrt of a negative
    dydt[0] = y[0] * y[0]
    dydt[1] = np.sqrt(p[0]) if t > 0.1 else 0.0


def test_failing_members_do_not_stop_others():
    y0 = np.array([[0.5, 0.0], [1.0, 0.0], [4.0, 0.0], [0.5, 0.0]])
    params = np.array([[1.0], [1.0], [1.0], [-1.0]])
    t = np.linspace(0.0, 0.5, 11)
    res = solve_ensemble(_blowup_rhs, y0, t, params, rtol=1e-8, atol=1e-10)
    # member 2 blows up at t = 0.25; member 3 produces NaN after t = 0.1
    assert res.status[2] in (Status.STEP_UNDERFLOW, Status.NONFINITE)
    assert res.status[3] == Status.NONFINITE
    assert np.all(res.status[:2] == Status.SUCCESS)
    exact = 1.0 / (1.0 / y0[:2, 0:1] - t[None, :])
    assert np.allclose(res.y[:2, :, 0], exact, rtol=1e-6)
    assert 0.2 < res.t_reached[2] < 0.2501  # the numerical blow-up sits at the true one
    assert np.all(np.isnan(res.y[2, t > 0.2501]))
    assert len(res.messages()) == 2 and "member 3: NONFINITE" in res.messages()[1]


def test_max_steps_status():
    res = solve_ensemble(P.vdp_rhs, P.VDP_Y0, [0.0, 3000.0], [1000.0], method="dp5",
                         max_steps=500)
    assert res.status[0] == Status.MAX_STEPS
    assert "max_steps" in res.messages()[0]
    assert res.stats["n_steps"][0] + res.stats["n_rejected"][0] == 500


def test_function_defined_in_a_closure_still_works():
    """Functions that cannot be imported by name get an in-memory kernel."""

    @numba.njit
    def local_rhs(t, y, p, dydt):
        dydt[0] = -p[0] * y[0]

    res = solve_ensemble(local_rhs, [1.0], [0.0, 1.0], [[1.0], [2.0]], rtol=1e-10, atol=1e-12)
    assert np.allclose(res.y[:, -1, 0], np.exp([-1.0, -2.0]), rtol=1e-8)


def test_stats_are_counted():
    t = np.linspace(0.0, P.HIRES_T_END, 5)
    with_jac = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, jac=P.hires_jac,
                              method="rodas4")
    fd = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, method="rodas4")
    assert with_jac.stats["n_jac"][0] == with_jac.stats["n_steps"][0]
    assert with_jac.stats["n_lu"][0] == (with_jac.stats["n_steps"][0]
                                         + with_jac.stats["n_rejected"][0])
    # a finite-difference Jacobian costs n_states rhs calls each
    assert fd.stats["n_rhs"][0] >= with_jac.stats["n_rhs"][0] + 8 * fd.stats["n_jac"][0] - 8


def test_auto_method_switches_only_when_stiff(hires_reference):
    """'auto' moves HIRES to the stiff method and keeps a non-stiff PK problem explicit.

    Accuracy is that of the method in use: HIRES within 100*rtol of Radau.
    """
    t, ref = hires_reference
    res = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, jac=P.hires_jac, rtol=1e-8,
                         atol=1e-12, method="auto")
    assert res.stats["n_switches"][0] >= 1 and res.stats["n_jac"][0] > 0
    assert scaled_error(res.y[0], ref, 1e-6) < 100 * 1e-8
    # at a moderate tolerance stability, not accuracy, limits dp5 on HIRES: it needs an
    # order of magnitude more steps than 'auto'
    kw = dict(rtol=1e-6, atol=1e-10)
    dp5 = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, method="dp5", **kw)
    auto = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, jac=P.hires_jac, **kw)
    assert dp5.stats["n_steps"][0] > 5 * auto.stats["n_steps"][0]
    dose_t = np.arange(0.0, 120.0, 12.0)
    pk = solve_ensemble(P.oral_pk_rhs, [0.0, 0.0], np.linspace(0, 120, 121), [1.0, 0.1],
                        jac=P.oral_pk_jac, doses=(dose_t, np.zeros(10, int), np.full(10, 50.0)),
                        method="auto")
    assert pk.stats["n_switches"][0] == 0 and pk.stats["n_jac"][0] == 0


@pytest.mark.parametrize("method", ["auto", "rodas4"])
def test_error_tracks_tolerance_on_hires(hires_reference, method):
    """Reliability: across rtol 1e-4..1e-7 the HIRES error stays within 10*rtol.

    Reference: Radau at rtol 1e-12; error floored at 1e-4 (the scale below
    which HIRES states carry no weight), with atol = 1e-4 * rtol.
    """
    t, ref = hires_reference
    for rtol in (1e-4, 1e-5, 3e-6, 1e-6, 1e-7):
        res = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, jac=P.hires_jac,
                             rtol=rtol, atol=1e-4 * rtol, method=method)
        assert scaled_error(res.y[0], ref, 1e-4) < 10 * rtol, rtol


@pytest.mark.parametrize("method", ["rodas4", "rodas5p"])
def test_rosenbrock_steps_land_on_save_times(method):
    """Saved values of the stiff methods are step values, as accurate as the steps.

    HIRES at rtol 1e-5 on 101 save times against Radau at rtol 1e-12 (floor
    1e-4). By default the Rosenbrock steps end on the save times: the error
    stays below rtol. Interpolated instead (``land_on_saves=False``), the
    order-3/4 continuous extensions over the long late steps are several
    times less accurate (measured 13x for Rodas4, 200x for Rodas5P).
    """
    t = np.linspace(0.0, P.HIRES_T_END, 101)
    ref = scipy_reference(P.hires_rhs, P.hires_jac, P.HIRES_Y0, t, P.HIRES_P)
    kw = dict(jac=P.hires_jac, method=method, rtol=1e-5, atol=1e-9, autonomous=True)
    landed = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, **kw)
    interp = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, P.HIRES_P, land_on_saves=False, **kw)
    e_landed = scaled_error(landed.y[0], ref, 1e-4)
    e_interp = scaled_error(interp.y[0], ref, 1e-4)
    assert e_landed < 1e-5
    assert e_interp > 3.0 * e_landed
    # landing costs steps: at least one per save time the long steps would pass over
    assert landed.stats["n_steps"][0] > interp.stats["n_steps"][0]


@numba.njit(cache=True)
def _relax_rhs(t, y, p, dydt):
    # a fast state relaxing to cos(t) (|lambda| = p[0]) and a slow decay
    dydt[0] = -p[0] * (y[0] - np.cos(t))
    dydt[1] = -y[1]


def test_dop853_steps_land_on_save_times():
    """DOP853's saved values are its step values (``land_on_saves`` default).

    A fast state (lambda = -1000) relaxing to cos(t), 101 save times, rtol
    1e-6, against Radau at rtol 1e-12 (floor 1e-3). DOP853's steps sit at its
    stability boundary, where its order-7 interpolant is not accurate
    (measured 4.6e-6, above rtol); landing brings the saved values to the
    steps' accuracy (below rtol).
    """
    t = np.linspace(0.0, 10.0, 101)
    p = np.array([1000.0])
    ref = solve_ivp(lambda tt, y: [-p[0] * (y[0] - np.cos(tt)), -y[1]], (0.0, 10.0),
                    [2.0, 1.0], method="Radau", t_eval=t, rtol=1e-12, atol=1e-14).y.T
    kw = dict(method="dop853", rtol=1e-6, atol=1e-9)
    landed = solve_ensemble(_relax_rhs, [2.0, 1.0], t, p, **kw)   # DOP853's default
    interp = solve_ensemble(_relax_rhs, [2.0, 1.0], t, p, land_on_saves=False, **kw)
    e_landed = scaled_error(landed.y[0], ref, 1e-3)
    e_interp = scaled_error(interp.y[0], ref, 1e-3)
    assert e_landed < 1e-6
    assert e_interp > 3.0 * e_landed
    # a list of methods: only DOP853's steps land, as by default
    listed = solve_ensemble(_relax_rhs, [2.0, 1.0], t, p, land_on_saves=["dop853"], **kw)
    assert np.array_equal(listed.y, landed.y)
    # Dormand-Prince interpolates by default, and lands when listed
    dp = dict(kw, method="dp5")
    assert (solve_ensemble(_relax_rhs, [2.0, 1.0], t, p, land_on_saves=["dp5"], **dp)
            .stats["n_steps"][0] > solve_ensemble(_relax_rhs, [2.0, 1.0], t, p, **dp)
            .stats["n_steps"][0])


@numba.njit(cache=True)
def _driven_rhs(t, y, p, dydt):
    # a stiff pair (y0, y1) driven by a decaying input y2 that ignores them
    dydt[0] = y[1]
    dydt[1] = p[0] * (1.0 - y[0] * y[0]) * y[1] - y[0] + y[2]
    dydt[2] = -0.5 * y[2]


@numba.njit(cache=True)
def _driven_jac(t, y, p, J):
    J[0, 1] = 1.0
    J[1, 0] = -2.0 * p[0] * y[0] * y[1] - 1.0
    J[1, 1] = p[0] * (1.0 - y[0] * y[0])
    J[1, 2] = 1.0
    J[2, 2] = -0.5


@pytest.mark.parametrize("method", ["rodas4", "rodas5p"])
def test_block_split_matches_dense_factorisation(method):
    """block_split=k factorises the diagonal blocks only; same solution to rounding.

    Reference: the same method with the dense factorisation (identical steps,
    so the trajectories agree to ~1e-12, far below the tolerance).
    """
    t = np.linspace(0.0, 50.0, 26)
    kw = dict(jac=_driven_jac, rtol=1e-8, atol=1e-10, method=method,
              doses=(np.array([10.0, 20.0]), np.array([2, 2]), np.array([1.0, 2.0])))
    dense = solve_ensemble(_driven_rhs, [2.0, 0.0, 1.0], t, [50.0], **kw)
    split = solve_ensemble(_driven_rhs, [2.0, 0.0, 1.0], t, [50.0], block_split=2, **kw)
    assert dense.all_success and split.all_success
    assert np.allclose(split.y, dense.y, rtol=1e-9, atol=1e-12)
    assert np.array_equal(split.stats["n_steps"], dense.stats["n_steps"])
