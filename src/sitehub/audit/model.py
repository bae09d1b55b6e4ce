"""The audit's findings as plain records: what `sitehub audit` collects, renders and compares.

Every record is a frozen dataclass of strings, numbers and tuples, so a report converts to
JSON as is (`Report.as_dict`) and two reports compare record by record (`sitehub.audit.diff`).
No record ever holds a secret's value: secrets are described by name and origin only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    """One hub instance behind a cluster's balancer."""

    instance: str  # <segment>-<route>, the name on its host (sitehub.deploy.instance_name)
    host: str
    port: int
    route: str
    url: str  # what Apache proxies to
    health_check: str  # the path mod_proxy_hcheck requests


@dataclass(frozen=True)
class PublicPath:
    """A URL path of the site as a browser sees it, and what answers there."""

    url: str  # absolute: scheme, host, port and path
    path: str
    served_by: str
    login: str  # "none", "SAML login (mellon)", "this host only", ...
    why: str  # why this path is (or is not) reachable without login
    cluster: str = ""
    balancer: str = ""
    sticky: str = ""  # cookie name and its attributes
    failover: str = ""
    members: tuple[Member, ...] = ()


@dataclass(frozen=True)
class SessionLayer:
    layer: str
    idle_seconds: int | None  # None: no inactivity limit
    max_seconds: int | None  # None: no absolute limit
    source: str  # where the figure comes from (role default, inventory, upstream default)
    effect: str  # what ending it means for the user


@dataclass(frozen=True)
class AuthChain:
    paths: tuple[str, ...]  # the paths this chain guards
    sp_entity_id: str
    sp_endpoints: str
    sp_signature: str
    idp: str
    realm: str
    idp_metadata: str
    user_source: str
    mfa: dict[str, Any]
    mfa_strength: str
    brute_force: dict[str, Any]
    password_policy: str
    hub_trust: str  # how the hubs know the request came through the frontend
    sessions: tuple[SessionLayer, ...]
    ends_first: str


@dataclass(frozen=True)
class Grant:
    """`subject` may use `kind` `value` on `cluster` (granted by `via`)."""

    subject: str
    kind: str
    value: str
    cluster: str
    via: str
    detail: str = ""
    accounts: tuple[str, ...] = ()  # a user's partition grant: the accounts it offers

    def sentence(self, modal: str = "may") -> str:
        """In an auditor's words; modal "may now" / "may no longer" in a diff."""
        where = f" on cluster {self.cluster}" if self.cluster and self.kind != "cluster" else ""
        words = (self.subject, modal, _VERBS.get(self.kind, "use"), self.kind, self.value)
        return " ".join(w for w in words if w) + where


# How each kind of grant reads: "user alice may be in group atlas", "partition p may offer GPU
# type t"; anything else: "<subject> may use <kind> <value>".
_VERBS = {"group": "be in", "GPU type": "offer", "hub admin rights": "hold"}


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    bind: str  # address it binds to: 0.0.0.0 / * (every address), 127.0.0.1 (loopback)
    service: str
    who: str  # who may connect
    tls: str = ""


@dataclass(frozen=True)
class TlsProfile:
    endpoint: str
    protocols: tuple[str, ...]
    ciphers: tuple[str, ...]
    tls13_ciphersuites: tuple[str, ...]
    curves: tuple[str, ...]
    profile: str  # an assessment of the cipher list
    hsts_max_age: int | None = None


@dataclass(frozen=True)
class Secret:
    name: str
    origin: str  # vault | derived | generated at deploy time | file | missing | plaintext
    detail: str  # from where exactly (file:line, site secret and purpose, lookup file...)
    used_by: str = ""


@dataclass(frozen=True)
class Departure:
    setting: str
    value: str
    recommended: str
    severity: str  # weaker | stricter | accepted for a demo | note
    why: str


@dataclass
class Report:
    site: str
    title: str
    inventory: str
    public_url: str
    demo: bool
    paths: list[PublicPath] = field(default_factory=list)
    auth: list[AuthChain] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    tls: list[TlsProfile] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    departures: list[Departure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def path(self, path: str) -> PublicPath:
        return next(p for p in self.paths if p.path == path)

    def public_without_login(self) -> list[PublicPath]:
        return [p for p in self.paths if p.login == NO_LOGIN]


NO_LOGIN = "none"
SAML_LOGIN = "SAML login (mellon) with password + TOTP at Keycloak"
LOCAL_ONLY = "requests from the frontend host itself only"
