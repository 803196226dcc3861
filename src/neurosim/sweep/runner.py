"""Running a sweep: batches over threads, processes or a Dask cluster, streamed to HDF5.

Where the work runs
-------------------
* **Local threads** (default): one process; batches one after another,
  each batch's patients in parallel on ``threads`` solver threads.
* **Worker processes** (``workers=N``): N processes started with
  ``spawn``, each simulating whole batches on one thread.
* **Dask** (``dask="local:N"``, ``dask="tcp://host:port"`` or a
  ``distributed.Client``): each batch is a task; the scheduler spreads them
  over the cluster and reruns the tasks of a worker that dies.

In every case this process draws the patients (:meth:`Sweep.patients`),
sends each batch out, and writes results to the file in the order they
come back; at most a few batches are in flight, so memory is bounded by
the batch size, not the number of patients. A patient's numbers depend on
the seed and its index only, so every mode gives the same file, bit for
bit.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import queue
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, NeurosimError, NeurosimValueError, ResultsFileError

__all__ = ["run_sweep", "SweepInterrupted", "SweepRunError", "default_batch_size", "plan_batches",
           "memory_batch_size"]


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C (SIGINT) or SIGTERM; every finished batch is saved.

    Attributes
    ----------
    signum : int
        The signal received.
    done, total : int
        Patients finished (in every arm) and patients in the sweep.
    path : Path
        The sweep's file; ``--resume`` (``resume=True``) finishes it.
    """

    def __init__(self, message, *, signum, done, total, path):
        super().__init__(message)
        self.signum, self.done, self.total, self.path = signum, done, total, path

    def __str__(self):
        return str(self.args[0])


class SweepRunError(NeurosimError, RuntimeError):
    """The sweep could not go on (a worker pool broke, the cluster lost a task too often,
    the disk failed); finished batches are saved."""


# ----------------------------------------------------------------------------- batches


def default_batch_size(sweep, *, parallel: int = 1) -> int:
    """Patients per batch: about 64 MiB of working memory, at least 16 per solver thread.

    The working memory of a batch is dominated by the saved trajectory of
    every state (treated phase) and the daily natural history.
    """
    own = getattr(sweep, "default_batch_size", None)
    if own is not None:
        return int(own(parallel))
    b = memory_batch_size(sweep)
    # enough batches to keep every worker busy
    b = min(b, max(16, math.ceil(sweep.n_patients / (4 * max(1, parallel)))))
    return int(min(b, sweep.n_patients))


def memory_batch_size(sweep) -> int:
    """Patients of a batch that fit about 64 MiB of working memory (16 to 1024)."""
    from ..model import N_CORE
    from ..simulation import _history_window_days
    from .store import time_axis

    t = time_axis(sweep)
    n_days = sweep.base.duration / 24.0
    sc = sweep.arm_scenario(0)
    ct = sc.plan.compile(n_core=N_CORE, p_offset=0, t_end=sc.duration)
    n_states = N_CORE + ct.n_states
    # the natural history keeps two windows of daily states (simulation._natural_history)
    hist_days = (2 * _history_window_days(sweep.base.history) + 2
                 if sweep.base.presentation_nrs is not None else 2)
    per_patient = 8 * ((t.size + n_days) * n_states * 2 + t.size * 50 + hist_days * N_CORE * 2)
    b = int((64 << 20) // max(per_patient, 1))
    return max(16, min(b, 1024))


def plan_batches(done, batch_rows: int) -> list:
    """Row ranges still to compute: the undone rows, cut on the ``batch_rows`` grid."""
    n = done.size
    out = []
    for a in range(0, n, batch_rows):
        b = min(n, a + batch_rows)
        todo = np.flatnonzero(~done[a:b])
        if todo.size == 0:
            continue
        # contiguous runs of undone rows inside the cell
        cuts = np.flatnonzero(np.diff(todo) > 1) + 1
        for run in np.split(todo, cuts):
            out.append((a + int(run[0]), a + int(run[-1]) + 1))
    return out


# ----------------------------------------------------------------------------- backends


class _LocalBackend:
    """Batches one after another in a background thread of this process."""

    name = "threads"

    def __init__(self, sweep, threads, summary_only):
        self.sweep, self.threads, self.summary_only = sweep, threads, summary_only
        self._q: queue.Queue = queue.Queue()
        # a daemon thread: an interrupted sweep need not wait for the running batch
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="neurosim-sweep")
        self._thread.start()

    @property
    def capacity(self) -> int:
        return 2

    def _loop(self):
        from .batch import _PROCESS_LOCK, simulate_batch

        own = getattr(self.sweep, "evaluate_batch", None)
        run = own if own is not None else (
            lambda start, P, G, **kw: simulate_batch(self.sweep, start, P, G, **kw))
        while True:
            item = self._q.get()
            if item is None:
                return
            fut, start, P, G = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                with _PROCESS_LOCK:
                    fut.set_result(run(start, P, G, summary_only=self.summary_only,
                                       threads=self.threads))
            except BaseException as exc:  # handed to the main thread
                fut.set_exception(exc)

    def submit(self, start, P, G):
        fut: cf.Future = cf.Future()
        self._q.put((fut, start, P, G))
        return fut

    def wait(self, handles, timeout):
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, handle):
        return handle.result()

    def close(self, *, kill=False):
        while True:  # drop queued batches
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        self._q.put(None)
        if not kill:
            self._thread.join()


