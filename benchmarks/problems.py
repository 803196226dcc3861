"""Benchmark problems for the ensemble solver: HIRES and an oral PK/PD regimen.

Each problem is plain data plus a Numba-compiled right-hand side and an
analytic Jacobian in the solver's calling convention::

    rhs(t, y, p, dydt)   # writes dy/dt into dydt
    jac(t, y, p, J)      # writes J[i, j] = d f_i / d y_j (every entry)

All solvers in the benchmark are fed these same functions (scipy through a
thin Python wrapper, numbalsoda through a C callback that calls them); only
libroadrunner needs the model as SBML, which :func:`Problem.sbml` writes from
the same constants.

Problems
--------
``hires``
    The HIRES photomorphogenesis problem (8 states, stiff) of the Bari test
    set for IVP solvers, on t in [0, 321.8122]. Each member scales the rate
    of the y1 -> y2 conversion (``k1``, nominally 1.71) by a factor spread
    evenly over [0.5, 1.5].
``pkpd``
    A 6-state oral PK/PD model of a hypothetical analgesic: gut depot ->
    central <-> peripheral (two-compartment disposition, amounts in mg),
    an effect compartment, a slowly adapting tolerance state that raises
    the effective EC50, and an indirect-response biomarker whose production
    the drug inhibits (sigmoid Imax). 100 mg by mouth every 12 h for 30 days
    (60 doses, the first at t = 0), output every hour (721 points). Each
    member has its own clearance, lognormal around 4 L/h (omega 0.3).

Time is in hours in ``pkpd``; HIRES is dimensionless as published.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numba as nb
import numpy as np

from neurosim.solver import problems as _sp

__all__ = ["Problem", "PROBLEMS", "get_problem", "hires", "pkpd"]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: model functions, time grid, dosing, tolerances.

    Attributes
    ----------
    name, title : str
        Short key (used on the command line) and a one-line description.
    state_names, state_units : tuple of str
        Names and units of the states, in vector order.
    param_names : tuple of str
        Names of the per-member parameter vector entries.
    nominal_params : ndarray (n_params,)
        Typical values of those entries.
    varied_param : str
        The one entry that differs between members.
    rhs, jac : numba dispatchers
        Right-hand side and analytic Jacobian (see the module docstring).
    rhs_module_name, jac_module_name : str
        Attribute names of ``rhs``/``jac`` in this module (for adapters
        that must reference them by module attribute to stay cacheable).
    y0 : ndarray (n_states,)
        Initial state, before any dose at ``t_eval[0]``.
    t_eval : ndarray (n_times,)
        Output times; integration starts at ``t_eval[0]``.
    dose_times, dose_amounts : ndarray (n_doses,) or None
        Bolus times and amounts, all into state ``dose_target``.
    dose_target : int
        Index of the dosed state.
    rtol : float
        Relative tolerance of the headline comparison.
    atol_scale : float
        Absolute tolerance divided by relative tolerance: every solver runs
        with ``atol = rtol * atol_scale`` (one scalar for all states, since
        numbalsoda accepts no other). It is also the floor of the error
        metric, so that the metric and the tolerances weigh small values
        alike.
    autonomous : bool
        True when the rhs does not depend on t explicitly (solvers that can
        use it skip the time derivative).
    ensemble_params : callable
        ``ensemble_params(n)`` -> (n, n_params) parameters of an ensemble.
    sample_params : callable
        ``sample_params(k)`` -> (k, n_params) parameters of the members whose
        error is measured; they span the ensemble's spread, tails included.
    sbml : callable
        ``sbml()`` -> SBML text of the model (for libroadrunner).
    """

    name: str
    title: str
    state_names: tuple
    state_units: tuple
    param_names: tuple
    nominal_params: np.ndarray
    varied_param: str
    rhs: Callable
    jac: Callable
    rhs_module_name: str
    jac_module_name: str
    y0: np.ndarray
    t_eval: np.ndarray
    dose_times: np.ndarray | None
    dose_amounts: np.ndarray | None
    dose_target: int
    rtol: float
    atol_scale: float
    autonomous: bool
    ensemble_params: Callable[[int], np.ndarray] = field(repr=False)
    sample_params: Callable[[int], np.ndarray] = field(repr=False)
    sbml: Callable[[], str] = field(repr=False)
    description: str = ""

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def n_doses(self) -> int:
        return 0 if self.dose_times is None else len(self.dose_times)

    def atol(self, rtol: float) -> float:
        """Absolute tolerance paired with ``rtol`` for this problem."""
        return rtol * self.atol_scale



# --------------------------------------------------------------------------
# HIRES
# --------------------------------------------------------------------------
HIRES_K1 = float(_sp.HIRES_P[0])
HIRES_T_END = _sp.HIRES_T_END
HIRES_N_TIMES = 101


