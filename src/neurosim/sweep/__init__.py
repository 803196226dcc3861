"""Parameter sweeps and virtual trials: many patients, several arms, one HDF5 file.

::

    from neurosim.sweep import load_sweep, run_sweep, open_sweep

    res = run_sweep("trial.toml", "trial.h5", summary_only=True)   # a SweepResult
    res.metrics("tanezumab")["pain_auc"]        # (n_patients,), read from the file
    res.trajectories("tanezumab", "nrs", rows=[0, 5])

The sweep file's schema is in :mod:`neurosim.sweep.spec` and
``docs/sweeps.md``; the file layout in ``docs/file-format.md``.
"""
from __future__ import annotations

from .spec import Sweep, load_sweep, loads_sweep
from .result import SweepResult, open_sweep
from .runner import SweepInterrupted, run_sweep

__all__ = ["Sweep", "load_sweep", "loads_sweep", "run_sweep", "open_sweep", "SweepResult",
           "SweepInterrupted"]
