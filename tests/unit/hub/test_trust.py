"""Who may log in through the frontend's header (sitehub.hub.trust)."""

import pytest

from sitehub.hub.trust import Refused, TrustPolicy, check_username, client_address, parse_networks

PROXIES = parse_networks(["127.0.0.1/32", "::1/128", "10.89.0.5/32"])


@pytest.fixture
def policy():
    return TrustPolicy.build(["10.89.0.2/32", "192.0.2.0/28"], ["127.0.0.1", "::1", "10.89.0.5"])


def test_client_address_via_our_proxy_takes_last_forwarded():
    assert str(client_address("127.0.0.1", "203.0.113.9, 10.89.0.2", PROXIES)) == "10.89.0.2"
    assert str(client_address("::ffff:127.0.0.1", "10.89.0.2", PROXIES)) == "10.89.0.2"


def test_client_address_ignores_forwarding_from_strangers():
    # a client talking to the hub directly cannot claim an address
    assert str(client_address("10.89.0.77", "10.89.0.2", PROXIES)) == "10.89.0.77"


def test_client_address_proxy_host_itself():
    assert str(client_address("127.0.0.1", None, PROXIES)) == "127.0.0.1"


def test_frontend_accepted(policy):
    assert policy.username("127.0.0.1", "10.89.0.2", "alice", None) == "alice"
    assert policy.username("10.89.0.5", "1.2.3.4,192.0.2.3", "bob", None) == "bob"


@pytest.mark.parametrize(
    ("peer", "xff"),
    [
        ("127.0.0.1", "10.89.0.9"),  # via our proxy, but from elsewhere
        ("127.0.0.1", "10.89.0.2, 10.89.0.9"),  # forged first entry, real last entry
        ("10.89.0.9", "10.89.0.2"),  # direct, forged header
        ("127.0.0.1", "not-an-ip"),
        ("127.0.0.1", None),  # local process on the proxy host
    ],
)
def test_other_addresses_refused(policy, peer, xff):
    with pytest.raises(Refused, match="not accepted from"):
        policy.username(peer, xff, "alice", None)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "no user header"),
        ("", "empty"),
        ("(null)", "holds no name"),
        ("(NULL)", "holds no name"),
        (" alice", "whitespace"),
        ("Alice", "username policy"),
        ("alice@EXAMPLE.ORG", "username policy"),
        ("../etc", "username policy"),
        ("a" * 33, "username policy"),
        ("alice\nbob", "username policy"),
        ("1alice", "username policy"),
    ],
)
def test_bad_names_refused(value, why):
    with pytest.raises(Refused, match=why):
        check_username(value)


def test_good_names():
    for name in ["alice", "_svc", "bob-2", "a_b"]:
        assert check_username(name) == name


def test_custom_pattern():
    assert check_username("u12345", r"^u[0-9]{5}$") == "u12345"
    with pytest.raises(Refused):
        check_username("alice", r"^u[0-9]{5}$")


def test_secret_required_when_set():
    p = TrustPolicy.build(["10.89.0.2"], ["127.0.0.1"], secret="s3cret")
    assert p.username("127.0.0.1", "10.89.0.2", "alice", "s3cret") == "alice"
    for wrong in (None, "", "s3cre", "s3cret2"):
        with pytest.raises(Refused, match="secret"):
            p.username("127.0.0.1", "10.89.0.2", "alice", wrong)
    assert p.from_frontend("127.0.0.1", "10.89.0.2", "s3cret")
    assert not p.from_frontend("127.0.0.1", "10.89.0.2", "nope")


def test_ipv6_frontend():
    p = TrustPolicy.build(["2001:db8::/64"], ["::1"])
    assert p.username("::1", "2001:db8::5", "alice", None) == "alice"
    with pytest.raises(Refused):
        p.username("::1", "2001:db9::5", "alice", None)
