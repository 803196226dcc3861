"""Sweep files: who the virtual patients are and which arms treat them.

A sweep file is a scenario file (``docs/scenarios.md``) with a ``[sweep]``
section. The scenario sections give the timeline, the patient settings and
(without arms) the treatments; ``[sweep]`` says how many patients, how
their parameters are drawn, and which treatment arms every one of them
receives::

    [scenario]
    name = "anti_ngf_trial"
    seed = 7

    [simulation]
    duration = "6 months"
    output_interval = "1 d"

    [sweep]
    patients = 2000
    design = "lhs"                      # random | lhs | sobol | grid
    other_parameters = "population"     # or "fixed"
    outputs = ["nrs"]                   # trajectories kept (unless --summary-only)

    [sweep.parameters]
    tumor_doubling_time = { distribution = "lognormal", median = "120 d", cv = 0.5 }
    il6_per_macrophage = { distribution = "uniform", low = "10 pg/mL", high = "40 pg/mL" }

    [[sweep.correlations]]
    parameters = ["tumor_doubling_time", "il6_per_macrophage"]
    rank = -0.3

    [[sweep.genotypes]]
    name = "CYP2D6"
    [[sweep.genotypes.categories]]
    name = "normal metabolizer"
    frequency = 0.93
    [[sweep.genotypes.categories]]
    name = "poor metabolizer"
    frequency = 0.07
    modifiers = [{ drug = "oxycodone", quantity = "pk.cl", factor = 0.8 }]

    [sweep.drugs.tanezumab]             # between-patient variability of a drug
    cl = { distribution = "lognormal", cv = 0.3 }    # factor on each patient's value

    [[sweep.arms]]
    name = "placebo"

    [[sweep.arms]]
    name = "tanezumab"
    regimens = ["tanezumab 20 mg sc q8w"]

Reproducibility
---------------
Patient ``i`` draws everything random about it from its own stream,
``numpy.random.SeedSequence(seed, spawn_key=(i,))`` (the ``i``-th child of
``SeedSequence(seed).spawn``): first one standard normal score per model
parameter (the population background), then one uniform per design
dimension (random design). Latin hypercube and Sobol designs are whole
matrices drawn from the stream ``spawn_key=(DESIGN_STREAM,)``, and their
rows are used by index. A patient's parameters therefore depend on the seed
and its index (and, for LHS, Sobol and rank correlations in them, on the
number of patients), never on batch sizes, threads or workers.
"""
from __future__ import annotations

import copy
import hashlib
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import NeurosimError, ScenarioError, did_you_mean

__all__ = ["Sweep", "Dimension", "Genotype", "Arm", "load_sweep", "loads_sweep",
           "DESIGNS", "DISTRIBUTIONS", "DESIGN_STREAM", "CORRELATION_STREAM"]

#: Designs: how the swept dimensions are covered.
DESIGNS = ("random", "lhs", "sobol", "grid")
#: Distributions a swept parameter can have.
DISTRIBUTIONS = ("lognormal", "normal", "truncated_normal", "uniform", "loguniform",
                 "categorical")
#: Spawn key of the design matrix stream (LHS, Sobol); patient streams use 0..n-1.
DESIGN_STREAM = 2 ** 63
#: Spawn key of the Iman-Conover score stream.
CORRELATION_STREAM = 2 ** 63 + 1
#: Stream of the drug factors of a scenario's population (``[population.drugs]``):
#: patient ``i`` draws from ``SeedSequence(seed, spawn_key=(DRUG_STREAM, i))``.
DRUG_STREAM = 2 ** 63 + 2

_SWEEP_KEYS = ("patients", "design", "other_parameters", "outputs", "parameters",
               "correlations", "genotypes", "drugs", "arms")
_DIST_KEYS = {
    "lognormal": ("median", "cv"),
    "normal": ("mean", "sd"),
    "truncated_normal": ("mean", "sd", "low", "high"),
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "categorical": ("values", "weights"),
}
_ARM_KEYS = ("name", "description", "regimens", "titration", "rescue", "procedures")
_OTHER = ("population", "fixed")
# how far into the tails a plain normal must stay positive: P(z < -6) ~ 1e-9
_NORMAL_SIGMAS = 6.0
#: Plausible range of a drug factor: a distribution reaching beyond it (0.1 % to 99.9 %)
#: is a warning.
FACTOR_RANGE = (0.1, 10.0)


# ----------------------------------------------------------------------------- distributions


@dataclass(frozen=True)
class Dimension:
    """One swept dimension: a model parameter or a drug factor with its distribution,
    or a genotype.

    Attributes
    ----------
    name : str
        Parameter name, the genotype's name, or ``"drug.quantity"`` for a drug
        factor (``[sweep.drugs]``).
    kind : str
        ``"parameter"``, ``"genotype"`` or ``"drug"``.
    distribution : str
        One of :data:`DISTRIBUTIONS` (a genotype is ``"categorical"``).
    args : dict
        The distribution's numbers in the parameter table's unit.
    levels : int or None
        Points of this dimension in a grid design.
    index : int
        Column of the parameter in the model parameter vector (-1 for a genotype).
    """

    name: str
    kind: str
    distribution: str
    args: dict
    levels: int | None = None
    index: int = -1

    @property
    def categorical(self) -> bool:
        return self.distribution == "categorical"

    @property
    def n_levels(self) -> int:
        """Points in a grid: every category, or ``levels``."""
        if self.categorical:
            return len(self.args["values"])
        return int(self.levels or 0)

    def ppf(self, u) -> np.ndarray:
        """Values at the uniform scores ``u`` (the inverse distribution function).

        For a categorical dimension the values are the categories' values
        (a genotype: the category index).
        """
        from scipy.special import ndtri
        from scipy.stats import truncnorm

        u = np.asarray(u, dtype=np.float64)
        a = self.args
        d = self.distribution
        if d == "lognormal":
            sigma = math.sqrt(math.log1p(a["cv"] ** 2))
            return a["median"] * np.exp(sigma * ndtri(u))
        if d == "normal":
            return a["mean"] + a["sd"] * ndtri(u)
        if d == "truncated_normal":
            lo = (a["low"] - a["mean"]) / a["sd"]
            hi = (a["high"] - a["mean"]) / a["sd"]
            return truncnorm.ppf(u, lo, hi, loc=a["mean"], scale=a["sd"])
        if d == "uniform":
            return a["low"] + u * (a["high"] - a["low"])
        if d == "loguniform":
            return a["low"] * (a["high"] / a["low"]) ** u
        return np.asarray(a["values"], dtype=np.float64)[self.category(u)]

    def category(self, u) -> np.ndarray:
        """Category index at the uniform scores ``u`` (categorical dimensions)."""
        w = np.asarray(self.args["weights"], dtype=np.float64)
        cum = np.cumsum(w) / w.sum()
        cum[-1] = 1.0
        return np.minimum(np.searchsorted(cum, np.asarray(u), side="right"), w.size - 1)

    def level(self, j) -> np.ndarray:
        """The value of grid point ``j``: category ``j``, or the median of stratum ``j``
        of ``levels`` equal-probability strata."""
        j = np.asarray(j)
        if self.categorical:
            vals = np.asarray(self.args["values"], dtype=np.float64)
            return vals[j] if self.kind != "genotype" else j.astype(np.float64)
        return self.ppf((j + 0.5) / self.n_levels)

    def describe(self) -> str:
        a = self.args
        d = self.distribution
        if self.kind == "genotype":
            cats = ", ".join(f"{c} {w:.3g}" for c, w in zip(a["labels"], _norm(a["weights"])))
            return f"genotype {self.name}: {cats}"
        from ..model.parameters import PARAMETERS

        unit = PARAMETERS[self.name].unit if self.kind == "parameter" else "1"
        u = "" if unit in ("1", "") else f" {unit}"
        if d == "lognormal":
            text = f"lognormal, median {a['median']:g}{u}, cv {a['cv']:g}"
        elif d == "normal":
            text = f"normal, mean {a['mean']:g}{u}, sd {a['sd']:g}{u}"
        elif d == "truncated_normal":
            text = (f"normal, mean {a['mean']:g}{u}, sd {a['sd']:g}{u}, truncated to "
                    f"[{a['low']:g}, {a['high']:g}]{u}")
        elif d in ("uniform", "loguniform"):
            text = f"{d} on [{a['low']:g}, {a['high']:g}]{u}"
        else:
            text = "categorical: " + ", ".join(
                f"{v:g}{u} ({w:.3g})" for v, w in zip(a["values"], _norm(a["weights"])))
        if self.levels:
            text += f"; {self.levels} grid levels"
        if self.kind == "drug":
            return f"{self.name} (factor on the patient's value): {text}"
        return f"{self.name}: {text}"


