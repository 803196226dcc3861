"""Population figures: bands over time, samples of patients, waterfall of the change.

Every function takes either a :class:`neurosim.simulation.ScenarioResult`
(a population run) or a :class:`neurosim.sweep.SweepResult` (then name the
arm), leaves out patients whose simulation failed or is not finished, and
returns the matplotlib Axes it drew on.

* :func:`population_bands` -- median and a central percentile band (5-95 %
  by default) of one output over time; several arms of a sweep in one
  figure.
* :func:`patient_trajectories` -- a random sample of individual patients
  (seeded), over the median.
* :func:`waterfall` -- each patient's percentage change of the NRS from
  baseline to the endpoint, sorted, coloured by IMMPACT responder class.
* :func:`metric_by_input` -- a metric per patient against one of the
  patient's inputs (a varied model parameter or a drug factor), with the
  median and quartiles in equal-count bins; several arms of a sweep.
"""
from __future__ import annotations

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, did_you_mean

__all__ = ["population_bands", "patient_trajectories", "waterfall", "metric_by_input"]

_HOURS_PER_WEEK = 168.0
_LABELS = {"nrs": "pain intensity (NRS, 0-10)", "plasma_il6": "plasma IL-6",
           "plasma_tnf": "plasma TNF-alpha", "plasma_ngf": "plasma free NGF",
           "plasma_ngf_total": "plasma NGF (free + bound)", "tumor_diameter": "tumour diameter",
           "cumulative_mme": "cumulative morphine equivalents"}


def _new_axes(figsize=(8, 4.5)):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained").subplots()


def _is_sweep(result) -> bool:
    from ..sweep import SweepResult

    return isinstance(result, SweepResult)


def _ok(result, arm):
    """(n,) bool: patients finished without failure."""
    if _is_sweep(result):
        return result.done(arm) & (result.status(arm) == 0)
    return np.asarray(result.status) == 0


def _trajectory(result, output, arm):
    """(t in h, values (n_ok, n_times), unit, n_left_out, name) of one output."""
    ok = _ok(result, arm)
    if _is_sweep(result):
        arm = result._arm(arm)
        x = result.trajectories(arm, output, rows=np.flatnonzero(ok))
        t = result.t
        unit = _sweep_output_unit(result, arm, output)
        name = f"sweep '{result.name}', arm '{arm}'"
    else:
        if arm is not None:
            raise NeurosimValueError("arm applies to sweeps; a ScenarioResult has one "
                                     "treatment.")
        x = np.asarray(result[output])[ok]
        t = result.t
        unit = result.unit(output)
        name = f"scenario '{result.name}'"
    return t, x, unit, int((~ok).sum()), name


def _sweep_output_unit(result, arm, output) -> str:
    with result._file() as f:
        return str(f[f"arms/{arm}/trajectories/{output}"].attrs.get("units", ""))


def _ylabel(output, unit):
    base = _LABELS.get(output, output)
    if output == "nrs" or not unit:
        return base
    return f"{base} ({unit})"


