"""Source of explicit Runge-Kutta steps with their coefficients written in.

A step driven by coefficient arrays loops over every stage pair and reads
each coefficient from memory, so the compiler can neither drop the zero ones
nor keep the rest in registers. For the small systems that dominate
ensembles (a PK/PD model has six states) that bookkeeping cost more than the
right-hand side. The functions here write out, from a table of
:mod:`neurosim.solver._tableaus`, the Python source of one step and of its
continuous extension with every coefficient a literal (``repr`` of the
float64, so the value is exact) and every stage a straight-line loop over
the states. :mod:`neurosim.solver._kernels` compiles that source.

The sums keep the table's order of terms, so a step gives the same numbers
as the array-driven formula ``y + h * sum_j a[i, j] K_j`` evaluated term by
term from ``j = 0`` (zero terms only ever add zero). The tests check this
against a NumPy evaluation of the table.
"""
from __future__ import annotations

__all__ = ["step_source", "extras_source", "dense_source", "ros_step_source",
           "dispatch_source"]


def _lit(x) -> str:
    return repr(float(x))


def _combination(coeffs, row: str) -> str:
    """``c0 * K[0, i] + c1 * K[1, i] + ...`` over the non-zero coefficients."""
    terms = [f"{_lit(c)} * {row.format(j)}" for j, c in enumerate(coeffs) if c != 0.0]
    return " + ".join(terms) if terms else "0.0"


def step_source(table, name: str) -> str:
    """Source of ``name(rhs, lin, t, h, y, p, f0, K, ynew, errv, errv3, ytmp, ystage)``.

    The step fills ``K[0]`` with ``f0`` (f at (t, y)) and ``K[1:s]`` with the
    stages, writes the new solution to ``ynew`` and the error estimate
    (``h * sum e_j K_j``) to ``errv`` (and the second estimate of a table
    that has one, ``e3``, to ``errv3``), and returns the number of right-hand
    side calls. For a FSAL table the last stage's input is the new solution
    itself, so it is evaluated straight into ``ynew``, and the input of the
    stage before it is kept in ``ystage``: both sit at ``t + h``, which the
    stiffness test of the automatic method needs. The right-hand side is
    called through ``_call_rhs`` of the namespace that compiles the source.
    """
    a, b, e, c = table.a, table.b, table.e, table.c
    s = len(b)
    fsal = bool(table.fsal) and all(a[s - 1, j] == b[j] for j in range(s)) and c[s - 1] == 1.0
    lines = [
        f"def {name}(rhs, lin, t, h, y, p, f0, K, ynew, errv, errv3, ytmp, ystage):",
        f"    '''One step of {table.name}, coefficients compiled in (neurosim.solver._unroll).'''",
        "    n = y.shape[0]",
        "    for i in range(n):",
        "        K[0, i] = f0[i]",
    ]
    for st in range(1, s):
        comb = _combination(a[st, :st], "K[{}, i]")
        target = "ynew" if (fsal and st == s - 1) else "ytmp"
        lines.append("    for i in range(n):")
        lines.append(f"        {target}[i] = y[i] + h * ({comb})")
        if fsal and st == s - 2:
            lines.append("        ystage[i] = ytmp[i]")
        lines.append(f"    _call_rhs(rhs, lin, t + {_lit(c[st])} * h, {target}, p, K[{st}])")
    lines.append("    for i in range(n):")
    if not fsal:
        lines.append(f"        ynew[i] = y[i] + h * ({_combination(b, 'K[{}, i]')})")
    lines.append(f"        errv[i] = h * ({_combination(e, 'K[{}, i]')})")
    if table.e3 is not None:
        lines.append(f"        errv3[i] = h * ({_combination(table.e3, 'K[{}, i]')})")
    lines.append(f"    return {s - 1}")
    return "\n".join(lines) + "\n"


def extras_source(table, name: str) -> str:
    """Source of ``name(rhs, lin, t, h, y, p, K, ytmp)``: the stages that only the
    continuous extension needs, into the rows of ``K`` after the step's own;
    returns the number of right-hand side calls (0 for most tables)."""
    lines = [f"def {name}(rhs, lin, t, h, y, p, K, ytmp):"]
    for k in range(len(table.c_extra)):
        row = table.stages + k
        comb = _combination(table.a_extra[k, :row], "K[{}, i]")
        lines.append("    for i in range(y.shape[0]):")
        lines.append(f"        ytmp[i] = y[i] + h * ({comb})")
        lines.append(f"    _call_rhs(rhs, lin, t + {_lit(table.c_extra[k])} * h, ytmp, p, K[{row}])")
    lines.append(f"    return {len(table.c_extra)}")
    return "\n".join(lines) + "\n"


