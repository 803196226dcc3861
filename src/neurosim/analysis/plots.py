"""Population figures: bands over time, samples of patients, waterfall of the change.

Every function takes a :class:`neurosim.sweep.SweepResult` (its arms), a
:class:`neurosim.simulation.ScenarioResult` (a population run), or a list
of ScenarioResults of the same patients (a :class:`ResultSet`: each run is
an arm, named after its scenario), leaves out patients whose simulation
failed or is not finished, and returns the matplotlib Axes (or Figure) it
drew on.

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
* :func:`responder_rates` -- IMMPACT responder rates (30 % and 50 % less
  pain) per arm with Wilson 95 % intervals.
* :func:`change_distribution` -- box plots of each patient's NRS change
  from baseline, arm by arm.
* :func:`overview` -- one figure of a results or sweep file: bands over
  time (when trajectories were kept), responder rates and the change
  distribution (what ``neurosim plot`` and ``neurosim sweep --plot`` draw).
"""
from __future__ import annotations

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, did_you_mean

__all__ = ["population_bands", "patient_trajectories", "waterfall", "metric_by_input",
           "responder_rates", "change_distribution", "overview", "nrs_change", "ResultSet"]

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


class ResultSet:
    """Population runs of the same patients under different treatments, seen as arms.

    The figures of this module draw a sweep's arms side by side; a
    ``ResultSet`` lets them draw several :class:`ScenarioResult` the same
    way, e.g. the arms of a virtual trial simulated one scenario at a time
    on one patient matrix. Every function of the module also accepts the
    list itself (or one ScenarioResult, a set of one).

    Parameters
    ----------
    results : sequence of ScenarioResult
        Runs of the same number of patients (row ``i`` is the same patient
        when they were given the same patients or seed).
    names : sequence of str, optional
        Arm names (default: the scenario names, made unique).

    Examples
    --------
    >>> plots.overview([res_control, res_drug])          # doctest: +SKIP
    >>> plots.responder_rates(ResultSet([a, b], names=["placebo", "drug"]))   # doctest: +SKIP
    """

    def __init__(self, results, names=None):
        from ..simulation import ScenarioResult

        results = list(results)
        if not results or not all(isinstance(r, ScenarioResult) for r in results):
            raise NeurosimValueError("a ResultSet holds one or more ScenarioResult objects.")
        n = {r.n_patients for r in results}
        if len(n) > 1:
            raise NeurosimValueError("the results have different numbers of patients "
                                     f"({', '.join(str(r.n_patients) for r in results)}); "
                                     "compare runs of the same patients.")
        if names is None:
            names, seen = [], {}
            for r in results:
                seen[r.name] = seen.get(r.name, 0) + 1
                names.append(r.name if seen[r.name] == 1 else f"{r.name} ({seen[r.name]})")
        names = [str(a) for a in names]
        if len(names) != len(results) or len(set(names)) != len(names):
            raise NeurosimValueError("give one distinct name per result.")
        self.arms = names
        self._by = dict(zip(names, results))
        self.n_patients = n.pop()
        self.outputs = [o for o in results[0].data if all(o in r.data for r in results)]
        self.name = names[0] if len(names) == 1 else ", ".join(names)

    @property
    def label(self) -> str:
        """The results, named in figure titles."""
        if len(self.arms) == 1:
            return f"scenario '{self.arms[0]}'"
        return "scenarios " + ", ".join(f"'{a}'" for a in self.arms)

    def _arm(self, arm) -> str:
        from ..sweep.result import pick_arm

        return pick_arm(arm, self.arms, "set of results")

    def result(self, arm=None):
        """The ScenarioResult of an arm."""
        return self._by[self._arm(arm)]

    def done(self, arm=None) -> np.ndarray:
        """(n_patients,) bool: every patient of a finished run is done."""
        return np.ones(self.n_patients, dtype=bool)

    def status(self, arm=None) -> np.ndarray:
        """Solver status per patient (0: success) of one scenario (``arm``)."""
        return np.asarray(self.result(arm).status)

    def metric_units(self) -> dict:
        """Unit of each metric."""
        from ..simulation import METRICS

        return {k: u for k, u, _ in METRICS}

    def metrics(self, arm=None, names=None) -> dict:
        """Metrics per patient of one scenario (``arm``), all or those in ``names``."""
        m = self.result(arm).metrics()
        names = list(m) if names is None else names
        for k in names:
            if k not in m:
                raise NeurosimKeyError(f"unknown metric {k!r}." + did_you_mean(k, list(m)))
        return {k: np.asarray(m[k]) for k in names}


