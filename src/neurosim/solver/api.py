"""The public entry point of the ensemble solver: :func:`solve_ensemble`."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from ..errors import NeurosimKeyError, NeurosimTypeError, NeurosimValueError, did_you_mean
from . import _kernels as K
from ._codegen import get_kernel
from ._tableaus import DP5, DOP853, EXPLICIT, ROSENBROCK, RODAS4

__all__ = ["solve_ensemble", "EnsembleResult", "Status", "METHODS"]

#: Methods accepted by ``solve_ensemble(method=...)``.
METHODS = ("auto", "rodas5p", "rodas4", "dp5", "dop853")

#: The automatic method starts with DOP853 at this rtol and below, and with
#: Dormand-Prince 5(4) above it or when states are in closed form (``linear=``):
#: there DOP853's error estimate can be fooled. For errors of about 1e-4 and below
#: it was the faster start on the solver benchmark's problems, Dormand-Prince for
#: looser ones (benchmarks/bench_auto_start.py; docs/solver.md, "Which method?").
AUTO_DOP853_RTOL = 1e-4


def _land_bits(land_on_saves, etab, rtab):
    """The kernel's ``land`` bits for ``land_on_saves`` and the two tables in use."""
    if land_on_saves is None:  # each explicit table says; the Rosenbrock steps land
        return (K.LAND_EXPLICIT if etab.lands else 0) | K.LAND_ROSENBROCK
    if land_on_saves is True or land_on_saves is False:
        return K.LAND_EXPLICIT | K.LAND_ROSENBROCK if land_on_saves else 0
    allowed = tuple(EXPLICIT) + tuple(ROSENBROCK)
    message = ("land_on_saves must be None, True, False or a list of method names "
               f"({', '.join(map(repr, allowed))})")
    if isinstance(land_on_saves, str):
        raise NeurosimValueError(f"{message}; got the string {land_on_saves!r}")
    try:
        names = set(land_on_saves)
    except TypeError:
        raise NeurosimValueError(f"{message}; got {land_on_saves!r}") from None
    for name in names:
        if name not in allowed:
            raise NeurosimValueError(f"{message}; got {name!r}"
                                     + did_you_mean(str(name), allowed))
    return ((K.LAND_EXPLICIT if etab.name in names else 0)
            | (K.LAND_ROSENBROCK if rtab.name in names else 0))


class Status(enum.IntEnum):
    """Outcome of one ensemble member."""

    SUCCESS = K.SUCCESS
    MAX_STEPS = K.MAX_STEPS
    STEP_UNDERFLOW = K.STEP_UNDERFLOW
    NONFINITE = K.NONFINITE
    NOT_RUN = K.NOT_RUN

    @property
    def message(self) -> str:
        """What the status means and what to try, in words."""
        return _STATUS_MESSAGES[self]


_STATUS_MESSAGES = {
    Status.SUCCESS: "success",
    Status.MAX_STEPS: (
        "stopped after max_steps step attempts before the end of the span; raise max_steps, "
        "loosen rtol/atol, or, if the problem is stiff and the method explicit, use "
        "method='rodas4'"),
    Status.STEP_UNDERFLOW: (
        "the step size fell below the resolution of t; the solution may blow up in finite "
        "time near the time reached, or the tolerances cannot be met: inspect the model "
        "there, or loosen rtol/atol"),
    Status.NONFINITE: (
        "non-finite values (NaN or inf) in the state or its derivative that smaller steps "
        "could not avoid; check the rhs near the time reached for division by zero, "
        "logarithms or powers of negative values, or overflow"),
    Status.NOT_RUN: "not run",
}


