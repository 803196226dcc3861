"""The notebook explorer (neurosim.notebook): widgets, update path, bad input, caching.

No display is needed: ipywidgets objects work without a front end, and a
change is made the way the browser makes it, by assigning a widget's value.
Latency is recorded (``Explorer.timings``) but not asserted here; the
benchmark ``benchmarks/bench_explorer.py`` measures and reports it.
"""
from __future__ import annotations

import asyncio
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("ipywidgets")

from neurosim import simulation  # noqa: E402
from neurosim.errors import MissingDependencyError, NeurosimKeyError  # noqa: E402
from neurosim.notebook import DOSING, PATIENT_CONTROLS, Explorer, explore  # noqa: E402
from neurosim.simulation import simulate_scenario  # noqa: E402

COMPONENTS = ("nrs_mechanical", "nrs_inflammatory", "nrs_ngf", "nrs_central")


@pytest.fixture
def ex():
    return Explorer(debounce=0.0)


def _change(ex, key, value):
    """Assign a widget value as the browser would; return the number of updates it caused."""
    n = len(ex.timings)
    ex._controls[key].value = value
    return len(ex.timings) - n


# ----------------------------------------------------------------------------- valid updates


def test_builds_and_draws_the_expected_lines(ex):
    assert ex.ok, ex.message
    lines = ex.lines
    assert set(lines) == {"nrs", "nrs_untreated"} | set(COMPONENTS) | {
        f"{c}_untreated" for c in COMPONENTS}
    res, ref = ex.result, ex.untreated
    x, y = lines["nrs"].get_data()
    np.testing.assert_array_equal(x, res.t_weeks)
    np.testing.assert_array_equal(y, res["nrs"][0])
    np.testing.assert_array_equal(lines["nrs_untreated"].get_data()[1], ref["nrs"][0])
    # the four plotted components are the NRS split by mechanism: they add up to it
    total = sum(lines[c].get_data()[1] for c in COMPONENTS)
    np.testing.assert_allclose(total, y, rtol=1e-9, atol=1e-9)
    legend = [t.get_text() for ax in ex.figure.axes for t in ax.get_legend().get_texts()]
    assert "NRS treated" in legend and "NRS untreated" in legend and "central" in legend
    # the picture reached the image widget, and the table both columns
    assert ex._image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "treated" in ex._metrics.value and "untreated" in ex._metrics.value
    assert "morphine" in ex.scenario.text and ex.untreated.treatments.count("\n") <= 1


def test_a_widget_change_redraws_once_with_the_same_numbers_as_a_fresh_simulation(ex):
    before = ex.result
    assert _change(ex, "dose1", 30.0) == 1
    assert ex.ok, ex.message
    assert ex.result is not before
    assert "morphine 30 mg po" in ex.scenario.text
    # the cached natural history and untreated course give exactly what a plain
    # simulation of the exported scenario gives
    fresh = simulate_scenario(ex.scenario)
    np.testing.assert_array_equal(fresh["nrs"], ex.result["nrs"])
    np.testing.assert_array_equal(fresh.treatment_start, ex.result.treatment_start)
    plain = simulate_scenario(ex.scenario.with_changes(regimens=[]))
    np.testing.assert_array_equal(plain["nrs"], ex.untreated["nrs"])
    # a higher dose of the same opioid relieves more over the treated weeks
    assert ex.result.summary()["pain_auc"] < before.summary()["pain_auc"]
    np.testing.assert_array_equal(ex.lines["nrs"].get_data()[1], ex.result["nrs"][0])


def test_changing_the_drug_selects_its_dose_and_interval(ex):
    assert _change(ex, "drug1", "tanezumab") == 1
    d = DOSING["tanezumab"]
    v = ex.values()
    assert v["dose1"] == pytest.approx(d.dose) and v["interval1"] == d.interval
    assert ex.ok, ex.message
    assert "tanezumab" in ex.scenario.text and "morphine" not in ex.scenario.text
    # the dose slider spans the drug's range with room on both sides
    s = ex._controls["dose1"]
    assert 10 ** s.min < d.low and 10 ** s.max > d.high


def test_only_the_treated_part_is_resimulated(ex, monkeypatch):
    calls = []
    real = simulation._natural_history

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(simulation, "_natural_history", counting)
    for dose in (12.0, 15.0):
        _change(ex, "dose1", dose)
    _change(ex, "drug2", "tanezumab")
    _change(ex, "liver", "child_pugh_b")      # drug exposure changes, the disease does not
    assert ex.ok, ex.message
    assert calls == []
    n_untreated = len(ex._untreated_cache)
    pc = PATIENT_CONTROLS[0]
    s = ex._controls[pc.key]
    _change(ex, pc.key, float(10 ** (0.5 * (s.min + s.max))))    # a new patient
    assert ex.ok, ex.message
    assert len(calls) == 1 and len(ex._untreated_cache) == n_untreated + 1


def test_hypothetical_drug_of_a_scenario_is_offered():
    ex = Explorer("hypothetical_drug", debounce=0.0)
    assert ex.ok, ex.message
    assert ex.values()["drug1"] == "trkanib"
    d = ex.dosing["trkanib"]
    assert d.low < d.dose < d.high
    assert _change(ex, "dose1", d.dose * 2) == 1 and ex.ok, ex.message
    assert "[drugs.trkanib" in ex.scenario.text     # the exported file keeps the drug