def _norm(w):
    w = np.asarray(w, dtype=float)
    return w / w.sum()


@dataclass(frozen=True)
class Genotype:
    """A genotype (or phenotype) with its categories, frequencies and effects.

    Attributes
    ----------
    name : str
    labels : tuple of str
        Category names.
    frequencies : tuple of float
        Population frequencies (normalised to sum 1).
    modifiers : tuple of tuple of dict
        Per category, the modifiers it applies (the form of
        ``[[patient.modifiers]]``).
    """

    name: str
    labels: tuple
    frequencies: tuple
    modifiers: tuple

    def parameter_factors(self, category: int) -> list:
        """``(parameter, factor)`` pairs of a category's model-parameter modifiers."""
        return [(m["parameter"], float(m["factor"])) for m in self.modifiers[category]
                if "parameter" in m]

    def drug_modifiers(self, category: int) -> list:
        """A category's modifiers of drug-library quantities."""
        return [m for m in self.modifiers[category] if "parameter" not in m]


@dataclass
class Arm:
    """A treatment arm: the same patients under other treatments.

    Attributes
    ----------
    name, description : str
    treatments : dict
        The arm's ``[treatments]`` table.
    """

    name: str
    description: str
    treatments: dict
    _scenarios: dict = field(default_factory=dict, repr=False)
    _compiled: object = field(default=None, repr=False)


# ----------------------------------------------------------------------------- the sweep


