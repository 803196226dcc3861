"""Export a scenario's model to SBML for independent simulators.

:func:`export_sbml` writes one patient of a scenario as an SBML Level 3
Version 1 (core) document that COPASI, libRoadRunner or Tellurium can
simulate: every disease state and drug state with its rate law, every
parameter with its unit and source, the treatment slots as assignment
rules computed from the drug states, and the scenario's doses, titration
and rescue decisions and procedures as events. ``docs/sbml.md`` describes
the mapping; ``tests/test_sbml.py`` simulates exported files with
libRoadRunner and compares them with neurosim's own solver.

The SBML is generated from the model's own structure: the disease rate
laws mirror :func:`neurosim.model.equations.disease_rhs` term by term, and
the drug part is read from the compiled treatment block
(:meth:`neurosim.treatments.TreatmentPlan.compile`) record by record, the
way the compiled kernels of :mod:`neurosim.treatments.pk` read it
(``drug_rhs``, ``drug_slot_values``, ``apply_dose``).

Timeline
--------
By default model time 0 is **treatment start** and the disease states
start at the state neurosim computes for the patient at that moment (the
untreated natural history from diagnosis, solved at ``rtol``); treatment
times then read as in the scenario file. With ``from_diagnosis=True``
time 0 is diagnosis, the disease states start at the quasi-steady state
of :func:`neurosim.model.initial_state`, and the treatment schedule is
shifted by the patient's treatment start (a number neurosim computes from
the presentation rule; the SBML model does not re-evaluate the rule).

Time is in hours, drug amounts in mg, volumes in L, as everywhere in
neurosim (``docs/architecture.md``). Every literal number in a formula
carries its unit, so libsbml checks the units of every formula.
"""
from __future__ import annotations

import heapq
import html
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .errors import NeurosimError, NeurosimValueError, ResultsFileError, ScenarioError

try:  # the optional-dependency error of neurosim.errors, when this version has it
    from .errors import MissingDependencyError as _MissingDependency
except ImportError:  # pragma: no cover
    _MissingDependency = NeurosimError

__all__ = ["export_sbml", "sbml_consistency", "SBML_LEVEL", "SBML_VERSION", "ANNOTATION_NS"]

SBML_LEVEL = 3
SBML_VERSION = 1
#: Namespace of neurosim's machine-readable annotations (unit as written, source).
ANNOTATION_NS = "urn:neurosim:sbml:1"

# Units as neurosim writes them -> (SBML unit id, [(kind, exponent, scale, multiplier)]).
# A definition of None: a base unit or "dimensionless", used directly.
_UNITS = {
    "1": ("dimensionless", None),
    "mg/mg": ("dimensionless", None),
    "L": ("litre", None),
    "h": ("hour", [("second", 1, 0, 3600.0)]),
    "1/h": ("per_hour", [("second", -1, 0, 3600.0)]),
    "mL": ("millilitre", [("litre", 1, -3, 1.0)]),
    "mL/h": ("mL_per_hour", [("litre", 1, -3, 1.0), ("second", -1, 0, 3600.0)]),
    "1/mL": ("per_millilitre", [("litre", -1, -3, 1.0)]),
    "cm": ("centimetre", [("metre", 1, -2, 1.0)]),
    "pg/mL": ("pg_per_mL", [("gram", 1, -12, 1.0), ("litre", -1, -3, 1.0)]),
    "pg/mL/mL": ("pg_per_mL_per_mL", [("gram", 1, -12, 1.0), ("litre", -2, -3, 1.0)]),
    "1/(pg/mL)": ("mL_per_pg", [("gram", -1, -12, 1.0), ("litre", 1, -3, 1.0)]),
    "nM": ("nanomolar", [("mole", 1, -9, 1.0), ("litre", -1, 0, 1.0)]),
    "1/(nM h)": ("per_nM_per_hour", [("mole", -1, -9, 1.0), ("litre", 1, 0, 1.0),
                                     ("second", -1, 0, 3600.0)]),
    "nM/(mg/L)": ("nmol_per_mg", [("mole", 1, -9, 1.0), ("gram", -1, -3, 1.0)]),
    "mg": ("milligram", [("gram", 1, -3, 1.0)]),
    "mg/L": ("mg_per_L", [("gram", 1, -3, 1.0), ("litre", -1, 0, 1.0)]),
    "mg/h": ("mg_per_hour", [("gram", 1, -3, 1.0), ("second", -1, 0, 3600.0)]),
    "L/h": ("L_per_hour", [("litre", 1, 0, 1.0), ("second", -1, 0, 3600.0)]),
}

# Names the L3 formula parser reads as constants, functions or operators.
_RESERVED = {"time", "avogadro", "pi", "exponentiale", "true", "false", "inf", "infinity",
             "nan", "notanumber", "e", "delay", "rateOf", "piecewise", "abs", "ln", "log",
             "log10", "exp", "pow", "sqrt", "ceil", "ceiling", "floor", "factorial", "and",
             "or", "not", "xor", "eq", "neq", "gt", "lt", "geq", "leq", "plus", "minus",
             "times", "divide", "power", "root", "max", "min", "quotient", "rem", "implies"}

# Unit-carrying literals used in the disease formulas.
_ONE = "1 dimensionless"
_ZERO = "0 dimensionless"
_LN2 = "ln(2 dimensionless)"


def _libsbml():
    try:
        import libsbml
    except ImportError:
        raise _MissingDependency(
            "SBML export needs the optional package python-libsbml, which is not installed. "
            "Install it with: pip install python-libsbml  (or: pip install \"neurosim[sbml]\")."
        ) from None
    return libsbml


def _sum(terms) -> str:
    """Terms (each may start with '-') joined into one sum."""
    out = ""
    for t in terms:
        t = t.strip()
        if not out:
            out = t
        elif t.startswith("-"):
            out += " - " + t[1:].strip()
        else:
            out += " + " + t
    return out or _ZERO


def _hill2(x: str, k: str) -> str:
    """x^2/(x^2 + k^2), the receptor activation of the disease model."""
    return f"({x})^2/(({x})^2 + ({k})^2)"


def _src(*quantities) -> str:
    """Sources of drug-library quantities, joined (None entries skipped)."""
    return "; ".join(dict.fromkeys(q.source for q in quantities if q is not None and q.source))


# =========================================================================== builder