def population_bands(result, output: str = "nrs", *, arm=None, ax=None, low: float = 5.0,
                     high: float = 95.0, color=None, label: str | None = None):
    """Median and a percentile band of an output over time.

    Parameters
    ----------
    result : ScenarioResult or SweepResult
    output : str
        An output with trajectories (sweeps: one of ``result.outputs``).
    arm : str or sequence of str, optional
        Sweep arm(s): one band per arm in one figure.
    ax : matplotlib Axes, optional
    low, high : float
        Percentiles of the band (default 5 and 95).
    color : matplotlib colour, optional
        Colour of a single band.
    label : str, optional
        Legend label of a single band.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not 0.0 <= low < 50.0 < high <= 100.0:
        raise NeurosimValueError(f"the band needs 0 <= low < 50 < high <= 100; got {low} and "
                                 f"{high}.")
    arms = list(arm) if isinstance(arm, (list, tuple)) else [arm]
    if ax is None:
        ax = _new_axes()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    n_used = []
    unit = ""
    for k, a in enumerate(arms):
        t, x, unit, left, name = _trajectory(result, output, a)
        if x.shape[0] == 0:
            raise NeurosimValueError(f"{name}: no finished patient to plot.")
        c = color if (color is not None and len(arms) == 1) else cmap(k % 10)
        w = t / _HOURS_PER_WEEK
        lo, med, hi = np.nanpercentile(x, [low, 50.0, high], axis=0)
        who = label if (label and len(arms) == 1) else (a if a is not None else name)
        ax.fill_between(w, lo, hi, color=c, alpha=0.22, lw=0,
                        label=f"{who}: {low:g}-{high:g} %")
        ax.plot(w, med, color=c, lw=1.8, label=f"{who}: median")
        n_used.append(x.shape[0])
    ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
    if output == "nrs":
        ax.set_ylim(0, 10)
        for level in (4, 7):
            ax.axhline(level, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("time since treatment start (weeks)")
    ax.set_ylabel(_ylabel(output, unit))
    src = f"sweep '{result.name}'" if _is_sweep(result) else f"scenario '{result.name}'"
    ax.set_title(f"{_LABELS.get(output, output)}: median and {low:g}-{high:g} %\nof "
                 f"{max(n_used)} patients ({src})", fontsize=10)
    ax.legend(loc="best", fontsize=7, frameon=False)
    return ax


def patient_trajectories(result, output: str = "nrs", *, arm=None, n: int = 20, seed: int = 0,
                         ax=None):
    """A seeded random sample of patients' trajectories, over the population median.

    Parameters
    ----------
    result : ScenarioResult or SweepResult
    output : str
    arm : str, optional
        Sweep arm.
    n : int
        Patients drawn (all when fewer).
    seed : int
        Seed of the draw.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if n < 1:
        raise NeurosimValueError(f"n must be >= 1; got {n}.")
    t, x, unit, _, name = _trajectory(result, output, arm)
    if x.shape[0] == 0:
        raise NeurosimValueError(f"{name}: no finished patient to plot.")
    if ax is None:
        ax = _new_axes()
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=False))
    w = t / _HOURS_PER_WEEK
    for j, i in enumerate(pick):
        ax.plot(w, x[i], color="tab:blue", alpha=0.35, lw=0.8,
                label="individual patients" if j == 0 else None)
    ax.plot(w, np.nanmedian(x, axis=0), color="black", lw=1.8,
            label=f"median of {x.shape[0]} patients")
    ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
    if output == "nrs":
        ax.set_ylim(0, 10)
    ax.set_xlabel("time since treatment start (weeks)")
    ax.set_ylabel(_ylabel(output, unit))
    ax.set_title(f"{_LABELS.get(output, output)}: {pick.size} random patients\n({name})",
                 fontsize=10)
    ax.legend(loc="best", fontsize=7, frameon=False)
    return ax


def waterfall(result, *, arm=None, ax=None):
    """Waterfall of each patient's NRS change from baseline to the endpoint.

    The change is 100 (endpoint - baseline) / baseline (%, negative: less
    pain), with the endpoint NRS the mean over the last week before the
    endpoint (metric ``nrs_endpoint``). Bars are sorted from the largest
    increase to the largest decrease and coloured by IMMPACT class:
    substantial response (>= 50 % reduction), moderate (30-50 %), none.

    Parameters
    ----------
    result : ScenarioResult or SweepResult
    arm : str, optional
        Sweep arm.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ok = _ok(result, arm)
    if _is_sweep(result):
        arm = result._arm(arm)
        m = result.metrics(arm, ["nrs_baseline", "nrs_endpoint"])
        name = f"sweep '{result.name}', arm '{arm}'"
        endpoint = float(result.header.get("endpoint_h", np.nan))
    else:
        m = result.metrics()
        name = f"scenario '{result.name}'"
        endpoint = float(result.endpoint)
    b, e = m["nrs_baseline"][ok], m["nrs_endpoint"][ok]
    keep = np.isfinite(b) & np.isfinite(e) & (b > 0)
    if not np.any(keep):
        raise NeurosimValueError(f"{name}: no finished patient with a baseline NRS above 0.")
    change = np.sort(100.0 * (e[keep] - b[keep]) / b[keep])[::-1]
    if ax is None:
        ax = _new_axes()
    classes = (("substantial response (>= 50 % less pain)", change <= -50.0 + 1e-10,
                "tab:green"),
               ("moderate response (30-50 %)", (change > -50.0 + 1e-10) & (change <= -30.0 + 1e-10),
                "tab:olive"),
               ("no response (< 30 %)", change > -30.0 + 1e-10, "tab:gray"))
    x = np.arange(change.size)
    for lab, mask, c in classes:
        ax.bar(x[mask], change[mask], width=1.0, color=c,
               label=f"{lab}: {int(mask.sum())} ({100 * mask.mean():.0f} %)")
    for level in (-30, -50):
        ax.axhline(level, color="0.4", ls=":", lw=0.8)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlim(-0.5, change.size - 0.5)
    ax.set_xlabel("patients, sorted by change")
    ax.set_ylabel("NRS change from baseline to endpoint (%)")
    ax.set_title(f"Change of pain after {endpoint / _HOURS_PER_WEEK:g} weeks, "
                 f"{change.size} patients\n({name})", fontsize=10)
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    return ax


def binned_quartiles(x, y, bins: int):
    """Quartiles of ``y`` in ``bins`` bins of ``x`` holding (nearly) equal numbers of points.

    Parameters
    ----------
    x, y : array_like (n,)
        Finite values (pairs with a NaN are left out).
    bins : int
        Number of bins (at most the number of points).

    Returns
    -------
    centre, q25, q50, q75 : ndarray (bins,)
        Median of ``x`` and the 25th, 50th and 75th percentiles of ``y`` in
        each bin; the bins are consecutive runs of the points sorted by ``x``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        raise NeurosimValueError("no finite (input, metric) pair to bin.")
    bins = max(1, min(int(bins), x.size))
    order = np.argsort(x, kind="stable")
    parts = np.array_split(order, bins)
    centre = np.array([np.median(x[p]) for p in parts])
    q = np.array([np.percentile(y[p], [25.0, 50.0, 75.0]) for p in parts])
    return centre, q[:, 0], q[:, 1], q[:, 2]


