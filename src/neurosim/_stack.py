"""Scratch arrays on the call stack for compiled right-hand sides.

``np.empty`` inside an njit function allocates on the heap and gives the
array a reference-counted owner; every hand-over of that array to another
function then costs an atomic reference-count update. A right-hand side
called millions of times pays more for that bookkeeping than for its
arithmetic. :func:`stack_empty` and :func:`stack_empty_2d` instead reserve
the memory in the calling function's stack frame: no allocation, no owner,
no reference counts, and the memory is released when the function returns.

Rules of use (they are not checked):

- the array lives only until the function that created it returns: never
  return it, store it in another array or capture it;
- a size known at compile time (an integer constant or a module-level
  integer) reserves its memory once per call of the enclosing function, so
  such an array may be created inside a loop (each pass gets the same
  memory back);
- a size known only at run time reserves fresh memory each time the line
  runs and frees it only at return: never create one inside a loop, nor in
  a function inlined into a loop with ``inline="always"``;
- keep sizes small (a few kilobytes): the stack is limited;
- the contents start undefined, as with ``np.empty``.
"""
from __future__ import annotations

from . import _indexing  # noqa: F401  (compiled code indexes without wraparound)

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

__all__ = ["stack_empty", "stack_empty_2d"]

_F64 = ir.DoubleType()


def _stack_array(context, builder, arrty, dims, static):
    """Build an array struct over ``prod(dims)`` doubles reserved with alloca.

    ``static``: all sizes are compile-time constants, so the memory is
    reserved once in the function's entry block; otherwise where the call is.
    """
    intp = context.get_value_type(types.intp)
    if static:
        total = 1
        for d in dims:
            total *= d.constant
        data = cgutils.alloca_once(builder, _F64, size=max(total, 1))
    else:
        count = ir.Constant(intp, 1)
        for d in dims:
            count = builder.mul(count, d)
        data = builder.alloca(_F64, size=count)
    item = ir.Constant(intp, 8)
    strides = []
    stride = item
    for d in reversed(dims):
        strides.append(stride)
        stride = builder.mul(stride, d)
    strides.reverse()
    ary = context.make_array(arrty)(context, builder)
    populate_array(ary, data=data, shape=list(dims), strides=strides, itemsize=item,
                   meminfo=None)
    return ary._getvalue()


def _dims(context, builder, sig, args):
    """Sizes as intp values (constants where the type is a literal) and whether all are."""
    dims = []
    static = True
    for ty, val in zip(sig.args, args):
        lit = getattr(ty, "literal_value", None)
        if isinstance(ty, types.IntegerLiteral) and lit >= 0:
            dims.append(ir.Constant(context.get_value_type(types.intp), lit))
        else:
            static = False
            dims.append(context.cast(builder, val, ty, types.intp))
    return dims, static


def _codegen(arrty):
    """Lowering of a stack array of type ``arrty`` with the call's sizes."""
    def codegen(context, builder, sig, args):
        dims, static = _dims(context, builder, sig, args)
        return _stack_array(context, builder, arrty, dims, static)

    return codegen


def _check_int(name, *tys):
    for ty in tys:
        if not isinstance(ty, types.Integer):
            raise TypingError(f"{name}: sizes must be integers, got {ty}")


@intrinsic(prefer_literal=True)
def stack_empty(typingctx, n):
    """``np.empty(n)`` of float64 in the caller's stack frame (see the module notes)."""
    _check_int("stack_empty", n)
    arrty = types.Array(types.float64, 1, "C")
    return arrty(n), _codegen(arrty)


@intrinsic(prefer_literal=True)
def stack_empty_2d(typingctx, n0, n1):
    """``np.empty((n0, n1))`` of float64, C order, in the caller's stack frame."""
    _check_int("stack_empty_2d", n0, n1)
    arrty = types.Array(types.float64, 2, "C")
    return arrty(n0, n1), _codegen(arrty)
