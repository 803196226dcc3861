"""Simulate a scenario: natural history, treatment, outputs and metrics.

:func:`simulate_scenario` is the one verb of the high-level API::

    from neurosim.scenario import load_scenario
    from neurosim.simulation import simulate_scenario
    res = simulate_scenario(load_scenario("scenarios/morphine_fixed.toml"))
    res["nrs"]            # (n_patients, n_times), t = res.t in h from treatment start
    res.metrics()         # pain AUC, weekly NRS, responders, MME/day, side effects...
    res.plot()            # NRS and its four components
    res.to_hdf5("morphine.h5")

How a run goes
--------------
1. **Patients.** The scenario's patient (parameter overrides, then
   modifiers) or a virtual population drawn with the scenario's seed, or a
   parameter matrix passed in.
2. **Natural history** from diagnosis (the model's quasi-steady initial
   state) without treatment, until each patient's treatment start: a fixed
   time, or the first whole day with NRS at or above the presentation
   threshold (searched on a daily grid).
3. **Treatment.** The full system (disease model plus the scenario's
   compiled drug block) from ``-history`` to ``duration`` around the
   treatment start, with the dose events applied as jumps by the compiled
   dose hook (``neurosim.system``).
4. **Outputs** along the saved trajectory: the treatment slots at each
   save time, then NRS and its components, plasma biomarkers and the other
   model read-outs (:func:`neurosim.model.outputs`), opioid side effects
   and daily morphine milligram equivalents.

Tolerances
----------
Each state gets its own absolute tolerance, ``atol_i = rtol * scale_i``:
core states use :data:`neurosim.model.STATE_SCALES`; drug amounts (mg) the
largest single dose of that drug (for a rate, what it delivers in an hour);
effect-site concentrations the drug's EC50; fractions, counters and
multipliers 1. A drug is then followed as accurately as its effect needs
and no more, which keeps the many dose restarts of a year of q4h dosing
cheap.

The default relative tolerance :data:`neurosim.scenario.DEFAULT_RTOL`
(3e-5) was chosen by measurement against rtol = 1e-8 (same code, same
save times; the natural history before treatment start is always solved
at rtol 1e-8, with Rodas5P, so the presentation day does not move with
rtol). Largest NRS difference over all save times of 12 weeks of
treatment plus 4 weeks of history (measured 2026-11-27 with the solver of that day, which
replays the steps of the previous dose interval, docs/solver.md):

============  =====================  ============================================
rtol          default patient, every  100 patients of the virtual population,
              packaged scenario,      morphine titrated (daily titration and
              healthy and Child-      hourly rescue decisions read the NRS):
              Pugh B                  median / largest; patients above 0.01
============  =====================  ============================================
1e-2          0.22                   0.21 / 0.56; 100
3e-3          0.22                   0.21 / 0.52; 100
1e-3          0.22                   0.13 / 0.51; 61
3e-4          0.0025                 0.0012 / 0.47; 17
1e-4          0.0011                 0.00041 / 0.42; 8
3e-5          0.00059                0.00017 / 0.32; 4
1e-5          0.00024                0.000038 / 0.000098; 0
============  =====================  ============================================

Differences above 0.01 come from a titration or rescue decision taken on a
different day because the NRS was within the solver error of a threshold.
Titration drives the NRS towards its target, so decisions land near the
threshold and some patients flip at any tolerance in a large enough
population. The default was 1e-4 until the step replay made each step
spend the error the tolerance allows (8 of these 100 patients flipped at
1e-4 before it too, at a median of 0.00031); 3e-5 is more accurate than
that old default on every column, at about the same cost on this
scenario and 1.4x less on the reference virtual trial. Without a decision
in between, the default keeps the NRS within about 6e-4 of the reference;
pass ``rtol=1e-5`` (about 1.2x the time) where individual titration
histories matter.

``tests/test_simulation.py::test_default_rtol_keeps_nrs_within_0_01``
repeats the measurement on a small population.
"""
from __future__ import annotations

from . import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import math
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from . import model as _model
from . import system as _system
from ._progress import make_progress
from .errors import NeurosimKeyError, NeurosimValueError, did_you_mean
from .model import N_CORE, N_MODEL_PARAMS, N_SLOTS, SLOTS, STATES
from .model.simulate import LAND_ON_SAVES
from .scenario import Scenario, load_scenario
from .treatments import pk as _pk
from .units import HOURS_PER_DAY, HOURS_PER_WEEK

__all__ = ["simulate_scenario", "ScenarioResult", "METRICS", "SIDE_EFFECTS", "BIOMARKERS",
           "BIOMARKER_TIMES", "state_scales", "patient_parameters", "biomarker_snapshots"]

#: Opioid read-outs added to the model outputs: name, unit, description.
SIDE_EFFECTS = (
    ("opioid_drive", "1", "Opioid effect-site drive u (sum of Ce/EC50 over opioids)"),
    ("sedation", "0-1", "Opioid sedation score"),
    ("respiratory_depression", "0-1", "Opioid respiratory-depression score"),
    ("constipation", "0-1", "Opioid-induced constipation score"),
    ("opioid_tolerance", "1", "Opioid tolerance T (potency shift 1 + T)"),
    ("oih", "1", "Opioid-induced hyperalgesia state"),
    ("cumulative_mme", "mg", "Morphine milligram equivalents given since the start of the run"),
    ("side_effect_burden", "0-1",
     "Mean of sedation, respiratory depression and constipation at each time"),
)

#: Metrics of :meth:`ScenarioResult.metrics`: name, unit, description.
METRICS = (
    ("nrs_baseline", "0-10", "NRS at treatment start, before any treatment acts"),
    ("pain_auc", "NRS*d", "Area under the NRS curve from treatment start to the endpoint"),
    ("nrs_week4", "0-10", "Mean NRS over week 4 after treatment start (days 21-28)"),
    ("nrs_week8", "0-10", "Mean NRS over week 8 after treatment start (days 49-56)"),
    ("nrs_week12", "0-10", "Mean NRS over week 12 after treatment start (days 77-84)"),
    ("nrs_endpoint", "0-10", "Mean NRS over the last week before the endpoint"),
    ("pct_time_nrs_ge4", "%",
     "Share of the time from treatment start to the endpoint with NRS >= 4"),
    ("time_to_nrs4", "d",
     "Days from treatment start until the NRS rises to 4 (0 if it never falls below 4; "
     "NaN if it never reaches 4)"),
    ("time_to_nrs7", "d",
     "Days from treatment start until the NRS rises to 7 (0 if it never falls below 7; "
     "NaN if it never reaches 7)"),
    ("responder_30", "1",
     "IMMPACT moderate response: endpoint NRS at least 30 % below baseline (1 yes, 0 no)"),
    ("responder_50", "1",
     "IMMPACT substantial response: endpoint NRS at least 50 % below baseline (1 yes, 0 no)"),
    ("mme_per_day", "mg/d",
     "Mean daily morphine milligram equivalents over the whole days to the endpoint"),
    ("side_effect_burden", "0-1",
     "Time-mean of the side-effect burden (sedation, respiratory depression, "
     "constipation) to the endpoint"),
    ("sedation", "0-1", "Time-mean sedation score to the endpoint"),
    ("constipation", "0-1", "Time-mean constipation score to the endpoint"),
    ("opioid_days", "d", "Days up to the endpoint on which any opioid was given"),
    ("he_hazard_ratio", "1",
     "Hazard ratio of hepatic encephalopathy from opioid use in this liver state "
     "(Moon 2020; 1 without cirrhosis or opioids)"),
)

