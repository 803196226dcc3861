"""Tight reference solutions and the error metric of the solver benchmark.

The reference of each problem is an independent scipy solution at a tight
tolerance, one member at a time, restarted at each dose:

* ``hires`` (stiff): ``Radau`` at rtol 1e-12, with the analytic Jacobian;
* ``pkpd`` (not stiff at these rates): ``DOP853`` at rtol 1e-13 (Radau
  at such tolerances takes minutes per member in scipy).

In both, ``atol = rtol * problem.atol_scale``. A second method at a tight
tolerance (LSODA at 1e-12) is solved on the same members and its distance
from the reference is recorded as ``self_check_error``: measured errors much
larger than it are errors of the solver, not of the reference.

Error metric
------------
``error = max over sample members, output times and states of
|y - y_ref| / (|y_ref| + floor)`` with ``floor = problem.atol_scale``, the
ratio of absolute to relative tolerance every solver runs with. It reads as
a relative error where the state is well above the floor and as an absolute
error (in units of the floor) near zero. A member that fails gives ``inf``.

References are cached in ``benchmarks/.cache`` under a key that covers the
model code, the output grid, the doses, the sample and the method.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path

import numpy as np
import scipy

from solvers import ScipySolver

__all__ = ["REFERENCE_METHODS", "reference", "error_metric", "error_by_state",
           "loosest_matching", "cached"]

#: problem name -> ((method, rtol) of the reference, (method, rtol) of the check)
REFERENCE_METHODS = {
    "hires": (("Radau", 1e-12), ("LSODA", 1e-12)),
    "pkpd": (("DOP853", 1e-13), ("LSODA", 1e-12)),
}

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


def error_metric(y, y_ref, floor, ok=None) -> float:
    """Maximum floored relative error (see the module docstring)."""
    if ok is not None and not np.all(ok):
        return float("inf")
    if y.shape != y_ref.shape:
        raise ValueError(f"solution shape {y.shape} does not match reference {y_ref.shape}")
    err = np.abs(y - y_ref) / (np.abs(y_ref) + floor)
    if not np.all(np.isfinite(err)):
        return float("inf")
    return float(err.max())


def loosest_matching(scan, error):
    """Loosest scanned rtol whose error is at or below ``error`` (or None).

    ``scan``: records with ``"rtol"`` and ``"error"`` (None for a failed run).
    """
    good = [row for row in scan if row["error"] is not None and row["error"] <= error]
    return max(good, key=lambda row: row["rtol"]) if good else None


def error_by_state(y, y_ref, floor, ok=None) -> list:
    """The same metric, maximised over members and times only: one value per state."""
    if ok is not None and not np.all(ok):
        return [None] * y_ref.shape[-1]
    err = np.abs(y - y_ref) / (np.abs(y_ref) + floor)
    return [float(v) if np.isfinite(v) else None for v in err.max(axis=(0, 1))]


def _key(problem, params, method, rtol) -> str:
    h = hashlib.sha256()
    for fn in (problem.rhs, problem.jac):
        h.update(inspect.getsource(fn.py_func).encode())
    for arr in (problem.y0, problem.t_eval, params,
                problem.dose_times if problem.dose_times is not None else np.zeros(0),
                problem.dose_amounts if problem.dose_amounts is not None else np.zeros(0)):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    h.update(json.dumps([problem.name, problem.dose_target, problem.atol_scale, method, rtol,
                         scipy.__version__]).encode())
    return h.hexdigest()[:16]


def cached(name: str, compute, use_cache: bool = True) -> np.ndarray:
    """``compute()``'s array, kept in ``CACHE_DIR / name`` (written atomically, under a
    per-process temporary name, since runs may overlap) and loaded from there next time."""
    path = CACHE_DIR / name
    if use_cache and path.exists():
        return np.load(path)
    y = compute()
    if use_cache:
        CACHE_DIR.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, y)
        tmp.replace(path)
    return y


def _solve_cached(problem, params, method, rtol, use_cache=True):
    def solve():
        y, ok = ScipySolver(method).solve(problem, params, rtol, problem.atol(rtol),
                                          max_steps=10**7)
        if not np.all(ok):
            raise RuntimeError(f"reference solve of {problem.name} with {method} failed")
        return y

    name = f"{problem.name}-{method}-{rtol:g}-{_key(problem, params, method, rtol)}.npy"
    return cached(name, solve, use_cache)


def reference(problem, n_sample: int, use_cache: bool = True, check: bool = True):
    """Reference trajectories of the problem's error sample.

    Returns
    -------
    params : ndarray (n_sample, n_params)
    y_ref : ndarray (n_sample, n_times, n_states)
    info : dict
        Methods, tolerances and the self-check error.
    """
    params = problem.sample_params(n_sample)
    (method, rtol), (check_method, check_rtol) = REFERENCE_METHODS[problem.name]
    y_ref = _solve_cached(problem, params, method, rtol, use_cache)
    info = {
        "method": f"scipy solve_ivp {method}",
        "rtol": rtol,
        "atol": problem.atol(rtol),
        "n_sample": int(n_sample),
        "sample_" + problem.varied_param: params[:, problem.param_names.index(problem.varied_param)].tolist(),
        "error_floor": problem.atol_scale,
        "error_metric": "max |y - y_ref| / (|y_ref| + floor) over sample members, output times, states",
    }
    if check:
        y_check = _solve_cached(problem, params, check_method, check_rtol, use_cache)
        info["check_method"] = f"scipy solve_ivp {check_method}"
        info["check_rtol"] = check_rtol
        info["self_check_error"] = error_metric(y_check, y_ref, problem.atol_scale)
    return params, y_ref, info
