"""HDF5 results files: self-describing, compressed, written atomically.

The layout is documented in ``docs/file-format.md``; in short::

    /                      root attributes: format, format_version, neurosim_version,
                           created (UTC, ISO 8601), command_line, seed, scenario (TOML
                           text), scenario_name, liver, timeline numbers, ...
    /time                  (n_times,) h from treatment start      dimension scale
    /patient               (n_patients,) patient index             dimension scale
    /day                   (n_days,) day after treatment start     dimension scale
    /outputs/<name>        (n_patients, n_times)
    /states                (n_patients, n_times, n_states)         optional
    /state_names, /state_units
    /slots                 (n_patients, n_times, n_slots)          optional
    /slot_names
    /mme_daily             (n_patients, n_days) mg
    /patients/...          parameters, drug_factors (optional), treatment_start, presented,
                           nrs_baseline, status, status_message
    /metrics/<name>        (n_patients,)   for other tools; recomputed on reading
    /safety/...            drug, severity, message, source   (n_flags,)

Every dataset has ``units`` and ``description`` attributes. Nothing is
pickled: numbers are float64/int64 arrays, text is UTF-8 strings.

A file is written to ``<path>.tmp-XXXXXXXX`` in the target's folder and
renamed over the target only once complete and flushed, so a crash never
leaves a half-written file under the target name (at worst a stray
``.tmp-`` file, which can be deleted).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ResultsFileError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "write_results", "read_results", "atomic_write",
           "check_format"]

#: Value of the root attribute ``format``.
FORMAT_NAME = "neurosim-results"
#: Version of the layout written; readers accept versions up to this one.
FORMAT_VERSION = 1

def _status_meaning() -> str:
    from ..solver.api import Status

    codes = ", ".join(f"{int(s)} {s.name.lower()}" for s in Status)
    return f"Solver status per patient: {codes} (see status_message)"


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as
    it was (absent, or the previous complete file).

    Raises
    ------
    ResultsFileError
        If the folder does not exist or cannot be written.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ResultsFileError(f"cannot write {target}: the folder {folder} does not exist; "
                               "create it or choose another path.")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{target.name}.tmp-")
    except OSError as exc:
        raise ResultsFileError(f"cannot write {target}: {exc.strerror or exc}.") from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # data on disk before the rename makes it visible
            os.fsync(fh.fileno())
        # mkstemp makes the file private; give it the permissions of a normal new file
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _attrs(ds, units: str, description: str):
    ds.attrs["units"] = units
    ds.attrs["description"] = description


def _numeric(group, name, data, units, description, *, dims=None, scales=None):
    data = np.asarray(data)
    kw = {}
    if data.size > 0 and data.ndim > 0:
        kw = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True)
    ds = group.create_dataset(name, data=data, **kw)
    _attrs(ds, units, description)
    if dims and scales:
        for axis, label in enumerate(dims):
            ds.dims[axis].label = label
            if label in scales:
                ds.dims[axis].attach_scale(scales[label])
    return ds


def _strings(group, name, values, description):
    import h5py

    ds = group.create_dataset(name, data=np.array(list(values), dtype=object),
                              dtype=h5py.string_dtype("utf-8"))
    _attrs(ds, "", description)
    return ds


def write_results(result, path, *, command_line: str | None = None) -> Path:
    """Write a :class:`~neurosim.simulation.ScenarioResult` to HDF5, atomically.

    Parameters
    ----------
    result : ScenarioResult
    path : str or Path
        Target file (replaced if it exists).
    command_line : str, optional
        The command that produced the result (recorded as an attribute).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ResultsFileError
        If the file cannot be written.
    """
    import h5py

    from .. import __version__
    from ..model import PARAMETERS
    from ..model.states import SLOTS

    target = Path(path)
    with atomic_write(target) as tmp:
        try:
            f = h5py.File(tmp, "w")
        except OSError as exc:
            raise ResultsFileError(f"cannot write {target}: {exc}") from None
        with f:
            a = f.attrs
            a["format"] = FORMAT_NAME
            a["format_version"] = FORMAT_VERSION
            a["neurosim_version"] = __version__
            a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["command_line"] = command_line or "(Python API)"
            a["seed"] = np.int64(result.seed)
            a["scenario"] = result.scenario_text
            a["scenario_name"] = result.name
            a["scenario_description"] = result.description
            a["scenario_source"] = result.source
            a["liver"] = result.liver
            a["treatments"] = result.treatments
            a["n_patients"] = np.int64(result.n_patients)
            a["endpoint_h"] = float(result.endpoint)
            a["duration_h"] = float(result.duration)
            a["history_h"] = float(result.history)
            a["output_interval_h"] = float(result.output_interval)
            a["presentation_nrs"] = (math.nan if result.presentation_nrs is None
                                     else float(result.presentation_nrs))
            # per-patient numbers go to datasets; file metadata is recreated on reading
            info = {k: v for k, v in result.info.items()
                    if k not in ("file", "solver_steps", "created", "command_line",
                                 "file_neurosim_version")}
            a["info"] = json.dumps(info, default=float)

            n = result.n_patients
            n_days = result.mme_daily.shape[1]
            tds = _numeric(f, "time", result.t, "h",
                           "Save times, hours from treatment start (negative: untreated "
                           "history before it)")
            tds.make_scale("time")
            pds = _numeric(f, "patient", np.arange(n, dtype=np.int64), "1", "Patient index")
            pds.make_scale("patient")
            dds = _numeric(f, "day", np.arange(n_days, dtype=np.int64), "d",
                           "Day after treatment start: day k covers [24 k, 24 (k + 1)) h")
            dds.make_scale("day")
            scales = {"time": tds, "patient": pds, "day": dds}

            out = f.create_group("outputs")
            out.attrs["description"] = "Outputs along the trajectory, (n_patients, n_times)"
            for name, arr in result.data.items():
                _numeric(out, name, arr, result.units.get(name, ""),
                         result.descriptions.get(name, ""), dims=("patient", "time"),
                         scales=scales)

            _strings(f, "state_names", result.state_names, "Names of the states (last axis of "
                                                           "/states): core states then drug "
                                                           "states")
            _strings(f, "state_units", result.state_units, "Units of the states")
            if result.states is not None:
                _numeric(f, "states", result.states, "see /state_units",
                         "Full state vector along the trajectory", dims=("patient", "time",
                                                                         "state"),
                         scales=scales)
            _strings(f, "slot_names", [s.name for s in SLOTS],
                     "Names of the treatment slots (last axis of /slots)")
            if result.slots is not None:
                _numeric(f, "slots", result.slots, "1 (ngf_binder: nM)",
                         "Treatment slot values along the trajectory (1 = no effect for "
                         "multiplicative slots)", dims=("patient", "time", "slot"),
                         scales=scales)
            _numeric(f, "mme_daily", result.mme_daily, "mg",
                     "Morphine milligram equivalents given each day after treatment start",
                     dims=("patient", "day"), scales=scales)

            pg = f.create_group("patients")
            pg.attrs["description"] = "One entry per patient"
            _numeric(pg, "parameters", result.parameters, "see /patients/parameter_units",
                     "Disease-model parameters of each patient (table order)",
                     dims=("patient", "parameter"), scales=scales)
            _strings(pg, "parameter_names", PARAMETERS.names, "Parameter names (table order)")
            _strings(pg, "parameter_units", [PARAMETERS[k].unit for k in PARAMETERS.names],
                     "Parameter units")
            factors = getattr(result, "drug_factors", None) or {}
            if factors:
                _numeric(pg, "drug_factors", np.column_stack(list(factors.values())), "1",
                         "Per-patient factors on drug quantities, each multiplying the "
                         "patient's compiled value (columns: drug_factor_names)",
                         dims=("patient", "drug factor"), scales=scales)
                _strings(pg, "drug_factor_names", list(factors), "Columns of drug_factors: "
                                                                 "drug.quantity")
            _numeric(pg, "treatment_start", result.treatment_start, "h",
                     "Treatment start, hours after diagnosis", dims=("patient",), scales=scales)
            _numeric(pg, "presented", np.asarray(result.presented, dtype=np.int8), "1",
                     "1 if the presentation rule was met, 0 if treatment started at the "
                     "presentation limit", dims=("patient",), scales=scales)
            _numeric(pg, "nrs_baseline", result.nrs_baseline, "0-10",
                     "NRS at treatment start, before treatment", dims=("patient",),
                     scales=scales)
            _numeric(pg, "status", np.asarray(result.status, dtype=np.int64), "1",
                     _status_meaning(), dims=("patient",), scales=scales)
            _strings(pg, "status_message", result.status_messages,
                     "'success' or what failed and what to try")
            steps = result.info.get("solver_steps")
            if steps is not None and len(steps) == n:
                _numeric(pg, "solver_steps", np.asarray(steps, dtype=np.int64), "1",
                         "Accepted solver steps of the treated phase", dims=("patient",),
                         scales=scales)

            from ..simulation import METRICS

            mg = f.create_group("metrics")
            mg.attrs["description"] = ("Metrics per patient (docs/file-format.md); readers of "
                                       "this file in neurosim recompute them from the outputs")
            values = result.metrics()
            for name, unit, desc in METRICS:
                _numeric(mg, name, values[name], unit, desc, dims=("patient",), scales=scales)

            sg = f.create_group("safety")
            sg.attrs["description"] = "Safety flags raised by the treatments in this liver state"
            for key in ("drug", "severity", "message", "source"):
                _strings(sg, key, [str(x.get(key, "")) for x in result.safety],
                         f"Safety flag {key}")
    return target


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _str_list(ds) -> list:
    return [_text(x) for x in ds[()]]


def check_format(f, path, name: str, version: int, kind: str) -> int:
    """Check the ``format`` and ``format_version`` attributes of an open neurosim file.

    Parameters
    ----------
    f : h5py.File
    path : Path
        For the messages.
    name : str
        Expected ``format`` attribute.
    version : int
        Newest version this neurosim reads (1 is the oldest).
    kind : str
        What the file is, in the messages ("results", "sweep").

    Returns
    -------
    int
        The file's format version.

    Raises
    ------
    ResultsFileError
        Another format, a missing or damaged version, or a version this
        neurosim does not read.
    """
    fmt = _text(f.attrs.get("format", ""))
    if fmt != name:
        raise ResultsFileError(f"{path}: not a neurosim {kind} file (format attribute "
                               f"{fmt!r}, expected {name!r}).")
    try:
        ver = int(f.attrs["format_version"])
    except (KeyError, TypeError, ValueError):
        raise ResultsFileError(f"{path}: the format_version attribute is missing or not a "
                               "number; the file is damaged.") from None
    if not 1 <= ver <= version:
        raise ResultsFileError(f"{path}: {kind} format version {ver} is not supported by "
                               f"this neurosim (reads up to {version}); upgrade neurosim.")
    return ver


def open_results(path):
    """Open any neurosim results file, whichever command wrote it.

    The file's ``format`` attribute decides (``docs/file-format.md``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ScenarioResult or SweepResult
        A run's file (``neurosim run``) is read whole; a sweep's (also from
        ``dose-response`` and ``sensitivity``) opens lazily.

    Raises
    ------
    ResultsFileError
        A missing, damaged or foreign file.
    """
    import h5py

    from ..sweep import open_sweep
    from ..sweep.store import FORMAT_NAME as SWEEP_FORMAT

    p = Path(path)
    if not p.is_file():
        raise ResultsFileError(f"{p}: no such results file.")
    try:
        with h5py.File(p, "r", locking=False) as f:
            fmt = _text(f.attrs.get("format", ""))
    except (OSError, RuntimeError, KeyError, ValueError, TypeError):
        raise ResultsFileError(f"{p}: not an HDF5 file, or damaged (it could not be "
                               "opened, or its format attribute read).") from None
    if fmt == FORMAT_NAME:
        return read_results(p)
    if fmt == SWEEP_FORMAT:
        return open_sweep(p)
    raise ResultsFileError(f"{p}: not a neurosim results file (format attribute {fmt!r}; "
                           f"expected {FORMAT_NAME!r} or {SWEEP_FORMAT!r}).")


def read_results(path):
    """Read a results file written by :func:`write_results`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ScenarioResult

    Raises
    ------
    ResultsFileError
        For a missing file, a file that is not HDF5, a file of another
        format, a newer format version, or one with missing parts.
    """
    import h5py

    from ..simulation import ScenarioResult

    p = Path(path)
    if not p.is_file():
        raise ResultsFileError(f"{p}: no such results file.")
    try:
        f = h5py.File(p, "r")
    except OSError:
        raise ResultsFileError(f"{p}: not an HDF5 file, or damaged (it could not be opened); "
                               "a neurosim results file is written by 'neurosim run -o' or "
                               "ScenarioResult.to_hdf5.") from None
    with f:
        try:
            check_format(f, p, FORMAT_NAME, FORMAT_VERSION, "results")
        except (OSError, RuntimeError, KeyError, TypeError) as exc:
            raise ResultsFileError(f"{p}: damaged results file (its attributes cannot be "
                                   f"read: {exc}).") from None
        try:
            a = f.attrs
            out = f["outputs"]
            data = {k: out[k][()] for k in out}
            units = {k: _text(out[k].attrs.get("units", "")) for k in out}
            descriptions = {k: _text(out[k].attrs.get("description", "")) for k in out}
            pg = f["patients"]
            sg = f["safety"]
            safety = [dict(zip(("drug", "severity", "message", "source"), row))
                      for row in zip(*(_str_list(sg[k]) for k in ("drug", "severity",
                                                                   "message", "source")))]
            pres = float(a["presentation_nrs"])
            info = json.loads(_text(a.get("info", "{}")))
            if "solver_steps" in pg:
                info["solver_steps"] = pg["solver_steps"][()].tolist()
            info.update(file=str(p), created=_text(a["created"]),
                        command_line=_text(a["command_line"]),
                        file_neurosim_version=_text(a["neurosim_version"]))
            result = ScenarioResult(
                name=_text(a["scenario_name"]), description=_text(a["scenario_description"]),
                liver=_text(a["liver"]), scenario_text=_text(a["scenario"]),
                source=_text(a["scenario_source"]), seed=int(a["seed"]),
                t=f["time"][()], data=data, units=units, descriptions=descriptions,
                states=f["states"][()] if "states" in f else None,
                state_names=_str_list(f["state_names"]), state_units=_str_list(f["state_units"]),
                slots=f["slots"][()] if "slots" in f else None,
                parameters=pg["parameters"][()], treatment_start=pg["treatment_start"][()],
                drug_factors=({n: pg["drug_factors"][:, j] for j, n in
                               enumerate(_str_list(pg["drug_factor_names"]))}
                              if "drug_factors" in pg else {}),
                presented=pg["presented"][()].astype(bool),
                nrs_baseline=pg["nrs_baseline"][()], mme_daily=f["mme_daily"][()],
                status=pg["status"][()], status_messages=_str_list(pg["status_message"]),
                safety=safety, treatments=_text(a["treatments"]),
                endpoint=float(a["endpoint_h"]), duration=float(a["duration_h"]),
                history=float(a["history_h"]), output_interval=float(a["output_interval_h"]),
                presentation_nrs=None if math.isnan(pres) else pres, info=info)
        except (KeyError, ValueError, TypeError, OSError, RuntimeError,
                json.JSONDecodeError) as exc:
            raise ResultsFileError(f"{p}: incomplete or damaged neurosim results file "
                                   f"({exc}).") from None
    _check_run_layout(result, p)
    return result


def _check_run_layout(result, p) -> None:
    """The arrays of a run's file fit together (a damaged file fails here, by name)."""
    def bad(what):
        raise ResultsFileError(f"{p}: damaged results file ({what}).")

    t = np.asarray(result.t)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        bad("the save times 'time' are not an increasing list of finite numbers")
    n = np.asarray(result.parameters).shape[0] if np.ndim(result.parameters) == 2 else -1
    if n < 1:
        bad("'patients/parameters' is not a (patients, parameters) table")
    for name in ("nrs", "side_effect_burden", "sedation", "constipation"):  # the metrics read them
        if name not in result.data:
            bad(f"the output {name!r} is missing")
    for name, x in result.data.items():
        if np.shape(x) != (n, t.size):
            bad(f"the output {name!r} has shape {np.shape(x)}, not ({n}, {t.size})")
    for name in ("treatment_start", "nrs_baseline", "status", "presented"):
        if np.shape(getattr(result, name)) != (n,):
            bad(f"'patients/{name}' has shape {np.shape(getattr(result, name))}, not ({n},)")
    if np.ndim(result.mme_daily) != 2 or np.shape(result.mme_daily)[0] != n:
        bad(f"'mme_daily' has shape {np.shape(result.mme_daily)}, not ({n}, days)")
    if len(result.status_messages) != n:
        bad("'patients/status_message' does not have one entry per patient")