class _Builder:
    """Thin layer over libsbml: identifiers, units, notes, rules and events."""

    def __init__(self, libsbml, model_id: str, name: str):
        self.ls = libsbml
        self.doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
        self.model = self.doc.createModel()
        self._ok(self.model.setId(model_id), "the model id")
        self.model.setName(name)
        self.ids: set[str] = {model_id}
        self.unit_ids: set[str] = set()
        self._ok(self.model.setTimeUnits(self.unit("h")), "the time unit")

    def _ok(self, code, what):
        if code is not None and code != self.ls.LIBSBML_OPERATION_SUCCESS:
            raise NeurosimError(f"SBML export: libsbml refused {what} "
                                f"({self.ls.OperationReturnValue_toString(code)}).")

    @staticmethod
    def sid(text: str) -> str:
        """An SBML identifier for a neurosim name (``morphine.depot_po``: ``morphine_depot_po``)."""
        out = re.sub(r"[^A-Za-z0-9_]", "_", str(text))
        if not out or out[0].isdigit():
            out = "_" + out
        if out in _RESERVED:
            out += "_"
        return out

    def claim(self, sid: str) -> str:
        if sid in self.ids:
            raise NeurosimValueError(
                f"SBML export: two model quantities map to the SBML identifier {sid!r}; rename "
                "the drug or procedure whose name produces it.")
        self.ids.add(sid)
        return sid

    def unit(self, unit: str | None) -> str | None:
        """The SBML unit id of a neurosim unit string, defined on first use."""
        if unit is None or unit not in _UNITS:
            return None
        uid, parts = _UNITS[unit]
        if parts is not None and uid not in self.unit_ids:
            kinds = {"second": self.ls.UNIT_KIND_SECOND, "litre": self.ls.UNIT_KIND_LITRE,
                     "gram": self.ls.UNIT_KIND_GRAM, "metre": self.ls.UNIT_KIND_METRE,
                     "mole": self.ls.UNIT_KIND_MOLE}
            ud = self.model.createUnitDefinition()
            self._ok(ud.setId(uid), f"the unit {uid}")
            ud.setName(unit)
            for kind, exponent, scale, mult in parts:
                u = ud.createUnit()
                u.setKind(kinds[kind])
                u.setExponent(float(exponent))
                u.setScale(int(scale))
                u.setMultiplier(float(mult))
            self.unit_ids.add(uid)
        return uid

    def lit(self, x: float, unit: str) -> str:
        """A literal number with its unit, exactly (repr round-trips a float)."""
        x = float(x)
        if not math.isfinite(x) or x < 0:
            raise NeurosimValueError(f"SBML export: cannot write the literal {x!r}.")
        uid = self.unit(unit)
        if uid is None:
            raise NeurosimError(f"SBML export: no SBML unit for {unit!r}; this is a bug.")
        return f"{x!r} {uid}"

    def pos(self, expr: str, unit: str) -> str:
        """max(expr, 0) (L3V1 has no max): the kernels' clamp at zero."""
        zero = self.lit(0.0, unit)
        return f"piecewise({zero}, ({expr}) < {zero}, {expr})"

    def math(self, formula: str):
        ast = self.ls.parseL3Formula(formula)
        if ast is None:
            raise NeurosimError(f"SBML export: cannot parse the generated formula {formula!r} "
                                f"({self.ls.getLastParseL3Error()}); this is a bug.")
        return ast

    def describe(self, obj, text: str, unit: str | None = None, source: str | None = None):
        """Notes (human-readable) and an annotation (unit as written, source)."""
        body = html.escape(text)
        if unit and unit != "1":
            body += f" Unit: {html.escape(unit)}."
        if source:
            body += f" Source: {html.escape(source)}."
        self._ok(obj.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{body}</p></body>'),
                 "notes")
        if unit is not None or source:
            attrs = "" if unit is None else f' unit="{html.escape(unit, quote=True)}"'
            if source:
                attrs += f' source="{html.escape(source, quote=True)}"'
            self._ok(obj.setAnnotation(
                f'<annotation><neurosim:quantity xmlns:neurosim="{ANNOTATION_NS}"{attrs}/>'
                "</annotation>"), "an annotation")

    def parameter(self, sid: str, value: float | None, unit: str | None, *, constant=True,
                  description: str = "", source: str | None = None, name: str | None = None):
        self.claim(sid)
        p = self.model.createParameter()
        self._ok(p.setId(sid), f"the parameter {sid}")
        p.setConstant(bool(constant))
        if value is not None:
            if not math.isfinite(float(value)):
                raise NeurosimValueError(f"SBML export: {sid} = {value!r} is not finite.")
            p.setValue(float(value))
        uid = self.unit(unit)
        if uid is not None:
            p.setUnits(uid)
        if name:
            p.setName(name)
        self.describe(p, description or sid, unit, source)
        return p

    def rate_rule(self, sid: str, formula: str):
        r = self.model.createRateRule()
        self._ok(r.setVariable(sid), f"the rate rule of {sid}")
        self._ok(r.setMath(self.math(formula)), f"the rate law of {sid}")

    def assignment(self, sid: str, formula: str, unit: str | None, description: str):
        """A parameter defined by an assignment rule."""
        self.parameter(sid, None, unit, constant=False, description=description)
        r = self.model.createAssignmentRule()
        self._ok(r.setVariable(sid), f"the assignment rule of {sid}")
        self._ok(r.setMath(self.math(formula)), f"the formula of {sid}")

    def initial_assignment(self, sid: str, formula: str):
        ia = self.model.createInitialAssignment()
        self._ok(ia.setSymbol(sid), f"the initial assignment of {sid}")
        self._ok(ia.setMath(self.math(formula)), f"the initial formula of {sid}")

    def event(self, sid: str, trigger: str, assignments, priority: int, description: str):
        self.claim(sid)
        e = self.model.createEvent()
        self._ok(e.setId(sid), f"the event {sid}")
        # Assignments are computed when the event executes, after every event of higher
        # priority at the same time: neurosim applies same-time dose records in sequence.
        e.setUseValuesFromTriggerTime(False)
        t = e.createTrigger()
        t.setInitialValue(False)       # a record at time 0 fires at the start
        t.setPersistent(True)
        self._ok(t.setMath(self.math(trigger)), f"the trigger of {sid}")
        pr = e.createPriority()
        self._ok(pr.setMath(self.math(self.lit(priority, "1"))), f"the priority of {sid}")
        for var, formula in assignments:
            a = e.createEventAssignment()
            self._ok(a.setVariable(var), f"an event assignment to {var}")
            self._ok(a.setMath(self.math(formula)), f"the event assignment to {var}")
        self.describe(e, description)
        return e


# =========================================================================== disease model


#: Intermediate quantities of ``disease_rhs`` (and ``transmitted_signal``/``nrs_value``),
#: in the order they are computed there: (id, formula, unit, description).
_DISEASE_INTERMEDIATES = (
    ("tnf_act", "slot_tnf_activity*tnf", "pg/mL",
     "TNF-alpha/IL-1beta signalling on its targets, T_act = s_tnf_activity T"),
    ("il6_act", "slot_il6_activity*il6", "pg/mL",
     "IL-6 signalling on its targets, I_act = s_il6_activity I"),
    ("u_tnf", _hill2("tnf_act", "tnf_k50"), "1", "TNF receptor activation on nociceptors"),
    ("u_pge2", _hill2("pge2", "pge2_k50"), "1", "EP receptor activation by PGE2"),
    ("u_ngf", "slot_trka*" + _hill2("ngf_free", "trka_k50"), "1",
     "TrkA activation by free NGF, u_N"),
    ("priming_drive", _hill2("sensitization_fast", "priming_threshold"), "1",
     "Drive of hyperalgesic priming by fast sensitization"),
    ("capsule_stretch",
     "piecewise(pow(tumor_volume/(pi/6 dimensionless*capsule_stretch_diameter^3), "
     "capsule_stretch_hill/3 dimensionless)/(1 dimensionless + pow(tumor_volume/"
     "(pi/6 dimensionless*capsule_stretch_diameter^3), capsule_stretch_hill/3 dimensionless)),"
     " tumor_volume > 0 millilitre, 0 dimensionless)", "1",
     "Capsular stretch: Hill function of the equivalent sphere diameter, written in volume"),
    ("stimulus",
     "capsule_pain_weight*capsule_stretch + chemical_pge2_weight*u_pge2 "
     "+ chemical_tnf_weight*u_tnf", "1", "Nociceptive stimulus, capsular plus chemical"),
    ("peripheral_sensitization",
     f"{_ONE} + sensitization_fast + sensitization_trpv1 + priming_weight*priming", "1",
     "Peripheral sensitization gain PS"),
    ("afferent_input",
     "slot_spinal*slot_afferent*fiber_density*peripheral_sensitization*stimulus", "1",
     "Afferent input reaching the dorsal horn, A_in"),
    ("windup_drive", _hill2("afferent_input", "windup_a50"), "1", "Wind-up drive h(A_in)"),
    ("cs_input_drive", _hill2("afferent_input", "cs_a50"), "1",
     "Central-sensitization drive by afferent input, h(A_in)"),
    ("descending_loop", _hill2("slot_supraspinal*descending_facilitation", "descending_k50"),
     "1", "Descending facilitation re-exciting the dorsal horn (sigmoidal loop)"),
    ("cs_drive",
     "cs_input_drive + cs_ngf_drive*slot_afferent*trka_retrograde "
     "+ descending_feedback*descending_loop + slot_oih", "1",
     "Total drive of chronic central sensitization, D"),
    ("signal",
     f"slot_supraspinal*({_ONE} + descending_facilitation)*(afferent_input*({_ONE} "
     "+ central_fast + central_slow) + slot_spinal*spontaneous_central*central_slow)", "1",
     "Nociceptive signal leaving the dorsal horn, S"),
    ("nrs",
     "10 dimensionless*piecewise(0 dimensionless, signal < 0 dimensionless, signal)/"
     "(piecewise(0 dimensionless, signal < 0 dimensionless, signal) + nrs_s50)", "1",
     "Numeric rating scale of pain, 0-10: NRS = 10 S/(S + S50)"),
)