@dataclass(eq=False)
class EnsembleResult:
    """Solution of an ensemble of initial-value problems.

    Attributes
    ----------
    t : ndarray, shape (n_times,)
        Save times (the ``t_eval`` given).
    y : ndarray, shape (n_members, n_times, n_states)
        Solution at the save times. Rows after a member's failure are NaN.
    status : ndarray of int, shape (n_members,)
        :class:`Status` code per member (0 = success).
    t_reached : ndarray, shape (n_members,)
        The time each member reached (``t[-1]`` on success).
    stats : dict of ndarray (n_members,)
        ``n_steps`` (accepted), ``n_rejected``, ``n_rhs``, ``n_jac``,
        ``n_lu`` (matrix factorisations) and ``n_switches`` (changes between
        the explicit and the stiff method under ``method="auto"``) per member.
    method : str
        The method requested.
    names : tuple of str or None
        State names, when the caller supplied them; enables ``res["name"]``.
    n_linear : ndarray of int, shape (n_members,)
        States advanced in closed form per member (``linear=``; 0 otherwise).
    """

    t: np.ndarray
    y: np.ndarray
    status: np.ndarray
    t_reached: np.ndarray
    stats: dict
    method: str
    rtol: float
    atol: np.ndarray
    names: tuple | None = field(default=None)
    n_linear: np.ndarray | None = field(default=None)

    @property
    def n_members(self) -> int:
        """Number of ensemble members solved."""
        return self.y.shape[0]

    @property
    def success(self) -> np.ndarray:
        """Boolean mask of members that reached the end of the span."""
        return self.status == Status.SUCCESS

    @property
    def all_success(self) -> bool:
        """True when every member reached the end of the span."""
        return bool(np.all(self.status == Status.SUCCESS))

    def messages(self) -> list[str]:
        """One line per failed member: index, status, time reached and what to try."""
        lines = []
        for i in np.flatnonzero(self.status != Status.SUCCESS):
            st = Status(int(self.status[i]))
            lines.append(f"member {i}: {st.name} at t={self.t_reached[i]:.6g}: {st.message}")
        return lines

    def __getitem__(self, name: str) -> np.ndarray:
        """Trajectories of one state by name, shape (n_members, n_times)."""
        if self.names is None:
            raise NeurosimKeyError("this result has no state names; index res.y instead")
        try:
            idx = self.names.index(name)
        except ValueError:
            raise NeurosimKeyError(
                f"no state named {name!r}; states are: {', '.join(self.names)}."
                + did_you_mean(name, self.names)) from None
        return self.y[:, :, idx]

    def __repr__(self) -> str:
        ok = int(np.sum(self.success))
        return (f"EnsembleResult(method={self.method!r}, members={self.n_members}, "
                f"times={self.t.size}, states={self.y.shape[2]}, succeeded={ok}/{self.n_members})")


def _as_float_array(name, value, ndim_allowed):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NeurosimValueError(f"{name} must be an array of numbers; got {type(value).__name__}") from None
    if arr.ndim not in ndim_allowed:
        shapes = " or ".join(f"{d}-D" for d in ndim_allowed)
        raise NeurosimValueError(f"{name} must be {shapes}; got shape {arr.shape}")
    return arr


def _check_jitted(name, func, signature):
    if func is None:
        return
    if not isinstance(func, CPUDispatcher):
        raise NeurosimTypeError(
            f"{name} must be a numba.njit function with signature {signature}; got "
            f"{type(func).__name__}. Decorate it with @numba.njit.")