def _arms_of(result):
    """A SweepResult, or a ResultSet of a ScenarioResult, a list of them or a ResultSet."""
    if _is_sweep(result) or isinstance(result, ResultSet):
        return result
    if isinstance(result, (list, tuple)):
        return ResultSet(result)
    return ResultSet([result])


def _label(R) -> str:
    return f"sweep '{R.name}'" if _is_sweep(R) else R.label


def _arm_title(R, arm) -> str:
    """One arm, named in messages and titles."""
    if _is_sweep(R):
        return f"sweep '{R.name}', arm '{arm}'"
    return f"scenario '{arm}'" if len(R.arms) == 1 else f"{R.label}, arm '{arm}'"


def _ok(R, arm):
    """(n,) bool: patients finished without failure."""
    return R.done(arm) & (R.status(arm) == 0)


#: Above this many patients a waterfall is drawn as a filled outline, not one bar each.
_WATERFALL_BARS = 5000

#: Rows of a sweep's trajectories read at a time (bounded memory on large sweeps).
_READ_BLOCK = 4096


def _sample_rows(ok, max_patients, seed):
    """Rows to use: every finished row, or a seeded random ``max_patients`` of them."""
    rows = np.flatnonzero(ok)
    if max_patients is not None and rows.size > max_patients:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=int(max_patients), replace=False))
    return rows


def _trajectory(result, output, arm, max_patients=None, seed=0):
    """(t in h, values (n_used, n_times), unit, name, n_ok) of one output.

    With ``max_patients``, a seeded random sample of the finished patients is
    used when there are more; a sweep's file is read in blocks of rows, so
    memory stays bounded by the sample, not by the sweep.
    """
    if max_patients is not None and max_patients < 1:
        raise NeurosimValueError(f"max_patients must be >= 1; got {max_patients}.")
    arm = result._arm(arm)
    ok = _ok(result, arm)
    rows = _sample_rows(ok, max_patients, seed)
    if _is_sweep(result):
        t = result.t
        x = np.empty((rows.size, t.size))
        filled = 0
        for start in range(0, result.n_patients, _READ_BLOCK):
            stop = min(start + _READ_BLOCK, result.n_patients)
            lo, hi = np.searchsorted(rows, [start, stop])
            if hi > lo:
                block = result.trajectories(arm, output, rows=slice(start, stop))
                x[filled:filled + hi - lo] = block[rows[lo:hi] - start]
                filled += hi - lo
        unit = _sweep_output_unit(result, arm, output)
    else:
        r = result.result(arm)
        x = np.asarray(r[output])[rows]     # an unknown name: the result's own message
        t = r.t
        unit = r.unit(output)
    return t, x, unit, _arm_title(result, arm), int(ok.sum())


def _sweep_output_unit(result, arm, output) -> str:
    with result._file() as f:
        return str(f[f"arms/{arm}/trajectories/{output}"].attrs.get("units", ""))


def _ylabel(output, unit):
    base = _LABELS.get(output, output)
    if output == "nrs" or not unit:
        return base
    return f"{base} ({unit})"


