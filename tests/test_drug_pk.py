"""Tests of the compiled drug block: PK against closed forms, derivatives, events."""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from _treatment_sim import simulate
from neurosim.errors import NeurosimValueError, ScenarioError
from neurosim.treatments.library import load_library
from neurosim.treatments.liver import liver_state
from neurosim.treatments.pk import (
    TreatmentPlan, apply_dose, drug_jac, drug_rhs, drug_slot_values, drug_slots,
)
from neurosim.treatments.slots import N_SLOTS, SLOT_INDEX


def _q_healthy():
    return liver_state("healthy").q_h(70.0)


@pytest.fixture(scope="module")
def lib():
    base = load_library()
    return base.with_overrides({"drugs": {
        # 1-compartment test drug: V 50 L, CL 10 L/h (k = 0.2 /h), half of CL hepatic
        "onecmt": {
            "class": "other", "molar_mass": "300 g/mol",
            "pk": {"compartments": 1, "v1": "50 L", "cl": "10 L/h", "fraction_hepatic": 0.5,
                   "fu": 1.0, "binding_protein": "none"},
            "routes": {"iv": {}, "po": {"ka": "1.2 1/h", "f_abs": 0.8, "first_pass": True}},
            "effect_site": {"ke0": "0.5 1/h"},
            "effects": {"cox2": {"emax": 0.6, "ec50": "0.1 mg/L", "hill": 2.0}},
            "metabolite": {"name": "met", "molar_mass": "450 g/mol", "fm": 0.4, "v": "20 L",
                           "cl": "4 L/h"},
        },
    }})


def test_one_compartment_iv_bolus_and_effect_site(lib):
    """Reference: A(t) = D e^{-kt}; Ce(t) = D/V ke0/(ke0-k) (e^{-kt} - e^{-ke0 t}). Tol 1e-7."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("100 mg iv once", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=48.0)
    t = np.linspace(0, 48, 97)
    y, _ = simulate(ct, t)
    k, ke0, V, D = 0.2, 0.5, 50.0, 100.0
    a_ref = D * np.exp(-k * t)
    ce_ref = D / V * ke0 / (ke0 - k) * (np.exp(-k * t) - np.exp(-ke0 * t))
    np.testing.assert_allclose(y[:, ct.index["onecmt.central"]], a_ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(y[:, ct.index["onecmt.ce"]], ce_ref, rtol=1e-7, atol=1e-10)


def test_metabolite_formation_one_compartment(lib):
    """Reference: Am(t) = fm' CL D/V /(km - k) (e^{-kt} - e^{-km t}), with fm' the mass
    fraction of linear clearance forming the metabolite: fm * (450/300) * CL_H/CL. Tol 1e-7."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("100 mg iv once", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=24.0)
    t = np.linspace(0, 24, 49)
    y, _ = simulate(ct, t)
    # parent k = 10/50 and metabolite km = 4/20 are equal: the limit km -> k of the formula
    k, D, V, CL = 0.2, 100.0, 50.0, 10.0
    fm_mass = 0.4 * 450 / 300 * 0.5
    ref = fm_mass * CL * D / V * t * np.exp(-k * t)
    np.testing.assert_allclose(y[:, ct.index["onecmt.met.central"]], ref, rtol=1e-6, atol=1e-9)


