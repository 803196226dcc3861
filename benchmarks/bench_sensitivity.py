"""Sensitivity benchmark: a Sobol analysis of the untreated 6-month scenario.

The reference analysis is ``scenarios/sensitivity/untreated_6m.toml``: ten
disease parameters over their plausible ranges, N = 1024 Sobol base samples
without second order, so 1024 x (10 + 2) = 12,288 simulations of the
untreated natural history from the first day with NRS >= 4 to 6 months
later (daily output), through ``neurosim.analysis.sensitivity.run_sensitivity``
(the sweep engine, streamed to HDF5), then SALib's estimators with bootstrap
confidence intervals. Target: at most 2 minutes on a 2-core machine.

Each configuration runs in a fresh process after one warm-up analysis
(N = 4) that loads the compiled kernels, so the timing is the analysis, not
the compilation. Writes a table to stdout and
``benchmarks/results/bench_sensitivity.json``.

Examples
--------
    python benchmarks/bench_sensitivity.py                  # threads=2 and workers=2
    python benchmarks/bench_sensitivity.py --modes threads=2
    python benchmarks/bench_sensitivity.py --quick          # N = 16: a smoke test
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REFERENCE = REPO / "scenarios" / "sensitivity" / "untreated_6m.toml"
DEFAULT_OUTPUT = HERE / "results" / "bench_sensitivity.json"
TARGET_SECONDS = 120.0


def _text(n: int) -> str:
    text = REFERENCE.read_text(encoding="utf-8")
    if "N = 1024" not in text:
        raise SystemExit(f"{REFERENCE} no longer says N = 1024; update the benchmark.")
    return text.replace("N = 1024", f"N = {n}")


def _child(spec: dict) -> dict:
    """One configuration in this (fresh) process."""
    import numpy as np

    from neurosim.analysis.sensitivity import loads_sensitivity, run_sensitivity
    from neurosim.sweep import open_sweep

    folder = Path(spec["folder"])
    kw = {"threads": spec.get("threads"), "workers": spec.get("workers")}
    warm = loads_sensitivity(_text(4), source=str(folder / "warm.toml"))
    t0 = time.perf_counter()
    run_sensitivity(warm, folder / f"{spec['name']}-warm.h5", threads=kw["threads"] or 1)
    warm_s = time.perf_counter() - t0
    sp = loads_sensitivity(_text(spec["n"]), source=str(REFERENCE))
    out = folder / f"{spec['name']}.h5"
    cpu0 = os.times()
    t0 = time.perf_counter()
    res = run_sensitivity(sp, out, **kw)
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    sw = open_sweep(out)
    arm = res.arms[0]
    failed = int((sw.status(arm) != 0).sum())
    ix = res.get("pain_auc")
    return {"name": spec["name"], "n": spec["n"], "runs": sp.design.n_runs,
            "parameters": len(sp.design.parameters), "wall_s": wall, "warmup_s": warm_s,
            "runs_per_s": sp.design.n_runs / wall,
            "cpu_parent_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
            "cpu_children_s": ((cpu1.children_user + cpu1.children_system)
                               - (cpu0.children_user + cpu0.children_system)),
            "failed_runs": failed,
            "pain_auc_ranking": res.ranking("pain_auc")[:5],
            "pain_auc_ST": {n: float(v) for n, v in zip(res.names, ix["ST"])},
            "pain_auc_ST_conf_max": float(np.nanmax(ix["ST_conf"])),
            "file_bytes": out.stat().st_size}


def _run_child(spec: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"configuration {spec['name']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default="threads=2,workers=2",
                    help="comma-separated configurations: threads=K or workers=K "
                         "(default: threads=2,workers=2)")
    ap.add_argument("--n", type=int, default=1024, help="Sobol base samples (default 1024)")
    ap.add_argument("--quick", action="store_true", help="N = 16: checks the harness only")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    n = 16 if args.quick else args.n
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes.split(","):
            key, _, value = mode.partition("=")
            if key not in ("threads", "workers") or not value.isdigit():
                raise SystemExit(f"--modes: expected threads=K or workers=K; got {mode!r}")
            spec = {"name": mode, "n": n, "folder": folder, key: int(value)}
            r = _run_child(spec)
            r["load_average_after"] = list(os.getloadavg())
            runs.append(r)
            print(f"{mode:12s} {r['runs']:6d} runs  {r['wall_s']:7.1f} s  "
                  f"{r['runs_per_s']:7.1f} runs/s  failed {r['failed_runs']}  "
                  f"(target {TARGET_SECONDS:.0f} s: "
                  f"{'met' if r['wall_s'] <= TARGET_SECONDS else 'NOT met'}; load "
                  f"{r['load_average_after'][0]:.2f})", flush=True)
    print("pain_auc, most influential (ST):", ", ".join(runs[0]["pain_auc_ranking"]))
    result = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "load_average_before": list(load_before), "quick": args.quick,
              "reference": str(REFERENCE.relative_to(REPO)), "target_seconds": TARGET_SECONDS,
              "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
