"""Which baseline markers predict severe pain and response to treatment in a sweep.

:func:`rank_biomarkers` reads a sweep's file (``neurosim sweep``), takes
each patient's values at treatment start -- plasma IL-6, TNF-alpha and
free NGF, tumour volume, the baseline NRS, the genotype categories of the
sweep and any varied parameters asked for -- and measures how well each
predicts

* **severe pain** (outcome ``severe_pain``) in the reference arm (the
  untreated arm when there is one): binary, the mean NRS over the last
  week before the endpoint at or above ``severe_nrs`` (7 by default, the
  usual cut-off of severe cancer pain); continuous, the pain AUC (NRS x
  days from treatment start to the endpoint);
* **response** to each treatment arm (outcome ``response``; ``response_50``
  for the substantial response): binary, the IMMPACT responder flag
  (``responder_30``: endpoint NRS at least 30 % below baseline);
  continuous, the percentage reduction of the NRS from baseline to the
  endpoint, 100 (baseline - endpoint) / baseline;
* any metric of :data:`neurosim.simulation.METRICS` named as an outcome
  (e.g. ``mme_per_day``), in every selected arm: continuous (and binary
  when the metric only takes the values 0 and 1).

For each predictor and outcome it reports the ROC AUC of the predictor
for the binary outcome and Spearman's rho with the continuous one, with
seeded percentile bootstrap intervals (:mod:`neurosim.analysis.stats`).
Predictors are ranked by their discrimination of the binary outcome,
``|AUC - 0.5|`` (a marker that is *lower* in patients with the outcome
predicts as well as one that is higher), or by ``|rho|`` when the binary
outcome has a single class. Resamples are shared by every predictor of an
outcome, so the difference between two predictors has a paired interval
(:meth:`BiomarkerRanking.difference`).

Patients whose simulation failed (status != 0) or is not finished in any
analysed arm are left out everywhere and counted
(:attr:`BiomarkerRanking.excluded`).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, did_you_mean
from . import stats as _stats

__all__ = ["rank_biomarkers", "BiomarkerRanking", "OUTCOMES", "MARKERS", "outcome_names"]

#: Baseline markers always considered: metric name, label, unit.
MARKERS = (
    ("il6_baseline", "IL-6 (plasma)", "pg/mL"),
    ("tnf_baseline", "TNF-alpha (plasma)", "pg/mL"),
    ("ngf_baseline", "NGF, free (plasma)", "pg/mL"),
    ("tumor_volume_baseline", "tumour volume", "mL"),
    ("nrs_baseline", "NRS at baseline", "0-10"),
)

#: Named outcomes: name -> description.
OUTCOMES = {
    "severe_pain": "severe pain in the reference arm: endpoint NRS >= severe_nrs (AUC); "
                   "pain AUC (rho)",
    "response": "IMMPACT moderate response in each treatment arm: responder_30 (AUC); "
                "% NRS reduction from baseline (rho)",
    "response_50": "IMMPACT substantial response in each treatment arm: responder_50 (AUC); "
                   "% NRS reduction from baseline (rho)",
}

_CSV_COLUMNS = ("outcome", "arm", "rank", "predictor", "label", "kind", "unit", "n",
                "n_positive", "auc", "auc_low", "auc_high", "rho", "rho_low", "rho_high")


def outcome_names() -> list[str]:
    """Every outcome name :func:`rank_biomarkers` accepts (named outcomes, then metrics)."""
    from ..simulation import METRICS

    return list(OUTCOMES) + [m[0] for m in METRICS]


@dataclass
class _Group:
    """One outcome in one arm: its definition, patients and ranked rows."""

    outcome: str
    arm: str
    binary_label: str
    continuous_label: str
    n: int
    n_positive: int | None
    ranked_by: str
    rows: list = field(default_factory=list)


@dataclass(eq=False)
class BiomarkerRanking:
    """Result of :func:`rank_biomarkers`: ranked predictors per outcome and arm.

    Attributes
    ----------
    groups : list
        One entry per (outcome, arm) with its definition and rows; rows are
        dicts with the keys of :meth:`rows`.
    excluded : dict of str -> dict
        Per analysed arm: ``failed`` (status != 0) and ``not_done``
        patients; a patient left out in one arm is left out everywhere.
    n_patients, n_used : int
        Patients in the sweep, and finished in every analysed arm.
    reference : str
        Arm of the severe-pain outcome.
    info : dict
        Sweep path and name, bootstrap resamples, level, seed, severe_nrs,
        endpoint (h).
    """

    groups: list
    excluded: dict
    n_patients: int
    n_used: int
    reference: str
    info: dict
    _replicates: dict = field(default_factory=dict, repr=False)

    # -- access -----------------------------------------------------------------------

    def rows(self) -> list[dict]:
        """Every row (all groups), in rank order within each group.

        Returns
        -------
        list of dict
            Keys ``outcome``, ``arm``, ``rank``, ``predictor``, ``label``,
            ``kind`` (``marker``, ``genotype``, ``parameter``), ``unit``,
            ``n``, ``n_positive``, ``auc``, ``auc_low``, ``auc_high``,
            ``rho``, ``rho_low``, ``rho_high``.
        """
        return [dict(r) for g in self.groups for r in g.rows]

    def group(self, outcome: str, arm: str | None = None) -> _Group:
        """The rows of one outcome (in one arm; optional when the outcome has one)."""
        cands = [g for g in self.groups if g.outcome == outcome and (arm is None or g.arm == arm)]
        if not cands:
            have = sorted({f"{g.outcome} ({g.arm})" for g in self.groups})
            raise NeurosimKeyError(f"no outcome {outcome!r}" + (f" in arm {arm!r}" if arm else "")
                                   + f" in this ranking; it has: {', '.join(have)}.")
        if len(cands) > 1:
            raise NeurosimValueError(f"outcome {outcome!r} was analysed in several arms; name "
                                     f"one: {', '.join(g.arm for g in cands)}.")
        return cands[0]

    def ranking(self, outcome: str, arm: str | None = None) -> list[str]:
        """Predictor names of one outcome, best first."""
        return [r["predictor"] for r in self.group(outcome, arm).rows]

    def row(self, outcome: str, predictor: str, arm: str | None = None) -> dict:
        """The row of one predictor for one outcome."""
        g = self.group(outcome, arm)
        for r in g.rows:
            if r["predictor"] == predictor:
                return dict(r)
        names = [r["predictor"] for r in g.rows]
        raise NeurosimKeyError(f"no predictor {predictor!r}." + did_you_mean(predictor, names)
                               + f" Predictors: {', '.join(names)}.")

    def difference(self, a: str, b: str, outcome: str = "severe_pain", arm: str | None = None,
                   *, statistic: str = "auc") -> _stats.Estimate:
        """Paired difference of a statistic between two predictors, with its bootstrap interval.

        Parameters
        ----------
        a, b : str
            Predictor names (``il6_baseline``, ``tumor_volume_baseline``, ...).
        outcome, arm : str
            The outcome (and its arm).
        statistic : {"auc", "rho"}

        Returns
        -------
        Estimate
            ``value(a) - value(b)``; the interval from the same resamples
            of the patients (NaN without bootstrap).
        """
        if statistic not in ("auc", "rho"):
            raise NeurosimValueError(f"statistic must be 'auc' or 'rho'; got {statistic!r}.")
        g = self.group(outcome, arm)
        ra, rb = self.row(outcome, a, g.arm), self.row(outcome, b, g.arm)
        value = ra[statistic] - rb[statistic]
        rep_a = self._replicates.get((g.outcome, g.arm, a, statistic))
        rep_b = self._replicates.get((g.outcome, g.arm, b, statistic))
        level = self.info["level"]
        if rep_a is None or rep_b is None:
            return _stats.Estimate(value, math.nan, math.nan, level, g.n, None)
        reps = rep_a - rep_b
        lo, hi = _stats.percentile_interval(reps, level)
        return _stats.Estimate(value, lo, hi, level, g.n, reps)

    # -- tables -----------------------------------------------------------------------

    def _title(self, g: _Group) -> str:
        pos = "" if g.n_positive is None else f", {g.n_positive} with the outcome"
        return (f"{g.outcome} in arm '{g.arm}': {g.n} patients{pos}; AUC for "
                f"{g.binary_label or '-'}; rho with {g.continuous_label}; ranked by {g.ranked_by}")

    def _cells(self, r) -> list[str]:
        def ci(v, lo, hi):
            if math.isnan(v):
                return "-"
            if math.isnan(lo):
                return f"{v:.3f}"
            return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

        return [str(r["rank"]), r["label"], r["unit"] or "-",
                ci(r["auc"], r["auc_low"], r["auc_high"]),
                ci(r["rho"], r["rho_low"], r["rho_high"])]

    def _head(self) -> list[str]:
        pct = f"{100 * self.info['level']:g} %"
        return ["rank", "predictor", "unit", f"AUC [{pct} CI]", f"Spearman rho [{pct} CI]"]

    def _exclusion_line(self) -> str:
        parts = [f"{a}: {e['failed']} failed, {e['not_done']} not finished"
                 for a, e in self.excluded.items() if e["failed"] or e["not_done"]]
        left = self.n_patients - self.n_used
        return (f"{self.n_used} of {self.n_patients} patients used; {left} left out"
                + (f" ({'; '.join(parts)})" if parts else ""))

    def to_text(self) -> str:
        """Aligned plain-text tables, one per outcome and arm."""
        out = [f"Baseline predictors in {self.info['sweep']} ({self._exclusion_line()}; "
               f"{self.info['n_boot']} bootstrap resamples, seed {self.info['seed']})"]
        for g in self.groups:
            body = [self._cells(r) for r in g.rows]
            head = self._head()
            w = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i])
                 for i in range(len(head))]

            def line(cells):
                return "  ".join(c.rjust(w[i]) if i in (0,) else c.ljust(w[i])
                                 for i, c in enumerate(cells)).rstrip()

            out += ["", self._title(g), line(head), line(["-" * x for x in w])]
            out += [line(b) for b in body]
        return "\n".join(out) + "\n"

    def to_markdown(self) -> str:
        """Markdown tables, one per outcome and arm."""
        out = [f"Baseline predictors in `{self.info['sweep']}`: {self._exclusion_line()}; "
               f"{self.info['n_boot']} bootstrap resamples, seed {self.info['seed']}."]
        for g in self.groups:
            head = self._head()
            out += ["", f"**{self._title(g)}**", "",
                    "| " + " | ".join(head) + " |",
                    "|" + "|".join("---:" if i == 0 else "---" for i in range(len(head))) + "|"]
            out += ["| " + " | ".join(self._cells(r)) + " |" for r in g.rows]
        return "\n".join(out) + "\n"

    def to_csv(self, path=None) -> str:
        """Every row as CSV (one line per predictor, outcome and arm).

        Parameters
        ----------
        path : str or Path, optional
            Also write it there (atomically).

        Returns
        -------
        str
            The CSV text.
        """
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(_CSV_COLUMNS)
        for r in self.rows():
            w.writerow([repr(float(r[k])) if isinstance(r[k], float) else
                        ("" if r[k] is None else r[k]) for k in _CSV_COLUMNS])
        text = buf.getvalue()
        if path is not None:
            from ..io.results import atomic_write

            with atomic_write(Path(path)) as tmp:
                Path(tmp).write_text(text, encoding="utf-8")
        return text

    def to_dataframe(self):
        """The rows as a pandas DataFrame (needs pandas).

        Returns
        -------
        pandas.DataFrame
            One row per predictor, outcome and arm; the columns of
            :meth:`rows`.
        """
        from ..errors import require

        pd = require("pandas", "BiomarkerRanking.to_dataframe()")
        df = pd.DataFrame(self.rows(), columns=list(_CSV_COLUMNS))
        df.attrs.update({k: v for k, v in self.info.items()})
        return df

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (f"BiomarkerRanking({self.info['sweep']!r}, {len(self.groups)} outcome(s), "
                f"{self.n_used} of {self.n_patients} patients)")

    # -- figure -----------------------------------------------------------------------

    def plot(self, fig=None):
        """Forest plot: each predictor's AUC (or rho) with its interval, one panel per outcome.

        Parameters
        ----------
        fig : matplotlib Figure, optional
            Where to draw (default: a new figure).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        k = len(self.groups)
        if fig is None:
            n_rows = max((len(g.rows) for g in self.groups), default=1)
            fig = Figure(figsize=(4.6 * min(max(k, 1), 3),
                                  (0.4 * n_rows + 1.5) * int(math.ceil(max(k, 1) / 3)) + 0.6),
                         layout="constrained")
        ncol = min(k, 3) or 1
        axes = fig.subplots(int(math.ceil(max(k, 1) / ncol)), ncol, squeeze=False).ravel()
        for ax, g in zip(axes, self.groups):
            stat = "auc" if g.ranked_by.startswith("|AUC") else "rho"
            rows = g.rows[::-1]
            y = np.arange(len(rows))
            v = np.array([r[stat] for r in rows], dtype=float)
            lo = np.array([r[f"{stat}_low"] for r in rows], dtype=float)
            hi = np.array([r[f"{stat}_high"] for r in rows], dtype=float)
            err = np.vstack([np.where(np.isnan(lo), 0, v - lo), np.where(np.isnan(hi), 0, hi - v)])
            colors = [{"marker": "tab:blue", "genotype": "tab:purple",
                       "parameter": "tab:green"}[r["kind"]] for r in rows]
            for yi, vi, e0, e1, c in zip(y, v, err[0], err[1], colors):
                ax.errorbar(vi, yi, xerr=[[e0], [e1]], fmt="o", color=c, capsize=3, ms=5)
            ax.axvline(0.5 if stat == "auc" else 0.0, color="0.5", ls="--", lw=0.8)
            ax.set_yticks(y, [r["label"] for r in rows], fontsize=8)
            ci = f"{100 * self.info['level']:g} % bootstrap CI"
            if stat == "auc":
                ax.set_xlim(0, 1)
                ax.set_xlabel(f"ROC AUC (1: always higher with the outcome; {ci})", fontsize=8)
                what = g.binary_label
            else:
                ax.set_xlim(-1, 1)
                ax.set_xlabel(f"Spearman rho ({ci})", fontsize=8)
                what = g.continuous_label
            head = "severe pain" if g.outcome == "severe_pain" else g.outcome.replace("_", " ")
            ax.set_title(f"{head}, arm '{g.arm}' (n = {g.n})\n{what}", fontsize=8)
            ax.grid(axis="x", color="0.9")
        for ax in axes[k:]:
            ax.set_visible(False)
        from matplotlib.lines import Line2D

        kinds = sorted({r["kind"] for g in self.groups for r in g.rows})
        handles = [Line2D([], [], marker="o", ls="", color={"marker": "tab:blue",
                                                            "genotype": "tab:purple",
                                                            "parameter": "tab:green"}[kd],
                          label=f"{kd} at baseline" if kd == "marker" else kd) for kd in kinds]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
        fig.suptitle(f"Baseline predictors of pain outcomes, sweep '{self.info['sweep']}' "
                     f"({self.n_used} virtual patients, to "
                     f"{self.info['endpoint_h'] / 168:g} weeks)", fontsize=10)
        return fig


