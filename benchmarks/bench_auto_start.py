"""Which explicit method should ``method="auto"`` start with? Work against error.

``"auto"`` starts each member with an explicit pair and switches to Rodas4
where stiffness limits the step. Which pair it starts with depends on rtol
(``neurosim.solver.api.AUTO_DOP853_RTOL``: DOP853 at or below it,
Dormand-Prince 5(4) above). This benchmark runs ``"auto"`` both ways on the
same ensembles, over a range of rtol, and compares the two at matched error,
which is what a user who picks rtol for a wanted accuracy gets:

* ``hires`` and ``pkpd`` -- the solver benchmark's problems
  (``problems.py``; error against the cached scipy references of
  ``reference.py``, same metric);
* ``model`` -- neurosim's untreated disease model (``neurosim.model.simulate``,
  no closed-form states), patients of the reference virtual trial's
  population, 12 months, daily save times; reference scipy Radau at rtol
  1e-11 on six of them, error floored at 1e-3 of each state's typical
  magnitude.

Both starts are forced by setting ``AUTO_DOP853_RTOL`` to 0 (Dormand-Prince
always) or 1 (DOP853 always) for the run; nothing else differs. One thread,
the best of ``--repeats`` timed runs after a warm-up solve.

For each Dormand-Prince point the table gives the DOP853 start's speed at the
loosest scanned rtol whose error is at or below that point's error, and the
ratio (DOP853 start / Dormand-Prince start; above 1 means DOP853 is the
faster start at that accuracy).

Writes a table to stdout and ``benchmarks/results/bench_auto_start.json``.

Examples
--------
    python benchmarks/bench_auto_start.py                   # ~6 min on 2 cores
    python benchmarks/bench_auto_start.py --problems pkpd --quick
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DEFAULT_OUTPUT = HERE / "results" / "bench_auto_start.json"
RTOLS = (1e-3, 3.2e-4, 1e-4, 3.2e-5, 1e-5, 3.2e-6, 1e-6)
STARTS = {"dp5": 0.0, "dop853": 1.0}  # value given to AUTO_DOP853_RTOL


class _Case:
    """One problem: ``solve(params, rtol)`` -> y, the error sample and its reference."""

    def __init__(self, name, solve, ensemble, sample, y_ref, floor):
        self.name, self.solve, self.ensemble = name, solve, ensemble
        self.sample, self.y_ref, self.floor = sample, y_ref, floor


def _solver_case(name: str, members: int) -> _Case:
    from problems import get_problem
    from reference import reference

    from neurosim.solver import solve_ensemble

    pr = get_problem(name)
    doses = None
    if pr.n_doses:
        doses = (pr.dose_times, np.full(pr.n_doses, pr.dose_target), pr.dose_amounts)

    def solve(params, rtol):
        res = solve_ensemble(pr.rhs, pr.y0, pr.t_eval, params, jac=pr.jac, method="auto",
                             rtol=rtol, atol=pr.atol(rtol), threads=1,
                             autonomous=pr.autonomous, doses=doses, max_steps=10**7)
        return res.y, np.asarray(res.status) == 0

    sample, y_ref, _ = reference(pr, 8)
    return _Case(name, solve, pr.ensemble_params(members), sample, y_ref, pr.atol_scale)


def _model_case(members: int) -> _Case:
    from bench_sweep import sweep_text
    from reference import cached

    from neurosim import model
    from neurosim._jitcache import package_digest
    from neurosim.sweep import loads_sweep

    sweep = loads_sweep(sweep_text(members), source="reference_trial.toml")
    patients, _ = sweep.patients(0, members)
    params = np.ascontiguousarray(patients[:, :model.N_MODEL_PARAMS])
    t = np.linspace(0.0, 8766.0, 366)
    sample = params[np.linspace(0, members - 1, 6).astype(int)]

    def solve(p, rtol):
        sim = model.simulate(t, p, rtol=rtol, threads=1)
        return sim.y, np.asarray(sim.status) == 0

    def radau():
        print("  reference: scipy Radau rtol 1e-11 on 6 patients (once, cached) ...",
              file=sys.stderr, flush=True)
        return model.simulate(t, sample, backend="scipy", method="Radau", rtol=1e-11).y

    key = hashlib.sha256(sample.tobytes() + t.tobytes() + package_digest().encode())
    y_ref = cached(f"model-Radau-1e-11-{key.hexdigest()[:16]}.npy", radau)
    return _Case("model", solve, params, sample, y_ref, model.STATE_SCALES * 1e-3)


def _error(case: _Case, rtol: float) -> float:
    from reference import error_metric

    y, ok = case.solve(case.sample, rtol)
    return error_metric(y, case.y_ref, case.floor, ok)


def _speed(case: _Case, rtol: float, repeats: int) -> float:
    case.solve(case.ensemble[:2], rtol)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        case.solve(case.ensemble, rtol)
        best = min(best, time.perf_counter() - t0)
    return case.ensemble.shape[0] / best


def run_case(case: _Case, rtols, repeats: int) -> dict:
    from reference import loosest_matching

    from neurosim.solver import api

    saved = api.AUTO_DOP853_RTOL
    points = {}
    try:
        for start, threshold in STARTS.items():
            api.AUTO_DOP853_RTOL = threshold
            points[start] = []
            for rtol in rtols:
                err = _error(case, rtol)
                speed = _speed(case, rtol, repeats)
                points[start].append({"rtol": rtol, "error": err, "traj_per_s": speed})
                print(f"  {case.name:6s} start {start:6s} rtol {rtol:7.1e}: "
                      f"{speed:10,.1f} traj/s  error {err:.2e}", file=sys.stderr, flush=True)
    finally:
        api.AUTO_DOP853_RTOL = saved
    matched = []
    for p in points["dp5"]:
        q = loosest_matching(points["dop853"], p["error"])
        matched.append({"dp5": p, "dop853": q,
                        "ratio": q["traj_per_s"] / p["traj_per_s"] if q else None})
    return {"members": int(case.ensemble.shape[0]), "points": points, "matched": matched}


def report(out: dict) -> str:
    lines = [f"auto's explicit start, work against error ({out['created']}, one thread)", ""]
    for name, res in out["problems"].items():
        lines.append(f"{name} ({res['members']} members)")
        lines.append(f"  {'Dormand-Prince start':>34s} | {'DOP853 start at matched error':>36s} |")
        lines.append(f"  {'rtol':>7s} {'error':>9s} {'traj/s':>14s} | {'rtol':>7s} {'error':>9s}"
                     f" {'traj/s':>16s} | {'ratio':>6s}")
        for m in res["matched"]:
            p, q = m["dp5"], m["dop853"]
            left = f"  {p['rtol']:7.1e} {p['error']:9.2e} {p['traj_per_s']:14,.1f} |"
            if q is None:
                lines.append(left + f" {'(no scanned rtol reaches it)':>36s} |")
            else:
                lines.append(left + f" {q['rtol']:7.1e} {q['error']:9.2e} "
                             f"{q['traj_per_s']:16,.1f} | {m['ratio']:5.2f}x")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default="hires,pkpd,model",
                    help="comma-separated: hires, pkpd, model")
    ap.add_argument("--members", type=int, default=1000, help="members per timed ensemble")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, two tolerances (smoke test)")
    ap.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = ap.parse_args(argv)
    names = [s.strip() for s in args.problems.split(",") if s.strip()]
    unknown = sorted(set(names) - {"hires", "pkpd", "model"})
    if unknown:
        ap.error(f"unknown problem(s) {', '.join(unknown)}; choose from hires, pkpd, model")
    rtols = (1e-4, 1e-6) if args.quick else RTOLS
    members, repeats = (20, 1) if args.quick else (args.members, args.repeats)

    import numba
    import scipy

    import neurosim
    out = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"processor": platform.processor() or platform.machine(),
                       "python": platform.python_version()},
           "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                        "numba": numba.__version__, "neurosim": neurosim.__version__},
           "quick": args.quick, "threads": 1, "rtols": list(rtols), "problems": {}}
    for name in names:
        case = _model_case(max(members, 6)) if name == "model" else _solver_case(name, members)
        out["problems"][name] = run_case(case, rtols, repeats)
    print(report(out))
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out, indent=2) + "\n")
        tmp.replace(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
