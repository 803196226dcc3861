"""Ensemble ODE solver benchmark: neurosim against scipy, numbalsoda and libroadrunner.

For each problem (``problems.py``: HIRES and an oral PK/PD regimen) and each
solver (``solvers.py``) it measures, in one run:

* throughput: trajectories per second, wall clock, median of ``--repeats``
  runs of an ensemble sized to take about ``--target-seconds``;
* error against a tight reference on a sample of members (``reference.py``);
* start-up cost: the compile/load time in a fresh process with empty caches
  (cold) and in a second process that finds the caches (warm).

Solvers run at the same tolerances (``rtol``, ``atol = rtol *
atol_scale``). Because methods reach very different errors at the same
tolerance, neurosim is also scanned over rtol, and for every competitor its
speed is reported at the loosest rtol whose error is at or below that
competitor's ("matched error"). numbalsoda and libroadrunner are scanned too,
to report their speed at neurosim's error.

Writes a table to stdout and ``benchmarks/results/bench_solver.json``.

Examples
--------
    python benchmarks/bench_solver.py                 # full run (~10 min on 2 cores)
    python benchmarks/bench_solver.py --quick         # smoke test, small sizes
    python benchmarks/bench_solver.py --problems pkpd --solvers neurosim,numbalsoda
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import problems as problems_module  # noqa: E402
import solvers  # noqa: E402
from reference import error_by_state, error_metric, loosest_matching, reference  # noqa: E402

ALL_SOLVERS = list(solvers.SOLVERS)
COMPETITORS = ["numbalsoda", "roadrunner", "scipy-lsoda", "scipy-radau"]
#: Shown in the table, not compared: neurosim with the explicit method.
NEUROSIM_VARIANTS = ["neurosim-dp5", "neurosim-linear"]
FAST_BASELINES = ["numbalsoda", "roadrunner"]
SCAN_RTOLS = [10.0 ** (-k / 2) for k in range(6, 19)]  # 1e-3 ... 1e-9, half decades
QUICK_SCAN_RTOLS = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
#: Speed-ups the project requires, at equal or better accuracy.
TARGETS = {
    "fast_baselines": 1.5,
    "scipy-lsoda": {"hires": 60.0, "pkpd": 100.0},
    "thread_scaling": 1.8,
}
THREAD_SCALING_MIN_MEMBERS = 1000
MAX_OUTPUT_BYTES = 512 * 2**20  # cap on one ensemble's output array
DEFAULT_OUTPUT = HERE / "results" / "bench_solver.json"


# --------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------
def _max_members(problem) -> int:
    per_member = len(problem.t_eval) * problem.n_states * 8
    return max(1, MAX_OUTPUT_BYTES // per_member)


def measure_throughput(run, problem, rtol, atol, *, target_s, repeats, n_start,
                       n_min=1, n_max=None, n_fixed=None):
    """Trajectories per second of ``run(params, rtol, atol) -> (y, ok)``.

    The ensemble is grown until one run takes a measurable time, then sized
    so a run takes about ``target_s``; the median of ``repeats`` runs counts.
    """
    n_max = min(n_max or _max_members(problem), _max_members(problem))
    if n_fixed is None:
        n = max(1, min(n_start, n_max))
        while True:
            t = time.perf_counter()
            run(problem.ensemble_params(n), rtol, atol)
            dt = time.perf_counter() - t
            if dt >= 0.25 * target_s or n >= n_max:
                break
            grow = 8 if dt <= 0 else min(8.0, max(2.0, 0.3 * target_s / dt))
            n = min(n_max, int(math.ceil(n * grow)))
        n = int(min(n_max, max(n_min, math.ceil(target_s * n / max(dt, 1e-9)))))
    else:
        n = int(n_fixed)
    params = problem.ensemble_params(n)
    seconds, cpu, failures = [], [], 0
    for _ in range(repeats):
        c = time.process_time()
        t = time.perf_counter()
        y, ok = run(params, rtol, atol)
        seconds.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c + getattr(run, "extra_cpu", 0.0))
        failures = int(np.size(ok) - np.count_nonzero(ok))
        del y
    med = statistics.median(seconds)
    return {
        "n_members": n,
        "seconds": seconds,
        "median_s": med,
        "throughput": n / med,
        # CPU seconds (this process and its workers) per wall second: ~2
        # when two threads had two cores, less when other work shared them.
        "cpu_per_wall": statistics.median(c_ / w for c_, w in zip(cpu, seconds)),
        "cpu_seconds": cpu,
        # Trajectories per CPU second: the cost of the work itself, much
        # less sensitive than wall time to other load on the machine.
        "throughput_per_cpu_s": n / statistics.median(cpu) if statistics.median(cpu) > 0 else None,
        "failures": failures,
    }


def measure_error(run, problem, params, y_ref, rtol, atol, by_state=False):
    y, ok = run(params, rtol, atol)
    err = error_metric(np.asarray(y), y_ref, problem.atol_scale, ok)
    if by_state:
        return err, dict(zip(problem.state_names,
                             error_by_state(np.asarray(y), y_ref, problem.atol_scale, ok)))
    return err


def compile_probe(solver: str, problem_name: str, timeout: float = 900.0) -> dict:
    """Cold and warm start-up of a solver in fresh processes (compile_probe.py)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = cache
        env["NEUROSIM_CACHE_DIR"] = cache
        for label in ("cold", "warm"):
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, str(HERE / "compile_probe.py"), solver, problem_name],
                env=env, capture_output=True, text=True, timeout=timeout,
            )
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                out[label] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
                break
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            rec["process_wall_s"] = wall
            out[label] = rec
    return out


