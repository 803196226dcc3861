"""neurosim: mechanistic simulation of pain driven by hepatocellular carcinoma.

The package is layered:

* :mod:`neurosim.solver` -- a generic Numba-compiled ensemble ODE solver
  (explicit and Rosenbrock methods, bolus dosing events); it knows nothing
  of pain.
* :mod:`neurosim.model` -- the mechanistic disease model (tumor,
  neuroinflammation, NGF, nerve fibers, sensitization, pain) and its
  annotated parameter table.
* the treatment layer, scenarios and I/O build on those, and the
  ``neurosim`` command line is a thin layer over the Python API.
"""
from ._version import __version__
from .errors import NeurosimError

__all__ = ["__version__", "NeurosimError"]
