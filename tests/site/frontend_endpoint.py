"""The frontend suite's endpoint file for the converged demo site.

molecule/frontend/tests read an endpoint file (named by FRONTEND_ENDPOINT): where the site's
parts are, how to log in, what the site should look like. The frontend scenario's verify.yml
writes it for its own hosts; this writes it for the demo site (inventories/demo), from the
inventory (the project's own model), the roles' defaults it does not override, its generated
secrets (inventories/demo/.secrets/) and the running containers' addresses.

Secrets the suite reads as files but the demo keeps in another form (the frontend's header
secret, derived from hub_cookie_secret; one password per user, where the demo has one for
all) are written to a private directory next to OUT.

Usage: python tests/site/frontend_endpoint.py OUT.json [--inventory inventories/demo]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from sitehub.demo import DEMO_USER
from sitehub.deploy import BATCH_SCHEDULERS, frontend_secret, instance_name, realm_users
from sitehub.inventory.validate import _plain
from sitehub.render.commands import site_model
from sitehub.testing.saml_login import KeycloakAdmin, TotpStore, keycloak_admin_url, new_session

REPO = Path(__file__).resolve().parents[2]
DEMO_INVENTORY = REPO / "inventories" / "demo"
# The demo's Keycloak admin when the inventory names none (playbooks/identity.yml).
ADMIN_USERNAME_DEFAULT = "sitehub-admin"
# Seconds between a TOTP device's creation in Keycloak and its key file in the store (the
# store writes the key once Keycloak accepted the device; both clocks are this machine's).
ENROLL_SLACK = 5


class SiteNotReady(RuntimeError):
    """The demo site is not (fully) deployed; the message says what is missing."""


def podman(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "molecule" / "shared" / "containers.conf"))
    return subprocess.run(
        ["podman", *argv], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def container_network(name: str) -> tuple[str, str]:
    """(address on its podman network, network namespace path) of a running container."""
    res = podman("inspect", name, "--format", "{{json .NetworkSettings}}")
    if res.returncode != 0:
        raise SiteNotReady(f"podman inspect {name}: {res.stderr.strip()} (is the demo up?)")
    settings = json.loads(res.stdout)
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return network["IPAddress"], settings.get("SandboxKey") or ""
    raise SiteNotReady(f"{name} has no address on a podman network (is it running?)")


def inventory_vars(inventory: Path) -> dict[str, dict[str, Any]]:
    """Each host's inventory variables (group_vars, host_vars, hosts.yml), not templated."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    return {
        host.name: {
            "groups": sorted(g.name for g in host.get_groups()),
            "vars": variables.get_vars(host=host),
        }
        for host in manager.get_hosts()
    }


def setting(host_vars: dict[str, Any], name: str, defaults_file: Path) -> Any:
    """A role variable as a play gets it: the inventory's value, else the file's default."""
    if name in host_vars:
        value = _plain(host_vars[name])
    else:
        value = (yaml.safe_load(defaults_file.read_text()) or {}).get(name)
    if value is None or (isinstance(value, str) and "{{" in value):
        # a template would need the play's context; the suite needs the value it renders to
        raise ValueError(f"{name}: no plain value in the inventory or {defaults_file}")
    return value


def role_defaults(role: str) -> Path:
    return REPO / "roles" / role / "defaults" / "main.yml"


def published_address(host_vars: dict[str, Any], host: str, port: int) -> str:
    """Where this machine reaches `port` of a test host: its sitehub_test_publish entry."""
    for entry in _plain(host_vars.get("sitehub_test_publish") or []):
        # podman's [address:]host_port:container_port; no address: every one of this machine
        address, published, _inner = (["127.0.0.1", *str(entry).split(":")])[-3:]
        if int(published) == port:
            return address
    raise ValueError(f"{host} publishes no port {port} (sitehub_test_publish)")


def secret_files(directory: Path) -> dict[str, str]:
    """The demo's generated secrets, by name (what sitehub_secrets reads them from)."""
    return {
        path.name: path.read_text().strip()
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


def write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text + "\n")
    return path


def private_dir(out: Path) -> Path:
    """<OUT without .json>.secrets/ next to OUT, 0700; refused inside the repository unless
    under artifacts/ (git-ignored): derived secrets must never land where git sees them."""
    directory = out.parent / f"{out.stem}.secrets"
    resolved = directory.resolve()
    if resolved.is_relative_to(REPO) and not resolved.is_relative_to(REPO / "artifacts"):
        raise ValueError(f"{out}: inside the repository, write it under artifacts/ instead")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


