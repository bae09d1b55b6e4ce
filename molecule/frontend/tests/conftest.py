"""Fixtures for the frontend scenario's tests, run on the controller by verify.yml.

verify.yml writes an endpoint file (FRONTEND_ENDPOINT) naming the test hosts' addresses,
the site CA, the demo users' password files and the clusters. The tests talk to the real
frontend, Keycloak and hubs by their container names, mapped onto those addresses. The same
tests run against the converged demo site with the endpoint file that
tests/site/frontend_endpoint.py writes (tests/site/README.md).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sitehub.testing.ansible_run import PlaybookRun, run_playbook
from sitehub.testing.saml_login import (
    KeycloakAdmin,
    TotpStore,
    login,
    new_session,
    reset_otp,
    resolve_hosts,
)


@pytest.fixture(scope="session")
def endpoint() -> dict:
    path = os.environ.get("FRONTEND_ENDPOINT")
    if not path:
        pytest.fail(
            "FRONTEND_ENDPOINT is not set: run these tests through `molecule verify`, or see "
            "tests/site/README.md for the demo site"
        )
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="session", autouse=True)
def _container_names(endpoint):
    with resolve_hosts(endpoint["hosts"]):
        yield


@pytest.fixture(scope="session")
def site(endpoint) -> str:
    return endpoint["public_url"].rstrip("/")


@pytest.fixture(scope="session")
def artifacts(endpoint) -> Path:
    path = Path(endpoint["artifacts_dir"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser(endpoint):
    """A fresh, logged-out client that trusts only the site CA."""
    session = new_session(endpoint["ca_file"], endpoint["hosts"])
    yield session
    session.close()


@pytest.fixture(scope="session")
def totp(endpoint) -> TotpStore:
    # the realm accepts the next step's code too: back-to-back logins need not wait for it
    return TotpStore(endpoint["totp_dir"], look_ahead=int(endpoint.get("otp_look_ahead", 0)))


@pytest.fixture(scope="session")
def password(endpoint):
    def read(username: str) -> str:
        return (Path(endpoint["passwords_dir"]) / username).read_text().strip()

    return read


@pytest.fixture(scope="session")
def log_in(endpoint, totp, password):
    """log_in(username, url) -> (session, final page), through Keycloak's real pages."""
    reset_done: set[str] = set()

    def run(username: str, url: str, session=None, trace=None):
        session = session or new_session(endpoint["ca_file"], endpoint["hosts"])
        if not totp.has(username) and username not in reset_done:
            # a lost secret (new controller, cleaned ephemeral dir): enroll again
            admin = new_session(endpoint["ca_file"], endpoint["hosts"])
            reset_otp(
                admin,
                endpoint["keycloak_admin_url"],
                endpoint["realm"],
                username,
                endpoint["admin_username"],
                Path(endpoint["admin_password_file"]).read_text().strip(),
            )
            reset_done.add(username)
        page = login(session, url, username, password(username), totp, trace=trace)
        return session, page

    return run


@pytest.fixture(scope="session")
def podman_exec(endpoint):
    """Run a command in one of the scenario's containers (to stop a hub, read a log)."""

    def run(host: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["podman", "exec", host, *argv],
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture(scope="session")
def keycloak_admin(endpoint) -> KeycloakAdmin:
    """The realm's admin REST API (Keycloak's admin listener), for looking at users,
    credentials and sessions."""
    return KeycloakAdmin(
        new_session(endpoint["ca_file"], endpoint["hosts"]),
        endpoint["keycloak_admin_url"],
        endpoint["realm"],
        endpoint["admin_username"],
        Path(endpoint["admin_password_file"]).read_text().strip(),
    )


@pytest.fixture(scope="session")
def converge_again(endpoint, tmp_path_factory):
    """converge_again(tags, extra_vars) -> PlaybookRun: the scenario's converge.yml, run once
    more against the same hosts with molecule's inventory (limited to the tags' hosts)."""
    scratch = tmp_path_factory.mktemp("converge")

    def run(tags: list[str], limit: list[str], extra_vars: dict | None = None) -> PlaybookRun:
        extra = scratch / f"extra-{len(list(scratch.iterdir()))}.json"
        extra.write_text(json.dumps(extra_vars or {}))
        extra.chmod(0o600)
        return run_playbook(
            endpoint["converge_playbook"],
            inventories=endpoint["inventory"],
            tags=tags,
            limit=limit,
            extra_vars_file=extra,
        )

    return run
