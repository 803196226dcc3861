"""Compiled per-member integration kernels.

Everything here runs inside Numba: the step of each method (compiled from
its table in :mod:`neurosim.solver._tableaus` with the coefficients as
constants, :mod:`neurosim.solver._unroll`), the dense
linear algebra of the Rosenbrock stages, dose application, step-size control
and dense output at the save times.

A member is integrated in *segments* that end at dose times; no step
crosses a dose. Between segments the state jumps by the doses (or by what a
user ``dose_hook`` does) and integration restarts from the new state,
carrying the last step-size proposal across (a one-step method needs no
history, so a restart is exact).

These functions are not cached on their own: they are compiled into, and
cached with, the ensemble kernel generated for each right-hand side (see
:mod:`neurosim.solver._codegen`).
"""
from __future__ import annotations

from .. import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._tableaus import EXPLICIT, ROSENBROCK
from ._unroll import dense_source, dispatch_source, extras_source, ros_step_source, step_source

# Status codes of one member (documented in neurosim.solver.Status).
SUCCESS = 0
MAX_STEPS = 1
STEP_UNDERFLOW = 2
NONFINITE = 3
NOT_RUN = -1

# Positions in the per-member statistics row.
STAT_STEPS = 0
STAT_REJECTED = 1
STAT_RHS = 2
STAT_JAC = 3
STAT_LU = 4
STAT_SWITCH = 5
N_STATS = 6

FAMILY_EXPLICIT = 0
FAMILY_ROSENBROCK = 1
FAMILY_AUTO = 2

# Which steps end on the save times (``land``, bits): the explicit ones
# (DOP853's by default), the Rosenbrock ones, both or none (every save time
# inside a step interpolated). The Rosenbrock continuous extensions are of
# order 3 (Rodas4) and 4 (Rodas5P) and carry no error control of their own: on
# HIRES at rtol 3.2e-6 Rodas4's interpolated values were 16x less accurate
# than its steps (4.4e-6 vs 2.7e-7), and ending the steps on the 101 save
# times made them as accurate as the steps for 20 % more steps
# (docs/solver.md, "Save times").
LAND_EXPLICIT = 1
LAND_ROSENBROCK = 2
# A save time closer to the step's start than this fraction of the step is
# interpolated instead (no sliver steps where an interpolated step ended
# just short of it).
_LAND_MIN_FRACTION = 0.01

_EPS = np.finfo(np.float64).eps
_SQRT_EPS = np.sqrt(_EPS)
_SAFETY = 0.9
_FAC_MIN = 0.2
_FAC_MAX_EXPLICIT = 10.0
_FAC_MAX_ROSENBROCK = 6.0
# Step-size control: a PI controller (k = error order + 1),
#     h_new = h * safety * err^(-0.7/k) * err_prev^(0.4/k).
# Its integral term damps the oscillation of the step size around err = 1;
# it is meant to slow growth after a large error, not after a small one. The
# Rosenbrock methods therefore floor err_prev at 0.3: between the doses of long
# regimens their error estimate sits far below one, where a floor of 1e-4 let
# the step grow only by err^(-0.3/k) per step. With the floor (and the dose
# restarts below) the reference virtual trial takes 1.3x fewer accepted steps,
# and no rejected ones, at a smaller global error (docs/solver.md).
_PI_BETA1 = 0.7
_PI_BETA2 = 0.4
_ERR_PREV_FLOOR_EXPLICIT = 1e-4
_ERR_PREV_FLOOR_ROSENBROCK = 0.3
_LOG_ERR_PREV_FLOOR_EXPLICIT = float(np.log(_ERR_PREV_FLOOR_EXPLICIT))
_LOG_ERR_PREV_FLOOR_ROSENBROCK = float(np.log(_ERR_PREV_FLOOR_ROSENBROCK))
# After a dose, a restart begins with the step that suited the previous dose
# restart (scaled by its error, growth at most this factor) instead of a
# fresh estimate: repeated doses give repeated transients.
_DOSE_STEP_GROWTH = 2.0
# Step replay for repeated doses (Rosenbrock methods). Under a regular regimen
# each dose interval repeats the previous one, and in the stiff regime the
# error estimate hardly grows with the step (a stiff state tracks its
# quasi-steady value; the estimate measures how that moves, not h^k). The PI
# controller, whose model is err ~ h^k, then lengthens the step by only ~1.3x
# a step while the error sits at a few per cent of the tolerance. So for the
# first _REPLAY_MAX steps after a dose restart the solver records the step
# each one's error allowed, h * min(_DOSE_STEP_GROWTH, safety * err^(-1/k)),
# and after the next dose tries at least that long a step at the same position
# in the sequence. A rejected step falls back on the controller; the replay
# only ever proposes, the error test still decides (docs/solver.md).
_REPLAY_MAX = 64
# Automatic method: the explicit pair is declared stiff after _STIFF_COUNT
# accepted steps in a row with h|lambda| above Dormand-Prince 5(4)'s stability
# boundary on the negative real axis (~3.3); the Rosenbrock method hands back
# after as many steps with h ||J|| well inside it. DOP853 is switched at the
# same h|lambda|, below its own boundary (~6.1): closer to that boundary its
# error estimate let the error reach the tolerance (HIRES at rtol 1e-5: error
# 9e-6 and rejected steps with 6.1 as the threshold, 1.4e-6 and fewer steps
# with 3.25).
_STIFF_HLAMBDA = 3.25
_STIFF_COUNT = 15
_NONSTIFF_HNORM = 1.5


# ---------------------------------------------------------------------------
# Dense linear algebra for small systems (n up to ~100): LU with partial
# pivoting in place, then forward and back substitution.

@njit(inline="always", error_model="numpy")
def lu_factor(a, piv, dinv):
    """Factor ``a`` in place as P A = L U, reciprocal pivots in ``dinv``. False when singular."""
    n = a.shape[0]
    for k in range(n):
        p = k
        amax = abs(a[k, k])
        for i in range(k + 1, n):
            v = abs(a[i, k])
            if v > amax:
                amax = v
                p = i
        piv[k] = p
        if amax == 0.0 or not np.isfinite(amax):
            return False
        if p != k:
            for j in range(n):
                tmp = a[k, j]
                a[k, j] = a[p, j]
                a[p, j] = tmp
        inv = 1.0 / a[k, k]
        dinv[k] = inv
        for i in range(k + 1, n):
            a[i, k] *= inv
        # rank-1 update without branches: independent operations pipeline well
        for i in range(k + 1, n):
            lik = a[i, k]
            for j in range(k + 1, n):
                a[i, j] -= lik * a[k, j]
    return True


