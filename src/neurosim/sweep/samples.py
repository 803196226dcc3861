"""Sweeps over an explicit sample matrix, with a pluggable model.

A :class:`SampleSweep` is a sweep whose rows are given, not drawn: row
``i`` is the parameter point ``X[i]`` (for a sensitivity analysis, the
sample of SALib's Sobol or Morris design). Its batches go through the same
runner as every sweep (:func:`neurosim.sweep.run_sweep`: local threads,
worker processes or Dask, results streamed to the HDF5 file in place,
``resume`` finishes an interrupted run) and the file reads back with
:func:`neurosim.sweep.open_sweep`.

What a row means is up to its :class:`Evaluator`, the small interface the
runner calls once per batch:

* :class:`NeurosimEvaluator` sets the sampled model parameters of a
  scenario's patient and simulates the batch with
  :func:`neurosim.sweep.batch.simulate_batch` (one arm per treatment arm,
  every metric of :data:`neurosim.simulation.METRICS`);
* any other model subclasses :class:`Evaluator` (e.g.
  :class:`neurosim.analysis.sensitivity.IshigamiEvaluator`, the analytic
  test function used to check the whole path).

An evaluator is pickled to worker processes and Dask workers, so it holds
only plain data and rebuilds anything heavy lazily in each process.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ..errors import NeurosimValueError

__all__ = ["Evaluator", "NeurosimEvaluator", "SampleSweep", "remote_evaluate"]


class Evaluator:
    """A model that a :class:`SampleSweep` evaluates batch by batch.

    Subclasses set :attr:`arms` and :attr:`metrics` and implement
    :meth:`evaluate`; the result of a row must depend on that row only (not
    on the batch it shares), so that every backend and batch size gives the
    same file.

    Attributes
    ----------
    arms : tuple of str
        Names of the arms: each row is evaluated once per arm.
    metrics : tuple of (name, unit, description)
        The scalar outputs returned per row and arm.
    """

    arms: tuple = ("model",)
    metrics: tuple = ()

    def identity(self) -> str:
        """Text that identifies the model (part of the sweep's SHA-256, checked on resume)."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def evaluate(self, start: int, X: np.ndarray, *, threads: int | None) -> dict:
        """Evaluate rows ``start .. start + len(X) - 1``.

        Parameters
        ----------
        start : int
            Index of the first row.
        X : ndarray (m, k)
            The rows' parameter values (columns: the sweep's names).
        threads : int or None
            Threads the evaluation may use.

        Returns
        -------
        dict
            ``arm -> {metric name -> (m,) float array}``. A value that is not
            finite marks the row as failed in that arm (status 1).
        """
        raise NotImplementedError

    def batch_size(self, parallel: int) -> int:
        """Default rows per batch."""
        return 256

    def store_attributes(self) -> dict:
        """Extra root attributes of the results file (JSON-able values)."""
        return {}


def _complete(evaluator, start, X, raw) -> dict:
    """The runner's batch dictionary from an evaluator's plain result."""
    m = X.shape[0]
    if "arms" in raw and "stop" in raw:  # already a full batch result (neurosim)
        return raw
    arms = {}
    for arm in evaluator.arms:
        vals = raw[arm]
        metrics = {}
        bad = np.zeros(m, dtype=bool)
        for name, _, _ in evaluator.metrics:
            v = np.asarray(vals[name], dtype=np.float64).reshape(m)
            metrics[name] = v
            bad |= ~np.isfinite(v)
        arms[arm] = {"metrics": metrics, "status": bad.astype(np.int8),
                     "phase": np.zeros(m, np.int8), "steps": np.zeros(m, np.int64),
                     "trajectories": {}}
    return {"start": int(start), "stop": int(start) + m, "arms": arms}


def remote_evaluate(evaluator, start: int, X, G, summary_only: bool, threads=None) -> dict:
    """One batch of a :class:`SampleSweep`: what worker processes and Dask run.

    ``G`` (no genotypes) and ``summary_only`` (always) are taken for the
    runner's uniform call.
    """
    from .batch import _PROCESS_LOCK, _worker_threads

    with _PROCESS_LOCK:
        X = np.ascontiguousarray(X, dtype=np.float64)
        t = threads if threads is not None else _worker_threads()
        return _complete(evaluator, start, X, evaluator.evaluate(start, X, threads=t))


class SampleSweep:
    """A sweep over the rows of an explicit matrix, evaluated by an :class:`Evaluator`.

    Parameters
    ----------
    X : array_like (n, k)
        Parameter values, one row per run.
    names : sequence of str
        Column names.
    evaluator : Evaluator
    name : str
        Name of the sweep (file attributes, progress).
    text : str, optional
        The definition the matrix came from (e.g. a sensitivity file's
        text); stored in the file.
    source : str, optional
        Where ``text`` came from.
    seed : int, optional
        Recorded in the file.
    units, origin : sequence of str, optional
        Unit and provenance of each column.
    description : str, optional

    Notes
    -----
    The sweep's SHA-256 covers ``text``, the names, the matrix (its bytes)
    and the evaluator's :meth:`Evaluator.identity`: ``resume`` refuses a
    file started from anything else.
    """

    design = "matrix"
    other_parameters = "fixed"
    genotypes: list = []
    outputs: list = []

    def __init__(self, X, names, evaluator: Evaluator, *, name: str, text: str = "",
                 source: str = "<samples>", seed: int = 0, units=None, origin=None,
                 description: str = ""):
        X = np.ascontiguousarray(X, dtype=np.float64)
        names = [str(n) for n in names]
        if X.ndim != 2 or X.shape[1] != len(names):
            raise NeurosimValueError(f"the sample matrix must have one column per name "
                                     f"({len(names)}); got shape {X.shape}.")
        if X.shape[0] < 1:
            raise NeurosimValueError("the sample matrix has no rows.")
        if not np.all(np.isfinite(X)):
            raise NeurosimValueError("the sample matrix holds NaN or infinite values.")
        if not isinstance(evaluator, Evaluator):
            raise NeurosimValueError("evaluator must be a neurosim.sweep.samples.Evaluator.")
        self.X, self.names, self.evaluator = X, names, evaluator
        self.name, self.text, self.source = name, text, source
        self.description = description
        self.seed = int(seed)
        self.units = list(units) if units is not None else [""] * len(names)
        self.origin = list(origin) if origin is not None else ["sample matrix"] * len(names)
        self.n_patients = int(X.shape[0])
        self.arms = [SimpleNamespace(name=a, description="") for a in evaluator.arms]
        h = hashlib.sha256()
        h.update(text.encode("utf-8"))
        h.update(json.dumps(names).encode("utf-8"))
        h.update(str(X.shape).encode("ascii"))
        h.update(X.tobytes())
        h.update(evaluator.identity().encode("utf-8"))
        self.sha256 = h.hexdigest()

    @property
    def varied(self) -> list:
        return list(self.names)

    def patients(self, start: int, stop: int):
        """Rows ``start .. stop - 1`` of the matrix (and no genotypes)."""
        if not 0 <= start < stop <= self.n_patients:
            raise ValueError(f"rows {start}..{stop} outside 0..{self.n_patients}")
        return self.X[start:stop].copy(), np.zeros((stop - start, 0), dtype=np.int8)

    def evaluate_batch(self, start, P, G, *, summary_only, threads) -> dict:
        """One batch in this process (the local backend)."""
        return _complete(self.evaluator, start, P,
                         self.evaluator.evaluate(start, np.ascontiguousarray(P),
                                                 threads=threads))

    def remote(self):
        """The function and leading arguments a worker runs for a batch."""
        return remote_evaluate, (self.evaluator,)

    def default_batch_size(self, parallel: int = 1) -> int:
        b = int(self.evaluator.batch_size(parallel))
        # enough batches to keep every worker busy
        b = min(b, max(16, -(-self.n_patients // (4 * max(1, parallel)))))
        return max(1, min(b, self.n_patients))

    def store_layout(self, summary_only: bool) -> dict:
        """What the results file holds (see :func:`neurosim.sweep.store.create_store`)."""
        attrs = {"seed": np.int64(self.seed), "sweep": self.text, "sweep_sha256": self.sha256,
                 "sweep_name": self.name, "sweep_description": self.description,
                 "sweep_source": self.source, "design": self.design,
                 "other_parameters": self.other_parameters,
                 "evaluator": self.evaluator.identity()}
        attrs.update(self.evaluator.store_attributes())
        return {"attrs": attrs, "parameter_names": list(self.names),
                "parameter_units": list(self.units), "parameter_origin": list(self.origin),
                "parameter_columns": None, "genotypes": [],
                "arms": [(a, {"description": "", "treatments": "", "scenario": ""})
                         for a in self.evaluator.arms],
                "metrics": list(self.evaluator.metrics), "outputs": [], "time": None,
                "patient_timeline": bool(getattr(self.evaluator, "timeline", False))}


# ----------------------------------------------------------------------------- neurosim


_SWEEPS: dict = {}


@dataclass
class NeurosimEvaluator(Evaluator):
    """Rows are values of model parameters of a scenario's patient; every arm is simulated.

    Parameters
    ----------
    raw_text : str
        A scenario file's text (extra top-level sections named in
        ``ignore`` are dropped, e.g. ``[sensitivity]``).
    source : str
        The file it came from (error messages).
    columns : tuple of str
        What each column of the sample sets: a model parameter (table units),
        or ``"drug.quantity"``, a factor on a drug quantity of every patient
        (``neurosim.treatments.pk.DRUG_FACTORS``; drugs an arm does not give
        are ignored in that arm).
    ignore : tuple of str
        Top-level sections that are not part of the scenario.

    Notes
    -----
    Parameters not sampled are the scenario patient's (table defaults with
    its ``[patient.parameters]`` overrides); ``[[patient.modifiers]]`` on a
    model parameter multiply the sampled value too, and the carrying
    capacity is kept at least 4 times the diagnosis volume, as in every
    sweep. Each row is simulated through
    :func:`neurosim.sweep.batch.simulate_batch` (so through
    :func:`neurosim.simulation.simulate_scenario`), summary only.
    """

    raw_text: str
    source: str
    columns: tuple
    ignore: tuple = ("sensitivity",)

    timeline = True

    def __post_init__(self):
        self.columns = tuple(self.columns)
        sw = self.sweep()
        self.arms = tuple(a.name for a in sw.arms)
        from ..simulation import METRICS

        self.metrics = tuple(METRICS)

    def __getstate__(self):
        return {"raw_text": self.raw_text, "source": self.source, "columns": self.columns,
                "ignore": self.ignore, "arms": self.arms, "metrics": self.metrics}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def identity(self) -> str:
        h = hashlib.sha256(self.raw_text.encode("utf-8")).hexdigest()
        return f"neurosim scenario {h} columns {','.join(self.columns)}"

    def sweep(self):
        """The scenario as a one-patient sweep with fixed parameters (cached per process)."""
        key = (hashlib.sha256(self.raw_text.encode("utf-8")).hexdigest(), self.ignore)
        sw = _SWEEPS.get(key)
        if sw is None:
            from ..scenario import _parse_toml
            from .spec import Sweep

            raw = _parse_toml(self.raw_text, self.source)
            for k in self.ignore:
                raw.pop(k, None)
            raw.pop("population", None)
            raw["sweep"] = {"patients": 1, "other_parameters": "fixed"}
            sw = Sweep(raw, text=self.raw_text, source=self.source)
            if len(_SWEEPS) >= 4:
                _SWEEPS.pop(next(iter(_SWEEPS)))
            _SWEEPS[key] = sw
        return sw

    def parameters(self, X) -> np.ndarray:
        """Model parameter rows (m, N_MODEL_PARAMS) of the sample rows ``X``."""
        from ..model.parameters import PARAMETER_INDEX

        sw = self.sweep()
        base, _ = sw.patients(0, 1)
        X = np.asarray(X, dtype=np.float64)
        P = np.repeat(base, X.shape[0], axis=0)
        factors = {}
        for mod in sw.base.modifiers:
            if mod.parameter is not None:
                factors[mod.parameter] = factors.get(mod.parameter, 1.0) * mod.factor
        for j, name in enumerate(self.columns):
            if name in PARAMETER_INDEX:
                P[:, PARAMETER_INDEX[name]] = X[:, j] * factors.get(name, 1.0)
        iv0 = PARAMETER_INDEX["tumor_volume_diagnosis"]
        ik = PARAMETER_INDEX["tumor_carrying_capacity"]
        P[:, ik] = np.maximum(P[:, ik], 4.0 * P[:, iv0])
        return np.ascontiguousarray(P)

    def evaluate(self, start, X, *, threads):
        from ..model.parameters import PARAMETER_INDEX
        from .batch import simulate_batch

        sw = self.sweep()
        P = self.parameters(X)
        G = np.zeros((P.shape[0], 0), dtype=np.int8)
        X = np.asarray(X, dtype=np.float64)
        drugs = {name: X[:, j] for j, name in enumerate(self.columns)
                 if name not in PARAMETER_INDEX}
        return simulate_batch(sw, start, P, G, summary_only=True, threads=threads,
                              drug_factors=drugs)

    def batch_size(self, parallel: int) -> int:
        from .runner import memory_batch_size

        return memory_batch_size(self.sweep())

    def store_attributes(self) -> dict:
        b = self.sweep().base
        return {"endpoint_h": float(b.endpoint), "duration_h": float(b.duration),
                "history_h": float(b.history), "output_interval_h": float(b.output_interval),
                "liver": b.liver}
