"""Between-patient variability of drugs in sweeps: ``[sweep.drugs.<drug>]``.

The compiled block arithmetic of the factors is tested against closed forms in
``test_drug_pk.py``; here: how the factors are drawn, how they reach each
patient's simulation and the results file, and the errors in sweep files.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from neurosim.errors import ScenarioError
from neurosim.model.parameters import PARAMETER_INDEX
from neurosim.sweep import loads_sweep, open_sweep, run_sweep

HEAD = """\
[scenario]
name = "d"
seed = 5

[simulation]
treatment_start = "100 d"
history = "1 d"
duration = "{duration}"
output_interval = "1 d"
{extra}
"""

ARM = """
[[sweep.arms]]
name = "morphine"
regimens = ["morphine 10 mg po q4h"]
"""


def sweep(body: str, *, duration="1 week", extra="", arms=ARM, source="d.toml"):
    return loads_sweep(HEAD.format(duration=duration, extra=extra) + body + arms, source=source)


# ----------------------------------------------------------------------------- sampling


def test_lognormal_factors_have_median_one_and_the_requested_cv():
    """Reference: a lognormal factor with cv 0.3 has log-mean 0 and log-sd
    sqrt(log(1 + 0.09)) = 0.2936; with 4000 patients the standard errors are 0.0046 and
    0.0033, so the mean is required within 0.02 and the sd within 0.015, and a
    Kolmogorov-Smirnov test against that lognormal must not reject at 0.1 %."""
    sw = sweep("""
[sweep]
patients = 4000
other_parameters = "fixed"
[sweep.drugs.morphine]
cl = { distribution = "lognormal", cv = 0.3 }
""")
    f = sw.drug_factors(0, 4000)["morphine.cl"]
    sigma = math.sqrt(math.log1p(0.09))
    assert np.log(f).mean() == pytest.approx(0.0, abs=0.02)
    assert np.log(f).std() == pytest.approx(sigma, abs=0.015)
    assert stats.kstest(f, stats.lognorm(sigma).cdf).pvalue > 1e-3


def test_drug_factors_leave_every_other_draw_of_a_patient_unchanged():
    """Reference: the same sweep without [sweep.drugs]: the factors' uniforms come after
    the patient's other draws in its stream, so parameters and genotypes are identical."""
    body = """
[sweep]
patients = 50
[sweep.parameters]
il6_per_macrophage = { distribution = "uniform", low = "10 pg/mL", high = "40 pg/mL" }
[[sweep.genotypes]]
name = "g"
[[sweep.genotypes.categories]]
name = "a"
frequency = 0.5
[[sweep.genotypes.categories]]
name = "b"
frequency = 0.5
"""
    plain = sweep(body)
    varied = sweep(body + """
[sweep.drugs.morphine]
ka = { distribution = "uniform", low = 0.5, high = 2 }
""")
    P0, G0 = plain.patients(0, 50)
    P1, G1 = varied.patients(0, 50)
    np.testing.assert_array_equal(P0, P1)
    np.testing.assert_array_equal(G0, G1)
    assert plain.drug_factors(0, 50) == {}
    ka = varied.drug_factors(0, 50)["morphine.ka"]
    assert ka.shape == (50,) and np.all((ka >= 0.5) & (ka <= 2))
    # rows drawn in pieces are the rows drawn at once
    np.testing.assert_array_equal(np.concatenate([varied.drug_factors(0, 17)["morphine.ka"],
                                                  varied.drug_factors(17, 50)["morphine.ka"]]),
                                  ka)


