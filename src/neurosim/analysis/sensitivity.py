"""Global sensitivity analysis: Sobol indices and Morris screening of any metric.

Which model parameters drive an outcome such as ``pain_auc``, over their
whole plausible ranges and with every interaction? A sensitivity file is a
scenario file with a ``[sensitivity]`` section (``docs/sensitivity.md``)::

    [scenario]
    name = "untreated_6m"
    seed = 11

    [simulation]
    treatment_start = "nrs >= 4"
    duration = "6 months"
    output_interval = "1 d"

    [sensitivity]
    method = "sobol"                 # or "morris"
    N = 1024                         # Sobol base samples (Morris: trajectories = 20)
    outputs = ["pain_auc", "nrs_endpoint"]
    parameters = ["tumor_doubling_time", "nrs_s50", "cs_max"]   # table ranges

    [sensitivity.ranges]             # optional explicit ranges
    nrs_s50 = { low = 5, high = 40, distribution = "loguniform" }

The sample comes from SALib (Saltelli's extension of the Sobol sequence,
or Morris trajectories) on the unit hypercube, mapped to each parameter's
range (uniform, or log-uniform). Its rows run as a
:class:`~neurosim.sweep.samples.SampleSweep` through
:func:`neurosim.sweep.run_sweep`, so on threads, worker processes or Dask,
streamed to HDF5 and resumable; the indices (SALib's estimators, with
bootstrap confidence intervals) are then added to the same file.

Any other model plugs in as an :class:`~neurosim.sweep.samples.Evaluator`
(:func:`run_design`); :class:`IshigamiEvaluator` is the analytic test
function that checks the whole path.
"""
from __future__ import annotations

from .. import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numba
import numpy as np

from ..errors import (MissingDependencyError, NeurosimKeyError, NeurosimValueError,
                      ResultsFileError, ScenarioError, did_you_mean)
from ..sweep.samples import Evaluator, NeurosimEvaluator, SampleSweep

__all__ = ["SAParameter", "SensitivityDesign", "SensitivitySpec", "SensitivityResult",
           "load_sensitivity", "loads_sensitivity", "run_sensitivity", "run_design",
           "open_sensitivity", "IshigamiEvaluator", "ishigami", "ishigami_indices",
           "METHODS"]

#: Methods of ``[sensitivity] method``.
METHODS = ("sobol", "morris")
_KEYS = ("method", "parameters", "ranges", "N", "trajectories", "levels", "outputs", "seed",
         "second_order", "confidence", "resamples")
_RANGE_KEYS = ("low", "high", "distribution")
_RANGE_DISTRIBUTIONS = ("uniform", "loguniform")
_FORMAT = "neurosim-sensitivity"
_INDEX_WORDS = {
    "S1": "First-order Sobol index per parameter (share of the output variance)",
    "S1_conf": "Half-width of the confidence interval of S1",
    "ST": "Total-order Sobol index per parameter (alone and in every interaction)",
    "ST_conf": "Half-width of the confidence interval of ST",
    "S2": "Second-order Sobol index of each pair of parameters (upper triangle)",
    "S2_conf": "Half-width of the confidence interval of S2",
    "mu": "Mean elementary effect per full range of the parameter (Morris)",
    "mu_star": "Mean absolute elementary effect per full range of the parameter (Morris)",
    "mu_star_conf": "Half-width of the confidence interval of mu_star",
    "sigma": "Standard deviation of the elementary effects (Morris)",
}


def _salib():
    try:
        from SALib.analyze import morris as morris_analyze
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import morris as morris_sample
        from SALib.sample import sobol as sobol_sample
    except ImportError:
        raise MissingDependencyError(
            "sensitivity analysis needs the optional package 'SALib'. Install it with: "
            "pip install \"neurosim[sa]\"") from None
    return sobol_sample, sobol_analyze, morris_sample, morris_analyze


# ----------------------------------------------------------------------------- the design


@dataclass(frozen=True)
class SAParameter:
    """One input of a sensitivity analysis and its range.

    Attributes
    ----------
    name : str
    low, high : float
        The range, in ``unit``.
    distribution : str
        ``"uniform"`` or ``"loguniform"`` (uniform in the logarithm; needs
        ``low > 0``).
    unit : str
    origin : str
        Where the range comes from (``"parameter table"`` or the file).
    """

    name: str
    low: float
    high: float
    distribution: str = "uniform"
    unit: str = ""
    origin: str = "given"

    def __post_init__(self):
        if self.distribution not in _RANGE_DISTRIBUTIONS:
            raise NeurosimValueError(f"{self.name}: distribution must be one of "
                                     f"{', '.join(_RANGE_DISTRIBUTIONS)}; got "
                                     f"{self.distribution!r}.")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise NeurosimValueError(f"{self.name}: the range needs low < high (finite); got "
                                     f"[{self.low:g}, {self.high:g}].")
        if self.distribution == "loguniform" and not self.low > 0:
            raise NeurosimValueError(f"{self.name}: a log-uniform range needs low > 0; got "
                                     f"{self.low:g}.")

    def ppf(self, u) -> np.ndarray:
        """Values at the unit scores ``u`` in [0, 1]."""
        u = np.asarray(u, dtype=np.float64)
        if self.distribution == "loguniform":
            return self.low * (self.high / self.low) ** u
        return self.low + u * (self.high - self.low)

    def describe(self) -> str:
        """The input's distribution and range in words."""
        u = "" if self.unit in ("", "1") else f" {self.unit}"
        return f"{self.distribution} on [{self.low:g}, {self.high:g}]{u}"


