"""Global sensitivity analysis through the sweep engine.

References: the analytic Sobol indices of the Ishigami function
(``ishigami_indices``: Ishigami & Homma 1990, Saltelli et al. 2008), the
exact elementary effects of a linear function (Morris), and a plain
uninterrupted run (for resume and for the thread/worker count).
"""
from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurosim.analysis.sensitivity import (IshigamiEvaluator, SAParameter, SensitivityDesign,
                                           ishigami, ishigami_indices, load_sensitivity,
                                           loads_sensitivity, open_sensitivity, run_design,
                                           run_sensitivity)
from neurosim.cli import main
from neurosim.errors import ScenarioError
from neurosim.simulation import METRICS
from neurosim.sweep import SweepInterrupted, open_sweep
from neurosim.sweep.samples import Evaluator

REPO = Path(__file__).resolve().parents[1]
PI = math.pi


def _ishigami_design(n, method="sobol", seed=3):
    return SensitivityDesign([SAParameter(f"x{i + 1}", -PI, PI) for i in range(3)],
                             method=method, n=n, seed=seed)


# ----------------------------------------------------------------------------- Ishigami


def test_ishigami_sobol_indices_through_the_sweep_path(tmp_path):
    """S1 and ST of Ishigami (a=7, b=0.1) from SALib's estimators on rows evaluated by the
    sweep runner (batches, HDF5 file) match the analytic values.

    Tolerance: at N = 4096 (20,480 runs) SALib's bootstrap 95 % half-widths are
    0.014-0.041; we require each analytic value to lie within twice the index's own
    half-width (about 4 standard errors) and the half-widths to be below 0.05, so a
    wrong estimator or a shuffled row order fails."""
    truth = ishigami_indices(7.0, 0.1)
    np.testing.assert_allclose(truth["S1"], [0.3139, 0.4424, 0.0], atol=1e-4)
    np.testing.assert_allclose(truth["ST"], [0.5576, 0.4424, 0.2437], atol=1e-4)
    res = run_design(_ishigami_design(4096), IshigamiEvaluator(), tmp_path / "ish.h5",
                     threads=1, batch_size=2048)
    ix = res.get("y")
    for key in ("S1", "ST"):
        conf = ix[f"{key}_conf"]
        assert np.all(conf < 0.05), (key, conf)
        assert np.all(np.abs(ix[key] - truth[key]) <= 2 * conf), (key, ix[key], conf)
    assert res.ranking("y") == ["x1", "x2", "x3"]
    # the runs are in the file, rows = the sample, values = the function
    sw = open_sweep(tmp_path / "ish.h5")
    assert sw.complete and sw.n_patients == 4096 * 5
    X = sw.parameters
    np.testing.assert_array_equal(sw.metrics("ishigami")["y"], ishigami(X))
    # and the indices are stored with it
    back = open_sensitivity(tmp_path / "ish.h5")
    np.testing.assert_array_equal(back.get("y")["ST"], ix["ST"])


def test_ishigami_as_an_ode_through_solve_ensemble_matches_the_function(tmp_path):
    """The ODE evaluator (dy/dt = f(x) on [0, 1], solved by solve_ensemble on 2 threads)
    gives f(x) to the solver tolerance (rtol 1e-10), hence the same indices to 1e-6."""
    d = _ishigami_design(256)
    a = run_design(d, IshigamiEvaluator(ode=True), tmp_path / "ode.h5", threads=2,
                   batch_size=300)
    b = run_design(d, IshigamiEvaluator(), tmp_path / "direct.h5", threads=1)
    ya = open_sweep(tmp_path / "ode.h5").metrics("ishigami")["y"]
    yb = open_sweep(tmp_path / "direct.h5").metrics("ishigami")["y"]
    np.testing.assert_allclose(ya, yb, rtol=0, atol=1e-7)
    np.testing.assert_allclose(a.get("y")["ST"], b.get("y")["ST"], atol=1e-6)


