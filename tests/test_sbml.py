"""SBML export, checked by libsbml and simulated by an independent engine (libRoadRunner).

References and tolerances
-------------------------
* Consistency: libsbml's ``checkConsistency`` with unit checks on; the export must
  give no error and no warning (every literal in a formula carries a unit, so the
  unit checks are complete).
* Rate laws: the exported rate rules, slots and NRS, evaluated by libRoadRunner at
  random states, against ``neurosim.system.system_rhs``, ``slot_values`` and
  ``model.equations.nrs_value``: 1e-12 relative (round-off only).
* Trajectories: libRoadRunner (CVODE, rtol 1e-10, atol 1e-14) against neurosim's
  ``simulate_scenario`` (rtol 1e-10) at every saved hour from treatment start:
  ``|sbml - neurosim| <= 1e-4 * max(|neurosim|, floor)`` per state, with the floor
  1e-6 times the state's typical magnitude (the scales neurosim uses for absolute
  tolerances: ``model.STATE_SCALES`` and ``simulation.state_scales``), and the NRS
  within 1e-4 points.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

from neurosim import model, system  # noqa: E402
from neurosim.cli import main  # noqa: E402
from neurosim.errors import NeurosimError, ScenarioError  # noqa: E402
from neurosim.model import N_CORE, N_MODEL_PARAMS, PARAMETERS, SLOTS, STATES  # noqa: E402
from neurosim.model.equations import nrs_value  # noqa: E402
from neurosim.sbml import ANNOTATION_NS, export_sbml, sbml_consistency  # noqa: E402
from neurosim.scenario import Scenario, load_scenario  # noqa: E402
from neurosim.simulation import patient_parameters, simulate_scenario, state_scales  # noqa: E402
from neurosim.treatments import pk  # noqa: E402

RTOL = 1e-10
REL = 1e-4
FLOOR = 1e-6


def sid(name: str) -> str:
    return name.replace(".", "_")


def runner(text: str):
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = RTOL
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.maximum_num_steps = 1_000_000
    return rr


def worst_relative(a, b, scales):
    """Largest |a - b| / max(|b|, FLOOR * scale) over times, per state."""
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), FLOOR * scales), axis=0)


def compare_with_neurosim(sc):
    """Simulate the exported model and neurosim's own; worst relative difference per state."""
    text = export_sbml(sc, rtol=RTOL)
    res = simulate_scenario(sc, rtol=RTOL)
    assert res.status[0] == 0
    i0 = int(np.searchsorted(res.t, 0.0))
    t = res.t[i0:]
    ids = [sid(n) for n in res.state_names]
    rr = runner(text)
    rr.timeCourseSelections = ["time"] + ids + ["nrs"]
    out = np.asarray(rr.simulate(times=t))
    np.testing.assert_allclose(out[:, 0], t, rtol=0, atol=1e-9)
    ct = sc.plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=sc.duration)
    scales = np.concatenate([model.STATE_SCALES, state_scales(ct, sc.plan)])
    worst = worst_relative(out[:, 1:-1], res.states[0, i0:], scales)
    nrs_diff = np.max(np.abs(out[:, -1] - res["nrs"][0, i0:]))
    return dict(zip(res.state_names, worst)), nrs_diff, out, res, i0


# ----------------------------------------------------------------------------- consistency


@pytest.mark.parametrize("name", ["baseline", "morphine_titrated", "anti_ngf_opioid",
                                  "celiac_plexus_block", "brain_stimulation",
                                  "oxycodone_child_pugh_b", "hypothetical_drug", "anti_il6"])
def test_export_passes_libsbml_consistency_checks_with_units(name):
    checks = sbml_consistency(export_sbml(name))
    errors = [m for sev, m in checks if sev == "error"]
    warnings = [m for sev, m in checks if sev == "warning"]
    assert errors == []
    assert warnings == []      # unit checks included: every formula is dimensionally consistent


def test_a_unit_mistake_would_be_reported(monkeypatch):
    """The unit check is live: a rate law missing its 1/h is flagged."""
    import neurosim.sbml as sbml

    monkeypatch.setitem(sbml._DISEASE_RATES, "tnf", "tnf_basal - tnf")
    checks = sbml_consistency(sbml.export_sbml("baseline"))
    assert any("rateRule" in m and "units" in m for _, m in checks)