def solve_ensemble(rhs, y0, t_eval, params=None, *, jac=None, method="auto", rtol=1e-6,
                   atol=1e-9, doses=None, threads=None, max_steps=100_000, dose_hook=None,
                   first_step=None, max_step=np.inf, autonomous=False, block_split=None,
                   linear=None, land_on_saves=None):
    """Integrate many initial-value problems that share a right-hand side.

    Parameters
    ----------
    rhs : numba.njit function
        ``rhs(t, y, p, dydt)`` writes dy/dt into ``dydt``; ``t`` is a float,
        ``y``, ``p`` and ``dydt`` are 1-D float64 arrays. Time is in
        whatever unit the model uses (neurosim's own model uses hours).
    y0 : array_like, shape (n_states,) or (n_members, n_states)
        Initial states at ``t_eval[0]``; a 1-D array is shared by all members.
    t_eval : array_like, shape (n_times,)
        Strictly increasing save times. Integration starts at ``t_eval[0]``.
    params : array_like, shape (n_params,) or (n_members, n_params), optional
        Parameters passed to ``rhs`` as ``p``; a 1-D array is shared.

    Other Parameters
    ----------------
    jac : numba.njit function, optional
        ``jac(t, y, p, J)`` writes ``J[i, j] = d f_i / d y_j`` (``J`` is zeroed on
        entry, so only non-zero entries need writing). Without it the
        stiff method builds a forward-difference Jacobian (n extra rhs
        evaluations per step).
    method : {"auto", "rodas5p", "rodas4", "dp5", "dop853"}
        ``"rodas4"``: the L-stable Rosenbrock method of Hairer & Wanner (order
        4, embedded order 3, dense output of order 3), for stiff problems
        and for pharmacology with fast and slow processes together.
        ``"rodas5p"``: Steinebach's Rodas5P (order 5, embedded order 4,
        dense output of order 4), fewer steps than ``"rodas4"`` for two more
        stages per step; its dense output over long steps is poor (see
        ``land_on_saves``).
        ``"dp5"``: Dormand-Prince 5(4) with Shampine's order-4 dense output,
        for non-stiff problems.
        ``"dop853"``: Dormand & Prince's order-8 pair with Hairer's error
        estimate and order-7 dense output, for smooth non-stiff problems at
        tight tolerances. Its dense output is not accurate where the step
        sits at the stability boundary, so by default its steps end on the
        save times (``land_on_saves``). Its error estimate can accept a step
        far too long when the states it steps feel a change only through
        their input (closed-form states, ``linear=``): prefer ``"dp5"`` there.
        ``"auto"`` (default) starts each member with an explicit method,
        ``"dop853"`` at rtol <= 1e-4 and ``"dp5"`` above or with ``linear``
        (where DOP853's error estimate was fooled), and switches to
        ``"rodas4"`` when stiffness limits the explicit step (the dominant
        eigenvalue times the step stays beyond 3.25, Dormand-Prince's
        stability boundary, for 15 steps, whichever explicit method runs),
        and back when the Rosenbrock step no longer needs L-stability; each
        member decides for itself.
        Choose a method explicitly when you know the problem: ``"rodas4"``
        for stiff ones, ``"dp5"`` or ``"dop853"`` for non-stiff ones.
    rtol : float
        Relative tolerance (> 0).
    atol : float or array_like, shape (n_states,)
        Absolute tolerance (> 0), scalar or one per state. Per-state values
        matter when states differ in scale (mg in the gut vs pg/mL of a
        cytokine): a state is followed down to about ``atol / rtol``.
    doses : tuple, optional
        ``(times, targets, amounts)`` or ``(times, targets, amounts, tags)``
        of equal length: bolus records. ``amounts`` may be
        ``(n_members, n_doses)``. A bolus adds ``amount`` to
        ``y[target]`` at its time; the save time equal to a dose time
        includes the dose; doses at the same time add, in the order given.
        No step crosses a dose: integration restarts there.
    threads : int, optional
        Number of threads (default: all of Numba's threads, i.e. all
        cores). Results do not depend on it.
    max_steps : int
        Maximum step attempts per member.
    dose_hook : numba.njit function, optional
        ``dose_hook(t, y, p, target, amount, tag)`` replaces the default
        "add amount to y[target]": it may change ``y`` in place in any way
        (switch an infusion, take a titration decision). ``target`` need
        not be a state index when a hook is given.
    first_step : float, optional
        Initial step; default from the standard starting-step heuristic.
    max_step : float
        Largest step allowed.
    autonomous : bool
        Declare that ``rhs`` does not depend on ``t`` explicitly; saves the
        time-derivative evaluation of the stiff method (one rhs call per
        step). Only set it when true.
    block_split : int, optional
        ``k`` such that the states ``y[k:]`` do not depend on ``y[:k]``
        (the Jacobian block ``J[k:, :k]`` is zero), as when drug
        compartments drive a disease model but not the reverse. The stiff
        methods then factorise the two diagonal blocks separately, which is
        cheaper; results agree with the dense factorisation to rounding.
        Only set it when true: a non-zero ``J[k:, :k]`` would be ignored.
    linear : {None, "auto"} or array_like of int
        Advance linear states in closed form instead of stepping them
        (needs ``jac``). A state qualifies when its derivative is a fixed
        linear combination of qualifying states (``dy_L/dt = A y_L``, no
        input from the others, no constant term, no explicit time
        dependence): linear PK compartments, infusion rates, switches.
        Between doses the solver uses ``y_L(t) = V exp(Lambda (t - t_s))
        V^-1 y_L(t_s)`` from the eigendecomposition of each member's ``A``
        and steps only the other states, which see ``y_L(t)`` as an exact
        input; doses restart the closed form. Long dosing regimens then
        need far fewer steps, since the error control no longer follows
        every absorption and distribution transient. ``"auto"`` finds
        the qualifying states from the Jacobian at two probe states; an
        index list restricts the search to those states. Pure
        accumulators (zero diagonal, like a cumulative dose) are stepped.
        A member whose ``A`` has complex eigenvalues or an ill-conditioned
        eigenvector matrix (condition number above 1e8) is solved without
        closed form. The choice depends only on the member's own data.
        ``res.n_linear`` gives the number of closed-form states per member.
    land_on_saves : None, bool or list of method names
        Whose steps end on the save times, so that every saved value is a
        step's own, error-controlled value, rather than interpolated by the
        method's continuous extension. ``None`` (default): the steps of
        ``"rodas4"``, ``"rodas5p"`` and ``"dop853"`` land, those of
        ``"dp5"`` interpolate. The continuous extensions of the Rosenbrock
        methods (order 3 for Rodas4) and of DOP853 at its stability
        boundary have no error control of their own: on HIRES at rtol 1e-5
        Rodas4's interpolated values were 13 times less accurate than its
        steps. Dormand-Prince's order-4 interpolant is as accurate as its
        steps, and landing would only add steps (on an hourly-output dosing
        problem, 25 % more for a third less error). ``True``: every method's
        steps land; ``False``: none do (the fewest steps, for save times
        much denser than the steps); a list such as ``["dop853"]``: those
        methods' steps land. A save time within 1 % of a step's length from
        its start is interpolated either way. See docs/solver.md, "Save
        times".

    Returns
    -------
    EnsembleResult
        ``t``, ``y (n_members, n_times, n_states)``, ``status`` per member
        (0 = success; see :class:`Status` and ``res.messages()``) and
        per-member statistics.

    Notes
    -----
    Members run in parallel with a ``prange`` loop; each member is
    integrated by one thread from start to end, so a member's result is the
    same bit for bit whether solved alone, inside any ensemble or on any
    number of threads. A member that fails (NaN, blow-up, too many steps)
    gets its status while the others continue.

    Examples
    --------
    >>> import numba, numpy as np
    >>> @numba.njit
    ... def decay(t, y, p, dydt):
    ...     dydt[0] = -p[0] * y[0]
    >>> res = solve_ensemble(decay, [1.0], np.linspace(0, 1, 3), params=[[1.0], [2.0]])
    >>> res.y.shape
    (2, 3, 1)
    """
    _check_jitted("rhs", rhs, "rhs(t, y, p, dydt)")
    _check_jitted("jac", jac, "jac(t, y, p, J)")
    _check_jitted("dose_hook", dose_hook, "dose_hook(t, y, p, target, amount, tag)")

    if method not in METHODS:
        raise NeurosimValueError(
            f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}."
            + did_you_mean(str(method), METHODS))
    use_linear = linear is not None and linear is not False
    # Every method's step is compiled into the kernel; it is chosen at run time
    # by the table's position (eid for the explicit, rid for the Rosenbrock).
    if method == "auto":
        try:
            tight = float(rtol) <= AUTO_DOP853_RTOL
        except (TypeError, ValueError):
            tight = False  # rtol is checked, with a clear message, below
        tight = tight and not use_linear
        family, etab_obj, rtab_obj = K.FAMILY_AUTO, DOP853 if tight else DP5, RODAS4
    elif method in EXPLICIT:
        family, etab_obj, rtab_obj = K.FAMILY_EXPLICIT, EXPLICIT[method], RODAS4
    else:
        family, etab_obj, rtab_obj = K.FAMILY_ROSENBROCK, DP5, ROSENBROCK[method]
    eid = K.EXPLICIT_TABLES.index(etab_obj)
    land = _land_bits(land_on_saves, etab_obj, rtab_obj)

    y0a = _as_float_array("y0", y0, (1, 2))
    y0a = np.ascontiguousarray(y0a if y0a.ndim == 2 else y0a[None, :])
    n_states = y0a.shape[1]
    if n_states == 0:
        raise NeurosimValueError("y0 must have at least one state")
    if not np.all(np.isfinite(y0a)):
        raise NeurosimValueError("y0 contains NaN or inf; initial states must be finite")

    t = _as_float_array("t_eval", t_eval, (1,))
    if t.size == 0:
        raise NeurosimValueError("t_eval must contain at least one time")
    if not np.all(np.isfinite(t)):
        raise NeurosimValueError("t_eval contains NaN or inf")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise NeurosimValueError(
            f"t_eval must be strictly increasing; t_eval[{bad}]={float(t[bad])!r} >= "
            f"t_eval[{bad + 1}]={float(t[bad + 1])!r}")
    t = np.ascontiguousarray(t)

    if params is None:
        pa = np.zeros((1, 0))
    else:
        pa = _as_float_array("params", params, (1, 2))
        pa = pa if pa.ndim == 2 else pa[None, :]
    pa = np.ascontiguousarray(pa)

    # Dose records.
    if doses is None:
        dt_ = np.zeros(0)
        dtarget = np.zeros(0, dtype=np.int64)
        damount = np.zeros((1, 0))
        dtag = np.zeros(0, dtype=np.int64)
    else:
        dt_, dtarget, damount, dtag = _check_doses(doses, t, n_states, dose_hook is not None)

    rows = {"y0": y0a.shape[0], "params": pa.shape[0], "dose amounts": damount.shape[0]}
    n_members = max(rows.values())
    for what, r in rows.items():
        if r not in (1, n_members):
            detail = ", ".join(f"{k}: {v}" for k, v in rows.items())
            raise NeurosimValueError(
                f"inconsistent number of members ({detail}); each must have 1 row or "
                f"{n_members} rows")

    rtol = float(rtol)
    if not np.isfinite(rtol) or rtol <= 0:
        raise NeurosimValueError(f"rtol must be a positive number; got {rtol!r}")
    if rtol < 100 * np.finfo(float).eps:
        raise NeurosimValueError(
            f"rtol={rtol:g} is below what float64 arithmetic can deliver; use rtol >= 2.3e-14")
    atol_a = _as_float_array("atol", atol, (0, 1))
    if atol_a.ndim == 0:
        atol_a = np.full(n_states, float(atol_a))
    if atol_a.shape != (n_states,):
        raise NeurosimValueError(
            f"atol must be a scalar or have one value per state ({n_states}); got shape {atol_a.shape}")
    if not np.all(np.isfinite(atol_a)) or np.any(atol_a <= 0):
        raise NeurosimValueError("atol must be positive and finite (scalar or per state)")
    atol_a = np.ascontiguousarray(atol_a)

    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise NeurosimValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    if first_step is None:
        first = 0.0
    else:
        first = float(first_step)
        if not np.isfinite(first) or first <= 0:
            raise NeurosimValueError(f"first_step must be positive and finite; got {first_step!r}")
    if block_split is None:
        nsplit = 0
    else:
        if (isinstance(block_split, bool) or not isinstance(block_split, (int, np.integer))
                or not 0 < block_split < n_states):
            raise NeurosimValueError(
                f"block_split must be an integer from 1 to {n_states - 1} (the first state "
                f"of the block that does not depend on the others); got {block_split!r}")
        nsplit = int(block_split)
    hmax = float(max_step)
    if not hmax > 0:
        raise NeurosimValueError(f"max_step must be positive; got {max_step!r}")

    max_threads = numba.config.NUMBA_NUM_THREADS
    if threads is None:
        n_threads = max_threads
    else:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= max_threads:
            raise NeurosimValueError(
                f"threads must be an integer from 1 to {max_threads} (the cores Numba may use); "
                f"got {threads!r}")
        n_threads = int(threads)

    kernel = get_kernel(rhs, jac, dose_hook)
    lin = None
    if use_linear:
        if jac is None:
            raise NeurosimValueError(
                "linear= needs the analytic Jacobian (jac=...), from which the linear "
                "states and their matrix are read")
        lin = _linear_subsystems(kernel, linear, y0a, pa, t, n_members, n_states)
    rtab = (K.ROSENBROCK_TABLES.index(rtab_obj), rtab_obj.dense, float(rtab_obj.error_order))

    # every row is written by the kernel (NaN after a failure); left uninitialised
    # here, its pages are first touched by the solver threads, in parallel
    out = np.empty((n_members, t.size, n_states))
    status = np.full(n_members, K.NOT_RUN, dtype=np.int64)
    t_last = np.full(n_members, np.nan)
    stats = np.zeros((n_members, K.N_STATS), dtype=np.int64)

    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    # members are handed to threads one at a time as they finish, not in equal
    # shares up front: their costs differ, and the last share would hold the rest
    previous_chunk = numba.set_parallel_chunksize(1)
    try:
        if lin is None:
            kernel(family, eid, rtab, land, bool(autonomous), nsplit, y0a, pa, t, dt_, dtarget,
                   damount, dtag, rtol, atol_a, int(max_steps), first, hmax, out, status,
                   t_last, stats)
        else:
            kernel.linear(family, eid, rtab, land, bool(autonomous), nsplit, y0a, pa, t, dt_,
                          dtarget, damount, dtag, rtol, atol_a, int(max_steps), first, hmax, out,
                          status, t_last, stats, *lin)
    finally:
        numba.set_num_threads(previous)
        numba.set_parallel_chunksize(previous_chunk)

    return EnsembleResult(
        t=t, y=out, status=status, t_reached=t_last,
        stats={"n_steps": stats[:, K.STAT_STEPS], "n_rejected": stats[:, K.STAT_REJECTED],
               "n_rhs": stats[:, K.STAT_RHS], "n_jac": stats[:, K.STAT_JAC],
               "n_lu": stats[:, K.STAT_LU], "n_switches": stats[:, K.STAT_SWITCH]},
        method=method, rtol=rtol, atol=atol_a,
        n_linear=(np.zeros(n_members, dtype=np.int64) if lin is None
                  else lin[0].sum(axis=1).astype(np.int64)))


