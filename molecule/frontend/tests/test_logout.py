"""Logout ends the hub session, the mellon session and the Keycloak session."""

from __future__ import annotations

from urllib.parse import urlsplit

from sitehub.testing.saml_login import new_session, origin, parse_forms, post_saml_forms

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
    visited = [origin(r.url) for r in [*done.history, done]]
    assert origin(endpoint["keycloak_url"]) in visited
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
    assert origin(again.url) == origin(endpoint["keycloak_url"])
    assert any({"username", "password"} <= set(f.fields) for f in parse_forms(again.text))


def hub_api_direct(endpoint, segment, cookie_value):
    """GET <hub>/hub/api/user straight at the instance's proxy with only this login cookie
    (no frontend, so no user header: the cookie alone must be good)."""
    (instance, *_) = next(c for c in endpoint["clusters"] if c["segment"] == segment)["instances"]
    probe = new_session(endpoint["ca_file"], endpoint["hosts"])
    return probe.get(
        f"http://{instance['host']}:{instance['port']}/jupyterhub/{segment}/hub/api/user",
        headers={"Cookie": f"jupyterhub-hub-login={cookie_value}"},
        allow_redirects=False,
        timeout=30,
    )


def mellon_replay(endpoint, site, hub_path, mellon_cookie):
    """A new browser holding only this mellon cookie opens the hub's login: the origin it ends
    on (the hub, through the frontend, while the session lives; else Keycloak)."""
    probe = new_session(endpoint["ca_file"], endpoint["hosts"])
    probe.cookies.set_cookie(mellon_cookie)
    return origin(probe.get(f"{site}{hub_path}hub/login", timeout=60).url)


def keycloak_cookies_of(session, endpoint):
    """The browser's Keycloak cookies: its host's, under the realm's path. Cookies know no
    ports: where the site and Keycloak share a host name (the demo), the path tells them apart."""
    host = urlsplit(endpoint["keycloak_url"]).hostname
    realm_path = f"/realms/{endpoint['realm']}/"
    return [
        c
        for c in session.cookies
        if c.domain.lstrip(".").startswith(host) and (c.path + "/").startswith(realm_path)
    ]


def keycloak_sso(endpoint, site, keycloak_cookies):
    """A new browser holding only these Keycloak cookies starts a login at the frontend:
    the page Keycloak answers with (a SAML post form while its session lives, else a form
    asking for the password)."""
    probe = new_session(endpoint["ca_file"], endpoint["hosts"])
    for cookie in keycloak_cookies:
        probe.cookies.set_cookie(cookie)
    page = probe.get(f"{site}/mellon/login?ReturnTo={site}/", timeout=60)
    assert origin(page.url) == origin(endpoint["keycloak_url"])
    return parse_forms(page.text)


def test_hub_logout_ends_hub_mellon_and_keycloak_sessions(log_in, site, endpoint, keycloak_admin):
    """/hub/logout ends the hub session, then the frontend's logout ends the mellon session
    and, by SAML single logout, the Keycloak session: each checked by replaying its cookie."""
    session, page = log_in("bob", f"{site}/jupyterhub/{SEGMENT}/")
    assert page.status_code == 200
    hub_path = f"/jupyterhub/{SEGMENT}/"
    keycloak = origin(endpoint["keycloak_url"])
    hub_cookie = session.cookies.get("jupyterhub-hub-login", path=hub_path + "hub/")
    mellon = next(c for c in session.cookies if c.name.startswith("mellon-"))
    keycloak_cookies = keycloak_cookies_of(session, endpoint)
    sessions_before = keycloak_admin.sessions("bob")
    # each replay below works while its session lives
    assert hub_api_direct(endpoint, SEGMENT, hub_cookie).json()["name"] == "bob"
    assert mellon_replay(endpoint, site, hub_path, mellon) == origin(site)
    assert any("SAMLResponse" in f.fields for f in keycloak_sso(endpoint, site, keycloak_cookies))

    # the hub's logout link: hub -> frontend /logout -> mellon -> Keycloak -> landing page
    first = session.get(f"{site}{hub_path}hub/logout", allow_redirects=False, timeout=60)
    assert first.status_code in (302, 303), first.status_code
    assert first.headers["Location"] == endpoint["site_logout_url"]
    done = post_saml_forms(session, session.get(first.headers["Location"], timeout=60))
    assert keycloak in [origin(r.url) for r in [*done.history, done]]
    assert done.url == site + "/" and done.status_code == 200

    # the hub session: the old login cookie names nobody any more
    assert hub_api_direct(endpoint, SEGMENT, hub_cookie).status_code == 403
    assert ("jupyterhub-hub-login", hub_path + "hub/") not in jar(session)
    # the mellon session: its cookie on a protected path now leads to Keycloak's login
    assert mellon_replay(endpoint, site, hub_path, mellon) == keycloak
    # the Keycloak session: gone on the server, and its cookies get the password form
    assert len(keycloak_admin.sessions("bob")) == len(sessions_before) - 1
    forms = keycloak_sso(endpoint, site, keycloak_cookies)
    assert not any("SAMLResponse" in f.fields for f in forms)
    assert any({"username", "password"} <= set(f.fields) for f in forms)
    # and this browser's next visit asks for the password too
    page = session.get(f"{site}{hub_path}", timeout=60)
    assert origin(page.url) == keycloak
    assert any({"username", "password"} <= set(f.fields) for f in parse_forms(page.text))