def test_one_compartment_oral_repeated_doses_superposition(lib):
    """Reference: superposed Bateman functions,
    C(t) = sum_i F D ka / (V (ka - k)) (e^{-k (t-t_i)} - e^{-ka (t-t_i)}),
    F = f_abs (1 - E), E = 0.5 * 10 / Q (healthy hepatic blood flow, about 90 L/h). Tol 1e-7."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("20 mg po q8h", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=72.0)
    t = np.linspace(0, 72, 289)
    y, _ = simulate(ct, t)
    k, ka, V, D = 0.2, 1.2, 50.0, 20.0
    F = 0.8 * (1 - 5.0 / _q_healthy())
    c_ref = np.zeros_like(t)
    for ti in np.arange(0, 72, 8.0):
        dt = np.clip(t - ti, 0, None)
        c_ref += np.where(t >= ti, F * D * ka / (V * (ka - k)) * (np.exp(-k * dt)
                                                                   - np.exp(-ka * dt)), 0.0)
    np.testing.assert_allclose(y[:, ct.index["onecmt.central"]] / V, c_ref, rtol=1e-7,
                               atol=1e-10)


def test_two_compartment_iv_bolus_morphine(lib):
    """Reference: biexponential closed form from V1, V2, CL, Q (morphine, healthy):
    C = D/V1 [(alpha - k21) e^{-alpha t} - (beta - k21) e^{-beta t}] / (alpha - beta). Tol 1e-7."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("10 mg iv once", drug="morphine")
    ct = plan.compile(n_core=0, p_offset=0, t_end=12.0)
    d = ct.dispositions["morphine"]
    t = np.linspace(0, 12, 145)
    y, _ = simulate(ct, t)
    k10, k12, k21 = d.cl / d.v1, d.q2 / d.v1, d.q2 / d.v2
    s = k10 + k12 + k21
    alpha = (s + math.sqrt(s * s - 4 * k10 * k21)) / 2
    beta = (s - math.sqrt(s * s - 4 * k10 * k21)) / 2
    c_ref = 10 / d.v1 * ((alpha - k21) * np.exp(-alpha * t)
                         - (beta - k21) * np.exp(-beta * t)) / (alpha - beta)
    np.testing.assert_allclose(y[:, ct.index["morphine.central"]] / d.v1, c_ref, rtol=1e-7,
                               atol=1e-12)


def test_iv_infusion_switches_on_and_off_as_events(lib):
    """Reference: C = R/CL (1 - e^{-kt}) during, then decay from C(T). Tol 1e-7."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("5 mg/h iv for 10 h from 2 h", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=30.0)
    times, targets, amounts, tags = ct.doses
    assert list(times) == [2.0, 12.0] and list(amounts) == [5.0, 5.0]
    t = np.linspace(0, 30, 121)
    y, _ = simulate(ct, t)
    k, CL = 0.2, 10.0
    on = np.clip(t - 2, 0, 10)
    c_ref = 5 / CL * (1 - np.exp(-k * on)) * np.exp(-k * np.clip(t - 12, 0, None))
    np.testing.assert_allclose(y[:, ct.index["onecmt.central"]] / 50.0, c_ref, rtol=1e-7,
                               atol=1e-10)
    assert y[-1, ct.index["onecmt.rate_iv"]] == 0.0  # the off-event removes the rate exactly


def test_fentanyl_patch_against_a_hand_written_model(lib):
    """Reference: scipy on the fentanyl skin-depot + 3-compartment ODEs written out here,
    with the patch rate switched piecewise. Tol 1e-6 relative to the peak."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("25 ug/h td patch q72h x2", drug="fentanyl")
    ct = plan.compile(n_core=0, p_offset=0, t_end=200.0)
    d = ct.dispositions["fentanyl"]
    ka = lib.drug("fentanyl").route("td").ka.to()
    t = np.linspace(0, 200, 401)
    y, _ = simulate(ct, t)

    def f(tt, x):
        rate = 0.025 if tt < 144.0 else 0.0
        dep, a1, a2, a3 = x
        c = a1 / d.v1
        return [rate - ka * dep,
                ka * dep - d.cl * c - d.q2 * (c - a2 / d.v2) - d.q3 * (c - a3 / d.v3),
                d.q2 * (c - a2 / d.v2), d.q3 * (c - a3 / d.v3)]

    ref = np.empty((t.size, 4))
    x = [0.0] * 4
    ref[0] = x
    for lo, hi in ((0, 144.0), (144.0, 200.0)):
        m = (t >= lo) & (t <= hi)
        sol = solve_ivp(f, (lo, hi), x, t_eval=t[m], method="Radau", rtol=1e-11, atol=1e-14)
        ref[m] = sol.y.T
        x = sol.y[:, -1]
    got = y[:, [ct.index[n] for n in ("fentanyl.depot_td", "fentanyl.central",
                                      "fentanyl.peripheral1", "fentanyl.peripheral2")]]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * ref.max())