# The HIRES right-hand side and Jacobian are the package's own test problem
# (neurosim.solver.problems), so benchmark and tests integrate the same code;
# its parameter vector holds all the rate constants, of which k1 varies here.
hires_rhs = _sp.hires_rhs
hires_jac = _sp.hires_jac


def _hires_params(k1: np.ndarray) -> np.ndarray:
    params = np.tile(_sp.HIRES_P, (k1.size, 1))
    params[:, 0] = k1
    return params


def _hires_ensemble(n_members: int) -> np.ndarray:
    # Evenly spread scale factors; member i's value depends on n only
    # through the grid, which is what "one rate constant varied per
    # member" asks for.
    scale = 0.5 + (np.arange(n_members) + 0.5) / n_members
    return _hires_params(HIRES_K1 * scale)


def _hires_sample(n_sample: int) -> np.ndarray:
    return _hires_params(HIRES_K1 * np.linspace(0.5, 1.5, n_sample))


def _hires_sbml() -> str:
    y = [f"y{i}" for i in range(1, 9)]
    P, T = _plus, _times
    k = {f"k{i + 1}": float(v) for i, v in enumerate(_sp.HIRES_P)}
    r = T("k10", "y6", "y8")
    rules = {
        "y1": P(_neg(T("k1", "y1")), T("k2", "y2"), T("k3", "y3"), "k4"),
        "y2": _minus(T("k1", "y1"), T("k5", "y2")),
        "y3": P(_neg(T("k6", "y3")), T("k2", "y4"), T("k7", "y5")),
        "y4": _minus(P(T("k3", "y2"), T("k13", "y3")), T("k8", "y4")),
        "y5": P(_neg(T("k9", "y5")), T("k2", "y6"), T("k2", "y7")),
        "y6": _minus(P(T("k11", "y4"), T("k13", "y5"), T("k11", "y7")),
                     P(r, T("k2", "y6"))),
        "y7": _minus(r, T("k12", "y7")),
        "y8": _minus(T("k12", "y7"), r),
    }
    return _sbml_document("hires", y, HIRES_Y0, k, rules)


HIRES_Y0 = _sp.HIRES_Y0.copy()

hires = Problem(
    name="hires",
    title="HIRES, 8 states, k1 scaled 0.5-1.5x per member",
    state_names=tuple(f"y{i}" for i in range(1, 9)),
    state_units=("1",) * 8,
    param_names=tuple(f"k{i + 1}" for i in range(_sp.HIRES_P.size)),
    nominal_params=_sp.HIRES_P.copy(),
    varied_param="k1",
    rhs=hires_rhs,
    jac=hires_jac,
    rhs_module_name="hires_rhs",
    jac_module_name="hires_jac",
    y0=HIRES_Y0,
    t_eval=np.linspace(0.0, HIRES_T_END, HIRES_N_TIMES),
    dose_times=None,
    dose_amounts=None,
    dose_target=0,
    rtol=1e-6,
    # States span ~1e-5..1; values below ~1e-4 carry no weight in the
    # published comparisons of this problem.
    atol_scale=1e-4,
    autonomous=True,
    ensemble_params=_hires_ensemble,
    sample_params=_hires_sample,
    sbml=_hires_sbml,
    description=(
        "Bari test set HIRES (Schaefer's photomorphogenesis model), "
        f"t in [0, {HIRES_T_END}], {HIRES_N_TIMES} evenly spaced output times."
    ),
)


# --------------------------------------------------------------------------
# Oral PK/PD, twice daily for 30 days
# --------------------------------------------------------------------------
# Parameter table: name, typical value, unit, description.
PKPD_PARAMETERS = (
    ("ka", 1.2, "1/h", "first-order absorption rate from the gut depot"),
    ("cl", 4.0, "L/h", "clearance from the central compartment (varies per member)"),
    ("vc", 30.0, "L", "central volume of distribution"),
    ("q", 8.0, "L/h", "inter-compartmental clearance"),
    ("vp", 90.0, "L", "peripheral volume of distribution"),
    ("ke0", 3.0, "1/h", "effect-compartment equilibration rate"),
    ("imax", 0.9, "1", "maximal fractional inhibition of biomarker production"),
    ("ec50", 2.0, "mg/L", "effect-site concentration at half-maximal inhibition, without tolerance"),
    ("hill", 1.5, "1", "Hill coefficient of the inhibition"),
    ("ktol", 0.005, "1/h", "rate at which the tolerance state follows the effect-site concentration"),
    ("tol50", 4.0, "mg/L", "tolerance level that doubles the effective EC50"),
    ("kin", 50.0, "pg/mL/h", "zero-order production rate of the biomarker"),
    ("kout", 0.5, "1/h", "first-order loss rate of the biomarker"),
)
PKPD_PARAM_NAMES = tuple(row[0] for row in PKPD_PARAMETERS)
PKPD_NOMINAL = np.array([row[1] for row in PKPD_PARAMETERS])
PKPD_CL_INDEX = PKPD_PARAM_NAMES.index("cl")
PKPD_CL_OMEGA = 0.3
PKPD_SEED = 20240611
PKPD_DOSE_MG = 100.0
PKPD_INTERVAL_H = 12.0
PKPD_DAYS = 30
PKPD_STATES = (
    ("a_gut", "mg", "amount in the gut depot"),
    ("a_central", "mg", "amount in the central compartment"),
    ("a_peripheral", "mg", "amount in the peripheral compartment"),
    ("c_effect", "mg/L", "effect-site concentration"),
    ("tolerance", "mg/L", "tolerance state (slow moving average of c_effect)"),
    ("biomarker", "pg/mL", "biomarker whose production the drug inhibits"),
)


