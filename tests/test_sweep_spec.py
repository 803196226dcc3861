"""Sweep files: distributions, designs, correlations, genotypes, arms and their errors.

No simulation here: these tests check who the virtual patients are.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from _sweep_files import SMALL
from neurosim.errors import ScenarioError
from neurosim.model.parameters import PARAMETER_INDEX, PARAMETERS, population_from_scores
from neurosim.sweep import loads_sweep
from neurosim.sweep.spec import iman_conover

HEAD = """\
[scenario]
name = "s"
seed = 11

[simulation]
treatment_start = "100 d"
history = "1 d"
duration = "1 week"
output_interval = "1 d"
"""


def sweep(body: str, head: str = HEAD):
    return loads_sweep(head + body, source="s.toml")


def small(patients=12, design="lhs"):
    return loads_sweep(SMALL.format(patients=patients, design=design), source="small.toml")


# ----------------------------------------------------------------------------- streams


@pytest.mark.parametrize("design", ["random", "lhs", "sobol"])
def test_patients_do_not_depend_on_how_rows_are_split(design):
    """Row i's parameters and genotypes are the same drawn in one block or in pieces."""
    sw = small(patients=16, design=design)
    P, G = sw.patients(0, 16)
    parts = [sw.patients(a, b) for a, b in ((0, 5), (5, 6), (6, 16))]
    np.testing.assert_array_equal(P, np.concatenate([p for p, _ in parts]))
    np.testing.assert_array_equal(G, np.concatenate([g for _, g in parts]))
    # and after the design matrix was cached, a fresh sweep gives the same late rows
    P2, _ = small(patients=16, design=design).patients(9, 12)
    np.testing.assert_array_equal(P[9:12], P2)


def test_each_patient_draws_from_its_spawned_seed_sequence():
    """Reference: numpy's SeedSequence(seed).spawn(n)[i] gives patient i's normal scores,
    and the population background is sample_population's transformation of them."""
    sw = sweep("[sweep]\npatients = 5\n")
    P, _ = sw.patients(0, 5)
    children = np.random.SeedSequence(11).spawn(5)
    z = np.stack([np.random.default_rng(c).standard_normal(len(PARAMETERS)) for c in children])
    np.testing.assert_array_equal(P, population_from_scores(z))
    assert len(set(P[:, PARAMETER_INDEX["tumor_doubling_time"]])) == 5


def test_fixed_background_keeps_unswept_parameters_at_the_patient_value():
    sw = sweep("""
[patient.parameters]
liver_inflammation = 1.5

[sweep]
patients = 6
other_parameters = "fixed"

[sweep.parameters]
il6_per_macrophage = { distribution = "uniform", low = "10 pg/mL", high = "40 pg/mL" }
""")
    P, _ = sw.patients(0, 6)
    j = PARAMETER_INDEX["il6_per_macrophage"]
    others = np.delete(P, j, axis=1)
    np.testing.assert_array_equal(others, np.broadcast_to(others[0], others.shape))
    assert P[0, PARAMETER_INDEX["liver_inflammation"]] == 1.5
    assert np.all((P[:, j] >= 10) & (P[:, j] <= 40))
    assert sw.varied == ["il6_per_macrophage"]


# ----------------------------------------------------------------------------- distributions


def _dim(body):
    return sweep("[sweep]\npatients = 4\n[sweep.parameters]\n" + body).dimensions[0]


