"""Run the joined system (disease model + compiled drug block) for the treatment
behaviour and validation-target tests.

``run`` compiles a :class:`~neurosim.treatments.pk.TreatmentPlan`, starts every
patient from the quasi-steady state at diagnosis (``model.initial_state``),
integrates with the project's ensemble solver (analytic Jacobian, in-kernel
dose hook) and returns the trajectory with its slot values and the disease
outputs along it (NRS and components, biomarkers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurosim import model, system
from neurosim.model.states import N_SLOTS
from neurosim.solver import solve_ensemble
from neurosim.treatments.pk import TreatmentPlan

HOUR = 1.0
DAY = 24.0
WEEK = 168.0
MONTH = 730.0  # 8760 h / 12, as the disease model counts months


@numba.njit(cache=True)
def trajectory_slots(t, y, p, out):
    """Slot values along an ensemble trajectory: ``y`` (members, times, states),
    ``p`` (members, params); writes ``out`` (members, times, N_SLOTS)."""
    for m in range(y.shape[0]):
        for i in range(y.shape[1]):
            system.slot_values(t[i], y[m, i], p[m], out[m, i])


@dataclass
class Joined:
    """A joined-system run: ``t`` (h), ``y`` (members, times, states), ``p``
    (members, params), ``s`` slots, ``out`` disease outputs (members, times),
    ``ct`` the compiled treatments and ``status`` per member."""

    t: np.ndarray
    y: np.ndarray
    p: np.ndarray
    s: np.ndarray
    out: dict
    ct: object
    status: np.ndarray

    def state(self, name):
        return self.y[:, :, self.ct.index[name]]

    def at(self, key, hours):
        """Output ``key`` at the save time closest to ``hours`` (members,)."""
        i = int(np.argmin(np.abs(self.t - hours)))
        assert abs(self.t[i] - hours) < 1e-6, f"no save time at {hours} h"
        return self.out[key][:, i]

    def side_effects(self, member=0):
        return self.ct.side_effects(self.y[member], self.p[member])


def _dose_scales(plan):
    scale = {}
    for r in plan.regimens:
        amt = r.amount if r.amount > 0 else r.rate * (r.interval or DAY)
        scale[r.drug] = max(scale.get(r.drug, 0.0), amt)
    for r in plan.rescues:
        scale[r.drug] = max(scale.get(r.drug, 0.0), r.amount)
    return scale


def drug_atol(ct, plan, rtol):
    """Per-state absolute tolerance for the drug states: ``rtol`` times a typical
    magnitude (mg states: the drug's largest single dose; effect sites: the
    opioid EC50 scale, 0.01 mg/L; counters and fractions: 1)."""
    scales = _dose_scales(plan)
    out = np.empty(ct.n_states)
    for j, (name, unit) in enumerate(zip(ct.state_names, ct.state_units)):
        drug = name.split(".")[0]
        if unit == "mg" and drug in scales:
            out[j] = scales[drug]
        elif unit == "mg/L":
            out[j] = 0.01
        elif name == "opioid.cumulative_mme":
            out[j] = 100.0
        elif unit == "h":
            out[j] = 100.0
        else:
            out[j] = 1.0
    return rtol * out


def run(plan: TreatmentPlan, t, params=None, *, rtol=1e-5, y0_core=None, outputs=True):
    """Integrate ``plan`` with the disease model for one patient (``params`` 1-D)
    or a population (2-D, one row per patient). ``t`` are the save times (h),
    starting at 0 = diagnosis."""
    t = np.asarray(t, dtype=float)
    pm = model.default_parameters() if params is None else np.asarray(params, float)
    pm2 = np.atleast_2d(pm)
    ct = plan.compile(n_core=model.N_CORE, p_offset=model.N_MODEL_PARAMS, t_end=float(t[-1]))
    p = ct.parameters(pm2)
    core0 = model.initial_state(pm2) if y0_core is None else np.atleast_2d(y0_core)
    y0 = np.concatenate([core0, np.broadcast_to(ct.y0, (core0.shape[0], ct.n_states))], axis=1)
    atol = np.concatenate([model.default_atol(rtol), drug_atol(ct, plan, rtol)])
    res = solve_ensemble(system.system_rhs, y0, t, p, jac=system.system_jac, doses=ct.doses,
                         dose_hook=system.system_dose_hook, rtol=rtol, atol=atol,
                         autonomous=True)
    s = np.empty(res.y.shape[:2] + (N_SLOTS,))
    trajectory_slots(res.t, res.y, p, s)
    out = model.outputs(res.y, p[:, None, :], s) if outputs else {}
    return Joined(t=res.t, y=res.y, p=p, s=s, out=out, ct=ct, status=res.status)


def plan(*regimens, liver="healthy", titration=None, rescue=None, procedures=(), library=None):
    """A :class:`TreatmentPlan` from regimen lines (each starting with the drug name)."""
    pl = TreatmentPlan(library, liver=liver)
    for r in regimens:
        pl.add_regimen(r)
    if titration is not None:
        pl.add_titration(titration)
    if rescue is not None:
        pl.add_rescue(rescue)
    for name, at in procedures:
        pl.add_procedure(name, at=at)
    return pl