@pytest.mark.parametrize("design", ["random", "lhs"])
def test_rank_correlation_between_a_drug_factor_and_a_parameter(design):
    """Reference: the requested Spearman correlation 0.5; sampling error at n = 2000 is
    about 0.02, so it is required within 0.06."""
    sw = sweep(f"""
[sweep]
patients = 2000
design = "{design}"
other_parameters = "fixed"
[sweep.parameters]
liver_inflammation = {{ distribution = "uniform", low = 0, high = 2 }}
[sweep.drugs.morphine]
cl = {{ distribution = "lognormal", cv = 0.3 }}
[[sweep.correlations]]
parameters = ["liver_inflammation", "morphine.cl"]
rank = 0.5
""")
    P, _ = sw.patients(0, 2000)
    f = sw.drug_factors(0, 2000)["morphine.cl"]
    rho = stats.spearmanr(P[:, PARAMETER_INDEX["liver_inflammation"]], f).statistic
    assert rho == pytest.approx(0.5, abs=0.06)


def test_grid_over_a_categorical_drug_factor():
    sw = sweep("""
[sweep]
design = "grid"
other_parameters = "fixed"
[sweep.drugs.morphine]
ec50 = { distribution = "categorical", values = [0.5, 1, 2] }
cl = { distribution = "uniform", low = 0.5, high = 1.5, levels = 2 }
""")
    assert sw.n_patients == 6
    F = sw.drug_factors(0, 6)
    pairs = sorted(zip(F["morphine.ec50"], F["morphine.cl"]))
    assert pairs == sorted((e, c) for e in (0.5, 1.0, 2.0) for c in (0.75, 1.25))
    assert "morphine.ec50 (factor on the patient's value): categorical" in sw.describe()


# ----------------------------------------------------------------------------- errors

BAD = [
    ("[sweep]\npatients = 3\n[sweep.drugs.morphin]\ncl = { distribution = \"lognormal\", "
     "cv = 0.3 }\n", "sweep.drugs.morphin", "Did you mean 'morphine'"),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\nec5 = { distribution = \"lognormal\", "
     "cv = 0.3 }\n", "sweep.drugs.morphine.ec5", "Did you mean 'ec50'"),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\ncl = { distribution = \"lognormal\", "
     "cv = 0 }\n", "sweep.drugs.morphine.cl.cv", "> 0"),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\ncl = { distribution = \"uniform\", "
     "low = -0.5, high = 2 }\n", "sweep.drugs.morphine.cl", "must be > 0"),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\ncl = { distribution = \"lognormal\", "
     "median = \"60 L/h\", cv = 0.3 }\n", "sweep.drugs.morphine.cl.median", ""),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\ncl = 0.3\n", "sweep.drugs.morphine.cl",
     "give a table with a distribution"),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\n", "sweep.drugs.morphine",
     "quantities: cl, v1"),
    ("[sweep]\npatients = 3\n[sweep.drugs.oxycodone]\ncl = { distribution = \"lognormal\", "
     "cv = 0.3 }\n", "sweep.drugs.oxycodone", "no arm gives oxycodone"),
    ("[sweep]\npatients = 3\n[sweep.drugs.morphine]\nka = { distribution = \"lognormal\", "
     "cv = 0.3 }\n[[sweep.arms]]\nname = \"iv\"\nregimens = [\"morphine 5 mg iv q4h\"]\n",
     "sweep.drugs.morphine.ka", "no route with absorption"),
]


@pytest.mark.parametrize("body, key, words", BAD)
def test_bad_drug_factors_name_the_key(body, key, words):
    arms = "" if "[[sweep.arms]]" in body else ARM
    with pytest.raises(ScenarioError) as info:
        sweep(body, arms=arms)
    assert info.value.key == key, str(info.value)
    assert words in str(info.value)
    assert str(info.value).startswith("d.toml: ")


def test_a_factor_distribution_beyond_a_tenfold_change_warns():
    sw = sweep("""
[sweep]
patients = 3
[sweep.drugs.morphine]
cl = { distribution = "lognormal", cv = 3 }
""")
    assert any("sweep.drugs.morphine.cl" in w and "plausible range" in w for w in sw.warnings)


# ----------------------------------------------------------------------------- simulation


