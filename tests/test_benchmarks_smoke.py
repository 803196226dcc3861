"""Smoke test of the solver benchmark (benchmarks/bench_solver.py --quick).

Runs the harness end to end at tiny sizes: neurosim against scipy's LSODA
on the dosing problem, then checks the JSON it writes. The figures of a
quick run are not measurements; only the structure and the finiteness of
the errors are checked. The optional baselines (numbalsoda, libroadrunner)
have their own test, skipped when they are not installed.
"""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_solver.py"


def _run(tmp_path, solvers, problems="pkpd", timeout=600):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH), "--quick", "--problems", problems,
           "--solvers", solvers, "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _check_solver(entry):
    assert entry["throughput"] > 0
    assert entry["n_members"] >= 1
    assert entry["failures"] == 0
    assert entry["error"] is not None and math.isfinite(entry["error"])
    # At rtol 1e-6 every solver here lands well inside 1e-3.
    assert entry["error"] < 1e-3


def test_quick_run_neurosim_and_scipy(tmp_path):
    result, stdout = _run(tmp_path, "neurosim,scipy-lsoda")
    for key in ("date", "machine", "versions", "settings", "problems", "skipped"):
        assert key in result
    # neurosim must never be skipped: the benchmark exists for it.
    assert "neurosim" not in result["skipped"], result["skipped"]
    p = result["problems"]["pkpd"]
    for key in ("rtol", "atol", "reference", "solvers", "neurosim_scan", "matched_error", "targets"):
        assert key in p
    assert set(p["solvers"]) == {"neurosim", "scipy-lsoda"}
    for entry in p["solvers"].values():
        _check_solver(entry)
    ns = p["solvers"]["neurosim"]
    assert ns["thread_scaling"]["threads_1"]["throughput"] > 0
    assert ns["thread_scaling"]["ratio"] > 0
    scan = p["neurosim_scan"]
    assert len(scan) >= 3 and all(row["error"] is not None for row in scan)
    # Tighter tolerances give smaller errors on this smooth problem.
    errors = [row["error"] for row in sorted(scan, key=lambda r: -r["rtol"])]
    assert errors[-1] < errors[0]
    m = p["matched_error"]["scipy-lsoda"]
    assert m["neurosim_rtol"] is not None and m["matched_speedup"] > 0
    assert "pkpd" in stdout and "traj/s" in stdout


@pytest.mark.slow
def test_quick_run_optional_baselines(tmp_path):
    present = [name for name, module in (("numbalsoda", "numbalsoda"), ("roadrunner", "roadrunner"))
               if importlib.util.find_spec(module) is not None]
    if not present:
        pytest.skip("neither numbalsoda nor libroadrunner is installed (pip install .[bench])")
    result, _ = _run(tmp_path, ",".join(["neurosim"] + present), problems="hires,pkpd")
    for p in result["problems"].values():
        for name in present:
            _check_solver(p["solvers"][name])
            assert "same_rtol_speedup" in p["matched_error"][name]


def test_quick_run_of_the_auto_start_benchmark(tmp_path):
    """benchmarks/bench_auto_start.py --quick on the dosing problem: both starts of
    "auto" solve every member, tighter rtol gives a smaller error, and the
    matched-error table pairs every Dormand-Prince point."""
    out = tmp_path / "auto.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_auto_start.py"), "--quick",
           "--problems", "pkpd", "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    p = result["problems"]["pkpd"]
    for start in ("dp5", "dop853"):
        points = p["points"][start]
        assert [q["rtol"] for q in points] == result["rtols"]
        assert all(q["traj_per_s"] > 0 and math.isfinite(q["error"]) for q in points)
        # at rtol 1e-4 and 1e-6 both starts are well inside 1e-3 on this smooth problem
        assert points[0]["error"] < 1e-3 and points[-1]["error"] < points[0]["error"]
    assert len(p["matched"]) == len(result["rtols"])
    assert "DOP853 start" in proc.stdout


# --------------------------------------------------------------------------
# The benchmark problems themselves
# --------------------------------------------------------------------------
def _problems_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import problems
    finally:
        sys.path.pop(0)
    return problems


@pytest.mark.parametrize("name", ["hires", "pkpd"])
def test_problem_jacobian_matches_finite_differences(name):
    import numpy as np

    problem = _problems_module().get_problem(name)
    p = problem.sample_params(3)[2]
    y = np.abs(np.random.default_rng(1).standard_normal(problem.n_states)) + 0.1
    n = problem.n_states
    J = np.full((n, n), np.nan)
    problem.jac(0.0, y, p, J)
    Jfd = np.empty((n, n))
    fp, fm = np.empty(n), np.empty(n)
    for j in range(n):
        h = 1e-6 * max(1.0, abs(y[j]))
        yp, ym = y.copy(), y.copy()
        yp[j] += h
        ym[j] -= h
        problem.rhs(0.0, yp, p, fp)
        problem.rhs(0.0, ym, p, fm)
        Jfd[:, j] = (fp - fm) / (2 * h)
    # Central differences: truncation error ~h^2 relative.
    np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-7)


def test_hires_reproduces_bari_reference():
    """HIRES at the nominal k1 matches the Bari test set's published final state."""
    import numpy as np
    from scipy.integrate import solve_ivp

    problems = _problems_module()
    problem = problems.hires
    p = problem.nominal_params

    def f(t, y):
        d = np.empty(8)
        problem.rhs(t, y, p, d)
        return d

    def jac(t, y):
        J = np.empty((8, 8))
        problem.jac(t, y, p, J)
        return J

    sol = solve_ivp(f, (0.0, problems.HIRES_T_END), problem.y0, method="LSODA", jac=jac,
                    rtol=1e-12, atol=1e-16)
    bari = np.array([0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4,
                     0.1175651343283149e-2, 0.2386356198831331e-2, 0.6238968252742796e-2,
                     0.2849998395185769e-2, 0.2850001604814231e-2])
    np.testing.assert_allclose(sol.y[:, -1], bari, rtol=1e-8)


def test_pkpd_dosing_schedule():
    problem = _problems_module().pkpd
    assert problem.n_doses == 60
    assert len(problem.t_eval) == 721
    assert problem.dose_times[0] == 0.0 and problem.dose_times[-1] == 708.0
