"""Scenario files: one patient (or population), one course of treatment.

A scenario says who is treated, with what, when, and how the simulation
is run and sampled. It is written in TOML, read once by
:func:`load_scenario` (units converted, every name checked) and handed to
:func:`neurosim.simulation.simulate_scenario`. In a notebook the same
thing is built with keywords::

    from neurosim.scenario import Scenario
    sc = Scenario(name="morphine", liver="child_pugh_b",
                  regimens=["morphine 10 mg po q4h"], duration="8 weeks")
    sc_healthy = sc.with_changes(liver="healthy")

Timeline
--------
The disease model starts at **diagnosis** (time 0 of the natural history:
the tumor at ``tumor_volume_diagnosis``, every faster process at its
quasi-steady state). Patients are usually treated later, when pain brings
them to a clinic, so a scenario has two phases:

1. the untreated natural history from diagnosis until
   ``treatment_start``: a fixed time (``"6 months"``) or a presentation
   rule, ``"nrs >= 4"``: each patient starts treatment on the first whole
   day after diagnosis on which their NRS is at least 4 (moderate pain).
2. the treated phase. **Every treatment time in the file** (``from day 3``
   in a regimen, a procedure's ``at``, a titration's ``start``) **counts
   from treatment start**, and so do result times: ``t = 0`` is the start
   of treatment, the ``history`` before it (untreated) is saved with
   negative times so that plots show the baseline.

Schema
------
Every section and key is optional (an empty file is the untreated
default patient). Quantities are strings with units (``"12 weeks"``,
``"70 kg"``, ``"10 mg"``), converted once at load. ``docs/scenarios.md``
has the full description.

``[scenario]``
    ``name`` (default: file name without ``.toml``), ``description``,
    ``seed`` (integer >= 0, default 0: population sampling; the same seed
    gives the same patients).
``[patient]``
    ``liver``: ``"healthy"``, ``"child_pugh_a"``, ``"child_pugh_b"``,
    ``"child_pugh_c"`` (or ``"A"``, ``"B"``, ``"C"``; default healthy);
    ``body_weight`` (default ``"70 kg"``; per-kg doses use it);
    ``[patient.parameters]``: disease-model parameters (``neurosim params``
    lists them) with units, e.g. ``tumor_doubling_time = "100 d"``; bare
    numbers only for dimensionless parameters; ``[[patient.modifiers]]``:
    genotype or biomarker phenotypes as factors, either on a model
    parameter ``{ name = "IL-6 high producer", parameter =
    "il6_per_macrophage", factor = 1.5 }`` or on a drug-library quantity
    ``{ name = "CYP2D6 poor metabolizer", drug = "oxycodone", quantity =
    "pk.cl", factor = 0.8 }``. An override sets a value; a modifier
    multiplies the patient's value (default or sampled).
``[population]``
    ``size`` (default 1: the default patient with the overrides above;
    more: a virtual population drawn with ``seed``, overrides held fixed),
    ``cv_scale`` (default 1: multiplies every between-patient CV),
    ``[population.drugs.<drug>]`` (per-patient factors on a drug's
    clearance, volume, absorption, bioavailability, ke0 or potency) and
    ``[[population.correlations]]`` (rank correlations between model
    parameters and those factors: ``parameters = ["morphine.cl",
    "morphine.v1"]``, ``rank = 0.5``).
``[simulation]``
    ``treatment_start`` (default ``"nrs >= 4"``), ``presentation_limit``
    (default ``"5 years"``: a patient who has not reached the presentation
    NRS by then starts treatment then), ``duration`` of the treated phase
    (default ``"12 weeks"``), ``history`` saved before treatment start
    (default ``"4 weeks"``; whole days), ``output_interval`` (default
    ``"1 h"``; must divide a day), ``endpoint`` of the metrics window
    (default: 12 weeks or the duration if shorter), ``rtol`` (default
    :data:`DEFAULT_RTOL`), ``save_states`` (default true; false keeps only
    the outputs, for large populations).
``[treatments]``
    ``regimens`` (mini-language lines such as ``"morphine 10 mg po q4h"``
    or tables), ``[[treatments.titration]]``, ``[[treatments.rescue]]``,
    ``[[treatments.procedures]]``, all as in ``docs/drugs.md`` (read by
    :meth:`neurosim.treatments.TreatmentPlan.from_scenario`).
``[drugs.<name>]``
    Drug-library entries added or changed for this scenario (a
    hypothetical drug is a complete entry; layout in ``docs/drugs.md``).
    ``[treatments.library]`` is accepted as well.

Errors
------
Every problem raises :class:`~neurosim.errors.ScenarioError` naming the
file, the key (``simulation.duration``, ``treatments.regimens[1]``), what
is allowed and, for a misspelt name, what was probably meant.
"""
from __future__ import annotations

import copy
import math
import re
import sys
import warnings
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from . import _toml
from .errors import NeurosimError, ScenarioError, did_you_mean
from .errors import bare_message as _bare
from .units import (HOURS_PER_DAY, HOURS_PER_WEEK, HOURS_PER_YEAR, format_duration, parse_quantity,
                    parse_unit)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Scenario", "Modifier", "load_scenario", "loads_scenario", "packaged_scenarios",
           "scenario_path", "load_comparison", "DEFAULT_RTOL", "SECTIONS"]

#: Default relative tolerance of the solver (measurement in the
#: ``neurosim.simulation`` module documentation): without a titration or
#: rescue decision in between, the NRS stays within about 6e-4 points of an
#: rtol = 1e-8 solution.
DEFAULT_RTOL = 3e-5