#: Rate law of each core state, term by term as in ``disease_rhs``.
_DISEASE_RATES = {
    "tumor_volume": "piecewise(slot_tumor_growth*tumor_gompertz_rate*tumor_volume"
                    "*ln(tumor_carrying_capacity/tumor_volume), tumor_volume > 0 millilitre, "
                    "0 mL_per_hour)",
    "macrophages": f"{_LN2}/macrophage_half_life*(slot_macrophage_recruitment"
                   "*(liver_inflammation + macrophage_recruitment_tumor*tumor_volume)"
                   " - macrophages)",
    "tnf": f"{_LN2}/tnf_half_life*(tnf_basal + slot_tnf_production*tnf_per_macrophage"
           "*macrophages - tnf)",
    "il6": f"{_LN2}/il6_half_life*(il6_basal + slot_il6_production*(il6_per_macrophage"
           "*macrophages + il6_per_tumor_volume*tumor_volume + il6_per_tnf*tnf_act) - il6)",
    "pge2": f"{_LN2}/pge2_half_life*(pge2_basal + slot_cox2*(pge2_per_tnf*tnf_act"
            " + pge2_per_il6*il6_act) - pge2)",
    "ngf_free": f"{_LN2}/ngf_half_life*(ngf_basal + slot_ngf_production*(ngf_per_macrophage"
                "*macrophages + ngf_per_tumor_volume*tumor_volume + ngf_per_tnf*tnf_act)"
                " - ngf_free) - antibody_kon*slot_ngf_binder*ngf_free"
                " + antibody_koff*ngf_bound",
    "ngf_bound": "antibody_kon*slot_ngf_binder*ngf_free - antibody_koff*ngf_bound"
                 f" - {_LN2}/ngf_complex_half_life*ngf_bound",
    "fiber_density": f"{_LN2}/fiber_half_life*({_ONE} + sprouting_gain*u_ngf - fiber_density)",
    "sensitization_fast": f"{_LN2}/sensitization_fast_half_life*(sensitization_tnf*u_tnf"
                          " + sensitization_pge2*u_pge2 + sensitization_ngf_fast*u_ngf"
                          " - sensitization_fast)",
    "trka_retrograde": f"{_LN2}/trka_retrograde_half_life*(u_ngf - trka_retrograde)",
    "sensitization_trpv1": f"{_LN2}/trpv1_half_life*(trpv1_gain*trka_retrograde"
                           " - sensitization_trpv1)",
    "priming": f"priming_rate*priming_drive*({_ONE} - priming)"
               f" - {_LN2}/priming_half_life*priming",
    "central_fast": f"{_LN2}/windup_half_life*(windup_gain*windup_drive - central_fast)",
    "central_slow": f"{_LN2}/cs_induction_half_time*cs_drive*(cs_max - central_slow)"
                    f" - {_LN2}/cs_half_life*central_slow",
    "descending_facilitation": f"{_LN2}/descending_half_life*(descending_gain*central_slow"
                               " - descending_facilitation)",
}


def _add_disease(b: _Builder, params: np.ndarray, y0_core: np.ndarray, overrides: dict):
    """Parameters, states, intermediate rules and rate rules of the disease model."""
    from .model import PARAMETERS, STATES

    if set(_DISEASE_RATES) != {st.name for st in STATES}:
        raise NeurosimError("SBML export: the exported rate laws do not cover the model's "
                            "states; this is a bug.")
    for unit in ("mL", "mL/h"):          # used by unit-carrying literals
        b.unit(unit)
    for i, name in enumerate(PARAMETERS):
        row = PARAMETERS[name]
        src = row.source
        if name in overrides:
            src = f"scenario [patient.parameters] (table default {row.value:g}: {row.source})"
        elif params[i] != row.value:
            src = f"this patient (table default {row.value:g}: {row.source})"
        b.parameter(b.sid(name), params[i], row.unit, description=row.description,
                    source=src)
    b.parameter("tumor_gompertz_rate", None, "1/h", constant=True,
                description="Gompertz rate constant alpha that makes the first doubling from "
                            "the diagnosis volume take tumor_doubling_time",
                source="derived: alpha = -ln(1 - ln 2/ln(K/V0))/TVDT (docs/model.md)")
    b.initial_assignment("tumor_gompertz_rate",
                         f"-ln({_ONE} - {_LN2}/ln(tumor_carrying_capacity/"
                         "tumor_volume_diagnosis))/tumor_doubling_time")
    for i, st in enumerate(STATES):
        b.parameter(b.sid(st.name), float(y0_core[i]), st.unit, constant=False,
                    description=f"Disease state: {st.description}", name=st.name)
    for sid, formula, unit, desc in _DISEASE_INTERMEDIATES:
        b.assignment(sid, formula, unit, desc)
    for st in STATES:
        b.rate_rule(b.sid(st.name), _DISEASE_RATES[st.name])


# =========================================================================== treatments


