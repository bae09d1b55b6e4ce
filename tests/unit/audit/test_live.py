"""--live against recorded outputs of the demo's hosts (real `ss`, apache2ctl, Slurm formats)."""

from __future__ import annotations

import json

import pytest

from sitehub.audit.live import (
    check_apache,
    check_live,
    check_ports,
    check_realm,
    check_slurm,
    parse_modules,
    parse_ss,
    parse_vhosts,
    real,
)
from sitehub.audit.source import load_site
from sitehub.render.frontend import render_frontend

from .conftest import FIXTURES, INVENTORIES

SITE_CONF = "/etc/apache2/sites-enabled/sitehub.conf"


@pytest.fixture(scope="module")
def demo_site():
    return load_site(INVENTORIES / "demo")[1]


class FakeHosts:
    """Answers podman exec as the demo's hosts did; tests change one answer to make drift."""

    def __init__(self, site):
        self.answers = {}
        for host in (
            "demo-hub1",
            "demo-hub2",
            "demo-frontend",
            "demo-keycloak",
            "demo-slurmctl",
            "demo-c1",
            "demo-c2",
            "demo-htc-hub",
            "demo-htc-cm",
            "demo-htc-x1",
        ):
            self.answers[(host, "ss -ltnpH")] = (FIXTURES / f"ss_{host}.txt").read_text()
        recorded = {
            ("demo-frontend", "apache2ctl -S"): "apache2ctl_S.txt",
            ("demo-frontend", "apache2ctl -M"): "apache2ctl_M.txt",
            ("demo-slurmctl", "scontrol show partition -o"): "scontrol_show_partition.txt",
            ("demo-slurmctl", "scontrol show node -o"): "scontrol_show_node.txt",
            ("demo-slurmctl", "sacctmgr"): "sacctmgr_show_assoc.txt",
        }
        for key, name in recorded.items():
            self.answers[key] = (FIXTURES / name).read_text()
        # the role's template rendered for the demo: what the converge writes
        conf = render_frontend(site)["sitehub-site.conf"]
        self.answers[("demo-frontend", f"cat {SITE_CONF}")] = conf
        self.realm = json.loads((FIXTURES / "realm_sitehub.json").read_text())
        self.stdin = []
        self.argv = []

    def __call__(self, host, argv, stdin=None):
        self.argv.append(argv)
        self.stdin.append(stdin)
        if argv[:2] == ["python3", "-c"]:
            return 0, json.dumps(self.realm), ""
        key = (host, "sacctmgr") if argv[0] == "sacctmgr" else (host, " ".join(argv))
        if key not in self.answers:
            return 1, "", f'Error: no container with name or ID "{host}" found'
        return 0, self.answers[key], ""


def test_parse_ss():
    text = (
        "LISTEN 0      511          0.0.0.0:8000       0.0.0.0:*\n"
        "LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*\n"
        "LISTEN 0      50                 *:8443             *:*\n"
        'LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=91,fd=4))\n'
    )
    assert parse_ss(text) == {
        ("0.0.0.0", 8000): "",
        ("127.0.0.53", 53): "",
        ("*", 8443): "",
        ("[::]", 22): "sshd",
    }


def test_parse_apache():
    vhosts = parse_vhosts((FIXTURES / "apache2ctl_S.txt").read_text())
    assert vhosts == [(80, "localhost", SITE_CONF), (443, "localhost", SITE_CONF)]
    named = (
        "*:443                  is a NameVirtualHost\n"
        "         default server localhost (/etc/a.conf:3)\n"
        "         port 443 namevhost localhost (/etc/a.conf:3)\n"
    )
    assert parse_vhosts(named) == [(443, "localhost", "/etc/a.conf")]
    modules = parse_modules((FIXTURES / "apache2ctl_M.txt").read_text())
    assert {"auth_mellon", "ssl", "proxy_hcheck", "core"} <= modules


def test_recorded_demo_has_no_drift(demo_report, demo_site, tmp_path):
    hosts = FakeHosts(demo_site)
    # Keycloak's JVM keeps an ephemeral loopback port of its own (recorded on the demo)
    assert [(d.host, d.severity, d.actual) for d in check_ports(demo_report, hosts)] == [
        ("demo-keycloak", "note", "listening on [::ffff:127.0.0.1]:36133 (java)")
    ]
    assert check_apache(demo_report, demo_site, hosts) == []
    assert check_realm(demo_report, demo_site, hosts, "pw") == []
    assert check_slurm(demo_report, demo_site, hosts) == []