#: Largest condition number of a member's eigenvector matrix for closed form.
_LINEAR_MAX_COND = 1e8


def _linear_subsystems(kernel, linear, y0a, pa, t, n_members, n_states):
    """Per member: which states go in closed form, and their eigendecomposition.

    Returns ``(mask, lam, vec, vinv)``: ``mask (n_members, n_states)`` bool,
    eigenvalues ``(n_members, nmax)``, eigenvectors and their inverse
    ``(n_members, nmax, nmax)`` (leading ``nL`` entries used).
    """
    if isinstance(linear, str):
        if linear != "auto":
            raise NeurosimValueError(
                f"linear must be None, 'auto' or a list of state indices; got {linear!r}")
        allowed = np.ones(n_states, dtype=bool)
    else:
        idx = np.asarray(linear)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise NeurosimValueError(
                f"linear must be None, 'auto' or a 1-D list of state indices; got {linear!r}")
        if idx.size and (idx.min() < 0 or idx.max() >= n_states):
            raise NeurosimValueError(
                f"linear lists state {int(idx.min() if idx.min() < 0 else idx.max())}, which "
                f"does not exist; indices must be from 0 to {n_states - 1}")
        allowed = np.zeros(n_states, dtype=bool)
        allowed[idx] = True
    t1 = float(t[-1]) if t[-1] != t[0] else float(t[0]) + 1.0
    parts = []
    for a in range(0, n_members, _PROBE_CHUNK):  # bounded memory: two n x n matrices a member
        b = min(n_members, a + _PROBE_CHUNK)
        parts.append(_linear_chunk(kernel, allowed, y0a[a:b] if y0a.shape[0] > 1 else y0a,
                                   pa[a:b] if pa.shape[0] > 1 else pa, float(t[0]), t1,
                                   b - a, n_states))
    nmax = max(part[1].shape[1] for part in parts)
    mask = np.concatenate([part[0] for part in parts])
    lam = np.zeros((n_members, nmax))
    vec = np.zeros((n_members, nmax, nmax))
    vinv = np.zeros_like(vec)
    a = 0
    for pmask, plam, pvec, pvinv in parts:
        b = a + pmask.shape[0]
        k = plam.shape[1]
        lam[a:b, :k] = plam
        vec[a:b, :k, :k] = pvec
        vinv[a:b, :k, :k] = pvinv
        a = b
    return (np.ascontiguousarray(mask), lam, vec, vinv)