def test_saturable_antibody_elimination_against_a_hand_written_model(lib):
    """Tanezumab: 2 compartments with linear + Michaelis-Menten elimination (Cleton PAGE 2197).
    Reference: scipy on the ODEs written out here. Tol 1e-6 relative."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("20 mg iv once", drug="tanezumab")
    ct = plan.compile(n_core=0, p_offset=0, t_end=2000.0)
    d = ct.dispositions["tanezumab"]
    # Vmax = 0.33 L/d x 15.3 ng/mL = 5.049 ug/d; Km 15.3 ng/mL
    assert d.vmax == pytest.approx(5.049e-3 / 24, rel=1e-9)
    assert d.km == pytest.approx(0.0153, rel=1e-12)
    t = np.linspace(0, 2000, 201)
    y, _ = simulate(ct, t)

    def f(tt, x):
        c = x[0] / d.v1
        el = d.cl * c + d.vmax * c / (d.km + c)
        fl = d.q2 * (c - x[1] / d.v2)
        return [-el - fl, fl]

    ref = solve_ivp(f, (0, 2000), [20.0, 0.0], t_eval=t, method="LSODA", rtol=1e-11,
                    atol=1e-14).y.T
    got = y[:, [ct.index["tanezumab.central"], ct.index["tanezumab.peripheral1"]]]
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9)
    # free concentration to the ngf_binder slot in nM: C (mg/L) / 147000 g/mol * 1e6
    s = np.zeros(N_SLOTS)
    p = ct.parameters(np.zeros(0))
    drug_slot_values(0.0, y[50], p, 0, 0, s)
    c = y[50, ct.index["tanezumab.central"]] / d.v1
    assert s[SLOT_INDEX["ngf_binder"]] == pytest.approx(c / 147000 * 1e6, rel=1e-12)


def _rich_plan(lib):
    plan = TreatmentPlan(lib, liver="child_pugh_b")
    plan.add_regimen("10 mg po q4h", drug="morphine")
    plan.add_regimen("2 mg/h iv from 1 h", drug="morphine")
    plan.add_regimen("25 ug/h td patch q72h", drug="fentanyl")
    plan.add_regimen("20 mg sc q8w", drug="tanezumab")
    plan.add_regimen("4 mg po q24h", drug="dexamethasone")
    plan.add_regimen("1 g po q6h", drug="paracetamol")
    plan.add_regimen("20 mg po q12h", drug="onecmt")
    plan.add_titration({"drug": "morphine", "every": "24 h"})
    plan.add_procedure("celiac_plexus_neurolysis", at="1 h")
    plan.add_procedure("brain_stimulation", at="1 h")
    return plan


def _random_state(ct, n_core, rng):
    y = np.concatenate([rng.uniform(0.5, 2.0, n_core), ct.y0])
    y[n_core:] += rng.uniform(0.01, 1.0, ct.n_states)
    for name in ("celiac_plexus_neurolysis.block_intact",
                 "celiac_plexus_neurolysis.block_recovering"):
        y[ct.index[name]] = rng.uniform(0.05, 0.3)
    y[ct.index["brain_stimulation.on"]] = 1.0
    y[ct.index["morphine.dose_multiplier"]] = 1.7
    return y


def test_jacobian_matches_finite_differences(lib):
    """Reference: central differences of drug_rhs, step 1e-6 * max(1, |y|). Tol 1e-6 rel."""
    ct = _rich_plan(lib).compile(n_core=2, p_offset=3, t_end=24.0)
    p = ct.parameters(np.ones(3))
    rng = np.random.default_rng(1)
    for _ in range(3):
        y = _random_state(ct, 2, rng)
        n = y.size
        J = np.full((n, n), np.nan)
        J[:2, :] = 0.0
        J[2:, :2] = 0.0
        drug_jac(0.0, y, p, 2, 3, J)
        Jfd = np.zeros((n, n))
        for j in range(2, n):
            h = 1e-6 * max(1.0, abs(y[j]))
            yp, ym = y.copy(), y.copy()
            yp[j] += h
            ym[j] -= h
            fp, fm = np.zeros(n), np.zeros(n)
            drug_rhs(0.0, yp, p, 2, 3, fp)
            drug_rhs(0.0, ym, p, 2, 3, fm)
            Jfd[:, j] = (fp - fm) / (2 * h)
        Jfd[:2, :] = 0.0
        assert not np.isnan(J).any()
        np.testing.assert_allclose(J[2:, 2:], Jfd[2:, 2:], rtol=1e-6,
                                   atol=1e-7 * np.abs(Jfd).max())


def test_slot_derivatives_match_finite_differences(lib):
    """Reference: central differences of drug_slot_values. Tol 1e-6 rel."""
    ct = _rich_plan(lib).compile(n_core=2, p_offset=3, t_end=24.0)
    p = ct.parameters(np.ones(3))
    rng = np.random.default_rng(2)
    y = _random_state(ct, 2, rng)
    s = np.zeros(N_SLOTS)
    dsdy = np.zeros((N_SLOTS, ct.n_states))
    drug_slots(0.0, y, p, 2, 3, s, dsdy)
    s2 = np.zeros(N_SLOTS)
    drug_slot_values(0.0, y, p, 2, 3, s2)
    np.testing.assert_allclose(s, s2, rtol=1e-14)
    fd = np.zeros_like(dsdy)
    for j in range(ct.n_states):
        h = 1e-6 * max(1.0, abs(y[2 + j]))
        yp, ym = y.copy(), y.copy()
        yp[2 + j] += h
        ym[2 + j] -= h
        sp, sm = np.zeros(N_SLOTS), np.zeros(N_SLOTS)
        drug_slot_values(0.0, yp, p, 2, 3, sp)
        drug_slot_values(0.0, ym, p, 2, 3, sm)
        fd[:, j] = (sp - sm) / (2 * h)
    np.testing.assert_allclose(dsdy, fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())
    # every affected slot moved away from its default
    for name in ("cox2", "tnf_production", "il6_production", "ngf_production", "afferent",
                 "spinal", "supraspinal"):
        assert s[SLOT_INDEX[name]] < 1.0
    assert s[SLOT_INDEX["ngf_binder"]] > 0 and s[SLOT_INDEX["oih"]] > 0
    assert s[SLOT_INDEX["trka"]] == 1.0 and s[SLOT_INDEX["tumor_growth"]] == 1.0


def test_inhibitory_effect_formula(lib):
    """Reference: slot = 1 - Emax C^h / (C^h + EC50^h) with Emax 0.6, EC50 0.1, h 2."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("1 mg iv once", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=1.0)
    y = ct.y0.copy()
    y[ct.index["onecmt.ce"]] = 0.05
    s = np.zeros(N_SLOTS)
    drug_slot_values(0.0, y, ct.parameters(np.zeros(0)), 0, 0, s)
    assert s[SLOT_INDEX["cox2"]] == pytest.approx(1 - 0.6 * 0.05 ** 2 / (0.05 ** 2 + 0.1 ** 2))


