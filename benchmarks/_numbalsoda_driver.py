"""numbalsoda adapters: C callbacks around the problems' njit rhs, and the
parallel ensemble driver (LSODA from a ``numba.prange`` loop over members).

Imported only when numbalsoda is installed. The callbacks reach the rhs as
attributes of the ``problems`` module, which keeps them cacheable.
"""
import numba as nb
from numbalsoda import lsoda, lsoda_sig

import problems

_HIRES_N = problems.hires.n_states
_HIRES_P = problems.hires.n_params
_PKPD_N = problems.pkpd.n_states
_PKPD_P = problems.pkpd.n_params


@nb.cfunc(lsoda_sig)  # not cached: its sizes come from problems.py, which numba would not re-check
def hires_callback(t, u, du, p):
    problems.hires_rhs(t, nb.carray(u, (_HIRES_N,)), nb.carray(p, (_HIRES_P,)),
                       nb.carray(du, (_HIRES_N,)))


@nb.cfunc(lsoda_sig)  # not cached: its sizes come from problems.py, which numba would not re-check
def pkpd_callback(t, u, du, p):
    problems.pkpd_rhs(t, nb.carray(u, (_PKPD_N,)), nb.carray(p, (_PKPD_P,)),
                      nb.carray(du, (_PKPD_N,)))


CALLBACKS = {"hires": hires_callback, "pkpd": pkpd_callback}


# numbalsoda calls LSODA through a ctypes pointer, which numba cannot
# cache; the driver is compiled afresh in every process.
@nb.njit(parallel=True)
def ensemble(funcptr, y0, params, times, out_index, start, stop, dose, target,
             pre_dose_t0, rtol, atol, mxstep, out, ok):
    """Solve every member, one LSODA call per dose interval."""
    n = params.shape[0]
    for i in nb.prange(n):
        u = y0.copy()
        p = params[i].copy()
        if pre_dose_t0:
            out[i, 0, :] = u
        for s in range(start.shape[0]):
            u[target] += dose[s]
            ts = times[start[s]:stop[s]].copy()
            usol, success = lsoda(funcptr, u, ts, p, rtol, atol, mxstep)
            if not success:
                ok[i] = False
                break
            for k in range(ts.shape[0]):
                j = out_index[start[s] + k]
                if j >= 0:
                    out[i, j, :] = usol[k, :]
            u = usol[ts.shape[0] - 1, :].copy()