class Sweep:
    """A validated sweep file.

    Build it with :func:`load_sweep` (a file) or :func:`loads_sweep` (text).

    Attributes
    ----------
    name, description : str
    text : str
        The sweep file's text, as read.
    sha256 : str
        SHA-256 of ``text`` (UTF-8): identifies the sweep in its results
        file; ``--resume`` requires the same.
    source : str
        The file it came from.
    seed : int
        ``[scenario] seed``.
    n_patients : int
    design : str
        One of :data:`DESIGNS`.
    other_parameters : str
        ``"population"`` (parameters not swept are drawn from the virtual
        population, lognormal around their table value with its CV) or
        ``"fixed"`` (held at the patient's value).
    dimensions : list of Dimension
        Swept parameters, then genotypes, then drug factors, in file order.
    genotypes : list of Genotype
    correlation : ndarray (d, d) or None
        Target rank (Spearman) correlation between the dimensions.
    arms : list of Arm
    outputs : list of str
        Trajectories kept unless the run is summary-only.
    base : Scenario
        The scenario part (timeline, patient, library).
    warnings : list of str
    """

    def __init__(self, raw: Mapping, *, text: str, source: str):
        self.text = text
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.source = source
        self.warnings: list[str] = []
        self._design_cache: dict = {}
        self._read(copy.deepcopy(dict(raw)))

    # -- reading ----------------------------------------------------------------------

    def _err(self, key, message) -> ScenarioError:
        return ScenarioError(message, file=self.source, key=key)

    def _read(self, raw: dict):
        from ..scenario import SECTIONS, Scenario, _Reader

        rd = _Reader(self.source)
        if "sweep" not in raw:
            raise self._err(None, "is not a sweep file: it has no [sweep] section (a scenario "
                                  "file runs with 'neurosim run').")
        sweep = raw.pop("sweep")
        rd.keys(sweep, _SWEEP_KEYS, "sweep")
        for key in raw:   # a sweep key written at the top level: [[arms]] for [[sweep.arms]]
            if key not in SECTIONS and key in _SWEEP_KEYS:
                where = (f"[[sweep.{key}]] tables" if key in ("arms", "correlations", "genotypes")
                         else f"a [sweep.{key}] table" if key == "parameters"
                         else f"'{key} = ...' under [sweep]")
                raise self._err(key, f"unknown section {key!r}: in a sweep file it belongs to "
                                     f"the sweep, as {where}.")
        self.design = sweep.get("design", "random")
        if self.design not in DESIGNS:
            raise self._err("sweep.design", f"unknown design {self.design!r}."
                            + did_you_mean(str(self.design), DESIGNS)
                            + f" Designs: {', '.join(DESIGNS)}.")
        arms_raw = sweep.get("arms")
        if arms_raw is not None and "treatments" in raw:
            raise self._err("treatments", "a sweep with [[sweep.arms]] gives each arm its own "
                                          "treatments; move [treatments] into the arms.")
        pop = raw.get("population")
        if isinstance(pop, Mapping) and "drugs" in pop:
            raise self._err("population.drugs", "in a sweep file the drug factors are "
                                                "[sweep.drugs.<drug>] tables (the same "
                                                "content); move them there.")
        if isinstance(pop, Mapping) and "correlations" in pop:
            raise self._err("population.correlations", "in a sweep file correlations are "
                                                       "[[sweep.correlations]] tables (the same "
                                                       "content); move them there.")
        self._raw_base = raw
        # the scenario part, validated as a scenario (its own errors, its own keys)
        self.base = Scenario.from_dict(raw, source=self.source, text=None)
        self.base_warnings = list(self.base.warnings)
        self.warnings += self.base_warnings
        self.name = self.base.name
        self.description = self.base.description
        self.seed = self.base.seed
        self.cv_scale = self.base.cv_scale

        self.other_parameters = sweep.get("other_parameters", "population")
        if self.other_parameters not in _OTHER:
            raise self._err("sweep.other_parameters",
                            f"must be 'population' (drawn from the virtual population) or "
                            f"'fixed' (the patient's values); got {self.other_parameters!r}.")
        params = sweep.get("parameters", {})
        if not isinstance(params, Mapping):
            raise self._err("sweep.parameters", "must be a table of parameter = { distribution "
                                                "= ..., ... } lines.")
        self.dimensions = [self._read_dimension(name, spec, rd)
                           for name, spec in params.items()]
        gens = sweep.get("genotypes", [])
        if not isinstance(gens, list):
            raise self._err("sweep.genotypes", "must be a list of tables ([[sweep.genotypes]]).")
        self.genotypes = [self._read_genotype(i, g, rd) for i, g in enumerate(gens)]
        names = [g.name for g in self.genotypes]
        if len(set(names)) != len(names):
            raise self._err("sweep.genotypes", "two genotypes have the same name.")
        for g in self.genotypes:
            self.dimensions.append(Dimension(
                name=g.name, kind="genotype", distribution="categorical",
                args={"values": list(range(len(g.labels))), "weights": list(g.frequencies),
                      "labels": list(g.labels)}))
        self.dimensions += self._read_drug_dimensions(sweep.get("drugs", {}), rd)
        self.n_patients = self._read_size(sweep, raw)
        self.correlation = self._read_correlations(sweep.get("correlations", []), rd)
        self.outputs = self._read_outputs(sweep.get("outputs", ["nrs"]))
        self._explicit_arms = arms_raw is not None
        self.arms = self._read_arms(arms_raw, raw)
        self._drug_genotypes = [k for k, g in enumerate(self.genotypes)
                                if any(g.drug_modifiers(c) for c in range(len(g.labels)))]
        # every arm and genotype combination must compile (checked once, here)
        for a in range(len(self.arms)):
            for key in self._genotype_keys():
                self.arm_scenario(a, key)
        self._check_drug_dimensions()
        if self.design == "sobol" and self.n_patients & (self.n_patients - 1):
            self.warnings.append(
                f"{self.source}: [sweep.patients] a Sobol design is balanced for a power of 2 "
                f"patients; {self.n_patients} is not (e.g. {1 << self.n_patients.bit_length()}"
                f" or {1 << (self.n_patients.bit_length() - 1)}).")

    def _read_dimension(self, name, spec, rd, *, key=None, row=None) -> Dimension:
        """A model parameter's distribution, or (``row`` given) a drug factor's."""
        dim, warns = read_distribution(
            name, spec, rd, key=key or f"sweep.parameters.{name}", row=row, design=self.design,
            default_median=self.base.parameter_overrides.get(name))
        self.warnings += warns
        return dim

    def _read_drug_dimensions(self, table, rd) -> list:
        """``[sweep.drugs.<drug>]``: distributions of per-patient factors on drug quantities."""
        dims, warns = read_drug_dimensions(table, rd, key="sweep.drugs",
                                           library=self.base.library, design=self.design)
        self.warnings += warns
        return dims

    def _check_drug_dimensions(self):
        """Each drug factor: a drug some arm gives, with that quantity."""
        compiled = [self.arm_treatments(a) for a in range(len(self.arms))]
        for d in self.drug_dimensions:
            drug = d.name.rsplit(".", 1)[0]
            try:
                given = drug_factor_given(compiled, d.name)
            except NeurosimError as exc:
                raise self._err(f"sweep.drugs.{d.name}", str(exc)) from None
            if not given:
                raise self._err(f"sweep.drugs.{drug}", f"no arm gives {drug}; remove "
                                                       f"[sweep.drugs.{drug}] or add a regimen.")

    def arm_treatments(self, arm: int):
        """The compiled treatments of one arm (no genotype modifiers; cached)."""
        from ..model.parameters import N_MODEL_PARAMS
        from ..model.states import N_CORE

        a = self.arms[arm]
        if a._compiled is None:
            sc = self.arm_scenario(arm)
            a._compiled = sc.plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS,
                                          t_end=sc.duration)
        return a._compiled

    def _read_genotype(self, i, g, rd) -> Genotype:
        key = f"sweep.genotypes[{i}]"
        rd.keys(g, ("name", "categories"), key)
        name = rd.text(g, "name", f"{key}.name", "")
        if not name:
            raise self._err(f"{key}.name", "a genotype needs a name.")
        cats = g.get("categories")
        if not isinstance(cats, list) or len(cats) < 2:
            raise self._err(f"{key}.categories", "give at least two categories "
                                                 "([[sweep.genotypes.categories]] with name, "
                                                 "frequency and modifiers).")
        labels, freqs, mods = [], [], []
        for j, c in enumerate(cats):
            ck = f"{key}.categories[{j}]"
            rd.keys(c, ("name", "frequency", "modifiers"), ck)
            labels.append(rd.text(c, "name", f"{ck}.name", f"category {j}"))
            if "frequency" not in c:
                raise self._err(ck, "a category needs its population 'frequency' (e.g. 0.07).")
            freqs.append(float(rd.number(c["frequency"], f"{ck}.frequency", minimum=0.0)))
            ms = c.get("modifiers", [])
            if not isinstance(ms, list):
                raise self._err(f"{ck}.modifiers", "must be a list of tables such as "
                                                   "{ parameter = \"il6_per_macrophage\", "
                                                   "factor = 1.5 }.")
            for k, m in enumerate(ms):
                rd.keys(m, ("parameter", "drug", "quantity", "factor"), f"{ck}.modifiers[{k}]")
            mods.append(tuple(dict(m) for m in ms))
        if len(set(labels)) != len(labels):
            raise self._err(f"{key}.categories", "two categories have the same name.")
        if not sum(freqs) > 0:
            raise self._err(f"{key}.categories", "the frequencies must not all be zero.")
        total = sum(freqs)
        if abs(total - 1.0) > 1e-6:
            self.warnings.append(f"{self.source}: [{key}] the frequencies add up to {total:g}; "
                                 "they are used as relative weights.")
        geno = Genotype(name=name, labels=tuple(labels), frequencies=tuple(freqs),
                        modifiers=tuple(mods))
        # validate the modifiers with the scenario machinery (unknown parameters,
        # drugs, quantities, factors), naming the sweep keys
        from ..scenario import Scenario

        for j in range(len(labels)):
            if not mods[j]:
                continue
            raw = copy.deepcopy(self._raw_base)
            pat = raw.setdefault("patient", {})
            pat["modifiers"] = list(pat.get("modifiers", [])) + [
                dict(m, name=f"{name}: {labels[j]}") for m in mods[j]]
            try:
                Scenario.from_dict(raw, source=self.source)
            except ScenarioError as exc:
                msg = _strip(exc, self.source)
                raise self._err(f"{key}.categories[{j}].modifiers", msg) from None
        return geno

    def _read_size(self, sweep, raw) -> int:
        from ..scenario import MAX_PATIENTS, _Reader

        rd = _Reader(self.source)
        pop_size = raw.get("population", {}).get("size") if isinstance(
            raw.get("population"), Mapping) else None
        grid = 1
        if self.design == "grid":
            if not self.dimensions:
                raise self._err("sweep.design", "a grid needs at least one swept parameter or "
                                                "genotype.")
            grid = int(np.prod([d.n_levels for d in self.dimensions], dtype=np.int64))
        if "patients" in sweep:
            n = int(rd.number(sweep["patients"], "sweep.patients", minimum=1, integer=True))
            if pop_size is not None and pop_size != n:
                raise self._err("sweep.patients", f"[population] size ({pop_size}) and "
                                                  f"[sweep] patients ({n}) differ; keep one.")
        elif pop_size is not None:
            n = self.base.population_size
        elif self.design == "grid":
            n = grid
        else:
            raise self._err("sweep", "give the number of virtual patients: patients = 1000.")
        if self.design == "grid" and n % grid:
            raise self._err("sweep.patients", f"a grid of {grid} points needs a multiple of "
                                              f"{grid} patients (each point repeated); got {n}.")
        if n > MAX_PATIENTS:
            raise self._err("sweep.patients", f"{n:,} patients: at most {MAX_PATIENTS:,} fit "
                                              "one sweep file; split the study into several "
                                              "sweeps with different seeds.")
        return n

    def _read_correlations(self, items, rd):
        if isinstance(items, list) and items and self.design == "grid":
            raise self._err("sweep.correlations", "a grid covers every combination; rank "
                                                  "correlations need design = random, lhs or "
                                                  "sobol.")
        index = {dim.name: j for j, dim in enumerate(self.dimensions) if dim.kind != "genotype"}
        return read_rank_correlations(items, index, len(self.dimensions), rd,
                                      key="sweep.correlations",
                                      what="a parameter swept in [sweep.parameters] or a drug "
                                           "factor of [sweep.drugs]")

    def _read_outputs(self, outputs):
        from ..model import OUTPUTS
        from ..simulation import SIDE_EFFECTS

        known = [o.name for o in OUTPUTS] + [s[0] for s in SIDE_EFFECTS]
        if outputs == "all":
            return known
        if isinstance(outputs, str):
            outputs = [outputs]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise self._err("sweep.outputs", "give a list of output names (e.g. [\"nrs\"]) or "
                                             "\"all\".")
        for i, o in enumerate(outputs):
            if o not in known:
                raise self._err(f"sweep.outputs[{i}]", f"unknown output {o!r}."
                                + did_you_mean(o, known) + f" Outputs: {', '.join(known)}.")
        if len(set(outputs)) != len(outputs):
            raise self._err("sweep.outputs", "an output is listed twice.")
        return list(outputs)

    def _read_arms(self, arms_raw, raw) -> list:
        from .._cli_common import safe_name

        if arms_raw is None:
            tab = raw.get("treatments", {})
            tab = {k: v for k, v in tab.items() if k != "library"} if isinstance(
                tab, Mapping) else {}
            return [Arm(name=safe_name(self.name), description=self.description,
                        treatments=copy.deepcopy(tab))]
        if not isinstance(arms_raw, list) or not arms_raw:
            raise self._err("sweep.arms", "must be a non-empty list of tables ([[sweep.arms]] "
                                          "with a name and treatments).")
        from ..scenario import _Reader

        rd = _Reader(self.source)
        arms = []
        for i, a in enumerate(arms_raw):
            key = f"sweep.arms[{i}]"
            rd.keys(a, _ARM_KEYS, key)
            name = rd.text(a, "name", f"{key}.name", "")
            if not name or safe_name(name) != name or name in (".", ".."):
                raise self._err(f"{key}.name", f"an arm needs a name of letters, digits, '-', "
                                               f"'_' and '.'; got {name!r}.")
            if name in [x.name for x in arms]:
                raise self._err(f"{key}.name", f"two arms are named {name!r}.")
            tab = {k: copy.deepcopy(v) for k, v in a.items() if k not in ("name",
                                                                          "description")}
            arms.append(Arm(name=name, description=rd.text(a, "description",
                                                           f"{key}.description"),
                            treatments=tab))
        return arms

    # -- scenarios of arms -------------------------------------------------------------

    def _genotype_keys(self):
        """Every combination of categories of the genotypes that change drugs."""
        import itertools

        ranges = [range(len(self.genotypes[k].labels)) for k in self._drug_genotypes]
        return list(itertools.product(*ranges))

    def arm_scenario(self, arm: int, key: tuple = ()):
        """The scenario of one arm for one combination of drug genotypes (cached).

        Parameters
        ----------
        arm : int
            Index into :attr:`arms`.
        key : tuple of int
            Category of each genotype that modifies drugs (in order); ``()``
            when none does.
        """
        from ..scenario import Scenario

        a = self.arms[arm]
        if key in a._scenarios:
            return a._scenarios[key]
        raw = copy.deepcopy(self._raw_base)
        raw["treatments"] = copy.deepcopy(a.treatments)
        if isinstance(self._raw_base.get("treatments"), Mapping) and \
                "library" in self._raw_base["treatments"]:
            raw["treatments"]["library"] = copy.deepcopy(self._raw_base["treatments"]["library"])
        raw.setdefault("simulation", {})["save_states"] = False
        raw.setdefault("scenario", {})["name"] = a.name
        if a.description:
            raw["scenario"]["description"] = a.description
        extra = []
        for k, c in zip(self._drug_genotypes, key):
            g = self.genotypes[k]
            extra += [dict(m, name=f"{g.name}: {g.labels[c]}") for m in g.drug_modifiers(c)]
        if extra:
            pat = raw.setdefault("patient", {})
            pat["modifiers"] = list(pat.get("modifiers", [])) + extra
        try:
            sc = Scenario.from_dict(raw, source=self.source)
        except ScenarioError as exc:
            k = exc.key or "treatments"
            if self._explicit_arms and k.startswith("treatments"):
                k = f"sweep.arms[{arm}]" + k[len("treatments"):]
            raise self._err(k, _strip(exc, self.source)) from None
        a._scenarios[key] = sc
        return sc

    # -- patients ---------------------------------------------------------------------

    @property
    def parameter_dimensions(self) -> list:
        """The swept dimensions that are model parameters (not drug factors or genotypes)."""
        return [d for d in self.dimensions if d.kind == "parameter"]

    @property
    def drug_dimensions(self) -> list:
        """The drug factors of ``[sweep.drugs]`` (names ``"drug.quantity"``)."""
        return [d for d in self.dimensions if d.kind == "drug"]

    @property
    def varied(self) -> list:
        """Names of the model parameters that can differ between patients (table order)."""
        from ..model.parameters import PARAMETERS

        names = {d.name for d in self.parameter_dimensions}
        if self.other_parameters == "population" and self.cv_scale > 0:
            names |= {r.name for r in PARAMETERS.rows
                      if r.cv > 0 and r.name not in self.base.parameter_overrides}
        for g in self.genotypes:
            for c in range(len(g.labels)):
                names |= {p for p, _ in g.parameter_factors(c)}
        if names & {"tumor_volume_diagnosis", "tumor_carrying_capacity"}:
            names |= {"tumor_volume_diagnosis", "tumor_carrying_capacity"}
        return [n for n in PARAMETERS.names if n in names]

    @property
    def grid_size(self) -> int:
        """Patients of one full grid (the product of the levels); 0 unless the design is a grid."""
        if self.design != "grid":
            return 0
        return int(np.prod([d.n_levels for d in self.dimensions], dtype=np.int64))

    def _streams(self, start, stop):
        """Normal scores (population background) and design uniforms of rows [start, stop)."""
        from ..model.parameters import N_MODEL_PARAMS

        m = stop - start
        d = len(self.dimensions)
        z = np.empty((m, N_MODEL_PARAMS))
        u = np.empty((m, d))
        for r in range(m):
            ss = np.random.SeedSequence(self.seed, spawn_key=(start + r,))
            rng = np.random.Generator(np.random.PCG64(ss))
            z[r] = rng.standard_normal(N_MODEL_PARAMS)
            u[r] = rng.random(d)
        # a uniform of exactly 0 would map to -inf under the normal quantile
        np.maximum(u, 2.0 ** -54, out=u)
        return z, u

    def _design_matrix(self, start, stop, u_random):
        """Uniform scores (m, d) of the design for rows [start, stop)."""
        d = len(self.dimensions)
        if d == 0:
            return np.empty((stop - start, 0))
        if self.design == "random":
            u = u_random
            if self.correlation is not None:
                u = self._copula(u)
            return u
        if self.design == "sobol" and self.correlation is None:
            eng = _qmc_engine("sobol", d, self._design_seed())
            if start:
                eng.fast_forward(start)
            with warnings.catch_warnings():  # balance: said once, in Sweep.warnings
                warnings.simplefilter("ignore", UserWarning)
                return eng.random(stop - start)
        if "matrix" not in self._design_cache:
            eng = _qmc_engine(self.design, d, self._design_seed())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                U = eng.random(self.n_patients)
            if self.correlation is not None:
                U = iman_conover(U, self.correlation, np.random.default_rng(
                    np.random.SeedSequence(self.seed, spawn_key=(CORRELATION_STREAM,))))
            self._design_cache["matrix"] = U
        return self._design_cache["matrix"][start:stop]

    def _design_seed(self):
        return np.random.default_rng(np.random.SeedSequence(self.seed,
                                                            spawn_key=(DESIGN_STREAM,)))

    def _copula(self, u):
        """Gaussian copula on the correlated dimensions (random design)."""
        return gaussian_copula(u, self.correlation)

    def patients(self, start: int, stop: int):
        """Model parameters and genotypes of patients ``start`` to ``stop - 1``.

        Parameters
        ----------
        start, stop : int
            Row range, ``0 <= start < stop <= n_patients``.

        Returns
        -------
        P : ndarray (stop - start, N_MODEL_PARAMS)
            Model parameters (table units).
        G : ndarray of int8 (stop - start, n_genotypes)
            Category index of each genotype.
        """
        P, G, _ = self._sample(start, stop)
        return P, G

    def drug_factors(self, start: int, stop: int) -> dict:
        """Drug factors of patients ``start`` to ``stop - 1``: ``"drug.quantity"`` ->
        (stop - start,) array (empty without ``[sweep.drugs]``)."""
        if not self.drug_dimensions:
            return {}
        return self._sample(start, stop)[2]

    def _sample(self, start: int, stop: int):
        from ..model.parameters import (PARAMETER_INDEX, make_parameters,
                                        population_from_scores)

        if not 0 <= start < stop <= self.n_patients:
            raise ValueError(f"rows {start}..{stop} outside 0..{self.n_patients}")
        m = stop - start
        z, u_random = self._streams(start, stop)
        overrides = self.base.parameter_overrides
        if self.other_parameters == "population":
            P = population_from_scores(z, cv_scale=self.cv_scale, fixed=overrides or None,
                                       warn=False)
        else:
            P = np.repeat(make_parameters(overrides, warn=False)[None, :], m, axis=0)
        G = np.zeros((m, len(self.genotypes)), dtype=np.int8)
        if self.design == "grid":
            point = np.arange(start, stop) % self.grid_size
            idx = np.unravel_index(point, [d.n_levels for d in self.dimensions])
            values = [d.level(j) for d, j in zip(self.dimensions, idx)]
            cats = [np.asarray(j) for j in idx]
        else:
            U = self._design_matrix(start, stop, u_random)
            values = [d.ppf(U[:, j]) for j, d in enumerate(self.dimensions)]
            cats = [d.category(U[:, j]) if d.categorical else None
                    for j, d in enumerate(self.dimensions)]
        g = 0
        F = {}
        for j, d in enumerate(self.dimensions):
            if d.kind == "parameter":
                P[:, d.index] = values[j]
            elif d.kind == "drug":
                F[d.name] = np.asarray(values[j], dtype=np.float64).copy()
            else:
                G[:, g] = cats[j]
                g += 1
        iv0 = PARAMETER_INDEX["tumor_volume_diagnosis"]
        ik = PARAMETER_INDEX["tumor_carrying_capacity"]
        P[:, ik] = np.maximum(P[:, ik], 4.0 * P[:, iv0])
        for mod in self.base.modifiers:
            if mod.parameter is not None:
                P[:, PARAMETER_INDEX[mod.parameter]] *= mod.factor
        for k, geno in enumerate(self.genotypes):
            for c in range(len(geno.labels)):
                rows = G[:, k] == c
                for name, factor in geno.parameter_factors(c):
                    P[rows, PARAMETER_INDEX[name]] *= factor
        return np.ascontiguousarray(P), G, F

    def drug_key(self, G) -> list:
        """Per patient, the category of each drug-modifying genotype (the scenario key)."""
        return [tuple(int(G[r, k]) for k in self._drug_genotypes) for r in range(G.shape[0])]

    # -- words ------------------------------------------------------------------------

    def describe(self) -> str:
        """The sweep in words."""
        lines = [f"Sweep {self.name!r}" + (f": {self.description}" if self.description else ""),
                 f"Patients: {self.n_patients}, seed {self.seed}, design {self.design}"
                 + (f" ({self.grid_size} grid points)" if self.design == "grid" else ""),
                 "Other parameters: " + ("drawn from the virtual population (table CVs"
                                         + (f" x {self.cv_scale:g}" if self.cv_scale != 1
                                            else "") + ")"
                                         if self.other_parameters == "population"
                                         else "fixed at the patient's values")]
        for d in self.dimensions:
            lines.append(f"  {d.describe()}")
        if self.correlation is not None:
            C = self.correlation
            for a in range(C.shape[0]):
                for b in range(a + 1, C.shape[0]):
                    if C[a, b]:
                        lines.append(f"  rank correlation {self.dimensions[a].name} ~ "
                                     f"{self.dimensions[b].name}: {C[a, b]:g}")
        from ..units import format_duration

        sc = self.base
        lines.append(f"Treatment starts: {sc.start_label}; simulated for "
                     f"{format_duration(sc.duration)} after it, output every "
                     f"{format_duration(sc.output_interval)}, metrics to "
                     f"{format_duration(sc.endpoint)}, rtol {sc.rtol:g}")
        lines.append(f"Arms ({len(self.arms)}), the same patients in each:")
        for i, a in enumerate(self.arms):
            sc = self.arm_scenario(i)
            text = sc.plan.describe().splitlines()[1:]
            lines.append(f"  {a.name}" + (f": {a.description}" if a.description else "")
                         + ("" if text else " (no treatment)"))
            lines += [f"    {x.strip()}" for x in text]
        lines.append(f"Trajectories kept (unless summary-only): {', '.join(self.outputs)}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Sweep({self.name!r}, patients={self.n_patients}, design={self.design!r}, "
                f"dimensions={len(self.dimensions)}, arms={[a.name for a in self.arms]})")


