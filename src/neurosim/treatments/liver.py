"""The liver as physiology: how liver disease changes a drug's exposure.

A liver state (healthy, Child-Pugh A, B, C; ``neurosim/data/liver.toml``)
is a set of physiological quantities, not a table of drug factors:

``Q``
    total hepatic blood flow (L/h);
``s``
    portosystemic shunt fraction: the share of that flow that bypasses
    the hepatocytes (through collaterals and intrahepatic shunts);
``a``
    intrinsic clearance factor: the remaining metabolic capacity relative
    to healthy (one factor for all enzymes);
``albumin``
    plasma albumin, which sets the unbound fraction of albumin-bound drugs;
``r``
    renal function: relative capacity of renal (and other extrahepatic)
    elimination.

Well-stirred liver with a shunt
-------------------------------
Each drug's healthy data (total plasma clearance ``CL``, the hepatic part
of it or its hepatic extraction, unbound fraction ``fu``, blood:plasma
ratio ``B``) define its unbound intrinsic clearance in a healthy liver
(blood basis, ``fub = fu / B``, healthy flow ``Q0``, no shunt)::

    E0 = CL_H,blood / Q0           fub0 * CLint = Q0 * E0 / (1 - E0)

In a liver state, only the perfused flow ``Qp = (1 - s) Q`` meets
hepatocytes, whose capacity is ``a * CLint``; binding changes ``fu`` (one
albumin site far from saturation, so the bound/unbound ratio is
proportional to albumin)::

    fu' = 1 / (1 + (1 - fu) / fu * albumin' / albumin0)
    E'  = fub' a CLint / (Qp + fub' a CLint)           (extraction by perfused liver)
    CL_H,blood = Qp E'                                  (systemic hepatic clearance)
    CL' = B * CL_H,blood + r * CL_renal,0               (total plasma clearance)

After oral dosing the absorbed drug reaches the portal vein: a fraction
``s`` bypasses the liver, the rest is extracted with ``E'``::

    F_H = s + (1 - s)(1 - E') = 1 - CL_H,blood / Q

so the oral bioavailability ``F = f_abs * F_H`` of a high-extraction drug
rises steeply with shunting, while a low-extraction drug's barely moves
(its ``F_H`` is near 1 already). Routes that avoid the portal vein
(intravenous, subcutaneous, transdermal) see only the change in ``CL``.
Volumes of distribution are left unchanged, as morphine's were in
cirrhosis (Mazoit 1987; Hasselstrom 1990 found 4.1 L/kg). See
``docs/drugs.md`` for the calibration and its checks.
"""
from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ScenarioError, did_you_mean
from .library import Quantity, _Ctx, _check_keys, _quantity, Drug, DrugLibrary

__all__ = [
    "LiverState",
    "Disposition",
    "load_liver_states",
    "liver_state",
    "unbound_fraction",
    "disposition",
    "calibrate_on_morphine",
    "morphine_liver_checks",
    "safety_flags",
    "daily_max",
    "hepatic_encephalopathy_risk",
    "MORPHINE_TARGETS",
]

_ALIASES = {
    "a": "child_pugh_a", "b": "child_pugh_b", "c": "child_pugh_c",
    "cp_a": "child_pugh_a", "cp_b": "child_pugh_b", "cp_c": "child_pugh_c",
    "cpa": "child_pugh_a", "cpb": "child_pugh_b", "cpc": "child_pugh_c",
    "normal": "healthy", "none": "healthy",
}


@dataclass(frozen=True)
class LiverState:
    """One liver state. Quantities keep their units and sources.

    Attributes
    ----------
    name : str
        Key in the liver file (``healthy``, ``child_pugh_a``, ...).
    hepatic_blood_flow : Quantity
        Total hepatic blood flow (per kg allowed).
    shunt_fraction, intrinsic_clearance_factor, renal_function : Quantity
        Dimensionless.
    albumin : Quantity
        Plasma albumin concentration.
    """

    name: str
    description: str
    hepatic_blood_flow: Quantity
    shunt_fraction: Quantity
    intrinsic_clearance_factor: Quantity
    albumin: Quantity
    renal_function: Quantity

    def q_h(self, body_weight: float) -> float:
        """Total hepatic blood flow in L/h for a body weight in kg."""
        return self.hepatic_blood_flow.to(name=f"{self.name}.hepatic_blood_flow",
                                          body_weight=body_weight)

    @property
    def shunt(self) -> float:
        return self.shunt_fraction.to()

    @property
    def clint_factor(self) -> float:
        return self.intrinsic_clearance_factor.to()

    @property
    def renal(self) -> float:
        return self.renal_function.to()

    @property
    def albumin_mg_per_l(self) -> float:
        return self.albumin.to()

    @property
    def is_cirrhotic(self) -> bool:
        return self.name != "healthy"


