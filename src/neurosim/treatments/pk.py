"""The generic compiled drug block.

A scenario's drugs, regimens, titration and rescue policies and
procedures are compiled (in Python, once) into three things:

1. a **state layout**: the drug part of the state vector,
   ``y[n_core:n_core + n_states]``, holding only the compartments the
   scenario needs;
2. a **treatment block**: float64 numbers appended to the model parameter
   vector (``p = [model parameters | treatment block]``) that encode the
   layout and every PK/PD number;
3. a **dose event table** ``(times, targets, amounts, tags)`` for the
   solver, applied by :func:`apply_dose` through the dose hook.

The same Numba functions then serve any drug, and adding a drug needs no
recompilation: :func:`drug_rhs`, :func:`drug_slots` (slot values and their
derivatives), :func:`drug_slot_values`, :func:`drug_jac`,
:func:`opioid_side_effects` and :func:`apply_dose`. None of them allocates
(except :func:`apply_dose` at a titration or rescue decision, where it
needs a slot vector) or touches a Python object.

State layout
------------
All indices in the treatment block are *relative* to ``n_core`` (drug
state ``j`` is ``y[n_core + j]``). Per drug, in this order and only when
needed:

==============================  ======  ==========================================
state                           unit    when
==============================  ======  ==========================================
``<drug>.depot_<route>``        mg      a bolus route with absorption (po, sc, ...)
``<drug>.rate_<route>``         mg/h    an infusion or patch on that route
                                        (zero derivative; switched by the hook)
``<drug>.central``              mg      always
``<drug>.peripheral1/2``        mg      2- and 3-compartment drugs
``<drug>.ce``                   mg/L    drugs with an effect site
``<drug>.<met>.central``        mg      drugs with an active metabolite
``<drug>.<met>.ce``             mg/L    metabolite with an effect site
``<drug>.dose_multiplier``      1       titrated drugs (zero derivative, starts at 1)
``<drug>.titration_count``      1       titrated drugs (decisions above target in a row)
==============================  ======  ==========================================

then, if any opioid is present, ``opioid.tolerance`` (T), ``opioid.oih``
(H), ``opioid.constipation`` (K), ``opioid.cumulative_mme`` (mg); per
rescue policy ``rescue<k>.last_time`` (h) and ``rescue<k>.count``; per
procedure ``<name>.block_intact`` and ``<name>.block_recovering`` (nerve
block, fractions) or ``<name>.on`` (stimulator, 0/1).

Treatment block
---------------
``block = [header | drug records | depot records | input records | effect
records | opioid record | procedure records | policy records | n_core,
p_offset]``. Offsets in the header are relative to the block start
``o = p_offset``; every index is stored as a float and read with
``int()``. The block must be the tail of ``p``: its last two numbers,
``p[-2] = n_core`` and ``p[-1] = p_offset``, let the dose hook (which gets
only ``t, y, p, target, amount, tag``) find it.

Header (``H_*``): version, number of drug states, then (count, offset) for
drugs, depots, inputs, effects; the opioid record offset (-1 if none);
(count, offset) for procedures and policies; ``n_core``; block length.

Drug record (``D_*``, stride ``DRUG_STRIDE``): central index, V1 (L),
linear CL (L/h), Vmax (mg/h), Km (mg/L); peripheral 1 index, Q2 (L/h), V2
(L); peripheral 2 index, Q3, V3; effect-site index, ke0 (1/h); metabolite
central index, fm (mg metabolite per mg parent cleared linearly), Vm (L),
CLm (L/h), metabolite effect-site index, ke0m (1/h); opioid EC50 of the
parent and of the metabolite (mg/L, 0 if not opioid-active); dose
multiplier index. Absent compartments have index -1.

Depot record (``DP_*``): depot index, drug, ka (1/h), F (fraction of the
absorbed flux reaching the systemic central compartment, liver first pass
included) and Fmet (metabolite formed in first pass, mg per mg).

Input record (``IN_*``): one per (drug, route, form) in use; dose tags
point at it. Form (0 bolus, 1 infusion), drug, target state (depot or
central for a bolus; rate state for an infusion), destination of the rate
(depot or central), MME per mg.

Effect record (``EF_*``): drug, slot, kind (1 inhibit, 2 stimulate, 3
concentration), concentration state, divisor (V1 for plasma, 1 for an
effect site), Emax, EC50 (mg/L), Hill, scale (nM per mg/L for
concentration slots).

Opioid record (``OP_*``): indices of T, H, K and cumulative MME; Emax,
Hill, Tmax, tolerance u50, k_on, k_off (1/h), rebound gain; OIH max, u50,
k_on, k_off; constipation u50, rate (1/h); sedation and respiratory EC50
ratios; side-effect tolerance fraction.

Procedure record (``PR_*``): kind (1 nerve block, 2 stimulator), slot, two
state indices, recovery rate (1/h) or depth.

Policy record (``PO_*``): kind (1 titration, 2 rescue), drug, two state
indices, then titration: target NRS, step, severe NRS, severe step, max
multiplier, decisions in a row; rescue: NRS threshold, minimum interval
(h), input record of the rescue route.

Dose tags
---------
``tag = kind * TAG_STRIDE + record``: ``TAG_PLAIN`` (add amount to
``y[target]``), ``TAG_BOLUS`` (input record; scaled by the dose
multiplier, counted in MME), ``TAG_RATE_ON``/``TAG_RATE_OFF`` (add/subtract
the nominal rate in mg/h), ``TAG_TITRATE`` and ``TAG_RESCUE`` (policy
record; read the NRS), ``TAG_BLOCK`` (procedure record; ``amount`` is the
block fraction), ``TAG_STIM_ON``/``TAG_STIM_OFF``.

Pharmacodynamics
----------------
Non-opioid effects multiply their slot by ``1 - Emax C^h/(C^h + EC50^h)``
(or ``1 + ...``); concentration slots receive ``scale * C``. All opioids
add into one drive at the effect site, ``u = sum_i Ce_i / EC50_i``
(metabolites included), and one in plasma, ``up = sum_i Cp_i / EC50_i``.
Tolerance ``T`` (a compartment fed by plasma, as in Ekblom 1993) shifts
potency and leaves an unopposed counter-adaptation (withdrawal rebound)::

    v = u / (1 + T)
    spinal *= 1 - Emax v^h / (1 + v^h) + rebound * T / (1 + v)
    dT/dt = k_on occ(up) (Tmax - T) - k_off T,   occ(up) = up / (up + u50)

Because ``occ`` saturates, fluctuating exposure (boluses) builds less
tolerance than a constant one (infusion) at equal AUC. OIH ``H`` follows
the same law with its own rates and feeds the ``oih`` slot;
constipation ``K`` relaxes to ``up / (up + u50_K)`` without tolerance.
"""
from __future__ import annotations

from .. import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from .._power import power
from ..errors import NeurosimError, ScenarioError, NeurosimValueError, bare_message
from .library import DrugLibrary, load_library
from .liver import disposition, liver_state, load_liver_states, safety_flags, daily_max
from .regimen import (
    Regimen, TitrationPolicy, RescuePolicy, ProcedureSchedule, parse_regimen,
)
from .slots import N_SLOTS, SLOT_INDEX, SLOT_KIND, MULT

__all__ = [
    "TreatmentPlan",
    "CompiledTreatments",
    "drug_rhs",
    "drug_slots",
    "drug_slot_values",
    "drug_jac",
    "opioid_side_effects",
    "apply_dose",
    "basic_dose_hook",
    "make_dose_hook",
    "TAG_STRIDE",
    "DRUG_FACTORS",
]

BLOCK_VERSION = 1.0

# header
H_VERSION, H_NSTATES, H_NDRUG, H_DRUG, H_NDEPOT, H_DEPOT, H_NINPUT, H_INPUT = range(8)
H_NEFFECT, H_EFFECT, H_OPIOID, H_NPROC, H_PROC, H_NPOLICY, H_POLICY, H_NCORE, H_LEN = range(8, 17)
HEADER_LEN = 17

# drug record
(D_C, D_V1, D_CL, D_VMAX, D_KM, D_P1, D_Q2, D_V2, D_P2, D_Q3, D_V3, D_E, D_KE0, D_M, D_FM,
 D_VM, D_CLM, D_ME, D_KE0M, D_EC50, D_EC50M, D_MULT) = range(22)
DRUG_STRIDE = 24
# depot record
DP_IDX, DP_DRUG, DP_KA, DP_F, DP_FMET = range(5)
DEPOT_STRIDE = 6
# input record
IN_FORM, IN_DRUG, IN_TARGET, IN_DEST, IN_MME = range(5)
INPUT_STRIDE = 6
# effect record
EF_DRUG, EF_SLOT, EF_KIND, EF_STATE, EF_DIV, EF_EMAX, EF_EC50, EF_HILL, EF_SCALE = range(9)
EFFECT_STRIDE = 9
EFFECT_INHIBIT, EFFECT_STIMULATE, EFFECT_CONCENTRATION = 1, 2, 3
# opioid record
(OP_T, OP_H, OP_K, OP_MME, OP_EMAX, OP_HILL, OP_TMAX, OP_TU50, OP_TKON, OP_TKOFF, OP_REB,
 OP_HMAX, OP_HU50, OP_HKON, OP_HKOFF, OP_KU50, OP_KK, OP_SED, OP_RESP, OP_SETOL) = range(20)
