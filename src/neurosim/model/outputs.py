"""Derived outputs of the disease model: pain (NRS and its components),
plasma biomarkers as a clinician would measure them, and mechanistic
read-outs (fiber density, sensitization, central sensitization index).

All functions are vectorised NumPy: they accept one state or a whole
trajectory (any leading dimensions) and broadcast parameters and slots.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import NeurosimKeyError, NeurosimValueError, did_you_mean
from .parameters import N_MODEL_PARAMS, PARAMETER_INDEX as PI
from .states import N_CORE, N_SLOTS, SLOTS, STATE_INDEX as SI, STATES, default_slots

__all__ = ["Output", "OUTPUTS", "outputs", "nrs", "check_state", "check_params", "check_slots"]


class Output(NamedTuple):
    """One derived output."""

    name: str
    unit: str
    description: str


#: Derived outputs returned by :func:`outputs`, in order.
OUTPUTS: tuple[Output, ...] = (
    Output("nrs", "0-10", "Pain intensity on the 0-10 numeric rating scale"),
    Output("nrs_mechanical", "0-10", "NRS share from capsular stretch at basal innervation"),
    Output("nrs_inflammatory", "0-10",
           "NRS share from inflammatory mediators (direct activation, cytokine/PGE2 "
           "sensitization, priming)"),
    Output("nrs_ngf", "0-10", "NRS share from NGF (sprouted fibers, TrkA sensitization)"),
    Output("nrs_central", "0-10",
           "NRS share from central amplification (wind-up, chronic central sensitization, "
           "descending facilitation, spontaneous dorsal-horn activity)"),
    Output("plasma_il6", "pg/mL", "Plasma/serum IL-6"),
    Output("plasma_tnf", "pg/mL", "Plasma/serum TNF-alpha"),
    Output("plasma_ngf", "pg/mL", "Plasma/serum free NGF"),
    Output("plasma_ngf_total", "pg/mL", "Plasma/serum NGF, free plus antibody-bound"),
    Output("tumor_diameter", "cm", "Equivalent-sphere tumor diameter"),
    Output("capsule_stretch", "0-1", "Capsular stretch"),
    Output("fiber_density", "1", "Nociceptive fiber density relative to basal innervation"),
    Output("peripheral_sensitization", "1",
           "Peripheral sensitization gain (1 = unsensitized nociceptors)"),
    Output("afferent_drive", "1", "Nociceptive input reaching the dorsal horn"),
    Output("central_sensitization_index", "0-1",
           "Chronic central sensitization as a fraction of its maximum"),
    Output("central_gain", "1",
           "Amplification of afferent input by wind-up, chronic sensitization and "
           "supraspinal gain"),
)

_OUTPUT_NAMES = tuple(o.name for o in OUTPUTS)


def check_state(y) -> np.ndarray:
    """Return ``y`` as a float array whose last axis holds at least the core states.

    Raises
    ------
    NeurosimValueError
        If the last axis is shorter than ``N_CORE``.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 0 or y.shape[-1] < N_CORE:
        got = "a scalar" if y.ndim == 0 else f"length {y.shape[-1]}"
        raise NeurosimValueError(
            f"state vector has {got}; the disease model needs at least its {N_CORE} core "
            f"states ({', '.join(st.name for st in STATES)}) on the last axis")
    return y


