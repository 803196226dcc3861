"""Dosing regimens: records, a small mini-language, expansion, words.

A :class:`Regimen` is one line of a prescription in internal units (mg,
mg/h, hours). It expands into administrations (:class:`Administration`):
a bolus at a time, or a zero-order input (infusion, patch) switched on at
a time for a duration. The compiled drug block turns these into the dose
event table the solver applies as jumps (never smoothed).

Regimen mini-language
---------------------
One regimen is a line of whitespace-separated words::

    [drug] <amount> <unit> <route> [patch|infusion|bolus] [schedule...]

``amount unit``
    a dose (mass: ``10 mg``, ``500 ug``, ``1 g``, ``0.1 mg/kg``) or, for
    infusions and patches, a rate (``2 mg/h``, ``25 ug/h``, ``48 mg/d``).
``route``
    one of the drug's routes in the library (``po``, ``po_sr``, ``iv``,
    ``sc``, ``td``...).
``patch`` / ``infusion`` / ``bolus``
    optional words that make the form explicit (a rate unit or ``over``
    already means an infusion).

Schedule words, in any order:

``q<N><unit>`` (``q4h``, ``q12h``, ``q3d``, ``q8w``), ``qd``/``daily``, ``bid``, ``tid``, ``qid``, ``weekly``
    repeat every interval. Without one, the regimen is given once (or a
    rate runs continuously).
``x<N>``
    number of administrations (``x3``: three doses).
``over <duration>``
    give each dose as an infusion lasting ``duration`` (``over 30 min``).
``for <duration>``
    the regimen lasts ``duration`` from its start (the last dose starts
    before that); for a continuous rate, the infusion lasts that long.
``lasting <duration>``
    with a rate and an interval: each administration runs this long
    (``2 mg/h iv q24h lasting 12 h``).
``from <time>`` / ``until <time>``
    start and (exclusive) end. A time is a duration from the start of the
    simulation (``72 h``, ``3 d``) or ``day N`` / ``week N`` (day 0 is the
    first day, so ``from day 3`` starts at 72 h).

A rate with an interval (a patch) is worn for one interval unless ``for``
or ``over`` says otherwise. Examples::

    10 mg po q4h
    20 mg sc q8w x3
    25 ug/h td patch q72h
    1 g po q6h
    4 mg iv q24h x5 from day 3
    500 mg iv over 30 min q8h for 5 d
    morphine 2 mg/h iv from 12 h until day 4

:func:`parse_regimen` reads a line; :meth:`Regimen.to_text` writes the
canonical line back (``parse_regimen(r.to_text()) == r``);
:meth:`Regimen.describe` says it in words.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import ScenarioError, UnitError, NeurosimValueError, did_you_mean
from ..units import (
    HOURS_PER_DAY,
    HOURS_PER_WEEK,
    convert,
    parse_interval,
    parse_quantity,
    parse_unit,
    DIMENSIONS,
    format_duration,
)

__all__ = [
    "Regimen",
    "Administration",
    "TitrationPolicy",
    "RescuePolicy",
    "ProcedureSchedule",
    "parse_regimen",
    "regimen_from_dict",
    "mme_per_day",
    "ROUTE_WORDS",
]

#: Route names in words, for :meth:`Regimen.describe`.
ROUTE_WORDS = {
    "po": "by mouth",
    "po_sr": "by mouth as a sustained-release form",
    "iv": "intravenously",
    "sc": "subcutaneously",
    "im": "intramuscularly",
    "td": "through the skin (transdermal patch)",
    "sl": "under the tongue",
}

_FORM_WORDS = ("patch", "infusion", "bolus")
_KEYWORDS = ("x", "over", "for", "lasting", "from", "until", "once", "every") + _FORM_WORDS

#: Largest dose (mg) or rate (mg/h) accepted: far above any real one, it catches a
#: slipped exponent or unit before the solver meets an overflowing state.
MAX_DOSE_MG = 1.0e6

#: Most administrations, titration decisions or rescue checks one entry may make over a
#: simulation: beyond it the interval is surely a typo (each is a solver restart).
MAX_EVENTS = 1_000_000


def _check_event_count(first: float, every: float, stop: float, where: str, key: str) -> None:
    """Refuse an interval that would make more than :data:`MAX_EVENTS` events before ``stop``."""
    n = (stop - first) / every
    if n > MAX_EVENTS:
        raise ScenarioError(
            f"{where}: every {format_duration(every)} from {format_duration(first)} to "
            f"{format_duration(stop)} makes about {n:.3g} events; at most {MAX_EVENTS:,} are "
            "allowed (each restarts the solver). Lengthen the interval or shorten the span.",
            key=key)


@dataclass(frozen=True)
class Administration:
    """One administration: a bolus, or an input switched on for a while.

    Attributes
    ----------
    time : float
        Start (h).
    amount : float
        Bolus amount (mg); for an infusion, the total amount over
        ``duration`` (mg), or ``inf`` for an open-ended infusion.
    rate : float
        Infusion rate (mg/h); 0 for a bolus.
    duration : float
        Infusion duration (h); 0 for a bolus, ``inf`` if open-ended.
    drug, route : str
    """

    time: float
    amount: float
    rate: float
    duration: float
    drug: str
    route: str

    @property
    def is_infusion(self) -> bool:
        return self.rate > 0.0

    @property
    def end(self) -> float:
        return self.time + self.duration


@dataclass(frozen=True)
class Regimen:
    """A dosing regimen in internal units.

    Attributes
    ----------
    drug : str
        Drug name in the library ("" if not given in the text).
    route : str
        Route name of that drug.
    amount : float
        Dose per administration (mg), for a bolus or an infusion given
        ``over`` a duration; 0 when the regimen is a rate.
    rate : float
        Infusion or patch delivery rate (mg/h); 0 for doses.
    duration : float or None
        Duration of each infusion (h); 0 for a bolus; None for a rate that
        runs until the regimen ends (or, with an interval, for one
        interval).
    start : float
        Time of the first administration (h).
    interval : float or None
        Time between administrations (h); None for a single one (or a
        continuous rate).
    repeats : int or None
        Number of administrations; None = until ``until`` or the end of
        the simulation.
    until : float or None
        No administration starts at or after this time (h); a continuous
        rate stops here.
    form : str
        ``"bolus"``, ``"infusion"`` or ``"patch"`` (a patch is an infusion
        worn on the skin).
    text : str
        The line it was read from, if any (not compared).
    """

    drug: str
    route: str
    amount: float = 0.0
    rate: float = 0.0
    duration: float | None = 0.0
    start: float = 0.0
    interval: float | None = None
    repeats: int | None = None
    until: float | None = None
    form: str = "bolus"
    text: str = field(default="", compare=False)

    def __post_init__(self):
        where = f"regimen {self.text or self.to_text()!r}"
        if (self.amount > 0) == (self.rate > 0):
            raise ScenarioError(f"{where}: give either a dose (mg) or a rate (mg/h), not both "
                                "or neither.", key="regimen")
        for name in ("amount", "rate", "start"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ScenarioError(f"{where}: {name} must be a finite number >= 0; got {v!r}.",
                                    key="regimen")
        for name, unit in (("amount", "mg"), ("rate", "mg/h")):
            if getattr(self, name) > MAX_DOSE_MG:
                raise ScenarioError(f"{where}: {name} {getattr(self, name):g} {unit} is above "
                                    f"{MAX_DOSE_MG:,.0f} {unit} (a kilogram of drug); check "
                                    "the number and its unit.", key="regimen")
        if self.interval is not None and not (self.interval > 0 and math.isfinite(self.interval)):
            raise ScenarioError(f"{where}: the interval must be > 0; got {self.interval!r}.",
                                key="regimen")
        if self.repeats is not None and (not isinstance(self.repeats, int) or self.repeats < 1):
            raise ScenarioError(f"{where}: the number of administrations (x<N>) must be a whole "
                                f"number >= 1; got {self.repeats!r}.", key="regimen")
        if self.repeats is not None and self.repeats > 1 and self.interval is None:
            raise ScenarioError(f"{where}: x{self.repeats} needs an interval (e.g. q8h) to space "
                                "the doses.", key="regimen")
        if self.until is not None and self.until <= self.start:
            raise ScenarioError(f"{where}: 'until' ({format_duration(self.until)}) must come after "
                                f"the start ({format_duration(self.start)}).", key="regimen")
        if self.duration is not None and self.duration < 0:
            raise ScenarioError(f"{where}: the infusion duration must be >= 0.", key="regimen")
        if self.form not in _FORM_WORDS:
            raise ScenarioError(f"{where}: form must be one of {_FORM_WORDS}.", key="regimen")
        if self.form == "bolus" and (self.rate > 0 or (self.duration or 0) > 0):
            raise ScenarioError(f"{where}: a bolus has no rate or duration; write 'infusion' or "
                                "'over <duration>'.", key="regimen")

    # ------------------------------------------------------------------ expansion

    @property
    def is_infusion(self) -> bool:
        """True for a continuous infusion or a patch (a rate, not boluses)."""
        return self.form in ("infusion", "patch")

    def _each_duration(self) -> float:
        if self.form == "bolus":
            return 0.0
        if self.duration is not None:
            return self.duration
        if self.interval is not None:
            return self.interval
        return math.inf

    def administrations(self, t_end: float) -> list[Administration]:
        """The administrations that start before ``t_end`` (h).

        Open-ended infusions get ``duration = inf``; an infusion is cut at
        ``until`` when that comes first.
        """
        t_end = float(t_end)
        stop = t_end if self.until is None else min(t_end, self.until)
        if self.interval is not None and self.repeats is None:
            _check_event_count(self.start, self.interval, stop,
                               f"regimen {self.text or self.to_text()!r}", "regimen")
        dur = self._each_duration()
        out = []
        k = 0
        while True:
            if self.repeats is not None and k >= self.repeats:
                break
            t = self.start + k * (self.interval or 0.0)
            if t >= stop - 1e-9 * max(1.0, abs(stop)):
                break
            if self.form == "bolus":
                out.append(Administration(t, self.amount, 0.0, 0.0, self.drug, self.route))
            else:
                d = dur
                if self.until is not None:
                    d = min(d, self.until - t)
                rate = self.rate if self.rate > 0 else self.amount / d
                amount = rate * d if math.isfinite(d) else math.inf
                out.append(Administration(t, amount, rate, d, self.drug, self.route))
            if self.interval is None:
                break
            k += 1
        return out

    # ------------------------------------------------------------------ words

    def to_text(self) -> str:
        """The canonical mini-language line (round-trips through :func:`parse_regimen`)."""
        parts = [self.drug] if self.drug else []
        if self.rate > 0:
            parts += [_num(self.rate), "mg/h", self.route]
        else:
            parts += [_num(self.amount), "mg", self.route]
        if self.form == "patch":
            parts.append("patch")
        elif self.form == "infusion" and self.rate > 0:
            parts.append("infusion")
        if self.form != "bolus" and self.duration is not None:
            if self.rate == 0:
                parts += ["over", _num(self.duration), "h"]
            elif self.interval is None:
                parts += ["for", _num(self.duration), "h"]
            else:
                parts += ["lasting", _num(self.duration), "h"]
        if self.interval is not None:
            parts.append(_interval_token(self.interval))
        if self.repeats is not None:
            parts.append(f"x{self.repeats}")
        if self.start:
            parts += ["from", _num(self.start), "h"]
        if self.until is not None:
            parts += ["until", _num(self.until), "h"]
        return " ".join(parts)

    def describe(self) -> str:
        """The regimen in words, for people (and the scenario summary)."""
        how = ROUTE_WORDS.get(self.route, f"by the {self.route} route")
        who = f"{self.drug} " if self.drug else ""
        if self.rate > 0:
            what = f"{who}{_mass_words(self.rate)}/h {how}"
            if self.form == "patch":
                what = f"{who}patch delivering {_mass_words(self.rate)}/h {how.split(' (')[0]}"
        else:
            what = f"{who}{_mass_words(self.amount)} {how}"
            if self.form == "infusion":
                what += f" infused over {format_duration(self.duration)}"
        if self.interval is None:
            if self.rate > 0:
                when = "as a continuous infusion"
                if self.duration is not None:
                    when += f" for {format_duration(self.duration)}"
            else:
                when = "once"
        else:
            when = ("every day" if self.interval == HOURS_PER_DAY
                    else f"every {format_duration(self.interval)}")
            if self.rate > 0 and self.duration is not None:
                when += f", each for {format_duration(self.duration)}"
        text = f"{what} {when}"
        if self.repeats is not None and self.interval is not None:
            text += f", {self.repeats} time" + ("s" if self.repeats != 1 else "")
        text += f", starting at {format_duration(self.start)}" if self.start else ", starting at 0 h"
        if self.until is not None:
            text += f", until {format_duration(self.until)}"
        elif self.interval is not None and self.repeats is None or (
                self.rate > 0 and self.duration is None and self.interval is None):
            text += ", until the end of the simulation"
        return text

    def mme_per_day(self, mme_per_mg: float) -> float:
        """Morphine milligram equivalents per day while the regimen runs.

        Parameters
        ----------
        mme_per_mg : float
            MME per mg by this regimen's route (from the library).
        """
        if self.rate > 0:
            dur = self._each_duration()
            frac = 1.0 if self.interval is None else min(1.0, dur / self.interval)
            return self.rate * HOURS_PER_DAY * frac * mme_per_mg
        per = self.amount * mme_per_mg
        if self.interval is None:
            return per
        return per * HOURS_PER_DAY / self.interval


def _interval_token(hours: float) -> str:
    for size, unit in ((HOURS_PER_WEEK, "w"), (HOURS_PER_DAY, "d")):
        n = hours / size
        if n >= 1 and n == int(n):
            return f"q{int(n)}{unit}"
    return f"q{_num(hours)}h"


def _num(x: float) -> str:
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def _mass_words(mg: float) -> str:
    if mg >= 1000 and abs(mg / 1000 - round(mg / 1000, 6)) < 1e-9:
        return f"{mg / 1000:g} g"
    if mg < 1:
        return f"{mg * 1000:g} ug"
    return f"{mg:g} mg"


# --------------------------------------------------------------------------- parser

_Q = re.compile(r"^q(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)([a-zµ]+)$")
_X = re.compile(r"^x(\d+)$")
_NUM = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_NUM_UNIT = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([A-Za-zµμ%/^*.\-0-9]+)$")
_INTERVAL_WORDS = ("qd", "od", "daily", "bid", "tid", "qid", "weekly", "qw", "qwk", "hourly",
                   "qh")


class _Tokens:
    def __init__(self, text: str, where: str):
        self.toks = text.split()
        self.i = 0
        self.where = where

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what="a word"):
        t = self.peek()
        if t is None:
            raise self.error(f"the line ends where {what} was expected")
        self.i += 1
        return t

    def error(self, msg):
        msg = msg.rstrip(".")
        return ScenarioError(f"{self.where}: {msg}. Write e.g. '10 mg po q4h', '20 mg sc q8w x3', "
                             "'25 ug/h td patch q72h' (grammar: docs/drugs.md).", key="regimen")


def _read_number_unit(tk: _Tokens, what: str) -> tuple[float, str, str]:
    """Read ``10 mg`` or ``10mg``; returns (value, unit, text)."""
    t = tk.next(what)
    m = _NUM_UNIT.match(t)
    if m and not _NUM.match(t):
        return float(m.group(1)), m.group(2), t
    if _NUM.match(t):
        u = tk.next(f"the unit of {what}")
        return float(t), u, f"{t} {u}"
    raise tk.error(f"expected {what} (a number and a unit), got {t!r}")


def _read_time(tk: _Tokens, what: str) -> float:
    """A time: ``72 h``, ``3d``, ``day 3``, ``week 2``."""
    t = tk.peek()
    if t is not None and t.lower() in ("day", "week", "d", "h", "hour", "wk"):
        unit = t.lower()
        tk.next()
        n = tk.next(f"the number after {unit!r}")
        if not _NUM.match(n):
            raise tk.error(f"expected a number after {unit!r} in {what}, got {n!r}")
        size = {"day": HOURS_PER_DAY, "d": HOURS_PER_DAY, "week": HOURS_PER_WEEK,
                "wk": HOURS_PER_WEEK, "h": 1.0, "hour": 1.0}[unit]
        return float(n) * size
    value, unit, text = _read_number_unit(tk, what)
    try:
        return convert(value, unit, "time", name=f"{tk.where}: {what}")
    except UnitError as exc:
        raise ScenarioError(str(exc), key="regimen") from None


def parse_regimen(text: str, *, drug: str | None = None, body_weight: float | None = None,
                  known_drugs=None) -> Regimen:
    """Read a regimen line of the mini-language (see the module docstring).

    Parameters
    ----------
    text : str
        E.g. ``"10 mg po q4h"`` or ``"morphine 10 mg po q4h"``.
    drug : str, optional
        Drug name when the line does not start with one.
    body_weight : float, optional
        Body weight (kg), for per-kg doses (``0.1 mg/kg``).
    known_drugs : iterable of str, optional
        Names accepted as the leading drug word (for did-you-mean errors).

    Returns
    -------
    Regimen

    Raises
    ------
    ScenarioError
        With the line, what was wrong and an example of the right form.
    """
    if not isinstance(text, str) or not text.strip():
        raise ScenarioError(f"a regimen must be a non-empty string such as '10 mg po q4h'; got "
                            f"{text!r}.", key="regimen")
    where = f"regimen {text.strip()!r}"
    tk = _Tokens(text.strip(), where)
    first = tk.peek()
    if not (_NUM.match(first) or _NUM_UNIT.match(first)):
        tk.next()
        if first.startswith("-") and _NUM.match(first[1:] or "x"):
            raise tk.error(f"the amount {first!r} is negative")
        if known_drugs is not None and first not in known_drugs:
            raise ScenarioError(f"{where}: unknown drug {first!r}." + did_you_mean(first, known_drugs)
                                + f" Known drugs: {', '.join(known_drugs)}.", key="regimen")
        if drug is not None and drug != first:
            raise ScenarioError(f"{where}: starts with {first!r}, which is neither a dose (a "
                                f"number with its unit, e.g. '5 mg po') nor the entry's drug "
                                f"{drug!r}.", key="regimen")
        drug = first
    value, unit, qtext = _read_number_unit(tk, "the dose")
    if value < 0:
        raise ScenarioError(f"{where}: the dose {qtext!r} is negative; doses must be > 0.",
                            key="regimen")
    if value == 0:
        raise ScenarioError(f"{where}: the dose {qtext!r} is zero; remove the regimen instead.",
                            key="regimen")
    try:
        dims = parse_unit(unit).dims
    except UnitError as exc:
        raise ScenarioError(f"{where}: {exc}", key="regimen") from None
    is_rate = dims in (DIMENSIONS["dose_rate"], (0, 0, -1, 0))  # mg/h or mg/kg/h
    try:
        if is_rate:
            rate = convert(value, unit, "dose_rate", name=f"{where}: dose rate",
                           body_weight=body_weight)
            amount = 0.0
        else:
            amount = convert(value, unit, "mass", name=f"{where}: dose", body_weight=body_weight)
            rate = 0.0
    except UnitError as exc:
        raise ScenarioError(str(exc) + " A dose is a mass (mg, ug, g, mg/kg) or, for an "
                            "infusion or patch, a rate (mg/h, ug/h).", key="regimen") from None
    route = tk.next("the route (po, iv, sc, td, ...)")
    if _NUM.match(route) or route in _KEYWORDS or _Q.match(route) or route in _INTERVAL_WORDS:
        raise tk.error(f"expected the route after the dose, got {route!r}")
    form = "infusion" if is_rate else "bolus"
    explicit_form = None
    interval = repeats = until = None
    start = 0.0
    duration = None
    each_for = None
    total_for = None
    while tk.peek() is not None:
        w = tk.next()
        lw = w.lower()
        if lw in _FORM_WORDS:
            explicit_form = lw
        elif lw == "once":
            repeats = 1
        elif lw in _INTERVAL_WORDS or _Q.match(lw):
            if interval is not None:
                raise tk.error(f"two intervals ({format_duration(interval)} and {w!r})")
            try:
                interval = parse_interval(lw, name=f"{where}: interval")
            except (UnitError, NeurosimValueError) as exc:
                raise ScenarioError(str(exc), key="regimen") from None
        elif lw == "every":
            interval = _read_time(tk, "the interval")
        elif _X.match(lw):
            repeats = int(_X.match(lw).group(1))
            if repeats < 1:
                raise tk.error("x<N> needs N >= 1")
        elif lw == "over":
            duration = _read_time(tk, "the infusion duration")
            if duration <= 0:
                raise tk.error("the infusion duration after 'over' must be > 0")
        elif lw == "lasting":
            each_for = _read_time(tk, "the duration of each infusion")
            if each_for <= 0:
                raise tk.error("the duration after 'lasting' must be > 0")
        elif lw == "for":
            total_for = _read_time(tk, "the regimen's duration")
            if total_for <= 0:
                raise tk.error("the duration after 'for' must be > 0")
        elif lw == "from":
            start = _read_time(tk, "the start time")
        elif lw == "until":
            until = _read_time(tk, "the end time")
        elif _NUM.match(w):
            raise tk.error(f"a number {w!r} without a keyword before it (over, for, from, until)")
        elif lw == "x":
            raise tk.error("'x' needs the number of doses right after it, as in 'x3'")
        else:
            hint = did_you_mean(lw, [k for k in list(_KEYWORDS) + list(_INTERVAL_WORDS)
                                     + ["q4h", "x3"] if k != lw]).strip()
            raise tk.error(f"unknown word {w!r}" + (f" ({hint.rstrip('?')}?)" if hint else ""))
    if each_for is not None and not (is_rate and interval is not None):
        raise tk.error("'lasting <duration>' sets how long each of repeated rate "
                       "administrations runs; it needs a rate and an interval")
    if explicit_form == "bolus" and (is_rate or duration is not None):
        raise tk.error("'bolus' contradicts a rate or 'over'")
    if explicit_form in ("patch", "infusion") and not is_rate and duration is None:
        raise tk.error(f"'{explicit_form}' needs a rate (e.g. 25 ug/h) or 'over <duration>'")
    if duration is not None:
        if is_rate:
            raise tk.error("'over' spreads a dose; with a rate use 'for <duration>'")
        form = "infusion"
    if explicit_form in ("patch", "infusion"):
        form = explicit_form
    if each_for is not None:
        duration = each_for
    if total_for is not None:
        end = start + total_for
        if until is not None and abs(until - end) > 1e-9:
            raise tk.error("both 'for' and 'until' given, and they disagree")
        if is_rate and interval is None:
            duration = total_for
        else:
            until = end
    if form == "bolus":
        duration = 0.0
    if is_rate and interval is None and until is not None:
        # A continuous rate: its end is its duration.
        if duration is not None and abs(duration - (until - start)) > 1e-9:
            raise tk.error("both 'for' and 'until' given, and they disagree")
        duration = until - start
        until = None
    if duration is not None and interval is not None and form != "bolus" and duration > interval:
        raise ScenarioError(f"{where}: each infusion lasts {format_duration(duration)}, longer "
                            f"than the interval {format_duration(interval)}, so they would "
                            "overlap; shorten 'over'/'for' or lengthen the interval.",
                            key="regimen")
    return Regimen(drug=drug or "", route=route, amount=amount, rate=rate, duration=duration,
                   start=start, interval=interval, repeats=repeats, until=until, form=form,
                   text=text.strip())


def regimen_from_dict(entry: Mapping, *, body_weight: float | None = None,
                      key: str = "regimen", known_drugs=None) -> Regimen:
    """A regimen from a scenario table.

    Accepted forms: ``{drug = "morphine", regimen = "10 mg po q4h"}`` or
    the explicit record ``{drug, route, dose | rate, interval, repeats,
    start, until, duration}`` with quantity strings (``dose = "10 mg"``,
    ``interval = "4 h"``).
    """
    if not isinstance(entry, Mapping):
        raise ScenarioError(f"a treatment entry must be a table; got {entry!r}.", key=key)
    allowed = ("drug", "regimen", "route", "dose", "rate", "interval", "repeats", "start",
               "until", "duration", "form")
    for k in entry:
        if k not in allowed:
            raise ScenarioError(f"unknown key {k!r}." + did_you_mean(k, allowed)
                                + f" Allowed: {', '.join(allowed)}.", key=f"{key}.{k}")
    drug = entry.get("drug")
    if known_drugs is not None and drug is not None and drug not in known_drugs:
        raise ScenarioError(f"unknown drug {drug!r}." + did_you_mean(str(drug), known_drugs)
                            + f" Known drugs: {', '.join(known_drugs)}.", key=f"{key}.drug")
    if "regimen" in entry:
        extra = [k for k in entry if k not in ("drug", "regimen")]
        if extra:
            raise ScenarioError(f"give either 'regimen' or the explicit keys, not both (found "
                                f"{', '.join(extra)}).", key=key)
        try:
            return parse_regimen(entry["regimen"], drug=drug, body_weight=body_weight,
                                 known_drugs=known_drugs)
        except ScenarioError as exc:
            raise ScenarioError(str(exc).replace("[regimen] ", ""), key=f"{key}.regimen") from None
    if drug is None or "route" not in entry:
        raise ScenarioError("a treatment needs 'drug' and 'route' (or 'regimen').", key=key)

    def q(name, dim, **kw):
        if name not in entry:
            return None
        try:
            return parse_quantity(entry[name], dim, name=name, body_weight=body_weight, **kw)
        except NeurosimValueError as exc:
            raise ScenarioError(str(exc), key=f"{key}.{name}") from None

    dose = q("dose", "mass", minimum=0.0, allow_zero=False)
    rate = q("rate", "dose_rate", minimum=0.0, allow_zero=False)
    if (dose is None) == (rate is None):
        raise ScenarioError("give exactly one of 'dose' (e.g. \"10 mg\") and 'rate' (e.g. "
                            "\"2 mg/h\").", key=key)
    interval = None
    if "interval" in entry:
        try:
            interval = parse_interval(entry["interval"], name=f"{key}.interval")
        except (UnitError, NeurosimValueError) as exc:
            raise ScenarioError(str(exc), key=f"{key}.interval") from None
    repeats = entry.get("repeats")
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int)):
        raise ScenarioError(f"repeats must be a whole number; got {repeats!r}.",
                            key=f"{key}.repeats")
    duration = q("duration", "time", minimum=0.0)
    form = entry.get("form")
    if form is None:
        form = "infusion" if (rate is not None or (duration or 0) > 0) else "bolus"
    return Regimen(drug=drug, route=entry["route"], amount=dose or 0.0, rate=rate or 0.0,
                   duration=(0.0 if form == "bolus" else duration), start=q("start", "time",
                                                                          minimum=0.0) or 0.0,
                   interval=interval, repeats=repeats, until=q("until", "time", minimum=0.0),
                   form=form, text="")


# --------------------------------------------------------------------------- policies


def _read_time_value(value, name, default=None):
    if value is None:
        return default
    try:
        return parse_quantity(value, "time", name=name.rsplit(".", 1)[-1], minimum=0.0)
    except NeurosimValueError as exc:
        raise ScenarioError(str(exc), key=name) from None


@dataclass(frozen=True)
class TitrationPolicy:
    """Opioid titration at decision times, as palliative care does it.

    At each decision time the dose hook reads the NRS: above
    ``target_nrs`` (for ``consecutive`` decisions in a row) the drug's dose
    multiplier grows by ``step`` (by ``severe_step`` at or above
    ``severe_nrs``), up to ``max_multiplier``. Scheduled doses, infusion
    rates and rescue doses of the drug are all scaled by the multiplier.
    Defaults follow the palliative-care rule (Fast Fact #20): +25-50 % for
    mild-moderate pain, +50-100 % for moderate-severe pain; the lower ends
    are used.

    Attributes
    ----------
    drug : str
    every : float
        Time between decisions (h).
    start : float
        First decision (h).
    until : float or None
        No decisions at or after this time (h).
    target_nrs, severe_nrs : float
        NRS thresholds (0-10).
    step, severe_step : float
        Fractional dose increases.
    max_multiplier : float
        Cap on the multiplier (>= 1).
    consecutive : int
        Decisions in a row above target needed to raise the dose.
    """

    drug: str
    every: float = 24.0
    start: float = 24.0
    until: float | None = None
    target_nrs: float = 4.0
    step: float = 0.25
    severe_nrs: float = 7.0
    severe_step: float = 0.5
    max_multiplier: float = 10.0
    consecutive: int = 1

    def __post_init__(self):
        if not (self.every > 0 and math.isfinite(self.every)):
            raise ScenarioError("titration: 'every' must be a finite time > 0.",
                                key="titration.every")
        if not (0 <= self.target_nrs <= 10 and 0 <= self.severe_nrs <= 10):
            raise ScenarioError("titration: NRS thresholds must lie in 0-10.", key="titration")
        for name in ("step", "severe_step"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= 10):
                raise ScenarioError(f"titration: {name} must be a fraction from 0 to 10 (e.g. "
                                    f"0.25 for +25 %); got {v!r}.", key=f"titration.{name}")
        if not (1 <= self.max_multiplier <= 1000):
            raise ScenarioError("titration: max_multiplier must be from 1 to 1000; got "
                                f"{self.max_multiplier!r}.", key="titration.max_multiplier")
        if not isinstance(self.consecutive, int) or self.consecutive < 1:
            raise ScenarioError("titration: consecutive must be a whole number >= 1.",
                                key="titration.consecutive")

    def decision_times(self, t_end: float) -> list[float]:
        stop = t_end if self.until is None else min(t_end, self.until)
        _check_event_count(self.start, self.every, stop, f"titration of {self.drug}",
                           "titration.every")
        n = int(math.floor((stop - self.start) / self.every + 1e-9)) + 1
        return [self.start + k * self.every for k in range(max(n, 0))
                if self.start + k * self.every < stop - 1e-9]

    @classmethod
    def from_dict(cls, d: Mapping, key: str = "titration") -> "TitrationPolicy":
        allowed = ("drug", "every", "start", "until", "target_nrs", "step", "severe_nrs",
                   "severe_step", "max_multiplier", "consecutive")
        _reject_unknown(d, allowed, key)
        if "drug" not in d:
            raise ScenarioError("titration needs 'drug'.", key=key)
        kw = {k: _number(d, k, key) for k in ("target_nrs", "step", "severe_nrs", "severe_step",
                                              "max_multiplier") if k in d}
        if "consecutive" in d:
            c = d["consecutive"]
            if isinstance(c, bool) or not isinstance(c, int):
                raise ScenarioError(f"consecutive must be a whole number >= 1; got {c!r}.",
                                    key=f"{key}.consecutive")
            kw["consecutive"] = c
        return cls(drug=_drug_name(d, key), every=_read_time_value(d.get("every"), f"{key}.every", 24.0),
                   start=_read_time_value(d.get("start"), f"{key}.start", 24.0),
                   until=_read_time_value(d.get("until"), f"{key}.until"), **kw)


@dataclass(frozen=True)
class RescuePolicy:
    """Rescue (breakthrough) doses given when the NRS is high.

    Every ``check_every`` hours the dose hook reads the NRS; at or above
    ``threshold_nrs``, and at least ``min_interval`` after the previous
    rescue dose, it gives ``amount`` (mg) of ``drug`` by ``route`` (scaled
    by the drug's titration multiplier, if any).
    """

    drug: str
    route: str
    amount: float
    threshold_nrs: float = 6.0
    check_every: float = 1.0
    min_interval: float = 1.0
    start: float = 0.0
    until: float | None = None

    def __post_init__(self):
        if not self.amount > 0:
            raise ScenarioError("rescue: the dose must be > 0 mg.", key="rescue.dose")
        if not (self.check_every > 0 and math.isfinite(self.check_every)):
            raise ScenarioError("rescue: check_every must be a finite time > 0.",
                                key="rescue.check_every")
        if not 0 <= self.threshold_nrs <= 10:
            raise ScenarioError(f"rescue: threshold_nrs must lie in 0-10; got "
                                f"{self.threshold_nrs!r}.", key="rescue.threshold_nrs")
        if not (self.min_interval >= 0 and math.isfinite(self.min_interval)):
            raise ScenarioError("rescue: min_interval must be a finite time >= 0.",
                                key="rescue.min_interval")

    def check_times(self, t_end: float) -> list[float]:
        stop = t_end if self.until is None else min(t_end, self.until)
        _check_event_count(self.start, self.check_every, stop, f"rescue {self.drug}",
                           "rescue.check_every")
        out, k = [], 0
        while self.start + k * self.check_every < stop - 1e-9:
            out.append(self.start + k * self.check_every)
            k += 1
        return out

    @classmethod
    def from_dict(cls, d: Mapping, key: str = "rescue", body_weight=None) -> "RescuePolicy":
        allowed = ("drug", "dose", "threshold_nrs", "check_every", "min_interval", "start",
                   "until")
        _reject_unknown(d, allowed, key)
        if "drug" not in d or "dose" not in d:
            raise ScenarioError("rescue needs 'drug' and 'dose' (e.g. dose = \"5 mg po\").",
                                key=key)
        words = str(d["dose"]).split()
        if len(words) < 2:
            raise ScenarioError("rescue dose must be '<amount> <unit> <route>', e.g. '5 mg po'.",
                                key=f"{key}.dose")
        drug = _drug_name(d, key)
        r = parse_regimen(str(d["dose"]), drug=drug, body_weight=body_weight)
        if r.form != "bolus" or r.interval is not None:
            raise ScenarioError("a rescue dose is a single bolus such as '5 mg po'.",
                                key=f"{key}.dose")
        return cls(drug=drug, route=r.route, amount=r.amount,
                   threshold_nrs=_number(d, "threshold_nrs", key, 6.0),
                   check_every=_read_time_value(d.get("check_every"), f"{key}.check_every", 1.0),
                   min_interval=_read_time_value(d.get("min_interval"), f"{key}.min_interval",
                                                 1.0),
                   start=_read_time_value(d.get("start"), f"{key}.start", 0.0),
                   until=_read_time_value(d.get("until"), f"{key}.until"))


@dataclass(frozen=True)
class ProcedureSchedule:
    """When a procedure happens.

    A nerve block is performed at ``start`` (``stop`` must be None); a
    stimulator is switched on at ``start`` and off at ``stop`` (None: on
    until the end).
    """

    procedure: str
    start: float
    stop: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping, key: str = "procedure") -> "ProcedureSchedule":
        _reject_unknown(d, ("procedure", "at", "start", "until"), key)
        if "procedure" not in d:
            raise ScenarioError("a procedure entry needs 'procedure'.", key=key)
        at = d.get("at", d.get("start"))
        if at is None:
            raise ScenarioError("a procedure entry needs 'at' (e.g. at = \"10 d\").", key=key)
        if not isinstance(d["procedure"], str):
            raise ScenarioError(f"procedure must be a procedure name (a string); got "
                                f"{d['procedure']!r}.", key=f"{key}.procedure")
        return cls(d["procedure"], _read_time_value(at, f"{key}.at"),
                   _read_time_value(d.get("until"), f"{key}.until"))


def _number(d: Mapping, name: str, key: str, default=None):
    """``d[name]`` as a float (or ``default`` when absent); a clear error otherwise."""
    if name not in d:
        return default
    v = d[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"{name} must be a number; got {v!r}.", key=f"{key}.{name}")
    return float(v)


def _drug_name(d: Mapping, key: str) -> str:
    v = d["drug"]
    if not isinstance(v, str) or not v.strip():
        raise ScenarioError(f"drug must be a drug name from the library (a string); got {v!r}.",
                            key=f"{key}.drug")
    return v


def _reject_unknown(d, allowed, key):
    if not isinstance(d, Mapping):
        raise ScenarioError(f"expected a table; got {d!r}.", key=key)
    for k in d:
        if k not in allowed:
            raise ScenarioError(f"unknown key {k!r}." + did_you_mean(k, allowed)
                                + f" Allowed: {', '.join(allowed)}.", key=f"{key}.{k}")


# --------------------------------------------------------------------------- MME


def mme_per_day(administrations, mme_per_mg: Mapping, t_end: float) -> list[float]:
    """Daily morphine milligram equivalents from administrations.

    Parameters
    ----------
    administrations : iterable of Administration
        E.g. from :meth:`Regimen.administrations`.
    mme_per_mg : mapping (drug, route) -> float
        MME per mg by drug and route (from the library).
    t_end : float
        End of the period (h); one value per started day.

    Returns
    -------
    list of float
        MME given in each day ``[24 k, 24 (k + 1))`` (mg morphine equivalent).
        Infusions are split across days by the time they run.
    """
    n_days = int(math.ceil(t_end / HOURS_PER_DAY - 1e-12))
    out = [0.0] * n_days
    for a in administrations:
        f = mme_per_mg.get((a.drug, a.route), 0.0)
        if f == 0.0:
            continue
        if not a.is_infusion:
            k = int(a.time // HOURS_PER_DAY)
            if 0 <= k < n_days:
                out[k] += a.amount * f
            continue
        t0, t1 = a.time, min(a.end, t_end)
        for k in range(int(t0 // HOURS_PER_DAY), n_days):
            lo, hi = max(t0, k * HOURS_PER_DAY), min(t1, (k + 1) * HOURS_PER_DAY)
            if hi <= lo:
                if lo >= t1:
                    break
                continue
            out[k] += a.rate * (hi - lo) * f
    return out