def test_potency_factor_halves_the_opioid_drive_and_reaches_the_file(tmp_path):
    """Reference: the opioid drive u = sum Ce_i / EC50_i; pharmacokinetics do not depend
    on the pharmacodynamics (no titration here), so a factor 2 on every EC50 of morphine
    gives exactly half the drive of the same patient with factor 1 at every time. Solved
    at rtol 1e-8: required within 1e-5 relative."""
    text = HEAD.format(duration="10 d", extra="rtol = 1e-8") + """
[sweep]
design = "grid"
other_parameters = "fixed"
outputs = ["opioid_drive", "nrs"]
[sweep.drugs.morphine]
ec50 = { distribution = "categorical", values = [1, 2] }
""" + ARM
    path = tmp_path / "grid.toml"
    path.write_text(text, encoding="utf-8")
    res = run_sweep(path, tmp_path / "grid.h5", threads=1)
    F = res.drug_factors()
    np.testing.assert_array_equal(F["morphine.ec50"], [1.0, 2.0])
    after = res.t > 0
    u = res.trajectories("morphine", "opioid_drive")[:, after]
    assert after.sum() == 10 and np.all(u[0] > 0.5)
    np.testing.assert_allclose(u[1], u[0] / 2.0, rtol=1e-5)
    nrs = res.trajectories("morphine", "nrs")
    assert nrs[1, -1] > nrs[0, -1]  # half the drive: less relief
    df = open_sweep(tmp_path / "grid.h5").to_dataframe()
    assert list(df["morphine.ec50"]) == [1.0, 2.0]


def test_factors_of_one_reproduce_the_sweep_without_them(tmp_path):
    """Reference: the same sweep without [sweep.drugs] (factor 1 on clearance and volume
    must leave every number of every patient unchanged, bit for bit), with the sweep split
    into batches of another size."""
    body = """
[sweep]
patients = 4
other_parameters = "population"
outputs = ["nrs"]
"""
    with_factors = body + """
[sweep.drugs.morphine]
cl = { distribution = "categorical", values = [1] }
v1 = { distribution = "categorical", values = [1] }
"""
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(HEAD.format(duration="1 week", extra="") + body + ARM, encoding="utf-8")
    b.write_text(HEAD.format(duration="1 week", extra="") + with_factors + ARM,
                 encoding="utf-8")
    ra = run_sweep(a, tmp_path / "a.h5", threads=1, batch_size=4)
    rb = run_sweep(b, tmp_path / "b.h5", threads=2, batch_size=3)
    np.testing.assert_array_equal(ra.parameters, rb.parameters)
    for k, v in ra.metrics("morphine").items():
        np.testing.assert_array_equal(v, rb.metrics("morphine")[k], err_msg=k)
    np.testing.assert_array_equal(ra.trajectories("morphine", "nrs"),
                                  rb.trajectories("morphine", "nrs"))
    assert ra.drug_factors() == {}
    np.testing.assert_array_equal(rb.drug_factors()["morphine.cl"], np.ones(4))


def test_a_clearance_factor_changes_the_patient_as_a_direct_simulation_does(tmp_path):
    """The sweep's patient i equals simulate_scenario of the arm for that patient's
    parameters and factors (the sweep adds nothing of its own), and higher clearance
    means less drive from the same doses."""
    from neurosim.simulation import simulate_scenario

    sw = sweep("""
[sweep]
patients = 3
outputs = ["opioid_drive"]
[sweep.drugs.morphine]
cl = { distribution = "loguniform", low = 0.3, high = 3 }
""")
    path = tmp_path / "c.toml"
    path.write_text(sw.text, encoding="utf-8")
    res = run_sweep(path, tmp_path / "c.h5", threads=1)
    P, _ = sw.patients(0, 3)
    F = sw.drug_factors(0, 3)
    direct = simulate_scenario(sw.arm_scenario(0), patients=P, threads=1, drug_factors=F)
    np.testing.assert_array_equal(res.trajectories("morphine", "opioid_drive"),
                                  direct["opioid_drive"])
    plain = simulate_scenario(sw.arm_scenario(0), patients=P, threads=1)
    for i, f in enumerate(F["morphine.cl"]):
        auc_f = direct["opioid_drive"][i].sum()
        auc_1 = plain["opioid_drive"][i].sum()
        assert (auc_f < auc_1) == (f > 1), (f, auc_f, auc_1)


