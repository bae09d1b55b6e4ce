"""The SAML service provider: signed requests to Keycloak, hardened cookies, no open
redirects (CVE-2019-13038 class), no way around the login with ECP/PAOS (CVE-2019-3878): the
site offers no ECP at all."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from sitehub.testing.saml_login import LoginTrace, origin, post_saml_forms

PAOS = 'ver="urn:liberty:paos:2003-08";"urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp"'
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

# ReturnTo values that must never send a browser anywhere but this site; browsers read
# "///h", "/\h" and "/<tab>/h" as "//h", so they are as bad as "//h". {host} and {netloc}
# stand for the site's host name and host[:port].
EVIL_RETURNS = [
    "http:evil.example",
    "https:evil.example/",
    "http://evil.example/",
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "////evil.example/",
    "https:/evil.example/",
    "http:\\\\evil.example\\",
    "/\\evil.example/",
    "\\\\evil.example",
    "/%5Cevil.example/",
    "/%2F/evil.example/",
    "/\t/evil.example/",
    "https://{host}.evil.example/",
    "https://evil.example@{netloc}/",
    "javascript:alert(1)",
]


def on_site(target, site):
    """An EVIL_RETURNS value with the site's names filled in."""
    parts = urlsplit(site)
    return target.replace("{host}", parts.hostname).replace("{netloc}", parts.netloc)


def redirect_chain(session, url, stop_origin, **kwargs):
    """Follow redirects by hand, stopping before leaving for ``stop_origin``."""
    responses = []
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=30, **kwargs)
        responses.append(response)
        location = response.headers.get("Location")
        if not location or response.status_code not in (301, 302, 303, 307, 308):
            break
        url = urljoin(response.url, location)
        if origin(url) == stop_origin:
            break
    return responses, url


def test_anonymous_hub_request_goes_to_keycloak_with_a_signed_request(browser, site, endpoint):
    keycloak = origin(endpoint["keycloak_url"])
    responses, url = redirect_chain(browser, site + "/jupyterhub/hpc/", keycloak)
    assert origin(url) == keycloak
    assert urlsplit(url).path == f"/realms/{endpoint['realm']}/protocol/saml"
    query = parse_qs(urlsplit(url).query)
    assert query["SigAlg"] == [RSA_SHA256]
    assert query["Signature"] and query["SAMLRequest"]
    # nothing from a hub on the way
    assert all("ROUTEID" not in r.headers.get("Set-Cookie", "") for r in responses)


@pytest.mark.parametrize("target", EVIL_RETURNS)
def test_login_return_to_cannot_leave_the_site(browser, site, endpoint, target):
    keycloak = origin(endpoint["keycloak_url"])
    responses, url = redirect_chain(
        browser, site + "/mellon/login", keycloak, params={"ReturnTo": on_site(target, site)}
    )
    final_host = origin(url)
    assert final_host in (origin(site), keycloak), url
    # refused outright (the frontend's rule: 403, mellon's own check: 400); Keycloak is
    # never even asked, and nothing later redirects off the site
    assert responses[-1].status_code in (400, 403), [r.status_code for r in responses]
    assert final_host != keycloak


@pytest.fixture(scope="module")
def alice(log_in, site):
    """alice's browser session, logged in at the frontend through Keycloak."""
    session, page = log_in("alice", f"{site}/mellon/login?ReturnTo={site}/")
    assert page.url == site + "/"
    return session


@pytest.mark.parametrize("target", EVIL_RETURNS)
def test_logged_in_users_are_not_sent_off_site_either(alice, site, target):
    for path in ("/mellon/login", "/mellon/logout"):
        response = alice.get(
            site + path,
            params={"ReturnTo": on_site(target, site)},
            allow_redirects=False,
            timeout=30,
        )
        location = response.headers.get("Location", "")
        assert "evil.example" not in location, (path, location)
        assert response.status_code in (400, 403), (path, response.status_code)


