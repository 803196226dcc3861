"""The Python shown in the README and docs/ names what neurosim has.

Each ``python`` code block must be valid Python; every name it imports from
neurosim and every ``neurosim.<name>`` it uses must exist; a block that shows
a function's signature (``def name(...): ...``) must match the function's
real signature, parameter for parameter and default for default. The blocks
are not run (several read the results of long runs); this catches renamed or
removed API in the docs.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import neurosim

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))

# where the signature blocks' functions live
SIGNATURES = {"solve_ensemble": "neurosim.solver"}


def _blocks():
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            yield path, text[:m.start()].count("\n") + 2, m.group(1)


BLOCKS = list(_blocks())
IDS = [f"{p.relative_to(REPO)}:{n}" for p, n, _ in BLOCKS]


def test_the_docs_show_python():
    assert len(BLOCKS) >= 20


@pytest.mark.parametrize("path, line, code", BLOCKS, ids=IDS)
def test_a_python_block_names_existing_api(path, line, code):
    where = f"{path.relative_to(REPO)}:{line}"
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        pytest.fail(f"{where}: not valid Python: {exc}")
    modules = {"neurosim": neurosim}   # names bound to neurosim modules in the block
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neurosim"):
            for alias in node.names:
                try:
                    modules[alias.asname or alias.name] = importlib.import_module(
                        f"{node.module}.{alias.name}")
                except ImportError:
                    pass
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("neurosim") and alias.asname:
                    modules[alias.asname] = importlib.import_module(alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neurosim"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    continue
                try:
                    importlib.import_module(f"{node.module}.{alias.name}")
                except ImportError:
                    pytest.fail(f"{where}: {node.module} has no {alias.name!r}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("neurosim"):
                    importlib.import_module(alias.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules):
            module = modules[node.value.id]
            assert hasattr(module, node.attr), f"{where}: {module.__name__} has no {node.attr!r}"


NO_DEFAULT = object()


def _documented_signature(fn: ast.FunctionDef):
    """(name, kind, default) of each parameter of a ``def`` shown in the docs."""
    a = fn.args
    out = []
    plain = a.posonlyargs + a.args
    defaults = [None] * (len(plain) - len(a.defaults)) + list(a.defaults)
    for arg, d in zip(plain, defaults):
        out.append((arg.arg, "positional", NO_DEFAULT if d is None else ast.unparse(d)))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "keyword", NO_DEFAULT if d is None else ast.unparse(d)))
    return out


def _real_signature(func):
    out = []
    for p in inspect.signature(func).parameters.values():
        kind = "keyword" if p.kind is p.KEYWORD_ONLY else "positional"
        d = NO_DEFAULT if p.default is p.empty else p.default
        out.append((p.name, kind, d))
    return out


def _same_default(shown, real) -> bool:
    if shown is NO_DEFAULT or real is NO_DEFAULT:
        return shown is real
    value = eval(shown, {"np": np})   # the docs' defaults: literals, None, np.inf
    return value is real or value == real


def _is_stub(node) -> bool:
    """``def name(...): ...``: a signature shown, not an example function."""
    return (isinstance(node, ast.FunctionDef) and not node.decorator_list
            and len(node.body) == 1
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
            and node.body[0].value.value is Ellipsis)


SIGNATURE_BLOCKS = [(p, n, node) for p, n, code in BLOCKS for node in ast.parse(code).body
                    if _is_stub(node)]


def test_signature_blocks_are_found():
    assert {node.name for _, _, node in SIGNATURE_BLOCKS} == set(SIGNATURES)


@pytest.mark.parametrize("path, line, node", SIGNATURE_BLOCKS,
                         ids=[f"{p.relative_to(REPO)}:{n}" for p, n, _ in SIGNATURE_BLOCKS])
def test_a_documented_signature_is_the_real_one(path, line, node):
    func = getattr(importlib.import_module(SIGNATURES[node.name]), node.name)
    shown, real = _documented_signature(node), _real_signature(func)
    where = f"{path.relative_to(REPO)}:{line}"
    assert [(n, k) for n, k, _ in shown] == [(n, k) for n, k, _ in real], where
    for (name, _, d_shown), (_, _, d_real) in zip(shown, real):
        assert _same_default(d_shown, d_real), f"{where}: {name}={d_shown} but it is {d_real!r}"


README_BLOCKS = [(n, code) for p, n, code in BLOCKS if p.name == "README.md"]


@pytest.mark.parametrize("line, code", README_BLOCKS, ids=[f"README.md:{n}" for n, _ in README_BLOCKS])
def test_the_readme_python_runs(line, code, tmp_path, monkeypatch):
    """The README's Python, run as a newcomer would from a checkout (files it writes go to
    a temporary folder); its results are then checked against what the README says."""
    import matplotlib

    matplotlib.use("Agg")
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, f"README.md:{line}", "exec"), names)
    if "solve_ensemble" in names:
        res = names["res"]
        assert res.y.shape == (1000, 241, 2) and res.all_success
        # one member against the closed form of the one-compartment model with 10 mg q12h
        ka, ke = names["ka_ke"][0]
        t = np.arange(0, 241.0)
        central = np.zeros_like(t)
        for td in np.arange(0, 240, 12.0):
            s = np.clip(t - td, 0.0, None)
            central += np.where(t >= td, 10.0 * ka / (ka - ke) * (np.exp(-ke * s)
                                                                  - np.exp(-ka * s)), 0.0)
        np.testing.assert_allclose(res.y[0, :, 1], central, rtol=1e-4, atol=1e-6)
    else:
        res = names["res"]
        assert (tmp_path / "morphine.h5").exists()
        assert res.n_patients == 1 and res.success.all()
        assert 0.0 <= names["res"].metrics()["nrs_endpoint"][0] <= 10.0


def test_the_api_reference_is_up_to_date():
    """docs/api.md is what docs/scripts/gen_api_docs.py makes of the current docstrings."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_api_docs",
                                                  REPO / "docs" / "scripts" / "gen_api_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert page == gen.render(), "docs/api.md is out of date: run docs/scripts/gen_api_docs.py"
    # every public entry point of the package is on the page
    for name in neurosim.__all__:
        assert f"neurosim.{name}" in page
