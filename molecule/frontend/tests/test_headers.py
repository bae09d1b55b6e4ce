"""Header hygiene: only the frontend names the user to the hubs, from the mellon session."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from sitehub.testing.saml_login import origin

SEGMENT = "local"
SPELLINGS = [
    "X-Remote-User",
    "x-remote-user",
    "X_Remote_User",
    "X-Remote_User",
    "X_Remote-User",
    "Remote-User",
    "Remote_User",
    "REMOTE_USER",
    "X-Forwarded-User",
    "X_Forwarded_User",
]
# The site's trusted header (endpoint's user_header), as named and with underscores: a site
# may trust another header than X-Remote-User (the demo: X-Sitehub-User).
TRUSTED, TRUSTED_UNDERSCORED = "<trusted header>", "<trusted header with underscores>"


def spelled(endpoint, header):
    trusted = endpoint["user_header"]
    return {TRUSTED: trusted, TRUSTED_UNDERSCORED: trusted.replace("-", "_")}.get(header, header)


def spoofable(endpoint):
    """Every spelling the tests send at once: SPELLINGS and the trusted header's."""
    return [spelled(endpoint, h) for h in [*SPELLINGS, TRUSTED, TRUSTED_UNDERSCORED]]


@pytest.fixture(scope="module")
def alice(log_in, site):
    """alice's browser: logged in at the frontend, not yet at any hub."""
    session, page = log_in("alice", f"{site}/mellon/login?ReturnTo={site}/")
    assert page.url == site + "/"
    return session


@pytest.mark.parametrize("header", [*SPELLINGS, TRUSTED, TRUSTED_UNDERSCORED])
def test_a_spoofed_user_header_does_not_log_in_as_someone_else(alice, site, endpoint, header):
    header = spelled(endpoint, header)
    # every hub login starts from no hub cookie, so the hub reads the header afresh
    for cookie in list(alice.cookies):
        if cookie.name.startswith("jupyterhub-") or cookie.name == "_xsrf":
            alice.cookies.clear(cookie.domain, cookie.path, cookie.name)
    spoof = {header: "bob", "X-Sitehub-Frontend-Secret": "guessed"}
    page = alice.get(f"{site}/jupyterhub/{SEGMENT}/hub/login", headers=spoof, timeout=60)
    assert page.status_code == 200, page.status_code
    who = alice.get(f"{site}/jupyterhub/{SEGMENT}/hub/api/user", headers=spoof, timeout=30)
    assert who.json()["name"] == "alice"


def test_all_spellings_at_once_change_nothing(alice, site, endpoint):
    # header names are case-insensitive in requests too: one value per spelling
    headers = dict.fromkeys(spoofable(endpoint), "bob")
    who = alice.get(f"{site}/jupyterhub/{SEGMENT}/hub/login", headers=headers, timeout=60)
    assert who.status_code == 200
    who = alice.get(f"{site}/jupyterhub/{SEGMENT}/hub/api/user", headers=headers, timeout=30)
    assert who.json()["name"] == "alice"


def test_an_anonymous_user_header_gets_the_keycloak_login(browser, site, endpoint):
    names = ["X-Remote-User", "Remote-User", "REMOTE_USER", endpoint["user_header"]]
    reply = browser.get(
        f"{site}/jupyterhub/{SEGMENT}/hub/api/user",
        headers=dict.fromkeys(names, "alice"),
        timeout=60,
    )
    assert origin(reply.url) == origin(endpoint["keycloak_url"])
    assert "ROUTEID" not in str(browser.cookies.keys())