#: Members probed at a time (memory: two n_states^2 matrices per member).
_PROBE_CHUNK = 1024


def _linear_chunk(kernel, allowed, y0a, pa, t0, t1, m, n_states):
    """:func:`_linear_subsystems` for ``m`` members (rows of ``y0a``/``pa`` or shared)."""
    J1 = np.zeros((m, n_states, n_states))
    J2 = np.zeros_like(J1)
    f1 = np.zeros((m, n_states))
    f2 = np.zeros_like(f1)
    f3 = np.zeros_like(f1)
    y0m = np.ascontiguousarray(np.broadcast_to(y0a, (m, n_states)))
    pm = np.ascontiguousarray(np.broadcast_to(pa, (m, pa.shape[1])))
    ya = np.zeros((m, n_states))
    yb = np.zeros_like(ya)
    kernel.probe(y0m, pm, t0, t1, J1, J2, f1, f2, f3, ya, yb)
    with np.errstate(all="ignore"):
        tol = 1e-9
        row_const = np.all(np.abs(J1 - J2) <= tol * (np.abs(J1) + np.abs(J2)) + 1e-300, axis=2)
        lin1 = np.einsum("mij,mj->mi", J1, ya)
        lin3 = np.einsum("mij,mj->mi", J2, yb)
        size1 = np.einsum("mij,mj->mi", np.abs(J1), np.abs(ya)) + np.abs(f1)
        size3 = np.einsum("mij,mj->mi", np.abs(J2), np.abs(yb)) + np.abs(f3)
        no_const = ((np.abs(f1 - lin1) <= tol * size1 + 1e-300)
                    & (np.abs(f3 - lin3) <= tol * size3 + 1e-300))
        no_time = np.abs(f1 - f2) <= tol * np.abs(f1) + 1e-300
        finite = np.isfinite(J1).all(axis=2) & np.isfinite(f1)
    mask = allowed[None, :] & row_const & no_const & no_time & finite
    diag = np.einsum("mii->mi", J1)
    nz = J1 != 0.0
    # accumulators (zero diagonal, fed by others) are stepped: they would make A defective
    mask &= ~((diag == 0.0) & nz.any(axis=2))
    while True:  # closure: a closed-form state may depend on closed-form states only
        depends_out = np.einsum("mij,mj->mi", nz.astype(np.int32),
                                (~mask).astype(np.int32)) > 0
        new = mask & ~depends_out
        if np.array_equal(new, mask):
            break
        mask = new
    counts = mask.sum(axis=1)
    nmax = int(counts.max()) if m else 0
    lam = np.zeros((m, max(nmax, 1)))
    vec = np.zeros((m, max(nmax, 1), max(nmax, 1)))
    vinv = np.zeros_like(vec)
    for pattern in np.unique(mask, axis=0):
        rows = np.flatnonzero((mask == pattern).all(axis=1))
        idx = np.flatnonzero(pattern)
        k = idx.size
        if k == 0:
            continue
        A = J1[np.ix_(rows, idx, idx)]
        w, V, Vi, ok = _eigen(A)
        good = rows[ok]
        lam[good, :k] = w[ok]
        vec[good, :k, :k] = V[ok]
        vinv[good, :k, :k] = Vi[ok]
        mask[rows[~ok]] = False
    return mask, lam, vec, vinv