# ----------------------------------------------------------------------------- helpers


def read_distribution(name, spec, rd, *, key: str, row=None, design: str = "random",
                  default_median=None) -> tuple:
    """Read one distribution table (``{ distribution = ..., ... }``).

    Parameters
    ----------
    name : str
        A model parameter, or (``row`` given) a drug factor ``"drug.quantity"``.
    spec : object
        The table as read from TOML.
    rd : neurosim.scenario._Reader
        Error context (the file).
    key : str
        Dotted key of the table, named in errors and warnings.
    row : Parameter, optional
        The row whose unit, sign and plausible range apply (default: the
        parameter table's row of ``name``); see :func:`drug_factor_row`.
    design : str
        The sweep's design (``levels`` belong to ``"grid"``).
    default_median : float, optional
        Median of a lognormal without ``median`` (default: the row's value).

    Returns
    -------
    (Dimension, list of str)
        The dimension and warnings (a distribution reaching beyond the
        plausible range).

    Raises
    ------
    ScenarioError
        Naming ``key`` (or one of its keys) and what is allowed.
    """
    from ..model.parameters import PARAMETER_INDEX, PARAMETERS
    from ..scenario import _parameter_value

    kind = "parameter" if row is None else "drug"
    err = rd.error
    warns: list = []
    if row is None and name not in PARAMETERS:
        raise err(key, f"unknown model parameter {name!r}."
                      + did_you_mean(name, PARAMETERS.names)
                      + " Run 'neurosim params' to list them.")
    if not isinstance(spec, Mapping) or "distribution" not in spec:
        raise err(key, "give a table with a distribution, e.g. { distribution = "
                       "\"lognormal\", cv = 0.3 }; distributions: "
                       + ", ".join(DISTRIBUTIONS) + ".")
    dist = spec["distribution"]
    if dist not in _DIST_KEYS:
        raise err(f"{key}.distribution", f"unknown distribution {dist!r}."
                  + did_you_mean(str(dist), DISTRIBUTIONS)
                  + f" Distributions: {', '.join(DISTRIBUTIONS)}.")
    allowed = ("distribution",) + _DIST_KEYS[dist] + ("levels",)
    rd.keys(spec, allowed, key)
    row = PARAMETERS[name] if row is None else row
    lowest = "> 0" if row.strictly_positive else ">= 0"

    def q(k, default=None):
        if k not in spec:
            if default is None:
                raise err(key, f"a {dist} distribution needs '{k}' (keys: "
                               f"{', '.join(_DIST_KEYS[dist])}).")
            return default
        v = _parameter_value(row, spec[k], f"{key}.{k}", rd)
        if not math.isfinite(v):
            raise err(f"{key}.{k}", f"must be finite; got {v!r}.")
        return v

    def number(k, minimum=None, allow_zero=True):
        if k not in spec:
            raise err(key, f"a {dist} distribution needs '{k}'.")
        return float(rd.number(spec[k], f"{key}.{k}", minimum=minimum,
                               allow_zero=allow_zero))

    def positive_support(low, what, hint=""):
        if low < 0 or (low == 0 and row.strictly_positive):
            raise err(key, f"{what} reaches {low:g} {row.unit}, but {name} must be "
                           f"{lowest} ({row.unit}).{hint}")

    args: dict = {}
    if dist == "lognormal":
        median = q("median", row.value if default_median is None else default_median)
        if not median > 0:
            raise err(f"{key}.median", f"a lognormal median must be > 0; got "
                                       f"{median:g} {row.unit}.")
        cv = number("cv", minimum=0.0, allow_zero=False)
        args = {"median": median, "cv": cv}
    elif dist in ("normal", "truncated_normal"):
        mean = q("mean")
        sd = q("sd")
        if not sd > 0:
            raise err(f"{key}.sd", f"a standard deviation must be > 0; got {sd:g}.")
        args = {"mean": mean, "sd": sd}
        if dist == "normal":
            positive_support(mean - _NORMAL_SIGMAS * sd,
                             f"a normal distribution with mean {mean:g} and sd {sd:g} "
                             f"(mean - {_NORMAL_SIGMAS:g} sd)",
                             " Use truncated_normal with 'low', or a lognormal.")
        else:
            low = q("low", 0.0)
            high = q("high", math.inf) if "high" in spec else math.inf
            if not low < high:
                raise err(key, f"'low' ({low:g}) must be below 'high' ({high:g}).")
            positive_support(low, "the truncated normal")
            from scipy.special import ndtr

            mass = ndtr((high - mean) / sd) - ndtr((low - mean) / sd)
            if not mass > 1e-12:
                raise err(key, f"the interval [{low:g}, {high:g}] holds no "
                               f"probability of a normal with mean {mean:g} and sd "
                               f"{sd:g}; move the mean or widen the interval.")
            args.update(low=low, high=high)
    elif dist in ("uniform", "loguniform"):
        low, high = q("low"), q("high")
        if not low < high:
            raise err(key, f"'low' ({low:g}) must be below 'high' ({high:g}).")
        if dist == "loguniform" and not low > 0:
            raise err(f"{key}.low", f"a loguniform distribution needs low > 0; got "
                                    f"{low:g}.")
        positive_support(low, f"the {dist} distribution")
        args = {"low": low, "high": high}
    else:
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise err(f"{key}.values", "give the category values as a non-empty "
                                       "list, e.g. values = [\"50 d\", \"200 d\"].")
        vals = []
        for i, v in enumerate(values):
            x = _parameter_value(row, v, f"{key}.values[{i}]", rd)
            try:
                row.check(x, warn=False)
            except NeurosimError as exc:
                raise err(f"{key}.values[{i}]", str(exc)) from None
            vals.append(x)
        weights = spec.get("weights", [1.0] * len(vals))
        args = {"values": vals, "weights": _weights(weights, len(vals),
                                                   f"{key}.weights", rd)}
    levels = spec.get("levels")
    if levels is not None:
        if design != "grid":
            raise err(f"{key}.levels", "'levels' is used by design = \"grid\" only.")
        if dist == "categorical":
            raise err(f"{key}.levels", "a categorical parameter takes every category "
                                       "in a grid; remove 'levels'.")
        levels = int(rd.number(levels, f"{key}.levels", minimum=1, integer=True))
    elif design == "grid" and dist != "categorical":
        raise err(key, "a grid needs 'levels' (points of this parameter: the medians "
                       "of that many equal-probability strata), or give exact values "
                       "with distribution = \"categorical\".")
    dim = Dimension(name=name, kind=kind, distribution=dist, args=args, levels=levels,
                    index=PARAMETER_INDEX[name] if kind == "parameter" else -1)
    lo, hi = dim.ppf(np.array([1e-3, 1 - 1e-3])) if dist != "categorical" else (
        min(args["values"]), max(args["values"]))
    if lo < row.low * (1 - 1e-12) or hi > row.high * (1 + 1e-12):
        warns.append(
            f"{rd.source}: [{key}] the distribution reaches {lo:g} to {hi:g} {row.unit} "
            f"(0.1 % to 99.9 %), beyond the plausible range [{row.low:g}, {row.high:g}] "
            f"{row.unit}.")
    return dim, warns