# ----------------------------------------------------------------------------- plots


def test_binned_quartiles_of_a_line():
    """Reference: y = 2x on x = 0..99 in 4 equal-count bins: each bin holds 25 consecutive
    x, its centre is their median and the quartiles of y are 2 x the linear-interpolation
    percentiles of the bin's x (6, 12, 18 above the bin's start)."""
    from neurosim.analysis.plots import binned_quartiles

    x = np.arange(100.0)
    rng = np.random.default_rng(0)
    perm = rng.permutation(100)
    c, q25, q50, q75 = binned_quartiles(x[perm], 2 * x[perm], 4)
    starts = np.array([0.0, 25.0, 50.0, 75.0])
    np.testing.assert_allclose(c, starts + 12)
    np.testing.assert_allclose(q25, 2 * (starts + 6))
    np.testing.assert_allclose(q50, 2 * (starts + 12))
    np.testing.assert_allclose(q75, 2 * (starts + 18))


def test_metric_by_input_draws_each_arm_s_binned_medians(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from neurosim.analysis import plots
    from neurosim.analysis.plots import binned_quartiles
    from neurosim.errors import NeurosimKeyError

    path = tmp_path / "p.toml"
    path.write_text(HEAD.format(duration="1 week", extra="") + """
[sweep]
patients = 6
[sweep.drugs.morphine]
ec50 = { distribution = "lognormal", cv = 0.5 }
[[sweep.arms]]
name = "control"
""" + ARM, encoding="utf-8")
    res = run_sweep(path, tmp_path / "p.h5", threads=1, summary_only=True)
    ax = plots.metric_by_input(res, "morphine.ec50", "pain_auc", bins=3)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["control (median, quartiles)",
                                                "morphine (median, quartiles)"]
    f = res.drug_factors()["morphine.ec50"]
    for ln, arm in zip(lines, ("control", "morphine")):
        c, _, q50, _ = binned_quartiles(f, res.metrics(arm)["pain_auc"], 3)
        np.testing.assert_array_equal(ln.get_xdata(), c)
        np.testing.assert_array_equal(ln.get_ydata(), q50)
    assert ax.get_xscale() == "log"
    ax = plots.metric_by_input(res, "tumor_doubling_time", "pain_auc", arm="morphine")
    assert len(ax.get_lines()) == 1
    with pytest.raises(NeurosimKeyError, match="Did you mean 'morphine.ec50'"):
        plots.metric_by_input(res, "morphine.ec5", "pain_auc")


def test_a_drug_added_by_the_file_can_vary():
    """A hypothetical drug of [drugs.<name>] (the packaged example) takes factors like a
    library drug."""
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "scenarios" / "hypothetical_drug.toml"
            ).read_text()
    drug = next(iter(tomllib.loads(text)["drugs"]))
    sw = loads_sweep(text + f"""
[sweep]
patients = 3
[sweep.drugs.{drug}]
cl = {{ distribution = "lognormal", cv = 0.3 }}
ec50 = {{ distribution = "lognormal", cv = 0.3 }}
""", source="h.toml")
    assert [d.name for d in sw.drug_dimensions] == [f"{drug}.cl", f"{drug}.ec50"]


# ----------------------------------------------------------------------------- scenarios

POP = """
[scenario]
name = "pop"
seed = 4
[simulation]
treatment_start = "120 d"
history = "1 d"
duration = "1 week"
output_interval = "1 d"
[population]
size = {size}
[population.drugs.morphine]
ec50 = {{ distribution = "lognormal", cv = 0.5 }}
ka = {{ distribution = "uniform", low = 0.5, high = 2 }}
[treatments]
regimens = ["morphine 10 mg po q4h"]
"""