def _eigen(A):
    """Eigendecomposition of a stack of real matrices, member by member if one fails.

    Returns eigenvalues (real parts), eigenvectors, their inverse and a flag
    per matrix: real eigenvalues and an eigenvector matrix with a condition
    number up to :data:`_LINEAR_MAX_COND`.
    """
    r, k = A.shape[0], A.shape[1]
    w = np.zeros((r, k), dtype=complex)
    V = np.tile(np.eye(k, dtype=complex), (r, 1, 1))
    ok = np.isfinite(A).all(axis=(1, 2))
    with np.errstate(all="ignore"):
        try:
            if ok.any():
                w[ok], V[ok] = np.linalg.eig(A[ok])
        except np.linalg.LinAlgError:
            for i in np.flatnonzero(ok):
                try:
                    w[i], V[i] = np.linalg.eig(A[i])
                except np.linalg.LinAlgError:
                    ok[i] = False
        ok &= np.all(np.isfinite(w), axis=1) & np.all(np.isfinite(V), axis=(1, 2))
        ok &= np.all(np.abs(w.imag) <= 1e-12 * np.maximum(1.0, np.abs(w.real)), axis=1)
        Vr = np.where(ok[:, None, None], V.real, np.eye(k)[None])
        try:
            Vi = np.linalg.inv(Vr)
        except np.linalg.LinAlgError:  # a singular one: invert one by one
            Vi = np.tile(np.eye(k), (r, 1, 1))
            for i in np.flatnonzero(ok):
                try:
                    Vi[i] = np.linalg.inv(Vr[i])
                except np.linalg.LinAlgError:
                    ok[i] = False
        cond = np.linalg.norm(Vr, 1, axis=(1, 2)) * np.linalg.norm(Vi, 1, axis=(1, 2))
        ok &= np.isfinite(cond) & (cond <= _LINEAR_MAX_COND)
    return w.real, Vr, Vi, ok


