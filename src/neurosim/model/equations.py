"""Compiled right-hand side and analytic Jacobian of the disease model.

Every term is a named biological process; the equations are written out
in ``docs/model.md``. The functions follow the solver's conventions
(``docs/architecture.md``): time in hours, plain float64 arrays, no
allocation and no Python objects inside the compiled code.

Index constants are literal integers on purpose. Numba freezes module
globals into the compiled (and cached) code, and its cache is invalidated
only when *this* file changes; deriving the indices from the TOML table at
import time could therefore leave a stale cache behind after the table is
reordered. ``tests/test_parameters.py`` checks that these constants match
the table and the state and slot lists.
"""
from __future__ import annotations

from .. import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import math

import numpy as np
from numba import njit

from .._power import power
from .parameters import N_MODEL_PARAMS
from .states import N_CORE, N_SLOTS

# Compiled with error_model="numpy": a division by zero gives inf/NaN, which the
# solver reports as that patient's status, instead of an exception that would
# abort every patient of a parallel ensemble.

__all__ = [
    "disease_rhs", "disease_jac", "model_rhs", "model_jac",
    "fixed_slot_rhs", "fixed_slot_jac", "DEFAULT_SLOTS", "transmitted_signal", "nrs_value",
]

LN2 = math.log(2.0)

# ---- core state indices (order of states.STATES) -------------------------
Y_TUMOR_VOLUME = 0
Y_MACROPHAGES = 1
Y_TNF = 2
Y_IL6 = 3
Y_PGE2 = 4
Y_NGF_FREE = 5
Y_NGF_BOUND = 6
Y_FIBER_DENSITY = 7
Y_SENSITIZATION_FAST = 8
Y_TRKA_RETROGRADE = 9
Y_SENSITIZATION_TRPV1 = 10
Y_PRIMING = 11
Y_CENTRAL_FAST = 12
Y_CENTRAL_SLOW = 13
Y_DESCENDING_FACILITATION = 14

# ---- slot indices (order of states.SLOTS, docs/architecture.md) ----------
S_TNF_PRODUCTION = 0
S_TNF_ACTIVITY = 1
S_IL6_PRODUCTION = 2
S_IL6_ACTIVITY = 3
S_COX2 = 4
S_NGF_PRODUCTION = 5
S_NGF_BINDER = 6
S_TRKA = 7
S_MACROPHAGE_RECRUITMENT = 8
S_AFFERENT = 9
S_SPINAL = 10
S_SUPRASPINAL = 11
S_TUMOR_GROWTH = 12
S_OIH = 13

# ---- parameter indices (order of data/parameters.toml) -------------------
P_TUMOR_VOLUME_DIAGNOSIS = 0
P_TUMOR_DOUBLING_TIME = 1
P_TUMOR_CARRYING_CAPACITY = 2
P_CAPSULE_STRETCH_DIAMETER = 3
P_CAPSULE_STRETCH_HILL = 4
P_LIVER_INFLAMMATION = 5
P_MACROPHAGE_HALF_LIFE = 6
P_MACROPHAGE_RECRUITMENT_TUMOR = 7
P_TNF_HALF_LIFE = 8
P_TNF_BASAL = 9
P_TNF_PER_MACROPHAGE = 10
P_IL6_HALF_LIFE = 11
P_IL6_BASAL = 12
P_IL6_PER_MACROPHAGE = 13
P_IL6_PER_TUMOR_VOLUME = 14
P_IL6_PER_TNF = 15
P_PGE2_HALF_LIFE = 16
P_PGE2_BASAL = 17
P_PGE2_PER_TNF = 18
P_PGE2_PER_IL6 = 19
P_PLASMA_SPILLOVER = 20
P_NGF_HALF_LIFE = 21
P_NGF_BASAL = 22
P_NGF_PER_MACROPHAGE = 23
P_NGF_PER_TUMOR_VOLUME = 24
P_NGF_PER_TNF = 25
P_ANTIBODY_KON = 26
P_ANTIBODY_KOFF = 27
P_NGF_COMPLEX_HALF_LIFE = 28
P_TRKA_K50 = 29
P_SPROUTING_GAIN = 30
P_FIBER_HALF_LIFE = 31
P_SENSITIZATION_FAST_HALF_LIFE = 32
P_SENSITIZATION_TNF = 33
P_SENSITIZATION_PGE2 = 34
P_SENSITIZATION_NGF_FAST = 35
P_TNF_K50 = 36
P_PGE2_K50 = 37
P_TRKA_RETROGRADE_HALF_LIFE = 38
P_TRPV1_GAIN = 39
P_TRPV1_HALF_LIFE = 40
P_PRIMING_RATE = 41
P_PRIMING_THRESHOLD = 42
P_PRIMING_HALF_LIFE = 43
P_PRIMING_WEIGHT = 44
P_CAPSULE_PAIN_WEIGHT = 45
P_CHEMICAL_PGE2_WEIGHT = 46
P_CHEMICAL_TNF_WEIGHT = 47
P_NRS_S50 = 48
P_WINDUP_HALF_LIFE = 49
P_WINDUP_GAIN = 50
P_WINDUP_A50 = 51
P_CS_HALF_LIFE = 52
P_CS_INDUCTION_HALF_TIME = 53
P_CS_MAX = 54
P_CS_A50 = 55
P_CS_NGF_DRIVE = 56
P_DESCENDING_HALF_LIFE = 57
P_DESCENDING_GAIN = 58
P_DESCENDING_FEEDBACK = 59
P_DESCENDING_K50 = 60
P_SPONTANEOUS_CENTRAL = 61

