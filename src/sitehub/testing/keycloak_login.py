"""Scripted login to Keycloak through its real login pages: HTTP + HTML forms + TOTP.

No browser: each step fetches a page, finds the form Keycloak rendered, fills it in
and posts it, as a person would. Used by the molecule `identity` scenario's verify
and by bench/keycloak_login.py. Only talk to a Keycloak the test itself started.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pyotp
import requests

DIGESTS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256, "HmacSHA512": hashlib.sha512}
# Keycloak marks field errors and page alerts with these ids and classes (both themes).
_ERROR_IDS = ("input-error", "input-error-username", "input-error-otp-code", "input-error-otp")
_ERROR_CLASSES = ("kc-feedback-text", "alert-error", "pf-m-danger", "kc-error-message")


@dataclass
class Form:
    """One HTML form: where it posts and the values a browser would send by default."""

    action: str
    method: str = "get"
    id: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def has(self, *names: str) -> bool:
        return all(name in self.fields for name in names)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.texts: dict[str, str] = {}
        self.errors: list[str] = []
        self._form: Form | None = None
        # stack of (tag, id, is_error) for elements whose text we collect
        self._open: list[tuple[str, str, bool]] = []
        self._buf: dict[int, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = Form(
                action=a.get("action", ""),
                method=a.get("method", "get").lower(),
                id=a.get("id", ""),
            )
            self.forms.append(self._form)
        elif tag in ("input", "button", "textarea", "select") and self._form is not None:
            name = a.get("name")
            kind = a.get("type", "text").lower()
            skip = tag == "button" or kind in ("submit", "button", "reset", "image")
            if kind in ("checkbox", "radio") and "checked" not in a:
                skip = True
            if name and not skip and name not in self._form.fields:
                self._form.fields[name] = a.get("value", "")
        if tag in ("input", "br", "img", "meta", "link", "hr"):
            return
        elem_id = a.get("id", "")
        classes = a.get("class", "").split()
        is_error = elem_id in _ERROR_IDS or any(c in _ERROR_CLASSES for c in classes)
        self._open.append((tag, elem_id, is_error))
        if elem_id or is_error:
            self._buf[len(self._open)] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag in ("input", "br", "img", "meta", "link", "hr"):
            return
        # close up to the matching tag (HTML in the wild is not always balanced)
        while self._open:
            depth = len(self._open)
            open_tag, elem_id, is_error = self._open.pop()
            text = " ".join("".join(self._buf.pop(depth, [])).split())
            if elem_id:
                self.texts[elem_id] = text
            if is_error and text:
                self.errors.append(text)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for depth in self._buf:
            self._buf[depth].append(data)


@dataclass
class Page:
    """A fetched HTML page, parsed."""

    url: str
    status: int
    html: str
    forms: list[Form]
    texts: dict[str, str]
    errors: list[str]

    @classmethod
    def parse(cls, url: str, status: int, html: str) -> Page:
        parser = _PageParser()
        parser.feed(html)
        parser.close()
        forms = [
            Form(urllib.parse.urljoin(url, f.action or url), f.method, f.id, f.fields)
            for f in parser.forms
        ]
        return cls(url, status, html, forms, parser.texts, parser.errors)

    def form_with(self, *names: str) -> Form | None:
        return next((f for f in self.forms if f.has(*names)), None)


def totp_secret_from_setup_page(page: Page) -> str | None:
    """The base32 key an authenticator app would scan, read from Keycloak's TOTP setup page.

    The manual-entry view shows it as text; the default view carries the raw secret in a
    hidden field, whose base32 encoding is what the QR code holds.
    """
    shown = page.texts.get("kc-totp-secret-key", "").replace(" ", "")
    if shown:
        return shown.upper()
    form = page.form_with("totpSecret")
    if form is None or not form.fields["totpSecret"]:
        return None
    return base64.b32encode(form.fields["totpSecret"].encode()).decode().rstrip("=")


class TotpDevice:
    """An authenticator app: codes for one secret, never the same code twice.

    Keycloak refuses a code that was used already (policy codeReusable=false), and a
    server with a look-ahead window of 1 accepts the previous, current and next code,
    so a device that logs in often takes the next unused one of those.
    """

    def __init__(self, secret: str, algorithm: str = "HmacSHA1", digits: int = 6, period: int = 30):
        self.secret = secret
        self.period = period
        self._totp = pyotp.TOTP(secret, digits=digits, digest=DIGESTS[algorithm], interval=period)
        self._used: set[int] = set()

    def code(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        step = int(now // self.period)
        for candidate in (step, step + 1):
            if candidate not in self._used:
                self._used.add(candidate)
                return self._totp.at(candidate * self.period)
        # all usable codes spent: wait for the next period
        wait = (step + 1) * self.period - now + 0.05
        time.sleep(wait)
        return self.code(now + wait)

    def wrong_code(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        valid = {self._totp.at(now + k * self.period) for k in (-1, 0, 1)}
        width = self._totp.digits
        for value in range(10**width):
            candidate = str(value).zfill(width)
            if candidate not in valid:
                return candidate
        raise AssertionError("unreachable")


@dataclass
class LoginResult:
    """Where a login attempt ended.

    outcome: logged_in (redirected back to the client with a code, or a SAML response
    to post), otp_required (password accepted, code asked), totp_setup (password
    accepted, enrollment asked), refused (a form shown again with an error).
    """

    outcome: str  # also "page" internally: a form waits for input
    page: Page | None = None
    location: str | None = None
    totp_secret: str | None = None
    # the authenticator enrolled during this login: it remembers the code it already used
    device: TotpDevice | None = None
    saml_response: str | None = None
    saml_destination: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "logged_in"


class KeycloakLogin:
    """Drive the login pages of one realm, optionally through a SAML SP's request."""

    def __init__(
        self,
        base_url: str,
        realm: str,
        ca_file: str | bool = True,
        client_id: str = "account-console",
        timeout: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.realm = realm
        self.verify = ca_file
        self.client_id = client_id
        self.timeout = timeout
        self.realm_url = f"{self.base_url}/realms/{realm}"
        self.redirect_uri = f"{self.realm_url}/account/"

    # -- start URLs ------------------------------------------------------------------------

    def oidc_start(self) -> tuple[str, str]:
        """Authorization request of the realm's account console (public client, PKCE)."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        query = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"{self.realm_url}/protocol/openid-connect/auth?{urllib.parse.urlencode(query)}"
        return url, verifier

    def saml_start(self, entity_id: str, acs_url: str) -> str:
        """HTTP-Redirect AuthnRequest as an SP (mod_auth_mellon) would send it, unsigned."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        request = (
            '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            f'ID="_{secrets.token_hex(16)}" Version="2.0" IssueInstant="{now}" '
            f'Destination="{self.realm_url}/protocol/saml" '
            f'AssertionConsumerServiceURL="{acs_url}" '
            'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
            f"<saml:Issuer>{entity_id}</saml:Issuer>"
            '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" '
            'AllowCreate="true"/></samlp:AuthnRequest>'
        )
        deflated = zlib.compress(request.encode())[2:-4]  # raw DEFLATE, as the binding wants
        query = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(deflated).decode()})
        return f"{self.realm_url}/protocol/saml?{query}"

    def session(self) -> requests.Session:
        """A fresh browser: no cookies, this CA, and no proxy or CA bundle from the environment
        (REQUESTS_CA_BUNDLE would override the CA; test traffic must not leave for a proxy)."""
        http = requests.Session()
        http.trust_env = False
        http.verify = self.verify
        return http

    # -- the login itself ---------------------------------------------------------------------

    def login(
        self,
        username: str,
        password: str,
        *,
        device: TotpDevice | None = None,
        otp_code: str | None = None,
        enroll: bool = False,
        otp_params: dict | None = None,
        start_url: str | None = None,
        session: requests.Session | None = None,
    ) -> LoginResult:
        """Log in from a fresh browser session.

        device/otp_code answer the OTP form; enroll=True completes a TOTP setup page with
        a new device built from the secret on the page (returned as totp_secret and device).
        """
        began = time.perf_counter()
        http = session or self.session()
        url = start_url or self.oidc_start()[0]
        result = self._walk(http, http.get(url, allow_redirects=False, timeout=self.timeout))
        if result.page is None or result.outcome != "page":
            return self._done(result, began)
        form = result.page.form_with("username", "password")
        if form is None:
            return self._done(LoginResult("refused", result.page, error="no login form"), began)
        fields = dict(form.fields, username=username, password=password)
        result = self._submit(http, form, fields)
        secret = None
        submitted: set[str] = set()
        for _ in range(4):  # OTP form, setup page, maybe another required action
            if result.outcome != "page":
                break
            page = result.page
            setup = page.form_with("totpSecret")
            otp_form = page.form_with("otp")
            # the same form again after we answered it: the answer was refused
            again = "setup" if setup else "otp" if otp_form else ""
            if again in submitted:
                error = "; ".join(page.errors) or f"{again} form shown again"
                return self._done(LoginResult("refused", page, error=error), began)
            if setup is not None:
                secret = totp_secret_from_setup_page(page)
                if not enroll or secret is None:
                    return self._done(LoginResult("totp_setup", page, totp_secret=secret), began)
                device = TotpDevice(secret, **(otp_params or {}))
                fields = dict(setup.fields, totp=device.code())
                if not fields.get("userLabel"):
                    fields["userLabel"] = "scripted"
                submitted.add("setup")
                result = self._submit(http, setup, fields)
            elif otp_form is not None:
                if device is None and otp_code is None:
                    return self._done(LoginResult("otp_required", page), began)
                code = otp_code if otp_code is not None else device.code()
                submitted.add("otp")
                result = self._submit(http, otp_form, dict(otp_form.fields, otp=code))
            else:
                error = "; ".join(page.errors) or "unexpected page"
                return self._done(LoginResult("refused", page, error=error), began)
        else:
            return self._done(LoginResult("refused", result.page, error="too many steps"), began)
        result.totp_secret = secret
        result.device = device
        return self._done(result, began)

    def exchange_code(self, location: str, verifier: str) -> dict:
        """Trade the authorization code for tokens (proves the login was real)."""
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
        response = self.session().post(
            f"{self.realm_url}/protocol/openid-connect/token",
            data={
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            timeout=self.timeout,
        )
        response.raise_for_status()
        return response.json()

    # -- internals -----------------------------------------------------------------------

    def _submit(self, http: requests.Session, form: Form, fields: dict) -> LoginResult:
        if form.method == "post":
            response = http.post(
                form.action, data=fields, allow_redirects=False, timeout=self.timeout
            )
        else:
            response = http.get(
                form.action, params=fields, allow_redirects=False, timeout=self.timeout
            )
        return self._walk(http, response)

    def _walk(self, http: requests.Session, response: requests.Response) -> LoginResult:
        """Follow Keycloak's own redirects; stop at the client's redirect or at a page."""
        for _ in range(10):
            if response.is_redirect:
                target = urllib.parse.urljoin(response.url, response.headers["Location"])
                if not target.startswith(self.realm_url + "/") or target.startswith(
                    self.redirect_uri
                ):
                    # back at the client: with a code it is a login, with error= a refusal
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                    if "code" in query:
                        return LoginResult("logged_in", location=target)
                    error = query.get("error", ["no code in redirect"])[0]
                    return LoginResult("refused", location=target, error=error)
                response = http.get(target, allow_redirects=False, timeout=self.timeout)
                continue
            page = Page.parse(response.url, response.status_code, response.text)
            saml = page.form_with("SAMLResponse")
            if saml is not None:
                return LoginResult(
                    "logged_in",
                    page=page,
                    saml_response=saml.fields["SAMLResponse"],
                    saml_destination=saml.action,
                )
            if response.status_code >= 400 and not page.forms:
                return LoginResult("refused", page=page, error=f"HTTP {response.status_code}")
            return LoginResult("page", page=page)
        return LoginResult("refused", error="redirect loop")

    @staticmethod
    def _done(result: LoginResult, began: float) -> LoginResult:
        result.seconds = time.perf_counter() - began
        return result


def decode_saml_response(value: str) -> str:
    """The XML of a SAMLResponse form field (HTTP-POST binding: plain base64)."""
    return base64.b64decode(value).decode()
