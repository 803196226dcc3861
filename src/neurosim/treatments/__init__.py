"""The treatment layer: drug library, liver physiology, regimens, compiled drug block.

* :mod:`~neurosim.treatments.library` -- drugs and procedures as data.
* :mod:`~neurosim.treatments.liver` -- healthy and Child-Pugh A/B/C liver
  physiology and the exposure changes that follow from it.
* :mod:`~neurosim.treatments.regimen` -- dosing regimens, their mini-language
  and expansion to dose events.
* :mod:`~neurosim.treatments.pk` -- the generic compiled drug block (states,
  treatment parameter block, rhs, slots, Jacobian, dose hook).

See ``docs/drugs.md``.
"""
from .library import DrugLibrary, load_library
from .liver import disposition, liver_state, load_liver_states
from .pk import CompiledTreatments, TreatmentPlan
from .regimen import Regimen, parse_regimen
from .slots import N_SLOTS, SLOT_NAMES

__all__ = ["DrugLibrary", "load_library", "disposition", "liver_state", "load_liver_states",
           "TreatmentPlan", "CompiledTreatments", "Regimen", "parse_regimen", "N_SLOTS",
           "SLOT_NAMES"]
