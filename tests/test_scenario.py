"""Scenario files: schema, unit conversion, errors that name file and key."""
from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import pytest

from neurosim import _toml
from neurosim.errors import NeurosimError, ScenarioError
from neurosim.scenario import (DEFAULT_RTOL, Scenario, load_comparison, load_scenario,
                               loads_scenario, packaged_scenarios, scenario_path)
from neurosim.units import HOURS_PER_MONTH

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

FULL = """
[scenario]
name = "full"
description = "every section"
seed = 7

[patient]
liver = "B"
body_weight = "80 kg"

[patient.parameters]
tumor_doubling_time = "100 d"
antibody_kon = "0.1 1/(nM min)"
liver_inflammation = 1.2
tnf_basal = { value = 0.002, unit = "ng/mL" }

[[patient.modifiers]]
name = "IL-6 high producer"
parameter = "il6_per_macrophage"
factor = 1.5

[[patient.modifiers]]
name = "slow clearance"
drug = "morphine"
quantity = "pk.cl"
factor = 0.5

[population]
size = 3
cv_scale = 0.5

[simulation]
treatment_start = "6 months"
presentation_limit = "2 years"
duration = "3 weeks"
history = "2 weeks"
output_interval = "30 min"
endpoint = "2 weeks"
rtol = 1e-6
save_states = false

[treatments]
regimens = ["morphine 10 mg po q4h", { drug = "newdrug", route = "po", dose = "0.5 g", interval = "12 h" }]

[[treatments.procedures]]
procedure = "celiac_plexus_neurolysis"
at = "3 d"

[drugs.newdrug]
class = "other"
molar_mass = { value = 300, unit = "g/mol", source = "assumption" }

[drugs.newdrug.pk]
compartments = 1
v1 = { value = 1.0, unit = "L/kg", source = "assumption" }
cl = { value = 20, unit = "L/h", source = "assumption" }
fraction_hepatic = { value = 0.5, source = "assumption" }
fu = { value = 0.5, source = "assumption" }

[drugs.newdrug.routes.po]
ka = { value = 1.0, unit = "1/h", source = "assumption" }

[drugs.newdrug.effects.cox2]
kind = "inhibit"
site = "plasma"
emax = { value = 0.5, source = "assumption" }
ec50 = { value = 1.0, unit = "mg/L", source = "assumption" }
"""


@pytest.fixture()
def full(tmp_path):
    path = tmp_path / "full.toml"
    path.write_text(FULL)
    return path, load_scenario(path)


def test_every_section_is_read_in_internal_units(full):
    _, sc = full
    assert sc.name == "full" and sc.description == "every section" and sc.seed == 7
    assert sc.liver == "child_pugh_b"
    assert sc.body_weight == pytest.approx(80.0)
    # 100 d = 2400 h; 0.1 /(nM min) = 6 /(nM h); 0.002 ng/mL = 2 pg/mL
    assert sc.parameter_overrides["tumor_doubling_time"] == pytest.approx(2400.0)
    assert sc.parameter_overrides["antibody_kon"] == pytest.approx(6.0)
    assert sc.parameter_overrides["liver_inflammation"] == 1.2
    assert sc.parameter_overrides["tnf_basal"] == pytest.approx(2.0)
    assert [m.parameter for m in sc.modifiers] == ["il6_per_macrophage", None]
    assert sc.population_size == 3 and sc.cv_scale == 0.5
    assert sc.treatment_start == pytest.approx(6 * HOURS_PER_MONTH)
    assert sc.presentation_nrs is None
    assert sc.presentation_limit == pytest.approx(24 * HOURS_PER_MONTH)
    assert sc.duration == 21 * 24.0 and sc.history == 14 * 24.0
    assert sc.output_interval == 0.5 and sc.endpoint == 14 * 24.0
    assert sc.rtol == 1e-6 and sc.save_states is False
    # the hypothetical drug is in the scenario's library and its regimen in the plan
    assert "newdrug" in sc.library.names
    assert [r.drug for r in sc.plan.regimens] == ["morphine", "newdrug"]
    assert sc.plan.regimens[1].amount == 500.0
    assert len(sc.plan.procedures) == 1 and sc.plan.procedures[0].start == 72.0


