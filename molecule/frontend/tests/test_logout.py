"""Logout ends the hub session, the mellon session and the Keycloak session."""

from __future__ import annotations

from urllib.parse import urlsplit

from sitehub.testing.saml_login import parse_forms, post_saml_forms

SEGMENT = "local"


def jar(session):
    return {(c.name, c.path): c.value for c in session.cookies}


def test_logout_ends_hub_mellon_and_keycloak_sessions(log_in, site, endpoint):
    session, page = log_in("bob", f"{site}/jupyterhub/{SEGMENT}/")
    assert page.status_code == 200
    hub_path = f"/jupyterhub/{SEGMENT}/"
    before = jar(session)
    assert ("jupyterhub-hub-login", hub_path + "hub/") in before
    mellon_cookie = next(v for (n, _), v in before.items() if n.startswith("mellon-"))

    # the landing page's "Log out": frontend /logout -> mellon -> Keycloak -> landing page
    done = post_saml_forms(session, session.get(site + "/logout", timeout=60))
    hosts = [urlsplit(r.url).hostname for r in [*done.history, done]]
    assert urlsplit(endpoint["keycloak_url"]).hostname in hosts
    assert done.url == site + "/"
    assert done.status_code == 200

    after = jar(session)
    # hub cookies expired by the frontend...
    assert ("jupyterhub-hub-login", hub_path + "hub/") not in after
    assert ("jupyterhub-session-id", hub_path) not in after
    # ...Keycloak's session cookies gone...
    assert not [n for n, _ in after if n.startswith("KEYCLOAK_")]
    # ...and the old mellon session is dead on the server: replaying its cookie fails
    replay = session.__class__()
    replay.trust_env = False
    replay.verify = session.verify
    replay.adapters = session.adapters
    name = next(n for n, _ in before if n.startswith("mellon-"))
    replay.cookies.set(name, mellon_cookie, domain=urlsplit(site).hostname + ".local", path="/")
    refused = replay.get(
        f"{site}{hub_path}hub/api/user",
        headers={"X-Requested-With": "XMLHttpRequest"},
        allow_redirects=False,
        timeout=30,
    )
    assert refused.status_code == 403

    # the next visit needs the password again: Keycloak shows its login form
    again = session.get(f"{site}{hub_path}", timeout=60)
    assert urlsplit(again.url).hostname == urlsplit(endpoint["keycloak_url"]).hostname
    assert any({"username", "password"} <= set(f.fields) for f in parse_forms(again.text))


def test_hub_logout_then_frontend_logout(log_in, site, endpoint):
    """The hub's own logout (which also revokes its session's tokens), then the frontend's."""
    session, _ = log_in("bob", f"{site}/jupyterhub/{SEGMENT}/")
    hub_path = f"/jupyterhub/{SEGMENT}/"
    out = session.get(f"{site}{hub_path}hub/logout", timeout=60)
    assert out.status_code == 200
    assert ("jupyterhub-hub-login", hub_path + "hub/") not in jar(session)
    done = post_saml_forms(session, session.get(site + "/logout", timeout=60))
    assert done.url == site + "/"
    again = session.get(f"{site}{hub_path}", timeout=60)
    assert any({"username", "password"} <= set(f.fields) for f in parse_forms(again.text))
