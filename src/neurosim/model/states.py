"""Core state variables and treatment slots of the disease model.

The order of :data:`STATES` is the layout of ``y[:N_CORE]``; the order of
:data:`SLOTS` is the layout of the slot vector ``s`` (see
``docs/architecture.md``). Both orders are part of the contract with the
treatment layer and must not change without updating that document.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "State", "STATES", "N_CORE", "STATE_INDEX",
    "Slot", "SLOTS", "N_SLOTS", "SLOT_INDEX", "default_slots",
]


class State(NamedTuple):
    """One core state variable."""

    name: str
    unit: str
    module: str
    description: str


#: Core states, in the order of ``y[:N_CORE]``.
STATES: tuple[State, ...] = (
    State("tumor_volume", "mL", "tumor",
          "Total tumor volume (Gompertz growth)"),
    State("macrophages", "1", "inflammation",
          "Activated (tumor-associated) macrophage content of the peritumoral tissue; "
          "1 = background activation of a typical cirrhotic liver"),
    State("tnf", "pg/mL", "inflammation",
          "Local TNF-alpha/IL-1beta axis (peritumoral interstitium)"),
    State("il6", "pg/mL", "inflammation", "Local IL-6"),
    State("pge2", "1", "inflammation",
          "Local prostaglandin E2 (COX-1 + COX-2 product) relative to healthy tissue"),
    State("ngf_free", "pg/mL", "ngf", "Local free (biologically active) NGF"),
    State("ngf_bound", "pg/mL", "ngf",
          "Local NGF sequestered by an anti-NGF antibody (NGF mass equivalent)"),
    State("fiber_density", "1", "nerve",
          "Nociceptive nerve-fiber density at the capsule and tumor margin; "
          "1 = basal innervation without NGF-driven sprouting"),
    State("sensitization_fast", "1", "nerve",
          "Fast peripheral sensitization (phosphorylation of TRPV1/Nav1.8 by TNF, PGE2, NGF); "
          "minutes to hours"),
    State("trka_retrograde", "1", "nerve",
          "Retrograde TrkA signal in the sensory ganglion (0-1): links terminal NGF to "
          "TRPV1 synthesis and to central facilitation; hours to a day"),
    State("sensitization_trpv1", "1", "nerve",
          "Slow peripheral sensitization by TrkA-driven TRPV1 up-regulation; days"),
    State("priming", "1", "nerve",
          "Fraction of nociceptors in a persistently sensitized (primed) state; weeks"),
    State("central_fast", "1", "central",
          "Fast central sensitization (wind-up, secondary hyperalgesia); t1/2 about 1 h"),
    State("central_slow", "1", "central",
          "Chronic spinal central sensitization; builds over days, decays over weeks"),
    State("descending_facilitation", "1", "central",
          "Supraspinal descending facilitation (brainstem); supraspinal gain = 1 + this"),
)

#: Number of core states (the model owns ``y[:N_CORE]``).
N_CORE: int = len(STATES)

#: State name -> index in ``y``.
STATE_INDEX: dict[str, int] = {st.name: i for i, st in enumerate(STATES)}


class Slot(NamedTuple):
    """One treatment slot: a process a treatment can act on."""

    name: str
    kind: str          #: "mult" (default 1), "conc" (default 0) or "add" (default 0)
    default: float
    unit: str
    description: str


#: Treatment slots, in the order of the slot vector ``s`` (docs/architecture.md).
SLOTS: tuple[Slot, ...] = (
    Slot("tnf_production", "mult", 1.0, "1",
         "production of TNF-alpha/IL-1beta by tumor and macrophages"),
    Slot("tnf_activity", "mult", 1.0, "1",
         "TNF/IL-1 signalling on its targets (neutralising antibody)"),
    Slot("il6_production", "mult", 1.0, "1", "production of IL-6"),
    Slot("il6_activity", "mult", 1.0, "1", "IL-6 signalling (anti-IL-6 / IL-6R antibody)"),
    Slot("cox2", "mult", 1.0, "1", "COX-2 prostaglandin synthesis"),
    Slot("ngf_production", "mult", 1.0, "1", "NGF production"),
    Slot("ngf_binder", "conc", 0.0, "nM",
         "free concentration of an NGF-sequestering antibody"),
    Slot("trka", "mult", 1.0, "1", "TrkA signalling (sprouting and sensitization by NGF)"),
    Slot("macrophage_recruitment", "mult", 1.0, "1",
         "chemokine (CCL2)-driven macrophage recruitment"),
    Slot("afferent", "mult", 1.0, "1", "afferent transmission (nerve block: 1 - block fraction)"),
    Slot("spinal", "mult", 1.0, "1", "spinal transmission (opioids at the dorsal horn)"),
    Slot("supraspinal", "mult", 1.0, "1", "supraspinal gain (brain stimulation)"),
    Slot("tumor_growth", "mult", 1.0, "1", "tumor growth rate (anticancer therapy)"),
    Slot("oih", "add", 0.0, "1",
         "opioid-induced hyperalgesia drive into central sensitization (>= 0)"),
)

#: Number of treatment slots.
N_SLOTS: int = len(SLOTS)

#: Slot name -> index in ``s``.
SLOT_INDEX: dict[str, int] = {sl.name: i for i, sl in enumerate(SLOTS)}


def default_slots() -> np.ndarray:
    """Slot vector with every slot at its no-treatment default.

    Returns
    -------
    ndarray, shape (N_SLOTS,)
        1 for multiplicative slots, 0 for concentration and additive slots
        (dimensionless, or nM for ``ngf_binder``).
    """
    return np.array([sl.default for sl in SLOTS], dtype=np.float64)
