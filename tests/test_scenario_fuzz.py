"""Mutated scenarios either run or fail with a NeurosimError, never another exception.

Hypothesis takes valid scenario dicts (the packaged scenarios, shortened)
and damages them the way people do: typos in keys, wrong or missing units,
negative doses, unknown drugs, routes and liver states, values of the wrong
type, deleted keys. Whatever comes out must either simulate or raise a
``NeurosimError`` (which the command line prints as one line, exit code 2).
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.errors import NeurosimError
from neurosim.scenario import Scenario, is_comparison, loads_scenario
from neurosim.simulation import simulate_scenario

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FOLDER = Path(__file__).resolve().parents[1] / "scenarios"
TEXTS = {p.stem: p.read_text() for p in sorted(FOLDER.glob("*.toml")) if not is_comparison(p)}


def _short(raw):
    raw = copy.deepcopy(raw)
    sim = raw.setdefault("simulation", {})
    sim.update(duration="10 d", history="2 d", output_interval="6 h",
               treatment_start="30 d")
    return raw


BASES = {k: _short(tomllib.loads(v)) for k, v in TEXTS.items()}

WEIRD = st.one_of(
    st.text(max_size=12), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
    st.booleans(), st.none(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["-5 mg", "5 mg", "5", "3 h", "2 weeks", "1e9 weeks", "nrs >= 4",
                     "child_pugh_b", "healthy", "A", "70 kg", "0.5 L/h", "10 mg po q4h",
                     "morphine 10 mg po q4h", "1e-300 h", "inf h", "nan mg", "q4h", ""]),
)
REGIMEN_EDITS = st.sampled_from([
    ("morphine", "morphin"), ("morphine", "unobtainium"), (" po", " pox"), (" po", " iv"),
    (" mg", " mL"), (" mg", " mg/h"), ("10 mg", "-10 mg"), ("10 mg", "0 mg"),
    ("q4h", "q4"), ("q4h", "q0h"), ("q4h", "x3"), ("sc", "td"), ("200 mg", "200"),
    ("q8w", "q8w x0"), ("20 mg", "1e12 mg"), ("over 1 h", "over 100 weeks"),
])


def _paths(node, prefix=()):
    """Every (path, value) in a nested dict/list."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((prefix + (k,), v))
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((prefix + (i,), v))
            out += _paths(v, prefix + (i,))
    return out


def _parent(raw, path):
    node = raw
    for k in path[:-1]:
        node = node[k]
    return node


def _typo(word: str, draw) -> str:
    """A misspelling: a letter dropped, swapped, inserted or of the wrong case."""
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "swap", "insert", "case"]))
    if kind == "drop":
        return word[:i] + word[i + 1:] or "x"
    if kind == "swap" and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if kind == "case":
        return word[:i] + word[i].swapcase() + word[i + 1:]
    return word[:i] + "q" + word[i:]


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(BASES)))
    raw = copy.deepcopy(BASES[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(raw)
        if not paths:
            break
        path, value = draw(st.sampled_from(paths))
        parent = _parent(raw, path)
        action = draw(st.sampled_from(["typo_key", "replace", "delete", "edit_text",
                                       "set_known"]))
        if action == "typo_key" and isinstance(path[-1], str):
            new = _typo(path[-1], draw)
            parent[new] = parent.pop(path[-1])
        elif action == "replace":
            parent[path[-1]] = draw(WEIRD)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "edit_text" and isinstance(value, str):
            old, new = draw(REGIMEN_EDITS)
            parent[path[-1]] = value.replace(old, new)
        elif action == "set_known":
            key = draw(st.sampled_from([("patient", "liver"), ("simulation", "duration"),
                                        ("treatments", "regimens"), ("scenario", "seed")]))
            raw.setdefault(key[0], {})
            if isinstance(raw[key[0]], dict):
                raw[key[0]][key[1]] = draw(WEIRD)
    return raw


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=mutated())
def test_mutated_scenarios_run_or_fail_cleanly(raw):
    try:
        sc = Scenario.from_dict(raw, source="fuzz.toml")
    except NeurosimError as exc:
        assert str(exc).startswith("fuzz.toml"), str(exc)
        return
    # keep accepted scenarios cheap: simulate only short, small ones
    if (sc.duration + sc.history <= 6 * 168 and sc.population_size <= 3
            and sc.duration / sc.output_interval <= 20_000
            and (sc.treatment_start or 0) <= 2 * 8766):
        try:
            res = simulate_scenario(sc)
        except NeurosimError:
            return
        assert res["nrs"].shape[0] == sc.population_size


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(TEXTS)), pos=st.floats(0, 1), junk=st.text(max_size=4))
def test_damaged_toml_text_fails_cleanly(name, pos, junk):
    text = TEXTS[name]
    i = int(pos * len(text))
    try:
        loads_scenario(text[:i] + junk + text[i:], source="fuzz.toml")
    except NeurosimError as exc:
        assert "fuzz.toml" in str(exc)
