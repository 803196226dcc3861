"""Biomarker snapshot metrics, the baseline-predictor ranking, its plots and its command."""
from __future__ import annotations

import csv
import io
import math
import shutil

import h5py
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurosim.analysis import plots  # noqa: E402
from neurosim.analysis.biomarkers import rank_biomarkers  # noqa: E402
from neurosim.cli import main  # noqa: E402
from neurosim.errors import NeurosimKeyError, NeurosimValueError, ResultsFileError  # noqa: E402
from neurosim.scenario import loads_scenario  # noqa: E402
from neurosim.simulation import METRICS, simulate_scenario  # noqa: E402
from neurosim.sweep import open_sweep, run_sweep  # noqa: E402

#: The default virtual population (every parameter lognormal around its table
#: value), presenting at NRS >= 4, 26 weeks untreated or on tanezumab. A genotype
#: that only changes tanezumab's clearance adds a categorical predictor without
#: changing the disease model of any patient.
SWEEP = """\
[scenario]
name = "bio_test"
description = "Biomarker test population"
seed = 11

[simulation]
treatment_start = "nrs >= 4"
duration = "26 weeks"
endpoint = "26 weeks"
history = "0 d"
output_interval = "1 d"

[sweep]
patients = {patients}
design = "random"
other_parameters = "population"

[[sweep.genotypes]]
name = "FCGRT"
[[sweep.genotypes.categories]]
name = "typical"
frequency = 0.8
[[sweep.genotypes.categories]]
name = "fast"
frequency = 0.2
modifiers = [{{ drug = "tanezumab", quantity = "pk.cl", factor = 1.5 }}]

[[sweep.arms]]
name = "untreated"

[[sweep.arms]]
name = "tanezumab"
regimens = ["tanezumab 20 mg sc q8w"]
"""


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    """400 patients x 2 arms, summary-only, one thread (about 10 s)."""
    d = tmp_path_factory.mktemp("bio")
    src = d / "bio.toml"
    src.write_text(SWEEP.format(patients=400), encoding="utf-8")
    out = d / "bio.h5"
    run_sweep(src, out, summary_only=True, threads=1)
    return out


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ----------------------------------------------------------------------------- metrics


def test_biomarker_snapshots_are_the_trajectories_at_the_sampling_times():
    sc = loads_scenario("""
[scenario]
name = "snap"
[simulation]
treatment_start = "120 d"
duration = "6 weeks"
history = "2 d"
output_interval = "12 h"
[treatments]
regimens = ["tanezumab 20 mg sc q8w"]
""")
    res = simulate_scenario(sc, patients=3, threads=1)
    m = res.metrics()
    i0, i4 = np.searchsorted(res.t, 0.0), np.searchsorted(res.t, 4 * 168.0)
    assert res.t[i0] == 0.0 and res.t[i4] == 672.0
    for prefix, out in (("il6", "plasma_il6"), ("tnf", "plasma_tnf"), ("ngf", "plasma_ngf")):
        assert np.array_equal(m[f"{prefix}_baseline"], res[out][:, i0])
        assert np.array_equal(m[f"{prefix}_week4"], res[out][:, i4])
        assert np.all(np.isnan(m[f"{prefix}_week12"]))  # the run is 6 weeks long
    # independent reference: the tumour-volume state (mL); the metric comes from the
    # diameter output, pi/6 d^3, so they agree to rounding
    np.testing.assert_allclose(m["tumor_volume_baseline"], res["tumor_volume"][:, i0], rtol=1e-12)
    np.testing.assert_allclose(m["tumor_volume_week4"], res["tumor_volume"][:, i4], rtol=1e-12)
    # tanezumab binds NGF: free plasma NGF falls, the tumour keeps growing
    assert np.all(m["ngf_week4"] < 0.5 * m["ngf_baseline"])
    assert np.all(m["tumor_volume_week4"] > m["tumor_volume_baseline"])
    units = {n: u for n, u, _ in METRICS}
    assert units["il6_week12"] == "pg/mL" and units["tumor_volume_baseline"] == "mL"