def test_hubs_refuse_the_header_from_anywhere_but_the_frontend(browser, endpoint):
    """Straight to a hub's proxy, past the frontend: the header and a forged
    X-Forwarded-For naming the frontend are not believed."""
    (instance,) = next(c for c in endpoint["clusters"] if c["segment"] == SEGMENT)["instances"]
    frontend_address = endpoint["hosts"][endpoint["frontend_host"]]
    reply = browser.get(
        f"http://{instance['host']}:{instance['port']}/jupyterhub/{SEGMENT}/hub/login",
        headers={endpoint["user_header"]: "alice", "X-Forwarded-For": frontend_address},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 403
    assert "jupyterhub-hub-login" not in reply.headers.get("Set-Cookie", "")


def test_on_the_wire_the_hub_sees_only_the_frontends_header(alice, site, endpoint):
    """Capture what actually reaches the hub: no client-supplied user header in any spelling,
    no guessed secret, and the trusted header naming the mellon user."""
    (instance,) = next(c for c in endpoint["clusters"] if c["segment"] == SEGMENT)["instances"]
    marker = uuid.uuid4().hex
    hub = f"{site}/jupyterhub/{SEGMENT}/hub"
    assert alice.get(f"{hub}/login", timeout=60).status_code == 200
    capture = subprocess.Popen(
        [
            *endpoint["netns_exec"][instance["host"]],
            "timeout",
            "15",
            "tcpdump",
            "-i",
            "any",
            "-A",
            "-s0",
            "-l",
            f"tcp dst port {instance['port']}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        spoof = dict.fromkeys(spoofable(endpoint), f"spoofed-{marker}")
        spoof["X-Sitehub-Frontend-Secret"] = f"guessed-{marker}"
        spoof["X_Sitehub_Frontend_Secret"] = f"guessed-{marker}"
        for _ in range(3):
            reply = alice.get(
                f"{site}/jupyterhub/{SEGMENT}/hub/api/user", headers=spoof, timeout=30
            )
            assert reply.json()["name"] == "alice"
        out, _ = capture.communicate(timeout=30)
    finally:
        capture.kill()
    assert "GET /jupyterhub/local/hub/api/user" in out, out[-2000:]
    assert marker not in out
    trusted = endpoint["user_header"]
    lines = [
        line.strip() for line in out.splitlines() if line.lower().startswith(trusted.lower() + ":")
    ]
    assert lines and set(lines) == {f"{trusted}: alice"}, lines


# Run inside the frontend host (the address the hubs trust): a header login at a hub instance
# with no secret, a wrong one, and the real one (read from stdin, never on a command line).
_FROM_FRONTEND = r"""
import json, sys, urllib.error, urllib.request
url, header, user, secret_header, secret = json.loads(sys.stdin.read())
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
opener = urllib.request.build_opener(Keep)
out = {}
for case, value in (("none", None), ("wrong", "x" + secret), ("right", secret)):
    headers = {header: user}
    if value is not None:
        headers[secret_header] = value
    try:
        reply = opener.open(urllib.request.Request(url, headers=headers), timeout=30)
    except urllib.error.HTTPError as err:
        reply = err
    out[case] = [reply.status, reply.headers.get_all("Set-Cookie") or []]
print(json.dumps(out))
"""


def test_hubs_want_the_frontend_secret_even_from_the_frontend(endpoint, podman_exec):
    """From the frontend's own address, the user header alone does not log anyone in: the
    hubs also want the shared secret that only the frontend's Apache sends."""
    secret = Path(endpoint["hub_secret_file"]).read_text().strip()
    for cluster in endpoint["clusters"]:
        for instance in cluster["instances"]:
            url = f"http://{instance['host']}:{instance['port']}/jupyterhub/{cluster['segment']}/hub/login"
            done = subprocess.run(
                [
                    "podman",
                    "exec",
                    "-i",
                    endpoint["frontend_host"],
                    "python3",
                    "-c",
                    _FROM_FRONTEND,
                ],
                input=json.dumps(
                    [url, endpoint["user_header"], "alice", "X-Sitehub-Frontend-Secret", secret]
                ),
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            out = json.loads(done.stdout)
            for case in ("none", "wrong"):
                status, cookies = out[case]
                assert status == 403, (url, case, status)
                assert not any(c.startswith("jupyterhub-hub-login=") for c in cookies)
            # the same request with the secret: logged in (so the refusals were the secret's)
            status, cookies = out["right"]
            assert status == 302, (url, status)
            assert any(c.startswith("jupyterhub-hub-login=") for c in cookies)
