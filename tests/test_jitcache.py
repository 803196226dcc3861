"""Numba's disk cache of neurosim's functions follows every file of the package.

See ``neurosim._jitcache``: a compiled function carries the code of the
functions it calls, so a stamp of its own file alone would keep stale code
after an edit elsewhere in the package.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numba

import neurosim._jitcache as jitcache
import neurosim.system as system


@numba.njit(cache=True)
def _outside(x):
    return 2.0 * x


def test_own_functions_carry_the_package_digest():
    assert jitcache.installed()
    locator = system.system_rhs._cache._impl.locator
    assert isinstance(locator, jitcache.PackageStampLocator)
    assert locator.get_source_stamp()[1] == jitcache.package_digest()


def test_other_functions_keep_numbas_rule():
    assert _outside(1.5) == 3.0
    assert not isinstance(_outside._cache._impl.locator, jitcache.PackageStampLocator)


def _run(script, env, *args):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


def test_a_change_elsewhere_in_the_package_recompiles(tmp_path):
    """Cached in one process, loaded in the next; recompiled when the package digest
    differs (as after an edit to any file of the package)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    script = """
        import sys
        import neurosim._jitcache as J
        if len(sys.argv) > 1:
            J._digest = "another version of the package"
        import numpy as np
        from neurosim.solver import problems as P
        d = np.empty(2)
        P.oral_pk_rhs(0.0, np.array([1.0, 0.0]), np.array([0.5, 0.1]), d)
        print(sum(P.oral_pk_rhs.stats.cache_hits.values()),
              sum(P.oral_pk_rhs.stats.cache_misses.values()))
        """
    first = _run(script, env)
    again = _run(script, env)
    changed = _run(script, env, "changed")
    assert first == ["0", "1"]     # compiled and written
    assert again == ["1", "0"]     # loaded from the disk cache
    assert changed == ["0", "1"]   # the stamp no longer matches: compiled again
