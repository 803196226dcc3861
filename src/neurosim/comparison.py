"""Side-by-side comparison of scenario results: table, CSV and figures.

Used by ``neurosim compare`` and ``neurosim demo``, and usable in a
notebook::

    from neurosim.comparison import summary_rows, format_table, plot_comparison
    rows = summary_rows([res_a, res_b])
    print(format_table(rows))
    fig = plot_comparison([res_a, res_b])

Figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot
state, no backend switch), so these functions work the same in scripts,
notebooks and the command line.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

__all__ = ["liver_label", "TABLE_COLUMNS", "summary_rows", "format_table", "write_csv", "plot_comparison",
           "plot_trajectories", "plot_component_grid", "plot_liver_bars", "save_figure"]

#: Columns of the comparison table: key, short header, unit, format.
TABLE_COLUMNS = (
    ("pain_auc", "pain AUC", "NRS*d", "{:.0f}"),
    ("nrs_week4", "NRS w4", "0-10", "{:.2f}"),
    ("nrs_week8", "NRS w8", "0-10", "{:.2f}"),
    ("nrs_week12", "NRS w12", "0-10", "{:.2f}"),
    ("pct_time_nrs_ge4", "%t NRS>=4", "%", "{:.0f}"),
    ("responder_30", "resp30", "fraction", "{:.2f}"),
    ("responder_50", "resp50", "fraction", "{:.2f}"),
    ("mme_per_day", "MME/d", "mg/d", "{:.1f}"),
    ("side_effect_burden", "SE burden", "0-1", "{:.3f}"),
)

_COMPONENTS = (("nrs_mechanical", "mechanical"), ("nrs_inflammatory", "inflammatory"),
               ("nrs_ngf", "NGF"), ("nrs_central", "central"))


def summary_rows(results) -> list[dict]:
    """One row per result: scenario, liver, patients and every summary metric.

    Parameters
    ----------
    results : sequence of ScenarioResult

    Returns
    -------
    list of dict
        Keys ``scenario``, ``liver``, ``patients``, ``succeeded``, the metric
        names of :data:`neurosim.simulation.METRICS` (means over the
        patients who succeeded; responders as the responder rate) and
        ``safety`` (the flags' severities and messages, joined by ``" | "``) and
        ``safety_flags`` (the same as a list).
    """
    rows = []
    for r in results:
        row = {"scenario": r.name, "liver": r.liver, "patients": r.n_patients,
               "succeeded": int(np.sum(r.success))}
        row.update(r.summary())
        flags = [f"{f['severity']}: {f['message']}" for f in r.safety]
        row["safety"] = " | ".join(flags)
        row["safety_flags"] = flags
        rows.append(row)
    return rows


def _fmt(value, spec) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return spec.format(value)


def format_table(rows, *, columns=TABLE_COLUMNS) -> str:
    """The comparison table as aligned text (what the CLI prints)."""
    head = ["scenario", "liver"] + [c[1] for c in columns] + ["flags"]
    units = ["", ""] + [c[2] for c in columns] + [""]
    body = []
    for row in rows:
        n_flags = len(row.get("safety_flags", []))
        body.append([row["scenario"], row["liver"]]
                    + [_fmt(row[c[0]], c[3]) for c in columns]
                    + [str(n_flags) if n_flags else ""])
    widths = [max(len(h), len(u), *(len(b[i]) for b in body)) if body else max(len(h), len(u))
              for i, (h, u) in enumerate(zip(head, units))]

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.ljust(w) if i < 2 else c.rjust(w))
        return "  ".join(out).rstrip()

    lines = [line(head), line(units), line(["-" * w for w in widths])]
    lines += [line(b) for b in body]
    notes = [f"  {row['scenario']} ({row['liver']}): {flag}" for row in rows
             for flag in row.get("safety_flags", [])]
    if notes:
        lines += ["", "safety flags:"] + notes
    return "\n".join(lines) + "\n"


def write_csv(rows, path) -> Path:
    """Write the rows as CSV (every metric; units in the header), atomically.

    Returns
    -------
    Path
    """
    from .io.results import atomic_write
    from .simulation import METRICS

    units = {m[0]: m[1] for m in METRICS}
    units["responder_30"] = units["responder_50"] = "fraction"
    keys = ["scenario", "liver", "patients", "succeeded"] + [m[0] for m in METRICS] + ["safety"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([f"{k} [{units[k]}]" if k in units else k for k in keys])
    for row in rows:
        w.writerow([(repr(float(row[k])) if isinstance(row[k], float) else row[k])
                    for k in keys])
    target = Path(path)
    with atomic_write(target) as tmp:
        Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
    return target


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)


def save_figure(fig, path) -> Path:
    """Save a figure atomically (format from the file suffix)."""
    from .errors import ResultsFileError
    from .io.results import atomic_write

    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_write(target) as tmp:
        try:
            fig.savefig(tmp, format=fmt, dpi=120)
        except ValueError as exc:  # unknown image format
            raise ResultsFileError(f"cannot save a figure as {target.name}: {exc}") from None
    return target


def liver_label(liver: str) -> str:
    """``"child_pugh_b"`` -> ``"Child-Pugh B"``; other names unchanged."""
    if liver.startswith("child_pugh_"):
        return "Child-Pugh " + liver[len("child_pugh_"):].upper()
    return liver


def _styles(n):
    """Distinct colour and line style for each of n lines (tab20 pairs, then dashes)."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    return [dict(color=cmap(order[i % 20]), ls=("-", "--", ":")[(i // 20) % 3])
            for i in range(n)]


