"""Units at the boundary: parse quantities once, hand plain floats inward.

Everything inside neurosim's compiled core is a bare float64 in the
internal units below. Unit strings exist only where people type numbers
(scenario files, the command line, Python keyword arguments, the drug
library) and are converted here, once.

Internal units
--------------
========================  =================  ==========================
dimension                 internal unit      examples accepted
========================  =================  ==========================
mass                      mg                 ``kg g mg ug µg mcg ng pg``
volume                    L                  ``L dL mL uL``
time                      h                  ``s min h d week month year``
amount of substance       nmol               ``mol mmol umol nmol pmol``
molar mass                mg/nmol            ``g/mol``
molar concentration       nM (= nmol/L)      ``M mM uM nM pM``
dimensionless             1                  ``1 % fraction``
========================  =================  ==========================

Compound units are written with ``/`` and ``*`` (or ``.``) and optional
integer powers: ``mg/L``, ``L/h``, ``mL/min/kg``, ``1/h``, ``h^-1``,
``ug/h``, ``g/mol``.

A unit carrying one more *per kilogram* than the quantity needs (``L/kg``
for a volume, ``mL/min/kg`` for a clearance, ``mg/kg`` for a dose) is
scaled by the body weight, which must then be given. A molar concentration
where a mass concentration is needed (or the reverse) is converted with
the molar mass, which must then be given.

Examples
--------
>>> parse_quantity("500 ug", "mass")
0.5
>>> parse_quantity("2 weeks", "time")
336.0
>>> parse_quantity("33.5 mL/min/kg", "clearance", body_weight=70.0)
140.7
>>> parse_interval("q12h")
12.0
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

from .errors import UnitError, NeurosimValueError, did_you_mean

__all__ = [
    "DIMENSIONS",
    "INTERNAL_UNITS",
    "Unit",
    "parse_unit",
    "allowed_units",
    "convert",
    "to_internal",
    "from_internal",
    "parse_quantity",
    "split_quantity",
    "parse_interval",
    "format_duration",
    "HOURS_PER_DAY",
    "HOURS_PER_WEEK",
]

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 168.0
# A mean Gregorian month and year, so that "6 months" is half of "1 year".
HOURS_PER_YEAR = 365.25 * 24.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0

# Dimension exponents, in this order: mass, volume, time, amount of substance.
_BASE = ("mass", "volume", "time", "substance")

#: Named dimensions a quantity may be required to have.
DIMENSIONS: dict[str, tuple[int, int, int, int]] = {
    "dimensionless": (0, 0, 0, 0),
    "mass": (1, 0, 0, 0),
    "volume": (0, 1, 0, 0),
    "time": (0, 0, 1, 0),
    "substance": (0, 0, 0, 1),
    "concentration": (1, -1, 0, 0),
    "molar_concentration": (0, -1, 0, 1),
    "clearance": (0, 1, -1, 0),
    "rate_constant": (0, 0, -1, 0),
    "dose_rate": (1, 0, -1, 0),
    "molar_mass": (1, 0, 0, -1),
    "elimination_rate": (1, 0, -1, 0),
}

#: The unit a float of each named dimension is expressed in internally.
INTERNAL_UNITS: dict[str, str] = {
    "dimensionless": "1",
    "mass": "mg",
    "volume": "L",
    "time": "h",
    "substance": "nmol",
    "concentration": "mg/L",
    "molar_concentration": "nM",
    "clearance": "L/h",
    "rate_constant": "1/h",
    "dose_rate": "mg/h",
    "molar_mass": "mg/nmol",
    "elimination_rate": "mg/h",
}

_MASS = (1, 0, 0, 0)
_VOLUME = (0, 1, 0, 0)
_TIME = (0, 0, 1, 0)
_SUBST = (0, 0, 0, 1)
_NONE = (0, 0, 0, 0)

# symbol -> (factor to internal unit, dimension)
_SYMBOLS: dict[str, tuple[float, tuple[int, int, int, int]]] = {}


def _add(names, factor, dims):
    for n in names.split():
        _SYMBOLS[n] = (factor, dims)


_add("kg", 1e6, _MASS)
_add("g", 1e3, _MASS)
_add("mg", 1.0, _MASS)
_add("ug µg μg mcg", 1e-3, _MASS)
_add("ng", 1e-6, _MASS)
_add("pg", 1e-9, _MASS)
_add("L l", 1.0, _VOLUME)
_add("dL dl", 0.1, _VOLUME)
_add("mL ml", 1e-3, _VOLUME)
_add("uL ul µL μL", 1e-6, _VOLUME)
_add("s sec second seconds", 1.0 / 3600.0, _TIME)
_add("min mins minute minutes", 1.0 / 60.0, _TIME)
_add("h hr hrs hour hours", 1.0, _TIME)
_add("d day days", HOURS_PER_DAY, _TIME)
_add("wk wks w week weeks", HOURS_PER_WEEK, _TIME)
_add("mo month months", HOURS_PER_MONTH, _TIME)
_add("y yr yrs year years", HOURS_PER_YEAR, _TIME)
_add("mol", 1e9, _SUBST)
_add("mmol", 1e6, _SUBST)
_add("umol µmol μmol", 1e3, _SUBST)
_add("nmol", 1.0, _SUBST)
_add("pmol", 1e-3, _SUBST)
_add("M", 1e9, (0, -1, 0, 1))
_add("mM", 1e6, (0, -1, 0, 1))
_add("uM µM μM", 1e3, (0, -1, 0, 1))
_add("nM", 1.0, (0, -1, 0, 1))
_add("pM", 1e-3, (0, -1, 0, 1))
_add("1 fraction", 1.0, _NONE)
_add("%", 0.01, _NONE)

# Units offered in error messages, per named dimension (readable, not exhaustive).
_SUGGEST = {
    "dimensionless": "1, %",
    "mass": "mg, g, ug, ng (or mg/kg with a body weight)",
    "volume": "L, mL (or L/kg with a body weight)",
    "time": "s, min, h, d, week, month, year",
    "substance": "mol, mmol, umol, nmol",
    "concentration": "mg/L, ug/mL, ng/mL, pg/mL (or nM with a molar mass)",
    "molar_concentration": "nM, pM, uM (or ng/mL with a molar mass)",
    "clearance": "L/h, mL/min, L/d (or mL/min/kg with a body weight)",
    "rate_constant": "1/h, 1/min, 1/d",
    "dose_rate": "mg/h, ug/h, mg/d",
    "molar_mass": "g/mol",
    "elimination_rate": "mg/h, mg/d",
}


@dataclass(frozen=True)
class Unit:
    """A parsed unit: ``value_internal = value * factor``.

    Attributes
    ----------
    text : str
        The unit as written.
    factor : float
        Multiplier from the written unit to neurosim's internal unit of the
        same dimension.
    dims : tuple of int
        Exponents of (mass, volume, time, amount of substance).
    """

    text: str
    factor: float
    dims: tuple[int, int, int, int]


_TOKEN = re.compile(r"^([^\^]+?)(?:\^?(-?\d+))?$")


def _parse_factor(token: str, unit_text: str) -> tuple[float, tuple[int, ...]]:
    token = token.strip()
    if token in _SYMBOLS:
        return _SYMBOLS[token]
    m = _TOKEN.match(token)
    if m and m.group(2) is not None and m.group(1) in _SYMBOLS:
        f, d = _SYMBOLS[m.group(1)]
        k = int(m.group(2))
        return f ** k, tuple(k * x for x in d)
    raise UnitError(
        f"unknown unit {token!r} in {unit_text!r}." + did_you_mean(token, _SYMBOLS)
        + " Units are written like 'mg', 'mg/L', 'mL/min/kg', '1/h'.")


def parse_unit(unit: str) -> Unit:
    """Parse a unit string such as ``"mL/min/kg"``.

    Parameters
    ----------
    unit : str
        Symbols joined by ``/`` (divide by everything after it, up to the
        next ``/``) and ``*`` or ``.`` (multiply); a symbol may carry an
        integer power (``h^-1``, ``m2`` is not supported).

    Returns
    -------
    Unit

    Raises
    ------
    UnitError
        If a symbol is unknown (with a did-you-mean suggestion).
    """
    text = str(unit).strip()
    if text in ("", "1", "-", "dimensionless"):
        return Unit(text, 1.0, _NONE)
    factor = 1.0
    dims = [0, 0, 0, 0]
    for i, part in enumerate(text.split("/")):
        sign = 1 if i == 0 else -1
        if part.strip() == "":
            raise UnitError(f"malformed unit {text!r}: an empty term around '/'")
        for tok in re.split(r"[*·]|(?<=[A-Za-zµμ%])\.(?=[A-Za-zµμ])", part):
            if tok.strip() in ("", "1") and i == 0:
                continue
            f, d = _parse_factor(tok, text)
            factor *= f ** sign
            for k in range(4):
                dims[k] += sign * d[k]
    return Unit(text, factor, tuple(dims))


def allowed_units(expect: str) -> str:
    """Human-readable list of units accepted for a named dimension."""
    return _SUGGEST.get(expect, INTERNAL_UNITS.get(expect, "?"))


def _describe_dims(dims) -> str:
    for name, d in DIMENSIONS.items():
        if tuple(d) == tuple(dims):
            return {"dimensionless": "dimensionless"}.get(name, f"a {name.replace('_', ' ')}")
    parts = []
    for name, k in zip(_BASE, dims):
        if k:
            parts.append(name if k == 1 else f"{name}^{k}")
    return "of dimension " + "·".join(parts)


def _expect_dims(expect: str) -> tuple[int, int, int, int]:
    try:
        return DIMENSIONS[expect]
    except KeyError:
        raise NeurosimValueError(
            f"unknown dimension {expect!r}; known: {', '.join(DIMENSIONS)}."
            + did_you_mean(expect, DIMENSIONS)) from None


def _body_weight_mg(body_weight, name) -> float:
    if isinstance(body_weight, str):
        return parse_quantity(body_weight, "mass", name="body weight", minimum=0.0,
                              allow_zero=False)
    bw = float(body_weight)
    if not (bw > 0 and math.isfinite(bw)):
        raise NeurosimValueError(
            f"{name}: body weight must be a positive number of kg; got {body_weight!r}")
    return bw * 1e6  # kg -> mg


def convert(value: float, unit: str | Unit, expect: str, *, name: str = "value",
            body_weight: float | str | None = None,
            molar_mass: float | None = None) -> float:
    """Convert ``value`` given in ``unit`` to neurosim's internal unit.

    Parameters
    ----------
    value : float
        The number as written, in ``unit``.
    unit : str or Unit
        Its unit (e.g. ``"mL/min/kg"``).
    expect : str
        The named dimension the quantity must have (a key of
        :data:`DIMENSIONS`, e.g. ``"clearance"``).
    name : str
        What the quantity is (used in error messages, e.g. ``"morphine
        pk.cl"``).
    body_weight : float or str, optional
        Body weight in kg (a float) or as a quantity string (``"70 kg"``);
        needed when the unit is per kilogram of body weight.
    molar_mass : float, optional
        Molar mass in g/mol; needed to turn a molar concentration into a
        mass concentration or back.

    Returns
    -------
    float
        The value in the internal unit of ``expect`` (see
        :data:`INTERNAL_UNITS`).

    Raises
    ------
    UnitError
        If the unit does not fit the dimension, naming the quantity, the
        unit given and the units allowed.
    """
    want = _expect_dims(expect)
    if isinstance(unit, Unit):
        u = unit
    else:
        try:
            u = parse_unit(unit)
        except UnitError as exc:
            raise UnitError(f"{name}: {exc} Allowed for {name}: {allowed_units(expect)}.") from None
    x = float(value) * u.factor
    got = u.dims
    if got == want:
        return x
    diff = tuple(g - w for g, w in zip(got, want))
    if diff == (-1, 0, 0, 0):  # one extra "per kg of body weight"
        if body_weight is None:
            raise UnitError(
                f"{name}: unit {u.text!r} is per kilogram of body weight; give a body weight "
                f"(e.g. body_weight=70) or use an absolute unit ({allowed_units(expect)}).")
        return x * _body_weight_mg(body_weight, name)
    # Molar <-> mass: 1 nmol of a substance with molar mass M g/mol is M*1e-6 mg.
    if diff in ((-1, 0, 0, 1), (1, 0, 0, -1)):
        if molar_mass is None or not molar_mass > 0:
            raise UnitError(
                f"{name}: unit {u.text!r} is {_describe_dims(got)} but {name} needs "
                f"{_describe_dims(want)}; converting needs the molar mass (g/mol) of the drug. "
                f"Use one of: {allowed_units(expect)}.")
        mm = float(molar_mass) * 1e-6  # mg per nmol
        return x * mm if diff == (-1, 0, 0, 1) else x / mm
    raise UnitError(
        f"{name}: unit {u.text!r} is {_describe_dims(got)}, but {name} must be "
        f"{_describe_dims(want)}; use one of: {allowed_units(expect)}.")


#: Alias of :func:`convert`.
to_internal = convert


def from_internal(value: float, unit: str, expect: str, *, name: str = "value",
                  molar_mass: float | None = None) -> float:
    """Express an internal value in ``unit`` (the inverse of :func:`convert`).

    Parameters
    ----------
    value : float
        The value in the internal unit of ``expect``.
    unit : str
        The unit wanted (same dimension as ``expect``; per-kg units are not
        allowed here).
    expect : str
        The named dimension of ``value``.
    """
    one = convert(1.0, unit, expect, name=name, molar_mass=molar_mass)
    return float(value) / one


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QTY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


def split_quantity(text: str, *, name: str = "value") -> tuple[float, str]:
    """Split ``"10 mg"`` into ``(10.0, "mg")``.

    Raises
    ------
    UnitError
        If the text does not start with a number.
    """
    m = _QTY.match(str(text))
    if not m:
        raise UnitError(f"{name}: cannot read {text!r} as a number followed by a unit "
                        f"(e.g. '10 mg', '2 weeks', '30 mL/min').")
    return float(m.group(1)), m.group(2)


def parse_quantity(text, expect: str, *, name: str = "value",
                   body_weight: float | str | None = None,
                   molar_mass: float | None = None,
                   minimum: float | None = None, allow_zero: bool = True,
                   default_unit: str | None = None) -> float:
    """Read a quantity such as ``"10 mg"`` or ``{value=10, unit="mg"}``.

    Parameters
    ----------
    text : str, Mapping or number
        ``"<number> <unit>"``; a mapping with ``value`` and ``unit`` keys (as
        in the drug library); or a bare number when the quantity is
        dimensionless or ``default_unit`` is given.
    expect : str
        Required named dimension (see :data:`DIMENSIONS`).
    name : str
        What the quantity is, for error messages (e.g. ``"treatments[0].dose"``).
    body_weight : float or str, optional
        Body weight (kg) for per-kg units.
    molar_mass : float, optional
        Molar mass (g/mol) for molar <-> mass conversions.
    minimum : float, optional
        Smallest allowed internal value (e.g. ``0`` for an amount).
    allow_zero : bool
        Whether exactly ``minimum`` is allowed.
    default_unit : str, optional
        Unit assumed for a bare number.

    Returns
    -------
    float
        The value in internal units.
    """
    if isinstance(text, Mapping):
        if "value" not in text:
            raise UnitError(f"{name}: a quantity table needs 'value' and 'unit' keys; got "
                            f"keys {sorted(text)}.")
        value = text["value"]
        unit = text.get("unit", default_unit if default_unit is not None else "1")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnitError(f"{name}: 'value' must be a number; got {value!r}.")
    elif isinstance(text, bool):
        raise UnitError(f"{name}: expected a quantity such as '10 mg'; got {text!r}.")
    elif isinstance(text, (int, float)):
        if expect != "dimensionless" and default_unit is None:
            raise UnitError(
                f"{name}: the number {text!r} has no unit; write it with one, e.g. "
                f"'{text} {INTERNAL_UNITS.get(expect, '')}' (allowed: {allowed_units(expect)}).")
        value, unit = float(text), (default_unit or "1")
    elif isinstance(text, str):
        value, unit = split_quantity(text, name=name)
        if unit == "":
            if expect != "dimensionless" and default_unit is None:
                raise UnitError(
                    f"{name}: {text!r} has no unit; write e.g. '{text.strip()} "
                    f"{INTERNAL_UNITS.get(expect, '')}' (allowed: {allowed_units(expect)}).")
            unit = default_unit or "1"
    else:
        raise UnitError(f"{name}: expected a quantity such as '10 mg'; got {type(text).__name__}.")
    x = convert(value, unit, expect, name=name, body_weight=body_weight, molar_mass=molar_mass)
    if not math.isfinite(x):
        raise NeurosimValueError(f"{name}: value must be finite; got {text!r}.")
    if minimum is not None and (x < minimum or (x == minimum and not allow_zero)):
        rel = ">=" if allow_zero else ">"
        raise NeurosimValueError(
            f"{name}: {text!r} is not allowed; it must be {rel} {minimum:g} "
            f"{INTERNAL_UNITS.get(expect, '')}.".replace(" .", "."))
    return x


_FREQ_WORDS = {
    "qd": 24.0, "od": 24.0, "daily": 24.0, "q24h": 24.0,
    "bid": 12.0, "tid": 8.0, "qid": 6.0,
    "weekly": HOURS_PER_WEEK, "qw": HOURS_PER_WEEK, "qwk": HOURS_PER_WEEK,
    "hourly": 1.0, "qh": 1.0,
}
_QINTERVAL = re.compile(rf"^q\s*({_NUMBER})\s*([A-Za-zµ]+)$")


def parse_interval(token: str, *, name: str = "interval") -> float:
    """Dosing interval in hours from a clinical token.

    Parameters
    ----------
    token : str
        ``q<number><time unit>`` (``q4h``, ``q12h``, ``q8w``, ``q3d``,
        ``q30min``), or one of ``qd``/``daily``, ``bid``, ``tid``, ``qid``,
        ``weekly``, ``hourly``; or a plain duration (``"12 h"``).

    Returns
    -------
    float
        The interval in hours (> 0).
    """
    t = str(token).strip()
    low = t.lower()
    if low in _FREQ_WORDS:
        return _FREQ_WORDS[low]
    m = _QINTERVAL.match(low)
    if m:
        value = float(m.group(1))
        unit = m.group(2)
        hours = convert(value, unit, "time", name=name)
    else:
        try:
            hours = parse_quantity(t, "time", name=name)
        except UnitError:
            raise UnitError(
                f"{name}: cannot read {token!r} as a dosing interval; write q<number><unit> "
                f"(q4h, q12h, q8w, q3d), qd, bid, tid, qid, weekly, or a duration ('12 h')."
            ) from None
    if not hours > 0:
        raise NeurosimValueError(f"{name}: the interval {token!r} must be longer than zero.")
    return hours


def format_duration(hours: float) -> str:
    """Short human-readable form of a duration given in hours (``"3 d"``)."""
    h = float(hours)
    for unit, size in (("week", HOURS_PER_WEEK), ("d", HOURS_PER_DAY), ("h", 1.0)):
        if h >= size and abs(h / size - round(h / size)) < 1e-9:
            n = round(h / size)
            if unit == "week":
                return f"{n} week" + ("s" if n != 1 else "")
            return f"{n} {unit}"
    if h < 1.0 and abs(h * 60 - round(h * 60)) < 1e-9:
        return f"{round(h * 60)} min"
    return f"{h:g} h"
