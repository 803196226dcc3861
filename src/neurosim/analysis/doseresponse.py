"""Dose-response of a drug in a virtual population: Emax fit, ED50, therapeutic window.

For each dose level the scenario's regimen of the drug is run with its dose
replaced, on the **same virtual patients** at every level (a paired design:
one sweep whose arms are the dose levels, a control arm without the drug and
the comparator arms; ``docs/dose-response.md``)::

    from neurosim.analysis.doseresponse import dose_response

    dr = dose_response("scenarios/hypothetical_drug.toml", "trkanib",
                       [25, 50, 100, 200, 400], patients=200,
                       compare=["morphine", "celecoxib"])
    print(dr.table())
    dr.fit.ed50, dr.fit.ed50_ci          # mg, with its bootstrap interval

Definitions
-----------
* **Response** (default ``responder_30``, the IMMPACT moderate response:
  endpoint NRS at least 30 % below the NRS at treatment start): its mean over
  patients at each dose (for a responder metric, the responder rate). Any
  metric of :data:`neurosim.simulation.METRICS` can be chosen.
* **Mean pain reduction**: mean over patients of ``nrs_baseline -
  nrs_endpoint`` (NRS points).
* **Emax model**: ``E(D) = E0 + Emax D^h / (ED50^h + D^h)`` fitted by least
  squares to the population response at the control (D = 0) and every dose.
  **ED50** is the dose giving half the maximal effect above the control.
  Its confidence interval is the percentile interval of ED50 refitted on
  bootstrap resamples of the patients (the same resample in every arm,
  seeded).
* **Side-effect burden** (default ``side_effect_burden``, the time-mean of
  the composite of sedation, respiratory depression and constipation, 0-1).
  **TD(threshold)** is the lowest dose at which the population mean burden
  reaches the threshold (default 0.2), interpolated linearly in burden and
  logarithmically in dose between the tested doses.
* **Therapeutic window**: the doses from ED50 to TD(threshold); its
  **ratio** TD/ED50 is a therapeutic index (> 1: the drug works at
  half its maximal effect before the side effects reach the threshold).
* **Paired comparison**: for each comparator and dose, the difference drug
  minus comparator of the mean response, pain reduction and burden on the
  same patients, with bootstrap percentile intervals.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, ResultsFileError, did_you_mean

__all__ = ["EmaxFit", "emax_model", "fit_emax", "fit_emax_bootstrap", "dose_response",
           "DoseResponseResult", "threshold_dose", "DEFAULT_THRESHOLD"]

#: Default tolerability threshold of the mean side-effect burden (0-1 scale).
DEFAULT_THRESHOLD = 0.2


# ----------------------------------------------------------------------------- Emax


def emax_model(d, e0: float, emax: float, ed50: float, hill: float) -> np.ndarray:
    """``E0 + Emax d^h / (ED50^h + d^h)`` (0 at d = 0 for the dose term)."""
    d = np.asarray(d, dtype=np.float64)
    x = np.where(d > 0, (np.maximum(d, 1e-300) / ed50) ** hill, 0.0)
    return e0 + emax * x / (1.0 + x)


@dataclass
class EmaxFit:
    """A fitted Emax (Hill) model with a bootstrap interval of ED50.

    Attributes
    ----------
    e0, emax, ed50, hill : float
        The least-squares estimates (ED50 in the dose unit of the data).
    ed50_ci : tuple of float
        Percentile interval of ED50 over the bootstrap resamples.
    confidence : float
    n_boot : int
        Resamples whose fit converged.
    note : str
        Why the fit is missing or doubtful (``""`` when fine).
    """

    e0: float
    emax: float
    ed50: float
    hill: float
    ed50_ci: tuple = (math.nan, math.nan)
    confidence: float = 0.95
    n_boot: int = 0
    note: str = ""

    def __call__(self, d) -> np.ndarray:
        return emax_model(d, self.e0, self.emax, self.ed50, self.hill)


def fit_emax(doses, response, *, hill_bounds=(0.3, 6.0), response_range=None, start=None):
    """Least-squares Emax fit of a response curve.

    Parameters
    ----------
    doses : array_like (k,)
        Doses (>= 0; a 0 is the control).
    response : array_like (k,)
        Mean response at each dose.
    hill_bounds : (float, float)
        Bounds of the Hill coefficient.
    response_range : (float, float), optional
        Where the response can lie (``(0, 1)`` for a rate): bounds E0 to it
        and Emax to its width.
    start : (e0, emax, ed50, hill), optional
        One starting point (e.g. the fit of the full data when refitting
        bootstrap resamples) instead of the default grid of starts.

    Returns
    -------
    (e0, emax, ed50, hill) : tuple of float
        NaN when the curve cannot be fitted (fewer than 3 points, no
        variation).

    Notes
    -----
    ED50 is searched in log space between a hundredth of the lowest and a
    hundred times the highest positive dose; several starting points are
    tried and the best fit kept.
    """
    from scipy.optimize import least_squares

    d = np.asarray(doses, dtype=np.float64)
    y = np.asarray(response, dtype=np.float64)
    ok = np.isfinite(y)
    d, y = d[ok], y[ok]
    pos = d[d > 0]
    if d.size < 3 or pos.size < 2 or np.ptp(y) == 0:
        return (math.nan,) * 4
    lo, hi = math.log(pos.min() / 100.0), math.log(pos.max() * 100.0)
    scale = max(np.ptp(y), 1e-12)

    def resid(theta):
        e0, emax, led, h = theta
        return (emax_model(d, e0, emax, math.exp(led), h) - y) / scale

    best = None
    y0 = y[np.argmin(d)]
    span = y[np.argmax(d)] - y0
    e_lo, e_hi = (-np.inf, np.inf) if response_range is None else response_range
    width = e_hi - e_lo
    lower = [e_lo, -width, lo, hill_bounds[0]]
    upper = [e_hi, width, hi, hill_bounds[1]]
    if start is not None and all(math.isfinite(v) for v in start):
        starts = [(start[0], start[1], math.log(start[2]), start[3])]
    else:
        starts = [(y0, span if span != 0 else scale, led0, h0)
                  for led0 in np.log(np.geomspace(pos.min(), pos.max(), 3)) for h0 in (1.0, 2.5)]
    for x0 in starts:
        x0 = np.clip(x0, lower, upper)
        try:
            r = least_squares(resid, x0, bounds=(lower, upper), method="trf",
                              x_scale=[scale, scale, 1.0, 1.0])
        except ValueError:
            continue
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        return (math.nan,) * 4
    e0, emax, led, h = best.x
    return float(e0), float(emax), float(math.exp(led)), float(h)


def _percentile_ci(values, confidence):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 10:
        return (math.nan, math.nan)
    a = (1 - confidence) / 2
    return (float(np.quantile(v, a)), float(np.quantile(v, 1 - a)))


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap indices (n_boot, n): resamples of the patients, seeded."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xD05E,)))
    return rng.integers(0, n, size=(n_boot, n))


def fit_emax_bootstrap(doses, Y, *, n_boot: int = 500, seed: int = 0,
                       confidence: float = 0.95, resamples=None,
                       response_range=None) -> EmaxFit:
    """Emax fit of per-patient responses, with a bootstrap interval of ED50.

    Parameters
    ----------
    doses : array_like (k,)
        Dose of each column (0 for a control).
    Y : array_like (n_patients, k)
        Response of each patient at each dose (the same patients in every
        column: resampling keeps rows together).
    n_boot : int
        Bootstrap resamples of the patients.
    seed : int
    confidence : float
    resamples : ndarray (n_boot, n_patients), optional
        Explicit resample indices (shared with other statistics).
    response_range : (float, float), optional
        Passed to :func:`fit_emax`.

    Returns
    -------
    EmaxFit
    """
    d = np.asarray(doses, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != d.size:
        raise NeurosimValueError(f"Y must have one column per dose ({d.size}); got shape "
                                 f"{Y.shape}.")
    e0, emax, ed50, hill = fit_emax(d, Y.mean(axis=0), response_range=response_range)
    if not math.isfinite(ed50):
        return EmaxFit(e0, emax, ed50, hill, confidence=confidence,
                       note="the response does not vary with the dose: no Emax fit")
    idx = _resamples(Y.shape[0], n_boot, seed) if resamples is None else resamples
    eds = []
    for rows in idx:
        eds.append(fit_emax(d, Y[rows].mean(axis=0), response_range=response_range,
                            start=(e0, emax, ed50, hill))[2])
    eds = np.asarray(eds)
    ci = _percentile_ci(eds, confidence)
    note = ""
    pos = d[d > 0]
    if ed50 < pos.min():
        note = "ED50 is below the lowest dose tested (extrapolated)"
    elif ed50 > pos.max():
        note = "ED50 is above the highest dose tested (extrapolated)"
    if abs(emax) < 1e-9:
        note = "no effect above the control"
    elif hill >= 0.999 * 6.0 or hill <= 0.3 * 1.001:
        note = (note + "; " if note else "") + "the Hill coefficient is at its bound (too few " \
            "doses on the rising part of the curve)"
    return EmaxFit(e0, emax, ed50, hill, ed50_ci=ci, confidence=confidence,
                   n_boot=int(np.isfinite(eds).sum()), note=note)


def threshold_dose(doses, values, threshold: float) -> float:
    """Lowest dose at which ``values`` reaches ``threshold``.

    Linear in the value, logarithmic in the dose between the two tested
    doses around the crossing; the lowest dose when the first value is
    already at or above it; NaN when no dose reaches it.
    """
    d = np.asarray(doses, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    above = np.flatnonzero(v >= threshold)
    if above.size == 0:
        return math.nan
    j = int(above[0])
    if j == 0:
        return float(d[0])
    v0, v1 = v[j - 1], v[j]
    f = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(math.exp(math.log(d[j - 1]) + f * (math.log(d[j]) - math.log(d[j - 1]))))


# ----------------------------------------------------------------------------- the study


@dataclass
class DoseResponseResult:
    """The outcome of :func:`dose_response`.

    Attributes
    ----------
    name, drug, unit : str
    doses : ndarray (k,)
        Dose per administration in ``unit``.
    n_patients : int
        Patients analysed (those whose simulation succeeded in every arm).
    response : str
        The response metric.
    responder_rate, responder_ci : ndarray (k,), (k, 2)
        Mean response per dose (a rate for a responder metric) and its
        bootstrap interval.
    mean_reduction, mean_reduction_ci : ndarray (k,), (k, 2)
        Mean NRS reduction from baseline at the endpoint.
    burden, burden_ci : ndarray (k,), (k, 2)
        Mean side-effect metric.
    control : dict
        The same three means in the control arm (no dose of the drug).
    fit : EmaxFit
    td, td_ci : float, tuple
        Dose at which the mean burden reaches ``threshold`` (NaN if none).
    threshold : float
    window : tuple (ED50, TD)
    comparisons : list of dict
        Paired differences (drug at each dose minus comparator).
    comparator_means : dict
        Comparator regimen -> its mean response, reduction and burden.
    regimens : dict
        Arm name -> regimen lines.
    """

    name: str
    drug: str
    unit: str
    doses: np.ndarray
    n_patients: int
    response: str
    side_effect: str
    responder_rate: np.ndarray
    responder_ci: np.ndarray
    mean_reduction: np.ndarray
    mean_reduction_ci: np.ndarray
    burden: np.ndarray
    burden_ci: np.ndarray
    control: dict
    fit: EmaxFit
    td: float
    td_ci: tuple
    threshold: float
    comparisons: list
    regimens: dict
    arms: list
    seed: int
    confidence: float
    endpoint_weeks: float
    failed: int = 0
    path: Path | None = None
    notes: list = field(default_factory=list)
    scenario_regimens: list = field(default_factory=list)
    comparator_means: dict = field(default_factory=dict)

    @property
    def window(self):
        """(ED50, TD(threshold)): the therapeutic window in ``unit``."""
        return (self.fit.ed50, self.td)

    def regimen_text(self, dose=None) -> str:
        """The drug's regimen lines as given in the scenario, or at ``dose`` (a tested one)."""
        if dose is None:
            return "; ".join(self.scenario_regimens)
        j = int(np.argmin(np.abs(self.doses - dose)))
        return "; ".join(self.regimens[self.arms[1 + j]])

    def rows(self) -> list:
        """One dict per arm (control, doses, comparators) for a table or a CSV."""
        out = [{"arm": "control", "dose": 0.0, "unit": self.unit,
                "regimens": "; ".join(self.regimens[self.arms[0]]) or "(none)",
                f"mean_{self.response}": self.control["response"],
                "mean_nrs_reduction": self.control["reduction"],
                f"mean_{self.side_effect}": self.control["burden"]}]
        for j, d in enumerate(self.doses):
            out.append({"arm": self.arms[1 + j], "dose": float(d), "unit": self.unit,
                        "regimens": "; ".join(self.regimens[self.arms[1 + j]]),
                        f"mean_{self.response}": float(self.responder_rate[j]),
                        f"{self.response}_ci_low": float(self.responder_ci[j, 0]),
                        f"{self.response}_ci_high": float(self.responder_ci[j, 1]),
                        "mean_nrs_reduction": float(self.mean_reduction[j]),
                        "nrs_reduction_ci_low": float(self.mean_reduction_ci[j, 0]),
                        "nrs_reduction_ci_high": float(self.mean_reduction_ci[j, 1]),
                        f"mean_{self.side_effect}": float(self.burden[j]),
                        f"{self.side_effect}_ci_low": float(self.burden_ci[j, 0]),
                        f"{self.side_effect}_ci_high": float(self.burden_ci[j, 1])})
        return out

    def summary(self) -> dict:
        """ED50, TD and the window as plain numbers (JSON-able)."""
        f = self.fit
        return {"drug": self.drug, "unit": self.unit, "response": self.response,
                "side_effect": self.side_effect, "n_patients": self.n_patients,
                "seed": self.seed, "confidence": self.confidence,
                "ed50": f.ed50, "ed50_ci": list(f.ed50_ci), "hill": f.hill, "emax": f.emax,
                "e0": f.e0, "fit_note": f.note, "threshold": self.threshold, "td": self.td,
                "td_ci": list(self.td_ci),
                "window_ratio": (self.td / f.ed50 if math.isfinite(self.td)
                                 and f.ed50 > 0 else math.nan),
                "comparisons": self.comparisons}

    def table(self) -> str:
        """The results in words and columns (what ``neurosim dose-response`` prints)."""
        pct = int(round(100 * self.confidence))
        resp = self.response
        is_rate = resp.startswith("responder")

        def r(v):
            return f"{100 * v:5.1f}%" if is_rate else f"{v:7.4g}"

        lines = [f"{self.name}: dose-response of {self.drug}, {self.n_patients} virtual "
                 f"patients (seed {self.seed}), the same patients at every dose; metrics to "
                 f"{self.endpoint_weeks:g} weeks; [{pct}% bootstrap CI]"]
        if self.failed:
            lines.append(f"  ({self.failed} patient(s) failed in some arm and are left out of "
                         "every arm)")
        head = (f"  {'dose':>12s}  {resp:>26s}  {'NRS reduction (points)':>26s}  "
                f"{self.side_effect:>24s}")
        lines.append(head)
        c = self.control
        lines.append(f"  {'control':>12s}  {r(c['response']):>26s}  {c['reduction']:26.2f}  "
                     f"{c['burden']:24.3f}")
        for j, d in enumerate(self.doses):
            ci = self.responder_ci[j]
            a = f"{r(self.responder_rate[j])} [{r(ci[0]).strip()}, {r(ci[1]).strip()}]"
            ci = self.mean_reduction_ci[j]
            b = f"{self.mean_reduction[j]:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
            ci = self.burden_ci[j]
            s = f"{self.burden[j]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
            lines.append(f"  {_fmt(d) + ' ' + self.unit:>12s}  {a:>26s}  {b:>26s}  {s:>24s}")
        f = self.fit
        u = self.unit
        if math.isfinite(f.ed50):
            emax = f"{100 * f.emax:.1f} %" if is_rate else f"{f.emax:.4g}"
            e0 = f"{100 * f.e0:.1f} %" if is_rate else f"{f.e0:.4g}"
            lines.append(f"Emax fit of {resp}: ED50 = {f.ed50:.3g} {u} [{f.ed50_ci[0]:.3g}, "
                         f"{f.ed50_ci[1]:.3g}] ({f.n_boot} bootstrap fits), Hill {f.hill:.2f}, "
                         f"Emax {emax} above E0 {e0}" + (f"; note: {f.note}" if f.note else ""))
        else:
            lines.append(f"Emax fit of {resp}: none ({f.note})")
        if math.isfinite(self.td):
            lines.append(f"{self.side_effect} reaches {self.threshold:g} at {self.td:.3g} {u} "
                         f"[{self.td_ci[0]:.3g}, {self.td_ci[1]:.3g}]"
                         + (" (at or below the lowest dose)" if self.td <= self.doses[0]
                            else ""))
        else:
            lines.append(f"{self.side_effect} stays below {self.threshold:g} up to "
                         f"{_fmt(self.doses[-1])} {u}")
        if math.isfinite(f.ed50):
            if math.isfinite(self.td) and self.td <= f.ed50:
                lines.append(f"No therapeutic window: {self.side_effect} reaches "
                             f"{self.threshold:g} at {self.td:.3g} {u}, below ED50")
            elif math.isfinite(self.td):
                lines.append(f"Therapeutic window (ED50 to TD{self.threshold:g}): "
                             f"{f.ed50:.3g} to {self.td:.3g} {u}, ratio TD/ED50 = "
                             f"{self.td / f.ed50:.2g}")
            else:
                lines.append(f"Therapeutic window (ED50 to TD{self.threshold:g}): from "
                             f"{f.ed50:.3g} {u} to beyond {_fmt(self.doses[-1])} {u}")
        if self.comparisons:
            lines.append(f"Paired comparison, {self.drug} minus comparator on the same "
                         f"patients [{pct}% bootstrap CI]:")
            lines.append(f"  {'comparator':34s} {'dose':>10s}  {'d ' + resp:>24s}  "
                         f"{'d NRS reduction':>22s}  {'d ' + self.side_effect:>26s}")
            for cmp in self.comparisons:
                def fmt(k, rate=False):
                    v, lo, hi = cmp[k], cmp[k + "_ci"][0], cmp[k + "_ci"][1]
                    if rate:
                        return f"{100 * v:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] pp"
                    return f"{v:+.3g} [{lo:+.3g}, {hi:+.3g}]"
                lines.append(f"  {cmp['comparator'][:34]:34s} {_fmt(cmp['dose']) + ' ' + u:>10s}"
                             f"  {fmt('d_response', is_rate):>24s}  {fmt('d_reduction'):>22s}  "
                             f"{fmt('d_burden'):>26s}")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _arm_name(text: str) -> str:
    from .._cli_common import safe_name

    return safe_name(text.replace("/", "_per_"))