def _remote(sweep):
    """The function a worker runs for a batch of ``sweep`` and its leading arguments."""
    own = getattr(sweep, "remote", None)
    if own is not None:
        return own()
    from .batch import remote_batch

    return remote_batch, (sweep.text, sweep.source, sweep.sha256)


def _worker_init():
    # the parent handles Ctrl-C for the whole sweep; workers are stopped by it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _ProcessBackend:
    """Whole batches on single-threaded worker processes (spawned)."""

    name = "processes"

    def __init__(self, sweep, workers, summary_only):
        import multiprocessing

        self.sweep, self.workers, self.summary_only = sweep, workers, summary_only
        self.pool = cf.ProcessPoolExecutor(max_workers=workers,
                                           mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_worker_init)

    @property
    def capacity(self) -> int:
        return 2 * self.workers

    def submit(self, start, P, G):
        fn, lead = _remote(self.sweep)
        return self.pool.submit(fn, *lead, start, P, G, self.summary_only, 1)

    def wait(self, handles, timeout):
        done, _ = cf.wait(list(handles), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, handle):
        try:
            return handle.result()
        except cf.process.BrokenProcessPool:
            raise SweepRunError("a worker process died (killed, or out of memory); the "
                                "finished batches are saved: run again with --resume.") from None

    def close(self, *, kill=False):
        if kill:
            for p in list(getattr(self.pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    p.terminate()
        self.pool.shutdown(wait=not kill, cancel_futures=True)


class _DaskBackend:
    """Batches as tasks on a ``dask.distributed`` cluster."""

    name = "dask"

    def __init__(self, sweep, spec, summary_only):
        try:
            import distributed
        except ImportError:
            raise MissingDependencyError(
                "--dask needs the optional package 'distributed'. Install it with: pip install "
                "\"neurosim[dask]\"") from None
        self.sweep, self.summary_only = sweep, summary_only
        self._distributed = distributed
        self._own = []
        self._capacity, self._checked = 2, -1e9
        if isinstance(spec, distributed.Client):
            self.client = spec
            self.address = str(spec.scheduler.address) if spec.scheduler else "client"
        else:
            spec = str(spec)
            import logging

            if spec.startswith("local:"):
                try:
                    n = int(spec[6:])
                    if n < 1:
                        raise ValueError
                except ValueError:
                    raise NeurosimValueError(f"--dask local:N needs a number of workers >= 1; "
                                             f"got {spec!r}.") from None
                cluster = distributed.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=":0", silence_logs=logging.ERROR)
                self._own.append(cluster)
                self.client = distributed.Client(cluster)
                self._own.insert(0, self.client)
                self.address = f"LocalCluster of {n} workers at {cluster.scheduler_address}"
            elif "://" in spec:
                try:
                    self.client = distributed.Client(spec)
                except (OSError, TimeoutError) as exc:
                    raise NeurosimValueError(f"cannot connect to the Dask scheduler at {spec}: "
                                             f"{exc}. Check the address (tcp://HOST:PORT) and "
                                             "that the scheduler runs.") from None
                self._own.append(self.client)
                self.address = spec
            else:
                raise NeurosimValueError(f"--dask takes local:N (a cluster of N workers on this "
                                         f"machine) or a scheduler address tcp://HOST:PORT; got "
                                         f"{spec!r}.")
        self._check_versions()

    def _check_versions(self):
        from .. import __version__

        def version():
            import neurosim

            return neurosim.__version__

        try:
            found = self.client.run(version)
        except Exception as exc:  # a worker without neurosim fails to unpickle
            raise NeurosimValueError(f"the Dask workers cannot run neurosim ({exc}); install "
                                     "the same neurosim on every worker.") from None
        bad = {w: v for w, v in found.items() if v != __version__}
        if bad:
            raise NeurosimValueError(f"Dask workers run another neurosim version "
                                     f"({sorted(set(bad.values()))}; this is {__version__}); "
                                     "every worker needs the same one for identical results.")

    @property
    def capacity(self) -> int:
        now = time.monotonic()
        if now - self._checked > 5.0:
            self._checked = now
            with contextlib.suppress(Exception):
                self._capacity = max(2, 2 * sum(self.client.nthreads().values()))
        return self._capacity

    def submit(self, start, P, G):
        sw = self.sweep
        key = f"neurosim-sweep-{sw.sha256[:12]}-{start}-{start + P.shape[0]}"
        fn, lead = _remote(sw)
        return self.client.submit(fn, *lead, start, P, G, self.summary_only, None, key=key,
                                  pure=False)

    def wait(self, handles, timeout):
        try:
            res = self._distributed.wait(list(handles), timeout=timeout,
                                         return_when="FIRST_COMPLETED")
        except Exception as exc:  # the timeout's class differs between versions
            if "Timeout" in type(exc).__name__:
                return set()
            raise
        return res.done

    def result(self, handle):
        try:
            return handle.result()
        except self._distributed.KilledWorker as exc:
            raise SweepRunError(f"a batch killed several Dask workers in a row ({exc}); they may "
                                "run out of memory (use a smaller --batch-size). Finished "
                                "batches are saved: run again with --resume.") from None
        finally:
            handle.release()

    def close(self, *, kill=False):
        for obj in self._own:
            with contextlib.suppress(Exception):
                obj.close()


# ----------------------------------------------------------------------------- signals


class _Signals:
    """SIGINT and SIGTERM set a flag instead of raising (in the main thread only)."""

    def __init__(self):
        self.received = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop at once
        self.received = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


# ----------------------------------------------------------------------------- the verb


def run_sweep(sweep, output, *, resume: bool = False, overwrite: bool = False,
              summary_only: bool = False, batch_size: int | None = None,
              threads: int | None = None, workers: int | None = None, dask=None,
              progress=None, command_line: str | None = None, repack: bool = True,
              on_batch=None):
    """Run a sweep and stream its results to an HDF5 file.

    Parameters
    ----------
    sweep : Sweep or SampleSweep or str or Path
        A sweep, a sweep file to load (:func:`neurosim.sweep.load_sweep`), or
        a :class:`~neurosim.sweep.samples.SampleSweep` (rows of an explicit
        matrix evaluated by its evaluator; always summary-only).
    output : str or Path
        The results file (``.h5``); layout in ``docs/file-format.md``.

    Other Parameters
    ----------------
    resume : bool
        Finish the sweep in ``output`` (interrupted, even killed): only rows
        not done are computed, with the same results as an uninterrupted
        run. The file must hold the same sweep definition (SHA-256 of the
        file's text) and the same neurosim version. A missing file starts
        the sweep.
    overwrite : bool
        Replace an existing ``output`` (otherwise an existing file is an
        error unless ``resume``).
    summary_only : bool
        Store the metrics per patient but no trajectories.
    batch_size : int, optional
        Patients per batch (default: about 64 MiB of working memory). Memory
        is bounded by a few batches; results do not depend on it.
    threads : int, optional
        Solver threads of the local mode (default: all cores).
    workers : int, optional
        Run batches on this many single-threaded worker processes instead.
    dask : str or distributed.Client, optional
        ``"local:N"`` (a LocalCluster of N single-threaded workers on
        127.0.0.1), a scheduler address ``"tcp://HOST:PORT"``, or a client.
    progress : None, "text", "tqdm" or callable
        Progress over patients (``f(done, total, desc)`` for a callable).
    command_line : str, optional
        Recorded in the file.
    repack : bool
        When the sweep completes, rewrite the file chunked and compressed.
    on_batch : callable, optional
        ``on_batch(start, stop)`` after each batch is saved (monitoring).

    Returns
    -------
    SweepResult
        Reading the file lazily.

    Raises
    ------
    ScenarioError, ResultsFileError, NeurosimValueError
        Bad input; nothing is written and an existing file is not changed.
    SweepInterrupted
        On SIGINT or SIGTERM (a ``KeyboardInterrupt``); finished batches are
        saved.
    SweepRunError
        The workers failed; finished batches are saved.

    Notes
    -----
    Which mode? Local threads need nothing and suit one machine. Worker
    processes avoid the load imbalance at the end of each multi-threaded
    batch. Dask spreads the work over many machines and survives a worker's
    death; the workers need the same neurosim and a compilation cache they
    can share (``NEUROSIM_CACHE_DIR``), else each compiles the kernels
    once.
    """
    import numba

    from .result import open_sweep
    from .spec import Sweep, load_sweep
    from .store import SweepStore, check_resumable, create_store, repack as _repack

    sw = sweep if isinstance(sweep, Sweep) or hasattr(sweep, "store_layout") \
        else load_sweep(sweep)
    if hasattr(sw, "store_layout"):
        summary_only = True  # a sample sweep keeps scalar outputs only
    out = Path(output)
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise ResultsFileError(f"{out}: a sweep's results file ends in .h5 or .hdf5.")
    if sum(x is not None for x in (workers, dask)) > 1:
        raise NeurosimValueError("choose one of workers and dask.")
    if workers is not None and not (isinstance(workers, (int, np.integer)) and workers >= 1):
        raise NeurosimValueError(f"workers must be a whole number >= 1; got {workers!r}.")
    max_threads = numba.config.NUMBA_NUM_THREADS
    if threads is not None and not 1 <= int(threads) <= max_threads:
        raise NeurosimValueError(f"threads must be from 1 to {max_threads}; got {threads}.")
    if batch_size is not None and not (isinstance(batch_size, (int, np.integer))
                                       and batch_size >= 1):
        raise NeurosimValueError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
    if resume and overwrite:
        raise NeurosimValueError("choose one of resume and overwrite.")

    parallel = workers or (2 if dask is not None else 1)
    header = None
    if out.exists() and resume:
        header = check_resumable(out, sw, summary_only=summary_only)
        done = header["done"]
        batch_rows = int(header.get("batch_rows", 256))
    elif out.exists() and not overwrite:
        raise ResultsFileError(f"{out} exists. Pass --resume to finish the sweep it holds, or "
                               "--overwrite to replace it.")
    else:
        done = np.zeros(sw.n_patients, dtype=bool)
        batch_rows = batch_size or default_batch_size(sw, parallel=parallel)
    todo = plan_batches(done, batch_size or batch_rows)
    info = {"backend": "dask" if dask is not None else ("processes" if workers else "threads"),
            "workers": workers, "threads": threads, "resumed": header is not None}
    if not todo:
        if header is not None and str(header.get("layout")) == "in-place" and repack:
            _repack(out, info=info, command_line=command_line)
        return open_sweep(out)

    if dask is not None:
        backend = _DaskBackend(sw, dask, summary_only)
    elif workers:
        backend = _ProcessBackend(sw, int(workers), summary_only)
    else:
        backend = _LocalBackend(sw, threads, summary_only)
    try:
        if header is None:
            create_store(out, sw, summary_only=summary_only, batch_rows=batch_rows,
                         command_line=command_line, overwrite=overwrite)
        store = SweepStore(out, sw)
    except BaseException:
        backend.close(kill=True)
        raise
    remaining = sum(b - a for a, b in todo)
    rep = _progress(progress, remaining, sw.name)
    t0 = time.perf_counter()
    inflight: dict = {}
    batches = iter(todo)
    pending = next(batches, None)
    finished = int(done.sum())
    kill = True
    interrupted = None
    try:
        with _Signals() as sig:
            while True:
                while (sig.received is None and pending is not None
                       and len(inflight) < backend.capacity):
                    a, b = pending
                    P, G = sw.patients(a, b)
                    inflight[backend.submit(a, P, G)] = (a, b, P, G)
                    pending = next(batches, None)
                if sig.received is not None:
                    interrupted = sig.received
                    break
                if not inflight:
                    break
                for h in backend.wait(inflight, 0.25):
                    a, b, P, G = inflight.pop(h)
                    res = backend.result(h)
                    try:
                        store.write_batch(a, P, G, res)
                    except (OSError, RuntimeError) as exc:
                        from .store import _os_reason

                        raise SweepRunError(f"cannot write to {out}: {_os_reason(exc)}. The "
                                            "batches saved before are intact; run again with "
                                            "--resume.") from None
                    finished += b - a
                    rep.update(b - a)
                    if on_batch is not None:
                        on_batch(a, b)
        kill = interrupted is not None
    finally:
        for h in inflight:
            with contextlib.suppress(Exception):
                h.cancel()
        store.close()
        rep.close()
        backend.close(kill=kill)
    info["wall_time_s"] = time.perf_counter() - t0
    if interrupted is not None:
        name = signal.Signals(interrupted).name
        raise SweepInterrupted(
            f"stopped by {name}: {finished} of {sw.n_patients} patients done and saved in {out}; "
            "run the same command with --resume to finish.", signum=int(interrupted),
            done=finished, total=sw.n_patients, path=out)
    if repack:
        if not _repack(out, info=info, command_line=command_line):
            print(f"neurosim: warning: {out} is complete but could not be rewritten compressed "
                  "(no room on the disk?); it stays uncompressed.", file=sys.stderr)
    return open_sweep(out)


def _progress(spec, total, name):
    from .._progress import make_progress

    return make_progress(spec, total=total, desc=name, unit="patients", leave=True)
