"""Standard initial-value problems for testing and benchmarking the solver.

Each problem is a pair of ``numba.njit`` functions in the solver's form,
``rhs(t, y, p, dydt)`` and ``jac(t, y, p, J)``, with its default
parameters and initial state. They come from the literature on stiff
solvers (the Bari test set for IVP solvers: HIRES and Robertson; Hairer &
Wanner's Van der Pol oscillator) plus a one-compartment oral
pharmacokinetic model with a closed-form solution.

Importable by module path, so their ensemble kernels are cached on disk.
"""
from __future__ import annotations

from .. import _indexing  # noqa: F401  (compiled code indexes without wraparound)

import numpy as np
from numba import njit

__all__ = [
    "HIRES_P", "HIRES_Y0", "HIRES_T_END", "hires_rhs", "hires_jac",
    "ROBERTSON_Y0", "robertson_rhs", "robertson_jac",
    "VDP_Y0", "vdp_rhs", "vdp_jac",
    "oral_pk_rhs", "oral_pk_jac", "oral_pk_exact",
]

# ---------------------------------------------------------------------------
# HIRES: growth and differentiation of plant tissue under light (Schaefer
# 1975), 8 species, from the Bari test set. Parameters are its rate constants
# so an ensemble can vary any of them: p[0] is the y1 -> y2 conversion and
# p[12] the equal-valued (1.71) constant of the y3 and y5 terms in f4 and f6.
HIRES_P = np.array([1.71, 0.43, 8.32, 0.0007, 8.75, 10.03, 0.035, 1.12, 1.745, 280.0,
                    0.69, 1.81, 1.71])
HIRES_Y0 = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057])
HIRES_T_END = 321.8122


@njit(cache=True)
def hires_rhs(t, y, p, dydt):
    k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13 = (
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12])
    r = k10 * y[5] * y[7]
    dydt[0] = -k1 * y[0] + k2 * y[1] + k3 * y[2] + k4
    dydt[1] = k1 * y[0] - k5 * y[1]
    dydt[2] = -k6 * y[2] + k2 * y[3] + k7 * y[4]
    dydt[3] = k3 * y[1] + k13 * y[2] - k8 * y[3]
    dydt[4] = -k9 * y[4] + k2 * y[5] + k2 * y[6]
    dydt[5] = -r + k11 * y[3] + k13 * y[4] - k2 * y[5] + k11 * y[6]
    dydt[6] = r - k12 * y[6]
    dydt[7] = -r + k12 * y[6]


@njit(cache=True)
def hires_jac(t, y, p, J):
    k1, k2, k3, k5, k6, k7, k8, k9, k10, k11, k12, k13 = (
        p[0], p[1], p[2], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12])
    J[:, :] = 0.0
    J[0, 0] = -k1
    J[0, 1] = k2
    J[0, 2] = k3
    J[1, 0] = k1
    J[1, 1] = -k5
    J[2, 2] = -k6
    J[2, 3] = k2
    J[2, 4] = k7
    J[3, 1] = k3
    J[3, 2] = k13
    J[3, 3] = -k8
    J[4, 4] = -k9
    J[4, 5] = k2
    J[4, 6] = k2
    J[5, 3] = k11
    J[5, 4] = k13
    J[5, 5] = -k10 * y[7] - k2
    J[5, 6] = k11
    J[5, 7] = -k10 * y[5]
    J[6, 5] = k10 * y[7]
    J[6, 6] = -k12
    J[6, 7] = k10 * y[5]
    J[7, 5] = -k10 * y[7]
    J[7, 6] = k12
    J[7, 7] = -k10 * y[5]


# ---------------------------------------------------------------------------
# Robertson's chemical kinetics (1966), from the Bari test set; p holds the
# three rate constants (0.04, 1e4, 3e7).
ROBERTSON_Y0 = np.array([1.0, 0.0, 0.0])
ROBERTSON_P = np.array([0.04, 1.0e4, 3.0e7])


@njit(cache=True)
def robertson_rhs(t, y, p, dydt):
    a = p[0] * y[0]
    b = p[1] * y[1] * y[2]
    c = p[2] * y[1] * y[1]
    dydt[0] = -a + b
    dydt[1] = a - b - c
    dydt[2] = c


@njit(cache=True)
def robertson_jac(t, y, p, J):
    J[0, 0] = -p[0]
    J[0, 1] = p[1] * y[2]
    J[0, 2] = p[1] * y[1]
    J[1, 0] = p[0]
    J[1, 1] = -p[1] * y[2] - 2.0 * p[2] * y[1]
    J[1, 2] = -p[1] * y[1]
    J[2, 0] = 0.0
    J[2, 1] = 2.0 * p[2] * y[1]
    J[2, 2] = 0.0


# ---------------------------------------------------------------------------
# Van der Pol oscillator x'' - mu (1 - x^2) x' + x = 0 as y1' = y2,
# y2' = mu (1 - y1^2) y2 - y1; p[0] = mu. Stiff relaxation oscillations for
# large mu (period about (3 - 2 ln 2) mu).
VDP_Y0 = np.array([2.0, 0.0])


@njit(cache=True)
def vdp_rhs(t, y, p, dydt):
    mu = p[0]
    dydt[0] = y[1]
    dydt[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0]


@njit(cache=True)
def vdp_jac(t, y, p, J):
    mu = p[0]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = -2.0 * mu * y[0] * y[1] - 1.0
    J[1, 1] = mu * (1.0 - y[0] * y[0])


# ---------------------------------------------------------------------------
# One-compartment oral pharmacokinetics: y = [gut amount, central amount],
# p = [ka (1/h), ke (1/h)]. Doses go into the gut (state 0).

@njit(cache=True)
def oral_pk_rhs(t, y, p, dydt):
    absorption = p[0] * y[0]
    dydt[0] = -absorption
    dydt[1] = absorption - p[1] * y[1]


@njit(cache=True)
def oral_pk_jac(t, y, p, J):
    J[0, 0] = -p[0]
    J[0, 1] = 0.0
    J[1, 0] = p[0]
    J[1, 1] = -p[1]


def oral_pk_exact(t, dose_times, dose_amounts, ka, ke):
    """Closed-form central amount after repeated oral boluses (superposition).

    Parameters
    ----------
    t : array_like
        Times (h).
    dose_times, dose_amounts : array_like
        Bolus times (h) and amounts (mg) into the gut.
    ka, ke : float
        Absorption and elimination rate constants (1/h), ``ka != ke``.

    Returns
    -------
    gut, central : ndarray
        Amounts (mg) at ``t``.
    """
    t = np.asarray(t, dtype=float)[:, None]
    td = np.asarray(dose_times, dtype=float)[None, :]
    amt = np.asarray(dose_amounts, dtype=float)[None, :]
    dt = t - td
    on = dt >= 0
    dtp = np.where(on, dt, 0.0)
    gut = np.where(on, amt * np.exp(-ka * dtp), 0.0).sum(axis=1)
    central = np.where(on, amt * ka / (ka - ke) * (np.exp(-ke * dtp) - np.exp(-ka * dtp)),
                       0.0).sum(axis=1)
    return gut, central
