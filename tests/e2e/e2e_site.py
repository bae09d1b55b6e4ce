"""The demo site as the end-to-end test sees it: where it is, whether it is up, and the few
things done around the browser (Keycloak's admin REST API, the hubs' REST API, Slurm's
squeue on the controller, TLS trust for Chromium).

Everything is read from the demo inventory (inventories/demo) and its generated secrets
(inventories/demo/.secrets/), so the test follows the inventory instead of copying it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sitehub.testing.saml_login import (
    KeycloakAdmin,
    TotpStore,
    keycloak_admin_url,
    login,
    new_session,
    post_saml_forms,
    reset_otp,
)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# The user the test owns: alice stays for people trying the demo (she is the hub's admin).
E2E_USER = "bob"
E2E_CLUSTER = "hpc"
# Cell the test runs in the notebook: the job id the kernel sees and the host it runs on.
CELL_MARKER = "E2E"
CELL_CODE = (
    "import os, socket\n"
    f'print("{CELL_MARKER}", os.environ.get("SLURM_JOB_ID", "none"), socket.gethostname(), '
    'sep="|")'
)


class DemoDown(RuntimeError):
    """The demo site is not (fully) up; the message says what is missing."""


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "molecule" / "shared" / "containers.conf"))
    return env


def podman(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=podman_env(),
        check=False,
    )


@dataclass
class Instance:
    host: str
    port: int
    route: str


@dataclass
class DemoSite:
    inventory: Path
    site_url: str  # https://localhost:8443 (no trailing slash)
    title: str
    keycloak_url: str  # https://localhost:8444
    keycloak_admin_url: str  # https://localhost:8445: admin API and master realm
    realm: str
    otp_algorithm: str
    otp_digits: int
    otp_period: int
    cluster: str
    cluster_title: str
    instances: list[Instance]
    kernel_display_name: str
    slurm_controller: str
    secrets: Path
    user: str = E2E_USER

    # ---- secrets ------------------------------------------------------------------------
    @property
    def ca_file(self) -> Path:
        return self.secrets / "pki" / "ca.crt"

    def password(self) -> str:
        return (self.secrets / "demo_user_password").read_text().strip()

    def admin_password(self) -> str:
        return (self.secrets / "keycloak_admin_password").read_text().strip()

    # ---- URLs ---------------------------------------------------------------------------
    @property
    def hub_path(self) -> str:
        return f"/jupyterhub/{self.cluster}/"

    @property
    def hub_url(self) -> str:
        return self.site_url + self.hub_path

    @property
    def realm_url(self) -> str:
        return f"{self.keycloak_url}/realms/{self.realm}"

    def hosts(self) -> set[str]:
        """Hosts test traffic may go to (the published ports on this machine)."""
        return {
            urlsplit(url).hostname
            for url in (self.site_url, self.keycloak_url, self.keycloak_admin_url)
        }

    def session(self) -> requests.Session:
        return new_session(self.ca_file, self.hosts())

    def admin(self) -> KeycloakAdmin:
        return KeycloakAdmin(
            self.session(),
            self.keycloak_admin_url,
            self.realm,
            "sitehub-admin",
            self.admin_password(),
        )


def _group_hosts(inventory: Path, group: str) -> list[str]:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    hosts = [h.name for h in manager.get_hosts(group)]
    if not hosts:
        raise DemoDown(f"{inventory} has no host in group {group}")
    return hosts


def load_site(inventory: Path | None = None) -> DemoSite:
    """The demo site's facts, from its inventory (the project's own loader and model)."""
    from sitehub.render.commands import site_model

    inventory = Path(
        inventory or os.environ.get("SITEHUB_E2E_INVENTORY", REPO / "inventories/demo")
    )
    model = site_model(str(inventory))
    site, identity = model.sitehub_site, model.sitehub_identity
    port = "" if site.public_port == 443 else f":{site.public_port}"
    cluster = next((c for c in model.sitehub_clusters if c.segment == E2E_CLUSTER), None)
    if cluster is None:
        raise DemoDown(f"{inventory} has no cluster '{E2E_CLUSTER}'")
    kernels = {k.name: k.display_name for k in model.sitehub_kernels}
    controller = _group_hosts(inventory, "slurm_controller")[0]
    return DemoSite(
        inventory=inventory,
        site_url=f"https://{site.public_hostname}{port}",
        title=site.title,
        keycloak_url=str(identity.url).rstrip("/"),
        keycloak_admin_url=keycloak_admin_url(identity.admin_url, str(identity.url)),
        realm=identity.realm,
        otp_algorithm=identity.mfa.algorithm,
        otp_digits=identity.mfa.digits,
        otp_period=identity.mfa.period,
        cluster=cluster.segment,
        cluster_title=cluster.title,
        instances=[Instance(i.host, i.port, i.route) for i in cluster.instances],
        kernel_display_name=kernels.get(cluster.kernels[0], cluster.kernels[0])
        if cluster.kernels
        else "Python 3",
        slurm_controller=controller,
        secrets=inventory / ".secrets",
    )


def check_up(demo: DemoSite) -> None:
    """Raise DemoDown unless the site, Keycloak, the secrets, Slurm and Chromium are there."""
    for path in (demo.ca_file, demo.secrets / "demo_user_password"):
        if not path.is_file():
            raise DemoDown(f"{path} is missing (the demo has not been deployed: `make demo`)")
    if not Path(CHROMIUM).exists():
        raise DemoDown(f"{CHROMIUM} is missing (apt-get install chromium)")
    http = demo.session()
    probes = [
        (demo.site_url + "/", f'data-segment="{demo.cluster}"'),
        (f"{demo.realm_url}/.well-known/openid-configuration", '"issuer"'),
    ]
    for url, needle in probes:
        try:
            reply = http.get(url, timeout=15)
        except requests.RequestException as exc:
            raise DemoDown(f"{url} does not answer: {exc}") from None
        if reply.status_code != 200 or needle not in reply.text:
            raise DemoDown(f"{url} answers HTTP {reply.status_code} without {needle!r}")
    res = podman("exec", demo.slurm_controller, "sinfo", "-h", "-o", "%P")
    if res.returncode != 0:
        raise DemoDown(f"sinfo on {demo.slurm_controller} failed: {res.stderr.strip()[:300]}")


# ---- TLS: Chromium trusts exactly what the site CA signed ---------------------------------


def pinned_spki(demo: DemoSite) -> list[str]:
    """SPKI pins of the site's and Keycloak's certificates, each verified against the site CA
    (chain and host name) here first. Chromium then accepts exactly these keys
    (--ignore-certificate-errors-spki-list): the same trust as importing the CA, without
    an NSS database (certutil is not installed) or touching the machine's trust store."""
    context = ssl.create_default_context(cafile=str(demo.ca_file))
    pins = []
    for url in (demo.site_url, demo.keycloak_url):
        parts = urlsplit(url)
        with (
            socket.create_connection((parts.hostname, parts.port or 443), timeout=15) as sock,
            context.wrap_socket(sock, server_hostname=parts.hostname) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        spki = (
            x509.load_der_x509_certificate(der)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        pins.append(base64.b64encode(hashlib.sha256(spki).digest()).decode())
    return pins


def chromium_args(demo: DemoSite) -> list[str]:
    return [
        "--no-sandbox",  # runs as root here; the sandbox needs an unprivileged user
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--ignore-certificate-errors-spki-list={','.join(pinned_spki(demo))}",
    ]


# ---- Slurm -------------------------------------------------------------------------------


@dataclass
class Job:
    id: str
    name: str
    state: str
    nodes: str


def squeue(demo: DemoSite, user: str | None = None) -> list[Job]:
    res = podman(
        "exec", demo.slurm_controller, "squeue", "-h", "-u", user or demo.user, "-o", "%i|%j|%T|%N"
    )
    if res.returncode != 0:
        raise RuntimeError(f"squeue on {demo.slurm_controller}: {res.stderr.strip()}")
    return [Job(*line.split("|", 3)) for line in res.stdout.splitlines() if line.count("|") == 3]


def compute_nodes(demo: DemoSite) -> set[str]:
    res = podman("exec", demo.slurm_controller, "sinfo", "-h", "-N", "-o", "%N")
    if res.returncode != 0:
        raise RuntimeError(f"sinfo on {demo.slurm_controller}: {res.stderr.strip()}")
    return {line.strip() for line in res.stdout.splitlines() if line.strip()}


def wait_no_jobs(demo: DemoSite, timeout: float = 60) -> list[Job]:
    """Wait until the test user has no job left; returns what is left at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = squeue(demo)
        if not jobs or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


# ---- the hubs, directly -----------------------------------------------------------------


def instance_for_route(demo: DemoSite, route: str) -> Instance:
    return next(i for i in demo.instances if i.route == route)


def container_address(name: str) -> str:
    res = podman("inspect", name, "--format", "{{json .NetworkSettings.Networks}}")
    if res.returncode != 0:
        raise RuntimeError(f"podman inspect {name}: {res.stderr.strip()}")
    for network in json.loads(res.stdout).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    raise RuntimeError(f"{name} has no address on a podman network")


def hub_api_with_cookie(demo: DemoSite, route: str, cookie: str) -> requests.Response:
    """GET <instance>/hub/api/user straight at one hub instance's proxy with nothing but
    this hub login cookie: no frontend in between, so no mellon session and no user header
    help; the cookie alone must (or must no longer) name the user."""
    instance = instance_for_route(demo, route)
    probe = requests.Session()
    probe.trust_env = False
    address = container_address(instance.host)
    return probe.get(
        f"http://{address}:{instance.port}{demo.hub_path}hub/api/user",
        headers={"Cookie": f"jupyterhub-hub-login={cookie}"},
        allow_redirects=False,
        timeout=30,
    )


# ---- before each run: a user who has never logged in -------------------------------------


def page_words(html: str, limit: int = 400) -> str:
    """The visible words of an HTML page, roughly (for error messages)."""
    html = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())[:limit]


def _stop_server_on(demo: DemoSite, http: requests.Session, route: str, log: list[str]) -> None:
    """Through the frontend, pinned to one instance: stop the user's server there, if any."""
    host = urlsplit(demo.site_url).hostname
    for cookie in list(http.cookies):
        if cookie.name == "ROUTEID":
            http.cookies.clear(cookie.domain, cookie.path, cookie.name)
    # Python's cookie jar stores single-label hosts as "<host>.local"
    http.cookies.set("ROUTEID", f".{route}", domain=f"{host}.local", path=demo.hub_path)
    home = http.get(f"{demo.hub_url}hub/home", timeout=60)
    if home.status_code != 200:
        raise RuntimeError(
            f"resetting {demo.user}: hub instance '{route}' answers HTTP {home.status_code} at "
            f"{home.url}: {page_words(home.text)}"
        )
    api = f"{demo.hub_url}hub/api"
    deadline = time.monotonic() + 180
    while True:
        model = http.get(f"{api}/user", timeout=30).json()
        server = model.get("servers", {}).get("")
        if server is None:
            return
        if server.get("pending") in ("spawn", "stop") and time.monotonic() < deadline:
            time.sleep(2)  # a spawn in progress cannot be stopped; wait for it to settle
            continue
        xsrf = http.cookies.get("_xsrf", path=f"{demo.hub_path}hub/")
        reply = http.delete(
            f"{api}/users/{demo.user}/server", headers={"X-XSRFToken": xsrf or ""}, timeout=120
        )
        log.append(f"route {route}: stopped {demo.user}'s server (HTTP {reply.status_code})")
        if reply.status_code not in (202, 204) or time.monotonic() > deadline:
            raise RuntimeError(
                f"could not stop {demo.user}'s server on route {route}: "
                f"HTTP {reply.status_code} {reply.text[:300]}"
            )
        time.sleep(2)


# JupyterLab reopens the tabs of its last workspace, so an earlier run's notebook would be the
# one on screen; the flow starts from an empty workspace instead.
HOME_LEFTOVERS = ".jupyter/lab/workspaces .local/share/jupyter/runtime Untitled*.ipynb"


def clean_homes(demo: DemoSite, hosts: list[str]) -> list[str]:
    """Remove the test user's JupyterLab workspaces and untitled notebooks on each host
    (homes are per host in the demo)."""
    log = []
    script = f"cd ~{demo.user} 2>/dev/null && rm -rf -- {HOME_LEFTOVERS}; true"
    for host in hosts:
        res = podman("exec", host, "sh", "-c", script)
        log.append(
            f"{host}: JupyterLab workspace and untitled notebooks of {demo.user} "
            + ("removed" if res.returncode == 0 else f"not removed: {res.stderr.strip()}")
        )
    return log


def reset_user(demo: DemoSite) -> list[str]:
    """Make the test user new again: no running server on any hpc instance, no Keycloak
    session, no OTP device (so the next login enrolls one). Returns what was done.

    Servers are stopped through the hub (its REST API, reached through the frontend after
    a scripted login), on each instance of the cluster in turn.
    """
    log: list[str] = []
    admin_session = demo.session()
    admin_password = demo.admin_password()

    def forget_otp() -> int:
        # the admin API on Keycloak's admin listener
        return reset_otp(
            admin_session,
            demo.keycloak_admin_url,
            demo.realm,
            demo.user,
            "sitehub-admin",
            admin_password,
        )

    forget_otp()
    with tempfile.TemporaryDirectory(prefix="sitehub-e2e-totp-") as totp_dir:
        http = demo.session()
        login(http, f"{demo.hub_url}hub/home", demo.user, demo.password(), TotpStore(totp_dir))
        for instance in demo.instances:
            _stop_server_on(demo, http, instance.route, log)
        # end this scripted login the way a user does (frontend logout: mellon + Keycloak)
        post_saml_forms(http, http.get(demo.site_url + "/logout", timeout=60))
    admin = demo.admin()
    user_id = admin.user(demo.user)["id"]
    admin.call("POST", f"/users/{user_id}/logout")
    removed = forget_otp()
    log.append(f"Keycloak: sessions ended, {removed} OTP device(s) removed, enrollment required")
    left = wait_no_jobs(demo, timeout=60)
    log += clean_homes(demo, sorted(compute_nodes(demo)))
    if left:
        log.append(f"Slurm jobs of {demo.user} still listed: {[j.__dict__ for j in left]}")
    return log