def test_inverse_distribution_functions_match_scipy():
    """Reference: scipy.stats distributions with the same parameters (table units)."""
    u = np.linspace(0.001, 0.999, 51)
    d = _dim('tumor_doubling_time = { distribution = "lognormal", median = "100 d", '
             'cv = 0.5 }')
    sigma = math.sqrt(math.log1p(0.25))
    np.testing.assert_allclose(d.ppf(u), stats.lognorm(sigma, scale=2400.0).ppf(u), rtol=1e-12)
    d = _dim('il6_per_macrophage = { distribution = "normal", mean = "30 pg/mL", '
             'sd = "4 pg/mL" }')
    np.testing.assert_allclose(d.ppf(u), stats.norm(30, 4).ppf(u), rtol=1e-12)
    d = _dim('il6_per_macrophage = { distribution = "truncated_normal", mean = "30 pg/mL", '
             'sd = "20 pg/mL", low = "5 pg/mL", high = "40 pg/mL" }')
    ref = stats.truncnorm((5 - 30) / 20, (40 - 30) / 20, loc=30, scale=20).ppf(u)
    np.testing.assert_allclose(d.ppf(u), ref, rtol=1e-12)
    assert d.ppf(np.array([0.0]))[0] == pytest.approx(5.0) and d.ppf(u).max() <= 40
    d = _dim('liver_inflammation = { distribution = "loguniform", low = 0.1, high = 10 }')
    np.testing.assert_allclose(d.ppf(u), stats.loguniform(0.1, 10).ppf(u), rtol=1e-12)
    d = _dim('liver_inflammation = { distribution = "uniform", low = 0.5, high = 2 }')
    np.testing.assert_allclose(d.ppf(u), 0.5 + 1.5 * u, rtol=1e-15)


def test_median_of_a_lognormal_defaults_to_the_patient_value():
    sw = sweep("""
[patient.parameters]
tumor_doubling_time = "200 d"
[sweep]
patients = 3
[sweep.parameters]
tumor_doubling_time = { distribution = "lognormal", cv = 0.4 }
""")
    assert sw.dimensions[0].args["median"] == pytest.approx(200 * 24.0)


def test_categorical_frequencies_in_a_large_random_sample():
    """Reference: the binomial law; each share within 4 standard errors of its weight."""
    sw = sweep("""
[sweep]
patients = 6000
other_parameters = "fixed"
[sweep.parameters]
tumor_doubling_time = { distribution = "categorical", values = ["50 d", "100 d", "300 d"], weights = [1, 2, 7] }
""")
    P, _ = sw.patients(0, 6000)
    x = P[:, PARAMETER_INDEX["tumor_doubling_time"]]
    for value, p in ((1200.0, 0.1), (2400.0, 0.2), (7200.0, 0.7)):
        share = np.mean(x == value)
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / 6000), (value, share)


def test_latin_hypercube_puts_one_patient_in_each_stratum():
    sw = sweep("""
[sweep]
patients = 40
design = "lhs"
other_parameters = "fixed"
[sweep.parameters]
liver_inflammation = { distribution = "uniform", low = 0, high = 2 }
il6_per_macrophage = { distribution = "uniform", low = "10 pg/mL", high = "50 pg/mL" }
""")
    P, _ = sw.patients(0, 40)
    for name, lo, hi in (("liver_inflammation", 0, 2), ("il6_per_macrophage", 10, 50)):
        strata = np.floor((P[:, PARAMETER_INDEX[name]] - lo) / (hi - lo) * 40).astype(int)
        assert sorted(strata) == list(range(40))


def test_sobol_rows_by_index_are_the_scrambled_sequence():
    """Reference: scipy's Sobol engine with the design stream, rows 0..n-1 in one call."""
    from neurosim.sweep.spec import DESIGN_STREAM

    sw = sweep("""
[sweep]
patients = 16
design = "sobol"
other_parameters = "fixed"
[sweep.parameters]
liver_inflammation = { distribution = "uniform", low = 0, high = 1 }
""")
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(DESIGN_STREAM,)))
    ref = qmc.Sobol(1, scramble=True, rng=rng).random(16)[:, 0]
    P, _ = sw.patients(0, 16)
    np.testing.assert_array_equal(P[:, PARAMETER_INDEX["liver_inflammation"]], ref)
    assert not sw.warnings


def test_grid_covers_every_combination_with_replicates():
    sw = sweep("""
[sweep]
patients = 12
design = "grid"
[sweep.parameters]
liver_inflammation = { distribution = "uniform", low = 0, high = 2, levels = 2 }
tumor_doubling_time = { distribution = "categorical", values = ["50 d", "100 d", "300 d"] }
""")
    assert sw.grid_size == 6
    P, _ = sw.patients(0, 12)
    pairs = list(zip(P[:, PARAMETER_INDEX["liver_inflammation"]],
                     P[:, PARAMETER_INDEX["tumor_doubling_time"]]))
    # stratum medians of U(0, 2) with 2 levels: 0.5 and 1.5; every pair twice
    expected = {(a, b) for a in (0.5, 1.5) for b in (1200.0, 2400.0, 7200.0)}
    assert set(pairs) == expected
    assert all(pairs.count(p) == 2 for p in expected)
    # the replicates differ in the population background
    j = PARAMETER_INDEX["il6_per_macrophage"]
    assert P[0, j] != P[6, j]


