"""Disease-model benchmark: cost of one rhs/Jacobian evaluation and of a
12-month single-patient solve.

Measured in one run, on the same machine:

* ``disease_rhs`` and ``disease_jac`` per call, timed inside a compiled loop
  (no Python call overhead), against the same source run by the CPython
  interpreter (``.py_func``; helper calls go through Numba's dispatcher) --
  reported as a speed-up ratio;
* one patient, 12 months, daily output (366 points) with
  ``neurosim.solver.solve_ensemble`` (Rosenbrock, analytic Jacobian), after
  compilation, against ``scipy.integrate.solve_ivp`` (Radau, same Jacobian);
* a 1,000-patient virtual population over 12 months (throughput).

Targets (issue 3): one rhs evaluation <= 1 microsecond; one patient, 12
months, daily output <= 10 ms after compilation.

Writes a table to stdout and ``benchmarks/results/bench_model.json``.

Examples
--------
    python benchmarks/bench_model.py            # ~30 s once kernels are cached
    python benchmarks/bench_model.py --quick    # smoke test
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

HERE = Path(__file__).resolve().parent

TARGETS = {"rhs_ns": 1000.0, "solve_12mo_ms": 10.0}


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _compiled_loops():
    from neurosim.model import disease_jac, disease_rhs

    @njit(cache=False)
    def loop_rhs(y, p, s, dydt, n):
        acc = 0.0
        for i in range(n):
            y[0] = 20.0 + 1e-9 * i      # a changing input keeps the call from being hoisted
            disease_rhs(0.0, y, p, s, dydt)
            acc += dydt[0] + dydt[14]
        return acc

    @njit(cache=False)
    def loop_jac(y, p, s, J, dfds, n):
        acc = 0.0
        for i in range(n):
            y[0] = 20.0 + 1e-9 * i
            disease_jac(0.0, y, p, s, J, dfds)
            acc += J[0, 0] + J[14, 13]
        return acc

    return loop_rhs, loop_jac


def bench_evaluations(n_compiled, n_python, repeats):
    from neurosim.model import (N_CORE, N_SLOTS, default_parameters, default_slots,
                                disease_rhs, initial_state)

    loop_rhs, loop_jac = _compiled_loops()
    p = default_parameters()
    s = default_slots()
    y = initial_state(p)
    dydt = np.empty(N_CORE)
    J = np.empty((N_CORE, N_CORE))
    dfds = np.empty((N_CORE, N_SLOTS))
    loop_rhs(y, p, s, dydt, 10)                 # compile
    loop_jac(y, p, s, J, dfds, 10)
    rhs_s = _median_time(lambda: loop_rhs(y, p, s, dydt, n_compiled), repeats) / n_compiled
    jac_s = _median_time(lambda: loop_jac(y, p, s, J, dfds, n_compiled), repeats) / n_compiled
    py = disease_rhs.py_func

    def python_loop():
        for _ in range(n_python):
            py(0.0, y, p, s, dydt)

    py_s = _median_time(python_loop, repeats) / n_python
    return {"rhs_ns": rhs_s * 1e9, "jac_ns": jac_s * 1e9, "rhs_python_ns": py_s * 1e9,
            "rhs_speedup_vs_python": py_s / rhs_s}


def bench_solves(repeats, n_population):
    from scipy.integrate import solve_ivp

    from neurosim.model import (N_CORE, default_atol, default_parameters, initial_state,
                                model_jac, model_rhs, sample_population)
    from neurosim.solver import solve_ensemble

    p = default_parameters()
    y0 = initial_state(p)
    t = np.arange(0.0, 8760.0 + 1.0, 24.0)
    atol = default_atol(1e-6)

    def ours():
        res = solve_ensemble(model_rhs, y0, t, p, jac=model_jac, rtol=1e-6, atol=atol,
                             threads=1, autonomous=True)
        assert res.status[0] == 0

    ours()                                       # compile (or load the cache)
    solve_s = _median_time(ours, repeats)

    buf = np.empty(N_CORE)
    jbuf = np.empty((N_CORE, N_CORE))

    def f(tt, yy):
        model_rhs(tt, yy, p, buf)
        return buf.copy()

    def jf(tt, yy):
        model_jac(tt, yy, p, jbuf)
        return jbuf.copy()

    def scipy_radau():
        sol = solve_ivp(f, (t[0], t[-1]), y0, method="Radau", t_eval=t, jac=jf, rtol=1e-6,
                        atol=atol)
        assert sol.success

    scipy_s = _median_time(scipy_radau, max(1, repeats // 4))

    pop = sample_population(n_population, seed=1)
    y0s = initial_state(pop)

    def population():
        res = solve_ensemble(model_rhs, y0s, t, pop, jac=model_jac, rtol=1e-6, atol=atol,
                             autonomous=True)
        assert np.all(res.status == 0)

    population()
    pop_s = _median_time(population, max(1, repeats // 10))
    return {"solve_12mo_ms": solve_s * 1e3, "scipy_radau_12mo_ms": scipy_s * 1e3,
            "speedup_vs_scipy_radau": scipy_s / solve_s,
            "population_n": n_population, "population_12mo_s": pop_s,
            "population_patients_per_s": n_population / pop_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--output", type=Path, default=HERE / "results" / "bench_model.json")
    args = ap.parse_args(argv)
    if args.quick:
        ev = bench_evaluations(100_000, 2_000, 3)
        so = bench_solves(5, 50)
    else:
        ev = bench_evaluations(5_000_000, 50_000, 7)
        so = bench_solves(41, 1000)
    res = {**ev, **so}
    ok = {"rhs_ns": res["rhs_ns"] <= TARGETS["rhs_ns"],
          "solve_12mo_ms": res["solve_12mo_ms"] <= TARGETS["solve_12mo_ms"]}
    print(f"disease_rhs            {res['rhs_ns']:9.1f} ns/call   target <= "
          f"{TARGETS['rhs_ns']:.0f} ns  {'PASS' if ok['rhs_ns'] else 'FAIL'}")
    print(f"  same source, CPython {res['rhs_python_ns']:9.1f} ns/call   "
          f"(compiled is {res['rhs_speedup_vs_python']:.0f}x faster)")
    print(f"disease_jac            {res['jac_ns']:9.1f} ns/call")
    print(f"12 months, daily, 1 pt {res['solve_12mo_ms']:9.2f} ms        target <= "
          f"{TARGETS['solve_12mo_ms']:.0f} ms  {'PASS' if ok['solve_12mo_ms'] else 'FAIL'}")
    print(f"  scipy Radau          {res['scipy_radau_12mo_ms']:9.2f} ms        "
          f"(solve_ensemble is {res['speedup_vs_scipy_radau']:.0f}x faster)")
    print(f"{res['population_n']} patients, 12 months  {res['population_12mo_s']:7.2f} s         "
          f"({res['population_patients_per_s']:.0f} patients/s)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    meta = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "load_average": load, "quick": args.quick,
            "targets": TARGETS, "passed": ok}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"meta": meta, "results": res}, indent=2) + "\n")
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
