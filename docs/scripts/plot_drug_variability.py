"""Make the figure of docs/sweeps.md ("Drugs that differ between patients").

Runs scenarios/sweeps/morphine_variability.toml (1,000 patients x 2 arms,
12 weeks, summary only; about 10 s on 2 cores once the kernels are
compiled) and writes ``docs/figures/morphine_variability.png``: the MME per
day each patient needed against its morphine potency factor and its
clearance factor, in both arms.

Usage::

    python docs/scripts/plot_drug_variability.py [--threads N] [--sweep-file FILE.h5]

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
from neurosim.sweep import open_sweep, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "scenarios" / "sweeps" / "morphine_variability.toml"
FIGURES = ROOT / "docs" / "figures"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="solver threads (default all)")
    ap.add_argument("--sweep-file", type=Path, help="results file to reuse or keep")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h5 = args.sweep_file or Path(tmp) / "morphine_variability.h5"
        if h5.exists():
            res = open_sweep(h5)
        else:
            res = run_sweep(SWEEP, h5, threads=args.threads, summary_only=True,
                            progress="text")
        fig = Figure(figsize=(12, 4.4), layout="constrained")
        ax = fig.subplots(1, 2, sharey=True)
        plots.metric_by_input(res, "morphine.ec50", "mme_per_day", ax=ax[0])
        plots.metric_by_input(res, "morphine.cl", "mme_per_day", ax=ax[1])
        FIGURES.mkdir(parents=True, exist_ok=True)
        out = FIGURES / "morphine_variability.png"
        fig.savefig(out, dpi=100)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