def population_bands(result, output: str = "nrs", *, arm=None, ax=None, low: float = 5.0,
                     high: float = 95.0, color=None, label: str | None = None,
                     max_patients: int | None = None, seed: int = 0, source: bool = True):
    """Median and a percentile band of an output over time.

    Parameters
    ----------
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    output : str
        An output with trajectories (sweeps: one of ``result.outputs``).
    arm : str or sequence of str, optional
        Arm(s): one band per arm in one figure (default: every arm).
    ax : matplotlib Axes, optional
    low, high : float
        Percentiles of the band (default 5 and 95).
    color : matplotlib colour, optional
        Colour of a single band.
    label : str, optional
        Legend label of a single band.
    max_patients : int, optional
        Use a seeded random sample of at most this many finished patients per
        arm (default: all). Large sweeps are read in blocks of rows, so memory
        is bounded by the sample.
    seed : int
        Seed of that sample.
    source : bool
        Name the sweep or scenarios in the title (default True).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not 0.0 <= low < 50.0 < high <= 100.0:
        raise NeurosimValueError(f"the band needs 0 <= low < 50 < high <= 100; got {low} and "
                                 f"{high}.")
    result = _arms_of(result)
    arms = _arms(result, arm)
    if ax is None:
        ax = _new_axes()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    n_used = []
    unit = ""
    for k, a in enumerate(arms):
        t, x, unit, name, n_ok = _trajectory(result, output, a, max_patients, seed)
        if x.shape[0] == 0:
            raise NeurosimValueError(f"{name}: no finished patient to plot.")
        c = color if (color is not None and len(arms) == 1) else cmap(k % 10)
        w = t / _HOURS_PER_WEEK
        lo, med, hi = np.nanpercentile(x, [low, 50.0, high], axis=0)
        who = label if (label and len(arms) == 1) else a
        ax.fill_between(w, lo, hi, color=c, alpha=0.22, lw=0,
                        label=f"{who}: {low:g}-{high:g} %")
        ax.plot(w, med, color=c, lw=1.8, label=f"{who}: median")
        n_used.append((x.shape[0], n_ok))
    ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
    if output == "nrs":
        ax.set_ylim(0, 10)
        for level in (4, 7):
            ax.axhline(level, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("time since treatment start (weeks)")
    ax.set_ylabel(_ylabel(output, unit))
    src = _label(result)
    used, finished = max(n_used)
    who = (f"{finished} patients" if used == finished
           else f"a random {used} of {finished} patients")
    ax.set_title(f"{_LABELS.get(output, output)}: median and {low:g}-{high:g} %\nof "
                 f"{who}" + (f" ({src})" if source else ""), fontsize=10)
    ax.legend(loc="best", fontsize=7, frameon=False)
    return ax


def patient_trajectories(result, output: str = "nrs", *, arm=None, n: int = 20, seed: int = 0,
                         ax=None, max_patients: int | None = 20_000):
    """A seeded random sample of patients' trajectories, over the population median.

    Parameters
    ----------
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    output : str
    arm : str, optional
        The arm (optional when there is one).
    n : int
        Patients drawn (all when fewer).
    seed : int
        Seed of the draw.
    ax : matplotlib Axes, optional
    max_patients : int or None
        The median is that of a seeded random sample of at most this many
        finished patients (None: all), read in blocks of rows (bounded
        memory on large sweeps); the patients drawn come from that sample.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if n < 1:
        raise NeurosimValueError(f"n must be >= 1; got {n}.")
    t, x, unit, name, n_ok = _trajectory(_arms_of(result), output, arm, max_patients, seed)
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
            label=(f"median of {n_ok} patients" if x.shape[0] == n_ok
                   else f"median of a random {x.shape[0]} of {n_ok} patients"))
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
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    arm : str, optional
        The arm (optional when there is one).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    result = _arms_of(result)
    arm = result._arm(arm)
    ok = _ok(result, arm)
    m = result.metrics(arm, ["nrs_baseline", "nrs_endpoint"])
    name = _arm_title(result, arm)
    endpoint = float(result.header.get("endpoint_h", np.nan) if _is_sweep(result)
                     else result.result(arm).endpoint)
    change = np.sort(nrs_change(m["nrs_baseline"][ok], m["nrs_endpoint"][ok]))[::-1]
    if change.size == 0:
        raise NeurosimValueError(f"{name}: no finished patient with a baseline NRS above 0.")
    if ax is None:
        ax = _new_axes()
    classes = (("substantial response (>= 50 % less pain)", change <= -50.0 + 1e-10,
                "tab:green"),
               ("moderate response (30-50 %)", (change > -50.0 + 1e-10) & (change <= -30.0 + 1e-10),
                "tab:olive"),
               ("no response (< 30 %)", change > -30.0 + 1e-10, "tab:gray"))
    x = np.arange(change.size)
    from matplotlib.patches import Patch

    handles = []   # drawn by hand: an empty class's bars would show the default colour
    for lab, mask, c in classes:
        if change.size <= _WATERFALL_BARS:
            ax.bar(x[mask], change[mask], width=1.0, color=c)
        elif mask.any():
            # one bar per patient would be slow and heavy for large sweeps; the sorted
            # changes drawn as a step outline filled to zero look the same
            ax.fill_between(x[mask], change[mask], step="mid", color=c, lw=0)
        handles.append(Patch(color=c, label=f"{lab}: {int(mask.sum())} "
                                            f"({100 * mask.mean():.0f} %)"))
    for level in (-30, -50):
        ax.axhline(level, color="0.4", ls=":", lw=0.8)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlim(-0.5, change.size - 0.5)
    ax.set_xlabel("patients, sorted by change")
    ax.set_ylabel("NRS change from baseline to endpoint (%)")
    ax.set_title(f"Change of pain after {endpoint / _HOURS_PER_WEEK:g} weeks, "
                 f"{change.size} patients\n({name})", fontsize=10)
    ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=False)
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
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    input : str
        A model parameter that varies between the patients
        (``res.parameter_names``) or a drug factor (``"morphine.cl"``) of a
        sweep with ``[sweep.drugs]`` or a population run with
        ``[population.drugs]``.
    metric : str
        A metric (``docs/file-format.md``), e.g. ``"mme_per_day"``,
        ``"pain_auc"``, ``"nrs_endpoint"``.
    arm : str or list of str, optional
        Arms (a sweep's arm names, or a list's scenario names; default: every arm).
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
    result = _arms_of(result)
    arms = _arms(result, arm)
    if _is_sweep(result):
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
        data = [(a, x_all, result.metrics(a, [metric])[metric], _ok(result, a))
                for a in arms]
    else:
        from ..model.parameters import PARAMETER_INDEX, PARAMETERS

        data, factor_names = [], set()
        for a in arms:
            r = result.result(a)
            factors = dict(r.drug_factors or {})
            factor_names |= set(factors)
            if input in factors:
                x = np.asarray(factors[input], dtype=float)
            elif input in PARAMETER_INDEX:
                x = np.asarray(r.parameters)[:, PARAMETER_INDEX[input]]
            else:
                continue   # an arm without the drug has no factor on it
            data.append((a, x, result.metrics(a, [metric])[metric], _ok(result, a)))
        if not data:
            raise NeurosimKeyError(f"unknown model parameter or drug factor {input!r}."
                                   + did_you_mean(input, list(PARAMETERS.names)
                                                  + sorted(factor_names))
                                   + (f" Drug factors of these runs: "
                                      f"{', '.join(sorted(factor_names))}."
                                      if factor_names else ""))
    units = result.metric_units()
    name = _label(result)
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


