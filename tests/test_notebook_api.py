"""Notebook-friendly additions: DataFrames, HTML of parameters, the natural-history cache."""
from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurosim import simulation  # noqa: E402
from neurosim.errors import MissingDependencyError  # noqa: E402
from neurosim.model import PARAMETERS, ParameterTable  # noqa: E402
from neurosim.scenario import Scenario  # noqa: E402
from neurosim.simulation import METRICS, simulate_scenario  # noqa: E402


@pytest.fixture(scope="module")
def pop():
    sc = Scenario(name="pop", regimens=["morphine 10 mg po q4h"], duration="2 weeks",
                  history="3 d", population_size=3, seed=5, output_interval="6 h")
    return simulate_scenario(sc)


def test_to_dataframe_is_long_by_patient_and_time(pop):
    pd = pytest.importorskip("pandas")
    df = pop.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == pop.n_patients * pop.t.size
    assert list(df.columns[:3]) == ["patient", "t_h", "t_days"]
    assert set(pop.data) <= set(df.columns)
    for i in range(pop.n_patients):
        rows = df[df.patient == i]
        np.testing.assert_array_equal(rows["t_h"].to_numpy(), pop.t)
        np.testing.assert_array_equal(rows["nrs"].to_numpy(), pop["nrs"][i])
    assert df.attrs["units"]["nrs"] == pop.unit("nrs") and df.attrs["units"]["t_days"] == "d"


def test_to_dataframe_selects_names_states_and_patients(pop):
    pytest.importorskip("pandas")
    df = pop.to_dataframe(["nrs", "tumor_volume", "slot.spinal"], patients=[2])
    assert list(df.columns) == ["patient", "t_h", "t_days", "nrs", "tumor_volume", "slot.spinal"]
    assert set(df.patient) == {2}
    np.testing.assert_array_equal(df["tumor_volume"].to_numpy(), pop["tumor_volume"][2])
    assert df.attrs["units"]["tumor_volume"] == "mL"
    with pytest.raises(ValueError, match="patients must be from 0 to 2"):
        pop.to_dataframe(patients=[3])
    with pytest.raises(KeyError, match="Did you mean 'nrs'"):
        pop.to_dataframe("nrss")


def test_metrics_dataframe_matches_metrics(pop):
    pytest.importorskip("pandas")
    df = pop.metrics_dataframe()
    m = pop.metrics()
    assert df.index.name == "patient" and len(df) == pop.n_patients
    for name, unit, _ in METRICS:
        np.testing.assert_array_equal(df[name].to_numpy(), m[name])
        assert df.attrs["units"][name] == unit
    np.testing.assert_allclose(df["treatment_start_days"].to_numpy(), pop.treatment_start / 24)
    assert df["status"].tolist() == pop.status.tolist()


def test_dataframes_without_pandas_name_the_fix(pop, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    for call in (pop.to_dataframe, pop.metrics_dataframe, PARAMETERS.to_dataframe):
        with pytest.raises(MissingDependencyError, match="pip install pandas"):
            call()
    with pytest.raises(ImportError):     # also an ImportError, for generic handlers
        pop.to_dataframe()


def test_parameter_html_shows_value_unit_range_and_source():
    row = PARAMETERS["tnf_half_life"]
    html = row._repr_html_()
    for text in ("tnf_half_life", f"{row.value:g} {row.unit}", f"{row.low:g} {row.unit}",
                 f"{row.high:g} {row.unit}", "source", row.module):
        assert text in html
    # long times are also given in days or weeks
    assert "(" in PARAMETERS["tumor_doubling_time"]._repr_html_().split("value")[1][:80]
    # text is escaped
    assert "<3 months" not in PARAMETERS["tumor_doubling_time"]._repr_html_()


def test_parameter_table_html_and_dataframe():
    sub = ParameterTable(PARAMETERS.select(module="tumor"))
    html = sub._repr_html_()
    assert html.count("<tr>") == len(sub) + 1
    assert all(name in html for name in sub)
    pd = pytest.importorskip("pandas")
    df = PARAMETERS.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.index) == list(PARAMETERS)
    assert df.loc["tnf_half_life", "unit"] == PARAMETERS["tnf_half_life"].unit
    np.testing.assert_array_equal(df["value"].to_numpy(), PARAMETERS.values())


def test_history_cache_solves_the_natural_history_once_and_changes_nothing(monkeypatch):
    calls = []
    real = simulation._natural_history

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    base = Scenario(name="a", regimens=["morphine 10 mg po q4h"], duration="1 week",
                    history="2 d", population_size=2, seed=3)
    other = base.with_changes(regimens=["tanezumab 20 mg sc q8w"], liver="child_pugh_b")
    plain = [simulate_scenario(s) for s in (base, other)]
    monkeypatch.setattr(simulation, "_natural_history", counting)
    cache: dict = {}
    cached = [simulate_scenario(s, history_cache=cache) for s in (base, other)]
    assert len(calls) == 1 and len(cache) == 1
    for a, b in zip(plain, cached):
        np.testing.assert_array_equal(a["nrs"], b["nrs"])
        np.testing.assert_array_equal(a.treatment_start, b.treatment_start)
    # another patient or another timeline is another entry
    simulate_scenario(base.with_changes(history="3 d"), history_cache=cache)
    simulate_scenario(base.with_changes(seed=4), history_cache=cache)
    assert len(calls) == 3 and len(cache) == 3
