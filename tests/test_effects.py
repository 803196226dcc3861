"""Paired treatment effects (neurosim.analysis.effects) and ``neurosim effects``."""
from __future__ import annotations

import csv
import math
import shutil

import h5py
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from neurosim.analysis.effects import (BINARY_METRICS, DEFAULT_METRICS,  # noqa: E402
                                       mcnemar_exact_p, paired_mean_difference,
                                       paired_rate_difference, plot_effects, treatment_effects)
from neurosim.cli import main  # noqa: E402
from neurosim.errors import NeurosimKeyError, NeurosimValueError  # noqa: E402
from neurosim.scenario import loads_scenario  # noqa: E402
from neurosim.simulation import simulate_scenario  # noqa: E402
from neurosim.sweep import open_sweep, run_sweep  # noqa: E402

from _sweep_files import SMALL, small  # noqa: E402


def _table(n11, n12, n21, n22):
    """Pairs (x, y) of a paired 2 x 2 table: n12 pairs yes in x only, n21 in y only."""
    x = np.r_[np.ones(n11 + n12), np.zeros(n21 + n22)]
    y = np.r_[np.ones(n11), np.zeros(n12), np.ones(n21), np.zeros(n22)]
    return x, y


# ----------------------------------------------------------------------------- statistics


def test_newcombe_paired_interval_against_the_published_example():
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables
    # (2017), chapter 8: complete response before and after consolidation
    # therapy (Cavo et al. 2012), table [[59, 6], [16, 80]]; Newcombe's
    # square-and-add interval: estimate -0.0621 (95 % CI -0.1186 to -0.0046),
    # printed to 4 decimals (tolerance: half a unit of the last digit).
    diff, low, high, p, n, b, c = paired_rate_difference(*_table(59, 6, 16, 80))
    assert (n, b, c) == (161, 6, 16)
    assert diff == pytest.approx(-0.0621, abs=5e-5)
    assert low == pytest.approx(-0.1186, abs=5e-5)
    assert high == pytest.approx(-0.0046, abs=5e-5)
    # swapping the arms mirrors the interval
    d2, l2, h2, p2, *_ = paired_rate_difference(*_table(59, 16, 6, 80))
    assert (d2, l2, h2, p2) == pytest.approx((-diff, -high, -low, p), rel=1e-12)


def test_newcombe_paired_interval_covers_at_its_level():
    # Monte Carlo coverage with known cell probabilities (positively correlated
    # pairs, true difference -0.1): 2,000 seeded trials of 80 pairs; the
    # interval's coverage is near 95 % (Newcombe 1998 reports mean coverage
    # close to nominal); tolerance 0.935-0.975, about 4 Monte Carlo SE.
    rng = np.random.default_rng(11)
    probs = [0.4, 0.1, 0.2, 0.3]          # both, x only, y only, neither
    covered = 0
    for _ in range(2000):
        k = rng.choice(4, size=80, p=probs)
        x = ((k == 0) | (k == 1)).astype(float)
        y = ((k == 0) | (k == 2)).astype(float)
        _, low, high, *_ = paired_rate_difference(x, y)
        covered += low <= -0.1 <= high
    assert 0.935 <= covered / 2000 <= 0.975


def test_mcnemar_exact_against_the_binomial_closed_form():
    # Reference: 2 sum_{k <= min(b, c)} C(b + c, k) / 2^(b + c), capped at 1.
    for b, c in ((0, 10), (3, 9), (9, 3), (6, 16), (7, 7), (1, 0), (25, 40)):
        m = b + c
        ref = min(1.0, 2.0 * sum(math.comb(m, k) for k in range(min(b, c) + 1)) / 2.0 ** m)
        assert mcnemar_exact_p(b, c) == pytest.approx(ref, rel=1e-12)
    assert mcnemar_exact_p(0, 0) == 1.0
    with pytest.raises(NeurosimValueError):
        mcnemar_exact_p(-1, 2)