# --------------------------------------------------------------------------
# Solver runners: run(params, rtol, atol) -> (y, ok)
# --------------------------------------------------------------------------
def make_runner(name, problem, pools, threads=2, method="auto"):
    if name == "neurosim":
        return lambda params, rtol, atol: solvers.solve_neurosim(
            problem, params, rtol, atol, threads=threads, method=method)[:2]
    if name == "neurosim-dp5":
        return lambda params, rtol, atol: solvers.solve_neurosim(
            problem, params, rtol, atol, threads=threads, method="dp5")[:2]
    if name == "neurosim-linear":
        return lambda params, rtol, atol: solvers.solve_neurosim(
            problem, params, rtol, atol, threads=threads, method=method, linear="auto")[:2]
    if name == "numbalsoda":
        return lambda params, rtol, atol: solvers.solve_numbalsoda(problem, params, rtol, atol)
    if name == "roadrunner":
        if problem.name not in pools:
            pools[problem.name] = solvers.RoadrunnerPool(problem, processes=2)
        pool = pools[problem.name]

        def run(params, rtol, atol):
            y, ok = pool.solve(params, rtol, atol)
            run.extra_cpu = pool.last_worker_cpu  # CPU time spent outside this process
            return y, ok

        return run
    if name == "scipy-lsoda":
        return lambda params, rtol, atol: solvers.ScipySolver("LSODA").solve(problem, params, rtol, atol)
    if name == "scipy-radau":
        return lambda params, rtol, atol: solvers.ScipySolver("Radau").solve(problem, params, rtol, atol)
    raise ValueError(f"unknown solver {name!r}")


N_START = {"neurosim": 256, "neurosim-dp5": 256, "neurosim-linear": 256, "numbalsoda": 64, "roadrunner": 16, "scipy-lsoda": 1, "scipy-radau": 1}
N_CAP = {"scipy-lsoda": 200, "scipy-radau": 50}


def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def _rt(x):
    """A tolerance, briefly: 1e-6, 3.2e-7."""
    if x is None:
        return "-"
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant.removesuffix('.0')}e{int(exp)}"


def _finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


