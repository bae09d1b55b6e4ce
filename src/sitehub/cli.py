"""The `sitehub` command line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

# ansible-core imports cryptography's DSA names for its SSH agent code; the deprecation
# warning that prints names nothing an operator can act on. Children (ansible-playbook)
# inherit the filter through the environment.
QUIET_WARNINGS = "ignore:DSA is deprecated"


def quiet_warnings(env: dict[str, str] | os._Environ = os.environ) -> None:
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    current = env.get("PYTHONWARNINGS", "")
    if QUIET_WARNINGS not in current.split(","):
        env["PYTHONWARNINGS"] = ",".join(filter(None, [current, QUIET_WARNINGS]))


# Sub-command modules; each exposes add_subparsers(subparsers). Optional ones
# are skipped when their module is not present in this build.
_COMMAND_MODULES = (
    "sitehub.inventory.commands",
    "sitehub.render.commands",
    "sitehub.testhosts",
    "sitehub.wheelhouse",
    "sitehub.demo",
    "sitehub.audit.commands",
    "sitehub.hub.reconcile",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitehub",
        description="Validate, render and deploy a sitehub site inventory.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_subparsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
