"""The demo site as the end-to-end test sees it: where it is, whether it is up, and the few
things done around the browser (Keycloak's admin REST API, the hubs' REST API, Slurm's
squeue on the controller, HTCondor's condor_q on the HTC hub host, TLS trust for Chromium).

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
E2E_CLUSTER = "hpc"  # Slurm: the card the user logs in through
E2E_HTC_CLUSTER = "htc"  # HTCondor: the second card, same browser session
# Cell the test runs in each notebook: the batch job id the kernel sees and the host it runs
# on. Slurm puts the id in SLURM_JOB_ID; an HTCondor job gets _CONDOR_JOB_AD, the path of
# its job ad, whose ClusterId is the id condor_submit printed.
CELL_MARKER = "E2E"
# No indented lines: the editor would indent them again.
CELL_CODE = f"""\
import os, socket
ad = os.environ.get("_CONDOR_JOB_AD")
pairs = [x.partition("=")[::2] for x in open(ad)] if ad else []
condor = [v.strip() for k, v in pairs if k.strip() == "ClusterId"]
job = os.environ.get("SLURM_JOB_ID") or (condor + ["none"])[0]
print("{CELL_MARKER}", job, socket.gethostname(), sep="|")"""


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
class HubCluster:
    """One card of the landing page: a cluster's hub instances behind their balancer."""

    segment: str
    title: str
    scheduler: str  # slurm | htcondor
    instances: list[Instance]
    kernel_display_name: str
    site_url: str

    @property
    def hub_path(self) -> str:
        return f"/jupyterhub/{self.segment}/"

    @property
    def hub_url(self) -> str:
        return self.site_url + self.hub_path

    def instance(self, route: str) -> Instance:
        return next(i for i in self.instances if i.route == route)


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
    hpc: HubCluster
    htc: HubCluster
    slurm_controller: str
    htc_execute_nodes: list[str]
    # accounting groups each demo user may charge (the pool's user map, from the inventory)
    htc_groups: dict[str, list[str]]
    secrets: Path
    user: str = E2E_USER

    @property
    def htc_schedd_host(self) -> str:
        """The HTC hub host: its instances submit to the schedd there (demo: one host)."""
        hosts = sorted({i.host for i in self.htc.instances})
        if len(hosts) != 1:
            raise ValueError(f"cluster {self.htc.segment} has instances on {hosts}, not one host")
        return hosts[0]

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
    from sitehub.deploy import htcondor_group_map
    from sitehub.render.commands import site_model

    inventory = Path(
        inventory or os.environ.get("SITEHUB_E2E_INVENTORY", REPO / "inventories/demo")
    )
    model = site_model(str(inventory))
    site, identity = model.sitehub_site, model.sitehub_identity
    port = "" if site.public_port == 443 else f":{site.public_port}"
    site_url = f"https://{site.public_hostname}{port}"
    kernels = {k.name: k.display_name for k in model.sitehub_kernels}

    def hub_cluster(segment: str, scheduler: str):
        cluster = next((c for c in model.sitehub_clusters if c.segment == segment), None)
        if cluster is None or cluster.scheduler != scheduler:
            raise DemoDown(f"{inventory} has no {scheduler} cluster '{segment}'")
        first = cluster.kernels[0] if cluster.kernels else ""
        return cluster, HubCluster(
            segment=cluster.segment,
            title=cluster.title,
            scheduler=cluster.scheduler,
            instances=[Instance(i.host, i.port, i.route) for i in cluster.instances],
            kernel_display_name=kernels.get(first, first) if first else "Python 3",
            site_url=site_url,
        )

    _, hpc = hub_cluster(E2E_CLUSTER, "slurm")
    htc_model, htc = hub_cluster(E2E_HTC_CLUSTER, "htcondor")
    controller = _group_hosts(inventory, "slurm_controller")[0]
    return DemoSite(
        inventory=inventory,
        site_url=site_url,
        title=site.title,
        keycloak_url=str(identity.url).rstrip("/"),
        keycloak_admin_url=keycloak_admin_url(identity.admin_url, str(identity.url)),
        realm=identity.realm,
        otp_algorithm=identity.mfa.algorithm,
        otp_digits=identity.mfa.digits,
        otp_period=identity.mfa.period,
        hpc=hpc,
        htc=htc,
        slurm_controller=controller,
        htc_execute_nodes=_group_hosts(inventory, "htcondor_execute"),
        htc_groups=htcondor_group_map(htc_model, identity),
        secrets=inventory / ".secrets",
    )