# --------------------------------------------------------------------------
# One problem
# --------------------------------------------------------------------------
def bench_problem(problem, chosen, args, log):
    rtol = args.rtol or problem.rtol
    atol = problem.atol(rtol)
    target_s, repeats = args.target_seconds, args.repeats
    scan_rtols = QUICK_SCAN_RTOLS if args.quick else SCAN_RTOLS
    out = {
        "title": problem.title,
        "description": problem.description,
        "n_states": problem.n_states,
        "n_times": len(problem.t_eval),
        "n_doses": problem.n_doses,
        "varied_parameter": problem.varied_param,
        "rtol": rtol,
        "atol": atol,
        "atol_scale": problem.atol_scale,
        "solvers": {},
    }
    log(f"\n== {problem.name}: {problem.title}")
    t = time.perf_counter()
    params_s, y_ref, ref_info = reference(problem, args.sample, check=not args.quick)
    ref_info["seconds"] = time.perf_counter() - t
    out["reference"] = ref_info
    log(f"   reference: {ref_info['method']} rtol {ref_info['rtol']:g} on {args.sample} members "
        f"({ref_info['seconds']:.1f} s)")

    out["load_average_before"] = _loadavg()
    pools = {}
    try:
        for name in chosen:
            rec = {"description": solvers.SOLVERS[name], "rtol": rtol, "atol": atol}
            threads_list = [2, 1] if name == "neurosim" else [None]
            run = make_runner(name, problem, pools, threads=2, method=args.method)
            # Warm-up (compiles, starts workers) before anything is timed.
            run(params_s[:2], rtol, atol)
            err, per_state = measure_error(run, problem, params_s, y_ref, rtol, atol, by_state=True)
            rec["error"] = _finite(err)
            rec["error_by_state"] = per_state
            tp = measure_throughput(
                run, problem, rtol, atol, target_s=target_s,
                repeats=1 if name.startswith("scipy") else repeats,
                n_start=N_START[name], n_max=N_CAP.get(name))
            rec.update(tp)
            log(f"   {name:<12s} rtol {_rt(rtol)}: {tp['throughput']:12,.1f} traj/s  "
                f"error {err:.2e}  (n={tp['n_members']}, {tp['median_s']:.2f} s, "
                f"cpu/wall {_fmt(tp['cpu_per_wall'], '.2f')}, "
                f"{_fmt(tp['throughput_per_cpu_s'], ',.1f')} traj/CPU-s)")
            if name.startswith("neurosim"):
                # Work per member on the error sample, to explain the speed.
                res = solvers.solve_neurosim(
                    problem, params_s, rtol, atol, threads=2,
                    method="dp5" if name == "neurosim-dp5" else args.method,
                    linear="auto" if name == "neurosim-linear" else None)[2]
                rec["resolved_method"] = getattr(res, "method", None)
                stats = getattr(res, "stats", None) or {}
                rec["per_member_stats"] = {k: float(np.mean(v)) for k, v in stats.items()}
            if name == "neurosim-dp5":
                rec["threads"] = 2
                rec["method"] = "dp5"
            if name == "neurosim-linear":
                rec["threads"] = 2
                rec["method"] = args.method
                rec["n_linear"] = float(np.mean(res.n_linear))
            if name == "neurosim":
                rec["threads"] = 2
                rec["method"] = args.method
                n_scale = max(THREAD_SCALING_MIN_MEMBERS, tp["n_members"])
                if args.quick:
                    n_scale = tp["n_members"]
                scaling = {"n_members": n_scale}
                runs_th = {th: make_runner(name, problem, pools, threads=th, method=args.method)
                           for th in threads_list}
                parts = {th: [] for th in threads_list}
                # Interleaved, so a change in the machine's load hits both alike.
                for _ in range(repeats):
                    for th in threads_list:
                        parts[th].append(measure_throughput(
                            runs_th[th], problem, rtol, atol, target_s=target_s, repeats=1,
                            n_start=0, n_fixed=n_scale))
                for th in threads_list:
                    seconds = [r["seconds"][0] for r in parts[th]]
                    med = statistics.median(seconds)
                    scaling[f"threads_{th}"] = {
                        "n_members": n_scale, "seconds": seconds, "median_s": med,
                        "throughput": n_scale / med,
                        "cpu_per_wall": statistics.median(r["cpu_per_wall"] for r in parts[th]),
                        "throughput_per_cpu_s": statistics.median(
                            r["throughput_per_cpu_s"] or 0.0 for r in parts[th]),
                        "failures": max(r["failures"] for r in parts[th])}
                scaling["ratio"] = (scaling["threads_2"]["throughput"]
                                    / scaling["threads_1"]["throughput"])
                rec["thread_scaling"] = scaling
                log(f"   {'':<12s} 1 thread: {scaling['threads_1']['throughput']:12,.1f} traj/s; "
                    f"2 threads / 1 thread = {scaling['ratio']:.2f} on {n_scale} members")
                # The rtol scan for matched-error comparisons.
                scan = []
                for r_ in scan_rtols:
                    e = measure_error(run, problem, params_s, y_ref, r_, problem.atol(r_))
                    scan.append({"rtol": r_, "atol": problem.atol(r_), "error": _finite(e)})
                out["neurosim_scan"] = scan
                log("   neurosim error by rtol: " + ", ".join(
                    f"{_rt(row['rtol'])}: {row['error']:.1e}" if row["error"] is not None
                    else f"{_rt(row['rtol'])}: fail" for row in scan))
            elif name in FAST_BASELINES and not args.no_baseline_scan:
                scan = []
                for r_ in scan_rtols:
                    e = measure_error(run, problem, params_s, y_ref, r_, problem.atol(r_))
                    scan.append({"rtol": r_, "atol": problem.atol(r_), "error": _finite(e)})
                rec["scan"] = scan
            out["solvers"][name] = rec

        if "neurosim" in out["solvers"]:
            _matched(problem, out, chosen, pools, args, log)
    finally:
        for pool in pools.values():
            pool.close()

    out["load_average_after"] = _loadavg()
    if args.compile_times:
        for name in chosen:
            log(f"   start-up probe: {name} ...")
            out["solvers"][name]["startup"] = compile_probe(name, problem.name)
    return out


