"""`sitehub audit --diff REV1 REV2`: what changed in exposure and entitlements, in words.

The inventory is read at each revision from the git repository that holds it (`git archive`
into a temporary folder, so the working tree and its checkout stay as they are), audited as
usual, and the two reports are compared record by record.
"""

from __future__ import annotations

import dataclasses
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
    missing = AuditInputError(str(inventory), message=f"{rel} does not exist at {rev}")
    try:
        data = _git(top, "archive", "--format=tar", commit, "--", str(rel))
    except GitError:
        raise missing from None
    with tempfile.TemporaryDirectory(prefix="sitehub-audit-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        at = Path(tmp) / rel
        if not at.exists():
            raise missing
        try:
            report = audit_inventory(at, vault_password_files)
        except AuditInputError as exc:
            # name the file as it is in the repository at that revision, not the temporary copy
            problems = [
                dataclasses.replace(p, file=_at_rev(p.file, tmp, top, rev)) for p in exc.problems
            ]
            raise AuditInputError(
                str(inventory), problems, exc.args[0] if not problems else ""
            ) from None
    # the same inventory name in both reports, not the temporary folder
    report.inventory = f"{inventory}@{rev}"
    return report


def _at_rev(file: str, tmp: str, top: Path, rev: str) -> str:
    path = Path(file)
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        return f"{rev}:{path.resolve().relative_to(Path(tmp).resolve())}"
    except ValueError:
        return file


def _match(old, new, key):
    """(added, removed, kept pairs) of two lists of records, matched by key, in key order."""
    a = {key(item): item for item in old}
    b = {key(item): item for item in new}
    order = lambda keys: sorted(keys, key=str)  # noqa: E731
    return (
        [b[k] for k in order(b.keys() - a.keys())],
        [a[k] for k in order(a.keys() - b.keys())],
        [(a[k], b[k]) for k in order(a.keys() & b.keys())],
    )


def _changed(label: str, old, new, fields: tuple[str, ...]) -> list[str]:
    out = []
    for name in fields:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out.append(f"{label}: {name.replace('_', ' ')} changes from {a} to {b}")
    return out


def _paths(old: Report, new: Report) -> list[str]:
    added, removed, kept = _match(old.paths, new.paths, lambda p: p.path)
    out = []
    for p in added:
        who = f"cluster {p.cluster} gets" if p.cluster else "the site gets"
        out.append(f"{who} a new public path {p.path} ({p.served_by}; login: {p.login})")
        out += [_new_member(p.path, m) for m in p.members]
    for p in removed:
        who = f"cluster {p.cluster}'s" if p.cluster else "the"
        out.append(f"{who} public path {p.path} is gone")
    for a, b in kept:
        if a.login != b.login:
            out.append(f"{a.path}: login changes from '{a.login}' to '{b.login}'")
        new_members, gone, same = _match(a.members, b.members, lambda m: m.instance)
        out += [_new_member(a.path, m) for m in new_members]
        out += [f"{a.path} loses hub instance {m.instance} ({m.host}:{m.port})" for m in gone]
        for ma, mb in same:
            out += _changed(f"{a.path} instance {ma.instance}", ma, mb, ("host", "port"))
        out += _changed(a.path, a, b, ("sticky", "failover", "why"))
    return out


def _new_member(path: str, m) -> str:
    return f"{path} gets a new hub instance {m.instance} on {m.host}:{m.port} (route {m.route})"


def _listeners(old: Report, new: Report) -> list[str]:
    added, removed, kept = _match(
        old.listeners, new.listeners, lambda i: (i.host, i.port, i.service)
    )
    out = [
        f"{i.host} now listens on port {i.port} ({i.service}, bound to {i.bind}; who may "
        f"connect: {i.who})"
        for i in added
    ]
    out += [f"{i.host} no longer listens on port {i.port} ({i.service})" for i in removed]
    for a, b in kept:
        out += _changed(f"{a.host}:{a.port} ({a.service})", a, b, ("bind", "who"))
    return out


def _auth(old: Report, new: Report) -> list[str]:
    out = []
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
        for sa, sb in _match(a.sessions, b.sessions, lambda s: s.layer)[2]:
            out += _changed(sa.layer, sa, sb, ("idle_seconds", "max_seconds"))
    for ta, tb in _match(old.tls, new.tls, lambda t: t.endpoint)[2]:
        out += _changed(f"TLS of {ta.endpoint}", ta, tb, ("protocols", "ciphers", "hsts_max_age"))
    return out


def _grants(old: Report, new: Report) -> list[str]:
    added, removed, kept = _match(
        old.grants, new.grants, lambda g: (g.subject, g.kind, g.value, g.cluster)
    )
    out = [g.sentence("may now") for g in added]
    out += [g.sentence("may no longer") for g in removed]
    out += [
        f"{a.sentence()}: {a.detail or '-'} becomes {b.detail or '-'}"
        for a, b in kept
        if a.detail != b.detail
    ]
    return out


def _secrets_and_departures(old: Report, new: Report) -> list[str]:
    added, removed, kept = _match(old.secrets, new.secrets, lambda s: s.name)
    out = [f"new secret {s.name} ({s.origin}: {s.detail})" for s in added]
    out += [f"secret {s.name} is no longer used" for s in removed]
    out += [
        f"secret {a.name} now comes from {b.origin} (was {a.origin})"
        for a, b in kept
        if a.origin != b.origin
    ]
    added, removed, kept = _match(old.departures, new.departures, lambda d: d.setting)
    out += [
        f"new departure ({d.severity}): {d.setting} is {d.value}, recommended "
        f"{d.recommended}: {d.why}"
        for d in added
    ]
    out += [f"departure resolved: {d.setting} (was {d.value})" for d in removed]
    out += [
        f"departure {b.setting}: now {b.value} ({b.severity})"
        for a, b in kept
        if asdict(a) != asdict(b)
    ]
    return out


def compare(old: Report, new: Report) -> list[str]:
    """Every difference that matters to an auditor, one sentence each: exposure (paths,
    instances, listeners), authentication and TLS, entitlements, secrets, departures."""
    return [
        *_paths(old, new),
        *_listeners(old, new),
        *_auth(old, new),
        *_grants(old, new),
        *_secrets_and_departures(old, new),
    ]


def diff_revisions(inventory: str, rev1: str, rev2: str, vault_password_files=()) -> list[str]:
    return compare(
        audit_at(inventory, rev1, vault_password_files),
        audit_at(inventory, rev2, vault_password_files),
    )