def metric_by_input(result, input: str, metric: str = "mme_per_day", *, arm=None, ax=None,
                    bins: int = 10, log_x: bool | None = None, points: bool = True):
    """A metric per patient against one of the patient's inputs, arm by arm.

    Each patient is a point; a line joins the medians of the metric in
    ``bins`` bins of the input holding equal numbers of patients, with the
    interquartile range shaded. Only finished patients whose simulation
    succeeded are drawn.

    Parameters
    ----------
    result : SweepResult or ScenarioResult
    input : str
        A model parameter that varies between the patients
        (``res.parameter_names``) or, in a sweep with ``[sweep.drugs]``, a
        drug factor (``"morphine.cl"``).
    metric : str
        A metric (``docs/file-format.md``), e.g. ``"mme_per_day"``,
        ``"pain_auc"``, ``"nrs_endpoint"``.
    arm : str or list of str, optional
        Sweep arms (default: every arm).
    ax : matplotlib Axes, optional
    bins : int
        Equal-count bins of the medians (default 10).
    log_x : bool, optional
        Logarithmic input axis (default: for drug factors and for positive
        inputs spanning more than a factor of 10).
    points : bool
        Draw every patient as a dot (default True).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if _is_sweep(result):
        arms = result.arms if arm is None else ([arm] if isinstance(arm, str) else list(arm))
        arms = [result._arm(a) for a in arms]
        factors = result.drug_factors()
        names = result.parameter_names
        if input in factors:
            x_all = factors[input]
        elif input in names:
            x_all = result.parameter(input)
        else:
            known = list(names) + list(factors)
            raise NeurosimKeyError(f"{input!r} does not vary between the patients of "
                                   f"{result.path}." + did_you_mean(input, known)
                                   + (f" Inputs: {', '.join(known)}." if known else ""))
        units = result.metric_units()
        name = f"sweep '{result.name}'"
        data = [(a, x_all, result.metrics(a, [metric])[metric], _ok(result, a))
                for a in arms]
    else:
        from ..model.parameters import PARAMETER_INDEX, PARAMETERS

        if arm is not None:
            raise NeurosimValueError("arm applies to sweeps; a ScenarioResult has one "
                                     "treatment.")
        if input not in PARAMETER_INDEX:
            raise NeurosimKeyError(f"unknown model parameter {input!r}."
                                   + did_you_mean(input, PARAMETERS.names))
        m = result.metrics()
        if metric not in m:
            raise NeurosimKeyError(f"unknown metric {metric!r}." + did_you_mean(metric, list(m)))
        x_all = np.asarray(result.parameters)[:, PARAMETER_INDEX[input]]
        from ..simulation import METRICS

        units = {k: u for k, u, _ in METRICS}
        name = f"scenario '{result.name}'"
        data = [(result.name, x_all, m[metric], _ok(result, None))]
    if ax is None:
        ax = _new_axes()
    if log_x is None:
        xs = np.concatenate([x[ok] for _, x, _, ok in data])
        xs = xs[np.isfinite(xs)]
        log_x = "." in input or (xs.size > 0 and xs.min() > 0 and xs.max() > 10 * xs.min())
    drawn = 0
    for k, (label, x, y, ok) in enumerate(data):
        colour = f"C{k}"
        x, y = x[ok], y[ok]
        keep = np.isfinite(x) & np.isfinite(y)
        if not np.any(keep):
            continue
        drawn += int(keep.sum())
        if points:
            ax.scatter(x[keep], y[keep], s=6, alpha=0.25, color=colour, linewidths=0)
        c, q25, q50, q75 = binned_quartiles(x[keep], y[keep], bins)
        ax.fill_between(c, q25, q75, color=colour, alpha=0.2, linewidth=0)
        ax.plot(c, q50, color=colour, lw=2, label=f"{label} (median, quartiles)")
    if drawn == 0:
        raise NeurosimValueError(f"{name}: no finished patient has a finite {metric}.")
    if log_x:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    unit = units.get(metric, "")
    ax.set_xlabel(f"{input} (factor on the patient's value)" if "." in input else input)
    ax.set_ylabel(f"{metric} ({unit})" if unit and unit != "1" else metric)
    ax.set_title(f"{metric} by {input}, {drawn} patient-arms\n({name})", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return ax