def test_an_extra_listener_is_drift(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    hosts.answers[("demo-hub2", "ss -ltnpH")] += (
        "LISTEN 0      5            0.0.0.0:8765       0.0.0.0:*\n"
    )
    drifts = real(check_ports(demo_report, hosts))
    assert [(d.host, d.check, d.actual) for d in drifts] == [
        ("demo-hub2", "port 8765", "listening on 0.0.0.0:8765")
    ]


def test_extra_listener_names_its_process(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    hosts.answers[("demo-hub1", "ss -ltnpH")] += (
        "LISTEN 0      5            0.0.0.0:8765       0.0.0.0:*    "
        'users:(("python3",pid=7,fd=3))\n'
    )
    (drift,) = real(check_ports(demo_report, hosts))
    assert drift.actual == "listening on 0.0.0.0:8765 (python3)"


def test_htcondor_daemons_may_take_any_port(example_report):
    # jupyter10 runs an HTC hub; condor_master listens where HTCondor chooses
    ss = (
        "LISTEN 0 511 0.0.0.0:8000 0.0.0.0:*\nLISTEN 0 511 127.0.0.1:8001 0.0.0.0:*\n"
        "LISTEN 0 128 0.0.0.0:8081 0.0.0.0:*\n"
        'LISTEN 0 128 0.0.0.0:40121 0.0.0.0:* users:(("condor_master",pid=5,fd=7))\n'
        'LISTEN 0 128 0.0.0.0:40999 0.0.0.0:* users:(("python3",pid=6,fd=3))\n'
    )

    def run(host, argv, stdin=None):
        return (0, ss, "") if host == "jupyter10.example.org" else (1, "", "down")

    drifts = [d for d in check_ports(example_report, run) if d.host == "jupyter10.example.org"]
    assert [d.check for d in drifts] == ["port 40999"]


def test_a_loopback_port_of_another_process_is_drift(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    hosts.answers[("demo-keycloak", "ss -ltnpH")] += (
        'LISTEN 0 5 127.0.0.1:40000 0.0.0.0:* users:(("python3",pid=9,fd=3))\n'
    )
    (drift,) = real(check_ports(demo_report, hosts))
    assert drift.actual == "listening on 127.0.0.1:40000 (python3)"


def test_a_missing_or_widened_listener_is_drift(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    text = hosts.answers[("demo-hub1", "ss -ltnpH")]
    text = text.replace("127.0.0.1:8181", "0.0.0.0:8181")
    text = "\n".join(line for line in text.splitlines() if ":8100 " not in line)
    hosts.answers[("demo-hub1", "ss -ltnpH")] = text
    drifts = {d.check: d for d in real(check_ports(demo_report, hosts))}
    assert drifts["port 8181 (hub API of local-local1)"].expected == "bound to loopback"
    assert drifts["port 8181 (hub API of local-local1)"].actual == "bound to every address"
    assert drifts["port 8100 (configurable-http-proxy of local-local1)"].actual == (
        "nothing listening"
    )


def test_apache_drift(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    conf = hosts.answers[("demo-frontend", f"cat {SITE_CONF}")]
    hosts.answers[("demo-frontend", f"cat {SITE_CONF}")] = conf.replace(
        "SSLProtocol -all +TLSv1.2 +TLSv1.3", "SSLProtocol -all +TLSv1.1 +TLSv1.2 +TLSv1.3"
    )
    hosts.answers[("demo-frontend", "apache2ctl -M")] += " status_module (shared)\n"
    drifts = check_apache(demo_report, demo_site, hosts)
    found = {(d.check, d.expected, d.actual) for d in drifts}
    assert (SITE_CONF, "SSLProtocol -all +TLSv1.2 +TLSv1.3", "missing or different") in found
    assert (
        SITE_CONF,
        "not in the rendered configuration",
        "SSLProtocol -all +TLSv1.1 +TLSv1.2 +TLSv1.3",
    ) in found
    assert ("Apache module status", "not loaded", "loaded") in found


def test_realm_drift_and_password_on_stdin(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    hosts.realm["otpPolicyPeriod"] = 60
    hosts.realm["bruteForceProtected"] = False
    drifts = check_realm(demo_report, demo_site, hosts, "s3cret-pw")
    assert {(d.check, d.expected, d.actual) for d in drifts} == {
        ("realm sitehub otpPolicyPeriod", "30", "60"),
        ("realm sitehub bruteForceProtected", "true", "false"),
    }
    # the password travels on stdin, never in the command line
    assert hosts.stdin[-1] == "s3cret-pw"
    assert not any("s3cret-pw" in " ".join(argv) for argv in hosts.argv)


def test_slurm_drift(demo_report, demo_site):
    hosts = FakeHosts(demo_site)
    assocs = hosts.answers[("demo-slurmctl", "sacctmgr")]
    hosts.answers[("demo-slurmctl", "sacctmgr")] = (
        assocs.replace("demo|tier3|alice||scavenger,usatlas|usatlas\n", "")
        + "demo|tier3|bob||usatlas|usatlas\ndemo|default|mallory||normal|normal\n"
    )
    drifts = {d.check: d for d in check_slurm(demo_report, demo_site, hosts)}
    usatlas = drifts["user alice may use partition usatlas on cluster hpc"]
    assert usatlas.expected.startswith("accounts tier3 (QOS usatlas)")
    assert usatlas.actual == "not in Slurm"
    # bob is not in group atlas: AllowGroups still keeps him out of usatlas...
    assert "user bob may use partition usatlas on cluster hpc" not in drifts
    # ...but his new tier3 association reaches the debug partition
    debug = drifts["user bob may use partition debug on cluster hpc"]
    assert "tier3 (QOS usatlas)" in debug.actual and "tier3" not in debug.expected
    assert drifts["Slurm associations"].actual == "user mallory has associations"


def test_unreachable_host_is_drift(demo_report, demo_site, tmp_path):
    hosts = FakeHosts(demo_site)
    del hosts.answers[("demo-c2", "ss -ltnpH")]
    drifts = check_live(demo_report, demo_site, tmp_path, hosts)
    assert any(d.host == "demo-c2" and d.check == "host reachable" for d in drifts)
    # no demo secrets in tmp_path: the realm is reported as not checked, not as matching
    assert any(d.check == "Keycloak admin API" for d in drifts)