# ----------------------------------------------------------------------------- computation


def _untreated(res, arm) -> bool:
    text = res.arm_attributes(arm).get("treatments", "")
    return not any(line.lstrip().startswith("- ") for line in text.splitlines())


def _binary_values(x) -> bool:
    v = x[np.isfinite(x)]
    return v.size > 0 and bool(np.all((v == 0) | (v == 1)))


def _outcome_groups(res, outcomes, reference, arms, severe_nrs):
    """(outcome, arm, binary array or None, continuous array, labels) per group."""
    out = []
    end_weeks = float(res.header.get("endpoint_h", math.nan)) / 168.0
    for name in outcomes:
        if name == "severe_pain":
            m = res.metrics(reference, ["nrs_endpoint", "pain_auc"])
            end = m["nrs_endpoint"]
            binary = np.where(np.isnan(end), np.nan, (end >= severe_nrs).astype(float))
            out.append((name, reference, binary, m["pain_auc"],
                        f"NRS >= {severe_nrs:g} in the last week to {end_weeks:g} weeks",
                        "pain AUC (NRS*d)"))
        elif name in ("response", "response_50"):
            flag = "responder_30" if name == "response" else "responder_50"
            for arm in arms:
                m = res.metrics(arm, [flag, "nrs_baseline", "nrs_endpoint"])
                b = m["nrs_baseline"]
                with np.errstate(divide="ignore", invalid="ignore"):
                    pct = np.where(b > 0, 100.0 * (b - m["nrs_endpoint"]) / b, np.nan)
                out.append((name, arm, m[flag], pct,
                            f"{flag} (endpoint NRS >= {flag[-2:]} % below baseline)",
                            "% NRS reduction from baseline"))
        else:
            for arm in dict.fromkeys([reference] + list(arms)):
                x = res.metrics(arm, [name])[name]
                out.append((name, arm, x if _binary_values(x) else None, x,
                            f"{name} = 1" if _binary_values(x) else "", name))
    return out


