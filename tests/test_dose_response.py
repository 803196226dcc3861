"""Dose-response: Emax fitting, threshold doses, and a real paired run.

References: synthetic data drawn from the Emax model itself (known ED50);
the log-linear interpolation formula for the threshold dose; and, for the
paired design, simulate_scenario on the same patient rows, arm by arm.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurosim.analysis.doseresponse import (dose_response, emax_model, fit_emax,
                                            fit_emax_bootstrap, threshold_dose)
from neurosim.cli import main
from neurosim.errors import NeurosimKeyError, NeurosimValueError
from neurosim.model.parameters import PARAMETER_INDEX
from neurosim.scenario import load_scenario
from neurosim.simulation import simulate_scenario
from neurosim.sweep import loads_sweep, open_sweep

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- Emax


def test_emax_fit_recovers_ed50_of_synthetic_data():
    """Per-patient responses E0 + Emax D^h/(ED50^h + D^h) + N(0, 0.15^2) for 300 patients at
    six doses (true ED50 = 12 mg, h = 1.5): the fitted ED50 lies inside its bootstrap 95 %
    interval and within 10 % of the truth (the standard error of a dose mean is
    0.15/sqrt(300) = 0.009 on an effect of 0.6, which moves ED50 by a few %)."""
    rng = np.random.default_rng(42)
    doses = np.array([0.0, 2.0, 5.0, 10.0, 25.0, 60.0, 150.0])
    truth = dict(e0=0.1, emax=0.6, ed50=12.0, hill=1.5)
    Y = emax_model(doses, **truth)[None, :] + rng.normal(0.0, 0.15, size=(300, doses.size))
    fit = fit_emax_bootstrap(doses, Y, n_boot=300, seed=1)
    lo, hi = fit.ed50_ci
    assert lo < fit.ed50 < hi
    assert lo < truth["ed50"] < hi
    assert abs(fit.ed50 - truth["ed50"]) / truth["ed50"] < 0.10
    assert abs(fit.hill - truth["hill"]) < 0.3 and abs(fit.emax - truth["emax"]) < 0.05
    assert fit.n_boot == 300 and fit.note == ""
    # noise-free data: the exact parameters (least squares at its optimum)
    exact = fit_emax(doses, emax_model(doses, **truth))
    np.testing.assert_allclose(exact, list(truth.values()), rtol=1e-5)


def test_emax_fit_of_a_flat_curve_says_so():
    Y = np.full((20, 4), 0.3)
    fit = fit_emax_bootstrap([0, 1, 2, 4], Y, n_boot=20)
    assert math.isnan(fit.ed50) and "does not vary" in fit.note


def test_threshold_dose_interpolates_log_linearly():
    d = np.array([5.0, 10.0, 20.0, 40.0])
    b = np.array([0.05, 0.10, 0.30, 0.50])
    # 0.2 is half-way from 0.10 to 0.30: the geometric mean of 10 and 20
    assert threshold_dose(d, b, 0.2) == pytest.approx(math.sqrt(200.0), rel=1e-12)
    assert threshold_dose(d, b, 0.01) == 5.0
    assert math.isnan(threshold_dose(d, b, 0.9))


# ----------------------------------------------------------------------------- a real run

SHORT = dict(duration="2 weeks", history="0 d", output_interval="1 d")


@pytest.fixture(scope="module")
def morphine_run(tmp_path_factory):
    """Morphine at 3 doses + celecoxib comparator, 6 patients, 2 weeks, 1 thread."""
    d = tmp_path_factory.mktemp("dr")
    sc = load_scenario(REPO / "scenarios/morphine_fixed.toml").with_changes(**SHORT)
    out = d / "dr.h5"
    res = dose_response(sc, "morphine", [5, 20, 80], patients=6, seed=3, n_boot=50,
                        compare=["celecoxib"], output=out, threads=1)
    return sc, res, out


def test_response_and_side_effects_rise_with_the_dose(morphine_run):
    _, res, _ = morphine_run
    assert res.n_patients == 6 and res.failed == 0
    assert np.all(np.diff(res.mean_reduction) > 0)
    assert res.mean_reduction[0] > res.control["reduction"]
    assert np.all(np.diff(res.burden) > 0) and res.control["burden"] == 0.0
    assert res.arms == ["control", "morphine_5mg", "morphine_20mg", "morphine_80mg",
                        "compare_celecoxib"]
    assert res.regimens["morphine_20mg"] == ["morphine 20 mg po q4h"]
    assert res.regimens["control"] == []
    assert res.regimens["compare_celecoxib"] == ["celecoxib 200 mg po q12h"]
    text = res.table()
    assert "ED50" in text and "celecoxib" in text


def test_paired_comparison_uses_the_same_patients(morphine_run):
    """Every arm's metrics are simulate_scenario on the same parameter rows (recomputed
    here from the sweep stored in the file), and the paired differences are the means of
    the per-patient differences."""
    sc, res, out = morphine_run
    sr = open_sweep(out)
    sw = loads_sweep(sr.sweep_text, source="dr")
    P, _ = sw.patients(0, sw.n_patients)
    cols = [PARAMETER_INDEX[n] for n in sr.parameter_names]
    np.testing.assert_array_equal(sr.parameters, P[:, cols])
    per_arm = {}
    for i, arm in enumerate(sw.arms):
        one = simulate_scenario(sw.arm_scenario(i), patients=P, threads=1).metrics()
        stored = sr.metrics(arm.name)
        for k in ("nrs_baseline", "nrs_endpoint", "side_effect_burden", "responder_30"):
            np.testing.assert_array_equal(stored[k], one[k], err_msg=f"{arm.name} {k}")
        per_arm[arm.name] = one["nrs_baseline"] - one["nrs_endpoint"]
    cmp = [c for c in res.comparisons if c["dose"] == 20.0][0]
    diff = per_arm["morphine_20mg"] - per_arm["compare_celecoxib"]
    assert cmp["d_reduction"] == pytest.approx(diff.mean(), abs=1e-12)
    assert cmp["d_reduction_ci"][0] <= cmp["d_reduction"] <= cmp["d_reduction_ci"][1]
    with h5py.File(out, "r") as f:
        assert "dose_response" in f and list(f["dose_response/doses"][()]) == [5, 20, 80]


def test_same_seed_same_numbers_and_csv_output(tmp_path, morphine_run):
    sc, res, _ = morphine_run
    again = dose_response(sc, "morphine", [5, 20, 80], patients=6, seed=3, n_boot=50,
                          output=tmp_path / "dr.csv", threads=1)
    np.testing.assert_array_equal(again.mean_reduction, res.mean_reduction)
    assert again.fit.ed50_ci == res.fit.ed50_ci or math.isnan(res.fit.ed50)
    rows = list(csv.reader((tmp_path / "dr.csv").open()))
    assert rows[0][:2] == ["arm", "dose"] and rows[2][0] == "morphine_5mg"


def test_the_figure_draws_the_table(morphine_run):
    """Both panels plot the result's own numbers: the efficacy panel the mean response
    (responders in %) with its interval, the side-effect panel the mean burden with its
    interval, the control and the tolerability threshold as lines."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurosim.analysis.sa_plots import plot_dose_response

    _, res, _ = morphine_run
    fig = plot_dose_response(res)
    eff, side = fig.axes[0], fig.axes[1]
    (points, *_), = [c for c in eff.containers if hasattr(c, "lines")][:1]
    np.testing.assert_array_equal(points.get_xdata(), res.doses)
    np.testing.assert_allclose(points.get_ydata(), 100.0 * res.responder_rate, rtol=1e-12)
    (bpoints, *_), = [c for c in side.containers if hasattr(c, "lines")][:1]
    np.testing.assert_allclose(bpoints.get_ydata(), res.burden, rtol=1e-12)
    flat = {round(float(ln.get_ydata()[0]), 12) for ln in side.get_lines()
            if len(set(np.asarray(ln.get_ydata(), float))) == 1}
    assert round(res.threshold, 12) in flat and round(res.control["burden"], 12) in flat
    labels = [t.get_text() for t in side.get_legend().get_texts()]
    assert any(lab.startswith(f"tolerability threshold {res.threshold:g}") for lab in labels)
    plt.close(fig)


