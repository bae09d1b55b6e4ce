"""`sitehub audit --live`: the report's claims checked on the running demo hosts.

Read-only commands only, through `podman exec` (the demo's hosts are podman containers named
like the inventory hosts):

* ports: `ss -ltnH` on every host the report lists listeners for;
* Apache: `apache2ctl -S` (the virtual hosts actually loaded and the file that defines them),
  `apache2ctl -M` (the modules actually loaded), and that file's TLS, mellon and balancer
  directives against the frontend role's template rendered for this inventory;
* Keycloak: the realm's OTP, brute-force and session settings from the admin API, asked from
  inside the Keycloak host over loopback (the admin password goes on stdin, never in argv);
* Slurm: partitions, nodes and associations (`scontrol`, `sacctmgr`) turned into each user's
  spawn-form choices with the spawner's own code, against what the inventory promises.

Every difference is a Drift. A site whose hosts are not podman containers is refused.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sitehub.audit.collect import (
    ALL_ADDRESSES,
    KEYCLOAK_SSO_IDLE_SECONDS,
    KEYCLOAK_SSO_MAX_SECONDS,
    role_defaults,
    slurm_grants,
)
from sitehub.audit.model import Report
from sitehub.inventory.model import SiteModel
from sitehub.render.frontend import render_frontend, role_files

Runner = Callable[[str, list[str], str | None], tuple[int, str, str]]
SS = ["ss", "-ltnpH"]  # listening TCP sockets, numeric, with their process, no header
LOOPBACK = ("127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]")
WILDCARD = (*ALL_ADDRESSES, "[::ffff:0.0.0.0]", "::ffff:0.0.0.0")


class LiveError(RuntimeError):
    pass


@dataclass(frozen=True)
class Drift:
    host: str
    check: str
    expected: str
    actual: str
    # "drift": the hosts contradict the audit; "note": not claimed, but harmless by rule
    severity: str = "drift"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def sentence(self) -> str:
        return f"{self.host}: {self.check}: expected {self.expected}, found {self.actual}"


def real(drifts: list[Drift]) -> list[Drift]:
    return [d for d in drifts if d.severity == "drift"]


# Read-only commands that need every capability inside the container: ss names a socket's
# process only with CAP_SYS_PTRACE (the services run as other users).
PRIVILEGED_READS = ("ss",)


def podman_runner(host: str, argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    flags = ["--interactive"] if stdin is not None else []
    if argv and argv[0] in PRIVILEGED_READS:
        flags.append("--privileged")
    cmd = ["podman", "exec", *flags, host, *argv]
    try:
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 125, "", str(exc)
    return done.returncode, done.stdout, done.stderr


# --- ports ---------------------------------------------------------------------------------


def parse_ss(text: str) -> dict[tuple[str, int], str]:
    """`ss -ltnpH` lines -> {(bind address, port): process name ("" when not shown)}.

    IPv6 addresses keep their brackets; `-p` adds `users:(("node",pid=1,fd=18))`."""
    out = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 4 or cols[0] != "LISTEN":
            continue
        addr, _, port = cols[3].rpartition(":")
        addr = addr.split("%", 1)[0]  # 127.0.0.53%lo
        process = re.search(r'users:\(\("([^"]+)"', line)
        if port.isdigit():
            out[(addr, int(port))] = process.group(1) if process else ""
    return out


# The audit says HTCondor daemons listen on ports HTCondor chooses: any port of theirs is expected.
DYNAMIC_PORT_PROCESSES = {"HTCondor": "condor_"}


EPHEMERAL_PORTS = 32768  # Linux's default ip_local_port_range starts here


def _bind_kind(addr: str) -> str:
    if addr in WILDCARD:
        return "every address"
    if addr in LOOPBACK or addr.startswith("127."):
        return "loopback"
    return addr


def check_ports(report: Report, run: Runner) -> list[Drift]:
    drifts: list[Drift] = []
    by_host: dict[str, dict[int, Any]] = {}
    # the hosts with a dynamic-port listener only are checked too
    for item in report.listeners:
        if item.host.startswith("controller"):
            continue
        ports = by_host.setdefault(item.host, {})
        if item.port:
            ports[item.port] = item
    for host, expected in by_host.items():
        rc, out, err = run(host, SS, None)
        if rc != 0:
            drifts.append(
                Drift(host, "host reachable", "a running host", err.strip() or f"rc {rc}")
            )
            continue
        actual = parse_ss(out)
        for port, item in sorted(expected.items()):
            kinds = {_bind_kind(a) for a, p in actual if p == port}
            want = _bind_kind(item.bind)
            if not kinds:
                drifts.append(
                    Drift(
                        host,
                        f"port {port} ({item.service})",
                        f"listening on {want}",
                        "nothing listening",
                    )
                )
            elif want not in kinds and not (want == "loopback" and kinds <= {"loopback"}):
                drifts.append(
                    Drift(
                        host,
                        f"port {port} ({item.service})",
                        f"bound to {want}",
                        f"bound to {', '.join(sorted(kinds))}",
                    )
                )
        dynamic = tuple(
            prefix
            for item in report.listeners
            if item.host == host and not item.port
            for service, prefix in DYNAMIC_PORT_PROCESSES.items()
            if item.service.startswith(service)
        )
        # processes behind the listeners the audit claims on this host
        owners = {proc for (_, p), proc in actual.items() if p in expected and proc}
        for (addr, port), process in sorted(actual.items()):
            if (dynamic and process.startswith(dynamic)) or port in expected:
                continue
            # an ephemeral loopback port of a claimed service's own process (a JVM's
            # internal listener, say) is reachable from nowhere else: a note, not drift
            internal = (
                process in owners and _bind_kind(addr) == "loopback" and port >= EPHEMERAL_PORTS
            )
            drifts.append(
                Drift(
                    host,
                    f"port {port}",
                    "not listening (the audit knows no service there)",
                    f"listening on {addr or '*'}:{port}" + (f" ({process})" if process else ""),
                    "note" if internal else "drift",
                )
            )
    return drifts


# --- Apache -----------------------------------------------------------------------------------


_VHOST = re.compile(r"^\s*(\*|[\d.]+|\[[0-9a-f:]+\]):(\d+)\s+(\S+)\s+\((\S+):(\d+)\)", re.M)
_PORT_VHOST = re.compile(r"^\s*port (\d+) namevhost (\S+) \((\S+):(\d+)\)", re.M)
# The directives whose loaded values must be the rendered ones (no secrets among them).
DIRECTIVES = (
    "SSLProtocol",
    "SSLCipherSuite",
    "SSLOpenSSLConfCmd",
    "MellonSessionLength",
    "MellonSessionIdleTimeout",
    "MellonCookieSameSite",
    "MellonRedirectDomains",
    "BalancerMember",
    "ProxySet",
    "ServerName",
)


def parse_vhosts(text: str) -> list[tuple[int, str, str]]:
    """`apache2ctl -S` -> [(port, server name, config file)]."""
    out = [(int(m[1]), m[2], m[3]) for m in _VHOST.findall(text)]
    out += [(int(m[0]), m[1], m[2]) for m in _PORT_VHOST.findall(text)]
    return sorted(set(out))


def parse_modules(text: str) -> set[str]:
    """`apache2ctl -M` -> {'ssl', 'auth_mellon', ...}."""
    return {m.group(1) for m in re.finditer(r"^\s*(\w+)_module \((?:shared|static)\)", text, re.M)}


def directives(text: str) -> list[str]:
    """The DIRECTIVES lines of an Apache configuration, whitespace-normalised, in order."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in DIRECTIVES:
            out.append(" ".join(words))
    return out


