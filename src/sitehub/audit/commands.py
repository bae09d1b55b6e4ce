"""`sitehub audit`: the report, a diff between two git revisions, or the live check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sitehub.audit.render import RENDERERS
from sitehub.audit.source import AuditInputError, audit_inventory, load_site

EXIT_PROBLEMS = 1  # the inventory has problems, or (--live) the hosts drifted
EXIT_UNUSABLE = 2  # no such inventory, revision or host


def add_subparsers(sub) -> None:
    parser = sub.add_parser(
        "audit",
        help="what a site exposes and to whom: paths, logins, entitlements, ports, secrets",
        description="Report, from the inventory alone (no host, no vault password), what the "
        "site exposes and to whom; --diff compares two git revisions of the inventory; "
        "--live checks the claims on the running demo hosts.",
    )
    parser.add_argument("inventory", help="inventory directory, e.g. inventories/example-site")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="md")
    parser.add_argument("--out", help="write the report to this file instead of stdout")
    parser.add_argument(
        "--diff",
        nargs=2,
        metavar=("REV1", "REV2"),
        help="what changed between two git revisions of the inventory's repository",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="check the claims on the running hosts (podman containers of the demo)",
    )
    parser.add_argument("--vault-password-file", action="append", default=[])
    parser.set_defaults(func=cmd_audit)


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        print(out)
    else:
        sys.stdout.write(text)


def _refused(source: str, exc: AuditInputError) -> int:
    if exc.problems:
        print(f"{source}: not audited, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_UNUSABLE


def cmd_audit(args) -> int:
    from sitehub.audit.diff import GitError, diff_revisions
    from sitehub.audit.live import LiveError, check_live, drift_text, real

    try:
        if args.diff:
            changes = diff_revisions(args.inventory, *args.diff, args.vault_password_file)
            if args.format == "json":
                text = json.dumps({"from": args.diff[0], "to": args.diff[1], "changes": changes})
            else:
                head = f"Changes in {args.inventory} from {args.diff[0]} to {args.diff[1]}:"
                body = "".join(f"- {c}\n" for c in changes) or "- nothing that an audit shows\n"
                text = f"{head}\n\n{body}"
            _emit(text if text.endswith("\n") else text + "\n", args.out)
            return 0
        report = audit_inventory(args.inventory, args.vault_password_file)
        if args.live:
            _, site = load_site(args.inventory, args.vault_password_file)
            drifts = check_live(report, site, args.inventory)
            if args.format == "json":
                text = json.dumps({"drift": [d.as_dict() for d in drifts]}, indent=2) + "\n"
            else:
                text = drift_text(report, drifts)
            _emit(text, args.out)
            return EXIT_PROBLEMS if real(drifts) else 0
        _emit(RENDERERS[args.format](report), args.out)
        return 0
    except AuditInputError as exc:
        return _refused(args.inventory, exc)
    except (FileNotFoundError, GitError, LiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