_N_CORE = 15
_N_SLOTS = 14
_N_MODEL_PARAMS = 62
assert (_N_CORE, _N_SLOTS, _N_MODEL_PARAMS) == (N_CORE, N_SLOTS, N_MODEL_PARAMS), (
    "index constants in equations.py are out of date with the state, slot or parameter tables")

#: Slot vector with every slot at its default (no treatment).
DEFAULT_SLOTS = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _hill2(x, k):
    """Receptor activation x^2/(x^2+k^2) and its derivative in x."""
    x2 = x * x
    k2 = k * k
    den = x2 + k2
    return x2 / den, 2.0 * x * k2 / (den * den)


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _gompertz_rate(p):
    """Gompertz rate constant (1/h) that makes the first doubling take TVDT."""
    lk0 = math.log(p[P_TUMOR_CARRYING_CAPACITY] / p[P_TUMOR_VOLUME_DIAGNOSIS])
    return -math.log(1.0 - LN2 / lk0) / p[P_TUMOR_DOUBLING_TIME]


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _capsule_stretch(v, p):
    """Capsular stretch (0-1) as a Hill function of equivalent diameter, and d/dV."""
    if v <= 0.0:
        return 0.0, 0.0
    d50 = p[P_CAPSULE_STRETCH_DIAMETER]
    v50 = (math.pi / 6.0) * d50 * d50 * d50
    m = p[P_CAPSULE_STRETCH_HILL] / 3.0          # Hill in diameter -> in volume
    x = power(v / v50, m)
    return x / (1.0 + x), m * x / (v * (1.0 + x) * (1.0 + x))