def _matched(problem, out, chosen, pools, args, log):
    """Speeds at matched error, both ways, and the targets.

    Every speed-up is given twice: from wall-clock throughput (what the
    targets are judged on) and from throughput per CPU second (``*_cpu``),
    which is far steadier when other work shares the machine.
    """
    ns = out["solvers"]["neurosim"]
    scan = out["neurosim_scan"]
    measured = {ns["rtol"]: ns}
    run_ns = make_runner("neurosim", problem, pools, threads=2, method=args.method)

    def ratio(a, b):
        return None if not a or not b else a / b

    matched = {}
    for name in chosen:
        if name == "neurosim" or name in NEUROSIM_VARIANTS:
            continue
        comp = out["solvers"][name]
        rec = {"competitor_rtol": comp["rtol"], "competitor_error": comp["error"],
               "competitor_throughput": comp["throughput"],
               "competitor_throughput_per_cpu_s": comp.get("throughput_per_cpu_s"),
               "same_rtol_speedup": ratio(ns["throughput"], comp["throughput"]),
               "same_rtol_speedup_cpu": ratio(ns.get("throughput_per_cpu_s"),
                                              comp.get("throughput_per_cpu_s"))}
        row = loosest_matching(scan, comp["error"]) if comp["error"] is not None else None
        if row is None:
            rec["neurosim_rtol"] = None
            rec["note"] = "no scanned neurosim rtol reaches this error"
        else:
            if row["rtol"] not in measured:
                measured[row["rtol"]] = measure_throughput(
                    run_ns, problem, row["rtol"], row["atol"], target_s=args.target_seconds,
                    repeats=args.repeats, n_start=N_START["neurosim"])
            tp = measured[row["rtol"]]
            rec.update(neurosim_rtol=row["rtol"], neurosim_error=row["error"],
                       neurosim_throughput=tp["throughput"],
                       neurosim_throughput_per_cpu_s=tp.get("throughput_per_cpu_s"),
                       matched_speedup=ratio(tp["throughput"], comp["throughput"]),
                       matched_speedup_cpu=ratio(tp.get("throughput_per_cpu_s"),
                                                 comp.get("throughput_per_cpu_s")))
        # The other way: the competitor tightened to neurosim's error.
        if "scan" in comp and ns["error"] is not None:
            crow = loosest_matching(comp["scan"], ns["error"])
            if crow is not None:
                run_c = make_runner(name, problem, pools)
                tp = measure_throughput(run_c, problem, crow["rtol"], crow["atol"],
                                        target_s=args.target_seconds, repeats=args.repeats,
                                        n_start=N_START[name], n_max=N_CAP.get(name))
                rec["competitor_at_neurosim_error"] = {
                    "rtol": crow["rtol"], "error": crow["error"], "throughput": tp["throughput"],
                    "throughput_per_cpu_s": tp.get("throughput_per_cpu_s"),
                    "speedup": ratio(ns["throughput"], tp["throughput"]),
                    "speedup_cpu": ratio(ns.get("throughput_per_cpu_s"),
                                         tp.get("throughput_per_cpu_s"))}
            else:
                rec["competitor_at_neurosim_error"] = None
        matched[name] = rec
    out["matched_error"] = matched

    targets = []
    fast = [matched[n] for n in FAST_BASELINES if n in matched]
    def worst(recs, key):
        vals = [m.get(key) for m in recs]
        return None if any(v is None for v in vals) else min(vals)

    if fast:
        targets.append({"name": "vs fastest of numbalsoda/libroadrunner at equal or better accuracy",
                        "required": TARGETS["fast_baselines"],
                        "measured": worst(fast, "matched_speedup"),
                        "measured_cpu": worst(fast, "matched_speedup_cpu"),
                        "compared": [n for n in FAST_BASELINES if n in matched]})
    if "scipy-lsoda" in matched:
        targets.append({"name": "vs scipy solve_ivp LSODA at equal or better accuracy",
                        "required": TARGETS["scipy-lsoda"][problem.name],
                        "measured": matched["scipy-lsoda"].get("matched_speedup"),
                        "measured_cpu": matched["scipy-lsoda"].get("matched_speedup_cpu")})
    sc = ns["thread_scaling"]
    targets.append({"name": f"2 threads / 1 thread on {sc['n_members']} members",
                    "required": TARGETS["thread_scaling"], "measured": sc["ratio"],
                    "valid": sc["n_members"] >= THREAD_SCALING_MIN_MEMBERS})
    for t in targets:
        t["met"] = t["measured"] is not None and t["measured"] >= t["required"]
    out["targets"] = targets


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
LABELS = {
    "neurosim": "neurosim (2 threads)",
    "neurosim-dp5": "neurosim dp5 (2 threads)",
    "neurosim-linear": "neurosim closed-form linear (2 thr)",
    "numbalsoda": "numbalsoda LSODA (prange, 2 thr)",
    "roadrunner": "libroadrunner CVODE (2 procs)",
    "scipy-lsoda": "scipy LSODA (1 core)",
    "scipy-radau": "scipy Radau (1 core)",
}