def test_population_drug_factors_follow_each_patient_s_own_stream():
    """Reference: patient i's factors are the inverse distribution functions at the
    uniforms of numpy's SeedSequence(seed, spawn_key=(2**63 + 2, i)) (lognormal median 1,
    cv 0.5; uniform [0.5, 2]), whatever the number of patients."""
    from neurosim.scenario import loads_scenario
    from neurosim.sweep.spec import draw_drug_factors

    sc = loads_scenario(POP.format(size=5))
    assert [d.name for d in sc.drug_variability] == ["morphine.ec50", "morphine.ka"]
    assert "morphine.ec50 (factor on the patient's value): lognormal" in sc.describe()
    F = draw_drug_factors(sc.drug_variability, 4, 5)
    sigma = math.sqrt(math.log1p(0.25))
    for i in range(5):
        u = np.random.default_rng(np.random.SeedSequence(4, spawn_key=(2 ** 63 + 2, i))
                                  ).random(2)
        assert F["morphine.ec50"][i] == pytest.approx(math.exp(sigma * stats.norm.ppf(u[0])),
                                                      rel=1e-12)
        assert F["morphine.ka"][i] == pytest.approx(0.5 + 1.5 * u[1], rel=1e-12)
    F3 = draw_drug_factors(sc.drug_variability, 4, 3)
    np.testing.assert_array_equal(F3["morphine.ka"], F["morphine.ka"][:3])


def test_a_population_run_applies_and_records_its_drug_factors(tmp_path):
    """The run's factors are those drawn; simulating with them given explicitly gives the
    same numbers bit for bit; they survive the results file. The scenario's single default
    patient gets none (the same numbers as without [population.drugs])."""
    from neurosim.scenario import loads_scenario
    from neurosim.simulation import ScenarioResult, simulate_scenario
    from neurosim.sweep.spec import draw_drug_factors

    sc = loads_scenario(POP.format(size=3))
    res = simulate_scenario(sc, threads=1)
    F = draw_drug_factors(sc.drug_variability, 4, 3)
    assert set(res.drug_factors) == set(F)
    for k in F:
        np.testing.assert_array_equal(res.drug_factors[k], F[k])
    again = simulate_scenario(sc, threads=1, drug_factors=F)
    np.testing.assert_array_equal(again["nrs"], res["nrs"])
    plain = simulate_scenario(sc, threads=1, drug_factors={})
    assert plain.drug_factors == {}
    assert not np.array_equal(plain["opioid_drive"], res["opioid_drive"])
    res.to_hdf5(tmp_path / "r.h5")
    back = ScenarioResult.from_hdf5(tmp_path / "r.h5")
    for k in F:
        np.testing.assert_array_equal(back.drug_factors[k], F[k])
    df = back.metrics_dataframe()
    np.testing.assert_array_equal(df["morphine.ka"].to_numpy(), F["morphine.ka"])
    one = simulate_scenario(loads_scenario(POP.format(size=1)), threads=1)
    none = simulate_scenario(loads_scenario(POP.format(size=1).split("[population.drugs")[0]
                                            + '[treatments]\nregimens = ["morphine 10 mg po '
                                              'q4h"]\n'), threads=1)
    assert one.drug_factors == {}
    np.testing.assert_array_equal(one["nrs"], none["nrs"])