_STATE_KEYS = ("description", "hepatic_blood_flow", "shunt_fraction",
               "intrinsic_clearance_factor", "albumin", "renal_function")


def _parse_states(raw, source) -> dict[str, LiverState]:
    ctx = _Ctx(source)
    _check_keys(raw, ("format", "version", "reference_state", "states"), ctx,
                required=("states",))
    if raw.get("format", "neurosim-liver") != "neurosim-liver":
        raise ctx.sub("format").error("this is not a liver-state file; expected format "
                                      "'neurosim-liver'.")
    states = {}
    for name, t in raw["states"].items():
        c = ctx.sub(f"states.{name}")
        _check_keys(t, _STATE_KEYS, c, required=_STATE_KEYS[1:])
        states[name] = LiverState(
            name=name,
            description=str(t.get("description", "")),
            hepatic_blood_flow=_quantity(t, "hepatic_blood_flow", "clearance", c,
                                         allow_zero=False),
            shunt_fraction=_quantity(t, "shunt_fraction", "dimensionless", c, maximum=0.999),
            intrinsic_clearance_factor=_quantity(t, "intrinsic_clearance_factor",
                                                 "dimensionless", c),
            albumin=_quantity(t, "albumin", "concentration", c, allow_zero=False),
            renal_function=_quantity(t, "renal_function", "dimensionless", c),
        )
    ref = raw.get("reference_state", "healthy")
    if ref != "healthy" or "healthy" not in states:
        raise ctx.error("the liver file needs a 'healthy' state as its reference_state.")
    return states


@functools.lru_cache(maxsize=None)
def _load_default_states():
    text = (resources.files("neurosim") / "data" / "liver.toml").read_text(encoding="utf-8")
    return _parse_states(tomllib.loads(text), "neurosim/data/liver.toml")


def load_liver_states(path: str | Path | None = None) -> dict[str, LiverState]:
    """Load the liver states (default: the packaged ``liver.toml``).

    Parameters
    ----------
    path : str or Path, optional
        A TOML file in the liver-state format.

    Returns
    -------
    dict of str -> LiverState
        In file order; always contains ``"healthy"``.
    """
    if path is None:
        return dict(_load_default_states())
    p = Path(path)
    if not p.exists():
        raise ScenarioError("liver-state file not found; check the path.", file=str(p))
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", file=str(p)) from None
    return _parse_states(raw, str(p))


def liver_state(name: str | LiverState, states: dict | None = None) -> LiverState:
    """Look a liver state up by name.

    Parameters
    ----------
    name : str or LiverState
        ``"healthy"``, ``"child_pugh_a"``/``"A"``, ``"child_pugh_b"``/``"B"``,
        ``"child_pugh_c"``/``"C"`` (also ``"Child-Pugh B"``).
    states : dict, optional
        States to choose from (default: the packaged ones).

    Raises
    ------
    ScenarioError
        For a state that does not exist, listing those that do.
    """
    if isinstance(name, LiverState):
        return name
    states = load_liver_states() if states is None else states
    key = str(name).strip()
    norm = key.lower().replace("-", "_").replace(" ", "_")
    norm = _ALIASES.get(norm, norm)
    if norm in states:
        return states[norm]
    raise ScenarioError(
        f"unknown liver state {name!r}." + did_you_mean(norm, states)
        + f" Liver states: {', '.join(states)} (or A, B, C).", key="liver")