def _fmt(x, spec):
    if x is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "-".rjust(int(width)) if width else "-"
    return format(x, spec)


def format_report(result) -> str:
    lines = []
    m = result["machine"]
    lines.append(f"bench_solver  {result['date']}  {m['cpu']} ({m['logical_cpus']} logical CPUs), "
                 f"Python {m['python']}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    for skipped, why in result["skipped"].items():
        lines.append(f"skipped {skipped}: {why}")
    for pname, p in result["problems"].items():
        ref = p["reference"]
        lines.append("")
        lines.append(f"{pname}: {p['title']}")
        la, lb = p.get("load_average_before"), p.get("load_average_after")
        if la and lb:
            lines.append(f"  1-min load average {la[0]:.2f} before, {lb[0]:.2f} after "
                         f"(above ~0.5 before the run, other work shared the cores)")
        lines.append(f"  rtol {_rt(p['rtol'])}, atol {_rt(p['atol'])}; error = max |y - ref| / "
                     f"(|ref| + {p['atol_scale']:g}) over {ref['n_sample']} members; reference "
                     f"{ref['method']} rtol {_rt(ref['rtol'])}"
                     + (f" (self-check {ref['self_check_error']:.1e})" if "self_check_error" in ref else ""))
        head = (f"  {'solver':<34s}{'traj/s':>12s}{'error':>10s}{'members':>9s}{'cpu/wall':>9s}"
                f"{'traj/CPU-s':>11s}{'cold (s)':>10s}{'warm (s)':>10s}")
        lines.append(head)
        lines.append("  " + "-" * (len(head) - 2))
        for name, s in p["solvers"].items():
            st = s.get("startup", {})
            cold = st.get("cold", {}).get("startup_s")
            warm = st.get("warm", {}).get("startup_s")
            lines.append(f"  {LABELS[name]:<34s}{s['throughput']:>12,.1f}{_fmt(s['error'], '>10.1e')}"
                         f"{s['n_members']:>9d}{_fmt(s.get('cpu_per_wall'), '>9.2f')}"
                         f"{_fmt(s.get('throughput_per_cpu_s'), '>11,.1f')}"
                         f"{_fmt(cold, '>10.2f')}{_fmt(warm, '>10.2f')}")
            if name == "neurosim":
                sc = s["thread_scaling"]
                t1 = sc["threads_1"]
                lines.append(f"  {'neurosim (1 thread)':<34s}{t1['throughput']:>12,.1f}"
                             f"{'':>10s}{sc['n_members']:>9d}{_fmt(t1.get('cpu_per_wall'), '>9.2f')}"
                             f"{_fmt(t1.get('throughput_per_cpu_s'), '>11,.1f')}"
                             f"   2 threads / 1 = {sc['ratio']:.2f}")
        if "neurosim_scan" in p:
            lines.append("  neurosim error by rtol: " + ", ".join(
                f"{_rt(r['rtol'])} {_fmt(r['error'], '.1e')}" for r in p["neurosim_scan"]))
        if p.get("matched_error"):
            lines.append("  matched error: neurosim at the loosest rtol whose error <= the competitor's;")
            lines.append("  speed-ups from wall-clock traj/s, and [from traj per CPU-second]:")
            lines.append(f"    {'competitor':<12s}{'error':>9s}{'traj/s':>11s} | {'ns rtol':>7s}"
                         f"{'ns error':>10s}{'ns traj/s':>11s} | {'same rtol':>17s} | {'matched':>17s}")
            for name, mrec in p["matched_error"].items():
                lines.append(
                    f"    {name:<12s}{_fmt(mrec['competitor_error'], '>9.1e')}"
                    f"{mrec['competitor_throughput']:>11,.1f} | {_rt(mrec.get('neurosim_rtol')):>7s}"
                    f"{_fmt(mrec.get('neurosim_error'), '>10.1e')}"
                    f"{_fmt(mrec.get('neurosim_throughput'), '>11,.1f')} | "
                    f"{_fmt(mrec['same_rtol_speedup'], '>7.2f')}x [{_fmt(mrec.get('same_rtol_speedup_cpu'), '5.2f')}x] | "
                    f"{_fmt(mrec.get('matched_speedup'), '>7.2f')}x [{_fmt(mrec.get('matched_speedup_cpu'), '5.2f')}x]")
            for name, mrec in p["matched_error"].items():
                other = mrec.get("competitor_at_neurosim_error")
                if other:
                    lines.append(
                        f"    {name} tightened to neurosim's error: rtol {_rt(other['rtol'])}, error "
                        f"{_fmt(other['error'], '.1e')}, {other['throughput']:,.1f} traj/s -> neurosim "
                        f"{_fmt(other['speedup'], '.2f')}x [{_fmt(other.get('speedup_cpu'), '.2f')}x]")
                elif "competitor_at_neurosim_error" in mrec:
                    lines.append(f"    {name} tightened to neurosim's error: no scanned rtol reaches it")
        for t in p.get("targets", []):
            flag = "MET " if t["met"] else "MISS"
            extra = "" if t.get("valid", True) else " (ensemble below 1,000 members: not valid)"
            cpu = t.get("measured_cpu")
            cpu_s = "" if cpu is None else f"; per CPU-second {cpu:.2f}x"
            lines.append(f"  [{flag}] {t['name']}: {_fmt(t['measured'], '.2f')}x "
                         f"(need >= {t['required']:g}x{cpu_s}){extra}")
    return "\n".join(lines)


def format_markdown(result) -> str:
    """The results as Markdown tables (for benchmarks/README.md)."""
    m = result["machine"]
    out = [f"Measured {result['date'][:10]} ({result['date']}) on {m['cpu']}, "
           f"{m['logical_cpus']} logical CPUs, Python {m['python']}; "
           + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v) + "."]
    if result["settings"].get("quick"):
        out.append("\n**Quick run: sizes too small for the figures to mean anything.**")
    for pname, p in result["problems"].items():
        la, lb = p.get("load_average_before"), p.get("load_average_after")
        out.append(f"\n**{pname}** — {p['title']}; rtol {_rt(p['rtol'])}, atol {_rt(p['atol'])}"
                   + (f"; 1-min load average {la[0]:.1f} before, {lb[0]:.1f} after" if la and lb else "")
                   + ".\n")
        out.append("| solver | traj/s | error | traj/CPU-s | cpu/wall | cold start (s) | warm start (s) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, s_ in p["solvers"].items():
            st = s_.get("startup", {})
            cold = st.get("cold", {}).get("startup_s")
            warm = st.get("warm", {}).get("startup_s")
            out.append(f"| {LABELS[name]} | {s_['throughput']:,.1f} | {_fmt(s_['error'], '.1e')} | "
                       f"{_fmt(s_.get('throughput_per_cpu_s'), ',.1f')} | {_fmt(s_.get('cpu_per_wall'), '.2f')} | "
                       f"{_fmt(cold, '.2f')} | {_fmt(warm, '.2f')} |")
            if name == "neurosim":
                t1 = s_["thread_scaling"]["threads_1"]
                out.append(f"| neurosim (1 thread) | {t1['throughput']:,.1f} | | "
                           f"{_fmt(t1.get('throughput_per_cpu_s'), ',.1f')} | {_fmt(t1.get('cpu_per_wall'), '.2f')} | | |")
        if p.get("matched_error"):
            out.append("\n| competitor | its error | its traj/s | neurosim rtol at matched error | neurosim error "
                       "| neurosim traj/s | speed-up, same rtol | speed-up, matched error "
                       "| same, per CPU-s | matched, per CPU-s |")
            out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for name, r in p["matched_error"].items():
                out.append(f"| {name} | {_fmt(r['competitor_error'], '.1e')} | {r['competitor_throughput']:,.1f} | "
                           f"{_rt(r.get('neurosim_rtol'))} | {_fmt(r.get('neurosim_error'), '.1e')} | "
                           f"{_fmt(r.get('neurosim_throughput'), ',.1f')} | {_fmt(r['same_rtol_speedup'], '.2f')}x | "
                           f"{_fmt(r.get('matched_speedup'), '.2f')}x | {_fmt(r.get('same_rtol_speedup_cpu'), '.2f')}x | "
                           f"{_fmt(r.get('matched_speedup_cpu'), '.2f')}x |")
        if p.get("targets"):
            out.append("")
            for t in p["targets"]:
                cpu = t.get("measured_cpu")
                out.append(f"- {'met' if t['met'] else '**not met**'}: {t['name']}: "
                           f"{_fmt(t['measured'], '.2f')}x (target {t['required']:g}x"
                           + ("" if cpu is None else f"; per CPU-second {cpu:.2f}x") + ")")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------
def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gib": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": load,
    }


