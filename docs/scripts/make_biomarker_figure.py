"""Make the figures of docs/biomarkers.md from scenarios/sweeps/biomarkers.toml.

Runs the example sweep (400 patients x 3 arms, about 30 s on one core),
ranks the baseline markers and writes

* ``docs/figures/biomarkers_ranking.png`` -- the forest plot of
  ``neurosim biomarkers --plot``;
* ``docs/figures/biomarkers_population.png`` -- NRS bands of the three
  arms, free plasma NGF in the untreated and tanezumab arms, and the
  waterfall of the tanezumab arm;
* ``docs/figures/effects_biomarkers.png`` -- the forest plot of ``neurosim
  effects --control untreated --plot`` (docs/effects.md).

Usage::

    python docs/scripts/make_biomarker_figure.py [--threads N] [--sweep-file FILE.h5]

``--sweep-file`` reuses (or keeps) the sweep's results file.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from neurosim.analysis import plots  # noqa: E402
from neurosim.analysis.biomarkers import rank_biomarkers  # noqa: E402
from neurosim.analysis.effects import plot_effects, treatment_effects  # noqa: E402
from neurosim.sweep import open_sweep, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "scenarios" / "sweeps" / "biomarkers.toml"
FIGURES = ROOT / "docs" / "figures"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="solver threads (default 1)")
    ap.add_argument("--sweep-file", type=Path, help="results file to reuse or keep")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h5 = args.sweep_file or Path(tmp) / "biomarkers.h5"
        if h5.exists():
            res = open_sweep(h5)
        else:
            res = run_sweep(SWEEP, h5, threads=args.threads, progress="text")
        ranking = rank_biomarkers(res, n_boot=1000, seed=0)
        print(ranking.to_text())
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig = ranking.plot()
        fig.savefig(FIGURES / "biomarkers_ranking.png", dpi=110)

        fig = Figure(figsize=(13, 4.2), layout="constrained")
        ax = fig.subplots(1, 3)
        plots.population_bands(res, "nrs", arm=["untreated", "tanezumab", "morphine"], ax=ax[0])
        plots.population_bands(res, "plasma_ngf", arm=["untreated", "tanezumab"], ax=ax[1])
        plots.waterfall(res, arm="tanezumab", ax=ax[2])
        for a in ax:
            a.title.set_fontsize(8)
        fig.savefig(FIGURES / "biomarkers_population.png", dpi=110)

        effects = treatment_effects(res, "untreated")
        print(effects.format())
        plot_effects(effects).savefig(FIGURES / "effects_biomarkers.png", dpi=110)
    print(f"wrote {FIGURES / 'biomarkers_ranking.png'}, "
          f"{FIGURES / 'biomarkers_population.png'} and {FIGURES / 'effects_biomarkers.png'}")


if __name__ == "__main__":
    main()