class _Treatments:
    """The compiled drug block of a plan, written as SBML record by record."""

    def __init__(self, b: _Builder, ct, plan, liver: str, body_weight: float):
        from .treatments import pk as K

        self.b, self.ct, self.plan, self.K = b, ct, plan, K
        self.lib = plan.library
        self.liver = liver
        self.derived = (f"derived by the liver model for {liver} and {body_weight:g} kg "
                        "(docs/drugs.md section 2) from: ")
        self.blk = np.asarray(ct.block, dtype=np.float64)
        self.sids = [b.sid(n) for n in ct.state_names]
        self.terms: dict[int, list[str]] = {j: [] for j in range(ct.n_states)}
        self.factors: dict[str, list[str]] = {}      # multiplicative slots
        self.adds: dict[str, list[str]] = {}         # concentration and additive slots
        self.drugs = self._records(K.H_NDRUG, K.H_DRUG, K.DRUG_STRIDE)
        self.depots = self._records(K.H_NDEPOT, K.H_DEPOT, K.DEPOT_STRIDE)
        self.inputs = self._records(K.H_NINPUT, K.H_INPUT, K.INPUT_STRIDE)
        self.effects = self._records(K.H_NEFFECT, K.H_EFFECT, K.EFFECT_STRIDE)
        self.procs = self._records(K.H_NPROC, K.H_PROC, K.PROC_STRIDE)
        self.policies = self._records(K.H_NPOLICY, K.H_POLICY, K.POLICY_STRIDE)
        o = int(self.blk[K.H_OPIOID])
        self.opioid = None if o < 0 else self.blk[o: o + K.OPIOID_STRIDE]
        self.input_ids = self._input_ids()
        self.policy_ids: list[str] = []
        self.proc_names = [ct.state_names[int(r[K.PR_A])].split(".")[0] for r in self.procs]

    def _records(self, h_count, h_off, stride):
        """Records of one kind; offsets in the header are relative to the block start."""
        n = int(self.blk[h_count])
        off = int(self.blk[h_off])
        return [self.blk[off + i * stride: off + (i + 1) * stride] for i in range(n)]

    def state(self, j) -> str:
        return self.sids[int(j)]

    def drug_name(self, rec) -> str:
        return self.ct.state_names[int(rec[self.K.D_C])].split(".")[0]

    def _input_ids(self) -> list[str]:
        """A name per input record: drug and route (and 'infusion'), in compile order."""
        used: dict[str, list] = {}
        for reg in self.plan.regimens:
            form = "bolus" if reg.form == "bolus" else "infusion"
            if (reg.route, form) not in used.setdefault(reg.drug, []):
                used[reg.drug].append((reg.route, form))
        for r in self.plan.rescues:
            if (r.route, "bolus") not in used.setdefault(r.drug, []):
                used[r.drug].append((r.route, "bolus"))
        order = [(d, route, form) for d in (self.drug_name(r) for r in self.drugs)
                 for route, form in used.get(d, [])]
        if len(order) != len(self.inputs) or any(
                int(inp[self.K.IN_FORM]) != (1 if form == "infusion" else 0)
                for (_, _, form), inp in zip(order, self.inputs)):
            raise NeurosimError("SBML export: the treatment plan and its compiled input "
                                "records disagree; this is a bug.")
        self.input_routes = [(d, route) for d, route, _ in order]
        return [self.b.sid(f"{d}_{route}" + ("_infusion" if form == "infusion" else ""))
                for d, route, form in order]

    # ------------------------------------------------------------------ states

    def add_states(self):
        for j, (name, unit) in enumerate(zip(self.ct.state_names, self.ct.state_units)):
            self.b.parameter(self.sids[j], float(self.ct.y0[j]), unit, constant=False,
                             description=f"Drug-block state {name}", name=name)

    # ------------------------------------------------------------------ PK (pk.drug_rhs)

    def add_pk(self):
        K, b = self.K, self.b
        for rec in self.drugs:
            name = self.drug_name(rec)
            d = b.sid(name)
            drug = self.lib.drug(name)
            pk = drug.pk
            jc = int(rec[K.D_C])
            b.parameter(f"{d}_V1", rec[K.D_V1], "L", description=f"{name}: central volume",
                        source=_src(pk.v1))
            b.parameter(f"{d}_CL", rec[K.D_CL], "L/h",
                        description=f"{name}: linear plasma clearance in this liver state",
                        source=self.derived + _src(pk.cl, pk.fraction_hepatic,
                                                   pk.hepatic_extraction, pk.fu))
            cp = f"{d}_Cp"
            b.assignment(cp, f"{self.state(jc)}/{d}_V1", "mg/L",
                         f"{name}: plasma concentration")
            lin = f"{d}_CL*{cp}"
            self.terms[jc].append(f"-{lin}")
            if rec[K.D_VMAX] > 0.0:
                b.parameter(f"{d}_Vmax", rec[K.D_VMAX], "mg/h",
                            description=f"{name}: saturable elimination capacity",
                            source=_src(pk.vmax))
                b.parameter(f"{d}_Km", rec[K.D_KM], "mg/L",
                            description=f"{name}: Michaelis constant of saturable elimination",
                            source=_src(pk.km))
                self.terms[jc].append(
                    f"-piecewise({d}_Vmax*{cp}/({d}_Km + {cp}), {cp} > {b.lit(0, 'mg/L')}, "
                    f"{b.lit(0, 'mg/h')})")
            for kp, kq, kv, n, qs in ((K.D_P1, K.D_Q2, K.D_V2, 2, (pk.q2, pk.v2)),
                                      (K.D_P2, K.D_Q3, K.D_V3, 3, (pk.q3, pk.v3))):
                if rec[kp] >= 0.0:
                    b.parameter(f"{d}_Q{n}", rec[kq], "L/h",
                                description=f"{name}: intercompartmental clearance to "
                                            f"peripheral compartment {n - 1}",
                                source=_src(qs[0]))
                    b.parameter(f"{d}_V{n}", rec[kv], "L",
                                description=f"{name}: volume of peripheral compartment {n - 1}",
                                source=_src(qs[1]))
                    flow = f"{d}_Q{n}*({cp} - {self.state(rec[kp])}/{d}_V{n})"
                    self.terms[jc].append(f"-{flow}")
                    self.terms[int(rec[kp])].append(flow)
            if rec[K.D_E] >= 0.0:
                b.parameter(f"{d}_ke0", rec[K.D_KE0], "1/h",
                            description=f"{name}: effect-site equilibration rate constant",
                            source=_src(drug.ke0))
                self.terms[int(rec[K.D_E])].append(f"{d}_ke0*({cp} - {self.state(rec[K.D_E])})")
            if rec[K.D_EC50] > 0.0:
                b.parameter(f"{d}_opioid_EC50", rec[K.D_EC50], "mg/L",
                            description=f"{name}: effect-site concentration giving an opioid "
                                        "drive of 1", source=_src(drug.opioid_ec50))
            if rec[K.D_M] >= 0.0:
                met = drug.metabolite
                m = f"{d}_{b.sid(met.name)}"
                jm = int(rec[K.D_M])
                b.parameter(f"{m}_fm", rec[K.D_FM], "mg/mg",
                            description=f"{name}: mg of {met.name} formed per mg of {name} "
                                        "cleared linearly",
                            source=self.derived + _src(met.fm, met.molar_mass,
                                                       drug.molar_mass, pk.fraction_hepatic))
                b.parameter(f"{m}_V", rec[K.D_VM], "L",
                            description=f"{met.name}: volume of distribution",
                            source=_src(met.v))
                b.parameter(f"{m}_CL", rec[K.D_CLM], "L/h",
                            description=f"{met.name}: clearance in this liver state",
                            source=self.derived + _src(met.cl))
                cm = f"{m}_Cp"
                b.assignment(cm, f"{self.state(jm)}/{m}_V", "mg/L",
                             f"{met.name}: plasma concentration")
                self.terms[jm] += [f"{m}_fm*{lin}", f"-{m}_CL*{cm}"]
                if rec[K.D_ME] >= 0.0:
                    b.parameter(f"{m}_ke0", rec[K.D_KE0M], "1/h",
                                description=f"{met.name}: effect-site equilibration rate "
                                            "constant", source=_src(met.ke0))
                    b.parameter(f"{m}_opioid_EC50", rec[K.D_EC50M], "mg/L",
                                description=f"{met.name}: effect-site concentration giving an "
                                            "opioid drive of 1", source=_src(met.opioid_ec50))
                    self.terms[int(rec[K.D_ME])].append(
                        f"{m}_ke0*({cm} - {self.state(rec[K.D_ME])})")
        # absorption from depots, first pass folded into F and Fmet
        for rec in self.depots:
            dr = self.drugs[int(rec[K.DP_DRUG])]
            name = self.drug_name(dr)
            drug = self.lib.drug(name)
            j = int(rec[K.DP_IDX])
            route = self.ct.state_names[j].split(".depot_", 1)[1]
            rs = drug.route(route)
            r = b.sid(f"{name}_{route}")
            b.parameter(f"{r}_ka", rec[K.DP_KA], "1/h",
                        description=f"{name} {route}: absorption rate constant",
                        source=_src(rs.ka))
            b.parameter(f"{r}_F", rec[K.DP_F], "1",
                        description=f"{name} {route}: fraction of the absorbed flux that "
                                    "reaches the systemic circulation (first pass included)",
                        source=self.derived + _src(rs.f_abs, drug.pk.hepatic_extraction,
                                                   drug.pk.cl, drug.pk.fraction_hepatic))
            flux = f"{r}_ka*{self.state(j)}"
            self.terms[j].append(f"-{flux}")
            self.terms[int(dr[K.D_C])].append(f"{r}_F*{flux}")
            if rec[K.DP_FMET] > 0.0:
                b.parameter(f"{r}_Fmet", rec[K.DP_FMET], "mg/mg",
                            description=f"{name} {route}: mg of metabolite formed in first pass "
                                        "per mg absorbed",
                            source=self.derived + _src(drug.metabolite.fm))
                self.terms[int(dr[K.D_M])].append(f"{r}_Fmet*{flux}")

    def multiplier(self, inp) -> str | None:
        """The dose-multiplier state of an input's drug (titrated drugs), or None."""
        dr = self.drugs[int(inp[self.K.IN_DRUG])]
        return self.state(dr[self.K.D_MULT]) if dr[self.K.D_MULT] >= 0.0 else None

    def mme(self, j) -> str | None:
        """The MME-per-mg parameter of input record ``j`` (None when it counts no MME)."""
        if self.opioid is None or self.inputs[j][self.K.IN_MME] <= 0.0:
            return None
        return f"{self.input_ids[j]}_mme"

    def add_inputs(self):
        """MME factors, and zero-order inputs (infusions, patches) scaled by the multiplier."""
        K, b = self.K, self.b
        for j, inp in enumerate(self.inputs):
            mp = self.mme(j)
            if mp is not None:
                name, route = self.input_routes[j]
                b.parameter(mp, inp[K.IN_MME], "1",
                            description=f"{name} {route}: morphine milligram equivalents per mg",
                            source=_src(self.lib.drug(name).route(route).mme))
            if inp[K.IN_FORM] != 1.0:
                continue
            mult = self.multiplier(inp)
            flow = self.state(inp[K.IN_TARGET]) + (f"*{mult}" if mult else "")
            self.terms[int(inp[K.IN_DEST])].append(flow)
            if mp is not None:
                self.terms[int(self.opioid[K.OP_MME])].append(f"{flow}*{mp}")

    # ------------------------------------------------------------------ slots (drug_slot_values)

    def add_effects(self):
        K, b = self.K, self.b
        from .treatments.slots import SLOT_NAMES

        for rec in self.effects:
            dr = self.drugs[int(rec[K.EF_DRUG])]
            name = self.drug_name(dr)
            drug = self.lib.drug(name)
            slot = SLOT_NAMES[int(rec[K.EF_SLOT])]
            spec = next(e for e in drug.effects if e.slot == slot)
            d = b.sid(name)
            js = int(rec[K.EF_STATE])
            if js == int(dr[K.D_C]):        # plasma: amount / V1
                if rec[K.EF_DIV] != dr[K.D_V1]:
                    raise NeurosimError("SBML export: a plasma effect with a divisor other "
                                        "than V1; this is a bug.")
                conc = f"{d}_Cp"
            else:                           # effect site: a concentration already
                if rec[K.EF_DIV] != 1.0:
                    raise NeurosimError("SBML export: an effect-site effect with a divisor "
                                        "other than 1; this is a bug.")
                conc = self.state(js)
            e = b.sid(f"{name}_{slot}")
            if rec[K.EF_KIND] == K.EFFECT_CONCENTRATION:
                b.parameter(f"{e}_scale", rec[K.EF_SCALE], "nM/(mg/L)",
                            description=f"{name}: nM per mg/L (1/molar mass) for the {slot} "
                                        "slot", source=_src(drug.molar_mass))
                self.adds.setdefault(slot, []).append(f"{e}_scale*{b.pos(conc, 'mg/L')}")
                continue
            b.parameter(f"{e}_Emax", rec[K.EF_EMAX], "1",
                        description=f"{name}: maximal effect on the {slot} slot",
                        source=_src(spec.emax))
            b.parameter(f"{e}_EC50", rec[K.EF_EC50], "mg/L",
                        description=f"{name}: concentration of half-maximal effect on the "
                                    f"{slot} slot", source=_src(spec.ec50))
            b.parameter(f"{e}_hill", rec[K.EF_HILL], "1",
                        description=f"{name}: Hill coefficient of the effect on the {slot} slot",
                        source=_src(spec.hill))
            # C^h/(C^h + EC50^h) written with C/EC50 so that its units are checkable
            x = f"({conc}/{e}_EC50)^{e}_hill"
            frac = f"piecewise({_ZERO}, {conc} <= {b.lit(0, 'mg/L')}, {x}/({x} + {_ONE}))"
            sign = "-" if rec[K.EF_KIND] == K.EFFECT_INHIBIT else "+"
            self.factors.setdefault(slot, []).append(f"({_ONE} {sign} {e}_Emax*{frac})")

    def add_opioid(self):
        K, b, op = self.K, self.b, self.opioid
        if op is None:
            return
        pd = self.lib.opioid_pd
        for sid, k, unit, desc, key in (
                ("opioid_Emax", K.OP_EMAX, "1", "maximal effect on spinal transmission",
                 "emax"),
                ("opioid_hill", K.OP_HILL, "1", "Hill coefficient of the opioid effect", "hill"),
                ("opioid_tolerance_max", K.OP_TMAX, "1", "maximal tolerance Tmax",
                 "tolerance_max"),
                ("opioid_tolerance_u50", K.OP_TU50, "1",
                 "plasma drive of half-maximal tolerance occupancy", "tolerance_drive_u50"),
                ("opioid_tolerance_kon", K.OP_TKON, "1/h",
                 "tolerance onset rate constant, ln 2 / onset half-life",
                 "tolerance_onset_halflife"),
                ("opioid_tolerance_koff", K.OP_TKOFF, "1/h",
                 "tolerance recovery rate constant, ln 2 / recovery half-life",
                 "tolerance_recovery_halflife"),
                ("opioid_rebound_gain", K.OP_REB, "1", "withdrawal rebound gain",
                 "rebound_gain"),
                ("opioid_oih_max", K.OP_HMAX, "1", "maximal opioid-induced hyperalgesia",
                 "oih_max"),
                ("opioid_oih_u50", K.OP_HU50, "1", "plasma drive of half-maximal OIH occupancy",
                 "oih_drive_u50"),
                ("opioid_oih_kon", K.OP_HKON, "1/h", "OIH onset rate constant",
                 "oih_onset_halflife"),
                ("opioid_oih_koff", K.OP_HKOFF, "1/h", "OIH recovery rate constant",
                 "oih_recovery_halflife"),
                ("opioid_constipation_u50", K.OP_KU50, "1",
                 "plasma drive of half-maximal constipation", "constipation_u50"),
                ("opioid_constipation_k", K.OP_KK, "1/h", "constipation rate constant",
                 "constipation_halflife"),
                ("opioid_sedation_ratio", K.OP_SED, "1",
                 "sedation EC50 as a multiple of the analgesic one", "sedation_ec50_ratio"),
                ("opioid_respiratory_ratio", K.OP_RESP, "1",
                 "respiratory-depression EC50 as a multiple of the analgesic one",
                 "respiratory_ec50_ratio"),
                ("opioid_side_effect_tolerance", K.OP_SETOL, "1",
                 "share of tolerance that shifts side effects",
                 "side_effect_tolerance_fraction")):
            b.parameter(sid, op[k], unit, description=f"Shared opioid system: {desc}",
                        source=_src(pd[key]))
        effect, plasma = [], []
        for rec in self.drugs:
            name = self.drug_name(rec)
            d = b.sid(name)
            if rec[K.D_EC50] > 0.0:
                effect.append(f"{self.state(rec[K.D_E])}/{d}_opioid_EC50")
                plasma.append(f"{self.state(rec[K.D_C])}/({d}_V1*{d}_opioid_EC50)")
            if rec[K.D_EC50M] > 0.0:
                m = f"{d}_{b.sid(self.lib.drug(name).metabolite.name)}"
                effect.append(f"{self.state(rec[K.D_ME])}/{m}_opioid_EC50")
                plasma.append(f"{self.state(rec[K.D_M])}/({m}_V*{m}_opioid_EC50)")
        b.assignment("opioid_drive", b.pos(_sum(effect), "1"), "1",
                     "Opioid effect-site drive u = sum of Ce/EC50 (analgesia, sedation)")
        b.assignment("opioid_plasma_drive", b.pos(_sum(plasma), "1"), "1",
                     "Opioid plasma drive up = sum of Cp/EC50 (tolerance, OIH, constipation)")
        T, H, Kc = (self.state(op[k]) for k in (K.OP_T, K.OP_H, K.OP_K))
        b.assignment("opioid_v", f"opioid_drive/({_ONE} + {T})", "1",
                     "Tolerance-shifted opioid drive v = u/(1 + T)")
        b.assignment("opioid_spinal_factor",
                     f"{_ONE} - opioid_Emax*piecewise(opioid_v^opioid_hill/({_ONE} + "
                     f"opioid_v^opioid_hill), opioid_v > {_ZERO}, {_ZERO}) + "
                     f"opioid_rebound_gain*{T}/({_ONE} + opioid_v)", "1",
                     "Opioid factor on spinal transmission, with the withdrawal rebound")
        up = "opioid_plasma_drive"
        self.terms[int(op[K.OP_T])].append(
            f"opioid_tolerance_kon*{up}/({up} + opioid_tolerance_u50)*(opioid_tolerance_max"
            f" - {T}) - opioid_tolerance_koff*{T}")
        self.terms[int(op[K.OP_H])].append(
            f"opioid_oih_kon*{up}/({up} + opioid_oih_u50)*(opioid_oih_max - {H})"
            f" - opioid_oih_koff*{H}")
        self.terms[int(op[K.OP_K])].append(
            f"opioid_constipation_k*({up}/({up} + opioid_constipation_u50) - {Kc})")
        shift = f"({_ONE} + opioid_side_effect_tolerance*{T})"
        for sid, ratio, desc in (("opioid_sedation", "opioid_sedation_ratio",
                                  "Opioid sedation score (0-1)"),
                                 ("opioid_respiratory_depression", "opioid_respiratory_ratio",
                                  "Opioid respiratory-depression score (0-1)")):
            x = f"opioid_drive/({ratio}*{shift})"
            b.assignment(sid, f"{x}/({_ONE} + {x})", "1", desc)
        self.factors.setdefault("spinal", []).append("opioid_spinal_factor")
        self.adds.setdefault("oih", []).append(H)

    def add_procedures(self):
        K, b = self.K, self.b
        from .treatments.slots import SLOT_NAMES

        for name, rec in zip(self.proc_names, self.procs):
            proc = self.lib.procedure(name)
            p = b.sid(name)
            slot = SLOT_NAMES[int(rec[K.PR_SLOT])]
            a = self.state(rec[K.PR_A])
            if rec[K.PR_KIND] == K.PROC_BLOCK:
                bb = self.state(rec[K.PR_B])
                b.parameter(f"{p}_k", rec[K.PR_RATE], "1/h",
                            description=f"{name}: rate constant of each of the two recovery "
                                        "stages, 2 / recovery time",
                            source="derived: 2 / recovery_time; " + _src(proc.recovery_time))
                self.terms[int(rec[K.PR_A])].append(f"-{p}_k*{a}")
                self.terms[int(rec[K.PR_B])] += [f"{p}_k*{a}", f"-{p}_k*{bb}"]
                self.factors.setdefault(slot, []).append(f"({_ONE} - ({a} + {bb}))")
            else:
                b.parameter(f"{p}_depth", rec[K.PR_RATE], "1",
                            description=f"{name}: fractional reduction of the {slot} slot "
                                        "while on", source=_src(proc.depth))
                self.factors.setdefault(slot, []).append(f"({_ONE} - {p}_depth*{a})")

    def add_slots(self):
        from .model import SLOTS

        for sl in SLOTS:
            sid = f"slot_{sl.name}"
            desc = f"Treatment slot {sl.name}: {sl.description}"
            if sl.kind == "mult" and self.factors.get(sl.name):
                self.b.assignment(sid, "*".join(self.factors[sl.name]), sl.unit, desc)
            elif sl.kind != "mult" and self.adds.get(sl.name):
                self.b.assignment(sid, _sum(self.adds[sl.name]), sl.unit, desc)
            else:
                self.b.parameter(sid, sl.default, sl.unit,
                                 description=desc + "; no treatment acts on it in this scenario")

    def add_rate_rules(self):
        """Drug states with a rate law; the others (rates, multipliers, counters) change
        only at events."""
        for j, terms in self.terms.items():
            if terms:
                self.b.rate_rule(self.sids[j], _sum(terms))

    # ------------------------------------------------------------------ policies

    def add_policies(self):
        K, b = self.K, self.b
        nt = len(self.plan.titrations)
        for k, rec in enumerate(self.policies):
            name = self.drug_name(self.drugs[int(rec[K.PO_DRUG])])
            if rec[K.PO_KIND] == K.POLICY_TITRATE:
                pid = b.sid(f"{name}_titration")
                for key, idx, desc in (
                        ("target_nrs", K.PO_P0, "raise the dose while the NRS is above this"),
                        ("step", K.PO_P1, "fractional dose increase"),
                        ("severe_nrs", K.PO_P2, "NRS from which the severe step applies"),
                        ("severe_step", K.PO_P3, "fractional dose increase in severe pain"),
                        ("max_multiplier", K.PO_P4, "largest dose multiplier"),
                        ("consecutive", K.PO_P5,
                         "decisions above target in a row before a raise")):
                    b.parameter(f"{pid}_{key}", rec[idx], "1",
                                description=f"Titration of {name}: {desc}",
                                source="scenario [[treatments.titration]]")
            else:
                pid = f"rescue{k - nt}"
                b.parameter(f"{pid}_threshold_nrs", rec[K.PO_P0], "1",
                            description=f"Rescue policy {k - nt} ({name}): a dose when the NRS "
                                        "is at least this", source="scenario [[treatments.rescue]]")
                b.parameter(f"{pid}_min_interval", rec[K.PO_P1], "h",
                            description=f"Rescue policy {k - nt} ({name}): minimum time between "
                                        "rescue doses", source="scenario [[treatments.rescue]]")
            self.policy_ids.append(pid)

    # ------------------------------------------------------------------ events (apply_dose)

    def describe_record(self, tag: int, target_id: str):
        """(event word, unit of the record's amount or None, words) of a dose tag."""
        K = self.K
        kind, rec = divmod(int(tag), K.TAG_STRIDE)
        if kind == K.TAG_BOLUS:
            return "bolus", "mg", f"{self.input_ids[rec]} bolus into {target_id}"
        if kind == K.TAG_PLAIN:
            return "addition", "unit of the target", f"addition to {target_id}"
        if kind == K.TAG_RATE_ON:
            return "rate_on", "mg/h", f"{self.input_ids[rec]} switched on ({target_id})"
        if kind == K.TAG_RATE_OFF:
            return "rate_off", "mg/h", f"{self.input_ids[rec]} switched off ({target_id})"
        if kind == K.TAG_TITRATE:
            return "titration", None, f"titration decision ({self.policy_ids[rec]})"
        if kind == K.TAG_RESCUE:
            return "rescue", "mg", f"rescue check ({self.policy_ids[rec]}) into {target_id}"
        if kind == K.TAG_BLOCK:
            return "block", "1", f"nerve block ({self.proc_names[rec]})"
        if kind == K.TAG_STIM_ON:
            return "stimulator_on", None, f"stimulator on ({self.proc_names[rec]})"
        if kind == K.TAG_STIM_OFF:
            return "stimulator_off", None, f"stimulator off ({self.proc_names[rec]})"
        raise NeurosimError(f"SBML export: unknown dose tag {tag}; this is a bug.")

    def actions(self, tag: int, X: str, A: str | None, amount: float, rate_unit: str):
        """Event assignments of one dose record, as ``pk.apply_dose`` applies it."""
        K, b = self.K, self.b
        kind, rec = divmod(int(tag), K.TAG_STRIDE)
        if kind in (K.TAG_PLAIN, K.TAG_RATE_ON):
            return [(X, f"{X} + {A}")]
        if kind == K.TAG_RATE_OFF:
            # rates are sums of the nominal rates switched on: round-off residue removed
            tol = b.lit(1e-12 * max(abs(amount), 1.0), rate_unit)
            return [(X, f"piecewise({b.lit(0, rate_unit)}, abs({X} - {A}) <= {tol}, "
                        f"{X} - {A})")]
        if kind == K.TAG_BOLUS:
            return self._give(rec, X, A)
        if kind == K.TAG_TITRATE:
            po = self.policies[rec]
            pid = self.policy_ids[rec]
            im = self.state(self.drugs[int(po[K.PO_DRUG])][K.D_MULT])
            ic = self.state(po[K.PO_A])
            above = f"nrs > {pid}_target_nrs"
            raise_ = f"{above} && {ic} + {_ONE} >= {pid}_consecutive"
            step = f"piecewise({pid}_severe_step, nrs >= {pid}_severe_nrs, {pid}_step)"
            raised = f"{im}*({_ONE} + {step})"
            return [(im, f"piecewise(piecewise({pid}_max_multiplier, {raised} > "
                         f"{pid}_max_multiplier, {raised}), {raise_}, {im})"),
                    (ic, f"piecewise({_ZERO}, {raise_}, {ic} + {_ONE}, {above}, {_ZERO})")]
        if kind == K.TAG_RESCUE:
            po = self.policies[rec]
            pid = self.policy_ids[rec]
            il, cnt = self.state(po[K.PO_A]), self.state(po[K.PO_B])
            cond = (f"nrs >= {pid}_threshold_nrs && time - {il} >= {pid}_min_interval - "
                    f"{b.lit(1e-9, 'h')}")
            give = self._give(int(po[K.PO_P2]), X, A)
            return ([(v, f"piecewise({f}, {cond}, {v})") for v, f in give]
                    + [(il, f"piecewise(time, {cond}, {il})"),
                       (cnt, f"piecewise({cnt} + {_ONE}, {cond}, {cnt})")])
        if kind == K.TAG_BLOCK:
            pr = self.procs[rec]
            a, bb = self.state(pr[K.PR_A]), self.state(pr[K.PR_B])
            # a repeat block cuts a fraction of what still transmits; it starts afresh
            return [(a, f"{_ONE} - ({_ONE} - ({a} + {bb}))*({_ONE} - {A})"), (bb, _ZERO)]
        if kind == K.TAG_STIM_ON:
            return [(X, _ONE)]
        if kind == K.TAG_STIM_OFF:
            return [(X, _ZERO)]
        raise NeurosimError(f"SBML export: unknown dose tag {tag}; this is a bug.")

    def _give(self, j: int, X: str, A: str):
        """``pk._give``: a bolus through input ``j``, scaled by the multiplier, counted in MME."""
        mult = self.multiplier(self.inputs[j])
        given = f"{A}*{mult}" if mult else A
        out = [(X, f"{X} + {given}")]
        mp = self.mme(j)
        if mp is not None:
            cum = self.state(self.opioid[self.K.OP_MME])
            out.append((cum, f"{cum} + {given}*{mp}"))
        return out


