"""Sparse factorisation of the Rosenbrock iteration matrix.

References:
* the factorisation itself: ``numpy.linalg.solve`` (LAPACK, partial
  pivoting) on the same matrices, to 1e-12 relative;
* whole solutions: scipy's Radau IIA at rtol=1e-12, for a stiff chain
  whose factorisation fills in, and for a model whose Jacobian structure
  changes with the state (an entry the probe cannot see).
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurosim.solver import _kernels as K
from neurosim.solver import solve_ensemble
from neurosim.solver import problems as P


@numba.njit(cache=True)
def _factor_and_solve(A, pattern, b):
    n = A.shape[0]
    use, lptr, lidx, uptr, uidx, fill = K.sparse_symbolic(pattern, np.arange(n))
    W = A.copy()
    rowmax = np.empty(n)
    for i in range(n):
        rowmax[i] = np.max(np.abs(A[i]))
    ok = K.sparse_lu_factor(W, rowmax, lptr, lidx, uptr, uidx)
    x = b.copy()
    if ok:
        K.sparse_lu_solve(W, rowmax, lptr, lidx, uptr, uidx, x)
    return use, ok, x, fill


def _random_sparse(rng, n, density):
    A = np.where(rng.random((n, n)) < density, rng.normal(size=(n, n)), 0.0)
    A[np.diag_indices(n)] = n + rng.random(n)  # a W = I/(h gamma) - J of a small step
    return A


@pytest.mark.parametrize("n,density", [(5, 0.3), (20, 0.1), (30, 0.05), (12, 0.6)])
def test_sparse_lu_solves_like_lapack(n, density):
    rng = np.random.default_rng(n)
    A = _random_sparse(rng, n, density)
    b = rng.normal(size=n)
    use, ok, x, fill = _factor_and_solve(A, A != 0.0, b)
    assert ok
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-12, atol=1e-14)
    # the symbolic fill is the pattern of the L and U factors: reference, the
    # non-zeros of a dense elimination without pivoting (numpy, Doolittle)
    lu = A.copy()
    for k in range(n):
        lu[k + 1:, k] /= lu[k, k]
        lu[k + 1:, k + 1:] -= np.outer(lu[k + 1:, k], lu[k, k + 1:])
    assert np.array_equal(fill, lu != 0.0)
    # sparse elimination is chosen only when the fill leaves most entries out
    assert use == (np.count_nonzero(lu) <= K._SPARSE_MAX_FILL * n * n)


def test_fill_in_of_an_arrow_matrix():
    """A dense first row and column fill the whole matrix; reversed, nothing fills."""
    n = 6
    arrow = np.eye(n, dtype=bool)
    arrow[0, :] = arrow[:, 0] = True
    _, _, _, fill = _factor_and_solve(np.eye(n) * 4 + arrow, arrow, np.ones(n))
    assert fill.all()
    rev = arrow[::-1, ::-1].copy()
    _, _, _, fill = _factor_and_solve(np.eye(n) * 4 + rev, rev, np.ones(n))
    assert np.array_equal(fill, rev)


def test_small_pivot_is_refused():
    """A matrix that needs row exchanges is handed to the pivoting factorisation."""
    A = np.array([[0.0, 1.0], [1.0, 0.0]])
    _, ok, _, _ = _factor_and_solve(A, A != 0.0, np.ones(2))
    assert not ok


@numba.njit(cache=True)
def switch_rhs(t, y, p, dydt):
    # y1 feeds y0 only while it is above p[0] (a C1 switch): the coupling
    # J[0, 1] is zero at the probe states and appears during the solve
    g = y[1] - p[0]
    dydt[0] = -y[0] + (g * g if g > 0.0 else 0.0)
    dydt[1] = -0.5 * y[1]
    dydt[2] = 1000.0 * (y[0] - y[2])  # stiff follower


@numba.njit(cache=True)
def switch_jac(t, y, p, J):
    g = y[1] - p[0]
    J[0, 0] = -1.0
    if g > 0.0:
        J[0, 1] = 2.0 * g
    J[1, 1] = -0.5
    J[2, 0] = 1000.0
    J[2, 2] = -1000.0


def test_jacobian_outside_the_pattern_falls_back_correctly():
    """An entry missing from the probed pattern is factorised densely, not dropped.

    Reference: scipy Radau at rtol 1e-12; tolerance 100 x rtol.
    """
    y0 = np.array([0.0, 60.0, 0.0])
    p = np.array([50.0])
    t = np.linspace(0.0, 10.0, 41)
    ref = solve_ivp(lambda tt, y: _f(y, p), (0.0, 10.0), y0, method="Radau", t_eval=t,
                    rtol=1e-12, atol=1e-12, jac=lambda tt, y: _j(y, p)).y.T
    rtol = 1e-8
    res = solve_ensemble(switch_rhs, y0, t, p, jac=switch_jac, method="rodas4", rtol=rtol,
                         atol=1e-10)
    assert res.all_success
    assert ref[4, 0] > 1.0  # the coupling was active
    err = np.max(np.abs(res.y[0] - ref) / (np.abs(ref) + 1e-6))
    assert err < 100 * rtol


def _f(y, p):
    out = np.empty(3)
    switch_rhs(0.0, y, p, out)
    return out


def _j(y, p):
    J = np.zeros((3, 3))
    switch_jac(0.0, y, p, J)
    return J


@numba.njit(cache=True)
def chain_rhs(t, y, p, dydt):
    # a stiff linear chain with a nonlinear loss at its end: tridiagonal plus
    # one corner entry, so the sparse elimination fills only one row
    n = y.shape[0]
    for i in range(n):
        dydt[i] = -p[0] * (i + 1) * y[i]
        if i > 0:
            dydt[i] += p[0] * i * y[i - 1]
    dydt[n - 1] -= y[n - 1] * y[n - 1]
    dydt[0] += 0.1 * y[n - 1]


@numba.njit(cache=True)
def chain_jac(t, y, p, J):
    n = y.shape[0]
    for i in range(n):
        J[i, i] = -p[0] * (i + 1)
        if i > 0:
            J[i, i - 1] = p[0] * i
    J[n - 1, n - 1] -= 2.0 * y[n - 1]
    J[0, n - 1] += 0.1


@numba.njit(cache=True)
def chain_jac_dense(t, y, p, J):
    # the same Jacobian with every zero replaced by 1e-300: a full pattern,
    # so the kernel factorises it densely, with partial pivoting
    chain_jac(t, y, p, J)
    for i in range(J.shape[0]):
        for j in range(J.shape[1]):
            if J[i, j] == 0.0:
                J[i, j] = 1e-300


@pytest.mark.parametrize("method", ["rodas4", "rodas5p"])
def test_sparse_path_on_a_stiff_chain(method):
    """A 12-state stiff chain whose factorisation fills in one column.

    References: scipy Radau at rtol 1e-12 (tolerance 100 x rtol, error floor
    1e-6), and the dense factorisation of the same problem, which must agree
    to 1e-12 relative (the diagonal is the pivot either way, so the
    eliminations do the same arithmetic).
    """
    n = 12
    J = np.zeros((n, n))
    chain_jac(0.0, np.ones(n), np.array([200.0]), J)
    use, *_ = K.sparse_symbolic(J != 0.0, np.arange(n))
    assert use
    y0 = np.zeros(n)
    y0[0] = 1.0
    p = np.array([200.0])
    t = np.linspace(0.0, 2.0, 21)
    ref = solve_ivp(lambda tt, y: _fc(y, p), (0.0, 2.0), y0, method="Radau", t_eval=t,
                    rtol=1e-12, atol=1e-14, jac=lambda tt, y: _jc(y, p)).y.T
    rtol = 1e-8
    res = solve_ensemble(chain_rhs, y0, t, p, jac=chain_jac, method=method, rtol=rtol,
                         atol=1e-12)
    assert res.all_success
    err = np.max(np.abs(res.y[0] - ref) / (np.abs(ref) + 1e-6))
    assert err < 100 * rtol
    dense = solve_ensemble(chain_rhs, y0, t, p, jac=chain_jac_dense, method=method, rtol=rtol,
                           atol=1e-12)
    np.testing.assert_allclose(res.y, dense.y, rtol=1e-12, atol=1e-300)


def _fc(y, p):
    out = np.empty(y.size)
    chain_rhs(0.0, y, p, out)
    return out


def _jc(y, p):
    J = np.zeros((y.size, y.size))
    chain_jac(0.0, y, p, J)
    return J


def test_hires_pattern_is_sparse():
    """HIRES (8 states, 25 Jacobian non-zeros in the Bari test set's equations)
    qualifies for sparse elimination."""
    J = np.zeros((8, 8))
    P.hires_jac(0.0, P.HIRES_Y0 + 0.1, P.HIRES_P, J)
    assert np.count_nonzero(J) == 25
    use, *_ , fill = K.sparse_symbolic(J != 0.0, np.arange(8))
    assert use and fill.sum() < 0.5 * 64
