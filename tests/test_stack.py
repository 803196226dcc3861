"""Scratch arrays on the call stack (neurosim._stack)."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from neurosim._stack import stack_empty, stack_empty_2d

_N = 64  # a module-level size: a compile-time constant inside njit code


@numba.njit
def _fill(n0, n1):
    a = stack_empty(n0)
    b = stack_empty_2d(n0, n1)
    for i in range(n0):
        a[i] = i
        for j in range(n1):
            b[i, j] = 10.0 * i + j
    return a.copy(), b.copy(), b.strides[0], b.strides[1]


def test_runtime_sizes_give_c_ordered_arrays_like_np_empty():
    a, b, s0, s1 = _fill(5, 3)
    np.testing.assert_array_equal(a, np.arange(5.0))
    np.testing.assert_array_equal(b, 10.0 * np.arange(5.0)[:, None] + np.arange(3.0))
    assert (s0, s1) == (24, 8)


@numba.njit
def _loop(k):
    # constant sizes reserve their memory once per call, so a loop of a
    # million passes (64 MB if each pass took new memory) stays in the stack
    total = 0.0
    for r in range(k):
        a = stack_empty(_N)
        b = stack_empty_2d(4, 8)
        for i in range(_N):
            a[i] = r
        for i in range(4):
            for j in range(8):
                b[i, j] = 1.0
        total += a.sum() + b.sum()
    return total


def test_constant_sizes_reuse_their_memory_inside_loops():
    k = 1_000_000
    # closed form: sum over r of (64 r + 32)
    assert _loop(k) == pytest.approx(64.0 * k * (k - 1) / 2 + 32.0 * k, rel=1e-15)


@numba.njit
def _pass_on(n):
    s = stack_empty(n)
    _write(s)
    return s.sum()


@numba.njit
def _write(s):
    for i in range(s.shape[0]):
        s[i] = 2.0


def test_arrays_can_be_handed_to_other_compiled_functions():
    assert _pass_on(7) == 14.0


def test_a_non_integer_size_is_a_typing_error():
    @numba.njit
    def bad(x):
        return stack_empty(x)

    with pytest.raises(numba.core.errors.TypingError, match="sizes must be integers"):
        bad(2.5)
