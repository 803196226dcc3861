"""The sweep's HDF5 file: preallocated, written in place, resumable.

Layout (format ``neurosim-sweep``, version 1; ``docs/file-format.md``)::

    /                         root attributes: format, format_version, neurosim_version,
                              created, command_line, seed, sweep (TOML text), sweep_sha256,
                              sweep_name, design, n_patients, arms, outputs, summary_only,
                              batch_rows, layout, complete, ...
    /patient                  (n,) patient index                     dimension scale
    /time                     (T,) h from treatment start            dimension scale
    /patients/parameters      (n, k) the parameters that vary, table units
    /patients/parameter_names, parameter_units, parameter_origin   (k,) text
    /patients/treatment_start (n,) h after diagnosis
    /patients/presented       (n,) int8 (-1 not run)
    /patients/genotypes/<g>   (n,) int8 category index (-1 not run)
    /patients/drug_factors    (n, j) factors on drug quantities ([sweep.drugs]; only then)
    /patients/drug_factor_names, drug_factor_origin   (j,) text, "drug.quantity"
    /arms/<arm>/metrics/<m>   (n,)
    /arms/<arm>/status        (n,) int8 solver status (-1 not run)
    /arms/<arm>/failed_in     (n,) int8 0 -, 1 natural history, 2 treatment
    /arms/<arm>/solver_steps  (n,) int64
    /arms/<arm>/done          (n,) bool
    /arms/<arm>/trajectories/<output>  (n, T)     unless summary-only

Crash safety
------------
While a sweep runs, every dataset is contiguous and allocated (and filled)
when the file is created, so a batch is written in place: no HDF5
structure (chunk index, heap, superblock) changes after creation. A batch
writes its data, flushes, then sets its ``done`` flags and flushes again.
A process killed at any moment (SIGKILL included) therefore leaves a file
whose structure is the one written at creation and whose done-mask says
exactly which rows hold finished results; rows not done are recomputed by
``--resume``. (Chunked, compressed datasets change the chunk index on
every write, and a kill during a flush can leave an index pointing past
the end of the file; we measured that in about 1 of 80 random kills.) The
file is created under a temporary name and renamed once complete, and it
never grows while the sweep runs, so a full disk shows at creation, never
half-way. When every row is done the file is rewritten chunked and
compressed (gzip with shuffle) and renamed over the original (``layout``
becomes ``"compressed"``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ResultsFileError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SweepStore", "create_store", "check_resumable",
           "repack", "read_header", "estimate_bytes", "store_layout"]

#: Value of the root attribute ``format``.
FORMAT_NAME = "neurosim-sweep"
#: Layout version written; readers accept versions up to this one.
FORMAT_VERSION = 1
_COMPRESS = dict(compression="gzip", compression_opts=4, shuffle=True)


def _text(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _attrs(obj, units: str, description: str) -> None:
    obj.attrs["units"] = units
    obj.attrs["description"] = description


def _preallocated(group, name, shape, dtype, fill, units, description):
    """A contiguous dataset allocated and filled now (later writes change no metadata)."""
    import h5py

    dtype = np.dtype(dtype)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    dcpl.set_fill_value(np.array(fill, dtype=dtype))
    space = h5py.h5s.create_simple(tuple(int(s) for s in shape))
    tid = h5py.h5t.py_create(dtype, logical=True)
    dsid = h5py.h5d.create(group.id, name.encode("utf-8"), tid, space, dcpl=dcpl)
    ds = h5py.Dataset(dsid)
    _attrs(ds, units, description)
    return ds


def _strings(group, name, values, description):
    import h5py

    ds = group.create_dataset(name, data=np.array(list(values), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
    _attrs(ds, "", description)
    return ds


def _status_meaning() -> str:
    from ..solver.api import Status

    codes = ", ".join(f"{int(s)} {s.name.lower()}" for s in Status)
    return f"Solver status per patient: {codes}, -1 not run yet"


def estimate_bytes(sweep, *, summary_only: bool, n_times: int) -> int:
    """Size of the file while the sweep runs (every dataset is allocated at creation)."""
    lay = store_layout(sweep, summary_only)
    n = sweep.n_patients
    per_row = (8 * len(lay["parameter_names"]) + 8 + 1 + len(lay["genotypes"])
               + 8 * len(lay.get("drug_factors", ())))
    per_arm = 8 * len(lay["metrics"]) + 1 + 1 + 8 + 1
    if not summary_only:
        per_arm += 8 * n_times * len(lay["outputs"])
    return n * (per_row + len(lay["arms"]) * per_arm) + 1_000_000


def store_layout(sweep, summary_only: bool) -> dict:
    """What the results file of ``sweep`` holds: root attributes, parameter columns, arms,
    metrics, trajectories.

    A :class:`~neurosim.sweep.spec.Sweep` is described here; any other kind
    of sweep (e.g. :class:`~neurosim.sweep.samples.SampleSweep`) provides its
    own ``store_layout(summary_only)`` with the same keys.
    """
    own = getattr(sweep, "store_layout", None)
    if own is not None:
        return own(summary_only)
    from ..model.parameters import PARAMETER_INDEX, PARAMETERS
    from ..simulation import METRICS

    varied = sweep.varied
    origin = {d.name: f"swept: {d.describe().split(': ', 1)[1]}"
              for d in sweep.parameter_dimensions}
    b = sweep.base
    arms = []
    for i, arm in enumerate(sweep.arms):
        sc = sweep.arm_scenario(i)
        arms.append((arm.name, {"description": arm.description,
                                "treatments": sc.plan.describe(), "scenario": sc.text}))
    return {
        "attrs": {"seed": np.int64(sweep.seed), "sweep": sweep.text,
                  "sweep_sha256": sweep.sha256, "sweep_name": sweep.name,
                  "sweep_description": sweep.description, "sweep_source": sweep.source,
                  "design": sweep.design, "other_parameters": sweep.other_parameters,
                  "endpoint_h": float(b.endpoint), "duration_h": float(b.duration),
                  "history_h": float(b.history), "output_interval_h": float(b.output_interval),
                  "liver": b.liver},
        "parameter_names": list(varied),
        "parameter_units": [PARAMETERS[v].unit for v in varied],
        "parameter_columns": [PARAMETER_INDEX[v] for v in varied],
        "parameter_origin": [origin.get(v, "virtual population" if sweep.other_parameters
                                        == "population" else "genotype or diagnosis-volume rule")
                             for v in varied],
        "genotypes": list(sweep.genotypes),
        "drug_factors": [d.name for d in sweep.drug_dimensions],
        "drug_factor_origin": [f"swept: {d.describe().split(': ', 1)[1]}"
                               for d in sweep.drug_dimensions],
        "arms": arms,
        "metrics": list(METRICS),
        "outputs": [] if summary_only else list(sweep.outputs),
        "time": None if summary_only else time_axis(sweep),
        "patient_timeline": True,
    }


def time_axis(sweep) -> np.ndarray:
    """Save times of the trajectories (h from treatment start)."""
    from ..simulation import _grid

    return _grid(sweep.base)[0]


# ----------------------------------------------------------------------------- creation


def create_store(path, sweep, *, summary_only: bool, batch_rows: int, command_line: str,
                 overwrite: bool = False) -> Path:
    """Create the sweep's file (every dataset preallocated) under a temporary name and
    rename it to ``path``.

    Raises
    ------
    ResultsFileError
        When ``path`` exists and ``overwrite`` is false, when its folder does
        not exist or cannot be written, or when the disk has too little room.
    """
    import h5py

    from .. import __version__
    from .batch import PHASES

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.exists() and not overwrite:
        raise ResultsFileError(f"{target} exists. Pass --resume to finish the sweep it holds, "
                               "or --overwrite to replace it.")
    if not folder.is_dir():
        raise ResultsFileError(f"cannot write {target}: the folder {folder} does not exist.")
    lay = store_layout(sweep, summary_only)
    t = lay["time"]
    need = estimate_bytes(sweep, summary_only=summary_only, n_times=0 if t is None else t.size)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and need > free:
        raise ResultsFileError(
            f"cannot write {target}: the sweep needs about {need / 2**30:.2f} GiB on disk and "
            f"{folder} has {free / 2**30:.2f} GiB free. Free some space, write elsewhere, or "
            "use --summary-only (no trajectories).")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{target.name}.tmp-")
        os.close(fd)
    except OSError as exc:
        raise ResultsFileError(f"cannot write {target}: {exc.strerror or exc}.") from None
    n = sweep.n_patients
    varied = lay["parameter_names"]
    try:
        with h5py.File(tmp, "w") as f:
            a = f.attrs
            a["format"] = FORMAT_NAME
            a["format_version"] = FORMAT_VERSION
            a["neurosim_version"] = __version__
            a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["command_line"] = command_line or "(Python API)"
            a["n_patients"] = np.int64(n)
            a["arms"] = json.dumps([arm for arm, _ in lay["arms"]])
            a["outputs"] = json.dumps([] if summary_only else list(lay["outputs"]))
            a["summary_only"] = np.int8(bool(summary_only))
            a["batch_rows"] = np.int64(batch_rows)
            a["layout"] = "in-place"
            a["complete"] = np.int8(0)
            for k, v in lay["attrs"].items():
                a[k] = v

            pds = f.create_dataset("patient", data=np.arange(n, dtype=np.int64))
            _attrs(pds, "1", "Patient index (row of every per-patient dataset)")
            pds.make_scale("patient")
            tds = None
            if not summary_only:
                tds = f.create_dataset("time", data=t)
                _attrs(tds, "h", "Save times of the trajectories, hours from treatment start "
                                 "(negative: untreated history)")
                tds.make_scale("time")

            pg = f.create_group("patients")
            pg.attrs["description"] = "One entry per virtual patient, shared by every arm"
            par = _preallocated(pg, "parameters", (n, len(varied)), "f8", np.nan,
                                "see /patients/parameter_units",
                                "Model parameters that vary between patients (columns: "
                                "/patients/parameter_names); NaN until the patient is done")
            par.dims[0].label = "patient"
            par.dims[0].attach_scale(pds)
            par.dims[1].label = "parameter"
            _strings(pg, "parameter_names", varied, "Names of the columns of parameters")
            _strings(pg, "parameter_units", lay["parameter_units"],
                     "Units of the columns of parameters")
            _strings(pg, "parameter_origin", lay["parameter_origin"],
                     "Where each column comes from: its swept distribution, the virtual "
                     "population (lognormal, table CV), a genotype, or a sample matrix")
            for name, dtype, fill, units, desc in (
                    ("treatment_start", "f8", np.nan, "h",
                     "Treatment start, hours after diagnosis"),
                    ("presented", "i1", -1, "1",
                     "1 if the presentation rule was met, 0 if treatment started at the "
                     "presentation limit, -1 not run yet"))[:2 if lay["patient_timeline"] else 0]:
                ds = _preallocated(pg, name, (n,), dtype, fill, units, desc)
                ds.dims[0].label = "patient"
                ds.dims[0].attach_scale(pds)
            if lay["genotypes"]:
                gg = pg.create_group("genotypes")
                gg.attrs["description"] = "Genotype category of each patient (index)"
                for g in lay["genotypes"]:
                    ds = _preallocated(gg, g.name.replace("/", "_"), (n,), "i1", -1, "1",
                                       f"Category of {g.name} (index into the attribute "
                                       "categories); -1 not run yet")
                    ds.attrs["genotype"] = g.name
                    ds.attrs["categories"] = json.dumps(list(g.labels))
                    ds.attrs["frequencies"] = json.dumps(list(g.frequencies))
                    ds.dims[0].label = "patient"
                    ds.dims[0].attach_scale(pds)
            factors = lay.get("drug_factors", [])
            if factors:
                ds = _preallocated(pg, "drug_factors", (n, len(factors)), "f8", np.nan, "1",
                                   "Per-patient factors on drug quantities, each multiplying "
                                   "the patient's compiled value (columns: "
                                   "/patients/drug_factor_names); NaN until the patient is "
                                   "done")
                ds.dims[0].label = "patient"
                ds.dims[0].attach_scale(pds)
                ds.dims[1].label = "drug factor"
                _strings(pg, "drug_factor_names", factors,
                         "Columns of drug_factors: drug.quantity")
                _strings(pg, "drug_factor_origin", lay["drug_factor_origin"],
                         "Distribution of each column of drug_factors")

            ag = f.create_group("arms")
            ag.attrs["description"] = "One group per treatment arm, the same patients in each"
            for arm, arm_attrs in lay["arms"]:
                g = ag.create_group(arm)
                for k, v in arm_attrs.items():
                    g.attrs[k] = v
                mg = g.create_group("metrics")
                mg.attrs["description"] = ("Metrics per patient (docs/file-format.md, "
                                           "neurosim-results /metrics); NaN until done")
                for name, unit, desc in lay["metrics"]:
                    ds = _preallocated(mg, name, (n,), "f8", np.nan, unit, desc)
                    ds.dims[0].label = "patient"
                    ds.dims[0].attach_scale(pds)
                for name, dtype, fill, units, desc in (
                        ("status", "i1", -1, "1", _status_meaning()),
                        ("failed_in", "i1", 0, "1",
                         "Phase of a failure: " + ", ".join(f"{k} {p}" for k, p in
                                                            enumerate(PHASES))),
                        ("solver_steps", "i8", -1, "1",
                         "Accepted solver steps of the treated phase"),
                        ("done", "?", False, "1",
                         "True when the patient's results in this arm are written")):
                    ds = _preallocated(g, name, (n,), dtype, fill, units, desc)
                    ds.dims[0].label = "patient"
                    ds.dims[0].attach_scale(pds)
                if not summary_only:
                    tg = g.create_group("trajectories")
                    tg.attrs["description"] = "Outputs along the trajectory, (n, n_times)"
                    units = {o.name: (o.unit, o.description) for o in _outputs()}
                    for o in lay["outputs"]:
                        u, desc = units[o]
                        ds = _preallocated(tg, o, (n, t.size), "f8", np.nan, u, desc)
                        ds.dims[0].label = "patient"
                        ds.dims[0].attach_scale(pds)
                        ds.dims[1].label = "time"
                        ds.dims[1].attach_scale(tds)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        # h5py reports a failed write as OSError, or as RuntimeError when it happens
        # while HDF5 closes the file (e.g. 'unable to extend file properly')
        if isinstance(exc, (OSError, RuntimeError)):
            raise ResultsFileError(f"cannot write {target}: {_os_reason(exc)}. Nothing was "
                                   "written.") from None
        raise
    return target


def _outputs():
    from types import SimpleNamespace

    from ..model import OUTPUTS
    from ..simulation import SIDE_EFFECTS

    return list(OUTPUTS) + [SimpleNamespace(name=n, unit=u, description=d)
                            for n, u, d in SIDE_EFFECTS]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_reason(exc) -> str:
    import errno

    text = str(exc)
    err = getattr(exc, "errno", None)
    if err in (errno.ENOSPC, errno.EFBIG) or "No space" in text or "too large" in text.lower() \
            or "errno = 28" in text or "errno = 27" in text:
        return "the disk is full (or the file exceeds the size allowed)"
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or "ermission" in text \
            or "read-only" in text.lower():
        return "permission denied (read-only file or folder)"
    if "lock" in text:
        return "the file is locked (is another sweep writing it?)"
    return getattr(exc, "strerror", None) or text


# ----------------------------------------------------------------------------- reading


def read_header(path) -> dict:
    """Root attributes of a sweep file, checked (format and version).

    Raises
    ------
    ResultsFileError
        For a missing file, a file that is not HDF5, a file of another
        format, or a newer format version.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise ResultsFileError(f"{p}: no such sweep file.")
    try:
        try:
            f = h5py.File(p, "r", locking=False)
        except TypeError:  # h5py < 3.5
            f = h5py.File(p, "r")
    except OSError:
        raise ResultsFileError(f"{p}: not an HDF5 file, or damaged (it could not be "
                               "opened).") from None
    with f:
        from ..io.results import check_format

        try:
            check_format(f, p, FORMAT_NAME, FORMAT_VERSION, "sweep")
            out = {k: (_text(v) if isinstance(v, (str, bytes)) else v)
                   for k, v in f.attrs.items()}
        except ResultsFileError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise ResultsFileError(f"{p}: damaged sweep file (its attributes cannot be read: "
                                   f"{exc}).") from None
    return out