def _weights(weights, n, key, rd) -> list:
    if not isinstance(weights, list) or len(weights) != n:
        raise rd.error(key, f"give one weight per category ({n}); got {weights!r}.")
    out = [float(rd.number(w, f"{key}[{i}]", minimum=0.0)) for i, w in enumerate(weights)]
    if not sum(out) > 0:
        raise rd.error(key, "the weights must not all be zero.")
    return out


def read_drug_dimensions(table, rd, *, key: str, library, design: str = "random") -> tuple:
    """Read ``[<key>.<drug>]`` tables of drug factors (``[sweep.drugs]``,
    ``[population.drugs]``).

    Parameters
    ----------
    table : object
        The ``drugs`` table as read from TOML: drug -> quantity -> distribution.
    rd : neurosim.scenario._Reader
    key : str
        Its dotted key (``"sweep.drugs"``).
    library : DrugLibrary
        The file's drug library (packaged drugs and ``[drugs.<name>]``).
    design : str
        The design drawing them (see :func:`read_distribution`).

    Returns
    -------
    (list of Dimension, list of str)
        One dimension per factor (kind ``"drug"``, name ``"drug.quantity"``),
        and warnings.
    """
    from ..treatments.pk import DRUG_FACTORS

    if not isinstance(table, Mapping):
        raise rd.error(key, f"must hold one table per drug, e.g. [{key}.morphine] with "
                            "cl = { distribution = \"lognormal\", cv = 0.3 }.")
    dims, warns = [], []
    for drug, quantities in table.items():
        dkey = f"{key}.{drug}"
        if drug not in library.drugs:
            raise rd.error(dkey, f"unknown drug {drug!r}." + did_you_mean(drug, library.names)
                           + f" Known drugs: {', '.join(library.names)}.")
        if not isinstance(quantities, Mapping) or not quantities:
            raise rd.error(dkey, "give the quantities that vary, e.g. cl = { distribution = "
                                 "\"lognormal\", cv = 0.3 }; quantities: "
                                 + ", ".join(DRUG_FACTORS) + ".")
        for q, spec in quantities.items():
            qkey = f"{dkey}.{q}"
            if q not in DRUG_FACTORS:
                raise rd.error(qkey, f"{q!r} is not a drug quantity that can vary."
                               + did_you_mean(q, list(DRUG_FACTORS)) + " Quantities: "
                               + "; ".join(f"{k} ({v})" for k, v in DRUG_FACTORS.items())
                               + ".")
            dim, w = read_distribution(f"{drug}.{q}", spec, rd, key=qkey,
                                       row=drug_factor_row(drug, q), design=design)
            dims.append(dim)
            warns += w
    return dims, warns


