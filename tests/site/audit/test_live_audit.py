"""`sitehub audit --live` on the converged demo: the inventory's claims hold on the hosts, and a
drift made on purpose (a stray listener on a hub host) is reported and gone once removed.

Read-only apart from that one listener: `python3 -m http.server` on an unused port of a hub
container, started for this test and killed by its pid afterwards. Nothing is restarted or
reconfigured. Run with `make site-audit` (part of `make site-test`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitehub.audit.live import (
    SS,
    check_live,
    check_ports,
    drift_text,
    parse_ss,
    podman_runner,
    real,
)
from sitehub.audit.render import to_html
from sitehub.audit.source import audit_inventory, load_site

REPO = Path(__file__).resolve().parents[3]
# another checkout's demo (its generated secrets included) may be named instead
INVENTORY = Path(os.environ.get("SITEHUB_DEMO_INVENTORY") or REPO / "inventories" / "demo")
ARTIFACTS = REPO / "artifacts" / "site"
PIDFILE = "/tmp/sitehub-audit-drift.pid"


def _running(host: str) -> bool:
    done = subprocess.run(
        ["podman", "container", "inspect", "--format", "{{.State.Running}}", host],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() == "true"


@pytest.fixture(scope="module")
def demo():
    report = audit_inventory(INVENTORY)
    site = load_site(INVENTORY)[1]
    hosts = {item.host for item in report.listeners if not item.host.startswith("controller")}
    down = sorted(h for h in hosts if not _running(h))
    if down:
        if os.environ.get("SITEHUB_SITE_REQUIRE"):
            pytest.fail(f"demo hosts not running: {', '.join(down)} (make site-converge first)")
        pytest.skip(f"demo hosts not running: {', '.join(down)}")
    return report, site


@pytest.fixture(scope="module")
def baseline(demo):
    report, site = demo
    drifts = check_live(report, site, INVENTORY)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "audit-live.txt").write_text(drift_text(report, drifts))
    (ARTIFACTS / "audit-demo.html").write_text(to_html(report))
    # notes (a service's own ephemeral loopback ports) are listed, not failures
    return real(drifts)


def test_every_claimed_listener_listens_as_claimed(baseline):
    wrong = [d.sentence() for d in baseline if d.check.startswith("port ") and "(" in d.check]
    assert wrong == []


def test_hosts_answer(baseline):
    assert [d.sentence() for d in baseline if d.check == "host reachable"] == []


def test_apache_loaded_configuration_matches(baseline, demo):
    frontends = set(demo[1].sitehub_site.frontends)
    assert [d.sentence() for d in baseline if d.host in frontends] == []


def test_realm_settings_match(baseline, demo):
    realm = [
        d.sentence()
        for d in baseline
        if d.host == demo[1].sitehub_identity.host and not d.check.startswith("port ")
    ]
    assert realm == []


def test_slurm_entitlements_match(baseline):
    assert [
        d.sentence() for d in baseline if "partition" in d.check or d.check == "Slurm associations"
    ] == []


def test_no_unknown_listener(baseline):
    # every socket a demo host listens on is one the audit explains
    assert [d.sentence() for d in baseline if d.expected.startswith("not listening")] == []


def _free_port(host: str) -> int:
    rc, out, err = podman_runner(host, SS)
    assert rc == 0, err
    taken = {port for _, port in parse_ss(out)}
    return next(p for p in range(8765, 8800) if p not in taken)


def test_a_stray_listener_is_drift_until_removed(demo):
    report, _ = demo
    host = next(m.host for p in report.paths for m in p.members)
    port = _free_port(host)
    start = f"echo $$ > {PIDFILE}; exec python3 -m http.server {port} --bind 0.0.0.0"
    subprocess.run(["podman", "exec", "--detach", host, "sh", "-c", start], check=True)
    try:
        for _ in range(50):
            drifts = [d for d in real(check_ports(report, podman_runner)) if d.host == host]
            if any(d.check == f"port {port}" for d in drifts):
                break
            time.sleep(0.2)
        stray = [d for d in drifts if d.check == f"port {port}"]
        assert [d.actual for d in stray] == [f"listening on 0.0.0.0:{port} (python3)"]
    finally:
        subprocess.run(
            ["podman", "exec", host, "sh", "-c", f"kill $(cat {PIDFILE}) && rm -f {PIDFILE}"],
            check=True,
        )
    for _ in range(50):
        drifts = [d for d in real(check_ports(report, podman_runner)) if d.host == host]
        if not any(d.check == f"port {port}" for d in drifts):
            break
        time.sleep(0.2)
    assert not any(d.check == f"port {port}" for d in drifts)


def test_cli_reports_the_same(demo, tmp_path):
    out = tmp_path / "live.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sitehub.cli",
            "audit",
            "--live",
            str(INVENTORY),
            "--format",
            "json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"PYTHONPATH": str(REPO / "src")},
    )
    assert done.returncode in (0, 1), done.stderr
    drift = json.loads(out.read_text())["drift"]
    assert done.returncode == (1 if any(d["severity"] == "drift" for d in drift) else 0)