def test_every_quantity_has_units_and_sources_are_the_tables(tmp_path):
    path = tmp_path / "m.xml"
    export_sbml("morphine_fixed", path)
    doc = libsbml.readSBMLFromFile(str(path))
    m = doc.getModel()
    assert m.getTimeUnits() == "hour"
    by_id = {m.getParameter(i).getId(): m.getParameter(i) for i in range(m.getNumParameters())}

    def annotation(pid):
        node = by_id[pid].getAnnotation().getChild(0)
        assert node.getURI() == ANNOTATION_NS
        return {node.getAttrName(i): node.getAttrValue(i)
                for i in range(node.getAttributesLength())}

    for name in PARAMETERS:
        row = PARAMETERS[name]
        ann = annotation(name)
        assert ann["source"] == row.source and ann["unit"] == row.unit
        assert by_id[name].getValue() == pytest.approx(row.value, rel=1e-14)
    assert by_id["tnf_half_life"].getUnits() == "hour"
    assert by_id["tnf_basal"].getUnits() == "pg_per_mL"
    lib = load_scenario("morphine_fixed").library
    assert annotation("morphine_ke0")["source"] == lib.drug("morphine").ke0.source
    assert annotation("opioid_tolerance_u50")["source"] == \
        lib.opioid_pd["tolerance_drive_u50"].source
    assert by_id["morphine_V1"].getUnits() == "litre"
    assert by_id["morphine_CL"].getUnits() == "L_per_hour"
    # every parameter has units, and every one has notes
    for p in by_id.values():
        assert p.isSetUnits(), p.getId()
        assert p.isSetNotes(), p.getId()
    # one event per arithmetic run of doses: q4h morphine for 12 weeks is one event
    assert m.getNumEvents() == 1
    assert by_id["dose0_count"].getValue() == 12 * 7 * 6
    assert by_id["dose0_interval"].getValue() == pytest.approx(4.0)


# ----------------------------------------------------------------------------- rate laws


def combined_scenario(**changes):
    """Every kind of dose record: boluses by several routes, an infusion and a patch switched
    on and off, infusions over 30 min, a titration and a rescue policy, a nerve block and a
    stimulator switched on and off; Child-Pugh B."""
    kw = dict(
        name="combined",
        regimens=["morphine 10 mg po q4h", "tanezumab 20 mg sc q8w",
                  "celecoxib 200 mg po q12h", "fentanyl 25 ug/h td patch q72h",
                  "dexamethasone 4 mg iv over 30 min q24h", "paracetamol 1 g po q6h",
                  "morphine 1 mg/h iv from 2 d until 4 d"],
        titration=[{"drug": "morphine", "target_nrs": 3}],
        rescue=[{"drug": "morphine", "dose": "5 mg po", "threshold_nrs": 4}],
        procedures=[{"procedure": "celiac_plexus_neurolysis", "at": "2 d"},
                    {"procedure": "brain_stimulation", "at": "1 d", "until": "5 d"}],
        liver="child_pugh_b", duration="1 week", treatment_start="nrs >= 6", history="1 d")
    kw.update(changes)
    return Scenario(**kw)


def test_rate_laws_slots_and_nrs_match_the_compiled_system_at_random_states():
    sc = combined_scenario(treatment_start="3 months", history="0 d")
    rr = roadrunner.RoadRunner(export_sbml(sc))
    ct = sc.plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=sc.duration)
    names = [s.name for s in STATES] + ct.state_names
    p = ct.parameters(patient_parameters(sc)[0])
    y_base = np.array([rr[sid(n)] for n in names])
    rate_ids = set(rr.getRateRuleIds())
    assert len(rate_ids) > N_CORE + 25
    rng = np.random.default_rng(7)
    worst = 0.0
    for trial in range(24):
        y = y_base * np.exp(rng.normal(0.0, 0.7, y_base.size)) \
            + rng.uniform(0.0, 2.0, y_base.size) * (np.abs(y_base) + 0.1)
        if trial % 3 == 2:           # negative drug amounts exercise the clamps at zero
            y[N_CORE:] *= rng.choice([-1.0, 1.0], size=y.size - N_CORE)
        for n, v in zip(names, y):
            rr[sid(n)] = v
        dydt = np.zeros(y.size)
        system.system_rhs(0.0, y, p, dydt)
        s = np.empty(len(SLOTS))
        system.slot_values(0.0, y, p, s)
        for j, n in enumerate(names):
            got = rr[sid(n) + "'"] if sid(n) in rate_ids else 0.0
            worst = max(worst, abs(got - dydt[j]) / max(abs(dydt[j]), 1e-300))
        for k, sl in enumerate(SLOTS):
            assert rr[f"slot_{sl.name}"] == pytest.approx(s[k], rel=1e-12, abs=1e-300)
        assert rr["nrs"] == pytest.approx(nrs_value(0.0, y, p, s), rel=1e-12)
        se = np.empty(7)
        pk.opioid_side_effects(y, p, N_CORE, N_MODEL_PARAMS, se)
        assert rr["opioid_drive"] == pytest.approx(se[0], rel=1e-12, abs=1e-300)
        assert rr["opioid_sedation"] == pytest.approx(se[1], rel=1e-12, abs=1e-300)
        assert rr["opioid_respiratory_depression"] == pytest.approx(se[2], rel=1e-12,
                                                                    abs=1e-300)
    assert worst < 1e-12