def test_population_drug_factor_errors_and_warnings():
    from neurosim.scenario import loads_scenario

    with pytest.raises(ScenarioError) as info:
        loads_scenario(POP.format(size=2).replace("drugs.morphine]", "drugs.morphin]"),
                       source="p.toml")
    assert info.value.key == "population.drugs.morphin" and "Did you mean 'morphine'" in str(
        info.value)
    with pytest.raises(ScenarioError) as info:
        loads_scenario(POP.format(size=2).replace("po q4h", "iv q4h"), source="p.toml")
    assert info.value.key == "population.drugs.morphine.ka"
    assert "no route with absorption" in str(info.value)
    sc = loads_scenario(POP.format(size=2), source="p.toml").with_changes(regimens=[])
    assert any("no treatment of this scenario gives morphine" in w for w in sc.warnings)
    assert sc.text and loads_scenario(sc.text).drug_variability  # kept in the text
    with pytest.raises(ScenarioError) as info:
        loads_sweep(POP.format(size=2) + "[sweep]\npatients = 2\n", source="s.toml")
    assert info.value.key == "population.drugs" and "[sweep.drugs" in str(info.value)


def test_dose_response_carries_population_drug_factors(tmp_path):
    from neurosim.analysis.doseresponse import dose_response
    from neurosim.scenario import loads_scenario

    sc = loads_scenario(POP.format(size=2))
    dose_response(sc, "morphine", [5, 20], patients=3, seed=2, n_boot=10,
                  output=tmp_path / "dr.h5", threads=1)
    res = open_sweep(tmp_path / "dr.h5")
    F = res.drug_factors()
    assert set(F) == {"morphine.ec50", "morphine.ka"} and F["morphine.ka"].shape == (3,)
    assert np.all(np.isfinite(F["morphine.ec50"]))


def test_drug_factors_of_the_wrong_shape_or_name_are_refused():
    from neurosim.errors import NeurosimValueError
    from neurosim.scenario import loads_scenario
    from neurosim.simulation import simulate_scenario

    sc = loads_scenario(POP.format(size=3))
    with pytest.raises(NeurosimValueError, match=r"one value per patient \(3\); got shape"):
        simulate_scenario(sc, drug_factors={"morphine.cl": [1.0, 2.0]})
    with pytest.raises(NeurosimValueError, match="name it 'drug.quantity'"):
        simulate_scenario(sc, drug_factors={"cl": 1.0})


CORR = """
[[population.correlations]]
parameters = ["morphine.ec50", "morphine.ka"]
rank = {rank}
"""


def test_population_correlation_gives_the_rank_correlation_and_keeps_the_marginals():
    """References: Spearman's rho of 4,000 patients within 0.04 of the target (its standard
    error is about (1 - r^2)/sqrt(n) = 0.012); the marginals still pass a KS test against
    the lognormal (median 1, cv 0.5) and the uniform [0.5, 2]; patient i's factors are the
    Gaussian copula of its own stream's uniforms (independent of the number of patients)."""
    from neurosim.model.parameters import N_MODEL_PARAMS as N
    from neurosim.scenario import loads_scenario
    from neurosim.simulation import population_scores

    def draw(sc, n):
        _, U = population_scores(sc, n)
        return {d.name: d.ppf(U[:, j]) for j, d in enumerate(sc.drug_variability)}

    for rank in (0.6, -0.4):
        sc = loads_scenario(POP.format(size=2) + CORR.format(rank=rank))
        assert sc.population_correlation[N, N + 1] == rank
        assert sc.correlation_names[N:] == ["morphine.ec50", "morphine.ka"]
        assert f"morphine.ec50 ~ morphine.ka: {rank:g}" in sc.describe()
        F = draw(sc, 4000)
        rho = stats.spearmanr(F["morphine.ec50"], F["morphine.ka"])[0]
        assert abs(rho - rank) < 0.04
        sigma = math.sqrt(math.log1p(0.25))
        assert stats.kstest(F["morphine.ec50"], stats.lognorm(s=sigma).cdf).pvalue > 1e-3
        assert stats.kstest(F["morphine.ka"], stats.uniform(0.5, 1.5).cdf).pvalue > 1e-3
        # patient 7 by hand: its uniforms -> normal scores -> Cholesky of 2 sin(pi r / 6)
        u = np.random.default_rng(np.random.SeedSequence(4, spawn_key=(2 ** 63 + 2, 7))
                                  ).random(2)
        z = stats.norm.ppf(u)
        rp = 2 * math.sin(math.pi * rank / 6)
        z2 = rp * z[0] + math.sqrt(1 - rp * rp) * z[1]
        assert F["morphine.ec50"][7] == pytest.approx(math.exp(sigma * z[0]), rel=1e-10)
        assert F["morphine.ka"][7] == pytest.approx(0.5 + 1.5 * stats.norm.cdf(z2), rel=1e-10)
        F9 = draw(sc, 9)
        np.testing.assert_array_equal(F9["morphine.ka"], F["morphine.ka"][:9])


