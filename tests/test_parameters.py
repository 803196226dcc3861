"""The annotated parameter table, parameter overrides, virtual populations,
the contract constants shared with the treatment layer, and ``neurosim params``."""
from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import neurosim.model as model
from neurosim.cli import main
from neurosim.errors import NeurosimKeyError, NeurosimValueError
from neurosim.model import equations as eq
from neurosim.model.parameters import MODULES, ParameterRangeWarning, load_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


# ---------------------------------------------------------------- the table

def test_every_parameter_is_annotated():
    """Every parameter has a unit, a range holding its value, a cv, a module,
    a description and a source or assumption label."""
    assert len(model.PARAMETERS) == model.N_MODEL_PARAMS > 40
    for row in model.PARAMETERS.rows:
        assert row.unit.strip(), row.name
        assert 0.0 <= row.low <= row.value <= row.high, row.name
        assert row.low < row.high, row.name
        assert row.cv >= 0.0, row.name
        assert row.module in MODULES, row.name
        assert len(row.description) > 15, row.name
        assert row.source.strip(), row.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", row.name), row.name


def test_sources_cite_literature_or_a_defined_assumption():
    """A source either names a publication (year or identifier) or an assumption
    label; every label used is defined in docs/model.md."""
    text = (DOCS / "model.md").read_text()
    defined = set(re.findall(r"^\| *\*\*([AM]\d+)\*\* *\|", text, flags=re.M))
    assert {"A1", "A2", "A3", "A4", "A7", "M1"} <= defined
    for row in model.PARAMETERS.rows:
        labels = set(re.findall(r"\b([AM]\d+)\b", row.source))
        cites = re.search(r"(19|20)\d\d|doi|PMC|R-HSA|sec\.", row.source)
        assert labels or cites, f"{row.name}: no citation or assumption label"
        assert labels <= defined, f"{row.name}: undefined assumption {labels - defined}"
        if "assumption" in row.source:
            assert labels, f"{row.name}: 'assumption' without a label"


def test_index_constants_match_the_table_states_and_slots():
    """equations.py carries literal index constants (for Numba's cache); they must
    follow the table, STATES and SLOTS."""
    for i, name in enumerate(model.PARAMETERS.names):
        assert getattr(eq, "P_" + name.upper()) == i
    assert len([k for k in vars(eq) if k.startswith("P_")]) == model.N_MODEL_PARAMS
    for i, st in enumerate(model.STATES):
        assert getattr(eq, "Y_" + st.name.upper()) == i
    for i, sl in enumerate(model.SLOTS):
        assert getattr(eq, "S_" + sl.name.upper()) == i
    np.testing.assert_array_equal(eq.DEFAULT_SLOTS, model.default_slots())


def test_slots_follow_the_architecture_contract():
    """The slot table in docs/architecture.md (index, name, kind) is what the model exposes."""
    text = (DOCS / "architecture.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| ([^|]+?) \|", text, flags=re.M)
    assert len(rows) == model.N_SLOTS == 14
    for (idx, name, kind), sl in zip(rows, model.SLOTS):
        assert model.SLOT_INDEX[name] == int(idx)
        assert sl.name == name
        expected = {"mult": "mult", "conc (nM)": "conc"}.get(kind, "add")
        assert sl.kind == expected
        assert sl.default == (1.0 if expected == "mult" else 0.0)


def test_docs_parameter_table_is_generated_from_the_data_file():
    """docs/model.md holds the Markdown table generated from parameters.toml."""
    from neurosim._cli_params import format_parameters

    text = (DOCS / "model.md").read_text()
    start = text.index("<!-- BEGIN PARAMETER TABLE -->")
    end = text.index("<!-- END PARAMETER TABLE -->")
    shown = text[start:end]
    for module in MODULES:
        table = format_parameters(model.PARAMETERS.select(module=module), "markdown")
        assert table in shown, f"docs/model.md parameter table for '{module}' is out of date; " \
                               "run docs/scripts/gen_model_docs.py"


def test_load_table_rejects_a_default_outside_its_range(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[[parameter]]\nname="x"\nvalue=5.0\nunit="h"\nrange=[0.0,1.0]\ncv=0.0\n'
                   'module="tumor"\ndescription="d"\nsource="assumption A1"\n')
    with pytest.raises(NeurosimValueError, match="outside its range"):
        load_table(bad)


# ---------------------------------------------------------------- overrides

def test_default_parameters_and_overrides():
    p = model.default_parameters()
    assert p.shape == (model.N_MODEL_PARAMS,)
    np.testing.assert_array_equal(p, [r.value for r in model.PARAMETERS.rows])
    q = model.default_parameters(tumor_doubling_time=2400.0)
    assert q[model.PARAMETER_INDEX["tumor_doubling_time"]] == 2400.0
    assert np.count_nonzero(q != p) == 1


def test_unknown_parameter_name_is_a_key_error_with_suggestion():
    with pytest.raises(NeurosimKeyError, match="tumor_doubling_time") as info:
        model.default_parameters(tumour_doubling_time=100.0)
    assert "unknown model parameter 'tumour_doubling_time'" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_out_of_range_value_warns_with_the_range():
    with pytest.warns(ParameterRangeWarning, match=r"tnf_half_life.*\[0\.25, 2\.1\] h"):
        model.default_parameters(tnf_half_life=5.0)


