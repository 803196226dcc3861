"""Tests of the drug library as data: loading, sources, overrides, errors."""
import tomllib
from importlib import resources

import pytest

from neurosim.errors import NeurosimKeyError, ScenarioError
from neurosim.treatments.library import load_library
from neurosim.treatments.liver import disposition
from neurosim.treatments.slots import SLOT_NAMES

REQUIRED_DRUGS = ("morphine", "oxycodone", "hydromorphone", "fentanyl", "tanezumab",
                  "tocilizumab", "adalimumab", "celecoxib", "dexamethasone", "paracetamol")


@pytest.fixture(scope="module")
def lib():
    return load_library()


def test_library_has_the_required_drugs_and_procedures(lib):
    for d in REQUIRED_DRUGS:
        assert d in lib.drugs
    assert set(lib.drug("morphine").routes) >= {"po", "iv"}
    assert lib.drug("morphine").metabolite.name == "M6G"
    assert set(lib.drug("fentanyl").routes) >= {"iv", "td"}
    assert set(lib.drug("tanezumab").routes) >= {"iv", "sc"}
    assert lib.drug("celecoxib").drug_class == "nsaid"
    assert {e.slot for e in lib.drug("tanezumab").effects} == {"ngf_binder"}
    assert {e.slot for e in lib.drug("tocilizumab").effects} == {"il6_activity"}
    assert {e.slot for e in lib.drug("adalimumab").effects} == {"tnf_activity"}
    assert {e.slot for e in lib.drug("dexamethasone").effects} >= {
        "tnf_production", "il6_production", "cox2", "ngf_production"}
    assert lib.procedure("celiac_plexus_neurolysis").slot == "afferent"
    assert lib.procedure("brain_stimulation").slot == "supraspinal"