def test_drug_modifier_scales_the_library_quantity(full):
    _, sc = full
    base = load_scenario(scenario_path("morphine_fixed")).library.drug("morphine").pk.cl
    cl = sc.library.drug("morphine").pk.cl
    assert cl.unit == base.unit
    assert cl.value == pytest.approx(0.5 * base.value)
    assert "modifier" in cl.source
    two = Scenario(regimens=["morphine 10 mg po q4h"], modifiers=[
        {"drug": "morphine", "quantity": "pk.cl", "factor": 0.9},
        {"drug": "morphine", "quantity": "pk.cl", "factor": 0.9}])
    assert two.library.drug("morphine").pk.cl.value == pytest.approx(0.81 * base.value)
    # a modifier that makes the drug inconsistent is reported with the drug's key
    with pytest.raises(ScenarioError, match="exceeds the total clearance") as info:
        Scenario(regimens=["morphine 10 mg po q4h"],
                 modifiers=[{"drug": "morphine", "quantity": "pk.cl", "factor": 0.25}])
    assert info.value.key.startswith("drugs.morphine")


def test_defaults():
    sc = Scenario()
    assert sc.name == "scenario" and sc.seed == 0 and sc.liver == "healthy"
    assert sc.body_weight == 70.0
    assert sc.presentation_nrs == 4.0 and sc.treatment_start is None
    assert sc.duration == 12 * 168.0 and sc.history == 4 * 168.0
    assert sc.output_interval == 1.0 and sc.endpoint == 12 * 168.0
    assert sc.rtol == DEFAULT_RTOL and sc.save_states is True
    assert sc.population_size == 1 and not sc.plan.regimens
    # endpoint follows a shorter duration; history is cut to a fixed start
    assert Scenario(duration="2 weeks").endpoint == 2 * 168.0
    assert Scenario(treatment_start="10 d").history == 240.0


def test_keywords_from_dict_and_text_agree(full):
    path, sc = full
    kw = Scenario(name="x", liver="child_pugh_b", regimens=["morphine 10 mg po q4h"],
                  duration="2 weeks", treatment_start="nrs >= 5")
    d = Scenario.from_dict({"scenario": {"name": "x"}, "patient": {"liver": "child_pugh_b"},
                            "treatments": {"regimens": ["morphine 10 mg po q4h"]},
                            "simulation": {"duration": "2 weeks",
                                           "treatment_start": "nrs >= 5"}})
    assert kw.raw == d.raw
    assert kw.presentation_nrs == 5.0
    # a scenario built in Python is stored as TOML that reads back to the same thing
    again = loads_scenario(kw.text)
    assert again.raw == kw.raw and again.duration == kw.duration
    # loaded from a file, the text is the file's own
    assert sc.text == path.read_text()
    changed = sc.with_changes(liver="healthy", duration="4 weeks")
    assert changed.liver == "healthy" and changed.duration == 4 * 168.0
    assert sc.liver == "child_pugh_b"  # unchanged original
    assert "changed: liver='healthy'" in changed.text
    assert loads_scenario(changed.text).raw == changed.raw


def test_toml_writer_round_trip():
    data = {"a": {"text": 'quote " backslash \\ newline \n tab \t unicode µ',
                  "n": 3, "x": 0.1, "big": 1e300, "neg": -2.5, "flag": True,
                  "list": [1, 2, 3], "words": ["a", "b"], "empty": [],
                  "inline": [{"k": 1}, {"k": "v", "nested": {"z": 1.5}}],
                  "key with space": 1},
            "tables": [{"x": 1, "sub": {"y": 2}}, {"x": 2}],
            "deep": {"er": {"est": {"v": "w"}}}}
    assert tomllib.loads(_toml.dumps(data, header="a header\nline two")) == data


def test_unit_of_a_parameter_converted_from_any_compatible_unit():
    a = Scenario(parameters={"tumor_doubling_time": "20 weeks"})
    b = Scenario(parameters={"tumor_doubling_time": "3360 h"})
    assert a.parameter_overrides["tumor_doubling_time"] == pytest.approx(3360.0)
    assert b.parameter_overrides["tumor_doubling_time"] == 3360.0


def test_out_of_range_parameter_is_a_warning_not_an_error():
    sc = Scenario(parameters={"tumor_doubling_time": "5 years"})
    assert sc.warnings and "plausible range" in sc.warnings[0]
    assert "patient.parameters.tumor_doubling_time" in sc.warnings[0]