def test_nerve_block_recovers_in_two_stages_and_stimulator_switches(lib):
    """Reference: two equal first-order stages, block(t) = B0 e^{-kt} (1 + kt),
    k = 2 / recovery time, B0 = block fraction (library values: 120 d and 0.85, calibrated
    on validation target 11). Tol 1e-7."""
    proc = lib.procedure("celiac_plexus_neurolysis")
    b0 = proc.block_fraction.to()
    k = 2 / proc.recovery_time.to()
    plan = TreatmentPlan(lib)
    plan.add_procedure("celiac_plexus_neurolysis", at="2 d")
    plan.add_procedure("brain_stimulation", at="1 d", until="3 d")
    ct = plan.compile(n_core=0, p_offset=0, t_end=200 * 24.0)
    t = np.array([0, 24, 47, 48, 72, 24 * 30, 24 * 60, 24 * 90, 24 * 150.0])
    y, p = simulate(ct, t)
    tt = np.clip(t - 48.0, 0, None)
    block_ref = np.where(t >= 48, b0 * np.exp(-k * tt) * (1 + k * tt), 0.0)
    block = y[:, ct.index["celiac_plexus_neurolysis.block_intact"]] + \
        y[:, ct.index["celiac_plexus_neurolysis.block_recovering"]]
    np.testing.assert_allclose(block, block_ref, rtol=1e-7, atol=1e-12)
    s = np.zeros(N_SLOTS)
    aff, sup = [], []
    for row in y:
        drug_slot_values(0.0, row, p, 0, 0, s)
        aff.append(s[SLOT_INDEX["afferent"]])
        sup.append(s[SLOT_INDEX["supraspinal"]])
    np.testing.assert_allclose(aff, 1 - block_ref, rtol=1e-7)
    assert sup[:4] == [1.0, 0.7, 0.7, 0.7] and sup[4:] == [1.0] * 5
    # relief holds for weeks and then fades: at 1 month more than 70 % of the block remains
    # (91 % with the library values), at 3 months less (56 %), at 5 months less again
    assert 0.7 * b0 < block[5] and block[8] < block[7] < block[5]


