"""neurosim's compiled code indexes arrays without negative-index wraparound.

See ``neurosim._indexing``. The rule holds only for functions defined in the
neurosim package; these tests check that it is in effect there, that every
other function (a user's right-hand side included) keeps Python's meaning of
a negative index, and that the solver, the model and the treatments never
index with a negative number (the check mode, in a fresh process with empty
caches, over the solver's methods and every scenario of the standard
comparison).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np

import neurosim._indexing as indexing
from neurosim.solver import solve_ensemble

ROOT = Path(__file__).resolve().parents[1]

_PICK = "def pick(a, i):\n    return a[i]\n"


def _compiled_in(module_name):
    """``pick`` compiled as if defined in module ``module_name``."""
    namespace = {"__name__": module_name}
    exec(_PICK, namespace)
    return numba.njit(namespace["pick"])


def test_rule_is_installed_on_import():
    assert indexing.installed()


def test_own_functions_compile_without_wraparound_test():
    """The optimised IR of a neurosim function has no sign test on the index; a user's has."""
    a = np.arange(5.0)
    own = _compiled_in("neurosim._indexing_probe")
    user = _compiled_in("user_model")
    assert own(a, 3) == 3.0
    assert user(a, 3) == 3.0
    ir_own = own.inspect_llvm(own.signatures[0])
    ir_user = user.inspect_llvm(user.signatures[0])
    assert "icmp slt" not in ir_own
    assert "icmp slt" in ir_user


def test_user_code_keeps_negative_indices():
    a = np.arange(5.0)
    user = _compiled_in("user_model")
    assert user(a, -1) == 4.0
    assert user(a, -5) == 0.0


@numba.njit
def _decay_last(t, y, p, dydt):
    # written with negative indices on purpose: y[-1] is y[1]
    dydt[0] = 0.0
    dydt[-1] = -p[-1] * y[-1]


def test_user_rhs_with_negative_indices_solves_correctly():
    """Inside the solver's kernel a user's rhs keeps wraparound (reference: exp(-k t))."""
    t = np.linspace(0.0, 2.0, 5)
    res = solve_ensemble(_decay_last, [1.0, 3.0], t, [0.0, 0.7], method="dp5",
                         rtol=1e-10, atol=1e-12)
    assert res.status[0] == 0
    np.testing.assert_allclose(res.y[0, :, 1], 3.0 * np.exp(-0.7 * t), rtol=1e-8)
    np.testing.assert_array_equal(res.y[0, :, 0], 1.0)


def _run_checked(script, tmp_path, timeout=900):
    env = dict(os.environ)
    env.update({"NEUROSIM_CHECK_INDEX": "1",
                "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
                "NEUROSIM_CACHE_DIR": str(tmp_path / "kernels"),
                "MPLBACKEND": "Agg"})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_check_mode_reports_a_negative_index(tmp_path):
    out = _run_checked(f"""
        import numba, numpy as np
        import neurosim._indexing
        ns = {{"__name__": "neurosim._indexing_probe"}}
        exec({_PICK!r}, ns)
        pick = numba.njit(ns["pick"])
        print("value", pick(np.arange(5.0), -2))
        """, tmp_path)
    assert "neurosim: negative index -2 in _ZN8neurosim15_indexing_probe4pick" in out
    assert "value 3.0" in out  # wrapped as Python would, in check mode


def test_solver_model_and_treatments_never_index_negatively(tmp_path):
    """Check mode over every solver method, the closed form, dosing, and the demo's
    scenarios (the standard comparison under both liver states, shortened).

    Each kernel compiles afresh here (about 25 s), so the list is kept to one
    kernel per code path: HIRES (the sparse factorisation, both method
    families, the switch), oral PK with doses in closed form, and the disease
    model with its drug layer (closed form, dose hook, natural history). The
    whole suite was also run once in check mode, with no negative index.
    """
    out = _run_checked("""
        import numpy as np
        from neurosim.solver import solve_ensemble
        from neurosim.solver import problems as P
        from neurosim.simulation import simulate_scenario

        t = np.linspace(0.0, P.HIRES_T_END, 5)
        p = np.tile(P.HIRES_P, (3, 1)); p[:, 0] *= [0.8, 1.0, 1.2]
        for method in ("rodas4", "rodas5p", "dp5", "auto"):
            r = solve_ensemble(P.hires_rhs, P.HIRES_Y0, t, p, jac=P.hires_jac, method=method,
                               rtol=1e-6, atol=1e-9, threads=2)
            assert (r.status == 0).all(), method

        t = np.linspace(0.0, 72.0, 13)
        doses = (np.arange(0.0, 72.0, 12.0), np.zeros(6, dtype=int), np.full(6, 100.0))
        r = solve_ensemble(P.oral_pk_rhs, [0.0, 0.0], t, [[1.0, 0.1], [1.5, 0.2]],
                           jac=P.oral_pk_jac, doses=doses, method="rodas4", linear="auto")
        assert (r.status == 0).all()

        from neurosim._cli_demo import demo_scenarios
        scenarios = demo_scenarios(quick=True)
        for sc in scenarios:
            res = simulate_scenario(sc, patients=2, threads=2)
            assert (res.status == 0).all(), sc.name
        print("ran", len(scenarios), "scenarios")
        """, tmp_path, timeout=1500)
    assert "negative index" not in out, out[:3000]
    assert "ran " in out
