"""Start-up cost of one solver on one problem, measured in this process.

Run by ``bench_solver.py`` in fresh subprocesses: first with empty compile
caches (cold: every Numba function of the path is compiled, or the SBML
model is built), then again with the caches the first run left (warm).
Prints one JSON object::

    {"import_s": ..., "first_call_s": ..., "second_call_s": ..., "startup_s": ...}

``startup_s = import_s + first_call_s - second_call_s`` is what a fresh
process pays before its first result beyond an ordinary call of the same
size: importing the solver (numbalsoda compiles its own functions at
import) plus compiling or loading on the first call. For
``roadrunner`` the model is loaded in this process (no worker pool), and
``startup_s`` includes building the model from SBML.

Usage: ``python compile_probe.py SOLVER PROBLEM``
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

N_MEMBERS = 2


def main(solver: str, problem_name: str) -> dict:
    t = time.perf_counter()
    import numpy as np

    import problems
    import solvers

    problem = problems.get_problem(problem_name)
    params = problem.sample_params(N_MEMBERS)
    rtol = problem.rtol
    atol = problem.atol(rtol)

    if solver in ("neurosim", "neurosim-dp5", "neurosim-linear"):
        import neurosim.solver  # noqa: F401

        method = "dp5" if solver == "neurosim-dp5" else "auto"
        linear = "auto" if solver == "neurosim-linear" else None

        def call():
            return solvers.solve_neurosim(problem, params, rtol, atol, threads=2, method=method,
                                          linear=linear)[:2]
    elif solver == "numbalsoda":
        import numbalsoda  # noqa: F401

        def call():
            return solvers.solve_numbalsoda(problem, params, rtol, atol)
    elif solver == "roadrunner":
        import roadrunner  # noqa: F401

        def call():
            # A new model per call: loading it is the start-up cost.
            solvers._rr_worker_init(problem.sbml(), problem.state_names, problem.param_names)
            plan = solvers.make_plan(problem)
            return solvers._rr_worker_solve((params, problem.y0, plan, rtol, atol, 100_000))
    elif solver in ("scipy-lsoda", "scipy-radau"):
        import scipy.integrate  # noqa: F401

        method = {"scipy-lsoda": "LSODA", "scipy-radau": "Radau"}[solver]

        def call():
            return solvers.ScipySolver(method).solve(problem, params, rtol, atol)
    else:
        raise SystemExit(f"unknown solver {solver!r}")
    import_s = time.perf_counter() - t

    t = time.perf_counter()
    y, ok = call()
    first = time.perf_counter() - t
    t = time.perf_counter()
    call()
    second = time.perf_counter() - t
    if solver == "roadrunner":
        # The second call rebuilt the model too; take the steady part from
        # a third call that reuses it.
        plan = solvers.make_plan(problem)
        t = time.perf_counter()
        solvers._rr_worker_solve((params, problem.y0, plan, rtol, atol, 100_000))
        second = time.perf_counter() - t
    return {
        "import_s": import_s,
        "first_call_s": first,
        "second_call_s": second,
        "startup_s": max(import_s + first - second, 0.0),
        "ok": bool(np.all(ok)),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
