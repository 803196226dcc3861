"""The compiled disease model: contract, analytic Jacobian, steady states,
outputs, bad input, and agreement between the ensemble solver and scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest

import neurosim.model as model
from neurosim.errors import NeurosimKeyError, NeurosimValueError

N, NS = model.N_CORE, model.N_SLOTS
SI, PI, SL = model.STATE_INDEX, model.PARAMETER_INDEX, model.SLOT_INDEX


@pytest.fixture(scope="module")
def history():
    """Default patient, 12 months, daily states (reference states for the checks below)."""
    t = np.arange(0.0, 8761.0, 24.0)
    sim = model.simulate(t, model.default_parameters())
    assert sim.status[0] == 0
    return sim


def _rhs(y, p, s):
    out = np.empty(N)
    model.disease_rhs(0.0, y, p, s, out)
    return out


# ---------------------------------------------------------------- contract

def test_contract_sizes_and_names():
    assert N == len(model.STATES) == 15
    assert 12 <= N <= 18
    assert NS == len(model.SLOTS) == 14
    assert model.N_MODEL_PARAMS == len(model.PARAMETERS)
    assert len(set(st.name for st in model.STATES)) == N
    assert all(st.unit for st in model.STATES)
    assert model.SLOTS[SL["ngf_binder"]].unit == "nM"


def test_rhs_touches_only_the_core_block():
    """The model owns y[:N_CORE]; drug states after it are neither read nor written."""
    p = np.concatenate([model.default_parameters(), np.full(7, 123.0)])  # + treatment block
    y = np.concatenate([model.initial_state(p[:model.N_MODEL_PARAMS]), np.full(5, 9.0)])
    s = model.default_slots()
    d1 = np.full(N + 5, -7.0)
    model.disease_rhs(0.0, y, p, s, d1)
    np.testing.assert_array_equal(d1[N:], -7.0)
    y2 = y.copy()
    y2[N:] = -3.0
    d2 = np.full(N + 5, -7.0)
    model.disease_rhs(0.0, y2, p, s, d2)
    np.testing.assert_array_equal(d1, d2)
    J = np.full((N + 5, N + 5), 5.0)
    dfds = np.full((N, NS), 5.0)
    model.disease_jac(0.0, y, p, s, J, dfds)
    np.testing.assert_array_equal(J[N:, :], 5.0)
    np.testing.assert_array_equal(J[:N, N:], 5.0)


def test_model_rhs_is_disease_rhs_at_default_slots(history):
    p = model.default_parameters()
    y = history.y[0, 200]
    a, b, c = np.empty(N), np.empty(N), np.empty(N)
    model.model_rhs(0.0, y, p, a)
    model.disease_rhs(0.0, y, p, model.default_slots(), b)
    model.fixed_slot_rhs(0.0, y, np.concatenate([p, model.default_slots()]), c)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    J1, J2 = np.zeros((N, N)), np.zeros((N, N))
    model.model_jac(0.0, y, p, J1)
    model.disease_jac(0.0, y, p, model.default_slots(), J2, np.zeros((N, NS)))
    np.testing.assert_array_equal(J1, J2)


# ---------------------------------------------------------------- Jacobian

def _random_conditions(history, rng, k):
    """Random physiological states (a point of the 12-month course, each state
    scaled by a lognormal factor, CV ~40 %), random patients and random slots."""
    p = model.sample_population(1, seed=int(rng.integers(1 << 30)))[0]
    y = history.y[0, rng.integers(0, history.t.size)] * np.exp(rng.normal(0.0, 0.4, N))
    y[SI["ngf_bound"]] = rng.uniform(0.0, 300.0)
    s = model.default_slots() * rng.uniform(0.2, 1.2, NS)
    s[SL["ngf_binder"]] = rng.uniform(0.0, 30.0) if k % 2 else 0.0
    s[SL["oih"]] = rng.uniform(0.0, 0.5)
    return y, p, s


def test_jacobian_matches_finite_differences(history):
    """Analytic d f/d y and d f/d s against central differences.

    Reference: central finite differences with relative step 1e-6; tolerance
    1e-5 relative to the largest entry of each row (truncation and rounding
    error of the difference quotient are ~1e-8 here)."""
    rng = np.random.default_rng(2024)
    for k in range(40):
        y, p, s = _random_conditions(history, rng, k)
        J = np.zeros((N, N))
        dfds = np.zeros((N, NS))
        model.disease_jac(0.0, y, p, s, J, dfds)
        Jn = np.zeros((N, N))
        for j in range(N):
            h = 1e-6 * max(abs(y[j]), 1e-3)
            yp, ym = y.copy(), y.copy()
            yp[j] += h
            ym[j] -= h
            Jn[:, j] = (_rhs(yp, p, s) - _rhs(ym, p, s)) / (2 * h)
        Dn = np.zeros((N, NS))
        for j in range(NS):
            h = 1e-6 * max(abs(s[j]), 1e-3)
            sp, sm = s.copy(), s.copy()
            sp[j] += h
            sm[j] -= h
            Dn[:, j] = (_rhs(y, p, sp) - _rhs(y, p, sm)) / (2 * h)
        for A, B in ((J, Jn), (dfds, Dn)):
            scale = np.maximum(np.abs(B).max(axis=1, keepdims=True), 1e-12)
            np.testing.assert_allclose(A / scale, B / scale, atol=1e-5, rtol=0)


def test_jacobian_at_a_tumor_free_state():
    """V = 0 is a valid state (healthy subject); rhs and Jacobian stay finite."""
    p = model.default_parameters(liver_inflammation=0.0)
    y = model.initial_state(p, tumor_volume=0.0)
    d = _rhs(y, p, model.default_slots())
    assert np.all(np.isfinite(d)) and d[SI["tumor_volume"]] == 0.0
    J = np.zeros((N, N))
    model.model_jac(0.0, y, p, J)
    assert np.all(np.isfinite(J))


# ---------------------------------------------------------------- steady states

@pytest.mark.parametrize("vol", [0.0, 20.0, 150.0])
def test_initial_state_is_a_steady_state_at_fixed_volume(vol):
    """With tumor growth off, the quasi-steady initial state has zero derivative
    (reference: the rhs itself; tolerance 1e-9 relative to each state's scale)."""
    p = model.default_parameters()
    s = model.default_slots()
    s[SL["tumor_growth"]] = 0.0
    y = model.initial_state(p, tumor_volume=vol)
    d = _rhs(y, p, s)
    assert np.all(np.abs(d) <= 1e-9 * np.maximum(np.abs(y), 1.0))


def test_initial_state_with_an_nm_antibody_matches_binding_equilibrium():
    """Free NGF under a constant antibody: closed-form equilibrium of production,
    clearance and binding (reference: the algebraic solution below)."""
    p = model.default_parameters()
    s = model.default_slots()
    s[SL["ngf_binder"]] = 20.0
    s[SL["tumor_growth"]] = 0.0
    y = model.initial_state(p, s)
    assert np.all(np.abs(_rhs(y, p, s)) <= 1e-9 * np.maximum(np.abs(y), 1.0))
    y0 = model.initial_state(p)
    kn = math.log(2) / p[PI["ngf_half_life"]]
    kc = math.log(2) / p[PI["ngf_complex_half_life"]]
    kon, koff = p[PI["antibody_kon"]], p[PI["antibody_koff"]]
    prod = kn * y0[SI["ngf_free"]]                       # untreated production rate
    free = prod / (kn + kon * 20.0 * kc / (koff + kc))
    assert y[SI["ngf_free"]] == pytest.approx(free, rel=1e-12)
    # the complex accumulates (cleared with the antibody, weeks) and holds free NGF
    # at binding equilibrium: free = Kd x bound / antibody, ~10 % of untreated at 20 nM
    assert y[SI["ngf_free"]] < 0.15 * y0[SI["ngf_free"]]
    assert y[SI["ngf_free"]] == pytest.approx(koff / kon * y[SI["ngf_bound"]] / 20.0, rel=0.05)


# ---------------------------------------------------------------- tumor growth

def test_tumor_follows_closed_form_gompertz():
    """Reference: V(t) = K exp(ln(V0/K) exp(-alpha t)), alpha chosen so that the
    first doubling takes the doubling time; tolerance 1e-5 relative."""
    p = model.default_parameters()
    v0, k, td = (p[PI[n]] for n in ("tumor_volume_diagnosis", "tumor_carrying_capacity",
                                    "tumor_doubling_time"))
    t = np.sort(np.append(np.linspace(0.0, 8760.0, 13), td))
    sim = model.simulate(t, p, rtol=1e-8, backend="scipy")
    alpha = -math.log(1 - math.log(2) / math.log(k / v0)) / td
    exact = k * np.exp(np.log(v0 / k) * np.exp(-alpha * t))
    np.testing.assert_allclose(sim["tumor_volume"][0], exact, rtol=1e-5)
    # the first doubling takes exactly the doubling time
    assert sim["tumor_volume"][0, t == td][0] == pytest.approx(2 * v0, rel=1e-5)


# ---------------------------------------------------------------- outputs

def test_outputs_components_sum_to_nrs(history):
    o = history.outputs()
    parts = sum(o[k] for k in ("nrs_mechanical", "nrs_inflammatory", "nrs_ngf", "nrs_central"))
    np.testing.assert_allclose(parts, o["nrs"], rtol=1e-12, atol=1e-12)
    for k in ("nrs_mechanical", "nrs_inflammatory", "nrs_ngf", "nrs_central"):
        assert np.all(o[k] >= 0)
    assert np.all((o["nrs"] >= 0) & (o["nrs"] <= 10))


def test_outputs_components_under_slots(history):
    """A full afferent block leaves only the central component; removing all
    inflammation effects empties the inflammatory share."""
    p = model.default_parameters()
    y = history.y[0, -1]
    s = model.default_slots()
    s[SL["afferent"]] = 0.0
    o = model.outputs(y, p, s)
    assert o["nrs"] > 0.1
    assert o["nrs_central"] == pytest.approx(o["nrs"], rel=1e-12)


def test_plasma_biomarkers_are_spillover_of_local_levels(history):
    p = model.default_parameters()
    o = history.outputs()
    spill = p[PI["plasma_spillover"]]
    np.testing.assert_allclose(o["plasma_il6"][0], spill * history["il6"][0])
    np.testing.assert_allclose(o["plasma_tnf"][0], spill * history["tnf"][0])
    np.testing.assert_allclose(o["plasma_ngf"][0], spill * history["ngf_free"][0])
    d = o["tumor_diameter"][0]
    np.testing.assert_allclose(np.pi / 6 * d ** 3, history["tumor_volume"][0], rtol=1e-12)


def test_outputs_broadcast_over_members_and_times(history):
    y = np.stack([history.y[0], history.y[0]])        # (2, n_times, N)
    p = np.stack([model.default_parameters()] * 2)[:, None, :]
    o = model.outputs(y, p)
    assert o["nrs"].shape == (2, history.t.size)
    np.testing.assert_array_equal(o["nrs"][0], o["nrs"][1])


def test_state_vector_of_wrong_length_is_a_clear_error():
    p = model.default_parameters()
    with pytest.raises(NeurosimValueError, match=rf"length 5; .* {N} core states \(tumor_volume"):
        model.outputs(np.ones(5), p)
    with pytest.raises(NeurosimValueError, match=f"{N} core states"):
        model.simulate([0.0, 1.0], p, y0=np.ones(N - 1))


def test_parameter_and_slot_vectors_of_wrong_length_are_clear_errors():
    y = model.initial_state(model.default_parameters())
    with pytest.raises(NeurosimValueError, match=f"needs {model.N_MODEL_PARAMS} model parameters"):
        model.outputs(y, np.ones(3))
    with pytest.raises(NeurosimValueError, match="expected 14 slots \\(tnf_production"):
        model.outputs(y, model.default_parameters(), np.ones(3))


def test_unknown_output_name():
    p = model.default_parameters()
    with pytest.raises(NeurosimKeyError, match="Did you mean 'plasma_il6'"):
        model.outputs(model.initial_state(p), p, names=["plasma_il_6"])


def test_simulate_rejects_bad_times_and_backend():
    with pytest.raises(NeurosimValueError, match="increasing"):
        model.simulate([0.0, 0.0])
    with pytest.raises(NeurosimValueError, match="backend"):
        model.simulate([0.0, 1.0], backend="euler")


# ---------------------------------------------------------------- solvers agree

def test_ensemble_solver_matches_scipy_reference():
    """Independent reference: scipy Radau at rtol 1e-9 (per-state atol 1e-9 x scale).
    The ensemble solver at its default rtol 1e-6 must agree to 1e-4 relative on
    every state over 12 months, for the default patient and a population sample."""
    pop = np.vstack([model.default_parameters(), model.sample_population(4, seed=9)])
    t = np.arange(0.0, 8761.0, 730.0)
    fast = model.simulate(t, pop, backend="ensemble")
    ref = model.simulate(t, pop, backend="scipy", rtol=1e-9)
    assert np.all(fast.status == 0) and np.all(ref.status == 0)
    scale = model.STATE_SCALES
    err = np.abs(fast.y - ref.y) / (np.abs(ref.y) + 1e-3 * scale)
    assert err.max() < 1e-4
    np.testing.assert_allclose(fast.outputs()["nrs"], ref.outputs()["nrs"], atol=1e-4)


def test_boluses_agree_between_solvers():
    """An NGF injection (bolus into free NGF) with a constant anti-NGF antibody:
    ensemble solver vs scipy Radau (rtol 1e-9) restarted at the bolus; 1e-4 relative."""
    p = model.default_parameters(liver_inflammation=0.0)
    s = model.default_slots()
    s[SL["ngf_binder"]] = 5.0
    y0 = model.initial_state(p, s, tumor_volume=0.0)
    t = np.array([0.0, 1.0, 3.0, 10.0, 24.0, 72.0, 240.0])
    doses = (np.array([0.0, 24.0]), np.array([SI["ngf_free"]] * 2), np.array([1e5, 5e4]))
    a = model.simulate(t, p, y0=y0, slots=s, doses=doses, backend="ensemble")
    b = model.simulate(t, p, y0=y0, slots=s, doses=doses, backend="scipy", rtol=1e-9)
    scale = model.STATE_SCALES
    err = np.abs(a.y - b.y) / (np.abs(b.y) + 1e-3 * scale)
    assert err.max() < 1e-4
    assert a["ngf_free"][0, 0] > 1e5 * 0.99             # the save time at a dose includes it
    assert a["ngf_bound"][0, -1] > 0


@pytest.mark.slow
def test_model_benchmark_runs(tmp_path):
    """benchmarks/bench_model.py --quick runs and reports both targets."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_model.py"
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(out.read_text())
    for key in ("rhs_ns", "jac_ns", "solve_12mo_ms", "rhs_speedup_vs_python"):
        assert data["results"][key] > 0
    assert set(data["meta"]["passed"]) == {"rhs_ns", "solve_12mo_ms"}
