"""Numba-compiled ensemble ODE solver.

The solver is generic: it integrates any ``rhs(t, y, p, dydt)`` written
with ``numba.njit`` for many members at once, in parallel, with bolus
dosing events. It knows nothing of pain.

>>> from neurosim.solver import solve_ensemble
"""
from .api import METHODS, EnsembleResult, Status, solve_ensemble
from ._codegen import cache_dir

__all__ = ["solve_ensemble", "EnsembleResult", "Status", "METHODS", "cache_dir"]