OPIOID_STRIDE = 20
# procedure record
PR_KIND, PR_SLOT, PR_A, PR_B, PR_RATE = range(5)
PROC_STRIDE = 6
PROC_BLOCK, PROC_STIM = 1, 2
# policy record
(PO_KIND, PO_DRUG, PO_A, PO_B, PO_P0, PO_P1, PO_P2, PO_P3, PO_P4, PO_P5) = range(10)
POLICY_STRIDE = 10
POLICY_TITRATE, POLICY_RESCUE = 1, 2

# dose tags
TAG_STRIDE = 1_000_000
TAG_PLAIN, TAG_BOLUS, TAG_RATE_ON, TAG_RATE_OFF, TAG_TITRATE, TAG_RESCUE = 0, 1, 2, 3, 4, 5
TAG_BLOCK, TAG_STIM_ON, TAG_STIM_OFF = 6, 7, 8

_SPINAL = SLOT_INDEX["spinal"]
_OIH = SLOT_INDEX["oih"]
# Slot defaults as a compile-time constant: 1 for multiplicative slots, 0 otherwise.
_SLOT_DEFAULT = np.array([1.0 if SLOT_KIND[n] == MULT else 0.0 for n in SLOT_INDEX])

_NEVER = -1.0e9  # "last rescue time" before any rescue (h); finite on purpose

#: Drug quantities that can differ between patients by a factor on the compiled
#: (liver- and genotype-adjusted) value: name -> what the factor multiplies.
DRUG_FACTORS: dict = {
    "cl": "clearance of the parent drug (linear CL and, for saturable elimination, Vmax)",
    "v1": "central volume of distribution (and the plasma concentrations effects read)",
    "ka": "absorption rate constant of every route with absorption",
    "f": "extent of absorption: the systemic and first-pass-metabolite fractions of every "
         "absorbed route (capped so that F stays <= 1)",
    "ke0": "effect-site equilibration rate constant of the parent drug",
    "ec50": "potency: every EC50 of the drug (opioid EC50 of the parent and its active "
            "metabolite, EC50 of each effect); a factor 2 halves the potency",
}