def forget_replaced_otp(store: TotpStore, admin: KeycloakAdmin, users: list[str]) -> list[str]:
    """Drop stored TOTP keys of users whose device Keycloak replaced since (another suite,
    e.g. the e2e test, enrolls bob anew with a key of its own): the suite then resets their
    device and enrolls again, where a stale key would fail the login. The demo's own user is
    never dropped: `make demo` printed her key for people to use."""
    forgotten = []
    for username in users:
        path = store.directory / f"{username}.totp"
        if not path.exists():
            continue
        created = [
            c.get("createdDate", 0) / 1000
            for c in admin.credentials(username)
            if c["type"] == "otp"
        ]
        if created and max(created) > path.stat().st_mtime + ENROLL_SLACK:
            if username == DEMO_USER:
                print(
                    f"warning: {username}'s TOTP device in Keycloak is newer than her key in "
                    f"{store.directory}: logins with that key will fail",
                    file=sys.stderr,
                )
                continue
            store.forget(username)
            forgotten.append(username)
    return forgotten


def spawn_form(cluster) -> dict[str, str] | None:
    """What the suite submits to the cluster's spawn form: run locally, so the server runs on
    the hub host as the scenario's local spawner does. None: the hub spawns without a form."""
    if cluster.scheduler not in BATCH_SCHEDULERS:
        return None
    if not cluster.options.run_locally:
        raise ValueError(f"cluster {cluster.segment}: the suite needs 'run locally' offered")
    return {"run_local": "on"}