def _runs(times, tol=1e-9):
    """Sorted times split into maximal arithmetic runs: [(start, interval, count, positions)]."""
    out = []
    i, n = 0, len(times)
    while i < n:
        if i + 1 == n:
            out.append((times[i], 0.0, 1, [i]))
            break
        dt = times[i + 1] - times[i]
        j = i + 1
        while j + 1 < n and abs((times[j + 1] - times[j]) - dt) <= tol * max(1.0, abs(times[j])):
            j += 1
        count = j - i + 1
        out.append((times[i], (times[j] - times[i]) / (count - 1), count, list(range(i, j + 1))))
        i = j + 1
    return out


def _ranks(after: dict, n: int) -> list:
    """A rank per run such that every edge a -> b has rank[a] < rank[b] (smallest first)."""
    indeg = [0] * n
    for bs in after.values():
        for b_ in bs:
            indeg[b_] += 1
    ready = [k for k in range(n) if indeg[k] == 0]
    heapq.heapify(ready)
    rank = [0] * n
    done = 0
    while ready:
        k = heapq.heappop(ready)
        rank[k] = done
        done += 1
        for b_ in sorted(after[k]):
            indeg[b_] -= 1
            if indeg[b_] == 0:
                heapq.heappush(ready, b_)
    if done != n:
        raise ScenarioError("dose schedules meet at the same times in opposite orders, which "
                            "SBML event priorities cannot reproduce; this schedule is not "
                            "exported to SBML.")
    return rank


