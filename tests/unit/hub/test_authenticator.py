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
