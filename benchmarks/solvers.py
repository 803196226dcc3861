"""Uniform drivers for every solver in the benchmark.

Each driver solves an ensemble ``params (n_members, n_params)`` of one
:class:`problems.Problem` and returns ``(y, ok)`` with ``y`` of shape
``(n_members, n_times, n_states)`` at the problem's output times and ``ok``
a boolean per member. How each one is driven:

``neurosim``, ``neurosim-dp5``, ``neurosim-linear``
    ``neurosim.solver.solve_ensemble`` over the whole ensemble with the
    analytic Jacobian, doses passed as its bolus table, ``threads`` = 2 or 1;
    ``method="auto"`` or ``"dp5"``. The problems are declared autonomous.
``numbalsoda``
    LSODA (numbalsoda) called from a ``numba.prange`` loop over members, one
    call per dose interval (the solver restarts at each dose); the rhs is a
    C callback that calls the problem's njit rhs. numbalsoda cannot take a
    Jacobian, so LSODA approximates it by finite differences.
``roadrunner``
    libroadrunner's CVODE (BDF, its default) on the problem's SBML, one worker
    process per core (``multiprocessing``, spawn), each simulating its share
    of members one at a time, interval by interval: the dose is added with
    ``setValue`` and the next ``simulate`` call restarts the integrator. The
    absolute tolerance is set per state, since libroadrunner otherwise
    rescales a scalar one by the states' values. CVODE builds its Jacobian
    by finite differences (SBML carries no Jacobian).
``scipy-lsoda``, ``scipy-radau``
    ``scipy.integrate.solve_ivp`` one member at a time in this process, one
    call per dose interval, fed the njit rhs and Jacobian.

Output at a dose time is the state just after the bolus (``DOSE_OUTPUT =
"after"``), as ``solve_ensemble`` reports it, so every solver reports the
same quantity there.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DOSE_OUTPUT",
    "DosePlan",
    "make_plan",
    "ScipySolver",
    "solve_numbalsoda",
    "RoadrunnerPool",
    "solve_neurosim",
    "SOLVERS",
    "solver_available",
]

#: Which state an output time that coincides with a dose reports.
DOSE_OUTPUT = "after"


# --------------------------------------------------------------------------
# Piecewise integration plan shared by the baselines that restart at doses
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class DosePlan:
    """Integration segments between doses, flattened for compiled loops.

    Segment ``s`` starts at ``times[start[s]]`` (after adding ``dose[s]`` to
    the dosed state) and ends at ``times[stop[s] - 1]``; every entry of
    ``times`` in it is an output request, written to output index
    ``out_index`` (or nowhere when -1).
    """

    times: np.ndarray  # (n_points,) concatenated segment time grids
    out_index: np.ndarray  # (n_points,) int64
    start: np.ndarray  # (n_segments,) int64
    stop: np.ndarray  # (n_segments,) int64
    dose: np.ndarray  # (n_segments,) amount added at the segment start
    target: int
    pre_dose_t0: bool  # write y0 to output 0 before a dose at t_eval[0]

    @property
    def n_segments(self) -> int:
        return len(self.start)

    def segment_times(self, s: int) -> np.ndarray:
        return self.times[self.start[s]:self.stop[s]]

    def segment_out(self, s: int) -> np.ndarray:
        return self.out_index[self.start[s]:self.stop[s]]


def make_plan(problem) -> DosePlan:
    """Split ``problem.t_eval`` at its dose times."""
    t_eval = problem.t_eval
    t0, t1 = t_eval[0], t_eval[-1]
    dose_at = {}
    if problem.dose_times is not None:
        for td, amount in zip(problem.dose_times, problem.dose_amounts):
            if t0 <= td < t1:
                dose_at[float(td)] = dose_at.get(float(td), 0.0) + float(amount)
    breaks = sorted({float(t0), float(t1)} | set(dose_at))
    times, out_index, start, stop, dose = [], [], [], [], []
    for a, b in zip(breaks[:-1], breaks[1:]):
        inside = np.nonzero((t_eval > a) & (t_eval < b))[0]
        seg_t = [a] + t_eval[inside].tolist() + [b]
        idx_a = np.nonzero(t_eval == a)[0]
        idx_b = np.nonzero(t_eval == b)[0]
        a_out = int(idx_a[0]) if len(idx_a) else -1
        if DOSE_OUTPUT == "before" and a in dose_at:
            a_out = -1  # the previous segment already wrote the pre-dose state
        seg_o = [a_out] + inside.tolist() + [int(idx_b[0]) if len(idx_b) else -1]
        start.append(len(times))
        times += seg_t
        out_index += seg_o
        stop.append(len(times))
        dose.append(dose_at.get(a, 0.0))
    return DosePlan(
        times=np.asarray(times, dtype=np.float64),
        out_index=np.asarray(out_index, dtype=np.int64),
        start=np.asarray(start, dtype=np.int64),
        stop=np.asarray(stop, dtype=np.int64),
        dose=np.asarray(dose, dtype=np.float64),
        target=int(problem.dose_target),
        pre_dose_t0=(DOSE_OUTPUT == "before" and float(t0) in dose_at),
    )


# --------------------------------------------------------------------------
# scipy.integrate.solve_ivp, one member at a time
# --------------------------------------------------------------------------
class ScipySolver:
    """``solve_ivp`` with a given method, restarted at every dose."""

    def __init__(self, method: str, use_jac: bool = True):
        self.method = method
        self.use_jac = use_jac

    def solve(self, problem, params, rtol, atol, max_steps=100_000):
        from scipy.integrate import solve_ivp

        plan = make_plan(problem)
        n, nt, ns = len(params), len(problem.t_eval), problem.n_states
        y = np.full((n, nt, ns), np.nan)
        ok = np.ones(n, dtype=bool)
        rhs, jac = problem.rhs, problem.jac
        for i in range(n):
            p = np.ascontiguousarray(params[i], dtype=np.float64)

            def fun(t, u, p=p):
                du = np.empty(ns)
                rhs(t, np.ascontiguousarray(u), p, du)
                return du

            def jacobian(t, u, p=p):
                J = np.empty((ns, ns))
                jac(t, np.ascontiguousarray(u), p, J)
                return J

            u = problem.y0.astype(np.float64).copy()
            if plan.pre_dose_t0:
                y[i, 0] = u
            for s in range(plan.n_segments):
                u[plan.target] += plan.dose[s]
                ts = plan.segment_times(s)
                kwargs = {"jac": jacobian} if self.use_jac and self.method != "DOP853" else {}
                sol = solve_ivp(fun, (ts[0], ts[-1]), u, method=self.method, t_eval=ts,
                                rtol=rtol, atol=atol, **kwargs)
                if sol.status != 0:
                    ok[i] = False
                    break
                outs = plan.segment_out(s)
                sel = outs >= 0
                y[i, outs[sel]] = sol.y.T[sel]
                u = sol.y[:, -1].copy()
        return y, ok


# --------------------------------------------------------------------------
# numbalsoda: LSODA from a numba prange loop
# --------------------------------------------------------------------------
def solve_numbalsoda(problem, params, rtol, atol, max_steps=100_000):
    import _numbalsoda_driver as driver

    funcptr = driver.CALLBACKS[problem.name].address
    plan = make_plan(problem)
    n = len(params)
    y = np.full((n, len(problem.t_eval), problem.n_states), np.nan)
    ok = np.ones(n, dtype=np.bool_)
    driver.ensemble(
        funcptr, problem.y0.astype(np.float64), np.ascontiguousarray(params, dtype=np.float64),
        plan.times, plan.out_index, plan.start, plan.stop, plan.dose, plan.target,
        plan.pre_dose_t0, float(rtol), float(atol), int(max_steps), y, ok,
    )
    return y, ok


# --------------------------------------------------------------------------
# libroadrunner: CVODE, one worker process per core
# --------------------------------------------------------------------------
_RR = {}  # per worker process: the loaded model and its layout


def _rr_worker_init(sbml, state_names, param_names):
    import roadrunner

    r = roadrunner.RoadRunner(sbml)
    r.setIntegrator("cvode")
    r.timeCourseSelections = ["time"] + list(state_names)
    _RR.update(r=r, states=list(state_names), params=list(param_names))


def _rr_worker_solve(task):
    cpu0 = time.process_time()
    params, y0, plan, rtol, atol, max_steps = task
    r = _RR["r"]
    states, pnames = _RR["states"], _RR["params"]
    integ = r.integrator
    integ.relative_tolerance = rtol
    integ.absolute_tolerance = atol
    # libroadrunner rescales a scalar absolute tolerance by the states'
    # current values; give every state the same one, as the other solvers do.
    for name in states:
        integ.setIndividualTolerance(name, atol)
    integ.maximum_num_steps = max_steps
    n = len(params)
    nt = int(plan.out_index.max()) + 1
    y = np.full((n, nt, len(states)), np.nan)
    ok = np.ones(n, dtype=bool)
    target = states[plan.target]
    for i in range(n):
        for name, value in zip(pnames, params[i]):
            r.setValue(name, float(value))
        for name, value in zip(states, y0):
            r.setValue(name, float(value))
        if plan.pre_dose_t0:
            y[i, 0] = y0
        try:
            for s in range(plan.n_segments):
                if plan.dose[s] != 0.0:
                    r.setValue(target, r.getValue(target) + plan.dose[s])
                ts = plan.segment_times(s)
                res = r.simulate(times=ts)
                outs = plan.segment_out(s)
                sel = outs >= 0
                y[i, outs[sel]] = np.asarray(res)[sel, 1:]
        except RuntimeError:
            ok[i] = False
    _RR["cpu"] = time.process_time() - cpu0
    return y, ok


def _rr_worker_solve_timed(task):
    y, ok = _rr_worker_solve(task)
    return y, ok, _RR["cpu"]


class RoadrunnerPool:
    """A pool of worker processes, each holding the loaded SBML model."""

    def __init__(self, problem, processes=None):
        import multiprocessing as mp

        self.problem = problem
        self.processes = processes or (os.cpu_count() or 1)
        ctx = mp.get_context("spawn")
        self.pool = ctx.Pool(
            self.processes,
            initializer=_rr_worker_init,
            initargs=(problem.sbml(), problem.state_names, problem.param_names),
        )
        self.plan = make_plan(problem)

    def solve(self, params, rtol, atol, max_steps=100_000):
        # A few chunks per worker balance the load without much pickling.
        n_chunks = min(len(params), 4 * self.processes)
        chunks = np.array_split(np.asarray(params, dtype=np.float64), n_chunks)
        tasks = [(c, self.problem.y0, self.plan, rtol, atol, max_steps) for c in chunks if len(c)]
        results = self.pool.map(_rr_worker_solve_timed, tasks)
        y = np.concatenate([r[0] for r in results])
        ok = np.concatenate([r[1] for r in results])
        #: CPU seconds the workers spent on the last call.
        self.last_worker_cpu = float(sum(r[2] for r in results))
        return y, ok

    def close(self):
        self.pool.close()
        self.pool.join()


# --------------------------------------------------------------------------
# neurosim
# --------------------------------------------------------------------------
def _accepts(func, name):
    import inspect

    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def solve_neurosim(problem, params, rtol, atol, threads=None, method="auto", max_steps=100_000,
                   linear=None):
    from neurosim.solver import solve_ensemble

    extra = {}
    if linear is not None:
        extra["linear"] = linear
    if problem.autonomous and _accepts(solve_ensemble, "autonomous"):
        extra["autonomous"] = True
    doses = None
    if problem.dose_times is not None:
        doses = (
            problem.dose_times.astype(np.float64),
            np.full(problem.n_doses, problem.dose_target, dtype=np.int64),
            problem.dose_amounts.astype(np.float64),
        )
    res = solve_ensemble(
        problem.rhs, problem.y0, problem.t_eval, np.ascontiguousarray(params, dtype=np.float64),
        jac=problem.jac, method=method, rtol=rtol, atol=atol, doses=doses,
        threads=threads, max_steps=max_steps, **extra,
    )
    return np.asarray(res.y), np.asarray(res.status) == NEUROSIM_SUCCESS, res


#: Value of ``res.status`` for a member that reached the end.
NEUROSIM_SUCCESS = 0


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------
SOLVERS = {
    "neurosim": "neurosim solve_ensemble, threads=2 (and 1)",
    "neurosim-dp5": "neurosim solve_ensemble, method='dp5', threads=2",
    "neurosim-linear": "neurosim solve_ensemble, linear='auto' (linear states in closed form), threads=2",
    "numbalsoda": "numbalsoda LSODA in a numba prange loop (2 threads)",
    "roadrunner": "libroadrunner CVODE, one process per core (2)",
    "scipy-lsoda": "scipy solve_ivp LSODA, one member at a time (1 core)",
    "scipy-radau": "scipy solve_ivp Radau, one member at a time (1 core)",
}


def solver_available(name: str) -> tuple[bool, str]:
    """Whether a solver can run here, and why not."""
    modules = {
        "neurosim": "neurosim.solver",
        "neurosim-dp5": "neurosim.solver",
        "neurosim-linear": "neurosim.solver",
        "numbalsoda": "numbalsoda",
        "roadrunner": "roadrunner",
        "scipy-lsoda": "scipy.integrate",
        "scipy-radau": "scipy.integrate",
    }
    try:
        mod = __import__(modules[name], fromlist=["_"])
        if name.startswith("neurosim"):
            getattr(mod, "solve_ensemble")
    except Exception as exc:  # any import failure means "skip with a note"
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""
