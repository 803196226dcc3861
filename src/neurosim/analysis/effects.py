"""Paired treatment effects: each arm of a virtual trial against a control arm.

The arms of a sweep (and population runs of the same patients) treat the
**same virtual patients**, so arm and control are compared patient by
patient (a paired design, as in a cross-over trial without carry-over).
Patients count when they finished successfully in both arms and the metric
is defined (finite) in both.

* **Continuous metrics** (pain AUC, endpoint NRS, MME per day, ...): the
  mean of the per-patient differences ``d_i = arm_i - control_i`` with the
  paired t interval ``mean(d) +- t_{n-1} sd(d) / sqrt(n)`` and the paired
  t-test's two-sided p-value.

* **Responder metrics** (``responder_30``, ``responder_50``: 1 yes, 0 no):
  the difference of responder rates ``(b - c) / n``, where ``b`` patients
  respond in the arm only and ``c`` in the control only, with Newcombe's
  score interval for paired proportions (Newcombe 1998, Stat Med 17:2635,
  method 10: Wilson intervals of the two rates combined through the
  correlation ``phi`` of the pairs, corrected towards 0 by ``n/2`` when
  positive), and McNemar's exact two-sided p-value (the discordant pairs
  ``b`` out of ``b + c`` against a fair coin). When the interval lies
  above 0, the number needed to treat for one more responder is
  ``1 / difference`` with the interval ``1 / high`` to ``1 / low``.

A virtual trial can be made as large as wanted, so its p-values say more
about its size than about the drug; the differences and their intervals
are the result to read.

Examples
--------
>>> from neurosim.sweep import open_sweep
>>> table = treatment_effects(open_sweep("trial.h5"), control="morphine")  # doctest: +SKIP
>>> print(table.format())                                                  # doctest: +SKIP
>>> plot_effects(table)                                                    # doctest: +SKIP
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, did_you_mean
from .stats import check_level, wilson_interval

__all__ = ["Effect", "EffectTable", "BINARY_METRICS", "DEFAULT_METRICS",
           "paired_mean_difference", "paired_rate_difference", "mcnemar_exact_p",
           "treatment_effects", "plot_effects"]

#: Metrics that are 1 (yes) or 0 (no) per patient: compared as rates.
BINARY_METRICS = ("responder_30", "responder_50")

#: Metrics compared when none are named.
DEFAULT_METRICS = ("nrs_endpoint", "pain_auc", "pct_time_nrs_ge4", "responder_30",
                   "responder_50", "mme_per_day", "side_effect_burden")


def _pairs(x, y):
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise NeurosimValueError(f"paired values need equal lengths; got {x.size} and {y.size}.")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def paired_mean_difference(x, y, level: float = 0.95):
    """Mean of ``x - y`` over the pairs, its paired t interval and p-value.

    Pairs with a non-finite value are left out.

    Returns
    -------
    (difference, low, high, p, n) : tuple
        NaN interval and p-value with fewer than 2 pairs; a zero-width
        interval when every difference is the same (p 1 if that is 0, else 0).
    """
    from scipy.stats import t as student_t

    level = check_level(level)
    x, y = _pairs(x, y)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    d = x - y
    mean = float(d.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan, n
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        return mean, mean, mean, (1.0 if mean == 0.0 else 0.0), n
    q = float(student_t.ppf(0.5 + 0.5 * level, n - 1))
    p = float(2.0 * student_t.sf(abs(mean) / se, n - 1))
    return mean, mean - q * se, mean + q * se, p, n


def mcnemar_exact_p(b: int, c: int) -> float:
    """McNemar's exact two-sided p-value for ``b`` and ``c`` discordant pairs.

    Under no difference each discordant pair falls either way with
    probability 1/2: ``p = min(1, 2 P(Binomial(b + c, 1/2) <= min(b, c)))``;
    1 without discordant pairs.
    """
    from scipy.stats import binom

    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise NeurosimValueError(f"discordant pair counts must be >= 0; got {b}, {c}.")
    m = b + c
    if m == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(b, c), m, 0.5)))


def paired_rate_difference(x, y, level: float = 0.95):
    """Difference of the rates of ``x`` and ``y`` (1 yes, 0 no) over the pairs.

    Newcombe's score interval for paired proportions (method 10 of
    Newcombe 1998) and McNemar's exact p-value. Values above 0.5 count as
    yes; pairs with a non-finite value are left out.

    Returns
    -------
    (difference, low, high, p, n, b, c) : tuple
        ``b`` pairs are yes in ``x`` only, ``c`` in ``y`` only.
    """
    level = check_level(level)
    x, y = _pairs(x, y)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0, 0, 0
    xs, ys = x > 0.5, y > 0.5
    a = int(np.sum(xs & ys))
    b = int(np.sum(xs & ~ys))
    c = int(np.sum(~xs & ys))
    d = n - a - b - c
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, level)
    l2, u2 = wilson_interval(a + c, n, level)
    # phi of the 2 x 2 table of pairs, with Newcombe's correction of a positive
    # association by n/2 (0 when a margin is empty)
    denom = float(a + b) * float(c + d) * float(a + c) * float(b + d)
    cross = float(a) * d - float(b) * c
    if cross > 0.0:
        cross = max(cross - 0.5 * n, 0.0)
    phi = cross / math.sqrt(denom) if denom > 0.0 else 0.0
    diff = p1 - p2
    dl1, du1, dl2, du2 = p1 - l1, u1 - p1, p2 - l2, u2 - p2
    low = diff - math.sqrt(max(dl1 * dl1 - 2.0 * phi * dl1 * du2 + du2 * du2, 0.0))
    high = diff + math.sqrt(max(du1 * du1 - 2.0 * phi * du1 * dl2 + dl2 * dl2, 0.0))
    return diff, max(low, -1.0), min(high, 1.0), mcnemar_exact_p(b, c), n, b, c


@dataclass(frozen=True)
class Effect:
    """One arm against the control on one metric.

    Attributes
    ----------
    arm, control, metric, unit : str
    kind : str
        ``"mean difference"`` or ``"rate difference"``.
    n : int
        Patients compared (finished in both arms, metric defined in both).
    control_value, arm_value : float
        Mean (or rate, 0-1) in each arm over those patients.
    difference, low, high : float
        ``arm - control`` and its interval.
    p_value : float
        Paired t-test, or McNemar's exact test for rates.
    level : float
    discordant_arm, discordant_control : int
        Rates only: patients who respond in the arm only / the control only.
    nnt, nnt_low, nnt_high : float
        Rates only, when the interval lies above 0: number needed to treat
        for one more responder, and its interval; NaN otherwise.
    subgroup : str
        The patients compared, when not all (``treatment_effects(subgroup=)``).
    """

    arm: str
    control: str
    metric: str
    unit: str
    kind: str
    n: int
    control_value: float
    arm_value: float
    difference: float
    low: float
    high: float
    p_value: float
    level: float
    discordant_arm: int = 0
    discordant_control: int = 0
    nnt: float = math.nan
    nnt_low: float = math.nan
    nnt_high: float = math.nan
    subgroup: str = ""


def _fmt(x: float, sign: bool = False) -> str:
    """Three significant digits, but whole numbers from 1000 on (no exponent)."""
    if not math.isfinite(x):
        return "n/a"
    spec = ("+" if sign else "") + (".0f" if abs(x) >= 1000 else ".3g")
    return format(x, spec)


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<1e-4" if p < 1e-4 else f"{p:.2g}"


class EffectTable:
    """Paired effects of several arms against one control (:func:`treatment_effects`).

    Attributes
    ----------
    effects : list of Effect
        One per arm and metric, arm by arm.
    control : str
    level : float
    source : str
        What was compared (a sweep's name, or the scenarios).
    """

    def __init__(self, effects, control: str, level: float, source: str):
        self.effects = list(effects)
        self.control = control
        self.level = level
        self.source = source

    def __len__(self) -> int:
        return len(self.effects)

    def __iter__(self):
        return iter(self.effects)

    @property
    def arms(self) -> list:
        """Arms compared with the control, in order."""
        return list(dict.fromkeys(e.arm for e in self.effects))

    @property
    def metrics(self) -> list:
        """Metrics compared, in order."""
        return list(dict.fromkeys(e.metric for e in self.effects))

    def get(self, arm: str, metric: str) -> Effect:
        """The effect of one arm on one metric."""
        for e in self.effects:
            if e.arm == arm and e.metric == metric:
                return e
        raise NeurosimKeyError(f"no effect of arm {arm!r} on {metric!r} in this table."
                               + did_you_mean(arm, self.arms) + did_you_mean(metric,
                                                                             self.metrics))

    def rows(self) -> list:
        """The effects as dicts (CSV columns)."""
        return [asdict(e) for e in self.effects]

    def to_csv(self, path) -> Path:
        """Write one row per effect (atomically: whole or not at all)."""
        import io

        from ..io.results import atomic_write

        rows = self.rows()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(Effect.__dataclass_fields__),
                           lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        target = Path(path)
        with atomic_write(target) as tmp:
            Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
        return target

    def format(self) -> str:
        """The table in words, one line per arm and metric."""
        pct = f"{100 * self.level:g} %"
        head = (f"Paired effects against '{self.control}' ({self.source}): arm minus control "
                f"on the same patients, {pct} intervals (means: paired t; responder rates: "
                "Newcombe, in percentage points; p: paired t / McNemar exact)")
        cols = ("arm", "metric", "n", "control", "arm value", "difference", f"{pct} interval",
                "p", "NNT")
        lines = []
        for e in self.effects:
            scale = 100.0 if e.kind == "rate difference" else 1.0
            unit = "%" if e.kind == "rate difference" else e.unit
            nnt = "" if not math.isfinite(e.nnt) else (
                f"{e.nnt:.1f} ({e.nnt_low:.1f}-{e.nnt_high:.1f})")
            lines.append((e.arm, f"{e.metric} ({unit})", str(e.n),
                          _fmt(scale * e.control_value), _fmt(scale * e.arm_value),
                          _fmt(scale * e.difference, sign=True),
                          f"{_fmt(scale * e.low)} to {_fmt(scale * e.high)}", _fmt_p(e.p_value),
                          nnt))
        widths = [max(len(c), *(len(r[i]) for r in lines)) if lines else len(c)
                  for i, c in enumerate(cols)]
        out = [head, "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
        out += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in lines]
        return "\n".join(out)

    def __repr__(self) -> str:
        return (f"EffectTable(control={self.control!r}, arms={self.arms}, "
                f"metrics={self.metrics}, level={self.level})")


def _check_paired(R) -> None:
    """Population runs compared as arms must be the same patients.

    They are when their parameter matrices are equal (e.g. one matrix given
    to every run), or when they were drawn with the same seed (scenario
    modifiers may then change some parameters of every patient alike).
    """
    from .plots import ResultSet

    if not isinstance(R, ResultSet):
        return
    runs = [R.result(a) for a in R.arms]
    if all(np.array_equal(r.parameters, runs[0].parameters) for r in runs[1:]):
        return
    seeds = {r.seed for r in runs}
    if len(seeds) > 1:
        raise NeurosimValueError(
            f"the results hold different patients (their parameters differ and they were "
            f"drawn with different seeds: {', '.join(map(str, sorted(seeds)))}), so they "
            "cannot be compared patient by patient. Simulate every scenario with the same "
            "[population] seed or the same patient matrix (or write one sweep file with "
            "arms).")


def treatment_effects(result, control=None, *, arms=None, metrics=None,
                      level: float = 0.95, rows=None, subgroup: str = "") -> EffectTable:
    """Paired effects of each arm against a control arm, metric by metric.

    Parameters
    ----------
    result : SweepResult, list of ScenarioResult or ResultSet
        Arms given to the same patients: a sweep's arms, or population runs
        of the same patients (same size and seed).
    control : str, optional
        The control arm (default: the first arm).
    arms : str or list of str, optional
        Arms to compare with it (default: every other arm).
    metrics : str or list of str, optional
        Per-patient metrics (default :data:`DEFAULT_METRICS`, those the
        result has); ``responder_*`` are compared as rates, the rest as means.
    level : float
        Coverage of the intervals (default 0.95).
    rows : array_like of bool (n_patients,) or of int, optional
        A subgroup: only these patients (e.g. one genotype,
        ``res.genotypes()["UGT2B7"] == "slow"``); default every patient.
    subgroup : str
        Words for the subgroup, shown in the table's title.

    Returns
    -------
    EffectTable

    Raises
    ------
    NeurosimValueError
        Fewer than two arms, an arm compared with itself, results of
        different patients, a bad ``rows``, or no patient finished in both
        arms.
    NeurosimKeyError
        An unknown arm or metric (with the names that exist).
    """
    from .plots import _arms_of, _label, _ok

    level = check_level(level)
    R = _arms_of(result)
    _check_paired(R)
    if len(R.arms) < 2:
        raise NeurosimValueError(
            f"{_label(R)} has one arm ({R.arms[0]!r}); paired effects need a control and at "
            "least one other arm (a sweep with [[sweep.arms]], or population runs of several "
            "scenarios on the same patients).")
    control = R._arm(control if control is not None else R.arms[0])
    if arms is None:
        arms = [a for a in R.arms if a != control]
    else:
        arms = [R._arm(a) for a in ([arms] if isinstance(arms, str) else arms)]
        if control in arms:
            raise NeurosimValueError(f"arm {control!r} is the control; compare it with another "
                                     "arm.")
        arms = list(dict.fromkeys(arms))
    units = R.metric_units()
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if m in units]
    else:
        metrics = list(dict.fromkeys([metrics] if isinstance(metrics, str) else metrics))
        for m in metrics:
            if m not in units:
                raise NeurosimKeyError(f"unknown metric {m!r}." + did_you_mean(m, list(units)))
    ok_c = _ok(R, control) & _subgroup_mask(rows, R.n_patients)
    mc = R.metrics(control, metrics)
    effects = []
    for arm in arms:
        ok = ok_c & _ok(R, arm)
        if not ok.any():
            raise NeurosimValueError(f"no patient{' of the subgroup' if rows is not None else ''}"
                                     f" finished in both '{arm}' and the control "
                                     f"'{control}'; nothing to compare.")
        ma = R.metrics(arm, metrics)
        for m in metrics:
            x = np.asarray(ma[m], dtype=float)[ok]
            y = np.asarray(mc[m], dtype=float)[ok]
            keep = np.isfinite(x) & np.isfinite(y)
            common = dict(arm=arm, control=control, metric=m, unit=units.get(m, ""),
                          level=level, subgroup=subgroup)
            if m in BINARY_METRICS:
                diff, low, high, p, n, b, c = paired_rate_difference(x, y, level)
                nnt = nlo = nhi = math.nan
                if n and low > 0.0:
                    nnt, nlo, nhi = 1.0 / diff, 1.0 / high, 1.0 / low
                effects.append(Effect(
                    kind="rate difference", n=n,
                    control_value=float(np.mean(y[keep] > 0.5)) if n else math.nan,
                    arm_value=float(np.mean(x[keep] > 0.5)) if n else math.nan,
                    difference=diff, low=low, high=high, p_value=p, discordant_arm=b,
                    discordant_control=c, nnt=nnt, nnt_low=nlo, nnt_high=nhi, **common))
            else:
                diff, low, high, p, n = paired_mean_difference(x, y, level)
                effects.append(Effect(
                    kind="mean difference", n=n,
                    control_value=float(y[keep].mean()) if n else math.nan,
                    arm_value=float(x[keep].mean()) if n else math.nan,
                    difference=diff, low=low, high=high, p_value=p, **common))
    source = _label(R) + (f", {subgroup}" if subgroup else "")
    return EffectTable(effects, control, level, source)


def _subgroup_mask(rows, n: int) -> np.ndarray:
    """(n,) bool of the patients in ``rows`` (all when None)."""
    from ..sweep.result import patient_rows

    mask = np.zeros(n, dtype=bool)
    mask[patient_rows(rows, n)] = True
    return mask


def plot_effects(table: EffectTable, *, metrics=None, fig=None):
    """Forest plot: each arm's difference from the control with its interval.

    One panel per metric, one row per arm; responder rates in percentage
    points. The dashed line is no difference.

    Parameters
    ----------
    table : EffectTable
    metrics : list of str, optional
        Panels to draw (default: every metric of the table).
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    metrics = table.metrics if metrics is None else list(metrics)
    for m in metrics:
        if m not in table.metrics:
            raise NeurosimKeyError(f"metric {m!r} is not in this table."
                                   + did_you_mean(m, table.metrics))
    if not metrics:
        raise NeurosimValueError("the table has no effects to draw.")
    arms = table.arms
    cols = min(len(metrics), 3)
    rows = -(-len(metrics) // cols)
    if fig is None:
        fig = Figure(figsize=(4.2 * cols, 0.9 + 0.45 * len(arms) * rows + 0.9 * rows),
                     layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    y = np.arange(len(arms))[::-1]
    for ax, m in zip(axes, metrics):
        es = [table.get(a, m) for a in arms]
        rate = es[0].kind == "rate difference"
        s = 100.0 if rate else 1.0
        d = np.array([e.difference for e in es]) * s
        lo = np.array([e.low for e in es]) * s
        hi = np.array([e.high for e in es]) * s
        err = np.array([np.where(np.isfinite(lo), d - lo, 0.0),
                        np.where(np.isfinite(hi), hi - d, 0.0)])
        ax.errorbar(d, y, xerr=err, fmt="o", color="tab:blue", ms=4, capsize=3, lw=1.1)
        ax.axvline(0.0, color="0.4", ls="--", lw=0.8)
        ax.set_yticks(y, [f"{a}\n(n = {e.n})" for a, e in zip(arms, es)], fontsize=8)
        ax.set_ylim(-0.7, len(arms) - 0.3)
        unit = "percentage points" if rate else es[0].unit
        ax.set_xlabel(f"difference ({unit})", fontsize=8)
        ax.set_title(m, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(f"Against '{table.control}', same patients ({table.source}); "
                 f"{100 * table.level:g} % intervals", fontsize=10)
    return fig
