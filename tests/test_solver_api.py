"""The solver's public interface: argument checking, result object, disk cache."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from neurosim.errors import NeurosimError, NeurosimKeyError
from neurosim.solver import EnsembleResult, Status, solve_ensemble
from neurosim.solver import problems as P

RHS = P.oral_pk_rhs
Y0 = [0.0, 0.0]
T = np.linspace(0.0, 10.0, 11)
PAR = [1.0, 0.1]


def _raises(match, **overrides):
    args = dict(rhs=RHS, y0=Y0, t_eval=T, params=PAR)
    args.update(overrides)
    with pytest.raises(ValueError, match=match) as info:
        solve_ensemble(args.pop("rhs"), args.pop("y0"), args.pop("t_eval"), args.pop("params"),
                       **args)
    assert isinstance(info.value, NeurosimError)
    return info.value


def test_rhs_must_be_jitted():
    def plain(t, y, p, dydt):
        dydt[:] = 0.0

    err = _raises("rhs must be a numba.njit function", rhs=plain)
    assert isinstance(err, TypeError)  # also a TypeError for callers expecting one
    _raises("jac must be a numba.njit", jac=lambda t, y, p, J: None)
    _raises("dose_hook must be a numba.njit", dose_hook=print)


@pytest.mark.parametrize("y0,match", [
    (np.zeros((2, 2, 2)), "y0 must be 1-D or 2-D"),
    ([np.nan, 0.0], "y0 contains NaN"),
    ([], "at least one state"),
])
def test_bad_y0(y0, match):
    _raises(match, y0=y0)


@pytest.mark.parametrize("t_eval,match", [
    ([0.0, 2.0, 1.0], r"strictly increasing; t_eval\[1\]=2.0 >= t_eval\[2\]=1.0$"),
    ([0.0, 1.0, 1.0], "strictly increasing"),
    ([[0.0, 1.0]], "t_eval must be 1-D"),
    ([], "at least one time"),
    ([0.0, np.inf], "NaN or inf"),
])
def test_bad_t_eval(t_eval, match):
    _raises(match, t_eval=t_eval)


def test_bad_members_shapes():
    _raises(r"inconsistent number of members \(y0: 3, params: 2",
            y0=np.zeros((3, 2)), params=np.ones((2, 2)))


@pytest.mark.parametrize("doses,match", [
    (([11.0], [0], [1.0]), r"dose 0 at t=11.0 is outside the integration span \[0.0, 10.0\]"),
    (([-1.0], [0], [1.0]), "outside the integration span"),
    (([1.0], [2], [1.0]), "targets state 2, which does not exist; targets must be from 0 to 1"),
    (([1.0], [-1], [1.0]), "does not exist"),
    (([1.0, 2.0], [0], [1.0, 1.0]), "one entry per dose"),
    (([1.0], [0], [np.nan]), "amounts contain NaN"),
    (([1.0], [0.5], [1.0]), "integer state indices"),
    (([1.0], [0]), r"tuple \(times, targets, amounts\)"),
])
def test_bad_doses(doses, match):
    _raises(match, doses=doses)


@pytest.mark.parametrize("kw,match", [
    (dict(rtol=0.0), "rtol must be a positive number"),
    (dict(rtol=-1e-6), "rtol must be a positive number"),
    (dict(rtol=1e-16), "below what float64"),
    (dict(atol=0.0), "atol must be positive"),
    (dict(atol=[1e-6, -1.0]), "atol must be positive"),
    (dict(atol=[1e-6, 1e-6, 1e-6]), "one value per state"),
    (dict(method="rodas"), "Did you mean 'rodas4'"),
    (dict(threads=0), "threads must be an integer from 1"),
    (dict(threads=10_000), "threads must be an integer from 1"),
    (dict(max_steps=0), "max_steps must be a positive integer"),
    (dict(first_step=-1.0), "first_step must be positive"),
    (dict(block_split=2), "block_split must be an integer from 1 to 1"),
    (dict(block_split=0), "block_split must be an integer from 1 to 1"),
    (dict(land_on_saves="yes"), "land_on_saves must be None, True, False or a list of method names"),
    (dict(land_on_saves=["dopri853"]), "got 'dopri853'"),
])
def test_bad_options(kw, match):
    _raises(match, **kw)


def test_result_object():
    res = solve_ensemble(RHS, Y0, T, [[1.0, 0.1], [2.0, 0.1]],
                         doses=([0.0], [0], [10.0]))
    assert isinstance(res, EnsembleResult)
    assert res.y.shape == (2, 11, 2) and res.t.shape == (11,)
    assert res.status.dtype.kind == "i" and res.all_success
    assert set(res.stats) == {"n_steps", "n_rejected", "n_rhs", "n_jac", "n_lu", "n_switches"}
    assert res.method == "auto"
    assert "succeeded=2/2" in repr(res)
    assert res.messages() == []
    with pytest.raises(NeurosimKeyError, match="no state names"):
        res["gut"]
    res.names = ("gut", "central")
    assert np.array_equal(res["central"], res.y[:, :, 1])
    with pytest.raises(KeyError, match="Did you mean 'central'"):
        res["centrl"]
    assert Status.MAX_STEPS.message.startswith("stopped after max_steps")


def test_kernel_is_cached_on_disk(tmp_path):
    """A second process loads the compiled kernel from disk instead of compiling. The
    first, which compiles, prints no numba note about experimental features."""
    script = textwrap.dedent("""
        import numpy as np
        from neurosim.solver import solve_ensemble, problems as P
        from neurosim.solver._codegen import get_kernel
        res = solve_ensemble(P.oral_pk_rhs, [1.0, 0.0], [0.0, 1.0], [1.0, 0.1],
                             jac=P.oral_pk_jac)
        k = get_kernel(P.oral_pk_rhs, P.oral_pk_jac, None)
        print("hits", sum(k.stats.cache_hits.values()), "misses",
              sum(k.stats.cache_misses.values()))
    """)
    env = dict(os.environ, NEUROSIM_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True) for _ in range(2)]
    outs = [r.stdout.split() for r in runs]
    assert outs[0][:4] == ["hits", "0", "misses", "1"], outs[0]
    assert "Experimental" not in runs[0].stderr, runs[0].stderr
    assert outs[1][:4] == ["hits", "1", "misses", "0"], outs[1]
    generated = list((tmp_path / "kernels").glob("neurosim_kernel_*.py"))
    assert len(generated) == 1


@numba.njit
def _changes_with_source(t, y, p, dydt):
    dydt[0] = -y[0]


def test_kernel_name_depends_on_source(tmp_path, monkeypatch):
    """Different source gives a different generated kernel (no stale cache)."""
    from neurosim.solver import _codegen

    mod = tmp_path / "user_model_v.py"
    mod.write_text("import numba\n@numba.njit\ndef f(t, y, p, d):\n    d[0] = -y[0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEUROSIM_CACHE_DIR", str(tmp_path / "cache"))
    import importlib
    import user_model_v
    r1 = solve_ensemble(user_model_v.f, [1.0], [0.0, 1.0])
    mod.write_text("import numba\n@numba.njit\ndef f(t, y, p, d):\n    d[0] = -2.0 * y[0]\n")
    importlib.reload(user_model_v)
    r2 = solve_ensemble(user_model_v.f, [1.0], [0.0, 1.0], rtol=1e-10, atol=1e-12)
    assert np.isclose(r2.y[0, -1, 0], np.exp(-2.0), rtol=1e-8)
    assert np.isclose(r1.y[0, -1, 0], np.exp(-1.0), rtol=1e-4)
    kernels = list((tmp_path / "cache" / "kernels").glob("neurosim_kernel_*.py"))
    assert len(kernels) == 2
    del _codegen  # imported only to make the dependency explicit