def test_interrupted_analysis_resumes_to_the_same_indices(tmp_path):
    """Stopped by SIGINT after the first batch, resumed: the same rows and indices as an
    uninterrupted run (reference), bit for bit."""
    d = _ishigami_design(128)
    whole = run_design(d, IshigamiEvaluator(), tmp_path / "whole.h5", threads=1,
                       batch_size=100)
    seen = []

    def stop(a, b):
        seen.append(a)
        if len(seen) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    part = tmp_path / "part.h5"
    with pytest.raises(SweepInterrupted):
        run_design(d, IshigamiEvaluator(), part, threads=1, batch_size=100, on_batch=stop)
    assert 0 < open_sweep(part).done().sum() < d.n_runs
    with h5py.File(part, "r") as f:
        assert "sensitivity" not in f
    # another design is refused (the sample is part of the identity)
    with pytest.raises(Exception, match="different sweep"):
        run_design(_ishigami_design(128, seed=4), IshigamiEvaluator(), part, resume=True)
    again = run_design(d, IshigamiEvaluator(), part, resume=True, threads=1)
    np.testing.assert_array_equal(open_sweep(part).metrics("ishigami")["y"],
                                  open_sweep(tmp_path / "whole.h5").metrics("ishigami")["y"])
    for k in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_array_equal(again.get("y")[k], whole.get("y")[k])


class _Linear(Evaluator):
    """y = sum c_i x_i: every elementary effect of x_i is exactly c_i per unit of x_i."""

    arms = ("linear",)
    metrics = (("y", "1", "linear function"),)
    c = np.array([3.0, -1.0, 0.0])

    def evaluate(self, start, X, *, threads):
        return {"linear": {"y": X @ self.c}}