def check_resumable(path, sweep, *, summary_only: bool | None) -> dict:
    """Check, without changing it, that ``path`` holds this sweep and can be finished.

    Returns
    -------
    dict
        The header, plus ``done`` (n,) bool: rows done in every arm.

    Raises
    ------
    ResultsFileError
        A different sweep definition (hash), another neurosim version, a
        different choice of ``--summary-only``, or a damaged file.
    """
    from .. import __version__
    from .result import SweepResult

    res = SweepResult(path)          # its header and datasets checked: damage is named
    h = dict(res.header)
    if h.get("sweep_sha256") != sweep.sha256:
        raise ResultsFileError(
            f"{path} holds a different sweep: its sweep definition has SHA-256 "
            f"{str(h.get('sweep_sha256'))[:16]}..., {sweep.source} has {sweep.sha256[:16]}... "
            "(any change to the file counts, comments included). Resume with the sweep file it "
            "was started with (its text is the file's 'sweep' attribute), or write to a new "
            "file.")
    if h.get("neurosim_version") != __version__:
        raise ResultsFileError(
            f"{path} was written by neurosim {h.get('neurosim_version')}; this is {__version__}. "
            "Finishing it would mix results of two versions; finish it with that version, or "
            "start a new file.")
    file_summary = res.summary_only
    if summary_only is not None and file_summary != bool(summary_only):
        raise ResultsFileError(
            f"{path} was started {'with' if file_summary else 'without'} --summary-only; "
            f"resume it {'with' if file_summary else 'without'} it too.")
    if res.n_patients != sweep.n_patients:
        raise ResultsFileError(f"{path}: damaged sweep file (it has {res.n_patients} patients; "
                               f"the sweep has {sweep.n_patients}).")
    h["done"] = res.done()
    h["batch_rows"] = res.batch_rows
    return h