# ----------------------------------------------------------------------------- trajectories


def test_untreated_natural_history_over_a_year_matches_neurosim():
    text = export_sbml("baseline", from_diagnosis=True, rtol=RTOL)
    t = np.arange(0.0, 365.0 * 24.0 + 1.0, 24.0)
    rr = runner(text)
    rr.timeCourseSelections = ["time"] + [st.name for st in STATES] + ["nrs"]
    out = np.asarray(rr.simulate(times=t))
    p = patient_parameters(load_scenario("baseline"))[0]
    sim = model.simulate(t, p, rtol=RTOL, atol=model.default_atol(RTOL))
    assert sim.status[0] == 0
    worst = worst_relative(out[:, 1:-1], sim.y[0], model.STATE_SCALES)
    assert np.max(worst) < REL, dict(zip([s.name for s in STATES], worst))
    nrs = sim.outputs(["nrs"])["nrs"][0]
    assert np.max(np.abs(out[:, -1] - nrs)) < REL
    assert nrs[-1] - nrs[0] > 2.0        # months of rising pain were compared


@pytest.mark.parametrize("name, changes, treated", [
    # repeated oral doses (84 boluses) with an active metabolite, tolerance and OIH
    ("morphine_fixed", {"duration": "2 weeks"}, "morphine.central"),
    # daily titration decisions and hourly rescue checks read the NRS; same-time
    # titration and bolus records must be applied in neurosim's order. Presenting at
    # NRS 6.5, the patient needs several dose raises and rescue doses.
    ("morphine_titrated", {"duration": "2 weeks", "treatment_start": "nrs >= 6.5"},
     "morphine.dose_multiplier"),
    # an antibody (subcutaneous depot, two compartments) binding NGF, over 12 weeks
    ("anti_ngf", {}, "tanezumab.central"),
    # a procedure: nerve block at time 0
    ("celiac_plexus_block", {"duration": "6 weeks"}, "celiac_plexus_neurolysis.block_intact"),
])
def test_treated_scenarios_match_simulate_scenario(name, changes, treated):
    sc = load_scenario(name)
    if changes:
        sc = sc.with_changes(**changes)
    worst, nrs_diff, out, res, i0 = compare_with_neurosim(sc)
    assert max(worst.values()) < REL, {k: v for k, v in worst.items() if v >= REL}
    assert nrs_diff < REL
    # the treatment acted in both: its state moved, and pain fell below the untreated course
    j = res.state_names.index(treated)
    assert np.ptp(out[:, 1 + j]) > 0.05 * np.max(np.abs(out[:, 1 + j]))
    base = simulate_scenario(load_scenario("baseline").with_changes(
        duration=f"{sc.duration} h", history=f"{sc.history} h"), rtol=1e-6)
    assert np.max(base["nrs"][0, i0:] - out[:, -1]) > 0.2
    if name == "morphine_titrated":
        k = res.state_names.index("rescue0.count")
        assert out[-1, 1 + j] > 4.0 and out[-1, 1 + k] >= 2.0


def test_every_kind_of_dose_record_matches_simulate_scenario():
    sc = combined_scenario()
    worst, nrs_diff, out, res, i0 = compare_with_neurosim(sc)
    assert max(worst.values()) < REL, {k: v for k, v in worst.items() if v >= REL}
    assert nrs_diff < REL
    col = {n: 1 + j for j, n in enumerate(res.state_names)}
    t = res.t[i0:]
    assert out[-1, col["rescue0.count"]] >= 1.0                     # rescue doses were given
    patch = out[:, col["fentanyl.rate_td"]]
    assert np.all(np.abs(patch - 0.025) < 1e-12)                   # patch changes left no gap
    pump = out[:, col["morphine.rate_iv"]]                          # 1 mg/h from 48 h to 96 h
    assert np.all(pump[(t >= 48.0) & (t < 96.0)] == 1.0)
    assert np.all(pump[(t < 48.0) | (t >= 96.0)] == 0.0)
    stim = out[:, col["brain_stimulation.on"]]                      # on from 24 h to 120 h
    assert np.all(stim == ((t >= 24.0) & (t < 120.0)))