@njit(cache=True, error_model="numpy", _nrt=False)
def disease_rhs(t, y, p, s, dydt):
    """Right-hand side of the disease model.

    Parameters
    ----------
    t : float
        Time (h). The model is autonomous; ``t`` is unused.
    y : ndarray, shape (>= N_CORE,)
        State; only ``y[:N_CORE]`` is read (units in ``STATES``).
    p : ndarray, shape (>= N_MODEL_PARAMS,)
        Parameters; only ``p[:N_MODEL_PARAMS]`` is read (table units, h).
    s : ndarray, shape (N_SLOTS,)
        Treatment slot values (dimensionless multipliers; ``ngf_binder`` in nM).
    dydt : ndarray, shape (>= N_CORE,)
        Output: ``dydt[:N_CORE]`` is overwritten with d y / d t (per hour).
    """
    v = y[Y_TUMOR_VOLUME]
    mac = y[Y_MACROPHAGES]
    tnf = y[Y_TNF]
    il6 = y[Y_IL6]
    pge2 = y[Y_PGE2]
    ngf = y[Y_NGF_FREE]
    ngf_b = y[Y_NGF_BOUND]
    fib = y[Y_FIBER_DENSITY]
    sf = y[Y_SENSITIZATION_FAST]
    retro = y[Y_TRKA_RETROGRADE]
    ss = y[Y_SENSITIZATION_TRPV1]
    pr = y[Y_PRIMING]
    cf = y[Y_CENTRAL_FAST]
    cs = y[Y_CENTRAL_SLOW]
    g = y[Y_DESCENDING_FACILITATION]

    tnf_act = s[S_TNF_ACTIVITY] * tnf
    il6_act = s[S_IL6_ACTIVITY] * il6

    # tumor: Gompertz growth, scaled by anticancer therapy
    if v > 0.0:
        dydt[Y_TUMOR_VOLUME] = (s[S_TUMOR_GROWTH] * _gompertz_rate(p) * v
                                * math.log(p[P_TUMOR_CARRYING_CAPACITY] / v))
    else:
        dydt[Y_TUMOR_VOLUME] = 0.0

    # macrophages: chemokine-driven recruitment (liver disease + tumor CCL2), turnover
    k_mac = LN2 / p[P_MACROPHAGE_HALF_LIFE]
    dydt[Y_MACROPHAGES] = k_mac * (s[S_MACROPHAGE_RECRUITMENT]
                                   * (p[P_LIVER_INFLAMMATION]
                                      + p[P_MACROPHAGE_RECRUITMENT_TUMOR] * v) - mac)

    # cytokines: basal + stimulated production (as steady-state contributions) - clearance
    k_tnf = LN2 / p[P_TNF_HALF_LIFE]
    dydt[Y_TNF] = k_tnf * (p[P_TNF_BASAL]
                           + s[S_TNF_PRODUCTION] * p[P_TNF_PER_MACROPHAGE] * mac - tnf)
    k_il6 = LN2 / p[P_IL6_HALF_LIFE]
    dydt[Y_IL6] = k_il6 * (p[P_IL6_BASAL]
                           + s[S_IL6_PRODUCTION] * (p[P_IL6_PER_MACROPHAGE] * mac
                                                    + p[P_IL6_PER_TUMOR_VOLUME] * v
                                                    + p[P_IL6_PER_TNF] * tnf_act) - il6)
    k_pge2 = LN2 / p[P_PGE2_HALF_LIFE]
    dydt[Y_PGE2] = k_pge2 * (p[P_PGE2_BASAL]
                             + s[S_COX2] * (p[P_PGE2_PER_TNF] * tnf_act
                                            + p[P_PGE2_PER_IL6] * il6_act) - pge2)

    # NGF: production, clearance, reversible binding to a sequestering antibody
    k_ngf = LN2 / p[P_NGF_HALF_LIFE]
    bind = p[P_ANTIBODY_KON] * s[S_NGF_BINDER] * ngf
    unbind = p[P_ANTIBODY_KOFF] * ngf_b
    dydt[Y_NGF_FREE] = (k_ngf * (p[P_NGF_BASAL]
                                 + s[S_NGF_PRODUCTION] * (p[P_NGF_PER_MACROPHAGE] * mac
                                                          + p[P_NGF_PER_TUMOR_VOLUME] * v
                                                          + p[P_NGF_PER_TNF] * tnf_act) - ngf)
                        - bind + unbind)
    dydt[Y_NGF_BOUND] = bind - unbind - LN2 / p[P_NGF_COMPLEX_HALF_LIFE] * ngf_b

    # receptor activation on nociceptors
    u_tnf, _ = _hill2(tnf_act, p[P_TNF_K50])
    u_pge2, _ = _hill2(pge2, p[P_PGE2_K50])
    h_ngf, _ = _hill2(ngf, p[P_TRKA_K50])
    u_ngf = s[S_TRKA] * h_ngf

    # nerve: sprouting / pruning, fast and slow sensitization, priming
    dydt[Y_FIBER_DENSITY] = LN2 / p[P_FIBER_HALF_LIFE] * (
        1.0 + p[P_SPROUTING_GAIN] * u_ngf - fib)
    dydt[Y_SENSITIZATION_FAST] = LN2 / p[P_SENSITIZATION_FAST_HALF_LIFE] * (
        p[P_SENSITIZATION_TNF] * u_tnf + p[P_SENSITIZATION_PGE2] * u_pge2
        + p[P_SENSITIZATION_NGF_FAST] * u_ngf - sf)
    dydt[Y_TRKA_RETROGRADE] = LN2 / p[P_TRKA_RETROGRADE_HALF_LIFE] * (u_ngf - retro)
    dydt[Y_SENSITIZATION_TRPV1] = LN2 / p[P_TRPV1_HALF_LIFE] * (p[P_TRPV1_GAIN] * retro - ss)
    q, _ = _hill2(sf, p[P_PRIMING_THRESHOLD])
    dydt[Y_PRIMING] = (p[P_PRIMING_RATE] * q * (1.0 - pr)
                       - LN2 / p[P_PRIMING_HALF_LIFE] * pr)

    # afferent drive = fibers x peripheral sensitization x (capsular + chemical stimulus)
    stretch, _ = _capsule_stretch(v, p)
    stim = (p[P_CAPSULE_PAIN_WEIGHT] * stretch + p[P_CHEMICAL_PGE2_WEIGHT] * u_pge2
            + p[P_CHEMICAL_TNF_WEIGHT] * u_tnf)
    psens = 1.0 + sf + ss + p[P_PRIMING_WEIGHT] * pr
    a_in = s[S_SPINAL] * s[S_AFFERENT] * fib * psens * stim

    # central: wind-up, chronic sensitization with descending self-reinforcement
    h_wu, _ = _hill2(a_in, p[P_WINDUP_A50])
    dydt[Y_CENTRAL_FAST] = LN2 / p[P_WINDUP_HALF_LIFE] * (p[P_WINDUP_GAIN] * h_wu - cf)
    h_cs, _ = _hill2(a_in, p[P_CS_A50])
    # descending facilitation re-excites the dorsal horn: sigmoidal, so that the
    # loop is silent in the healthy state and strongest once sensitization is established
    loop, _ = _hill2(s[S_SUPRASPINAL] * g, p[P_DESCENDING_K50])
    # NGF-primed afferents release BDNF/neuropeptides centrally; a block of the same
    # afferents (afferent slot) removes this drive too
    drive = (h_cs + p[P_CS_NGF_DRIVE] * s[S_AFFERENT] * retro
             + p[P_DESCENDING_FEEDBACK] * loop + s[S_OIH])
    dydt[Y_CENTRAL_SLOW] = (LN2 / p[P_CS_INDUCTION_HALF_TIME] * drive * (p[P_CS_MAX] - cs)
                            - LN2 / p[P_CS_HALF_LIFE] * cs)
    dydt[Y_DESCENDING_FACILITATION] = LN2 / p[P_DESCENDING_HALF_LIFE] * (
        p[P_DESCENDING_GAIN] * cs - g)


