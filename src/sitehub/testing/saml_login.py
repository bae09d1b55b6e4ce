"""A scripted browser for the site's real login: frontend (mod_auth_mellon) -> Keycloak
(password, then TOTP, enrolling the authenticator on first login) -> back to the frontend.

Tests and benches use it to get a logged-in ``requests`` session the way a browser would:
it follows redirects, fills in the forms Keycloak serves and posts the SAML auto-submit
forms that a browser's JavaScript would post. Nothing is mocked; every step is an HTTP
request to the real services.

Test hosts are containers whose names only resolve inside their network, while their TLS
certificates and SAML URLs carry those names: ``resolve_hosts`` maps the names onto their
addresses for this process (sockets, not /etc/hosts), so names and certificates stay real.
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyotp
import requests
import requests.adapters

# Keycloak rejects a code that was used before (no reuse within its window).
TOTP_LABEL = "sitehub-test"


class LoginError(RuntimeError):
    """The login did not reach the page it should have; the message says where it stopped."""


@contextlib.contextmanager
def resolve_hosts(hosts: Mapping[str, str]) -> Iterator[None]:
    """Resolve the given host names to the given addresses in this process."""
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        return original(hosts.get(host, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


class BrowserCookiePolicy(http.cookiejar.DefaultCookiePolicy):
    """Keep ``Domain=<this host>`` cookies of single-label hosts, as browsers do.

    mod_auth_mellon names the request's host in its cookies' Domain (and adds ``Version=1``);
    Python's cookie jar never sends back a Domain without an embedded dot (test hosts are
    named like ``frontend-web``), which would lose mellon's cookie where a browser keeps it.
    Such a cookie is stored as the browser stores it: a plain host-only cookie.
    """

    def set_ok_domain(self, cookie, request):
        req_host, erhn = http.cookiejar.eff_request_host(request)
        if cookie.domain_specified and cookie.domain.lstrip(".").lower() == req_host:
            cookie.domain = erhn
            cookie.domain_specified = False
            cookie.domain_initial_dot = False
            cookie.version = 0
            return True
        return super().set_ok_domain(cookie, request)


class OffSiteRequest(RuntimeError):
    """The client was about to contact a host outside the test's own (an open redirect?)."""


class _GuardedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__()
        self.allowed = allowed

    def send(self, request, *args, **kwargs):
        host = urlsplit(request.url).hostname or ""
        if host not in self.allowed:
            raise OffSiteRequest(f"refusing to contact {host!r} ({request.url})")
        return super().send(request, *args, **kwargs)


def new_session(
    ca_file: str | Path, allowed_hosts: Iterable[str] | None = None
) -> requests.Session:
    """A session that trusts only the site CA and ignores proxy/CA environment variables.

    With ``allowed_hosts`` it refuses to contact any other host (raising OffSiteRequest):
    tests must never send traffic off the test network, even when a redirect says so.
    """
    session = requests.Session()
    if allowed_hosts is not None:
        adapter = _GuardedAdapter(frozenset(allowed_hosts))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    session.cookies.set_policy(BrowserCookiePolicy())
    # REQUESTS_CA_BUNDLE and proxy variables would otherwise override the site CA
    session.trust_env = False
    session.verify = str(ca_file)
    session.headers["User-Agent"] = "sitehub-test-browser/1"
    return session


# ---- HTML forms ------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    attrs: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._current = Form(
                action=values.get("action", ""),
                method=values.get("method", "get").lower(),
                attrs=values,
            )
            self.forms.append(self._current)
        elif tag in ("input", "textarea", "select") and self._current is not None:
            name = values.get("name")
            kind = values.get("type", "text").lower()
            # submit buttons only matter to pages that branch on them; Keycloak's do not
            if name and kind not in ("submit", "button", "image", "reset"):
                self._current.fields[name] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def submit(
    session: requests.Session, page: requests.Response, form: Form, values: Mapping[str, str]
) -> requests.Response:
    """Submit ``form`` of ``page`` with its own fields overridden by ``values``."""
    data = {**form.fields, **values}
    url = urljoin(page.url, form.action or page.url)
    if form.method == "post":
        return session.post(url, data=data, timeout=60)
    return session.get(url, params=data, timeout=60)


def page_error(page: requests.Response) -> str:
    """Keycloak's visible error text on a page (empty if none)."""
    # errors only: Keycloak also shows informational and warning alerts on good paths
    markers = ("input-error", "alert-error", "pf-m-danger")
    if not any(marker in page.text for marker in markers):
        return ""

    class _Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.depth = 0
            self.parts: list[str] = []

        def handle_starttag(self, tag, attrs):
            attrs_text = " ".join(f"{k}={v}" for k, v in attrs)
            if self.depth or any(marker in attrs_text for marker in markers):
                self.depth += 1

        def handle_endtag(self, tag):
            if self.depth:
                self.depth -= 1

        def handle_data(self, data):
            if self.depth and data.strip():
                self.parts.append(data.strip())

    text = _Text()
    text.feed(page.text)
    return " ".join(text.parts)[:300]


