"""Initial conditions and a convenience driver for the untreated (or
constantly treated) disease model.

The driver is a thin layer over :func:`neurosim.solver.solve_ensemble`;
``backend="scipy"`` runs ``scipy.integrate.solve_ivp`` instead (used as an
independent reference in the tests).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NeurosimValueError
from .equations import fixed_slot_jac, fixed_slot_rhs, model_jac, model_rhs
from .outputs import check_params, check_slots, outputs, power
from .parameters import N_MODEL_PARAMS, PARAMETER_INDEX as PI, default_parameters
from .states import N_CORE, N_SLOTS, STATE_INDEX as SI, STATES, default_slots

__all__ = ["initial_state", "simulate", "Simulation", "STATE_SCALES", "default_atol"]

#: ``land_on_saves`` for the disease model's solves (here and in
#: :mod:`neurosim.simulation`): the Rosenbrock steps interpolate the save times,
#: DOP853's (``"auto"`` at rtol <= 1e-4) land on them. The model's steps are far
#: shorter than the spacing of its save times, and on the reference virtual trial
#: landing the Rosenbrock steps took 23 % more steps for the same error at the
#: save times; DOP853's interpolant was 2e-4 off where its steps were 1e-6
#: (docs/solver.md, "Save times").
LAND_ON_SAVES = ("dop853",)

HOURS_PER_MONTH = 730.0  # 8760 h / 12

#: Typical magnitude of each core state, used for per-state absolute tolerances.
STATE_SCALES = np.array([
    100.0,   # tumor_volume (mL)
    1.0,     # macrophages
    100.0,   # tnf (pg/mL)
    100.0,   # il6 (pg/mL)
    1.0,     # pge2
    100.0,   # ngf_free (pg/mL)
    100.0,   # ngf_bound (pg/mL)
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
])
assert STATE_SCALES.shape == (N_CORE,)


def default_atol(rtol: float = 1e-6) -> np.ndarray:
    """Per-state absolute tolerances: ``rtol`` times each state's typical magnitude."""
    return rtol * STATE_SCALES


def _hill2(x, k):
    x2 = x * x
    return x2 / (x2 + k * k)


