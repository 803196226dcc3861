"""The annotated parameter table of the disease model.

The table lives in ``neurosim/data/parameters.toml`` and is the single
source of truth: the compiled equations read the parameter vector by the
table's order, and documentation, ``neurosim params`` and sweep bounds are
generated from it. Patients differ only by their parameter vectors.
"""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Iterator, Mapping

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Parameter", "ParameterTable", "ParameterRangeWarning", "PARAMETERS",
    "N_MODEL_PARAMS", "PARAMETER_INDEX", "MODULES", "default_parameters",
    "make_parameters", "sample_population", "population_from_scores", "load_table",
]

#: Modules a parameter can belong to, in documentation order.
MODULES = ("tumor", "inflammation", "ngf", "nerve", "pain", "central")

_REQUIRED = ("name", "value", "unit", "range", "cv", "module", "description", "source")


class ParameterRangeWarning(UserWarning):
    """A parameter value lies outside its documented plausible range."""


@dataclass(frozen=True)
class Parameter:
    """One row of the parameter table.

    Attributes
    ----------
    name : str
        Identifier used in overrides, sweeps and the CLI.
    value : float
        Default value (the default patient), in ``unit``.
    unit : str
        Unit of ``value`` and ``range``; times in hours.
    low, high : float
        Plausible range. A value outside warns; a value below zero (or at
        zero when ``low > 0``) is an error, because it has no physical
        meaning.
    cv : float
        Between-patient coefficient of variation (lognormal, median
        ``value``); 0 means the same in every patient.
    module : str
        Model module (one of :data:`MODULES`).
    description : str
        What the parameter is.
    source : str
        Literature citation or assumption label.
    """

    name: str
    value: float
    unit: str
    low: float
    high: float
    cv: float
    module: str
    description: str
    source: str

    def _value_text(self, value: float) -> str:
        text = f"{value:g} {self.unit}" if self.unit != "1" else f"{value:g}"
        if self.unit == "h" and value >= 48.0:
            from ..units import format_duration

            text += f" ({format_duration(value)})"
        return text

    def _repr_html_(self) -> str:
        """The row as a small HTML card (value, unit, range, variability, source)."""
        import html

        rows = (("value", self._value_text(self.value)),
                ("plausible range",
                 f"{self._value_text(self.low)} to {self._value_text(self.high)}"),
                ("between-patient CV", f"{self.cv:g}" + (" (same in every patient)"
                                                         if self.cv == 0 else "")),
                ("module", self.module), ("description", self.description),
                ("source", self.source))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<div><b><code>{html.escape(self.name)}</code></b><table>{body}</table></div>"

    @property
    def strictly_positive(self) -> bool:
        """True when zero is not allowed (the range starts above zero)."""
        return self.low > 0.0

    def check(self, value: float, *, warn: bool = True) -> float:
        """Validate one value for this parameter.

        Parameters
        ----------
        value : float
            Proposed value, in ``self.unit``.
        warn : bool, optional
            Issue a :class:`ParameterRangeWarning` when the value lies outside
            the plausible range (default True).

        Returns
        -------
        float
            The value as a float.

        Raises
        ------
        NeurosimValueError
            If the value is not a finite number or has the wrong sign.
        """
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise NeurosimValueError(
                f"parameter '{self.name}' must be a number in {self.unit}; got {value!r}") from None
        if not math.isfinite(v):
            raise NeurosimValueError(f"parameter '{self.name}' must be finite; got {v}")
        if v < 0.0 or (v == 0.0 and self.strictly_positive):
            need = "> 0" if self.strictly_positive else ">= 0"
            raise NeurosimValueError(
                f"parameter '{self.name}' must be {need} ({self.unit}); got {v:g}. "
                f"Plausible range: [{self.low:g}, {self.high:g}] {self.unit}.")
        if warn and not (self.low <= v <= self.high):
            warnings.warn(
                f"parameter '{self.name}' = {v:g} {self.unit} lies outside its plausible "
                f"range [{self.low:g}, {self.high:g}] {self.unit}",
                ParameterRangeWarning, stacklevel=3)
        return v