def drug_factor_given(compiled, name: str) -> bool:
    """Whether any of the compiled treatments gives the drug of factor ``name``
    (``"drug.quantity"``).

    Raises
    ------
    NeurosimValueError
        When one that gives it lacks the quantity (``ke0`` without an effect
        site, ...): see :meth:`CompiledTreatments.factor_columns`.
    """
    drug, quantity = name.rsplit(".", 1)
    given = [ct for ct in compiled if drug in ct.drugs]
    for ct in given:
        ct.factor_columns(drug, quantity)
    return bool(given)


def drug_uniforms(dimensions, seed: int, n: int) -> np.ndarray:
    """Uniform scores (n, k) of the drug factors of patients ``0 .. n - 1``.

    Patient ``i`` draws one uniform per factor from
    ``SeedSequence(seed, spawn_key=(DRUG_STREAM, i))``, so its scores depend
    only on the seed and its row, not on ``n``.
    """
    U = np.empty((int(n), len(dimensions)))
    for i in range(int(n)):
        ss = np.random.SeedSequence(seed, spawn_key=(DRUG_STREAM, i))
        U[i] = np.random.Generator(np.random.PCG64(ss)).random(len(dimensions))
    np.maximum(U, 2.0 ** -54, out=U)
    return U


def draw_drug_factors(dimensions, seed: int, n: int) -> dict:
    """Drug factors of patients ``0 .. n - 1`` of a scenario's population.

    Each factor is its inverse distribution function at the patient's
    :func:`drug_uniforms`; a patient's factors therefore depend only on the
    seed and its row. (With ``[[population.correlations]]`` the scores are
    correlated first: :func:`neurosim.simulation.population_scores`.)

    Returns
    -------
    dict
        ``"drug.quantity"`` -> (n,) factors (empty without dimensions).
    """
    if not dimensions:
        return {}
    U = drug_uniforms(dimensions, seed, n)
    return {d.name: d.ppf(U[:, j]) for j, d in enumerate(dimensions)}


