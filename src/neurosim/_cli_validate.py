"""``neurosim validate``: check scenario files without simulating them."""
from __future__ import annotations

import sys

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate", help="check scenario files (names, units, doses) without simulating",
        description=("Read each scenario file as 'neurosim run' would (every key, unit, "
                     "drug, route, dose and liver state checked; the treatment plan "
                     "compiled) and describe it in words. A comparison set checks every "
                     "scenario it lists. Exit status: 0 all valid, 2 otherwise."))
    p.add_argument("files", nargs="+", metavar="SCENARIO",
                   help="scenario files (.toml), comparison sets, or packaged scenario names")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only errors (and nothing for valid files)")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    from .errors import NeurosimError
    from .scenario import is_comparison, load_comparison, load_scenario

    bad = 0
    for item in args.files:
        try:
            if is_comparison(item):
                name, _, paths = load_comparison(item)
                if not args.quiet:
                    print(f"{item}: comparison set {name!r} with {len(paths)} scenarios")
                targets = paths
            else:
                targets = [item]
        except NeurosimError as exc:
            print(f"neurosim validate: error: {exc}", file=sys.stderr)
            bad += 1
            continue
        for target in targets:
            try:
                sc = load_scenario(target)
            except NeurosimError as exc:
                print(f"neurosim validate: error: {exc}", file=sys.stderr)
                bad += 1
                continue
            if not args.quiet:
                print(f"{target}: valid")
                print("  " + sc.describe().replace("\n", "\n  "))
    if bad and not args.quiet:
        print(f"{bad} file(s) with errors", file=sys.stderr)
    return 2 if bad else 0