def test_from_diagnosis_shifts_the_treatment_schedule():
    sc = load_scenario("celiac_plexus_block").with_changes(duration="2 weeks", history="1 d")
    res = simulate_scenario(sc, rtol=RTOL)
    start = float(res.treatment_start[0])
    i0 = int(np.searchsorted(res.t, 0.0))
    text = export_sbml(sc, from_diagnosis=True, rtol=RTOL)
    rr = runner(text)
    ids = [sid(n) for n in res.state_names]
    rr.timeCourseSelections = ["time"] + ids
    t = np.concatenate([[0.0], start + res.t[i0:]])
    out = np.asarray(rr.simulate(times=t))[1:, 1:]
    ct = sc.plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=sc.duration)
    scales = np.concatenate([model.STATE_SCALES, state_scales(ct, sc.plan)])
    worst = worst_relative(out, res.states[0, i0:], scales)
    assert np.max(worst) < REL
    blk = res.state_names.index("celiac_plexus_neurolysis.block_intact")
    assert out[0, blk] > 0.8      # the block was placed at the treatment start


# ----------------------------------------------------------------------------- bad input


POPULATION = """
[scenario]
name = "cohort"

[population]
size = 3

[simulation]
treatment_start = "4 months"
history = "0 d"
duration = "1 week"

[treatments]
regimens = ["morphine 10 mg po q4h"]
"""


def test_a_population_is_not_exported_and_nothing_is_written(tmp_path):
    src = tmp_path / "cohort.toml"
    src.write_text(POPULATION)
    out = tmp_path / "cohort.xml"
    with pytest.raises(ScenarioError, match="virtual population.*one patient.*patient=K"):
        export_sbml(src, out)
    assert not out.exists() and list(tmp_path.iterdir()) == [src]
    # one patient of it is exported, with that patient's parameters
    text = export_sbml(src, out, patient=2)
    assert out.read_text() == text
    P = patient_parameters(load_scenario(src))
    i = list(PARAMETERS).index("tumor_doubling_time")
    assert P[0, i] != P[2, i]
    m = libsbml.readSBMLFromString(text).getModel()
    assert m.getParameter("tumor_doubling_time").getValue() == pytest.approx(P[2, i], rel=1e-14)
    with pytest.raises(NeurosimError, match="patient must be"):
        export_sbml(src, patient=3)


def test_missing_libsbml_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "libsbml", None)
    with pytest.raises(NeurosimError, match=r"python-libsbml.*neurosim\[sbml\]"):
        export_sbml("baseline", tmp_path / "x.xml")
    assert not (tmp_path / "x.xml").exists()


# ----------------------------------------------------------------------------- command line


def test_cli_writes_a_file_and_bad_input_exits_2(tmp_path, capsys, monkeypatch):
    out = tmp_path / "anti_ngf.xml"
    code = main(["export-sbml", "anti_ngf", "-o", str(out)])
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "0 error(s), 0 warning(s)" in text and out.is_file()
    assert libsbml.readSBMLFromFile(str(out)).getModel().getNumEvents() == 1

    src = tmp_path / "cohort.toml"
    src.write_text(POPULATION)
    bad = tmp_path / "cohort.xml"
    code = main(["export-sbml", str(src), "-o", str(bad)])
    _, err = capsys.readouterr()
    assert code == 2 and "virtual population" in err and "Traceback" not in err
    assert not bad.exists()
    code = main(["export-sbml", str(src), "-o", str(bad), "--patient", "1"])
    assert code == 0 and bad.is_file()
    for argv in (["export-sbml", "anti_ngf", "-o", str(tmp_path / "x.h5")],
                 ["export-sbml", "no_such_scenario", "-o", str(tmp_path / "y.xml")],
                 ["export-sbml", "anti_ngf", "-o", str(tmp_path / "missing" / "z.xml")]):
        assert main(argv) == 2
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anti_ngf.xml", "cohort.toml",
                                                          "cohort.xml"]
    # the default scenario is the untreated baseline; -q prints nothing
    monkeypatch.chdir(tmp_path)
    assert main(["export-sbml", "--from-diagnosis", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert sbml_consistency(tmp_path / "baseline.xml") == []
