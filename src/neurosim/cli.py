"""The ``neurosim`` command line: a thin layer over the Python API.

Each subcommand lives in a small ``_cmd_<name>`` function registered in
:func:`build_parser`. Errors derived from :class:`NeurosimError` are
printed as one clear message with exit code 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import NeurosimError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurosim",
        description="Mechanistic simulation of pain driven by hepatocellular carcinoma.",
    )
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _REGISTRY:
        register(sub)
    return parser


_REGISTRY: list = []


def command(register):
    """Decorator adding a subcommand registration function to the CLI."""
    _REGISTRY.append(register)
    return register


#: Modules that each define one subcommand with a ``register(subparsers)`` function.
_SUBCOMMAND_MODULES = (
    "neurosim._cli_params",
    "neurosim._cli_run",
    "neurosim._cli_compare",
    "neurosim._cli_validate",
    "neurosim._cli_demo",
    "neurosim._cli_sweep",
    "neurosim._cli_export_sbml",
    "neurosim._cli_biomarkers",
    "neurosim._cli_sensitivity",
    "neurosim._cli_dose_response",
    "neurosim._cli_plot",
    "neurosim._cli_effects",
)


def _load_subcommands() -> None:
    import importlib

    for name in _SUBCOMMAND_MODULES:
        command(importlib.import_module(name).register)


_load_subcommands()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeurosimError as exc:
        print(f"neurosim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"neurosim {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        print(f"neurosim {args.command}: error: out of memory ({exc or 'allocation failed'}); "
              "run fewer patients at a time (--batch-size, --summary-only) or on a larger "
              "machine.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