def check_apache(report: Report, site: SiteModel, run: Runner) -> list[Drift]:
    drifts: list[Drift] = []
    files = role_files()
    rendered = directives(render_frontend(site)["sitehub-site.conf"])
    ports = {int(files["frontend_http_port"]), int(files["frontend_https_port"])}
    for host in site.sitehub_site.frontends:
        rc, out, err = run(host, ["apache2ctl", "-S"], None)
        if rc != 0:
            drifts.append(Drift(host, "apache2ctl -S", "a loaded configuration", err.strip()))
            continue
        vhosts = [v for v in parse_vhosts(out) if v[1] == site.sitehub_site.public_hostname]
        found_ports = {v[0] for v in vhosts}
        if found_ports != ports:
            drifts.append(
                Drift(
                    host,
                    f"Apache virtual hosts of {site.sitehub_site.public_hostname}",
                    f"ports {sorted(ports)}",
                    f"ports {sorted(found_ports) or 'none'}",
                )
            )
        rc, out, err = run(host, ["apache2ctl", "-M"], None)
        modules = parse_modules(out) if rc == 0 else set()
        for name in files["__frontend_modules"]:
            if name not in modules:
                drifts.append(Drift(host, f"Apache module {name}", "loaded", "not loaded"))
        for name in files["__frontend_modules_absent"]:
            if name in modules:
                drifts.append(Drift(host, f"Apache module {name}", "not loaded", "loaded"))
        for conf in sorted({v[2] for v in vhosts}):
            rc, text, err = run(host, ["cat", conf], None)
            if rc != 0:
                drifts.append(Drift(host, f"read {conf}", "readable", err.strip()))
                continue
            loaded = directives(text)
            for line in rendered:
                if line not in loaded:
                    drifts.append(Drift(host, f"{conf}", line, "missing or different"))
            for line in loaded:
                if line not in rendered:
                    drifts.append(Drift(host, f"{conf}", "not in the rendered configuration", line))
    return drifts


