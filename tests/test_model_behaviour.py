"""Behaviours the disease model must show (MODEL.md), each checked against a
number: validation targets from the biology reference (numbered there) or
the calibration targets of the natural history. Values the model currently
produces are quoted in each docstring; the assertions are the targets."""
from __future__ import annotations

import numpy as np
import pytest

import neurosim.model as model
from neurosim.model import experiments as ex

SL = model.SLOT_INDEX


@pytest.fixture(scope="module")
def nh():
    return ex.natural_history()


# ---------------------------------------------------------------- natural history

def test_tumor_doubles_in_about_4_6_months(nh):
    """Target 13: pooled volume doubling time 4.6 months (95 % CI 3.9-5.3). Model: 4.60."""
    assert 3.9 <= nh.summary["doubling_time_months"] <= 5.3


def test_biomarkers_of_healthy_and_cirrhotic_liver():
    """Serum levels without a tumor match the control and cirrhosis groups
    (IL-6 2.57 / 7.49 pg/mL; TNF-alpha 5.8 / 11.3; NGF 11.1 / 20.6), within 10 %."""
    for infl, il6, tnf, ngf in ((0.0, 2.57, 5.8, 11.1), (1.0, 7.49, 11.3, 20.6)):
        p = model.default_parameters(liver_inflammation=infl)
        o = model.outputs(model.initial_state(p, tumor_volume=0.0), p)
        assert o["plasma_il6"] == pytest.approx(il6, rel=0.1)
        assert o["plasma_tnf"] == pytest.approx(tnf, rel=0.1)
        assert o["plasma_ngf"] == pytest.approx(ngf, rel=0.1)


def test_biomarkers_reach_published_hcc_levels(nh):
    """Target 12: serum IL-6 ~10-15 pg/mL above healthy (2.57), TNF-alpha ~2x healthy
    (12.3 vs 5.8), NGF ~3x normal (33.9 vs 11.1). Model at month 12: IL-6 15.0,
    TNF 13.4 (2.3x), NGF 34.1 (3.1x)."""
    s = nh.summary
    assert 10.0 <= s["plasma_il6_m12"] - 2.57 <= 15.0
    assert 1.7 <= s["plasma_tnf_m12"] / 5.8 <= 2.5
    assert 2.5 <= s["plasma_ngf_m12"] / 11.1 <= 3.5


def test_biomarkers_rise_with_tumor_burden(nh):
    """Target 12: each biomarker rises with tumor size; NGF is higher above 5 cm."""
    o = nh.series
    for k in ("plasma_il6", "plasma_tnf", "plasma_ngf"):
        assert np.all(np.diff(o[k]) > 0), k
    big = o["tumor_diameter"] > 5.0
    assert big.any() and (~big).any()
    assert o["plasma_ngf"][big].min() > o["plasma_ngf"][~big].max()


def test_pain_rises_from_mild_to_moderate_severe(nh):
    """MODEL.md: untreated, pain rises as the tumor grows; calibration (A7): early
    HCC NRS 0-2, advanced untreated HCC NRS 5-7. Model: 1.5 at diagnosis, 2.1 at
    month 4, 3.9 at month 9, 5.2 at month 12."""
    s = nh.summary
    assert 0.0 <= s["nrs_m0"] <= 2.0
    assert 5.0 <= s["nrs_m12"] <= 7.0
    assert np.all(np.diff(nh.series["nrs"]) > 0)
    # every mechanism contributes at month 12, none dominates completely
    for k in ("nrs_mechanical", "nrs_inflammatory", "nrs_ngf", "nrs_central"):
        share = nh.series[k][-1] / nh.series["nrs"][-1]
        assert 0.05 < share < 0.6, k


# ---------------------------------------------------------------- disproportionate pain

def test_disproportionate_pain_in_a_virtual_population():
    """MODEL.md 'disproportionate pain': across 1,000 virtual patients (lognormal
    spread from the table's cv column, seed fixed), NRS at month 6 correlates more
    with plasma IL-6 and NGF than with tumor volume, and TNF-alpha is the weakest
    cytokine marker (IL-6 correlates with cancer pain, TNF-alpha does not:
    De Groote 2024). Model: Spearman rho 0.81 (IL-6), 0.80 (NGF), 0.69 (TNF),
    0.65 (volume)."""
    res = ex.population_correlations(1000)
    s = res.summary
    assert s["n_failed"] == 0
    assert s["rho_il6"] - s["rho_volume"] >= 0.08
    assert s["rho_ngf"] - s["rho_volume"] >= 0.08
    assert s["rho_tnf"] < s["rho_il6"]
    assert s["rho_volume"] > 0.3            # pain still grows with the tumor
    assert 1.0 < s["nrs_median"] < 8.0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_disproportionate_pain_holds_across_populations(seed):
    """The finding above does not hinge on one random population: 2,000 patients
    for each of three further seeds."""
    s = ex.population_correlations(2000, seed=seed).summary
    assert s["rho_il6"] - s["rho_volume"] >= 0.08
    assert s["rho_ngf"] - s["rho_volume"] >= 0.08