def _predictors(res, reference, parameters):
    """(name, label, kind, unit, values) of every predictor."""
    from ..simulation import METRICS

    units = {m[0]: m[1] for m in METRICS}
    m = res.metrics(reference, [p[0] for p in MARKERS])
    preds = [(name, label, "marker", units.get(name, unit), m[name])
             for name, label, unit in MARKERS]
    for geno, labels in res.genotypes().items():
        cats = [c for c in dict.fromkeys(labels.tolist()) if c != ""]
        if len(cats) < 2:
            continue
        counts = {c: int(np.sum(labels == c)) for c in cats}
        common = max(cats, key=lambda c: (counts[c], -cats.index(c)))
        for c in cats:
            if c == common:
                continue
            x = np.where(labels == "", np.nan, (labels == c).astype(float))
            preds.append((f"{geno}={c}", f"{geno}: {c} (vs others)", "genotype", "", x))
    if parameters:
        names = res.parameter_names
        units_p = _parameter_units(res)
        for p in parameters:
            if p not in names:
                raise NeurosimKeyError(
                    f"{res.path}: parameter {p!r} does not vary in this sweep."
                    + did_you_mean(p, names)
                    + (f" Varied parameters: {', '.join(names)}." if names
                       else " No parameter varies in it."))
            preds.append((p, p, "parameter", units_p.get(p, ""), res.parameter(p)))
    return preds