#: Top-level sections of a scenario file and the keys each allows.
SECTIONS: dict[str, tuple[str, ...]] = {
    "scenario": ("name", "description", "seed"),
    "patient": ("liver", "body_weight", "parameters", "modifiers"),
    "population": ("size", "cv_scale", "drugs", "correlations"),
    "simulation": ("treatment_start", "presentation_limit", "duration", "history",
                   "output_interval", "endpoint", "rtol", "save_states"),
    "treatments": ("regimens", "titration", "rescue", "procedures", "library"),
    "drugs": (),
}

_DEFAULTS = {
    "treatment_start": "nrs >= 4",
    "presentation_limit": "5 years",
    "duration": "12 weeks",
    "history": "4 weeks",
    "output_interval": "1 h",
}

# Keyword -> (section, key) for the keyword constructor and with_changes().
_KEYWORDS: dict[str, tuple[str, str]] = {
    "name": ("scenario", "name"),
    "description": ("scenario", "description"),
    "seed": ("scenario", "seed"),
    "liver": ("patient", "liver"),
    "body_weight": ("patient", "body_weight"),
    "parameters": ("patient", "parameters"),
    "modifiers": ("patient", "modifiers"),
    "population_size": ("population", "size"),
    "cv_scale": ("population", "cv_scale"),
    "treatment_start": ("simulation", "treatment_start"),
    "presentation_limit": ("simulation", "presentation_limit"),
    "duration": ("simulation", "duration"),
    "history": ("simulation", "history"),
    "output_interval": ("simulation", "output_interval"),
    "endpoint": ("simulation", "endpoint"),
    "rtol": ("simulation", "rtol"),
    "save_states": ("simulation", "save_states"),
    "regimens": ("treatments", "regimens"),
    "titration": ("treatments", "titration"),
    "rescue": ("treatments", "rescue"),
    "procedures": ("treatments", "procedures"),
    "drugs": ("drugs", None),
}

_RULE = re.compile(r"^\s*nrs\s*>=\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*$", re.IGNORECASE)
_PACKAGED = "data/scenarios"
_DEFAULT_ENDPOINT = 12 * HOURS_PER_WEEK


class Modifier:
    """A genotype or biomarker phenotype: a factor on one quantity.

    Attributes
    ----------
    name : str
        Label (e.g. ``"CYP2D6 poor metabolizer"``).
    factor : float
        Multiplier (> 0).
    parameter : str or None
        Disease-model parameter it scales.
    drug, quantity : str or None
        Drug-library quantity it scales (``quantity`` is a dotted path
        inside the drug's table, e.g. ``"pk.cl"``, ``"opioid.ec50"``).
    """

    __slots__ = ("name", "factor", "parameter", "drug", "quantity")

    def __init__(self, name, factor, parameter=None, drug=None, quantity=None):
        self.name, self.factor = name, factor
        self.parameter, self.drug, self.quantity = parameter, drug, quantity

    def __repr__(self) -> str:
        what = self.parameter if self.parameter else f"{self.drug}.{self.quantity}"
        return f"Modifier({self.name!r}: {what} x {self.factor:g})"


#: Most patients in one population or sweep: a sweep file holds every metric of
#: every patient (a few hundred bytes each per arm); split larger studies into
#: several sweeps with different seeds.
MAX_PATIENTS = 100_000_000

#: Longest time span of a scenario (treatment start, presentation limit,
#: duration, history), in years: far beyond a patient's course, short of
#: spans whose output grids and solver step counts no machine could hold.
MAX_SPAN_YEARS = 100