# ----------------------------------------------------------------------------- errors

BASE = {"scenario": {"name": "t"},
        "simulation": {"duration": "2 weeks"},
        "treatments": {"regimens": ["morphine 10 mg po q4h"]}}


def _with(path, value):
    d = copy.deepcopy(BASE)
    node = d
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return d


ERRORS = [
    # (mutated dict, key named in the error, text the message must contain)
    ({**BASE, "patinet": {}}, "patinet", "Did you mean 'patient'"),
    (_with("simulation.duraton", "1 d"), "simulation.duraton", "Did you mean 'duration'"),
    (_with("simulation.duration", "5 mg"), "simulation.duration", "must be a time"),
    (_with("simulation.duration", 5), "simulation.duration", "has no unit"),
    (_with("simulation.duration", "-2 weeks"), "simulation.duration", "must be >"),
    (_with("simulation.output_interval", "7 h"), "simulation.output_interval", "divide a day"),
    (_with("simulation.history", "36 h"), "simulation.history", "whole number of days"),
    (_with("simulation.endpoint", "3 weeks"), "simulation.endpoint", "after the end"),
    (_with("simulation.treatment_start", "nrs > 4"), "simulation.treatment_start", "nrs >= 4"),
    (_with("simulation.treatment_start", "nrs >= 11"), "simulation.treatment_start", "(0, 10]"),
    (_with("simulation.rtol", "1e-5"), "simulation.rtol", "must be a number"),
    (_with("simulation.save_states", "yes"), "simulation.save_states", "true or false"),
    ({**_with("simulation.treatment_start", "3 d"), "simulation": {
        "duration": "2 weeks", "treatment_start": "3 d", "history": "1 week"}},
     "simulation.history", "longer than the time from diagnosis"),
    (_with("scenario.seed", -1), "scenario.seed", ">= 0"),
    (_with("scenario.seed", 1.5), "scenario.seed", "whole number"),
    (_with("population.size", 0), "population.size", ">= 1"),
    (_with("patient.liver", "child_pugh_d"), "patient.liver", "Did you mean 'child_pugh_c'"),
    (_with("patient.liver", 3), "patient.liver", "liver-state name"),
    (_with("patient.body_weight", "70 L"), "patient.body_weight", "must be a mass"),
    (_with("patient.parameters", {"tumor_doubling_tim": "1 d"}),
     "patient.parameters.tumor_doubling_tim", "Did you mean 'tumor_doubling_time'"),
    (_with("patient.parameters", {"tumor_doubling_time": 140}),
     "patient.parameters.tumor_doubling_time", "has no unit"),
    (_with("patient.parameters", {"tumor_doubling_time": "140 mg"}),
     "patient.parameters.tumor_doubling_time", "does not fit"),
    (_with("patient.parameters", {"tumor_doubling_time": "-3 d"}),
     "patient.parameters.tumor_doubling_time", "must be > 0"),
    (_with("patient.modifiers", [{"parameter": "il6_per_macrophag", "factor": 2}]),
     "patient.modifiers[0].parameter", "Did you mean 'il6_per_macrophage'"),
    (_with("patient.modifiers", [{"parameter": "il6_per_macrophage", "factor": -2}]),
     "patient.modifiers[0].factor", "must be >"),
    (_with("patient.modifiers", [{"drug": "morphine", "quantity": "pk.cll", "factor": 2}]),
     "patient.modifiers[0].quantity", "Did you mean 'cl'"),
    (_with("patient.modifiers", [{"drug": "morphin", "quantity": "pk.cl", "factor": 2}]),
     "patient.modifiers[0].drug", "Did you mean 'morphine'"),
    (_with("treatments.regimens", ["morphin 10 mg po q4h"]), "treatments.regimens[0]",
     "Did you mean 'morphine'"),
    (_with("treatments.regimens", ["morphine 10 mg pox q4h"]), "treatments.regimens[0]",
     "Did you mean 'po'"),
    (_with("treatments.regimens", ["morphine -10 mg po q4h"]), "treatments.regimens[0]",
     "negative"),
    (_with("treatments.regimens", ["morphine 10 mL po q4h"]), "treatments.regimens[0]",
     "must be a mass"),
    (_with("treatments.regimens", [{"drug": "morphine", "route": "po", "dose": "-5 mg"}]),
     "treatments.regimens[0]", "> 0"),
    (_with("treatments.regimens", ["morphine 2 mg/h iv for 5 d",
                                   "morphine 1 mg/h iv from 2 d"]),
     "treatments.regimens", "overlapping infusions"),
    (_with("treatments.regimen", ["morphine 10 mg po q4h"]), "treatments.regimen",
     "Did you mean 'regimens'"),
    (_with("treatments.procedures", [{"procedure": "celiac_plexus_neurolisis", "at": "1 d"}]),
     "treatments.procedures[0]", "Did you mean 'celiac_plexus_neurolysis'"),
    (_with("treatments.titration", [{"drug": "morphine", "stepp": 0.5}]),
     "treatments.titration[0]", "Did you mean 'step'"),
    (_with("drugs", {"morphine": {"pk": {"cl": "3 mg"}}}), "drugs.morphine.pk.cl",
     "must be a clearance"),
    (_with("drugs", {"newdrug": {"class": "other"}}), "drugs.newdrug", "molar_mass"),
    # values that parse but cannot be meant: caught before any simulation
    (_with("population.size", 10 ** 9), "population.size", "must be <= 100,000,000"),
    (_with("patient.body_weight", "5 mg"), "patient.body_weight", "between 10 and 400 kg"),
    (_with("treatments.regimens", ["morphine 1e308 mg po q4h"]), "treatments.regimens[0]",
     "a kilogram of drug"),
    (_with("treatments.regimens", ["morphine 10 mg po every 0.0001 s"]),
     "treatments.regimens", "at most 1,000,000 are allowed"),
    (_with("treatments.titration", [{"drug": "morphine", "every": "0.001 s"}]),
     "treatments.titration", "at most 1,000,000 are allowed"),
    (_with("treatments.titration", [{"drug": "morphine", "step": float("inf")}]),
     "treatments.titration[0]", "step must be a fraction from 0 to 10"),
    (_with("treatments.titration", [{"drug": "morphine", "severe_step": float("nan")}]),
     "treatments.titration[0]", "severe_step must be a fraction from 0 to 10 (e.g. 0.25 "
     "for +25 %); got nan"),
    (_with("treatments.titration", [{"drug": "morphine", "max_multiplier": 1e9}]),
     "treatments.titration[0]", "max_multiplier must be from 1 to 1000"),
    (_with("treatments.rescue", [{"drug": "morphine", "dose": "5 mg po", "threshold_nrs": 11}]),
     "treatments.rescue[0]", "threshold_nrs must lie in 0-10; got 11"),
    (_with("treatments.rescue", [{"drug": "morphine", "dose": "5 mg po", "threshold_nrs": -6}]),
     "treatments.rescue[0]", "threshold_nrs must lie in 0-10; got -6"),
    (_with("treatments.rescue", [{"drug": "morphine", "dose": "5 mg po",
                                  "check_every": "0.001 s"}]),
     "treatments.rescue", "at most 1,000,000 are allowed"),
    (_with("treatments.rescue", [{"drug": "morphine", "dose": "nan h"}]),
     "treatments.rescue[0]", "starts with 'nan', which is neither a dose (a number with its "
     "unit, e.g. '5 mg po') nor the entry's drug 'morphine'"),
    (_with("simulation.duration", "1e9 weeks"), "simulation.duration",
     "'1e9 weeks' is longer than 100 years"),
    (_with("simulation.treatment_start", "101 years"), "simulation.treatment_start",
     "'101 years' is longer than 100 years"),
    (_with("simulation.presentation_limit", "1e6 months"), "simulation.presentation_limit",
     "longer than 100 years"),
    (_with("treatments.rescue", [{"drug": "morphine", "dose": "5 mg xx"}]),
     "treatments.rescue[0]", "has no route 'xx'; its routes are: po, po_sr, iv, sc. Add a "
     "route under [drugs.morphine.routes] to use another."),
]


