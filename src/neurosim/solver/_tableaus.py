"""Coefficient tables of the integration methods, held as data.

The kernel compiles each method's step from its table with the
coefficients as constants (:mod:`neurosim.solver._unroll`). Every table in
``ROSENBROCK`` gets its step, so adding a Rosenbrock method is adding a
table here, and likewise for the explicit tables in ``EXPLICIT``.

Explicit Runge-Kutta tables
---------------------------
``a`` (s, s) stage matrix, ``b`` (s,) weights of the propagated solution,
``e`` (s,) weights of the error estimate (``b - bhat``), ``c`` (s,) nodes,
``dense`` (s, k) coefficients of the continuous extension
``y(t0 + th*h) = y0 + h * sum_i K_i * sum_j dense[i, j] * th**(j + 1)``.
The last stage of a FSAL table is f at the new point.

Rosenbrock tables (the "u-form" of Hairer & Wanner, Solving ODEs II, IV.7)
---------------------------------------------------------------------------
Each stage solves ``(I/(h*gamma) - J) u_i = f(t + alpha_i h, y + sum_j a_ij u_j)
+ sum_j (c_ij / h) u_j + h * gamma_i * df/dt``; the new solution is
``y + sum_i m_i u_i`` and the error estimate ``sum_i e_i u_i``. The dense
output is ``(1 - th) y0 + th y1 + th (1 - th) sum_k th**k D_k`` with
``D_k = sum_i dense[k, i] u_i``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DP5", "DOP853", "RODAS4", "RODAS5P", "EXPLICIT", "ROSENBROCK"]


class ExplicitTable:
    """Coefficients of an embedded explicit Runge-Kutta pair."""

    family = "explicit"

    def __init__(self, name, a, b, e, c, dense, order, error_order, fsal,
                 lands, e3=None, a_extra=None, c_extra=None):
        self.name = name
        self.a = np.ascontiguousarray(a, dtype=np.float64)
        self.b = np.ascontiguousarray(b, dtype=np.float64)
        self.e = np.ascontiguousarray(e, dtype=np.float64)
        self.c = np.ascontiguousarray(c, dtype=np.float64)
        self.dense = np.ascontiguousarray(dense, dtype=np.float64)
        self.order = order
        self.error_order = error_order
        self.fsal = fsal
        self.stages = len(self.b)
        #: whether its steps end on the save times by default (``land_on_saves``):
        #: True where the continuous extension is the method's weak point
        self.lands = bool(lands)
        #: optional second, lower-order error estimate; with it the error is
        #: ``err5**2 / sqrt(err5**2 + 0.01 * err3**2)`` (Hairer's DOP853)
        self.e3 = None if e3 is None else np.ascontiguousarray(e3, dtype=np.float64)
        #: stages computed only for the dense output, after the step's own
        #: (row k uses the K rows before it); ``dense`` has a row for each
        n_extra = 0 if a_extra is None else len(a_extra)
        self.a_extra = np.zeros((0, self.stages)) if a_extra is None else np.asarray(a_extra, float)
        self.c_extra = np.zeros(0) if c_extra is None else np.asarray(c_extra, float)
        self.rows = self.stages + n_extra


class RosenbrockTable:
    """Coefficients of an embedded Rosenbrock (W-form with exact Jacobian) method."""

    family = "rosenbrock"

    def __init__(self, name, gamma, a, c, alpha, gammai, m, e, dense, order, error_order):
        self.name = name
        self.gamma = float(gamma)
        self.a = np.ascontiguousarray(a, dtype=np.float64)
        self.c = np.ascontiguousarray(c, dtype=np.float64)
        self.alpha = np.ascontiguousarray(alpha, dtype=np.float64)
        self.gammai = np.ascontiguousarray(gammai, dtype=np.float64)
        self.m = np.ascontiguousarray(m, dtype=np.float64)
        self.e = np.ascontiguousarray(e, dtype=np.float64)
        self.dense = np.ascontiguousarray(dense, dtype=np.float64)
        self.order = order
        self.error_order = error_order
        self.stages = len(self.m)
        # Stiffly accurate in the form the kernel can use: the solution is the
        # last stage's input plus its increment (m = a[-1] + unit), and the
        # error estimate is that increment (e = unit).
        s = self.stages
        unit = np.zeros(s)
        unit[-1] = 1.0
        self.last_stage = bool(np.array_equal(self.m, self.a[-1] + unit)
                               and np.array_equal(self.e, unit))


# ---------------------------------------------------------------------------
# Dormand & Prince (1980) 5(4) pair, FSAL, with Shampine's (1986) continuous
# extension of order 4.
_dp5_a = np.zeros((7, 7))
_dp5_a[1, :1] = [1 / 5]
_dp5_a[2, :2] = [3 / 40, 9 / 40]
_dp5_a[3, :3] = [44 / 45, -56 / 15, 32 / 9]
_dp5_a[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
_dp5_a[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
_dp5_a[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
_dp5_b = _dp5_a[6].copy()  # b_7 = 0: the FSAL stage only feeds the error estimate
_dp5_bhat = np.array([5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200,
                      187 / 2100, 1 / 40])
_dp5_c = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_dp5_dense = np.array([
    [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])
# The interpolant is as accurate as the steps, so the steps do not land on
# save times.
DP5 = ExplicitTable("dp5", _dp5_a, _dp5_b, _dp5_b - _dp5_bhat, _dp5_c, _dp5_dense,
                    order=5, error_order=4, fsal=True, lands=False)


# ---------------------------------------------------------------------------
# DOP853: Dormand & Prince's order-8 pair with Hairer's error estimate (orders
# 5 and 3 combined) and continuous extension of order 7 (Hairer, Norsett &
# Wanner, Solving ODEs I, 2nd ed., II.10), which needs three more stages. The
# coefficients are read from SciPy, which carries the published table; here
# they are arranged as a FSAL table of 13 stages (the 13th is f at the new
# point, the next step's first) and the continuous extension, written by
# Hairer as nested products of theta and (1 - theta), is expanded into
# powers of theta per stage.
def _dop853():
    from scipy.integrate._ivp import dop853_coefficients as co

    s = co.N_STAGES + 1                      # 12 stages + f at the new point
    a = np.zeros((s, s))
    a[:co.N_STAGES, :co.N_STAGES] = co.A[:co.N_STAGES, :co.N_STAGES]
    a[co.N_STAGES, :co.N_STAGES] = co.B
    b = np.append(co.B, 0.0)
    c = np.append(co.C[:co.N_STAGES], 1.0)
    a_extra = co.A[s:co.N_STAGES_EXTENDED, :co.N_STAGES_EXTENDED]
    rows = co.N_STAGES_EXTENDED
    # y(t0 + th h) = y0 + sum_m F_m w_m(th), F_m = h * (coefficients of K) . K
    bb = np.zeros(rows)
    bb[:co.N_STAGES] = co.B
    unit0 = np.zeros(rows)
    unit0[0] = 1.0
    unit_new = np.zeros(rows)
    unit_new[co.N_STAGES] = 1.0
    F = [bb, unit0 - bb, 2.0 * bb - unit0 - unit_new] + [co.D[k] for k in range(4)]
    P = np.polynomial.polynomial
    th, one_m = [0.0, 1.0], [1.0, -1.0]
    w, cur = [], [1.0]
    for m in range(7):                       # th, th(1-th), th^2(1-th), ...
        cur = P.polymul(cur, th if m % 2 == 0 else one_m)
        w.append(np.pad(cur, (0, 8 - len(cur))))
    dense = np.zeros((rows, 7))
    for m in range(7):
        dense += np.outer(F[m], w[m][1:8])
    # Its order-7 dense output is not accurate where the step sits at the
    # stability boundary (4.6e-6 off at rtol 1e-6 for lambda = -1000), so its
    # steps land on the save times.
    return ExplicitTable("dop853", a, b, co.E5, c, dense, order=8,
                         error_order=7, fsal=True, lands=True,
                         e3=co.E3, a_extra=a_extra,
                         c_extra=co.C[s:co.N_STAGES_EXTENDED])


DOP853 = _dop853()

# ---------------------------------------------------------------------------
# RODAS4 (Hairer & Wanner, Solving ODEs II, 2nd ed., section VI.4): six
# stages, order 4, embedded order 3, stiffly accurate, L-stable, with a
# continuous extension of order 3.
_r4_a = np.zeros((6, 6))
_r4_a[1, :1] = [1.544]
_r4_a[2, :2] = [0.9466785280815826, 0.2557011698983284]
_r4_a[3, :3] = [3.314825187068521, 2.896124015972201, 0.9986419139977817]
_r4_a[4, :4] = [1.221224509226641, 6.019134481288629, 12.53708332932087,
                -0.6878860361058950]
_r4_a[5, :5] = [1.221224509226641, 6.019134481288629, 12.53708332932087,
                -0.6878860361058950, 1.0]
_r4_c = np.zeros((6, 6))
_r4_c[1, :1] = [-5.6688]
_r4_c[2, :2] = [-2.430093356833875, -0.2063599157091915]
_r4_c[3, :3] = [-0.1073529058151375, -9.594562251023355, -20.47028614809616]
_r4_c[4, :4] = [7.496443313967647, -10.24680431464352, -33.99990352819905,
                11.70890893206160]
_r4_c[5, :5] = [8.083246795921522, -7.981132988064893, -31.52159432874371,
                16.31930543123136, -6.058818238834054]
_r4_alpha = np.array([0.0, 0.386, 0.21, 0.63, 1.0, 1.0])
_r4_gammai = np.array([0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0])
_r4_m = np.array([1.221224509226641, 6.019134481288629, 12.53708332932087,
                  -0.6878860361058950, 1.0, 1.0])
_r4_e = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
_r4_dense = np.array([
    [10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823,
     1.025137723295662, 0.0],
    [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386,
     -6.594389125716872, 0.0],
])
RODAS4 = RosenbrockTable("rodas4", 0.25, _r4_a, _r4_c, _r4_alpha, _r4_gammai, _r4_m,
                         _r4_e, _r4_dense, order=4, error_order=3)

# ---------------------------------------------------------------------------
# Rodas5P (Steinebach, "Construction of Rosenbrock-Wanner method Rodas5P and
# numerical benchmarks within the Julia Differential Equations package",
# BIT Numer. Math. 63, 2023): eight stages, order 5, embedded order 4,
# stiffly accurate, with a continuous extension of order 4. Stages 7 and 8
# reuse stage 6's input plus the previous increments, as in Rodas4.
_r5_a = np.zeros((8, 8))
_r5_a[1, :1] = [3.0]
_r5_a[2, :2] = [2.849394379747939, 0.45842242204463923]
_r5_a[3, :3] = [-6.954028509809101, 2.489845061869568, -10.358996098473584]
_r5_a[4, :4] = [2.8029986275628964, 0.5072464736228206, -0.3988312541770524,
                -0.04721187230404641]
_r5_a[5, :5] = [-7.502846399306121, 2.561846144803919, -11.627539656261098,
                -0.18268767659942256, 0.030198172008377946]
_r5_a[6, :6] = np.append(_r5_a[5, :5], 1.0)
_r5_a[7, :7] = np.append(_r5_a[5, :5], [1.0, 1.0])
_r5_c = np.zeros((8, 8))
_r5_c[1, :1] = [-14.155112264123755]
_r5_c[2, :2] = [-17.97296035885952, -2.859693295451294]
_r5_c[3, :3] = [147.12150275711716, -1.41221402718213, 71.68940251302358]
_r5_c[4, :4] = [165.43517024871676, -0.4592823456491126, 42.90938336958603,
                -5.961986721573306]
_r5_c[5, :5] = [24.854864614690072, -3.0009227002832186, 47.4931110020768,
                5.5814197821558125, -0.6610691825249471]
_r5_c[6, :6] = [30.91273214028599, -3.1208243349937974, 77.79954646070892,
                34.28646028294783, -19.097331116725623, -28.087943162872662]
_r5_c[7, :7] = [37.80277123390563, -3.2571969029072276, 112.26918849496327,
                66.9347231244047, -40.06618937091002, -54.66780262877968,
                -9.48861652309627]
_r5_alpha = np.array([0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716,
                      0.4288403609558664, 1.0, 1.0, 1.0])
_r5_gammai = np.array([0.21193756319429014, -0.42387512638858027, -0.3384627126235924,
                       1.8046452872882734, 2.325825639765069, 0.0, 0.0, 0.0])
_r5_m = np.append(_r5_a[5, :5], [1.0, 1.0, 1.0])
_r5_e = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
_r5_dense = np.array([
    [25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204,
     0.524948541321073, 1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
    [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796,
     20.176138334709044, 15.98066361424651, -6.789040303419874, -6.710236069923372],
    [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643,
     -52.072871366152654, -59.78993625266729, -0.15582684282751913, 4.883087185713722],
])
RODAS5P = RosenbrockTable("rodas5p", 0.21193756319429014, _r5_a, _r5_c, _r5_alpha,
                          _r5_gammai, _r5_m, _r5_e, _r5_dense, order=5, error_order=4)

EXPLICIT = {"dp5": DP5, "dop853": DOP853}
ROSENBROCK = {"rodas4": RODAS4, "rodas5p": RODAS5P}
