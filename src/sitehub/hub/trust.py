"""When a hub may believe the user name the frontend put in a request header (pure).

The frontend (Apache + mellon) authenticates people and passes the name in a header. The hub
believes that header only if the request really came from a frontend address, and only if
the name is a plausible account name. "Really came from" is decided here, not by tornado's
`remote_ip`: tornado lets any client pick its address with `X-Real-Ip`. The hub's TCP peer
is its own proxy (configurable-http-proxy), which appends the address *it* saw to
X-Forwarded-For; that last entry is the only one worth anything, and only when the peer is
one of the proxy's addresses.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# POSIX-portable account names as created by the site's identity management
DEFAULT_USERNAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}\Z"
# What Apache's mod_headers writes for an unset variable, and similar non-names
NON_NAMES = frozenset({"(null)", "null", "(none)", "none", "-"})


class Refused(Exception):
    """The request may not log anyone in; str() is safe to show and to log."""


def parse_address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def parse_networks(items: Iterable[str]) -> list[IPNetwork]:
    nets = []
    for item in items:
        nets.append(ipaddress.ip_network(item.strip(), strict=False))
    return nets


def in_networks(addr: IPAddress | None, nets: Iterable[IPNetwork]) -> bool:
    return addr is not None and any(addr.version == n.version and addr in n for n in nets)


def client_address(
    peer: str, forwarded_for: str | None, proxies: Iterable[IPNetwork]
) -> IPAddress | None:
    """The address a request came from, trusting only what our own proxy added."""
    peer_addr = parse_address(peer)
    if not in_networks(peer_addr, proxies):
        return peer_addr  # not via our proxy: the TCP peer is the client
    if not forwarded_for:
        return peer_addr  # our proxy host itself, without forwarding
    last = forwarded_for.split(",")[-1]
    return parse_address(last)


def check_username(value: str | None, pattern: str = DEFAULT_USERNAME_PATTERN) -> str:
    """The header value if it is an acceptable account name; Refused otherwise."""
    if value is None:
        raise Refused("no user header")
    if value != value.strip():
        raise Refused("user header has surrounding whitespace")
    if value == "":
        raise Refused("empty user header")
    if value.lower() in NON_NAMES:
        raise Refused(f"user header holds no name ({value!r})")
    if not re.fullmatch(pattern, value):
        raise Refused("user name does not match the site's username policy")
    return value


@dataclass(frozen=True)
class TrustPolicy:
    frontends: tuple[IPNetwork, ...]
    proxies: tuple[IPNetwork, ...]
    username_pattern: str = DEFAULT_USERNAME_PATTERN
    secret: str = ""  # if set, the frontend must also send it (defence against local users)

    @classmethod
    def build(
        cls,
        frontends: Iterable[str],
        proxies: Iterable[str],
        username_pattern: str = DEFAULT_USERNAME_PATTERN,
        secret: str = "",
    ) -> TrustPolicy:
        re.compile(username_pattern)
        return cls(
            tuple(parse_networks(frontends)),
            tuple(parse_networks(proxies)),
            username_pattern,
            secret,
        )

    def from_frontend(self, peer: str, forwarded_for: str | None, secret: str | None) -> bool:
        addr = client_address(peer, forwarded_for, self.proxies)
        if not in_networks(addr, self.frontends):
            return False
        return not self.secret or hmac.compare_digest((secret or "").encode(), self.secret.encode())

    def username(
        self, peer: str, forwarded_for: str | None, header: str | None, secret: str | None
    ) -> str:
        """The user a request logs in, or Refused with the reason."""
        addr = client_address(peer, forwarded_for, self.proxies)
        if not in_networks(addr, self.frontends):
            raise Refused(f"user header not accepted from {addr or peer}")
        if self.secret and not hmac.compare_digest((secret or "").encode(), self.secret.encode()):
            raise Refused("frontend secret missing or wrong")
        return check_username(header, self.username_pattern)