def unbound_fraction(fu_ref: float, albumin_ref: float, albumin: float) -> float:
    """Unbound fraction at another albumin level.

    One binding site far from saturation: the bound/unbound ratio is
    proportional to the albumin concentration.

    Parameters
    ----------
    fu_ref : float
        Unbound fraction at ``albumin_ref`` (dimensionless, 0-1].
    albumin_ref, albumin : float
        Albumin concentrations (any one unit, e.g. mg/L).
    """
    if fu_ref >= 1.0:
        return 1.0
    return 1.0 / (1.0 + (1.0 - fu_ref) / fu_ref * albumin / albumin_ref)


@dataclass(frozen=True)
class Disposition:
    """A drug's pharmacokinetic numbers in one liver state, internal units.

    Attributes
    ----------
    v1, v2, v3 : float
        Compartment volumes (L); 0 when absent.
    q2, q3 : float
        Intercompartmental clearances (L/h); 0 when absent.
    cl : float
        Total linear plasma clearance (L/h).
    cl_hepatic, cl_nonhepatic : float
        Its hepatic and non-hepatic parts (L/h, plasma basis).
    vmax : float
        Saturable elimination capacity (mg/h), 0 if none.
    km : float
        Its Michaelis constant (mg/L).
    fu : float
        Unbound fraction in plasma.
    extraction : float
        Hepatic extraction of drug arriving in the portal vein,
        ``CL_H,blood / Q`` (includes the shunt).
    f_hepatic : float
        Hepatic availability after first pass, ``1 - extraction``.
    route_f : dict of str -> float
        Fraction of a dose by each route that reaches the systemic
        circulation (absorption x hepatic first pass).
    route_f_met : dict of str -> float
        Metabolite formed during first pass, mg per mg of parent dosed.
    fm_systemic : float
        Metabolite formed per mg of parent eliminated by linear clearance
        (mg/mg).
    met_cl, met_v : float
        Metabolite clearance (L/h) and volume (L); 0 if no metabolite.
    """

    drug: str
    state: str
    body_weight: float
    v1: float
    v2: float
    q2: float
    v3: float
    q3: float
    cl: float
    cl_hepatic: float
    cl_nonhepatic: float
    vmax: float
    km: float
    fu: float
    extraction: float
    f_hepatic: float
    route_f: dict
    route_f_met: dict
    fm_systemic: float
    met_cl: float
    met_v: float
    clint_unbound: float

    @property
    def vss(self) -> float:
        """Steady-state volume of distribution (L)."""
        return self.v1 + self.v2 + self.v3

    def rate_matrix(self) -> np.ndarray:
        """Linear first-order rate matrix of the disposition compartments (1/h)."""
        n = 1 + (self.v2 > 0) + (self.v3 > 0)
        a = np.zeros((n, n))
        a[0, 0] = -(self.cl + self.q2 + self.q3) / self.v1
        if self.v2 > 0:
            a[0, 1] = self.q2 / self.v2
            a[1, 0] = self.q2 / self.v1
            a[1, 1] = -self.q2 / self.v2
        if self.v3 > 0:
            k = n - 1
            a[0, k] = self.q3 / self.v3
            a[k, 0] = self.q3 / self.v1
            a[k, k] = -self.q3 / self.v3
        return a

    def terminal_half_life(self) -> float:
        """Terminal half-life of the linear disposition (h)."""
        lam = -np.max(np.real(np.linalg.eigvals(self.rate_matrix())))
        return math.log(2.0) / lam

    def auc_per_mg(self, route: str) -> float:
        """Dose-normalized plasma AUC by ``route`` (mg*h/L per mg), linear part."""
        return self.route_f[route] / self.cl


