"""Validation targets of the biology reference (``reference/biology_facts.md``, targets
1-17) that need the joined system: disease model plus drugs, in virtual patients and
virtual cohorts. Each test names the published number, the model's definition of the
quantity, the tolerance and the model's current value; ``docs/validation.md`` collects
them with the targets checked elsewhere.

Virtual cohorts are drawn with ``model.sample_population`` (fixed seeds). The unmarked
tests use a few hundred patients; the ``slow`` ones repeat them with larger cohorts and
other seeds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from _joined_sim import DAY, MONTH, WEEK, plan, run
from neurosim import model
from neurosim.treatments.library import load_library

MORPHINE_G_PER_MOL = 285.34
M6G_G_PER_MOL = 461.4


# ============================================================ targets 3 and 4: anti-NGF trial

@dataclass
class Trial:
    weeks: np.ndarray          # weeks after randomization of the weekly visits
    diff: np.ndarray           # (patients, visits): placebo NRS - tanezumab NRS
    week1_daily: np.ndarray    # (patients, 7): the same on days 1-7
    placebo_change: np.ndarray  # (patients, visits): placebo NRS - baseline
    baseline: np.ndarray       # (patients,)


def anti_ngf_add_on_trial(n, seed, entry_nrs=5.0):
    """Virtual version of Fallon 2023: HCC patients on a stable background opioid (SC
    morphine 1 mg/h = 60 MME/day, from month 5) are randomized at month 6 if their NRS
    is >= 5; tanezumab 20 mg SC every 8 weeks x3 or placebo, background unchanged.
    Placebo and active arms are the same virtual patients (paired)."""
    tb, t0 = 5 * MONTH, 6 * MONTH
    weeks = np.arange(0, 17)
    t = np.unique(np.concatenate([np.arange(0.0, tb, 10 * DAY), tb + np.arange(0, 5) * WEEK,
                                  t0 + np.arange(0, 8) * DAY, t0 + weeks * WEEK]))
    pop = model.sample_population(n, seed=seed)
    background = f"morphine 1 mg/h sc from {tb} h"
    placebo = run(plan(background), t, pop)
    active = run(plan(background, f"tanezumab 20 mg sc q8w x3 from {t0} h"), t, pop)
    assert np.all(placebo.status == 0) and np.all(active.status == 0)
    i0 = np.searchsorted(t, t0)
    base = placebo.out["nrs"][:, i0]
    sel = base >= entry_nrs
    iw = np.searchsorted(t, t0 + weeks * WEEK)
    idays = np.searchsorted(t, t0 + np.arange(1, 8) * DAY)
    d = placebo.out["nrs"][sel] - active.out["nrs"][sel]
    return Trial(weeks=weeks, diff=d[:, iw], week1_daily=d[:, idays],
                 placebo_change=placebo.out["nrs"][sel][:, iw] - base[sel, None],
                 baseline=base[sel])


@pytest.fixture(scope="module")
def trial():
    return anti_ngf_add_on_trial(300, seed=3)


def _check_target_3(tr):
    assert tr.diff.shape[0] >= 50                       # enough randomized patients
    assert 5.0 <= tr.baseline.mean() <= 8.5
    week8 = tr.diff[:, 8].mean()
    assert 0.04 <= week8 <= 1.52
    return week8


def test_validation_target_3_anti_ngf_add_on_to_background_opioids(trial):
    """Target 3 (Fallon 2023, Oncologist 28:e1268): tanezumab 20 mg SC every 8 weeks on
    background opioids, patients with average pain >= 5: NRS change at week 8 -2.03 vs
    -1.25 on placebo, difference 0.78 (95 % CI 0.04-1.52).

    Model (virtual trial, ``anti_ngf_add_on_trial``, 300 drawn, 96 randomized, baseline
    NRS 7.2): difference at week 8 1.11 NRS points, inside the CI (the check); the
    model has no placebo response, so only the difference is compared (the model's
    placebo arm worsens by 0.7 with disease progression)."""
    _check_target_3(trial)


def _check_target_4(tr):
    m = tr.diff.mean(axis=0)
    week1 = m[1]
    assert 0.3 <= week1 <= 0.7                          # separation already at week 1
    assert tr.week1_daily.mean() > 0.15                 # ... over the first week's days too
    assert np.all(np.diff(m[:5]) > 0)                   # builds over weeks 1-4
    assert m[2:17].max() >= 2.0 * week1                 # and keeps building to weeks 10-16
    # at most a small decline between doses: each 8-week trough >= 75 % of the best
    # response in its dosing interval
    assert m[8] >= 0.75 * m[1:9].max()
    assert m[16] >= 0.75 * m[9:17].max()
    return m


def test_validation_target_4_anti_ngf_onset_and_course_between_doses(trial):
    """Target 4 (ARD SC tanezumab phase 3, NCT02709486; PMC8360021; Arthritis Res Ther
    2022): separation from placebo already at week 1 (0.4-0.5 NRS points in OA), building
    over 2-16 weeks, with at most a small decline between doses given 8 weeks apart.

    Model (same virtual trial): separation at the week-1 visit 0.46 (check: 0.3-0.7),
    0.27 averaged over days 1-7 (check: > 0.15); rising every week to week 4 (1.14) and
    peaking at week 12 (1.40, check: >= 2x week 1); troughs before the next dose at
    week 8 (1.11) and week 16 (1.16) are 92 % and 83 % of the best week of their dosing
    interval (check: >= 75 %)."""
    _check_target_4(trial)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_validation_targets_3_and_4_hold_in_larger_virtual_trials(seed):
    tr = anti_ngf_add_on_trial(1000, seed=seed)
    _check_target_3(tr)
    _check_target_4(tr)


# ============================================================ targets 9 and 10: titration cohort

@dataclass
class Cohort:
    oei: np.ndarray            # opioid escalation index (%/day), patients with NRS0 >= 4
    relieved_2w: np.ndarray    # bool: NRS <= 4 at a titration decision within 2 weeks
    drive_at_relief: np.ndarray  # trough opioid drive at first relief / Klepstad trough
    morphine_at_relief: np.ndarray  # trough plasma morphine at first relief (ng/mL)


def titration_cohort(n_per_state, seed):
    """Virtual HCC patients with NRS >= 4 at month 6 start oral morphine 30 mg SR every
    12 h with daily titration to NRS <= 4 (+25 %, +50 % at NRS >= 7, at most 10x;
    Fast Fact #20), half in Child-Pugh A and half in Child-Pugh B cirrhosis (most HCC
    arises in cirrhosis, Christian-Miller & Frenette 2018), followed for 3 weeks."""
    t0 = 6 * MONTH
    # daily saves to day 22, so that day 21's doses all lie inside the simulation
    t = np.unique(np.concatenate([np.arange(0.0, t0, 10 * DAY), t0 + np.arange(0, 23) * DAY]))
    lib = load_library()
    mor = lib.drug("morphine")
    ec = mor.opioid_ec50.to()
    ec6 = mor.metabolite.opioid_ec50.to()
    # the Klepstad 2000 trough at satisfactory relief in the same units (mg/L)
    u_klepstad = 66e-6 * MORPHINE_G_PER_MOL / ec + 257e-6 * M6G_G_PER_MOL / ec6
    titration = {"drug": "morphine", "every": "24 h", "start": f"{t0 + 24} h", "target_nrs": 4}
    oei, relieved, drive, conc = [], [], [], []
    for k, liver in enumerate(("child_pugh_a", "child_pugh_b")):
        pop = model.sample_population(n_per_state, seed=seed + k)
        r = run(plan(f"morphine 30 mg po_sr q12h from {t0} h", liver=liver,
                     titration=titration), t, pop)
        assert np.all(r.status == 0)
        i0 = np.searchsorted(t, t0)
        nrs = r.out["nrs"][:, i0:]
        sel = nrs[:, 0] >= 4.0
        # daily MME (doses given on each day), then OEI% over days 1-21 (Mercadante)
        mme = np.array([r.ct.mme_per_day(t[i0:], r.y[m, i0:]) for m in range(n_per_state)])
        oei.append(100.0 * (mme[:, 20] - mme[:, 0]) / (mme[:, 0] * 20.0))
        # saves fall on dose and decision times: the state there is the trough
        d = r.ct.dispositions["morphine"]
        cm = r.state("morphine.central")[:, i0:] / d.v1
        c6 = r.state("morphine.M6G.central")[:, i0:] / d.met_v
        ok = nrs[:, 1:] <= 4.0
        first = np.where(ok.any(axis=1), ok.argmax(axis=1) + 1, -1)
        relieved.append((first > 0) & (first <= 14))
        got = sel & (first > 0)
        idx = np.flatnonzero(got)
        drive.append(np.where(got, 0.0, np.nan))
        conc.append(np.where(got, 0.0, np.nan))
        drive[-1][idx] = (cm[idx, first[idx]] / ec + c6[idx, first[idx]] / ec6) / u_klepstad
        conc[-1][idx] = 1000.0 * cm[idx, first[idx]]
        oei[-1], relieved[-1] = oei[-1][sel], relieved[-1][sel]
        drive[-1], conc[-1] = drive[-1][sel], conc[-1][sel]
    cat = lambda xs: np.concatenate(xs)  # noqa: E731
    drive_all, conc_all = cat(drive), cat(conc)
    ok = ~np.isnan(drive_all)
    return Cohort(oei=cat(oei), relieved_2w=cat(relieved), drive_at_relief=drive_all[ok],
                  morphine_at_relief=conc_all[ok])


@pytest.fixture(scope="module")
def cohort():
    return titration_cohort(200, seed=11)


def _check_target_9(c):
    assert c.oei.size >= 150
    frac = np.mean(c.oei > 5.0)
    assert 0.30 <= frac <= 0.60
    assert np.mean(c.relieved_2w) >= 0.70
    return frac


def test_validation_target_9_opioid_escalation_index(cohort):
    """Target 9 (Lowe 2008, J Pain Symptom Manage 35:51): in advanced-cancer cohorts
    about 44 % of patients exceed an opioid escalation index (OEI%) of 5 %/day.

    Definition (Mercadante's OEI%): 100 x (MEDD on day 21 - MEDD on day 1) / (MEDD on
    day 1 x 20 days), MEDD = oral morphine equivalents given that day; the 3-week window
    is an assumption (the source's window is not in the reference). Cohort:
    ``titration_cohort`` (218 of 400 drawn have NRS >= 4). Model: 51 % exceed 5 %/day,
    inside the accepted band 30-60 % (the check). The same calibration brings 83 % to
    NRS <= 4 within 2 weeks (check: >= 70 %; assumption A7: opioid titration reaches
    NRS <= 4)."""
    _check_target_9(cohort)


def _check_target_10(c):
    assert c.drive_at_relief.size >= 100
    mean_drive = c.drive_at_relief.mean()
    assert 0.5 <= mean_drive <= 2.0
    spread = c.drive_at_relief.max() / c.drive_at_relief.min()
    assert spread >= 10.0
    return mean_drive, spread


def test_validation_target_10_exposure_at_satisfactory_relief(cohort):
    """Target 10 (Klepstad 2000, Eur J Clin Pharmacol 55:713): trough serum morphine at
    satisfactory relief after starting strong opioids averages 66 nmol/L (19 ng/mL), with
    M6G 257 nmol/L, and varies 33-fold between patients.

    Model (same cohort, trough at the first titration decision with NRS <= 4): the
    combined opioid drive of morphine and M6G averages 0.71 x that of the Klepstad
    trough (check: 0.5-2, a factor of 2), and spreads 23-fold between patients (check:
    >= 10-fold; from pain and disease variability alone, the treatment layer has no
    between-patient PK variability). The morphine trough alone averages 9.4 ng/mL (half
    of 19): the PK model (healthy-volunteer clearance, Mazoit 1987) predicts an M6G:
    morphine ratio of 15 after oral dosing where Klepstad's patients had 3.9, so the
    model reaches the same drive with less morphine and more M6G (docs/validation.md)."""
    _check_target_10(cohort)


@pytest.mark.slow
def test_validation_targets_9_and_10_hold_in_a_larger_cohort():
    c = titration_cohort(1000, seed=101)
    _check_target_9(c)
    _check_target_10(c)


# ============================================================ target 11: celiac plexus neurolysis

def neurolysis_cohort(n, seed, month=6.0):
    """Virtual patients with NRS >= 4 receive celiac plexus neurolysis at ``month``;
    NRS is compared with the pre-block NRS (responses, as clinical series report) and
    with the untreated course (relief)."""
    t0 = month * MONTH
    after = np.array([0, 1, DAY, WEEK, 2 * WEEK, 4 * WEEK, 8 * WEEK, 13 * WEEK, 26 * WEEK])
    t = np.unique(np.concatenate([np.arange(0.0, t0, 30 * DAY), t0 + after]))
    pop = model.sample_population(n, seed=seed)
    untreated = run(plan(), t, pop)
    block = run(plan(procedures=[("celiac_plexus_neurolysis", f"{t0} h")]), t, pop)
    i0 = np.searchsorted(t, t0)
    pre = untreated.out["nrs"][:, i0]
    sel = pre >= 4.0
    out = {}
    for h in after:
        i = np.searchsorted(t, t0 + h)
        out[h] = dict(reduction=(pre[sel] - block.out["nrs"][sel, i]) / pre[sel],
                      relief=untreated.out["nrs"][sel, i] - block.out["nrs"][sel, i])
    return out, int(sel.sum())


def _check_target_11(res, n):
    assert n >= 100
    resp_2w = np.mean(res[2 * WEEK]["reduction"] >= 0.30)
    assert 0.80 <= resp_2w <= 0.97
    still_3m = np.mean(res[13 * WEEK]["reduction"] > 0.0)
    assert still_3m >= 0.75
    r2 = np.median(res[2 * WEEK]["relief"])
    assert np.median(res[13 * WEEK]["relief"]) < r2
    assert np.median(res[26 * WEEK]["relief"]) < r2 / 3
    return resp_2w, still_3m


def test_validation_target_11_celiac_plexus_neurolysis():
    """Target 11 (Eisenberg 1995, Anesth Analg 80:290; PMC3756348): about 89 % of
    patients respond in the first 2 weeks; benefit lasts through month 3 in about 90 % of
    survivors; relief fades over 1-3+ months.

    Definitions: response = NRS >= 30 % below the pre-block NRS at 2 weeks (IMMPACT
    "moderately important"); benefit at 3 months = NRS still below the pre-block NRS.
    Cohort: 400 drawn, 217 with NRS >= 4 at month 6. Model: 89 % respond (check: 80-97 %;
    53 % reach >= 50 %), 85 % still below their pre-block pain at 3 months (check:
    >= 75 %); median relief against the untreated course falls from 3.3 NRS points at
    2 weeks to 56 % of that at 3 months and 12 % at 6 months (check: below the 2-week
    value at 3 months, below a third at 6 months)."""
    res, n = neurolysis_cohort(400, seed=5)
    _check_target_11(res, n)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22])
def test_validation_target_11_holds_in_larger_cohorts(seed):
    res, n = neurolysis_cohort(2000, seed=seed)
    _check_target_11(res, n)


# ============================================================ target 16: rescue doses

def test_validation_target_16_rescue_policy_triggers_in_a_plausible_fraction():
    """Target 16 (Deandrea 2014, J Pain Symptom Manage 47:57; PMC9023204): breakthrough
    pain in about 60 % of cancer-pain patients (40 % of outpatients, 80 % in hospices),
    median intensity 6.

    neurosim's NRS is background pain (no incident pain); a rescue policy gives a dose
    when that background pain reaches a threshold. Here: virtual patients with NRS >= 4
    at month 6 start oral morphine 30 mg SR every 12 h with daily titration, plus
    oral morphine 5 mg (scaled with the titration) whenever the hourly NRS is >= 6 (the
    median breakthrough intensity), at most hourly. Check: the fraction of patients given
    at least one rescue dose in the first week lies in 40-80 % (model 53 %, 102 of 200
    drawn). Episode counts are not compared: without incident pain, a patient whose
    background pain stays above the threshold is rescued every hour (docs/validation.md).
    """
    t0 = 6 * MONTH
    t = np.unique(np.concatenate([np.arange(0.0, t0, 30 * DAY), t0 + np.arange(0, 8) * DAY]))
    pop = model.sample_population(200, seed=9)
    titration = {"drug": "morphine", "every": "24 h", "start": f"{t0 + 24} h", "target_nrs": 4}
    rescue = {"drug": "morphine", "dose": "5 mg po", "threshold_nrs": 6, "check_every": "1 h",
              "min_interval": "1 h", "start": f"{t0} h"}
    r = run(plan(f"morphine 30 mg po_sr q12h from {t0} h", titration=titration, rescue=rescue),
            t, pop)
    assert np.all(r.status == 0)
    i0 = np.searchsorted(t, t0)
    sel = r.out["nrs"][:, i0] >= 4.0
    count = r.state("rescue0.count")[sel]
    given = count[:, -1] - count[:, i0]
    assert sel.sum() >= 80
    assert 0.40 <= np.mean(given > 0) <= 0.80


# ============================================================ target 17: late anti-NGF

def test_validation_target_17_late_anti_ngf_reverses_sprouting_and_pain():
    """Target 17 (Jimenez-Andrade 2010/2011; Sevcik 2005; preclinical): anti-NGF started
    late still lowers sprouting and pain behaviour; sprouting is reversible.

    Default patient, tanezumab 20 mg SC once at month 12 (untreated NRS 5.2). Checks:
    8 weeks later the sprouted fiber excess is at least halved (model: 78 % removed)
    and NRS is at least 0.5 points below the untreated course (model 1.21); the state is
    reversible: 26 weeks after the dose, with the antibody gone, fibers have re-sprouted
    to at least 90 % of the untreated excess (model 99 %) and the relief is gone
    (< 0.1 points). Not reproduced in magnitude: that anti-NGF beats acute morphine
    (Sevcik 2005) - a 10 mg IV morphine dose peaks at 1.65 points, more than late
    anti-NGF at 8 weeks, though it lasts hours, not months (docs/validation.md)."""
    t0 = 12 * MONTH
    after = np.array([0, 8 * WEEK, 26 * WEEK])
    t = np.unique(np.concatenate([np.arange(0.0, t0, 30 * DAY), t0 + after]))
    base = run(plan(), t)
    late = run(plan(f"tanezumab 20 mg sc once from {t0} h"), t)
    i8, i26 = np.searchsorted(t, t0 + 8 * WEEK), np.searchsorted(t, t0 + 26 * WEEK)
    excess = lambda r, i: r.out["fiber_density"][0, i] - 1.0  # noqa: E731
    assert excess(base, i8) > 0.0
    assert excess(late, i8) <= 0.5 * excess(base, i8)
    assert base.out["nrs"][0, i8] - late.out["nrs"][0, i8] >= 0.5
    assert excess(late, i26) >= 0.9 * excess(base, i26)
    assert abs(base.out["nrs"][0, i26] - late.out["nrs"][0, i26]) < 0.1
