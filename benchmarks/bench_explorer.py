"""Redraw latency of the notebook explorer (``neurosim.notebook.Explorer``).

Builds the explorer without a display, lets it compile (or load the cached
kernels) on its first update, then makes random slider changes the way a
user would: one control at a time, to a value the control can take. Each
change is made by assigning the widget's value, so it goes through the same
observer and update function as a change in the browser (with debouncing
off, the update runs at once). The latency of a change is the wall time of
that assignment: check, simulate the treated part, draw, encode the picture.

About one change in ten picks an interval at random among all the picker
offers, so some are invalid for the drug in use; those are answered with a
message instead of a simulation and reported separately.

Target (issue 7): each change redrawn in <= 200 ms after the first compile.

Writes a table to stdout and ``benchmarks/results/bench_explorer.json``.

Examples
--------
    python benchmarks/bench_explorer.py               # 50 changes, ~15 s once kernels are cached
    python benchmarks/bench_explorer.py --changes 200 --seed 3
    python benchmarks/bench_explorer.py --quick       # 10 changes (smoke test)
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TARGET_MS = 200.0


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:  # not on every platform
        return math.nan


def _random_change(ex, rng):
    """One (control, value) a user could set with one gesture."""
    from neurosim.notebook import INTERVALS, PATIENT_CONTROLS

    c = ex._controls
    v = ex.values()
    kinds = ["dose1", "dose1", "interval1", "start1", "drug1", "drug2", "dose2", "liver",
             "patient", "patient", "titrate", "procedure", "procedure_day", "duration"]
    kind = kinds[rng.integers(len(kinds))]
    if kind[:-1] in ("dose", "interval") and v[f"drug{kind[-1]}"] == "none":
        kind = f"drug{kind[-1]}"  # nothing to dose: pick a drug instead
    if kind == "procedure_day" and v["procedure"] == "none":
        kind = "procedure"
    if kind.startswith("drug"):
        options = [o[1] for o in c[kind].options if o[1] != v[kind]]
        return kind, options[rng.integers(len(options))]
    if kind.startswith("dose"):
        d = ex.dosing[v[f"drug{kind[-1]}"]]
        return kind, float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
    if kind.startswith("interval"):
        d = ex.dosing[v["drug1"]]
        pool = list(INTERVALS) if rng.random() < 0.1 else list(d.intervals)
        return kind, float(pool[rng.integers(len(pool))])
    if kind in ("start1", "procedure_day"):
        return kind, int(rng.integers(0, min(c[kind].max, 28) + 1))
    if kind == "liver":
        options = [o[1] for o in c["liver"].options if o[1] != v["liver"]]
        return kind, options[rng.integers(len(options))]
    if kind == "patient":
        pc = PATIENT_CONTROLS[rng.integers(len(PATIENT_CONTROLS))]
        s = c[pc.key]
        if pc.log:
            return pc.key, float(10 ** rng.uniform(s.min, s.max))
        return pc.key, float(rng.uniform(s.min, s.max))
    if kind == "titrate":
        return kind, not v["titrate"]
    if kind == "procedure":
        options = [o[1] for o in c["procedure"].options if o[1] != v["procedure"]]
        return kind, options[rng.integers(len(options))]
    if kind == "duration":
        return kind, int(rng.integers(c["duration"].min, c["duration"].max + 1))
    raise AssertionError(kind)


def run(changes: int, seed: int) -> dict:
    from neurosim.notebook import Explorer

    load_before = _load()
    t0 = time.perf_counter()
    ex = Explorer(debounce=0.0)
    first = time.perf_counter() - t0
    if not ex.ok:
        raise SystemExit(f"the explorer's first update failed: {ex.message}")
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(changes):
        key, value = _random_change(ex, rng)
        n_before = len(ex.timings)
        t = time.perf_counter()
        ex._controls[key].value = value
        wall = 1e3 * (time.perf_counter() - t)
        redrawn = len(ex.timings) > n_before
        if redrawn and len(ex.timings) - n_before != 1:
            raise SystemExit(f"one change ({key}) caused {len(ex.timings) - n_before} updates")
        row = {"control": key, "value": value, "ok": bool(ex.ok), "wall_ms": wall}
        if ex.ok and redrawn:
            row.update(ex.timings[-1])
        elif not ex.ok:
            row["message"] = ex.message
        rows.append(row)
    load_after = _load()
    good = [r for r in rows if r["ok"] and "total_ms" in r]
    bad = [r for r in rows if not r["ok"]]

    def stats(xs):
        xs = np.asarray(xs, dtype=float)
        if xs.size == 0:
            return {"n": 0}
        return {"n": int(xs.size), "median": float(np.median(xs)),
                "p95": float(np.percentile(xs, 95)), "max": float(xs.max())}

    import numba

    return {
        "benchmark": "explorer redraw latency",
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cpus": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
                    "load_before": load_before, "load_after": load_after},
        "seed": seed, "changes": changes, "target_ms": TARGET_MS,
        "first_update_s": first,
        "redraw_ms": stats([r["wall_ms"] for r in good]),
        "simulate_ms": stats([r["simulate_ms"] for r in good]),
        "draw_ms": stats([r["draw_ms"] for r in good]),
        "rejected_ms": stats([r["wall_ms"] for r in bad]),
        "rows": rows,
    }


def report(res: dict) -> str:
    m = res["machine"]
    lines = [f"explorer redraw latency: {res['changes']} random slider changes (seed "
             f"{res['seed']}), {m['cpus']} CPUs, load {m['load_before']:.2f} -> "
             f"{m['load_after']:.2f}",
             f"first update (compile or cache load): {res['first_update_s']:.2f} s", "",
             f"{'':22s}{'n':>5s}{'median':>10s}{'p95':>10s}{'max':>10s}"]
    for key, label in (("redraw_ms", "redraw (ms)"), ("simulate_ms", "  simulate (ms)"),
                       ("draw_ms", "  draw (ms)"), ("rejected_ms", "message only (ms)")):
        s = res[key]
        if s["n"]:
            lines.append(f"{label:22s}{s['n']:5d}{s['median']:10.1f}{s['p95']:10.1f}"
                         f"{s['max']:10.1f}")
        else:
            lines.append(f"{label:22s}{0:5d}")
    r = res["redraw_ms"]
    if r["n"]:
        verdict = "meets" if r["p95"] <= res["target_ms"] else "misses"
        lines += ["", f"target: each redraw <= {res['target_ms']:.0f} ms; the 95th percentile "
                      f"({r['p95']:.0f} ms) {verdict} it."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=50, help="random slider changes (default 50)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="10 changes (smoke test)")
    ap.add_argument("--output", type=Path, default=HERE / "results" / "bench_explorer.json")
    args = ap.parse_args(argv)
    res = run(10 if args.quick else args.changes, args.seed)
    print(report(res))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