@njit(inline="always", error_model="numpy")
def lu_solve(lu, piv, dinv, b):
    """Solve A x = b in place given the factors from :func:`lu_factor`.

    Multiplies by the reciprocal pivots: a division's latency would sit on
    the back substitution's critical path (the sparse solve does the same,
    so both give the same numbers on the same matrix).
    """
    n = lu.shape[0]
    for k in range(n):
        p = piv[k]
        tmp = b[k]
        b[k] = b[p]
        b[p] = tmp
    for i in range(1, n):
        s = b[i]
        for j in range(i):
            s -= lu[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= lu[i, j] * b[j]
        b[i] = s * dinv[i]


# Sparse LU without pivoting, on a pattern fixed per member (read from its
# own Jacobian at two probe states, :func:`member_pattern`). The matrix is
# kept dense (n x n); only the positions of the symbolic fill are touched.
# ``sp = (use, lptr, lidx, uptr, uidx, fill)``: for column k, the rows
# i > k of L are ``lidx[lptr[k]:lptr[k + 1]]``; for row k, the columns
# j > k of U are ``uidx[uptr[k]:uptr[k + 1]]``; ``fill[i, j]`` marks the
# filled pattern. A pivot below _SPARSE_PIVOT_TOL times the largest entry of
# its row of W, or a Jacobian entry outside the pattern, sends that step to
# the dense factorisation with partial pivoting.

_SPARSE_PIVOT_TOL = 1e-10
# Sparse elimination pays when the filled pattern holds at most this
# fraction of the n^2 entries.
_SPARSE_MAX_FILL = 0.5


@njit(error_model="numpy")
def sparse_symbolic(pattern, idx):
    """Index arrays of the no-pivoting LU of ``pattern[idx][:, idx]`` (plus diagonal).

    Returns ``(use, lptr, lidx, uptr, uidx, fill)``; ``use`` is False when
    ``pattern`` is empty (no pattern known) or the fill is too dense to pay.
    """
    n = idx.shape[0]
    fill = np.zeros((n, n), dtype=np.bool_)
    lptr = np.zeros(n + 1, dtype=np.int64)
    uptr = np.zeros(n + 1, dtype=np.int64)
    if pattern.shape[0] == 0 or n == 0:
        return False, lptr, np.zeros(0, np.int64), uptr, np.zeros(0, np.int64), fill
    for a in range(n):
        fill[a, a] = True
        for b in range(n):
            if pattern[idx[a], idx[b]]:
                fill[a, b] = True
    for k in range(n):
        for i in range(k + 1, n):
            if fill[i, k]:
                for j in range(k + 1, n):
                    if fill[k, j]:
                        fill[i, j] = True
    lidx = np.empty(n * (n - 1) // 2, dtype=np.int64)
    uidx = np.empty(n * (n - 1) // 2, dtype=np.int64)
    nl = 0
    nu = 0
    for k in range(n):
        lptr[k] = nl
        uptr[k] = nu
        for i in range(k + 1, n):
            if fill[i, k]:
                lidx[nl] = i
                nl += 1
            if fill[k, i]:
                uidx[nu] = i
                nu += 1
    lptr[n] = nl
    uptr[n] = nu
    use = n + nl + nu <= _SPARSE_MAX_FILL * n * n
    return use, lptr, lidx[:nl], uptr, uidx[:nu], fill


@njit(inline="always", error_model="numpy")
def sparse_lu_factor(a, rowmax, lptr, lidx, uptr, uidx):
    """Factor ``a`` in place as L U on its symbolic pattern; False on a small pivot.

    ``rowmax`` holds each row's largest magnitude (for the pivot test) and is
    overwritten with the reciprocal pivots, which :func:`sparse_lu_solve`
    multiplies by: a division's latency sits on the back substitution's
    critical path, a multiplication's is a third of it.
    """
    n = a.shape[0]
    for k in range(n):
        pk = a[k, k]
        if not abs(pk) > _SPARSE_PIVOT_TOL * rowmax[k]:  # also catches NaN
            return False
        inv = 1.0 / pk
        rowmax[k] = inv
        for q in range(lptr[k], lptr[k + 1]):
            i = lidx[q]
            lik = a[i, k] * inv
            a[i, k] = lik
            for r in range(uptr[k], uptr[k + 1]):
                j = uidx[r]
                a[i, j] -= lik * a[k, j]
    return True


@njit(inline="always", error_model="numpy")
def sparse_lu_solve(lu, dinv, lptr, lidx, uptr, uidx, b):
    """Solve ``A x = b`` in place with the factors and reciprocal pivots ``dinv``
    from :func:`sparse_lu_factor`."""
    n = lu.shape[0]
    for k in range(n):
        bk = b[k]
        if bk != 0.0:
            for q in range(lptr[k], lptr[k + 1]):
                i = lidx[q]
                b[i] -= lu[i, k] * bk
    for k in range(n - 1, -1, -1):
        acc = b[k]
        for r in range(uptr[k], uptr[k + 1]):
            j = uidx[r]
            acc -= lu[k, j] * b[j]
        b[k] = acc * dinv[k]


@njit(inline="always", error_model="numpy")
def _in_pattern(jbits, outside):
    """True when every non-zero of ``J`` lies in the symbolic pattern.

    ``jbits`` is ``J`` viewed as int64 and ``outside`` holds every bit but the
    sign where the pattern has no entry (0 elsewhere): an entry off the
    pattern passes when it is +0.0 or -0.0. One OR over the whole matrix, with
    no branch, so it vectorises.
    """
    n = jbits.shape[0]
    acc = 0
    for i in range(n):
        for j in range(n):
            acc |= jbits[i, j] & outside[i, j]
    return acc == 0


_NO_SIGN = np.int64(0x7FFFFFFFFFFFFFFF)


@njit(error_model="numpy")
def _outside_mask(fill):
    """The ``outside`` mask of :func:`_in_pattern` for a symbolic pattern."""
    n = fill.shape[0]
    out = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if not fill[i, j]:
                out[i, j] = _NO_SIGN
    return out



# ---------------------------------------------------------------------------
# Small helpers

@njit(inline="always", error_model="numpy")
def _all_finite(v):
    for i in range(v.shape[0]):
        if not np.isfinite(v[i]):
            return False
    return True


@njit(inline="always", error_model="numpy")
def _err_scale(y, ynew, rtol, atol, i):
    """The error scale of state i: atol + rtol * max(|y|, |ynew|)."""
    return atol[i] + rtol * max(abs(y[i]), abs(ynew[i]))


@njit(inline="always", error_model="numpy")
def _err_norm(err, y, ynew, rtol, atol):
    """Root-mean-square of the error scaled by atol + rtol * max(|y|, |ynew|)."""
    n = err.shape[0]
    s = 0.0
    for i in range(n):
        sc = _err_scale(y, ynew, rtol, atol, i)
        v = err[i] / sc
        s += v * v
    if n == 0:
        return 0.0  # every state in closed form: nothing to control
    return np.sqrt(s / n)


@njit(error_model="numpy", _nrt=False)
def _initial_step(rhs, lin, t, y, p, f0, rtol, atol, order, span, ytmp, ftmp):
    """Starting step size (Hairer, Norsett & Wanner, Solving ODEs I, II.4).

    Returns the step and uses one rhs evaluation.
    """
    n = y.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(y[i])
        d0 += (y[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = np.sqrt(d0 / n)
    d1 = np.sqrt(d1 / n)
    if d0 < 1e-5 or d1 < 1e-5:
        h0 = 1e-6
    else:
        h0 = 0.01 * d0 / d1
    h0 = min(h0, span)
    for i in range(n):
        ytmp[i] = y[i] + h0 * f0[i]
    _call_rhs(rhs, lin, t + h0, ytmp, p, ftmp)
    d2 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(y[i])
        d2 += ((ftmp[i] - f0[i]) / sc) ** 2
    d2 = np.sqrt(d2 / n) / h0
    if not np.isfinite(d2):
        return h0 * 1e-3
    dmax = max(d1, d2)
    if dmax <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / dmax) ** (1.0 / (order + 1))
    return min(100.0 * h0, h1, span)


@njit(error_model="numpy", _nrt=False)
def _fd_jacobian(rhs, lin, t, y, p, f0, J, ytmp, ftmp, atol, rtol):
    """Forward-difference Jacobian, one column per state."""
    n = y.shape[0]
    for i in range(n):
        ytmp[i] = y[i]
    for j in range(n):
        scale = max(abs(y[j]), atol[j] / max(rtol, _EPS))
        delta = _SQRT_EPS * scale
        if delta == 0.0:
            delta = _SQRT_EPS
        ytmp[j] = y[j] + delta
        delta = ytmp[j] - y[j]  # the increment actually representable
        _call_rhs(rhs, lin, t, ytmp, p, ftmp)
        for i in range(n):
            J[i, j] = (ftmp[i] - f0[i]) / delta
        ytmp[j] = y[j]


@njit(inline="always", error_model="numpy")
def _default_dose(y, target, amount):
    y[target] += amount


@njit(error_model="numpy")
def no_jac(t, y, p, J):  # pragma: no cover - placeholder when no Jacobian is given
    pass


@njit(error_model="numpy")
def no_hook(t, y, p, target, amount, tag):  # pragma: no cover - placeholder
    pass


# ---------------------------------------------------------------------------
# One step of each family

#: From this many states on, the stage sums of a Rosenbrock step run row by row (see _ros_step).
_ROWWISE_MIN = 8


@njit(inline="always", error_model="numpy")
def _add_rows(X, wa, wb, s, a, b):
    """``a += wa @ X[:s]`` and ``b += wb @ X[:s]``, row by row (each entry in order of j)."""
    n = a.shape[0]
    for j in range(s):
        cj = wa[j]
        dj = wb[j]
        for i in range(n):
            a[i] += cj * X[j, i]
            b[i] += dj * X[j, i]


# The explicit methods' steps, extra dense-output stages and dense output,
# each compiled from its table with the coefficients as constants
# (neurosim.solver._unroll) and chosen at run time by the method's position in
# EXPLICIT_TABLES (``eid``). With the coefficients read from arrays, a step's
# bookkeeping cost more than a six-state right-hand side; written out, a
# Dormand-Prince step on a PK/PD model is 30 % cheaper. (The stage sums are
# those of the array formula, term for term.)
EXPLICIT_TABLES = tuple(EXPLICIT.values())
#: Rows of K the explicit methods use (stages and dense-output stages).
RK_ROWS = max(tab.rows for tab in EXPLICIT_TABLES)
_RK_STAGES = tuple(tab.stages for tab in EXPLICIT_TABLES)
_RK_ERROR_ORDER = tuple(float(tab.error_order) for tab in EXPLICIT_TABLES)
_RK_HAS_E3 = tuple(tab.e3 is not None for tab in EXPLICIT_TABLES)


def _compile_tables(tables, sources, args, fallback, name):
    """Compile one function per table from ``sources(table, name)`` and the
    dispatcher ``name(kid, args)`` between them (module globals)."""
    targets = []
    for tab in tables:
        fname = f"{name}_{tab.name}"
        ns = {}
        exec(sources(tab, fname), globals(), ns)
        globals()[fname] = njit(error_model="numpy", _nrt=False)(ns[fname])
        targets.append(fname)
    ns = {}
    exec(dispatch_source(name, args, targets, fallback), globals(), ns)
    return njit(inline="always", error_model="numpy")(ns[name])


_rk_step = _compile_tables(
    EXPLICIT_TABLES, step_source,
    "rhs, lin, t, h, y, p, f0, K, ynew, errv, errv3, ytmp, ystage", "0", "_rk_step")
_rk_extras = _compile_tables(EXPLICIT_TABLES, extras_source, "rhs, lin, t, h, y, p, K, ytmp",
                             "0", "_rk_extras")
_rk_dense = _compile_tables(EXPLICIT_TABLES, dense_source, "theta, h, y, K, out_row", "None",
                            "_rk_dense")


@njit(inline="always", error_model="numpy")
def _err_norm_e3(err5, err3, y, ynew, rtol, atol):
    """Hairer's DOP853 error: ``e5^2 / sqrt(e5^2 + 0.01 e3^2)`` of the scaled RMS norms."""
    n = err5.shape[0]
    s5 = 0.0
    s3 = 0.0
    for i in range(n):
        sc = _err_scale(y, ynew, rtol, atol, i)
        v5 = err5[i] / sc
        v3 = err3[i] / sc
        s5 += v5 * v5
        s3 += v3 * v3
    if n == 0:
        return 0.0
    s5 /= n
    s3 /= n
    den = s5 + 0.01 * s3
    if den <= 0.0:
        return 0.0
    return s5 / np.sqrt(den)


@njit(inline="always", error_model="numpy")
def _ros_factor(J, h, gamma, W, piv, nsplit, sp, sparse, rowmax, fptr, fcol):
    """Build and factorise ``W = I/(h gamma) - J``; returns (ok, sparse used).

    The sparse path is compiled into each step; the dense one, also the
    fallback on a small pivot, is a call (:func:`_ros_factor_dense`), which
    keeps the kernels quicker to compile."""
    fac = 1.0 / (h * gamma)
    if sparse:
        _, lptr, lidx, uptr, uidx, _fill = sp
        _build_w_pattern(J, fac, W, rowmax, fptr, fcol)
        if sparse_lu_factor(W, rowmax, lptr, lidx, uptr, uidx):
            return True, True
    return _ros_factor_dense(J, fac, W, piv, nsplit, rowmax), False


@njit(error_model="numpy", _nrt=False)
def _ros_factor_dense(J, fac, W, piv, nsplit, rowmax):
    """Dense LU of ``W = fac I - J`` (rebuilt: a failed sparse elimination overwrote it)."""
    _build_w(J, fac, W, rowmax)
    return _w_factor(W, piv, rowmax, nsplit)


@njit(error_model="numpy", _nrt=False)
def _ros_solve(W, piv, rowmax, nsplit, sp, sparse, b):
    """Solve ``W x = b`` in place with the factors of :func:`_ros_factor`."""
    if sparse:
        _, lptr, lidx, uptr, uidx, _fill = sp
        sparse_lu_solve(W, rowmax, lptr, lidx, uptr, uidx, b)
    else:
        _w_solve(W, piv, rowmax, b, nsplit)


@njit(error_model="numpy", _nrt=False)
def _ros_step(rhs, lin, t, h, y, p, f0, dfdt, J, W, piv, gamma, a, c, alpha, gammai, m, e,
              last_stage, U, ynew, errv, ytmp, ftmp, nsplit, sp, sparse, rowmax, fptr, fcol):
    """One Rosenbrock step with the Jacobian J at (t, y), driven by the table's arrays.

    The definition of a step: the kernel runs the steps compiled from each
    table (:data:`ROSENBROCK_TABLES`, below), which the tests hold to the
    numbers of this one. ``sparse``: factorise on the symbolic pattern ``sp`` (see
    :func:`sparse_symbolic`), whose entries row by row are ``fptr``/``fcol``
    (:func:`fill_rows`), falling back to the dense factorisation on a small
    pivot. ``rowmax`` is scratch: the row maxima of W for the pivot test,
    then the factorisation's reciprocal pivots. ``last_stage``: the table's
    solution is the last stage's input plus its increment, and its error
    estimate that increment (stiffly accurate methods such as Rodas4 and
    Rodas5P; :attr:`RosenbrockTable.last_stage`), so both are read off the
    stages rather than summed again (the same numbers: the sums are the same
    terms in the same order).

    Returns (number of rhs evaluations, True if the iteration matrix was
    factorised, False if it was singular).
    """
    n = y.shape[0]
    s = m.shape[0]
    ok, sparse = _ros_factor(J, h, gamma, W, piv, nsplit, sp, sparse, rowmax, fptr, fcol)
    if not ok:
        return 0, False
    # Small systems sum each entry's terms in turn; larger ones run the same sums
    # over whole rows of U (contiguous, so they vectorise), each entry's terms
    # still in order of j: the same numbers either way.
    rowwise = n >= _ROWWISE_MIN
    nf = 0
    for st in range(s):
        if st == 0:
            for i in range(n):
                ftmp[i] = f0[i]
        else:
            if rowwise:
                for i in range(n):
                    ytmp[i] = y[i]
                for j in range(st):
                    aij = a[st, j]
                    if aij != 0.0:
                        for i in range(n):
                            ytmp[i] += aij * U[j, i]
            else:
                for i in range(n):
                    acc = y[i]
                    for j in range(st):
                        aij = a[st, j]
                        if aij != 0.0:
                            acc += aij * U[j, i]
                    ytmp[i] = acc
            _call_rhs(rhs, lin, t + alpha[st] * h, ytmp, p, ftmp)
            nf += 1
        hg = h * gammai[st]
        if rowwise:
            for i in range(n):
                U[st, i] = ftmp[i] + hg * dfdt[i]
            for j in range(st):
                cij = c[st, j]
                if cij != 0.0:
                    ch = cij / h
                    for i in range(n):
                        U[st, i] += ch * U[j, i]
        else:
            for i in range(n):
                acc = ftmp[i] + hg * dfdt[i]
                for j in range(st):
                    cij = c[st, j]
                    if cij != 0.0:
                        acc += (cij / h) * U[j, i]
                U[st, i] = acc
        _ros_solve(W, piv, rowmax, nsplit, sp, sparse, U[st])
    if last_stage:
        for i in range(n):
            ynew[i] = ytmp[i] + U[s - 1, i]
            errv[i] = U[s - 1, i]
        return nf, True
    for i in range(n):
        ynew[i] = y[i]
        errv[i] = 0.0
    if rowwise:
        _add_rows(U, m, e, s, ynew, errv)
    else:
        for i in range(n):
            for j in range(s):
                ynew[i] += m[j] * U[j, i]
                errv[i] += e[j] * U[j, i]
    return nf, True


# The Rosenbrock tables compiled the same way: one step per table, chosen at
# run time by its position in ROSENBROCK_TABLES (the ``rid`` of ``rtab``).
# They give the numbers of _ros_step above (tests/test_solver.py), which
# remains the array-driven definition of a step.
ROSENBROCK_TABLES = tuple(ROSENBROCK.values())
_ros_step_table = _compile_tables(
    ROSENBROCK_TABLES, ros_step_source,
    "rhs, lin, t, h, y, p, f0, dfdt, J, W, piv, U, ynew, errv, ytmp, ftmp, nsplit, sp, sparse, "
    "rowmax, fptr, fcol", "(0, False)", "_ros_step_table")


@njit(inline="always", error_model="numpy")
def _build_w_pattern(J, fac, W, rowmax, fptr, fcol):
    """:func:`_build_w` on the entries of the symbolic pattern only.

    The sparse elimination reads and writes no other entry, and ``J`` is zero
    off the pattern (:func:`_in_pattern`), so the row maxima are the same.
    """
    n = J.shape[0]
    for i in range(n):
        amax = 0.0
        for q in range(fptr[i], fptr[i + 1]):
            j = fcol[q]
            v = -J[i, j]
            W[i, j] = v
            amax = max(amax, abs(v))
        W[i, i] += fac
        rowmax[i] = max(amax, abs(W[i, i]))


@njit(error_model="numpy")
def fill_rows(fill):
    """The entries of a symbolic pattern row by row: ``(fptr, fcol)`` (CSR)."""
    n = fill.shape[0]
    fptr = np.zeros(n + 1, dtype=np.int64)
    fcol = np.empty(max(np.count_nonzero(fill), 1), dtype=np.int64)
    q = 0
    for i in range(n):
        fptr[i] = q
        for j in range(n):
            if fill[i, j]:
                fcol[q] = j
                q += 1
    fptr[n] = q
    return fptr, fcol


@njit(inline="always", error_model="numpy")
def _build_w(J, fac, W, rowmax):
    """``W = fac I - J``, and the largest magnitude in each row (for the pivot test)."""
    n = J.shape[0]
    for i in range(n):
        amax = 0.0
        for j in range(n):
            v = -J[i, j]
            W[i, j] = v
            amax = max(amax, abs(v))
        W[i, i] += fac
        rowmax[i] = max(amax, abs(W[i, i]))


@njit(inline="always", error_model="numpy")
def _w_factor(W, piv, dinv, nsplit):
    """Factorise the iteration matrix, by diagonal blocks when it is block triangular.

    With ``nsplit = k > 0`` the states ``y[k:]`` do not depend on ``y[:k]``
    (``J[k:, :k] = 0``), so ``W = [[W11, W12], [0, W22]]`` and only the two
    diagonal blocks need factorising: (k^3 + (n-k)^3)/3 operations instead
    of n^3/3.
    """
    if nsplit <= 0:
        return lu_factor(W, piv, dinv)
    if not lu_factor(W[:nsplit, :nsplit], piv[:nsplit], dinv[:nsplit]):
        return False
    return lu_factor(W[nsplit:, nsplit:], piv[nsplit:], dinv[nsplit:])


@njit(inline="always", error_model="numpy")
def _w_solve(W, piv, dinv, b, nsplit):
    """Solve W x = b in place with the factors from :func:`_w_factor`."""
    if nsplit <= 0:
        lu_solve(W, piv, dinv, b)
        return
    n = b.shape[0]
    lu_solve(W[nsplit:, nsplit:], piv[nsplit:], dinv[nsplit:], b[nsplit:])
    for i in range(nsplit):
        acc = b[i]
        for j in range(nsplit, n):
            acc -= W[i, j] * b[j]
        b[i] = acc
    lu_solve(W[:nsplit, :nsplit], piv[:nsplit], dinv[:nsplit], b[:nsplit])


@njit(error_model="numpy", _nrt=False)
def _ros_dense(theta, y, ynew, U, dense, out_row):
    n = y.shape[0]
    s = dense.shape[1]  # U may have spare rows (shared with the explicit stages)
    nk = dense.shape[0]
    for i in range(n):
        corr = 0.0
        th = 1.0
        for k in range(nk):
            dk = 0.0
            for st in range(s):
                dk += dense[k, st] * U[st, i]
            corr += th * dk
            th *= theta
        out_row[i] = (1.0 - theta) * y[i] + theta * ynew[i] + theta * (1.0 - theta) * corr


# ---------------------------------------------------------------------------
# Stiffness detection for the automatic method


@njit(inline="always", error_model="numpy")
def _explicit_stiffness(h, ynew, ystage, fnew, fstage):
    """h * |lambda| estimated from the last two stages of an FSAL step.

    Both stages sit at t + h, so ``|f(ynew) - f(ystage)| / |ynew - ystage|``
    estimates the dominant eigenvalue along the step (Hairer, Norsett &
    Wanner, Solving ODEs I, IV.2 and the DOPRI5 code).
    """
    num = 0.0
    den = 0.0
    for i in range(ynew.shape[0]):
        df = fnew[i] - fstage[i]
        dy = ynew[i] - ystage[i]
        num += df * df
        den += dy * dy
    if den <= 0.0:
        return 0.0
    return h * np.sqrt(num / den)


@njit(inline="always", error_model="numpy")
def _h_norm_below(h, J, bound):
    """``h * ||J||_inf < bound``, deciding on the diagonal first where it can.

    Each row sum is at least the row's diagonal entry (a sum of non-negative
    terms, rounded monotonically), so one diagonal entry with ``h |J_ii| >=
    bound`` settles it without the n^2 row sums: the usual case while a
    problem is stiff. Otherwise the rows are summed until one reaches the
    bound. The verdict is that of comparing ``h`` times the full norm.
    """
    n = J.shape[0]
    for i in range(n):
        if h * abs(J[i, i]) >= bound:
            return False
    for i in range(n):
        row = 0.0
        for j in range(n):
            row += abs(J[i, j])
        if h * row >= bound:
            return False
    return True



# ---------------------------------------------------------------------------
# Linear subsystems advanced in closed form
#
# States whose derivatives are a fixed linear combination of themselves
# (dy_L/dt = A y_L; linear PK compartments, infusion rates, switches) are not
# stepped: between doses y_L(t) = V exp(Lambda (t - t_s)) V^-1 y_L(t_s), from
# the eigendecomposition A = V Lambda V^-1 of the member. The stepper sees the
# reduced system of the other states, with y_L(t) as an exact input. Because
# the right-hand side keeps its signature rhs(t, y, p, dydt), the reduced
# wrappers take, in place of ``p``, the closed form's numbers ``pe``:
#
#   pe = [t_s | t of the last exp evaluation | c = V^-1 y_L(t_s) (nL) | lambda (nL) | V (nL*nL) |
#         V^-1 (nL*nL) | exp work (nL) | n, nL, m]
#
# (the last three numbers are read backwards), and the rest in
# ``lin = (stepped, closed_form, vptr, vidx, p, yfull, ffull, Jfull)`` from
# :func:`lin_index`: the indices of the stepped and the closed-form states;
# where V is non-zero (row i of V has its non-zeros in columns
# ``vidx[vptr[i]:vptr[i + 1]]``; a linear PK chain couples few modes, so
# y_L = V exp(...) c costs a few multiplications); the user's parameters; and
# full-size work arrays for the user's rhs and Jacobian.

@njit(inline="always")
def _lin_sizes(pe):
    k = pe.shape[0]
    return int(pe[k - 3]), int(pe[k - 2]), int(pe[k - 1])


@njit(inline="always")
def _lin_offsets(nl):
    o_ts = 0
    o_c = o_ts + 2  # o_ts + 1: the time of the exponentials held in the exp work
    o_lam = o_c + nl
    o_v = o_lam + nl
    o_vi = o_v + nl * nl
    o_ex = o_vi + nl * nl
    total = o_ex + nl + 3
    return o_ts, o_c, o_lam, o_v, o_vi, o_ex, total


@njit(error_model="numpy")
def lin_pack(n, mask, lam, v, vi):
    """The closed form's numbers ``pe`` of one member (see the layout above).

    ``mask[i]`` marks the states advanced in closed form; ``lam``, ``v``,
    ``vi`` hold the eigenvalues, eigenvectors and inverse eigenvector matrix
    of their Jacobian block (leading ``nL`` entries of padded arrays).
    """
    nl = 0
    for i in range(n):
        if mask[i]:
            nl += 1
    o_ts, o_c, o_lam, o_v, o_vi, o_ex, total = _lin_offsets(nl)
    pe = np.zeros(total)
    pe[o_ts + 1] = np.nan
    for k in range(nl):
        pe[o_lam + k] = lam[k]
        for j in range(nl):
            pe[o_v + k * nl + j] = v[k, j]
            pe[o_vi + k * nl + j] = vi[k, j]
    pe[total - 3] = n
    pe[total - 2] = nl
    pe[total - 1] = n - nl
    return pe


@njit(error_model="numpy")
def lin_index(mask, v, p):
    """The ``lin`` tuple (see above) for :func:`lin_pack`'s ``mask``, ``v`` and ``p``."""
    n = mask.shape[0]
    nl = 0
    for i in range(n):
        if mask[i]:
            nl += 1
    stepped = np.empty(n - nl, dtype=np.int64)
    closed = np.empty(nl, dtype=np.int64)
    a = 0
    b = 0
    for i in range(n):
        if mask[i]:
            closed[a] = i
            a += 1
        else:
            stepped[b] = i
            b += 1
    vptr = np.zeros(nl + 1, dtype=np.int64)
    vidx = np.empty(nl * nl, dtype=np.int64)
    k = 0
    for i in range(nl):
        for j in range(nl):
            if v[i, j] != 0.0:
                vidx[k] = j
                k += 1
        vptr[i + 1] = k
    return (stepped, closed, vptr, vidx[:k], p.copy(), np.empty(n), np.empty(n),
            np.empty((n, n)))


@njit(error_model="numpy", _nrt=False)
def lin_expand(t, ys, pe, yfull, lin):
    """Full state at ``t``: stepped states from ``ys``, the others in closed form."""
    _lin_expand(t, ys, pe, yfull, lin[0], lin[1], lin[2], lin[3])


# Inlined into the right-hand side and Jacobian wrappers, and so into the
# stepper: on the reference trial a call here cost about 12 % per step
# (measured while the stepper still counted references, see _march).
@njit(inline="always", error_model="numpy")
def _lin_expand(t, ys, pe, yfull, stepped, closed, vptr, vidx):
    n, nl, m = _lin_sizes(pe)
    o_ts, o_c, o_lam, o_v, o_vi, o_ex, total = _lin_offsets(nl)
    if t != pe[o_ts + 1]:  # the stages of one step often share a time
        dt = t - pe[o_ts]
        for k in range(nl):
            lam = pe[o_lam + k]
            if lam == 0.0:
                pe[o_ex + k] = pe[o_c + k]
            else:
                pe[o_ex + k] = pe[o_c + k] * np.exp(lam * dt)
        pe[o_ts + 1] = t
    for i in range(nl):
        # summed in place: a scalar accumulator, once inlined into a loop,
        # trips one of Numba's internal scope checks
        ci = closed[i]
        yfull[ci] = 0.0
        row = o_v + i * nl
        for q in range(vptr[i], vptr[i + 1]):
            yfull[ci] += pe[row + vidx[q]] * pe[o_ex + vidx[q]]
    for i in range(m):
        yfull[stepped[i]] = ys[i]


@njit(error_model="numpy")
def lin_absorb(t, yfull, pe, ys, lin):
    """Restart the closed form at ``t`` from the full state (after doses)."""
    stepped, closed = lin[0], lin[1]
    n, nl, m = _lin_sizes(pe)
    o_ts, o_c, o_lam, o_v, o_vi, o_ex, total = _lin_offsets(nl)
    pe[o_ts] = t
    pe[o_ts + 1] = np.nan  # the exp work is stale
    for k in range(nl):
        acc = 0.0
        row = o_vi + k * nl
        for j in range(nl):
            acc += pe[row + j] * yfull[closed[j]]
        pe[o_c + k] = acc
    for i in range(m):
        ys[i] = yfull[stepped[i]]


@njit(error_model="numpy", _nrt=False)
def lin_rhs(rhs, t, ys, pe, fs, lin):
    """Right-hand side of the stepped states, the closed-form ones as input.

    A function of its own, not inlined: the steps call the right-hand side
    from 30-odd places, and a copy of the closed form's expansion at each
    made the model's kernel take 1.5x as long to compile."""
    stepped, p_user, yf, ff = lin[0], lin[4], lin[5], lin[6]
    m = ys.shape[0]
    _lin_expand(t, ys, pe, yf, stepped, lin[1], lin[2], lin[3])
    rhs(t, yf, p_user, ff)
    for i in range(m):
        fs[i] = ff[stepped[i]]


@njit(inline="always", error_model="numpy")
def lin_jac(jac, t, ys, pe, js, dfdt, lin):
    """Jacobian block of the stepped states, and their explicit time derivative.

    The closed-form states are an input in time, so the stepped states'
    ``df/dt = J_SL dy_L/dt`` with ``dy_L/dt = V Lambda exp(Lambda (t - t_s)) c``
    (exact; for an ``rhs`` that is itself autonomous).
    """
    stepped, closed, vptr, vidx, p_user, yf, ff, jf = lin
    n, nl, m = _lin_sizes(pe)
    o_ts, o_c, o_lam, o_v, o_vi, o_ex, total = _lin_offsets(nl)
    _lin_expand(t, ys, pe, yf, stepped, closed, vptr, vidx)
    # Only the stepped states' rows are read below, so only they are zeroed
    # (the closed-form rows may keep what the last call wrote).
    for a in range(m):
        ia = stepped[a]
        for j in range(n):
            jf[ia, j] = 0.0
    jac(t, yf, p_user, jf)
    for a in range(m):
        ia = stepped[a]
        for b in range(m):
            js[a, b] = jf[ia, stepped[b]]
    # dy_L/dt into the full-f scratch, at the closed-form positions
    for i in range(nl):
        acc = 0.0
        row = o_v + i * nl
        for q in range(vptr[i], vptr[i + 1]):
            k = vidx[q]
            acc += pe[row + k] * pe[o_lam + k] * pe[o_ex + k]
        ff[i] = acc
    for a in range(m):
        ia = stepped[a]
        acc = 0.0
        for i in range(nl):
            acc += jf[ia, closed[i]] * ff[i]
        dfdt[a] = acc


# ``lin`` is None in the plain kernel and the tuple of :func:`lin_index` in the
# closed-form one. The choice is made on its type at compile time, so the
# plain kernel compiles without the closed-form paths (a quarter less compile
# time).

def _call_rhs(rhs, lin, t, y, p, f):  # pragma: no cover - replaced in compiled code
    raise NotImplementedError("only callable from compiled code")


def _call_jac(jac, lin, t, y, p, J, dfdt):  # pragma: no cover - replaced in compiled code
    raise NotImplementedError("only callable from compiled code")


@overload(_call_rhs, inline="always")
def _ol_call_rhs(rhs, lin, t, y, p, f):
    if isinstance(lin, types.NoneType):
        def impl(rhs, lin, t, y, p, f):
            rhs(t, y, p, f)
    else:
        def impl(rhs, lin, t, y, p, f):
            lin_rhs(rhs, t, y, p, f, lin)
    return impl


@overload(_call_jac, inline="always")
def _ol_call_jac(jac, lin, t, y, p, J, dfdt):
    if isinstance(lin, types.NoneType):
        def impl(jac, lin, t, y, p, J, dfdt):
            jac(t, y, p, J)
    else:
        def impl(jac, lin, t, y, p, J, dfdt):
            lin_jac(jac, t, y, p, J, dfdt, lin)
    return impl


@njit(inline="always", error_model="numpy")
def _probe_states(y, ya, yb):
    """Two probe states derived from ``y`` by fixed state-wise factors and offsets."""
    n = y.shape[0]
    for i in range(n):
        g = (0.6180339887498949 * (i + 1)) % 1.0
        h = (0.7548776662466927 * (i + 1)) % 1.0
        ya[i] = y[i] * (1.25 + 0.5 * g) + 0.5 + g
        yb[i] = y[i] * (0.5 + 0.5 * h) + 1.5 + h


@njit(error_model="numpy")
def member_pattern(jac, y, p, t0):
    """Where the member's Jacobian is non-zero: the union over two probe states.

    Read from the member's own ``y0`` and parameters only, so that whether a
    step is factorised sparsely never depends on the other members.
    """
    n = y.shape[0]
    ya = np.empty(n)
    yb = np.empty(n)
    _probe_states(y, ya, yb)
    J = np.empty((n, n))
    pattern = np.zeros((n, n), dtype=np.bool_)
    for ys in (ya, yb):
        J[:, :] = 0.0
        jac(t0, ys, p, J)
        for i in range(n):
            for j in range(n):
                if J[i, j] != 0.0:
                    pattern[i, j] = True
    return pattern


@njit(error_model="numpy")
def lin_probe(rhs, jac, y, p, t0, t1, J1, J2, f1, f2, f3, ya, yb):
    """Jacobians at two states and rhs values, to find a member's linear states.

    Fills the probe states ``ya``, ``yb`` (derived from ``y`` by fixed
    state-wise factors, the same for every member), ``J1``, ``J2`` (the
    Jacobians there), ``f1 = f(t0, ya)``, ``f2 = f(t1, ya)`` and
    ``f3 = f(t0, yb)``.
    """
    n = y.shape[0]
    _probe_states(y, ya, yb)
    for i in range(n):
        for j in range(n):
            J1[i, j] = 0.0
            J2[i, j] = 0.0
    jac(t0, ya, p, J1)
    jac(t0, yb, p, J2)
    rhs(t0, ya, p, f1)
    rhs(t1, ya, p, f2)
    rhs(t0, yb, p, f3)


# ---------------------------------------------------------------------------
# The per-member driver

@njit(error_model="numpy")
def integrate_member(rhs, jac, hook, has_jac, has_hook, family, eid, rtab, land, autonomous,
                     nsplit, y0, p, t_eval, dose_t, dose_target, dose_amount, dose_tag,
                     rtol, atol, max_steps, first_step, max_step, out, stats, lin):
    """Integrate one member over ``t_eval`` with bolus doses.

    Parameters
    ----------
    rhs, jac, hook : numba functions
        ``rhs(t, y, p, dydt)``, ``jac(t, y, p, J)`` (used when ``has_jac``)
        and ``hook(t, y, p, target, amount, tag)`` (used when ``has_hook``).
    family : int
        0 explicit Runge-Kutta (``eid``), 1 Rosenbrock (``rtab``), 2
        automatic: start explicit, switch to Rosenbrock when the explicit
        method's stability limits the step, and back when it no longer does
        (the stiffness test uses Dormand-Prince's stability boundary,
        :data:`_STIFF_HLAMBDA`, whichever explicit method ``eid`` is).
    eid : int
        The explicit method: its position in :data:`EXPLICIT_TABLES` (its step
        is compiled in).
    rtab : tuple
        The Rosenbrock method ``(rid, dense, error_order)``: its position in
        :data:`ROSENBROCK_TABLES` (its step is compiled in), its dense-output
        coefficients and the order of its error estimate.
    land : int
        Which steps end on every save time they would otherwise pass over,
        so that saved values are step values rather than interpolated; bits
        :data:`LAND_EXPLICIT` and :data:`LAND_ROSENBROCK`.
    autonomous : bool
        True if rhs does not depend on t (no df/dt term).
    nsplit : int
        0, or k such that ``J[k:, :k] = 0`` (block-triangular factorisation).
    y0, p : 1-D float64 arrays
        Initial state and parameters of this member.
    t_eval : 1-D float64 array, increasing
        Save times; integration starts at ``t_eval[0]``.
    dose_t, dose_target, dose_amount, dose_tag : 1-D arrays
        Dose records sorted by time (stable).
    out : 2-D float64 array (n_times, n_states)
        Filled with the solution; rows after a failure are NaN.
    stats : 1-D int64 array (N_STATS,)
    lin : None or the tuple of :func:`lin_index`
        None: every state is stepped. Otherwise ``p`` is the closed form's
        vector from :func:`lin_pack` (the user's parameters are in ``lin``),
        the states ``lin`` lists as closed-form are advanced in closed form,
        ``rhs``/``jac`` are called through :func:`lin_rhs`/:func:`lin_jac`,
        and ``y0``, ``atol`` and ``out`` stay full-size.

    Returns
    -------
    status : int
        Status code (0 on success).
    t : float
        The time reached (the end of the span on success).
    """
    n_full = y0.shape[0]
    if lin is not None:
        n = _lin_sizes(p)[2]
        stepped = lin[0]
        # The stepped states' tolerances and block split. (The stepped system is
        # driven in time by the closed-form states: an autonomous rhs gets the
        # exact df/dt from lin_jac, a non-autonomous one the finite difference
        # of the reduced rhs, which includes it.)
        atol_r = np.empty(n)
        nsplit_r = 0
        for i in range(n):
            k = stepped[i]
            atol_r[i] = atol[k]
            if k < nsplit:
                nsplit_r += 1
        if nsplit_r == 0 or nsplit_r == n:
            nsplit_r = 0
        nsplit = nsplit_r
        atol = atol_r
        p_user = lin[4]  # the user's parameters, as the rhs and Jacobian see them
    else:
        n = n_full
        p_user = p
        stepped = np.arange(n)
    # The Jacobian's pattern for the sparse factorisation (analytic Jacobians only).
    if has_jac and family != FAMILY_EXPLICIT:
        pattern = member_pattern(jac, y0, p_user, t_eval[0])
    else:
        pattern = np.zeros((0, 0), dtype=np.bool_)
    sp = sparse_symbolic(pattern, stepped)
    sp_outside = _outside_mask(sp[5])
    fptr, fcol = fill_rows(sp[5])
    rowmax = np.empty(n)
    yfull = y0.copy()
    orow = np.empty(n)
    s_max = max(RK_ROWS, rtab[1].shape[1])

    y = np.empty(n)
    ynew = np.empty(n)
    f0 = np.empty(n)
    errv = np.empty(n)
    errv3 = np.empty(n)
    ytmp = np.empty(n)
    ftmp = np.empty(n)
    dfdt = np.zeros(n)
    K = np.empty((s_max, n))
    if family != FAMILY_EXPLICIT:
        J = np.empty((n, n))
        W = np.empty((n, n))
    else:
        J = np.empty((1, 1))
        W = np.empty((1, 1))
    piv = np.empty(n, dtype=np.int64)

    replay = np.zeros(_REPLAY_MAX)      # steps allowed after the previous dose (0: none)
    replay_next = np.zeros(_REPLAY_MAX)  # ... being recorded after this one
    return _march(rhs, jac, hook, has_jac, has_hook, lin, family, eid, rtab, land, autonomous,
                  nsplit, n, p, p_user, t_eval, dose_t, dose_target, dose_amount, dose_tag, rtol,
                  atol, max_steps, first_step, max_step, out, stats, sp, sp_outside, fptr, fcol,
                  rowmax, yfull, orow, y, ynew, f0, errv, errv3, ytmp, ftmp, dfdt, K, J, W, piv,
                  replay, replay_next)


# Compiled without reference counting (_nrt=False): the loop allocates nothing,
# and the atomic reference-count updates that array arguments and views would
# otherwise cost at every call were a measurable share of a step.
@njit(error_model="numpy", _nrt=False)
def _march(rhs, jac, hook, has_jac, has_hook, lin, family, eid, rtab, land, autonomous, nsplit,
           n, p, p_user, t_eval, dose_t, dose_target, dose_amount, dose_tag, rtol, atol, max_steps,
           first_step, max_step, out, stats, sp, sp_outside, fptr, fcol, rowmax, yfull,
           orow, y, ynew, f0, errv, errv3, ytmp, ftmp, dfdt, K, J, W, piv, replay,
           replay_next):
    """The time loop of :func:`integrate_member` over work arrays it allocated."""
    n_full = yfull.shape[0]
    n_t = t_eval.shape[0]
    n_d = dose_t.shape[0]
    e_err_order = _RK_ERROR_ORDER[eid]
    e_stages = _RK_STAGES[eid]
    e_has_e3 = _RK_HAS_E3[eid]
    rid, rdense, r_err_order = rtab
    auto = family == FAMILY_AUTO
    cur = FAMILY_ROSENBROCK if family == FAMILY_ROSENBROCK else FAMILY_EXPLICIT
    # Whose steps end on save times (none when every state is in closed form,
    # n == 0: such a step is exact).
    land_explicit = n > 0 and (land & LAND_EXPLICIT) != 0
    land_rosenbrock = n > 0 and (land & LAND_ROSENBROCK) != 0
    sparse = False
    for k in range(N_STATS):
        stats[k] = 0

    t0 = t_eval[0]
    t_end = t_eval[n_t - 1]
    status = SUCCESS

    # Doses at the initial time act before the first output.
    di = 0
    while di < n_d and dose_t[di] <= t0:
        if has_hook:
            hook(t0, yfull, p_user, dose_target[di], dose_amount[di], dose_tag[di])
        else:
            _default_dose(yfull, dose_target[di], dose_amount[di])
        di += 1
    if lin is not None:
        lin_absorb(t0, yfull, p, y, lin)
    else:
        for i in range(n):
            y[i] = yfull[i]
    for i in range(n_full):
        out[0, i] = yfull[i]
    k_out = 1
    while k_out < n_t and t_eval[k_out] <= t0:
        for i in range(n_full):
            out[k_out, i] = yfull[i]
        k_out += 1

    t = t0
    h = first_step
    log_err_prev = 0.0     # log of the previous accepted step's (floored) error
    h_dose = 0.0            # the first step to try after the next dose (0: estimate it)
    j_seg = 0               # accepted steps since the last dose restart
    first_after_dose = False
    n_attempts = 0
    need_start = True   # f0 (and the step proposal) must be (re)computed
    n_stiff = 0         # automatic method: consecutive stiff / non-stiff verdicts
    n_nonstiff = 0

    while t < t_end and status == SUCCESS:
        # End of this segment: the next dose time, or the end of the span.
        te = t_end
        if di < n_d and dose_t[di] < t_end:
            te = dose_t[di]
        if need_start:
            _call_rhs(rhs, lin, t, y, p, f0)
            stats[STAT_RHS] += 1
            if not _all_finite(f0):
                status = NONFINITE
                break
            # Cold-start estimate; after a dose the carried step is capped by
            # it (a bolus can make the solution change much faster), or, from
            # the second dose restart on, by the step that suited the last one.
            first_after_dose = t > t0
            if first_after_dose and h_dose > 0.0:
                # the step that suited the last dose restart (_DOSE_STEP_GROWTH)
                if h_dose < h:
                    h = h_dose
            elif h <= 0.0 or first_after_dose:
                order = e_err_order if cur == FAMILY_EXPLICIT else r_err_order
                if n == 0:
                    h_start = t_end - t
                else:
                    h_start = _initial_step(rhs, lin, t, y, p, f0, rtol, atol, order,
                                            t_end - t, ytmp, ftmp)
                    stats[STAT_RHS] += 1
                if h <= 0.0 or h_start < h:
                    h = h_start
            need_start = False
        jac_current = False
        last_rejected = False
        while t < te:
            if n_attempts >= max_steps:
                status = MAX_STEPS
                break
            if (cur == FAMILY_ROSENBROCK and not last_rejected and 0 < j_seg < _REPLAY_MAX
                    and replay[j_seg] > h):
                h = replay[j_seg]
            if h > max_step:
                h = max_step
            # Stretch the step to the segment end rather than leave a sliver.
            if t + 1.01 * h >= te:
                h = te - t
                t_new = te
            else:
                t_new = t + h
            # End the step on the next save time it would pass over (or stop
            # just short of), unless that is a sliver of the step.
            h_cut = 0.0
            if (land_explicit if cur == FAMILY_EXPLICIT else land_rosenbrock) and k_out < n_t:
                ts = t_eval[k_out]
                if ts < te and ts <= t + 1.01 * h and ts - t > _LAND_MIN_FRACTION * h:
                    if ts < t_new:
                        h_cut = h
                    h = ts - t
                    t_new = ts
            h_min = 16.0 * _EPS * max(abs(t), 1.0)
            if h < h_min:
                status = STEP_UNDERFLOW
                break
            n_attempts += 1

            if cur == FAMILY_EXPLICIT:
                nf = _rk_step(eid, rhs, lin, t, h, y, p, f0, K, ynew, errv, errv3, ytmp, ftmp)
                stats[STAT_RHS] += nf
                ok_lin = True
                k_err = e_err_order + 1.0
                fac_max = _FAC_MAX_EXPLICIT
            else:
                if not jac_current:
                    if has_jac:
                        # zeroed first, so a Jacobian may write only its non-zeros
                        # (lin_jac zeroes the rows of its full-size matrix that it copies)
                        if lin is None:
                            for i in range(n):
                                for j in range(n):
                                    J[i, j] = 0.0
                        _call_jac(jac, lin, t, y, p, J, dfdt)
                    else:
                        _fd_jacobian(rhs, lin, t, y, p, f0, J, ytmp, ftmp, atol, rtol)
                        stats[STAT_RHS] += n
                    stats[STAT_JAC] += 1
                    sparse = sp[0] and _in_pattern(J.view(np.int64), sp_outside)
                    if not autonomous:
                        dt = _SQRT_EPS * max(abs(t), 1.0)
                        _call_rhs(rhs, lin, t + dt, y, p, ftmp)
                        stats[STAT_RHS] += 1
                        for i in range(n):
                            dfdt[i] = (ftmp[i] - f0[i]) / dt
                    jac_current = True
                nf, ok_lin = _ros_step_table(rid, rhs, lin, t, h, y, p, f0, dfdt, J, W, piv, K,
                                             ynew, errv, ytmp, ftmp, nsplit, sp, sparse,
                                             rowmax, fptr, fcol)
                stats[STAT_RHS] += nf
                stats[STAT_LU] += 1
                k_err = r_err_order + 1.0
                fac_max = _FAC_MAX_ROSENBROCK

            if ok_lin and _all_finite(ynew):
                if cur == FAMILY_EXPLICIT and e_has_e3:
                    err = _err_norm_e3(errv, errv3, y, ynew, rtol, atol)
                else:
                    err = _err_norm(errv, y, ynew, rtol, atol)
                finite = np.isfinite(err)
            else:
                err = np.inf
                finite = False

            if finite and err <= 1.0:
                # Accepted: write the save times inside (t, t_new].
                extras_done = False
                while k_out < n_t and t_eval[k_out] <= t_new and t_eval[k_out] < te:
                    if lin is not None:
                        row = orow
                    else:
                        row = out[k_out]
                    if t_eval[k_out] == t_new:
                        for i in range(n):
                            row[i] = ynew[i]
                    else:
                        theta = (t_eval[k_out] - t) / h
                        if cur == FAMILY_EXPLICIT:
                            if not extras_done:
                                # stages only the dense output needs (DOP853)
                                stats[STAT_RHS] += _rk_extras(eid, rhs, lin, t, h, y, p, K, ytmp)
                                extras_done = True
                            _rk_dense(eid, theta, h, y, K, row)
                        else:
                            _ros_dense(theta, y, ynew, K, rdense, row)
                    if lin is not None:
                        lin_expand(t_eval[k_out], orow, p, out[k_out], lin)
                    k_out += 1
                stats[STAT_STEPS] += 1
                # Step-size control (see _PI_BETA1 above).
                # (powers of err as exp of its log: one log and at most two exp
                # per step instead of three pow)
                log_err = np.log(err) if err > 0.0 else -np.inf
                if err == 0.0:
                    fac = fac_max
                else:
                    fac = _SAFETY * np.exp((_PI_BETA2 * log_err_prev - _PI_BETA1 * log_err)
                                           / k_err)
                    fac = min(fac_max, max(_FAC_MIN, fac))
                # The step this one's error allowed, remembered for the next
                # dose restart (_DOSE_STEP_GROWTH, _REPLAY_MAX).
                record = cur == FAMILY_ROSENBROCK and j_seg < _REPLAY_MAX
                if first_after_dose or record:
                    if err == 0.0:
                        h_allowed = _DOSE_STEP_GROWTH * h
                    else:
                        h_allowed = h * min(_DOSE_STEP_GROWTH,
                                            max(_FAC_MIN, _SAFETY * np.exp(-log_err / k_err)))
                    if first_after_dose:
                        h_dose = h_allowed
                        first_after_dose = False
                    if record:
                        replay_next[j_seg] = h_allowed
                j_seg += 1
                if last_rejected:
                    fac = min(fac, 1.0)
                if cur == FAMILY_EXPLICIT:
                    log_err_prev = max(log_err, _LOG_ERR_PREV_FLOOR_EXPLICIT)
                else:
                    log_err_prev = max(log_err, _LOG_ERR_PREV_FLOOR_ROSENBROCK)
                last_rejected = False
                h_next = h * fac
                if h_cut > h_next and fac >= 1.0:
                    # cut short by a save time: resume with the step proposed
                    h_next = h_cut
                switch = False
                if auto:
                    if cur == FAMILY_EXPLICIT:
                        # The last two stages of the FSAL pair both sit at t + h;
                        # the step left the input of the one before last in ftmp.
                        hl = _explicit_stiffness(h, ynew, ftmp, K[e_stages - 1],
                                                 K[e_stages - 2])
                        if hl > _STIFF_HLAMBDA:
                            n_stiff += 1
                            n_nonstiff = 0
                            if n_stiff >= _STIFF_COUNT:
                                switch = True
                        else:
                            n_nonstiff += 1
                            if n_nonstiff >= 6:
                                n_stiff = 0
                    else:
                        # Back to explicit once its stability bound no longer
                        # limits the step the Rosenbrock method chose.
                        if _h_norm_below(h_next, J, _NONSTIFF_HNORM):
                            n_nonstiff += 1
                            if n_nonstiff >= _STIFF_COUNT:
                                switch = True
                        else:
                            n_nonstiff = 0
                t = t_new
                for i in range(n):
                    y[i] = ynew[i]
                if cur == FAMILY_EXPLICIT:
                    # FSAL: the last stage is f at the new point.
                    for i in range(n):
                        f0[i] = K[e_stages - 1, i]
                else:
                    if t < te:
                        _call_rhs(rhs, lin, t, y, p, f0)
                        stats[STAT_RHS] += 1
                jac_current = False
                h = h_next
                if switch:
                    cur = FAMILY_ROSENBROCK if cur == FAMILY_EXPLICIT else FAMILY_EXPLICIT
                    replay[:] = 0.0
                    replay_next[:] = 0.0
                    n_stiff = 0
                    n_nonstiff = 0
                    log_err_prev = 0.0
                    stats[STAT_SWITCH] += 1
            else:
                stats[STAT_REJECTED] += 1
                if cur == FAMILY_EXPLICIT:
                    k_err = e_err_order + 1.0
                else:
                    k_err = r_err_order + 1.0
                if finite:
                    fac = max(_FAC_MIN, _SAFETY * np.exp(-np.log(err) / k_err))
                else:
                    fac = _FAC_MIN
                last_rejected = True
                h = h * fac
                if not finite and h < 16.0 * _EPS * max(abs(t), 1.0):
                    status = NONFINITE
                    break
        if status != SUCCESS:
            break
        # Segment end: apply every dose due now, then write the save times
        # that coincide with it (they include the doses).
        dosed = False
        if lin is not None:
            lin_expand(t, y, p, yfull, lin)
        else:
            for i in range(n):
                yfull[i] = y[i]
        while di < n_d and dose_t[di] <= t:
            if has_hook:
                hook(t, yfull, p_user, dose_target[di], dose_amount[di], dose_tag[di])
            else:
                _default_dose(yfull, dose_target[di], dose_amount[di])
            di += 1
            dosed = True
        if dosed:
            need_start = True
            log_err_prev = 0.0
            for i in range(_REPLAY_MAX):
                replay[i] = replay_next[i]
                replay_next[i] = 0.0
            j_seg = 0
            if not _all_finite(yfull):
                status = NONFINITE
                break
            if lin is not None:
                lin_absorb(t, yfull, p, y, lin)
            else:
                for i in range(n):
                    y[i] = yfull[i]
        while k_out < n_t and t_eval[k_out] <= t:
            for i in range(n_full):
                out[k_out, i] = yfull[i]
            k_out += 1
        if not dosed and t < t_end:
            # f0 must be f(t, y) at the start of the next segment; the
            # Rosenbrock branch skipped it at the segment end, and the explicit
            # one already has it from FSAL.
            if cur == FAMILY_ROSENBROCK:
                _call_rhs(rhs, lin, t, y, p, f0)
                stats[STAT_RHS] += 1

    if status != SUCCESS:
        for k in range(k_out, n_t):
            for i in range(n_full):
                out[k, i] = np.nan
    return status, t
