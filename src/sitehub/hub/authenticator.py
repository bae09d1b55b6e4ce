"""JupyterHub authenticator: the user named by the frontend's header, from frontend addresses.

    c.JupyterHub.authenticator_class = "sitehub.hub.authenticator.TrustedHeaderAuthenticator"
    c.TrustedHeaderAuthenticator.frontend_addresses = ["10.0.0.5/32"]
    c.TrustedHeaderAuthenticator.frontend_logout_url = "https://jupyter.example.org/logout"

The rules live in sitehub.hub.trust (pure, unit tested); this module wires them to requests.

Logout is a chain: the hub's /hub/logout ends the hub session (cookies, the browser session's
tokens, and every login cookie of that user on this instance), then sends the browser to the
frontend's logout, which ends the mellon session and, by SAML single logout, Keycloak's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler, LogoutHandler
from jupyterhub.utils import new_token
from tornado import web
from traitlets import List, TraitError, Unicode, default, validate

from .trust import DEFAULT_USERNAME_PATTERN, Refused, TrustPolicy


def _peer(request) -> str:
    """The TCP peer, whatever X-Real-Ip / X-Forwarded-For claim (tornado rewrites remote_ip)."""
    context = getattr(request.connection, "context", None)
    address = getattr(context, "address", None)
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(getattr(context, "_orig_remote_ip", "") or "")


class HeaderLoginHandler(BaseHandler):
    """/hub/login: log in whoever the frontend's header names, or refuse with 403."""

    async def get(self):
        try:
            user = await self.login_user()
        except Refused as exc:
            raise web.HTTPError(403, f"Login refused: {exc}") from None
        if user is None:
            raise web.HTTPError(403, "Login refused: user not allowed on this hub")
        self.redirect(self.get_next_url(user))


class HeaderLogoutHandler(LogoutHandler):
    """/hub/logout: end the hub session, then hand the browser to the frontend's logout."""

    async def default_handle_logout(self):
        user = self.current_user
        # clears this browser's hub cookies and revokes the tokens of its session
        await super().default_handle_logout()
        if user is not None:
            # The login cookie holds the user's cookie_id, the same in every browser: a copy
            # of this cookie (or one in another browser) would still be good. A new id ends
            # them all here; other browsers with a live frontend session just log in again
            # from the header, without noticing.
            user.orm_user.cookie_id = new_token()
            self.db.commit()
            self.log.info("Ended every hub login session of %s", user.name)

    async def render_logout_page(self):
        target = self.authenticator.frontend_logout_url
        if target:
            self.redirect(target, permanent=False)
        else:
            await super().render_logout_page()


def check_logout_url(url: str) -> str:
    """An absolute https:// URL or a path on this site; anything else is refused."""
    if not url:
        return url
    parts = urlsplit(url)
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        raise ValueError(f"logout URL {url!r} holds spaces, control characters or backslashes")
    if parts.scheme == "https" and parts.netloc:
        return url
    if not parts.scheme and not parts.netloc and url.startswith("/"):
        return url
    raise ValueError(f"logout URL {url!r} must be https://host/path or a /path")


class TrustedHeaderAuthenticator(Authenticator):
    header_name = Unicode(
        "X-Sitehub-User", config=True, help="Request header holding the authenticated name."
    )
    frontend_addresses = List(
        Unicode(),
        ["127.0.0.1/32", "::1/128"],
        config=True,
        help="Addresses/networks of the frontend; the header is ignored from anywhere else.",
    )
    proxy_addresses = List(
        Unicode(),
        ["127.0.0.1/32", "::1/128"],
        config=True,
        help="Addresses the hub's own proxy (CHP) connects from; only behind these is the "
        "last X-Forwarded-For entry believed.",
    )
    secret_header_name = Unicode(
        "X-Sitehub-Frontend-Secret", config=True, help="Header carrying the frontend secret."
    )
    secret_file = Unicode(
        "",
        config=True,
        help="File with a secret the frontend must send too (stops local users who can reach "
        "the proxy from a frontend address). Empty: address check only.",
    )
    username_policy = Unicode(
        DEFAULT_USERNAME_PATTERN, config=True, help="Names outside this pattern are refused."
    )
    # not `logout_url`: that name is the Authenticator method giving the hub's own logout path
    frontend_logout_url = Unicode(
        "",
        config=True,
        help="Where /hub/logout sends the browser once the hub session is over: the frontend's "
        "logout (which ends the mellon and Keycloak sessions). Empty: JupyterHub's logout page.",
    )

    @validate("frontend_logout_url")
    def _check_frontend_logout_url(self, proposal):
        try:
            return check_logout_url(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @default("auto_login")
    def _auto_login_default(self):
        return True

    @default("auth_refresh_age")
    def _auth_refresh_age_default(self):
        # re-check the header on (almost) every cookie request: a different person logging
        # in through the same browser must not inherit the previous hub session
        return 1

    _policy: TrustPolicy | None = None

    def policy(self) -> TrustPolicy:
        if self._policy is None:
            secret = ""
            if self.secret_file:
                with open(self.secret_file, encoding="utf-8") as f:
                    secret = f.read().strip()
            self._policy = TrustPolicy.build(
                self.frontend_addresses, self.proxy_addresses, self.username_policy, secret
            )
        return self._policy

    def get_handlers(self, app):
        # listed before JupyterHub's own handlers, so these win
        return [(r"/login", HeaderLoginHandler), (r"/logout", HeaderLogoutHandler)]

    def _evaluate(self, handler) -> str:
        req = handler.request
        return self.policy().username(
            _peer(req),
            req.headers.get("X-Forwarded-For"),
            req.headers.get(self.header_name),
            req.headers.get(self.secret_header_name),
        )

    async def authenticate(self, handler, data=None):
        try:
            name = self._evaluate(handler)
        except Refused as exc:
            self.log.warning(
                "Refused header login (peer %s, X-Forwarded-For %r): %s",
                _peer(handler.request),
                handler.request.headers.get("X-Forwarded-For"),
                exc,
            )
            raise
        return name

    def validate_username(self, username):
        try:
            from .trust import check_username

            check_username(username, self.username_policy)
        except Refused:
            return False
        return super().validate_username(username)

    async def refresh_user(self, user, handler=None):
        """Keep a session only while the frontend still names the same person."""
        if handler is None:
            return True
        req = handler.request
        header = req.headers.get(self.header_name)
        if header is None:
            return True
        policy = self.policy()
        if not policy.from_frontend(
            _peer(req), req.headers.get("X-Forwarded-For"), req.headers.get(self.secret_header_name)
        ):
            return True
        return header == user.name