@pytest.mark.parametrize("target", ["///evil.example/", "/\\evil.example/", "/\t/evil.example/"])
def test_a_whole_single_sign_on_round_trip_stays_on_the_site(alice, site, endpoint, target):
    """With Keycloak's session alive the round trip needs no password: follow it all the way
    (the session refuses to contact any host outside the test network)."""
    page = alice.get(site + "/mellon/login", params={"ReturnTo": target}, timeout=60)
    page = post_saml_forms(alice, page)
    assert origin(page.url) == origin(site)
    assert page.status_code in (400, 403)


def test_a_return_to_on_the_site_is_honoured(alice, site):
    page = alice.get(site + "/mellon/login", params={"ReturnTo": site + "/?back"}, timeout=60)
    page = post_saml_forms(alice, page)
    assert page.url == site + "/?back"
    assert page.status_code == 200


def test_mellon_session_cookie_is_hardened(endpoint, site, log_in):
    trace = LoginTrace()
    log_in("bob", f"{site}/mellon/login?ReturnTo={site}/", trace=trace)
    mellon = [
        header
        for where, header in trace.set_cookies
        if where == origin(site) and header.startswith("mellon-")
    ]
    session_cookies = [h for h in mellon if not h.split(";")[0].endswith("=cookietest")]
    assert session_cookies, mellon
    for header in session_cookies:
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"secure", "httponly", "samesite"} <= attributes, header
        assert "SameSite=Lax" in header, header


def _error_log_lines(endpoint, podman_exec) -> list[str]:
    log = podman_exec(endpoint["frontend_host"], "cat", endpoint["frontend_error_log"], check=False)
    return log.stdout.splitlines()


@pytest.mark.parametrize(
    "headers",
    [
        # what an ECP client sends: mellon 0.18 then builds an ECP login (200) or fails (500)
        {"PAOS": PAOS, "Accept": "text/html, application/vnd.paos+xml"},
        {"PAOS": PAOS, "Accept": "text/html; application/vnd.paos+xml"},
        {"PAOS": PAOS},
        {"Accept": "application/vnd.paos+xml"},
    ],
    ids=["ecp-client", "paos-and-media-type-param", "paos-header-only", "media-type-only"],
)
def test_paos_ecp_request_is_refused_without_a_server_error(
    browser, site, endpoint, podman_exec, headers
):
    before = len(_error_log_lines(endpoint, podman_exec))
    response = browser.get(
        site + "/jupyterhub/hpc/hub/api/user",
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )
    cookies = response.raw.headers.getlist("Set-Cookie")
    # refused outright: no ECP login started (mellon's was a 500), never the hub
    assert 400 <= response.status_code < 500, response.status_code
    assert "AuthnRequest" not in response.text
    assert "ROUTEID" not in " ".join(cookies)
    assert not [c for c in cookies if c.startswith("mellon-")]
    # and nothing for anyone to fill the log with
    new = _error_log_lines(endpoint, podman_exec)[before:]
    assert not [line for line in new if ":crit]" in line or "CRITICAL" in line], new


def test_ajax_requests_without_a_session_are_refused_not_redirected(browser, site):
    response = browser.get(
        site + "/jupyterhub/hpc/hub/api/user",
        headers={"X-Requested-With": "XMLHttpRequest"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 403


def test_balancer_manager_only_from_the_frontend_itself(browser, site, endpoint, podman_exec):
    assert browser.get(site + "/balancer-manager", timeout=30).status_code == 403
    local = podman_exec(
        endpoint["frontend_host"],
        "curl",
        "-sS",
        "--max-time",
        "10",
        "https://localhost/balancer-manager",
    )
    for cluster in endpoint["clusters"]:
        assert f"balancer://hub-{cluster['segment']}" in local.stdout


def test_server_status_is_not_served(browser, site):
    assert browser.get(site + "/server-status", timeout=30).status_code == 404