#: Biomarkers sampled as a clinician would (one blood draw or scan at a time):
#: metric prefix, the output it is read from, unit, words.
BIOMARKERS = (
    ("il6", "plasma_il6", "pg/mL", "Plasma IL-6"),
    ("tnf", "plasma_tnf", "pg/mL", "Plasma TNF-alpha"),
    ("ngf", "plasma_ngf", "pg/mL", "Plasma free NGF"),
    ("tumor_volume", "tumor_diameter", "mL",
     "Tumor volume (equivalent sphere, pi/6 x diameter^3)"),
)
#: Sampling times of the biomarker snapshots: suffix, h from treatment start, words.
BIOMARKER_TIMES = (
    ("baseline", 0.0, "at treatment start, before any treatment acts"),
    ("week4", 4 * HOURS_PER_WEEK, "at day 28 after treatment start (NaN if the run is shorter)"),
    ("week12", 12 * HOURS_PER_WEEK,
     "at day 84 after treatment start (NaN if the run is shorter)"),
)
METRICS = METRICS + tuple(
    (f"{prefix}_{when}", unit, f"{words} {text}")
    for prefix, _, unit, words in BIOMARKERS for when, _, text in BIOMARKER_TIMES)

_METRIC_NAMES = tuple(m[0] for m in METRICS)
_COMPONENTS = ("nrs_mechanical", "nrs_inflammatory", "nrs_ngf", "nrs_central")
_COMPONENT_LABELS = ("mechanical (capsule)", "inflammatory", "NGF (nerve growth)", "central")
_EPS = 1e-6  # h: a save time just before a day boundary, to read cumulative MME there
_HISTORY_RTOL = 1e-8  # rtol of the untreated natural history before treatment start
_HISTORY_METHOD = "rodas5p"  # its method (see _natural_history)
_HISTORY_WINDOW = 91  # days solved at a time while waiting for presentation


def _history_window_days(history_h: float) -> int:
    """Days of the natural history's windows under a presentation rule.

    At least the lead-in (``history``), so that a lead-in starts in the
    window of its presentation or the one before (see _natural_history).
    """
    return max(_HISTORY_WINDOW, int(round(history_h / HOURS_PER_DAY)))


# ----------------------------------------------------------------------------- compiled


@njit(cache=True)
def _slots_and_side_effects(t, y, p, slots, se):
    """Slot values and opioid side effects at each saved state of one patient."""
    n = p.shape[0]
    n_core = int(p[n - 2])
    off = int(p[n - 1])
    for i in range(t.shape[0]):
        _system.slot_values(t[i], y[i], p, slots[i])
        _pk.opioid_side_effects(y[i], p, n_core, off, se[i])


# ----------------------------------------------------------------------------- setup


def patient_parameters(scenario: Scenario, patients=None) -> np.ndarray:
    """Model parameter matrix of a scenario's patients.

    Parameters
    ----------
    scenario : Scenario
    patients : None, int or array_like (n, N_MODEL_PARAMS)
        ``None``: the scenario's population (one default patient with its
        overrides and modifiers, or ``[population] size`` patients drawn
        with its seed); an int: that many patients drawn from the virtual
        population with the scenario's seed and ``cv_scale`` (overrides held
        fixed, modifiers applied); a matrix: used as given (in table units),
        so the scenario's ``[[patient.modifiers]]`` on model parameters are
        not applied to it (apply them to the matrix yourself if wanted).

    Returns
    -------
    ndarray, shape (n_patients, N_MODEL_PARAMS)
    """
    from .model.parameters import (PARAMETER_INDEX, make_parameters, population_from_scores,
                                   sample_population)

    if patients is not None and not isinstance(patients, (int, np.integer)):
        P = np.array(patients, dtype=np.float64)
        if P.ndim == 1:
            P = P[None, :]
        if P.ndim != 2 or P.shape[1] != N_MODEL_PARAMS:
            raise NeurosimValueError(
                f"a patient matrix has shape (n_patients, {N_MODEL_PARAMS}) (model parameters "
                f"in table order, see 'neurosim params'); got shape {P.shape}.")
        if not np.all(np.isfinite(P)) or np.any(P < 0):
            raise NeurosimValueError("patient parameters must be finite and >= 0.")
        return np.ascontiguousarray(P)
    n = scenario.population_size if patients is None else int(patients)
    if n < 1:
        raise NeurosimValueError(f"the number of patients must be >= 1; got {n}.")
    base = make_parameters(scenario.parameter_overrides, warn=False)
    if n == 1 and (patients is None or scenario.population_size == 1):
        P = base[None, :].copy()
    elif scenario.population_correlation is None:
        seq = np.random.SeedSequence(scenario.seed)
        P = sample_population(n, seed=seq, cv_scale=scenario.cv_scale,
                              fixed=scenario.parameter_overrides or None)
    else:
        z, _ = population_scores(scenario, n)
        P = population_from_scores(z, cv_scale=scenario.cv_scale,
                                   fixed=scenario.parameter_overrides or None, warn=False)
    for m in scenario.modifiers:
        if m.parameter is not None:
            P[:, PARAMETER_INDEX[m.parameter]] *= m.factor
    return np.ascontiguousarray(P)


def population_scores(scenario: Scenario, n: int):
    """Random scores of a scenario's first ``n`` drawn patients, correlated as the file says.

    The model parameters' standard normal scores are those of
    :func:`neurosim.model.parameters.sample_population` with the scenario's
    seed (row ``i`` is patient ``i``); the drug factors' uniforms are those of
    :func:`neurosim.sweep.spec.draw_drug_factors` (patient ``i``'s own
    stream). With ``[[population.correlations]]`` the scores of the columns
    that take part in a correlation are mixed patient by patient (normal
    scores times the Cholesky factor of ``2 sin(pi r / 6)``,
    :func:`neurosim.sweep.spec.copula_columns`); the other columns are left
    exactly as drawn.

    Returns
    -------
    z : ndarray (n, N_MODEL_PARAMS)
        Normal scores of the model parameters (table order).
    U : ndarray (n, k)
        Uniform scores of the drug factors (``scenario.drug_variability`` order).
    """
    from scipy.special import ndtr, ndtri

    from .sweep.spec import copula_columns, drug_uniforms

    n = int(n)
    z = np.random.default_rng(np.random.SeedSequence(scenario.seed)).standard_normal(
        (n, N_MODEL_PARAMS))
    U = drug_uniforms(scenario.drug_variability, scenario.seed, n)
    C = scenario.population_correlation
    if C is not None:
        cols, L = copula_columns(C)
        pc, dc = cols[cols < N_MODEL_PARAMS], cols[cols >= N_MODEL_PARAMS] - N_MODEL_PARAMS
        V = np.concatenate([z[:, pc], ndtri(U[:, dc])], axis=1) @ L.T
        z[:, pc] = V[:, :pc.size]
        U[:, dc] = np.clip(ndtr(V[:, pc.size:]), 2.0 ** -54, 1.0 - 2.0 ** -53)
    return z, U