def _packaged_regimen(drug: str):
    """The first regimen line of ``drug`` in the packaged scenarios (by file name)."""
    from ..scenario import _parse_toml, packaged_scenarios

    for name, entry in packaged_scenarios().items():
        try:
            raw = _parse_toml(entry.read_text(encoding="utf-8"), name)
        except Exception:  # a packaged file that does not parse is not a source here
            continue
        regs = raw.get("treatments", {}).get("regimens", []) if isinstance(
            raw.get("treatments"), dict) else []
        if "drugs" in raw and drug in raw["drugs"]:
            continue  # a drug defined only in that file
        for line in regs:
            if isinstance(line, str) and line.split()[:1] == [drug]:
                return line, name
    return None, None


def _drug_regimens(sc, drug):
    """Indices (in ``[treatments] regimens``) and parsed regimens of ``drug``."""
    from ..treatments.regimen import parse_regimen, regimen_from_dict

    raw = sc.raw.get("treatments", {}).get("regimens", [])
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            reg = parse_regimen(item, body_weight=sc.body_weight)
        else:
            reg = regimen_from_dict(item, body_weight=sc.body_weight)
        if reg.drug == drug:
            out.append((i, reg))
    return out, raw


def _doses_mg(doses, unit, rate: bool, body_weight: float):
    from ..units import convert

    expect = "dose_rate" if rate else "mass"
    try:
        return [convert(float(d), unit, expect, name="dose", body_weight=body_weight)
                for d in doses]
    except Exception as exc:
        kind = "a dose rate such as mg/h or ug/h" if rate else "a mass such as mg, ug or g " \
                                                               "(or mg/kg)"
        raise NeurosimValueError(f"--unit {unit!r}: the regimen gives "
                                 f"{'a rate' if rate else 'a dose'}, so the unit must be {kind} "
                                 f"({exc}).") from None