def drug_factor_row(drug: str, quantity: str):
    """A parameter-table row for the factor on ``drug.quantity`` (dimensionless, > 0,
    plausible range :data:`FACTOR_RANGE`), to read its distribution or range like a
    model parameter's."""
    from ..model.parameters import Parameter
    from ..treatments.pk import DRUG_FACTORS

    return Parameter(name=f"{drug}.{quantity}", value=1.0, unit="1", low=FACTOR_RANGE[0],
                     high=FACTOR_RANGE[1], cv=0.0, module="drug",
                     description=f"factor on {drug}'s {DRUG_FACTORS[quantity]}",
                     source="assumption: given in the file")


def _strip(exc, source=None) -> str:
    """The message of a scenario error without its file and key prefix."""
    from ..scenario import _bare

    return _bare(exc)


def read_rank_correlations(items, index, d: int, rd, *, key: str, what: str,
                           excluded=None):
    """Read ``[[<key>]]`` tables (``parameters = [a, b]``, ``rank = r``) into a matrix.

    Parameters
    ----------
    items : object
        The list of tables as read from TOML.
    index : dict
        Name -> column of every dimension that may be correlated.
    d : int
        Number of columns of the matrix.
    rd : neurosim.scenario._Reader
    key : str
        Dotted key of the list (``"sweep.correlations"``).
    what : str
        What a name must be, for the messages ("a drug factor of [population.drugs]").
    excluded : dict, optional
        Names that exist but cannot be correlated -> why (the rest of the
        message after the quoted name).

    Returns
    -------
    ndarray (d, d) or None
        Target rank (Spearman) correlations, 1 on the diagonal; None without items.

    Raises
    ------
    ScenarioError
        A name that is not in ``index``, a pair given twice or with itself, a rank
        outside (-1, 1), or correlations that cannot hold together.
    """
    if not isinstance(items, list):
        raise rd.error(key, f"must be a list of tables ([[{key}]] with parameters = [a, b] "
                            "and rank = r).")
    if not items:
        return None
    C = np.eye(d)
    seen = set()
    for i, item in enumerate(items):
        ikey = f"{key}[{i}]"
        rd.keys(item, ("parameters", "rank"), ikey)
        pair = item.get("parameters")
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)):
            raise rd.error(f"{ikey}.parameters", "give two names, e.g. parameters = "
                                                 "[\"a\", \"b\"].")
        for p in pair:
            if p in (excluded or {}):
                raise rd.error(f"{ikey}.parameters", f"{p!r} {excluded[p]}")
            if p not in index:
                raise rd.error(f"{ikey}.parameters",
                               f"{p!r} is not {what}." + did_you_mean(p, list(index))
                               + (" Known: " + ", ".join(index) + "." if index else ""))
        a, b = index[pair[0]], index[pair[1]]
        if a == b:
            raise rd.error(f"{ikey}.parameters", "a parameter is not correlated with itself; "
                                                 "name two different ones.")
        if "rank" not in item:
            raise rd.error(ikey, "give the rank (Spearman) correlation: rank = 0.5.")
        r = float(rd.number(item["rank"], f"{ikey}.rank"))
        if not -1 < r < 1:
            raise rd.error(f"{ikey}.rank", f"a rank correlation lies strictly between -1 and 1; "
                                           f"got {r:g}.")
        if frozenset((a, b)) in seen:
            raise rd.error(ikey, f"the pair {pair} is given twice.")
        seen.add(frozenset((a, b)))
        C[a, b] = C[b, a] = r
    try:
        np.linalg.cholesky(_pearson(C))
    except np.linalg.LinAlgError:
        raise rd.error(key, "these rank correlations cannot hold together (the correlation "
                            "matrix is not positive definite); weaken some of them.") from None
    return C