@nb.njit(cache=True)
def pkpd_rhs(t, y, p, dydt):
    ka, cl, vc, q, vp, ke0 = p[0], p[1], p[2], p[3], p[4], p[5]
    imax, ec50, hill, ktol, tol50, kin, kout = p[6], p[7], p[8], p[9], p[10], p[11], p[12]
    a_gut, a_c, a_p, ce, tol, resp = y[0], y[1], y[2], y[3], y[4], y[5]
    c = a_c / vc
    dydt[0] = -ka * a_gut
    dydt[1] = ka * a_gut - (cl + q) / vc * a_c + q / vp * a_p
    dydt[2] = q / vc * a_c - q / vp * a_p
    dydt[3] = ke0 * (c - ce)
    dydt[4] = ktol * (ce - tol)
    inhibition = 0.0
    if ce > 0.0:
        ec50_eff = ec50 * (1.0 + tol / tol50)
        ch = ce ** hill
        inhibition = imax * ch / (ch + ec50_eff ** hill)
    dydt[5] = kin * (1.0 - inhibition) - kout * resp


@nb.njit(cache=True)
def pkpd_jac(t, y, p, J):
    ka, cl, vc, q, vp, ke0 = p[0], p[1], p[2], p[3], p[4], p[5]
    imax, ec50, hill, ktol, tol50, kin, kout = p[6], p[7], p[8], p[9], p[10], p[11], p[12]
    ce, tol = y[3], y[4]
    J[:, :] = 0.0
    J[0, 0] = -ka
    J[1, 0] = ka
    J[1, 1] = -(cl + q) / vc
    J[1, 2] = q / vp
    J[2, 1] = q / vc
    J[2, 2] = -q / vp
    J[3, 1] = ke0 / vc
    J[3, 3] = -ke0
    J[4, 3] = ktol
    J[4, 4] = -ktol
    J[5, 5] = -kout
    if ce > 0.0:
        ec50_eff = ec50 * (1.0 + tol / tol50)
        ch = ce ** hill
        eh = ec50_eff ** hill
        denom = (ch + eh) * (ch + eh)
        # d inhibition / d ce and d inhibition / d ec50_eff (sigmoid Imax)
        d_ce = imax * hill * ch / ce * eh / denom
        d_e = -imax * hill * ch * eh / ec50_eff / denom
        J[5, 3] = -kin * d_ce
        J[5, 4] = -kin * d_e * ec50 / tol50


def _pkpd_params(cl: np.ndarray) -> np.ndarray:
    params = np.tile(PKPD_NOMINAL, (len(cl), 1))
    params[:, PKPD_CL_INDEX] = cl
    return params


def _pkpd_ensemble(n_members: int) -> np.ndarray:
    # A fixed seed: member i has the same clearance whatever n_members is.
    z = np.random.default_rng(PKPD_SEED).standard_normal(n_members)
    return _pkpd_params(PKPD_NOMINAL[PKPD_CL_INDEX] * np.exp(PKPD_CL_OMEGA * z))


def _pkpd_sample(n_sample: int) -> np.ndarray:
    z = np.linspace(-2.5, 2.5, n_sample)
    return _pkpd_params(PKPD_NOMINAL[PKPD_CL_INDEX] * np.exp(PKPD_CL_OMEGA * z))