def _add_events(tr: _Treatments, shift: float) -> int:
    """The dose table as SBML events: one event per arithmetic run of identical records.

    A run of ``count`` records ``start + k interval`` fires when ``time >= start + done
    interval`` and counts ``done`` up. Same-time records keep neurosim's order (the
    dose table's) through event priorities.
    """
    from .model import STATES

    b, ct = tr.b, tr.ct
    times, targets, amounts, tags = (np.asarray(a) for a in ct.doses)
    n_core = ct.n_core

    def target_of(i):
        i = int(i)
        if i < n_core:
            return b.sid(STATES[i].name), STATES[i].unit
        return tr.sids[i - n_core], ct.state_units[i - n_core]

    # identical records form a group; a record repeated at one time opens another group
    groups: dict = {}
    seen: dict = {}
    for i in range(len(times)):
        key = (int(targets[i]), float(amounts[i]), int(tags[i]))
        occ = seen.get((key, float(times[i])), 0)
        seen[(key, float(times[i]))] = occ + 1
        groups.setdefault(key + (occ,), []).append(i)
    runs = []
    run_of_row = np.zeros(len(times), dtype=np.int64)
    for gk, rows in groups.items():
        for start, interval, count, local in _runs([float(times[r]) for r in rows]):
            run_of_row[[rows[m] for m in local]] = len(runs)
            runs.append((gk, start, interval, count))
    # records at one time are applied in table order: edges for the priorities
    after: dict = {r: set() for r in range(len(runs))}
    i = 0
    while i < len(times):
        j = i
        while j + 1 < len(times) and times[j + 1] == times[i]:
            j += 1
        seq = [int(run_of_row[k]) for k in range(i, j + 1)]
        for r0, r1 in zip(seq, seq[1:]):
            if r0 != r1:
                after[r0].add(r1)
        i = j + 1
    rank = _ranks(after, len(runs))
    for r, ((target, amount, tag, _), start, interval, count) in enumerate(runs):
        X, x_unit = target_of(target)
        word, unit, what = tr.describe_record(tag, X)
        if unit == "unit of the target":
            unit = x_unit
        eid = f"dose{r}"
        A = None
        if unit is not None:
            A = f"{eid}_amount"
            b.parameter(A, amount, unit, description=f"{what}: amount of each record",
                        source="scenario [treatments]")
        b.parameter(f"{eid}_start", start + shift, "h",
                    description=f"{what}: time of the first record",
                    source="scenario [treatments]" + (", shifted by the treatment start"
                                                      if shift else ""))
        b.parameter(f"{eid}_interval", interval, "h",
                    description=f"{what}: interval between records",
                    source="scenario [treatments]")
        b.parameter(f"{eid}_count", float(count), "1",
                    description=f"{what}: number of records", source="scenario [treatments]")
        b.parameter(f"{eid}_done", 0.0, "1", constant=False,
                    description=f"{what}: records applied so far")
        trigger = (f"time >= {eid}_start + {eid}_done*{eid}_interval && "
                   f"{eid}_done < {eid}_count")
        acts = tr.actions(tag, X, A, amount, x_unit)
        acts.append((f"{eid}_done", f"{eid}_done + {_ONE}"))
        b.event(f"{eid}_{word}", trigger, acts, len(runs) - rank[r],
                f"{what}: {count} record(s) from {start + shift:g} h every {interval:g} h")
    return len(runs)