def versions() -> dict:
    out = {}
    for mod in ("numpy", "scipy", "numba", "neurosim", "numbalsoda", "roadrunner"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", None) or _dist_version(mod)
        except Exception:
            out[mod] = None
    return out


def _dist_version(mod):
    from importlib.metadata import PackageNotFoundError, version

    for dist in (mod, "lib" + mod):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and fewer rtols: a smoke test, not a measurement")
    ap.add_argument("--problems", default=",".join(problems_module.PROBLEMS),
                    help="comma-separated problems (default: %(default)s)")
    ap.add_argument("--solvers", default=",".join(ALL_SOLVERS),
                    help="comma-separated solvers (default: %(default)s)")
    ap.add_argument("--rtol", type=float, default=None,
                    help="relative tolerance of the headline comparison (default: each problem's, 1e-6)")
    ap.add_argument("--method", default="auto", help="neurosim method (default: auto)")
    ap.add_argument("--target-seconds", type=float, default=None,
                    help="wall time of one timed ensemble run (default 2; --quick 0.1)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default 3; --quick 1)")
    ap.add_argument("--sample", type=int, default=None,
                    help="members in the error sample (default 8; --quick 2)")
    ap.add_argument("--compile-times", dest="compile_times", action="store_true", default=None,
                    help="measure start-up in fresh processes (default on; off with --quick)")
    ap.add_argument("--no-compile-times", dest="compile_times", action="store_false")
    ap.add_argument("--no-baseline-scan", action="store_true",
                    help="do not scan numbalsoda/libroadrunner over rtol")
    ap.add_argument("--markdown", type=Path, default=None,
                    help="also write the results as Markdown tables to this file")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="print the report of an earlier run's JSON instead of running")
    ap.add_argument("--output", type=Path, default=None,
                    help=f"JSON file (default {DEFAULT_OUTPUT.relative_to(HERE.parent)}; "
                         "--quick: not written unless given)")
    args = ap.parse_args(argv)
    if args.target_seconds is None:
        args.target_seconds = 0.1 if args.quick else 2.0
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.sample is None:
        args.sample = 2 if args.quick else 8
    if args.compile_times is None:
        args.compile_times = not args.quick
    if args.output is None and not args.quick:
        args.output = DEFAULT_OUTPUT
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        print(format_report(result))
        if args.markdown:
            args.markdown.write_text(format_markdown(result))
        return result
    names = [p.strip() for p in args.problems.split(",") if p.strip()]
    probs = [problems_module.get_problem(n) for n in names]
    wanted = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(ALL_SOLVERS))
    if unknown:
        raise SystemExit(f"unknown solver(s) {unknown}; choose from {ALL_SOLVERS}")
    chosen, skipped = [], {}
    for s in ALL_SOLVERS:  # fixed order: neurosim first
        if s not in wanted:
            continue
        ok, why = solvers.solver_available(s)
        if ok:
            chosen.append(s)
        else:
            skipped[s] = f"not installed ({why})"

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    for s, why in skipped.items():
        log(f"skipping {s}: {why}")
    result = {
        "benchmark": "bench_solver",
        "schema_version": 1,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name] + (list(argv) if argv is not None else sys.argv[1:]),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {
            "quick": args.quick,
            "target_seconds": args.target_seconds,
            "repeats": args.repeats,
            "n_sample": args.sample,
            "neurosim_method": args.method,
            "dose_output": solvers.DOSE_OUTPUT,
            "scan_rtols": QUICK_SCAN_RTOLS if args.quick else SCAN_RTOLS,
        },
        "solvers": {s: solvers.SOLVERS[s] for s in chosen},
        "skipped": skipped,
        "problems": {},
    }
    t0 = time.perf_counter()
    for prob in probs:
        result["problems"][prob.name] = bench_problem(prob, chosen, args, log)
    result["wall_seconds"] = time.perf_counter() - t0
    result = _jsonable(result)
    print(format_report(result))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(args.output)
        log(f"\nwrote {args.output}")
    if args.markdown:
        args.markdown.write_text(format_markdown(result))
    return result


if __name__ == "__main__":
    main()