# ----------------------------------------------------------------------------- writing


class SweepStore:
    """An open sweep file being written (in place).

    Parameters
    ----------
    path : str or Path
        A file made by :func:`create_store`.
    sweep : Sweep
    """

    def __init__(self, path, sweep):
        import h5py

        self.path = Path(path)
        self.sweep = sweep
        try:
            self.f = h5py.File(self.path, "r+")
        except OSError as exc:
            raise ResultsFileError(f"cannot open {self.path} for writing: "
                                   f"{_os_reason(exc)}. The file was not changed.") from None
        if _text(self.f.attrs.get("layout", "")) != "in-place":
            self.f.close()
            raise ResultsFileError(f"{self.path} is complete and compressed; there is nothing "
                                   "left to write.")
        lay = store_layout(sweep, True)
        cols = lay["parameter_columns"]  # None: the rows are stored as given
        self._cols = None if cols is None else np.array(cols, dtype=np.int64)
        self._arms = [a for a, _ in lay["arms"]]
        self._timeline = bool(lay["patient_timeline"])
        self._genotypes = [g.name for g in lay["genotypes"]]
        self._factors = list(lay.get("drug_factors", []))

    def write_batch(self, start: int, P, G, result: dict) -> None:
        """Write one finished batch: data, flush, then its done flags, flush."""
        stop = result["stop"]
        f = self.f
        f["patients/parameters"][start:stop] = P if self._cols is None else P[:, self._cols]
        if self._timeline:
            f["patients/treatment_start"][start:stop] = result["treatment_start"]
            f["patients/presented"][start:stop] = result["presented"]
        for k, g in enumerate(self._genotypes):
            f[f"patients/genotypes/{g.replace('/', '_')}"][start:stop] = G[:, k]
        if self._factors:
            F = result["drug_factors"]
            f["patients/drug_factors"][start:stop] = np.column_stack(
                [F[name] for name in self._factors])
        for arm in self._arms:
            r = result["arms"][arm]
            g = f["arms"][arm]
            for name, values in r["metrics"].items():
                g["metrics"][name][start:stop] = values
            g["status"][start:stop] = r["status"]
            g["failed_in"][start:stop] = r["phase"]
            g["solver_steps"][start:stop] = r["steps"]
            if "trajectories" in g:
                for o, values in r["trajectories"].items():
                    g["trajectories"][o][start:stop] = values
        f.flush()
        for arm in self._arms:
            f["arms"][arm]["done"][start:stop] = True
        f.flush()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.f.flush()
        with contextlib.suppress(Exception):
            self.f.close()


