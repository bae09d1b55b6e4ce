"""`sitehub audit --diff REV1 REV2`: what changed in exposure and entitlements, in words.

The inventory is read at each revision from the git repository that holds it (`git archive`
into a temporary folder, so the working tree and its checkout stay as they are), audited as
usual, and the two reports are compared record by record.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import asdict
from pathlib import Path

from sitehub.audit.model import Report
from sitehub.audit.source import AuditInputError, audit_inventory


class GitError(RuntimeError):
    pass


def _git(repo: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise GitError(done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
    return done.stdout


def inventory_repo(inventory: str | Path) -> tuple[Path, Path]:
    """(repository root, inventory path inside it) for the git repository holding INVENTORY."""
    path = Path(inventory).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{inventory}: no such inventory")
    start = path if path.is_dir() else path.parent
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel").decode().strip())
    except GitError as exc:
        raise GitError(f"{inventory} is not in a git repository: {exc}") from None
    return top, path.relative_to(top)


def audit_at(inventory: str | Path, rev: str, vault_password_files=()) -> Report:
    """The audit of INVENTORY as it was at git revision `rev`."""
    top, rel = inventory_repo(inventory)
    try:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"{rev}: not a revision of {top}") from None
    data = _git(top, "archive", "--format=tar", commit, "--", str(rel))
    with tempfile.TemporaryDirectory(prefix="sitehub-audit-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        at = Path(tmp) / rel
        if not at.exists():
            raise AuditInputError(str(inventory), message=f"{rel} does not exist at {rev}")
        report = audit_inventory(at, vault_password_files)
    # the same inventory name in both reports, not the temporary folder
    report.inventory = f"{inventory}@{rev}"
    return report


def _keyed(items, key):
    return {key(item): item for item in items}


def _changed(label: str, old, new, fields: tuple[str, ...]) -> list[str]:
    out = []
    for name in fields:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(f"{label}: {name.replace('_', ' ')} changes from {a} to {b}")
    return out


def compare(old: Report, new: Report) -> list[str]:
    """Every difference that matters to an auditor, one sentence each."""
    out: list[str] = []
    # exposure: paths and who serves them
    before, after = _keyed(old.paths, lambda p: p.path), _keyed(new.paths, lambda p: p.path)
    for path in after.keys() - before.keys():
        p = after[path]
        who = f"cluster {p.cluster} gets" if p.cluster else "the site gets"
        out.append(f"{who} a new public path {path} ({p.served_by}; login: {p.login})")
        out += [
            f"{path} gets a new hub instance {m.instance} on {m.host}:{m.port} (route {m.route})"
            for m in p.members
        ]
    for path in before.keys() - after.keys():
        p = before[path]
        who = f"cluster {p.cluster}'s" if p.cluster else "the"
        out.append(f"{who} public path {path} is gone")
    for path in sorted(before.keys() & after.keys()):
        a, b = before[path], after[path]
        if a.login != b.login:
            out.append(f"{path}: login changes from '{a.login}' to '{b.login}'")
        am = {m.instance: m for m in a.members}
        bm = {m.instance: m for m in b.members}
        for name in sorted(bm.keys() - am.keys()):
            m = bm[name]
            out.append(
                f"{path} gets a new hub instance {name} on {m.host}:{m.port} (route {m.route})"
            )
        for name in sorted(am.keys() - bm.keys()):
            out.append(f"{path} loses hub instance {name} ({am[name].host}:{am[name].port})")
        for name in sorted(am.keys() & bm.keys()):
            out += _changed(f"{path} instance {name}", am[name], bm[name], ("host", "port"))
        out += _changed(path, a, b, ("sticky", "failover", "why"))
    # listeners
    lkey = lambda item: (item.host, item.port, item.service)  # noqa: E731
    la, lb = _keyed(old.listeners, lkey), _keyed(new.listeners, lkey)
    for key in sorted(lb.keys() - la.keys(), key=str):
        item = lb[key]
        out.append(
            f"{item.host} now listens on port {item.port} ({item.service}, bound to "
            f"{item.bind}; who may connect: {item.who})"
        )
    for key in sorted(la.keys() - lb.keys(), key=str):
        item = la[key]
        out.append(f"{item.host} no longer listens on port {item.port} ({item.service})")
    for key in sorted(la.keys() & lb.keys(), key=str):
        out += _changed(f"{key[0]}:{key[1]} ({key[2]})", la[key], lb[key], ("bind", "who"))
    # authentication
    for a, b in zip(old.auth, new.auth, strict=False):
        for area in ("mfa", "brute_force"):
            da, db = getattr(a, area), getattr(b, area)
            for name in sorted(set(da) | set(db)):
                if da.get(name) != db.get(name):
                    out.append(
                        f"{area.replace('_', '-')} {name.replace('_', ' ')} changes from "
                        f"{da.get(name)} to {db.get(name)}"
                    )
        out += _changed("authentication", a, b, ("realm", "idp", "user_source", "sp_entity_id"))
        sa, sb = _keyed(a.sessions, lambda s: s.layer), _keyed(b.sessions, lambda s: s.layer)
        for layer in sorted(sa.keys() & sb.keys()):
            out += _changed(layer, sa[layer], sb[layer], ("idle_seconds", "max_seconds"))
    # TLS
    ta, tb = _keyed(old.tls, lambda t: t.endpoint), _keyed(new.tls, lambda t: t.endpoint)
    for key in sorted(ta.keys() & tb.keys()):
        out += _changed(f"TLS of {key}", ta[key], tb[key], ("protocols", "ciphers", "hsts_max_age"))
    # entitlements
    ga = {(g.subject, g.kind, g.value, g.cluster): g for g in old.grants}
    gb = {(g.subject, g.kind, g.value, g.cluster): g for g in new.grants}
    for key in sorted(gb.keys() - ga.keys()):
        out.append(gb[key].sentence("may now"))
    for key in sorted(ga.keys() - gb.keys()):
        out.append(ga[key].sentence("may no longer"))
    for key in sorted(ga.keys() & gb.keys()):
        if ga[key].detail != gb[key].detail:
            out.append(
                f"{ga[key].sentence()}: {ga[key].detail or '-'} becomes {gb[key].detail or '-'}"
            )
    # secrets
    sa2, sb2 = _keyed(old.secrets, lambda s: s.name), _keyed(new.secrets, lambda s: s.name)
    for name in sorted(sb2.keys() - sa2.keys()):
        out.append(f"new secret {name} ({sb2[name].origin}: {sb2[name].detail})")
    for name in sorted(sa2.keys() - sb2.keys()):
        out.append(f"secret {name} is no longer used")
    for name in sorted(sa2.keys() & sb2.keys()):
        if sa2[name].origin != sb2[name].origin:
            out.append(f"secret {name} now comes from {sb2[name].origin} (was {sa2[name].origin})")
    # departures
    da2 = {d.setting: d for d in old.departures}
    db2 = {d.setting: d for d in new.departures}
    for key in sorted(db2.keys() - da2.keys()):
        d = db2[key]
        out.append(
            f"new departure ({d.severity}): {key} is {d.value}, recommended "
            f"{d.recommended}: {d.why}"
        )
    for key in sorted(da2.keys() - db2.keys()):
        out.append(f"departure resolved: {key} (was {da2[key].value})")
    for key in sorted(da2.keys() & db2.keys()):
        if asdict(da2[key]) != asdict(db2[key]):
            out.append(f"departure {key}: now {db2[key].value} ({db2[key].severity})")
    return out


def diff_revisions(inventory: str, rev1: str, rev2: str, vault_password_files=()) -> list[str]:
    return compare(
        audit_at(inventory, rev1, vault_password_files),
        audit_at(inventory, rev2, vault_password_files),
    )