class _Reader:
    """Error context of one scenario file."""

    def __init__(self, source: str):
        self.source = source

    def error(self, key: str | None, message: str) -> ScenarioError:
        return ScenarioError(message, file=self.source, key=key)

    def keys(self, table, allowed, key: str):
        """Reject keys of ``table`` not in ``allowed`` (``key`` "" is the top level)."""
        if not isinstance(table, Mapping):
            raise self.error(key or None, f"[{key}] must be a table (key = value lines); got "
                                          f"{_show(table)}.")
        for k in table:
            if k in allowed:
                continue
            if key:
                raise self.error(f"{key}.{k}", f"unknown key {k!r}." + did_you_mean(k, allowed)
                                 + f" Allowed in [{key}]: {', '.join(allowed)}.")
            raise self.error(k, f"unknown section {k!r}." + did_you_mean(k, allowed)
                             + f" Sections: {', '.join(allowed)}.")

    def quantity(self, value, dim: str, key: str, *, minimum=None, allow_zero=True,
                 body_weight=None):
        try:
            return parse_quantity(value, dim, name=key.rsplit(".", 1)[-1], minimum=minimum,
                                  allow_zero=allow_zero, body_weight=body_weight)
        except NeurosimError as exc:
            raise self.error(key, _bare(exc)) from None

    def span(self, value, key: str, **kw) -> float:
        """A time span (h), at most :data:`MAX_SPAN_YEARS`."""
        hours = self.quantity(value, "time", key, **kw)
        self.check_span(hours, value, key)
        return hours

    def check_span(self, hours: float, value, key: str) -> None:
        if hours > MAX_SPAN_YEARS * HOURS_PER_YEAR:
            raise self.error(key, f"{_show(value)} is longer than {MAX_SPAN_YEARS} years, the "
                                  "longest span a scenario may cover.")

    def text(self, table, key, full, default=""):
        v = table.get(key, default)
        if not isinstance(v, str):
            raise self.error(full, f"must be text (in quotes); got {_show(v)}.")
        return v

    def number(self, value, key, *, minimum=None, integer=False, allow_zero=True,
               maximum=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a whole number" if integer else "a number"
            raise self.error(key, f"must be {kind}; got {_show(value)}.")
        if integer and not isinstance(value, int):
            raise self.error(key, f"must be a whole number; got {value!r}.")
        if not math.isfinite(value):
            raise self.error(key, f"must be finite; got {value!r}.")
        if minimum is not None and (value < minimum or (value == minimum and not allow_zero)):
            rel = ">=" if allow_zero else ">"
            raise self.error(key, f"must be {rel} {minimum:g}; got {value!r}.")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be <= {maximum:,}; got {value!r}.")
        return value


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# ----------------------------------------------------------------------------- units


def _normalise_unit(unit: str) -> str:
    """Write a parameter-table unit in the syntax of :mod:`neurosim.units`.

    ``"1/(nM h)"`` -> ``"1/nM/h"``; ``"1/(pg/mL)"`` -> ``"mL/pg"``; a space
    between symbols is a product.
    """
    u = unit.strip()
    m = re.fullmatch(r"(.*?)\s*/\s*\((.*)\)", u)
    if m:
        num = [t for t in re.split(r"[\s*]+", m.group(1)) if t and t != "1"]
        inner = m.group(2).split("/")
        den = [t for t in re.split(r"[\s*]+", inner[0]) if t and t != "1"]
        num += [t.strip() for t in inner[1:] if t.strip()]
        text = "*".join(num) if num else "1"
        return text + "".join(f"/{d}" for d in den)
    return re.sub(r"(?<=[A-Za-zµμ%])\s+(?=[A-Za-zµμ])", "*", u)


def _parameter_value(row, value, key: str, rd: _Reader) -> float:
    """A model-parameter override in the table's unit."""
    unit = row.unit.strip()
    dimensionless = unit in ("1", "", "-")
    if isinstance(value, bool):
        raise rd.error(key, f"must be a quantity such as '{row.value:g} {unit}'; got {value!r}.")
    if isinstance(value, (int, float)):
        if not dimensionless:
            raise rd.error(key, f"the number {value!r} has no unit; write it with one, e.g. "
                                f"'{value} {unit}' (the parameter's unit is {unit}).")
        return float(value)
    if isinstance(value, Mapping):
        if set(value) - {"value", "unit", "source"} or "value" not in value:
            raise rd.error(key, "a quantity table has keys 'value' and 'unit' (and optionally "
                                f"'source'); got keys {sorted(value)}.")
        number, given = value["value"], str(value.get("unit", "1"))
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise rd.error(key, f"'value' must be a number; got {_show(number)}.")
    elif isinstance(value, str):
        m = re.match(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$", value)
        if not m:
            raise rd.error(key, f"cannot read {value!r} as a number followed by a unit, e.g. "
                                f"'{row.value:g} {unit}'.")
        number, given = float(m.group(1)), m.group(2) or "1"
    else:
        raise rd.error(key, f"must be a quantity such as '{row.value:g} {unit}'; got "
                            f"{_show(value)}.")
    if given.strip() == unit:
        return float(number)
    try:
        want = parse_unit(_normalise_unit(unit))
    except NeurosimError:
        raise rd.error(key, f"give this parameter in its own unit, {unit!r} (e.g. "
                            f"'{row.value:g} {unit}'); got unit {given!r}.") from None
    try:
        got = parse_unit(_normalise_unit(given))
    except NeurosimError as exc:
        raise rd.error(key, f"{_bare(exc)} The parameter's unit is {unit}.") from None
    if got.dims != want.dims:
        raise rd.error(key, f"unit {given!r} does not fit this parameter, whose unit is "
                            f"{unit!r} (e.g. '{row.value:g} {unit}').")
    return float(number) * got.factor / want.factor


# ----------------------------------------------------------------------------- the Scenario


class Scenario:
    """A validated scenario: patient, timeline, treatments, solver settings.

    Build it from a file (:func:`load_scenario`), from the parsed TOML
    (:meth:`from_dict`) or with keywords, which take the same values as
    the file (quantities as strings with units)::

        Scenario(name="anti-NGF", regimens=["tanezumab 20 mg sc q8w"], liver="B")

    Keyword arguments
    -----------------
    name, description, seed
        ``[scenario]``.
    liver, body_weight, parameters, modifiers
        ``[patient]``.
    population_size, cv_scale
        ``[population]``.
    treatment_start, presentation_limit, duration, history, output_interval, endpoint, rtol, save_states
        ``[simulation]``.
    regimens, titration, rescue, procedures
        ``[treatments]``.
    drugs
        ``[drugs]`` (library additions and overrides).

    Attributes
    ----------
    name, description : str
    seed : int
    liver : str
        Canonical liver-state name (``"child_pugh_b"``).
    body_weight : float
        kg.
    parameter_overrides : dict of str -> float
        Model parameters set by the file, in the parameter table's units.
    modifiers : list of Modifier
    population_size : int
    cv_scale : float
    drug_variability : list of neurosim.sweep.spec.Dimension
        ``[population.drugs.<drug>]``: per-patient factors on drug
        quantities (names ``"drug.quantity"``), drawn in population runs.
    population_correlation : ndarray (N_MODEL_PARAMS + k, N_MODEL_PARAMS + k) or None
        ``[[population.correlations]]``: target rank correlations between
        the model parameters (table order) and the drug factors (their
        order), 1 on the diagonal; None without correlations. Column names:
        :attr:`correlation_names`.
    presentation_nrs : float or None
        The presentation rule's NRS (``treatment_start = "nrs >= 4"``), or
        None for a fixed start.
    treatment_start : float or None
        Fixed treatment start (h after diagnosis), or None with a rule.
    presentation_limit : float
        Latest treatment start under a rule (h after diagnosis).
    duration, history, output_interval, endpoint : float
        h.
    rtol : float
    save_states : bool
    source : str
        The file it came from (or ``"<python>"``).
    text : str
        The scenario as TOML text (the file's own text when loaded from a
        file and not changed since).
    raw : dict
        The parsed TOML (a copy).
    """

    def __init__(self, **keywords):
        raw: dict = {}
        for kw, value in keywords.items():
            _set_keyword(raw, kw, value)
        self._init(raw, source="<python>", text=None)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: Mapping, *, source: str = "<dict>", text: str | None = None
                  ) -> "Scenario":
        """Validate a scenario given as a dict (the parsed TOML).

        Parameters
        ----------
        raw : mapping
            Sections as described in the module documentation.
        source : str
            Name used in error messages (a file path).
        text : str, optional
            The TOML text ``raw`` was read from (kept for results files).
        """
        self = cls.__new__(cls)
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"a scenario must be a table; got {_show(raw)}.", file=source)
        self._init(copy.deepcopy(dict(raw)), source=source, text=text)
        return self

    def with_changes(self, **keywords) -> "Scenario":
        """A new scenario with some settings changed (same keywords as the constructor).

        Examples
        --------
        >>> sc = Scenario(regimens=["morphine 10 mg po q4h"], duration="2 weeks")
        >>> sc.with_changes(liver="child_pugh_b").liver
        'child_pugh_b'
        """
        raw = copy.deepcopy(self.raw)
        for kw, value in keywords.items():
            _set_keyword(raw, kw, value)
        new = Scenario.from_dict(raw, source=self.source)
        changes = ", ".join(f"{k}={v!r}" for k, v in keywords.items())
        new._header = f"{self._header}\nchanged: {changes}".strip()
        return new

    def _init(self, raw: dict, *, source: str, text: str | None):
        self.raw = raw
        self.source = source
        self._text = text
        self._header = "" if source.startswith("<") else f"scenario from {source}"
        rd = _Reader(source)
        if "comparison" in raw:
            raise rd.error("comparison", "this file is a comparison set, not a scenario; run it "
                                         "with 'neurosim compare FILE'.")
        rd.keys(raw, tuple(SECTIONS), "")
        _reject_none(raw, "", rd)
        for section in ("scenario", "patient", "population", "simulation", "treatments"):
            rd.keys(raw.get(section, {}), SECTIONS[section], section)

        # [scenario]
        sec = raw.get("scenario", {})
        stem = "scenario" if source.startswith("<") else Path(source).stem
        self.name = rd.text(sec, "name", "scenario.name", stem) or stem
        self.description = rd.text(sec, "description", "scenario.description")
        self.seed = int(rd.number(sec.get("seed", 0), "scenario.seed", minimum=0, integer=True))

        # [patient]
        pat = raw.get("patient", {})
        self.body_weight = rd.quantity(pat.get("body_weight", "70 kg"), "mass",
                                       "patient.body_weight", minimum=0.0,
                                       allow_zero=False) / 1e6
        if not 10.0 <= self.body_weight <= 400.0:
            raise rd.error("patient.body_weight", f"an adult's body weight lies between 10 and "
                                                  f"400 kg; got {self.body_weight:g} kg (check "
                                                  "the number and its unit).")
        liver = pat.get("liver", "healthy")
        if not isinstance(liver, str):
            raise rd.error("patient.liver", f"must be a liver-state name in quotes; got "
                                            f"{_show(liver)}.")
        from .treatments.liver import liver_state

        try:
            self.liver = liver_state(liver).name
        except NeurosimError as exc:
            raise rd.error("patient.liver", _bare(exc)) from None
        self.parameter_overrides = self._read_parameters(pat.get("parameters", {}), rd)
        mods = pat.get("modifiers", [])
        if not isinstance(mods, list):
            raise rd.error("patient.modifiers", "must be a list of tables ([[patient.modifiers]]"
                                                f"); got {_show(mods)}.")

        # [population]
        pop = raw.get("population", {})
        self.population_size = int(rd.number(pop.get("size", 1), "population.size", minimum=1,
                                             integer=True, maximum=MAX_PATIENTS))
        self.cv_scale = float(rd.number(pop.get("cv_scale", 1.0), "population.cv_scale",
                                        minimum=0.0))

        # [simulation]
        self._read_simulation(raw.get("simulation", {}), rd)

        # [drugs] and [treatments] -> library and treatment plan
        self._library = self._read_library(raw, rd)
        self.modifiers = [self._read_modifier(m, i, rd) for i, m in enumerate(mods)]
        drug_mods = [m for m in self.modifiers if m.drug is not None]
        if drug_mods:
            self._library = self._apply_drug_modifiers(drug_mods, rd)
        self._plan = self._read_treatments(raw.get("treatments", {}), rd)
        self._read_drug_variability(pop.get("drugs", {}), rd)
        self._read_population_correlations(pop.get("correlations", []), rd)

    # -- sections -------------------------------------------------------------------

    def _read_drug_variability(self, table, rd) -> None:
        """``[population.drugs.<drug>]``: per-patient factors on drug quantities."""
        from .sweep.spec import read_drug_dimensions

        self.drug_variability, warns = read_drug_dimensions(
            table, rd, key="population.drugs", library=self._library)
        self.warnings += warns
        if not self.drug_variability:
            return
        from .model.parameters import N_MODEL_PARAMS
        from .model.states import N_CORE
        from .sweep.spec import drug_factor_given

        ct = self._plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=self.duration)
        for d in self.drug_variability:
            key = f"population.drugs.{d.name}"
            try:
                given = drug_factor_given([ct], d.name)
            except NeurosimError as exc:
                raise rd.error(key, _bare(exc)) from None
            if not given:
                self.warnings.append(f"{rd.source}: [{key}] no treatment of this scenario "
                                     f"gives {d.name.rsplit('.', 1)[0]}; the factor has no "
                                     "effect.")

    def _read_population_correlations(self, items, rd) -> None:
        """``[[population.correlations]]``: rank correlations between model parameters
        that vary between patients and drug factors (columns: the parameter table, then
        the drug factors)."""
        from .model.parameters import N_MODEL_PARAMS, PARAMETER_INDEX, PARAMETERS
        from .sweep.spec import read_rank_correlations

        excluded = {r.name: "does not vary between patients (its table CV is 0)."
                    for r in PARAMETERS.rows if r.cv == 0}
        excluded.update({name: "is held fixed by [patient.parameters], so it does not vary "
                               "between patients." for name in self.parameter_overrides})
        index = {r.name: PARAMETER_INDEX[r.name] for r in PARAMETERS.rows
                 if r.name not in excluded}
        index.update({d.name: N_MODEL_PARAMS + j for j, d in enumerate(self.drug_variability)})
        self.population_correlation = read_rank_correlations(
            items, index, N_MODEL_PARAMS + len(self.drug_variability), rd,
            key="population.correlations",
            what="a model parameter or a drug factor of [population.drugs]", excluded=excluded)

    @property
    def correlation_names(self) -> list:
        """Names of the columns of :attr:`population_correlation`."""
        from .model.parameters import PARAMETERS

        return list(PARAMETERS.names) + [d.name for d in self.drug_variability]

    def _read_parameters(self, table, rd) -> dict:
        from .model.parameters import PARAMETERS, ParameterRangeWarning

        if not isinstance(table, Mapping):
            raise rd.error("patient.parameters", "must be a table of parameter = value lines; "
                                                 f"got {_show(table)}.")
        out = {}
        self.warnings: list[str] = []
        for name, value in table.items():
            key = f"patient.parameters.{name}"
            if name not in PARAMETERS:
                raise rd.error(key, f"unknown model parameter {name!r}."
                               + did_you_mean(name, PARAMETERS.names)
                               + " Run 'neurosim params' to list them.")
            row = PARAMETERS[name]
            v = _parameter_value(row, value, key, rd)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ParameterRangeWarning)
                try:
                    v = row.check(v, warn=True)
                except NeurosimError as exc:
                    raise rd.error(key, _bare(exc)) from None
            self.warnings += [f"{rd.source}: [{key}] {w.message}" for w in caught]
            out[name] = v
        if out:
            from .model.parameters import make_parameters

            try:
                make_parameters(out, warn=False)
            except NeurosimError as exc:
                raise rd.error("patient.parameters", _bare(exc)) from None
        return out

    def _read_modifier(self, entry, i, rd) -> Modifier:
        from .model.parameters import PARAMETERS

        key = f"patient.modifiers[{i}]"
        allowed = ("name", "parameter", "drug", "quantity", "factor")
        rd.keys(entry, allowed, key)
        name = rd.text(entry, "name", f"{key}.name", f"modifier {i}")
        if "factor" not in entry:
            raise rd.error(key, "a modifier needs 'factor' (a number > 0, e.g. 1.5).")
        factor = float(rd.number(entry["factor"], f"{key}.factor", minimum=0.0,
                                 allow_zero=False))
        has_par, has_drug = "parameter" in entry, ("drug" in entry or "quantity" in entry)
        if has_par == has_drug:
            raise rd.error(key, "give either 'parameter' (a model parameter) or 'drug' and "
                                "'quantity' (a drug-library quantity such as 'pk.cl').")
        if has_par:
            par = rd.text(entry, "parameter", f"{key}.parameter")
            if par not in PARAMETERS:
                raise rd.error(f"{key}.parameter", f"unknown model parameter {par!r}."
                               + did_you_mean(par, PARAMETERS.names)
                               + " Run 'neurosim params' to list them.")
            return Modifier(name, factor, parameter=par)
        if "drug" not in entry or "quantity" not in entry:
            raise rd.error(key, "a drug modifier needs both 'drug' and 'quantity' (e.g. "
                                "drug = \"oxycodone\", quantity = \"pk.cl\").")
        drug = rd.text(entry, "drug", f"{key}.drug")
        quantity = rd.text(entry, "quantity", f"{key}.quantity")
        if drug not in self._library.drugs:
            raise rd.error(f"{key}.drug", f"unknown drug {drug!r}."
                           + did_you_mean(drug, self._library.names)
                           + f" Known drugs: {', '.join(self._library.names)}.")
        node = self._library.raw["drugs"][drug]
        parts = quantity.split(".")
        for j, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                here = ".".join(parts[:j]) or drug
                choices = list(node) if isinstance(node, Mapping) else []
                raise rd.error(f"{key}.quantity", f"{drug} has no {'.'.join(parts[:j + 1])!r}."
                               + did_you_mean(part, choices)
                               + (f" Keys under {here}: {', '.join(choices)}." if choices
                                  else ""))
            node = node[part]
        if not (isinstance(node, str) or (isinstance(node, Mapping) and "value" in node)):
            raise rd.error(f"{key}.quantity", f"{drug}.{quantity} is not a number with a unit "
                                              "(point at a quantity such as 'pk.cl' or "
                                              "'opioid.ec50').")
        return Modifier(name, factor, drug=drug, quantity=quantity)

    def _apply_drug_modifiers(self, mods, rd):
        from .units import split_quantity

        over: dict = {}
        for i, m in enumerate(mods):
            node = self._library.raw["drugs"][m.drug]
            parts = m.quantity.split(".")
            for part in parts:
                node = node[part]
            if isinstance(node, str):
                value, unit = split_quantity(node)
                source = "scenario"
            else:
                value, unit = node["value"], node.get("unit", "1")
                source = node.get("source", "")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise rd.error("patient.modifiers", f"{m.drug}.{m.quantity} has no numeric "
                                                     "value to scale.")
            tgt = over.setdefault("drugs", {}).setdefault(m.drug, {})
            for part in parts[:-1]:
                tgt = tgt.setdefault(part, {})
            if parts[-1] in tgt:  # two modifiers on one quantity multiply
                value = tgt[parts[-1]]["value"]
            tgt[parts[-1]] = {"value": value * m.factor, "unit": unit,
                              "source": f"scenario modifier '{m.name}': x {m.factor:g} "
                                        f"({source})"}
        try:
            return self._library.with_overrides(over, source=rd.source)
        except NeurosimError as exc:
            raise rd.error("patient.modifiers", _bare(exc)) from None

    def _read_simulation(self, sim, rd):
        start = sim.get("treatment_start", _DEFAULTS["treatment_start"])
        if isinstance(start, str) and _RULE.match(start):
            thr = float(_RULE.match(start).group(1))
            if not 0.0 < thr <= 10.0:
                raise rd.error("simulation.treatment_start",
                               f"the presentation NRS must lie in (0, 10]; got {thr:g}.")
            self.presentation_nrs, self.treatment_start = thr, None
        else:
            if isinstance(start, str) and "nrs" in start.lower():
                raise rd.error("simulation.treatment_start",
                               f"cannot read {start!r}; a presentation rule is written "
                               "'nrs >= 4'.")
            try:
                self.treatment_start = parse_quantity(start, "time", name="treatment_start",
                                                      minimum=0.0)
            except NeurosimError as exc:
                raise rd.error("simulation.treatment_start",
                               _bare(exc) + " Write a time after diagnosis ('6 months', "
                               "'0 d') or a presentation rule ('nrs >= 4').") from None
            rd.check_span(self.treatment_start, start, "simulation.treatment_start")
            self.presentation_nrs = None
        self.presentation_limit = rd.span(
            sim.get("presentation_limit", _DEFAULTS["presentation_limit"]),
            "simulation.presentation_limit", minimum=0.0, allow_zero=False)
        self.duration = rd.span(sim.get("duration", _DEFAULTS["duration"]),
                                "simulation.duration", minimum=0.0, allow_zero=False)
        self.output_interval = rd.quantity(
            sim.get("output_interval", _DEFAULTS["output_interval"]), "time",
            "simulation.output_interval", minimum=0.0, allow_zero=False)
        per_day = HOURS_PER_DAY / self.output_interval
        if self.output_interval > HOURS_PER_DAY or abs(per_day - round(per_day)) > 1e-9:
            raise rd.error("simulation.output_interval",
                           f"{format_duration(self.output_interval)} does not divide a day; use "
                           "e.g. '15 min', '1 h', '6 h' or '1 d' (daily MME needs whole days).")
        if self.duration < self.output_interval:
            raise rd.error("simulation.duration", "must be at least one output interval "
                                                  f"({format_duration(self.output_interval)}).")
        if self.duration / self.output_interval > 2_000_000:
            raise rd.error("simulation.output_interval", "more than 2 million output times; "
                                                         "use a longer interval.")
        hist_given = "history" in sim
        hist = rd.quantity(sim.get("history", _DEFAULTS["history"]), "time",
                           "simulation.history", minimum=0.0)
        if abs(hist / HOURS_PER_DAY - round(hist / HOURS_PER_DAY)) > 1e-9:
            raise rd.error("simulation.history", f"{format_duration(hist)} is not a whole "
                                                 "number of days; use e.g. '4 weeks' or '30 d'.")
        if self.treatment_start is not None and hist > self.treatment_start:
            if hist_given:
                raise rd.error("simulation.history",
                               f"the history ({format_duration(hist)}) is longer than the "
                               f"time from diagnosis to treatment start "
                               f"({format_duration(self.treatment_start)}); shorten it.")
            hist = HOURS_PER_DAY * math.floor(self.treatment_start / HOURS_PER_DAY + 1e-9)
        if self.presentation_nrs is not None and hist > self.presentation_limit:
            raise rd.error("simulation.history", "the history is longer than the "
                                                 "presentation limit; shorten it.")
        self.history = float(round(hist / HOURS_PER_DAY) * HOURS_PER_DAY)
        if "endpoint" in sim:
            self.endpoint = rd.quantity(sim["endpoint"], "time", "simulation.endpoint",
                                        minimum=0.0, allow_zero=False)
            if self.endpoint > self.duration * (1 + 1e-12):
                raise rd.error("simulation.endpoint",
                               f"the endpoint ({format_duration(self.endpoint)}) lies after the "
                               f"end of the simulation ({format_duration(self.duration)}).")
        else:
            self.endpoint = min(_DEFAULT_ENDPOINT, self.duration)
        self.rtol = float(rd.number(sim.get("rtol", DEFAULT_RTOL), "simulation.rtol",
                                    minimum=0.0, allow_zero=False))
        if not 1e-12 <= self.rtol <= 1e-2:
            raise rd.error("simulation.rtol", f"must lie between 1e-12 and 1e-2; got "
                                              f"{self.rtol:g}.")
        save = sim.get("save_states", True)
        if not isinstance(save, bool):
            raise rd.error("simulation.save_states", f"must be true or false; got {_show(save)}.")
        self.save_states = save

    def _read_library(self, raw, rd):
        base = _base_library()
        drugs = raw.get("drugs", {})
        if not isinstance(drugs, Mapping):
            raise rd.error("drugs", f"must be tables [drugs.<name>]; got {_show(drugs)}.")
        lib_tab = raw.get("treatments", {}).get("library", {}) if isinstance(
            raw.get("treatments", {}), Mapping) else {}
        if not isinstance(lib_tab, Mapping):
            raise rd.error("treatments.library", f"must be a table; got {_show(lib_tab)}.")
        both = set(drugs) & set(lib_tab.get("drugs", {}) if isinstance(
            lib_tab.get("drugs", {}), Mapping) else {})
        if both:
            name = sorted(both)[0]
            raise rd.error(f"drugs.{name}", f"drug {name!r} is given both in [drugs.{name}] "
                                            f"and in [treatments.library.drugs.{name}]; keep "
                                            "one.")
        lib = base
        try:
            if drugs:
                lib = lib.with_overrides({"drugs": dict(drugs)}, source=rd.source)
            if lib_tab:
                lib = lib.with_overrides(lib_tab, source=rd.source)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            if isinstance(exc, NeurosimError):
                raise self._library_error(exc, drugs, lib_tab, rd) from None
            # a value of an unexpected type deep inside a drug table
            raise rd.error("drugs" if drugs else "treatments.library",
                           f"cannot read the drug tables: {exc!s} (check the types of the "
                           "values against docs/drugs.md).") from None
        return lib

    @staticmethod
    def _library_error(exc, drugs, lib_tab, rd) -> ScenarioError:
        """The library's error, keyed by where the offending table sits in the scenario."""
        key = getattr(exc, "key", None)
        if lib_tab and key and not (drugs and key.startswith("drugs.")
                                    and key.split(".")[1] in drugs):
            key = f"treatments.library.{key}"
        return rd.error(key or "drugs", _bare(exc))

    def _read_treatments(self, table, rd):
        from .model import N_CORE, N_MODEL_PARAMS
        from .treatments import TreatmentPlan

        if not isinstance(table, Mapping):
            raise rd.error("treatments", f"must be a table; got {_show(table)}.")
        tab = {k: v for k, v in table.items() if k != "library"}
        tab["liver"] = self.liver
        tab["body_weight"] = f"{self.body_weight!r} kg"
        try:
            plan = TreatmentPlan.from_scenario(tab, library=self._library, source=rd.source)
            # Compiling finds what only the whole plan shows (overlapping infusions,
            # titration of a drug no regimen gives).
            plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=self.duration)
        except NeurosimError as exc:
            key = getattr(exc, "key", None) or "treatments"
            if not key.startswith(("treatments", "drugs.")):
                key = f"treatments.{_KIND_OF_KEY.get(key.split('.')[0], key)}"
            raise rd.error(key, _bare(exc)) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            # A value of an unexpected type deep inside a treatment entry: report it
            # as a scenario error rather than a traceback.
            raise rd.error("treatments", f"cannot read the treatments: {exc!s} (check the "
                                         "types of the values; see docs/drugs.md).") from None
        # A treatment that starts after the treated phase never acts: surely a slip.
        for kind, items in (("regimens", plan.regimens), ("procedures", plan.procedures)):
            for i, item in enumerate(items):
                if item.start >= self.duration:
                    self.warnings.append(
                        f"{rd.source}: [treatments.{kind}[{i}]] starts at "
                        f"{format_duration(item.start)}, not before the end of the treated "
                        f"phase ({format_duration(self.duration)}): it never acts. Times in "
                        "[treatments] count from the treatment start.")
        return plan

    # -- derived --------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The scenario as TOML (the file's own text if loaded and unchanged)."""
        if self._text is not None:
            return self._text
        return _toml.dumps(self.raw, header=self._header)

    @property
    def plan(self):
        """The validated :class:`~neurosim.treatments.TreatmentPlan`."""
        return self._plan

    @property
    def library(self):
        """The drug library with this scenario's additions and modifiers."""
        return self._library

    @property
    def start_label(self) -> str:
        """The treatment start in words."""
        if self.presentation_nrs is not None:
            return f"first day with NRS >= {self.presentation_nrs:g}"
        return f"{format_duration(self.treatment_start)} after diagnosis"

    def describe(self) -> str:
        """The scenario in words: patient, timeline, treatments, safety flags."""
        lines = [f"Scenario {self.name!r}" + (f": {self.description}" if self.description
                                              else "")]
        pat = f"Patient: liver {self.liver}, {self.body_weight:g} kg"
        if self.parameter_overrides:
            pat += "; " + ", ".join(f"{k} = {v:g}" for k, v in self.parameter_overrides.items())
        lines.append(pat)
        for m in self.modifiers:
            lines.append(f"  modifier {m!r}")
        if self.population_size > 1:
            lines.append(f"Population: {self.population_size} patients (seed {self.seed}, "
                         f"cv x {self.cv_scale:g})")
        if self.drug_variability:
            lines.append("Drugs that differ between patients (population runs):")
            lines += [f"  {d.describe()}" for d in self.drug_variability]

        C = self.population_correlation
        if C is not None:
            names = self.correlation_names
            lines += [f"Rank correlation between patients: {names[a]} ~ {names[b]}: "
                      f"{C[a, b]:g}" for a in range(len(names)) for b in range(a + 1, len(names))
                      if C[a, b] != 0.0]
        lines.append(f"Treatment starts: {self.start_label}; simulated for "
                     f"{format_duration(self.duration)} after it (history "
                     f"{format_duration(self.history) if self.history else 'none'}), output "
                     f"every {format_duration(self.output_interval)}, metrics to "
                     f"{format_duration(self.endpoint)}, rtol {self.rtol:g}")
        plan_text = self._plan.describe().splitlines()[1:]
        lines.append("Treatments:" if plan_text else "Treatments: none (natural history)")
        lines += [f"  {x}" for x in plan_text]
        for f in self._plan.safety_report(self.duration):
            lines.append(f"  SAFETY ({f['severity']}): {f['message']}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        n = len(self._plan.regimens) + len(self._plan.procedures)
        return (f"Scenario({self.name!r}, liver={self.liver!r}, "
                f"{n} treatment{'s' if n != 1 else ''}, start={self.start_label!r}, "
                f"duration={format_duration(self.duration)!r})")

    def to_dict(self) -> dict:
        """The scenario as a dict in the file layout (a copy of :attr:`raw`)."""
        return copy.deepcopy(self.raw)


_KIND_OF_KEY = {"regimen": "regimens", "titration": "titration", "rescue": "rescue",
                "procedure": "procedures"}

_BASE_LIBRARY = None


def _base_library():
    # The packaged library is immutable (overrides make new objects), so one copy
    # serves every scenario of a process.
    global _BASE_LIBRARY
    if _BASE_LIBRARY is None:
        from .treatments.library import load_library

        _BASE_LIBRARY = load_library()
    return _BASE_LIBRARY


def _reject_none(node, key: str, rd: _Reader):
    """TOML has no null; a None from Python would be silently read as 'not given'."""
    items = node.items() if isinstance(node, Mapping) else (
        enumerate(node) if isinstance(node, list) else ())
    for k, v in items:
        sub = (f"{key}[{k}]" if isinstance(k, int) else (f"{key}.{k}" if key else str(k)))
        if v is None:
            raise rd.error(sub, "has no value (None); give a value or leave the key out.")
        _reject_none(v, sub, rd)


def _set_keyword(raw: dict, kw: str, value):
    if kw not in _KEYWORDS:
        from .errors import NeurosimTypeError

        raise NeurosimTypeError(f"unknown scenario keyword {kw!r}." + did_you_mean(kw, _KEYWORDS)
                                + f" Keywords: {', '.join(_KEYWORDS)}.")
    section, key = _KEYWORDS[kw]
    if key is None:
        raw[section] = copy.deepcopy(value)
        return
    tab = raw.setdefault(section, {})
    if not isinstance(tab, dict):
        raise ScenarioError(f"[{section}] must be a table.", key=section)
    tab[key] = copy.deepcopy(value)


# ----------------------------------------------------------------------------- files


def packaged_scenarios() -> dict[str, Any]:
    """The scenario files shipped with neurosim, by name (without ``.toml``).

    Returns
    -------
    dict of str -> importlib.resources Traversable
    """
    root = resources.files("neurosim").joinpath(_PACKAGED)
    out = {}
    try:
        entries = list(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return out
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out[entry.name[:-5]] = entry
    return out


def scenario_path(name_or_path) -> Path | Any:
    """Resolve a scenario argument: an existing file, or a packaged scenario's name.

    Raises
    ------
    ScenarioError
        When neither exists (naming the packaged scenarios, with did-you-mean).
    """
    if not isinstance(name_or_path, (str, Path)) and hasattr(name_or_path, "read_text"):
        return name_or_path  # a packaged resource (importlib.resources Traversable)
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.exists():
        raise ScenarioError("is not a file.", file=str(p))
    packaged = packaged_scenarios()
    stem = p.name[:-5] if p.name.endswith(".toml") else p.name
    if (str(name_or_path) == stem or str(name_or_path) == p.name) and stem in packaged:
        return packaged[stem]
    raise ScenarioError("file not found. Give a path to a .toml scenario file or the name of "
                        "a packaged scenario." + did_you_mean(stem, packaged)
                        + f" Packaged scenarios: {', '.join(packaged)}.", file=str(p))


def _read_text(path) -> tuple[str, str]:
    p = scenario_path(path)
    return read_toml_text(p), str(p)


def read_toml_text(path) -> str:
    """The text of a TOML file, or a :class:`ScenarioError` naming the file.

    Used by every reader of neurosim's TOML files (scenarios, sweeps,
    sensitivity files): a missing file, a directory, a binary file or an
    unreadable one each get one clear message.
    """
    p = path if hasattr(path, "read_text") else Path(path)  # a path or a packaged resource
    if not p.is_file():
        exists = getattr(p, "exists", None)
        raise ScenarioError("is not a file." if exists is not None and exists() else
                            "file not found.", file=str(p))
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("is not a text file (TOML is UTF-8 text).", file=str(p)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot be read: {exc.strerror or exc}.", file=str(p)) from None


def _parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}. Check quotes around text and units "
                            "(duration = \"12 weeks\").", file=source) from None


def loads_scenario(text: str, *, source: str = "<string>") -> Scenario:
    """Read a scenario from TOML text."""
    return Scenario.from_dict(_parse_toml(text, source), source=source, text=text)


def load_scenario(path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` file, or the name of a packaged scenario
        (``"morphine_fixed"``; see :func:`packaged_scenarios`).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Naming the file and key of the first problem found.
    """
    text, source = _read_text(path)
    raw = _parse_toml(text, source)
    if not raw:
        raise ScenarioError("is empty (or holds only comments): a scenario file needs at least "
                            "a [scenario] table, e.g. name = \"my_scenario\" under it "
                            "(docs/scenarios.md).", file=source)
    return Scenario.from_dict(raw, source=source, text=text)


def load_comparison(path) -> tuple[str, str, list]:
    """Read a comparison-set file.

    A comparison set lists scenario files (relative to its own folder)::

        [comparison]
        name = "standard"
        description = "..."
        scenarios = ["baseline.toml", "nsaid.toml"]

    Returns
    -------
    name : str
    description : str
    paths : list
        Resolved scenario paths, in order.
    """
    text, source = _read_text(path)
    raw = _parse_toml(text, source)
    rd = _Reader(source)
    if "comparison" not in raw:
        raise rd.error(None, "is not a comparison set (it has no [comparison] table).")
    rd.keys(raw, ("comparison",), "")
    tab = raw["comparison"]
    rd.keys(tab, ("name", "description", "scenarios"), "comparison")
    names = tab.get("scenarios")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise rd.error("comparison.scenarios", "must be a non-empty list of scenario file "
                                               "names, e.g. [\"baseline.toml\"].")
    p = scenario_path(path)
    paths = []
    for i, n in enumerate(names):
        target = p.parent / n if isinstance(p, Path) else p.parent.joinpath(n)
        if not target.is_file():
            raise rd.error(f"comparison.scenarios[{i}]", f"{n!r} not found next to the "
                                                         "comparison file.")
        paths.append(target)
    stem = Path(source).stem
    return (rd.text(tab, "name", "comparison.name", stem) or stem,
            rd.text(tab, "description", "comparison.description"), paths)


def is_comparison(path) -> bool:
    """Whether a file (or packaged name) is a comparison set rather than a scenario."""
    try:
        text, source = _read_text(path)
        return "comparison" in _parse_toml(text, source)
    except ScenarioError:
        return False
