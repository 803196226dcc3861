"""Virtual experiments that reproduce the model's validation protocols.

Each function runs one protocol on the disease model and returns the raw
time courses together with the summary numbers the behaviour tests and
``docs/model.md`` report. They are protocols, not fits: the numbers come
out of the model as parameterised in ``data/parameters.toml``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import NeurosimValueError
from .parameters import PARAMETER_INDEX, default_parameters, make_parameters, sample_population
from .simulate import HOURS_PER_MONTH, initial_state, simulate
from .states import SLOT_INDEX, STATE_INDEX, default_slots

__all__ = [
    "natural_history", "drive_removal", "relief_by_stage", "ngf_pulse", "tnf_pulse",
    "population_correlations", "healthy_parameters", "Experiment",
]

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 168.0


@dataclass
class Experiment:
    """Result of a virtual experiment.

    Attributes
    ----------
    t : ndarray
        Time (h) of the time courses.
    series : dict of str to ndarray
        Named time courses (units in the function's docstring).
    summary : dict of str to float
        The numbers the protocol is judged by.
    """

    t: np.ndarray
    series: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def healthy_parameters(params=None) -> np.ndarray:
    """Parameters of a tumor-free subject with a healthy liver (for injection protocols)."""
    p = default_parameters() if params is None else np.array(params, dtype=float)
    return make_parameters({"liver_inflammation": 0.0}, base=p, warn=False)


def natural_history(params=None, *, months: float = 12.0, step_h: float = 24.0,
                    backend: str = "auto") -> Experiment:
    """Untreated disease course from the diagnosis volume.

    Parameters
    ----------
    params : array_like, shape (N_MODEL_PARAMS,), optional
        Patient (default patient when omitted).
    months : float
        Duration (months of 730 h).
    step_h : float
        Output interval (h).
    backend : str
        Passed to :func:`simulate`.

    Returns
    -------
    Experiment
        ``series`` holds every derived output (NRS 0-10, plasma pg/mL, ...)
        and ``tumor_volume`` (mL); ``summary`` holds the first volume
        doubling time (months) and NRS and plasma levels at months 0, 6, 12.
    """
    p = default_parameters() if params is None else np.asarray(params, dtype=float)
    t = np.arange(0.0, months * HOURS_PER_MONTH + 0.5 * step_h, step_h)
    sim = simulate(t, p, backend=backend)
    out = {k: v[0] for k, v in sim.outputs().items()}
    vol = sim["tumor_volume"][0]
    out["tumor_volume"] = vol
    summary = {}
    if vol[-1] >= 2 * vol[0]:
        summary["doubling_time_months"] = float(np.interp(2 * vol[0], vol, t) / HOURS_PER_MONTH)
    for mo in (0, 4, 6, 9, 12):
        if mo <= months:
            i = int(round(mo * HOURS_PER_MONTH / step_h))
            for k in ("nrs", "plasma_il6", "plasma_tnf", "plasma_ngf", "tumor_diameter"):
                summary[f"{k}_m{mo}"] = float(out[k][i])
    return Experiment(t=t, series=out, summary=summary)


def _run_then_switch(p, switch_h, slots_after, follow_h, step_h, backend):
    """Untreated until ``switch_h``, then constant slots for ``follow_h``."""
    t_up = np.arange(0.0, switch_h + 0.5 * step_h, step_h)
    up = simulate(t_up, p, backend=backend)
    t_dn = switch_h + np.arange(0.0, follow_h + 0.5 * step_h, step_h)
    dn = simulate(t_dn, p, y0=up.final_state[0], slots=slots_after, backend=backend)
    return up, dn


def drive_removal(params=None, *, at_month: float = 9.0, afferent: float = 0.5,
                  follow_weeks: float = 16.0, step_h: float = 6.0,
                  backend: str = "auto") -> Experiment:
    """Hysteresis protocol: cut the peripheral drive at ``at_month`` and hold it.

    The afferent slot is set to ``afferent`` (a block of ``1 - afferent`` of
    peripheral transmission). Pain after the cut is compared with the pain
    the same patient had *on the way up* when the afferent input reaching
    the dorsal horn was the same; the difference ("excess") is the memory
    held by central sensitization.

    Returns
    -------
    Experiment
        ``series``: ``nrs`` after the cut, ``nrs_same_drive_up`` (NRS on the
        way up at the same afferent input), ``excess`` (NRS points),
        ``central_sensitization_index``. ``summary``: ``excess_day1``,
        ``excess_week1``, ``excess_week4``, ``excess_week12`` (NRS points),
        ``excess_half_life_weeks``, ``csi_at_cut`` and ``csi_week12``.
    """
    p = default_parameters() if params is None else np.asarray(params, dtype=float)
    s = default_slots()
    s[SLOT_INDEX["afferent"]] = afferent
    up, dn = _run_then_switch(p, at_month * HOURS_PER_MONTH, s, follow_weeks * HOURS_PER_WEEK,
                              step_h, backend)
    o_up = up.outputs()
    o_dn = dn.outputs()
    a_up = o_up["afferent_drive"][0]
    nrs_up = o_up["nrs"][0]
    if np.any(np.diff(a_up) <= 0):
        raise NeurosimValueError("afferent input is not increasing on the way up; the "
                                 "same-drive comparison needs a monotonic rise")
    a_dn = o_dn["afferent_drive"][0]
    if a_dn.max() > a_up.max() or a_dn.min() < a_up.min():
        raise NeurosimValueError("after the cut the afferent input leaves the range seen on the "
                                 "way up; choose a smaller cut or a shorter follow-up")
    same = np.interp(a_dn, a_up, nrs_up)
    excess = o_dn["nrs"][0] - same
    tt = dn.t - dn.t[0]
    at = lambda h: float(np.interp(h, tt, excess))  # noqa: E731
    e1 = at(HOURS_PER_DAY)
    below = np.flatnonzero((excess <= 0.5 * e1) & (tt >= HOURS_PER_DAY))
    half = float(tt[below[0]] - HOURS_PER_DAY) / HOURS_PER_WEEK if below.size else np.inf
    csi = o_dn["central_sensitization_index"][0]
    return Experiment(
        t=dn.t,
        series={"nrs": o_dn["nrs"][0], "nrs_same_drive_up": same, "excess": excess,
                "central_sensitization_index": csi, "afferent_drive": a_dn,
                "t_up": up.t, "nrs_up": nrs_up, "afferent_drive_up": a_up},
        summary={"nrs_before_cut": float(nrs_up[-1]), "nrs_day1": float(np.interp(24, tt, o_dn["nrs"][0])),
                 "excess_day1": e1, "excess_week1": at(HOURS_PER_WEEK),
                 "excess_week4": at(4 * HOURS_PER_WEEK), "excess_week12": at(12 * HOURS_PER_WEEK),
                 "excess_half_life_weeks": half, "csi_at_cut": float(csi[0]),
                 "csi_week12": float(np.interp(12 * HOURS_PER_WEEK, tt, csi))})


def relief_by_stage(params=None, *, months=(4.0, 12.0), afferent: float = 0.5,
                    assess_days: float = 14.0, step_h: float = 6.0,
                    backend: str = "auto") -> Experiment:
    """Same cut in peripheral drive at different disease stages.

    At each month in ``months`` the afferent slot is set to ``afferent``
    and held; relief is read ``assess_days`` later against the untreated
    course at the same time (so that disease progression during the
    assessment window is not counted as treatment failure).

    Returns
    -------
    Experiment
        ``summary``: for each month m, ``nrs_untreated_m{m}``,
        ``nrs_treated_m{m}``, ``relief_points_m{m}`` (NRS points) and
        ``relief_percent_m{m}`` (% of the untreated NRS).
    """
    p = default_parameters() if params is None else np.asarray(params, dtype=float)
    s = default_slots()
    s[SLOT_INDEX["afferent"]] = afferent
    summary = {}
    for mo in months:
        up, dn = _run_then_switch(p, mo * HOURS_PER_MONTH, s, assess_days * HOURS_PER_DAY,
                                  step_h, backend)
        ref = simulate(dn.t, p, y0=up.final_state[0], backend=backend)
        n_treat = float(dn.outputs(["nrs"])["nrs"][0, -1])
        n_ref = float(ref.outputs(["nrs"])["nrs"][0, -1])
        key = f"m{mo:g}"
        summary[f"nrs_untreated_{key}"] = n_ref
        summary[f"nrs_treated_{key}"] = n_treat
        summary[f"relief_points_{key}"] = n_ref - n_treat
        summary[f"relief_percent_{key}"] = 100.0 * (n_ref - n_treat) / n_ref
    return Experiment(t=np.asarray(months, float) * HOURS_PER_MONTH, summary=summary)


def _pulse(p, state, amount, times_h, t_end_h, slots, backend):
    y0 = initial_state(p, slots, tumor_volume=0.0)
    dense = np.concatenate([np.arange(0.0, 6.0, 0.25), np.arange(6.0, 48.0, 1.0),
                            np.arange(48.0, t_end_h + 1e-9, 6.0)])
    t = np.unique(np.concatenate([dense, np.asarray(times_h, float)]))
    t = t[t <= t_end_h]
    times = np.asarray(times_h, float)
    doses = (times, np.full(times.size, STATE_INDEX[state]), np.full(times.size, float(amount)))
    sim = simulate(t, p, y0=y0, slots=slots, doses=doses, backend=backend)
    o = {k: v[0] for k, v in sim.outputs().items()}
    base = initial_state(p, slots, tumor_volume=0.0)
    # rise of the evoked-response gains over the pre-injection baseline (absolute, so
    # that conditions with different baselines, e.g. under anti-NGF, compare fairly)
    per = o["fiber_density"] * o["peripheral_sensitization"]
    per0 = float(base[STATE_INDEX["fiber_density"]] * _psens(base, p))
    cen = o["central_gain"]
    cen0 = float(_central_gain(base))
    return t, per - per0, cen - cen0, o, sim


def _psens(y, p):
    si = STATE_INDEX
    return (1.0 + y[si["sensitization_fast"]] + y[si["sensitization_trpv1"]]
            + p[PARAMETER_INDEX["priming_weight"]] * y[si["priming"]])


def _central_gain(y):
    si = STATE_INDEX
    return (1.0 + y[si["descending_facilitation"]]) * (1.0 + y[si["central_fast"]]
                                                       + y[si["central_slow"]])


def ngf_pulse(params=None, *, amount: float = 1.0e5, days: float = 56.0,
              backend: str = "auto") -> Experiment:
    """Single NGF injection into healthy tissue (tumor-free, healthy liver).

    ``amount`` is the rise in local free NGF (pg/mL) at t = 0; 1e5 pg/mL
    (100 ng/mL) corresponds to a few micrograms in tens of mL of tissue,
    as in human intramuscular NGF studies.

    Returns
    -------
    Experiment
        ``series``: ``peripheral`` (rise of the evoked peripheral gain,
        fiber density x sensitization, over the pre-injection baseline) and
        ``central`` (rise of the central gain); both dimensionless. ``summary``: values at 3 h,
        1, 7, 14, 28 and 49 days as fractions of the peak, the peak time (h)
        and the central facilitation at day 10 relative to its peak.
    """
    p = healthy_parameters(params)
    t, per, cen, o, _ = _pulse(p, "ngf_free", amount, [0.0], days * 24.0, None, backend)
    ip = int(np.argmax(per))
    pk = per[ip]
    at = lambda h: float(np.interp(h, t, per) / pk)  # noqa: E731
    ic = int(np.argmax(cen))
    return Experiment(t=t, series={"peripheral": per, "central": cen},
                      summary={"peak": float(pk), "peak_time_h": float(t[ip]),
                               "frac_3h": at(3.0), "frac_1d": at(24.0), "frac_7d": at(168.0),
                               "frac_14d": at(336.0), "frac_28d": at(672.0),
                               "frac_49d": at(49 * 24.0),
                               "central_peak": float(cen[ic]), "central_peak_time_h": float(t[ic]),
                               "central_10d_frac": float(np.interp(240.0, t, cen) / cen[ic])})


def tnf_pulse(params=None, *, amount: float = 3000.0, repeats: int = 1,
              interval_h: float = 24.0, follow_days: float = 3.0, anti_ngf_nM: float = 0.0,
              backend: str = "auto") -> Experiment:
    """TNF-alpha injection(s) into healthy tissue.

    Parameters
    ----------
    amount : float
        Rise in local TNF-alpha (pg/mL) per injection.
    repeats : int
        Number of injections, ``interval_h`` apart (18 daily injections
        reproduce the hyperalgesic priming protocol).
    follow_days : float
        Follow-up after the last injection (days).
    anti_ngf_nM : float
        Free anti-NGF antibody (nM) held throughout (NGF dependence of TNF
        hyperalgesia).

    Returns
    -------
    Experiment
        ``series``: ``peripheral`` and ``central`` as in :func:`ngf_pulse`.
        ``summary``: peak and its time after the *last* injection, the
        fraction of peak at 0.5 h (onset), the half-maximal duration (h),
        and the residual rise at 1, 7 and 30 days after the last injection
        (NaN beyond the follow-up).
    """
    p = healthy_parameters(params)
    s = default_slots()
    s[SLOT_INDEX["ngf_binder"]] = anti_ngf_nM
    times = np.arange(int(repeats)) * float(interval_h)
    t_end = times[-1] + follow_days * 24.0
    t, per, cen, o, _ = _pulse(p, "tnf", amount, times, t_end, s, backend)
    last = times[-1]
    mask = (t >= last) & (t <= last + 24.0)
    tl, pl = t[mask] - last, per[mask]
    ip = int(np.argmax(pl))
    pk = pl[ip]
    above = tl[pl >= 0.5 * pk]
    follow = lambda h: (float(np.interp(last + h, t, per))  # noqa: E731
                        if last + h <= t_end + 1e-9 else float("nan"))
    return Experiment(t=t, series={"peripheral": per, "central": cen},
                      summary={"peak": float(pk), "peak_time_h": float(tl[ip]),
                               "frac_30min": float(np.interp(0.5, tl, pl) / pk),
                               "half_max_duration_h": float(above[-1] - above[0]),
                               "residual_1d": follow(24.0), "residual_7d": follow(168.0),
                               "residual_30d": follow(720.0),
                               "central_peak": float(cen[mask].max())})


def population_correlations(n: int = 1000, *, seed: int = 20240611, month: float = 6.0,
                            backend: str = "auto", threads=None) -> Experiment:
    """Virtual-population test of disproportionate pain.

    Draws ``n`` patients with :func:`sample_population` (lognormal spread
    from the ``cv`` column) and compares the Spearman rank correlation of
    NRS at ``month`` with plasma IL-6, TNF-alpha, NGF and with tumor volume.

    Returns
    -------
    Experiment
        ``series``: ``nrs``, ``tumor_volume``, ``plasma_il6``,
        ``plasma_tnf``, ``plasma_ngf`` at ``month`` (one value per patient).
        ``summary``: ``rho_volume``, ``rho_il6``, ``rho_tnf``, ``rho_ngf``,
        ``n_failed`` and NRS quartiles.
    """
    from scipy.stats import spearmanr

    pop = sample_population(n, seed=seed)
    t = np.array([0.0, month * HOURS_PER_MONTH])
    sim = simulate(t, pop, backend=backend, threads=threads)
    ok = sim.status == 0
    o = sim.outputs(["nrs", "plasma_il6", "plasma_tnf", "plasma_ngf"])
    ser = {k: v[ok, -1] for k, v in o.items()}
    ser["tumor_volume"] = sim["tumor_volume"][ok, -1]
    rho = {f"rho_{k}": float(spearmanr(ser["nrs"], ser[key])[0])
           for k, key in (("volume", "tumor_volume"), ("il6", "plasma_il6"),
                          ("tnf", "plasma_tnf"), ("ngf", "plasma_ngf"))}
    q = np.quantile(ser["nrs"], [0.25, 0.5, 0.75])
    rho.update({"n_failed": int((~ok).sum()), "nrs_q25": float(q[0]), "nrs_median": float(q[1]),
                "nrs_q75": float(q[2])})
    return Experiment(t=t, series=ser, summary=rho)
