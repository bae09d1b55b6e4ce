import base64
import email.message
import http.cookiejar
import json
import socket
import urllib.request

import pyotp
import pytest

from sitehub.testing import saml_login
from sitehub.testing.saml_login import (
    BrowserCookiePolicy,
    OffSiteRequest,
    TotpStore,
    new_session,
    origin,
    parse_forms,
    resolve_hosts,
)


def test_forms_keep_hidden_and_text_fields_not_buttons():
    html = """
    <form id="f" action="/post" method="POST">
      <input type="hidden" name="SAMLResponse" value="abc&amp;d">
      <input name="username" value="">
      <input type="submit" name="login" value="Sign in">
      <button name="cancel">x</button>
    </form>
    <form action="/other"><input name="otp"></form>
    """
    first, second = parse_forms(html)
    assert (first.action, first.method) == ("/post", "post")
    assert first.fields == {"SAMLResponse": "abc&d", "username": ""}
    assert (second.action, second.method, second.fields) == ("/other", "get", {"otp": ""})


def test_origins_tell_ports_of_one_host_apart():
    # the demo's site and Keycloak are both "localhost": only the port says which answered
    assert origin("https://localhost:8443/realms/x") != origin("https://localhost:8444/")
    assert origin("https://Frontend-Web/jupyterhub/") == origin("https://frontend-web:443")
    assert origin("http://frontend-web/x") == "http://frontend-web:80"


def _store(jar, url, set_cookie):
    class Response:
        def info(self):
            message = email.message.Message()
            message["Set-Cookie"] = set_cookie
            return message

    jar.extract_cookies(Response(), urllib.request.Request(url))


def _sent(jar, url):
    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    return request.get_header("Cookie")


def test_a_single_label_host_keeps_its_domain_cookie_like_a_browser():
    cookie = "mellon-x=cookietest; Version=1; Path=/; Domain=frontend-web; Secure; HttpOnly"
    default = http.cookiejar.CookieJar()
    _store(default, "https://frontend-web/mellon/login", cookie)
    # what Python does without the policy: kept, but never sent back
    assert _sent(default, "https://frontend-web/mellon/postResponse") is None
    jar = http.cookiejar.CookieJar(BrowserCookiePolicy())
    _store(jar, "https://frontend-web/mellon/login", cookie)
    assert _sent(jar, "https://frontend-web/mellon/postResponse") == "mellon-x=cookietest"
    assert _sent(jar, "https://other-host/") is None


def test_other_domains_are_still_refused():
    jar = http.cookiejar.CookieJar(BrowserCookiePolicy())
    _store(jar, "https://frontend-web/", "c=1; Path=/; Domain=evil-host")
    assert len(jar) == 0


def test_totp_codes_follow_keycloaks_raw_secret(tmp_path, monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr(saml_login.time, "time", lambda: now[0])
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(saml_login.time, "sleep", sleep)
    store = TotpStore(tmp_path)
    store.enroll("alice", "rawsecret-0123456789")
    first = store.code("alice")
    totp = pyotp.TOTP(base64.b32encode(b"rawsecret-0123456789").decode())
    assert first == totp.at(now[0])
    assert not store.has("alice")  # pending until Keycloak accepted it
    store.commit("alice")
    assert store.has("alice")
    # the same time step is never used twice: the second code waits for the next one
    second = store.code("alice")
    assert slept
    assert int(now[0]) // 30 == int(1_800_000_000.0) // 30 + 1
    assert second == totp.at(now[0])


def test_names_resolve_to_the_given_addresses_only_inside_the_block():
    with resolve_hosts({"frontend-web": "127.0.0.1"}):
        assert socket.getaddrinfo("frontend-web", 443)[0][4][0] == "127.0.0.1"
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("frontend-web.invalid", 443)


def test_a_guarded_session_never_contacts_other_hosts():
    session = new_session("/nonexistent-ca.pem", allowed_hosts={"frontend-web"})
    with pytest.raises(OffSiteRequest, match=r"evil\.example"):
        session.get("https://evil.example/", timeout=1)


class _FakeKeycloak:
    """Just enough of Keycloak's token and admin endpoints for KeycloakAdmin."""

    def __init__(self):
        self.calls = []
        self.users = [{"id": "u1", "username": "alice", "requiredActions": ["VERIFY_EMAIL"]}]

    def _reply(self, payload=None, status=200):
        import requests

        reply = requests.Response()
        reply.status_code = status
        reply._content = json.dumps(payload).encode() if payload is not None else b""
        return reply

    def post(self, url, data=None, timeout=None):
        assert url.endswith("/realms/master/protocol/openid-connect/token")
        assert data["client_id"] == "admin-cli" and data["password"] == "pw"
        return self._reply({"access_token": f"t{len(self.calls)}"})

    def request(self, method, url, headers=None, timeout=None, params=None, json=None):
        assert headers["Authorization"].startswith("Bearer t")
        path = url.split("/admin/realms/sitehub", 1)[1]
        self.calls.append((method, path, params, json))
        if path == "/users":
            return self._reply(self.users)
        if path == "/users/u1/credentials":
            return self._reply([{"id": "c1", "type": "password"}, {"id": "c2", "type": "otp"}])
        if path == "/users/u1/sessions":
            return self._reply([{"id": "s1"}])
        return self._reply(None, 204)


def test_keycloak_admin_reads_users_credentials_and_sessions():
    fake = _FakeKeycloak()
    admin = saml_login.KeycloakAdmin(fake, "https://kc:8443/", "sitehub", "admin", "pw")
    assert admin.user("alice")["id"] == "u1"
    assert [c["type"] for c in admin.credentials("alice")] == ["password", "otp"]
    assert admin.sessions("alice") == [{"id": "s1"}]
    assert fake.calls[0] == ("GET", "/users", {"username": "alice", "exact": "true"}, None)


def test_keycloak_admin_ignores_users_with_other_names():
    fake = _FakeKeycloak()
    fake.users.append({"id": "u2", "username": "alice2"})
    admin = saml_login.KeycloakAdmin(fake, "https://kc:8443", "sitehub", "admin", "pw")
    assert admin.user("ALICE")["id"] == "u1"


def test_reset_otp_removes_devices_and_asks_for_enrollment():
    fake = _FakeKeycloak()
    removed = saml_login.reset_otp(fake, "https://kc:8443", "sitehub", "alice", "admin", "pw")
    assert removed == 1
    assert ("DELETE", "/users/u1/credentials/c2", None, None) in fake.calls
    assert fake.calls[-1] == (
        "PUT",
        "/users/u1",
        None,
        {"requiredActions": ["CONFIGURE_TOTP", "VERIFY_EMAIL"]},
    )


def test_look_ahead_uses_the_next_step_instead_of_waiting(tmp_path, monkeypatch):
    now = [1_800_000_000.0]  # the start of a time step
    slept = []
    monkeypatch.setattr(saml_login.time, "time", lambda: now[0])

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(saml_login.time, "sleep", sleep)
    store = TotpStore(tmp_path, look_ahead=1)
    store.enroll("alice", "rawsecret-0123456789")
    store.commit("alice")
    totp = pyotp.TOTP(base64.b32encode(b"rawsecret-0123456789").decode())
    step = int(now[0]) // 30
    # this step, then the next one (inside Keycloak's window), without waiting
    assert store.code("alice") == totp.at(step * 30)
    assert store.code("alice") == totp.at((step + 1) * 30)
    assert not slept
    # both used: the third waits until step + 2 is inside the window (step + 1 has begun)
    assert store.code("alice") == totp.at((step + 2) * 30)
    assert slept and int(now[0]) // 30 == step + 1