def check_up(demo: DemoSite) -> None:
    """Raise DemoDown unless the site (both cards), Keycloak, the secrets, Slurm, the HTC
    hub host's schedd and Chromium are there."""
    for path in (demo.ca_file, demo.secrets / "demo_user_password"):
        if not path.is_file():
            raise DemoDown(f"{path} is missing (the demo has not been deployed: `make demo`)")
    if not Path(CHROMIUM).exists():
        raise DemoDown(f"{CHROMIUM} is missing (apt-get install chromium)")
    http = demo.session()
    probes = [
        (demo.site_url + "/", f'data-segment="{demo.hpc.segment}"'),
        (demo.site_url + "/", f'data-segment="{demo.htc.segment}"'),
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
    res = podman("exec", demo.htc_schedd_host, "condor_q", "-allusers", "-totals")
    if res.returncode != 0:
        raise DemoDown(f"condor_q on {demo.htc_schedd_host} failed: {res.stderr.strip()[:300]}")
    for cluster in (demo.hpc, demo.htc):
        for instance in cluster.instances:
            # each instance itself (the balancer would hide one that is down)
            url = f"{instance_url(cluster, instance)}hub/api/"
            try:
                reply = direct_session().get(url, timeout=15, allow_redirects=False)
            except (requests.RequestException, RuntimeError) as exc:
                raise DemoDown(
                    f"hub instance {instance.route} ({url}) does not answer: {exc}"
                ) from None
            if reply.status_code != 200 or '"version"' not in reply.text:
                raise DemoDown(f"hub instance {instance.route} ({url}): HTTP {reply.status_code}")


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


# ---- HTCondor ----------------------------------------------------------------------------

# what the test reads of a job ad: id, owner, state (2 = running), slot, group, options
CONDOR_ATTRS = (
    "ClusterId",
    "Owner",
    "JobStatus",
    "RemoteHost",
    "AcctGroup",
    "RequestCpus",
    "RequestMemory",
    "JobBatchName",
)
# the hub's server jobs are named jupyter-<instance>.<user> (sitehub.hub.condor)
SERVER_BATCH_PREFIX = "jupyter-"


def condor_q(demo: DemoSite, user: str | None = None) -> dict[str, dict]:
    """The user's jobs in the HTC hub host's schedd, by ClusterId (as text)."""
    user = user or demo.user
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", user):
        raise ValueError(f"not a user name: {user!r}")
    res = podman(
        "exec",
        demo.htc_schedd_host,
        "condor_q",
        "-allusers",
        "-constraint",
        f'Owner == "{user}"',
        "-json",
        "-attributes",
        ",".join(CONDOR_ATTRS),
    )
    # a clean empty queue prints nothing; anything on stderr is the schedd not answering
    if res.returncode != 0 or res.stderr.strip():
        raise RuntimeError(f"condor_q on {demo.htc_schedd_host}: {res.stderr.strip()[:500]}")
    ads = json.loads(res.stdout) if res.stdout.strip() else []
    return {str(ad["ClusterId"]): ad for ad in ads}


def slot_machine(remote_host: str) -> str:
    """The machine of a RemoteHost value: slot1_1@demo-htc-x1 -> demo-htc-x1."""
    return remote_host.rpartition("@")[2]


def wait_no_condor_jobs(
    demo: DemoSite, timeout: float = 60, jobs: set[str] | None = None
) -> dict[str, dict]:
    """Wait until the test user has no job (of `jobs`, when given) in the schedd; returns
    what is left at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = {j: ad for j, ad in condor_q(demo).items() if jobs is None or j in jobs}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1)


def remove_server_jobs(demo: DemoSite) -> subprocess.CompletedProcess:
    """condor_rm the test user's hub server jobs (only once no hub claims one)."""
    constraint = f'Owner == "{demo.user}" && regexp("^{SERVER_BATCH_PREFIX}", JobBatchName ?: "")'
    return podman("exec", demo.htc_schedd_host, "condor_rm", "-constraint", constraint)


# ---- the hubs, directly -----------------------------------------------------------------


def container_address(name: str) -> str:
    res = podman("inspect", name, "--format", "{{json .NetworkSettings.Networks}}")
    if res.returncode != 0:
        raise RuntimeError(f"podman inspect {name}: {res.stderr.strip()}")
    for network in json.loads(res.stdout).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    raise RuntimeError(f"{name} has no address on a podman network")


def direct_session() -> requests.Session:
    """Plain HTTP to the demo network, no proxy from the environment."""
    probe = requests.Session()
    probe.trust_env = False
    return probe


def instance_url(cluster: HubCluster, instance: Instance) -> str:
    """One hub instance's proxy, straight (no frontend): http://<address>:<port>/<hub path>."""
    return f"http://{container_address(instance.host)}:{instance.port}{cluster.hub_path}"


def hub_api_with_cookie(cluster: HubCluster, route: str, cookie: str) -> requests.Response:
    """GET <instance>/hub/api/user straight at one hub instance's proxy with nothing but
    this hub login cookie: no frontend in between, so no mellon session and no user header
    help; the cookie alone must (or must no longer) name the user."""
    return direct_session().get(
        f"{instance_url(cluster, cluster.instance(route))}hub/api/user",
        headers={"Cookie": f"jupyterhub-hub-login={cookie}"},
        allow_redirects=False,
        timeout=30,
    )


# ---- before each run: a user who has never logged in -------------------------------------


def page_words(html: str, limit: int = 400) -> str:
    """The visible words of an HTML page, roughly (for error messages)."""
    html = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())[:limit]