@pytest.mark.parametrize("body,key,words", [
    ('parameters = ["morphine.ec50", "morphine.cl"]\nrank = 0.5', "population.correlations[0]"
     ".parameters", "'morphine.cl' is not a model parameter or a drug factor of "
                    "[population.drugs]"),
    ('parameters = ["morphine.ec50", "windup_gain"]\nrank = 0.5', "population.correlations[0]"
     ".parameters", "'windup_gain' does not vary between patients (its table CV is 0)"),
    ('parameters = ["morphine.ec50", "morphine.ec50"]\nrank = 0.5',
     "population.correlations[0].parameters", "not correlated with itself"),
    ('parameters = ["morphine.ec50", "morphine.ka"]\nrank = 1.0',
     "population.correlations[0].rank", "strictly between -1 and 1"),
    ('parameters = ["morphine.ec50", "morphine.ka"]', "population.correlations[0]",
     "rank = 0.5"),
    ('parameters = ["morphine.ec50", "morphine.ka"]\nrank = 0.5\ncorr = 2',
     "population.correlations[0].corr", "unknown key 'corr'"),
])
def test_population_correlation_errors_name_the_key(body, key, words):
    from neurosim.scenario import loads_scenario

    with pytest.raises(ScenarioError) as info:
        loads_scenario(POP.format(size=2) + "[[population.correlations]]\n" + body + "\n",
                       source="p.toml")
    assert info.value.key == key and words in str(info.value) and "p.toml" in str(info.value)


def test_population_correlations_that_cannot_hold_together_and_in_sweep_files():
    from neurosim.scenario import loads_scenario

    text = POP.format(size=2).replace(
        'ka = {', 'cl = { distribution = "lognormal", cv = 0.3 }\nka = {')
    pairs = (("ec50", "ka", 0.9), ("ec50", "cl", 0.9), ("ka", "cl", -0.9))
    for a, b, r in pairs:
        text += (f'[[population.correlations]]\nparameters = ["morphine.{a}", "morphine.{b}"]\n'
                 f"rank = {r}\n")
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, source="p.toml")
    assert info.value.key == "population.correlations" and "positive definite" in str(
        info.value)
    with pytest.raises(ScenarioError) as info:
        loads_sweep(HEAD.format(duration="1 week", extra="") + "[population]\n"
                    + CORR.format(rank=0.5) + "[sweep]\npatients = 2\n" + ARM, source="s.toml")
    assert info.value.key == "population.correlations" and "[[sweep.correlations]]" in str(
        info.value)


def test_a_population_run_and_dose_response_use_the_correlation(tmp_path):
    from neurosim.analysis.doseresponse import dose_response
    from neurosim.scenario import loads_scenario
    from neurosim.simulation import population_scores, simulate_scenario

    sc = loads_scenario(POP.format(size=3) + CORR.format(rank=0.7))
    res = simulate_scenario(sc, threads=1)
    _, U = population_scores(sc, 3)
    for j, d in enumerate(sc.drug_variability):
        np.testing.assert_array_equal(res.drug_factors[d.name], d.ppf(U[:, j]))
    dose_response(sc, "morphine", [5, 20], patients=3, seed=2, n_boot=10,
                  output=tmp_path / "dr.h5", threads=1)
    text = open_sweep(tmp_path / "dr.h5").sweep_text
    assert "[[sweep.correlations]]" in text and "morphine.ka" in text