# =========================================================================== kernels


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def _hill(c, ec50, h):
    """c^h / (c^h + ec50^h) and its derivative in c (c >= 0)."""
    if c <= 0.0:
        if h == 1.0:
            return 0.0, 1.0 / ec50
        return 0.0, 0.0
    ch = power(c, h)
    eh = power(ec50, h)
    den = ch + eh
    return ch / den, h * ch / c * eh / (den * den)


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def _opioid_drive(y, p, n_core, o):
    """u = sum_i Ce_i / EC50_i over opioid-active effect sites (clamped at 0)."""
    nd = int(p[o + H_NDRUG])
    doff = o + int(p[o + H_DRUG])
    u = 0.0
    for i in range(nd):
        r = doff + i * DRUG_STRIDE
        if p[r + D_EC50] > 0.0:
            u += y[n_core + int(p[r + D_E])] / p[r + D_EC50]
        if p[r + D_EC50M] > 0.0:
            u += y[n_core + int(p[r + D_ME])] / p[r + D_EC50M]
    return u


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def _opioid_plasma_drive(y, p, n_core, o):
    """u_p = sum_i Cp_i / EC50_i over opioid-active plasma concentrations (clamped at 0).

    Tolerance, OIH and constipation are fed by plasma, as Ekblom 1993's
    tolerance compartment is, so they see the full swings of bolus dosing.
    """
    nd = int(p[o + H_NDRUG])
    doff = o + int(p[o + H_DRUG])
    u = 0.0
    for i in range(nd):
        r = doff + i * DRUG_STRIDE
        if p[r + D_EC50] > 0.0:
            u += y[n_core + int(p[r + D_C])] / (p[r + D_V1] * p[r + D_EC50])
        if p[r + D_EC50M] > 0.0:
            u += y[n_core + int(p[r + D_M])] / (p[r + D_VM] * p[r + D_EC50M])
    return u


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def _spinal_opioid(u, T, emax, h, rebound):
    """Opioid factor on spinal transmission and its derivatives in u and T."""
    v = u / (1.0 + T)
    if v > 0.0:
        vh = power(v, h)
        g = vh / (1.0 + vh)
        gp = h * vh / v / ((1.0 + vh) * (1.0 + vh))
    else:
        g = 0.0
        gp = 1.0 if h == 1.0 else 0.0
    f = 1.0 - emax * g + rebound * T / (1.0 + v)
    one_t = 1.0 + T
    dv_du = 1.0 / one_t
    dv_dT = -u / (one_t * one_t)
    dreb_dv = -rebound * T / ((1.0 + v) * (1.0 + v))
    df_du = -emax * gp * dv_du + dreb_dv * dv_du
    df_dT = -emax * gp * dv_dT + rebound / (1.0 + v) + dreb_dv * dv_dT
    return f, df_du, df_dT


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def drug_rhs(t, y, p, n_core, p_offset, dydt):
    """Write d/dt of the drug states into ``dydt[n_core:]``.

    Parameters
    ----------
    t : float
        Time (h).
    y : ndarray
        Full state vector ``[core | drug states]`` (drug amounts in mg,
        concentrations in mg/L, rates in mg/h).
    p : ndarray
        Full parameter vector; the treatment block starts at ``p_offset``.
    n_core : int
        Number of core (disease-model) states.
    p_offset : int
        Index of the treatment block in ``p``.
    dydt : ndarray
        Output; only ``dydt[n_core:n_core + n_drug_states]`` is written.
    """
    o = p_offset
    ns = int(p[o + H_NSTATES])
    for j in range(ns):
        dydt[n_core + j] = 0.0
    nd = int(p[o + H_NDRUG])
    doff = o + int(p[o + H_DRUG])
    for i in range(nd):
        r = doff + i * DRUG_STRIDE
        c = n_core + int(p[r + D_C])
        v1 = p[r + D_V1]
        conc = y[c] / v1
        lin = p[r + D_CL] * conc
        elim = lin
        if p[r + D_VMAX] > 0.0 and conc > 0.0:
            elim += p[r + D_VMAX] * conc / (p[r + D_KM] + conc)
        dydt[c] -= elim
        if p[r + D_P1] >= 0.0:
            k = n_core + int(p[r + D_P1])
            flow = p[r + D_Q2] * (conc - y[k] / p[r + D_V2])
            dydt[c] -= flow
            dydt[k] += flow
        if p[r + D_P2] >= 0.0:
            k = n_core + int(p[r + D_P2])
            flow = p[r + D_Q3] * (conc - y[k] / p[r + D_V3])
            dydt[c] -= flow
            dydt[k] += flow
        if p[r + D_E] >= 0.0:
            k = n_core + int(p[r + D_E])
            dydt[k] = p[r + D_KE0] * (conc - y[k])
        if p[r + D_M] >= 0.0:
            m = n_core + int(p[r + D_M])
            cm = y[m] / p[r + D_VM]
            dydt[m] += p[r + D_FM] * lin - p[r + D_CLM] * cm
            if p[r + D_ME] >= 0.0:
                k = n_core + int(p[r + D_ME])
                dydt[k] = p[r + D_KE0M] * (cm - y[k])
    # absorption from depots (first pass folded into F and Fmet)
    npd = int(p[o + H_NDEPOT])
    poff = o + int(p[o + H_DEPOT])
    for q in range(npd):
        r = poff + q * DEPOT_STRIDE
        d = n_core + int(p[r + DP_IDX])
        dr = doff + int(p[r + DP_DRUG]) * DRUG_STRIDE
        flux = p[r + DP_KA] * y[d]
        dydt[d] -= flux
        dydt[n_core + int(p[dr + D_C])] += p[r + DP_F] * flux
        if p[r + DP_FMET] > 0.0:
            dydt[n_core + int(p[dr + D_M])] += p[r + DP_FMET] * flux
    # zero-order inputs (infusions, patches), scaled by the titration multiplier
    opi = int(p[o + H_OPIOID])
    nin = int(p[o + H_NINPUT])
    ioff = o + int(p[o + H_INPUT])
    for q in range(nin):
        r = ioff + q * INPUT_STRIDE
        if p[r + IN_FORM] != 1.0:
            continue
        dr = doff + int(p[r + IN_DRUG]) * DRUG_STRIDE
        mult = 1.0
        if p[dr + D_MULT] >= 0.0:
            mult = y[n_core + int(p[dr + D_MULT])]
        flow = y[n_core + int(p[r + IN_TARGET])] * mult
        dydt[n_core + int(p[r + IN_DEST])] += flow
        if opi >= 0 and p[r + IN_MME] > 0.0:
            dydt[n_core + int(p[o + opi + OP_MME])] += flow * p[r + IN_MME]
    # shared opioid system
    if opi >= 0:
        a = o + opi
        u = _opioid_plasma_drive(y, p, n_core, o)
        if u < 0.0:
            u = 0.0
        iT = n_core + int(p[a + OP_T])
        iH = n_core + int(p[a + OP_H])
        iK = n_core + int(p[a + OP_K])
        occ = u / (u + p[a + OP_TU50])
        dydt[iT] = p[a + OP_TKON] * occ * (p[a + OP_TMAX] - y[iT]) - p[a + OP_TKOFF] * y[iT]
        occ = u / (u + p[a + OP_HU50])
        dydt[iH] = p[a + OP_HKON] * occ * (p[a + OP_HMAX] - y[iH]) - p[a + OP_HKOFF] * y[iH]
        occ = u / (u + p[a + OP_KU50])
        dydt[iK] = p[a + OP_KK] * (occ - y[iK])
    # procedures: a nerve block recovers through two stages (a shoulder, then decay)
    npr = int(p[o + H_NPROC])
    proff = o + int(p[o + H_PROC])
    for q in range(npr):
        r = proff + q * PROC_STRIDE
        if p[r + PR_KIND] == PROC_BLOCK:
            i1 = n_core + int(p[r + PR_A])
            i2 = n_core + int(p[r + PR_B])
            k = p[r + PR_RATE]
            dydt[i1] = -k * y[i1]
            dydt[i2] = k * y[i1] - k * y[i2]


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def drug_slot_values(t, y, p, n_core, p_offset, s):
    """Write the slot vector ``s`` (length ``N_SLOTS``) from the drug states.

    Multiplicative slots start at 1 and are multiplied by every drug and
    procedure acting on them; concentration slots and ``oih`` start at 0
    and are added to. Same arguments as :func:`drug_rhs`.
    """
    o = p_offset
    for k in range(N_SLOTS):
        s[k] = _SLOT_DEFAULT[k]
    ne = int(p[o + H_NEFFECT])
    eoff = o + int(p[o + H_EFFECT])
    for q in range(ne):
        r = eoff + q * EFFECT_STRIDE
        slot = int(p[r + EF_SLOT])
        c = y[n_core + int(p[r + EF_STATE])] / p[r + EF_DIV]
        if c < 0.0:
            c = 0.0
        kind = p[r + EF_KIND]
        if kind == EFFECT_CONCENTRATION:
            s[slot] += p[r + EF_SCALE] * c
        else:
            frac, _ = _hill(c, p[r + EF_EC50], p[r + EF_HILL])
            if kind == EFFECT_INHIBIT:
                s[slot] *= 1.0 - p[r + EF_EMAX] * frac
            else:
                s[slot] *= 1.0 + p[r + EF_EMAX] * frac
    opi = int(p[o + H_OPIOID])
    if opi >= 0:
        a = o + opi
        u = _opioid_drive(y, p, n_core, o)
        if u < 0.0:
            u = 0.0
        T = y[n_core + int(p[a + OP_T])]
        f, _, _ = _spinal_opioid(u, T, p[a + OP_EMAX], p[a + OP_HILL], p[a + OP_REB])
        s[_SPINAL] *= f
        s[_OIH] += y[n_core + int(p[a + OP_H])]
    npr = int(p[o + H_NPROC])
    proff = o + int(p[o + H_PROC])
    for q in range(npr):
        r = proff + q * PROC_STRIDE
        slot = int(p[r + PR_SLOT])
        if p[r + PR_KIND] == PROC_BLOCK:
            b = y[n_core + int(p[r + PR_A])] + y[n_core + int(p[r + PR_B])]
            s[slot] *= 1.0 - b
        else:
            s[slot] *= 1.0 - p[r + PR_RATE] * y[n_core + int(p[r + PR_A])]


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def _mult_into(s, dsdy, slot, f, ns):
    # product rule, applied factor by factor: d(s f) = f ds + s df (the s df part is added
    # by the caller at the states f depends on, using the returned old value)
    old = s[slot]
    for j in range(ns):
        dsdy[slot, j] *= f
    s[slot] = old * f
    return old


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def drug_slots(t, y, p, n_core, p_offset, s, dsdy):
    """Slot vector ``s`` and its derivatives ``dsdy[k, j] = d s_k / d y[n_core + j]``.

    Parameters
    ----------
    t, y, p, n_core, p_offset
        As in :func:`drug_rhs`.
    s : ndarray, shape (N_SLOTS,)
        Output slot vector.
    dsdy : ndarray, shape (N_SLOTS, n_drug_states)
        Output derivative of each slot with respect to each drug state.
    """
    o = p_offset
    ns = int(p[o + H_NSTATES])
    for k in range(N_SLOTS):
        s[k] = _SLOT_DEFAULT[k]
        for j in range(ns):
            dsdy[k, j] = 0.0
    nd = int(p[o + H_NDRUG])
    doff = o + int(p[o + H_DRUG])
    ne = int(p[o + H_NEFFECT])
    eoff = o + int(p[o + H_EFFECT])
    for q in range(ne):
        r = eoff + q * EFFECT_STRIDE
        slot = int(p[r + EF_SLOT])
        js = int(p[r + EF_STATE])
        div = p[r + EF_DIV]
        c = y[n_core + js] / div
        clamped = c < 0.0
        if clamped:
            c = 0.0
        kind = p[r + EF_KIND]
        if kind == EFFECT_CONCENTRATION:
            s[slot] += p[r + EF_SCALE] * c
            if not clamped:
                dsdy[slot, js] += p[r + EF_SCALE] / div
        else:
            frac, dfrac = _hill(c, p[r + EF_EC50], p[r + EF_HILL])
            sign = -1.0 if kind == EFFECT_INHIBIT else 1.0
            f = 1.0 + sign * p[r + EF_EMAX] * frac
            old = _mult_into(s, dsdy, slot, f, ns)
            if not clamped:
                dsdy[slot, js] += old * sign * p[r + EF_EMAX] * dfrac / div
    opi = int(p[o + H_OPIOID])
    if opi >= 0:
        a = o + opi
        u = _opioid_drive(y, p, n_core, o)
        clamped = u < 0.0
        if clamped:
            u = 0.0
        jT = int(p[a + OP_T])
        T = y[n_core + jT]
        f, df_du, df_dT = _spinal_opioid(u, T, p[a + OP_EMAX], p[a + OP_HILL], p[a + OP_REB])
        old = _mult_into(s, dsdy, _SPINAL, f, ns)
        if not clamped:
            for i in range(nd):
                r = doff + i * DRUG_STRIDE
                if p[r + D_EC50] > 0.0:
                    dsdy[_SPINAL, int(p[r + D_E])] += old * df_du / p[r + D_EC50]
                if p[r + D_EC50M] > 0.0:
                    dsdy[_SPINAL, int(p[r + D_ME])] += old * df_du / p[r + D_EC50M]
        dsdy[_SPINAL, jT] += old * df_dT
        jH = int(p[a + OP_H])
        s[_OIH] += y[n_core + jH]
        dsdy[_OIH, jH] += 1.0
    npr = int(p[o + H_NPROC])
    proff = o + int(p[o + H_PROC])
    for q in range(npr):
        r = proff + q * PROC_STRIDE
        slot = int(p[r + PR_SLOT])
        ja = int(p[r + PR_A])
        if p[r + PR_KIND] == PROC_BLOCK:
            jb = int(p[r + PR_B])
            b = y[n_core + ja] + y[n_core + jb]
            old = _mult_into(s, dsdy, slot, 1.0 - b, ns)
            dsdy[slot, ja] -= old
            dsdy[slot, jb] -= old
        else:
            depth = p[r + PR_RATE]
            old = _mult_into(s, dsdy, slot, 1.0 - depth * y[n_core + ja], ns)
            dsdy[slot, ja] -= old * depth


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def drug_jac(t, y, p, n_core, p_offset, J):
    """Write the drug block ``J[n_core:, n_core:]`` of the Jacobian.

    The drug states never depend on the core states, so ``J[n_core:,
    :n_core]`` is zero and is not touched; the cross block ``J[:n_core,
    n_core:]`` is the system's (``dfds @ dsdy``). Same arguments as
    :func:`drug_rhs`; ``J`` is the full (n, n) matrix.
    """
    o = p_offset
    ns = int(p[o + H_NSTATES])
    n0 = n_core
    for i in range(ns):
        for j in range(ns):
            J[n0 + i, n0 + j] = 0.0
    nd = int(p[o + H_NDRUG])
    doff = o + int(p[o + H_DRUG])
    for i in range(nd):
        r = doff + i * DRUG_STRIDE
        c = n0 + int(p[r + D_C])
        v1 = p[r + D_V1]
        conc = y[c] / v1
        J[c, c] -= p[r + D_CL] / v1
        if p[r + D_VMAX] > 0.0 and conc > 0.0:
            km = p[r + D_KM]
            J[c, c] -= p[r + D_VMAX] * km / ((km + conc) * (km + conc)) / v1
        if p[r + D_P1] >= 0.0:
            k = n0 + int(p[r + D_P1])
            q2 = p[r + D_Q2]
            J[c, c] -= q2 / v1
            J[c, k] += q2 / p[r + D_V2]
            J[k, c] += q2 / v1
            J[k, k] -= q2 / p[r + D_V2]
        if p[r + D_P2] >= 0.0:
            k = n0 + int(p[r + D_P2])
            q3 = p[r + D_Q3]
            J[c, c] -= q3 / v1
            J[c, k] += q3 / p[r + D_V3]
            J[k, c] += q3 / v1
            J[k, k] -= q3 / p[r + D_V3]
        if p[r + D_E] >= 0.0:
            k = n0 + int(p[r + D_E])
            J[k, c] += p[r + D_KE0] / v1
            J[k, k] -= p[r + D_KE0]
        if p[r + D_M] >= 0.0:
            m = n0 + int(p[r + D_M])
            J[m, c] += p[r + D_FM] * p[r + D_CL] / v1
            J[m, m] -= p[r + D_CLM] / p[r + D_VM]
            if p[r + D_ME] >= 0.0:
                k = n0 + int(p[r + D_ME])
                J[k, m] += p[r + D_KE0M] / p[r + D_VM]
                J[k, k] -= p[r + D_KE0M]
    npd = int(p[o + H_NDEPOT])
    poff = o + int(p[o + H_DEPOT])
    for q in range(npd):
        r = poff + q * DEPOT_STRIDE
        d = n0 + int(p[r + DP_IDX])
        dr = doff + int(p[r + DP_DRUG]) * DRUG_STRIDE
        ka = p[r + DP_KA]
        J[d, d] -= ka
        J[n0 + int(p[dr + D_C]), d] += p[r + DP_F] * ka
        if p[r + DP_FMET] > 0.0:
            J[n0 + int(p[dr + D_M]), d] += p[r + DP_FMET] * ka
    opi = int(p[o + H_OPIOID])
    nin = int(p[o + H_NINPUT])
    ioff = o + int(p[o + H_INPUT])
    for q in range(nin):
        r = ioff + q * INPUT_STRIDE
        if p[r + IN_FORM] != 1.0:
            continue
        dr = doff + int(p[r + IN_DRUG]) * DRUG_STRIDE
        src = n0 + int(p[r + IN_TARGET])
        dest = n0 + int(p[r + IN_DEST])
        mult = 1.0
        im = -1
        if p[dr + D_MULT] >= 0.0:
            im = n0 + int(p[dr + D_MULT])
            mult = y[im]
        J[dest, src] += mult
        if im >= 0:
            J[dest, im] += y[src]
        if opi >= 0 and p[r + IN_MME] > 0.0:
            cm = n0 + int(p[o + opi + OP_MME])
            J[cm, src] += mult * p[r + IN_MME]
            if im >= 0:
                J[cm, im] += y[src] * p[r + IN_MME]
    if opi >= 0:
        a = o + opi
        u = _opioid_plasma_drive(y, p, n0, o)
        clamped = u < 0.0
        if clamped:
            u = 0.0
        iT = n0 + int(p[a + OP_T])
        iH = n0 + int(p[a + OP_H])
        iK = n0 + int(p[a + OP_K])
        tu = p[a + OP_TU50]
        hu = p[a + OP_HU50]
        ku = p[a + OP_KU50]
        occT = u / (u + tu)
        occH = u / (u + hu)
        J[iT, iT] = -p[a + OP_TKON] * occT - p[a + OP_TKOFF]
        J[iH, iH] = -p[a + OP_HKON] * occH - p[a + OP_HKOFF]
        J[iK, iK] = -p[a + OP_KK]
        if not clamped:
            dT_du = p[a + OP_TKON] * tu / ((u + tu) * (u + tu)) * (p[a + OP_TMAX] - y[iT])
            dH_du = p[a + OP_HKON] * hu / ((u + hu) * (u + hu)) * (p[a + OP_HMAX] - y[iH])
            dK_du = p[a + OP_KK] * ku / ((u + ku) * (u + ku))
            for i in range(nd):
                r = doff + i * DRUG_STRIDE
                for which in range(2):
                    if which == 0:
                        ec = p[r + D_EC50] * p[r + D_V1]
                        e = n0 + int(p[r + D_C])
                    else:
                        ec = p[r + D_EC50M] * p[r + D_VM]
                        e = n0 + int(p[r + D_M])
                    if ec <= 0.0:
                        continue
                    J[iT, e] += dT_du / ec
                    J[iH, e] += dH_du / ec
                    J[iK, e] += dK_du / ec
    npr = int(p[o + H_NPROC])
    proff = o + int(p[o + H_PROC])
    for q in range(npr):
        r = proff + q * PROC_STRIDE
        if p[r + PR_KIND] == PROC_BLOCK:
            i1 = n0 + int(p[r + PR_A])
            i2 = n0 + int(p[r + PR_B])
            k = p[r + PR_RATE]
            J[i1, i1] -= k
            J[i2, i1] += k
            J[i2, i2] -= k


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def opioid_side_effects(y, p, n_core, p_offset, out):
    """Opioid side-effect burden of one state.

    Writes ``out[0]`` drive u, ``out[1]`` sedation (0-1), ``out[2]``
    respiratory depression (0-1), ``out[3]`` constipation (0-1),
    ``out[4]`` tolerance T, ``out[5]`` OIH, ``out[6]`` cumulative MME (mg).
    All zero when the scenario has no opioid. Sedation and respiratory
    depression are hyperbolic in ``u`` with EC50s that are multiples of the
    analgesic one, shifted by tolerance like analgesia.
    """
    for k in range(7):
        out[k] = 0.0
    o = p_offset
    opi = int(p[o + H_OPIOID])
    if opi < 0:
        return
    a = o + opi
    u = _opioid_drive(y, p, n_core, o)
    if u < 0.0:
        u = 0.0
    T = y[n_core + int(p[a + OP_T])]
    shift = 1.0 + p[a + OP_SETOL] * T
    us = u / (p[a + OP_SED] * shift)
    ur = u / (p[a + OP_RESP] * shift)
    out[0] = u
    out[1] = us / (1.0 + us)
    out[2] = ur / (1.0 + ur)
    out[3] = y[n_core + int(p[a + OP_K])]
    out[4] = T
    out[5] = y[n_core + int(p[a + OP_H])]
    out[6] = y[n_core + int(p[a + OP_MME])]


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def _give(y, p, o, n_core, inp, target, amount):
    """Give a bolus through input record ``inp``: scale by the multiplier, count MME."""
    r = o + int(p[o + H_INPUT]) + inp * INPUT_STRIDE
    dr = o + int(p[o + H_DRUG]) + int(p[r + IN_DRUG]) * DRUG_STRIDE
    mult = 1.0
    if p[dr + D_MULT] >= 0.0:
        mult = y[n_core + int(p[dr + D_MULT])]
    given = amount * mult
    y[target] += given
    opi = int(p[o + H_OPIOID])
    if opi >= 0 and p[r + IN_MME] > 0.0:
        y[n_core + int(p[o + opi + OP_MME])] += given * p[r + IN_MME]


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def dose_needs_nrs(tag):
    """Whether a dose record with this tag needs the NRS (titration or rescue)."""
    kind = int(tag) // TAG_STRIDE
    return kind == TAG_TITRATE or kind == TAG_RESCUE


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def apply_dose(t, y, p, target, amount, tag, nrs):
    """Apply one dose-event record to ``y`` in place.

    Parameters
    ----------
    t : float
        Event time (h).
    y : ndarray
        Full state vector at ``t``.
    p : ndarray
        Full parameter vector ending with the treatment block.
    target : int
        Absolute state index the record acts on.
    amount : float
        Bolus (mg), rate (mg/h) or block fraction, by tag.
    tag : int
        ``kind * TAG_STRIDE + record`` (see the module docstring).
    nrs : float
        Current NRS (0-10); only read by titration and rescue records
        (pass NaN otherwise: those records then do nothing).
    """
    n = p.shape[0]
    o = int(p[n - 1])
    n_core = int(p[n - 2])
    kind = int(tag) // TAG_STRIDE
    rec = int(tag) % TAG_STRIDE
    if kind == TAG_PLAIN:
        y[target] += amount
    elif kind == TAG_BOLUS:
        _give(y, p, o, n_core, rec, target, amount)
    elif kind == TAG_RATE_ON:
        y[target] += amount
    elif kind == TAG_RATE_OFF:
        y[target] -= amount
        # rates are sums of the nominal rates switched on; remove round-off residue
        if abs(y[target]) <= 1e-12 * max(abs(amount), 1.0):
            y[target] = 0.0
    elif kind == TAG_TITRATE:
        if nrs != nrs:
            return
        r = o + int(p[o + H_POLICY]) + rec * POLICY_STRIDE
        dr = o + int(p[o + H_DRUG]) + int(p[r + PO_DRUG]) * DRUG_STRIDE
        im = n_core + int(p[dr + D_MULT])
        ic = n_core + int(p[r + PO_A])
        if nrs > p[r + PO_P0]:
            y[ic] += 1.0
            if y[ic] >= p[r + PO_P5]:
                step = p[r + PO_P3] if nrs >= p[r + PO_P2] else p[r + PO_P1]
                y[im] = min(y[im] * (1.0 + step), p[r + PO_P4])
                y[ic] = 0.0
        else:
            y[ic] = 0.0
    elif kind == TAG_RESCUE:
        if nrs != nrs:
            return
        r = o + int(p[o + H_POLICY]) + rec * POLICY_STRIDE
        il = n_core + int(p[r + PO_A])
        if nrs >= p[r + PO_P0] and t - y[il] >= p[r + PO_P1] - 1e-9:
            _give(y, p, o, n_core, int(p[r + PO_P2]), target, amount)
            y[il] = t
            y[n_core + int(p[r + PO_B])] += 1.0
    elif kind == TAG_BLOCK:
        r = o + int(p[o + H_PROC]) + rec * PROC_STRIDE
        i1 = n_core + int(p[r + PR_A])
        i2 = n_core + int(p[r + PR_B])
        remaining = 1.0 - (y[i1] + y[i2])
        # a repeat block cuts a fraction of what transmits; the whole block starts afresh
        y[i1] = 1.0 - remaining * (1.0 - amount)
        y[i2] = 0.0
    elif kind == TAG_STIM_ON:
        y[target] = 1.0
    elif kind == TAG_STIM_OFF:
        y[target] = 0.0