def test_repeat_nerve_block_compounds(lib):
    plan = TreatmentPlan(lib)
    plan.add_procedure("celiac_plexus_neurolysis", at="1 h")
    ct = plan.compile(n_core=0, p_offset=0, t_end=10.0)
    p = ct.parameters(np.zeros(0))
    y = ct.y0.copy()
    times, targets, amounts, tags = ct.doses
    apply_dose(1.0, y, p, targets[0], 0.7, tags[0], np.nan)
    y[1] = 0.2  # part of the first block recovering: total 0.9
    apply_dose(2.0, y, p, targets[0], 0.7, tags[0], np.nan)
    # what still transmits (0.1) is cut by 70 %: total block 0.97, all in the first stage
    assert y[0] == pytest.approx(0.97) and y[1] == 0.0


def test_bad_regimens_and_conflicts_are_errors(lib):
    plan = TreatmentPlan(lib)
    with pytest.raises(ScenarioError, match="given as infusion"):
        plan.add_regimen("1 mg td q72h", drug="fentanyl")
    with pytest.raises(ScenarioError, match="Did you mean 'po'"):
        plan.add_regimen("10 mg poo q4h", drug="morphine")
    with pytest.raises(ScenarioError, match="unknown drug"):
        plan.add_regimen("morfine 10 mg po q4h")
    with pytest.raises(ScenarioError, match="negative"):
        plan.add_regimen("-10 mg po q4h", drug="morphine")
    with pytest.raises(ScenarioError, match="mass"):
        plan.add_regimen("10 mL po q4h", drug="morphine")
    plan.add_regimen("2 mg/h iv for 24 h", drug="morphine")
    plan.add_regimen("1 mg/h iv from 12 h for 6 h", drug="morphine")
    with pytest.raises(ScenarioError, match="overlapping infusions of morphine by iv"):
        plan.compile(n_core=0, p_offset=0, t_end=48.0)
    with pytest.raises(ScenarioError, match="liver state"):
        TreatmentPlan(lib, liver="child_pugh_e")
    with pytest.raises(ScenarioError, match="no regimen"):
        p2 = TreatmentPlan(lib)
        p2.add_titration({"drug": "oxycodone"})
        p2.compile(n_core=0, p_offset=0, t_end=48.0)