@dataclass
class SensitivityDesign:
    """The sample and the estimator of a sensitivity analysis (model-independent).

    Parameters
    ----------
    parameters : list of SAParameter
    method : str
        ``"sobol"`` (first- and total-order indices, Saltelli sampling) or
        ``"morris"`` (elementary effects: mu*, sigma).
    n : int
        Sobol: base samples N (``N * (k + 2)`` runs, ``N * (2k + 2)`` with
        second order); Morris: trajectories (``n * (k + 1)`` runs).
    seed : int
        Seed of the sample and of the bootstrap of the confidence intervals.
    levels : int
        Morris grid levels (even; 4 by default).
    second_order : bool
        Sobol second-order indices too.
    confidence : float
        Level of the confidence intervals (0.95).
    resamples : int
        Bootstrap resamples of the confidence intervals.
    """

    parameters: list
    method: str = "sobol"
    n: int = 1024
    seed: int = 0
    levels: int = 4
    second_order: bool = False
    confidence: float = 0.95
    resamples: int = 200

    def __post_init__(self):
        if self.method not in METHODS:
            raise NeurosimValueError(f"unknown method {self.method!r}."
                                     + did_you_mean(str(self.method), METHODS)
                                     + f" Methods: {', '.join(METHODS)}.")
        if not self.parameters:
            raise NeurosimValueError("a sensitivity analysis needs at least one parameter.")
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise NeurosimValueError("a parameter is listed twice.")
        if int(self.n) < 2:
            raise NeurosimValueError(f"the sample size must be >= 2; got {self.n}.")
        if self.method == "morris" and (self.levels < 2 or self.levels % 2):
            raise NeurosimValueError(f"Morris levels must be an even number >= 2; got "
                                     f"{self.levels}.")
        if not 0 < self.confidence < 1:
            raise NeurosimValueError(f"the confidence level lies between 0 and 1; got "
                                     f"{self.confidence:g}.")

    @property
    def names(self) -> list:
        """Names of the inputs, in the order of the design's columns."""
        return [p.name for p in self.parameters]

    @property
    def n_runs(self) -> int:
        """Rows of the sample (model runs per arm)."""
        k = len(self.parameters)
        if self.method == "sobol":
            return int(self.n) * ((2 * k + 2) if self.second_order else (k + 2))
        return int(self.n) * (k + 1)

    def _problem(self) -> dict:
        return {"num_vars": len(self.parameters), "names": self.names,
                "bounds": [[0.0, 1.0]] * len(self.parameters)}

    def sample(self):
        """The sample: unit scores and parameter values.

        Returns
        -------
        U : ndarray (n_runs, k)
            Scores in [0, 1] (SALib's sample on the unit hypercube).
        X : ndarray (n_runs, k)
            Parameter values (each column through its range's quantile).
        """
        sobol_sample, _, morris_sample, _ = _salib()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SALib's power-of-2 advice: said in the spec
            if self.method == "sobol":
                U = sobol_sample.sample(self._problem(), int(self.n),
                                        calc_second_order=self.second_order, scramble=True,
                                        seed=int(self.seed))
            else:
                U = morris_sample.sample(self._problem(), int(self.n), num_levels=self.levels,
                                         seed=int(self.seed))
        U = np.clip(np.asarray(U, dtype=np.float64), 0.0, 1.0)
        X = np.column_stack([p.ppf(U[:, j]) for j, p in enumerate(self.parameters)])
        return U, X

    def analyze(self, U, Y) -> tuple:
        """Indices of one output from the sample ``U`` and the outputs ``Y``.

        Returns
        -------
        indices : dict of str -> ndarray
            Sobol: ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (and ``S2``,
            ``S2_conf`` (k, k)); Morris: ``mu``, ``mu_star``, ``sigma``,
            ``mu_star_conf``. ``*_conf`` are half-widths of the confidence
            intervals. NaN when the output cannot be analysed.
        note : str
            Why the indices are NaN (``""`` when they are not).
        """
        _, sobol_analyze, _, morris_analyze = _salib()
        Y = np.asarray(Y, dtype=np.float64)
        k = len(self.parameters)
        keys = (("S1", "S1_conf", "ST", "ST_conf") if self.method == "sobol"
                else ("mu", "mu_star", "sigma", "mu_star_conf"))
        empty = {key: np.full(k, np.nan) for key in keys}
        if self.method == "sobol" and self.second_order:
            empty.update(S2=np.full((k, k), np.nan), S2_conf=np.full((k, k), np.nan))
        bad = int((~np.isfinite(Y)).sum())
        if bad:
            return empty, (f"{bad} of {Y.size} runs have no value (failed, or undefined such "
                           "as a time never reached); indices need every run")
        if np.ptp(Y) == 0:
            return empty, f"the output is the same ({Y[0]:g}) in every run: nothing to apportion"
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if self.method == "sobol":
                r = sobol_analyze.analyze(self._problem(), Y,
                                          calc_second_order=self.second_order,
                                          num_resamples=int(self.resamples),
                                          conf_level=self.confidence, seed=int(self.seed))
            else:
                r = morris_analyze.analyze(self._problem(), U, Y,
                                           num_resamples=int(self.resamples),
                                           conf_level=self.confidence, num_levels=self.levels,
                                           seed=int(self.seed))
        out = {key: np.asarray(r[key], dtype=np.float64) for key in empty}
        return out, ""

    def to_dict(self) -> dict:
        """The design as plain data (stored in the results file)."""
        return {"method": self.method, "n": int(self.n), "seed": int(self.seed),
                "levels": int(self.levels), "second_order": bool(self.second_order),
                "confidence": float(self.confidence), "resamples": int(self.resamples),
                "parameters": [{"name": p.name, "low": p.low, "high": p.high,
                                "distribution": p.distribution, "unit": p.unit,
                                "origin": p.origin} for p in self.parameters]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "SensitivityDesign":
        """The design back from :meth:`to_dict`."""
        d = dict(d)
        d["parameters"] = [SAParameter(**p) for p in d["parameters"]]
        return cls(**d)


# ----------------------------------------------------------------------------- the file


@dataclass
class SensitivitySpec:
    """A validated sensitivity file: a scenario plus ``[sensitivity]``.

    Attributes
    ----------
    design : SensitivityDesign
    outputs : list of str
        Metric names (:data:`neurosim.simulation.METRICS`).
    name, source, text : str
    warnings : list of str
    evaluator : NeurosimEvaluator
        Runs the sample's rows through the scenario's arms.
    """

    design: SensitivityDesign
    outputs: list
    name: str
    source: str
    text: str
    evaluator: NeurosimEvaluator
    warnings: list = field(default_factory=list)

    def describe(self) -> str:
        """The analysis in words."""
        d = self.design
        size = (f"N = {d.n} base samples" if d.method == "sobol"
                else f"{d.n} trajectories, {d.levels} levels")
        lines = [f"Sensitivity analysis {self.name!r}: {d.method} ({size}), {d.n_runs} runs per "
                 f"arm, seed {d.seed}",
                 f"Arms: {', '.join(self.evaluator.arms)}",
                 f"Outputs: {', '.join(self.outputs)}", "Parameters:"]
        for p in d.parameters:
            lines.append(f"  {p.name}: {p.describe()} ({p.origin})")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


def _metric_names() -> list:
    from ..simulation import METRICS

    return [m[0] for m in METRICS]


#: Range of a drug factor when a sensitivity file gives none (log-uniform).
DRUG_FACTOR_RANGE = (0.5, 2.0)


def _drug_factor_row(name, key, err):
    """A parameter-table row for the drug factor ``drug.quantity`` (dimensionless, > 0);
    the drug itself is checked once the scenario (and its added drugs) is read."""
    from ..sweep.spec import drug_factor_row
    from ..treatments.pk import DRUG_FACTORS

    drug, q = name.rsplit(".", 1)
    if q not in DRUG_FACTORS:
        raise err(key, f"{q!r} is not a drug quantity that can vary." + did_you_mean(
            q, list(DRUG_FACTORS)) + " Quantities: " + ", ".join(DRUG_FACTORS) + ".")
    return drug_factor_row(drug, q)


def loads_sensitivity(text: str, *, source: str = "<string>") -> SensitivitySpec:
    """Read a sensitivity file from its text (see :func:`load_sensitivity`)."""
    from ..model.parameters import PARAMETERS
    from ..scenario import _Reader, _bare, _parameter_value, _parse_toml

    raw = _parse_toml(text, source)
    rd = _Reader(source)

    def err(key, msg):
        return ScenarioError(msg, file=source, key=key)

    if "sensitivity" not in raw:
        raise err(None, "is not a sensitivity file: it has no [sensitivity] section (see "
                        "docs/sensitivity.md).")
    if "sweep" in raw:
        raise err("sweep", "a sensitivity file varies the parameters of [sensitivity]; remove "
                           "the [sweep] section (or run it with 'neurosim sweep').")
    sa = raw["sensitivity"]
    rd.keys(sa, _KEYS, "sensitivity")
    warns: list = []
    if "population" in raw:
        warns.append(f"{source}: [population] is not used: the analysis varies the listed "
                     "parameters around the scenario's patient.")
    method = sa.get("method", "sobol")
    if method not in METHODS:
        raise err("sensitivity.method", f"unknown method {method!r}."
                  + did_you_mean(str(method), METHODS) + f" Methods: {', '.join(METHODS)}.")
    seed = sa.get("seed", raw.get("scenario", {}).get("seed", 0)
                  if isinstance(raw.get("scenario"), Mapping) else 0)
    seed = int(rd.number(seed, "sensitivity.seed", minimum=0, integer=True))
    if method == "sobol":
        if "trajectories" in sa or "levels" in sa:
            bad = "trajectories" if "trajectories" in sa else "levels"
            raise err(f"sensitivity.{bad}", f"'{bad}' belongs to method = \"morris\"; Sobol's "
                                            "sample size is N.")
        n = int(rd.number(sa.get("N", 1024), "sensitivity.N", minimum=2, integer=True,
                          maximum=2 ** 20))
        if n & (n - 1):
            warns.append(f"{source}: [sensitivity.N] Sobol sequences are balanced for a power "
                         f"of 2; {n} is not (e.g. {1 << (n.bit_length() - 1)} or "
                         f"{1 << n.bit_length()}).")
        levels = 4
    else:
        if "N" in sa or "second_order" in sa:
            bad = "N" if "N" in sa else "second_order"
            raise err(f"sensitivity.{bad}", f"'{bad}' belongs to method = \"sobol\"; Morris "
                                            "takes trajectories and levels.")
        n = int(rd.number(sa.get("trajectories", 20), "sensitivity.trajectories", minimum=2,
                          integer=True, maximum=1_000_000))
        levels = int(rd.number(sa.get("levels", 4), "sensitivity.levels", minimum=2,
                               integer=True))
        if levels % 2:
            raise err("sensitivity.levels", f"Morris levels must be even (4, 6, 8); got "
                                            f"{levels}.")
    second = sa.get("second_order", False)
    if not isinstance(second, bool):
        raise err("sensitivity.second_order", f"must be true or false; got {second!r}.")
    conf = float(rd.number(sa.get("confidence", 0.95), "sensitivity.confidence", minimum=0,
                           allow_zero=False))
    if not conf < 1:
        raise err("sensitivity.confidence", f"a confidence level lies between 0 and 1; got "
                                            f"{conf:g}.")
    resamples = int(rd.number(sa.get("resamples", 200), "sensitivity.resamples", minimum=10,
                              integer=True))

    # outputs
    known = _metric_names()
    outputs = sa.get("outputs", ["pain_auc"])
    if isinstance(outputs, str):
        outputs = [outputs]
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str)
                                                               for o in outputs):
        raise err("sensitivity.outputs", "give a list of metric names, e.g. outputs = "
                                         "[\"pain_auc\", \"responder_30\"].")
    for i, o in enumerate(outputs):
        if o not in known:
            raise err(f"sensitivity.outputs[{i}]", f"unknown metric {o!r}."
                      + did_you_mean(o, known) + f" Metrics: {', '.join(known)}.")
    if len(set(outputs)) != len(outputs):
        raise err("sensitivity.outputs", "a metric is listed twice.")

    # parameters and ranges
    names = sa.get("parameters")
    ranges = sa.get("ranges", {})
    if not isinstance(ranges, Mapping):
        raise err("sensitivity.ranges", "must be a table of parameter = { low = ..., high = "
                                        "... } lines.")
    if names is None:
        names = list(ranges)
    if isinstance(names, Mapping):  # [sensitivity.parameters] as a table of ranges
        ranges = {**names, **ranges}
        names = list(names)
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        raise err("sensitivity.parameters", "give the parameters to vary, e.g. parameters = "
                                            "[\"tumor_doubling_time\", \"nrs_s50\"] ('neurosim "
                                            "params' lists them).")
    if len(set(names)) != len(names):
        raise err("sensitivity.parameters", "a parameter is listed twice.")
    for k in ranges:
        if k not in names:
            raise err(f"sensitivity.ranges.{k}", f"{k!r} has a range but is not in "
                                                 "[sensitivity] parameters." +
                      did_you_mean(k, names))
    params = []
    drug_columns = []
    for i, name in enumerate(names):
        key = f"sensitivity.parameters[{i}]"
        if name not in PARAMETERS and "." in name:
            row = _drug_factor_row(name, key, err)
            drug_columns.append((i, name))
        elif name not in PARAMETERS:
            raise err(key, f"unknown model parameter {name!r}." + did_you_mean(name,
                                                                           PARAMETERS.names)
                      + " Run 'neurosim params' to list them, or name a drug factor such "
                        "as 'morphine.cl'.")
        else:
            row = PARAMETERS[name]
        spec = ranges.get(name, {})
        rkey = f"sensitivity.ranges.{name}"
        if not isinstance(spec, Mapping):
            raise err(rkey, "give a table such as { low = \"10 pg/mL\", high = \"40 pg/mL\" } "
                            "(omit it for the table's plausible range).")
        rd.keys(spec, _RANGE_KEYS, rkey)
        default = (row.low, row.high) if name in PARAMETERS else DRUG_FACTOR_RANGE
        low = (_parameter_value(row, spec["low"], f"{rkey}.low", rd) if "low" in spec
               else default[0])
        high = (_parameter_value(row, spec["high"], f"{rkey}.high", rd) if "high" in spec
                else default[1])
        origin = ("parameter table" if name in PARAMETERS else "default factor range") \
            if not ("low" in spec or "high" in spec) else source
        if not (math.isfinite(low) and math.isfinite(high)):
            raise err(rkey, "low and high must be finite.")
        if not low < high:
            unit = "" if row.unit in ("", "1") else f" {row.unit}"
            raise err(rkey, f"the range of {name} needs low < high; got [{low:g}, {high:g}]"
                            f"{unit}.")
        if low < 0 or (low == 0 and row.strictly_positive):
            need = "> 0" if row.strictly_positive else ">= 0"
            raise err(rkey, f"the range reaches {low:g} {row.unit}, but {name} must be {need} "
                            f"({row.unit}).")
        dist = spec.get("distribution")
        if dist is None:
            # the default: log-uniform over ranges spanning a decade or more
            dist = "loguniform" if low > 0 and (high / low >= 10 or name not in PARAMETERS) \
                else "uniform"
        if dist not in _RANGE_DISTRIBUTIONS:
            raise err(f"{rkey}.distribution", f"unknown distribution {dist!r}."
                      + did_you_mean(str(dist), _RANGE_DISTRIBUTIONS)
                      + f" Distributions: {', '.join(_RANGE_DISTRIBUTIONS)}.")
        if dist == "loguniform" and not low > 0:
            raise err(f"{rkey}.low", f"a log-uniform range needs low > 0; got {low:g} "
                                     f"{row.unit}. Use distribution = \"uniform\".")
        if low < row.low * (1 - 1e-12) or high > row.high * (1 + 1e-12):
            warns.append(f"{source}: [{rkey}] [{low:g}, {high:g}] {row.unit} goes beyond the "
                         f"plausible range [{row.low:g}, {row.high:g}] {row.unit}.")
        params.append(SAParameter(name=name, low=float(low), high=float(high),
                                  distribution=dist, unit=row.unit, origin=origin))
    design = SensitivityDesign(parameters=params, method=method, n=n, seed=seed, levels=levels,
                               second_order=second, confidence=conf, resamples=resamples)
    try:
        ev = NeurosimEvaluator(raw_text=text, source=source, columns=tuple(names))
    except ScenarioError as exc:
        raise ScenarioError(_bare(exc), file=source, key=exc.key) from None
    sw = ev.sweep()
    warns += list(sw.base_warnings)
    from ..sweep.spec import drug_factor_given

    for i, name in drug_columns:
        drug = name.rsplit(".", 1)[0]
        library = sw.base.library
        if drug not in library.drugs:
            raise err(f"sensitivity.parameters[{i}]",
                      f"unknown drug {drug!r} in {name!r}." + did_you_mean(drug, library.names)
                      + " A drug factor is written 'drug.quantity', e.g. 'morphine.cl'.")
        try:
            given = drug_factor_given([sw.arm_treatments(a) for a in range(len(sw.arms))],
                                      name)
        except NeurosimValueError as exc:
            raise err(f"sensitivity.parameters[{i}]", str(exc)) from None
        if not given:
            raise err(f"sensitivity.parameters[{i}]", f"no treatment of this scenario gives "
                                                      f"{drug}, so {name} changes nothing.")
    return SensitivitySpec(design=design, outputs=list(outputs), name=sw.name, source=source,
                           text=text, evaluator=ev, warnings=warns)