# =========================================================================== entry points


def _initial_state(sc, P, from_diagnosis: bool, rtol: float):
    """Core state at the model's time 0, the treatment start (h after diagnosis), presented."""
    from . import model as _model
    from ._progress import make_progress
    from .simulation import _natural_history

    # the same natural history as simulate_scenario: presentation day on a daily grid
    y_lead, start, presented, status, messages = _natural_history(
        sc, P, 1, rtol, 1, make_progress(None, total=1))
    if status[0] != 0:
        raise NeurosimValueError(f"SBML export: the natural history of this patient failed: "
                                 f"{messages[0]}.")
    start, presented = float(start[0]), bool(presented[0])
    if from_diagnosis:
        return _model.initial_state(P)[0], start, presented
    y = np.asarray(y_lead[0], dtype=np.float64)
    lead = min(sc.history, start)          # y_lead is the state at start - history
    if lead > 0:
        # the untreated system (no drug states) in the solver neurosim uses for scenarios
        from .model import N_CORE, N_MODEL_PARAMS
        from .simulation import _solve
        from .treatments import TreatmentPlan

        ct0 = TreatmentPlan(library=sc.library).compile(n_core=N_CORE,
                                                        p_offset=N_MODEL_PARAMS, t_end=1.0)
        yy, status, _, _ = _solve(y[None, :], np.array([0.0, lead]), ct0.parameters(P), ct0,
                                  _model.default_atol(rtol), rtol, 1, None, 1, None)
        if status[0] != 0:
            raise NeurosimValueError("SBML export: the untreated course to treatment start "
                                     "failed for this patient.")
        y = yy[0, -1]
    return y, start, presented