def test_run_and_compare_summaries_carry_the_snapshots(tmp_path):
    from neurosim._cli_run import format_metrics
    from neurosim.comparison import summary_rows, write_csv

    sc = loads_scenario("""
[scenario]
name = "short"
[simulation]
treatment_start = "120 d"
duration = "5 weeks"
history = "0 d"
output_interval = "1 d"
""")
    res = simulate_scenario(sc, threads=1)
    text = format_metrics(res)
    assert "il6_week4" in text and "pg/mL" in text
    line = next(x for x in text.splitlines() if "tumor_volume_week12" in x)
    assert " - " in line  # 5 weeks: no week-12 sample
    rows = list(csv.reader(write_csv(summary_rows([res]), tmp_path / "c.csv").open()))
    head = dict(zip(rows[0], rows[1]))
    assert float(head["ngf_baseline [pg/mL]"]) == pytest.approx(res.metrics()["ngf_baseline"][0],
                                                                 rel=1e-15)
    assert "tumor_volume_week4 [mL]" in head


def test_sweep_stores_the_snapshots(sweep_file):
    res = open_sweep(sweep_file)
    m = res.metrics("untreated")
    assert np.all(np.isfinite(m["il6_baseline"])) and np.all(np.isfinite(m["ngf_week12"]))
    # baselines are measured before any treatment: the same patient in both arms
    t = res.metrics("tanezumab")
    assert np.array_equal(m["il6_baseline"], t["il6_baseline"])
    assert np.median(t["ngf_week12"]) < 0.5 * np.median(m["ngf_week12"])
    assert res.metric_units()["ngf_week4"] == "pg/mL"


# ----------------------------------------------------------------------------- the finding


def test_inflammation_and_ngf_predict_severe_pain_better_than_tumour_volume(sweep_file):
    """The disproportionate-pain finding (MODEL.md, tests/test_model_behaviour.py) seen
    the way a clinic would: markers at presentation (NRS >= 4), severe pain (endpoint
    NRS >= 7) 26 weeks later without treatment. Observed with this fixture (400
    patients, seed 11; bootstrap seed 0, 1000 resamples): 167 with severe pain;
    AUC IL-6 0.654 [0.601, 0.706], NGF 0.640 [0.583, 0.693], TNF-alpha 0.588 [0.529,
    0.642], tumour volume 0.543 [0.488, 0.597]; Spearman rho with the pain AUC IL-6
    0.364 [0.281, 0.442], NGF 0.319 [0.232, 0.405], TNF-alpha 0.253, tumour volume
    -0.009 [-0.108, 0.089]. Paired AUC differences: IL-6 - volume 0.112 [0.035, 0.184],
    NGF - volume 0.097 [0.017, 0.174]. The baseline NRS itself ranks first (AUC
    0.730); the genotype, which changes no disease parameter, sits at 0.498."""
    r = rank_biomarkers(sweep_file, n_boot=1000, seed=0)
    order = r.ranking("severe_pain")
    vol = order.index("tumor_volume_baseline")
    assert order.index("il6_baseline") < vol and order.index("ngf_baseline") < vol
    for marker in ("il6_baseline", "ngf_baseline"):
        # the paired bootstrap interval of the difference excludes zero
        assert r.difference(marker, "tumor_volume_baseline").low > 0.0
        # and the rank correlations with the pain AUC do not even overlap
        assert (r.row("severe_pain", marker)["rho_low"]
                > r.row("severe_pain", "tumor_volume_baseline")["rho_high"])
        assert r.row("severe_pain", marker)["auc"] > 0.6
    g = r.group("severe_pain")
    assert g.arm == "untreated" and g.n == 400 and 0.2 < g.n_positive / g.n < 0.7


def test_response_rows_for_the_treatment_arm_and_the_genotype(sweep_file):
    r = rank_biomarkers(sweep_file, n_boot=0, outcomes=["response", "mme_per_day"],
                        parameters=["tumor_doubling_time"])
    g = r.group("response")
    assert g.arm == "tanezumab" and g.n_positive > 0
    names = [row["predictor"] for row in g.rows]
    assert "FCGRT=fast" in names and "tumor_doubling_time" in names
    assert "FCGRT=typical" not in names  # the most frequent category is the reference
    assert [row["rank"] for row in g.rows] == list(range(1, len(names) + 1))
    score = [abs(row["auc"] - 0.5) for row in g.rows]
    assert score == sorted(score, reverse=True)
    # a metric outcome in every selected arm, continuous only (no opioid: mme is 0:
    # constant, so every rho is undefined)
    mme = [x for x in r.groups if x.outcome == "mme_per_day"]
    assert {x.arm for x in mme} == {"untreated", "tanezumab"}
    assert all(math.isnan(row["rho"]) for row in mme[0].rows)