def initial_state(params, slots=None, *, tumor_volume=None, max_iterations: int = 20_000) -> np.ndarray:
    """Quasi-steady state of the disease at a fixed tumor volume.

    At diagnosis the tumor has grown slowly for months to years, so every
    faster process is close to the steady state it would reach at the
    current tumor volume. This function returns that steady state (tumor
    growth switched off), on the lower branch when the central
    self-reinforcing loop could support more than one.

    Parameters
    ----------
    params : array_like, shape (..., >= N_MODEL_PARAMS)
        Model parameter vector(s).
    slots : array_like, shape (..., N_SLOTS), optional
        Constant treatment slots (default: untreated).
    tumor_volume : float or array_like, optional
        Tumor volume (mL); defaults to ``tumor_volume_diagnosis``. Use 0 for
        a tumor-free liver.
    max_iterations : int, optional
        Limit on the fixed-point iterations for the central-sensitization
        loop (they stop once the largest change is below 1e-13).

    Returns
    -------
    ndarray, shape (..., N_CORE)
        Core state in the units of :data:`STATES`.
    """
    p = check_params(params)
    s = check_slots(slots)
    q = lambda n: p[..., PI[n]]  # noqa: E731
    sl = lambda i: s[..., i]     # noqa: E731
    shape = np.broadcast_shapes(p.shape[:-1], s.shape[:-1])
    v = q("tumor_volume_diagnosis") if tumor_volume is None else np.asarray(tumor_volume, float)
    v = np.broadcast_to(v, shape).astype(float)
    ln2 = np.log(2.0)

    mac = sl(8) * (q("liver_inflammation") + q("macrophage_recruitment_tumor") * v)
    tnf = q("tnf_basal") + sl(0) * q("tnf_per_macrophage") * mac
    tnf_act = sl(1) * tnf
    il6 = q("il6_basal") + sl(2) * (q("il6_per_macrophage") * mac
                                    + q("il6_per_tumor_volume") * v + q("il6_per_tnf") * tnf_act)
    pge2 = q("pge2_basal") + sl(4) * (q("pge2_per_tnf") * tnf_act + q("pge2_per_il6") * sl(3) * il6)
    k_ngf = ln2 / q("ngf_half_life")
    prod = k_ngf * (q("ngf_basal") + sl(5) * (q("ngf_per_macrophage") * mac
                                              + q("ngf_per_tumor_volume") * v
                                              + q("ngf_per_tnf") * tnf_act))
    bind = q("antibody_kon") * sl(6)
    out_b = q("antibody_koff") + ln2 / q("ngf_complex_half_life")
    ngf = prod / (k_ngf + bind - bind * q("antibody_koff") / out_b)
    ngf_b = bind * ngf / out_b

    u_tnf = _hill2(tnf_act, q("tnf_k50"))
    u_pge2 = _hill2(pge2, q("pge2_k50"))
    u_ngf = sl(7) * _hill2(ngf, q("trka_k50"))
    fib = 1.0 + q("sprouting_gain") * u_ngf
    sf = (q("sensitization_tnf") * u_tnf + q("sensitization_pge2") * u_pge2
          + q("sensitization_ngf_fast") * u_ngf)
    retro = u_ngf
    ss = q("trpv1_gain") * retro
    qp = q("priming_rate") * _hill2(sf, q("priming_threshold"))
    pr = qp / (qp + ln2 / q("priming_half_life"))

    d50 = q("capsule_stretch_diameter")
    x = power(v / (np.pi / 6.0 * power(d50, 3.0)), q("capsule_stretch_hill") / 3.0)
    stim = (q("capsule_pain_weight") * x / (1.0 + x) + q("chemical_pge2_weight") * u_pge2
            + q("chemical_tnf_weight") * u_tnf)
    a_in = sl(10) * sl(9) * fib * (1.0 + sf + ss + q("priming_weight") * pr) * stim
    cf = q("windup_gain") * _hill2(a_in, q("windup_a50"))

    k_on = ln2 / q("cs_induction_half_time")
    k_off = ln2 / q("cs_half_life")
    h_cs = _hill2(a_in, q("cs_a50"))
    # Iterating the (increasing) steady-state map from zero climbs monotonically to
    # its lowest fixed point: the branch a patient reaches from the healthy state.
    # Each patient stops at its own convergence, so its state does not depend on
    # which other patients share the array (sweeps split populations into batches).
    cs = np.zeros(shape)
    active = np.ones(shape, dtype=bool)
    for _ in range(int(max_iterations)):
        g_eff = sl(11) * q("descending_gain") * cs
        drive = (h_cs + q("cs_ngf_drive") * sl(9) * retro
                 + q("descending_feedback") * _hill2(g_eff, q("descending_k50")) + sl(13))
        new = q("cs_max") * k_on * drive / (k_on * drive + k_off)
        converged = np.abs(new - cs) < 1e-13
        cs = np.where(active, new, cs)
        active &= ~converged
        if not active.any():
            break
    g = q("descending_gain") * cs

    y = np.empty(shape + (N_CORE,))
    for name, val in (("tumor_volume", v), ("macrophages", mac), ("tnf", tnf), ("il6", il6),
                      ("pge2", pge2), ("ngf_free", ngf), ("ngf_bound", ngf_b),
                      ("fiber_density", fib), ("sensitization_fast", sf),
                      ("trka_retrograde", retro), ("sensitization_trpv1", ss), ("priming", pr), ("central_fast", cf),
                      ("central_slow", cs), ("descending_facilitation", g)):
        y[..., SI[name]] = val
    return y


