"""`sitehub validate`: check a site inventory before anything is deployed."""

from __future__ import annotations

import argparse
import base64
import json
import sys

from sitehub.inventory import load_inventory, validate_loaded


def add_subparsers(sub) -> None:
    parser = sub.add_parser(
        "validate",
        help="check a site inventory; every problem names its file and key",
        description="Load an inventory exactly as ansible-playbook does and report every problem.",
    )
    parser.add_argument("inventory", help="inventory directory, e.g. inventories/demo")
    parser.add_argument(
        "--vault-password-file",
        action="append",
        default=[],
        help="vault password file (default: $ANSIBLE_VAULT_PASSWORD_FILE / ansible.cfg)",
    )
    parser.add_argument("--json", action="store_true", help="print problems as JSON")
    # the sitehub_validate action passes the play's vault secrets this way (JSON on stdin)
    parser.add_argument("--vault-secrets-stdin", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_validate)


def _stdin_secrets() -> list[tuple[str, bytes]]:
    """[[vault id, base64 password], ...] from stdin, as the sitehub_validate action sends."""
    return [(str(vid), base64.b64decode(pw)) for vid, pw in json.loads(sys.stdin.read() or "[]")]


def cmd_validate(args) -> int:
    try:
        secrets = _stdin_secrets() if args.vault_secrets_stdin else None
        loaded = load_inventory(args.inventory, args.vault_password_file, vault_secrets=secrets)
    except FileNotFoundError as exc:
        if args.json:  # callers such as the sitehub_validate module read stdout
            print(json.dumps({"problems": [str(exc)], "details": [], "error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    notes: list = []
    # the play is about to deploy: a secret it cannot decrypt would fail it there, later
    problems = validate_loaded(loaded, notes=notes, require_vault=args.vault_secrets_stdin)
    if args.json:
        details = [
            {"file": p.file, "line": p.line, "key": p.key, "message": p.message} for p in problems
        ]
        print(
            json.dumps(
                {
                    "problems": [str(p) for p in problems],
                    "details": details,
                    "notes": [str(n) for n in notes],
                }
            )
        )
        return 1 if problems else 0
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if problems:
        print(f"{args.inventory}: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    clusters = loaded.site_vars.get("sitehub_clusters") or []
    print(
        f"{args.inventory}: valid ({len(loaded.hosts)} hosts, {len(clusters)} clusters: "
        + ", ".join(str(c.get("segment")) for c in clusters)
        + ")"
    )
    return 0