def export_sbml(scenario, path=None, *, patient: int | None = None,
                from_diagnosis: bool = False, rtol: float = 1e-10) -> str:
    """Write one patient of a scenario as an SBML Level 3 Version 1 model.

    Parameters
    ----------
    scenario : Scenario or str or Path
        A scenario, a scenario file, or a packaged scenario name.
    path : str or Path, optional
        File to write (replaced atomically). Nothing is written when the
        export fails.
    patient : int, optional
        For a scenario with a virtual population (``[population] size >
        1``): which patient (0-based) to export; an SBML model is one
        patient.
    from_diagnosis : bool
        Time 0 at diagnosis (initial state: the quasi-steady state at the
        diagnosis volume; the treatment schedule shifted by the patient's
        treatment start) instead of at treatment start (the default).
    rtol : float
        Relative tolerance of the untreated natural history that gives the
        presentation day and the state at treatment start.

    Returns
    -------
    str
        The SBML document.

    Raises
    ------
    ScenarioError
        For what SBML cannot express faithfully: a whole virtual population
        (without ``patient``), or same-time dose schedules whose order
        event priorities cannot reproduce. Nothing is written.
    MissingDependencyError
        When python-libsbml is not installed (``pip install
        "neurosim[sbml]"``).

    Examples
    --------
    >>> text = export_sbml("morphine_fixed", "morphine_fixed.xml")   # doctest: +SKIP
    """
    from . import __version__
    from .model import N_CORE, N_MODEL_PARAMS
    from .scenario import Scenario, load_scenario
    from .simulation import patient_parameters

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) \
            or not 1e-14 <= rtol <= 1e-2:
        raise NeurosimValueError(f"rtol must lie between 1e-14 and 1e-2; got {rtol!r}.")
    P = patient_parameters(sc)
    n = P.shape[0]
    if patient is None:
        if n > 1:
            raise ScenarioError(
                f"a virtual population ([population] size = {n}) is not exported to SBML: an "
                "SBML model describes one patient and cannot draw patients from the "
                "population's distributions. Export one patient with patient=K (command "
                f"line: --patient K), K from 0 to {n - 1}.", file=sc.source,
                key="population.size")
        k = 0
    else:
        if isinstance(patient, bool) or not isinstance(patient, (int, np.integer)) \
                or not 0 <= int(patient) < n:
            raise NeurosimValueError(f"patient must be a whole number from 0 to {n - 1}; got "
                                     f"{patient!r}.")
        k = int(patient)
    ls = _libsbml()
    P = P[k:k + 1]
    y_core, start, presented = _initial_state(sc, P, bool(from_diagnosis), float(rtol))
    plan = sc.plan
    ct = plan.compile(n_core=N_CORE, p_offset=N_MODEL_PARAMS, t_end=sc.duration)

    b = _Builder(ls, _Builder.sid(f"neurosim_{sc.name}"), f"neurosim {__version__}: {sc.name}")
    who = f"patient {k} of a population of {n}" if n > 1 else "the scenario's patient"
    if sc.presentation_nrs is not None:
        rule = (f"treatment starts on the first day with NRS >= {sc.presentation_nrs:g}"
                + ("" if presented else " (never reached: started at the presentation "
                                        "limit)"))
    else:
        rule = "treatment starts at a fixed time"
    when = (f"time 0 is diagnosis; the treatment schedule is shifted by the treatment start, "
            f"{start:g} h after diagnosis" if from_diagnosis else
            f"time 0 is treatment start ({start:g} h after diagnosis) and the disease states "
            "start at neurosim's state of this patient at that time")
    b.describe(b.model,
               f"neurosim {__version__} model of the scenario '{sc.name}'"
               + (f" ({sc.description})" if sc.description else "")
               + f": {who}, liver {sc.liver}, body weight {sc.body_weight:g} kg; {rule}; "
               f"{when}. Time in hours. {plan.describe()} The doses and decisions cover the "
               f"scenario's {sc.duration:g} h of treatment. Written by "
               "neurosim.sbml.export_sbml (docs/sbml.md).")

    _add_disease(b, P[0], y_core, sc.parameter_overrides)
    tr = _Treatments(b, ct, plan, sc.liver, sc.body_weight)
    tr.add_states()
    tr.add_pk()
    tr.add_inputs()
    tr.add_effects()
    tr.add_opioid()
    tr.add_procedures()
    tr.add_slots()
    tr.add_rate_rules()
    tr.add_policies()
    _add_events(tr, start if from_diagnosis else 0.0)

    errors = [m for sev, m in _check(b.doc, ls) if sev == "error"]
    if errors:
        raise NeurosimError("SBML export: the generated model fails libsbml's consistency "
                            "check (this is a bug): " + "; ".join(errors[:5]))
    text = ls.writeSBMLToString(b.doc)
    if path is not None:
        _write_atomic(Path(path), text)
    return text


def _check(doc, ls) -> list:
    """libsbml's consistency checks, units included: [(severity, message)]."""
    doc.setConsistencyChecks(ls.LIBSBML_CAT_UNITS_CONSISTENCY, True)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        sev = ("error" if e.getSeverity() >= ls.LIBSBML_SEV_ERROR else
               "warning" if e.getSeverity() == ls.LIBSBML_SEV_WARNING else "info")
        out.append((sev, f"{e.getCategoryAsString()} {e.getErrorId()}: "
                         f"{e.getMessage().strip()}"))
    return out


def sbml_consistency(text_or_path) -> list:
    """libsbml's reading and consistency checks (units included) of an SBML document.

    Parameters
    ----------
    text_or_path : str or Path
        SBML text, or a file name.

    Returns
    -------
    list of (str, str)
        ``(severity, message)`` with severity ``"error"``, ``"warning"`` or
        ``"info"``.
    """
    ls = _libsbml()
    s = str(text_or_path)
    doc = ls.readSBMLFromString(s) if s.lstrip().startswith("<") else ls.readSBMLFromFile(s)
    read = [("error", doc.getError(i).getMessage().strip()) for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= ls.LIBSBML_SEV_ERROR]
    return read + _check(doc, ls)


def _write_atomic(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ResultsFileError(f"{path}: the folder {folder} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