def _parameter_units(res) -> dict:
    import h5py

    try:
        with h5py.File(res.path, "r", locking=False) as f:
            names = [x.decode() if isinstance(x, bytes) else str(x)
                     for x in f["patients/parameter_names"][()]]
            units = [x.decode() if isinstance(x, bytes) else str(x)
                     for x in f["patients/parameter_units"][()]]
        return dict(zip(names, units))
    except (KeyError, OSError):
        return {}


def rank_biomarkers(sweep, *, arms=None, reference: str | None = None,
                    outcomes=("severe_pain", "response"), parameters=(),
                    severe_nrs: float = 7.0, n_boot: int = 1000, level: float = 0.95,
                    seed: int = 0, min_patients: int = 20, progress=None) -> BiomarkerRanking:
    """Rank baseline markers by how well they predict pain outcomes in a sweep.

    Parameters
    ----------
    sweep : SweepResult or str or Path
        A sweep (or its file, opened with :func:`neurosim.sweep.open_sweep`).
    arms : sequence of str, optional
        Treatment arms whose response is analysed (default: every arm but
        the reference when the reference is untreated, otherwise every
        arm).
    reference : str, optional
        Arm of the severe-pain outcome (default: the first untreated arm,
        else the first arm).
    outcomes : sequence of str
        ``severe_pain``, ``response``, ``response_50`` or metric names
        (:func:`outcome_names`).
    parameters : sequence of str
        Varied parameters of the sweep to add as predictors.
    severe_nrs : float
        NRS at or above which the endpoint pain counts as severe.
    n_boot : int
        Bootstrap resamples (0: no intervals).
    level : float
        Coverage of the intervals.
    seed : int
        Seed of the resampling; same seed, same intervals.
    min_patients : int
        Fewest finished patients accepted.
    progress : None, "text", "tqdm" or callable
        Progress over predictors and outcomes (see
        :func:`neurosim._progress.make_progress`); silent by default.

    Returns
    -------
    BiomarkerRanking

    Raises
    ------
    ResultsFileError
        Not a sweep file, or a format version this neurosim cannot read.
    NeurosimKeyError
        An unknown arm, outcome or parameter (the message lists what exists).
    NeurosimValueError
        Too few finished patients, a file without biomarker snapshots, or
        bad settings.
    """
    from .._progress import make_progress
    from ..sweep import SweepResult, open_sweep

    res = sweep if isinstance(sweep, SweepResult) else open_sweep(sweep)
    if not (isinstance(severe_nrs, (int, float)) and 0 < severe_nrs <= 10):
        raise NeurosimValueError(f"severe_nrs must be in (0, 10]; got {severe_nrs!r}.")
    if int(n_boot) != n_boot or n_boot < 0:
        raise NeurosimValueError(f"the number of bootstrap resamples must be >= 0; got "
                                 f"{n_boot}.")
    if not 0.0 < level < 1.0:
        raise NeurosimValueError(f"level must be between 0 and 1; got {level}.")
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    if not outcomes:
        raise NeurosimValueError("name at least one outcome: " + ", ".join(outcome_names())
                                 + ".")
    known = outcome_names()
    for o in outcomes:
        if o not in known:
            raise NeurosimKeyError(f"unknown outcome {o!r}." + did_you_mean(o, known)
                                   + f" Outcomes: {', '.join(OUTCOMES)}, or a metric: "
                                   + ", ".join(known[len(OUTCOMES):]) + ".")
    outcomes = list(dict.fromkeys(outcomes))

    def check_arm(a, what):
        if a not in res.arms:
            raise NeurosimKeyError(f"{res.path}: no arm named {a!r} ({what})."
                                   + did_you_mean(str(a), res.arms)
                                   + f" Arms in this sweep: {', '.join(res.arms)}.")

    if reference is None:
        untreated = [a for a in res.arms if _untreated(res, a)]
        reference = untreated[0] if untreated else res.arms[0]
    check_arm(reference, "reference arm")
    if arms is None:
        arms = [a for a in res.arms if a != reference] if _untreated(res, reference) else \
            list(res.arms)
        if not arms:
            arms = [reference]
    else:
        arms = [arms] if isinstance(arms, str) else list(arms)
        for a in arms:
            check_arm(a, "treatment arm")
        arms = list(dict.fromkeys(arms))
    # older files were written before the biomarker snapshots existed
    have = res.metric_units()
    missing = [m[0] for m in MARKERS if m[0] not in have]
    if missing:
        raise NeurosimValueError(
            f"{res.path}: this sweep file holds no biomarker snapshots ({', '.join(missing)}): "
            f"it was written by neurosim {res.header.get('neurosim_version', '?')} before they "
            "were added. Run the sweep again with this neurosim.")

    need_response = any(o not in ("severe_pain",) for o in outcomes)
    used_arms = list(dict.fromkeys([reference] + (arms if need_response else [])))
    ok = np.ones(res.n_patients, dtype=bool)
    excluded = {}
    for a in used_arms:
        done = res.done(a)
        st = res.status(a)
        failed = done & (st != 0)
        excluded[a] = {"failed": int(failed.sum()), "not_done": int((~done).sum())}
        ok &= done & (st == 0)
    n_used = int(ok.sum())
    if n_used < min_patients:
        raise NeurosimValueError(
            f"{res.path}: only {n_used} of {res.n_patients} patients finished without failure in "
            f"arm(s) {', '.join(used_arms)}; at least {min_patients} are needed to rank "
            "predictors. Finish the sweep (neurosim sweep --resume) or run more patients.")

    preds = _predictors(res, reference, parameters)
    spec = _outcome_groups(res, outcomes, reference, arms, float(severe_nrs))
    groups, reps = [], {}
    root = np.random.SeedSequence(int(seed))
    children = root.spawn(len(spec))
    rep = make_progress(progress, total=len(spec) * len(preds), desc="biomarkers",
                        unit="predictors")
    try:
        for (name, arm, binary, cont, blabel, clabel), child in zip(spec, children):
            g, r = _analyse(name, arm, binary, cont, blabel, clabel, preds, ok, int(n_boot),
                            float(level), child, rep)
            groups.append(g)
            reps.update(r)
    finally:
        rep.close()
    info = {"sweep": res.name or str(res.path), "path": str(res.path), "n_boot": int(n_boot),
            "level": float(level), "seed": int(seed), "severe_nrs": float(severe_nrs),
            "endpoint_h": float(res.header.get("endpoint_h", math.nan))}
    return BiomarkerRanking(groups=groups, excluded=excluded, n_patients=res.n_patients,
                            n_used=n_used, reference=reference, info=info, _replicates=reps)