def test_failed_patients_are_left_out_and_counted(sweep_file, tmp_path):
    p = tmp_path / "failed.h5"
    shutil.copy(sweep_file, p)
    with h5py.File(p, "r+") as f:
        st = f["arms/tanezumab/status"][()]
        st[[0, 5, 9]] = 1
        f["arms/tanezumab/status"][...] = st
        done = f["arms/untreated/done"][()]
        done[[9, 20]] = False
        f["arms/untreated/done"][...] = done
    r = rank_biomarkers(p, n_boot=0)
    assert r.n_used == 400 - 4
    assert r.excluded == {"untreated": {"failed": 0, "not_done": 2},
                          "tanezumab": {"failed": 3, "not_done": 0}}
    assert r.group("severe_pain").n == 396
    assert "396 of 400 patients used; 4 left out" in r.to_text()
    assert "tanezumab: 3 failed" in r.to_text()


def test_tables_and_dataframe(sweep_file):
    r = rank_biomarkers(sweep_file, n_boot=100, seed=2)
    df = r.to_dataframe()
    assert len(df) == len(r.rows()) and {"auc", "rho_low", "rank", "arm"} <= set(df.columns)
    sev = df[df.outcome == "severe_pain"].sort_values("rank")
    assert sev.iloc[0]["rank"] == 1
    md = r.to_markdown()
    assert "| rank | predictor |" in md and "IL-6 (plasma)" in md
    rows = list(csv.DictReader(io.StringIO(r.to_csv())))
    assert len(rows) == len(r.rows())
    assert float(rows[0]["auc"]) == pytest.approx(r.rows()[0]["auc"], rel=1e-15)


def test_same_seed_same_numbers(sweep_file):
    a = rank_biomarkers(sweep_file, n_boot=200, seed=5).to_csv()
    b = rank_biomarkers(sweep_file, n_boot=200, seed=5).to_csv()
    c = rank_biomarkers(sweep_file, n_boot=200, seed=6).to_csv()
    assert a == b and a != c


def test_python_errors_name_what_exists(sweep_file, tmp_path):
    with pytest.raises(ResultsFileError, match="no such sweep file"):
        rank_biomarkers(tmp_path / "missing.h5")
    with pytest.raises(NeurosimKeyError, match="Arms in this sweep: untreated, tanezumab"):
        rank_biomarkers(sweep_file, arms=["tanezumb"])
    with pytest.raises(NeurosimKeyError, match="Did you mean 'response'"):
        rank_biomarkers(sweep_file, outcomes=["responce"])
    with pytest.raises(NeurosimKeyError, match="does not vary"):
        rank_biomarkers(sweep_file, parameters=["no_such_parameter"])
    with pytest.raises(NeurosimValueError, match="at least 1000"):
        rank_biomarkers(sweep_file, min_patients=1000)


# ----------------------------------------------------------------------------- command


def test_cli_prints_the_ranking_and_writes_png_and_csv(sweep_file, tmp_path, capsys):
    png, out_csv = tmp_path / "bio.png", tmp_path / "bio.csv"
    code, out, err = run(["biomarkers", sweep_file, "--bootstrap", "200", "--seed", "1",
                          "--plot", png, "--csv", out_csv], capsys)
    assert code == 0, err
    assert "severe_pain in arm 'untreated': 400 patients" in out
    assert "response in arm 'tanezumab'" in out
    for label in ("IL-6 (plasma)", "NGF, free (plasma)", "tumour volume", "FCGRT: fast"):
        assert label in out
    assert png.is_file() and png.stat().st_size > 20_000
    rows = list(csv.DictReader(out_csv.open()))
    sev = {r["predictor"]: int(r["rank"]) for r in rows if r["outcome"] == "severe_pain"}
    assert sev["il6_baseline"] < sev["tumor_volume_baseline"]
    code, out2, _ = run(["biomarkers", sweep_file, "--bootstrap", "200", "--seed", "1",
                         "--format", "csv"], capsys)
    assert code == 0 and out2 == out_csv.read_text()
    code, md, _ = run(["biomarkers", sweep_file, "--bootstrap", "0", "--format", "markdown",
                       "--outcome", "severe_pain"], capsys)
    assert code == 0 and "|---:|" in md and "tanezumab" not in md


