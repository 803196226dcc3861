"""Regenerate the generated sections of docs/model.md from the package data.

The parameter table (from ``neurosim/data/parameters.toml``), the state
table and the slot table are written between ``<!-- BEGIN ... -->`` and
``<!-- END ... -->`` markers; everything else in the page is left alone.
``tests/test_parameters.py`` fails when the page is out of date.

Usage::

    python docs/scripts/gen_model_docs.py
"""
from __future__ import annotations

import re
from pathlib import Path

from neurosim._cli_params import format_parameters
from neurosim.model import MODULES, PARAMETERS, SLOTS, STATES

PAGE = Path(__file__).resolve().parents[1] / "model.md"

MODULE_TITLES = {"tumor": "Tumor", "inflammation": "Inflammation", "ngf": "NGF",
                 "nerve": "Nerve (fibers, peripheral sensitization)", "pain": "Pain read-out",
                 "central": "Central sensitization"}


def parameter_section() -> str:
    parts = []
    for module in MODULES:
        rows = PARAMETERS.select(module=module)
        parts.append(f"#### {MODULE_TITLES[module]} ({len(rows)})\n\n"
                     + format_parameters(rows, "markdown"))
    return "\n".join(parts)


def state_section() -> str:
    lines = ["| index | state | unit | module | description |", "| --- | --- | --- | --- | --- |"]
    for i, st in enumerate(STATES):
        lines.append(f"| {i} | `{st.name}` | {st.unit} | {st.module} | {st.description} |")
    return "\n".join(lines) + "\n"


def slot_section() -> str:
    lines = ["| index | slot | kind | default | unit | scales |", "| --- | --- | --- | --- | --- | --- |"]
    for i, sl in enumerate(SLOTS):
        lines.append(f"| {i} | `{sl.name}` | {sl.kind} | {sl.default:g} | {sl.unit} | "
                     f"{sl.description} |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"marker '{name}' not found in {PAGE}")
    return pattern.sub(lambda m: m.group(1) + "\n" + body + "\n" + m.group(2), text)


def main() -> None:
    text = PAGE.read_text()
    text = replace_block(text, "STATE TABLE", state_section())
    text = replace_block(text, "SLOT TABLE", slot_section())
    text = replace_block(text, "PARAMETER TABLE", parameter_section())
    PAGE.write_text(text)


if __name__ == "__main__":
    main()
