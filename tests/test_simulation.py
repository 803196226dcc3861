"""simulate_scenario, ScenarioResult, metrics and results files."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import h5py
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from neurosim import model, system  # noqa: E402
from neurosim.errors import NeurosimKeyError, ResultsFileError  # noqa: E402
from neurosim.io import results as results_io  # noqa: E402
from neurosim.scenario import DEFAULT_RTOL, Scenario, load_scenario  # noqa: E402
from neurosim.simulation import (METRICS, ScenarioResult, compute_metrics,  # noqa: E402
                                 fraction_above, simulate_scenario, time_to_reach,
                                 window_mean)
from neurosim.treatments import TreatmentPlan  # noqa: E402
from neurosim.treatments.liver import hepatic_encephalopathy_risk  # noqa: E402

DAY, WEEK = 24.0, 168.0


@pytest.fixture(scope="module")
def short():
    """Morphine and a nerve block, fixed start, 2 weeks of treatment, one patient."""
    sc = Scenario(name="short", regimens=["morphine 10 mg po q4h"],
                  procedures=[{"procedure": "celiac_plexus_neurolysis", "at": "3 d"}],
                  treatment_start="6 months", history="1 week", duration="2 weeks")
    return sc, simulate_scenario(sc)


@pytest.fixture(scope="module")
def population():
    sc = Scenario(name="pop", regimens=["celecoxib 200 mg po bid"], duration="1 week",
                  history="2 d", population_size=3, seed=11, output_interval="2 h")
    return sc, simulate_scenario(sc)


# ----------------------------------------------------------------------------- shapes


def test_result_shapes_and_time_axis(short):
    sc, res = short
    n_times = int((WEEK + 2 * WEEK) / 1.0) + 1          # -1 week .. 2 weeks, hourly
    assert res.t.shape == (n_times,)
    assert res.t[0] == -WEEK and res.t[-1] == 2 * WEEK
    assert np.all(np.diff(res.t) == 1.0)
    assert 0.0 in res.t
    assert res.t_days[-1] == 14.0 and res.t_weeks[0] == -1.0
    assert res.n_patients == 1 and res.status.tolist() == [0]
    assert res.status_messages == ["success"]
    for name in ("nrs", "nrs_mechanical", "nrs_central", "plasma_il6", "plasma_ngf",
                 "sedation", "constipation", "cumulative_mme", "side_effect_burden"):
        assert res[name].shape == (1, n_times), name
        assert res.unit(name)
    n_states = len(res.state_names)
    assert res.states.shape == (1, n_times, n_states)
    assert res.state_names[:model.N_CORE] == [s.name for s in model.STATES]
    assert "morphine.central" in res.state_names
    assert res["tumor_volume"].shape == (1, n_times)
    assert res.unit("tumor_volume") == "mL"
    assert res["slot.afferent"].shape == (1, n_times)
    assert res.mme_daily.shape == (1, 14)
    assert res.treatment_start.tolist() == [pytest.approx(6 * 730.5)]


def test_components_add_up_and_treatments_act_in_the_slots(short):
    _, res = short
    parts = sum(res[c] for c in ("nrs_mechanical", "nrs_inflammatory", "nrs_ngf",
                                 "nrs_central"))
    np.testing.assert_allclose(parts, res["nrs"], rtol=1e-12, atol=1e-12)
    t = res.t
    aff = res["slot.afferent"][0]
    # no block before day 3; the library's block fraction right after it
    from neurosim.treatments import load_library

    block = load_library().procedure("celiac_plexus_neurolysis").block_fraction.to()
    assert np.all(aff[t < 3 * DAY] == 1.0)
    assert aff[np.searchsorted(t, 3 * DAY)] == pytest.approx(1.0 - block, abs=1e-12)
    spinal = res["slot.spinal"][0]
    assert np.all(spinal[t < 0] == 1.0) and spinal[t == 2 * DAY][0] < 0.95


def test_unknown_name_suggests(short):
    _, res = short
    with pytest.raises(NeurosimKeyError, match="Did you mean 'nrs'"):
        res["nrss"]
    assert "nrs" in res and "nope" not in res


def test_save_states_false_keeps_outputs_only():
    sc = Scenario(duration="2 d", history="1 d", treatment_start="1 d", save_states=False)
    res = simulate_scenario(sc)
    assert res.states is None and res.slots is None
    assert res["nrs"].shape == (1, res.t.size)
    with pytest.raises(NeurosimKeyError, match="save_states"):
        res["tumor_volume"]


# ----------------------------------------------------------------------------- timeline


def test_presentation_rule_starts_on_first_day_with_nrs_at_threshold():
    res = simulate_scenario(Scenario(duration="1 week", history="3 d"))
    start = res.treatment_start[0]
    assert start % DAY == 0 and res.presented[0]
    # the NRS the day before treatment start (untreated) is below 4, at start >= 4
    before = res["nrs"][0, res.t == -DAY][0]
    assert before < 4.0 <= res.nrs_baseline[0]
    # reference: the untreated model on the same days, scipy Radau at tight tolerance
    p = model.default_parameters()
    days = np.array([start - DAY, start])
    ref = model.simulate(np.concatenate([[0.0], days]), p, backend="scipy", rtol=1e-10)
    nrs_ref = ref.outputs(["nrs"])["nrs"][0, 1:]
    assert nrs_ref[0] < 4.0 <= nrs_ref[1]
    assert res.nrs_baseline[0] == pytest.approx(nrs_ref[1], abs=1e-6)


def test_treated_run_matches_an_independent_scipy_integration():
    """Reference: scipy Radau (rtol 1e-10) of the same system, doses applied by the hook.

    Checks the timeline wiring (lead-in, dose times counted from treatment start,
    outputs computed with the slots along the trajectory). Tolerance 1e-5 NRS.
    """
    sc = Scenario(regimens=["celecoxib 200 mg po bid", "morphine 5 mg po q6h"],
                  procedures=[{"procedure": "brain_stimulation", "at": "1 d", "until": "3 d"}],
                  treatment_start="10 d", history="2 d", duration="4 d", rtol=1e-9)
    res = simulate_scenario(sc)
    p0 = model.default_parameters()
    lead = model.simulate(np.array([0.0, 8 * DAY]), p0, backend="scipy", rtol=1e-11,
                          atol=1e-14 + model.default_atol(1e-11))
    plan = TreatmentPlan.from_scenario({"regimens": ["celecoxib 200 mg po bid",
                                                     "morphine 5 mg po q6h"],
                                        "procedures": [{"procedure": "brain_stimulation",
                                                        "at": "1 d", "until": "3 d"}]})
    ct = plan.compile(n_core=model.N_CORE, p_offset=model.N_MODEL_PARAMS, t_end=4 * DAY)
    p = ct.parameters(p0)
    y = np.concatenate([lead.y[0, -1], ct.y0])
    n = y.size

    def f(t, yy):
        d = np.empty(n)
        system.system_rhs(t, yy, p, d)
        return d

    def jac(t, yy):
        J = np.zeros((n, n))
        system.system_jac(t, yy, p, J)
        return J

    t_eval = res.t
    times, targets, amounts, tags = ct.doses
    out = np.empty((t_eval.size, n))
    t, k = t_eval[0], 0
    for stop in np.union1d(times, t_eval):
        if stop > t:
            sol = solve_ivp(f, (t, stop), y, method="Radau", jac=jac, rtol=1e-10,
                            atol=1e-13)
            assert sol.success
            y, t = sol.y[:, -1].copy(), stop
        while k < times.size and times[k] <= t + 1e-12:
            system.system_dose_hook(t, y, p, targets[k], amounts[k], tags[k])
            k += 1
        out[t_eval == t] = y
    slots = np.empty((t_eval.size, model.N_SLOTS))
    for i in range(t_eval.size):
        system.slot_values(t_eval[i], out[i], p, slots[i])
    ref = model.outputs(out[:, :model.N_CORE], p0, slots)
    for name in ("nrs", "nrs_inflammatory", "nrs_central", "plasma_il6"):
        scale = max(1.0, float(np.max(np.abs(ref[name]))))
        np.testing.assert_allclose(res[name][0], ref[name], atol=1e-5 * scale, err_msg=name)


def test_daily_mme_of_scheduled_doses_and_of_a_patch():
    """Reference: regimen arithmetic. Morphine 10 mg q4h = 60 MME/day (1 MME/mg);
    fentanyl 25 ug/h patch = 0.6 mg/day x 100 MME/mg = 60 MME/day (CDC 2.4 per ug/h)."""
    oral = simulate_scenario(Scenario(regimens=["morphine 10 mg po q4h"], duration="5 d",
                                      history="0 d", treatment_start="1 d"))
    np.testing.assert_allclose(oral.mme_daily[0], 60.0, rtol=0, atol=1e-9)
    patch = simulate_scenario(Scenario(regimens=["fentanyl 25 ug/h td patch q72h"],
                                       duration="6 d", history="1 d",
                                       treatment_start="2 d"))
    np.testing.assert_allclose(patch.mme_daily[0], 60.0, rtol=1e-3)
    m = patch.metrics()
    assert m["mme_per_day"][0] == pytest.approx(60.0, rel=1e-3)
    assert m["opioid_days"][0] == 6


def test_population_is_reproducible_and_thread_independent(population):
    import numba

    sc, res = population
    assert res.n_patients == 3 and np.all(res.success)
    again = simulate_scenario(sc, threads=1)
    np.testing.assert_array_equal(res.parameters, again.parameters)
    np.testing.assert_array_equal(res["nrs"], again["nrs"])
    # patients differ (drawn from the virtual population) but share the regimen
    assert len({round(float(x), 9) for x in res.nrs_baseline}) == 3
    if numba.config.NUMBA_NUM_THREADS >= 2:
        two = simulate_scenario(sc, threads=2)
        np.testing.assert_array_equal(res["nrs"], two["nrs"])
    # a patient matrix runs the same patients through another scenario
    other = simulate_scenario(sc.with_changes(regimens=[]), patients=res.parameters)
    np.testing.assert_array_equal(other.parameters, res.parameters)


def test_parameter_overrides_and_modifiers_reach_the_patient():
    from neurosim.model import PARAMETER_INDEX as PI
    from neurosim.simulation import patient_parameters

    sc = Scenario(parameters={"tumor_doubling_time": "100 d"},
                  modifiers=[{"parameter": "il6_per_macrophage", "factor": 2.0}])
    P = patient_parameters(sc)
    base = model.default_parameters()
    assert P[0, PI["tumor_doubling_time"]] == 2400.0
    assert P[0, PI["il6_per_macrophage"]] == 2.0 * base[PI["il6_per_macrophage"]]
    pop = patient_parameters(sc, 4)
    assert np.all(pop[:, PI["tumor_doubling_time"]] == 2400.0)


def test_default_rtol_keeps_nrs_within_0_01():
    """The measurement behind DEFAULT_RTOL, on a small population with titration and
    rescue (the hardest packaged case). Reference: the same run at rtol 1e-8."""
    sc = load_scenario("morphine_titrated").with_changes(duration="3 weeks", history="1 week")
    ref = simulate_scenario(sc, patients=6, rtol=1e-8)
    res = simulate_scenario(sc, patients=6)
    assert res.info["rtol"] == DEFAULT_RTOL
    assert np.all(ref.success) and np.all(res.success)
    assert np.max(np.abs(res["nrs"] - ref["nrs"])) < 0.01


def test_progress_callback_sees_all_work():
    seen = []
    simulate_scenario(Scenario(duration="1 d", history="1 d", treatment_start="1 d"),
                      patients=3, progress=lambda done, total, desc: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == 6


# ----------------------------------------------------------------------------- metrics


def test_window_fraction_and_time_to_reach_on_linear_pieces():
    t = np.array([0.0, 10.0, 20.0])
    x = np.array([[0.0, 10.0, 0.0]])
    # mean of a triangle over [0, 20] is 5; over [5, 15]: trapezoids 7.5 + 7.5 -> 7.5
    assert window_mean(t, x, 0.0, 20.0)[0] == pytest.approx(5.0)
    assert window_mean(t, x, 5.0, 15.0)[0] == pytest.approx(7.5)
    assert math.isnan(window_mean(t, x, 0.0, 30.0)[0])
    # x >= 4 on [4, 16]: 12 of 20
    assert fraction_above(t, x, 4.0, 0.0, 20.0)[0] == pytest.approx(0.6)
    assert time_to_reach(t, x[0], 4.0) == pytest.approx(4.0)
    assert time_to_reach(t, np.array([5.0, 3.0, 5.0]), 4.0) == pytest.approx(15.0)
    assert time_to_reach(t, np.array([5.0, 6.0, 5.0]), 4.0) == 0.0
    assert math.isnan(time_to_reach(t, np.array([1.0, 2.0, 3.0]), 4.0))


def test_metrics_against_hand_computed_values():
    """Synthetic NRS: 5 at start, down to 2 at 24 h, then linearly up to 6 at 84 d."""
    t = np.arange(-48.0, 84 * DAY + 1.0, 1.0)
    knots_t = [-48.0, 0.0, 24.0, 84 * DAY]
    nrs0 = np.interp(t, knots_t, [4.5, 5.0, 2.0, 6.0])
    nrs1 = np.where(t >= 0, 2.0, 5.0)
    nrs2 = np.full_like(t, np.nan)
    nrs = np.vstack([nrs0, nrs1, nrs2])
    burden = np.full_like(nrs, 0.3)
    sedation = np.vstack([np.interp(t, [0.0, 84 * DAY], [0.0, 0.2])] * 3)
    mme = np.zeros((3, 90))
    mme[0, :84] = 60.0
    mme[0, 84:] = 1000.0  # after the endpoint: must not count
    m = compute_metrics(t, nrs, burden, sedation, sedation, np.array([5.0, 5.0, 5.0]), mme,
                        84 * DAY, "child_pugh_b")
    seg = lambda tt: 2.0 + 4.0 * (tt - 24.0) / (84 * DAY - 24.0)  # noqa: E731
    # AUC: 24 h at mean 3.5, then 1992 h at mean 4 -> 8052 NRS*h = 335.5 NRS*d
    assert m["pain_auc"][0] == pytest.approx(335.5)
    assert m["pain_auc"][1] == pytest.approx(168.0)
    assert m["nrs_week4"][0] == pytest.approx(seg(588.0))
    assert m["nrs_week8"][0] == pytest.approx(seg(1260.0))
    assert m["nrs_week12"][0] == pytest.approx(seg(1932.0))
    assert m["nrs_endpoint"][0] == pytest.approx(seg(1932.0))
    # NRS >= 4 on [0, 8 h] and from 1020 h: 1004 h of 2016
    assert m["pct_time_nrs_ge4"][0] == pytest.approx(100 * 1004 / 2016)
    assert m["pct_time_nrs_ge4"][1] == 0.0
    assert m["time_to_nrs4"][0] == pytest.approx(1020.0 / 24)
    assert math.isnan(m["time_to_nrs7"][0]) and math.isnan(m["time_to_nrs4"][1])
    assert m["responder_30"].tolist()[:2] == [0.0, 1.0]   # patient 1: 60 % reduction
    assert m["responder_50"].tolist()[:2] == [0.0, 1.0]
    assert m["mme_per_day"][:2].tolist() == [60.0, 0.0]
    assert m["opioid_days"][:2].tolist() == [84.0, 0.0]
    hr = hepatic_encephalopathy_risk(84, "child_pugh_b")["hazard_ratio"]
    assert hr > 1.0 and m["he_hazard_ratio"][0] == hr and m["he_hazard_ratio"][1] == 1.0
    assert m["side_effect_burden"][0] == pytest.approx(0.3)
    assert m["sedation"][0] == pytest.approx(0.1)
    # a failed patient has NaN metrics but keeps its baseline
    assert all(math.isnan(m[k][2]) for k in m if k != "nrs_baseline")
    assert set(m) == {name for name, _, _ in METRICS}


def test_summary_repr_and_html(short):
    _, res = short
    s = res.summary()
    assert s["mme_per_day"] == pytest.approx(60.0)
    assert "short" in repr(res) and "MME/day 60.0" in repr(res)
    html = res._repr_html_()
    assert "<table>" in html and "short" in html


def test_plot_returns_labelled_axes(short, population):
    from matplotlib.figure import Figure

    _, res = short
    ax = res.plot(Figure().subplots())
    assert "weeks" in ax.get_xlabel() and "NRS" in ax.get_ylabel()
    assert "short" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "NRS" in labels and "central" in labels
    ax2 = population[1].plot(Figure().subplots(), components=False)
    assert "3 patients" in ax2.get_title()
    with pytest.raises(Exception, match="patient must be"):
        population[1].plot(Figure().subplots(), patient=5)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes; got 'nrs'"):
        res.plot("nrs")


# ----------------------------------------------------------------------------- HDF5


def _same(a, b):
    if a is None or b is None:
        return a is b
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def test_hdf5_round_trip_is_bit_for_bit(short, tmp_path):
    _, res = short
    path = tmp_path / "r.h5"
    res.to_hdf5(path, command_line="neurosim run x.toml")
    back = ScenarioResult.from_hdf5(path)
    for k in res.data:
        assert _same(res.data[k], back.data[k]), k
    for k in ("t", "states", "slots", "parameters", "treatment_start", "nrs_baseline",
              "mme_daily", "status", "presented"):
        assert _same(np.asarray(getattr(res, k)), np.asarray(getattr(back, k))), k
    for k in ("name", "description", "liver", "scenario_text", "source", "seed", "units",
              "descriptions", "state_names", "state_units", "status_messages", "safety",
              "treatments", "endpoint", "duration", "history", "output_interval",
              "presentation_nrs"):
        assert getattr(res, k) == getattr(back, k), k
    m1, m2 = res.metrics(), back.metrics()
    assert all(_same(m1[k], m2[k]) for k in m1)
    assert back.info["command_line"] == "neurosim run x.toml"


def test_hdf5_file_describes_itself(short, tmp_path):
    _, res = short
    path = tmp_path / "r.h5"
    res.to_hdf5(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["format"] == "neurosim-results" and a["format_version"] == 1
        for key in ("neurosim_version", "command_line", "seed", "scenario", "created"):
            assert key in a
        assert "morphine 10 mg po q4h" in a["scenario"]
        assert a["created"].endswith("+00:00")
        datasets = []
        f.visititems(lambda name, obj: datasets.append(obj)
                     if isinstance(obj, h5py.Dataset) else None)
        assert len(datasets) > 30
        for ds in datasets:
            assert "units" in ds.attrs and "description" in ds.attrs, ds.name
        nrs = f["outputs/nrs"]
        assert nrs.compression == "gzip" and nrs.chunks is not None
        assert nrs.dims[1][0].name == "/time" and nrs.dims[0][0].name == "/patient"
        assert f["time"].attrs["units"] == "h"
        assert f["patients/status"].shape == (1,)

        def no_objects(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype.kind in "fiub" or h5py.check_string_dtype(obj.dtype), name
        f.visititems(no_objects)


def test_crash_during_write_leaves_no_file(short, tmp_path, monkeypatch):
    _, res = short
    target = tmp_path / "r.h5"
    calls = {"n": 0}
    real = results_io._numeric

    def failing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("disk on fire")
        return real(*args, **kw)

    monkeypatch.setattr(results_io, "_numeric", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        res.to_hdf5(target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []          # the temporary file is gone too
    # an existing complete file survives a crashed rewrite unchanged
    monkeypatch.setattr(results_io, "_numeric", real)
    res.to_hdf5(target)
    before = target.read_bytes()
    calls["n"] = 0
    monkeypatch.setattr(results_io, "_numeric", failing)
    with pytest.raises(RuntimeError):
        res.to_hdf5(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]


def test_killed_process_never_leaves_a_partial_file(short, tmp_path):
    """A process killed in the middle of writing (os._exit, no cleanup) leaves nothing
    under the target name."""
    _, res = short
    good = tmp_path / "good.h5"
    res.to_hdf5(good)
    target = tmp_path / "target.h5"
    script = textwrap.dedent(f"""
        import os
        from neurosim.io import results as R
        from neurosim.simulation import ScenarioResult
        res = ScenarioResult.from_hdf5({str(good)!r})
        real, n = R._numeric, [0]
        def dying(*a, **k):
            n[0] += 1
            if n[0] == 8:
                os._exit(3)
            return real(*a, **k)
        R._numeric = dying
        res.to_hdf5({str(target)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("target.h5.tmp-")]
    assert len(leftovers) == 1      # the only trace: a temporary file, never the target


def test_corrupt_foreign_and_future_files_raise_results_file_error(short, tmp_path):
    _, res = short
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not HDF5" * 100)
    with pytest.raises(ResultsFileError, match="not an HDF5 file"):
        ScenarioResult.from_hdf5(garbage)
    good = tmp_path / "good.h5"
    res.to_hdf5(good)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ResultsFileError):
        ScenarioResult.from_hdf5(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(ResultsFileError, match="not a neurosim results file"):
        ScenarioResult.from_hdf5(foreign)
    future = tmp_path / "future.h5"
    future.write_bytes(good.read_bytes())
    with h5py.File(future, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ResultsFileError, match="version 99"):
        ScenarioResult.from_hdf5(future)
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(good.read_bytes())
    with h5py.File(damaged, "a") as f:
        del f["outputs/nrs"]
    with pytest.raises(ResultsFileError, match="damaged"):
        ScenarioResult.from_hdf5(damaged)
    with pytest.raises(ResultsFileError, match="no such results file"):
        ScenarioResult.from_hdf5(tmp_path / "missing.h5")


def test_write_into_missing_folder_is_a_clean_error(short, tmp_path):
    with pytest.raises(ResultsFileError, match="does not exist"):
        short[1].to_hdf5(tmp_path / "nope" / "r.h5")


def test_file_permissions_follow_umask(short, tmp_path):
    path = tmp_path / "r.h5"
    short[1].to_hdf5(path)
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)