@pytest.mark.parametrize("raw, key, text", ERRORS, ids=[e[1] + ":" + e[2][:20] for e in ERRORS])
def test_errors_name_file_key_and_fix(tmp_path, raw, key, text):
    path = tmp_path / "bad.toml"
    path.write_text(_toml.dumps(raw))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    exc = info.value
    assert exc.file == str(path)
    assert exc.key == key
    msg = str(exc)
    assert msg.startswith(f"{path}: [{key}] ")
    assert text in msg


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n"])
def test_an_empty_scenario_file_is_an_error(tmp_path, text):
    path = tmp_path / "empty.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="is empty") as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[simulation]\nduration = "2 weeks\n')
    with pytest.raises(ScenarioError, match="not valid TOML") as info:
        load_scenario(path)
    assert info.value.file == str(path)


def test_missing_file_suggests_packaged_scenarios(tmp_path):
    with pytest.raises(ScenarioError, match="file not found") as info:
        load_scenario("morphine_fixd")
    assert "Did you mean 'morphine_fixed'" in str(info.value)
    with pytest.raises(ScenarioError, match="not a file"):
        load_scenario(tmp_path)


def test_comparison_set_is_not_a_scenario():
    with pytest.raises(ScenarioError, match="comparison set"):
        load_scenario(scenario_path("compare_standard"))


