"""TLS as a client sees it: Mozilla's intermediate profile (TLS 1.2/1.3, ECDHE + AEAD), and
sslyze's check of that profile on the frontend and on Keycloak's two listeners."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
from urllib.parse import urlsplit

import pytest

# Mozilla intermediate, ECDHE only (no DHE: the role offers no finite-field groups).
ALLOWED_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}
ALLOWED_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
OTHER_TLS13 = {"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}


@pytest.fixture(scope="module")
def server(endpoint):
    """(TLS name, address, port) of the site as its users reach it."""
    public = urlsplit(endpoint["public_url"])
    host = public.hostname
    return host, endpoint["hosts"].get(host, host), public.port or 443


def handshake(server, ca_file, *, version=None, ciphers=None):
    """A real handshake with Python's ssl; returns (protocol, cipher) or raises ssl.SSLError."""
    host, address, port = server
    context = ssl.create_default_context(cafile=ca_file)
    if version is not None:
        context.minimum_version = version
        context.maximum_version = version
    if ciphers:
        context.set_ciphers(ciphers)
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.version(), tls.cipher()[0]


def s_client(server, *args):
    """openssl s_client: True when the handshake completed with the given options."""
    host, address, port = server
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"{address}:{port}", "-servername", host, *args],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0 and "Cipher is (NONE)" not in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ],
)
def test_only_tls12_and_tls13_are_spoken(server, endpoint, version, accepted):
    # old protocols need the client's weakest settings to even try
    ciphers = "ALL:@SECLEVEL=0" if version < ssl.TLSVersion.TLSv1_2 else None
    if accepted:
        names = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}
        assert handshake(server, endpoint["ca_file"], version=version)[0] == names[version]
    else:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            handshake(server, endpoint["ca_file"], version=version, ciphers=ciphers)


def test_tls12_accepts_only_ecdhe_aead_suites(server, endpoint):
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    offered = {c["name"] for c in probe.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert len(offered) > 30, "the client should be able to offer many TLS 1.2 suites"
    accepted = set()
    for name in sorted(offered):
        try:
            handshake(server, endpoint["ca_file"], version=ssl.TLSVersion.TLSv1_2, ciphers=name)
        except (ssl.SSLError, ConnectionResetError):
            continue
        accepted.add(name)
    assert accepted, "no TLS 1.2 suite was accepted"
    assert accepted <= ALLOWED_TLS12, accepted - ALLOWED_TLS12
    # the site certificate is ECDSA: all three ECDSA suites of the profile must work
    assert accepted == {c for c in ALLOWED_TLS12 if "ECDSA" in c}


def test_tls13_suites_are_the_aead_three(server):
    for suite in sorted(ALLOWED_TLS13 | OTHER_TLS13):
        ok, out = s_client(server, "-tls1_3", "-ciphersuites", suite)
        assert ok == (suite in ALLOWED_TLS13), f"{suite}: {out[-400:]}"


@pytest.mark.parametrize(
    ("group", "accepted"),
    [("X25519", True), ("P-256", True), ("P-384", True), ("P-521", False), ("ffdhe2048", False)],
)
def test_key_exchange_groups(server, group, accepted):
    ok, out = s_client(server, "-tls1_3", "-groups", group)
    assert ok == accepted, f"{group}: {out[-400:]}"


def test_certificate_verifies_for_the_public_name(server, endpoint):
    # create_default_context checks the chain against the site CA and the host name
    version, cipher = handshake(server, endpoint["ca_file"])
    assert version == "TLSv1.3"
    assert cipher in ALLOWED_TLS13


def test_hsts_and_plain_http_redirect(endpoint, browser, site):
    page = browser.get(site + "/", timeout=30)
    assert page.headers["Strict-Transport-Security"] == "max-age=63072000"
    # the frontend's port 80 (not published on the demo: there, the host's own address)
    plain_url = endpoint["plain_http_url"].rstrip("/")
    plain = browser.get(f"{plain_url}/jupyterhub/hpc/?x=1", allow_redirects=False, timeout=30)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{site}/jupyterhub/hpc/?x=1"


def _listeners(endpoint):
    """(name, host, address, port) of every TLS listener users or operators reach."""
    for name, key in (
        ("frontend", "public_url"),
        ("keycloak", "keycloak_url"),
        ("keycloak-admin", "keycloak_admin_url"),
    ):
        parts = urlsplit(endpoint[key])
        host = parts.hostname
        yield name, host, endpoint["hosts"].get(host, host), parts.port or 443


@pytest.mark.parametrize("name", ["frontend", "keycloak", "keycloak-admin"])
def test_sslyze_finds_mozilla_intermediate_compliance(endpoint, tmp_path, name):
    (_, host, address, port) = next(x for x in _listeners(endpoint) if x[0] == name)
    report = tmp_path / "sslyze.json"
    # sslyze from its own venv (the Makefile's SSLYZE_VENV; pyproject.toml says why)
    sslyze = os.environ.get("SITEHUB_SSLYZE") or shutil.which("sslyze")
    assert sslyze and os.access(sslyze, os.X_OK), "no sslyze: run `make venv` or set SITEHUB_SSLYZE"
    result = subprocess.run(
        [
            sslyze,
            "--mozilla_config=intermediate",
            f"--certinfo_ca_file={endpoint['ca_file']}",
            f"--json_out={report}",
            f"{host}:{port}{{{address}}}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    scans = json.loads(report.read_text())["server_scan_results"]
    # a listener that does not answer is no pass: the scan must have run
    assert [s["scan_status"] for s in scans] == ["COMPLETED"], result.stdout[-2000:]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "OK - Compliant" in result.stdout, result.stdout[-3000:]