def _hepatic_parts(drug: Drug, healthy: LiverState, body_weight: float):
    """Healthy reference: total CL, hepatic plasma CL, unbound intrinsic clearance."""
    pk = drug.pk
    name = f"drugs.{drug.name}.pk"
    q0 = healthy.q_h(body_weight)
    bp = pk.blood_plasma.to()
    fu = pk.fu.to()
    cl = pk.cl.to(name=f"{name}.cl", body_weight=body_weight) if pk.cl is not None else None
    fh = pk.fraction_hepatic.to() if pk.fraction_hepatic is not None else None
    eh = pk.hepatic_extraction.to() if pk.hepatic_extraction is not None else None
    if eh is not None:
        clh = eh * q0 * bp
        if cl is None:
            cl = clh / fh
        elif clh > cl * (1 + 1e-12):
            raise ScenarioError(
                f"hepatic_extraction {eh:g} x hepatic blood flow {q0:.4g} L/h x blood_plasma "
                f"{bp:g} = {clh:.4g} L/h exceeds the total clearance cl = {cl:.4g} L/h; lower "
                "hepatic_extraction or raise cl.", key=name)
    else:
        clh = fh * cl
    e0 = clh / bp / q0
    if e0 >= 1.0:
        raise ScenarioError(
            f"the hepatic clearance ({clh:.4g} L/h plasma = {clh / bp:.4g} L/h blood) is not "
            f"below hepatic blood flow ({q0:.4g} L/h); lower cl or fraction_hepatic.", key=name)
    fub = fu / bp
    clint = q0 * e0 / (1.0 - e0) / fub if e0 > 0 else 0.0
    return cl, clh, clint


def disposition(drug: Drug, state: str | LiverState = "healthy", *, body_weight: float = 70.0,
                states: dict | None = None) -> Disposition:
    """A drug's PK numbers in a liver state (see the module docstring).

    Parameters
    ----------
    drug : Drug
        A library entry.
    state : str or LiverState
        Liver state (``"healthy"``, ``"child_pugh_b"``, ``"B"``, ...).
    body_weight : float
        Patient body weight (kg), for per-kg quantities.
    states : dict, optional
        Liver states (default: the packaged ones).

    Returns
    -------
    Disposition
    """
    states = load_liver_states() if states is None else states
    st = liver_state(state, states)
    healthy = states["healthy"]
    pk = drug.pk
    nm = f"drugs.{drug.name}.pk"
    bw = float(body_weight)

    def vol(q, k):
        return q.to(name=f"{nm}.{k}", body_weight=bw) if q is not None else 0.0

    cl0, clh0, clint = _hepatic_parts(drug, healthy, bw)
    cl_nonhep0 = cl0 - clh0
    bp = pk.blood_plasma.to()
    fu0 = pk.fu.to()
    if pk.binding_protein == "albumin":
        fu = unbound_fraction(fu0, healthy.albumin_mg_per_l, st.albumin_mg_per_l)
    else:
        fu = fu0
    q = st.q_h(bw)
    qp = (1.0 - st.shunt) * q
    fub_clint = fu / bp * st.clint_factor * clint
    e_perf = fub_clint / (qp + fub_clint) if fub_clint > 0 else 0.0
    clh_blood = qp * e_perf
    clh = clh_blood * bp
    renal = st.renal if pk.nonhepatic == "renal" else 1.0
    cl_nonhep = cl_nonhep0 * renal
    cl = clh + cl_nonhep
    extraction = clh_blood / q
    f_h = 1.0 - extraction
    route_f, route_f_met = {}, {}
    met = drug.metabolite
    if met is not None:
        mw_ratio = met.molar_mass.to() / drug.molar_mass.to()
        fm_mass = met.fm.to() * mw_ratio
    else:
        fm_mass = 0.0
    for rname, r in drug.routes.items():
        fa = r.f_abs.to()
        if r.first_pass:
            route_f[rname] = fa * f_h
            route_f_met[rname] = fa * extraction * fm_mass
        else:
            route_f[rname] = fa
            route_f_met[rname] = 0.0
    fm_sys = fm_mass * clh / cl if cl > 0 else 0.0
    met_cl = met_v = 0.0
    if met is not None:
        met_cl = met.cl.to(name=f"drugs.{drug.name}.metabolite.cl", body_weight=bw)
        if met.renal:
            met_cl *= st.renal
        met_v = met.v.to(name=f"drugs.{drug.name}.metabolite.v", body_weight=bw)
    vmax = vol(pk.vmax, "vmax")
    km = pk.km.to() if pk.km is not None else 1.0
    return Disposition(
        drug=drug.name, state=st.name, body_weight=bw,
        v1=vol(pk.v1, "v1"), v2=vol(pk.v2, "v2"), q2=vol(pk.q2, "q2"),
        v3=vol(pk.v3, "v3"), q3=vol(pk.q3, "q3"),
        cl=cl, cl_hepatic=clh, cl_nonhepatic=cl_nonhep, vmax=vmax, km=km, fu=fu,
        extraction=extraction, f_hepatic=f_h, route_f=route_f, route_f_met=route_f_met,
        fm_systemic=fm_sys, met_cl=met_cl, met_v=met_v, clint_unbound=clint)