# ----------------------------------------------------------------------------- repacking


def repack(path, *, info: dict | None = None, command_line: str | None = None) -> bool:
    """Rewrite a finished sweep file chunked and compressed, replacing it atomically.

    Returns
    -------
    bool
        True when rewritten; False when the disk had no room (the complete,
        uncompressed file is kept).
    """
    import h5py

    src_path = Path(path)
    folder = src_path.parent if str(src_path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{src_path.name}.tmp-")
    os.close(fd)
    try:
        with h5py.File(src_path, "r") as src, h5py.File(tmp, "w") as dst:
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            dst.attrs["layout"] = "compressed"
            dst.attrs["complete"] = np.int8(1)
            dst.attrs["completed"] = _dt.datetime.now(_dt.timezone.utc).isoformat(
                timespec="seconds")
            if command_line:
                dst.attrs["completed_by"] = command_line
            if info is not None:
                dst.attrs["info"] = json.dumps(info, default=float)
            batch = int(src.attrs.get("batch_rows", 256))
            scales = {}
            for name in ("patient", "time"):
                if name in src:
                    ds = dst.create_dataset(name, data=src[name][()])
                    for k, v in src[name].attrs.items():
                        if k not in ("CLASS", "NAME", "REFERENCE_LIST"):
                            ds.attrs[k] = v
                    ds.make_scale(name)
                    scales[name] = ds

            def copy(name, obj):
                if name in scales:
                    return
                if isinstance(obj, h5py.Group):
                    g = dst.require_group(name)
                    for k, v in obj.attrs.items():
                        g.attrs[k] = v
                    return
                _copy_dataset(obj, dst, name, scales, batch)

            src.visititems(copy)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, src_path)
        return True
    except (OSError, RuntimeError):  # no room for the compressed copy: keep the original
        with contextlib.suppress(OSError):
            os.remove(tmp)
        return False
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _copy_dataset(obj, dst, name, scales, batch):
    shape = obj.shape
    if obj.dtype.kind in "OSU":  # text
        ds = dst.create_dataset(name, data=obj[()], dtype=obj.dtype)
    else:
        if len(shape) == 1:
            chunks = (max(1, min(shape[0], 65536)),)
        else:
            rows = max(1, min(shape[0], max(batch, (1 << 20) // max(1, 8 * shape[1]))))
            chunks = (rows,) + tuple(shape[1:])
        kw = _COMPRESS if obj.size > 1 else {}
        ds = dst.create_dataset(name, shape=shape, dtype=obj.dtype,
                                chunks=chunks if obj.size > 1 else None,
                                fillvalue=obj.fillvalue, **kw)
        # bounded memory: slabs of rows of about 64 MiB
        step = max(1, (64 << 20) // max(1, obj.dtype.itemsize * math.prod(shape[1:])))
        for a in range(0, shape[0], step):
            ds[a:a + step] = obj[a:a + step]
    for k, v in obj.attrs.items():
        if k not in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME"):
            ds.attrs[k] = v
    for axis, dim in enumerate(obj.dims):
        if dim.label:
            ds.dims[axis].label = dim.label
        if len(dim):
            scale_name = dim[0].name.lstrip("/")
            if scale_name in scales:
                ds.dims[axis].attach_scale(scales[scale_name])
    return ds