@pytest.mark.parametrize("lead_days", [28, 112])
def test_windowed_natural_history_matches_one_long_solve(lead_days):
    """The untreated course is solved in windows until each patient presents.

    Reference: the same model solved in one piece over the whole presentation
    limit by ``solve_ensemble`` at rtol 1e-10 (daily output), presentation
    read from its daily NRS. Presentation days must agree exactly, and the
    state at the start of the lead-in to 1e-6 (relative to each state's
    scale). The population mixes patients who present at once, within the
    first window, in later windows and never; a lead-in longer than the
    91-day window stretches the windows.
    """
    from neurosim import simulation as sim
    from neurosim._progress import make_progress
    from neurosim.solver import solve_ensemble

    sc = Scenario(duration="1 d", history=f"{lead_days} d", presentation_limit="2 years")
    P = model.sample_population(16, seed=5)
    n = P.shape[0]
    y_lead, start, presented, st, _ = sim._natural_history(sc, P, None, sc.rtol, n,
                                                           make_progress(None, 2 * n))
    assert np.all(st == 0)
    n_days = 730
    t = np.arange(n_days + 1) * DAY
    ref = solve_ensemble(model.model_rhs, model.initial_state(P), t, P, jac=model.model_jac,
                         rtol=1e-10, atol=model.default_atol(1e-10), method="rodas5p")
    nrs = model.outputs(ref.y, P[:, None, :], names=["nrs"])["nrs"]
    ok = nrs[:, lead_days:] >= 4.0
    ref_presented = ok.any(axis=1)
    ref_day = np.where(ref_presented, lead_days + np.argmax(ok, axis=1), n_days)
    # the population covers every case the windows must handle
    window = max(91, lead_days)
    later = ref_presented & (ref_day > lead_days)
    opens = window * ((ref_day - 1) // window)  # first day of the presentation's window
    assert (ref_day == lead_days).any() and (~ref_presented).any()
    if window > lead_days:  # (a window as long as the lead-in never holds both)
        assert (later & (ref_day - lead_days >= opens)).any()  # lead-in in the same window
    assert (later & (ref_day - lead_days < opens)).any()   # ... starting in the previous one
    np.testing.assert_array_equal(presented, ref_presented)
    np.testing.assert_array_equal(start, ref_day * DAY)
    y_ref = ref.y[np.arange(n), ref_day - lead_days, :]
    scale = np.abs(y_ref) + model.STATE_SCALES
    assert np.max(np.abs(y_lead - y_ref) / scale) < 1e-6
    # a patient's course does not depend on who else is solved with them
    late = int(np.argmax(ref_day))
    alone = sim._natural_history(sc, P[late:late + 1], None, sc.rtol, 1, make_progress(None, 2))
    np.testing.assert_array_equal(alone[0][0], y_lead[late])
    assert alone[1][0] == start[late]
