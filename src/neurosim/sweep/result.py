"""Reading a sweep's HDF5 file lazily: metrics as arrays, trajectories on demand."""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np

from ..errors import (NeurosimError, NeurosimKeyError, NeurosimValueError, ResultsFileError,
                      did_you_mean)
from ..io.results import _str_list

__all__ = ["SweepResult", "open_sweep"]


def pick_arm(arm, arms, what: str) -> str:
    """``arm`` checked against ``arms`` (the only one when ``arm`` is None).

    Raises a :class:`NeurosimValueError` when there are several arms and none
    is named, a :class:`NeurosimKeyError` naming the arms that exist otherwise;
    ``what`` ("sweep", "analysis") is the owner named in the message.
    """
    if arm is None:
        if len(arms) == 1:
            return arms[0]
        raise NeurosimValueError(f"this {what} has {len(arms)} arms; name one: "
                                 f"{', '.join(arms)}.")
    if arm not in arms:
        raise NeurosimKeyError(f"no arm named {arm!r}." + did_you_mean(str(arm), arms)
                               + f" Arms: {', '.join(arms)}.")
    return arm


def _names(value, empty_ok=False) -> list:
    """A JSON list of names, checked."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"not a list of names: {value!r}")
    if not value and not empty_ok:
        raise ValueError("the list is empty")
    return list(value)


def _count(value) -> int:
    """A whole number >= 1."""
    if isinstance(value, (bytes, str)) or float(value) != int(value) or int(value) < 1:
        raise ValueError(f"not a whole number >= 1: {value!r}")
    return int(value)


def _flag(value) -> bool:
    """0 or 1 (an HDF5 int8 flag)."""
    if isinstance(value, (bytes, str)) or float(value) not in (0.0, 1.0):
        raise ValueError(f"not 0 or 1: {value!r}")
    return bool(int(value))


def _finite(value) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {value!r}")
    return x


def patient_rows(rows, n: int):
    """Patients ``rows`` of ``n`` as a slice or an int64 index array, checked.

    ``rows`` is None (all), a slice with step 1, a boolean mask of length
    ``n`` or a list of indices from 0 to ``n - 1``; anything else is a
    :class:`~neurosim.errors.NeurosimValueError` saying what is allowed.
    """
    if rows is None:
        return slice(None)
    if isinstance(rows, slice):
        if rows.step not in (None, 1):
            raise NeurosimValueError("rows as a slice must have step 1.")
        return slice(*rows.indices(n)[:2])
    idx = np.atleast_1d(np.asarray(rows))
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise NeurosimValueError(f"rows as a mask needs one entry per patient ({n}); got "
                                     f"shape {idx.shape}.")
        return np.flatnonzero(idx)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise NeurosimValueError("rows must be None, a slice, a boolean mask or a list of "
                                 "patient indices.")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise NeurosimValueError(f"patient indices in rows must be from 0 to {n - 1}.")
    return idx


def open_sweep(path) -> "SweepResult":
    """Open a sweep's results file (finished or not).

    Parameters
    ----------
    path : str or Path
        A file written by ``neurosim sweep`` or :func:`neurosim.sweep.run_sweep`.

    Returns
    -------
    SweepResult
        Reads nothing but the header until asked.

    Raises
    ------
    ResultsFileError
        For a missing, damaged or foreign file, or a newer format version.
    """
    return SweepResult(path)


class SweepResult:
    """A sweep's results, read from its file when asked.

    Every per-patient array has one entry per patient of the sweep (row
    ``i`` is patient ``i`` in every arm: a paired design). Rows not
    finished yet (an interrupted sweep) hold NaN and status -1; :meth:`done`
    says which rows are finished.

    Examples
    --------
    >>> res = open_sweep("trial.h5")                       # doctest: +SKIP
    >>> res.arms                                            # doctest: +SKIP
    ['placebo', 'tanezumab']
    >>> m = res.metrics("tanezumab")                        # doctest: +SKIP
    >>> m["responder_30"].mean()                            # doctest: +SKIP
    >>> res.trajectories("tanezumab", "nrs", rows=[0, 1])   # doctest: +SKIP
    """

    def __init__(self, path):
        from .store import read_header

        self.path = Path(path)
        self.header = read_header(self.path)
        h = self.header
        self.arms = self._header_value("arms", lambda v: _names(json.loads(v)))
        self.outputs = self._header_value("outputs", lambda v: _names(json.loads(v), True),
                                          "[]")
        self.n_patients = self._header_value("n_patients", _count)
        self.name = str(h.get("sweep_name", ""))
        self.seed = self._header_value("seed", int, 0)
        self.sweep_text = str(h.get("sweep", ""))
        for key in ("duration_h", "history_h", "output_interval_h", "endpoint_h"):
            if key in h:
                self._header_value(key, _finite)
        #: batch size of the run that created the file (256 when not recorded)
        self.batch_rows = self._header_value("batch_rows", _count, 256)
        #: whether the run kept metrics only (``--summary-only``)
        self.summary_only = self._header_value("summary_only", _flag, 0)
        self._check_layout()

    def _damaged(self, what: str) -> ResultsFileError:
        return ResultsFileError(f"{self.path}: damaged sweep file ({what}).")

    def _header_value(self, key, parse, default=None):
        """A root attribute, parsed; a missing or unreadable one names the file and key."""
        if key not in self.header:
            if default is not None:
                return parse(default)
            raise self._damaged(f"the attribute {key!r} is missing")
        try:
            return parse(self.header[key])
        except (ValueError, TypeError, OverflowError) as exc:
            raise self._damaged(f"the attribute {key!r} is unreadable: {exc}") from None

    def _check_layout(self) -> None:
        """Every dataset the readers use exists with one row per patient (no data read)."""
        n = self.n_patients
        with self._file() as f:
            def need(name, ndim, rows=True):
                if name not in f or not hasattr(f[name], "shape"):
                    raise self._damaged(f"the dataset {name!r} is missing")
                shape = f[name].shape
                if len(shape) != ndim or (rows and shape[0] != n):
                    raise self._damaged(f"{name!r} has shape {shape}; expected "
                                        f"{'(' + str(n) + ', ...)' if rows else str(ndim) + '-D'}")
                return shape

            need("patients/parameters", 2)
            need("patients/parameter_names", 1, rows=False)
            for opt in ("patients/treatment_start", "patients/presented"):
                if opt in f:
                    need(opt, 1)
            if "patients/drug_factors" in f:
                need("patients/drug_factors", 2)
            times = None
            if self.outputs:
                (times,) = need("time", 1, rows=False)
            for a in self.arms:
                for ds in ("done", "status", "failed_in"):
                    need(f"arms/{a}/{ds}", 1)
                g = f"arms/{a}/metrics"
                if g not in f or not len(f[g]):
                    raise self._damaged(f"the group {g!r} is missing or empty")
                for m in f[g]:
                    need(f"{g}/{m}", 1)
                for o in self.outputs:
                    shape = need(f"arms/{a}/trajectories/{o}", 2)
                    if shape[1] != times:
                        raise self._damaged(f"'arms/{a}/trajectories/{o}' has {shape[1]} "
                                            f"times; 'time' has {times}")

    @contextlib.contextmanager
    def _file(self):
        """The file, open for reading; a read that fails names the file as damaged."""
        import h5py

        # A running sweep holds its file open for writing; its writes never change the
        # file's structure (docs/file-format.md), so reading alongside is safe.
        try:
            try:
                f = h5py.File(self.path, "r", locking=False)
            except TypeError:  # h5py < 3.5
                f = h5py.File(self.path, "r")
        except OSError:
            raise ResultsFileError(f"{self.path}: could not be opened (removed, or damaged "
                                   "since it was opened).") from None
        try:
            with f:
                yield f
        except NeurosimError:
            raise
        except (OSError, RuntimeError, KeyError, json.JSONDecodeError) as exc:
            raise self._damaged(f"a read failed: {exc}") from None

    def _arm(self, arm) -> str:
        return pick_arm(arm, self.arms, "sweep")

    def _rows(self, rows):
        return patient_rows(rows, self.n_patients)

    @staticmethod
    def _read(ds, rows):
        if isinstance(rows, slice):
            return ds[rows]
        if rows.size == 0:
            return ds[0:0]
        order = np.argsort(rows, kind="stable")
        uniq, inverse = np.unique(rows[order], return_inverse=True)
        data = ds[uniq]  # h5py needs increasing indices
        out = np.empty((rows.size,) + data.shape[1:], dtype=data.dtype)
        out[order] = data[inverse]
        return out

    # -- per patient ------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True when every patient is done in every arm."""
        return bool(np.all(self.done()))

    def done(self, arm=None) -> np.ndarray:
        """(n,) bool: rows finished (in ``arm``, or in every arm)."""
        with self._file() as f:
            arms = self.arms if arm is None else [self._arm(arm)]
            out = np.ones(self.n_patients, dtype=bool)
            for a in arms:
                out &= f[f"arms/{a}/done"][()].astype(bool)
        return out

    def status(self, arm=None) -> np.ndarray:
        """(n,) int: solver status per patient (0 success, -1 not run yet)."""
        with self._file() as f:
            return f[f"arms/{self._arm(arm)}/status"][()].astype(np.int64)

    def status_messages(self, arm=None) -> list:
        """Per patient: ``"success"``, ``"not run"``, or where and how it failed."""
        from ..solver.api import Status
        from .batch import PHASES

        with self._file() as f:
            g = f[f"arms/{self._arm(arm)}"]
            st, ph = g["status"][()], g["failed_in"][()]
        out = []
        for s, p in zip(st.tolist(), ph.tolist()):
            if s == 0:
                out.append("success")
            elif s < 0:
                out.append("not run")
            else:
                code = Status(s)
                out.append(f"{PHASES[p]}: {code.name}: {code.message}")
        return out

    def metrics(self, arm=None, names=None, *, rows=None) -> dict:
        """Metrics per patient of one arm (``docs/file-format.md`` for definitions).

        Parameters
        ----------
        arm : str, optional
            Arm name (optional when there is one arm).
        names : str or list of str, optional
            Metrics to read (default: all).
        rows : array_like of int or bool, or slice, optional
            Patients (default: all).

        Returns
        -------
        dict of str -> ndarray (n_rows,)
        """
        arm = self._arm(arm)
        rows = self._rows(rows)
        with self._file() as f:
            g = f[f"arms/{arm}/metrics"]
            all_names = list(g)
            names = all_names if names is None else ([names] if isinstance(names, str)
                                                     else list(names))
            for n in names:
                if n not in g:
                    raise NeurosimKeyError(f"{self.path}: no metric named {n!r} in arm '{arm}'."
                                           + did_you_mean(n, all_names)
                                           + f" Metrics: {', '.join(all_names)}.")
            return {n: self._read(g[n], rows) for n in names}

    def arm_attributes(self, arm=None) -> dict:
        """An arm's attributes: ``description``, ``treatments`` (in words), ``scenario`` (TOML).

        Parameters
        ----------
        arm : str, optional
            Arm name (optional when there is one arm).

        Returns
        -------
        dict of str -> str
        """
        arm = self._arm(arm)
        with self._file() as f:
            return {k: (v.decode("utf-8") if isinstance(v, bytes) else str(v))
                    for k, v in f[f"arms/{arm}"].attrs.items()}

    def metric_units(self) -> dict:
        """Unit of each metric."""
        with self._file() as f:
            g = f[f"arms/{self.arms[0]}/metrics"]
            return {k: str(g[k].attrs.get("units", "")) for k in g}

    @property
    def t(self) -> np.ndarray:
        """Save times of the trajectories (h from treatment start)."""
        with self._file() as f:
            if "time" not in f:
                raise NeurosimValueError(f"{self.path} holds no trajectories (summary-only "
                                         "sweep).")
            return f["time"][()]

    def trajectories(self, arm, output: str = "nrs", rows=None) -> np.ndarray:
        """One output along the trajectory of some patients, read now.

        Parameters
        ----------
        arm : str or None
        output : str
            One of :attr:`outputs`.
        rows : array_like of int or bool, or slice, optional
            Patients (default: all of them; mind the memory).

        Returns
        -------
        ndarray (n_rows, n_times)
        """
        arm = self._arm(arm)
        if not self.outputs:
            raise NeurosimValueError(f"{self.path} holds no trajectories: it was run with "
                                     "--summary-only.")
        if output not in self.outputs:
            raise NeurosimKeyError(f"no trajectory {output!r} in this file."
                                   + did_you_mean(output, self.outputs)
                                   + f" Kept: {', '.join(self.outputs)}.")
        with self._file() as f:
            return self._read(f[f"arms/{arm}/trajectories/{output}"], self._rows(rows))

    @property
    def parameter_names(self) -> list:
        """Names of the columns of :attr:`parameters` (the swept model parameters)."""
        with self._file() as f:
            return _str_list(f["patients/parameter_names"])

    @property
    def parameters(self) -> np.ndarray:
        """(n, k) the model parameters that vary (columns: :attr:`parameter_names`)."""
        with self._file() as f:
            return f["patients/parameters"][()]

    def parameter(self, name: str) -> np.ndarray:
        """(n,) one varied parameter (table unit)."""
        names = self.parameter_names
        if name not in names:
            raise NeurosimKeyError(f"{name!r} does not vary in this sweep."
                                   + did_you_mean(name, names))
        with self._file() as f:
            return f["patients/parameters"][:, names.index(name)]

    @property
    def treatment_start(self) -> np.ndarray:
        """(n,) treatment start, h after diagnosis."""
        with self._file() as f:
            return f["patients/treatment_start"][()]

    def genotypes(self) -> dict:
        """Genotype name -> (n,) category label per patient ("" when not run)."""
        out = {}
        with self._file() as f:
            if "patients/genotypes" not in f:
                return out
            for ds in f["patients/genotypes"].values():
                cats = json.loads(ds.attrs["categories"])
                idx = ds[()]
                labels = np.array(cats + [""], dtype=object)
                out[str(ds.attrs["genotype"])] = labels[np.where(idx >= 0, idx, len(cats))]
        return out

    def drug_factors(self) -> dict:
        """``"drug.quantity"`` -> (n,) each patient's factor (``[sweep.drugs]``; NaN when
        not run; empty without drug factors)."""
        with self._file() as f:
            if "patients/drug_factors" not in f:
                return {}
            names = _str_list(f["patients/drug_factor_names"])
            F = f["patients/drug_factors"][()]
        return {name: F[:, j] for j, name in enumerate(names)}

    # -- summaries --------------------------------------------------------------------

    def summary(self, arm=None) -> dict:
        """Means over the patients done and succeeded (responders: the rate)."""
        arm = self._arm(arm)
        ok = self.done(arm) & (self.status(arm) == 0)
        out = {}
        for k, v in self.metrics(arm).items():
            v = v[ok]
            v = v[~np.isnan(v)]
            out[k] = float(np.mean(v)) if v.size else math.nan
        return out

    def to_dataframe(self, arm=None):
        """Per-patient table (needs pandas): one row per patient and arm.

        Parameters
        ----------
        arm : str, optional
            One arm; default every arm (column ``arm``).

        Returns
        -------
        pandas.DataFrame
            Columns ``patient``, ``arm``, ``done``, ``status``, the varied
            parameters, genotypes, drug factors, ``treatment_start_days`` and every
            metric.
        """
        from ..errors import require

        pd = require("pandas", "SweepResult.to_dataframe()", extra="notebook")
        arms = self.arms if arm is None else [self._arm(arm)]
        P = self.parameters
        names = self.parameter_names
        genos = self.genotypes()
        factors = self.drug_factors()
        start = self.treatment_start / 24.0
        frames = []
        for a in arms:
            cols = {"patient": np.arange(self.n_patients), "arm": a,
                    "done": self.done(a), "status": self.status(a)}
            for j, n in enumerate(names):
                cols[n] = P[:, j]
            cols.update(genos)
            cols.update(factors)
            cols["treatment_start_days"] = start
            cols.update(self.metrics(a))
            frames.append(pd.DataFrame(cols))
        df = pd.concat(frames, ignore_index=True)
        df.attrs["units"] = self.metric_units()
        df.attrs["sweep"] = self.name
        return df

    def __repr__(self) -> str:
        done = int(np.sum(self.done()))
        return (f"SweepResult({str(self.path)!r}, {self.name!r}, patients={self.n_patients} "
                f"({done} done), arms={self.arms}, trajectories={self.outputs or 'none'})")