MODEL_CORR = """
[[population.correlations]]
parameters = ["tumor_doubling_time", "nrs_s50"]
rank = -0.5

[[population.correlations]]
parameters = ["morphine.ec50", "liver_inflammation"]
rank = 0.4
"""


def test_population_correlations_between_model_parameters_and_drug_factors():
    """References: Spearman's rho of 4,000 drawn patients within 0.04 of each target
    (standard error about 0.013); every column outside the correlations equals the
    population drawn without them bit for bit (sample_population with the seed, the
    documented drug stream); the parameters' marginals are unchanged (KS test of the
    log doubling time against the table's lognormal)."""
    from neurosim.model.parameters import PARAMETER_INDEX as IX, PARAMETERS
    from neurosim.scenario import loads_scenario
    from neurosim.simulation import patient_parameters, population_scores
    from neurosim.sweep.spec import draw_drug_factors

    sc = loads_scenario(POP.format(size=2) + MODEL_CORR, source="m.toml")
    assert "tumor_doubling_time ~ nrs_s50: -0.5" in sc.describe()
    P = patient_parameters(sc, 4000)
    z, U = population_scores(sc, 4000)
    ec50 = sc.drug_variability[0].ppf(U[:, 0])
    rho = stats.spearmanr(P[:, IX["tumor_doubling_time"]], P[:, IX["nrs_s50"]])[0]
    assert abs(rho + 0.5) < 0.04
    rho = stats.spearmanr(ec50, P[:, IX["liver_inflammation"]])[0]
    assert abs(rho - 0.4) < 0.04
    plain = loads_scenario(POP.format(size=2), source="p.toml")
    P0 = patient_parameters(plain, 4000)
    moved = [IX[k] for k in ("tumor_doubling_time", "nrs_s50", "liver_inflammation",
                             "tumor_carrying_capacity")]   # capacity follows the volume rule
    keep = [j for j in range(P.shape[1]) if j not in moved]
    np.testing.assert_array_equal(P[:, keep], P0[:, keep])
    F0 = draw_drug_factors(plain.drug_variability, 4, 4000)
    np.testing.assert_array_equal(sc.drug_variability[1].ppf(U[:, 1]), F0["morphine.ka"])
    row = PARAMETERS["tumor_doubling_time"]
    sigma = math.sqrt(math.log1p(row.cv ** 2))
    inside = (P[:, IX["tumor_doubling_time"]] > row.low) & (P[:, IX["tumor_doubling_time"]]
                                                            < row.high)
    logs = np.log(P[inside, IX["tumor_doubling_time"]] / row.value) / sigma
    assert np.isclose(inside.mean(), 1.0, atol=0.05)
    assert stats.kstest(z[:, IX["tumor_doubling_time"]], "norm").pvalue > 1e-3
    np.testing.assert_allclose(logs, z[inside, IX["tumor_doubling_time"]], rtol=1e-9, atol=1e-12)


def test_population_correlations_with_parameters_need_drawn_patients(tmp_path):
    from neurosim.analysis.doseresponse import dose_response
    from neurosim.errors import NeurosimValueError
    from neurosim.scenario import loads_scenario
    from neurosim.simulation import patient_parameters, simulate_scenario

    sc = loads_scenario(POP.format(size=2) + MODEL_CORR, source="m.toml")
    P = patient_parameters(sc, 2)
    with pytest.raises(NeurosimValueError, match="not for a given patient matrix"):
        simulate_scenario(sc, patients=P)
    with pytest.raises(NeurosimValueError, match="not carried into a dose-response"):
        dose_response(sc, "morphine", [5, 20], patients=3, n_boot=10, threads=1)
    with pytest.raises(ScenarioError, match="held fixed by \\[patient.parameters\\]"):
        loads_scenario(POP.format(size=2).replace("[population]", "[patient.parameters]\n"
                                                  "nrs_s50 = 3\n[population]") + MODEL_CORR)