@njit(cache=True, error_model="numpy", _nrt=False)
def _core_jac(t, y, p, s, J, dfds, with_dfds):
    """Shared Jacobian kernel; ``dfds`` is written only when ``with_dfds`` is True
    (the solver-form Jacobians pass ``J`` as a placeholder to avoid allocating)."""
    v = y[Y_TUMOR_VOLUME]
    mac = y[Y_MACROPHAGES]
    tnf = y[Y_TNF]
    il6 = y[Y_IL6]
    pge2 = y[Y_PGE2]
    ngf = y[Y_NGF_FREE]
    ngf_b = y[Y_NGF_BOUND]
    fib = y[Y_FIBER_DENSITY]
    sf = y[Y_SENSITIZATION_FAST]
    retro = y[Y_TRKA_RETROGRADE]
    ss = y[Y_SENSITIZATION_TRPV1]
    pr = y[Y_PRIMING]
    cs = y[Y_CENTRAL_SLOW]
    g = y[Y_DESCENDING_FACILITATION]

    for i in range(_N_CORE):
        for j in range(_N_CORE):
            J[i, j] = 0.0
    if with_dfds:
        for i in range(_N_CORE):
            for j in range(_N_SLOTS):
                dfds[i, j] = 0.0

    s_tnf_act = s[S_TNF_ACTIVITY]
    s_il6_act = s[S_IL6_ACTIVITY]
    tnf_act = s_tnf_act * tnf
    il6_act = s_il6_act * il6

    # tumor
    kcap = p[P_TUMOR_CARRYING_CAPACITY]
    if v > 0.0:
        alpha = _gompertz_rate(p)
        lkv = math.log(kcap / v)
        J[Y_TUMOR_VOLUME, Y_TUMOR_VOLUME] = s[S_TUMOR_GROWTH] * alpha * (lkv - 1.0)
        if with_dfds:
            dfds[Y_TUMOR_VOLUME, S_TUMOR_GROWTH] = alpha * v * lkv

    # macrophages
    k_mac = LN2 / p[P_MACROPHAGE_HALF_LIFE]
    J[Y_MACROPHAGES, Y_TUMOR_VOLUME] = k_mac * s[S_MACROPHAGE_RECRUITMENT] * p[P_MACROPHAGE_RECRUITMENT_TUMOR]
    J[Y_MACROPHAGES, Y_MACROPHAGES] = -k_mac
    if with_dfds:
        dfds[Y_MACROPHAGES, S_MACROPHAGE_RECRUITMENT] = k_mac * (
            p[P_LIVER_INFLAMMATION] + p[P_MACROPHAGE_RECRUITMENT_TUMOR] * v)

    # TNF
    k_tnf = LN2 / p[P_TNF_HALF_LIFE]
    J[Y_TNF, Y_MACROPHAGES] = k_tnf * s[S_TNF_PRODUCTION] * p[P_TNF_PER_MACROPHAGE]
    J[Y_TNF, Y_TNF] = -k_tnf
    if with_dfds:
        dfds[Y_TNF, S_TNF_PRODUCTION] = k_tnf * p[P_TNF_PER_MACROPHAGE] * mac

    # IL-6
    k_il6 = LN2 / p[P_IL6_HALF_LIFE]
    s_il6p = s[S_IL6_PRODUCTION]
    J[Y_IL6, Y_TUMOR_VOLUME] = k_il6 * s_il6p * p[P_IL6_PER_TUMOR_VOLUME]
    J[Y_IL6, Y_MACROPHAGES] = k_il6 * s_il6p * p[P_IL6_PER_MACROPHAGE]
    J[Y_IL6, Y_TNF] = k_il6 * s_il6p * p[P_IL6_PER_TNF] * s_tnf_act
    J[Y_IL6, Y_IL6] = -k_il6
    if with_dfds:
        dfds[Y_IL6, S_IL6_PRODUCTION] = k_il6 * (p[P_IL6_PER_MACROPHAGE] * mac
                                                 + p[P_IL6_PER_TUMOR_VOLUME] * v
                                                 + p[P_IL6_PER_TNF] * tnf_act)
        dfds[Y_IL6, S_TNF_ACTIVITY] = k_il6 * s_il6p * p[P_IL6_PER_TNF] * tnf

    # PGE2
    k_pge2 = LN2 / p[P_PGE2_HALF_LIFE]
    s_cox2 = s[S_COX2]
    J[Y_PGE2, Y_TNF] = k_pge2 * s_cox2 * p[P_PGE2_PER_TNF] * s_tnf_act
    J[Y_PGE2, Y_IL6] = k_pge2 * s_cox2 * p[P_PGE2_PER_IL6] * s_il6_act
    J[Y_PGE2, Y_PGE2] = -k_pge2
    if with_dfds:
        dfds[Y_PGE2, S_COX2] = k_pge2 * (p[P_PGE2_PER_TNF] * tnf_act + p[P_PGE2_PER_IL6] * il6_act)
        dfds[Y_PGE2, S_TNF_ACTIVITY] = k_pge2 * s_cox2 * p[P_PGE2_PER_TNF] * tnf
        dfds[Y_PGE2, S_IL6_ACTIVITY] = k_pge2 * s_cox2 * p[P_PGE2_PER_IL6] * il6

    # NGF free and bound
    k_ngf = LN2 / p[P_NGF_HALF_LIFE]
    s_ngfp = s[S_NGF_PRODUCTION]
    kon = p[P_ANTIBODY_KON]
    koff = p[P_ANTIBODY_KOFF]
    ab = s[S_NGF_BINDER]
    J[Y_NGF_FREE, Y_TUMOR_VOLUME] = k_ngf * s_ngfp * p[P_NGF_PER_TUMOR_VOLUME]
    J[Y_NGF_FREE, Y_MACROPHAGES] = k_ngf * s_ngfp * p[P_NGF_PER_MACROPHAGE]
    J[Y_NGF_FREE, Y_TNF] = k_ngf * s_ngfp * p[P_NGF_PER_TNF] * s_tnf_act
    J[Y_NGF_FREE, Y_NGF_FREE] = -k_ngf - kon * ab
    J[Y_NGF_FREE, Y_NGF_BOUND] = koff
    J[Y_NGF_BOUND, Y_NGF_FREE] = kon * ab
    J[Y_NGF_BOUND, Y_NGF_BOUND] = -koff - LN2 / p[P_NGF_COMPLEX_HALF_LIFE]
    if with_dfds:
        dfds[Y_NGF_FREE, S_NGF_PRODUCTION] = k_ngf * (p[P_NGF_PER_MACROPHAGE] * mac
                                                      + p[P_NGF_PER_TUMOR_VOLUME] * v
                                                      + p[P_NGF_PER_TNF] * tnf_act)
        dfds[Y_NGF_FREE, S_TNF_ACTIVITY] = k_ngf * s_ngfp * p[P_NGF_PER_TNF] * tnf
        dfds[Y_NGF_FREE, S_NGF_BINDER] = -kon * ngf
        dfds[Y_NGF_BOUND, S_NGF_BINDER] = kon * ngf

    # receptor activation
    u_tnf, du_tnf = _hill2(tnf_act, p[P_TNF_K50])        # d/d(tnf_act)
    u_pge2, du_pge2 = _hill2(pge2, p[P_PGE2_K50])
    h_ngf, dh_ngf = _hill2(ngf, p[P_TRKA_K50])
    s_trka = s[S_TRKA]
    u_ngf = s_trka * h_ngf
    du_ngf = s_trka * dh_ngf                               # d u_ngf / d ngf

    # fiber density
    k_fib = LN2 / p[P_FIBER_HALF_LIFE]
    J[Y_FIBER_DENSITY, Y_NGF_FREE] = k_fib * p[P_SPROUTING_GAIN] * du_ngf
    J[Y_FIBER_DENSITY, Y_FIBER_DENSITY] = -k_fib
    if with_dfds:
        dfds[Y_FIBER_DENSITY, S_TRKA] = k_fib * p[P_SPROUTING_GAIN] * h_ngf

    # fast sensitization
    k_sf = LN2 / p[P_SENSITIZATION_FAST_HALF_LIFE]
    e_tnf = p[P_SENSITIZATION_TNF]
    e_pge2 = p[P_SENSITIZATION_PGE2]
    e_ngf = p[P_SENSITIZATION_NGF_FAST]
    J[Y_SENSITIZATION_FAST, Y_TNF] = k_sf * e_tnf * du_tnf * s_tnf_act
    J[Y_SENSITIZATION_FAST, Y_PGE2] = k_sf * e_pge2 * du_pge2
    J[Y_SENSITIZATION_FAST, Y_NGF_FREE] = k_sf * e_ngf * du_ngf
    J[Y_SENSITIZATION_FAST, Y_SENSITIZATION_FAST] = -k_sf
    if with_dfds:
        dfds[Y_SENSITIZATION_FAST, S_TNF_ACTIVITY] = k_sf * e_tnf * du_tnf * tnf
        dfds[Y_SENSITIZATION_FAST, S_TRKA] = k_sf * e_ngf * h_ngf

    # retrograde TrkA signal and slow (TRPV1) sensitization
    k_rt = LN2 / p[P_TRKA_RETROGRADE_HALF_LIFE]
    J[Y_TRKA_RETROGRADE, Y_NGF_FREE] = k_rt * du_ngf
    J[Y_TRKA_RETROGRADE, Y_TRKA_RETROGRADE] = -k_rt
    if with_dfds:
        dfds[Y_TRKA_RETROGRADE, S_TRKA] = k_rt * h_ngf
    k_ss = LN2 / p[P_TRPV1_HALF_LIFE]
    J[Y_SENSITIZATION_TRPV1, Y_TRKA_RETROGRADE] = k_ss * p[P_TRPV1_GAIN]
    J[Y_SENSITIZATION_TRPV1, Y_SENSITIZATION_TRPV1] = -k_ss

    # priming
    q, dq = _hill2(sf, p[P_PRIMING_THRESHOLD])
    k_pr = p[P_PRIMING_RATE]
    J[Y_PRIMING, Y_SENSITIZATION_FAST] = k_pr * dq * (1.0 - pr)
    J[Y_PRIMING, Y_PRIMING] = -k_pr * q - LN2 / p[P_PRIMING_HALF_LIFE]

    # afferent input reaching the dorsal horn and its derivatives
    stretch, dstretch = _capsule_stretch(v, p)
    w_cap = p[P_CAPSULE_PAIN_WEIGHT]
    w_pge2 = p[P_CHEMICAL_PGE2_WEIGHT]
    w_tnf = p[P_CHEMICAL_TNF_WEIGHT]
    w_pr = p[P_PRIMING_WEIGHT]
    stim = w_cap * stretch + w_pge2 * u_pge2 + w_tnf * u_tnf
    psens = 1.0 + sf + ss + w_pr * pr
    s_aff = s[S_AFFERENT]
    s_sp = s[S_SPINAL]
    gate = s_sp * s_aff
    a_per = fib * psens * stim                 # peripheral drive before the slots
    a_in = gate * a_per
    fp = gate * fib * psens
    da_v = fp * w_cap * dstretch
    da_tnf = fp * w_tnf * du_tnf * s_tnf_act
    da_pge2 = fp * w_pge2 * du_pge2
    da_fib = gate * psens * stim
    da_sens = gate * fib * stim                # for sf and ss; priming x w_pr
    da_s_tnf_act = fp * w_tnf * du_tnf * tnf

    # wind-up
    k_wu = LN2 / p[P_WINDUP_HALF_LIFE]
    _, dh_wu = _hill2(a_in, p[P_WINDUP_A50])
    c_wu = k_wu * p[P_WINDUP_GAIN] * dh_wu
    J[Y_CENTRAL_FAST, Y_TUMOR_VOLUME] = c_wu * da_v
    J[Y_CENTRAL_FAST, Y_TNF] = c_wu * da_tnf
    J[Y_CENTRAL_FAST, Y_PGE2] = c_wu * da_pge2
    J[Y_CENTRAL_FAST, Y_FIBER_DENSITY] = c_wu * da_fib
    J[Y_CENTRAL_FAST, Y_SENSITIZATION_FAST] = c_wu * da_sens
    J[Y_CENTRAL_FAST, Y_SENSITIZATION_TRPV1] = c_wu * da_sens
    J[Y_CENTRAL_FAST, Y_PRIMING] = c_wu * da_sens * w_pr
    J[Y_CENTRAL_FAST, Y_CENTRAL_FAST] = -k_wu

    # chronic central sensitization
    k_on = LN2 / p[P_CS_INDUCTION_HALF_TIME]
    k_off = LN2 / p[P_CS_HALF_LIFE]
    cs_max = p[P_CS_MAX]
    h_cs, dh_cs = _hill2(a_in, p[P_CS_A50])
    s_sup = s[S_SUPRASPINAL]
    rho = p[P_DESCENDING_FEEDBACK]
    loop, dloop = _hill2(s_sup * g, p[P_DESCENDING_K50])   # dloop: d loop / d g_eff
    loop *= rho
    dloop *= rho
    w_retro = p[P_CS_NGF_DRIVE] * s_aff
    drive = h_cs + w_retro * retro + loop + s[S_OIH]
    room = k_on * (cs_max - cs)
    c_cs = room * dh_cs
    J[Y_CENTRAL_SLOW, Y_TUMOR_VOLUME] = c_cs * da_v
    J[Y_CENTRAL_SLOW, Y_TNF] = c_cs * da_tnf
    J[Y_CENTRAL_SLOW, Y_PGE2] = c_cs * da_pge2
    J[Y_CENTRAL_SLOW, Y_FIBER_DENSITY] = c_cs * da_fib
    J[Y_CENTRAL_SLOW, Y_SENSITIZATION_FAST] = c_cs * da_sens
    J[Y_CENTRAL_SLOW, Y_SENSITIZATION_TRPV1] = c_cs * da_sens
    J[Y_CENTRAL_SLOW, Y_PRIMING] = c_cs * da_sens * w_pr
    J[Y_CENTRAL_SLOW, Y_TRKA_RETROGRADE] = room * w_retro
    J[Y_CENTRAL_SLOW, Y_CENTRAL_SLOW] = -k_on * drive - k_off
    J[Y_CENTRAL_SLOW, Y_DESCENDING_FACILITATION] = room * dloop * s_sup

    # descending facilitation
    k_g = LN2 / p[P_DESCENDING_HALF_LIFE]
    J[Y_DESCENDING_FACILITATION, Y_CENTRAL_SLOW] = k_g * p[P_DESCENDING_GAIN]
    J[Y_DESCENDING_FACILITATION, Y_DESCENDING_FACILITATION] = -k_g

    if with_dfds:
        # slots acting on the afferent input: tnf_activity (via u_tnf), trka (none:
        # TrkA acts on states only), afferent, spinal
        dfds[Y_CENTRAL_FAST, S_TNF_ACTIVITY] = c_wu * da_s_tnf_act
        dfds[Y_CENTRAL_FAST, S_AFFERENT] = c_wu * s_sp * a_per
        dfds[Y_CENTRAL_FAST, S_SPINAL] = c_wu * s_aff * a_per
        dfds[Y_CENTRAL_SLOW, S_TNF_ACTIVITY] = c_cs * da_s_tnf_act
        dfds[Y_CENTRAL_SLOW, S_AFFERENT] = c_cs * s_sp * a_per + room * p[P_CS_NGF_DRIVE] * retro
        dfds[Y_CENTRAL_SLOW, S_SPINAL] = c_cs * s_aff * a_per
        dfds[Y_CENTRAL_SLOW, S_SUPRASPINAL] = room * dloop * g
        dfds[Y_CENTRAL_SLOW, S_OIH] = room


