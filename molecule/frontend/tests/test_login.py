"""The whole login: a hub path sends an anonymous browser to Keycloak; after password and
TOTP it comes back and lands in that cluster's hub as the person who logged in."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from sitehub.testing.saml_login import LoginTrace


@pytest.mark.parametrize(("username", "segment"), [("bob", "hpc"), ("alice", "local")])
def test_password_and_totp_land_in_the_hub_as_oneself(log_in, site, endpoint, username, segment):
    trace = LoginTrace()
    session, page = log_in(username, f"{site}/jupyterhub/{segment}/", trace=trace)
    web = endpoint["public_hostname"]
    keycloak = urlsplit(endpoint["keycloak_url"]).hostname
    # frontend -> Keycloak (password, then a TOTP code or its enrollment) -> frontend
    assert trace.hosts == [web, keycloak, web], trace.hosts
    assert trace.steps[:2] == ["open", "password"]
    assert trace.steps[2] in ("totp", "totp-enroll")
    assert trace.steps[-1] == "saml-post"
    # in the hub of that cluster, as themselves
    assert page.status_code == 200
    assert urlsplit(page.url).path.startswith(f"/jupyterhub/{segment}/")
    who = session.get(f"{site}/jupyterhub/{segment}/hub/api/user", timeout=30)
    assert who.json()["name"] == username
