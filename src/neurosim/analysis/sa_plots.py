"""Figures of sensitivity and dose-response analyses.

* :func:`plot_tornado` -- Sobol total-order and first-order indices as
  horizontal bars with their confidence intervals, most influential first;
* :func:`plot_morris` -- Morris screening: mu* against sigma, one labelled
  point per parameter;
* :func:`plot_sensitivity` -- one panel per output (tornado or Morris);
* :func:`plot_dose_response` -- response and side-effect curves over dose
  with the fitted Emax model, ED50 and the therapeutic window.

Every function returns the matplotlib Figure (or draws into ``ax`` and
returns the Axes).
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_tornado", "plot_morris", "plot_sensitivity", "plot_dose_response"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _label(result, output, arm):
    unit = result.units.get(output, "")
    arm_text = f", {arm}" if len(result.arms) > 1 else ""
    return f"{output}" + (f" [{unit}]" if unit and unit != "1" else "") + arm_text


def plot_tornado(result, output: str, *, arm: str | None = None, ax=None, top: int | None = None):
    """Sobol indices of one output as horizontal bars (ST and S1 with confidence intervals).

    Parameters
    ----------
    result : SensitivityResult
        A Sobol analysis.
    output : str
    arm : str, optional
    ax : matplotlib Axes, optional
    top : int, optional
        Show only the ``top`` most influential parameters.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..errors import NeurosimValueError

    if result.method != "sobol":
        raise NeurosimValueError("a tornado plot shows Sobol indices; this analysis is "
                                 f"{result.method} (use plot_morris).")
    arm = result._arm(arm)
    ix = result.get(output, arm)
    order = [result.names.index(n) for n in result.ranking(output, arm)][:top]
    k = len(order)
    ax = _axes(ax, (7.0, 0.45 * k + 1.6))
    y = np.arange(k)[::-1]
    pct = int(round(100 * result.design.confidence))
    note = result.notes[arm][output]
    if note:
        ax.text(0.5, 0.5, f"no indices:\n{note}", ha="center", va="center", wrap=True,
                transform=ax.transAxes)
    ax.barh(y + 0.2, ix["ST"][order], height=0.38, xerr=ix["ST_conf"][order],
            color="#1f77b4", ecolor="#444444", capsize=3,
            label=f"total order ST (±{pct}% CI)")
    ax.barh(y - 0.2, ix["S1"][order], height=0.38, xerr=ix["S1_conf"][order],
            color="#ff7f0e", ecolor="#444444", capsize=3,
            label=f"first order S1 (±{pct}% CI)")
    ax.set_yticks(y, [result.names[j] for j in order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Sobol index (share of output variance)")
    if note:
        ax.set_xlim(-0.05, 1.0)
    else:  # Sobol estimates may stray slightly below 0 or above 1 at small N
        ax.set_xlim(min(-0.05, float(np.nanmin(ix["S1"] - ix["S1_conf"])) - 0.02),
                    max(1.0, float(np.nanmax(ix["ST"] + ix["ST_conf"])) + 0.02))
    ax.set_title(f"{result.name}: Sobol indices of {_label(result, output, arm)}\n"
                 f"N = {result.design.n} base samples, {result.design.n_runs} runs",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_morris(result, output: str, *, arm: str | None = None, ax=None):
    """Morris screening of one output: mu* (with CI) against sigma, one point per parameter.

    Points far right matter; points high up act through interactions or
    non-linearly. The dashed line is sigma = mu* (above it the effect
    changes a lot across the space).

    Parameters
    ----------
    result : SensitivityResult
        A Morris analysis.
    output : str
    arm : str, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..errors import NeurosimValueError

    if result.method != "morris":
        raise NeurosimValueError("a Morris plot shows elementary effects; this analysis is "
                                 f"{result.method} (use plot_tornado).")
    arm = result._arm(arm)
    ix = result.get(output, arm)
    ax = _axes(ax, (7.0, 5.0))
    pct = int(round(100 * result.design.confidence))
    note = result.notes[arm][output]
    if note:
        ax.text(0.5, 0.5, f"no indices:\n{note}", ha="center", va="center", wrap=True,
                transform=ax.transAxes)
    else:
        ax.errorbar(ix["mu_star"], ix["sigma"], xerr=ix["mu_star_conf"], fmt="o",
                    color="#1f77b4", ecolor="#888888", capsize=3,
                    label=f"parameter (mu* ±{pct}% CI)")
        hi = float(np.nanmax(np.r_[ix["mu_star"] + ix["mu_star_conf"], ix["sigma"]])) * 1.1
        _labels(ax, ix["mu_star"] / hi, ix["sigma"] / hi, ix["mu_star"], ix["sigma"],
                result.names)
        ax.plot([0, hi], [0, hi], "--", color="grey", lw=0.8, label="sigma = mu*")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        ax.legend(loc="upper left", fontsize=8)
    unit = result.units.get(output, "")
    u = f" [{unit}]" if unit and unit != "1" else ""
    ax.set_xlabel(f"mu*: mean |elementary effect| per full range{u}")
    ax.set_ylabel(f"sigma: spread of the elementary effects{u}")
    ax.set_title(f"{result.name}: Morris screening of {_label(result, output, arm)}\n"
                 f"{result.design.n} trajectories, {result.design.n_runs} runs", fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def _labels(ax, fx, fy, x, y, names, step=0.035):
    """Label points, moving a label down (by ``step`` of the axes) while it would overlap
    one already placed (``fx``, ``fy``: positions as fractions of the axes)."""
    height = ax.figure.get_size_inches()[1] * ax.get_position().height * 72.0  # points
    placed: list = []
    for j in np.argsort(-np.nan_to_num(np.asarray(fy), nan=0.0), kind="stable"):
        if not (np.isfinite(fx[j]) and np.isfinite(fy[j])):
            continue
        ty = fy[j]
        while any(abs(ty - py) < step and abs(fx[j] - px) < 0.25 for px, py in placed):
            ty -= step
        placed.append((fx[j], ty))
        ax.annotate(names[j], (x[j], y[j]), xytext=(6, (ty - fy[j]) * height + 3),
                    textcoords="offset points", fontsize=7,
                    arrowprops=dict(arrowstyle="-", color="#bbbbbb", lw=0.5)
                    if ty != fy[j] else None)


def plot_sensitivity(result, outputs=None, *, arm: str | None = None):
    """One panel per output: tornado plots (Sobol) or mu*-sigma plots (Morris).

    Parameters
    ----------
    result : SensitivityResult
    outputs : list of str, optional
        Default: every output of the analysis.
    arm : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    outputs = list(result.outputs if outputs is None else outputs)
    n = len(outputs)
    k = len(result.names)
    if result.method == "sobol":
        fig, axes = plt.subplots(n, 1, figsize=(7.5, n * (0.45 * k + 1.7)),
                                 layout="constrained", squeeze=False)
        for ax, o in zip(axes[:, 0], outputs):
            plot_tornado(result, o, arm=arm, ax=ax)
    else:
        cols = min(n, 2)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 5.0 * rows),
                                 layout="constrained", squeeze=False)
        for ax, o in zip(axes.ravel(), outputs):
            plot_morris(result, o, arm=arm, ax=ax)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
    return fig


def plot_dose_response(result):
    """Dose-response curves: response, side-effect burden, fitted Emax, ED50, window.

    Parameters
    ----------
    result : DoseResponseResult
        From :func:`neurosim.analysis.doseresponse.dose_response`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.8), layout="constrained")
    d = result.doses
    unit = result.unit
    dd = np.geomspace(d.min() * 0.5, d.max() * 1.5, 200)
    pct = int(round(100 * result.confidence))

    ax = axes[0]
    k = 100.0 if result.response.startswith("responder") else 1.0
    rate = k * result.responder_rate
    lo, hi = k * result.responder_ci[:, 0], k * result.responder_ci[:, 1]
    ax.errorbar(d, rate, yerr=[rate - lo, hi - rate], fmt="o", color="#1f77b4", capsize=3,
                label=f"mean {result.response}, ±{pct}% CI")
    fit = result.fit
    if fit is not None and np.isfinite(fit.ed50):
        ax.plot(dd, k * fit(dd), "-", color="#1f77b4", lw=1.2,
                label=f"Emax fit: ED50 {fit.ed50:.3g} {unit} "
                      f"[{fit.ed50_ci[0]:.3g}, {fit.ed50_ci[1]:.3g}], h {fit.hill:.2g}")
        ax.axvspan(fit.ed50_ci[0], fit.ed50_ci[1], color="#1f77b4", alpha=0.12,
                   label=f"ED50 {pct}% CI")
        ax.axvline(fit.ed50, color="#1f77b4", ls=":", lw=1)
    ax.axhline(k * result.control["response"], color="black", ls=":", lw=1,
               label=f"control (no {result.drug})")
    styles = ("--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1)))
    colors = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
    for i, (creg, m) in enumerate(result.comparator_means.items()):
        ax.axhline(k * m["response"], color=colors[i % 4], ls=styles[i % 4], lw=1.2,
                   label=f"comparator {creg}")
    ax2 = ax.twinx()
    ax2.plot(d, result.mean_reduction, "s--", color="#2ca02c", ms=4,
             label="mean pain reduction (right axis)")
    ax2.set_ylabel("mean NRS reduction from baseline at endpoint (points)", color="#2ca02c")
    ax.set_xscale("log")
    ax.set_xlim(dd[0], dd[-1])
    ax.set_xlabel(f"{result.drug} dose per administration [{unit}]")
    ax.set_ylabel(f"{result.response}: share of patients [%]"
                  if result.response.startswith("responder") else
                  f"mean {result.response}")
    if k == 100.0:
        ax.set_ylim(-2, 102)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7)
    ax.set_title(f"Efficacy: {result.regimen_text(None)}\n{result.n_patients} virtual "
                 f"patients, same patients at every dose", fontsize=9)
    ax.grid(alpha=0.3)

    ax = axes[1]
    be = result.burden
    ax.errorbar(d, be, yerr=[be - result.burden_ci[:, 0], result.burden_ci[:, 1] - be],
                fmt="o-", color="#d62728", capsize=3, label=f"mean {result.side_effect}, "
                                                             f"±{pct}% CI")
    ax.axhline(result.threshold, color="grey", ls="--", lw=1,
               label=f"tolerability threshold {result.threshold:g}")
    ax.axhline(result.control["burden"], color="black", ls=":", lw=1,
               label=f"control (no {result.drug}): {result.control['burden']:.3g}")
    for i, (creg, m) in enumerate(result.comparator_means.items()):
        ax.axhline(m["burden"], color=colors[i % 4], ls=styles[i % 4], lw=1.2,
                   label=f"comparator {creg}: {m['burden']:.3g}")
    ed50, td = result.window
    if np.isfinite(td):
        ax.axvline(td, color="#d62728", ls=":", lw=1,
                   label=f"TD{result.threshold:g} = {td:.3g} {unit}")
    if np.isfinite(ed50):
        ax.axvline(ed50, color="#1f77b4", ls=":", lw=1, label=f"ED50 = {ed50:.3g} {unit}")
        if not np.isfinite(td):
            ax.axvspan(ed50, max(d.max() * 1.5, ed50 * 1.01), color="#2ca02c", alpha=0.12,
                       label="therapeutic window (threshold not reached)")
        elif td > ed50:
            ax.axvspan(ed50, td, color="#2ca02c", alpha=0.12,
                       label=f"therapeutic window, TD/ED50 = {td / ed50:.2g}")
        else:
            ax.text(0.98, 0.04, "no therapeutic window:\nthe threshold is reached below ED50",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(dd[0], dd[-1])
    ax.set_xlabel(f"{result.drug} dose per administration [{unit}]")
    ax.set_ylabel(f"mean {result.side_effect}")
    ax.set_title(f"Side effects: {result.drug}, metrics to {result.endpoint_weeks:g} weeks",
                 fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(f"{result.name}: dose-response of {result.drug}", fontsize=11)
    return fig