def _median(r, name):
    x = r[name]
    return x[0] if x.shape[0] == 1 else np.nanmedian(x, axis=0)


def plot_trajectories(results, ax=None, *, title: str | None = None, legend: bool = True):
    """NRS of each result over time (median for populations), one line each.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        ax = _figure(figsize=(9, 5)).subplots()
    results = list(results)
    for r, st in zip(results, _styles(len(results))):
        ax.plot(r.t_weeks, _median(r, "nrs"), lw=1.3, label=r.name, **st)
    ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
    for level in (4, 7):
        ax.axhline(level, color="0.6", ls=":", lw=0.8)
    ax.set_ylim(0, 10)
    ax.set_xlabel("time since treatment start (weeks)")
    ax.set_ylabel("pain intensity (NRS, 0-10)")
    livers = sorted({liver_label(r.liver) for r in results})
    ax.set_title(title or f"NRS by scenario ({', '.join(livers)} liver)")
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return ax


def plot_comparison(results, fig=None):
    """One figure: NRS of every scenario (top) and each of its four components (bottom).

    Returns
    -------
    matplotlib.figure.Figure
    """
    results = list(results)
    fig = _figure(figsize=(13, 8)) if fig is None else fig
    gs = fig.add_gridspec(2, 4, height_ratios=(1.4, 1.0), hspace=0.35, wspace=0.3,
                          right=0.84)
    plot_trajectories(results, fig.add_subplot(gs[0, :]))
    styles = _styles(len(results))
    for k, (name, label) in enumerate(_COMPONENTS):
        ax = fig.add_subplot(gs[1, k])
        for r, st in zip(results, styles):
            ax.plot(r.t_weeks, _median(r, name), lw=1.0, label=r.name, **st)
        ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
        ax.set_ylim(0, None)
        ax.set_title(f"{label} component", fontsize=9)
        ax.set_xlabel("weeks since treatment start", fontsize=8)
        if k == 0:
            ax.set_ylabel("NRS share (0-10)", fontsize=8)
        ax.tick_params(labelsize=7)
    return fig


def plot_component_grid(results, fig=None, *, ncols: int = 4):
    """One panel per result: NRS split into its four components (stacked).

    Returns
    -------
    matplotlib.figure.Figure
    """
    results = list(results)
    nrows = max(1, math.ceil(len(results) / ncols))
    fig = _figure(figsize=(3.2 * ncols, 2.6 * nrows)) if fig is None else fig
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
                         ).ravel()
    for ax, r in zip(axes, results):
        parts = [_median(r, name) for name, _ in _COMPONENTS]
        ax.stackplot(r.t_weeks, *parts, labels=[lab for _, lab in _COMPONENTS], alpha=0.7)
        ax.plot(r.t_weeks, _median(r, "nrs"), color="black", lw=1.0)
        ax.axvline(0.0, color="0.3", ls="--", lw=0.7)
        ax.set_ylim(0, 10)
        ax.set_title(f"{r.name} ({liver_label(r.liver)})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(results):]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel("NRS (0-10)", fontsize=8)
    for ax in axes[-ncols:]:
        ax.set_xlabel("weeks since treatment start", fontsize=8)
    axes[0].legend(loc="upper left", fontsize=6, frameon=False)
    fig.suptitle("Pain components by scenario (stacked; black: NRS)")
    return fig


def plot_liver_bars(rows, fig=None, *, livers=("healthy", "child_pugh_b"),
                    metrics=(("mme_per_day", "MME per day (mg/d)"),
                             ("side_effect_burden", "side-effect burden (0-1)"),
                             ("pain_auc", "pain AUC (NRS*d)"))):
    """Bars of selected metrics per scenario, one bar per liver state.

    Parameters
    ----------
    rows : list of dict
        From :func:`summary_rows`.
    livers : tuple of str
        Liver states to compare (rows of other states are ignored).
    metrics : tuple of (key, label)

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = []
    for row in rows:
        if row["liver"] in livers and row["scenario"] not in names:
            names.append(row["scenario"])
    value = {(row["scenario"], row["liver"]): row for row in rows}
    fig = _figure(figsize=(12, 3.4 * len(metrics))) if fig is None else fig
    axes = np.atleast_1d(fig.subplots(len(metrics), 1, sharex=True, squeeze=False)).ravel()
    x = np.arange(len(names))
    width = 0.8 / len(livers)
    for ax, (key, label) in zip(axes, metrics):
        for j, liver in enumerate(livers):
            vals = [value.get((n, liver), {}).get(key, math.nan) for n in names]
            ax.bar(x + (j - (len(livers) - 1) / 2) * width, vals, width,
                   label=liver_label(liver))
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=8, frameon=False)
    axes[0].set_title("Healthy liver vs cirrhosis: exposure, side effects and pain")
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    return fig
