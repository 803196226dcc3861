"""Jupyter explorer: sliders for the patient and the treatments, live pain plots.

::

    from neurosim.notebook import explore
    ex = explore()                  # shows the widget; ex.result is the last simulation
    ex.set(drug1="tanezumab")       # change controls from code (one redraw)
    ex.scenario.text                # the current settings as a scenario file

The explorer simulates one patient (the default patient, moved by the
patient sliders) through the scenario timeline of ``docs/scenarios.md``:
untreated from diagnosis until pain first reaches NRS 4, then treated for
the chosen number of weeks. It draws the NRS with and without the
treatments and the four mechanistic components of pain, and tabulates the
scenario metrics.

Design
------
* **Only the treated part is re-solved.** The untreated natural history up
  to treatment start depends on the patient, not on the treatments, so it
  is kept per patient setting (``simulate_scenario(history_cache=...)``);
  the untreated reference course drawn for comparison is kept the same way.
  A change of drug, dose, interval or start re-solves only the treated
  weeks.
* **One redraw per change.** Sliders report on release
  (``continuous_update=False``) and changes that arrive within
  ``debounce`` seconds of each other are merged into one simulation.
* **No pyplot state.** The figure is a :class:`matplotlib.figure.Figure`
  drawn by the Agg canvas; its lines are updated in place and the picture is
  sent to an :class:`ipywidgets.Image` as PNG, so the explorer works with
  any notebook front end and any matplotlib backend (``%matplotlib widget``
  is not needed).
* **Bad input is a message, not a traceback.** Every change is checked
  first (:meth:`Explorer.check`): a dose outside the range offered for the
  drug, an interval the drug is not given at, a daily dose above the cap of
  the liver state, a start after the end, a patient value outside the
  parameter table's plausible range. Problems (and any error of the
  scenario layer) are shown in the status line, and the plot keeps the last
  valid settings.

The redraw latency (simulate + draw) is recorded for every update
(:attr:`Explorer.timings`) and measured by ``benchmarks/bench_explorer.py``.
"""
from __future__ import annotations

import html
import inspect
import io
import math
import time
from dataclasses import dataclass

import numpy as np

from .errors import NeurosimError, NeurosimKeyError, did_you_mean, require
from .units import HOURS_PER_DAY, HOURS_PER_WEEK

__all__ = ["Explorer", "explore", "DosingRange", "DOSING", "PATIENT_CONTROLS",
           "PatientControl", "INTERVALS"]

#: Dosing intervals offered by the interval picker: hours -> words.
INTERVALS = {4.0: "every 4 h", 6.0: "every 6 h", 8.0: "every 8 h", 12.0: "every 12 h",
             24.0: "daily", 48.0: "every 2 days", 72.0: "every 3 days", 168.0: "weekly",
             336.0: "every 2 weeks", 672.0: "every 4 weeks", 1344.0: "every 8 weeks",
             2016.0: "every 12 weeks"}


@dataclass(frozen=True)
class DosingRange:
    """How the explorer offers one drug: route, dose unit, usual doses and intervals.

    These are the bounds of the explorer's controls, chosen from usual adult
    dosing; they are not dosing advice. A dose outside ``[low, high]`` or an
    interval not in ``intervals`` is reported instead of simulated.

    Attributes
    ----------
    drug, route : str
        Library drug and route (``docs/drugs.md``).
    label : str
        What the drug picker shows.
    dose : float
        Default dose per administration, in ``unit``.
    low, high : float
        Range of doses accepted, in ``unit``.
    intervals : tuple of float
        Intervals (h) the drug is given at.
    interval : float
        Default interval (h).
    unit : str
        ``"mg"`` per administration, or a rate such as ``"ug/h"`` for a patch.
    form : str
        ``""`` for doses, ``"patch"`` for a transdermal patch worn for one
        interval.
    over : float
        Each dose given as an infusion of this many hours (0: a bolus).
    """

    drug: str
    route: str
    label: str
    dose: float
    low: float
    high: float
    intervals: tuple
    interval: float
    unit: str = "mg"
    form: str = ""
    over: float = 0.0

    def regimen(self, dose: float, interval: float, start_day: float) -> str:
        """The regimen line of the mini-language (``docs/drugs.md`` section 4)."""
        form = f" {self.form}" if self.form else ""
        over = f" over {self.over:.6g} h" if self.over > 0 else ""
        return (f"{self.drug} {dose:.6g} {self.unit} {self.route}{form}{over} "
                f"every {interval:.6g} h from day {start_day:.6g}")

    def mg_per_day(self, dose: float, interval: float) -> float:
        """Mass given per day at this dose and interval (mg)."""
        if self.unit == "mg":
            return dose * HOURS_PER_DAY / interval
        from .units import convert

        return convert(dose, self.unit, "dose_rate", name="dose") * HOURS_PER_DAY