def _pkpd_sbml() -> str:
    names = [s[0] for s in PKPD_STATES]
    P, T, N, D = _plus, _times, _num, _divide
    c = D("a_central", "vc")
    ec50_eff = T("ec50", P(N(1.0), D("tolerance", "tol50")))
    ch = _power("c_effect", "hill")
    inhibition = D(T("imax", ch), P(ch, _power(ec50_eff, "hill")))
    rules = {
        "a_gut": _neg(T("ka", "a_gut")),
        "a_central": P(_minus(T("ka", "a_gut"), T(D(P("cl", "q"), "vc"), "a_central")),
                       T(D("q", "vp"), "a_peripheral")),
        "a_peripheral": _minus(T(D("q", "vc"), "a_central"), T(D("q", "vp"), "a_peripheral")),
        "c_effect": T("ke0", _minus(c, "c_effect")),
        "tolerance": T("ktol", _minus("c_effect", "tolerance")),
        "biomarker": _minus(T("kin", _minus(N(1.0), inhibition)), T("kout", "biomarker")),
    }
    params = dict(zip(PKPD_PARAM_NAMES, PKPD_NOMINAL.tolist()))
    return _sbml_document("pkpd", names, PKPD_Y0, params, rules)


PKPD_Y0 = np.array([0.0, 0.0, 0.0, 0.0, 0.0, PKPD_NOMINAL[11] / PKPD_NOMINAL[12]])
_PKPD_N_DOSES = int(round(PKPD_DAYS * 24.0 / PKPD_INTERVAL_H))

pkpd = Problem(
    name="pkpd",
    title="oral PK/PD, 6 states, 60 doses q12h over 30 days, hourly output, per-member clearance",
    state_names=tuple(s[0] for s in PKPD_STATES),
    state_units=tuple(s[1] for s in PKPD_STATES),
    param_names=PKPD_PARAM_NAMES,
    nominal_params=PKPD_NOMINAL,
    varied_param="cl",
    rhs=pkpd_rhs,
    jac=pkpd_jac,
    rhs_module_name="pkpd_rhs",
    jac_module_name="pkpd_jac",
    y0=PKPD_Y0,
    t_eval=np.arange(0.0, PKPD_DAYS * 24.0 + 0.5, 1.0),
    dose_times=np.arange(_PKPD_N_DOSES) * PKPD_INTERVAL_H,
    dose_amounts=np.full(_PKPD_N_DOSES, PKPD_DOSE_MG),
    dose_target=0,
    rtol=1e-6,
    # atol = 1e-9 at rtol 1e-6: amounts below ~1 ug and concentrations
    # below ~1 ng/mL are not followed to full relative accuracy.
    atol_scale=1e-3,
    autonomous=True,
    ensemble_params=_pkpd_ensemble,
    sample_params=_pkpd_sample,
    sbml=_pkpd_sbml,
    description=(
        f"{PKPD_DOSE_MG:g} mg orally every {PKPD_INTERVAL_H:g} h for {PKPD_DAYS} days "
        f"({_PKPD_N_DOSES} doses, first at t = 0), hourly output; clearance lognormal "
        f"(typical {PKPD_NOMINAL[PKPD_CL_INDEX]:g} L/h, omega {PKPD_CL_OMEGA}) per member."
    ),
)

PROBLEMS = {"hires": hires, "pkpd": pkpd}


def get_problem(name: str) -> Problem:
    """Look a problem up by its short name."""
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; choose from {sorted(PROBLEMS)}") from None


# --------------------------------------------------------------------------
# Minimal SBML (Level 3 Version 2) writer: every state is a non-constant
# global parameter driven by a rate rule, so the model has no compartments
# or species whose units or volumes a simulator could rescale.
# --------------------------------------------------------------------------
def _num(value: float) -> str:
    return f"<cn> {float(value)!r} </cn>"


def _ci(term) -> str:
    return term if term.startswith("<") else f"<ci> {term} </ci>"


def _apply(op: str, *terms) -> str:
    return f"<apply><{op}/>" + "".join(_ci(t) for t in terms) + "</apply>"


def _plus(*terms) -> str:
    return _apply("plus", *terms)


def _times(*terms) -> str:
    return _apply("times", *terms)


def _minus(a, b) -> str:
    return _apply("minus", a, b)


def _neg(a) -> str:
    return _apply("minus", a)


def _divide(a, b) -> str:
    return _apply("divide", a, b)


def _power(a, b) -> str:
    return _apply("power", a, b)


def _sbml_document(model_id: str, state_names, y0, params: dict, rules: dict) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">',
        f'  <model id="{model_id}">',
        "    <listOfParameters>",
    ]
    for name, value in params.items():
        lines.append(f'      <parameter id="{name}" value="{float(value)!r}" constant="true"/>')
    for name, value in zip(state_names, y0):
        lines.append(f'      <parameter id="{name}" value="{float(value)!r}" constant="false"/>')
    lines += ["    </listOfParameters>", "    <listOfRules>"]
    for name in state_names:
        lines.append(f'      <rateRule variable="{name}">')
        lines.append('        <math xmlns="http://www.w3.org/1998/Math/MathML">')
        lines.append("          " + _ci(rules[name]))
        lines.append("        </math>")
        lines.append("      </rateRule>")
    lines += ["    </listOfRules>", "  </model>", "</sbml>", ""]
    return "\n".join(lines)