def check_params(p) -> np.ndarray:
    """Return ``p`` as a float array with at least ``N_MODEL_PARAMS`` entries on its last axis."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] < N_MODEL_PARAMS:
        got = "a scalar" if p.ndim == 0 else f"length {p.shape[-1]}"
        raise NeurosimValueError(
            f"parameter vector has {got}; the disease model needs {N_MODEL_PARAMS} model "
            "parameters (see 'neurosim params')")
    return p


def check_slots(s) -> np.ndarray:
    """Return the slot vector (defaults when ``None``) with exactly ``N_SLOTS`` entries."""
    if s is None:
        return default_slots()
    s = np.asarray(s, dtype=np.float64)
    if s.ndim == 0 or s.shape[-1] != N_SLOTS:
        got = "a scalar" if s.ndim == 0 else f"length {s.shape[-1]}"
        raise NeurosimValueError(
            f"slot vector has {got}; expected {N_SLOTS} slots "
            f"({', '.join(sl.name for sl in SLOTS)})")
    return s


def _hill2(x, k):
    x2 = x * x
    return x2 / (x2 + k * k)


def power(base, exponent):
    """``base ** exponent`` elementwise, by the same arithmetic whatever the shapes.

    NumPy raises to a power along different code paths for a scalar exponent,
    an exponent array, a one-element array and a long one, and they differ
    in the last bit. Giving both operands the full broadcast shape, flat and
    contiguous, makes each element's value independent of the rest of the
    array: a patient's outputs are then the same bit for bit alone or inside
    any population (a sweep splits its patients into batches of any size).
    """
    b, e = np.broadcast_arrays(np.asarray(base, dtype=np.float64),
                               np.asarray(exponent, dtype=np.float64))
    flat = np.power(np.ascontiguousarray(b).reshape(-1), np.ascontiguousarray(e).reshape(-1))
    return flat.reshape(b.shape)


def _par(p, name):
    return p[..., PI[name]]


def _pieces(y, p, s):
    """Intermediate quantities shared by the outputs (NumPy, broadcasting)."""
    g = lambda name: y[..., SI[name]]  # noqa: E731
    q = lambda name: _par(p, name)      # noqa: E731
    sl = lambda i: s[..., i]            # noqa: E731
    v = np.maximum(g("tumor_volume"), 0.0)
    tnf_act = sl(1) * g("tnf")
    u_tnf = _hill2(tnf_act, q("tnf_k50"))
    u_pge2 = _hill2(g("pge2"), q("pge2_k50"))
    u_ngf = sl(7) * _hill2(g("ngf_free"), q("trka_k50"))
    d50 = q("capsule_stretch_diameter")
    v50 = np.pi / 6.0 * power(d50, 3.0)
    x = power(v / v50, q("capsule_stretch_hill") / 3.0)
    stretch = x / (1.0 + x)
    mech = q("capsule_pain_weight") * stretch
    chem = q("chemical_pge2_weight") * u_pge2 + q("chemical_tnf_weight") * u_tnf
    fib = g("fiber_density")
    sf = g("sensitization_fast")
    ss = g("sensitization_trpv1")
    pr = g("priming")
    # split fast sensitization between NGF and inflammatory mediators by their drive
    d_tnf = q("sensitization_tnf") * u_tnf
    d_pge2 = q("sensitization_pge2") * u_pge2
    d_ngf = q("sensitization_ngf_fast") * u_ngf
    d_tot = d_tnf + d_pge2 + d_ngf
    share_ngf = np.where(d_tot > 0, d_ngf / np.where(d_tot > 0, d_tot, 1.0), 0.0)
    sens_ngf = sf * share_ngf + ss
    sens_inf = sf * (1.0 - share_ngf) + q("priming_weight") * pr
    w_pr = q("priming_weight")
    psens = 1.0 + sf + ss + w_pr * pr
    s_aff, s_sp, s_sup = sl(9), sl(10), sl(11)
    cf = g("central_fast")
    cs = g("central_slow")
    gd = g("descending_facilitation")
    spont = q("spontaneous_central")

    def transmitted(mech_, chem_, fib_, psens_, cf_, cs_, gd_):
        a_in_ = s_sp * s_aff * fib_ * psens_ * (mech_ + chem_)
        return s_sup * (1.0 + gd_) * (a_in_ * (1.0 + cf_ + cs_) + s_sp * spont * cs_)

    a_in = s_sp * s_aff * fib * psens * (mech + chem)
    signal = transmitted(mech, chem, fib, psens, cf, cs, gd)
    zero = np.zeros_like(signal)
    # Counterfactual attribution: each component is the signal that would vanish
    # if that mechanism alone were removed; the four are then scaled to sum to
    # the signal, so that NRS components add up to the NRS.
    removed = {
        "mechanical": signal - transmitted(zero, chem, fib, psens, cf, cs, gd),
        "inflammatory": signal - transmitted(mech, zero, fib, psens - sens_inf, cf, cs, gd),
        "ngf": signal - transmitted(mech, chem, 1.0 + zero, psens - sens_ngf, cf, cs, gd),
        "central": signal - transmitted(mech, chem, fib, psens, zero, zero, zero),
    }
    removed = {k: np.maximum(v, 0.0) for k, v in removed.items()}
    total_removed = removed["mechanical"] + removed["inflammatory"] + removed["ngf"] + removed["central"]
    safe = np.where(total_removed > 0, total_removed, 1.0)
    parts = {k: np.where(total_removed > 0, signal * v / safe, 0.0) for k, v in removed.items()}
    supra = s_sup * (1.0 + gd)
    return dict(v=v, stretch=stretch, fib=fib, psens=psens, a_in=a_in, cs=cs, cf=cf, gd=gd,
                supra=supra, signal=signal, parts=parts)


def nrs(signal, s50):
    """NRS (0-10) from the transmitted nociceptive signal: 10 S / (S + S50) (assumption A7)."""
    signal = np.maximum(signal, 0.0)
    return 10.0 * signal / (signal + s50)


def outputs(y, p, s=None, *, names=None) -> dict[str, np.ndarray]:
    """Derived outputs for a state or a trajectory.

    Parameters
    ----------
    y : array_like, shape (..., n_states)
        State(s); ``n_states >= N_CORE`` (drug states after the core are
        ignored). Leading axes (members, times) are kept.
    p : array_like, shape (..., n_params)
        Parameter vector(s) whose first ``N_MODEL_PARAMS`` entries are the
        model parameters; broadcast against ``y[..., 0]`` (for a trajectory
        of shape (n_members, n_times, n_states) pass p of shape
        (n_members, 1, n_params) or a single vector).
    s : array_like, shape (..., N_SLOTS), optional
        Slot values at the same times (defaults: no treatment); broadcast
        like ``p``.
    names : sequence of str, optional
        Subset of :data:`OUTPUTS` to return.

    Returns
    -------
    dict of str to ndarray
        Output name -> values with the leading shape of ``y``. Units: NRS
        and its components on 0-10 (components sum to ``nrs``); plasma
        levels in pg/mL; diameter in cm; the rest dimensionless.
    """
    y = check_state(y)
    p = check_params(p)
    s = check_slots(s)
    if names is not None:
        for n in names:
            if n not in _OUTPUT_NAMES:
                raise NeurosimKeyError(f"unknown output '{n}'." + did_you_mean(n, _OUTPUT_NAMES)
                                       + f" Outputs: {', '.join(_OUTPUT_NAMES)}.")
    pc = _pieces(y, p, s)
    s50 = _par(p, "nrs_s50")
    total = nrs(pc["signal"], s50)
    safe = np.where(pc["signal"] > 0, pc["signal"], 1.0)
    frac = {k: np.where(pc["signal"] > 0, v / safe, 0.0) for k, v in pc["parts"].items()}
    spill = _par(p, "plasma_spillover")
    res = {
        "nrs": total,
        "nrs_mechanical": total * frac["mechanical"],
        "nrs_inflammatory": total * frac["inflammatory"],
        "nrs_ngf": total * frac["ngf"],
        "nrs_central": total * frac["central"],
        "plasma_il6": spill * y[..., SI["il6"]],
        "plasma_tnf": spill * y[..., SI["tnf"]],
        "plasma_ngf": spill * y[..., SI["ngf_free"]],
        "plasma_ngf_total": spill * (y[..., SI["ngf_free"]] + y[..., SI["ngf_bound"]]),
        "tumor_diameter": power(6.0 * pc["v"] / np.pi, 1.0 / 3.0),
        "capsule_stretch": pc["stretch"],
        "fiber_density": pc["fib"],
        "peripheral_sensitization": pc["psens"],
        "afferent_drive": pc["a_in"],
        "central_sensitization_index": pc["cs"] / _par(p, "cs_max"),
        "central_gain": pc["supra"] * (1.0 + pc["cf"] + pc["cs"]),
    }
    shape = np.broadcast_shapes(y.shape[:-1], p.shape[:-1], s.shape[:-1])
    res = {k: np.broadcast_to(v, shape).copy() for k, v in res.items()}
    if names is not None:
        res = {k: res[k] for k in names}
    return res