#: The drugs offered by the explorer, by picker key.
DOSING: dict[str, DosingRange] = {k: d for k, d in (
    ("morphine", DosingRange("morphine", "po", "morphine by mouth", 10, 2.5, 200, (4.0, 6.0),
                             4.0)),
    ("morphine_sr", DosingRange("morphine", "po_sr", "morphine by mouth, slow release", 30, 10,
                                400, (12.0, 24.0), 12.0)),
    ("oxycodone", DosingRange("oxycodone", "po", "oxycodone by mouth", 10, 2.5, 120,
                              (4.0, 6.0), 6.0)),
    ("hydromorphone", DosingRange("hydromorphone", "po", "hydromorphone by mouth", 2, 1, 32,
                                  (4.0, 6.0), 4.0)),
    ("fentanyl_patch", DosingRange("fentanyl", "td", "fentanyl patch", 25, 12, 300,
                                   (48.0, 72.0), 72.0, unit="ug/h", form="patch")),
    ("tanezumab", DosingRange("tanezumab", "sc", "tanezumab (anti-NGF) under the skin", 20, 2.5,
                              20, (672.0, 1344.0, 2016.0), 1344.0)),
    ("tocilizumab", DosingRange("tocilizumab", "sc", "tocilizumab (anti-IL-6R) under the skin",
                                162, 81, 324, (168.0, 336.0), 168.0)),
    ("adalimumab", DosingRange("adalimumab", "sc", "adalimumab (anti-TNF) under the skin", 40, 20,
                               80, (168.0, 336.0), 336.0)),
    ("celecoxib", DosingRange("celecoxib", "po", "celecoxib (NSAID) by mouth", 200, 100, 400,
                              (12.0, 24.0), 12.0)),
    ("dexamethasone", DosingRange("dexamethasone", "po", "dexamethasone by mouth", 4, 1, 16,
                                  (12.0, 24.0), 24.0)),
    ("paracetamol", DosingRange("paracetamol", "po", "paracetamol by mouth", 1000, 325, 1000,
                                (4.0, 6.0, 8.0), 6.0)),
)}


@dataclass(frozen=True)
class PatientControl:
    """A patient slider: one disease-model parameter, shown in a friendlier unit.

    The slider's bounds are the parameter table's plausible range, so they
    follow the table when it is recalibrated.
    """

    key: str
    parameter: str
    label: str
    unit: str          # shown unit
    scale: float       # shown value = table value * scale
    log: bool = False

    def row(self):
        """The parameter table's row of the slider's parameter."""
        from .model.parameters import PARAMETERS

        return PARAMETERS[self.parameter]

    def shown(self, table_value: float) -> float:
        """A table value in the slider's unit."""
        return table_value * self.scale

    def table(self, shown_value: float) -> float:
        """A slider value in the table's unit."""
        return shown_value / self.scale


#: The patient sliders: tumor growth, inflammation, NGF.
PATIENT_CONTROLS = (
    PatientControl("doubling_time", "tumor_doubling_time", "tumor doubling time", "d",
                   1.0 / HOURS_PER_DAY, log=True),
    PatientControl("liver_inflammation", "liver_inflammation", "liver inflammation", "", 1.0),
    PatientControl("tumor_inflammation", "macrophage_recruitment_tumor",
                   "tumor inflammation (CCL2)", "1/mL", 1.0),
    PatientControl("tumor_ngf", "ngf_per_tumor_volume", "tumor NGF", "pg/mL per mL", 1.0),
)

_ROUTE_WORDS = {"po": "by mouth", "po_sr": "by mouth, slow release", "iv": "intravenous",
                "sc": "under the skin", "td": "patch"}
_LIVERS = (("healthy liver", "healthy"), ("Child-Pugh A", "child_pugh_a"),
           ("Child-Pugh B", "child_pugh_b"), ("Child-Pugh C", "child_pugh_c"))
_PROCEDURES = (("no procedure", "none"), ("celiac plexus block", "celiac_plexus_neurolysis"),
               ("brain stimulation", "brain_stimulation"))
_COMPONENTS = (("nrs_mechanical", "mechanical (capsule)"), ("nrs_inflammatory", "inflammatory"),
               ("nrs_ngf", "NGF (nerve growth)"), ("nrs_central", "central"))
_COLORS = ("#8c6d31", "#d62728", "#1f77b4", "#9467bd")
_ROWS = (1, 2)
_DURATION_WEEKS = (2, 26)


def _liver_label(name: str) -> str:
    return dict((v, k) for k, v in _LIVERS).get(name, name)


def _in_liver(name: str) -> str:
    """``"with a healthy liver"``, ``"in Child-Pugh B"``."""
    return "with a healthy liver" if name == "healthy" else f"in {_liver_label(name)}"


def _interval_words(hours: float) -> str:
    return INTERVALS.get(float(hours), f"every {hours:g} h")