def _check_doses(doses) -> np.ndarray:
    d = np.asarray(doses, dtype=np.float64)
    if d.ndim != 1 or d.size < 2:
        raise NeurosimValueError(f"give at least two dose levels; got {list(np.atleast_1d(d))}.")
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        bad = [x for x in d if not (math.isfinite(x) and x > 0)]
        raise NeurosimValueError(f"doses must be positive numbers; got {_fmt(bad[0])} in "
                                 f"{', '.join(_fmt(x) for x in d)}.")
    if np.any(np.diff(d) <= 0):
        raise NeurosimValueError(f"doses must be increasing (each larger than the one before); "
                                 f"got {', '.join(_fmt(x) for x in d)}.")
    return d


def _metric(name: str, what: str) -> str:
    from ..simulation import METRICS

    names = [m[0] for m in METRICS]
    if name not in names:
        raise NeurosimKeyError(f"unknown {what} metric {name!r}." + did_you_mean(name, names)
                               + f" Metrics: {', '.join(names)}.")
    return name


def dose_response(scenario, drug: str, doses: Sequence[float], *, unit: str = "mg",
                  patients: int = 200, seed: int | None = None, compare: Sequence[str] = (),
                  response: str = "responder_30", side_effect: str = "side_effect_burden",
                  threshold: float = DEFAULT_THRESHOLD, n_boot: int = 500,
                  confidence: float = 0.95, output=None, threads: int | None = None,
                  workers: int | None = None, dask=None, progress=None,
                  command_line: str | None = None, resume: bool = False,
                  batch_size: int | None = None) -> DoseResponseResult:
    """Run a drug at several dose levels on the same virtual patients and analyse it.

    Parameters
    ----------
    scenario : str or Path or Scenario
        A scenario file (or packaged name) whose ``[treatments] regimens``
        give ``drug``; its other treatments are kept in every arm.
    drug : str
        The drug whose dose varies (library or ``[drugs.<name>]``).
    doses : sequence of float
        Dose per administration in ``unit``, positive and increasing. With
        several regimens of the drug, each is scaled by ``dose / (dose of
        the first)``.
    unit : str
        Unit of ``doses``: a mass (``"mg"``, ``"ug"``, ``"mg/kg"``) for dose
        regimens, a rate (``"mg/h"``, ``"ug/h"``) for infusions and patches.
    patients : int
        Virtual patients (drawn from the population with ``seed``).
    seed : int, optional
        Default: the scenario's seed.
    compare : sequence of str
        Comparators ``"DRUG"`` or ``"DRUG:REGIMEN"`` (e.g.
        ``"morphine:morphine 10 mg po q4h"``); a bare drug takes its regimen
        from the packaged scenarios. Each replaces the drug's regimens.
    response, side_effect : str
        Metrics of :data:`neurosim.simulation.METRICS`.
    threshold : float
        Tolerability threshold of the mean ``side_effect`` (TD).
    n_boot : int
        Bootstrap resamples of the patients (seeded by ``seed``).
    confidence : float
    output : str or Path, optional
        ``.h5``: the runs (sweep layout) plus ``/dose_response``; ``.csv``: the
        per-arm table and the comparisons. Default: nothing kept.
    threads, workers, dask, progress, command_line, batch_size
        As in :func:`neurosim.sweep.run_sweep`.
    resume : bool
        Finish an interrupted run of the same study. With an ``output``, the
        runs go to a hidden file beside it (``.NAME.running.h5``) that is
        removed once the result is written; a run stopped by Ctrl-C or
        SIGTERM (which keeps every finished batch), or killed, leaves it
        there, and ``resume=True`` finishes it instead of starting again:
        the same numbers as an uninterrupted run. Without ``resume`` an
        unfinished run is discarded.

    Returns
    -------
    DoseResponseResult

    Raises
    ------
    NeurosimKeyError
        A drug not in the library or not given in the scenario, an unknown
        metric.
    NeurosimValueError
        Doses not positive or not increasing, a unit of the wrong kind, a
        bad comparator, ``resume`` without an ``output``.
    ResultsFileError
        An output that cannot be written; on ``resume``, an unfinished run
        of a different study.
    neurosim.sweep.SweepInterrupted
        Ctrl-C or SIGTERM: the finished batches are kept for ``resume``.
    """
    from .. import _toml
    from ..scenario import Scenario, load_scenario
    from ..sweep import SweepInterrupted, loads_sweep, open_sweep, run_sweep

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    d = _check_doses(doses)
    _metric(response, "response")
    _metric(side_effect, "side-effect")
    if not (isinstance(patients, (int, np.integer)) and patients >= 2):
        raise NeurosimValueError(f"patients must be a whole number >= 2; got {patients!r}.")
    if not 0 < confidence < 1:
        raise NeurosimValueError(f"confidence lies between 0 and 1; got {confidence!r}.")
    if not (math.isfinite(threshold) and threshold > 0):
        raise NeurosimValueError(f"threshold must be a positive number; got {threshold!r}.")
    out_path = Path(output) if output is not None else None
    if resume and out_path is None:
        raise NeurosimValueError("resume needs the output file of the interrupted run (-o): "
                                 "its unfinished runs are kept beside it.")
    if out_path is not None and out_path.suffix.lower() not in (".h5", ".hdf5", ".csv"):
        raise ResultsFileError(f"{out_path}: the output is a .h5 file (every run) or a .csv "
                               "table.")
    if out_path is not None:
        folder = out_path.parent if str(out_path.parent) else Path(".")
        if not folder.is_dir():
            raise ResultsFileError(f"cannot write {out_path}: the folder {folder} does not "
                                   "exist.")
    library = sc.library.names
    if drug not in library:
        raise NeurosimKeyError(f"unknown drug {drug!r}." + did_you_mean(drug, library)
                               + f" Drugs in the library and {sc.source}: "
                               + ", ".join(library) + ".")
    mine, raw_regs = _drug_regimens(sc, drug)
    if not mine:
        given = sorted({r.drug for r in sc.plan.regimens})
        raise NeurosimKeyError(
            f"{sc.source} gives no regimen of {drug!r}"
            + (f" (its regimens give: {', '.join(given)})" if given else
               " (it has no regimens)") + f". Add one to [treatments] regimens, e.g. "
            f"\"{drug} <dose> mg po q12h\", or choose a drug it gives.")
    raw = copy.deepcopy(sc.raw)
    treatments = raw.pop("treatments", {})
    if "library" in treatments:
        raise NeurosimValueError(f"{sc.source}: write added drugs as [drugs.<name>] sections "
                                 "(not [treatments.library]) for a dose-response study.")
    if any(isinstance(x, dict) and x.get("drug") == drug
           for x in treatments.get("titration", [])):
        notes = [f"{drug} is titrated in {sc.source}: the dose levels are starting doses"]
    else:
        notes = []
    population = raw.pop("population", None)
    # [population.drugs] of the scenario: the same factors in every arm that gives the drug
    given = {r.drug for r in sc.plan.regimens} | {r.drug for r in sc.plan.rescues}
    drug_tables = {k: v for k, v in (population or {}).get("drugs", {}).items() if k in given}
    rate = mine[0][1].rate > 0
    base = mine[0][1].rate if rate else mine[0][1].amount
    mg = _doses_mg(d, unit, rate, sc.body_weight)

    def with_regimens(new_lines):
        t = copy.deepcopy(treatments)
        keep = [x for i, x in enumerate(raw_regs) if i not in {k for k, _ in mine}]
        t["regimens"] = keep + list(new_lines)
        return {k: v for k, v in t.items() if k in ("regimens", "titration", "rescue",
                                                     "procedures")}

    arms = []
    control = with_regimens([])
    arms.append({"name": "control", "description": f"no {drug}", **control})
    for x, m in zip(d, mg):
        lines = []
        for _, reg in mine:
            f = m / base
            new = dataclasses.replace(reg, rate=reg.rate * f) if rate else \
                dataclasses.replace(reg, amount=reg.amount * f)
            lines.append(new.to_text())
        arms.append({"name": _arm_name(f"{drug}_{_fmt(x)}{unit}"),
                     "description": f"{drug} {_fmt(x)} {unit}", **with_regimens(lines)})
    comparators = []
    for i, item in enumerate(compare):
        cdrug, _, creg = str(item).partition(":")
        cdrug, creg = cdrug.strip(), creg.strip()
        if cdrug not in library:
            raise NeurosimKeyError(f"--compare {item!r}: unknown drug {cdrug!r}."
                                   + did_you_mean(cdrug, library)
                                   + f" Drugs: {', '.join(library)}.")
        if not creg:
            creg, origin = _packaged_regimen(cdrug)
            if creg is None:
                raise NeurosimValueError(f"--compare {item!r}: no packaged scenario gives "
                                         f"{cdrug}; give its regimen, e.g. --compare "
                                         f"\"{cdrug}:{cdrug} 10 mg po q12h\".")
        elif creg.split()[0] != cdrug:
            creg = f"{cdrug} {creg}"
        from ..scenario import _bare
        from ..treatments.regimen import parse_regimen

        try:
            parse_regimen(creg, body_weight=sc.body_weight)
        except NeurosimValueError as exc:
            raise NeurosimValueError(f"--compare {item!r}: {_bare(exc)}") from None
        name = _arm_name(f"compare_{cdrug}")
        if name in [a["name"] for a in arms]:
            name = f"{name}_{i + 1}"
        arms.append({"name": name, "description": creg, **with_regimens([creg])})
        comparators.append((name, creg))
    seed = sc.seed if seed is None else int(seed)
    if seed < 0:
        raise NeurosimValueError(f"seed must be >= 0; got {seed}.")
    raw.setdefault("scenario", {})["seed"] = seed
    raw["sweep"] = {"patients": int(patients), "other_parameters": "population",
                    "outputs": ["nrs"], "arms": arms}
    correlations = (population or {}).get("correlations", [])
    factor_names = {f"{k}.{q}" for k, v in (population or {}).get("drugs", {}).items()
                    for q in v}
    if any(x not in factor_names for c in correlations for x in c["parameters"]):
        raise NeurosimValueError(
            f"{sc.source}: [[population.correlations]] with model parameters are not carried "
            "into a dose-response study (its patients' parameters are drawn independently); "
            "remove them, or write a sweep file with [sweep.parameters] and "
            "[[sweep.correlations]].")
    if drug_tables:
        raw["sweep"]["drugs"] = drug_tables
        kept = [c for c in correlations
                if all(x.rsplit(".", 1)[0] in drug_tables for x in c["parameters"])]
        if kept:
            raw["sweep"]["correlations"] = kept
    text = _toml.dumps(raw, header=f"dose-response of {drug} from {sc.source}")
    sweep = loads_sweep(text, source=str(sc.source))
    tmpdir = None
    if out_path is not None:
        # The runs go to a hidden file beside the output; the result replaces it
        # (.h5) or is written from it (.csv). Interrupted, it stays for resume.
        work = running_file(out_path)
        if resume and work.exists():
            _check_resumable(work, sweep)
        elif work.exists():
            work.unlink()
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="neurosim-dr-")
        work = Path(tmpdir.name) / "dose_response.h5"
    keep = False
    try:
        try:
            run_sweep(sweep, work, summary_only=True, threads=threads, workers=workers,
                      dask=dask, progress=progress, command_line=command_line,
                      resume=resume and work.exists(), batch_size=batch_size)
        except SweepInterrupted as exc:
            # its message names the file and says to rerun with --resume
            keep = out_path is not None
            if not keep:
                exc.args = (f"stopped by {signal.Signals(exc.signum).name}: {exc.done} of "
                            f"{exc.total} patients were done; without an output file (-o) "
                            "nothing is kept to resume.",)
            raise
        res = open_sweep(work)
        names = [a.name for a in sweep.arms]
        ok = np.ones(res.n_patients, dtype=bool)
        for a in names:
            ok &= res.status(a) == 0
        M = {a: res.metrics(a, sorted({response, side_effect, "nrs_baseline",
                                       "nrs_endpoint"})) for a in names}
        result = _analyse(sc, drug, d, unit, M, ok, names, sweep, comparators, response,
                          side_effect, threshold, n_boot, seed, confidence, notes)
        if out_path is not None and out_path.suffix.lower() in (".h5", ".hdf5"):
            _write_group(work, result)
            work.replace(out_path)
            result.path = out_path
        elif out_path is not None:
            _write_csv(out_path, result)
            result.path = out_path
    finally:
        if not keep and work.exists() and work != out_path:
            work.unlink()
        if tmpdir is not None:
            tmpdir.cleanup()
    return result