def test_morris_of_a_linear_function_is_exact(tmp_path):
    """mu* = |c_i| x range (effects per full range), sigma = 0, mu keeps the sign."""
    params = [SAParameter("a", 0.0, 2.0), SAParameter("b", 10.0, 14.0),
              SAParameter("c", 1.0, 5.0)]
    d = SensitivityDesign(params, method="morris", n=10, seed=1)
    res = run_design(d, _Linear(), tmp_path / "lin.h5", threads=1)
    ix = res.get("y")
    np.testing.assert_allclose(ix["mu_star"], [6.0, 4.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(ix["mu"], [6.0, -4.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(ix["sigma"], 0.0, atol=1e-9)
    assert res.ranking("y") == ["a", "b", "c"]
    assert d.n_runs == 10 * 4 == open_sweep(tmp_path / "lin.h5").n_patients


def test_tornado_bars_are_the_indices_in_ranking_order(tmp_path):
    """The tornado plot's bars are ST and S1 of the analysis (widths and error bars), one
    row per parameter, most influential at the top; ``top`` keeps the first rows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurosim.analysis.sa_plots import plot_morris, plot_sensitivity, plot_tornado
    from neurosim.errors import NeurosimValueError

    res = run_design(_ishigami_design(256), IshigamiEvaluator(), tmp_path / "t.h5", threads=1)
    ix = res.get("y")
    rank = res.ranking("y")
    order = [res.names.index(n) for n in rank]
    ax = plot_tornado(res, "y")
    bars = ax.patches
    assert len(bars) == 2 * len(order)
    np.testing.assert_allclose([b.get_width() for b in bars[:3]], ix["ST"][order], rtol=1e-12)
    np.testing.assert_allclose([b.get_width() for b in bars[3:]], ix["S1"][order], rtol=1e-12)
    # the ST bars go from top (most influential) to bottom
    assert [b.get_y() for b in bars[:3]] == sorted((b.get_y() for b in bars[:3]), reverse=True)
    at = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert [at[y] for y in sorted(at, reverse=True)] == rank
    ax2 = plot_tornado(res, "y", top=2)
    assert len(ax2.patches) == 4 and len(ax2.get_yticklabels()) == 2
    fig = plot_sensitivity(res)
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 6
    with pytest.raises(NeurosimValueError, match="tornado plot shows Sobol indices"):
        plot_tornado(run_design(_ishigami_design(8, method="morris"), IshigamiEvaluator(),
                                tmp_path / "m.h5", threads=1), "y")
    with pytest.raises(NeurosimValueError):
        plot_morris(res, "y")
    plt.close("all")


def test_constant_and_undefined_outputs_get_a_note_not_numbers():
    d = _ishigami_design(16)
    U, X = d.sample()
    ix, note = d.analyze(U, np.full(U.shape[0], 2.0))
    assert "same" in note and np.all(np.isnan(ix["ST"]))
    Y = ishigami(X)
    Y[3] = np.nan
    ix, note = d.analyze(U, Y)
    assert "1 of" in note and np.all(np.isnan(ix["S1"]))


# ----------------------------------------------------------------------------- neurosim

SMALL = """
[scenario]
name = "sa_small"
seed = 5
[simulation]
treatment_start = "nrs >= 4"
duration = "4 weeks"
output_interval = "1 d"
[sensitivity]
{body}
"""


def _small(tmp_path, body, name="sa.toml"):
    p = tmp_path / name
    p.write_text(SMALL.format(body=body))
    return p


def test_shipped_untreated_6m_file_has_ten_parameters_and_12288_runs():
    sp = load_sensitivity(REPO / "scenarios/sensitivity/untreated_6m.toml")
    assert sp.design.method == "sobol" and len(sp.design.parameters) == 10
    assert sp.design.n == 1024 and sp.design.n_runs == 12_288
    assert sp.evaluator.arms == ("untreated_6m_sensitivity",)
    # default ranges are the table's plausible ranges
    from neurosim.model.parameters import PARAMETERS

    for p in sp.design.parameters:
        assert (p.low, p.high) == (PARAMETERS[p.name].low, PARAMETERS[p.name].high)


def test_reduced_untreated_sobol_run_is_reproducible_across_thread_counts(tmp_path):
    """A reduced version of the shipped analysis (N = 8, 4 weeks): every run succeeds, the
    indices are finite, and 1 or 2 threads give the same file (bit for bit)."""
    text = (REPO / "scenarios/sensitivity/untreated_6m.toml").read_text()
    text = text.replace("N = 1024", "N = 8").replace('"6 months"', '"4 weeks"')
    p = tmp_path / "u.toml"
    p.write_text(text)
    sp = load_sensitivity(p)
    assert not any("power of 2" in w for w in sp.warnings)
    a = run_sensitivity(sp, tmp_path / "a.h5", threads=1)
    run_sensitivity(sp, tmp_path / "b.h5", threads=2, batch_size=17)
    arm = a.arms[0]
    ya, yb = open_sweep(tmp_path / "a.h5"), open_sweep(tmp_path / "b.h5")
    assert np.all(ya.status(arm) == 0)
    for o in sp.outputs:
        np.testing.assert_array_equal(ya.metrics(arm)[o], yb.metrics(arm)[o])
        assert a.notes[arm][o] == ""
        assert np.all(np.isfinite(a.get(o)["ST"]))
    # the rows set the sampled parameters of the simulated patients
    np.testing.assert_array_equal(ya.parameters, sp.design.sample()[1])
    assert ya.parameter_names == sp.design.names


def test_every_metric_name_is_an_allowed_output(tmp_path):
    names = [m[0] for m in METRICS]
    sp = loads_sensitivity(SMALL.format(body=f'N = 4\noutputs = {names!r}\n'
                                             'parameters = ["nrs_s50"]'.replace("'", '"')))
    assert sp.outputs == names


@pytest.mark.parametrize("body, key, words", [
    ('parameters = ["nrs_s5O"]', "sensitivity.parameters[0]", "Did you mean 'nrs_s50'"),
    ('parameters = ["nrs_s50"]\noutputs = ["pain_aucc"]', "sensitivity.outputs[0]",
     "Did you mean 'pain_auc'"),
    ('parameters = ["nrs_s50"]\nranges.nrs_s50 = { low = 40, high = 20 }',
     "sensitivity.ranges.nrs_s50", "low < high"),
    ('parameters = ["tumor_doubling_time"]\n'
     'ranges.tumor_doubling_time = { low = "-3 d", high = "20 d" }',
     "sensitivity.ranges.tumor_doubling_time", "must be > 0"),
    ('parameters = ["sprouting_gain"]\n'
     'ranges.sprouting_gain = { distribution = "loguniform" }',
     "sensitivity.ranges.sprouting_gain.low", "log-uniform range needs low > 0"),
    ('parameters = ["tumor_doubling_time"]\n'
     'ranges.tumor_doubling_time = { low = 30, high = 300 }',
     "sensitivity.ranges.tumor_doubling_time.low", "has no unit"),
    ('method = "sobolx"\nparameters = ["nrs_s50"]', "sensitivity.method", "Did you mean 'sobol'"),
    ('parameters = ["nrs_s50"]\ntrajectories = 4', "sensitivity.trajectories", "morris"),
    ('parameters = ["nrs_s50"]\nN = 1', "sensitivity.N", ">= 2"),
    ('parameters = ["nrs_s50", "nrs_s50"]', "sensitivity.parameters", "twice"),
    ('parameters = ["nrs_s50"]\nranges.cs_max = { low = 1, high = 2 }',
     "sensitivity.ranges.cs_max", "not in [sensitivity] parameters"),
    ('parameters = ["nrs_s50"]\nsamples = 8', "sensitivity.samples", "unknown key"),
    ('method = "morris"\nparameters = ["nrs_s50"]\nlevels = 5', "sensitivity.levels", "even"),
    ('parameters = ["morphin.cl"]', "sensitivity.parameters[0]", "Did you mean 'morphine'"),
    ('parameters = ["morphine.clearance"]', "sensitivity.parameters[0]", "Quantities: cl, v1"),
    ('parameters = ["oxycodone.cl"]', "sensitivity.parameters[0]", "no treatment of this "
                                                                   "scenario gives oxycodone"),
    ('parameters = ["morphine.cl"]\nranges."morphine.cl" = { low = 0, high = 2 }',
     'sensitivity.ranges.morphine.cl', "must be > 0"),
])
def test_bad_sensitivity_files_name_file_key_and_what_is_allowed(tmp_path, body, key, words):
    p = _small(tmp_path, body)
    with pytest.raises(ScenarioError) as info:
        load_sensitivity(p)
    msg = str(info.value)
    assert str(p) in msg and f"[{key}]" in msg and words in msg, msg


def test_explicit_ranges_with_units_and_the_default_scale(tmp_path):
    p = _small(tmp_path, 'parameters = ["tumor_doubling_time", "sprouting_gain", "nrs_s50"]\n'
                         'N = 4\n'
                         'ranges.tumor_doubling_time = { low = "30 d", high = "300 d" }\n'
                         'ranges.nrs_s50 = { distribution = "uniform" }')
    d = load_sensitivity(p).design
    td, sg, s50 = d.parameters
    assert (td.low, td.high, td.distribution) == (720.0, 7200.0, "loguniform")  # a decade
    assert sg.distribution == "uniform"                                        # low = 0
    assert s50.distribution == "uniform"
    U, X = d.sample()
    assert X[:, 0].min() >= 720.0 and X[:, 0].max() <= 7200.0
    # log-uniform: the value at score u is low * (high/low)**u
    np.testing.assert_allclose(X[:, 0], 720.0 * 10.0 ** U[:, 0], rtol=1e-12)


def test_cli_sensitivity_morris_table_plot_and_errors(tmp_path, capsys):
    p = _small(tmp_path, 'method = "morris"\ntrajectories = 3\n'
                         'parameters = ["nrs_s50", "cs_max", "tumor_doubling_time"]\n'
                         'outputs = ["pain_auc", "nrs_endpoint"]')
    out, png = tmp_path / "m.h5", tmp_path / "m.png"
    assert main(["sensitivity", str(p), "-o", str(out), "--threads", "1", "--plot", str(png),
                 "--progress", "none"]) == 0
    text = capsys.readouterr().out
    assert "mu*" in text and "pain_auc" in text and "nrs_endpoint" in text
    assert png.stat().st_size > 10_000
    res = open_sensitivity(out)
    assert res.method == "morris" and res.outputs == ["pain_auc", "nrs_endpoint"]
    # neurosim plot draws the same indices from the file afterwards
    png2 = tmp_path / "m2.png"
    assert main(["plot", str(out), "-o", str(png2), "-q"]) == 0
    assert png2.stat().st_size > 10_000
    assert main(["plot", str(out), "--kind", "waterfall", "-o", str(tmp_path / "w.png"),
                 "-q"]) == 0                  # the file's arms are a sweep's: any kind
    # an existing file is kept unless --resume/--overwrite
    before = out.stat().st_mtime_ns
    assert main(["sensitivity", str(p), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    # --resume on a finished file: nothing to do, same indices
    assert main(["sensitivity", str(p), "-o", str(out), "--resume", "-q"]) == 0
    bad = _small(tmp_path, 'parameters = ["nrs_s50"]\noutputs = ["pain"]', name="bad.toml")
    assert main(["sensitivity", str(bad), "-o", str(tmp_path / "b.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown metric 'pain'" in err and "Traceback" not in err
    assert not (tmp_path / "b.h5").exists()


def test_sensitivity_benchmark_quick_run_writes_its_json(tmp_path):
    """benchmarks/bench_sensitivity.py --quick (N = 16, 192 runs, one thread) end to end: the
    JSON holds a finished run with no failures and the ST of every parameter (correctness
    of the harness only; the timing of a quick run means nothing)."""
    import json
    import subprocess
    import sys

    out = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_sensitivity.py"),
                           "--quick", "--modes", "threads=1", "--output", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())["runs"][0]
    assert r["runs"] == 16 * 12 and r["failed_runs"] == 0 and r["wall_s"] > 0
    assert len(r["pain_auc_ST"]) == 10


def test_worker_processes_evaluate_the_sample_identically(tmp_path):
    """The evaluator is pickled to 2 spawned worker processes: the same rows, bit for bit,
    as one thread in this process (reference)."""
    d = _ishigami_design(64)
    a = run_design(d, IshigamiEvaluator(), tmp_path / "a.h5", threads=1)
    b = run_design(d, IshigamiEvaluator(), tmp_path / "b.h5", workers=2, batch_size=50)
    np.testing.assert_array_equal(open_sweep(tmp_path / "a.h5").metrics("ishigami")["y"],
                                  open_sweep(tmp_path / "b.h5").metrics("ishigami")["y"])
    np.testing.assert_array_equal(a.get("y")["ST"], b.get("y")["ST"])


def test_second_order_index_of_the_ishigami_interaction(tmp_path):
    """With second_order, S2(x1, x3) = V13 / V = ST3 (x3 acts only with x1; analytic
    0.2437) and S2(x1, x2) = S2(x2, x3) = 0. Tolerance: twice SALib's 95 % half-width at
    N = 2048, which is below 0.1 here."""
    d = SensitivityDesign([SAParameter(f"x{i + 1}", -PI, PI) for i in range(3)],
                          method="sobol", n=2048, seed=5, second_order=True)
    assert d.n_runs == 2048 * 8
    res = run_design(d, IshigamiEvaluator(), tmp_path / "s2.h5", threads=1, batch_size=4096)
    ix = res.get("y")
    truth = ishigami_indices()["ST"][2]
    for (a, b), want in (((0, 2), truth), ((0, 1), 0.0), ((1, 2), 0.0)):
        conf = ix["S2_conf"][a, b]
        assert conf < 0.1 and abs(ix["S2"][a, b] - want) <= 2 * conf, (a, b, ix["S2"][a, b])
    assert "S2 x1 x x3" in res.table("y")


def test_a_dask_local_cluster_evaluates_the_scenario_sample_identically(tmp_path):
    """The neurosim evaluator on a 2-worker Dask LocalCluster (loopback): the same metrics,
    bit for bit, as local threads (reference)."""
    pytest.importorskip("distributed")
    p = _small(tmp_path, 'N = 4\nparameters = ["nrs_s50", "cs_max"]\noutputs = ["pain_auc"]')
    sp = load_sensitivity(p)
    a = run_sensitivity(sp, tmp_path / "a.h5", threads=1)
    run_sensitivity(sp, tmp_path / "b.h5", dask="local:2", batch_size=5)
    arm = a.arms[0]
    np.testing.assert_array_equal(open_sweep(tmp_path / "a.h5").metrics(arm)["pain_auc"],
                                  open_sweep(tmp_path / "b.h5").metrics(arm)["pain_auc"])


# ----------------------------------------------------------------------------- drug factors

DRUGS = """
[scenario]
name = "sa_drugs"
seed = 5
[simulation]
treatment_start = "120 d"
history = "1 d"
duration = "10 d"
output_interval = "1 d"
rtol = 1e-8
[treatments]
regimens = ["morphine 10 mg po q4h"]
[sensitivity]
{body}
"""


def test_drug_factors_as_inputs_default_to_a_log_range_around_one(tmp_path):
    p = tmp_path / "d.toml"
    p.write_text(DRUGS.format(body='N = 4\n'
                                   'parameters = ["morphine.ec50", "morphine.cl", "nrs_s50"]\n'
                                   'ranges."morphine.cl" = { low = 0.25, high = 4 }'))
    sp = load_sensitivity(p)
    ec50, cl, s50 = sp.design.parameters
    assert (ec50.low, ec50.high, ec50.distribution) == (0.5, 2.0, "loguniform")
    assert ec50.origin == "default factor range"
    assert (cl.low, cl.high, cl.distribution) == (0.25, 4.0, "loguniform")
    assert s50.origin == "parameter table" and not sp.warnings


def test_drug_factor_rows_reach_the_simulation(tmp_path):
    """Reference: the opioid drive u = sum Ce_i / EC50_i, pharmacokinetics independent of
    it (no titration): a row with potency factor 2 has exactly half the drive AUC of a row
    with factor 1 (rtol 1e-8; required within 1e-5), and each row equals
    simulate_scenario with the same parameter and factor (bit for bit)."""
    from neurosim.model.parameters import PARAMETER_INDEX
    from neurosim.simulation import simulate_scenario

    p = tmp_path / "d.toml"
    p.write_text(DRUGS.format(body='N = 4\nparameters = ["morphine.ec50", "nrs_s50"]'))
    sp = load_sensitivity(p)
    ev = sp.evaluator
    X = np.array([[1.0, 30.0], [2.0, 30.0], [1.3, 45.0]])
    out = ev.evaluate(0, X, threads=1)
    arm = ev.arms[0]
    m = out["arms"][arm]["metrics"]
    np.testing.assert_array_equal(out["arms"][arm]["status"], 0)
    sw = ev.sweep()
    P = ev.parameters(X)
    assert np.all(P[:, PARAMETER_INDEX["nrs_s50"]] == X[:, 1])
    direct = simulate_scenario(sw.arm_scenario(0), patients=P, threads=1,
                               drug_factors={"morphine.ec50": X[:, 0]})
    for k, v in direct.metrics().items():
        np.testing.assert_array_equal(m[k], v, err_msg=k)
    u = direct["opioid_drive"][:, direct.t > 0]
    np.testing.assert_allclose(u[1], u[0] / 2.0, rtol=1e-5)
    assert m["pain_auc"][1] > m["pain_auc"][0]


def test_a_drug_added_by_the_scenario_can_be_an_input(tmp_path):
    """A hypothetical drug of [drugs.<name>] is known to the analysis like a library drug."""
    text = (REPO / "scenarios" / "hypothetical_drug.toml").read_text()
    import tomllib

    raw = tomllib.loads(text)
    drug = next(iter(raw["drugs"]))
    p = tmp_path / "h.toml"
    p.write_text(text + f'\n[sensitivity]\nN = 4\nparameters = ["{drug}.ec50", "nrs_s50"]\n')
    sp = load_sensitivity(p)
    assert sp.design.names == [f"{drug}.ec50", "nrs_s50"]