def _stop_server_on(
    demo: DemoSite, cluster: HubCluster, http: requests.Session, route: str, log: list[str]
) -> None:
    """Through the frontend, pinned to one instance: stop the user's server there, if any."""
    host = urlsplit(demo.site_url).hostname
    for cookie in list(http.cookies):
        if cookie.name == "ROUTEID":
            http.cookies.clear(cookie.domain, cookie.path, cookie.name)
    # Python's cookie jar stores single-label hosts as "<host>.local"
    http.cookies.set("ROUTEID", f".{route}", domain=f"{host}.local", path=cluster.hub_path)
    home = http.get(f"{cluster.hub_url}hub/home", timeout=60)
    if home.status_code != 200:
        raise RuntimeError(
            f"resetting {demo.user}: hub instance '{route}' answers HTTP {home.status_code} at "
            f"{home.url}: {page_words(home.text)}"
        )
    api = f"{cluster.hub_url}hub/api"
    deadline = time.monotonic() + 180
    while True:
        model = http.get(f"{api}/user", timeout=30).json()
        server = model.get("servers", {}).get("")
        if server is None:
            return
        if server.get("pending") in ("spawn", "stop") and time.monotonic() < deadline:
            time.sleep(2)  # a spawn in progress cannot be stopped; wait for it to settle
            continue
        xsrf = http.cookies.get("_xsrf", path=f"{cluster.hub_path}hub/")
        reply = http.delete(
            f"{api}/users/{demo.user}/server", headers={"X-XSRFToken": xsrf or ""}, timeout=120
        )
        log.append(
            f"{cluster.segment} route {route}: stopped {demo.user}'s server "
            f"(HTTP {reply.status_code})"
        )
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
    """Make the test user new again: no running server on any hpc or htc instance, no batch
    job of theirs left, no JupyterLab workspace on any node, no Keycloak session, no OTP
    device (so the next login enrolls one). Returns what was done.

    Servers are stopped through the hub (its REST API, reached through the frontend after
    a scripted login), on each instance of each cluster in turn.
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
        login(http, f"{demo.hpc.hub_url}hub/home", demo.user, demo.password(), TotpStore(totp_dir))
        for cluster in (demo.hpc, demo.htc):
            for instance in cluster.instances:
                _stop_server_on(demo, cluster, http, instance.route, log)
        # end this scripted login the way a user does (frontend logout: mellon + Keycloak)
        post_saml_forms(http, http.get(demo.site_url + "/logout", timeout=60))
    admin = demo.admin()
    user_id = admin.user(demo.user)["id"]
    admin.call("POST", f"/users/{user_id}/logout")
    removed = forget_otp()
    log.append(f"Keycloak: sessions ended, {removed} OTP device(s) removed, enrollment required")
    left = wait_no_jobs(demo, timeout=60)
    if left:
        log.append(f"Slurm jobs of {demo.user} still listed: {[j.__dict__ for j in left]}")
    condor_left = wait_no_condor_jobs(demo, timeout=60)
    if condor_left:
        # no hub claims them any more (every server is stopped): orphans of an earlier run
        removed_jobs = remove_server_jobs(demo)
        log.append(
            f"HTCondor jobs of {demo.user} left after the hubs stopped: {condor_left}; "
            f"condor_rm: {(removed_jobs.stdout + removed_jobs.stderr).strip()}"
        )
        still = wait_no_condor_jobs(demo, timeout=60, jobs=set(condor_left))
        if still:
            log.append(f"HTCondor jobs of {demo.user} still listed: {sorted(still)}")
    nodes = sorted(compute_nodes(demo)) + sorted({demo.htc_schedd_host, *demo.htc_execute_nodes})
    log += clean_homes(demo, nodes)
    return log