# ---- TOTP ------------------------------------------------------------------------------------


class TotpStore:
    """TOTP secrets of test users, kept in a directory so later runs log in with them.

    Keycloak refuses a code it has already accepted, so each time step is used once: the store
    remembers the last step used per user. With ``look_ahead`` (the realm's look-ahead window,
    codes of that many later steps are accepted too) a login right after another uses the next
    step's code instead of waiting for that step to begin; only beyond the window does it wait.
    """

    def __init__(
        self, directory: str | Path, *, digits: int = 6, period: int = 30, look_ahead: int = 0
    ) -> None:
        self.directory = Path(directory)
        self.digits = digits
        self.period = period
        self.look_ahead = look_ahead
        self._pending: dict[str, str] = {}

    def _path(self, username: str, suffix: str) -> Path:
        return self.directory / f"{username}.{suffix}"

    def has(self, username: str) -> bool:
        return self._path(username, "totp").exists()

    def enroll(self, username: str, raw_secret: str) -> str:
        """A pending secret from Keycloak's set-up page (its raw form: the HMAC key is its UTF-8
        bytes); returns the base32 form. Kept only by ``commit`` once Keycloak accepted it."""
        self._pending[username] = base64.b32encode(raw_secret.encode()).decode().rstrip("=")
        return self._pending[username]

    def commit(self, username: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(username, "totp")
        path.write_text(self._pending.pop(username) + "\n")
        path.chmod(0o600)

    def forget(self, username: str) -> None:
        for suffix in ("totp", "last"):
            self._path(username, suffix).unlink(missing_ok=True)

    def code(self, username: str) -> str:
        """A code of a time step not used before (the current one or, within the look-ahead
        window, a later one), waiting only when every step in the window was used."""
        secret = self._pending.get(username) or self._path(username, "totp").read_text().strip()
        totp = pyotp.TOTP(secret, digits=self.digits, interval=self.period)
        last_path = self._path(username, "last")
        last = int(last_path.read_text()) if last_path.exists() else -1
        now = int(time.time()) // self.period
        step = max(now, last + 1)
        if step > now + self.look_ahead:
            # wait until `step` is inside the window, with half a second to spare
            time.sleep((step - self.look_ahead) * self.period - time.time() + 0.5)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        last_path.write_text(str(step))
        return totp.at(step * self.period)


# ---- the login -------------------------------------------------------------------------------


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the port always written. A site and its Keycloak may
    share a host name on different ports (the demo: localhost:8443 and :8444), so "which
    server answered" is a question about origins, not host names."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass
class LoginTrace:
    """What the login went through, for tests that check the path (hosts, steps)."""

    steps: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    # the same path as origins (see ``origin``): tells a site and a Keycloak on one host apart
    origins: list[str] = field(default_factory=list)
    # (origin, raw Set-Cookie header) of every response, to check cookie attributes
    set_cookies: list[tuple[str, str]] = field(default_factory=list)

    def add(self, step: str, response: requests.Response) -> None:
        self.steps.append(step)
        for item in [*response.history, response]:
            host = urlsplit(item.url).hostname or ""
            if not self.hosts or self.hosts[-1] != host:
                self.hosts.append(host)
            where = origin(item.url)
            if not self.origins or self.origins[-1] != where:
                self.origins.append(where)
            for header in item.raw.headers.getlist("Set-Cookie"):
                self.set_cookies.append((where, header))


def post_saml_forms(
    session: requests.Session, page: requests.Response, trace: LoginTrace | None = None
) -> requests.Response:
    """Post SAML auto-submit forms (what a browser's JavaScript does) until none is left."""
    for _ in range(5):
        saml = [
            f for f in parse_forms(page.text) if {"SAMLResponse", "SAMLRequest"} & set(f.fields)
        ]
        if not saml:
            return page
        page = submit(session, page, saml[0], {})
        if trace is not None:
            trace.add("saml-post", page)
    raise LoginError(f"SAML forms kept coming back at {page.url}")


def login(
    session: requests.Session,
    url: str,
    username: str,
    password: str,
    totp: TotpStore,
    *,
    trace: LoginTrace | None = None,
    max_steps: int = 12,
) -> requests.Response:
    """Open ``url`` and log in wherever the site sends us; returns the final page."""
    trace = trace if trace is not None else LoginTrace()
    page = session.get(url, timeout=60)
    trace.add("open", page)
    for _ in range(max_steps):
        forms = parse_forms(page.text)
        by_field = {name: form for form in forms for name in form.fields}
        if "SAMLResponse" in by_field or "SAMLRequest" in by_field:
            page = post_saml_forms(session, page, trace)
            continue
        if "username" in by_field and "password" in by_field:
            page = submit(
                session, page, by_field["password"], {"username": username, "password": password}
            )
            step = "password"
        elif "totpSecret" in by_field:
            form = by_field["totpSecret"]
            totp.enroll(username, form.fields["totpSecret"])
            # a fresh label: Keycloak refuses a second device of the same name
            label = f"{TOTP_LABEL}-{int(time.time())}"
            values = {"totp": totp.code(username), "userLabel": label}
            page = submit(session, page, form, values)
            step = "totp-enroll"
        elif "otp" in by_field:
            if not totp.has(username):
                raise LoginError(f"Keycloak asks {username} for a TOTP code nobody enrolled here")
            page = submit(session, page, by_field["otp"], {"otp": totp.code(username)})
            step = "totp"
        else:
            return page
        trace.add(step, page)
        error = page_error(page)
        if error:
            raise LoginError(f"{step} step for {username} failed at {page.url}: {error}")
        if step == "totp-enroll":
            totp.commit(username)
    raise LoginError(f"login of {username} did not finish after {max_steps} steps at {page.url}")


@dataclass
class Endpoint:
    """What a scenario's verify writes for its tests: where things are and how to log in."""

    hosts: dict[str, str]
    ca_file: str
    passwords_dir: str
    totp_dir: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Endpoint:
        data = json.loads(Path(path).read_text())
        known = {"hosts", "ca_file", "passwords_dir", "totp_dir"}
        return cls(**{k: data[k] for k in known}, extra={k: data[k] for k in data.keys() - known})

    def password(self, username: str) -> str:
        return (Path(self.passwords_dir) / username).read_text().strip()

    def totp_store(self) -> TotpStore:
        return TotpStore(self.totp_dir)


# The keycloak role's keycloak_admin_port (roles/keycloak/defaults/main.yml).
KEYCLOAK_ADMIN_PORT = 8445


def keycloak_admin_url(
    admin_url: str | None, public_url: str, default_port: int = KEYCLOAK_ADMIN_PORT
) -> str:
    """Keycloak's admin listener: the site's sitehub_identity.admin_url, else (the keycloak
    role's default) the public URL's host on keycloak_admin_port."""
    if admin_url:
        return str(admin_url).rstrip("/")
    return f"https://{urlsplit(public_url).hostname}:{default_port}"


class KeycloakAdmin:
    """The few admin REST calls tests make: look at a user, their credentials and sessions.

    ``admin_url`` is Keycloak's admin listener (the keycloak role's, e.g. the demo's
    https://localhost:8445): the public listener refuses the admin API and the master realm.
    Logs in to the master realm's admin-cli for a short-lived token, fetched again per call
    (a master token lives a minute by default; tests may wait longer between calls).
    """

    def __init__(
        self,
        session: requests.Session,
        admin_url: str,
        realm: str,
        admin_username: str,
        admin_password: str,
    ) -> None:
        self.session = session
        self.base = admin_url.rstrip("/")
        self.realm = realm
        self._credentials = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": admin_username,
            "password": admin_password,
        }

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        token = self.session.post(
            f"{self.base}/realms/master/protocol/openid-connect/token",
            data=self._credentials,
            timeout=60,
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        reply = self.session.request(
            method,
            f"{self.base}/admin/realms/{self.realm}{path}",
            headers=headers,
            timeout=60,
            **kwargs,
        )
        reply.raise_for_status()
        return reply

    def user(self, username: str) -> dict:
        found = self.call("GET", "/users", params={"username": username, "exact": "true"})
        (user,) = [u for u in found.json() if u["username"] == username.lower()]
        return user

    def credentials(self, username: str) -> list[dict]:
        return self.call("GET", f"/users/{self.user(username)['id']}/credentials").json()

    def sessions(self, username: str) -> list[dict]:
        """The user's live SSO sessions (a logout must leave none)."""
        return self.call("GET", f"/users/{self.user(username)['id']}/sessions").json()

    def set_required_actions(self, username: str, actions: Iterable[str]) -> None:
        user = self.user(username)
        self.call("PUT", f"/users/{user['id']}", json={"requiredActions": sorted(set(actions))})


def reset_otp(
    session: requests.Session,
    admin_url: str,
    realm: str,
    username: str,
    admin_username: str,
    admin_password: str,
) -> int:
    """Remove a user's OTP devices and ask for a new one at next login (admin REST API on
    Keycloak's admin listener, ``admin_url``).

    Tests call it when their TOTP store lost a user's secret, so a re-run can log in again.
    Returns how many devices were removed.
    """
    admin = KeycloakAdmin(session, admin_url, realm, admin_username, admin_password)
    user = admin.user(username)
    removed = 0
    for credential in admin.credentials(username):
        if credential["type"] == "otp":
            admin.call("DELETE", f"/users/{user['id']}/credentials/{credential['id']}")
            removed += 1
    admin.set_required_actions(username, [*user.get("requiredActions", []), "CONFIGURE_TOTP"])
    return removed
