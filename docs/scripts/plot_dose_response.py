"""Draw the figures of docs/dose-response.md: fixed-dose morphine, a hypothetical drug.

Runs, each on its own virtual patients (the same at every dose), with daily
output and no saved history, over the scenario's 12 weeks:

* morphine (``scenarios/morphine_fixed.toml``) at five doses every 4 h,
  with celecoxib and tanezumab as comparators;
* trkanib (``scenarios/hypothetical_drug.toml``), the oral TrkA antagonist
  written only as data, at seven doses every 12 h, with morphine and
  celecoxib as comparators (their packaged regimens);

prints the tables and draws the dose-response figures.

Usage::

    python docs/scripts/plot_dose_response.py [--outdir docs/figures] [--patients N]

Writes ``dose_response_morphine.png`` and ``dose_response_trkanib.png``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from neurosim.analysis.doseresponse import dose_response  # noqa: E402
from neurosim.analysis.sa_plots import plot_dose_response  # noqa: E402
from neurosim.comparison import save_figure  # noqa: E402
from neurosim.scenario import load_scenario  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", type=Path, default=REPO / "docs" / "figures")
    ap.add_argument("--patients", type=int, default=60)
    args = ap.parse_args()
    runs = (("morphine_fixed.toml", "morphine", [5, 10, 20, 40, 80], ["celecoxib", "tanezumab"]),
            ("hypothetical_drug.toml", "trkanib", [12.5, 25, 50, 100, 200, 400, 800],
             ["morphine", "celecoxib"]))
    for file, drug, doses, compare in runs:
        sc = load_scenario(REPO / "scenarios" / file).with_changes(output_interval="1 d",
                                                                    history="0 d")
        res = dose_response(sc, drug, doses, patients=args.patients, seed=1, compare=compare,
                            progress="text")
        print(res.table())
        out = save_figure(plot_dose_response(res), args.outdir / f"dose_response_{drug}.png")
        print(f"wrote {out}")

if __name__ == "__main__":
    main()