def _walk_quantities(node, path=""):
    if isinstance(node, dict):
        if "value" in node and not isinstance(node["value"], dict):
            yield path, node
            return
        for k, v in node.items():
            yield from _walk_quantities(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_quantities(v, f"{path}[{i}]")


@pytest.mark.parametrize("fname", ["drugs.toml", "liver.toml"])
def test_every_number_in_the_data_files_has_a_source(fname):
    raw = tomllib.loads((resources.files("neurosim") / "data" / fname).read_text("utf-8"))
    n = 0
    for path, q in _walk_quantities(raw):
        n += 1
        src = q.get("source", "")
        assert isinstance(src, str) and len(src) > 5, f"{fname}: {path} has no source"
    assert n > 50 if fname == "drugs.toml" else n >= 20


def test_opioid_ec50s_are_equianalgesic_with_their_mme_factors(lib):
    """The derived EC50s: steady-state drive per MME equals oral morphine's.

    Reference: the MME conversion factors in the library (CDC); the drive at
    steady state is u = sum Css/EC50 with Css = F * rate / CL (closed form).
    Tolerance 1 %.
    """
    def drive_per_mg_h(name, route):
        d = lib.drug(name)
        ds = disposition(d, "healthy")
        css = ds.route_f[route] / ds.cl
        u = css / d.opioid_ec50.to()
        if d.metabolite is not None and d.metabolite.opioid_ec50 is not None:
            form = ds.route_f_met[route] + ds.route_f[route] * ds.fm_systemic
            u += form / ds.met_cl / d.metabolite.opioid_ec50.to()
        return u

    ref = drive_per_mg_h("morphine", "po")
    for name, route in (("oxycodone", "po"), ("hydromorphone", "po"), ("fentanyl", "td"),
                        ("morphine", "iv"), ("oxycodone", "iv"), ("hydromorphone", "iv"),
                        ("fentanyl", "iv")):
        mme = lib.drug(name).route(route).mme.to()
        assert drive_per_mg_h(name, route) == pytest.approx(mme * ref, rel=0.01), (name, route)


def test_a_hypothetical_drug_is_data_only(lib):
    new = lib.with_overrides({"drugs": {"hypothetin": {
        "class": "other", "molar_mass": "400 g/mol",
        "pk": {"compartments": 1, "v1": "1 L/kg", "cl": "10 L/h",
               "fraction_hepatic": 0.5, "fu": 0.2},
        "routes": {"po": {"ka": "1 1/h", "first_pass": True}},
        "effect_site": {"ke0": "0.5 1/h"},
        "effects": {"trka": {"emax": 0.8, "ec50": "0.1 mg/L"}},
    }}})
    d = new.drug("hypothetin")
    assert d.effects[0].slot == "trka"
    assert "hypothetin" not in lib.drugs  # the original library is unchanged
    # E = 0.5 * 10 / 90 with the healthy 1.5 L/min hepatic blood flow
    assert disposition(d, "healthy").route_f["po"] == pytest.approx(1 - 5.0 / 90.0, rel=1e-3)


def test_override_changes_one_number_and_keeps_the_rest(lib):
    new = lib.with_overrides({"drugs": {"morphine": {"pk": {"cl": "30 mL/min/kg"}}}})
    assert new.drug("morphine").pk.cl.value == 30.0
    assert new.drug("morphine").pk.cl.source == "scenario"
    assert new.drug("morphine").pk.v1.value == lib.drug("morphine").pk.v1.value


@pytest.mark.parametrize("override, match", [
    ({"drugs": {"morphine": {"pk": {"fraction_hepatc": 0.5}}}}, "Did you mean 'fraction_hepatic'"),
    ({"drugs": {"morphine": {"pk": {"cl": "30 mg"}}}}, "clearance"),
    ({"drugs": {"morphine": {"pk": {"fu": 1.5}}}}, "<= 1"),
    ({"drugs": {"morphine": {"effects": {"spinl": {"emax": 0.5, "ec50": "1 mg/L"}}}}},
     "Did you mean 'spinal'"),
    ({"drugs": {"x": {"class": "other", "molar_mass": "1 g/mol",
                      "pk": {"compartments": 1, "v1": "1 L", "fu": 1}, "routes": {"iv": {}}}}},
     "exactly two"),
    ({"drugs": {"x": {"class": "opioid", "molar_mass": "1 g/mol",
                      "pk": {"compartments": 1, "v1": "1 L", "fu": 1, "cl": "1 L/h",
                             "fraction_hepatic": 0}, "routes": {"iv": {"mme": 1}}}}},
     "ec50"),
    ({"drugs": {"morphine": {"pk": {"v3": "1 L"}}}}, "compartments"),
    ({"drugz": {}}, "Did you mean 'drugs'"),
    ({"drugs": {"celecoxib": {"safety": {"daily_max": {"child_pugh_d": "1 g"}}}}},
     "child_pugh"),
])
def test_bad_entries_name_file_key_and_fix(lib, override, match):
    with pytest.raises(ScenarioError, match=match) as e:
        lib.with_overrides(override, source="scenario.toml")
    assert "scenario.toml" in str(e.value)


def test_unknown_drug_and_route_suggest_names(lib):
    with pytest.raises(ScenarioError, match="Did you mean 'morphine'"):
        lib.drug("morfine")
    with pytest.raises(NeurosimKeyError, match="Did you mean 'po_sr'"):
        lib.drug("morphine").route("po_s")


def test_hepatic_extraction_cannot_exceed_clearance(lib):
    bad = lib.with_overrides({"drugs": {"morphine": {"pk": {"cl": "5 mL/min/kg"}}}})
    with pytest.raises(ScenarioError, match="exceeds the total clearance"):
        disposition(bad.drug("morphine"), "healthy")


def test_slot_table_matches_the_contract():
    # docs/architecture.md, "Treatment slots"; and the model's table once it exists.
    assert SLOT_NAMES[6] == "ngf_binder" and SLOT_NAMES[10] == "spinal" and len(SLOT_NAMES) == 14
    model = pytest.importorskip("neurosim.model")
    if not hasattr(model, "SLOTS"):
        pytest.skip("neurosim.model does not expose SLOTS yet")
    names = [s if isinstance(s, str) else getattr(s, "name", s[0]) for s in model.SLOTS]
    assert tuple(names) == SLOT_NAMES