@njit(cache=True, error_model="numpy", _nrt=False)
def disease_jac(t, y, p, s, J, dfds):
    """Analytic Jacobian of :func:`disease_rhs`.

    Parameters
    ----------
    t : float
        Time (h); unused (autonomous model).
    y : ndarray, shape (>= N_CORE,)
        State.
    p : ndarray, shape (>= N_MODEL_PARAMS,)
        Parameters.
    s : ndarray, shape (N_SLOTS,)
        Slot values.
    J : ndarray, shape (>= N_CORE, >= N_CORE)
        Output: the core block ``J[:N_CORE, :N_CORE] = d f_core / d y_core``
        (per hour) is overwritten; other entries are left alone.
    dfds : ndarray, shape (>= N_CORE, >= N_SLOTS)
        Output: ``dfds[:N_CORE, :N_SLOTS] = d f_core / d s`` is overwritten.
    """
    _core_jac(t, y, p, s, J, dfds, True)


@njit(cache=True, error_model="numpy", _nrt=False)
def model_rhs(t, y, p, dydt):
    """Untreated disease model in solver form (all slots at their defaults).

    Parameters
    ----------
    t : float
        Time (h).
    y : ndarray, shape (N_CORE,)
        Core state.
    p : ndarray, shape (>= N_MODEL_PARAMS,)
        Model parameters.
    dydt : ndarray, shape (N_CORE,)
        Output derivative (per hour).
    """
    disease_rhs(t, y, p, DEFAULT_SLOTS, dydt)


