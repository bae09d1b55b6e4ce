"""TrustedHeaderAuthenticator on requests (skipped where JupyterHub is not installed)."""

import asyncio
import types

import pytest

pytest.importorskip("jupyterhub")

from tornado.httputil import HTTPHeaders

from sitehub.hub.authenticator import TrustedHeaderAuthenticator
from sitehub.hub.trust import Refused


def handler(peer, headers):
    context = types.SimpleNamespace(address=(peer, 40000), _orig_remote_ip=peer)
    request = types.SimpleNamespace(
        headers=HTTPHeaders(headers), connection=types.SimpleNamespace(context=context)
    )
    return types.SimpleNamespace(request=request)


@pytest.fixture
def auth():
    return TrustedHeaderAuthenticator(frontend_addresses=["10.89.0.2/32"])


def test_header_from_frontend(auth):
    h = handler("127.0.0.1", {"X-Forwarded-For": "10.89.0.2", "X-Sitehub-User": "alice"})
    assert asyncio.run(auth.authenticate(h)) == "alice"


def test_x_real_ip_cannot_fake_the_frontend(auth):
    h = handler(
        "127.0.0.1",
        {"X-Forwarded-For": "10.89.0.9", "X-Real-Ip": "10.89.0.2", "X-Sitehub-User": "alice"},
    )
    with pytest.raises(Refused):
        asyncio.run(auth.authenticate(h))


def test_null_header_refused(auth):
    h = handler("127.0.0.1", {"X-Forwarded-For": "10.89.0.2", "X-Sitehub-User": "(null)"})
    with pytest.raises(Refused):
        asyncio.run(auth.authenticate(h))


def test_defaults(auth):
    assert auth.auto_login is True
    assert auth.auth_refresh_age == 1
    assert not auth.validate_username("Alice") and auth.validate_username("alice")


def test_refresh_drops_session_when_frontend_names_someone_else(auth):
    user = types.SimpleNamespace(name="alice")
    same = handler("127.0.0.1", {"X-Forwarded-For": "10.89.0.2", "X-Sitehub-User": "alice"})
    other = handler("127.0.0.1", {"X-Forwarded-For": "10.89.0.2", "X-Sitehub-User": "bob"})
    stranger = handler("127.0.0.1", {"X-Forwarded-For": "10.89.0.9", "X-Sitehub-User": "bob"})
    assert asyncio.run(auth.refresh_user(user, same)) is True
    assert asyncio.run(auth.refresh_user(user, other)) is False
    assert asyncio.run(auth.refresh_user(user, stranger)) is True


# ---- logout -----------------------------------------------------------------------------


def test_logout_handler_replaces_jupyterhubs(auth):
    from jupyterhub.handlers import LogoutHandler

    from sitehub.hub.authenticator import HeaderLogoutHandler

    routes = dict(auth.get_handlers(app=None))
    assert routes["/logout"] is HeaderLogoutHandler
    assert issubclass(HeaderLogoutHandler, LogoutHandler)


@pytest.mark.parametrize(
    "url",
    ["", "https://jupyter.example.org/logout", "/logout", "https://h/mellon/logout?ReturnTo=/"],
)
def test_frontend_logout_url_accepts_https_and_site_paths(url):
    assert TrustedHeaderAuthenticator(frontend_logout_url=url).frontend_logout_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://jupyter.example.org/logout",
        "//evil.example/logout",
        "javascript:alert(1)",
        "logout",
        "https:///logout",
        "/\\evil.example",
        "/log out",
        "https://h/logout\r\nSet-Cookie: x=y",
    ],
)
def test_frontend_logout_url_refuses_the_rest(url):
    from traitlets import TraitError

    with pytest.raises(TraitError):
        TrustedHeaderAuthenticator(frontend_logout_url=url)


class _FakeDb:
    def __init__(self):
        self.commits = 0

    def commit(self):
        self.commits += 1


def logout_handler(monkeypatch, auth, user):
    """A HeaderLogoutHandler on fake settings; JupyterHub's own cleanup is recorded, not run."""
    from jupyterhub.handlers import LogoutHandler

    from sitehub.hub.authenticator import HeaderLogoutHandler

    calls = []

    async def cleanup(self):
        # JupyterHub's clear_login_cookie looks the user up by cookie_id: it must still match
        calls.append(("cleanup", self.current_user.orm_user.cookie_id if user else None))

    async def stock_page(self):
        calls.append(("stock-page", None))

    monkeypatch.setattr(LogoutHandler, "default_handle_logout", cleanup)
    monkeypatch.setattr(LogoutHandler, "render_logout_page", stock_page)
    h = HeaderLogoutHandler.__new__(HeaderLogoutHandler)
    h.application = types.SimpleNamespace(settings={"authenticator": auth, "db": _FakeDb()})
    h._jupyterhub_user = user
    h.redirect = lambda url, permanent=False: calls.append(("redirect", url))
    return h, calls


def test_logout_ends_every_login_cookie_of_the_user_then_goes_to_the_frontend(monkeypatch):
    auth = TrustedHeaderAuthenticator(frontend_logout_url="https://web.example/logout")
    user = types.SimpleNamespace(name="alice", orm_user=types.SimpleNamespace(cookie_id="old"))
    h, calls = logout_handler(monkeypatch, auth, user)
    asyncio.run(h.default_handle_logout())
    asyncio.run(h.render_logout_page())
    assert calls == [("cleanup", "old"), ("redirect", "https://web.example/logout")]
    # the old login cookie (its value is the cookie_id) names nobody any more
    assert user.orm_user.cookie_id not in ("old", "")
    assert h.db.commits == 1


def test_logout_without_a_session_changes_nothing(monkeypatch):
    auth = TrustedHeaderAuthenticator(frontend_logout_url="/logout")
    h, calls = logout_handler(monkeypatch, auth, None)
    asyncio.run(h.default_handle_logout())
    asyncio.run(h.render_logout_page())
    assert calls == [("cleanup", None), ("redirect", "/logout")]
    assert h.db.commits == 0


def test_logout_without_frontend_url_keeps_jupyterhubs_page(monkeypatch, auth):
    user = types.SimpleNamespace(name="alice", orm_user=types.SimpleNamespace(cookie_id="old"))
    h, calls = logout_handler(monkeypatch, auth, user)
    asyncio.run(h.render_logout_page())
    assert calls == [("stock-page", None)]