# ---------------------------------------------------------------- hysteresis

def test_hysteresis_after_cutting_the_peripheral_drive():
    """Assumption A4 / MODEL.md central module: at month 9 a 50 % cut in peripheral
    transmission is held. Compared with the same patient on the way up at the same
    afferent input, pain stays higher (central sensitization holds a memory) and the
    excess decays over weeks. Model: excess 0.90 NRS at day 1, 0.68 at week 4, 0.34
    at week 12; half-life 8.8 weeks."""
    s = ex.drive_removal().summary
    assert s["nrs_day1"] < s["nrs_before_cut"]           # the cut does relieve
    assert s["excess_day1"] >= 0.5                       # hysteresis, in NRS points
    assert s["excess_week1"] >= 0.8 * s["excess_day1"]   # not gone within days
    assert s["excess_week12"] <= 0.5 * s["excess_day1"]  # fades over weeks
    assert 2.0 <= s["excess_half_life_weeks"] <= 12.0


def test_central_sensitization_decays_over_weeks_after_complete_removal():
    """Target 7: after chronic peripheral drive is removed, central sensitization
    falls over weeks to months (CS-positive 48 % -> 10 % by 3 months). Complete
    afferent block at month 9: the chronic CS index keeps >= 70 % at 2 weeks and
    falls to <= 50 % by 12 weeks. Wind-up (fast CS) falls below 30 % within 2 h
    (secondary hyperalgesia lasts 1-2 h without renewed input)."""
    p = model.default_parameters()
    t_up = np.arange(0.0, 9 * 730.0 + 1, 24.0)
    up = model.simulate(t_up, p)
    s = model.default_slots()
    s[SL["afferent"]] = 0.0
    t = t_up[-1] + np.array([0.0, 2.0, 14 * 24.0, 84 * 24.0])
    dn = model.simulate(t, p, y0=up.final_state[0], slots=s)
    csi = dn.outputs(["central_sensitization_index"])["central_sensitization_index"][0]
    assert csi[2] >= 0.7 * csi[0]
    assert csi[3] <= 0.5 * csi[0]
    wind = dn["central_fast"][0]
    assert wind[1] <= 0.3 * wind[0]
    nrs = dn.outputs(["nrs"])["nrs"][0]
    assert 0.1 * up.outputs(["nrs"])["nrs"][0, -1] < nrs[0]   # part of the pain persists


# ---------------------------------------------------------------- pulses

def test_ngf_pulse_time_course():
    """Target 5: after NGF, hyperalgesia appears within hours (3 h), peaks within
    days and lasts about a week (IM) to up to 7 weeks (systemic); temporal summation
    (central) stays facilitated ~10 days. Model: 67 % of peak at 3 h, peak at
    2.3 d, 59 % at 7 d, 6 % at 28 d, 2 % at 49 d; central at day 10 is 97 % of its
    peak."""
    s = ex.ngf_pulse().summary
    assert s["frac_3h"] >= 0.25
    assert 12.0 <= s["peak_time_h"] <= 4 * 24.0
    assert s["frac_7d"] >= 0.3
    assert s["frac_49d"] <= 0.1
    assert s["central_peak"] > 0.02
    assert s["central_10d_frac"] >= 0.5


def test_tnf_pulse_time_course_and_ngf_dependence():
    """Target 6: a TNF pulse sensitizes nociceptors within 30 min and the effect
    lasts hours (2-6 h); blocking NGF reduces TNF hyperalgesia. Model: 35 % of peak
    at 30 min, peak at 2.5 h, half-maximal for 4.75 h; anti-NGF (20 nM) lowers the
    peak by 5.5 %."""
    s = ex.tnf_pulse().summary
    assert s["frac_30min"] >= 0.2
    assert s["peak_time_h"] <= 6.0
    assert 2.0 <= s["half_max_duration_h"] <= 6.0
    assert s["residual_1d"] <= 0.1 * s["peak"]
    blocked = ex.tnf_pulse(anti_ngf_nM=20.0).summary
    assert blocked["peak"] <= 0.95 * s["peak"]