def _no_outputs(tmp_path):
    return not list(tmp_path.glob("out.*")) and not list(tmp_path.glob("*.tmp-*"))


@pytest.mark.parametrize("extra, words", [
    (["--arm", "tanezumb"], ["no arm named 'tanezumb'", "Did you mean 'tanezumab'",
                             "Arms in this sweep: untreated, tanezumab"]),
    (["--reference", "placebo"], ["no arm named 'placebo'", "untreated, tanezumab"]),
    (["--outcome", "severe"], ["unknown outcome 'severe'", "severe_pain, response",
                               "pain_auc"]),
    (["--parameter", "il6_per_macrophag"], ["does not vary", "il6_per_macrophage"]),
    (["--min-patients", "5000"], ["only 400 of 400 patients", "at least 5000"]),
    (["--bootstrap", "-3"], ["bootstrap resamples must be >= 0"]),
])
def test_cli_bad_options_exit_2_and_write_nothing(sweep_file, tmp_path, capsys, extra, words):
    code, out, err = run(["biomarkers", sweep_file, "--plot", tmp_path / "out.png", "--csv",
                          tmp_path / "out.csv"] + extra, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    for w in words:
        assert w in err
    assert _no_outputs(tmp_path)


def test_cli_refuses_files_it_cannot_read(sweep_file, tmp_path, capsys):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "neurosim-results"
    newer, older = tmp_path / "newer.h5", tmp_path / "older.h5"
    for p, v in ((newer, 99), (older, 0)):
        shutil.copy(sweep_file, p)
        with h5py.File(p, "r+") as f:
            f.attrs["format_version"] = v
    bare = tmp_path / "bare.h5"  # written before the biomarker snapshots existed
    shutil.copy(sweep_file, bare)
    with h5py.File(bare, "r+") as f:
        for arm in ("untreated", "tanezumab"):
            for k in list(f[f"arms/{arm}/metrics"]):
                if k.startswith(("il6_", "tnf_", "ngf_", "tumor_volume_")):
                    del f[f"arms/{arm}/metrics/{k}"]
    cases = [(tmp_path / "missing.h5", "no such sweep file"),
             (text, "not an HDF5 file"),
             (other, "not a neurosim sweep file"),
             (newer, "version 99 is not supported"),
             (older, "version 0 is not supported"),
             (bare, "holds no biomarker snapshots")]
    for path, words in cases:
        code, out, err = run(["biomarkers", path, "--plot", tmp_path / "out.png"], capsys)
        assert code == 2, path
        assert words in err and str(path) in err
        assert _no_outputs(tmp_path)


def test_cli_refuses_bad_output_names_before_reading(sweep_file, tmp_path, capsys):
    code, _, err = run(["biomarkers", sweep_file, "--plot", tmp_path / "out.txt"], capsys)
    assert code == 2 and ".png" in err
    code, _, err = run(["biomarkers", sweep_file, "--csv", tmp_path / "no" / "out.csv"],
                       capsys)
    assert code == 2 and "does not exist" in err
    assert _no_outputs(tmp_path)


def test_too_few_finished_patients_exit_2(sweep_file, tmp_path, capsys):
    p = tmp_path / "partial.h5"
    shutil.copy(sweep_file, p)
    with h5py.File(p, "r+") as f:
        done = f["arms/untreated/done"][()]
        done[10:] = False
        f["arms/untreated/done"][...] = done
    code, _, err = run(["biomarkers", p, "--csv", tmp_path / "out.csv"], capsys)
    assert code == 2 and "only 10 of 400 patients" in err and "--resume" in err
    assert _no_outputs(tmp_path)


# ----------------------------------------------------------------------------- plots


def test_plots_of_a_population_and_of_a_sweep(sweep_file):
    sc = loads_scenario("""
[scenario]
name = "bands"
[simulation]
treatment_start = "nrs >= 4"
duration = "4 weeks"
history = "1 week"
output_interval = "1 d"
[treatments]
regimens = ["tanezumab 20 mg sc q8w"]
""")
    res = simulate_scenario(sc, patients=30, threads=1)
    ax = plots.population_bands(res, "nrs")
    assert ax.get_ylabel() == "pain intensity (NRS, 0-10)" and "30 patients" in ax.get_title()
    # the band's median line is the population median at every time
    med = ax.get_lines()[0].get_ydata()
    np.testing.assert_array_equal(med, np.nanpercentile(res["nrs"], 50, axis=0))
    ax = plots.population_bands(res, "plasma_ngf")
    assert "pg/mL" in ax.get_ylabel()
    ax = plots.patient_trajectories(res, "nrs", n=5, seed=1)
    assert len(ax.get_lines()) == 5 + 1 + 1  # patients, median, treatment start
    ax = plots.waterfall(res)
    assert sum(len(c.patches) for c in ax.containers) == 30
    # a sweep: the waterfall reads metrics; trajectories need a sweep that kept them
    sw = open_sweep(sweep_file)
    ax = plots.waterfall(sw, arm="tanezumab")
    bars = [p.get_height() for c in ax.containers for p in c.patches]
    assert len(bars) == 400
    assert "tanezumab" in ax.get_title() and "26 weeks" in ax.get_title()
    with pytest.raises(NeurosimValueError, match="summary-only"):
        plots.population_bands(sw, "nrs", arm="untreated")


def test_responder_and_change_plots_equal_the_metrics(sweep_file):
    from matplotlib.container import BarContainer
    from scipy.stats import binomtest

    sw = open_sweep(sweep_file)
    ax = plots.responder_rates(sw)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2                        # >= 30 %, >= 50 %, one bar per arm each
    for bc, metric in zip(bars, ("responder_30", "responder_50")):
        segs = bc.errorbar.lines[2][0].get_segments()
        for i, arm in enumerate(sw.arms):
            r = sw.metrics(arm, [metric])[metric][sw.status(arm) == 0]
            r = r[np.isfinite(r)]
            k, n = int(r.sum()), r.size
            assert bc.patches[i].get_height() == pytest.approx(100 * k / n, rel=1e-12)
            # independent reference for the bars: scipy's Wilson interval
            ci = binomtest(k, n).proportion_ci(method="wilson")
            (_, lo), (_, hi) = segs[i]
            assert lo == pytest.approx(100 * ci.low, abs=1e-9)
            assert hi == pytest.approx(100 * ci.high, abs=1e-9)
    assert bars[0].patches[1].get_height() > 2.0   # tanezumab: some responders
    # box plots: medians and 5/95 % whisker caps of 100 (endpoint - baseline) / baseline
    ax = plots.change_distribution(sw)
    medians = [ln for ln in ax.lines if ln.get_linewidth() == 1.6]
    caps = [ln for ln in ax.lines if ln not in medians and len(set(ln.get_ydata())) == 1
            and len(ln.get_xdata()) == 2 and ln.get_xdata()[0] != ln.get_xdata()[1]
            and ln.get_ydata()[0] not in (0.0, -30.0, -50.0)]
    assert len(medians) == len(sw.arms)
    for i, arm in enumerate(sw.arms):
        m = sw.metrics(arm, ["nrs_baseline", "nrs_endpoint"])
        b, e = m["nrs_baseline"], m["nrs_endpoint"]
        keep = (sw.status(arm) == 0) & (b > 0)
        change = 100.0 * (e[keep] - b[keep]) / b[keep]
        assert medians[i].get_ydata()[0] == pytest.approx(np.median(change), rel=1e-12)
        p5, p95 = np.percentile(change, [5, 95])   # whiskers: the outermost patients inside
        lo, hi = change[change >= p5].min(), change[change <= p95].max()
        ys = sorted(c.get_ydata()[0] for c in caps
                    if abs(np.mean(c.get_xdata()) - i) < 0.3)
        assert ys == pytest.approx([lo, hi], rel=1e-12)
    assert "n = 400" in ax.get_xticklabels()[0].get_text()
