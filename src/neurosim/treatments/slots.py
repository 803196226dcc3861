"""The treatment slots: where treatments act on the disease model.

This table restates the contract in ``docs/architecture.md`` (section
"Treatment slots"); the order is the slot vector's index order. A
multiplicative slot defaults to 1 and an inhibitor makes it smaller; a
concentration slot and the additive ``oih`` slot default to 0.
"""
from __future__ import annotations

__all__ = ["SLOTS", "SLOT_NAMES", "SLOT_INDEX", "SLOT_KIND", "N_SLOTS", "slot_defaults",
           "MULT", "CONC", "ADD"]

MULT = "mult"
CONC = "conc"
ADD = "add"

#: (name, kind, unit) in contract order.
SLOTS: tuple[tuple[str, str, str], ...] = (
    ("tnf_production", MULT, "1"),
    ("tnf_activity", MULT, "1"),
    ("il6_production", MULT, "1"),
    ("il6_activity", MULT, "1"),
    ("cox2", MULT, "1"),
    ("ngf_production", MULT, "1"),
    ("ngf_binder", CONC, "nM"),
    ("trka", MULT, "1"),
    ("macrophage_recruitment", MULT, "1"),
    ("afferent", MULT, "1"),
    ("spinal", MULT, "1"),
    ("supraspinal", MULT, "1"),
    ("tumor_growth", MULT, "1"),
    ("oih", ADD, "1"),
)
SLOT_NAMES: tuple[str, ...] = tuple(s[0] for s in SLOTS)
SLOT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SLOT_NAMES)}
SLOT_KIND: dict[str, str] = {s[0]: s[1] for s in SLOTS}
N_SLOTS = len(SLOTS)


def slot_defaults():
    """Slot vector with no treatment: 1 for multiplicative slots, 0 otherwise."""
    import numpy as np

    return np.array([1.0 if k == MULT else 0.0 for _, k, _ in SLOTS])