def test_python_keyword_typo_is_a_type_error_with_suggestion():
    with pytest.raises(NeurosimError, match="Did you mean 'duration'"):
        Scenario(duraton="1 week")


def test_drug_in_two_places_is_rejected():
    entry = {"class": "other"}
    raw = copy.deepcopy(BASE)
    raw["drugs"] = {"x": entry}
    raw["treatments"]["library"] = {"drugs": {"x": entry}}
    with pytest.raises(ScenarioError, match="keep one") as info:
        Scenario.from_dict(raw, source="s.toml")
    assert info.value.key == "drugs.x"


# ----------------------------------------------------------------------------- packaged files


def test_packaged_scenarios_mirror_the_repository_folder():
    """``scenarios/`` (what users browse) and the package data (what pip installs) agree."""
    repo = {p.name: p.read_bytes() for p in (REPO / "scenarios").glob("*.toml")}
    packaged = {name + ".toml": res.read_bytes() for name, res in packaged_scenarios().items()}
    assert repo, "no scenarios found"
    assert repo == packaged


def test_scenario_path_finds_packaged_names():
    p = scenario_path("morphine_fixed")
    assert p.name == "morphine_fixed.toml"
    assert load_scenario("morphine_fixed.toml").name == "morphine_fixed"


def test_comparison_set_lists_every_scenario():
    name, _, paths = load_comparison(scenario_path("compare_standard"))
    listed = {Path(str(p)).name for p in paths}
    every = {n + ".toml" for n in packaged_scenarios()} - {"compare_standard.toml"}
    assert name == "standard"
    assert listed == every


def test_describe_mentions_treatments_and_safety():
    sc = load_scenario("nsaid").with_changes(liver="child_pugh_b")
    text = sc.describe()
    assert "celecoxib 200 mg" in text
    assert "SAFETY (high)" in text
    assert math.isclose(sc.duration, 12 * 168.0)


def test_a_span_of_exactly_the_limit_is_accepted(tmp_path):
    from neurosim.scenario import MAX_SPAN_YEARS

    assert MAX_SPAN_YEARS == 100
    raw = _with("simulation.duration", "100 years")
    raw["simulation"]["output_interval"] = "1 d"
    path = tmp_path / "long.toml"
    path.write_text(_toml.dumps(raw))
    # 100 mean Gregorian years of 365.25 days: 876,600 h
    assert load_scenario(path).duration == pytest.approx(876_600.0, rel=1e-15)


@pytest.mark.parametrize("entry, kind", [
    ({"regimens": ["morphine 10 mg po q4h from 3 weeks"]}, "regimens"),
    ({"procedures": [{"procedure": "celiac_plexus_neurolysis", "at": "2 weeks"}]}, "procedures"),
])
def test_a_treatment_starting_after_the_treated_phase_is_a_warning(entry, kind):
    sc = Scenario(duration="2 weeks", **{k: v for k, v in entry.items()})
    (w,) = [w for w in sc.warnings if "never acts" in w]
    assert f"[treatments.{kind}[0]] starts at" in w and "(2 weeks)" in w
    # one starting inside the phase is fine
    ok = Scenario(duration="4 weeks", **entry)
    assert not [w for w in ok.warnings if "never acts" in w]
