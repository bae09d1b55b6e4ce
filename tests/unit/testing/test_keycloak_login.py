import base64
import urllib.parse
import zlib

import pytest

pytest.importorskip("pyotp")

from sitehub.testing.keycloak_login import (
    KeycloakLogin,
    Page,
    TotpDevice,
    decode_saml_response,
    totp_secret_from_setup_page,
)

SECRET = base64.b32encode(b"0123456789abcdefghij").decode()  # 160 bits, like Keycloak's

LOGIN_PAGE = """
<html><body>
<div class="alert-error pf-m-danger">
  <span class="kc-feedback-text">Invalid username or password.</span>
</div>
<form id="kc-form-login" method="post"
      action="/realms/r/login-actions/authenticate?session_code=a&amp;execution=b">
  <input id="username" name="username" value="" type="text">
  <input id="password" name="password" type="password">
  <input type="hidden" id="id-hidden-input" name="credentialId">
  <input type="checkbox" name="rememberMe">
  <button type="submit" name="login" value="Sign In">Sign In</button>
</form></body></html>
"""

SETUP_PAGE = """
<form action="https://kc.test/realms/r/login-actions/required-action?execution=CONFIGURE_TOTP"
      id="kc-totp-settings-form" method="post">
  <input type="text" id="totp" name="totp" autocomplete="off">
  <input type="hidden" id="totpSecret" name="totpSecret" value="{secret}">
  <input type="text" id="userLabel" name="userLabel" autocomplete="off">
  <input type="checkbox" id="logout-sessions" name="logout-sessions" value="on" checked>
  <input type="submit" value="Submit">
</form>
"""


def test_login_form_fields_and_absolute_action():
    page = Page.parse("https://kc.test/realms/r/protocol/openid-connect/auth?x=1", 200, LOGIN_PAGE)
    form = page.form_with("username", "password")
    assert form is not None
    assert form.method == "post"
    assert form.action == (
        "https://kc.test/realms/r/login-actions/authenticate?session_code=a&execution=b"
    )
    # unchecked boxes and buttons are not sent, hidden fields are
    assert form.fields == {"username": "", "password": "", "credentialId": ""}
    assert "Invalid username or password." in page.errors


def test_totp_secret_from_hidden_field_is_base32_of_raw_secret():
    page = Page.parse("https://kc.test/x", 200, SETUP_PAGE.format(secret="abcdefghij"))
    assert totp_secret_from_setup_page(page) == base64.b32encode(b"abcdefghij").decode()
    assert page.form_with("totpSecret").fields["logout-sessions"] == "on"


def test_totp_secret_prefers_the_text_shown_for_manual_entry():
    html = '<span id="kc-totp-secret-key">MFRG GZDF MZTW Q2LK</span>' + SETUP_PAGE.format(
        secret="ignored"
    )
    page = Page.parse("https://kc.test/x", 200, html)
    assert totp_secret_from_setup_page(page) == "MFRGGZDFMZTWQ2LK"


def test_no_secret_without_setup_form():
    assert totp_secret_from_setup_page(Page.parse("https://kc.test/x", 200, LOGIN_PAGE)) is None


def test_device_never_repeats_a_code_within_the_window():
    device = TotpDevice(SECRET)
    now = 1_700_000_000.0
    first, second = device.code(now), device.code(now)
    assert first != second
    assert first == device._totp.at(now)
    assert second == device._totp.at(now + 30)


def test_wrong_code_is_never_a_valid_one():
    device = TotpDevice(SECRET, algorithm="HmacSHA256", digits=8)
    now = 1_700_000_000.0
    wrong = device.wrong_code(now)
    assert len(wrong) == 8
    assert wrong not in {device._totp.at(now + k * 30) for k in (-1, 0, 1)}


def test_saml_request_is_raw_deflate_with_the_acs_url():
    kc = KeycloakLogin("https://kc.test/", "r", ca_file=False)
    url = kc.saml_start("https://sp.test/mellon/metadata", "https://sp.test/mellon/postResponse")
    assert url.startswith("https://kc.test/realms/r/protocol/saml?SAMLRequest=")
    raw = base64.b64decode(
        urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["SAMLRequest"][0]
    )
    xml = zlib.decompress(raw, -15).decode()
    assert 'AssertionConsumerServiceURL="https://sp.test/mellon/postResponse"' in xml
    assert "<saml:Issuer>https://sp.test/mellon/metadata</saml:Issuer>" in xml


def test_oidc_start_uses_pkce_s256():
    kc = KeycloakLogin("https://kc.test", "r", ca_file=False)
    url, verifier = kc.oidc_start()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(verifier) >= 43
    assert query["redirect_uri"] == ["https://kc.test/realms/r/account/"]


def test_saml_response_decoding():
    assert decode_saml_response(base64.b64encode(b"<samlp:Response/>").decode()) == (
        "<samlp:Response/>"
    )


def test_sessions_ignore_environment_ca_bundles_and_proxies():
    session = KeycloakLogin("https://kc.test", "r", ca_file="/tmp/ca.pem").session()
    assert session.trust_env is False
    assert session.verify == "/tmp/ca.pem"