def _arms(result, arm):
    """Arms to draw: the named arm(s), or every arm (``result`` from :func:`_arms_of`)."""
    arms = result.arms if arm is None else ([arm] if isinstance(arm, str) else list(arm))
    return [result._arm(a) for a in arms]


def _ok_metrics(result, arm, names) -> dict:
    """Metrics of the finished, successful patients of one arm."""
    ok = _ok(result, arm)
    return {k: np.asarray(v, dtype=float)[ok] for k, v in result.metrics(arm, names).items()}


def nrs_change(baseline, endpoint) -> np.ndarray:
    """Percentage change of the NRS, ``100 (endpoint - baseline) / baseline``.

    Patients with a baseline of 0 or a non-finite value are left out (the
    change is undefined), so the result can be shorter than the inputs.
    """
    b = np.asarray(baseline, dtype=float)
    e = np.asarray(endpoint, dtype=float)
    keep = np.isfinite(b) & np.isfinite(e) & (b > 0)
    return 100.0 * (e[keep] - b[keep]) / b[keep]


def responder_rates(result, *, arm=None, ax=None, level: float = 0.95):
    """IMMPACT responder rates per arm, with Wilson score intervals.

    Two bars per arm: the share of patients whose endpoint NRS is at least
    30 % (moderate) and at least 50 % (substantial) below their baseline
    (metrics ``responder_30`` and ``responder_50``), among the finished
    patients with a defined response. Error bars are Wilson intervals
    (:func:`neurosim.analysis.stats.wilson_interval`), which stay sensible
    near 0 and 100 %.

    Parameters
    ----------
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    arm : str or list of str, optional
        Arms (a sweep's arm names, or a list's scenario names; default: every arm).
    ax : matplotlib Axes, optional
    level : float
        Coverage of the intervals (default 0.95).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .stats import wilson_interval

    result = _arms_of(result)
    arms = _arms(result, arm)
    if ax is None:
        ax = _new_axes()
    width = 0.38
    labels = []
    drawn = 0
    for j, (metric, words, colour) in enumerate((("responder_30", ">= 30 % less pain", "tab:olive"),
                                                 ("responder_50", ">= 50 % less pain",
                                                  "tab:green"))):
        rate, lo, hi = [], [], []
        for a in arms:
            r = _ok_metrics(result, a, [metric])[metric]
            r = r[np.isfinite(r)]
            k, n = int(np.sum(r > 0.5)), int(r.size)
            low, high = wilson_interval(k, n, level)
            p = k / n if n else np.nan
            rate.append(100 * p)
            lo.append(100 * (p - low) if n else 0.0)
            hi.append(100 * (high - p) if n else 0.0)
            if j == 0:
                labels.append(f"{a}\n(n = {n})")
                drawn += n
        x = np.arange(len(arms)) + (j - 0.5) * width
        ax.bar(x, rate, width=width, color=colour, label=words,
               yerr=np.array([lo, hi]), capsize=3, error_kw={"lw": 0.9})
        for xi, ri, up in zip(x, rate, hi):
            if np.isfinite(ri):
                ax.text(xi, ri + up + 1.0, f"{ri:.0f} %", ha="center", va="bottom", fontsize=7)
    if drawn == 0:
        raise NeurosimValueError("no finished patient with a defined response to plot.")
    ax.set_xticks(np.arange(len(arms)), labels, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("responders (% of patients)")
    ax.set_title(f"IMMPACT responders at the endpoint\n(bars: {100 * level:g} % Wilson "
                 "intervals)", fontsize=10)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax


def change_distribution(result, *, arm=None, ax=None):
    """Box plots of each patient's NRS change from baseline to the endpoint, per arm.

    The change is :func:`nrs_change` of ``nrs_baseline`` and ``nrs_endpoint``
    (negative: less pain). Boxes span the quartiles with the median marked;
    whiskers reach the outermost patients within the 5th and 95th
    percentiles; dotted lines mark the IMMPACT thresholds (-30 % and -50 %).

    Parameters
    ----------
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    arm : str or list of str, optional
        Arms (a sweep's arm names, or a list's scenario names; default: every arm).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    result = _arms_of(result)
    arms = _arms(result, arm)
    data, labels = [], []
    for a in arms:
        m = _ok_metrics(result, a, ["nrs_baseline", "nrs_endpoint"])
        data.append(nrs_change(m["nrs_baseline"], m["nrs_endpoint"]))
        labels.append(f"{a}\n(n = {data[-1].size})")
    if not any(d.size for d in data):
        raise NeurosimValueError("no finished patient with a baseline NRS above 0 to plot.")
    if ax is None:
        ax = _new_axes()
    pos = [k for k, d in enumerate(data) if d.size]
    boxes = ax.boxplot([data[k] for k in pos], positions=pos, whis=(5, 95), showfliers=False,
                       widths=0.5, medianprops={"color": "black", "lw": 1.6},
                       patch_artist=True)
    for k, box in zip(pos, boxes["boxes"]):   # the arm's colour in population_bands
        box.set_facecolor(f"C{k % 10}")
        box.set_alpha(0.45)
    for level in (-30, -50):
        ax.axhline(level, color="0.4", ls=":", lw=0.8)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(arms)), labels, fontsize=8)
    ax.set_xlim(-0.6, len(arms) - 0.4)
    ax.set_ylabel("NRS change from baseline (%)")
    ax.set_title("Change of pain to the endpoint\n(box: quartiles; whiskers: 5-95 %)",
                 fontsize=10)
    return ax