def test_repeated_cytokine_exposure_primes_for_a_month():
    """Target 6 (priming): 18 daily TNF injections give sensitization persisting
    >= 30 days after the last dose; a single injection does not. Model: residual
    rise 0.25 at day 30 after 18 doses (12 % of the peak) vs 0.019 after one."""
    rep = ex.tnf_pulse(repeats=18, follow_days=31.0).summary
    one = ex.tnf_pulse(repeats=1, follow_days=31.0).summary
    assert rep["residual_30d"] >= 5 * one["residual_30d"]
    assert rep["residual_30d"] >= 0.1 * rep["peak"]


# ---------------------------------------------------------------- late disease

def test_late_disease_is_harder_to_relieve():
    """MODEL.md: late in disease the same treatment relieves less. A 50 % cut in
    peripheral transmission, held 14 days, gives a smaller relative (IMMPACT-style,
    % of the untreated NRS) reduction at month 12 than at month 4. Model: 39.4 %
    at month 4, 30.8 % at month 12 (0.85 and 1.67 NRS points)."""
    s = ex.relief_by_stage().summary
    assert s["relief_percent_m4"] - s["relief_percent_m12"] >= 5.0
    assert s["relief_percent_m12"] > 10.0


# ---------------------------------------------------------------- slots (for treatments)

@pytest.fixture(scope="module")
def month9():
    p = model.default_parameters()
    up = model.simulate(np.arange(0.0, 9 * 730.0 + 1, 24.0), p)
    return p, up.final_state[0]


def _relief(month9, hours, **slots):
    p, y0 = month9
    s = model.default_slots()
    for k, v in slots.items():
        s[SL[k]] = v
    t = np.concatenate([[0.0], np.asarray(hours, float)])
    treated = model.simulate(t, p, y0=y0, slots=s).outputs()
    untreated = model.simulate(t, p, y0=y0).outputs()
    return {k: untreated[k][0, 1:] - treated[k][0, 1:] for k in treated}


def test_slot_timescales_leave_room_for_treatments(month9):
    """Treatment behaviours of MODEL.md act through the slots with the right speed:
    spinal (opioid) within an hour; cytokine blockade within days; anti-NGF over
    weeks, not hours; a nerve block sharply, with part of the pain persisting."""
    opioid = _relief(month9, [1.0], spinal=0.5)["nrs"]
    assert opioid[0] > 1.0
    anti_tnf = _relief(month9, [72.0], tnf_activity=0.1)
    assert anti_tnf["nrs_inflammatory"][0] > 0.5 * anti_tnf["nrs"][0] > 0.3
    anti_ngf = _relief(month9, [1.0, 168.0, 1344.0], ngf_binder=20.0)
    assert anti_ngf["nrs"][0] < 0.1
    assert anti_ngf["nrs"][1] < anti_ngf["nrs"][2]
    assert anti_ngf["nrs"][2] > 1.0
    # sprouting reverses: after 8 weeks the fiber density is below the untreated course by
    # more than 3/4 of the excess sprouted by month 9 (relative, because the size of the
    # excess follows sprouting_gain, calibrated on validation target 3)
    excess9 = model.outputs(month9[1], month9[0])["fiber_density"] - 1.0
    assert excess9 > 0.0
    assert anti_ngf["fiber_density"][2] > 0.75 * excess9
    block = _relief(month9, [1.0], afferent=0.1)
    nrs9 = model.outputs(month9[1], month9[0])["nrs"]
    assert block["nrs"][0] > 0.5 * nrs9
    assert nrs9 - block["nrs"][0] > 0.1 * nrs9


def test_blocking_one_cytokine_leaves_the_others_share(month9):
    """MODEL.md: blocking one cytokine leaves the others' share of pain: the
    inflammatory NRS component falls less under anti-IL-6 alone than under
    anti-IL-6 with anti-TNF, and stays above zero."""
    il6 = _relief(month9, [72.0], il6_activity=0.0)["nrs_inflammatory"][0]
    both = _relief(month9, [72.0], il6_activity=0.0, tnf_activity=0.0)["nrs_inflammatory"][0]
    p, y = month9
    base = model.outputs(y, p)["nrs_inflammatory"]
    assert 0.0 < il6 < both
    assert base - il6 > 0.2 * base


def test_oih_slot_feeds_central_sensitization(month9):
    oih = _relief(month9, [24.0, 672.0], oih=0.2)
    assert oih["nrs_central"][1] < oih["nrs_central"][0] < 0   # pain rises over weeks
