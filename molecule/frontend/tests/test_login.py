"""The whole login: a hub path sends an anonymous browser to Keycloak; after password and
TOTP it comes back and lands in that cluster's hub as the person who logged in."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from sitehub.testing.saml_login import LoginTrace, origin


@pytest.mark.parametrize(("username", "segment"), [("bob", "hpc"), ("alice", "local")])
def test_password_and_totp_land_in_the_hub_as_oneself(log_in, site, endpoint, username, segment):
    trace = LoginTrace()
    session, page = log_in(username, f"{site}/jupyterhub/{segment}/", trace=trace)
    web, keycloak = origin(site), origin(endpoint["keycloak_url"])
    # frontend -> Keycloak (password, then a TOTP code or its enrollment) -> frontend
    assert trace.origins == [web, keycloak, web], trace.origins
    assert trace.steps[:2] == ["open", "password"]
    assert trace.steps[2] in ("totp", "totp-enroll")
    assert trace.steps[-1] == "saml-post"
    # in the hub of that cluster, as themselves
    assert page.status_code == 200
    assert urlsplit(page.url).path.startswith(f"/jupyterhub/{segment}/")
    who = session.get(f"{site}/jupyterhub/{segment}/hub/api/user", timeout=30)
    assert who.json()["name"] == username
    # the hubs' cookies last no longer in the browser than the mellon session that let the
    # user in (JupyterHub's own expiry would be 30 days)
    length = int(endpoint["session_length"])
    persistent = [
        header
        for where, header in trace.set_cookies
        if where == web
        and "expires=" in header.lower()
        and not header.startswith(("mellon-", "ROUTEID="))
    ]
    logins = [h for h in persistent if h.startswith("jupyterhub-hub-login=") and not deletion(h)]
    assert logins and {max_age(h) for h in logins} == {length}, logins
    for header in persistent:
        if deletion(header):
            assert max_age(header) in (None, 0), header  # a deletion stays a deletion
        else:
            assert max_age(header) is not None and 0 < max_age(header) <= length, header
    (cookie,) = [c for c in session.cookies if c.name == "jupyterhub-hub-login"]
    assert cookie.expires is not None and cookie.expires - time.time() <= length + 60


def deletion(set_cookie: str) -> bool:
    return set_cookie.split(";", 1)[0].split("=", 1)[1] in ("", '""')


def max_age(set_cookie: str) -> int | None:
    for attribute in set_cookie.split(";")[1:]:
        name, _, value = attribute.strip().partition("=")
        if name.lower() == "max-age":
            return int(value)
    return None


def test_hub_cookie_cap_and_mellon_session_are_one_setting(endpoint, podman_exec):
    """The cap above and mellon's session length are rendered from the same variable."""
    length = int(endpoint["session_length"])
    conf = podman_exec(
        endpoint["frontend_host"], "cat", "/etc/apache2/sites-available/sitehub.conf"
    )
    assert f"MellonSessionLength {length}\n" in conf.stdout
    assert f'"$1; Max-Age={length}"' in conf.stdout
