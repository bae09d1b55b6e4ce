"""`sitehub demo up|down`: the whole demo site on this machine, in test hosts.

`up` builds (or reuses) the base image, starts the demo inventory's hosts,
converges playbooks/site.yml with the operator progress view, and prints where
the site is and how to log in. A later `up` with the same files and the same hosts as the
last converge runs the smoke check instead of converging again (`--converge` converges
anyway); `up --expect-unchanged` converges and fails, naming each task, if anything changed.
`down` removes the hosts, their network and the generated secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sitehub import testhosts

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "inventories" / "demo"
DEMO_USER = "alice"
# What a converge of the demo is made of: when none of these files nor the hosts changed
# since the last converge, `up` has nothing to converge.
CONVERGE_INPUTS = (
    "ansible.cfg",
    "pyproject.toml",
    "requirements.yml",
    "playbooks",
    "roles",
    "filter_plugins",
    "action_plugins",
    "library",
    "module_utils",
    "src/sitehub",
)
# The last successful converge's inputs and hosts, in the inventory's secrets folder.
CONVERGE_RECORD = "converged.json"
# Inside the secrets folder: written by logins and by this module, not read by the playbooks.
NOT_CONVERGE_INPUTS = ("totp", CONVERGE_RECORD)


def add_subparsers(sub) -> None:
    parser = sub.add_parser("demo", help="deploy or remove the demo site on this machine")
    parser.add_argument("action", choices=["up", "down", "info"])
    parser.add_argument("--inventory", default=str(DEMO))
    parser.add_argument(
        "--raw", action="store_true", help="Ansible's full task output instead of the progress view"
    )
    parser.add_argument(
        "--expect-unchanged",
        action="store_true",
        help="fail if the converge changes anything (the idempotence check of a converged demo)",
    )
    parser.add_argument(
        "--converge",
        action="store_true",
        help="converge even when files and hosts are as the last converge left them",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="a dry run (ansible-playbook --check): what a converge would change, changing nothing",
    )
    parser.add_argument(
        "--recap",
        help="write the converge's summary as JSON here (layers, changed tasks, per-host counts)",
    )
    parser.set_defaults(func=cmd_demo)


def secrets_dir(inventory: Path) -> Path:
    return inventory / ".secrets"


def converge_inputs_digest(inventory: Path, root: Path = ROOT) -> str:
    """sha256 over the path and bytes of every file a converge of `inventory` reads."""
    secrets = secrets_dir(inventory)
    skipped = {secrets / name for name in NOT_CONVERGE_INPUTS}
    digest = hashlib.sha256()
    for base in [*(root / name for name in CONVERGE_INPUTS), inventory]:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or any(s == path or s in path.parents for s in skipped):
                continue
            digest.update(
                f"{path.relative_to(root) if path.is_relative_to(root) else path}\0".encode()
            )
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def host_ids(hosts) -> dict[str, str]:
    """Container id of each test host ('' for one that does not exist)."""
    return {host.name: (testhosts.container_state(host.name) or {}).get("id", "") for host in hosts}


def converged_state(inventory: Path, hosts) -> dict[str, object]:
    return {"inputs": converge_inputs_digest(inventory), "hosts": host_ids(hosts)}


def nothing_to_converge(record: Path, state: dict[str, object]) -> bool:
    """True when the last converge that succeeded saw these very files and hosts."""
    try:
        last = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(last, dict)
        and last.get("inputs") == state["inputs"]
        and last.get("hosts") == state["hosts"]
        and all(state["hosts"].values())
    )


def converge(
    inventory: Path,
    raw: bool = False,
    extra: tuple[str, ...] = (),
    recap: Path | None = None,
    playbook: Path = ROOT / "playbooks" / "site.yml",
) -> int:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    if not raw:
        env["ANSIBLE_STDOUT_CALLBACK"] = "sitehub_progress"
    if recap is not None:
        env["SITEHUB_PROGRESS_RECAP"] = str(recap)
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [str(ansible_playbook), "-i", str(inventory), str(playbook), *extra]
    return subprocess.run(command, env=env, cwd=ROOT, check=False).returncode


def cmd_demo(args) -> int:
    inventory = Path(args.inventory).resolve()
    hosts = testhosts.load_test_hosts(inventory)
    if args.action == "down":
        print("\n".join(testhosts.hosts_down(hosts)) or "nothing to remove")
        shutil.rmtree(secrets_dir(inventory), ignore_errors=True)
        print(f"removed {secrets_dir(inventory)}")
        return 0
    if args.action == "up":
        if args.expect_unchanged and args.raw:
            print("--expect-unchanged reads the progress view's recap: drop --raw", file=sys.stderr)
            return 2
        recap = Path(args.recap).resolve() if args.recap else None
        if args.expect_unchanged and recap is None:
            recap = ROOT / "artifacts" / "demo" / "idempotence.json"
        if recap is not None:
            recap.parent.mkdir(parents=True, exist_ok=True)
            recap.unlink(missing_ok=True)
        started = time.monotonic()
        testhosts.build_images_for(host.image for host in hosts)
        print(testhosts._table(testhosts.hosts_up(hosts, str(inventory))))
        record = secrets_dir(inventory) / CONVERGE_RECORD
        state = converged_state(inventory, hosts)
        full_run = args.converge or args.check or args.expect_unchanged
        if not full_run and nothing_to_converge(record, state):
            print("\nfiles and hosts are as the last converge left them: smoke check only")
            smoke = ROOT / "playbooks" / "smoke.yml"
            if converge(inventory, raw=args.raw, playbook=smoke) == 0:
                print(
                    f"\ndemo up in {time.monotonic() - started:.0f} s "
                    "(nothing to converge; `sitehub demo up --converge` converges anyway)"
                )
                print_access(inventory)
                return 0
            print("the smoke check failed: converging the whole site")
        extra = ("--check",) if args.check else ()
        rc = converge(inventory, raw=args.raw, recap=recap, extra=extra)
        if rc != 0:
            record.unlink(missing_ok=True)
            print(f"\nthe demo did not converge (ansible-playbook exit {rc})", file=sys.stderr)
            return rc
        if not args.check:
            # after the run: its first converge generates secrets that are inputs too
            record.write_text(json.dumps(converged_state(inventory, hosts)) + "\n")
        what = "dry run" if args.check else "demo up"
        print(f"\n{what} in {time.monotonic() - started:.0f} s")
        if args.expect_unchanged:
            changed = unexpected_changes(recap)
            verb = "would change" if args.check else "changed"
            if changed:
                print(f"\nnot idempotent: {len(changed)} task(s) {verb} on a converged demo:")
                print("\n".join(f"  {line}" for line in changed))
                return 1
            print(f"idempotent: nothing {verb} (recap: {recap})")
        if args.check:
            return 0
        try:
            enroll_demo_user(inventory)
        except Exception as exc:  # the site is up; say why the shortcut is missing
            print(f"(could not enroll {DEMO_USER}'s authenticator in advance: {exc})")
    print_access(inventory)
    return 0


def unexpected_changes(recap: Path) -> list[str]:
    """Each task a converge reported changed, as 'layer / host / task'; a recap that is
    missing counts as a change (nothing proves the converge changed nothing)."""
    try:
        data = json.loads(recap.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"no readable recap at {recap}: {exc}"]
    return [f"{t['layer']} / {t['host']} / {t['task']}" for t in data.get("changed_tasks", [])]


def _site_url(site) -> str:
    port = site.sitehub_site.public_port
    return (
        f"https://{site.sitehub_site.public_hostname}" + ("" if port == 443 else f":{port}") + "/"
    )


def enroll_demo_user(inventory: Path) -> None:
    """Log DEMO_USER in once through the real pages (frontend, Keycloak password, TOTP
    enrollment) so the printed secret and QR code work in any authenticator app. Skipped
    when enrolled already: the secret is kept in the ignored secrets folder."""
    from sitehub.render.commands import site_model
    from sitehub.testing.saml_login import TotpStore, login, new_session

    site = site_model(str(inventory))
    secrets = secrets_dir(inventory)
    store = TotpStore(
        secrets / "totp",
        digits=site.sitehub_identity.mfa.digits,
        period=site.sitehub_identity.mfa.period,
    )
    password = _read(secrets / "demo_user_password")
    if store.has(DEMO_USER) or password is None:
        return
    cluster = site.sitehub_clusters[0]
    session = new_session(secrets / "pki" / "ca.crt")
    login(session, f"{_site_url(site)}jupyterhub/{cluster.segment}/hub/home", DEMO_USER,
          password, store)  # fmt: skip


def print_access(inventory: Path) -> None:
    from sitehub.render.commands import site_model

    site = site_model(str(inventory))
    secrets = secrets_dir(inventory)
    url = _site_url(site)
    password = _read(secrets / "demo_user_password")
    print("\n" + "=" * 72)
    print(f"  {site.sitehub_site.title}: {url}")
    ca = secrets / "pki" / "ca.crt"
    if ca.exists():
        print(f"  site CA certificate (import it in your browser, or curl --cacert): {ca}")
    for user in site.sitehub_identity.demo_users:
        print(f"  demo user: {user.name}   password: {password or '(not generated yet)'}")
    print(
        "  First login: Keycloak asks you to enroll an authenticator app (FreeOTP,\n"
        "  Google Authenticator): scan the QR code it shows, then type the 6-digit code."
    )
    secret = _read(secrets / "totp" / f"{DEMO_USER}.totp")
    if secret:
        print(f"  {DEMO_USER} is enrolled already: add this key to your authenticator app")
        print(f"  (type it in, or scan the QR code below): {secret}")
        _print_qr(
            f"otpauth://totp/{site.sitehub_identity.realm}:{DEMO_USER}?secret={secret}"
            f"&issuer={site.sitehub_identity.realm}&digits={site.sitehub_identity.mfa.digits}"
            f"&period={site.sitehub_identity.mfa.period}"
        )
    print("=" * 72)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _print_qr(uri: str) -> None:
    try:
        import segno
    except ImportError:
        print(f"  {uri}")
        return
    segno.make(uri, error="m").terminal(compact=True)
