"""The mechanistic disease model: tumor, neuroinflammation, NGF-driven nerve
growth, peripheral and central sensitization, and pain.

This package implements the model side of ``docs/architecture.md``:

* :data:`STATES`, :data:`N_CORE` -- the core state variables (``y[:N_CORE]``);
* :data:`PARAMETERS`, :data:`N_MODEL_PARAMS`, :func:`default_parameters` --
  the annotated parameter table (``neurosim/data/parameters.toml``);
* :data:`SLOTS`, :data:`N_SLOTS` -- the treatment slots;
* :func:`disease_rhs`, :func:`disease_jac`, :func:`model_rhs`,
  :func:`model_jac` -- compiled equations;
* :func:`outputs` -- NRS and its components, plasma biomarkers and other
  read-outs.

Equations, parameters and sources are documented in ``docs/model.md``.
"""
from .states import (N_CORE, N_SLOTS, SLOT_INDEX, SLOTS, STATE_INDEX, STATES, Slot, State,
                     default_slots)
from .parameters import (MODULES, N_MODEL_PARAMS, PARAMETER_INDEX, PARAMETERS, Parameter,
                         ParameterRangeWarning, ParameterTable, default_parameters,
                         make_parameters, sample_population)
from .equations import (DEFAULT_SLOTS, disease_jac, disease_rhs, fixed_slot_jac, fixed_slot_rhs,
                        model_jac, model_rhs)
from .outputs import OUTPUTS, Output, check_params, check_slots, check_state, nrs, outputs
from .simulate import (HOURS_PER_MONTH, STATE_SCALES, Simulation, default_atol, initial_state,
                       simulate)

__all__ = [
    "STATES", "State", "N_CORE", "STATE_INDEX",
    "SLOTS", "Slot", "N_SLOTS", "SLOT_INDEX", "default_slots", "DEFAULT_SLOTS",
    "PARAMETERS", "Parameter", "ParameterTable", "ParameterRangeWarning", "N_MODEL_PARAMS",
    "PARAMETER_INDEX", "MODULES", "default_parameters", "make_parameters", "sample_population",
    "disease_rhs", "disease_jac", "model_rhs", "model_jac", "fixed_slot_rhs", "fixed_slot_jac",
    "OUTPUTS", "Output", "outputs", "nrs", "check_state", "check_params", "check_slots",
    "initial_state", "simulate", "Simulation", "default_atol", "STATE_SCALES", "HOURS_PER_MONTH",
]