@dataclass(eq=False)
class Simulation:
    """Result of :func:`simulate`.

    Attributes
    ----------
    t : ndarray, shape (n_times,)
        Output times (h).
    y : ndarray, shape (n_members, n_times, N_CORE)
        Core states (units of :data:`STATES`).
    params : ndarray, shape (n_members, N_MODEL_PARAMS)
        Model parameters of each member.
    slots : ndarray, shape (n_members, N_SLOTS)
        Constant slot values used.
    status : ndarray of int, shape (n_members,)
        0 on success.
    """

    t: np.ndarray
    y: np.ndarray
    params: np.ndarray
    slots: np.ndarray
    status: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        """A state by name, shape (n_members, n_times)."""
        return self.y[..., SI[name]]

    @property
    def final_state(self) -> np.ndarray:
        """State at the last output time, shape (n_members, N_CORE)."""
        return self.y[:, -1, :]

    def outputs(self, names=None) -> dict[str, np.ndarray]:
        """Derived outputs (see :func:`neurosim.model.outputs`), shape (n_members, n_times)."""
        return outputs(self.y, self.params[:, None, :], self.slots[:, None, :], names=names)


def _solve_scipy(rhs, jac, y0, t_eval, p, rtol, atol, method, doses):
    """Member-by-member reference integration with scipy, restarting at each bolus."""
    from scipy.integrate import solve_ivp

    n = y0.shape[0]
    out = np.full((n, t_eval.size, N_CORE), np.nan)
    status = np.zeros(n, dtype=np.int64)
    if doses is None:
        d_t, d_target, d_amount = np.zeros(0), np.zeros(0, int), np.zeros((n, 0))
    else:
        d_t = np.asarray(doses[0], float)
        d_target = np.asarray(doses[1], int)
        d_amount = np.broadcast_to(np.atleast_2d(np.asarray(doses[2], float)), (n, d_t.size))
    order = np.argsort(d_t, kind="stable")
    breaks = np.unique(d_t)
    for m in range(n):
        pm = np.ascontiguousarray(p[m])
        buf = np.empty(N_CORE)
        jbuf = np.zeros((N_CORE, N_CORE))

        def fun(t, y, pm=pm, buf=buf):
            rhs(t, y, pm, buf)
            return buf.copy()

        def jfun(t, y, pm=pm, jbuf=jbuf):
            jac(t, y, pm, jbuf)
            return jbuf.copy()

        y = y0[m].copy()
        edges = np.concatenate([[t_eval[0]], breaks[(breaks > t_eval[0]) & (breaks < t_eval[-1])],
                                [t_eval[-1]]])
        ok = True
        for a, b in zip(edges[:-1], edges[1:]):
            for k in order:                    # boluses at the start of this piece
                if d_t[k] == a:
                    y[d_target[k]] += d_amount[m, k]
            inside = (t_eval >= a) & (t_eval < b)
            sol = solve_ivp(fun, (a, b), y, method=method, t_eval=np.append(t_eval[inside], b),
                            jac=jfun if method in ("Radau", "BDF", "LSODA") else None,
                            rtol=rtol, atol=atol)
            if not sol.success:
                ok = False
                break
            out[m, inside] = sol.y[:, :-1].T
            y = sol.y[:, -1].copy()
        if ok:
            for k in order:                    # a dose at the final time shows in the output
                if d_t[k] == t_eval[-1]:
                    y[d_target[k]] += d_amount[m, k]
            out[m, -1] = y
        else:
            out[m] = np.nan
        status[m] = 0 if ok else 1
    return out, status