def running_file(output) -> Path:
    """Where :func:`dose_response` keeps the runs of ``output`` until it is written.

    ``.NAME.running.h5`` beside ``NAME.h5`` or ``NAME.csv``: what a resumed run finishes.
    """
    out = Path(output)
    suffix = out.suffix if out.suffix.lower() in (".h5", ".hdf5") else ".h5"
    return out.with_name(f".{out.stem}.running{suffix}")


def _check_resumable(work: Path, sweep) -> None:
    """Refuse to resume ``work`` when it holds the runs of another study."""
    from ..sweep.store import read_header

    if read_header(work).get("sweep_sha256") != sweep.sha256:
        raise ResultsFileError(
            f"{work} holds an unfinished run of a different dose-response study (another "
            "scenario, drug, doses, comparators, patients or seed). Rerun that study with "
            "--resume to finish it, or run without --resume to start this one (the unfinished "
            "run is then discarded).")


def _analyse(sc, drug, d, unit, M, ok, names, sweep, comparators, response, side_effect,
             threshold, n_boot, seed, confidence, notes):
    n_ok = int(ok.sum())
    if n_ok < 2:
        raise NeurosimValueError(f"only {n_ok} patient(s) were simulated successfully in every "
                                 "arm; nothing to analyse.")
    resp = {a: M[a][response][ok] for a in names}
    red = {a: (M[a]["nrs_baseline"] - M[a]["nrs_endpoint"])[ok] for a in names}
    burd = {a: M[a][side_effect][ok] for a in names}
    for a in names:
        for what, v in ((response, resp[a]), (side_effect, burd[a])):
            if not np.all(np.isfinite(v)):
                raise NeurosimValueError(f"{what} is undefined (NaN) for some patients in arm "
                                         f"{a} (e.g. a time never reached); choose another "
                                         "metric.")
    idx = _resamples(n_ok, n_boot, seed)
    dose_arms = names[1:1 + d.size]

    def means_ci(values):
        m = np.array([values[a].mean() for a in dose_arms])
        B = np.stack([values[a] for a in dose_arms], axis=1)  # (n, k)
        boot = np.stack([B[rows].mean(axis=0) for rows in idx])
        a = (1 - confidence) / 2
        ci = np.column_stack([np.quantile(boot, a, axis=0), np.quantile(boot, 1 - a, axis=0)])
        return m, ci, B

    r_mean, r_ci, R = means_ci(resp)
    red_mean, red_ci, _ = means_ci(red)
    b_mean, b_ci, Bm = means_ci(burd)
    # Emax on the control plus every dose (the same patients in each column)
    Y = np.column_stack([resp[names[0]], R])
    binary = bool(np.all((Y == 0) | (Y == 1)))
    fit = fit_emax_bootstrap(np.r_[0.0, d], Y, n_boot=n_boot, seed=seed,
                             confidence=confidence, resamples=idx,
                             response_range=(0.0, 1.0) if binary else None)
    td = threshold_dose(d, b_mean, threshold)
    tds = [threshold_dose(d, Bm[rows].mean(axis=0), threshold) for rows in idx]
    finite = np.isfinite(tds)
    td_ci = _percentile_ci(tds, confidence) if finite.mean() >= 0.5 else (math.nan, math.nan)
    if math.isfinite(td) and finite.mean() < 1:
        notes = notes + [f"in {100 * (1 - finite.mean()):.0f} % of bootstrap resamples the "
                         f"burden stays below {threshold:g}"]
    comparisons = []
    a2 = (1 - confidence) / 2
    for cname, creg in comparators:
        for j, arm in enumerate(dose_arms):
            row = {"comparator": creg, "arm": cname, "dose": float(d[j])}
            for key, values in (("d_response", resp), ("d_reduction", red),
                                ("d_burden", burd)):
                diff = values[arm] - values[cname]
                boot = np.array([diff[rows].mean() for rows in idx])
                row[key] = float(diff.mean())
                row[key + "_ci"] = [float(np.quantile(boot, a2)), float(np.quantile(boot, 1 - a2))]
            comparisons.append(row)
    regimens = {}
    for i, a in enumerate(sweep.arms):
        regimens[a.name] = [r.to_text() for r in sweep.arm_scenario(i).plan.regimens]
    return DoseResponseResult(
        name=sc.name, drug=drug, unit=unit, doses=d, n_patients=n_ok, response=response,
        side_effect=side_effect, responder_rate=r_mean, responder_ci=r_ci,
        mean_reduction=red_mean, mean_reduction_ci=red_ci, burden=b_mean, burden_ci=b_ci,
        control={"response": float(resp[names[0]].mean()),
                 "reduction": float(red[names[0]].mean()),
                 "burden": float(burd[names[0]].mean())},
        fit=fit, td=td, td_ci=td_ci, threshold=threshold, comparisons=comparisons,
        regimens=regimens, arms=list(names), seed=seed, confidence=confidence,
        endpoint_weeks=sc.endpoint / 168.0, failed=int(ok.size - n_ok), notes=notes,
        scenario_regimens=[r.to_text() for r in sc.plan.regimens if r.drug == drug],
        comparator_means={creg: {"response": float(resp[c].mean()),
                                 "reduction": float(red[c].mean()),
                                 "burden": float(burd[c].mean())} for c, creg in comparators})