@numba.njit(cache=True, error_model="numpy", _nrt=False)
def basic_dose_hook(t, y, p, target, amount, tag):
    """Dose hook for scenarios without titration or rescue policies (no NRS needed)."""
    apply_dose(t, y, p, target, amount, tag, np.nan)


def make_dose_hook(nrs_func):
    """Build a dose hook that reads the NRS at titration and rescue decisions.

    Parameters
    ----------
    nrs_func : numba.njit function
        ``nrs_func(t, y, p, s) -> float``: the NRS (0-10) of the full state
        ``y`` given the full parameter vector ``p`` and the slot vector
        ``s`` (length ``N_SLOTS``). The disease model provides it.

    Returns
    -------
    numba.njit function
        ``dose_hook(t, y, p, target, amount, tag)`` for the solver. It
        computes the slots with :func:`drug_slot_values` and calls
        ``nrs_func`` only at decision records.

    Notes
    -----
    numba does not cache closures; for a cached hook, write the same four
    lines at module level with the NRS function referenced as a module
    attribute (``model.nrs``), as ``docs/drugs.md`` shows.
    """

    @numba.njit
    def dose_hook(t, y, p, target, amount, tag):
        nrs = np.nan
        if dose_needs_nrs(tag):
            n = p.shape[0]
            s = np.empty(N_SLOTS)
            drug_slot_values(t, y, p, int(p[n - 2]), int(p[n - 1]), s)
            nrs = nrs_func(t, y, p, s)
        apply_dose(t, y, p, target, amount, tag, nrs)

    return dose_hook