def test_patches_back_to_back_do_not_overlap_and_rate_stays_exact(lib):
    plan = TreatmentPlan(lib)
    plan.add_regimen("50 ug/h td patch q72h", drug="fentanyl")
    ct = plan.compile(n_core=0, p_offset=0, t_end=24 * 9.0)
    times, targets, amounts, tags = ct.doses
    assert list(times) == [0.0, 72.0, 72.0, 144.0, 144.0]
    p = ct.parameters(np.zeros(0))
    y = ct.y0.copy()
    for k in range(times.size):
        apply_dose(times[k], y, p, targets[k], amounts[k], tags[k], np.nan)
        if k + 1 == times.size or times[k + 1] > times[k]:  # all records at this time applied
            assert y[ct.index["fentanyl.rate_td"]] == pytest.approx(0.05, abs=1e-15)


def test_solver_applies_the_event_table(lib):
    """The project solver with the compiled block and hook: oral repeated doses against the
    superposed Bateman closed form. Tol 1e-5 relative (rtol 1e-8 in the solver)."""
    solver = pytest.importorskip("neurosim.solver")
    from _treatment_sim import block_jac, block_rhs

    plan = TreatmentPlan(lib)
    plan.add_regimen("20 mg po q8h", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=48.0)
    t = np.linspace(0, 48, 97)
    res = solver.solve_ensemble(block_rhs, ct.y0, t, ct.parameters(np.zeros(0)), jac=block_jac,
                                doses=ct.doses, dose_hook=ct.dose_hook(), rtol=1e-8, atol=1e-12)
    assert res.all_success
    k, ka, V, D = 0.2, 1.2, 50.0, 20.0
    F = 0.8 * (1 - 5.0 / _q_healthy())
    c_ref = np.zeros_like(t)
    for ti in np.arange(0, 48, 8.0):
        dt = np.clip(t - ti, 0, None)
        c_ref += np.where(t >= ti, F * D * ka / (V * (ka - k)) * (np.exp(-k * dt)
                                                                   - np.exp(-ka * dt)), 0)
    np.testing.assert_allclose(res.y[0, :, ct.index["onecmt.central"]] / V, c_ref, rtol=1e-5,
                               atol=1e-8)


def test_plan_from_a_scenario_table_with_a_hypothetical_drug():
    table = {
        "liver": "child_pugh_b", "body_weight": "60 kg",
        "library": {"drugs": {"newmab": {
            "class": "antibody", "molar_mass": "150000 g/mol",
            "pk": {"compartments": 1, "v1": "3 L", "cl": "0.2 L/d", "fraction_hepatic": 0,
                   "nonhepatic": "other", "fu": 1, "binding_protein": "none"},
            "routes": {"sc": {"ka": "0.3 1/d", "f_abs": 0.7}},
            "effects": {"trka": {"kind": "inhibit", "site": "plasma", "emax": 0.9,
                                 "ec50": "1 mg/L"}}}}},
        "regimens": ["morphine 0.1 mg/kg po q4h",
                     {"drug": "newmab", "regimen": "100 mg sc q4w"}],
        "titration": [{"drug": "morphine", "every": "2 d"}],
        "procedures": [{"procedure": "brain_stimulation", "at": "1 d", "until": "3 d"}],
    }
    plan = TreatmentPlan.from_scenario(table, source="s.toml")
    assert plan.regimens[0].amount == pytest.approx(6.0)  # 0.1 mg/kg x 60 kg
    ct = plan.compile(n_core=0, p_offset=0, t_end=10 * 24.0)
    assert "newmab.central" in ct.index and ct.needs_nrs
    s = np.zeros(N_SLOTS)
    y = ct.y0.copy()
    y[ct.index["newmab.central"]] = 3.0  # 1 mg/L
    drug_slot_values(0.0, y, ct.parameters(np.zeros(0)), 0, 0, s)
    assert s[SLOT_INDEX["trka"]] == pytest.approx(1 - 0.9 * 0.5)
    with pytest.raises(ScenarioError, match=r"s.toml: \[treatments.regimens\[0\]\]"):
        TreatmentPlan.from_scenario({"regimens": ["morphine 10 mg pp q4h"]}, source="s.toml")
    with pytest.raises(ScenarioError, match="Did you mean 'regimens'"):
        TreatmentPlan.from_scenario({"regimen": []}, source="s.toml")
    with pytest.raises(ScenarioError, match="liver state"):
        TreatmentPlan.from_scenario({"liver": "child_pugh_x"}, source="s.toml")