@njit(cache=True, error_model="numpy", _nrt=False)
def model_jac(t, y, p, J):
    """Jacobian of :func:`model_rhs` (per hour), written into ``J[:N_CORE, :N_CORE]``."""
    _core_jac(t, y, p, DEFAULT_SLOTS, J, J, False)


@njit(cache=True, error_model="numpy", _nrt=False)
def fixed_slot_rhs(t, y, p, dydt):
    """Disease model with constant slots stored after the model parameters.

    ``p = [model parameters (N_MODEL_PARAMS) | slots (N_SLOTS)]``; useful for
    scenarios where treatment effects are constant over an interval (e.g. a
    nerve block that holds, a fixed COX-2 inhibition).

    Parameters
    ----------
    t : float
        Time (h).
    y : ndarray, shape (N_CORE,)
        Core state.
    p : ndarray, shape (N_MODEL_PARAMS + N_SLOTS,)
        Model parameters followed by slot values.
    dydt : ndarray, shape (N_CORE,)
        Output derivative (per hour).
    """
    disease_rhs(t, y, p, p[_N_MODEL_PARAMS:_N_MODEL_PARAMS + _N_SLOTS], dydt)


@njit(cache=True, error_model="numpy", _nrt=False)
def fixed_slot_jac(t, y, p, J):
    """Jacobian of :func:`fixed_slot_rhs` (per hour)."""
    _core_jac(t, y, p, p[_N_MODEL_PARAMS:_N_MODEL_PARAMS + _N_SLOTS], J, J, False)