def _write_group(path, result: DoseResponseResult) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        g = f.create_group("dose_response")
        g.attrs["description"] = ("Dose-response summary: per-dose means with bootstrap "
                                  "intervals, Emax fit, TD and paired comparisons "
                                  "(docs/dose-response.md)")
        g.attrs["summary"] = json.dumps(result.summary(), default=float)
        g.attrs["arms"] = json.dumps(result.arms)
        words = {
            "doses": (result.unit, "Dose per administration of each dose arm"),
            "responder_rate": ("1", f"Mean {result.response} per dose"),
            "responder_ci": ("1", f"Bootstrap interval of the mean {result.response}"),
            "mean_reduction": ("NRS", "Mean NRS reduction from baseline at the endpoint"),
            "mean_reduction_ci": ("NRS", "Bootstrap interval of the mean NRS reduction"),
            "burden": ("0-1", f"Mean {result.side_effect} per dose"),
            "burden_ci": ("0-1", f"Bootstrap interval of the mean {result.side_effect}"),
        }
        for k, (unit, text) in words.items():
            ds = g.create_dataset(k, data=getattr(result, k))
            ds.attrs["units"] = unit
            ds.attrs["description"] = text


def _write_csv(path, result: DoseResponseResult) -> None:
    import csv

    from ..io.results import atomic_write

    rows = result.rows()
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    s = result.summary()
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(keys)
            for r in rows:
                w.writerow([r.get(k, "") for k in keys])
            w.writerow([])
            w.writerow(["ed50", "ed50_ci_low", "ed50_ci_high", "hill", "emax", "e0", "unit",
                        "threshold", "td", "td_ci_low", "td_ci_high", "window_ratio"])
            w.writerow([s["ed50"], *s["ed50_ci"], s["hill"], s["emax"], s["e0"], s["unit"],
                        s["threshold"], s["td"], *s["td_ci"], s["window_ratio"]])
            if result.comparisons:
                w.writerow([])
                w.writerow(["comparator", "dose", "d_response", "d_response_ci_low",
                            "d_response_ci_high", "d_reduction", "d_reduction_ci_low",
                            "d_reduction_ci_high", "d_burden", "d_burden_ci_low",
                            "d_burden_ci_high"])
                for c in result.comparisons:
                    w.writerow([c["comparator"], c["dose"], c["d_response"], *c["d_response_ci"],
                                c["d_reduction"], *c["d_reduction_ci"], c["d_burden"],
                                *c["d_burden_ci"]])