def test_cli_dose_response_writes_table_file_and_figure(tmp_path, capsys):
    src = tmp_path / "short.toml"
    text = (REPO / "scenarios/morphine_fixed.toml").read_text(encoding="utf-8")
    text = text.replace('duration = "12 weeks"', 'duration = "2 weeks"')
    text = text.replace('history = "4 weeks"', 'history = "0 d"')
    text = text.replace('output_interval = "1 h"', 'output_interval = "1 d"')
    src.write_text(text, encoding="utf-8")
    out, fig = tmp_path / "dr.h5", tmp_path / "dr.png"
    code = main(["dose-response", str(src), "--drug", "morphine", "--doses", "5,40",
                 "--patients", "4", "--seed", "3", "--bootstrap", "20", "--threads", "1",
                 "-o", str(out), "--plot", str(fig), "--progress", "none"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "ED50" in printed and f"wrote {out}" in printed and f"wrote {fig}" in printed
    assert fig.stat().st_size > 10_000 and fig.read_bytes()[:4] == b"\x89PNG"
    sr = open_sweep(out)
    assert sr.complete and sr.arms == ["control", "morphine_5mg", "morphine_40mg"]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kw, exc, words", [
    (dict(drug="morphin"), NeurosimKeyError, "Did you mean 'morphine'"),
    (dict(drug="tanezumab"), NeurosimKeyError, "gives no regimen of 'tanezumab'"),
    (dict(doses=[10, -5]), NeurosimValueError, "positive"),
    (dict(doses=[0, 5]), NeurosimValueError, "positive"),
    (dict(doses=[10, 10, 20]), NeurosimValueError, "increasing"),
    (dict(doses=[20, 10]), NeurosimValueError, "increasing"),
    (dict(response="responder30"), NeurosimKeyError, "Did you mean 'responder_30'"),
    (dict(side_effect="sedaton"), NeurosimKeyError, "Did you mean 'sedation'"),
    (dict(unit="mg/h"), NeurosimValueError, "--unit"),
    (dict(compare=["aspirin"]), NeurosimKeyError, "unknown drug 'aspirin'"),
    (dict(compare=["paracetamol"]), NeurosimValueError, "no packaged scenario"),
    (dict(compare=["oxycodone:10 mg po q6"]), NeurosimValueError, "--compare 'oxycodone:10"),
])
def test_bad_input_is_refused_before_simulating(tmp_path, kw, exc, words):
    args = dict(drug="morphine", doses=[5, 10])
    args.update(kw)
    out = tmp_path / "x.h5"
    with pytest.raises(exc, match=words.replace("(", r"\(")):
        dose_response(REPO / "scenarios/morphine_fixed.toml", args.pop("drug"),
                      args.pop("doses"), patients=2, output=out, **args)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_dose_response_errors_are_one_line(tmp_path, capsys):
    out = tmp_path / "dr.h5"
    assert main(["dose-response", str(REPO / "scenarios/morphine_fixed.toml"), "--drug",
                 "morphine", "--doses", "5,ten", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'ten' is not a number" in err
    assert main(["dose-response", "hypothetical_drug", "--drug", "trkanb", "--doses",
                 "10,20"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'trkanib'" in err and "Traceback" not in err
    assert not out.exists()


def test_hypothetical_drug_written_as_data_against_a_standard_drug():
    """trkanib exists only in scenarios/hypothetical_drug.toml ([drugs.trkanib]): its dose
    levels and the morphine comparator (packaged regimen) run on the same patients."""
    sc = load_scenario("hypothetical_drug").with_changes(duration="1 week", history="0 d",
                                                         output_interval="1 d")
    res = dose_response(sc, "trkanib", [50, 200], patients=3, seed=2, n_boot=20,
                        compare=["morphine"], threads=1)
    assert res.regimens["trkanib_200mg"] == ["trkanib 200 mg po q12h"]
    assert res.regimens["compare_morphine"] == ["morphine 10 mg po q4h"]
    assert [c["dose"] for c in res.comparisons] == [50.0, 200.0]
    assert set(res.comparator_means) == {"morphine 10 mg po q4h"}
    # morphine has a side-effect burden, trkanib none: the paired difference is negative
    assert all(c["d_burden"] < 0 for c in res.comparisons)


# ----------------------------------------------------------------------------- resume


def _interrupt_after_first_batch(monkeypatch):
    """Make the sweep behind dose_response receive Ctrl-C once its first batch is saved."""
    import os
    import signal

    import neurosim.sweep as sweep_pkg

    real = sweep_pkg.run_sweep
    seen = []

    def run(*args, **kw):
        def on_batch(a, b):
            seen.append((a, b))
            if len(seen) == 1:
                os.kill(os.getpid(), signal.SIGINT)
        return real(*args, on_batch=on_batch, **kw)

    monkeypatch.setattr(sweep_pkg, "run_sweep", run)
    return seen


def test_interrupted_dose_response_resumes_to_the_same_numbers(tmp_path, monkeypatch,
                                                               morphine_run):
    """Ctrl-C after the first batch keeps the finished patients beside the output (nothing
    written at the output itself); resume=True finishes the run, and every stored metric
    equals the uninterrupted run's (the module's fixture) bit for bit."""
    from neurosim.analysis.doseresponse import running_file
    from neurosim.sweep import SweepInterrupted

    sc, whole, whole_out = morphine_run
    out = tmp_path / "dr.h5"
    kw = dict(patients=6, seed=3, n_boot=50, compare=["celecoxib"], output=out, threads=1,
              batch_size=2)
    _interrupt_after_first_batch(monkeypatch)
    with pytest.raises(SweepInterrupted) as info:
        dose_response(sc, "morphine", [5, 20, 80], **kw)
    monkeypatch.undo()
    work = running_file(out)
    assert work == tmp_path / ".dr.running.h5" and work.exists() and not out.exists()
    assert 0 < info.value.done < 6 and "--resume" in str(info.value)
    res = dose_response(sc, "morphine", [5, 20, 80], resume=True, **kw)
    assert out.exists() and not work.exists() and res.path == out
    np.testing.assert_array_equal(res.mean_reduction, whole.mean_reduction)
    np.testing.assert_array_equal(res.burden, whole.burden)
    a, b = open_sweep(out), open_sweep(whole_out)
    for arm in whole.arms:
        for k, v in b.metrics(arm).items():
            np.testing.assert_array_equal(a.metrics(arm)[k], v, err_msg=f"{arm} {k}")


def test_resume_refuses_the_unfinished_run_of_another_study(tmp_path, monkeypatch):
    """An unfinished run of other doses is not mixed in: a clear error, and it stays; without
    resume it is discarded and the new study runs."""
    from neurosim.analysis.doseresponse import running_file
    from neurosim.errors import ResultsFileError
    from neurosim.sweep import SweepInterrupted

    sc = load_scenario(REPO / "scenarios/morphine_fixed.toml").with_changes(**SHORT)
    out = tmp_path / "dr.csv"
    kw = dict(patients=4, seed=3, n_boot=20, output=out, threads=1, batch_size=1)
    _interrupt_after_first_batch(monkeypatch)
    with pytest.raises(SweepInterrupted):
        dose_response(sc, "morphine", [5, 20], **kw)
    monkeypatch.undo()
    work = running_file(out)
    assert work.name == ".dr.running.h5" and work.exists()
    before = work.read_bytes()
    with pytest.raises(ResultsFileError, match="different dose-response study"):
        dose_response(sc, "morphine", [5, 40], resume=True, **kw)
    assert work.read_bytes() == before and not out.exists()
    res = dose_response(sc, "morphine", [5, 40], **kw)
    assert out.exists() and not work.exists() and res.doses.tolist() == [5.0, 40.0]
    with pytest.raises(NeurosimValueError, match="resume needs the output"):
        dose_response(sc, "morphine", [5, 40], resume=True, patients=4)


def test_cli_dose_response_stopped_by_sigterm_resumes(tmp_path):
    """`neurosim dose-response -o` stopped by SIGTERM mid-run exits 143 and says how to go
    on; the same command with --resume finishes it with the numbers of an uninterrupted
    run (its CSV table, byte for byte)."""
    import signal
    import subprocess
    import sys

    text = (REPO / "scenarios/morphine_fixed.toml").read_text()
    text = (text.replace('duration = "12 weeks"', 'duration = "2 weeks"')
                .replace('history = "4 weeks"', 'history = "0 d"')
                .replace('output_interval = "1 h"', 'output_interval = "1 d"'))
    scen = tmp_path / "short.toml"
    scen.write_text(text)
    args = [str(scen), "--drug", "morphine", "--doses", "5,20", "--patients", "60",
            "--bootstrap", "20", "--threads", "1", "--batch-size", "1"]
    whole = tmp_path / "whole.csv"
    assert main(["dose-response", *args, "-o", str(whole), "-q"]) == 0
    out = tmp_path / "cut.csv"
    proc = subprocess.Popen([sys.executable, "-m", "neurosim.cli", "dose-response", *args,
                             "-o", str(out), "--progress", "text"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the first progress line: a batch is saved
        if "/60 (" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "--resume" in err and not out.exists()
    assert main(["dose-response", *args, "-o", str(out), "--resume", "-q"]) == 0
    assert out.read_bytes() == whole.read_bytes()
    assert not (tmp_path / ".cut.running.h5").exists()


def test_interrupted_without_output_says_nothing_is_kept(monkeypatch):
    from neurosim.sweep import SweepInterrupted

    sc = load_scenario(REPO / "scenarios/morphine_fixed.toml").with_changes(**SHORT)
    _interrupt_after_first_batch(monkeypatch)
    with pytest.raises(SweepInterrupted, match="without an output file .* nothing is kept"):
        dose_response(sc, "morphine", [5, 20], patients=4, seed=3, n_boot=20, threads=1,
                      batch_size=1)