# =========================================================================== compiler


@dataclass
class CompiledTreatments:
    """A scenario's treatments compiled for the solver.

    Attributes
    ----------
    state_names : list of str
        Names of the drug states (``y[n_core + j]``).
    state_units : list of str
    y0 : ndarray, shape (n_states,)
        Initial drug states (zeros, multipliers 1).
    block : ndarray
        The treatment block, to append to the model parameters
        (``p = np.concatenate([model_params, block])``; its length already
        accounts for the trailer).
    doses : tuple of ndarray
        ``(times, targets, amounts, tags)``, sorted by time; targets are
        absolute state indices.
    n_core, p_offset : int
    needs_nrs : bool
        True if titration or rescue policies need an NRS in the dose hook.
    dispositions : dict of str -> Disposition
        Per drug, the PK numbers used (liver state applied).
    index : dict of str -> int
        Absolute state index by name.
    """

    state_names: list
    state_units: list
    y0: np.ndarray
    block: np.ndarray
    doses: tuple
    n_core: int
    p_offset: int
    needs_nrs: bool
    dispositions: dict
    index: dict
    administrations: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    drugs: list = field(default_factory=list)

    @property
    def n_states(self) -> int:
        """Number of drug states the treatments add after the disease states."""
        return len(self.state_names)

    def factor_columns(self, drug: str, quantity: str) -> list:
        """Columns of ``p`` (``[model parameters | block]``) that a per-patient factor on
        one drug quantity multiplies.

        Parameters
        ----------
        drug : str
            A drug of these treatments (:attr:`drugs`).
        quantity : str
            One of :data:`DRUG_FACTORS`.

        Returns
        -------
        list of (int, str)
            ``(column, role)``; the role is ``"f"`` for a systemic fraction
            (capped at 1), ``"fmet"`` for a first-pass metabolite fraction,
            ``"x"`` otherwise.

        Raises
        ------
        NeurosimValueError
            For a drug these treatments do not give, an unknown quantity, or a
            quantity the drug does not have (``ke0`` without an effect site,
            ``ka`` or ``f`` without an absorbed route, ``ec50`` without an
            effect).
        """
        if drug not in self.drugs:
            raise NeurosimValueError(
                f"{drug!r} is not given by these treatments (drugs: "
                f"{', '.join(self.drugs) or 'none'}).")
        if quantity not in DRUG_FACTORS:
            raise NeurosimValueError(f"unknown drug quantity {quantity!r}; quantities: "
                                     f"{', '.join(DRUG_FACTORS)}.")
        b = self.block
        o = self.p_offset
        di = self.drugs.index(drug)
        rec = int(b[H_DRUG]) + di * DRUG_STRIDE
        cols: list = []
        if quantity == "cl":
            cols.append((rec + D_CL, "x"))
            if b[rec + D_VMAX] > 0.0:
                cols.append((rec + D_VMAX, "x"))
        elif quantity == "v1":
            cols.append((rec + D_V1, "x"))
            central = b[rec + D_C]
            for k in range(int(b[H_NEFFECT])):
                e = int(b[H_EFFECT]) + k * EFFECT_STRIDE
                if int(b[e + EF_DRUG]) == di and b[e + EF_STATE] == central:
                    cols.append((e + EF_DIV, "x"))
        elif quantity in ("ka", "f"):
            for k in range(int(b[H_NDEPOT])):
                d = int(b[H_DEPOT]) + k * DEPOT_STRIDE
                if int(b[d + DP_DRUG]) == di:
                    if quantity == "ka":
                        cols.append((d + DP_KA, "x"))
                    else:
                        cols.append((d + DP_F, "f"))
                        if b[d + DP_FMET] > 0.0:
                            cols.append((d + DP_FMET, "fmet"))
        elif quantity == "ke0":
            if b[rec + D_E] >= 0:
                cols.append((rec + D_KE0, "x"))
        else:
            for j in (D_EC50, D_EC50M):
                if b[rec + j] > 0.0:
                    cols.append((rec + j, "x"))
            for k in range(int(b[H_NEFFECT])):
                e = int(b[H_EFFECT]) + k * EFFECT_STRIDE
                if int(b[e + EF_DRUG]) == di and int(b[e + EF_KIND]) != EFFECT_CONCENTRATION:
                    cols.append((e + EF_EC50, "x"))
        if not cols:
            what = {"ke0": "no effect site", "ka": "no route with absorption in use",
                    "f": "no route with absorption in use",
                    "ec50": "no effect with an EC50"}[quantity]
            raise NeurosimValueError(f"{drug} has {what}, so it has no {quantity!r} to vary.")
        return [(o + c, role) for c, role in cols]

    def scale_drug(self, p, drug: str, quantity: str, factor) -> None:
        """Multiply one drug quantity of each patient by that patient's factor, in place.

        The factor acts on the compiled value (after the liver state and any
        modifiers), as between-patient variability does in population PK
        (``CL_i = CL x factor_i``). A factor on ``f`` that would take a
        route's systemic fraction above 1 is capped there (its first-pass
        metabolite fraction gets the same capped factor).

        Parameters
        ----------
        p : ndarray (n_patients, len)
            Parameter vectors from :meth:`parameters`.
        drug, quantity : str
            See :meth:`factor_columns`.
        factor : array_like (n_patients,)
            Positive finite factors.
        """
        f = np.broadcast_to(np.asarray(factor, dtype=np.float64), (p.shape[0],))
        if not np.all(np.isfinite(f) & (f > 0.0)):
            raise NeurosimValueError(f"factors on {drug}.{quantity} must be finite and > 0.")
        g = f  # the factor of the last systemic fraction, capped; its fmet follows it
        for c, role in self.factor_columns(drug, quantity):
            if role == "f":
                with np.errstate(divide="ignore"):
                    g = np.minimum(f, 1.0 / p[:, c])
                p[:, c] *= g
            elif role == "fmet":
                p[:, c] *= g
            else:
                p[:, c] *= f

    def parameters(self, model_params) -> np.ndarray:
        """``[model_params | block]``, checking the model part has ``p_offset`` entries."""
        mp = np.asarray(model_params, dtype=np.float64)
        if mp.shape[-1] != self.p_offset:
            raise NeurosimValueError(
                f"the treatment block was compiled for {self.p_offset} model parameters but "
                f"{mp.shape[-1]} were given; compile with p_offset={mp.shape[-1]}.")
        if mp.ndim == 1:
            return np.concatenate([mp, self.block])
        return np.concatenate([mp, np.broadcast_to(self.block, mp.shape[:-1] + self.block.shape)],
                              axis=-1)

    def dose_hook(self, nrs_func=None):
        """The dose hook for these treatments (``basic_dose_hook`` if no NRS is needed)."""
        if self.needs_nrs:
            if nrs_func is None:
                raise ScenarioError(
                    "this scenario has titration or rescue policies, which read the NRS at "
                    "decision times; pass the disease model's NRS function (nrs_func).")
            return make_dose_hook(nrs_func)
        return basic_dose_hook

    def side_effects(self, y, p) -> dict:
        """Opioid side effects along a trajectory.

        Parameters
        ----------
        y : ndarray, shape (n_times, n_total_states)
        p : ndarray
            Full parameter vector.

        Returns
        -------
        dict of str -> ndarray (n_times,)
            ``u``, ``sedation``, ``respiratory_depression``,
            ``constipation``, ``tolerance``, ``oih``, ``cumulative_mme``.
        """
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        out = np.zeros((y.shape[0], 7))
        for i in range(y.shape[0]):
            opioid_side_effects(y[i], p, self.n_core, self.p_offset, out[i])
        keys = ("u", "sedation", "respiratory_depression", "constipation", "tolerance", "oih",
                "cumulative_mme")
        return {k: out[:, i] for i, k in enumerate(keys)}

    def mme_per_day(self, t, y) -> np.ndarray:
        """MME given per day, from the cumulative-MME state of a trajectory.

        Parameters
        ----------
        t : ndarray (n_times,)
            Save times (h) starting at the simulation start and including
            every whole day after it.
        y : ndarray (n_times, n_total_states)

        Returns
        -------
        ndarray (n_days,)
            MME (mg morphine equivalent) delivered in each day. A state
            saved at a dose time includes that dose, so day ``k`` covers
            ``(t0 + 24k, t0 + 24(k+1)]``; the first day also counts doses at
            ``t0`` itself (the baseline is the initial state, before any
            dose).
        """
        if "opioid.cumulative_mme" not in self.index:
            return np.zeros(0)
        t = np.asarray(t, dtype=float)
        j = self.index["opioid.cumulative_mme"]
        cum = np.asarray(y)[:, j]
        days = np.arange(t[0] + 24.0, t[-1] + 1e-9, 24.0)
        pos = [int(np.argmin(np.abs(t - d))) for d in days]
        if any(abs(t[i] - d) > 1e-6 for i, d in zip(pos, days)):
            raise NeurosimValueError("mme_per_day needs save times at every whole day.")
        base = self.y0[j - self.n_core]
        return np.diff(np.concatenate([[base], cum[pos]]))