def _analyse(name, arm, binary, cont, blabel, clabel, preds, ok, n_boot, level, seq, rep):
    """One outcome in one arm: every predictor's AUC and rho, ranked."""
    X = np.column_stack([p[4] for p in preds]).astype(float)
    rows_ok = ok & np.all(np.isfinite(X), axis=1) & np.isfinite(cont)
    if binary is not None:
        rows_ok &= np.isfinite(binary)
    X, y = X[rows_ok], cont[rows_ok]
    n = int(rows_ok.sum())
    pos = None if binary is None else binary[rows_ok] == 1
    n_pos = None if pos is None else int(pos.sum())
    use_auc = pos is not None and 0 < n_pos < n
    seq_rho, seq_auc = seq.spawn(2)
    idx_rho = _stats.resample_indices(n, n_boot, seq_rho) if n_boot and n >= 3 else None
    idx_auc = (_stats.resample_indices(n, n_boot, seq_auc, strata=pos)
               if n_boot and use_auc else None)
    rows, reps = [], {}
    for j, (pname, label, kind, unit, _) in enumerate(preds):
        x = X[:, j]
        rho = _stats.spearman_rho(x, y) if n >= 3 else math.nan
        rho_lo = rho_hi = auc_lo = auc_hi = math.nan
        if idx_rho is not None:
            r = _stats.spearman_replicates(x, y, idx_rho)
            rho_lo, rho_hi = _stats.percentile_interval(r, level)
            reps[(name, arm, pname, "rho")] = r
        auc = _stats.roc_auc(x, pos) if use_auc else math.nan
        if idx_auc is not None:
            r = _stats.auc_replicates(x, pos, idx_auc)
            auc_lo, auc_hi = _stats.percentile_interval(r, level)
            reps[(name, arm, pname, "auc")] = r
        rows.append({"outcome": name, "arm": arm, "rank": 0, "predictor": pname,
                     "label": label, "kind": kind, "unit": unit, "n": n, "n_positive": n_pos,
                     "auc": auc, "auc_low": auc_lo, "auc_high": auc_hi, "rho": rho,
                     "rho_low": rho_lo, "rho_high": rho_hi})
        rep.update(1)
    if use_auc:
        ranked_by = "|AUC - 0.5|"

        def key(r):
            return -abs(r["auc"] - 0.5) if not math.isnan(r["auc"]) else math.inf
    else:
        ranked_by = "|rho|"

        def key(r):
            return -abs(r["rho"]) if not math.isnan(r["rho"]) else math.inf
    rows.sort(key=key)  # stable: equal scores keep the predictor order
    for k, r in enumerate(rows, 1):
        r["rank"] = k
    return _Group(outcome=name, arm=arm, binary_label=blabel if use_auc else "",
                  continuous_label=clabel, n=n, n_positive=n_pos, ranked_by=ranked_by,
                  rows=rows), reps