# ------------------------------------------------------------ per-patient drug factors


def _patients(ct, n):
    """``n`` copies of the parameter vector (no model parameters)."""
    return ct.parameters(np.zeros((n, 0)))


def test_patient_factors_on_clearance_volume_and_ke0_against_closed_forms(lib):
    """Reference: the one-compartment closed forms of the IV-bolus test with each patient's
    CL, V and ke0 multiplied by its factors: k = CL fcl / (V fv), A = D e^{-kt},
    Ce = D/(V fv) ke0' / (ke0' - k) (e^{-kt} - e^{-ke0' t}). Tol 1e-7."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("100 mg iv once", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=24.0)
    fcl, fv, fke = np.array([2.0, 1.0, 0.7]), np.array([0.5, 1.0, 1.3]), np.array([3.0, 1.0, 0.9])
    p = _patients(ct, 3)
    ct.scale_drug(p, "onecmt", "cl", fcl)
    ct.scale_drug(p, "onecmt", "v1", fv)
    ct.scale_drug(p, "onecmt", "ke0", fke)
    t = np.linspace(0, 24, 49)
    for i in range(3):
        y, _ = simulate(ct, t, p=p[i])
        V, k, ke0 = 50.0 * fv[i], 10.0 * fcl[i] / (50.0 * fv[i]), 0.5 * fke[i]
        np.testing.assert_allclose(y[:, ct.index["onecmt.central"]], 100 * np.exp(-k * t),
                                   rtol=1e-7, atol=1e-9)
        ce = 100 / V * ke0 / (ke0 - k) * (np.exp(-k * t) - np.exp(-ke0 * t))
        np.testing.assert_allclose(y[:, ct.index["onecmt.ce"]], ce, rtol=1e-7, atol=1e-10)


def test_patient_factors_on_absorption_rate_and_extent_against_bateman(lib):
    """Reference: the Bateman function C = F' D ka' / (V (ka' - k)) (e^{-kt} - e^{-ka' t})
    with ka' = 1.2 fka and F' = F ff, F = 0.8 (1 - E). Tol 1e-7. A factor that would take
    F above 1 is capped at 1/F, and the first-pass metabolite fraction gets the same cap."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("20 mg po once", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=24.0)
    F = 0.8 * (1 - 5.0 / _q_healthy())
    fka, ff = np.array([0.5, 2.0, 1.0]), np.array([1.1, 0.6, 10.0])
    p = _patients(ct, 3)
    (cf, role_f), (cm, role_m) = ct.factor_columns("onecmt", "f")
    assert (role_f, role_m) == ("f", "fmet")
    fmet0 = p[0, cm]
    assert p[0, cf] == pytest.approx(F, rel=1e-12) and fmet0 > 0
    ct.scale_drug(p, "onecmt", "ka", fka)
    ct.scale_drug(p, "onecmt", "f", ff)
    assert p[2, cf] == 1.0
    assert p[2, cm] == pytest.approx(fmet0 / F, rel=1e-12)
    np.testing.assert_allclose(p[:2, cm], fmet0 * ff[:2], rtol=1e-12)
    t = np.linspace(0, 24, 97)
    k, V, D = 0.2, 50.0, 20.0
    for i in range(2):
        ka, Fi = 1.2 * fka[i], F * ff[i]
        y, _ = simulate(ct, t, p=p[i])
        ref = Fi * D * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
        np.testing.assert_allclose(y[:, ct.index["onecmt.central"]] / V, ref, rtol=1e-7,
                                   atol=1e-10)


