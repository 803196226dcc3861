"""The drug library: drugs and procedures as data.

The library lives in ``neurosim/data/drugs.toml``. Every number in it is
a quantity table ``{ value = ..., unit = "...", source = "..." }``; the
source is a publication, a derivation from published numbers, or says
``assumption: ...``. A scenario can add a drug or override any entry with
a plain dict (as read from its TOML file) through
:meth:`DrugLibrary.with_overrides`; a hypothetical drug therefore needs no
Python and no recompilation. The format is described for newcomers in
``docs/drugs.md``.

Quantities are validated (known key, right dimension) when the library is
loaded but kept in the units written: they are converted to internal
units when a scenario is compiled, because per-kilogram quantities need
the patient's body weight.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping

from ..errors import ScenarioError, did_you_mean
from ..units import parse_quantity, split_quantity
from .slots import SLOT_KIND, SLOT_NAMES, MULT, CONC

__all__ = [
    "Quantity",
    "RouteSpec",
    "PKSpec",
    "MetaboliteSpec",
    "EffectSpec",
    "SafetySpec",
    "Drug",
    "Procedure",
    "OpioidPD",
    "DrugLibrary",
    "load_library",
    "DEFAULT_LIBRARY_PATH",
]

DEFAULT_LIBRARY_PATH = "neurosim/data/drugs.toml"
_FORMAT = "neurosim-drugs"
_SUPPORTED_VERSIONS = (1,)

DRUG_CLASSES = ("opioid", "nsaid", "antibody", "corticosteroid", "analgesic", "other")
EFFECT_KINDS = ("inhibit", "stimulate", "concentration")
EFFECT_SITES = ("effect", "plasma")
BINDING_PROTEINS = ("albumin", "none")
ROUTE_FORMS = ("bolus", "infusion")
PROCEDURE_KINDS = ("nerve_block", "stimulator")


@dataclass(frozen=True)
class Quantity:
    """A number with its unit and where it comes from.

    Attributes
    ----------
    value : float
        The number as written.
    unit : str
        Its unit as written (``"mL/min/kg"``, ``"1"`` for dimensionless).
    source : str
        Publication, derivation, or ``"assumption: ..."``.
    dimension : str
        Named dimension (key of :data:`neurosim.units.DIMENSIONS`).
    """

    value: float
    unit: str
    source: str
    dimension: str

    def to(self, *, name: str = "value", body_weight: float | None = None,
           molar_mass: float | None = None) -> float:
        """The value in neurosim's internal unit of its dimension.

        Parameters
        ----------
        name : str
            What the quantity is, for error messages.
        body_weight : float, optional
            Body weight in kg, for per-kg units.
        molar_mass : float, optional
            Molar mass in g/mol, for molar units.
        """
        return parse_quantity({"value": self.value, "unit": self.unit}, self.dimension,
                              name=name, body_weight=body_weight, molar_mass=molar_mass)


# --------------------------------------------------------------------------- schema helpers


class _Ctx:
    """Where in which file a table sits, for error messages."""

    def __init__(self, file: str, key: str = ""):
        self.file = file
        self.key = key

    def sub(self, key: str) -> "_Ctx":
        return _Ctx(self.file, f"{self.key}.{key}" if self.key else key)

    def error(self, message: str) -> ScenarioError:
        return ScenarioError(message, file=self.file, key=self.key or None)


def _check_keys(table: Mapping, allowed, ctx: _Ctx, required=()):
    if not isinstance(table, Mapping):
        raise ctx.error(f"expected a table; got {type(table).__name__} {table!r}.")
    for k in table:
        if k not in allowed:
            raise ctx.sub(k).error(
                f"unknown key {k!r}." + did_you_mean(k, allowed)
                + f" Allowed keys here: {', '.join(sorted(allowed))}.")
    for k in required:
        if k not in table:
            raise ctx.error(f"missing required key {k!r}.")


def _quantity(table: Mapping, key: str, dimension: str, ctx: _Ctx, *, required=True,
              minimum: float | None = 0.0, allow_zero=True, maximum: float | None = None,
              default_source="scenario") -> Quantity | None:
    """Read ``table[key]`` as a quantity of ``dimension``.

    Accepts the library form ``{value, unit, source}``, a string
    ``"10 mg"`` (source ``default_source``) or, for dimensionless
    quantities, a bare number.
    """
    c = ctx.sub(key)
    if key not in table:
        if required:
            raise ctx.error(f"missing required quantity {key!r} ({dimension.replace('_', ' ')}).")
        return None
    raw = table[key]
    if isinstance(raw, Mapping):
        _check_keys(raw, ("value", "unit", "source"), c, required=("value",))
        value = raw["value"]
        unit = raw.get("unit", "1")
        source = raw.get("source", default_source)
        if not isinstance(source, str) or not source.strip():
            raise c.error("'source' must be a non-empty string (a reference, a derivation, "
                          "or 'assumption: ...').")
    elif isinstance(raw, str):
        try:
            value, unit = split_quantity(raw, name=f"{ctx.file}: {c.key}")
        except Exception as exc:
            raise c.error(str(exc)) from None
        unit = unit or "1"
        source = default_source
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value, unit, source = raw, "1", default_source
    else:
        raise c.error(f"expected a quantity such as {{ value = 1.0, unit = \"mg\", source = "
                      f"\"...\" }} or \"1.0 mg\"; got {raw!r}.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise c.error(f"'value' must be a number; got {value!r}.")
    q = Quantity(float(value), str(unit), str(source), dimension)
    try:
        # Validates the unit against the dimension now; per-kg needs some weight.
        x = q.to(name=c.key, body_weight=70.0, molar_mass=1.0)
    except Exception as exc:
        raise c.error(str(exc)) from None
    if minimum is not None and (x < minimum or (x == minimum and not allow_zero)):
        raise c.error(f"{key} = {raw!r} must be {'>=' if allow_zero else '>'} {minimum:g}.")
    if maximum is not None and x > maximum:
        raise c.error(f"{key} = {raw!r} must be <= {maximum:g}.")
    return q


def _choice(table, key, choices, ctx, default=None):
    if key not in table:
        if default is None:
            raise ctx.error(f"missing required key {key!r} (one of {', '.join(choices)}).")
        return default
    v = table[key]
    if v not in choices:
        raise ctx.sub(key).error(f"{v!r} is not allowed; use one of: {', '.join(choices)}."
                                 + did_you_mean(str(v), choices))
    return v


def _text(table, key, ctx, default=""):
    v = table.get(key, default)
    if not isinstance(v, str):
        raise ctx.sub(key).error(f"expected a string; got {v!r}.")
    return v


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RouteSpec:
    """How a drug can be given by one route.

    Attributes
    ----------
    name : str
        Route name as used in regimens (``po``, ``iv``, ``sc``, ``td``, ...).
    forms : tuple of str
        ``"bolus"`` and/or ``"infusion"`` (zero-order input, e.g. a pump or
        a transdermal patch).
    ka : Quantity or None
        First-order absorption rate constant from the depot (1/h); None
        when the drug enters plasma directly (intravenous).
    f_abs : Quantity
        Fraction of the dose absorbed intact into the portal or systemic
        blood (before any hepatic first pass).
    first_pass : bool
        Whether absorbed drug passes the liver before reaching the systemic
        circulation (oral routes).
    mme : Quantity
        Morphine milligram equivalents per mg given by this route (0 for
        non-opioids).
    """

    name: str
    forms: tuple[str, ...]
    ka: Quantity | None
    f_abs: Quantity
    first_pass: bool
    mme: Quantity
    description: str = ""


@dataclass(frozen=True)
class PKSpec:
    """Disposition of a drug in a healthy reference adult.

    Exactly two of ``cl``, ``fraction_hepatic`` and ``hepatic_extraction``
    are given; the third follows from the healthy liver state (see
    :mod:`neurosim.treatments.liver`). ``nonhepatic`` says what the rest of
    ``cl`` is: ``"renal"`` (scaled by the liver state's renal function) or
    ``"other"`` (e.g. antibody catabolism; unchanged by liver disease).
    """

    compartments: int
    v1: Quantity
    v2: Quantity | None
    q2: Quantity | None
    v3: Quantity | None
    q3: Quantity | None
    cl: Quantity | None
    fraction_hepatic: Quantity | None
    hepatic_extraction: Quantity | None
    fu: Quantity
    blood_plasma: Quantity
    binding_protein: str
    nonhepatic: str
    vmax: Quantity | None
    km: Quantity | None


@dataclass(frozen=True)
class MetaboliteSpec:
    """One active metabolite formed by the liver (e.g. morphine-6-glucuronide)."""

    name: str
    molar_mass: Quantity
    fm: Quantity
    v: Quantity
    cl: Quantity
    renal: bool
    ke0: Quantity | None
    opioid_ec50: Quantity | None
    description: str = ""


@dataclass(frozen=True)
class EffectSpec:
    """A concentration-effect relation on one treatment slot.

    ``inhibit``: the slot is multiplied by ``1 - emax C^h / (C^h + ec50^h)``;
    ``stimulate``: by ``1 + emax C^h / (C^h + ec50^h)``; ``concentration``:
    the drug's free concentration (nM) is added to a concentration slot.
    """

    slot: str
    kind: str
    site: str
    emax: Quantity | None
    ec50: Quantity | None
    hill: Quantity | None


@dataclass(frozen=True)
class SafetySpec:
    """Liver-dependent safety rules of a drug.

    Attributes
    ----------
    flags : tuple of dict
        Each with ``states`` (liver states it applies to), ``severity`` and
        ``message``.
    daily_max : dict of str -> Quantity
        Maximum daily dose (mass) per liver state.
    """

    flags: tuple[dict, ...] = ()
    daily_max: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Drug:
    """One drug of the library (see ``docs/drugs.md`` for the file format)."""

    name: str
    drug_class: str
    description: str
    molar_mass: Quantity
    pk: PKSpec
    routes: dict
    ke0: Quantity | None
    opioid_ec50: Quantity | None
    metabolite: MetaboliteSpec | None
    effects: tuple[EffectSpec, ...]
    safety: SafetySpec

    @property
    def is_opioid(self) -> bool:
        return self.opioid_ec50 is not None

    def route(self, name: str) -> RouteSpec:
        """The route called ``name``, or an error listing this drug's routes."""
        try:
            return self.routes[name]
        except KeyError:
            from ..errors import NeurosimKeyError

            raise NeurosimKeyError(
                f"drug {self.name!r} has no route {name!r}; its routes are: "
                f"{', '.join(self.routes)}." + did_you_mean(name, self.routes)
                + " Add a route under [drugs." + self.name + ".routes] to use another.") from None


@dataclass(frozen=True)
class Procedure:
    """A procedure that acts on one slot through a procedure state."""

    name: str
    kind: str
    slot: str
    description: str
    block_fraction: Quantity | None = None
    recovery_time: Quantity | None = None
    depth: Quantity | None = None


@dataclass(frozen=True)
class OpioidPD:
    """Pharmacodynamics shared by all opioids of a patient (the mu-opioid system).

    All opioids add their effect-site concentrations in units of their own
    EC50 into one drive ``u`` (receptor-level additivity); tolerance,
    hyperalgesia and side effects are properties of the patient, so they
    are shared (full cross-tolerance). See ``docs/drugs.md``.
    """

    quantities: dict

    def __getitem__(self, key: str) -> Quantity:
        return self.quantities[key]


_OPIOID_PD_KEYS = {
    "emax": ("dimensionless", 1.0),
    "hill": ("dimensionless", None),
    "tolerance_max": ("dimensionless", None),
    "tolerance_drive_u50": ("dimensionless", None),
    "tolerance_onset_halflife": ("time", None),
    "tolerance_recovery_halflife": ("time", None),
    "rebound_gain": ("dimensionless", None),
    "oih_max": ("dimensionless", None),
    "oih_drive_u50": ("dimensionless", None),
    "oih_onset_halflife": ("time", None),
    "oih_recovery_halflife": ("time", None),
    "constipation_u50": ("dimensionless", None),
    "constipation_halflife": ("time", None),
    "sedation_ec50_ratio": ("dimensionless", None),
    "respiratory_ec50_ratio": ("dimensionless", None),
    "side_effect_tolerance_fraction": ("dimensionless", 1.0),
    "he_hazard_ratio_short_term": ("dimensionless", None),
    "he_hazard_ratio_chronic": ("dimensionless", None),
    "he_chronic_after": ("time", None),
    "he_incidence_1y_no_opioid": ("dimensionless", 1.0),
}


def _parse_opioid_pd(table, ctx) -> OpioidPD:
    _check_keys(table, set(_OPIOID_PD_KEYS), ctx, required=tuple(_OPIOID_PD_KEYS))
    q = {}
    for k, (dim, mx) in _OPIOID_PD_KEYS.items():
        q[k] = _quantity(table, k, dim, ctx, maximum=mx)
    for k in ("tolerance_onset_halflife", "tolerance_recovery_halflife", "oih_onset_halflife",
              "oih_recovery_halflife", "constipation_halflife", "hill",
              "tolerance_drive_u50", "oih_drive_u50", "constipation_u50",
              "sedation_ec50_ratio", "respiratory_ec50_ratio"):
        if q[k].to() <= 0:
            raise ctx.sub(k).error(f"{k} must be > 0.")
    return OpioidPD(q)


#: Largest Hill coefficient accepted for an effect (published concentration-effect
#: slopes rarely exceed 5; 20 keeps (C/EC50)^hill finite for any C below 1e15 EC50).
_HILL_MAX = 20.0

_PK_KEYS = ("compartments", "v1", "v2", "q2", "v3", "q3", "cl", "fraction_hepatic",
            "hepatic_extraction", "nonhepatic", "fu", "blood_plasma", "binding_protein", "vmax",
            "km")
NONHEPATIC_ROUTES = ("renal", "other")


def _parse_pk(table, ctx) -> PKSpec:
    _check_keys(table, _PK_KEYS, ctx, required=("compartments", "v1", "fu"))
    n = table["compartments"]
    if n not in (1, 2, 3):
        raise ctx.sub("compartments").error(f"compartments must be 1, 2 or 3; got {n!r}.")
    v1 = _quantity(table, "v1", "volume", ctx, allow_zero=False)
    v2 = q2 = v3 = q3 = None
    if n >= 2:
        v2 = _quantity(table, "v2", "volume", ctx, allow_zero=False)
        q2 = _quantity(table, "q2", "clearance", ctx)
    if n == 3:
        v3 = _quantity(table, "v3", "volume", ctx, allow_zero=False)
        q3 = _quantity(table, "q3", "clearance", ctx)
    for k, needed in (("v2", 2), ("q2", 2), ("v3", 3), ("q3", 3)):
        if k in table and n < needed:
            raise ctx.sub(k).error(f"{k} is given but compartments = {n}; set compartments = "
                                   f"{needed} or remove {k}.")
    cl = _quantity(table, "cl", "clearance", ctx, required=False)
    fh = _quantity(table, "fraction_hepatic", "dimensionless", ctx, required=False, maximum=1.0)
    eh = _quantity(table, "hepatic_extraction", "dimensionless", ctx, required=False,
                   maximum=1.0)
    given = [k for k, v in (("cl", cl), ("fraction_hepatic", fh), ("hepatic_extraction", eh))
             if v is not None]
    if len(given) != 2:
        raise ctx.error(
            "give exactly two of 'cl' (total plasma clearance), 'fraction_hepatic' (share of cl "
            f"that is hepatic) and 'hepatic_extraction' (healthy extraction ratio); got "
            f"{', '.join(given) or 'none'}.")
    if eh is not None and eh.to() >= 1.0:
        raise ctx.sub("hepatic_extraction").error("hepatic_extraction must be < 1.")
    if eh is not None and fh is not None and fh.to() == 0.0:
        raise ctx.error("fraction_hepatic = 0 with a hepatic_extraction is contradictory; give "
                        "cl and fraction_hepatic = 0 instead.")
    fu = _quantity(table, "fu", "dimensionless", ctx, allow_zero=False, maximum=1.0)
    bp = table.get("blood_plasma")
    bp = (_quantity(table, "blood_plasma", "dimensionless", ctx, allow_zero=False)
          if bp is not None else Quantity(1.0, "1", "assumption: blood:plasma ratio 1",
                                          "dimensionless"))
    binding = _choice(table, "binding_protein", BINDING_PROTEINS, ctx, default="albumin")
    nonhep = _choice(table, "nonhepatic", NONHEPATIC_ROUTES, ctx, default="renal")
    vmax = _quantity(table, "vmax", "elimination_rate", ctx, required=False)
    km = _quantity(table, "km", "concentration", ctx, required=False, allow_zero=False)
    if (vmax is None) != (km is None):
        raise ctx.error("saturable elimination needs both 'vmax' and 'km'.")
    return PKSpec(n, v1, v2, q2, v3, q3, cl, fh, eh, fu, bp, binding, nonhep, vmax, km)


_ROUTE_KEYS = ("forms", "ka", "f_abs", "first_pass", "mme", "description")


def _parse_route(name, table, ctx, is_opioid) -> RouteSpec:
    _check_keys(table, _ROUTE_KEYS, ctx)
    forms = table.get("forms", ["bolus", "infusion"] if "ka" not in table else ["bolus"])
    if isinstance(forms, str):
        forms = [forms]
    if not forms or any(f not in ROUTE_FORMS for f in forms):
        raise ctx.sub("forms").error(f"forms must be a list drawn from {list(ROUTE_FORMS)}; "
                                     f"got {forms!r}.")
    ka = _quantity(table, "ka", "rate_constant", ctx, required=False, allow_zero=False)
    f_abs = _quantity(table, "f_abs", "dimensionless", ctx, required=False, maximum=1.0)
    if f_abs is None:
        f_abs = Quantity(1.0, "1", "assumption: complete absorption", "dimensionless")
    first_pass = table.get("first_pass", False)
    if not isinstance(first_pass, bool):
        raise ctx.sub("first_pass").error(f"first_pass must be true or false; got {first_pass!r}.")
    if first_pass and ka is None:
        raise ctx.error("a route with first_pass = true needs an absorption rate 'ka'.")
    mme = _quantity(table, "mme", "dimensionless", ctx, required=is_opioid)
    if mme is None:
        mme = Quantity(0.0, "1", "not an opioid", "dimensionless")
    return RouteSpec(name, tuple(forms), ka, f_abs, first_pass, mme,
                     _text(table, "description", ctx))


_MET_KEYS = ("name", "description", "molar_mass", "fm", "v", "cl", "renal", "ke0", "opioid_ec50")


def _parse_metabolite(table, ctx) -> MetaboliteSpec:
    _check_keys(table, _MET_KEYS, ctx, required=("name", "molar_mass", "fm", "v", "cl"))
    renal = table.get("renal", True)
    if not isinstance(renal, bool):
        raise ctx.sub("renal").error("renal must be true or false.")
    return MetaboliteSpec(
        name=_text(table, "name", ctx),
        molar_mass=_quantity(table, "molar_mass", "molar_mass", ctx, allow_zero=False),
        fm=_quantity(table, "fm", "dimensionless", ctx, maximum=1.0),
        v=_quantity(table, "v", "volume", ctx, allow_zero=False),
        cl=_quantity(table, "cl", "clearance", ctx, allow_zero=False),
        renal=renal,
        ke0=_quantity(table, "ke0", "rate_constant", ctx, required=False, allow_zero=False),
        opioid_ec50=_quantity(table, "opioid_ec50", "concentration", ctx, required=False,
                              allow_zero=False),
        description=_text(table, "description", ctx),
    )


def _parse_effect(slot, table, ctx) -> EffectSpec:
    _check_keys(table, ("kind", "site", "emax", "ec50", "hill"), ctx)
    if slot not in SLOT_KIND:
        raise ctx.error(f"unknown treatment slot {slot!r}." + did_you_mean(slot, SLOT_NAMES)
                        + f" Slots: {', '.join(SLOT_NAMES)}.")
    kind_default = "concentration" if SLOT_KIND[slot] == CONC else "inhibit"
    kind = _choice(table, "kind", EFFECT_KINDS, ctx, default=kind_default)
    if SLOT_KIND[slot] == CONC and kind != "concentration":
        raise ctx.sub("kind").error(f"slot {slot!r} holds a concentration; use kind = "
                                    "\"concentration\".")
    if SLOT_KIND[slot] != CONC and kind == "concentration":
        raise ctx.sub("kind").error(f"slot {slot!r} is not a concentration slot; use kind = "
                                    "\"inhibit\" or \"stimulate\".")
    if SLOT_KIND[slot] not in (MULT, CONC):
        raise ctx.error(f"slot {slot!r} is driven by the opioid system, not by a drug effect.")
    site = _choice(table, "site", EFFECT_SITES, ctx, default="effect")
    if kind == "concentration":
        _check_keys(table, ("kind", "site"), ctx)
        return EffectSpec(slot, kind, site, None, None, None)
    emax = _quantity(table, "emax", "dimensionless", ctx,
                     maximum=1.0 if kind == "inhibit" else None)
    ec50 = _quantity(table, "ec50", "concentration", ctx, allow_zero=False)
    hill = _quantity(table, "hill", "dimensionless", ctx, required=False, allow_zero=False)
    if hill is None:
        hill = Quantity(1.0, "1", "assumption: hyperbolic (Hill 1)", "dimensionless")
    if not 1.0 <= hill.to() <= _HILL_MAX:
        raise ctx.sub("hill").error(
            f"hill must lie in [1, {_HILL_MAX:g}] (a slope below 1 has an infinite derivative "
            "at zero concentration; far above 10, (C/EC50)^hill overflows).")
    return EffectSpec(slot, kind, site, emax, ec50, hill)


def _parse_safety(table, ctx, state_names) -> SafetySpec:
    _check_keys(table, ("flags", "daily_max"), ctx)
    flags = []
    for i, f in enumerate(table.get("flags", [])):
        c = ctx.sub(f"flags[{i}]")
        _check_keys(f, ("states", "severity", "message", "source"), c,
                    required=("states", "message"))
        for s in f["states"]:
            if state_names and s not in state_names:
                raise c.sub("states").error(f"unknown liver state {s!r}."
                                            + did_you_mean(s, state_names))
        flags.append({"states": tuple(f["states"]), "severity": f.get("severity", "warning"),
                      "message": f["message"], "source": f.get("source", "")})
    daily = {}
    dm = table.get("daily_max", {})
    _check_keys(dm, set(state_names) if state_names else set(dm), ctx.sub("daily_max"))
    for s in dm:
        daily[s] = _quantity(dm, s, "mass", ctx.sub("daily_max"), allow_zero=False)
    return SafetySpec(tuple(flags), daily)


_DRUG_KEYS = ("class", "description", "molar_mass", "pk", "routes", "effect_site", "opioid",
              "metabolite", "effects", "safety")


def _parse_drug(name, table, ctx, state_names) -> Drug:
    _check_keys(table, _DRUG_KEYS, ctx, required=("class", "molar_mass", "pk", "routes"))
    drug_class = _choice(table, "class", DRUG_CLASSES, ctx)
    opioid_ec50 = None
    if "opioid" in table:
        c = ctx.sub("opioid")
        _check_keys(table["opioid"], ("ec50",), c, required=("ec50",))
        opioid_ec50 = _quantity(table["opioid"], "ec50", "concentration", c, allow_zero=False)
    if drug_class == "opioid" and opioid_ec50 is None:
        raise ctx.error("an opioid needs an [opioid] table with its ec50 (effect-site "
                        "concentration giving u = 1 in the shared opioid model).")
    pk = _parse_pk(table["pk"], ctx.sub("pk"))
    routes_t = table["routes"]
    _check_keys(routes_t, set(routes_t), ctx.sub("routes"))
    if not routes_t:
        raise ctx.sub("routes").error("a drug needs at least one route.")
    routes = {r: _parse_route(r, t, ctx.sub(f"routes.{r}"), opioid_ec50 is not None)
              for r, t in routes_t.items()}
    ke0 = None
    if "effect_site" in table:
        c = ctx.sub("effect_site")
        _check_keys(table["effect_site"], ("ke0",), c, required=("ke0",))
        ke0 = _quantity(table["effect_site"], "ke0", "rate_constant", c, allow_zero=False)
    met = _parse_metabolite(table["metabolite"], ctx.sub("metabolite")) \
        if "metabolite" in table else None
    effects = []
    eff_t = table.get("effects", {})
    _check_keys(eff_t, set(SLOT_NAMES), ctx.sub("effects"))
    for slot, et in eff_t.items():
        e = _parse_effect(slot, et, ctx.sub(f"effects.{slot}"))
        effects.append(e)
    needs_site = opioid_ec50 is not None or any(e.site == "effect" for e in effects)
    if needs_site and ke0 is None:
        raise ctx.error("this drug acts at an effect site; give [effect_site] ke0 (1/h), or set "
                        "site = \"plasma\" on its effects.")
    safety = _parse_safety(table.get("safety", {}), ctx.sub("safety"), state_names)
    return Drug(name, drug_class, _text(table, "description", ctx),
                _quantity(table, "molar_mass", "molar_mass", ctx, allow_zero=False),
                pk, routes, ke0, opioid_ec50, met, tuple(effects), safety)


_PROC_KEYS = ("kind", "slot", "description", "block_fraction", "recovery_time", "depth")


def _parse_procedure(name, table, ctx) -> Procedure:
    _check_keys(table, _PROC_KEYS, ctx, required=("kind", "slot"))
    kind = _choice(table, "kind", PROCEDURE_KINDS, ctx)
    slot = table["slot"]
    if slot not in SLOT_KIND or SLOT_KIND[slot] != MULT:
        mult = [s for s in SLOT_NAMES if SLOT_KIND[s] == MULT]
        raise ctx.sub("slot").error(f"{slot!r} is not a multiplicative slot."
                                    + did_you_mean(str(slot), mult))
    if kind == "nerve_block":
        return Procedure(name, kind, slot, _text(table, "description", ctx),
                         block_fraction=_quantity(table, "block_fraction", "dimensionless", ctx,
                                                  maximum=1.0),
                         recovery_time=_quantity(table, "recovery_time", "time", ctx,
                                                 allow_zero=False))
    return Procedure(name, kind, slot, _text(table, "description", ctx),
                     depth=_quantity(table, "depth", "dimensionless", ctx, maximum=1.0))


# --------------------------------------------------------------------------- the library


def _deep_merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and not (
                "value" in v and "value" in out[k]):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class DrugLibrary:
    """The drugs, procedures and shared opioid pharmacodynamics, validated.

    Use :func:`load_library` (the packaged file) or
    :meth:`DrugLibrary.from_dict`.

    Attributes
    ----------
    drugs : dict of str -> Drug
    procedures : dict of str -> Procedure
    opioid_pd : OpioidPD
    reference_body_weight : float
        Body weight (kg) that absolute numbers in the file refer to.
    source : str
        File the library came from (used in error messages).
    """

    def __init__(self, raw: Mapping, source: str = "<dict>", liver_state_names=()):
        self.raw = copy.deepcopy(dict(raw))
        self.source = source
        self._state_names = tuple(liver_state_names)
        ctx = _Ctx(source)
        _check_keys(self.raw, ("format", "version", "reference_body_weight", "opioid_pd",
                               "drugs", "procedures"), ctx, required=("drugs",))
        fmt = self.raw.get("format", _FORMAT)
        if fmt != _FORMAT:
            raise ctx.sub("format").error(f"this is not a drug library (format {fmt!r}); "
                                          f"expected {_FORMAT!r}.")
        ver = self.raw.get("version", 1)
        if ver not in _SUPPORTED_VERSIONS:
            raise ctx.sub("version").error(f"drug library version {ver!r} is not supported "
                                           f"(supported: {_SUPPORTED_VERSIONS}).")
        bw = self.raw.get("reference_body_weight", {"value": 70, "unit": "kg",
                                                    "source": "assumption: standard adult"})
        self.reference_body_weight = _quantity({"reference_body_weight": bw},
                                               "reference_body_weight", "mass", ctx,
                                               allow_zero=False).to() / 1e6
        self.opioid_pd = _parse_opioid_pd(self.raw.get("opioid_pd", {}), ctx.sub("opioid_pd"))
        self.drugs: dict[str, Drug] = {}
        dt = self.raw["drugs"]
        _check_keys(dt, set(dt), ctx.sub("drugs"))
        for name, t in dt.items():
            self.drugs[name] = _parse_drug(name, t, ctx.sub(f"drugs.{name}"), self._state_names)
        self.procedures: dict[str, Procedure] = {}
        pt = self.raw.get("procedures", {})
        for name, t in pt.items():
            self.procedures[name] = _parse_procedure(name, t, ctx.sub(f"procedures.{name}"))

    @classmethod
    def from_dict(cls, raw: Mapping, source: str = "<dict>", liver_state_names=None):
        """Validate a library given as a dict (the parsed TOML)."""
        if liver_state_names is None:
            from .liver import load_liver_states

            liver_state_names = tuple(load_liver_states())
        return cls(raw, source, liver_state_names)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the drugs in the library."""
        return tuple(self.drugs)

    def drug(self, name: str) -> Drug:
        """The drug called ``name``; unknown names get a did-you-mean error."""
        try:
            return self.drugs[name]
        except KeyError:
            raise ScenarioError(
                f"unknown drug {name!r}." + did_you_mean(name, self.drugs)
                + f" Known drugs: {', '.join(self.drugs)}. A new drug is added as a "
                "[drugs.<name>] table (see docs/drugs.md).", file=self.source) from None

    def procedure(self, name: str) -> Procedure:
        """The procedure called ``name``; unknown names get a did-you-mean error."""
        try:
            return self.procedures[name]
        except KeyError:
            raise ScenarioError(
                f"unknown procedure {name!r}." + did_you_mean(name, self.procedures)
                + f" Known procedures: {', '.join(self.procedures)}.", file=self.source) from None

    def with_overrides(self, overrides: Mapping, source: str = "scenario") -> "DrugLibrary":
        """A new library with entries added or replaced.

        Parameters
        ----------
        overrides : mapping
            Same layout as the library file, e.g. ``{"drugs": {"morphine":
            {"pk": {"cl": "30 mL/min/kg"}}, "newdrug": {...}}}``. A table
            that exists is merged key by key (a quantity is replaced
            whole); a new drug must be complete.
        source : str
            Name for error messages (e.g. the scenario file path).
        """
        if not isinstance(overrides, Mapping):
            raise ScenarioError(f"drug library overrides must be a table; got {overrides!r}",
                                file=source)
        ctx = _Ctx(source)
        _check_keys(overrides, ("opioid_pd", "drugs", "procedures"), ctx)
        merged = _deep_merge(self.raw, overrides)
        return DrugLibrary(merged, source=f"{self.source} + {source}",
                           liver_state_names=self._state_names)

    def __repr__(self) -> str:
        return (f"DrugLibrary({len(self.drugs)} drugs: {', '.join(self.drugs)}; "
                f"{len(self.procedures)} procedures)")


def load_library(path: str | Path | None = None) -> DrugLibrary:
    """Load and validate a drug library file (default: the packaged one).

    Parameters
    ----------
    path : str or Path, optional
        A TOML file in the drug-library format.
    """
    if path is None:
        ref = resources.files("neurosim") / "data" / "drugs.toml"
        text = ref.read_text(encoding="utf-8")
        name = DEFAULT_LIBRARY_PATH
    else:
        p = Path(path)
        if not p.exists():
            raise ScenarioError("drug library file not found; check the path.", file=str(p))
        text = p.read_text(encoding="utf-8")
        name = str(p)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", file=name) from None
    return DrugLibrary.from_dict(raw, source=name)