def dispatch_source(name: str, args: str, targets, fallback: str) -> str:
    """Source of ``name(kid, <args>)`` calling ``targets[kid](<args>)``: the
    run-time choice between the compiled steps of several tables."""
    lines = [f"def {name}(kid, {args}):"]
    for k, target in enumerate(targets):
        lines.append(f"    if kid == {k}:")
        lines.append(f"        return {target}({args})")
    lines.append(f"    return {fallback}")
    return "\n".join(lines) + "\n"


def dense_source(table, name: str) -> str:
    """Source of ``name(theta, h, y, K, out_row)``: the continuous extension.

    ``out_row = y + h * sum_i w_i(theta) K_i`` with
    ``w_i(theta) = sum_j dense[i, j] * theta**(j + 1)``, each weight
    evaluated once per call by Horner's rule.
    """
    dense = table.dense
    lines = [
        f"def {name}(theta, h, y, K, out_row):",
        f"    '''Dense output of {table.name} at t + theta * h (neurosim.solver._unroll).'''",
    ]
    used = []
    for i in range(dense.shape[0]):
        row = dense[i]
        if not any(row != 0.0):
            continue
        poly = _lit(row[-1])
        for coef in row[-2::-1]:
            poly = f"({_lit(coef)} + theta * {poly})"
        lines.append(f"    w{i} = theta * {poly}")
        used.append(i)
    comb = " + ".join(f"w{i} * K[{i}, j]" for i in used) if used else "0.0"
    lines.append("    for j in range(y.shape[0]):")
    lines.append(f"        out_row[j] = y[j] + h * ({comb})")
    return "\n".join(lines) + "\n"


def ros_step_source(table, name: str) -> str:
    """Source of a Rosenbrock step of ``table`` with its coefficients written in.

    ``name(rhs, lin, t, h, y, p, f0, dfdt, J, W, piv, U, ynew, errv, ytmp, ftmp,
    nsplit, sp, sparse, rowmax, fptr, fcol)`` does what the array-driven
    ``_kernels._ros_step`` does with the same table, term for term in the same
    order (the same numbers), and returns the same ``(rhs calls, factorised)``.
    The factorisation and the solves are ``_ros_factor`` and ``_ros_solve`` of
    the namespace that compiles the source.
    """
    a, c, alpha, gammai = table.a, table.c, table.alpha, table.gammai
    s = table.stages
    lines = [
        f"def {name}(rhs, lin, t, h, y, p, f0, dfdt, J, W, piv, U, ynew, errv, ytmp, ftmp,",
        "        nsplit, sp, sparse, rowmax, fptr, fcol):",
        f"    '''One Rosenbrock step of {table.name}, coefficients compiled in "
        "(neurosim.solver._unroll).'''",
        "    n = y.shape[0]",
        f"    ok, sparse = _ros_factor(J, h, {_lit(table.gamma)}, W, piv, nsplit, sp, sparse,",
        "                             rowmax, fptr, fcol)",
        "    if not ok:",
        "        return 0, False",
    ]
    for st in range(s):
        if st == 0:
            source = "f0"
        else:
            comb = _combination(a[st, :st], "U[{}, i]")
            lines.append("    for i in range(n):")
            lines.append(f"        ytmp[i] = y[i] + {comb}" if comb != "0.0" else
                         "        ytmp[i] = y[i]")
            lines.append(f"    _call_rhs(rhs, lin, t + {_lit(alpha[st])} * h, ytmp, p, ftmp)")
            source = "ftmp"
        terms = [f"{source}[i]"]
        if gammai[st] != 0.0:
            lines.append(f"    hg = h * {_lit(gammai[st])}")
            terms.append("hg * dfdt[i]")
        for j in range(st):
            if c[st, j] != 0.0:
                lines.append(f"    c{j} = {_lit(c[st, j])} / h")
                terms.append(f"c{j} * U[{j}, i]")
        lines.append("    for i in range(n):")
        lines.append(f"        U[{st}, i] = {' + '.join(terms)}")
        lines.append(f"    _ros_solve(W, piv, rowmax, nsplit, sp, sparse, U[{st}])")
    lines.append("    for i in range(n):")
    if table.last_stage:
        lines.append(f"        ynew[i] = ytmp[i] + U[{s - 1}, i]")
        lines.append(f"        errv[i] = U[{s - 1}, i]")
    else:
        lines.append(f"        ynew[i] = y[i] + {_combination(table.m, 'U[{}, i]')}")
        lines.append(f"        errv[i] = {_combination(table.e, 'U[{}, i]')}")
    lines.append(f"    return {s - 1}, True")
    return "\n".join(lines) + "\n"
