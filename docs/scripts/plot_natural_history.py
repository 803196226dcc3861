"""Draw the figures of docs/model.md: the natural history of the default
patient and the causal diagram of the disease model.

Usage::

    python docs/scripts/plot_natural_history.py [--outdir docs/figures]

Writes ``natural_history.png`` and ``causal_diagram.png``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from neurosim.model import HOURS_PER_MONTH  # noqa: E402
from neurosim.model.experiments import drive_removal, natural_history  # noqa: E402

HEALTHY = {"plasma_il6": 2.57, "plasma_tnf": 5.8, "plasma_ngf": 11.1}
HCC = {"plasma_il6": 13.99, "plasma_tnf": 12.3, "plasma_ngf": 33.9}
COMPONENTS = (("nrs_mechanical", "mechanical (capsule)", "#8c6d31"),
              ("nrs_inflammatory", "inflammatory", "#d6616b"),
              ("nrs_ngf", "NGF / neuropathic", "#6b6ecf"),
              ("nrs_central", "central", "#636363"))


def natural_history_figure(path: Path) -> None:
    nh = natural_history()
    o = nh.series
    m = nh.t / HOURS_PER_MONTH
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)

    a = ax[0, 0]
    a.plot(m, o["tumor_diameter"], color="k")
    a.axhline(5.0, ls=":", color="0.5")
    a.text(0.2, 5.05, "capsular stretch half-maximal (5 cm)", fontsize=8, color="0.4")
    a.set_ylabel("tumor diameter (cm)")
    b = a.twinx()
    b.plot(m, o["tumor_volume"], color="tab:blue", lw=1)
    b.set_ylabel("tumor volume (mL)", color="tab:blue")
    a.set_title(f"Tumor (first doubling {nh.summary['doubling_time_months']:.1f} months)")

    a = ax[0, 1]
    for key, label, color in (("plasma_il6", "IL-6", "tab:red"), ("plasma_tnf", "TNF-alpha", "tab:orange"),
                              ("plasma_ngf", "NGF", "tab:purple")):
        a.plot(m, o[key] / HEALTHY[key], color=color, label=label)
        a.plot([12.3], [HCC[key] / HEALTHY[key]], marker="o", mfc="none", color=color)
    a.set_ylabel("plasma level / healthy level")
    a.set_title("Plasma biomarkers (circles: published HCC means)")
    a.legend(frameon=False, fontsize=8)

    a = ax[1, 0]
    a.stackplot(m, *[o[k] for k, _, _ in COMPONENTS], labels=[lab for _, lab, _ in COMPONENTS],
                colors=[c for _, _, c in COMPONENTS], alpha=0.85)
    a.plot(m, o["nrs"], color="k", lw=1.5, label="NRS")
    a.set_ylim(0, 10)
    a.set_xlabel("months from diagnosis")
    a.set_ylabel("NRS (0-10)")
    a.set_title("Pain and its components (untreated)")
    a.legend(frameon=False, fontsize=8, loc="upper left")

    a = ax[1, 1]
    a.plot(m, o["fiber_density"], label="fiber density (rel.)", color="tab:purple")
    a.plot(m, o["peripheral_sensitization"], label="peripheral sensitization gain",
           color="tab:red")
    a.plot(m, o["central_gain"], label="central gain", color="0.3")
    a.plot(m, 10 * o["central_sensitization_index"], label="10 x CS index", color="0.3", ls="--")
    a.set_xlabel("months from diagnosis")
    a.set_title("Mechanisms")
    a.legend(frameon=False, fontsize=8)
    for aa in ax.flat:
        aa.set_xlim(0, 12.5)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def hysteresis_figure(path: Path) -> None:
    e = drive_removal()
    s = e.series
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    a = ax[0]
    a.plot(s["afferent_drive_up"], s["nrs_up"], color="k", label="way up (untreated, months 0-9)")
    a.plot(s["afferent_drive"], s["nrs"], color="tab:red",
           label="after a 50 % cut at month 9 (16 weeks)")
    a.set_xlabel("afferent input to the dorsal horn")
    a.set_ylabel("NRS")
    a.legend(frameon=False, fontsize=8)
    a.set_title("Same input, more pain: hysteresis")
    a = ax[1]
    weeks = (e.t - e.t[0]) / 168.0
    a.plot(weeks, s["excess"], color="tab:red")
    a.set_xlabel("weeks after the cut")
    a.set_ylabel("NRS above the way-up value")
    a.set_title(f"Excess pain fades (half-life {e.summary['excess_half_life_weeks']:.1f} weeks)")
    fig.savefig(path, dpi=130)
    plt.close(fig)


NODES = {
    # name: (x, y, label, color)
    "tumor": (0.08, 0.70, "Tumor volume\n(Gompertz)", "#c7c7c7"),
    "capsule": (0.08, 0.40, "Capsular\nstretch", "#c7c7c7"),
    "liver": (0.30, 0.97, "Liver disease\n(cirrhosis)", "#c7c7c7"),
    "mac": (0.30, 0.78, "Macrophages\n(CCL2 recruited)", "#fdd0a2"),
    "tnf": (0.52, 0.92, "TNF-a / IL-1b", "#fdae6b"),
    "il6": (0.52, 0.74, "IL-6", "#fdae6b"),
    "pge2": (0.52, 0.56, "PGE2\n(COX-2)", "#fdae6b"),
    "ngf": (0.30, 0.50, "free NGF", "#bcbddc"),
    "ab": (0.30, 0.30, "NGF:antibody", "#dadaeb"),
    "fiber": (0.52, 0.36, "Fiber density\n(sprouting)", "#bcbddc"),
    "retro": (0.52, 0.18, "Retrograde\nTrkA signal", "#bcbddc"),
    "sf": (0.74, 0.74, "Fast peripheral\nsensitization", "#fcbba1"),
    "ss": (0.74, 0.50, "TRPV1\nsensitization", "#fcbba1"),
    "prime": (0.93, 0.74, "Priming", "#fcbba1"),
    "aff": (0.74, 0.30, "Afferent\ndrive", "#e5f5e0"),
    "wind": (0.93, 0.52, "Wind-up", "#d9d9d9"),
    "cs": (0.93, 0.30, "Chronic central\nsensitization", "#d9d9d9"),
    "desc": (0.93, 0.08, "Descending\nfacilitation", "#d9d9d9"),
    "nrs": (0.74, 0.06, "NRS 0-10", "#ffffff"),
}
EDGES = [("tumor", "capsule"), ("tumor", "mac"), ("liver", "mac"), ("mac", "tnf"),
         ("mac", "il6"), ("tumor", "il6"), ("tnf", "il6"), ("tnf", "pge2"), ("il6", "pge2"),
         ("mac", "ngf"), ("tumor", "ngf"), ("tnf", "ngf"), ("ngf", "ab"), ("ngf", "fiber"),
         ("ngf", "retro"), ("ngf", "sf"), ("tnf", "sf"), ("pge2", "sf"), ("retro", "ss"),
         ("sf", "prime"), ("capsule", "aff"), ("pge2", "aff"), ("fiber", "aff"), ("ss", "aff"),
         ("sf", "aff"), ("prime", "aff"), ("aff", "wind"), ("aff", "cs"), ("retro", "cs"),
         ("cs", "desc"), ("desc", "cs"), ("aff", "nrs"), ("wind", "nrs"), ("cs", "nrs"),
         ("desc", "nrs")]


def causal_figure(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 7))
    ax.set_xlim(-0.02, 1.04)
    ax.set_ylim(-0.04, 1.04)
    ax.axis("off")
    w, h = 0.13, 0.075
    for x, y, label, color in NODES.values():
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                    boxstyle="round,pad=0.005,rounding_size=0.01",
                                    fc=color, ec="0.3", lw=0.8))
        ax.text(x, y, label, ha="center", va="center", fontsize=8)
    for a, b in EDGES:
        xa, ya = NODES[a][:2]
        xb, yb = NODES[b][:2]
        rad = 0.25 if (a, b) == ("desc", "cs") else (-0.25 if (a, b) == ("cs", "desc") else 0.0)
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), arrowstyle="-|>", mutation_scale=9,
                                     shrinkA=22, shrinkB=22, lw=0.7, color="0.35",
                                     connectionstyle=f"arc3,rad={rad}"))
    ax.set_title("neurosim disease model: states and causal links "
                 "(treatment slots act on the links)", fontsize=10)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=Path(__file__).resolve().parents[1] / "figures")
    args = ap.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    natural_history_figure(args.outdir / "natural_history.png")
    hysteresis_figure(args.outdir / "hysteresis.png")
    causal_figure(args.outdir / "causal_diagram.png")


if __name__ == "__main__":
    main()