@pytest.mark.parametrize("design", ["random", "lhs"])
def test_rank_correlations_are_reached(design):
    """Reference: the requested Spearman correlations; sampling error at n = 2000 is about
    0.02, so each is required within 0.06."""
    sw = sweep(f"""
[sweep]
patients = 2000
design = "{design}"
other_parameters = "fixed"
[sweep.parameters]
liver_inflammation = {{ distribution = "uniform", low = 0, high = 2 }}
il6_per_macrophage = {{ distribution = "lognormal", median = "20 pg/mL", cv = 0.4 }}
tumor_doubling_time = {{ distribution = "normal", mean = "100 d", sd = "10 d" }}
[[sweep.correlations]]
parameters = ["liver_inflammation", "il6_per_macrophage"]
rank = 0.6
[[sweep.correlations]]
parameters = ["il6_per_macrophage", "tumor_doubling_time"]
rank = -0.4
""")
    P, _ = sw.patients(0, 2000)
    cols = [PARAMETER_INDEX[n] for n in ("liver_inflammation", "il6_per_macrophage",
                                         "tumor_doubling_time")]
    rho = stats.spearmanr(P[:, cols]).statistic
    assert rho[0, 1] == pytest.approx(0.6, abs=0.06)
    assert rho[1, 2] == pytest.approx(-0.4, abs=0.06)
    assert rho[0, 2] == pytest.approx(0.0, abs=0.08)
    if design == "lhs":  # Iman-Conover only pairs values: still one per stratum
        strata = np.floor(P[:, cols[0]] / 2 * 2000).astype(int)
        assert sorted(strata) == list(range(2000))


def test_iman_conover_keeps_every_column_s_values():
    rng = np.random.default_rng(0)
    U = rng.random((500, 3))
    C = np.array([[1, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 1]])
    out = iman_conover(U, C, np.random.default_rng(1))
    for j in range(3):
        np.testing.assert_array_equal(np.sort(out[:, j]), np.sort(U[:, j]))
    np.testing.assert_array_equal(out, iman_conover(U, C, np.random.default_rng(1)))


# ----------------------------------------------------------------------------- genotypes, arms


def test_genotype_parameter_factor_applies_to_its_category_only():
    """Each patient's stream gives the population background first, then one uniform per
    dimension in file order, so the same sweep without the genotype has the same patients:
    'slow' patients have il6_per_macrophage x 1.5 exactly, the others are unchanged."""
    sw = small(patients=200, design="random")
    P, G = sw.patients(0, 200)
    plain = loads_sweep(SMALL.format(patients=200, design="random")
                        .split("[[sweep.genotypes]]")[0]
                        + "[[sweep.arms]]\nname = \"control\"\n", source="plain.toml")
    P0, _ = plain.patients(0, 200)
    j = PARAMETER_INDEX["il6_per_macrophage"]
    slow = G[:, 0] == 1
    assert 0.2 < slow.mean() < 0.4  # frequency 0.3
    np.testing.assert_array_equal(P[~slow], P0[~slow])
    np.testing.assert_array_equal(P[slow, j], P0[slow, j] * 1.5)
    np.testing.assert_array_equal(np.delete(P[slow], j, axis=1), np.delete(P0[slow], j, axis=1))


def test_drug_genotype_changes_the_compiled_clearance_of_its_arm_only():
    from neurosim.model import N_CORE, N_MODEL_PARAMS

    sw = small()
    blocks = {}
    for key in ((0,), (1,)):
        sc = sw.arm_scenario(1, key)
        ct = sc.plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=sc.duration)
        blocks[key] = ct.block
    assert blocks[(0,)].shape == blocks[(1,)].shape
    assert not np.array_equal(blocks[(0,)], blocks[(1,)])
    assert sw.arm_scenario(1, (0,)) is sw.arm_scenario(1, (0,))  # cached
    assert sw.drug_key(np.array([[1], [0]], dtype=np.int8)) == [(1,), (0,)]


