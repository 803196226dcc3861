"""One batch of a sweep: the same patients through every arm.

:func:`simulate_batch` is what every worker runs, in this process, in a
worker process or on a Dask worker. It is a pure function of the sweep and
the patients' parameters: it goes through
:func:`neurosim.simulation.simulate_scenario` (no second simulation path)
once per arm, sharing the untreated natural history between arms (it does
not depend on the treatments).
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

__all__ = ["simulate_batch", "remote_batch", "METRIC_NAMES", "PHASES"]

#: Where a failed patient failed: 0 nowhere, 1 natural history, 2 treatment.
PHASES = ("none", "natural history", "treatment")


def _metric_names():
    from ..simulation import METRICS

    return tuple(m[0] for m in METRICS)


METRIC_NAMES = _metric_names()

# One simulation at a time per process: numba's workqueue threading layer
# does not allow two threads to launch parallel kernels at once, and a Dask
# worker may run several tasks in threads. The lock costs nothing otherwise.
_PROCESS_LOCK = threading.Lock()
_SWEEPS: dict = {}


def simulate_batch(sweep, start: int, P, G, *, summary_only: bool, threads=None,
                   drug_factors: dict | None = None) -> dict:
    """Simulate patients ``start ..`` (parameters ``P``, genotypes ``G``) in every arm.

    Parameters
    ----------
    sweep : Sweep
    start : int
        Row of the first patient.
    P : ndarray (m, N_MODEL_PARAMS)
        Model parameters (from :meth:`Sweep.patients`).
    G : ndarray (m, n_genotypes)
        Genotype categories.
    summary_only : bool
        Return metrics only, no trajectories.
    threads : int, optional
        Solver threads.
    drug_factors : dict, optional
        ``"drug.quantity"`` -> (m,) factors (default: the sweep's
        ``[sweep.drugs]`` draws for these rows).

    Returns
    -------
    dict
        ``start``, ``stop``, ``treatment_start`` (h after diagnosis),
        ``presented`` (int8), ``drug_factors`` (``"drug.quantity"`` -> (m,); empty
        without ``[sweep.drugs]``), and per arm (``arms[name]``): ``metrics``
        (name -> (m,)), ``status`` (int8, solver code), ``phase`` (int8,
        :data:`PHASES`), ``steps`` (int64) and ``trajectories`` (output ->
        (m, n_times)); ``seconds`` (wall), ``neurosim_version``.
    """
    from .. import __version__
    from ..simulation import simulate_scenario

    t0 = time.perf_counter()
    P = np.ascontiguousarray(P, dtype=np.float64)
    m = P.shape[0]
    groups: dict = {}
    for r, key in enumerate(sweep.drug_key(G)):
        groups.setdefault(key, []).append(r)
    groups = {k: np.asarray(v) for k, v in groups.items()}
    history: dict = {}
    factors = sweep.drug_factors(start, start + m) if drug_factors is None else {
        k: np.asarray(v, dtype=np.float64) for k, v in drug_factors.items()}
    out = {"start": int(start), "stop": int(start) + m, "arms": {}, "drug_factors": factors,
           "treatment_start": np.full(m, np.nan), "presented": np.full(m, -1, np.int8),
           "neurosim_version": __version__, "pid": os.getpid()}
    for a, arm in enumerate(sweep.arms):
        metrics = {k: np.full(m, np.nan) for k in METRIC_NAMES}
        status = np.full(m, -1, np.int8)
        phase = np.zeros(m, np.int8)
        steps = np.full(m, -1, np.int64)
        traj = {}
        for key, rows in groups.items():
            sc = sweep.arm_scenario(a, key)
            res = simulate_scenario(sc, patients=P[rows], threads=threads,
                                    history_cache=history,
                                    drug_factors={k: v[rows] for k, v in factors.items()})
            values = res.metrics()
            for k in METRIC_NAMES:
                metrics[k][rows] = values[k]
            status[rows] = res.status
            phase[rows] = [0 if s == "success" else (1 if s.startswith(PHASES[1]) else 2)
                           for s in res.status_messages]
            steps[rows] = res.info["solver_steps"]
            if not summary_only:
                for o in sweep.outputs:
                    if o not in traj:
                        traj[o] = np.full((m, res.t.size), np.nan)
                    traj[o][rows] = res.data[o]
            if a == 0:
                out["treatment_start"][rows] = res.treatment_start
                out["presented"][rows] = res.presented
        out["arms"][arm.name] = {"metrics": metrics, "status": status, "phase": phase,
                                 "steps": steps, "trajectories": traj}
    out["seconds"] = time.perf_counter() - t0
    return out


def _cached_sweep(text: str, source: str, sha256: str):
    sw = _SWEEPS.get(sha256)
    if sw is None:
        from .spec import loads_sweep

        sw = loads_sweep(text, source=source)
        if len(_SWEEPS) >= 4:
            _SWEEPS.pop(next(iter(_SWEEPS)))
        _SWEEPS[sha256] = sw
    return sw


def _worker_threads() -> int:
    """Threads of the Dask worker running this task (1 outside Dask)."""
    try:
        from distributed import get_worker

        n = int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1
    import numba

    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


def remote_batch(text: str, source: str, sha256: str, start: int, P, G, summary_only: bool,
                 threads=None) -> dict:
    """:func:`simulate_batch` from the sweep's text: what worker processes and Dask run.

    The parsed sweep is cached per process by its SHA-256, so a worker reads
    the file once.
    """
    sweep = _cached_sweep(text, source, sha256)
    with _PROCESS_LOCK:
        return simulate_batch(sweep, start, P, G, summary_only=summary_only,
                              threads=threads if threads is not None else _worker_threads())