# --------------------------------------------------------------------------- calibration

#: Published morphine numbers the liver states are calibrated on or checked
#: against (validation targets 1 and 2 of the reference facts).
MORPHINE_TARGETS = {
    # Mazoit 1987, IV 0.1 mg/kg: CL 33.5 +/- 8 (n=6) vs 21 +/- 7.5 (n=8) mL/min/kg;
    # t1/2 111 +/- 32 vs 201 +/- 39 min.
    "b_cl_ratio": 21.0 / 33.5,
    "b_halflife_ratio": 201.0 / 111.0,
    "b_halflife_ratio_ci95": None,  # filled below
    # Hasselstrom 1990, severe cirrhosis: CL 11.4 mL/min/kg, t1/2 4.2 h, oral F 1.01 (0.56-1.47)
    "c_cl_ml_min_kg": 11.4,
    "c_halflife_h": 4.2,
    "c_oral_f": 1.01,
    "c_oral_f_range": (0.56, 1.47),
    # Hoskin 1989: healthy oral F 0.239 (solution)
    "healthy_oral_f": 0.239,
}


def _ratio_ci95(m1, s1, n1, m0, s0, n0):
    # Delta-method 95 % interval of a ratio of two independent means.
    r = m1 / m0
    se = r * math.sqrt((s1 / m1) ** 2 / n1 + (s0 / m0) ** 2 / n0)
    return (r - 1.96 * se, r + 1.96 * se)


MORPHINE_TARGETS["b_halflife_ratio_ci95"] = _ratio_ci95(201.0, 39.0, 8, 111.0, 32.0, 6)
MORPHINE_TARGETS["b_cl_ratio_ci95"] = _ratio_ci95(21.0, 7.5, 8, 33.5, 8.0, 6)


def calibrate_on_morphine(library: DrugLibrary | None = None, states: dict | None = None, *,
                          body_weight: float = 70.0, drug: str = "morphine") -> dict:
    """Fit the renal-function factor of Child-Pugh B and C to morphine.

    Everything else in the liver states comes from independent physiology
    (McLean 1979); morphine sets only how much extrahepatic elimination is
    left. Child-Pugh B: IV clearance ``0.63 x`` healthy (Mazoit 1987).
    Child-Pugh C: IV clearance 11.4 mL/min/kg (Hasselstrom 1990). Both are
    linear in the factor, so it is solved exactly.

    Parameters
    ----------
    library : DrugLibrary, optional
        Library holding the morphine entry (default: the packaged one).
    states : dict, optional
        Liver states (default: the packaged ones; their stored
        ``renal_function`` is ignored).
    body_weight : float
        Body weight (kg) of the reference patient.

    Returns
    -------
    dict
        ``{"child_pugh_b": r_b, "child_pugh_c": r_c}``.
    """
    from .library import load_library

    library = load_library() if library is None else library
    states = load_liver_states() if states is None else states
    m = library.drug(drug)
    healthy = disposition(m, "healthy", body_weight=body_weight, states=states)
    out = {}
    targets = {
        "child_pugh_b": MORPHINE_TARGETS["b_cl_ratio"] * healthy.cl,
        "child_pugh_c": MORPHINE_TARGETS["c_cl_ml_min_kg"] * 60e-3 * body_weight,
    }
    for name, cl_target in targets.items():
        d = disposition(m, name, body_weight=body_weight, states=states)
        cl_h = d.cl_hepatic
        nonhep0 = healthy.cl_nonhepatic
        r = (cl_target - cl_h) / nonhep0
        if r < 0:
            raise ScenarioError(f"morphine calibration of {name}: hepatic clearance alone "
                                f"({cl_h:.3g} L/h) exceeds the target {cl_target:.3g} L/h.")
        out[name] = r
    return out