def test_patient_factor_on_potency_scales_every_ec50(lib):
    """Reference: slot = 1 - Emax C^h / (C^h + (f EC50)^h), Emax 0.6, EC50 0.1, h 2; and the
    opioid EC50s of morphine and M6G both multiplied by the factor."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("1 mg iv once", drug="onecmt")
    ct = plan.compile(n_core=0, p_offset=0, t_end=1.0)
    p = _patients(ct, 2)
    ct.scale_drug(p, "onecmt", "ec50", [1.0, 2.5])
    y = ct.y0.copy()
    y[ct.index["onecmt.ce"]] = 0.05
    for i, f in enumerate((1.0, 2.5)):
        s = np.zeros(N_SLOTS)
        drug_slot_values(0.0, y, p[i], 0, 0, s)
        ec50 = 0.1 * f
        assert s[SLOT_INDEX["cox2"]] == pytest.approx(1 - 0.6 * 0.05 ** 2
                                                      / (0.05 ** 2 + ec50 ** 2), rel=1e-12)
    plan = TreatmentPlan(lib)
    plan.add_regimen("10 mg po q12h", drug="morphine")
    ct = plan.compile(n_core=0, p_offset=0, t_end=24.0)
    p = _patients(ct, 1)
    before = p.copy()
    cols = [c for c, _ in ct.factor_columns("morphine", "ec50")]
    assert len(cols) == 2  # morphine and M6G
    ct.scale_drug(p, "morphine", "ec50", [3.0])
    np.testing.assert_allclose(p[0, cols], 3.0 * before[0, cols], rtol=1e-15)
    other = np.setdiff1d(np.arange(p.shape[1]), cols)
    np.testing.assert_array_equal(p[0, other], before[0, other])


def test_patient_factor_errors_name_the_drug_and_quantity(lib):
    plan = TreatmentPlan(lib)
    plan.add_regimen("10 mg iv once", drug="oxycodone")
    ct = plan.compile(n_core=0, p_offset=0, t_end=1.0)
    p = _patients(ct, 2)
    with pytest.raises(NeurosimValueError, match="'morphine' is not given.*oxycodone"):
        ct.scale_drug(p, "morphine", "cl", 1.0)
    with pytest.raises(NeurosimValueError, match="unknown drug quantity 'clearance'.*cl, v1"):
        ct.scale_drug(p, "oxycodone", "clearance", 1.0)
    with pytest.raises(NeurosimValueError, match="no route with absorption"):
        ct.scale_drug(p, "oxycodone", "ka", 1.0)
    with pytest.raises(NeurosimValueError, match="finite and > 0"):
        ct.scale_drug(p, "oxycodone", "cl", [1.0, -1.0])


def test_patient_factor_on_volume_reaches_plasma_site_effects(lib):
    """Reference: a plasma-site concentration slot reads A / V1; with V1 x 2 it halves
    (tanezumab's free concentration in the ngf_binder slot). Exact up to rounding."""
    plan = TreatmentPlan(lib)
    plan.add_regimen("20 mg sc q8w", drug="tanezumab")
    ct = plan.compile(n_core=0, p_offset=0, t_end=24.0)
    p = _patients(ct, 2)
    ct.scale_drug(p, "tanezumab", "v1", [1.0, 2.0])
    y = ct.y0.copy()
    y[ct.index["tanezumab.central"]] = 5.0
    s = [np.zeros(N_SLOTS), np.zeros(N_SLOTS)]
    for i in range(2):
        drug_slot_values(0.0, y, p[i], 0, 0, s[i])
    k = SLOT_INDEX["ngf_binder"]
    assert s[0][k] > 0
    assert s[1][k] == pytest.approx(s[0][k] / 2.0, rel=1e-12)
