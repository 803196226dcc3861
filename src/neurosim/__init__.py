"""neurosim: mechanistic simulation of pain driven by hepatocellular carcinoma.

The package is layered:

* :mod:`neurosim.solver` -- a generic Numba-compiled ensemble ODE solver
  (explicit and Rosenbrock methods, bolus dosing events); it knows nothing
  of pain.
* :mod:`neurosim.model` -- the mechanistic disease model (tumor,
  neuroinflammation, NGF, nerve fibers, sensitization, pain) and its
  annotated parameter table.
* :mod:`neurosim.treatments` -- the drug library, liver physiology and
  regimens, compiled into drug state blocks; :mod:`neurosim.system` joins
  them with the model.
* :mod:`neurosim.scenario` and :mod:`neurosim.simulation` -- scenario files
  and simulations of them; the ``neurosim`` command line is a thin layer
  over these.

The most used names are available from the top level (imported on first
use, so ``import neurosim`` stays fast)::

    import neurosim
    sc = neurosim.load_scenario("morphine_titrated")
    res = neurosim.simulate_scenario(sc)
    res.plot()
"""
from __future__ import annotations

import importlib

from ._version import __version__
from .errors import NeurosimError

_LAZY = {
    "solve_ensemble": "neurosim.solver",
    "Scenario": "neurosim.scenario",
    "load_scenario": "neurosim.scenario",
    "simulate_scenario": "neurosim.simulation",
    "ScenarioResult": "neurosim.simulation",
    "read_results": "neurosim.io",
}

__all__ = ["__version__", "NeurosimError", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'neurosim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