def load_sensitivity(path) -> SensitivitySpec:
    """Read and validate a sensitivity file (a scenario file with ``[sensitivity]``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    SensitivitySpec

    Raises
    ------
    ScenarioError
        Naming the file and key of the first problem (unknown parameter or
        metric, with close matches; impossible range; bad method or size).
    """
    from ..scenario import read_toml_text

    return loads_sensitivity(read_toml_text(path), source=str(Path(path)))


# ----------------------------------------------------------------------------- results


@dataclass
class SensitivityResult:
    """Indices of every (arm, output) of a sensitivity analysis.

    Attributes
    ----------
    design : SensitivityDesign
    arms : list of str
    outputs : list of str
    indices : dict
        ``indices[arm][output]`` -> dict of arrays (see
        :meth:`SensitivityDesign.analyze`).
    notes : dict
        ``notes[arm][output]`` -> why indices are missing (``""`` if not).
    units : dict
        Unit of each output.
    name : str
    path : Path or None
        The HDF5 file holding the runs and the indices.
    """

    design: SensitivityDesign
    arms: list
    outputs: list
    indices: dict
    notes: dict
    units: dict = field(default_factory=dict)
    name: str = ""
    path: Path | None = None

    @property
    def method(self) -> str:
        """``"sobol"`` or ``"morris"``."""
        return self.design.method

    @property
    def names(self) -> list:
        """Names of the inputs, in the order of the indices."""
        return self.design.names

    def _arm(self, arm):
        from ..sweep.result import pick_arm

        return pick_arm(arm, self.arms, "analysis")

    def get(self, output: str, arm: str | None = None) -> dict:
        """The indices of one output (dict of arrays, one entry per parameter)."""
        arm = self._arm(arm)
        if output not in self.outputs:
            raise NeurosimKeyError(f"no output {output!r} in this analysis."
                                   + did_you_mean(output, self.outputs)
                                   + f" Outputs: {', '.join(self.outputs)}.")
        return self.indices[arm][output]

    def ranking(self, output: str, arm: str | None = None) -> list:
        """Parameter names, most influential first (by ST, or by mu* for Morris)."""
        ix = self.get(output, arm)
        key = ix["ST"] if self.method == "sobol" else ix["mu_star"]
        order = np.argsort(-np.nan_to_num(key, nan=-np.inf), kind="stable")
        return [self.names[i] for i in order]

    def table(self, output: str, arm: str | None = None) -> str:
        """A ranked text table of one output's indices with their confidence intervals."""
        arm = self._arm(arm)
        ix = self.get(output, arm)
        note = self.notes[arm][output]
        pct = int(round(100 * self.design.confidence))
        unit = self.units.get(output, "")
        head = f"{output}" + (f" [{unit}]" if unit not in ("", "1") else "") + (
            f" ({arm})" if len(self.arms) > 1 else "")
        if note:
            return f"{head}: no indices: {note}."
        width = max(len(n) for n in self.names) + 2
        lines = [head]
        if self.method == "sobol":
            lines.append(f"  {'rank':>4s}  {'parameter':{width}s} {'ST':>7s} {f'±{pct}% CI':>9s}"
                         f" {'S1':>7s} {f'±{pct}% CI':>9s}")
            for r, name in enumerate(self.ranking(output, arm), 1):
                j = self.names.index(name)
                lines.append(f"  {r:4d}  {name:{width}s} {ix['ST'][j]:7.3f} "
                             f"{ix['ST_conf'][j]:9.3f} {ix['S1'][j]:7.3f} "
                             f"{ix['S1_conf'][j]:9.3f}")
            lines.append(f"  sum S1 = {np.nansum(ix['S1']):.3f} (1 - sum S1: share of variance "
                         "from interactions)")
            if "S2" in ix:
                k = len(self.names)
                pairs = [(ix["S2"][a, b], a, b) for a in range(k) for b in range(a + 1, k)
                         if np.isfinite(ix["S2"][a, b])]
                for v, a, b in sorted(pairs, reverse=True)[:5]:
                    lines.append(f"  S2 {self.names[a]} x {self.names[b]} = {v:.3f} "
                                 f"± {ix['S2_conf'][a, b]:.3f}")
        else:
            lines.append(f"  {'rank':>4s}  {'parameter':{width}s} {'mu*':>10s} "
                         f"{f'±{pct}% CI':>10s} {'sigma':>10s} {'mu':>10s}")
            for r, name in enumerate(self.ranking(output, arm), 1):
                j = self.names.index(name)
                lines.append(f"  {r:4d}  {name:{width}s} {ix['mu_star'][j]:10.4g} "
                             f"{ix['mu_star_conf'][j]:10.4g} {ix['sigma'][j]:10.4g} "
                             f"{ix['mu'][j]:10.4g}")
            lines.append("  (elementary effects per full range of each parameter, in the "
                         "output's unit)")
        return "\n".join(lines)

    def to_dataframe(self):
        """One row per arm, output and parameter (needs pandas)."""
        from ..errors import require

        pd = require("pandas", "SensitivityResult.to_dataframe()", extra="notebook")
        rows = []
        for arm in self.arms:
            for o in self.outputs:
                ix = self.indices[arm][o]
                for j, name in enumerate(self.names):
                    row = {"arm": arm, "output": o, "parameter": name}
                    row.update({k: float(v[j]) for k, v in ix.items() if v.ndim == 1})
                    rows.append(row)
        return pd.DataFrame(rows)