def simulate(t_eval, params=None, *, y0=None, slots=None, doses=None, backend: str = "auto",
             rtol: float = 1e-6, atol=None, method: str = "auto", threads=None,
             max_steps: int = 200_000) -> Simulation:
    """Integrate the disease model for one patient or a population.

    Parameters
    ----------
    t_eval : array_like, shape (n_times,)
        Increasing output times (h); the first is the start time.
    params : array_like, shape (N_MODEL_PARAMS,) or (n_members, N_MODEL_PARAMS), optional
        Model parameters (default patient when omitted).
    y0 : array_like, shape (N_CORE,) or (n_members, N_CORE), optional
        Initial core state; defaults to :func:`initial_state` (quasi-steady
        state at the diagnosis volume, untreated).
    slots : array_like, shape (N_SLOTS,) or (n_members, N_SLOTS), optional
        Constant treatment slots during the run (default untreated).
    doses : tuple, optional
        ``(times, targets, amounts)``: boluses added to core states (e.g. an
        injection of NGF, in pg/mL of local free NGF, at ``STATE_INDEX
        ["ngf_free"]``); ``amounts`` may be ``(n_members, n_doses)``. Same
        convention as :func:`neurosim.solver.solve_ensemble`.
    backend : {"auto", "ensemble", "scipy"}
        ``"ensemble"`` uses :func:`neurosim.solver.solve_ensemble` (Rosenbrock,
        analytic Jacobian, members in parallel); ``"scipy"`` uses
        ``scipy.integrate.solve_ivp`` member by member; ``"auto"`` prefers the
        ensemble solver when it is available.
    rtol : float
        Relative tolerance.
    atol : float or array_like (N_CORE,), optional
        Absolute tolerance (default :func:`default_atol`).
    method : str
        Solver method: for ``"ensemble"`` passed through (``"auto"``); for
        ``"scipy"`` ``"auto"`` means ``"Radau"``.
    threads : int, optional
        Worker threads for the ensemble solver.
    max_steps : int
        Step limit per member for the ensemble solver.

    Returns
    -------
    Simulation
    """
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size < 2 or np.any(np.diff(t_eval) <= 0):
        raise NeurosimValueError("t_eval must be a 1-D increasing array of at least two times (h)")
    p = check_params(np.asarray(default_parameters() if params is None else params,
                                dtype=np.float64))
    if p.ndim == 1:
        p = p[None, :]
    p = np.ascontiguousarray(p[:, :N_MODEL_PARAMS])
    n = p.shape[0]
    if slots is None:
        s = np.broadcast_to(default_slots(), (n, N_SLOTS)).copy()
    else:
        s = check_slots(slots)
        s = np.broadcast_to(s, (n, N_SLOTS)).copy()
    if y0 is None:
        y0 = initial_state(p)
    y0 = np.asarray(y0, dtype=np.float64)
    if y0.ndim == 1:
        y0 = np.broadcast_to(y0, (n, y0.shape[0]))
    if y0.shape != (n, N_CORE):
        raise NeurosimValueError(
            f"y0 must have {N_CORE} core states ({', '.join(st.name for st in STATES)}) per "
            f"member; got shape {y0.shape} for {n} member(s)")
    y0 = np.ascontiguousarray(y0)
    if atol is None:
        atol = default_atol(rtol)
    treated = not np.all(s == default_slots())
    if treated:
        rhs, jac = fixed_slot_rhs, fixed_slot_jac
        pp = np.ascontiguousarray(np.concatenate([p, s], axis=1))
    else:
        rhs, jac = model_rhs, model_jac
        pp = p

    if backend == "auto":
        try:
            from ..solver import solve_ensemble  # noqa: F401
            backend = "ensemble"
        except ImportError:  # pragma: no cover - solver always ships with neurosim
            backend = "scipy"
    if backend == "ensemble":
        from ..solver import solve_ensemble

        res = solve_ensemble(rhs, y0, t_eval, pp, jac=jac, method=method, rtol=rtol,
                             atol=atol, threads=threads, max_steps=max_steps, doses=doses,
                             autonomous=True, land_on_saves=LAND_ON_SAVES)
        y, status = res.y, np.asarray(res.status)
    elif backend == "scipy":
        y, status = _solve_scipy(rhs, jac, y0, t_eval, pp, rtol, np.broadcast_to(atol, (N_CORE,)),
                                 "Radau" if method == "auto" else method, doses)
    else:
        raise NeurosimValueError(f"unknown backend '{backend}'; use 'auto', 'ensemble' or 'scipy'")
    return Simulation(t=t_eval, y=y, params=p, slots=s, status=status)