def test_single_arm_from_the_treatments_section():
    sw = sweep('[treatments]\nregimens = ["celecoxib 200 mg po bid"]\n[sweep]\npatients = 2\n')
    assert [a.name for a in sw.arms] == ["s"]
    assert "celecoxib" in sw.arm_scenario(0).plan.describe()
    assert sw.arm_scenario(0).save_states is False


def test_describe_says_what_is_swept():
    text = small().describe()
    for part in ("Patients: 12", "design lhs", "tumor_doubling_time: lognormal",
                 "genotype UGT2B7", "control", "morphine 10 mg"):
        assert part in text


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("body, key, words", [
    ("[sweep]\npatients = 3\n[sweep.parameters]\ntumor_doubling_tme = { distribution = "
     "\"lognormal\", cv = 0.3 }\n", "sweep.parameters.tumor_doubling_tme",
     "Did you mean 'tumor_doubling_time'"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\ntumor_doubling_time = { distribution = "
     "\"lognormal\", cv = -0.3 }\n", "sweep.parameters.tumor_doubling_time.cv", "> 0"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\ntumor_doubling_time = { distribution = "
     "\"lognormal\", cv = 0 }\n", "sweep.parameters.tumor_doubling_time.cv", "> 0"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\ntumor_doubling_time = { distribution = "
     "\"lognormal\", median = \"0 d\", cv = 0.2 }\n",
     "sweep.parameters.tumor_doubling_time.median", "> 0"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"normal\", mean = \"5 pg/mL\", sd = \"3 pg/mL\" }\n",
     "sweep.parameters.il6_per_macrophage", "truncated_normal"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"normal\", mean = \"5 pg/mL\", sd = \"0 pg/mL\" }\n",
     "sweep.parameters.il6_per_macrophage.sd", "> 0"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"uniform\", low = \"40 pg/mL\", high = \"10 pg/mL\" }\n",
     "sweep.parameters.il6_per_macrophage", "below 'high'"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"uniform\", low = \"-1 pg/mL\", high = \"10 pg/mL\" }\n",
     "sweep.parameters.il6_per_macrophage", "must be > 0"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"truncated_normal\", mean = \"5 pg/mL\", sd = \"1 pg/mL\", low = \"100 pg/mL\" }\n",
     "sweep.parameters.il6_per_macrophage", "no probability"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"gamma\", k = 2 }\n", "sweep.parameters.il6_per_macrophage.distribution",
     "Distributions:"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nil6_per_macrophage = { distribution = "
     "\"uniform\", low = 10, high = 20 }\n", "sweep.parameters.il6_per_macrophage.low",
     "no unit"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\ntumor_doubling_time = { distribution = "
     "\"categorical\", values = [\"50 d\", \"80 d\"], weights = [0, 0] }\n",
     "sweep.parameters.tumor_doubling_time.weights", "not all be zero"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\ntumor_doubling_time = { distribution = "
     "\"categorical\", values = [\"50 d\", \"-8 d\"] }\n",
     "sweep.parameters.tumor_doubling_time.values[1]", ""),
    ("[sweep]\npatients = 3\ndesign = \"latin\"\n", "sweep.design", "Designs:"),
    ("[sweep]\npatients = 0\n", "sweep.patients", ">= 1"),
    ("[sweep]\npatients = 3\nsize = 4\n", "sweep.size", "unknown key"),
    ("[sweep]\npatients = 3\noutputs = [\"nrss\"]\n", "sweep.outputs[0]", "Did you mean 'nrs'"),
    ("[sweep]\npatients = 4\ndesign = \"grid\"\n[sweep.parameters]\nliver_inflammation = { "
     "distribution = \"uniform\", low = 0, high = 1 }\n",
     "sweep.parameters.liver_inflammation", "levels"),
    ("[sweep]\npatients = 3\ndesign = \"grid\"\n[sweep.parameters]\nliver_inflammation = { "
     "distribution = \"uniform\", low = 0, high = 1, levels = 2 }\n", "sweep.patients",
     "multiple of 2"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\nliver_inflammation = { distribution = "
     "\"uniform\", low = 0, high = 1 }\n[[sweep.correlations]]\nparameters = "
     "[\"liver_inflammation\", \"il6_per_macrophage\"]\nrank = 0.5\n",
     "sweep.correlations[0].parameters", "not a parameter swept"),
    ("[sweep]\npatients = 3\n[sweep.parameters]\na1 = 1\n", "sweep.parameters.a1",
     "unknown model parameter"),
    ("[treatments]\nregimens = [\"celecoxib 200 mg po bid\"]\n[sweep]\npatients = 3\n"
     "[[sweep.arms]]\nname = \"a\"\n", "treatments", "move [treatments] into the arms"),
    ("[sweep]\npatients = 3\n[[sweep.arms]]\nname = \"a\"\n[[sweep.arms]]\nname = \"b\"\n"
     "regimens = [\"morphin 10 mg po q4h\"]\n", "sweep.arms[1].regimens[0]",
     "Did you mean 'morphine'"),
    ("[sweep]\npatients = 3\n[[sweep.arms]]\nname = \"a/b\"\n", "sweep.arms[0].name",
     "letters"),
    ("[sweep]\npatients = 3\n[[arms]]\nname = \"a\"\n", "arms",
     "unknown section 'arms': in a sweep file it belongs to the sweep, as [[sweep.arms]] "
     "tables."),
    ("[sweep]\npatients = 3\n[parameters]\nliver_inflammation = 0.5\n", "parameters",
     "as a [sweep.parameters] table"),
    ("[design]\nx = 1\n[sweep]\npatients = 3\n", "design", "as 'design = ...' under [sweep]"),
    ("[sweep]\npatients = 3\n[[sweep.arms]]\nname = \"a\"\n[[sweep.arms]]\nname = \"a\"\n",
     "sweep.arms[1].name", "two arms"),
    ("[sweep]\npatients = 3\n[[sweep.genotypes]]\nname = \"g\"\n[[sweep.genotypes.categories]]"
     "\nname = \"x\"\nfrequency = 0.5\n[[sweep.genotypes.categories]]\nname = \"y\"\n"
     "frequency = 0.5\nmodifiers = [{ drug = \"morphine\", quantity = \"pk.clx\", "
     "factor = 2 }]\n", "sweep.genotypes[0].categories[1].modifiers", "pk.clx"),
])
def test_bad_sweep_files_name_the_key_and_the_fix(body, key, words):
    with pytest.raises(ScenarioError) as info:
        sweep(body)
    assert info.value.key == key, str(info.value)
    assert words in str(info.value)
    assert str(info.value).startswith("s.toml: ")


def test_inconsistent_rank_correlations_are_rejected():
    body = """
[sweep]
patients = 10
[sweep.parameters]
liver_inflammation = { distribution = "uniform", low = 0, high = 1 }
il6_per_macrophage = { distribution = "uniform", low = "10 pg/mL", high = "20 pg/mL" }
tumor_doubling_time = { distribution = "uniform", low = "50 d", high = "90 d" }
[[sweep.correlations]]
parameters = ["liver_inflammation", "il6_per_macrophage"]
rank = 0.9
[[sweep.correlations]]
parameters = ["il6_per_macrophage", "tumor_doubling_time"]
rank = 0.9
[[sweep.correlations]]
parameters = ["liver_inflammation", "tumor_doubling_time"]
rank = -0.9
"""
    with pytest.raises(ScenarioError, match="positive definite"):
        sweep(body)


def test_a_scenario_file_is_not_a_sweep():
    with pytest.raises(ScenarioError, match="no \\[sweep\\] section"):
        sweep("")


def test_warnings_for_values_beyond_the_plausible_range_and_unbalanced_sobol():
    sw = sweep("""
[sweep]
patients = 10
design = "sobol"
[sweep.parameters]
liver_inflammation = { distribution = "uniform", low = 0, high = 50 }
""")
    text = " ".join(sw.warnings)
    assert "beyond the plausible range" in text and "power of 2" in text


# ----------------------------------------------------------------------------- batch independence


def test_model_arithmetic_of_a_patient_does_not_depend_on_the_others():
    """Reference: each patient computed alone. The initial state (a fixed-point iteration),
    the outputs (powers) and the metrics (sums over time) of a patient are bit for bit the
    same alone and inside a population of any size: sweeps split populations into batches."""
    from neurosim import model
    from neurosim.model.outputs import power
    from neurosim.simulation import compute_metrics

    sw = small(patients=7, design="random")
    P, _ = sw.patients(0, 7)
    y0 = model.initial_state(P)
    rng = np.random.default_rng(5)
    t = np.arange(-24.0, 24.0 * 84 + 1, 1.0)  # hourly, 12 weeks: long sums over time
    Y = y0[:, None, :] * (1 + 0.1 * rng.random((7, t.size, y0.shape[1])))
    out = model.outputs(Y, P[:, None, :])
    nrs = out["nrs"]
    zeros = np.zeros_like(nrs)
    m = compute_metrics(t, nrs, zeros, zeros, zeros, nrs[:, 24], np.zeros((7, 84)), 24 * 84.0,
                        "healthy")
    for i in range(7):
        np.testing.assert_array_equal(model.initial_state(P[i:i + 1])[0], y0[i])
        np.testing.assert_array_equal(model.initial_state(P[i])[...], y0[i])
        one = model.outputs(Y[i:i + 1], P[i:i + 1, None, :])
        for k in out:
            np.testing.assert_array_equal(one[k][0], out[k][i], err_msg=k)
        mi = compute_metrics(t, nrs[i:i + 1], zeros[:1], zeros[:1], zeros[:1],
                             nrs[i:i + 1, 24], np.zeros((1, 84)), 24 * 84.0, "healthy")
        for k in m:
            np.testing.assert_array_equal(mi[k][0], m[k][i], err_msg=k)
    a = rng.random((3, 50)) * 40
    np.testing.assert_array_equal(power(a, 2.0 / 3.0)[1], power(a[1], 2.0 / 3.0))
    np.testing.assert_allclose(power(a, 2.0 / 3.0), a ** (2.0 / 3.0), rtol=1e-15)


def test_rank_correlations_in_an_lhs_of_fewer_patients_than_dimensions():
    """Iman-Conover with 2 rows and 3 columns: the score matrix's correlation is singular;
    the design is still drawn (each column keeps its stratified values)."""
    sw = sweep("""
[sweep]
patients = 2
design = "lhs"
other_parameters = "fixed"
[sweep.parameters]
liver_inflammation = { distribution = "uniform", low = 0, high = 2 }
il6_per_macrophage = { distribution = "uniform", low = "10 pg/mL", high = "40 pg/mL" }
tnf_per_macrophage = { distribution = "lognormal", cv = 0.3 }
[[sweep.correlations]]
parameters = ["liver_inflammation", "il6_per_macrophage"]
rank = 0.5
""")
    P, _ = sw.patients(0, 2)
    strata = np.floor(P[:, PARAMETER_INDEX["liver_inflammation"]] / 2 * 2).astype(int)
    assert sorted(strata) == [0, 1]


def test_sweep_and_sensitivity_sizes_beyond_a_file_are_refused():
    # A typo'd patient count is refused when the file is read, not by an
    # allocation failure half-way through creating the results file.
    from neurosim.analysis.sensitivity import loads_sensitivity

    with pytest.raises(ScenarioError, match=r"\[sweep.patients\] 1,000,000,000,000,000 patients: "
                                            r"at most 100,000,000"):
        loads_sweep(SMALL.format(patients=10 ** 15, design="random"))
    with pytest.raises(ScenarioError, match=r"\[sensitivity.N\] must be <= 1,048,576"):
        loads_sensitivity('[scenario]\nname = "sa"\n[sensitivity]\nN = 1000000000000000\n'
                          '[sensitivity.parameters]\nnrs_s50 = { low = 2, high = 5 }\n')
