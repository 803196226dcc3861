"""Draw the figure of docs/sensitivity.md: Sobol indices of the untreated 6-month course.

Runs the shipped analysis ``scenarios/sensitivity/untreated_6m.toml`` (ten
parameters, N = 1024 base samples, 12,288 simulations; about 1-2 minutes on
2 cores) unless its results file already exists, then draws the tornado
plots of every output.

Usage::

    python docs/scripts/plot_sensitivity.py [--outdir docs/figures] [--results FILE.h5]

Writes ``sensitivity_untreated_6m.png``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from neurosim.analysis.sa_plots import plot_sensitivity  # noqa: E402
from neurosim.analysis.sensitivity import open_sensitivity, run_sensitivity  # noqa: E402
from neurosim.comparison import save_figure  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SA_FILE = REPO / "scenarios" / "sensitivity" / "untreated_6m.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=REPO / "docs" / "figures")
    ap.add_argument("--results", type=Path, default=Path("untreated_6m_sa.h5"),
                    help="results file (reused when it holds the indices)")
    args = ap.parse_args()
    if args.results.exists():
        res = open_sensitivity(args.results)
    else:
        res = run_sensitivity(SA_FILE, args.results, progress="text")
    for o in res.outputs:
        print(res.table(o))
    fig = plot_sensitivity(res)
    out = save_figure(fig, args.outdir / "sensitivity_untreated_6m.png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
