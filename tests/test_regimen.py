"""Tests of the regimen records, mini-language, expansion and words."""
import math

import pytest
from hypothesis import given, strategies as st

from neurosim.errors import ScenarioError
from neurosim.treatments.regimen import (
    Regimen, RescuePolicy, TitrationPolicy, mme_per_day, parse_regimen, regimen_from_dict,
)


@pytest.mark.parametrize("text, fields, n_admin, first_times", [
    ("10 mg po q4h", dict(amount=10.0, route="po", interval=4.0, repeats=None), 6, [0, 4, 8]),
    ("20 mg sc q8w x3", dict(amount=20.0, route="sc", interval=1344.0, repeats=3), 1, [0]),
    ("25 ug/h td patch q72h", dict(rate=0.025, route="td", interval=72.0, form="patch"), 1, [0]),
    ("1 g po q6h", dict(amount=1000.0, interval=6.0), 4, [0, 6, 12]),
    ("4 mg iv q24h x5 from day 3", dict(amount=4.0, start=72.0, repeats=5), 0, []),
    ("500 mg iv over 30 min q8h for 5 d",
     dict(amount=500.0, duration=0.5, interval=8.0, until=120.0, form="infusion"), 3, [0, 8, 16]),
    ("morphine 2 mg/h iv from 12 h until day 4",
     dict(drug="morphine", rate=2.0, start=12.0, duration=84.0, until=None), 1, [12]),
    ("0.1 mg/kg iv once", dict(amount=7.0, repeats=1), 1, [0]),
])
def test_examples_parse_to_the_intended_records(text, fields, n_admin, first_times):
    r = parse_regimen(text, body_weight=70)
    for k, v in fields.items():
        got = getattr(r, k)
        assert got == pytest.approx(v) if isinstance(v, float) else got == v, k
    admins = r.administrations(24.0)
    assert len(admins) == n_admin
    assert [a.time for a in admins][:3] == first_times[:3]


def test_expansion_counts_repeats_until_and_horizon():
    r = parse_regimen("20 mg sc q8w x3")
    assert [a.time for a in r.administrations(365 * 24.0)] == [0.0, 1344.0, 2688.0]
    r = parse_regimen("4 mg iv q24h x5 from day 3")
    times = [a.time for a in r.administrations(30 * 24.0)]
    assert times == [72.0, 96.0, 120.0, 144.0, 168.0]
    r = parse_regimen("10 mg po q4h until 1 d")
    assert len(r.administrations(100.0)) == 6
    # a dose at exactly the horizon is not given (nothing to integrate after it)
    assert parse_regimen("10 mg po q4h").administrations(8.0)[-1].time == 4.0


def test_patches_and_infusions_expand_to_on_off_spans():
    patch = parse_regimen("25 ug/h td patch q72h")
    spans = [(a.time, a.end, a.rate) for a in patch.administrations(7 * 24.0)]
    assert spans == [(0.0, 72.0, 0.025), (72.0, 144.0, 0.025), (144.0, 216.0, 0.025)]
    inf = parse_regimen("500 mg iv over 30 min q8h")
    a = inf.administrations(24.0)[0]
    assert (a.rate, a.duration, a.amount) == (1000.0, 0.5, 500.0)
    cont = parse_regimen("2 mg/h iv")
    assert math.isinf(cont.administrations(48.0)[0].duration)


@given(amount=st.floats(min_value=0.01, max_value=5000), interval=st.sampled_from(
    [1.0, 4.0, 6.0, 8.0, 12.0, 24.0, 72.0, 168.0, 1344.0, 2.5]),
    repeats=st.one_of(st.none(), st.integers(1, 20)),
    start=st.sampled_from([0.0, 12.0, 72.0, 0.5]),
    rate=st.booleans())
def test_to_text_round_trips(amount, interval, repeats, start, rate):
    if rate:
        r = Regimen(drug="fentanyl", route="td", rate=amount, duration=None, start=start,
                    interval=interval, repeats=repeats, form="patch")
    else:
        r = Regimen(drug="morphine", route="po", amount=amount, start=start, interval=interval,
                    repeats=repeats)
    again = parse_regimen(r.to_text())
    assert again == r, r.to_text()


@pytest.mark.parametrize("text", [
    "10 mg po q4h", "20 mg sc q8w x3", "25 ug/h td patch q72h", "1 g po q6h",
    "4 mg iv q24h x5 from day 3", "500 mg iv over 30 min q8h for 5 d",
    "morphine 2 mg/h iv from 12 h until day 4", "2 mg/h iv q24h lasting 12 h",
])
def test_canonical_text_round_trips_examples(text):
    r = parse_regimen(text)
    assert parse_regimen(r.to_text()) == r