def state_scales(ct, plan) -> np.ndarray:
    """Typical magnitude of each drug state, for per-state absolute tolerances.

    Parameters
    ----------
    ct : CompiledTreatments
    plan : TreatmentPlan

    Returns
    -------
    ndarray, shape (ct.n_states,)
        mg states: the drug's largest single dose (a rate: what it delivers
        in one hour); mg/h states: the largest rate; concentration states
        (mg/L): the smallest EC50 acting there (opioid or effect), else
        dose / V1; everything else 1.
    """
    lib = plan.library
    dose, rate = {}, {}
    for r in plan.regimens:
        amount = r.amount if r.amount > 0 else r.rate * 1.0
        dose[r.drug] = max(dose.get(r.drug, 0.0), amount)
        rate[r.drug] = max(rate.get(r.drug, 0.0), r.rate)
    for r in plan.rescues:
        dose[r.drug] = max(dose.get(r.drug, 0.0), r.amount)
    opioid_dose = max([dose.get(d, 0.0) * 100.0 for d in dose if lib.drug(d).is_opioid],
                      default=1.0)
    out = np.ones(ct.n_states)
    for j, (name, unit) in enumerate(zip(ct.state_names, ct.state_units)):
        parts = name.split(".")
        drug = parts[0]
        if drug == "opioid":
            out[j] = opioid_dose if unit == "mg" else 1.0
            continue
        if drug not in dose:
            continue
        d = lib.drug(drug)
        scale = dose[drug]
        if unit == "mg":
            out[j] = scale
        elif unit == "mg/h":
            out[j] = max(rate[drug], 1e-12)
        elif unit == "mg/L":
            cands = []
            if len(parts) == 3 and d.metabolite is not None:
                if d.metabolite.opioid_ec50 is not None:
                    cands.append(d.metabolite.opioid_ec50.to())
            else:
                if d.is_opioid:
                    cands.append(d.opioid_ec50.to())
                cands += [e.ec50.to() for e in d.effects
                          if e.site == "effect" and e.kind != "concentration"]
            v1 = ct.dispositions[drug].v1
            out[j] = min(cands) if cands else scale / v1
        if not (out[j] > 0 and math.isfinite(out[j])):
            out[j] = 1.0
    return out


def _grid(sc: Scenario):
    """Public save times and the internal ones (with points just before each day)."""
    per_day = int(round(HOURS_PER_DAY / sc.output_interval))
    k0 = -int(round(sc.history / HOURS_PER_DAY)) * per_day
    k1 = int(math.floor(sc.duration / HOURS_PER_DAY * per_day + 1e-9))
    t = np.arange(k0, k1 + 1) * (HOURS_PER_DAY / per_day)
    # whole days are exact multiples of 24 h whatever the interval's rounding
    days = np.arange(k0, k1 + 1) % per_day == 0
    t[days] = np.round(t[days] / HOURS_PER_DAY) * HOURS_PER_DAY
    if sc.duration - t[-1] > 1e-9 * max(1.0, sc.duration):
        t = np.append(t, sc.duration)
    n_days = int(math.floor(sc.duration / HOURS_PER_DAY + 1e-9))
    bounds = np.arange(n_days + 1) * HOURS_PER_DAY
    before = bounds - _EPS
    if sc.history == 0:
        before = before[1:]
    t_int = np.union1d(t, before)
    pub = np.searchsorted(t_int, t)
    pre = np.searchsorted(t_int, before)
    return t, t_int, pub, pre, n_days


def _solve(y0, t_eval, p, ct, atol, rtol, threads, doses, chunk, progress, method="auto"):
    """Solve member chunks, reporting progress; returns y, status, t_reached, steps."""
    from .solver import solve_ensemble

    n = y0.shape[0]
    y = None
    status = np.zeros(n, dtype=np.int64)
    reached = np.zeros(n)
    steps = np.zeros(n, dtype=np.int64)
    max_steps = 200_000 + 100 * (0 if doses is None else len(doses[0]))
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        pp = p if p.ndim == 1 else p[a:b]
        try:
            res = solve_ensemble(_system.system_rhs, y0[a:b], t_eval, pp,
                                 jac=_system.system_jac, dose_hook=_system.system_dose_hook,
                                 doses=doses, rtol=rtol, atol=atol, threads=threads,
                                 max_steps=max_steps, autonomous=True, method=method,
                                 # drug states never depend on the disease states
                                 block_split=N_CORE if y0.shape[1] > N_CORE else None,
                                 # linear PK compartments in closed form between doses
                                 # (the disease states alone have none: one kernel serves
                                 # both phases, so a fresh install compiles it once)
                                 linear="auto", land_on_saves=LAND_ON_SAVES)
        except (SystemError, ArithmeticError) as exc:
            # An arithmetic exception inside the compiled model (e.g. 0/0 in a Hill
            # function with an absurd exponent) surfaces from the parallel kernel.
            cause = exc.__cause__ or exc.__context__ or exc
            raise NeurosimValueError(
                f"the simulation stopped inside the compiled model ({type(cause).__name__}: "
                f"{cause}). This comes from extreme numbers in the scenario or the drug "
                "tables (e.g. a Hill coefficient of 1e300 or a zero volume); check them."
            ) from None
        if a == 0 and b == n:
            y = res.y  # one chunk: no copy
        else:
            if y is None:
                y = np.empty((n, t_eval.size, y0.shape[1]))
            y[a:b] = res.y
        status[a:b] = res.status
        reached[a:b] = res.t_reached
        steps[a:b] = res.stats["n_steps"]
        if progress is not None:
            progress.update(b - a)
    return y, status, reached, steps


def _status_messages(status, reached, phase) -> list[str]:
    from .solver.api import Status

    out = []
    for st, tr in zip(status, reached):
        if st == 0:
            out.append("success")
        else:
            s = Status(int(st))
            out.append(f"{phase}: {s.name} at t = {tr:.6g} h: {s.message}")
    return out


# ----------------------------------------------------------------------------- the verb