@dataclass
class _Layout:
    names: list = field(default_factory=list)
    units: list = field(default_factory=list)
    init: list = field(default_factory=list)

    def add(self, name, unit, init=0.0):
        self.names.append(name)
        self.units.append(unit)
        self.init.append(init)
        return len(self.names) - 1


class TreatmentPlan:
    """Collects a scenario's treatments and compiles them.

    Parameters
    ----------
    library : DrugLibrary, optional
        Default: the packaged library.
    liver : str
        Liver state (``"healthy"``, ``"child_pugh_a"``/``"A"``, ...).
    body_weight : float
        Patient body weight (kg).
    states : dict, optional
        Liver states (default: the packaged ones).

    Examples
    --------
    >>> plan = TreatmentPlan(liver="child_pugh_b")
    >>> _ = plan.add_regimen("10 mg po q4h", drug="morphine")
    >>> ct = plan.compile(n_core=0, p_offset=0, t_end=48.0)
    >>> ct.state_names[:2]
    ['morphine.depot_po', 'morphine.central']
    """

    def __init__(self, library: DrugLibrary | None = None, *, liver="healthy",
                 body_weight: float = 70.0, states: dict | None = None):
        self.library = load_library() if library is None else library
        self.states = load_liver_states() if states is None else states
        self.liver = liver_state(liver, self.states)
        if not (body_weight > 0 and math.isfinite(body_weight)):
            raise NeurosimValueError(f"body_weight must be a positive number of kg; got "
                                     f"{body_weight!r}.")
        self.body_weight = float(body_weight)
        self.regimens: list[Regimen] = []
        self.titrations: list[TitrationPolicy] = []
        self.rescues: list[RescuePolicy] = []
        self.procedures: list[ProcedureSchedule] = []

    @classmethod
    def from_scenario(cls, table, *, library: DrugLibrary | None = None,
                      source: str = "scenario", states: dict | None = None) -> "TreatmentPlan":
        """Build a plan from a scenario's ``[treatments]`` table.

        Parameters
        ----------
        table : mapping
            Keys: ``liver`` (state name), ``body_weight`` (``"70 kg"``),
            ``library`` (overrides in the drug-library layout, e.g. a
            hypothetical drug under ``library.drugs.<name>``), ``regimens``
            (list of lines such as ``"morphine 10 mg po q4h"`` or tables
            ``{drug, regimen}`` / explicit records), ``titration``,
            ``rescue`` and ``procedures`` (lists of tables).
        library : DrugLibrary, optional
            Base library (default: the packaged one).
        source : str
            Scenario file name, for error messages.

        Examples
        --------
        >>> plan = TreatmentPlan.from_scenario({
        ...     "liver": "B", "regimens": ["morphine 10 mg po q4h"],
        ...     "procedures": [{"procedure": "celiac_plexus_neurolysis", "at": "10 d"}]})
        >>> len(plan.regimens), plan.liver.name
        (1, 'child_pugh_b')
        """
        from ..units import parse_quantity
        from .regimen import regimen_from_dict, _reject_unknown

        def fail(exc, key):
            raise ScenarioError(bare_message(exc), file=source,
                                key=f"treatments.{key}") from None

        if not isinstance(table, dict):
            raise ScenarioError(f"[treatments] must be a table; got {table!r}.", file=source)
        allowed = ("liver", "body_weight", "library", "regimens", "titration", "rescue",
                   "procedures")
        try:
            _reject_unknown(table, allowed, "treatments")
        except ScenarioError as exc:
            raise ScenarioError(bare_message(exc), file=source, key=exc.key) from None
        base = load_library() if library is None else library
        lib = base.with_overrides(table["library"], source=source) if "library" in table else base
        try:
            bw = parse_quantity(table.get("body_weight", "70 kg"), "mass", name="body_weight",
                                minimum=0.0, allow_zero=False) / 1e6
        except NeurosimValueError as exc:
            fail(exc, "body_weight")
        try:
            plan = cls(lib, liver=table.get("liver", "healthy"), body_weight=bw, states=states)
        except ScenarioError as exc:
            fail(exc, "liver")
        for kind, adder in (("regimens", None), ("titration", plan.add_titration),
                            ("rescue", plan.add_rescue), ("procedures", plan.add_procedure)):
            entries = table.get(kind, [])
            if not isinstance(entries, list):
                raise ScenarioError(f"'{kind}' must be a list.", file=source,
                                    key=f"treatments.{kind}")
            for i, e in enumerate(entries):
                try:
                    if kind == "regimens":
                        if isinstance(e, str):
                            plan.add_regimen(e)
                        else:
                            plan.add_regimen(regimen_from_dict(
                                e, body_weight=bw, key=f"regimens[{i}]",
                                known_drugs=lib.names))
                    else:
                        adder(e)
                except NeurosimError as exc:     # also a drug's missing route (a key error)
                    fail(exc, f"{kind}[{i}]")
        return plan

    # ------------------------------------------------------------------ adding

    def add_regimen(self, regimen, drug: str | None = None) -> Regimen:
        """Add a regimen (a :class:`Regimen` or a mini-language line)."""
        if isinstance(regimen, str):
            regimen = parse_regimen(regimen, drug=drug, body_weight=self.body_weight,
                                    known_drugs=self.library.names)
        if not regimen.drug:
            raise ScenarioError(f"regimen {regimen.text!r} names no drug; pass drug=... or start "
                                "the line with the drug name.", key="regimen")
        self._check_route(regimen)
        self.regimens.append(regimen)
        return regimen

    def add_titration(self, policy) -> TitrationPolicy:
        """Add a titration policy (a :class:`TitrationPolicy` or a dict)."""
        if not isinstance(policy, TitrationPolicy):
            policy = TitrationPolicy.from_dict(policy)
        self.library.drug(policy.drug)
        if any(p.drug == policy.drug for p in self.titrations):
            raise ScenarioError(f"two titration policies for {policy.drug!r}; keep one.",
                                key="titration")
        self.titrations.append(policy)
        return policy

    def add_rescue(self, policy) -> RescuePolicy:
        """Add a rescue policy (a :class:`RescuePolicy` or a dict)."""
        if not isinstance(policy, RescuePolicy):
            policy = RescuePolicy.from_dict(policy, body_weight=self.body_weight)
        d = self.library.drug(policy.drug)
        r = d.route(policy.route)
        if "bolus" not in r.forms:
            raise ScenarioError(f"rescue doses are boluses, but {policy.drug} route {r.name!r} "
                                "only takes infusions.", key="rescue")
        self.rescues.append(policy)
        return policy

    def add_procedure(self, procedure, at=None, until=None) -> ProcedureSchedule:
        """Add a procedure: ``add_procedure("celiac_plexus_neurolysis", at="10 d")``."""
        if isinstance(procedure, ProcedureSchedule):
            sched = procedure
        elif isinstance(procedure, dict):
            sched = ProcedureSchedule.from_dict(procedure)
        else:
            sched = ProcedureSchedule.from_dict({"procedure": procedure, "at": at,
                                                 **({"until": until} if until is not None
                                                    else {})})
        proc = self.library.procedure(sched.procedure)
        if proc.kind == "nerve_block" and sched.stop is not None:
            raise ScenarioError(f"{proc.name} is performed once; 'until' applies to "
                                "stimulators only.", key="procedure.until")
        if sched.stop is not None and sched.stop <= sched.start:
            raise ScenarioError(f"{proc.name}: 'until' must come after 'at'.",
                                key="procedure.until")
        self.procedures.append(sched)
        return sched

    def _check_route(self, reg: Regimen):
        d = self.library.drug(reg.drug)
        try:
            r = d.route(reg.route)
        except KeyError as exc:
            raise ScenarioError(f"regimen {reg.text or reg.to_text()!r}: {exc}",
                                key="regimen") from None
        form = "bolus" if reg.form == "bolus" else "infusion"
        if form not in r.forms:
            if form == "bolus":
                hint = f"give it as a rate, e.g. '25 ug/h {r.name} patch q72h'"
            else:
                hint = f"give it as a dose, e.g. '10 mg {r.name} q4h'"
            raise ScenarioError(f"regimen {reg.text or reg.to_text()!r}: {d.name} by {r.name} is "
                                f"given as {' or '.join(r.forms)}, not as {form}; {hint}.",
                                key="regimen")

    # ------------------------------------------------------------------ reporting

    def describe(self) -> str:
        """All treatments in words."""
        lines = [f"Liver: {self.liver.description or self.liver.name}; body weight "
                 f"{self.body_weight:g} kg."]
        lines += [f"- {r.describe()}" for r in self.regimens]
        for t in self.titrations:
            lines.append(
                f"- titrate {t.drug} every {t.every:g} h from {t.start:g} h: +{100 * t.step:g} % "
                f"when NRS > {t.target_nrs:g} (+{100 * t.severe_step:g} % at NRS >= "
                f"{t.severe_nrs:g}), at most x{t.max_multiplier:g}")
        for r in self.rescues:
            lines.append(f"- rescue {r.amount:g} mg {r.drug} {r.route} when NRS >= "
                         f"{r.threshold_nrs:g}, at most every {r.min_interval:g} h")
        for s in self.procedures:
            lines.append(f"- {s.procedure} at {s.start:g} h"
                         + (f" until {s.stop:g} h" if s.stop is not None else ""))
        return "\n".join(lines)

    def safety_report(self, t_end: float | None = None) -> list[dict]:
        """Safety flags (e.g. NSAIDs in Child-Pugh B/C) and daily-cap breaches.

        Parameters
        ----------
        t_end : float, optional
            Horizon (h) over which scheduled daily doses are checked against
            the liver-dependent daily maximum (default: 7 days).
        """
        out = []
        drugs = {r.drug for r in self.regimens} | {r.drug for r in self.rescues}
        for name in sorted(drugs):
            out += safety_flags(self.library.drug(name), self.liver)
        horizon = 7 * 24.0 if t_end is None else float(t_end)
        for name in sorted(drugs):
            cap = daily_max(self.library.drug(name), self.liver)
            if cap is None:
                continue
            daily = [0.0] * int(math.ceil(horizon / 24.0))
            for r in self.regimens:
                if r.drug != name:
                    continue
                for a in r.administrations(horizon):
                    k = int(a.time // 24.0)
                    if k < len(daily):
                        daily[k] += a.amount if math.isfinite(a.amount) else a.rate * 24.0
            worst = max(daily) if daily else 0.0
            if worst > cap * (1 + 1e-9):
                out.append({"drug": name, "severity": "high",
                            "message": f"{name}: up to {worst:g} mg/day scheduled, above the "
                                       f"{cap:g} mg/day maximum in {self.liver.name}; lower the "
                                       "dose or lengthen the interval",
                            "source": "daily maximum in the drug library"})
        return out

    # ------------------------------------------------------------------ compile

    def compile(self, *, n_core: int, p_offset: int, t_end: float,
                t_start: float = 0.0) -> CompiledTreatments:
        """Compile the layout, treatment block and dose events.

        Parameters
        ----------
        n_core : int
            Number of core states (the drug states follow them).
        p_offset : int
            Number of model parameters (the block follows them).
        t_end : float
            End of the simulation (h); later events are dropped.
        t_start : float
            Start of the simulation (h); earlier events are an error.
        """
        lib = self.library
        lay = _Layout()
        drug_names = []
        for r in self.regimens:
            if r.drug not in drug_names:
                drug_names.append(r.drug)
        for r in self.rescues:
            if r.drug not in drug_names:
                drug_names.append(r.drug)
        for t in self.titrations:
            if t.drug not in drug_names:
                raise ScenarioError(f"titration of {t.drug!r}, which no regimen gives; add a "
                                    "regimen for it.", key="titration.drug")
        # routes and forms in use, per drug
        used = {d: [] for d in drug_names}
        for r in self.regimens:
            form = "bolus" if r.form == "bolus" else "infusion"
            if (r.route, form) not in used[r.drug]:
                used[r.drug].append((r.route, form))
        for r in self.rescues:
            if (r.route, "bolus") not in used[r.drug]:
                used[r.drug].append((r.route, "bolus"))

        disp = {d: disposition(lib.drug(d), self.liver, body_weight=self.body_weight,
                               states=self.states) for d in drug_names}
        titrated = {t.drug for t in self.titrations}
        drugs_rec, depots_rec, inputs_rec, effects_rec = [], [], [], []
        input_index = {}
        depot_index = {}
        any_opioid = any(lib.drug(d).is_opioid for d in drug_names)
        for di, name in enumerate(drug_names):
            drug = lib.drug(name)
            ds = disp[name]
            rec = np.full(DRUG_STRIDE, -1.0)
            rec[[D_V1, D_CL, D_VMAX, D_KM, D_Q2, D_V2, D_Q3, D_V3, D_KE0, D_FM, D_VM, D_CLM,
                 D_KE0M, D_EC50, D_EC50M]] = 0.0
            rec[D_KM] = 1.0
            rec[D_VM] = 1.0
            rec[D_V2] = 1.0
            rec[D_V3] = 1.0
            # depots first (per route with absorption)
            for route, form in used[name]:
                rs = drug.route(route)
                if rs.ka is not None and (route not in depot_index.get(name, {})):
                    j = lay.add(f"{name}.depot_{route}", "mg")
                    depot_index.setdefault(name, {})[route] = (j, len(depots_rec))
                    dp = np.zeros(DEPOT_STRIDE)
                    dp[DP_IDX] = j
                    dp[DP_DRUG] = di
                    dp[DP_KA] = rs.ka.to(name=f"drugs.{name}.routes.{route}.ka")
                    dp[DP_F] = ds.route_f[route]
                    dp[DP_FMET] = ds.route_f_met[route] if drug.metabolite is not None else 0.0
                    depots_rec.append(dp)
            rate_states = {}
            for route, form in used[name]:
                if form == "infusion":
                    rate_states[route] = lay.add(f"{name}.rate_{route}", "mg/h")
            c = lay.add(f"{name}.central", "mg")
            rec[D_C] = c
            rec[D_V1] = ds.v1
            rec[D_CL] = ds.cl
            if ds.vmax > 0:
                rec[D_VMAX] = ds.vmax
                rec[D_KM] = ds.km
            if ds.v2 > 0:
                rec[D_P1] = lay.add(f"{name}.peripheral1", "mg")
                rec[D_Q2] = ds.q2
                rec[D_V2] = ds.v2
            if ds.v3 > 0:
                rec[D_P2] = lay.add(f"{name}.peripheral2", "mg")
                rec[D_Q3] = ds.q3
                rec[D_V3] = ds.v3
            if drug.ke0 is not None:
                rec[D_E] = lay.add(f"{name}.ce", "mg/L")
                rec[D_KE0] = drug.ke0.to(name=f"drugs.{name}.effect_site.ke0")
            if drug.is_opioid:
                rec[D_EC50] = drug.opioid_ec50.to(name=f"drugs.{name}.opioid.ec50")
            met = drug.metabolite
            if met is not None:
                rec[D_M] = lay.add(f"{name}.{met.name}.central", "mg")
                rec[D_FM] = ds.fm_systemic
                rec[D_VM] = ds.met_v
                rec[D_CLM] = ds.met_cl
                if met.ke0 is not None and met.opioid_ec50 is not None:
                    rec[D_ME] = lay.add(f"{name}.{met.name}.ce", "mg/L")
                    rec[D_KE0M] = met.ke0.to()
                    rec[D_EC50M] = met.opioid_ec50.to()
            if name in titrated:
                rec[D_MULT] = lay.add(f"{name}.dose_multiplier", "1", 1.0)
            drugs_rec.append(rec)
            # inputs
            for route, form in used[name]:
                inp = np.zeros(INPUT_STRIDE)
                inp[IN_FORM] = 1.0 if form == "infusion" else 0.0
                inp[IN_DRUG] = di
                dest = depot_index.get(name, {}).get(route, (c, None))[0]
                inp[IN_TARGET] = rate_states[route] if form == "infusion" else dest
                inp[IN_DEST] = dest
                inp[IN_MME] = drug.route(route).mme.to()
                input_index[(name, route, form)] = len(inputs_rec)
                inputs_rec.append(inp)
            # effects on slots
            for e in drug.effects:
                ef = np.zeros(EFFECT_STRIDE)
                ef[EF_DRUG] = di
                ef[EF_SLOT] = SLOT_INDEX[e.slot]
                if e.site == "effect":
                    ef[EF_STATE] = rec[D_E]
                    ef[EF_DIV] = 1.0
                else:
                    ef[EF_STATE] = c
                    ef[EF_DIV] = ds.v1
                if e.kind == "concentration":
                    ef[EF_KIND] = EFFECT_CONCENTRATION
                    # mg/L -> nM: the internal molar mass is in mg/nmol
                    ef[EF_SCALE] = 1.0 / drug.molar_mass.to()
                else:
                    ef[EF_KIND] = EFFECT_INHIBIT if e.kind == "inhibit" else EFFECT_STIMULATE
                    ef[EF_EMAX] = e.emax.to()
                    ef[EF_EC50] = e.ec50.to(name=f"drugs.{name}.effects.{e.slot}.ec50")
                    ef[EF_HILL] = e.hill.to()
                effects_rec.append(ef)
        # titration counters
        pol_rec = []
        name_to_di = {n: i for i, n in enumerate(drug_names)}
        for t in self.titrations:
            po = np.zeros(POLICY_STRIDE)
            po[PO_KIND] = POLICY_TITRATE
            po[PO_DRUG] = name_to_di[t.drug]
            po[PO_A] = lay.add(f"{t.drug}.titration_count", "1")
            po[PO_B] = -1
            po[[PO_P0, PO_P1, PO_P2, PO_P3, PO_P4, PO_P5]] = (
                t.target_nrs, t.step, t.severe_nrs, t.severe_step, t.max_multiplier,
                t.consecutive)
            pol_rec.append(po)
        # opioid system
        op_rec = None
        if any_opioid:
            pd = lib.opioid_pd
            ln2 = math.log(2.0)
            op_rec = np.zeros(OPIOID_STRIDE)
            op_rec[OP_T] = lay.add("opioid.tolerance", "1")
            op_rec[OP_H] = lay.add("opioid.oih", "1")
            op_rec[OP_K] = lay.add("opioid.constipation", "1")
            op_rec[OP_MME] = lay.add("opioid.cumulative_mme", "mg")
            op_rec[OP_EMAX] = pd["emax"].to()
            op_rec[OP_HILL] = pd["hill"].to()
            op_rec[OP_TMAX] = pd["tolerance_max"].to()
            op_rec[OP_TU50] = pd["tolerance_drive_u50"].to()
            op_rec[OP_TKON] = ln2 / pd["tolerance_onset_halflife"].to()
            op_rec[OP_TKOFF] = ln2 / pd["tolerance_recovery_halflife"].to()
            op_rec[OP_REB] = pd["rebound_gain"].to()
            op_rec[OP_HMAX] = pd["oih_max"].to()
            op_rec[OP_HU50] = pd["oih_drive_u50"].to()
            op_rec[OP_HKON] = ln2 / pd["oih_onset_halflife"].to()
            op_rec[OP_HKOFF] = ln2 / pd["oih_recovery_halflife"].to()
            op_rec[OP_KU50] = pd["constipation_u50"].to()
            op_rec[OP_KK] = ln2 / pd["constipation_halflife"].to()
            op_rec[OP_SED] = pd["sedation_ec50_ratio"].to()
            op_rec[OP_RESP] = pd["respiratory_ec50_ratio"].to()
            op_rec[OP_SETOL] = pd["side_effect_tolerance_fraction"].to()
        # rescue policies
        for k, r in enumerate(self.rescues):
            po = np.zeros(POLICY_STRIDE)
            po[PO_KIND] = POLICY_RESCUE
            po[PO_DRUG] = name_to_di[r.drug]
            po[PO_A] = lay.add(f"rescue{k}.last_time", "h", _NEVER)
            po[PO_B] = lay.add(f"rescue{k}.count", "1")
            po[PO_P0] = r.threshold_nrs
            po[PO_P1] = r.min_interval
            po[PO_P2] = input_index[(r.drug, r.route, "bolus")]
            pol_rec.append(po)
        # procedures (one record per distinct procedure)
        proc_rec, proc_index = [], {}
        for s in self.procedures:
            if s.procedure in proc_index:
                continue
            proc = lib.procedure(s.procedure)
            pr = np.zeros(PROC_STRIDE)
            pr[PR_SLOT] = SLOT_INDEX[proc.slot]
            if proc.kind == "nerve_block":
                pr[PR_KIND] = PROC_BLOCK
                pr[PR_A] = lay.add(f"{proc.name}.block_intact", "1")
                pr[PR_B] = lay.add(f"{proc.name}.block_recovering", "1")
                # two equal stages with mean total time recovery_time: k = 2 / recovery_time
                pr[PR_RATE] = 2.0 / proc.recovery_time.to()
            else:
                pr[PR_KIND] = PROC_STIM
                pr[PR_A] = lay.add(f"{proc.name}.on", "1")
                pr[PR_B] = -1
                pr[PR_RATE] = proc.depth.to()
            proc_index[s.procedure] = len(proc_rec)
            proc_rec.append(pr)

        # ---- assemble the block
        parts = []
        pos = HEADER_LEN

        def place(recs, stride):
            nonlocal pos
            off = pos
            arr = np.concatenate(recs) if recs else np.zeros(0)
            parts.append(arr)
            pos += len(recs) * stride
            return off

        header = np.zeros(HEADER_LEN)
        header[H_VERSION] = BLOCK_VERSION
        header[H_NSTATES] = len(lay.names)
        header[H_NDRUG], header[H_DRUG] = len(drugs_rec), place(drugs_rec, DRUG_STRIDE)
        header[H_NDEPOT], header[H_DEPOT] = len(depots_rec), place(depots_rec, DEPOT_STRIDE)
        header[H_NINPUT], header[H_INPUT] = len(inputs_rec), place(inputs_rec, INPUT_STRIDE)
        header[H_NEFFECT], header[H_EFFECT] = len(effects_rec), place(effects_rec, EFFECT_STRIDE)
        header[H_OPIOID] = place([op_rec], OPIOID_STRIDE) if op_rec is not None else -1
        header[H_NPROC], header[H_PROC] = len(proc_rec), place(proc_rec, PROC_STRIDE)
        header[H_NPOLICY], header[H_POLICY] = len(pol_rec), place(pol_rec, POLICY_STRIDE)
        header[H_NCORE] = n_core
        header[H_LEN] = pos + 2
        block = np.concatenate([header] + parts + [np.array([float(n_core), float(p_offset)])])

        # ---- dose events
        events = []  # (time, priority, target_abs, amount, tag)
        admins = []
        t_end = float(t_end)
        infusion_spans = {}
        for reg in self.regimens:
            form = "bolus" if reg.form == "bolus" else "infusion"
            ii = input_index[(reg.drug, reg.route, form)]
            inp = inputs_rec[ii]
            for a in reg.administrations(t_end):
                if a.time < t_start - 1e-9:
                    raise ScenarioError(f"regimen {reg.text or reg.to_text()!r} starts at "
                                        f"{a.time:g} h, before the simulation starts "
                                        f"({t_start:g} h).", key="regimen")
                admins.append(a)
                tgt = n_core + int(inp[IN_TARGET])
                if form == "bolus":
                    events.append((a.time, 3, tgt, a.amount, TAG_BOLUS * TAG_STRIDE + ii))
                else:
                    infusion_spans.setdefault((reg.drug, reg.route), []).append((a, reg))
                    events.append((a.time, 4, tgt, a.rate, TAG_RATE_ON * TAG_STRIDE + ii))
                    if a.end < t_end - 1e-9:
                        events.append((a.end, 0, tgt, a.rate, TAG_RATE_OFF * TAG_STRIDE + ii))
        for (drug, route), spans in infusion_spans.items():
            spans.sort(key=lambda x: x[0].time)
            for (a0, r0), (a1, r1) in zip(spans, spans[1:]):
                if a1.time < a0.end - 1e-9:
                    raise ScenarioError(
                        f"overlapping infusions of {drug} by {route}: "
                        f"{r0.text or r0.to_text()!r} runs until {a0.end:g} h but "
                        f"{r1.text or r1.to_text()!r} starts at {a1.time:g} h. Shorten the "
                        "first, start the second later, or merge them into one rate.",
                        key="regimen")
        for k, t in enumerate(self.titrations):
            im = n_core + int(drugs_rec[name_to_di[t.drug]][D_MULT])
            for tt in t.decision_times(t_end):
                if tt >= t_start - 1e-9:
                    events.append((tt, 1, im, 0.0, TAG_TITRATE * TAG_STRIDE + k))
        nt = len(self.titrations)
        for k, r in enumerate(self.rescues):
            inp = inputs_rec[input_index[(r.drug, r.route, "bolus")]]
            tgt = n_core + int(inp[IN_TARGET])
            for tt in r.check_times(t_end):
                if tt >= t_start - 1e-9:
                    events.append((tt, 2, tgt, r.amount, TAG_RESCUE * TAG_STRIDE + nt + k))
        for s in self.procedures:
            proc = lib.procedure(s.procedure)
            pi = proc_index[s.procedure]
            a_idx = n_core + int(proc_rec[pi][PR_A])
            if s.start >= t_end:
                continue
            if proc.kind == "nerve_block":
                events.append((s.start, 5, a_idx, proc.block_fraction.to(),
                               TAG_BLOCK * TAG_STRIDE + pi))
            else:
                events.append((s.start, 5, a_idx, 1.0, TAG_STIM_ON * TAG_STRIDE + pi))
                if s.stop is not None and s.stop < t_end:
                    events.append((s.stop, 0, a_idx, 0.0, TAG_STIM_OFF * TAG_STRIDE + pi))
        events.sort(key=lambda e: (e[0], e[1]))
        times = np.array([e[0] for e in events], dtype=np.float64)
        targets = np.array([e[2] for e in events], dtype=np.int64)
        amounts = np.array([e[3] for e in events], dtype=np.float64)
        tags = np.array([e[4] for e in events], dtype=np.int64)
        index = {nm: n_core + j for j, nm in enumerate(lay.names)}
        return CompiledTreatments(
            state_names=list(lay.names), state_units=list(lay.units),
            y0=np.array(lay.init, dtype=np.float64), block=block,
            doses=(times, targets, amounts, tags), n_core=int(n_core), p_offset=int(p_offset),
            needs_nrs=bool(self.titrations or self.rescues), dispositions=disp, index=index,
            administrations=admins, warnings=self.safety_report(t_end),
            drugs=list(drug_names))