def test_paired_mean_difference_against_scipy_ttest_rel():
    # Reference: scipy.stats.ttest_rel and its confidence interval, rel 1e-10.
    rng = np.random.default_rng(4)
    x = rng.normal(5.0, 1.0, 57)
    y = x - 0.3 + rng.normal(0.0, 0.5, 57)
    x[3] = np.nan                                     # a pair left out
    diff, low, high, p, n = paired_mean_difference(x, y, level=0.9)
    keep = np.isfinite(x)
    ref = stats.ttest_rel(x[keep], y[keep])
    ci = ref.confidence_interval(0.9)
    assert n == 56
    assert diff == pytest.approx(np.mean(x[keep] - y[keep]), rel=1e-12)
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    # degenerate cases
    assert paired_mean_difference([1.0], [0.5])[:2] == (0.5, pytest.approx(np.nan, nan_ok=True))
    assert paired_mean_difference([2.0, 3.0], [1.0, 2.0])[1:4] == (1.0, 1.0, 0.0)
    assert paired_mean_difference([np.nan], [1.0])[4] == 0
    with pytest.raises(NeurosimValueError, match="level"):
        paired_mean_difference(x, y, level=1.5)
    with pytest.raises(NeurosimValueError, match="equal lengths"):
        paired_mean_difference([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("effects")
    out = d / "small.h5"
    run_sweep(small(d, patients=12), out, threads=1, summary_only=True)
    return out


def test_effects_of_a_sweep_equal_numpy_on_its_metrics(sweep, tmp_path):
    # One patient failed in the arm and one unfinished in the control: both
    # are left out of both arms (a paired comparison).
    path = tmp_path / "s.h5"
    shutil.copy(sweep, path)
    with h5py.File(path, "r+") as f:
        f["arms/morphine/status"][4] = 3
        done = f["arms/control/done"][()]
        done[7] = False
        f["arms/control/done"][...] = done
    res = open_sweep(path)
    table = treatment_effects(res, "control", level=0.95)
    assert table.arms == ["morphine"] and table.metrics == list(DEFAULT_METRICS)
    keep = np.ones(12, dtype=bool)
    keep[[4, 7]] = False
    mc, ma = res.metrics("control"), res.metrics("morphine")
    for m in DEFAULT_METRICS:
        e = table.get("morphine", m)
        x, y = ma[m][keep], mc[m][keep]
        assert e.n == 10 and e.control == "control" and e.level == 0.95
        if m in BINARY_METRICS:
            assert e.kind == "rate difference"
            assert e.arm_value == pytest.approx(np.mean(x > 0.5), rel=1e-12)
            assert e.control_value == pytest.approx(np.mean(y > 0.5), rel=1e-12)
            assert e.discordant_arm == int(np.sum((x > 0.5) & (y < 0.5)))
            assert e.discordant_control == int(np.sum((x < 0.5) & (y > 0.5)))
        else:
            assert e.kind == "mean difference"
            assert e.arm_value == pytest.approx(np.mean(x), rel=1e-12)
            assert e.difference == pytest.approx(np.mean(x - y), rel=1e-12, abs=1e-14)
        assert e.low <= e.difference <= e.high
    # morphine against no treatment: less pain at the endpoint, more MME
    assert table.get("morphine", "nrs_endpoint").high < 0
    mme = table.get("morphine", "mme_per_day")
    assert mme.difference == pytest.approx(np.mean(ma["mme_per_day"][keep]), rel=1e-12)
    # the control against the arm mirrors it
    back = treatment_effects(res, "morphine", metrics="nrs_endpoint").get("control",
                                                                          "nrs_endpoint")
    e = table.get("morphine", "nrs_endpoint")
    assert (back.difference, back.low, back.high) == pytest.approx(
        (-e.difference, -e.high, -e.low), rel=1e-12)


def test_number_needed_to_treat_only_when_the_interval_is_above_zero(sweep):
    res = open_sweep(sweep)
    table = treatment_effects(res)
    e = table.get("morphine", "responder_30")
    x, y = res.metrics("morphine")["responder_30"], res.metrics("control")["responder_30"]
    # discordant pairs counted from the metrics by numpy; here every responder is on morphine
    assert e.discordant_arm == int(np.sum((x > 0.5) & (y < 0.5))) > 0
    assert e.discordant_control == int(np.sum((x < 0.5) & (y > 0.5))) == 0 and e.low > 0
    assert (e.nnt, e.nnt_low, e.nnt_high) == pytest.approx((1 / e.difference, 1 / e.high,
                                                            1 / e.low), rel=1e-12)
    assert f"{e.nnt:.1f} ({e.nnt_low:.1f}-{e.nnt_high:.1f})" in table.format()
    e = table.get("morphine", "responder_50")       # nobody: the interval spans 0
    assert e.low < 0 < e.high and math.isnan(e.nnt) and math.isnan(e.nnt_low)
    mean = table.get("morphine", "pain_auc")
    assert math.isnan(mean.nnt)


def test_effects_errors(sweep, tmp_path):
    res = open_sweep(sweep)
    with pytest.raises(NeurosimKeyError, match="no arm named 'placebo'"):
        treatment_effects(res, "placebo")
    with pytest.raises(NeurosimValueError, match="is the control"):
        treatment_effects(res, "control", arms=["control"])
    with pytest.raises(NeurosimKeyError, match="Did you mean 'pain_auc'"):
        treatment_effects(res, metrics=["pain_acu"])
    table = treatment_effects(res)
    with pytest.raises(NeurosimKeyError):
        table.get("morphine", "sedation")
    with pytest.raises(NeurosimKeyError):
        plot_effects(table, metrics=["sedation"])
    one = tmp_path / "one.toml"
    one.write_text(SMALL.format(patients=3, design="random").split("[[sweep.arms]]")[0],
                   encoding="utf-8")
    run_sweep(one, tmp_path / "one.h5", threads=1, summary_only=True)
    with pytest.raises(NeurosimValueError, match="one arm"):
        treatment_effects(open_sweep(tmp_path / "one.h5"))


def test_forest_plot_draws_each_difference_and_interval(sweep):
    table = treatment_effects(open_sweep(sweep), metrics=["nrs_endpoint", "responder_30"])
    fig = plot_effects(table)
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["nrs_endpoint", "responder_30"]
    for ax, m, scale in zip(axes, table.metrics, (1.0, 100.0)):
        e = table.get("morphine", m)
        (line,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        assert line.get_xdata()[0] == pytest.approx(scale * e.difference)
        seg = ax.collections[0].get_segments()[0]
        assert sorted(seg[:, 0]) == pytest.approx(sorted((scale * e.low, scale * e.high)))


# ----------------------------------------------------------------------------- population runs


POP = """\
[scenario]
name = "{name}"
seed = {seed}

[simulation]
treatment_start = "nrs >= 4"
duration = "2 weeks"
endpoint = "2 weeks"
history = "1 week"
output_interval = "1 d"

[treatments]
regimens = [{regimens}]
"""


def _pop(name, regimens="", seed=5, patients=5):
    sc = loads_scenario(POP.format(name=name, seed=seed, regimens=regimens))
    return simulate_scenario(sc, patients=patients, threads=1)


def test_population_runs_of_the_same_patients_are_arms():
    control = _pop("control")
    drug = _pop("drug", '"morphine 10 mg po q4h"')
    table = treatment_effects([control, drug], metrics=["pain_auc", "responder_30"])
    e = table.get("drug", "pain_auc")
    d = drug.metrics()["pain_auc"] - control.metrics()["pain_auc"]
    assert e.n == 5 and e.difference == pytest.approx(d.mean(), rel=1e-12)
    assert "scenarios 'control', 'drug'" in table.format()
    # the same matrix given to a run of another seed: still the same patients
    other = loads_scenario(POP.format(name="other", seed=9, regimens=""))
    same = simulate_scenario(other, patients=control.parameters, threads=1)
    treatment_effects([control, same])
    # drawn with another seed: different patients
    with pytest.raises(NeurosimValueError, match="different patients"):
        treatment_effects([control, _pop("other", seed=9)])


# ----------------------------------------------------------------------------- command line


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_effects_command(sweep, tmp_path, capsys):
    fig, table = tmp_path / "forest.svg", tmp_path / "effects.csv"
    code, out, err = run(["effects", sweep, "--control", "control", "--metric", "nrs_endpoint",
                          "--metric", "responder_30", "--level", "0.9", "--csv", table,
                          "--plot", fig], capsys)
    assert code == 0, err
    assert "Paired effects against 'control' (sweep 'small')" in out and "90 % interval" in out
    assert f"wrote {table} and {fig}" in out
    assert fig.read_bytes()[:5] in (b"<?xml", b"<svg ")
    rows = list(csv.DictReader(table.open()))
    ref = treatment_effects(open_sweep(sweep), metrics=["nrs_endpoint", "responder_30"],
                            level=0.9)
    assert [(r["arm"], r["metric"]) for r in rows] == [("morphine", "nrs_endpoint"),
                                                      ("morphine", "responder_30")]
    for r, e in zip(rows, ref):
        assert float(r["difference"]) == e.difference and float(r["low"]) == e.low
        assert int(r["n"]) == e.n == 12


@pytest.mark.parametrize("argv, words", [
    (["--control", "placebo"], "no arm named 'placebo'"),
    (["--arm", "control"], "is the control"),
    (["--metric", "nrs_endpont"], "Did you mean 'nrs_endpoint'"),
    (["--level", "1.5"], "level must be between 0 and 1"),
    (["--plot", "x.jpeg"], "--plot x.jpeg: use a file name ending in"),
    (["--csv", "missing/e.csv"], "the folder missing does not exist"),
])
def test_effects_bad_input_exit_2_nothing_written(sweep, argv, words, tmp_path, capsys,
                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["effects", sweep, "--csv", "e.csv", "--plot", "f.png"] + argv, capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_effects_command_file_errors(sweep, tmp_path, capsys):
    pop = tmp_path / "pop.h5"
    _pop("control", patients=2).to_hdf5(pop)
    code, _, err = run(["effects", pop], capsys)
    assert code == 2 and "holds one scenario run" in err
    code, _, err = run(["effects", pop, sweep], capsys)
    assert code == 2 and "is a sweep file" in err
    code, _, err = run(["effects", tmp_path / "none.h5"], capsys)
    assert code == 2 and "no such results file" in err
    code, _, err = run(["effects", pop, tmp_path / "." / "pop.h5"], capsys)
    assert code == 2 and "is given twice" in err and len(err.strip().splitlines()) == 1
    # two run files of the same patients are arms
    drug = tmp_path / "drug.h5"
    _pop("drug", '"morphine 10 mg po q4h"', patients=2).to_hdf5(drug)
    code, out, err = run(["effects", pop, drug, "--metric", "mme_per_day"], capsys)
    assert code == 0, err
    assert "\ndrug  mme_per_day (mg/d)  2  0        60         +60" in out


def test_a_subgroup_is_the_same_analysis_on_its_patients(sweep):
    res = open_sweep(sweep)
    slow = res.genotypes()["UGT2B7"] == "slow"
    assert 0 < slow.sum() < 12
    sub = treatment_effects(res, rows=slow, subgroup="UGT2B7 = slow", metrics=["pain_auc"])
    e = sub.get("morphine", "pain_auc")
    d = res.metrics("morphine")["pain_auc"][slow] - res.metrics("control")["pain_auc"][slow]
    ref = stats.ttest_rel(res.metrics("morphine")["pain_auc"][slow],
                          res.metrics("control")["pain_auc"][slow]).confidence_interval(0.95)
    assert e.n == int(slow.sum()) and e.difference == pytest.approx(d.mean(), rel=1e-12)
    assert (e.low, e.high) == pytest.approx((ref.low, ref.high), rel=1e-10)
    assert e.subgroup == "UGT2B7 = slow" and "UGT2B7 = slow" in sub.format()
    by_index = treatment_effects(res, rows=np.flatnonzero(slow), metrics=["pain_auc"])
    assert by_index.get("morphine", "pain_auc").difference == e.difference
    for bad, words in (([True, False], "one entry per patient"), ([0, 12], "from 0 to 11"),
                       ([0.5], "boolean mask or a list of patient indices")):
        with pytest.raises(NeurosimValueError, match=words):
            treatment_effects(res, rows=np.array(bad))


def test_effects_by_genotype_on_the_command_line(sweep, tmp_path, capsys):
    table = tmp_path / "by.csv"
    code, out, err = run(["effects", sweep, "--by", "UGT2B7", "--metric", "nrs_endpoint",
                          "--csv", table], capsys)
    assert code == 0, err
    assert "(sweep 'small', UGT2B7 = normal)" in out and "(sweep 'small', UGT2B7 = slow)" in out
    rows = list(csv.DictReader(table.open()))
    assert [r["subgroup"] for r in rows] == ["", "UGT2B7 = normal", "UGT2B7 = slow"]
    assert int(rows[0]["n"]) == int(rows[1]["n"]) + int(rows[2]["n"]) == 12
    code, _, err = run(["effects", sweep, "--by", "UGT2B8"], capsys)
    assert code == 2 and "Did you mean 'UGT2B7'" in err
    pop, drug = tmp_path / "c.h5", tmp_path / "d.h5"
    _pop("control", patients=2).to_hdf5(pop)
    _pop("drug", '"morphine 10 mg po q4h"', patients=2).to_hdf5(drug)
    code, _, err = run(["effects", pop, drug, "--by", "UGT2B7"], capsys)
    assert code == 2 and "--by needs a sweep file" in err