def simulate_scenario(scenario, *, patients=None, threads=None, progress=None,
                      rtol: float | None = None, history_cache: dict | None = None,
                      drug_factors: dict | None = None) -> "ScenarioResult":
    """Simulate a scenario for one patient or a population.

    Parameters
    ----------
    scenario : Scenario or str or Path
        A scenario, or a scenario file to load.

    Other Parameters
    ----------------
    patients : None, int or array_like, shape (n_patients, N_MODEL_PARAMS)
        Who is treated (see :func:`patient_parameters`): default the
        scenario's own patient or population; an int draws that many from
        the virtual population with the scenario's seed; a matrix of model
        parameters (table units, e.g. from
        :func:`neurosim.model.sample_population`) puts the same patients
        through several scenarios.
    threads : int, optional
        Solver threads (default: all Numba threads). Results do not depend
        on it.
    progress : None, "text", "tqdm" or callable
        Progress over patients (see :func:`neurosim._progress.make_progress`);
        silent by default.
    rtol : float, optional
        Relative tolerance; default the scenario's ``[simulation] rtol``.
    history_cache : dict, optional
        A dict (initially empty) in which the untreated natural history is
        kept, keyed by the patients' parameters and the timeline settings
        (``treatment_start``, ``presentation_limit``, ``history``). The
        natural history does not depend on the treatments or the liver
        state, so simulations that differ only in those (comparisons in the
        same patients, an interactive explorer) solve it once. Results are
        the same with or without it.
    drug_factors : dict, optional
        Between-patient variability of drug quantities: ``"drug.quantity"``
        (a quantity of :data:`neurosim.treatments.pk.DRUG_FACTORS`, e.g.
        ``"morphine.cl"``) -> factor per patient, shape (n_patients,). Each
        patient's compiled value (after the liver state and modifiers) is
        multiplied by its factor. Drugs this scenario does not give are
        ignored, so one set of factors serves every arm of a trial. Default:
        drawn from the scenario's ``[population.drugs]`` (patient ``i`` from
        its own stream, :func:`neurosim.sweep.spec.draw_drug_factors`) when
        the patients are a population (``[population] size`` > 1, an int,
        or a matrix); none for the scenario's single default patient. ``{}``
        turns them off.

    Returns
    -------
    ScenarioResult
        Times in h from treatment start; outputs by name with shape
        (n_patients, n_times); metrics; per-patient status.

    Notes
    -----
    A patient whose integration fails keeps NaN outputs from the failure on
    and a status message saying what to try; the others are unaffected.
    Same scenario and seed give the same numbers on any number of threads.
    """
    t_wall = time.perf_counter()
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    rtol = sc.rtol if rtol is None else float(rtol)
    P = patient_parameters(sc, patients)
    n = P.shape[0]
    if drug_factors is None and sc.drug_variability and not (
            patients is None and sc.population_size == 1):
        drug_factors = _population_drug_factors(sc, patients, n)
    drug_factors = _drug_factor_arrays(drug_factors, n)
    import numba

    nthreads = numba.config.NUMBA_NUM_THREADS if threads is None else int(threads)
    rep = make_progress(progress, total=2 * n, desc=f"{sc.name}")
    if not rep.shows:
        # one parallel loop over every patient: threads share the work out to
        # the end instead of waiting for each other at every chunk
        chunk = max(n, 1)
    else:
        chunk = n if n <= 4 * nthreads else max(4 * nthreads, -(-n // 20))
        chunk = min(chunk, 256)
    try:
        y_lead, start, presented, st1, msg1 = _cached_history(sc, P, threads, rtol, chunk,
                                                               rep, history_cache)
        res = _treat(sc, P, y_lead, threads, rtol, chunk, rep, drug_factors)
    finally:
        rep.close()
    status = np.where(st1 != 0, st1, res["status"])
    messages = [m1 if s1 != 0 else m2 for s1, m1, m2 in zip(st1, msg1, res["messages"])]
    from . import __version__

    info = {"neurosim_version": __version__, "rtol": rtol,
            "wall_time_s": time.perf_counter() - t_wall,
            "solver_steps": res["steps"].tolist()}
    return ScenarioResult(
        name=sc.name, description=sc.description, liver=sc.liver, scenario_text=sc.text,
        source=sc.source, seed=sc.seed, t=res["t"], data=res["data"], units=res["units"],
        descriptions=res["descriptions"], states=res["states"],
        state_names=res["state_names"], state_units=res["state_units"], slots=res["slots"],
        parameters=P, drug_factors=drug_factors, treatment_start=start, presented=presented,
        nrs_baseline=res["baseline"], mme_daily=res["mme_daily"], status=status,
        status_messages=messages, safety=res["safety"], treatments=res["treatments"],
        endpoint=sc.endpoint, duration=sc.duration, history=sc.history,
        output_interval=sc.output_interval, presentation_nrs=sc.presentation_nrs,
        info=info)


def _cached_history(sc, P, threads, rtol, chunk, rep, cache):
    """:func:`_natural_history`, looked up in (and stored into) ``cache`` when given."""
    if cache is None:
        return _natural_history(sc, P, threads, rtol, chunk, rep)
    key = (P.shape, P.tobytes(), sc.presentation_nrs, sc.treatment_start,
           sc.presentation_limit, sc.history, min(rtol, _HISTORY_RTOL))
    hit = cache.get(key)
    if hit is None:
        hit = _natural_history(sc, P, threads, rtol, chunk, rep)
        cache[key] = hit
    else:
        rep.update(P.shape[0])
    y_lead, start, presented, st, msg = hit
    return y_lead.copy(), start.copy(), presented.copy(), st.copy(), list(msg)


def _natural_history(sc, P, threads, rtol, chunk, rep):
    """Untreated course from diagnosis to each patient's lead-in start.

    Returns the core state at ``treatment start - history``, the start (h
    after diagnosis), whether the patient presented (rule reached), status.
    """
    from .treatments import TreatmentPlan

    n = P.shape[0]
    y_diag = _model.initial_state(P)
    ct0 = TreatmentPlan(library=sc.library).compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS,
                                                    t_end=1.0)
    p0 = ct0.parameters(P)
    # The untreated course is smooth and cheap; solving it tightly whatever the
    # scenario's rtol keeps the presentation day independent of that choice. At
    # that tolerance the fifth-order Rosenbrock method pays: on the reference
    # trial's population it took half the time of the automatic choice and came
    # closer to an rtol 1e-11 solution (median 3e-9 vs 1.5e-8 relative).
    rtol = min(rtol, _HISTORY_RTOL)
    atol = _model.default_atol(rtol)
    if sc.presentation_nrs is None:
        start = np.full(n, sc.treatment_start)
        lead = sc.treatment_start - sc.history
        if lead <= 0:
            rep.update(n)
            return y_diag, start, np.ones(n, bool), np.zeros(n, np.int64), ["success"] * n
        y, st, reached, _ = _solve(y_diag, np.array([0.0, lead]), p0, ct0, atol, rtol, threads,
                                   None, chunk, rep, _HISTORY_METHOD)
        return y[:, -1, :], start, np.ones(n, bool), st, _status_messages(st, reached,
                                                                          "natural history")
    n_days = int(math.floor(sc.presentation_limit / HOURS_PER_DAY + 1e-9))
    first = int(round(sc.history / HOURS_PER_DAY))
    # The course is solved in windows of _HISTORY_WINDOW days (daily output),
    # each from where the last one ended, for the patients who have not
    # presented yet: most present within months of a limit of years. The
    # windows are fixed days, so a patient's course does not depend on who else
    # is in the batch. The lead-in starts `first` days before presentation: with
    # windows at least that long, only the previous window's days must be kept.
    w = _history_window_days(sc.history)
    y_lead = np.full((n, y_diag.shape[1]), np.nan)
    st = np.zeros(n, dtype=np.int64)
    reached = np.zeros(n)
    day = np.full(n, n_days)
    presented = np.zeros(n, dtype=bool)
    active = np.arange(n)
    y_now = y_diag
    y_prev = None  # the previous window's days for the active patients
    a = 0
    while a < n_days and active.size:
        b = min(n_days, a + w)
        t = np.arange(a, b + 1) * HOURS_PER_DAY
        ya, sta, ra, _ = _solve(y_now, t, p0[active], ct0, atol, rtol, threads, None, chunk, None,
                                _HISTORY_METHOD)
        st[active] = sta
        reached[active] = ra
        nrs = _model.outputs(ya, P[active][:, None, :], names=["nrs"])["nrs"]
        lo = max(first - a, 0)  # presentation counts from the end of the lead-in
        ok = nrs[:, lo:] >= sc.presentation_nrs
        now = ok.any(axis=1)
        day_now = a + lo + np.argmax(ok, axis=1)
        last = b == n_days
        done = now | (sta != 0) | last
        rows = np.flatnonzero(done)
        d = np.where(now[rows], day_now[rows], n_days)
        day[active[rows]] = d
        presented[active[rows]] = now[rows]
        # the lead-in start's day within this window (< 0: in the previous one;
        # past its end: a failed patient, whose lead-in state stays NaN)
        k = d - first - a
        here = (k >= 0) & (k <= b - a)
        y_lead[active[rows[here]]] = ya[rows[here], k[here]]
        before = k < 0
        if before.any() and y_prev is not None:
            y_lead[active[rows[before]]] = y_prev[rows[before], k[before] + w]
        keep = ~done
        rep.update(int(rows.size))
        active = active[keep]
        y_prev = ya[keep]
        y_now = ya[keep, -1, :]
        a = b
    rep.update(int(active.size))
    start = day * HOURS_PER_DAY
    # a patient whose history failed keeps NaN; start them at diagnosis for the record
    bad = ~np.all(np.isfinite(y_lead), axis=1)
    y_lead[bad] = y_diag[bad]
    return y_lead, start, presented, st, _status_messages(st, reached, "natural history")


def _treat(sc, P, y_lead, threads, rtol, chunk, rep, drug_factors=None):
    """The treated phase and every output."""
    plan = sc.plan
    ct = plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=sc.duration)
    n = P.shape[0]
    p = ct.parameters(P)
    _scale_drugs(ct, p, drug_factors)
    y0 = np.concatenate([y_lead, np.broadcast_to(ct.y0, (n, ct.n_states))], axis=1)
    t, t_int, pub, pre, n_days = _grid(sc)
    atol = rtol * np.concatenate([_model.STATE_SCALES, state_scales(ct, plan)])
    doses = ct.doses if len(ct.doses[0]) else None
    # the lead-in starts at -history: shift nothing, the dose table already counts from 0
    y, st, reached, steps = _solve(y0, t_int, p, ct, atol, rtol, threads, doses, chunk, rep)
    messages = _status_messages(st, reached, "treatment")

    T = t.size
    yp = y[:, pub, :]
    slots = np.empty((n, T, N_SLOTS))
    se = np.empty((n, T, 7))
    for m in range(n):
        _slots_and_side_effects(t, np.ascontiguousarray(yp[m]), p[m], slots[m], se[m])
    out = _model.outputs(yp[:, :, :N_CORE], P[:, None, :], slots)
    units = {o.name: o.unit for o in _model.OUTPUTS}
    descriptions = {o.name: o.description for o in _model.OUTPUTS}
    # side effects: u, sedation, respiratory depression, constipation, T, OIH, cumulative MME
    for k, (name, unit, desc) in enumerate(SIDE_EFFECTS[:7]):
        out[name] = se[:, :, k].copy()
        units[name], descriptions[name] = unit, desc
    out["side_effect_burden"] = (out["sedation"] + out["respiratory_depression"]
                                 + out["constipation"]) / 3.0
    units["side_effect_burden"], descriptions["side_effect_burden"] = SIDE_EFFECTS[7][1:]

    i0 = int(np.searchsorted(t, 0.0))
    baseline = _model.outputs(yp[:, i0, :N_CORE], P, names=["nrs"])["nrs"]

    # daily MME from the cumulative state just before each day boundary
    mme_daily = np.zeros((n, n_days))
    j = ct.index.get("opioid.cumulative_mme")
    if j is not None and n_days > 0:
        cum = y[:, pre, j]
        if sc.history == 0:
            cum = np.concatenate([y0[:, j:j + 1], cum], axis=1)
        mme_daily = np.diff(cum, axis=1)[:, :n_days]

    safety = [dict(f) for f in ct.warnings]
    return dict(t=t, data=out, units=units, descriptions=descriptions,
                states=yp if sc.save_states else None,
                state_names=[s.name for s in STATES] + list(ct.state_names),
                state_units=[s.unit for s in STATES] + list(ct.state_units),
                slots=slots if sc.save_states else None, baseline=baseline,
                mme_daily=mme_daily, status=st, messages=messages, steps=steps,
                safety=safety, treatments=plan.describe())