def test_in_range_value_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.default_parameters(tnf_half_life=1.5)


@pytest.mark.parametrize("name,value,match", [
    ("tnf_half_life", -1.0, r"'tnf_half_life' must be > 0"),
    ("tnf_half_life", 0.0, r"'tnf_half_life' must be > 0"),
    ("liver_inflammation", -0.1, r"'liver_inflammation' must be >= 0"),
    ("liver_inflammation", float("nan"), "must be finite"),
    ("liver_inflammation", "high", "must be a number"),
])
def test_wrong_sign_or_type_is_an_error(name, value, match):
    with pytest.raises(NeurosimValueError, match=match):
        model.default_parameters(**{name: value})


def test_zero_allowed_where_the_range_starts_at_zero():
    p = model.default_parameters(liver_inflammation=0.0)
    assert p[model.PARAMETER_INDEX["liver_inflammation"]] == 0.0


def test_carrying_capacity_must_allow_a_doubling():
    with pytest.raises(NeurosimValueError, match="twice tumor_volume_diagnosis"):
        model.default_parameters(tumor_volume_diagnosis=400.0, tumor_carrying_capacity=600.0)


def test_make_parameters_checks_the_base_length():
    with pytest.raises(NeurosimValueError, match=f"length {model.N_MODEL_PARAMS}"):
        model.make_parameters({}, base=np.ones(5))


# ---------------------------------------------------------------- populations

def test_population_is_reproducible_and_within_ranges():
    a = model.sample_population(500, seed=3)
    b = model.sample_population(500, seed=3)
    c = model.sample_population(500, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    bounds = model.PARAMETERS.bounds()
    assert np.all(a >= bounds[:, 0]) and np.all(a <= bounds[:, 1])
    cv0 = np.array([r.cv == 0 for r in model.PARAMETERS.rows])
    np.testing.assert_array_equal(a[:, cv0], np.broadcast_to(model.default_parameters()[cv0],
                                                             a[:, cv0].shape))
    k = model.PARAMETER_INDEX
    assert np.all(a[:, k["tumor_carrying_capacity"]] > 2 * a[:, k["tumor_volume_diagnosis"]])


def test_population_medians_are_the_table_values():
    """Lognormal sampling keeps the median at the table value (reference: the
    definition of the lognormal; tolerance 5 % for 20,000 draws, away from clipping)."""
    pop = model.sample_population(20_000, seed=11)
    for row in model.PARAMETERS.rows:
        if row.cv > 0:
            med = np.median(pop[:, model.PARAMETER_INDEX[row.name]])
            assert med == pytest.approx(row.value, rel=0.05), row.name


def test_tumor_doubling_time_spread_matches_the_meta_analysis():
    """Gut 2021;70:401: about 1/3 of HCCs double in < 3 months and about 1/3 take
    > 9 months (35 % and 38 %). The lognormal spread gives 30-38 % and 20-30 %."""
    pop = model.sample_population(20_000, seed=5)
    tvdt_months = pop[:, model.PARAMETER_INDEX["tumor_doubling_time"]] / 730.0
    assert 0.30 <= np.mean(tvdt_months < 3.0) <= 0.38
    assert 0.20 <= np.mean(tvdt_months > 9.0) <= 0.30
    assert np.median(tvdt_months) == pytest.approx(4.6, abs=0.2)


def test_population_rejects_bad_sizes():
    with pytest.raises(NeurosimValueError):
        model.sample_population(0)
    with pytest.raises(NeurosimValueError):
        model.sample_population(10, cv_scale=-1.0)


def test_cv_scale_zero_gives_the_default_patient():
    pop = model.sample_population(3, seed=1, cv_scale=0.0)
    np.testing.assert_array_equal(pop, np.broadcast_to(model.default_parameters(), pop.shape))


# ---------------------------------------------------------------- CLI

def test_cli_params_table(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "tumor_doubling_time" in out and "cs_half_life" in out
    assert f"({model.N_MODEL_PARAMS} parameters; times in h)" in out


def test_cli_params_filter_by_module_and_name(capsys):
    assert main(["params", "--module", "ngf", "--name", "half"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert names == ["ngf_half_life", "ngf_complex_half_life"]


def test_cli_params_csv_round_trips_the_table(capsys):
    assert main(["params", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == list(model.PARAMETERS.names)
    for r in rows:
        row = model.PARAMETERS[r["name"]]
        assert float(r["value"]) == pytest.approx(row.value, rel=1e-5)
        assert (float(r["low"]), float(r["high"])) == pytest.approx((row.low, row.high), rel=1e-5)
        assert r["source"] == row.source


def test_cli_params_markdown(capsys):
    assert main(["params", "--format", "markdown", "--module", "tumor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| name | value | unit | range |")
    assert len(lines) == 2 + len(model.PARAMETERS.select(module="tumor"))


def test_cli_params_no_match_is_a_clear_error(capsys):
    assert main(["params", "--name", "tumour_doubling"]) == 2
    err = capsys.readouterr().err
    assert "no parameter matches --name 'tumour_doubling'" in err