class Explorer:
    """Interactive explorer of one patient and up to two drugs and a procedure.

    Parameters
    ----------
    scenario : Scenario, str or Path, optional
        Starting point: its liver state, patient parameters, duration, drug
        library (a hypothetical drug defined in it can be picked) and its
        first two regimens and first procedure. Default: the default patient,
        healthy liver, oral morphine 10 mg every 4 h.

    Other Parameters
    ----------------
    dosing : dict of str -> DosingRange, optional
        Drugs to offer in addition to (or instead of) :data:`DOSING`. A drug
        given by the scenario but absent here is offered with its
        scenario dose, a tenfold range either side, and its interval.
    rtol : float, optional
        Solver relative tolerance (default: the scenario's, 3e-5).
    threads : int, optional
        Solver threads (default 1: one patient gains nothing from more, and
        a busy machine's cores are left to others; results do not depend on
        it). None uses all Numba threads.
    debounce : float
        Seconds within which changes are merged into one redraw (0: redraw
        at once on every change).
    dpi : float
        Resolution of the picture (lower draws faster).
    run : bool
        Simulate and draw at once (default True).

    Controls
    --------
    :meth:`values` and :meth:`set` use these keys:

    ``liver``
        ``"healthy"``, ``"child_pugh_a"``, ``"child_pugh_b"``, ``"child_pugh_c"``.
    ``doubling_time`` (d), ``liver_inflammation``, ``tumor_inflammation`` (1/mL), ``tumor_ngf``
        The patient (:data:`PATIENT_CONTROLS`).
    ``duration``
        Weeks of treatment.
    ``drug1``, ``dose1``, ``interval1`` (h), ``start1`` (day); ``drug2``, ...
        Two drug rows; a drug is a key of :data:`DOSING` or ``"none"``;
        the dose is in the drug's unit (:attr:`DosingRange.unit`).
    ``titrate``
        Titrate opioids daily to NRS <= 4 (+25 %, +50 % at NRS >= 7).
    ``procedure``, ``procedure_day``
        ``"none"``, ``"celiac_plexus_neurolysis"`` or ``"brain_stimulation"``,
        and the day it is done (switched on).

    Attributes
    ----------
    result, untreated : ScenarioResult or None
        The last valid simulation and its untreated reference.
    scenario : Scenario or None
        The settings of :attr:`result` as a scenario (``scenario.text`` is
        a file ``neurosim run`` accepts).
    figure : matplotlib.figure.Figure
    message : str
        The status line as text.
    ok : bool
        Whether the last update simulated (False: it reported a problem).
    timings : list of dict
        Per successful update: ``simulate_ms`` (scenario, untreated reference
        when not cached, treated simulation), ``draw_ms`` (curves and
        picture), ``table_ms`` (metrics) and ``total_ms``.
    widget : ipywidgets.VBox
        The explorer (displayed when the Explorer is the last expression of
        a cell).
    """

    def __init__(self, scenario=None, *, dosing=None, rtol: float | None = None,
                 threads: int | None = 1, debounce: float = 0.15, dpi: float = 80,
                 run: bool = True):
        self._w = require("ipywidgets", "The notebook explorer")
        from .scenario import Scenario, load_scenario

        if scenario is None:
            base = Scenario(name="explorer", regimens=["morphine 10 mg po q4h"])
        elif isinstance(scenario, Scenario):
            base = scenario
        else:
            base = load_scenario(scenario)
        self._base = base
        self.rtol = rtol
        self.threads = threads
        self.dpi = float(dpi)
        self.debounce = float(debounce)
        self.dosing = dict(DOSING)
        self.dosing.update(self._dosing_from_scenario(base))
        if dosing:
            self.dosing.update(dosing)
        self.result = None
        self.untreated = None
        self.scenario = None
        self.message = ""
        self.ok = False
        self.timings: list[dict] = []
        self._history: dict = {}
        self._untreated_cache: dict = {}
        self._suspend = 0
        self._pending = None
        self._figure = None
        self._build_widgets(self._initial_values(base))
        if run:
            self.update()

    # ------------------------------------------------------------------ setup

    def _dosing_from_scenario(self, sc) -> dict:
        """Offer the scenario's own drugs and routes (e.g. a hypothetical drug) in the picker.

        A regimen the picker does not offer gets an entry with its own dose,
        a tenfold range either side, and the standard intervals plus its own.
        """
        out = {}
        for r in sc.plan.regimens:
            known = list(DOSING.values()) + list(out.values())
            if any(d.drug == r.drug and d.route == r.route for d in known):
                continue
            if r.amount > 0:
                dose, unit = r.amount, "mg"
            else:
                dose, unit = r.rate * 1000.0, "ug/h"
            interval = float(r.interval) if r.interval else 24.0
            key = r.drug if r.drug not in DOSING else f"{r.drug}_{r.route}"
            route = _ROUTE_WORDS.get(r.route, r.route)
            out[key] = DosingRange(r.drug, r.route, f"{r.drug} ({route})", dose, dose / 10.0,
                                   dose * 10.0, tuple(sorted(set(INTERVALS) | {interval})),
                                   interval, unit=unit,
                                   form="patch" if r.form == "patch" else "",
                                   over=float(r.duration or 0.0) if r.form == "infusion" else 0.0)
        return out

    def _key_for(self, regimen) -> str | None:
        for key, d in self.dosing.items():
            if d.drug == regimen.drug and d.route == regimen.route:
                return key
        return None

    def _initial_values(self, sc) -> dict:
        v = {"liver": sc.liver, "duration": int(round(sc.duration / HOURS_PER_WEEK)),
             "titrate": bool(sc.plan.titrations), "procedure": "none", "procedure_day": 0}
        v["duration"] = min(max(v["duration"], _DURATION_WEEKS[0]), _DURATION_WEEKS[1])
        for c in PATIENT_CONTROLS:
            value = sc.parameter_overrides.get(c.parameter, c.row().value)
            v[c.key] = c.shown(value)
        regs = [r for r in sc.plan.regimens if self._key_for(r) is not None]
        for i in _ROWS:
            if i <= len(regs):
                r = regs[i - 1]
                key = self._key_for(r)
                d = self.dosing[key]
                dose = r.amount if r.amount > 0 else r.rate
                if d.unit != "mg" and r.rate > 0:
                    from .units import convert

                    dose = r.rate / convert(1.0, d.unit, "dose_rate", name="dose")
                v.update({f"drug{i}": key, f"dose{i}": float(dose),
                          f"interval{i}": float(r.interval or d.interval),
                          f"start{i}": int(round(r.start / HOURS_PER_DAY))})
            else:
                v.update({f"drug{i}": "none", f"dose{i}": 1.0, f"interval{i}": 24.0,
                          f"start{i}": 0})
        if sc.plan.procedures:
            p = sc.plan.procedures[0]
            v["procedure"] = p.procedure
            v["procedure_day"] = int(round(p.start / HOURS_PER_DAY))
        return v

    def _build_widgets(self, v: dict) -> None:
        w = self._w
        style = {"description_width": "initial"}
        lay = w.Layout(width="330px")
        self._controls: dict = {}
        c = self._controls
        c["liver"] = w.Dropdown(options=_LIVERS, value=v["liver"], description="liver state",
                                style=style, layout=lay)
        for pc in PATIENT_CONTROLS:
            row = pc.row()
            lo, hi = pc.shown(row.low), pc.shown(row.high)
            desc = f"{pc.label}" + (f" ({pc.unit})" if pc.unit else "")
            if pc.log:
                lo = max(lo, 1e-6)
                c[pc.key] = w.FloatLogSlider(value=v[pc.key], base=10, min=math.log10(lo),
                                             max=math.log10(hi), step=0.01, readout_format=".3g",
                                             description=desc, continuous_update=False,
                                             style=style, layout=lay)
            else:
                c[pc.key] = w.FloatSlider(value=v[pc.key], min=lo, max=hi, step=(hi - lo) / 200,
                                          readout_format=".3g", description=desc,
                                          continuous_update=False, style=style, layout=lay)
            c[pc.key].tooltip = f"{row.description} (source: {row.source})"
        c["duration"] = w.IntSlider(value=v["duration"], min=_DURATION_WEEKS[0],
                                    max=_DURATION_WEEKS[1], description="weeks of treatment",
                                    continuous_update=False, style=style, layout=lay)
        drug_options = [("none", "none")] + [(d.label, k) for k, d in self.dosing.items()]
        interval_options = [(words, h) for h, words in INTERVALS.items()]
        self._dose_units = {}
        for i in _ROWS:
            c[f"drug{i}"] = w.Dropdown(options=drug_options, value=v[f"drug{i}"],
                                       description=f"drug {i}", style=style, layout=lay)
            c[f"dose{i}"] = w.FloatLogSlider(value=1.0, base=10, min=-2, max=4, step=0.01,
                                             readout_format=".3g", description="dose",
                                             continuous_update=False, style=style, layout=lay)
            opts = list(interval_options)
            if float(v[f"interval{i}"]) not in INTERVALS:
                opts.append((_interval_words(v[f"interval{i}"]), float(v[f"interval{i}"])))
            for d in self.dosing.values():
                for h in d.intervals:
                    if float(h) not in [o[1] for o in opts]:
                        opts.append((_interval_words(h), float(h)))
            c[f"interval{i}"] = w.Dropdown(options=opts, value=float(v[f"interval{i}"]),
                                           description="interval", style=style, layout=lay)
            c[f"start{i}"] = w.IntSlider(value=0, min=0, max=7 * v["duration"] - 1,
                                         description="from day", continuous_update=False,
                                         style=style, layout=lay)
            self._dose_units[i] = w.HTML()
            self._fit_dose_slider(i, v[f"drug{i}"], v[f"dose{i}"])
            c[f"start{i}"].value = min(int(v[f"start{i}"]), c[f"start{i}"].max)
        c["titrate"] = w.Checkbox(value=v["titrate"], description="titrate opioids to NRS <= 4",
                                  style=style, indent=False)
        c["procedure"] = w.Dropdown(options=_PROCEDURES, value=v["procedure"],
                                    description="procedure", style=style, layout=lay)
        c["procedure_day"] = w.IntSlider(value=min(v["procedure_day"], 7 * v["duration"] - 1),
                                         min=0, max=7 * v["duration"] - 1, description="on day",
                                         continuous_update=False, style=style, layout=lay)

        self._status = w.HTML(value="")
        self._metrics = w.HTML(value="")
        self._image = w.Image(format="png")
        # dependent controls first (dose range follows the drug, day ranges the
        # duration), so that the redraw sees a consistent set
        for i in _ROWS:
            c[f"drug{i}"].observe(self._on_drug(i), names="value")
        c["duration"].observe(self._on_duration, names="value")
        for key, ctrl in c.items():
            ctrl.observe(self._on_change, names="value")

        patient = w.VBox([w.HTML("<b>Patient</b>"), c["liver"]]
                         + [c[pc.key] for pc in PATIENT_CONTROLS] + [c["duration"]])
        rows = []
        for i in _ROWS:
            rows += [c[f"drug{i}"], w.HBox([c[f"dose{i}"], self._dose_units[i]]),
                     c[f"interval{i}"], c[f"start{i}"]]
        treat = w.VBox([w.HTML("<b>Treatments</b> (days count from treatment start)")] + rows
                       + [c["titrate"], c["procedure"], c["procedure_day"]])
        self.widget = w.VBox([w.HBox([patient, treat]), self._status,
                              w.HBox([self._image, self._metrics])])

    def _fit_dose_slider(self, i: int, key: str, dose: float | None = None) -> None:
        """Give the dose slider of row ``i`` a range around the drug's usual doses."""
        s = self._controls[f"dose{i}"]
        self._suspend += 1
        try:
            if key == "none" or key not in self.dosing:
                s.disabled = True
                self._dose_units[i].value = ""
                return
            d = self.dosing[key]
            s.disabled = False
            lo, hi = math.log10(d.low / 10.0), math.log10(d.high * 10.0)
            # widen before narrowing so that min never exceeds max on the way
            s.min, s.max = min(s.min, lo), max(s.max, hi)
            s.value = d.dose if dose is None else float(dose)
            s.min, s.max = lo, hi
            self._dose_units[i].value = (f"{html.escape(d.unit)} &nbsp;<span style='color:#666'>"
                                         f"(usual {d.low:g}-{d.high:g})</span>")
        finally:
            self._suspend -= 1

    # ------------------------------------------------------------------ events

    def _on_drug(self, i: int):
        def handler(change):
            key = change["new"]
            self._fit_dose_slider(i, key)
            if key in self.dosing:
                self._suspend += 1
                try:
                    self._controls[f"interval{i}"].value = float(self.dosing[key].interval)
                finally:
                    self._suspend -= 1
        return handler

    def _on_duration(self, change):
        last = 7 * int(change["new"]) - 1
        self._suspend += 1
        try:
            for key in ("start1", "start2", "procedure_day"):
                s = self._controls[key]
                s.max = last
        finally:
            self._suspend -= 1

    def _on_change(self, change=None):
        if self._suspend:
            return
        self._schedule()

    def _schedule(self) -> None:
        """Run :meth:`update` now, or after ``debounce`` s of quiet inside a kernel."""
        loop = None
        if self.debounce > 0:
            import asyncio

            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        if loop is None:
            self.update()
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = loop.call_later(self.debounce, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self.update()

    # ------------------------------------------------------------------ values

    def values(self) -> dict:
        """The current settings of every control (keys in the class documentation)."""
        return {k: ctrl.value for k, ctrl in self._controls.items()}

    def set(self, **values) -> bool:
        """Change controls from code, then redraw once.

        Values the controls cannot hold (a dose outside the drug's range, a
        negative time, an interval the drug is not given at) are not applied:
        the status line says what is wrong, as for the sliders.

        Parameters
        ----------
        **values
            Control keys (see the class documentation) and their values.
            Changing ``drug1`` or ``drug2`` without a dose or interval
            selects the drug's defaults.

        Returns
        -------
        bool
            True if the settings were simulated.

        Raises
        ------
        NeurosimKeyError
            For a key that is not a control (with close matches).
        """
        for k in values:
            if k not in self._controls:
                raise NeurosimKeyError(f"no explorer control named {k!r}."
                                       + did_you_mean(k, self._controls)
                                       + f" Controls: {', '.join(self._controls)}.")
        proposed = self.values()
        proposed.update(values)
        for i in _ROWS:
            key = values.get(f"drug{i}")
            if key in self.dosing:
                if f"dose{i}" not in values:
                    proposed[f"dose{i}"] = self.dosing[key].dose
                if f"interval{i}" not in values:
                    proposed[f"interval{i}"] = float(self.dosing[key].interval)
        problems = self.check(proposed)
        if problems:
            self._report(problems)
            return False
        self._suspend += 1
        try:
            c = self._controls
            if "duration" in values:
                c["duration"].value = int(proposed["duration"])
            for i in _ROWS:
                if f"drug{i}" in values:
                    c[f"drug{i}"].value = proposed[f"drug{i}"]
                self._fit_dose_slider(i, proposed[f"drug{i}"], proposed[f"dose{i}"])
                if float(proposed[f"interval{i}"]) in [o[1] for o in c[f"interval{i}"].options]:
                    c[f"interval{i}"].value = float(proposed[f"interval{i}"])
            for k, v in proposed.items():
                if k.startswith(("drug", "dose", "interval")) or k == "duration":
                    continue
                c[k].value = v
        except Exception as exc:  # a value a widget refuses (e.g. wrong type)
            self._report([f"could not set the controls: {exc}"])
            return False
        finally:
            self._suspend -= 1
        return self.update()

    def check(self, values: dict | None = None) -> list[str]:
        """Problems with a set of control values, in words (empty: fine).

        Parameters
        ----------
        values : dict, optional
            Control values (default: the current ones).

        Returns
        -------
        list of str
            One message per problem, each saying what to change.
        """
        from .treatments.liver import daily_max

        v = self.values() if values is None else values
        out = []

        def number(key, label):
            x = v.get(key)
            try:
                x = float(x)
            except (TypeError, ValueError):
                out.append(f"{label} must be a number; got {x!r}.")
                return None
            if not math.isfinite(x):
                out.append(f"{label} must be a finite number; got {x!r}.")
                return None
            return x

        liver = v.get("liver")
        if liver not in [x[1] for x in _LIVERS]:
            out.append(f"liver state {liver!r} is not one of: "
                       + ", ".join(x[1] for x in _LIVERS) + ".")
            liver = "healthy"
        for pc in PATIENT_CONTROLS:
            x = number(pc.key, pc.label)
            if x is None:
                continue
            row = pc.row()
            lo, hi = pc.shown(row.low), pc.shown(row.high)
            unit = f" {pc.unit}" if pc.unit else ""
            if x < 0 or (x == 0 and row.strictly_positive):
                out.append(f"{pc.label} must be {'> 0' if row.strictly_positive else '>= 0'}; "
                           f"got {x:g}{unit}.")
            elif not lo * (1 - 1e-9) <= x <= hi * (1 + 1e-9):
                out.append(f"{pc.label}: {x:g}{unit} is outside the plausible range "
                           f"{lo:g}-{hi:g}{unit} of the parameter table; choose a value in it.")
        weeks = number("duration", "weeks of treatment")
        days = None
        if weeks is not None:
            if not (_DURATION_WEEKS[0] <= weeks <= _DURATION_WEEKS[1]):
                out.append(f"weeks of treatment must be from {_DURATION_WEEKS[0]} to "
                           f"{_DURATION_WEEKS[1]}; got {weeks:g}.")
            else:
                days = 7 * weeks
        for i in _ROWS:
            key = v.get(f"drug{i}", "none")
            if key == "none":
                continue
            if key not in self.dosing:
                out.append(f"drug {i}: {key!r} is not offered." + did_you_mean(key, self.dosing)
                           + " Choose one of: " + ", ".join(self.dosing) + ".")
                continue
            d = self.dosing[key]
            who = f"drug {i}, {d.label}"
            dose = number(f"dose{i}", f"{who}: the dose")
            interval = number(f"interval{i}", f"{who}: the interval")
            start = number(f"start{i}", f"{who}: the start day")
            if dose is not None:
                if dose <= 0:
                    out.append(f"{who}: the dose must be > 0 {d.unit}; got {dose:g}. To leave "
                               "the drug out, pick 'none'.")
                elif not d.low * (1 - 1e-9) <= dose <= d.high * (1 + 1e-9):
                    out.append(f"{who}: {dose:.3g} {d.unit} per dose is outside the range the "
                               f"explorer accepts for it ({d.low:g}-{d.high:g} {d.unit}); move "
                               "the dose back into that range.")
            if interval is not None and not any(abs(interval - h) < 1e-9 for h in d.intervals):
                out.append(f"{who} is not given {_interval_words(interval)}; choose "
                           + " or ".join(_interval_words(h) for h in d.intervals) + ".")
            if start is not None:
                if start < 0:
                    out.append(f"{who}: the start day must be >= 0; got {start:g}.")
                elif days is not None and start >= days:
                    out.append(f"{who} starts on day {start:g}, after the {days:g} simulated "
                               "days; start it earlier or simulate longer.")
            if (dose is not None and interval is not None and dose > 0 and interval > 0
                    and not out):
                lib = self._base.library
                cap = daily_max(lib.drug(d.drug), liver)
                per_day = d.mg_per_day(dose, interval)
                if cap is not None and per_day > cap * (1 + 1e-9):
                    out.append(f"{who}: {dose:.4g} {d.unit} {_interval_words(interval)} is "
                               f"{per_day:.4g} mg a day, above the {cap:g} mg daily maximum "
                               f"{_in_liver(liver)}; lower the dose or give it less often.")
        proc = v.get("procedure", "none")
        if proc not in [x[1] for x in _PROCEDURES]:
            out.append(f"procedure {proc!r} is not one of: "
                       + ", ".join(x[1] for x in _PROCEDURES) + ".")
        elif proc != "none":
            day = number("procedure_day", "the procedure day")
            if day is not None and (day < 0 or (days is not None and day >= days)):
                out.append(f"the procedure day must be from 0 to {(days or 1) - 1:g}; "
                           f"got {day:g}.")
        return out

    def _scenario(self, v: dict):
        """The scenario of a set of (checked) control values."""
        import copy

        from .scenario import Scenario

        base = self._base
        raw = copy.deepcopy(base.raw)
        patient = raw.setdefault("patient", {})
        patient["liver"] = v["liver"]
        params = dict(patient.get("parameters", {}))
        for pc in PATIENT_CONTROLS:
            row = pc.row()
            shown = float(v[pc.key])
            if pc.parameter not in params and math.isclose(pc.table(shown), row.value,
                                                            rel_tol=1e-9, abs_tol=1e-300):
                continue  # still the table's value: keep the file short
            if row.unit == "1":
                params[pc.parameter] = shown
            elif pc.unit == "d" and row.unit == "h":
                params[pc.parameter] = f"{shown:.6g} d"
            else:
                params[pc.parameter] = f"{pc.table(shown)!r} {row.unit}"
        if params:
            patient["parameters"] = params
        raw.setdefault("simulation", {})["duration"] = f"{int(v['duration'])} weeks"
        treatments = raw.setdefault("treatments", {})
        for key in ("regimens", "titration", "rescue", "procedures"):
            treatments.pop(key, None)
        names = []
        for i in _ROWS:
            key = v[f"drug{i}"]
            if key == "none":
                continue
            d = self.dosing[key]
            names.append(d.drug)
            treatments.setdefault("regimens", []).append(
                d.regimen(float(v[f"dose{i}"]), float(v[f"interval{i}"]), float(v[f"start{i}"])))
            titrated = [t["drug"] for t in treatments.get("titration", [])]
            if v["titrate"] and base.library.drug(d.drug).is_opioid and d.drug not in titrated:
                treatments.setdefault("titration", []).append({"drug": d.drug, "target_nrs": 4})
        if v["procedure"] != "none":
            names.append(v["procedure"])
            treatments["procedures"] = [{"procedure": v["procedure"],
                                         "at": f"{int(v['procedure_day'])} d"}]
        if not treatments:
            raw.pop("treatments")
        head = raw.setdefault("scenario", {})
        head["name"] = "_".join(names) or "untreated"
        head["description"] = "; ".join(treatments.get("regimens", []) + [
            f"{p['procedure']} at {p['at']}" for p in treatments.get("procedures", [])]
        ) or "no treatment"
        return Scenario.from_dict(raw, source=base.source)

    # ------------------------------------------------------------------ update

    def update(self) -> bool:
        """Check the controls, simulate and redraw; never raises.

        Returns
        -------
        bool
            True if it simulated; False if it reported a problem instead
            (see :attr:`message`).
        """
        try:
            return self._update()
        except NeurosimError as exc:
            text = str(exc)
            prefix = f"{self._base.source}: "   # the settings are not a file here
            self._report([text[len(prefix):] if text.startswith(prefix) else text])
        except Exception as exc:  # the widget must never show a traceback
            self._report([f"unexpected {type(exc).__name__}: {exc}"])
        return False

    def _update(self) -> bool:
        from .simulation import simulate_scenario

        v = self.values()
        problems = self.check(v)
        if problems:
            self._report(problems)
            return False
        if self.result is None:
            self._set_status("simulating (the first run of a new installation compiles the "
                             "model, about half a minute)...", "info")
        t0 = time.perf_counter()
        sc = self._scenario(v)
        ref, ref_summary = self._untreated(sc)
        res = simulate_scenario(sc, rtol=self.rtol, threads=self.threads,
                                history_cache=self._history)
        t1 = time.perf_counter()
        self._draw(res, ref)
        t2 = time.perf_counter()
        self.result, self.untreated, self.scenario = res, ref, sc
        notes = [f"{f['severity']}: {f['message']}" for f in res.safety]
        notes += [w for w in getattr(sc, "warnings", [])]
        if not np.all(res.success):
            notes += res.status_messages
        day = float(res.treatment_start[0]) / HOURS_PER_DAY
        head = (f"<b>{html.escape(sc.description)}</b><br>{html.escape(_liver_label(sc.liver))}"
                f"; treatment starts on day {day:.0f} after diagnosis "
                f"({html.escape(sc.start_label)})")
        self._metrics.value = (f"<div style='max-width:330px'>{head}</div>"
                               + self._metrics_html(res.summary(), ref_summary))
        t3 = time.perf_counter()
        timing = {"simulate_ms": 1e3 * (t1 - t0), "draw_ms": 1e3 * (t2 - t1),
                  "table_ms": 1e3 * (t3 - t2), "total_ms": 1e3 * (t3 - t0)}
        self.timings.append(timing)
        done = (f"simulated in {timing['simulate_ms']:.0f} ms, drawn in "
                f"{timing['draw_ms']:.0f} ms")
        if notes:
            self._set_status("; ".join(notes) + f" ({done})", "warning")
        else:
            self._set_status(done, "ok")
        self.ok = True
        return True

    def _untreated(self, sc):
        """The untreated course of this patient over the same window (cached)."""
        from .simulation import patient_parameters, simulate_scenario

        P = patient_parameters(sc)
        key = (P.tobytes(), sc.duration, sc.history, sc.output_interval, sc.endpoint,
               sc.presentation_nrs, sc.treatment_start, sc.presentation_limit, self.rtol)
        hit = self._untreated_cache.get(key)
        if hit is None:
            plain = sc.with_changes(name="untreated", regimens=[], titration=[], rescue=[],
                                    procedures=[])  # same patient, timeline and library
            ref = simulate_scenario(plain, rtol=self.rtol, threads=self.threads,
                                    history_cache=self._history)
            if len(self._untreated_cache) > 64:
                self._untreated_cache.clear()
            hit = self._untreated_cache[key] = (ref, ref.summary())
        return hit

    # ------------------------------------------------------------------ display

    def _report(self, problems: list[str]) -> None:
        self.ok = False
        shown = "the plot shows the last valid settings" if self.result is not None else \
            "nothing simulated yet"
        self._set_status("Not simulated: " + " ".join(problems) + f" ({shown}.)", "error")

    def _set_status(self, text: str, kind: str) -> None:
        self.message = text
        color = {"ok": "#2b6e2b", "info": "#444", "warning": "#a05a00", "error": "#b00020"}[kind]
        self._status.value = (f"<div style='color:{color};max-width:950px'>"
                              f"{html.escape(text)}</div>")

    def _make_figure(self):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.6, 5.6), dpi=self.dpi)
        FigureCanvasAgg(fig)
        ax_nrs, ax_comp = fig.subplots(2, 1, sharex=True,
                                       gridspec_kw={"height_ratios": (1.25, 1.0)})
        fig.subplots_adjust(left=0.08, right=0.74, top=0.93, bottom=0.09, hspace=0.12)
        lines = {"nrs_untreated": ax_nrs.plot([], [], color="0.55", ls="--", lw=1.2,
                                              label="NRS untreated")[0],
                 "nrs": ax_nrs.plot([], [], color="black", lw=1.7, label="NRS treated")[0]}
        for (name, label), color in zip(_COMPONENTS, _COLORS):
            lines[f"{name}_untreated"] = ax_comp.plot([], [], color=color, ls=":", lw=1.0,
                                                      label=f"_{label} untreated")[0]
            lines[name] = ax_comp.plot([], [], color=color, lw=1.5, label=label)[0]
        for ax in (ax_nrs, ax_comp):
            ax.axvline(0.0, color="0.3", ls="--", lw=0.8)
        for level, word in ((4, "moderate"), (7, "severe")):
            ax_nrs.axhline(level, color="0.75", ls=":", lw=0.8)
        ax_nrs.set_ylim(0, 10)
        ax_nrs.set_ylabel("pain (NRS 0-10)")
        ax_comp.set_ylabel("NRS share")
        ax_comp.set_xlabel("weeks since treatment start")
        ax_nrs.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        ax_comp.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                       title="components\n(dotted: untreated)", title_fontsize=8)
        ax_nrs.set_title("pain with and without the treatments", fontsize=10)
        self._axes = (ax_nrs, ax_comp)
        self._lines = lines
        self._background = None
        self._background_key = None
        self._renderer = None
        self._figure = fig

    @property
    def figure(self):
        """The explorer's figure (drawn with the last valid settings)."""
        if self._figure is None:
            self._make_figure()
        return self._figure

    @property
    def lines(self) -> dict:
        """The plotted lines by name (``"nrs"``, ``"nrs_untreated"``, ``"nrs_central"``, ...)."""
        self.figure
        return dict(self._lines)

    def _draw(self, res, ref) -> None:
        """Put the new curves into the figure and send it to the image widget.

        The axes, ticks, labels and legends (most of the drawing time: text)
        are rendered once per axis range and kept as a background bitmap; a
        redraw restores it, draws the ten lines on it and encodes the PNG.
        """
        fig = self.figure
        ax_nrs, ax_comp = self._axes
        x = res.t_weeks
        self._lines["nrs"].set_data(x, res["nrs"][0])
        self._lines["nrs_untreated"].set_data(ref.t_weeks, ref["nrs"][0])
        top = 1.0
        for name, _ in _COMPONENTS:
            self._lines[name].set_data(x, res[name][0])
            self._lines[f"{name}_untreated"].set_data(ref.t_weeks, ref[name][0])
            top = max(top, float(np.nanmax(res[name][0])), float(np.nanmax(ref[name][0])))
        xlim = (float(x[0]), float(x[-1]))
        # a fixed scale (half the NRS) keeps settings comparable and the background valid
        ylim = (0.0, 5.0 if top <= 4.9 else 10.0)
        canvas = fig.canvas
        # a savefig at another resolution replaces the canvas renderer: redo the background
        if self._background_key != (xlim, ylim) or canvas.get_renderer() is not self._renderer:
            ax_nrs.set_xlim(*xlim)
            ax_comp.set_ylim(*ylim)
            for line in self._lines.values():
                line.set_visible(False)
            canvas.draw()
            self._background = canvas.copy_from_bbox(fig.bbox)
            self._background_key = (xlim, ylim)
            self._renderer = canvas.get_renderer()
            for line in self._lines.values():
                line.set_visible(True)
        canvas.restore_region(self._background)
        for name, line in self._lines.items():
            (ax_nrs if name.startswith("nrs_untreated") or name == "nrs" else ax_comp
             ).draw_artist(line)
        self._image.value = self._png()

    def _png(self) -> bytes:
        from PIL import Image

        canvas = self._figure.canvas
        w, h = canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        # fast compression: the picture travels to the browser on every change
        img.convert("RGB").save(buf, format="png", compress_level=1)
        return buf.getvalue()

    @staticmethod
    def _metrics_html(a: dict, b: dict) -> str:
        """Treated (``a``) and untreated (``b``) summaries side by side."""

        def fmt(key, spec="{:.2f}"):
            out = []
            for s in (a, b):
                x = s.get(key, math.nan)
                out.append("-" if x is None or (isinstance(x, float) and math.isnan(x))
                           else spec.format(x))
            return out

        rows = [("NRS at start", "nrs_baseline", "{:.2f}"),
                ("NRS week 4", "nrs_week4", "{:.2f}"),
                ("NRS at endpoint", "nrs_endpoint", "{:.2f}"),
                ("pain AUC (NRS*d)", "pain_auc", "{:.0f}"),
                ("% time NRS >= 4", "pct_time_nrs_ge4", "{:.0f}"),
                ("responder (>= 30 %)", "responder_30", "{:.0f}"),
                ("MME per day (mg)", "mme_per_day", "{:.0f}"),
                ("side-effect burden", "side_effect_burden", "{:.3f}")]
        body = "".join(f"<tr><td>{html.escape(label)}</td>"
                       + "".join(f"<td style='text-align:right'>{x}</td>" for x in fmt(k, spec))
                       + "</tr>" for label, k, spec in rows)
        return ("<table><tr><th></th><th>treated</th><th>untreated</th></tr>" + body
                + "</table><div style='color:#666;font-size:90%'>responder: 1 yes, 0 no "
                "(IMMPACT, last week vs start)</div>")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        v = self.values()
        drugs = [v[f"drug{i}"] for i in _ROWS if v[f"drug{i}"] != "none"]
        return (f"Explorer(liver={v['liver']!r}, drugs={drugs}, procedure={v['procedure']!r}, "
                f"{len(self.timings)} updates)")


def explore(scenario=None, **options) -> Explorer:
    """Build an :class:`Explorer` (shown when it is the last expression of a cell).

    Parameters
    ----------
    scenario : Scenario, str or Path, optional
        Starting settings (default: the default patient on oral morphine).
    **options
        Passed to :class:`Explorer` (``dosing``, ``rtol``, ``threads``,
        ``debounce``, ``dpi``, ``run``). Scenario settings (``liver``,
        ``regimens``, ...) go in the scenario: ``explore(Scenario(liver=...))``.
    """
    allowed = [n for n in inspect.signature(Explorer.__init__).parameters
               if n not in ("self", "scenario")]
    for key in options:
        if key not in allowed:
            from .errors import NeurosimTypeError
            from .scenario import _KEYWORDS as scenario_keywords

            hint = ""
            if key in scenario_keywords:
                hint = (f" {key!r} is a scenario setting: start from a scenario, e.g. "
                        f"explore(neurosim.Scenario({key}=...)).")
            raise NeurosimTypeError(f"explore() has no option {key!r}." + hint
                                    + did_you_mean(key, allowed)
                                    + f" Options: {', '.join(allowed)}.")
    return Explorer(scenario, **options)