def build_endpoint(inventory: Path, out: Path) -> dict[str, Any]:
    model = site_model(str(inventory))
    site, identity = model.sitehub_site, model.sitehub_identity
    secrets_dir = inventory / ".secrets"
    ca_file = secrets_dir / "pki" / "ca.crt"
    for path in (ca_file, secrets_dir / "demo_user_password", secrets_dir / "hub_cookie_secret"):
        if not path.is_file():
            raise SiteNotReady(f"{path} is missing (the demo has not been deployed: `make demo`)")
    secrets = secret_files(secrets_dir)
    hosts = inventory_vars(inventory)
    frontend_host = site.frontends[0]
    frontend_vars = hosts[frontend_host]["vars"]
    keycloak_vars = hosts[identity.host]["vars"]

    containers = [name for name, host in hosts.items() if "sitehub_test_hosts" in host["groups"]]
    networks = {name: container_network(name) for name in containers}
    addresses = {name: address for name, (address, _) in networks.items()}
    # the public names are ports published on this machine, not container names
    addresses[site.public_hostname] = published_address(
        frontend_vars, frontend_host, site.public_port
    )
    keycloak_url = str(identity.url).rstrip("/")
    keycloak = urlsplit(keycloak_url)
    addresses[keycloak.hostname] = published_address(
        keycloak_vars, identity.host, keycloak.port or 443
    )
    # the admin listener (admin console and API, master realm), published for operators
    admin_url = keycloak_admin_url(
        identity.admin_url,
        keycloak_url,
        int(setting({}, "keycloak_admin_port", role_defaults("keycloak"))),
    )
    admin = urlsplit(admin_url)
    admin_address = published_address(keycloak_vars, identity.host, admin.port or 443)
    if addresses.get(admin.hostname, admin_address) != admin_address:
        raise ValueError(f"{admin_url} and {keycloak_url} name one host at two addresses")
    addresses[admin.hostname] = admin_address

    scratch = private_dir(out)
    password = secrets["demo_user_password"]
    for user in identity.demo_users:
        write_private(scratch / "passwords" / user.name, password)
    hub_secret_file = write_private(scratch / "hub_frontend_secret", frontend_secret(secrets))

    totp_dir = secrets_dir / "totp"
    admin_username = str(
        _plain(keycloak_vars.get("keycloak_admin_username", ADMIN_USERNAME_DEFAULT))
    )
    admin_password_file = secrets_dir / "keycloak_admin_password"
    admin = KeycloakAdmin(
        new_session(ca_file, set(addresses)),
        admin_url,
        identity.realm,
        admin_username,
        admin_password_file.read_text().strip(),
    )
    users = [user.name for user in identity.demo_users]
    for username in forget_replaced_otp(TotpStore(totp_dir), admin, users):
        print(f"{username}'s stored TOTP key was replaced in Keycloak: forgotten", file=sys.stderr)

    if not shutil.which("tcpdump"):
        print(
            "warning: tcpdump is not installed here (apt-get install tcpdump): the suite's "
            "two packet captures, run in the hub containers' network namespaces, will fail",
            file=sys.stderr,
        )

    port = "" if site.public_port == 443 else f":{site.public_port}"
    public_url = f"https://{site.public_hostname}{port}"
    frontend_defaults = role_defaults("frontend")
    return {
        "hosts": addresses,
        "ca_file": str(ca_file),
        "public_hostname": site.public_hostname,
        "public_url": public_url,
        # port 80 is not published: plain HTTP is tried at the container itself
        "plain_http_url": f"http://{frontend_host}",
        "site_title": site.title,
        "site_description": site.description,
        "clusters": [
            {
                "segment": cluster.segment,
                "title": cluster.title,
                "description": cluster.description,
                # the landing page falls back to the site's link
                "info_url": cluster.info_url or site.info_url or "",
                "scheduler": cluster.scheduler,
                "instances": [
                    {
                        "host": instance.host,
                        "port": instance.port,
                        "route": instance.route,
                        "name": instance_name(cluster, instance),
                    }
                    for instance in cluster.instances
                ],
                "spawn_form": spawn_form(cluster),
            }
            for cluster in model.sitehub_clusters
        ],
        "frontend_host": frontend_host,
        "user_header": setting({}, "site_user_header", REPO / "playbooks/group_vars/all.yml"),
        "proxy_timeout": setting(frontend_vars, "frontend_proxy_timeout", frontend_defaults),
        "keycloak_url": keycloak_url,
        "keycloak_admin_url": admin_url,
        "keycloak_management_port": setting(
            keycloak_vars, "keycloak_management_port", role_defaults("keycloak")
        ),
        # the public listener as the hosts of the demo network reach it (not published)
        "keycloak_public_port": setting(
            keycloak_vars, "keycloak_https_port", role_defaults("keycloak")
        ),
        # users' jobs run there: what it can reach, anyone's notebook can
        "compute_host": sorted(
            name for name, host in hosts.items() if "slurm_compute" in host["groups"]
        )[0],
        "frontend_error_log": "/var/log/apache2/sitehub-error.log",
        "brute_force_failures": identity.brute_force.max_failures,
        "realm": identity.realm,
        "admin_username": admin_username,
        "admin_password_file": str(admin_password_file),
        "passwords_dir": str(scratch / "passwords"),
        # the demo's own store: alice's key, printed by `make demo`, stays valid
        "totp_dir": str(totp_dir),
        "otp_look_ahead": setting(
            keycloak_vars, "keycloak_realm_otp_look_ahead_window", role_defaults("keycloak_realm")
        ),
        "users": users,
        "test_users": [
            {k: v for k, v in user.items() if k != "password"}
            for user in realm_users(identity, password)
        ],
        "keycloak_host": identity.host,
        "hub_secret_file": str(hub_secret_file),
        "session_length": setting(
            frontend_vars, "frontend_mellon_session_length", frontend_defaults
        ),
        "site_logout_url": public_url
        + setting(frontend_vars, "frontend_logout_path", frontend_defaults),
        # the realm test converges the identity layer again (`--tags realm`) with alice
        # renamed through the role's own user list, then as the inventory says
        "converge_playbook": str(REPO / "playbooks" / "identity.yml"),
        "inventory": [str(inventory.resolve())],
        "realm_users_var": "keycloak_realm_demo_users",
        "artifacts_dir": str(out.parent / "frontend"),
        # packet captures run this machine's tcpdump in the container's network namespace
        "netns_exec": {
            name: ["nsenter", f"--net={netns}"] for name, (_, netns) in networks.items() if netns
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="endpoint file to write (under artifacts/)")
    parser.add_argument("--inventory", type=Path, default=DEMO_INVENTORY)
    args = parser.parse_args(argv)
    out = args.out.absolute()
    try:
        endpoint = build_endpoint(args.inventory.absolute(), out)
    except (SiteNotReady, ValueError, OSError, requests.RequestException) as exc:
        print(f"no endpoint written: {exc}", file=sys.stderr)
        return 1
    write_private(out, json.dumps(endpoint, indent=2))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
