import base64
import email.message
import http.cookiejar
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