def test_latency_is_recorded_for_every_update(ex):
    for dose in (5.0, 20.0, 40.0):
        _change(ex, "dose1", dose)
    assert len(ex.timings) == 4
    for t in ex.timings:
        assert t["simulate_ms"] > 0 and t["draw_ms"] > 0
        assert t["total_ms"] >= t["simulate_ms"] + t["draw_ms"]
    assert "simulated in" in ex.message


def test_changes_in_a_running_loop_are_merged_into_one_redraw():
    ex = Explorer(debounce=0.05)
    n = len(ex.timings)

    async def burst():
        for dose in (11.0, 12.0, 13.0, 14.0):
            ex._controls["dose1"].value = dose
        assert len(ex.timings) == n       # nothing yet: waiting for quiet
        await asyncio.sleep(0.3)

    asyncio.run(burst())
    assert len(ex.timings) == n + 1
    assert "morphine 14 mg" in ex.scenario.text


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("key, value, words", [
    ("dose1", DOSING["morphine"].high * 3, "outside the range"),
    ("dose1", DOSING["morphine"].low / 3, "outside the range"),
    ("interval1", 1344.0, "is not given every 8 weeks"),
])
def test_invalid_widget_values_show_a_message_not_a_traceback(ex, key, value, words):
    good = ex.result
    assert _change(ex, key, value) == 0
    assert not ex.ok
    assert words in ex.message and "Not simulated" in ex.message
    assert words in ex._status.value
    assert ex.result is good                       # the plot keeps the last valid settings
    np.testing.assert_array_equal(ex.lines["nrs"].get_data()[1], good["nrs"][0])


def test_shortening_the_treatment_keeps_start_days_inside_it(ex):
    assert ex.set(start1=60, procedure="brain_stimulation", procedure_day=70), ex.message
    assert _change(ex, "duration", 4) == 1
    assert ex.ok, ex.message
    v = ex.values()
    assert v["start1"] < 28 and v["procedure_day"] < 28
    assert ex.result.t_days[-1] == pytest.approx(28.0)


@pytest.mark.parametrize("values, words", [
    ({"doubling_time": -3.0}, "must be > 0"),
    ({"doubling_time": 1e6}, "plausible range"),
    ({"liver_inflammation": float("nan")}, "finite"),
    ({"dose1": 0.0}, "must be > 0"),
    ({"dose1": -5.0}, "must be > 0"),
    ({"start1": 200}, "after the 84 simulated days"),
    ({"drug1": "paracetamol", "interval1": 4.0, "liver": "child_pugh_b"}, "daily maximum"),
    ({"drug1": "morphin"}, "Did you mean 'morphine'"),
    ({"liver": "child_pugh_d"}, "liver state"),
    ({"procedure": "celiac_plexus_neurolysis", "procedure_day": -1}, "procedure day"),
    ({"dose1": "ten"}, "must be a number"),
])
def test_invalid_values_from_code_show_a_message_and_change_nothing(ex, values, words):
    before_values, good = ex.values(), ex.result
    assert ex.set(**values) is False
    assert words in ex.message, ex.message
    assert ex.values() == before_values
    assert ex.result is good
    # and the explorer still works afterwards
    assert ex.set(dose1=15.0) and ex.ok


def test_errors_of_the_scenario_layer_become_messages(ex):
    # two patches of the same drug by the same route overlap: the plan refuses them
    assert ex.set(drug1="fentanyl_patch", drug2="fentanyl_patch") is False
    assert "overlapping infusions" in ex.message
    assert not ex.message.startswith("Not simulated: <python>")
    assert ex.set(drug2="none") and ex.ok


def test_unexpected_errors_are_caught(ex, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(simulation, "simulate_scenario", broken)
    assert _change(ex, "dose1", 25.0) == 0
    assert not ex.ok and "RuntimeError: solver exploded" in ex.message


def test_unknown_control_name_is_a_key_error_with_suggestion(ex):
    with pytest.raises(NeurosimKeyError, match="Did you mean .*'dose1'"):
        ex.set(dose=10)


@pytest.mark.parametrize("options, words", [
    ({"liver": "child_pugh_b"}, "'liver' is a scenario setting: start from a scenario, e.g. "
                                "explore(neurosim.Scenario(liver=...))."),
    ({"rtl": 1e-5}, "Did you mean 'rtol'?"),
    ({"colour": "red"}, "Options: dosing, rtol, threads, debounce, dpi, run."),
])
def test_an_unknown_explore_option_says_what_is_allowed(options, words):
    from neurosim.errors import NeurosimTypeError

    with pytest.raises(NeurosimTypeError) as info:
        explore(**options)
    assert f"explore() has no option {next(iter(options))!r}." in str(info.value)
    assert words in str(info.value)


def test_missing_ipywidgets_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(MissingDependencyError, match=r"neurosim\[notebook\]"):
        explore()


def test_latency_benchmark_runs_and_reports(tmp_path):
    """benchmarks/bench_explorer.py --quick end to end (its figures are not checked)."""
    import json
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_explorer.py"),
                           "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["changes"] == 10 and len(res["rows"]) == 10
    r = res["redraw_ms"]
    assert r["n"] >= 1 and 0 < r["median"] <= r["p95"] <= r["max"]
    assert "median" in proc.stdout and "p95" in proc.stdout