@njit(cache=True, error_model="numpy", _nrt=False)
def transmitted_signal(y, p, s):
    """Nociceptive signal leaving the dorsal horn (the argument of the NRS map).

    The same quantity as ``signal`` in :func:`neurosim.model.outputs`, for one
    state, compiled, so that decisions taken inside the solver (titration,
    rescue doses) read the pain a patient would report.

    Parameters
    ----------
    y : ndarray, shape (>= N_CORE,)
        State.
    p : ndarray, shape (>= N_MODEL_PARAMS,)
        Parameters.
    s : ndarray, shape (N_SLOTS,)
        Slot values.

    Returns
    -------
    float
        Transmitted signal (dimensionless).
    """
    v = max(y[Y_TUMOR_VOLUME], 0.0)
    u_tnf, _ = _hill2(s[S_TNF_ACTIVITY] * y[Y_TNF], p[P_TNF_K50])
    u_pge2, _ = _hill2(y[Y_PGE2], p[P_PGE2_K50])
    stretch, _ = _capsule_stretch(v, p)
    stim = (p[P_CAPSULE_PAIN_WEIGHT] * stretch + p[P_CHEMICAL_PGE2_WEIGHT] * u_pge2
            + p[P_CHEMICAL_TNF_WEIGHT] * u_tnf)
    psens = (1.0 + y[Y_SENSITIZATION_FAST] + y[Y_SENSITIZATION_TRPV1]
             + p[P_PRIMING_WEIGHT] * y[Y_PRIMING])
    s_sp = s[S_SPINAL]
    a_in = s_sp * s[S_AFFERENT] * y[Y_FIBER_DENSITY] * psens * stim
    cs = y[Y_CENTRAL_SLOW]
    return (s[S_SUPRASPINAL] * (1.0 + y[Y_DESCENDING_FACILITATION])
            * (a_in * (1.0 + y[Y_CENTRAL_FAST] + cs) + s_sp * p[P_SPONTANEOUS_CENTRAL] * cs))


@njit(cache=True, error_model="numpy", _nrt=False)
def nrs_value(t, y, p, s):
    """Numeric rating scale (0-10) of one state: ``10 S / (S + S50)`` (assumption A7).

    Parameters
    ----------
    t : float
        Time (h); unused.
    y, p, s : ndarray
        State, parameters and slot values as for :func:`transmitted_signal`.

    Returns
    -------
    float
        NRS on 0-10.
    """
    sig = transmitted_signal(y, p, s)
    if sig < 0.0:
        sig = 0.0
    return 10.0 * sig / (sig + p[P_NRS_S50])