def _check_doses(doses, t, n_states, has_hook):
    if not isinstance(doses, (tuple, list)) or len(doses) not in (3, 4):
        raise NeurosimValueError(
            "doses must be a tuple (times, targets, amounts) or (times, targets, amounts, tags)")
    times = _as_float_array("doses times", doses[0], (1,))
    n_d = times.size
    try:
        targets = np.asarray(doses[1])
    except Exception:  # pragma: no cover - defensive
        raise NeurosimValueError("dose targets must be integers") from None
    if targets.ndim != 1 or targets.size != n_d:
        raise NeurosimValueError(
            f"dose targets must be 1-D with one entry per dose ({n_d}); got shape {targets.shape}")
    if n_d and not np.issubdtype(targets.dtype, np.integer):
        if not np.all(np.equal(np.mod(targets, 1), 0)):
            raise NeurosimValueError("dose targets must be integer state indices")
    targets = targets.astype(np.int64)
    amounts = _as_float_array("dose amounts", doses[2], (1, 2))
    amounts = amounts if amounts.ndim == 2 else amounts[None, :]
    if amounts.shape[1] != n_d:
        raise NeurosimValueError(
            f"dose amounts must have one column per dose ({n_d}); got shape {amounts.shape}")
    if len(doses) == 4:
        tags = np.asarray(doses[3])
        if tags.ndim != 1 or tags.size != n_d:
            raise NeurosimValueError(f"dose tags must be 1-D with one entry per dose ({n_d})")
        tags = tags.astype(np.int64)
    else:
        tags = np.zeros(n_d, dtype=np.int64)
    if not np.all(np.isfinite(times)):
        raise NeurosimValueError("dose times contain NaN or inf")
    if not np.all(np.isfinite(amounts)):
        raise NeurosimValueError("dose amounts contain NaN or inf")
    if n_d:
        outside = (times < t[0]) | (times > t[-1])
        if np.any(outside):
            i = int(np.flatnonzero(outside)[0])
            raise NeurosimValueError(
                f"dose {i} at t={float(times[i])!r} is outside the integration span "
                f"[{float(t[0])!r}, {float(t[-1])!r}] given by t_eval")
        if not has_hook:
            bad = (targets < 0) | (targets >= n_states)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise NeurosimValueError(
                    f"dose {i} targets state {targets[i]}, which does not exist; targets must "
                    f"be from 0 to {n_states - 1}")
    order = np.argsort(times, kind="stable")
    return (np.ascontiguousarray(times[order]), np.ascontiguousarray(targets[order]),
            np.ascontiguousarray(amounts[:, order]), np.ascontiguousarray(tags[order]))