def morphine_liver_checks(library: DrugLibrary | None = None, states: dict | None = None, *,
                          body_weight: float = 70.0) -> dict:
    """Morphine numbers of the liver model next to the published targets.

    Returns
    -------
    dict
        Model values: ``healthy_oral_f``, ``b_cl_ratio``, ``b_halflife_ratio``,
        ``b_vss_ratio``, ``b_oral_f``, ``c_cl_ml_min_kg``, ``c_halflife_h``,
        ``c_oral_f``, ``c_oral_f_ratio`` (vs healthy),
        ``c_oral_auc_ratio`` (dose-normalized oral AUC vs healthy),
        ``healthy_halflife_h``.
    """
    from .library import load_library

    library = load_library() if library is None else library
    m = library.drug("morphine")
    d = {s: disposition(m, s, body_weight=body_weight, states=states)
         for s in ("healthy", "child_pugh_b", "child_pugh_c")}
    h, b, c = d["healthy"], d["child_pugh_b"], d["child_pugh_c"]
    return {
        "healthy_oral_f": h.route_f["po"],
        "healthy_halflife_h": h.terminal_half_life(),
        "b_cl_ratio": b.cl / h.cl,
        "b_halflife_ratio": b.terminal_half_life() / h.terminal_half_life(),
        "b_vss_ratio": b.vss / h.vss,
        "b_oral_f": b.route_f["po"],
        "c_cl_ml_min_kg": c.cl / (60e-3 * body_weight),
        "c_halflife_h": c.terminal_half_life(),
        "c_oral_f": c.route_f["po"],
        "c_oral_f_ratio": c.route_f["po"] / h.route_f["po"],
        "c_oral_auc_ratio": c.auc_per_mg("po") / h.auc_per_mg("po"),
    }


# --------------------------------------------------------------------------- safety


def safety_flags(drug: Drug, state: str | LiverState) -> list[dict]:
    """Safety flags a drug raises in a liver state (e.g. NSAIDs in Child-Pugh B/C).

    Returns
    -------
    list of dict
        Each with ``drug``, ``severity``, ``message`` and ``source``.
    """
    name = liver_state(state).name
    return [{"drug": drug.name, "severity": f["severity"], "message": f["message"],
             "source": f["source"]}
            for f in drug.safety.flags if name in f["states"]]


def daily_max(drug: Drug, state: str | LiverState) -> float | None:
    """Maximum daily dose (mg) of a drug in a liver state, or None if uncapped."""
    name = liver_state(state).name
    q = drug.safety.daily_max.get(name)
    return None if q is None else q.to(name=f"drugs.{drug.name}.safety.daily_max.{name}")


def hepatic_encephalopathy_risk(opioid_days: float, state: str | LiverState,
                                library: DrugLibrary | None = None) -> dict:
    """Hazard of hepatic encephalopathy with opioid use in cirrhosis.

    Moon et al. 2020 (6451 compensated cirrhotics): 1-year incidence 3.3 %
    without opioids, adjusted hazard ratio 1.44 for short-term and 1.83 for
    chronic use (validation target 14).

    Parameters
    ----------
    opioid_days : float
        Days with opioid exposure so far (d).
    state : str or LiverState
        Liver state; a healthy liver has no hepatic-encephalopathy risk.
    library : DrugLibrary, optional
        Supplies the hazard ratios and the chronic-use threshold.

    Returns
    -------
    dict
        ``hazard_ratio`` (1 with no opioid or a healthy liver),
        ``category`` (``"none"``, ``"short_term"``, ``"chronic"``) and
        ``incidence_1y`` (for compensated cirrhosis, Child-Pugh A, where
        Moon's cohort applies; None otherwise).
    """
    from .library import load_library

    library = load_library() if library is None else library
    pd = library.opioid_pd
    st = liver_state(state)
    if not st.is_cirrhotic:
        return {"hazard_ratio": 1.0, "category": "none", "incidence_1y": 0.0}
    if opioid_days <= 0:
        cat, hr = "none", 1.0
    elif opioid_days * 24.0 >= pd["he_chronic_after"].to():
        cat, hr = "chronic", pd["he_hazard_ratio_chronic"].to()
    else:
        cat, hr = "short_term", pd["he_hazard_ratio_short_term"].to()
    base = pd["he_incidence_1y_no_opioid"].to()
    inc = 1.0 - (1.0 - base) ** hr if st.name == "child_pugh_a" else None
    return {"hazard_ratio": hr, "category": cat, "incidence_1y": inc}