def _write_indices(path, result: SensitivityResult, U) -> None:
    """Add ``/sensitivity`` to a finished sweep file (a new file renamed over it)."""
    import shutil

    import h5py

    from ..io.results import atomic_write

    path = Path(path)
    with atomic_write(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            if "sensitivity" in f:
                del f["sensitivity"]
            g = f.create_group("sensitivity")
            g.attrs["format"] = _FORMAT
            g.attrs["design"] = json.dumps(result.design.to_dict())
            g.attrs["outputs"] = json.dumps(result.outputs)
            g.attrs["description"] = (
                "Sensitivity indices per arm and output (columns: the design's parameters); "
                "*_conf are half-widths of the confidence intervals")
            ds = g.create_dataset("unit_sample", data=U, compression="gzip", shuffle=True)
            ds.attrs["units"] = "1"
            ds.attrs["description"] = ("The sample on the unit hypercube (rows: /patient, "
                                       "columns: /patients/parameter_names)")
            for arm in result.arms:
                for o in result.outputs:
                    og = g.create_group(f"{arm}/{o}")
                    og.attrs["note"] = result.notes[arm][o]
                    og.attrs["units"] = result.units.get(o, "")
                    unit = result.units.get(o, "")
                    for k, v in result.indices[arm][o].items():
                        ds = og.create_dataset(k, data=v)
                        ds.attrs["units"] = unit if k.startswith(("mu", "sigma")) else "1"
                        ds.attrs["description"] = _INDEX_WORDS.get(k, k)


def open_sensitivity(path) -> SensitivityResult:
    """Read the indices stored in a ``neurosim sensitivity`` results file.

    Raises
    ------
    ResultsFileError
        A missing file, or a file without sensitivity indices.
    """
    import h5py

    from ..sweep.store import read_header

    read_header(path)  # format and version checks
    with h5py.File(path, "r") as f:
        if "sensitivity" not in f:
            raise ResultsFileError(f"{path}: holds no sensitivity indices (not written by "
                                   "'neurosim sensitivity', or the run did not finish; finish "
                                   "it with --resume).")
        g = f["sensitivity"]
        design = SensitivityDesign.from_dict(json.loads(g.attrs["design"]))
        outputs = json.loads(g.attrs["outputs"])
        arms = [a for a in g if a != "unit_sample"]
        indices, notes, units = {}, {}, {}
        for arm in arms:
            indices[arm], notes[arm] = {}, {}
            for o in outputs:
                og = g[f"{arm}/{o}"]
                indices[arm][o] = {k: og[k][()] for k in og}
                notes[arm][o] = str(og.attrs.get("note", ""))
                units[o] = str(og.attrs.get("units", ""))
        name = str(f.attrs.get("sweep_name", ""))
    return SensitivityResult(design=design, arms=arms, outputs=outputs, indices=indices,
                             notes=notes, units=units, name=name, path=Path(path))


# ----------------------------------------------------------------------------- running


def run_design(design: SensitivityDesign, evaluator: Evaluator, output, *,
               outputs: Sequence[str] | None = None, name: str = "sensitivity",
               text: str = "", source: str = "<python>", resume: bool = False,
               overwrite: bool = False, threads: int | None = None,
               workers: int | None = None, dask=None, batch_size: int | None = None,
               progress=None, command_line: str | None = None,
               on_batch=None) -> SensitivityResult:
    """Sample, evaluate every row through the sweep runner, and compute the indices.

    Parameters
    ----------
    design : SensitivityDesign
    evaluator : Evaluator
        The model (:class:`~neurosim.sweep.samples.NeurosimEvaluator` for a
        scenario, or any other :class:`~neurosim.sweep.samples.Evaluator`).
    output : str or Path
        HDF5 file of the runs (sweep layout) to which ``/sensitivity`` is
        added.
    outputs : list of str, optional
        Evaluator metrics to analyse (default: all).

    Other Parameters
    ----------------
    name, text, source : str
        Recorded in the file; ``text`` is part of the identity checked on
        resume.
    resume, overwrite, threads, workers, dask, batch_size, progress, command_line, on_batch
        As in :func:`neurosim.sweep.run_sweep`.

    Returns
    -------
    SensitivityResult
    """
    from ..sweep import run_sweep

    metric_names = [m[0] for m in evaluator.metrics]
    outputs = list(metric_names if outputs is None else outputs)
    for o in outputs:
        if o not in metric_names:
            raise NeurosimKeyError(f"unknown output {o!r}." + did_you_mean(o, metric_names)
                                   + f" Outputs: {', '.join(metric_names)}.")
    U, X = design.sample()
    origin = [f"{design.method} sample: {p.describe()} ({p.origin})" for p in design.parameters]
    sw = SampleSweep(X, design.names, evaluator, name=name, text=text, source=source,
                     seed=design.seed, units=[p.unit for p in design.parameters],
                     origin=origin)
    res = run_sweep(sw, output, resume=resume, overwrite=overwrite, threads=threads,
                    workers=workers, dask=dask, batch_size=batch_size, progress=progress,
                    command_line=command_line, on_batch=on_batch)
    units = {m[0]: m[1] for m in evaluator.metrics}
    indices, notes = {}, {}
    for arm in res.arms:
        Y = res.metrics(arm, outputs)
        indices[arm], notes[arm] = {}, {}
        for o in outputs:
            indices[arm][o], notes[arm][o] = design.analyze(U, Y[o])
    result = SensitivityResult(design=design, arms=list(res.arms), outputs=outputs,
                               indices=indices, notes=notes,
                               units={o: units[o] for o in outputs}, name=name,
                               path=Path(output))
    _write_indices(output, result, U)
    return result


def run_sensitivity(spec, output, **kwargs) -> SensitivityResult:
    """Run a sensitivity file: sample, simulate every row in every arm, compute indices.

    Parameters
    ----------
    spec : SensitivitySpec or str or Path
        A spec or a sensitivity file (:func:`load_sensitivity`).
    output : str or Path
        The HDF5 results file (``.h5``).
    **kwargs
        ``resume``, ``overwrite``, ``threads``, ``workers``, ``dask``,
        ``batch_size``, ``progress``, ``command_line``, ``on_batch``: as in
        :func:`neurosim.sweep.run_sweep`.

    Returns
    -------
    SensitivityResult

    Examples
    --------
    >>> res = run_sensitivity("scenarios/sensitivity/untreated_6m.toml",
    ...                       "sa.h5", threads=2)                   # doctest: +SKIP
    >>> print(res.table("pain_auc"))                                # doctest: +SKIP
    """
    sp = spec if isinstance(spec, SensitivitySpec) else load_sensitivity(spec)
    return run_design(sp.design, sp.evaluator, output, outputs=sp.outputs, name=sp.name,
                      text=sp.text, source=sp.source, **kwargs)


# ----------------------------------------------------------------------------- Ishigami


def ishigami(X, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """The Ishigami function ``sin x1 + a sin^2 x2 + b x3^4 sin x1`` of rows ``X`` (m, 3)."""
    X = np.asarray(X, dtype=np.float64)
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict:
    """Analytic Sobol indices of the Ishigami function on ``[-pi, pi]^3``.

    From the variance decomposition (Ishigami & Homma 1990; Saltelli et al.,
    *Global Sensitivity Analysis: The Primer*, 2008): ``V1 = (1 + b pi^4/5)^2
    / 2``, ``V2 = a^2 / 8``, ``V13 = b^2 pi^8 (1/18 - 1/50)``, ``V = V1 + V2 +
    V13``.

    Returns
    -------
    dict
        ``S1`` and ``ST`` (arrays of 3).
    """
    pi = math.pi
    v1 = 0.5 * (1 + b * pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * pi ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": np.array([v1 / v, v2 / v, 0.0]),
            "ST": np.array([(v1 + v13) / v, v2 / v, v13 / v])}


class IshigamiEvaluator(Evaluator):
    """The Ishigami test function as a sweep model (a check of the sensitivity path).

    With ``ode=True`` each row is the final value of ``dy/dt = f(x) / T``,
    ``y(0) = 0`` on ``[0, T]``, solved by
    :func:`neurosim.solver.solve_ensemble` (the ensemble solver, threads and
    all), which equals ``f(x)`` up to the solver's tolerance.

    Parameters
    ----------
    a, b : float
    ode : bool
    """

    arms = ("ishigami",)
    metrics = (("y", "1", "Ishigami function sin x1 + a sin^2 x2 + b x3^4 sin x1"),)

    def __init__(self, a: float = 7.0, b: float = 0.1, *, ode: bool = False):
        self.a, self.b, self.ode = float(a), float(b), bool(ode)

    def identity(self) -> str:
        return f"ishigami a={self.a!r} b={self.b!r} ode={self.ode}"

    def evaluate(self, start, X, *, threads):
        if not self.ode:
            return {"ishigami": {"y": ishigami(X, self.a, self.b)}}
        from ..solver import solve_ensemble

        p = np.column_stack([X, np.full(X.shape[0], self.a), np.full(X.shape[0], self.b)])
        y0 = np.zeros((X.shape[0], 1))
        res = solve_ensemble(ishigami_rhs, y0, np.array([0.0, 1.0]), p, rtol=1e-10,
                             atol=1e-12, threads=threads)
        y = res.y[:, -1, 0].copy()
        y[np.asarray(res.status) != 0] = np.nan
        return {"ishigami": {"y": y}}

    def batch_size(self, parallel: int) -> int:
        return 2048


@numba.njit(cache=True)
def ishigami_rhs(t, y, p, dydt):
    """``dy/dt = f(x)`` with ``p = (x1, x2, x3, a, b)``: ``y(1) = f(x)`` from ``y(0) = 0``."""
    s1 = math.sin(p[0])
    s2 = math.sin(p[1])
    dydt[0] = s1 + p[3] * s2 * s2 + p[4] * p[2] ** 4 * s1