def copula_columns(C):
    """The columns of a rank-correlation matrix ``C`` that take part in a correlation,
    and the Cholesky factor ``L`` of their normal-score correlation ``2 sin(pi C / 6)``:
    independent standard normal scores ``z`` of those columns become ``z @ L.T``, whose
    rank correlations are ``C``."""
    cols = np.flatnonzero(np.any(C - np.eye(C.shape[0]) != 0, axis=0))
    return cols, np.linalg.cholesky(_pearson(C[np.ix_(cols, cols)]))


def gaussian_copula(u, C) -> np.ndarray:
    """Give independent uniform scores the rank correlations ``C`` (a Gaussian copula).

    Each row is handled on its own: the columns that take part in a
    correlation become normal scores, are mixed by :func:`copula_columns`'
    Cholesky factor and go back to uniforms. Rows stay independent, so a
    patient's scores do not depend on the others; columns outside every
    correlation are returned unchanged.
    """
    from scipy.special import ndtr, ndtri

    cols, L = copula_columns(C)
    out = np.array(u, dtype=float)
    out[:, cols] = ndtr(ndtri(out[:, cols]) @ L.T)
    np.clip(out, 2.0 ** -54, 1.0 - 2.0 ** -53, out=out)
    return out


def _pearson(C):
    """Pearson correlation of normal scores giving the rank correlation ``C``."""
    P = 2.0 * np.sin(np.pi * np.asarray(C) / 6.0)
    np.fill_diagonal(P, 1.0)
    return P


def _qmc_engine(design, d, rng):
    from scipy.stats import qmc

    cls = qmc.LatinHypercube if design == "lhs" else qmc.Sobol
    try:
        return cls(d, scramble=True, rng=rng)
    except TypeError:  # scipy < 1.15 names it seed
        return cls(d, scramble=True, seed=rng)


def iman_conover(U, C, rng) -> np.ndarray:
    """Reorder each column of ``U`` so that the columns have rank correlation ``C``.

    Iman & Conover's method (Commun. Stat. Simul. Comput. 11:311, 1982): the
    marginals (each column's values) are kept exactly, only their pairing
    changes, so a Latin hypercube stays a Latin hypercube.

    Parameters
    ----------
    U : ndarray (n, d)
        Samples, one column per variable.
    C : ndarray (d, d)
        Target rank (Spearman) correlation.
    rng : numpy.random.Generator
        Draws the random pairing of the score matrix (the result is
        deterministic given it).

    Returns
    -------
    ndarray (n, d)
    """
    from scipy.special import ndtri

    U = np.asarray(U, dtype=np.float64)
    n, d = U.shape
    scores = ndtri(np.arange(1, n + 1) / (n + 1.0))
    S = np.column_stack([rng.permutation(scores) for _ in range(d)])
    E = np.corrcoef(S, rowvar=False) if n > 1 else np.eye(d)
    P = np.linalg.cholesky(_pearson(C))
    try:
        Q = np.linalg.cholesky(E)
    except np.linalg.LinAlgError:  # fewer rows than columns: the scores cannot be decorrelated
        Q = np.eye(d)
    T = S @ np.linalg.solve(Q, P.T)  # rows of S decorrelated, then given P's correlation
    out = np.empty_like(U)
    for j in range(d):
        ranks = np.empty(n, dtype=np.int64)
        ranks[np.argsort(T[:, j], kind="stable")] = np.arange(n)
        out[:, j] = np.sort(U[:, j], kind="stable")[ranks]
    return out


def _parse(text, source):
    from ..scenario import _parse_toml

    return _parse_toml(text, source)


def loads_sweep(text: str, *, source: str = "<string>") -> Sweep:
    """Read a sweep from TOML text.

    Raises
    ------
    ScenarioError
        Naming the key of the first problem found.
    """
    return Sweep(_parse(text, source), text=text, source=source)


def load_sweep(path) -> Sweep:
    """Read and validate a sweep file.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` sweep file (a scenario file with a ``[sweep]`` section).

    Returns
    -------
    Sweep

    Raises
    ------
    ScenarioError
        For a missing or unreadable file, or naming the key of the first
        problem found (unknown parameter, impossible distribution, ...).
    """
    from ..scenario import read_toml_text

    return loads_sweep(read_toml_text(path), source=str(Path(path)))