# --- Keycloak realm ---------------------------------------------------------------------------

# Runs inside the Keycloak host: reads the admin password from stdin, prints the realm's
# settings the audit claims (nothing secret).
_REALM_SCRIPT = r"""
import json, ssl, sys, urllib.parse, urllib.request
base, user, realm, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
password = sys.stdin.read().strip()
ctx = ssl.create_default_context()
body = urllib.parse.urlencode({"grant_type": "password", "client_id": "admin-cli",
                               "username": user, "password": password}).encode()
url = base + "/realms/master/protocol/openid-connect/token"
with urllib.request.urlopen(urllib.request.Request(url, data=body), context=ctx, timeout=60) as r:
    token = json.load(r)["access_token"]
req = urllib.request.Request(base + "/admin/realms/" + realm,
                             headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
    data = json.load(r)
print(json.dumps({k: data.get(k) for k in keys}))
"""


def expected_realm(report: Report) -> dict[str, Any]:
    """Keycloak's realm representation keys and the values the audit claims for them."""
    chain = report.auth[0]
    realm = role_defaults("keycloak_realm")
    mfa, bf = chain.mfa, chain.brute_force
    return {
        "otpPolicyType": mfa["type"],
        "otpPolicyAlgorithm": mfa["algorithm"],
        "otpPolicyDigits": mfa["digits"],
        "otpPolicyPeriod": mfa["period"],
        "otpPolicyLookAheadWindow": mfa["look_ahead"],
        "bruteForceProtected": bf["enabled"],
        "failureFactor": bf["max_failures"],
        "waitIncrementSeconds": bf["wait_increment_seconds"],
        "maxFailureWaitSeconds": bf["max_wait_seconds"],
        "maxDeltaTimeSeconds": bf["failure_reset_seconds"],
        "permanentLockout": bf["permanent_lockout"],
        "ssoSessionIdleTimeout": KEYCLOAK_SSO_IDLE_SECONDS,
        "ssoSessionMaxLifespan": KEYCLOAK_SSO_MAX_SECONDS,
        "browserFlow": realm["keycloak_realm_browser_flow"],
        "sslRequired": realm["keycloak_realm_ssl_required"],
        "registrationAllowed": False,
    }


def check_realm(
    report: Report, site: SiteModel, run: Runner, admin_password: str | None
) -> list[Drift]:
    host = site.sitehub_identity.host
    if not admin_password:
        return [
            Drift(
                host,
                "Keycloak admin API",
                "the admin password (demo secrets)",
                "no password file: realm settings not checked",
            )
        ]
    kc = role_defaults("keycloak")
    expected = expected_realm(report)
    argv = [
        "python3",
        "-c",
        _REALM_SCRIPT,
        # the admin listener: the public one refuses the admin API and the master realm
        f"https://localhost:{kc['keycloak_admin_port']}",
        kc["keycloak_admin_username"],
        site.sitehub_identity.realm,
        ",".join(expected),
    ]
    rc, out, err = run(host, argv, admin_password)
    if rc != 0:
        return [
            Drift(
                host,
                "Keycloak admin API",
                "the realm's settings",
                (err.strip().splitlines() or [f"rc {rc}"])[-1],
            )
        ]
    actual = json.loads(out)
    return [
        Drift(
            host,
            f"realm {site.sitehub_identity.realm} {key}",
            json.dumps(value),
            json.dumps(actual.get(key)),
        )
        for key, value in expected.items()
        if actual.get(key) != value
    ]