def overview(result, *, arm=None, output: str = "nrs", max_patients: int | None = 20_000,
             seed: int = 0):
    """One figure summarising a population run or a sweep.

    Top: the median and 5-95 % band of ``output`` over time, all arms
    together (only when the file kept trajectories; a seeded random sample
    of at most ``max_patients`` per arm). Bottom: :func:`responder_rates`
    and :func:`change_distribution`. A single-patient run gets its NRS and
    pain components instead (``ScenarioResult.plot``).

    Parameters
    ----------
    result : SweepResult, ScenarioResult, list of ScenarioResult or ResultSet
    arm : str or list of str, optional
        Arms (a sweep's arm names, or a list's scenario names; default: every arm).
    output : str
        Output drawn over time (default ``"nrs"``).
    max_patients : int or None
        Largest number of patients per arm in the bands (None: all).
    seed : int
        Seed of that sample.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    result = _arms_of(result)
    arms = _arms(result, arm)
    if not _is_sweep(result) and result.n_patients == 1 and len(arms) == 1:
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        result.result(arms[0]).plot(fig.subplots())
        return fig
    if result.outputs and output not in result.outputs:
        where = result.path if _is_sweep(result) else result.label
        raise NeurosimKeyError(f"{where} has no trajectories of {output!r}."
                               + did_you_mean(output, result.outputs)
                               + f" Outputs: {', '.join(result.outputs)}.")
    with_bands = output in result.outputs
    wide = max(8.0, 1.6 * len(arms) + 4.0)
    if with_bands:
        fig = Figure(figsize=(wide, 8.0), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=(1.0, 1.0))
        population_bands(result, output, arm=arms, ax=top.subplots(),
                         max_patients=max_patients, seed=seed, source=False)
        left, right = bottom.subplots(1, 2)
    else:
        fig = Figure(figsize=(wide, 4.2), layout="constrained")
        left, right = fig.subplots(1, 2)
    responder_rates(result, arm=arms, ax=left)
    change_distribution(result, arm=arms, ax=right)
    what = _label(result)
    fig.suptitle(what, fontsize=11)
    return fig