def _population_drug_factors(sc, patients, n: int) -> dict:
    """``[population.drugs]`` factors of the patients (drawn, or rows of a given matrix)."""
    C = sc.population_correlation
    if C is None:
        from .sweep.spec import draw_drug_factors

        return draw_drug_factors(sc.drug_variability, sc.seed, n)
    matrix = patients is not None and not isinstance(patients, (int, np.integer))
    if matrix and np.any(C[:N_MODEL_PARAMS, N_MODEL_PARAMS:] != 0.0):
        raise NeurosimValueError(
            f"{sc.source}: [[population.correlations]] ties drug factors to model parameters, "
            "which holds for patients neurosim draws (patients=N), not for a given patient "
            "matrix; give the factors yourself (drug_factors=...) or draw the patients.")
    _, U = population_scores(sc, n)
    return {d.name: d.ppf(U[:, j]) for j, d in enumerate(sc.drug_variability)}


def _drug_factor_arrays(drug_factors, n: int) -> dict:
    """``drug_factors`` checked (``"drug.quantity"`` names, one value or one per patient)
    as (n,) float arrays."""
    out = {}
    for name, factor in (drug_factors or {}).items():
        if not str(name).rpartition(".")[0]:
            raise NeurosimValueError(f"drug factor {name!r}: name it 'drug.quantity', e.g. "
                                     "'morphine.cl'.")
        f = np.asarray(factor, dtype=np.float64)
        if f.shape not in ((), (n,)):
            raise NeurosimValueError(f"drug factor {name!r}: one value per patient ({n}); "
                                     f"got shape {f.shape}.")
        out[str(name)] = np.broadcast_to(f, (n,)).copy()
    return out


def _scale_drugs(ct, p, drug_factors) -> None:
    """Apply per-patient drug factors (``"drug.quantity"`` -> (n,)) to ``p`` in place;
    drugs these treatments do not give are skipped."""
    for name, factor in (drug_factors or {}).items():
        drug, _, quantity = name.rpartition(".")
        if drug in ct.drugs:
            ct.scale_drug(p, drug, quantity, factor)


# ----------------------------------------------------------------------------- metrics


def _interp_at(t, x, s):
    """Linear interpolation of ``x[..., :]`` (sampled at ``t``) at the time ``s``."""
    if s < t[0] - 1e-9 or s > t[-1] + 1e-9:
        return np.full(x.shape[:-1], np.nan)
    k = int(np.clip(np.searchsorted(t, s, side="right") - 1, 0, t.size - 2))
    w = (s - t[k]) / (t[k + 1] - t[k])
    return x[..., k] * (1.0 - w) + x[..., k + 1] * w


def _clip(t, x, a, b):
    """Samples of the piecewise-linear ``x`` restricted to [a, b], ends included."""
    inside = (t > a) & (t < b)
    ts = np.concatenate([[a], t[inside], [b]])
    xs = np.concatenate([_interp_at(t, x, a)[..., None], x[..., inside],
                         _interp_at(t, x, b)[..., None]], axis=-1)
    # C order: a sum over time then adds each patient's samples in the same order
    # whatever the number of patients (NumPy sums other layouts in another order)
    return ts, np.ascontiguousarray(xs)


def window_mean(t, x, a, b):
    """Time-mean of the piecewise-linear interpolant of ``x`` over [a, b].

    Parameters
    ----------
    t : ndarray (n_times,)
        Sample times (h).
    x : ndarray (..., n_times)
    a, b : float
        Window (h), ``a < b``; NaN when it leaves the sampled span.
    """
    if b > t[-1] + 1e-9 or a < t[0] - 1e-9:
        return np.full(x.shape[:-1], np.nan)
    ts, xs = _clip(t, x, a, b)
    return np.trapezoid(xs, ts, axis=-1) / (b - a)


