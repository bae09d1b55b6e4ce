"""JupyterHub authenticator: the user named by the frontend's header, from frontend addresses.

    c.JupyterHub.authenticator_class = "sitehub.hub.authenticator.TrustedHeaderAuthenticator"
    c.TrustedHeaderAuthenticator.frontend_addresses = ["10.0.0.5/32"]

The rules live in sitehub.hub.trust (pure, unit tested); this module wires them to requests.
"""

from __future__ import annotations

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from tornado import web
from traitlets import List, Unicode, default

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
        return [(r"/login", HeaderLoginHandler)]

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