class ParameterTable(Mapping[str, Parameter]):
    """Ordered, read-only collection of :class:`Parameter` rows.

    Behaves as a mapping from name to :class:`Parameter`; iteration follows
    the order of the parameter vector.
    """

    def __init__(self, rows: Iterable[Parameter]):
        self._rows = tuple(rows)
        self._index = {r.name: i for i, r in enumerate(self._rows)}
        if len(self._index) != len(self._rows):
            raise NeurosimValueError("duplicate parameter names in the parameter table")

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._rows[self._index[name]]
        except KeyError:
            raise NeurosimKeyError(self._unknown(name)) from None

    def __iter__(self) -> Iterator[str]:
        return (r.name for r in self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"ParameterTable({len(self)} parameters)"

    def _repr_html_(self) -> str:
        """The table as HTML: name, value, unit, range, CV, description, source."""
        import html

        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in
                       ("name", "value", "unit", "range", "cv", "module", "description",
                        "source"))
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in
                             (f"{r.name}", f"{r.value:g}", r.unit, f"{r.low:g}-{r.high:g}",
                              f"{r.cv:g}", r.module, r.description, r.source)) + "</tr>"
            for r in self._rows)
        return (f"<div>{len(self)} parameters (times in h)<table><tr>{head}</tr>{body}</table>"
                "</div>")

    def to_dataframe(self):
        """The table as a pandas DataFrame indexed by name (needs pandas).

        Returns
        -------
        pandas.DataFrame
            Columns ``value``, ``unit``, ``low``, ``high``, ``cv``, ``module``,
            ``description``, ``source``.
        """
        from ..errors import require

        pd = require("pandas", "ParameterTable.to_dataframe()")
        cols = ("value", "unit", "low", "high", "cv", "module", "description", "source")
        df = pd.DataFrame([[getattr(r, c) for c in cols] for r in self._rows],
                          columns=list(cols), index=pd.Index(self.names, name="name"))
        return df

    def _unknown(self, name) -> str:
        return (f"unknown model parameter '{name}'." + did_you_mean(name, self._index)
                + " Run 'neurosim params' to list them.")

    @property
    def rows(self) -> tuple[Parameter, ...]:
        """All rows in parameter-vector order."""
        return self._rows

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in parameter-vector order."""
        return tuple(r.name for r in self._rows)

    def index(self, name: str) -> int:
        """Position of a parameter in the parameter vector."""
        try:
            return self._index[name]
        except KeyError:
            raise NeurosimKeyError(self._unknown(name)) from None

    def values(self) -> np.ndarray:  # type: ignore[override]
        """Default values as a float64 vector (a copy)."""
        return np.array([r.value for r in self._rows], dtype=np.float64)

    def bounds(self) -> np.ndarray:
        """Plausible ranges, shape (n, 2): the sweep bounds."""
        return np.array([[r.low, r.high] for r in self._rows], dtype=np.float64)

    def select(self, *, module: str | None = None, name: str | None = None) -> list[Parameter]:
        """Rows filtered by module and by a case-insensitive name substring."""
        if module is not None and module not in MODULES:
            raise NeurosimValueError(
                f"unknown module '{module}'." + did_you_mean(module, MODULES)
                + f" Modules: {', '.join(MODULES)}.")
        out = []
        for r in self._rows:
            if module is not None and r.module != module:
                continue
            if name is not None and name.lower() not in r.name.lower():
                continue
            out.append(r)
        return out


def _row(entry: Mapping, where: str) -> Parameter:
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise NeurosimValueError(f"{where}: parameter entry lacks {', '.join(missing)}")
    lo, hi = (float(x) for x in entry["range"])
    row = Parameter(name=str(entry["name"]), value=float(entry["value"]), unit=str(entry["unit"]),
                    low=lo, high=hi, cv=float(entry["cv"]), module=str(entry["module"]),
                    description=str(entry["description"]), source=str(entry["source"]))
    if row.module not in MODULES:
        raise NeurosimValueError(f"{where}: parameter '{row.name}' has unknown module '{row.module}'")
    if not (0.0 <= lo <= row.value <= hi):
        raise NeurosimValueError(
            f"{where}: parameter '{row.name}' default {row.value} outside its range [{lo}, {hi}]")
    if row.cv < 0:
        raise NeurosimValueError(f"{where}: parameter '{row.name}' has negative cv")
    return row


def load_table(path=None) -> ParameterTable:
    """Read a parameter table from TOML.

    Parameters
    ----------
    path : str or path-like, optional
        TOML file with ``[[parameter]]`` entries; defaults to the table
        shipped in ``neurosim/data/parameters.toml``.

    Returns
    -------
    ParameterTable
    """
    if path is None:
        text = resources.files("neurosim").joinpath("data/parameters.toml").read_text("utf-8")
        where = "neurosim/data/parameters.toml"
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        where = str(path)
    data = tomllib.loads(text)
    return ParameterTable(_row(e, where) for e in data.get("parameter", []))


#: The model's parameter table (loaded once at import).
PARAMETERS: ParameterTable = load_table()

#: Number of model parameters: the model owns ``p[:N_MODEL_PARAMS]``.
N_MODEL_PARAMS: int = len(PARAMETERS)

#: Parameter name -> index in ``p``.
PARAMETER_INDEX: dict[str, int] = {name: i for i, name in enumerate(PARAMETERS)}


def _check_consistency(p: np.ndarray) -> None:
    """Constraints that involve more than one parameter."""
    v0 = p[..., PARAMETER_INDEX["tumor_volume_diagnosis"]]
    k = p[..., PARAMETER_INDEX["tumor_carrying_capacity"]]
    bad = np.asarray(k <= 2.0 * v0)
    if bad.any():
        raise NeurosimValueError(
            "tumor_carrying_capacity must exceed twice tumor_volume_diagnosis (the tumor "
            f"must be able to double); got carrying capacity {np.min(k):g} mL and diagnosis "
            f"volume {np.max(v0):g} mL")


def make_parameters(overrides: Mapping[str, float] | None = None, *, base=None,
                    warn: bool = True) -> np.ndarray:
    """Model parameter vector with validated overrides.

    Parameters
    ----------
    overrides : mapping of str to float, optional
        Parameter name -> value in the table's unit (times in hours).
    base : array_like, shape (N_MODEL_PARAMS,), optional
        Vector to start from; defaults to the table's default values.
    warn : bool, optional
        Warn (:class:`ParameterRangeWarning`) for values outside the
        plausible range.

    Returns
    -------
    ndarray, shape (N_MODEL_PARAMS,)

    Raises
    ------
    NeurosimKeyError
        For an unknown parameter name (with close matches suggested).
    NeurosimValueError
        For a negative, zero (where not allowed) or non-numeric value, or a
        base vector of the wrong length.
    """
    if base is None:
        p = PARAMETERS.values()
    else:
        p = np.array(base, dtype=np.float64)
        if p.shape != (N_MODEL_PARAMS,):
            raise NeurosimValueError(
                f"a model parameter vector has length {N_MODEL_PARAMS}; got shape {p.shape}")
    for name, value in (overrides or {}).items():
        row = PARAMETERS[name]  # raises NeurosimKeyError with suggestions
        p[PARAMETER_INDEX[name]] = row.check(value, warn=warn)
    _check_consistency(p)
    return p


def default_parameters(**overrides: float) -> np.ndarray:
    """Parameter vector of the default patient, optionally modified.

    Parameters
    ----------
    **overrides : float
        Parameter name = value, in the units of the parameter table
        (e.g. ``tumor_doubling_time=2400.0`` in h).

    Returns
    -------
    ndarray, shape (N_MODEL_PARAMS,)
        Model parameters in table order. The treatment layer appends its
        block after these.

    Examples
    --------
    >>> from neurosim.model import default_parameters, PARAMETER_INDEX
    >>> p = default_parameters(liver_inflammation=0.0)
    >>> float(p[PARAMETER_INDEX["liver_inflammation"]])
    0.0
    """
    return make_parameters(overrides)


def sample_population(n: int, *, seed=None, cv_scale: float = 1.0,
                      fixed: Mapping[str, float] | None = None) -> np.ndarray:
    """Draw a virtual population of parameter vectors.

    Each parameter is drawn independently from a lognormal distribution
    whose median is the table value and whose coefficient of variation is
    the table's ``cv`` (times ``cv_scale``), then clipped to the plausible
    range. Pairs violating cross-parameter constraints (carrying capacity
    below twice the diagnosis volume) have the carrying capacity raised.

    Parameters
    ----------
    n : int
        Number of patients.
    seed : int or numpy.random.SeedSequence, optional
        Seed; the same seed gives the same population.
    cv_scale : float, optional
        Multiplies every cv (0 gives n copies of the default patient).
    fixed : mapping of str to float, optional
        Parameters held at the given value in every patient.

    Returns
    -------
    ndarray, shape (n, N_MODEL_PARAMS)
    """
    if int(n) != n or n < 1:
        raise NeurosimValueError(f"population size must be a positive integer; got {n!r}")
    if cv_scale < 0:
        raise NeurosimValueError(f"cv_scale must be >= 0; got {cv_scale}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n), len(PARAMETERS)))
    return population_from_scores(z, cv_scale=cv_scale, fixed=fixed)


def population_from_scores(z, *, cv_scale: float = 1.0,
                           fixed: Mapping[str, float] | None = None,
                           warn: bool = True) -> np.ndarray:
    """Virtual patients from standard normal scores, one row per patient.

    The transformation behind :func:`sample_population`, for callers that
    draw the scores themselves (a sweep draws each patient's scores from
    that patient's own random stream, so that a patient does not depend on
    how the population is split into batches).

    Parameters
    ----------
    z : array_like, shape (n, N_MODEL_PARAMS)
        Standard normal scores in table order.
    cv_scale : float, optional
        Multiplies every cv.
    fixed : mapping of str to float, optional
        Parameters held at the given value in every patient.
    warn : bool, optional
        Warn for fixed values outside their plausible range.

    Returns
    -------
    ndarray, shape (n, N_MODEL_PARAMS)
        ``value * exp(sigma * z)`` with ``sigma = sqrt(log(1 + (cv *
        cv_scale)^2))``, clipped to the plausible range; fixed parameters
        set; the carrying capacity raised to at least 4 times the diagnosis
        volume.
    """
    rows = PARAMETERS.rows
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != len(rows):
        raise NeurosimValueError(f"normal scores have shape (n, {len(rows)}); got {z.shape}")
    median = np.array([r.value for r in rows])
    cv = np.array([r.cv for r in rows]) * cv_scale
    sigma = np.sqrt(np.log1p(cv ** 2))
    pop = median * np.exp(sigma * z)
    pop = np.clip(pop, [r.low for r in rows], [r.high for r in rows])
    # a zero median stays zero under a lognormal; nothing else to fix there
    if fixed:
        for name, value in fixed.items():
            pop[:, PARAMETER_INDEX[name]] = PARAMETERS[name].check(value, warn=warn)
    iv0 = PARAMETER_INDEX["tumor_volume_diagnosis"]
    ik = PARAMETER_INDEX["tumor_carrying_capacity"]
    pop[:, ik] = np.maximum(pop[:, ik], 4.0 * pop[:, iv0])
    return pop
