"""What Keycloak shows to whom: the public listener serves the site realm's pages only, the
admin listener the admin console, the admin API and the master realm; the management port
(health, metrics) stays on the Keycloak host; a locked account meets Keycloak's own page."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from sitehub.testing.saml_login import origin, page_error, parse_forms, submit

ADMIN_SURFACE = [
    "/admin/",
    "/admin/master/console/",
    "/admin/realms/master",
    "/admin/realms/{realm}/users",
    "/realms/master/",
    "/realms/master/account/",
]


def master_grant(endpoint) -> dict:
    return {
        "grant_type": "password",
        "client_id": "admin-cli",
        "username": endpoint["admin_username"],
        "password": Path(endpoint["admin_password_file"]).read_text().strip(),
    }


@pytest.mark.parametrize("path", ADMIN_SURFACE)
def test_public_listener_refuses_the_admin_surface(browser, endpoint, path):
    url = endpoint["keycloak_url"] + path.format(realm=endpoint["realm"])
    reply = browser.get(url, allow_redirects=False, timeout=30)
    assert reply.status_code in (403, 404), f"{url}: {reply.status_code}"


def test_admin_listener_serves_console_and_api(browser, endpoint, keycloak_admin):
    console = browser.get(f"{endpoint['keycloak_admin_url']}/admin/master/console/", timeout=30)
    assert console.status_code == 200
    # the console logs in and calls the API on the admin listener, never on the public one
    assert f'"serverBaseUrl": "{endpoint["keycloak_admin_url"]}"' in console.text
    assert f'"adminBaseUrl": "{endpoint["keycloak_admin_url"]}"' in console.text
    assert keycloak_admin.user(endpoint["users"][0])["username"] == endpoint["users"][0]


def test_master_realm_password_grant_only_on_the_admin_listener(browser, endpoint):
    path = "/realms/master/protocol/openid-connect/token"
    public = browser.post(endpoint["keycloak_url"] + path, data=master_grant(endpoint), timeout=30)
    assert public.status_code in (403, 404), public.status_code
    assert "access_token" not in public.text
    admin = browser.post(
        endpoint["keycloak_admin_url"] + path, data=master_grant(endpoint), timeout=30
    )
    assert admin.status_code == 200 and admin.json()["access_token"]


def test_public_listener_still_serves_the_site_realm(browser, endpoint):
    realm = f"{endpoint['keycloak_url']}/realms/{endpoint['realm']}"
    config = browser.get(f"{realm}/.well-known/openid-configuration", timeout=30)
    assert config.status_code == 200
    assert config.json()["issuer"] == realm
    assert browser.get(f"{realm}/protocol/saml/descriptor", timeout=30).status_code == 200


def _python(podman_exec, host, code, *args):
    return podman_exec(host, "python3", "-c", code, *args, check=False)


# Exit 0 when a TCP connection opens, 1 when it is refused or times out.
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
except OSError as exc:
    print(exc)
    sys.exit(1)
"""

# What the keycloak role waits for after a restart, from the Keycloak host itself.
READY = """
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as reply:
    sys.exit(0 if json.load(reply)["status"] == "UP" else 1)
"""


def test_management_port_is_not_reachable_from_a_compute_host(endpoint, podman_exec):
    port = str(endpoint["keycloak_management_port"])
    keycloak = endpoint["keycloak_host"]
    compute = endpoint["compute_host"]
    # the public listener answers the compute host: the network path is there
    public_port = str(endpoint["keycloak_public_port"])
    public = _python(podman_exec, compute, CONNECT, keycloak, public_port)
    assert public.returncode == 0, public.stdout + public.stderr
    management = _python(podman_exec, compute, CONNECT, keycloak, port)
    assert management.returncode == 1, f"{compute} reaches {keycloak}:{port}"
    # yet the role's own health check, on the host, passes
    ready = _python(podman_exec, keycloak, READY, f"https://localhost:{port}/health/ready")
    assert ready.returncode == 0, ready.stdout + ready.stderr


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/metrics"])
def test_health_and_metrics_are_not_on_the_listeners(browser, endpoint, path):
    for base in (endpoint["keycloak_url"], endpoint["keycloak_admin_url"]):
        assert browser.get(base + path, timeout=30).status_code == 404, base + path


@pytest.fixture
def throwaway_user(keycloak_admin):
    """A realm user made for one test and deleted after it (its lockout goes with it)."""
    username = f"lockout-{int(time.time())}"
    password = secrets.token_urlsafe(18)
    keycloak_admin.call(
        "POST",
        "/users",
        json={
            "username": username,
            "enabled": True,
            "email": f"{username}@test.invalid",
            "emailVerified": True,
            "firstName": "Lockout",
            "lastName": "Test",
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        },
    )
    user = keycloak_admin.user(username)
    yield username, password, user["id"]
    keycloak_admin.call("DELETE", f"/users/{user['id']}")


def _password_page(session, page, username, password):
    (form,) = [f for f in parse_forms(page.text) if "password" in f.fields]
    return submit(session, page, form, {"username": username, "password": password})


def test_a_locked_account_sees_keycloaks_own_message(
    browser, site, endpoint, keycloak_admin, throwaway_user
):
    username, password, user_id = throwaway_user
    failures = int(endpoint["brute_force_failures"])
    keycloak = origin(endpoint["keycloak_url"])
    page = browser.get(site + "/jupyterhub/hpc/", timeout=60)
    assert origin(page.url) == keycloak
    for _ in range(failures):
        # slower than the quick-login check (1 s): the count, not the burst, locks the account
        time.sleep(1.2)
        page = _password_page(browser, page, username, "wrong-" + password)
        assert page.status_code == 200 and page_error(page), page.status_code
    time.sleep(1.2)
    locked = _password_page(browser, page, username, password)
    # the right password now gets Keycloak's login page again with its message, nothing else
    assert origin(locked.url) == keycloak
    assert locked.status_code == 200
    assert page_error(locked), "no message on the page"
    assert [f for f in parse_forms(locked.text) if "password" in f.fields]
    assert "SAMLResponse" not in locked.text
    status = keycloak_admin.call("GET", f"/attack-detection/brute-force/users/{user_id}").json()
    assert status["disabled"] is True and status["numFailures"] >= failures