def test_describe_in_words():
    assert parse_regimen("10 mg po q4h", drug="morphine").describe() == (
        "morphine 10 mg by mouth every 4 h, starting at 0 h, until the end of the simulation")
    d = parse_regimen("20 mg sc q8w x3", drug="tanezumab").describe()
    assert "every 8 weeks" in d and "3 times" in d and "subcutaneously" in d
    assert "patch delivering 25 ug/h" in parse_regimen("25 ug/h td patch q72h").describe()
    assert "every day" in parse_regimen("4 mg iv q24h x5 from day 3").describe()


@pytest.mark.parametrize("text, match", [
    ("-10 mg po q4h", "negative"),
    ("0 mg po q4h", "zero"),
    ("10 mL po q4h", "mass"),
    ("10 po q4h", "unit"),
    ("10 mg", "route"),
    ("10 mg po q4h x3 q6h", "two intervals"),
    ("10 mg po x3", "needs an interval"),
    ("10 mg po q4h sometimes", "unknown word"),
    ("10 mg po q4h from day", "number after"),
    ("10 mg po bolus over 1 h", "contradicts"),
    ("10 mg iv patch", "needs a rate"),
    ("2 mg/h iv over 1 h", "with a rate use 'for"),
    ("100 mg iv over 10 h q8h", "overlap"),
    ("10 mg po q4h from 2 d until 1 d", "must come after"),
    ("10 mg po lasting 2 h", "lasting"),
])
def test_bad_lines_name_the_problem_and_the_form(text, match):
    with pytest.raises(ScenarioError, match=match) as e:
        parse_regimen(text)
    assert "regimen" in str(e.value)


def test_unknown_drug_in_line_gets_did_you_mean():
    with pytest.raises(ScenarioError, match="Did you mean 'morphine'"):
        parse_regimen("morfine 10 mg po q4h", known_drugs=["morphine", "oxycodone"])


def test_explicit_record_form_and_unknown_keys():
    r = regimen_from_dict({"drug": "morphine", "route": "po", "dose": "10 mg",
                           "interval": "q4h", "start": "1 d"})
    assert (r.amount, r.interval, r.start) == (10.0, 4.0, 24.0)
    r2 = regimen_from_dict({"drug": "morphine", "regimen": "10 mg po q4h from 1 d"})
    assert r == r2
    with pytest.raises(ScenarioError, match="Did you mean 'interval'"):
        regimen_from_dict({"drug": "morphine", "route": "po", "dose": "10 mg", "intervl": "4 h"})
    with pytest.raises(ScenarioError, match="dose"):
        regimen_from_dict({"drug": "morphine", "route": "po", "dose": "-1 mg"})
    with pytest.raises(ScenarioError, match="unknown drug"):
        regimen_from_dict({"drug": "morfine", "regimen": "10 mg po q4h"},
                          known_drugs=["morphine"])


def test_mme_per_day_from_administrations():
    # 10 mg oral morphine q4h = 60 MME/day; a 25 ug/h fentanyl patch = 0.6 mg/day x 100 = 60.
    m = parse_regimen("morphine 10 mg po q4h")
    f = parse_regimen("fentanyl 25 ug/h td patch q72h")
    factors = {("morphine", "po"): 1.0, ("fentanyl", "td"): 100.0}
    days = mme_per_day(m.administrations(72.0) + f.administrations(72.0), factors, 72.0)
    assert days == pytest.approx([120.0, 120.0, 120.0], rel=1e-12)
    assert m.mme_per_day(1.0) == pytest.approx(60.0)
    assert f.mme_per_day(100.0) == pytest.approx(60.0)


def test_policies_from_scenario_tables():
    t = TitrationPolicy.from_dict({"drug": "morphine", "every": "24 h", "target_nrs": 4})
    assert t.decision_times(96.0) == [24.0, 48.0, 72.0]
    r = RescuePolicy.from_dict({"drug": "morphine", "dose": "5 mg po", "check_every": "2 h"})
    assert (r.route, r.amount, r.check_every) == ("po", 5.0, 2.0)
    with pytest.raises(ScenarioError, match="Did you mean 'target_nrs'"):
        TitrationPolicy.from_dict({"drug": "morphine", "target": 4})
    with pytest.raises(ScenarioError, match="single bolus"):
        RescuePolicy.from_dict({"drug": "morphine", "dose": "5 mg po q4h"})
