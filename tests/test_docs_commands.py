"""Every ``neurosim`` command line shown in the documentation parses.

The commands in the README's and docs/'s code blocks, and in the comments of
the packaged scenario and sweep files, are what a newcomer copies. Each is
given to the command-line parser (nothing runs): an option renamed or removed
without the docs following fails here, with the file and line. A usage
synopsis (``neurosim plot FILE.h5 [-o FIG.png] [--kind KIND] ...``) is
checked option by option against its subcommand.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from neurosim.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
SOURCES = ([REPO / "README.md", REPO / "benchmarks" / "README.md"]
           + sorted((REPO / "docs").glob("*.md"))
           + sorted((REPO / "scenarios").rglob("*.toml")))

# ``neurosim SUBCOMMAND ...`` at the start of a line (after an optional "$ " prompt
# or, in a TOML file, a comment sign), but not printed output ("neurosim run: error").
_COMMAND = re.compile(r"^(?:#\s*)?(?:\$\s*)?(neurosim\s+[a-z][a-z-]*(?:\s.*)?)$")
_OUTPUT = re.compile(r"^neurosim\s+[a-z-]+:")


def _commands(path: Path):
    """(line number, command text) of every shown command line in ``path``."""
    toml = path.suffix == ".toml"
    in_code = False
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        number, text = i + 1, lines[i].strip()
        i += 1
        if text.startswith("```"):
            in_code = not in_code
            continue
        if not (in_code or toml):
            continue
        m = _COMMAND.match(text)
        if not m or _OUTPUT.match(m.group(1)):
            continue
        command = m.group(1)
        while command.endswith("\\") and i < len(lines):   # continued lines
            command = command[:-1] + " " + lines[i].strip().lstrip("#").strip()
            i += 1
        if "[" in command:   # a synopsis, perhaps continued on indented lines
            while i < len(lines) and lines[i].startswith(" ") and lines[i].strip()[:1] == "[":
                command += " " + lines[i].strip()
                i += 1
            yield number, command
            continue
        # the command alone: no trailing comment, no shell plumbing after it
        command = re.split(r"\s+#\s", command)[0]
        command = re.split(r"\s*(?:&&|\|\||\||;|>)\s*", command)[0].strip()
        yield number, command


CASES = [(path, number, command) for path in SOURCES for number, command in _commands(path)]


def test_the_documentation_shows_commands():
    # guards the collection itself: the docs have dozens of command lines
    assert len(CASES) >= 30
    shown = {shlex.split(c)[1] for _, _, c in CASES}
    assert {"run", "compare", "sweep", "effects", "plot", "sensitivity",
            "dose-response"} <= shown


def _options(subcommand: str) -> set:
    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices
               and subcommand in a.choices).choices[subcommand]
    return {o for a in sub._actions for o in a.option_strings}


@pytest.mark.parametrize("path, number, command", CASES,
                         ids=[f"{p.relative_to(REPO)}:{n}" for p, n, _ in CASES])
def test_a_shown_command_parses(path, number, command):
    if "[" in command:
        sub = command.split()[1]
        named = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", command))
        missing = sorted(named - _options(sub))
        assert not missing, (f"{path.relative_to(REPO)}:{number}: the synopsis of "
                             f"'neurosim {sub}' shows {missing}, which it does not have")
        return
    argv = shlex.split(command)[1:]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code in (0, None), (f"{path.relative_to(REPO)}:{number}: {command!r} does "
                                       f"not parse: {err.getvalue().strip()}")


def test_a_wrong_option_is_caught():
    # the check above can fail: a misspelt option is refused by the same parser
    with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(io.StringIO()):
        build_parser().parse_args(["sweep", "x.toml", "-o", "x.h5", "--wrokers", "2"])
    assert info.value.code == 2
    assert "--kind" in _options("plot") and "--kinds" not in _options("plot")