# --- Slurm ----------------------------------------------------------------------------------


def check_slurm(report: Report, site: SiteModel, run: Runner) -> list[Drift]:
    from sitehub.hub import slurm

    controller = next((i.host for i in report.listeners if i.service.startswith("slurmctld")), None)
    if controller is None:
        return []
    results = {}
    commands = {
        "partitions": ["scontrol", "show", "partition", "-o"],
        "nodes": ["scontrol", "show", "node", "-o"],
        "assocs": ["sacctmgr", "-n", "-P", "show", "assoc", f"format={slurm.ASSOC_FORMAT}"],
    }
    for name, argv in commands.items():
        rc, out, err = run(controller, argv, None)
        if rc != 0:
            return [Drift(controller, " ".join(argv), "an answer", err.strip() or f"rc {rc}")]
        results[name] = out
    partitions = slurm.parse_partitions(results["partitions"])
    nodes = slurm.parse_nodes(results["nodes"])
    assocs = slurm.parse_associations(results["assocs"])
    groups = {
        g.subject.removeprefix("user "): [] for g in report.grants if g.subject.startswith("user ")
    }
    for g in report.grants:
        if g.kind == "group" and g.subject.startswith("user "):
            groups.setdefault(g.subject.removeprefix("user "), []).append(g.value)
    # Slurm's own root association is no user of the site
    strangers = sorted({a.user for a in assocs} - set(groups) - {"root"})
    assocs = [a for a in assocs if a.user in groups]
    live = slurm_grants(site, partitions, nodes, assocs, groups, "live")

    def keyed(items):
        return {(g.subject, g.value, g.cluster): g.detail for g in items}

    claimed = keyed(
        g
        for g in report.grants
        if g.kind == "partition" and g.subject.startswith(("user ", "group "))
    )
    found = keyed(live)
    drifts = []
    for key in sorted(claimed.keys() | found.keys()):
        who, part, seg = key
        what = f"{who} may use partition {part} on cluster {seg}"
        if key not in found:
            drifts.append(Drift(controller, what, claimed[key] or "granted", "not in Slurm"))
        elif key not in claimed:
            drifts.append(Drift(controller, what, "not granted", found[key] or "granted"))
        elif claimed[key] != found[key]:
            drifts.append(Drift(controller, what, claimed[key], found[key]))
    drifts += [
        Drift(
            controller,
            "Slurm associations",
            "users the inventory names",
            f"user {name} has associations",
        )
        for name in strangers
    ]
    names = {p.name for p in partitions}
    for cluster in site.sitehub_clusters:
        for part in cluster.options.partitions if cluster.scheduler == "slurm" else []:
            if part.name not in names:
                drifts.append(
                    Drift(
                        controller,
                        f"cluster {cluster.segment} partition",
                        f"Slurm partition {part.name}",
                        "no such partition",
                    )
                )
    return drifts


# --- all of it --------------------------------------------------------------------------------


def demo_admin_password(inventory: str | Path) -> str | None:
    """The demo's generated Keycloak admin password (its secrets.yml lookup's file)."""
    path = Path(inventory) / ".secrets" / "keycloak_admin_password"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def check_live(
    report: Report, site: SiteModel, inventory: str | Path, run: Runner | None = None
) -> list[Drift]:
    if not site.sitehub_site.demo:
        raise LiveError(
            f"{inventory}: --live checks the demo's podman hosts only; this site is not a demo"
        )
    run = run or podman_runner
    return [
        *check_ports(report, run),
        *check_apache(report, site, run),
        *check_realm(report, site, run, demo_admin_password(inventory)),
        *check_slurm(report, site, run),
    ]


def drift_text(report: Report, drifts: list[Drift]) -> str:
    head = f"Live check of site {report.site} ({report.inventory}): "
    found = real(drifts)
    notes = [d for d in drifts if d not in found]
    text = head + (
        f"{len(found)} drift(s):\n" if found else "no drift; the hosts match the audit.\n"
    )
    text += "".join(f"- {d.sentence()}\n" for d in found)
    if notes:
        text += "Notes (not claimed by the audit, harmless by rule):\n"
        text += "".join(f"- {d.sentence()}\n" for d in notes)
    return text