def fraction_above(t, x, threshold, a, b):
    """Share of [a, b] during which the piecewise-linear ``x`` is >= ``threshold``."""
    ts, xs = _clip(t, x, a, b)
    x0, x1 = xs[..., :-1], xs[..., 1:]
    dt = np.diff(ts)
    hi0, hi1 = x0 >= threshold, x1 >= threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        down = np.where(hi0 & ~hi1, (x0 - threshold) / (x0 - x1), 0.0)
        up = np.where(~hi0 & hi1, (x1 - threshold) / (x1 - x0), 0.0)
    frac = np.where(hi0 & hi1, 1.0, down + up)
    frac = np.where(np.isnan(x0) | np.isnan(x1), np.nan, frac)
    return np.sum(frac * dt, axis=-1) / (b - a)


def time_to_reach(t, x, threshold):
    """Time (same unit as ``t``, from ``t[0]``) until ``x`` rises to ``threshold``.

    ``x`` (1-D) is piecewise linear between samples. If it starts at or
    above the threshold, the time of its first return to the threshold
    after falling below it, or 0 if it never falls below; NaN if it never
    reaches the threshold (or contains NaN before doing so).
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0 or np.isnan(x[0]):
        return math.nan
    k = 0
    if x[0] >= threshold:
        below = np.flatnonzero(x < threshold)
        if below.size == 0:
            return 0.0 if not np.any(np.isnan(x)) else math.nan
        k = int(below[0])
    rest = x[k:]
    hit = np.flatnonzero(rest >= threshold)
    nan = np.flatnonzero(np.isnan(rest))
    if hit.size == 0 or (nan.size and nan[0] < hit[0]):
        return math.nan
    j = k + int(hit[0])
    x0, x1 = x[j - 1], x[j]
    tc = t[j - 1] + (threshold - x0) / (x1 - x0) * (t[j] - t[j - 1])
    return float(tc - t[0])


def biomarker_snapshots(t, outputs: dict, n_patients: int | None = None) -> dict:
    """Biomarkers at the clinician's sampling times (:data:`BIOMARKER_TIMES`).

    Parameters
    ----------
    t : ndarray (n_times,)
        h from treatment start.
    outputs : dict of str -> ndarray (n_patients, n_times)
        Trajectories holding the outputs named in :data:`BIOMARKERS`
        (``plasma_il6``, ``plasma_tnf``, ``plasma_ngf``, ``tumor_diameter``);
        a missing one gives NaN.
    n_patients : int, optional
        Number of patients (default: from the first trajectory given).

    Returns
    -------
    dict of str -> ndarray (n_patients,)
        ``<marker>_<time>`` (``il6_baseline``, ``ngf_week12``, ...): the
        piecewise-linear trajectory read at the sampling time; NaN when the
        time lies outside the saved span. Tumor volume (mL) is the
        equivalent sphere of the diameter (cm): pi/6 d^3.
    """
    t = np.asarray(t, dtype=float)
    if n_patients is None:
        first = next((np.atleast_2d(outputs[src]) for _, src, _, _ in BIOMARKERS
                      if src in outputs), None)
        n_patients = 0 if first is None else first.shape[0]
    out = {}
    for prefix, src, _, _ in BIOMARKERS:
        x = outputs.get(src)
        for when, at, _ in BIOMARKER_TIMES:
            if x is None:
                out[f"{prefix}_{when}"] = np.full(n_patients, np.nan)
                continue
            v = _interp_at(t, np.atleast_2d(np.asarray(x, dtype=float)), at)
            if src == "tumor_diameter":
                v = (np.pi / 6.0) * v * v * v
            out[f"{prefix}_{when}"] = v
    return out


def compute_metrics(t, nrs, burden, sedation, constipation, baseline, mme_daily, endpoint,
                    liver, biomarkers: dict | None = None) -> dict:
    """Scenario metrics from trajectories (the formulas of :data:`METRICS`).

    Parameters
    ----------
    t : ndarray (n_times,)
        h from treatment start (0 must be a sample).
    nrs, burden, sedation, constipation : ndarray (n_patients, n_times)
    baseline : ndarray (n_patients,)
        NRS at treatment start without treatment.
    mme_daily : ndarray (n_patients, n_days)
        MME given in day k = [24 k, 24 (k + 1)) h.
    endpoint : float
        End of the metrics window (h).
    liver : str
        Liver state (for the hepatic-encephalopathy hazard ratio).
    biomarkers : dict of str -> ndarray (n_patients, n_times), optional
        The trajectories of :data:`BIOMARKERS` (``plasma_il6``,
        ``plasma_tnf``, ``plasma_ngf``, ``tumor_diameter``) for the
        biomarker snapshots (:func:`biomarker_snapshots`); without them
        those metrics are NaN.

    Returns
    -------
    dict of str -> ndarray (n_patients,)
        Every metric of :data:`METRICS`. For a patient whose simulation
        failed every metric is NaN except the baseline values (NRS and
        biomarkers at treatment start).
    """
    from .treatments.liver import hepatic_encephalopathy_risk

    nrs = np.atleast_2d(nrs)
    n = nrs.shape[0]
    m = {"nrs_baseline": np.asarray(baseline, dtype=float).copy()}
    m["pain_auc"] = window_mean(t, nrs, 0.0, endpoint) * endpoint / HOURS_PER_DAY
    for w in (4, 8, 12):
        m[f"nrs_week{w}"] = window_mean(t, nrs, (w - 1) * HOURS_PER_WEEK, w * HOURS_PER_WEEK)
    a = max(0.0, endpoint - HOURS_PER_WEEK)
    end = window_mean(t, nrs, a, endpoint)
    m["nrs_endpoint"] = end
    m["pct_time_nrs_ge4"] = 100.0 * fraction_above(t, nrs, 4.0, 0.0, endpoint)
    after = t >= 0.0
    for thr in (4, 7):
        m[f"time_to_nrs{thr}"] = np.array(
            [time_to_reach(t[after], nrs[i, after], float(thr)) / HOURS_PER_DAY
             for i in range(n)])
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(m["nrs_baseline"] > 0,
                             (m["nrs_baseline"] - end) / m["nrs_baseline"], np.nan)
    for pct in (30, 50):
        m[f"responder_{pct}"] = np.where(np.isnan(reduction), np.nan,
                                         (reduction >= pct / 100.0 - 1e-12).astype(float))
    days = int(math.floor(endpoint / HOURS_PER_DAY + 1e-9))
    mme = np.ascontiguousarray(np.asarray(mme_daily, dtype=float)[:, :days])
    m["mme_per_day"] = mme.mean(axis=1) if days > 0 else np.zeros(n)
    m["side_effect_burden"] = window_mean(t, burden, 0.0, endpoint)
    m["sedation"] = window_mean(t, sedation, 0.0, endpoint)
    m["constipation"] = window_mean(t, constipation, 0.0, endpoint)
    m["opioid_days"] = np.sum(mme > 0, axis=1).astype(float)
    # the packaged library is parsed once per process; few distinct day counts
    from .scenario import _base_library

    lib = _base_library()
    seen: dict = {}
    for d in m["opioid_days"].tolist():
        if d not in seen:
            seen[d] = hepatic_encephalopathy_risk(d, liver, lib)["hazard_ratio"]
    m["he_hazard_ratio"] = np.array([seen.get(d, math.nan) for d in m["opioid_days"].tolist()])
    m.update(biomarker_snapshots(t, biomarkers or {}, n))
    failed = np.any(np.isnan(nrs[:, t >= 0]), axis=1)
    for k in m:
        if not (k == "nrs_baseline" or k.endswith("_baseline")):
            m[k] = np.where(failed, np.nan, m[k])
    return {k: m[k] for k in _METRIC_NAMES}


# ----------------------------------------------------------------------------- results


@dataclass(eq=False, repr=False)
class ScenarioResult:
    """Result of :func:`simulate_scenario`.

    Attributes
    ----------
    name, description, liver : str
        Scenario name, description and liver state.
    t : ndarray, shape (n_times,)
        Save times, **h from treatment start** (negative: the untreated
        history). See :attr:`t_days`, :attr:`t_weeks`.
    data : dict of str -> ndarray (n_patients, n_times)
        Outputs by name (also ``res["nrs"]``): NRS and its components,
        plasma biomarkers and model read-outs (:data:`neurosim.model.OUTPUTS`),
        opioid side effects (:data:`SIDE_EFFECTS`).
    units, descriptions : dict of str -> str
        Of every output.
    states : ndarray (n_patients, n_times, n_states) or None
        Full state (core then drug states); None when the scenario set
        ``save_states = false``. ``res["tumor_volume"]`` reads one.
    state_names, state_units : list of str
    slots : ndarray (n_patients, n_times, N_SLOTS) or None
        Treatment slot values (``res["slot.spinal"]``).
    parameters : ndarray (n_patients, N_MODEL_PARAMS)
        Model parameters of each patient (table units).
    drug_factors : dict of str -> ndarray (n_patients,)
        Factors on drug quantities of each patient (``"morphine.cl"``; empty
        when none were applied).
    treatment_start : ndarray (n_patients,)
        Treatment start, h after diagnosis.
    presented : ndarray of bool (n_patients,)
        Whether the presentation rule was met (False: started at the
        presentation limit).
    nrs_baseline : ndarray (n_patients,)
        NRS at treatment start before treatment.
    mme_daily : ndarray (n_patients, n_days)
        MME given on day k after treatment start, ``[24 k, 24 (k + 1))`` h (mg).
    status : ndarray of int (n_patients,)
        0 on success (:class:`neurosim.solver.Status` codes).
    status_messages : list of str
        "success" or what failed and what to try.
    safety : list of dict
        Safety flags of the treatments in this liver state (``drug``,
        ``severity``, ``message``, ``source``).
    treatments : str
        The treatments in words.
    endpoint, duration, history, output_interval : float
        h.
    scenario_text : str
        The scenario (TOML) that was run.
    info : dict
        neurosim version, rtol, wall time, solver steps, and (after
        :meth:`from_hdf5`) the file's metadata.
    """

    name: str
    description: str
    liver: str
    scenario_text: str
    source: str
    seed: int
    t: np.ndarray
    data: dict
    units: dict
    descriptions: dict
    states: np.ndarray | None
    state_names: list
    state_units: list
    slots: np.ndarray | None
    parameters: np.ndarray
    treatment_start: np.ndarray
    presented: np.ndarray
    nrs_baseline: np.ndarray
    mme_daily: np.ndarray
    status: np.ndarray
    status_messages: list
    safety: list
    treatments: str
    endpoint: float
    duration: float
    history: float
    output_interval: float
    presentation_nrs: float | None = None
    info: dict = field(default_factory=dict)
    drug_factors: dict = field(default_factory=dict)

    # -- access -----------------------------------------------------------------------

    @property
    def n_patients(self) -> int:
        """Number of patients simulated."""
        return int(self.parameters.shape[0])

    @property
    def t_days(self) -> np.ndarray:
        """Save times in days from treatment start."""
        return self.t / HOURS_PER_DAY

    @property
    def t_weeks(self) -> np.ndarray:
        """Save times in weeks from treatment start."""
        return self.t / HOURS_PER_WEEK

    @property
    def success(self) -> np.ndarray:
        """(n_patients,) bool: the patients whose simulation reached the end."""
        return self.status == 0

    @property
    def names(self) -> list:
        """Everything ``res[name]`` accepts."""
        out = list(self.data)
        if self.states is not None:
            out += list(self.state_names)
        if self.slots is not None:
            out += [f"slot.{s.name}" for s in SLOTS]
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        """An output, state (``"tumor_volume"``) or slot (``"slot.spinal"``), (n_patients, n_times)."""
        if name in self.data:
            return self.data[name]
        if self.states is not None and name in self.state_names:
            return self.states[:, :, self.state_names.index(name)]
        if self.slots is not None and name.startswith("slot."):
            names = [s.name for s in SLOTS]
            if name[5:] in names:
                return self.slots[:, :, names.index(name[5:])]
        hint = ""
        if self.states is None and name in self.state_names:
            hint = " States were not saved (save_states = false)."
        raise NeurosimKeyError(f"no output, state or slot named {name!r}." + hint
                               + did_you_mean(name, self.names)
                               + " See res.names for the list.")

    def __contains__(self, name) -> bool:
        try:
            self[name]
            return True
        except NeurosimKeyError:
            return False

    def unit(self, name: str) -> str:
        """Unit of an output or state."""
        if name in self.units:
            return self.units[name]
        if name in self.state_names:
            return self.state_units[self.state_names.index(name)]
        if name.startswith("slot."):
            self[name]
            return {s.name: s.unit for s in SLOTS}[name[5:]]
        self[name]  # raises with did-you-mean
        return ""

    # -- metrics ----------------------------------------------------------------------

    def metrics(self) -> dict:
        """Metrics per patient (see :data:`METRICS` for names, units, definitions).

        Returns
        -------
        dict of str -> ndarray (n_patients,)
            NaN for a patient whose simulation failed, and for a week after
            the end of the simulation.
        """
        return compute_metrics(self.t, self.data["nrs"], self.data["side_effect_burden"],
                               self.data["sedation"], self.data["constipation"],
                               self.nrs_baseline, self.mme_daily, self.endpoint, self.liver,
                               biomarkers={src: self.data[src] for _, src, _, _ in BIOMARKERS
                                           if src in self.data})

    def summary(self) -> dict:
        """Metrics over the patients who succeeded: means (responders: the responder rate).

        Returns
        -------
        dict of str -> float
        """
        m = self.metrics()
        ok = self.success
        out = {}
        for k, v in m.items():
            v = v[ok]
            v = v[~np.isnan(v)]
            out[k] = float(np.mean(v)) if v.size else math.nan
        return out

    # -- pandas -----------------------------------------------------------------------

    def to_dataframe(self, names=None, *, patients=None):
        """Trajectories as a pandas DataFrame, one row per patient and save time.

        Parameters
        ----------
        names : str or sequence of str, optional
            Outputs, states or slots (anything ``res[name]`` accepts);
            default: every output (NRS, its components, biomarkers, side
            effects).
        patients : int or sequence of int, optional
            Patients to include (default: all).

        Returns
        -------
        pandas.DataFrame
            Columns ``patient``, ``t_h`` and ``t_days`` (from treatment
            start; negative in the untreated history), then one column per
            name. ``df.attrs["units"]`` gives each column's unit.

        Raises
        ------
        MissingDependencyError
            When pandas is not installed.
        """
        from .errors import require

        pd = require("pandas", "ScenarioResult.to_dataframe()")
        names = list(self.data) if names is None else (
            [names] if isinstance(names, str) else list(names))
        idx = np.arange(self.n_patients) if patients is None else np.atleast_1d(
            np.asarray(patients, dtype=int))
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_patients):
            raise NeurosimValueError(f"patients must be from 0 to {self.n_patients - 1}; "
                                     f"got {patients}.")
        n_t = self.t.size
        cols = {"patient": np.repeat(idx, n_t), "t_h": np.tile(self.t, idx.size),
                "t_days": np.tile(self.t_days, idx.size)}
        units = {"patient": "", "t_h": "h", "t_days": "d"}
        for name in names:
            cols[name] = self[name][idx].reshape(-1)
            units[name] = self.unit(name)
        df = pd.DataFrame(cols)
        df.attrs["units"] = units
        df.attrs["scenario"] = self.name
        return df

    def metrics_dataframe(self):
        """:meth:`metrics` as a pandas DataFrame, one row per patient.

        Returns
        -------
        pandas.DataFrame
            Index ``patient``; one column per metric (:data:`METRICS`), then
            ``treatment_start_days`` (after diagnosis), ``presented``,
            ``status`` and the drug factors (``"morphine.cl"``, when any were
            applied). ``df.attrs["units"]`` and ``df.attrs["descriptions"]``
            describe the metric columns.

        Raises
        ------
        MissingDependencyError
            When pandas is not installed.
        """
        from .errors import require

        pd = require("pandas", "ScenarioResult.metrics_dataframe()")
        cols = dict(self.metrics())
        cols["treatment_start_days"] = self.treatment_start / HOURS_PER_DAY
        cols["presented"] = np.asarray(self.presented, dtype=bool)
        cols["status"] = np.asarray(self.status)
        cols.update({k: np.asarray(v) for k, v in self.drug_factors.items()})
        df = pd.DataFrame(cols, index=pd.RangeIndex(self.n_patients, name="patient"))
        df.attrs["units"] = {name: unit for name, unit, _ in METRICS}
        df.attrs["units"]["treatment_start_days"] = "d"
        df.attrs["descriptions"] = {name: desc for name, _, desc in METRICS}
        df.attrs["scenario"] = self.name
        return df

    # -- display ----------------------------------------------------------------------

    def _headline(self) -> dict:
        s = self.summary()
        return {"baseline NRS": s["nrs_baseline"], "NRS week 4": s["nrs_week4"],
                "NRS week 12": s["nrs_week12"], "% time NRS>=4": s["pct_time_nrs_ge4"],
                "responders >=30 %": s["responder_30"], "MME/day": s["mme_per_day"],
                "side-effect burden": s["side_effect_burden"]}

    def __repr__(self) -> str:
        ok = int(np.sum(self.success))
        s = self.summary()
        return (f"ScenarioResult({self.name!r}, liver={self.liver!r}, patients={self.n_patients}"
                f" ({ok} ok), t={self.t_weeks[0]:g}..{self.t_weeks[-1]:g} weeks; NRS "
                f"{s['nrs_baseline']:.2f} at start -> {s['nrs_endpoint']:.2f} at "
                f"{self.endpoint / HOURS_PER_WEEK:g} weeks; MME/day {s['mme_per_day']:.1f})")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.3g}</td></tr>"
                       for k, v in self._headline().items())
        ok = int(np.sum(self.success))
        flags = "".join(f"<li>{html.escape(f['severity'])}: {html.escape(f['message'])}</li>"
                        for f in self.safety)
        return (f"<div><b>{html.escape(self.name)}</b> &mdash; liver {html.escape(self.liver)},"
                f" {self.n_patients} patient(s), {ok} succeeded"
                f"<table>{rows}</table>" + (f"<ul>{flags}</ul>" if flags else "") + "</div>")

    def plot(self, ax=None, *, components: bool = True, patient: int | None = None):
        """NRS over time, with its four mechanistic components.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).
        components : bool
            Draw the mechanical, inflammatory, NGF and central shares (they
            add up to the NRS).
        patient : int, optional
            One patient of a population; default: the patient of a
            one-patient run, or the population median with its
            interquartile band.

        Returns
        -------
        matplotlib.axes.Axes
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(8, 4.5))
        elif not hasattr(ax, "fill_between"):
            from .errors import NeurosimTypeError

            raise NeurosimTypeError(
                f"ax must be a matplotlib Axes; got {ax!r}. res.plot() draws the NRS and its "
                "components; for another output plot its array, e.g. "
                "ax.plot(res.t_weeks, res['plasma_il6'][0]).")
        x = self.t_weeks
        single = self.n_patients == 1 or patient is not None
        i = 0 if patient is None else int(patient)
        if single:
            if not 0 <= i < self.n_patients:
                raise NeurosimValueError(f"patient must be from 0 to {self.n_patients - 1}; "
                                         f"got {patient}.")
            nrs = self.data["nrs"][i]
            if components:
                parts = [self.data[c][i] for c in _COMPONENTS]
                ax.stackplot(x, *parts, labels=_COMPONENT_LABELS, alpha=0.55)
            ax.plot(x, nrs, color="black", lw=1.6, label="NRS")
        else:
            nrs = self.data["nrs"]
            q25, q50, q75 = np.nanpercentile(nrs, [25, 50, 75], axis=0)
            ax.fill_between(x, q25, q75, color="0.7", alpha=0.5, label="NRS, middle 50 %")
            if components:
                for c, lab in zip(_COMPONENTS, _COMPONENT_LABELS):
                    ax.plot(x, np.nanmedian(self.data[c], axis=0), lw=1.0,
                            label=f"{lab} (median)")
            ax.plot(x, q50, color="black", lw=1.6, label="NRS (median)")
        ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
        for level, word in ((4, "moderate"), (7, "severe")):
            ax.axhline(level, color="0.6", ls=":", lw=0.8)
            ax.text(x[0], level, f" {word}", va="bottom", ha="left", fontsize=7, color="0.4")
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(0, 10)
        ax.set_xlabel("time since treatment start (weeks)")
        ax.set_ylabel("pain intensity (NRS, 0-10)")
        who = f", patient {i}" if patient is not None else (
            f", {self.n_patients} patients" if self.n_patients > 1 else "")
        ax.set_title(f"{self.name} ({self.liver.replace('_', '-')}{who})")
        ax.legend(loc="upper left", fontsize=7, ncol=2, frameon=False)
        return ax

    # -- files ------------------------------------------------------------------------

    def to_hdf5(self, path, *, command_line: str | None = None) -> None:
        """Write the result to an HDF5 file (atomically; see docs/file-format.md).

        Parameters
        ----------
        path : str or Path
            Target file; replaced if it exists.
        command_line : str, optional
            Recorded in the file (the CLI passes its own).
        """
        from .io.results import write_results

        write_results(self, path, command_line=command_line)

    @classmethod
    def from_hdf5(cls, path) -> "ScenarioResult":
        """Read a result written by :meth:`to_hdf5`.

        Raises
        ------
        ResultsFileError
            For a missing, corrupt or foreign file, or a newer format version.
        """
        from .io.results import read_results

        return read_results(path)
