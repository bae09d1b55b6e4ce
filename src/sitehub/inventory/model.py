"""The site model: what a site inventory declares, as typed records.

A site is described by a handful of top-level Ansible variables, each in
group_vars/all of the site's inventory so an auditor finds them in one place:

    sitehub_site        name, public hostname, frontends, demo flag
    sitehub_tls         certificate source and TLS protocols
    sitehub_identity    Keycloak host, realm, MFA policy, user source
    sitehub_clusters    the hub clusters: URL segment, scheduler, hub instances, form choices
    sitehub_kernels     experiment kernels the clusters may offer
    sitehub_secrets     secrets (vaulted, or generated at deploy time for the demo)

Field-level rules live here; rules that relate several fields or the host
inventory live in sitehub.inventory.validate.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sitehub.hub.images import IMAGE_REF
from sitehub.render.container import RUNTIMES, Bind
from sitehub.runtime import parse_runtime

SCHEDULERS = ("slurm", "htcondor", "local")
OTP_ALGORITHMS = ("HmacSHA1", "HmacSHA256", "HmacSHA512")
TLS_PROTOCOLS_ALLOWED = ("TLSv1.2", "TLSv1.3")
TLS_PROTOCOLS_KNOWN = ("SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1", *TLS_PROTOCOLS_ALLOWED)
# Apache splits the ROUTEID cookie at the first '.', so route ids must not hold one.
ROUTE_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")
SEGMENT_RE = re.compile(r"^[a-z0-9-]+\Z")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
# Slurm's own limit for partition, account, QOS and GPU type names in batch scripts.
SLURM_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")
# jupyter_kernelspec (library/) installs kernel directories of at most this many characters.
KERNEL_NAME_MAX = 100
# A segment and a route together name the instance (<segment>-<route>): its systemd units
# and directories. The jupyterhub role takes names matching INSTANCE_NAME_RE only.
INSTANCE_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}\Z")
SEGMENT_MAX = 29
ROUTE_MAX = 29
# Links on the landing page, as the frontend role takes them: https:// or a path on the site
# (no javascript:, data:, //other.host), without quoting characters.
WEB_URL_RE = re.compile(r"(?:https://|/(?!/))[^\s\"'<>\\`]*\Z")
SCHEDD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.@_-]*\Z")
OTP_PERIODS = (30, 60)
BRUTE_FORCE_MAX_FAILURES = 30
BRUTE_FORCE_MIN_WAIT_SECONDS = 30
# Role variables of model-owned roles that an inventory may set (see
# sitehub.inventory.roles): playbooks/identity.yml reads them from group_vars/keycloak on
# sites that bring their own Keycloak certificate.
INVENTORY_ROLE_VARIABLES = frozenset(
    {"keycloak_tls_cert_src", "keycloak_tls_key_src", "keycloak_admin_username"}
)
# One year: anything longer is a typo (minutes given as seconds, say).
MAX_RUNTIME_MINUTES = 366 * 24 * 60


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored."""

    # strict: "8000" is not a port and "yes" is not a boolean (YAML quoting decides the type)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _hostname(value: str) -> str:
    return _matching(value, HOSTNAME_RE, "'{}' is not a valid host name")


def _name(value: str) -> str:
    return _matching(
        value,
        NAME_RE,
        "'{}' is not a valid name: use letters, digits, '_', '.' or '-', "
        "starting with a letter or digit",
    )


def _web_url(value: str) -> str:
    return _matching(
        value,
        WEB_URL_RE,
        "'{}' is neither an https:// link nor a path on this site (a javascript: or "
        "data: link runs in the page): give the page's https:// URL",
    )


def _slurm_name(value: str) -> str:
    return _matching(
        value,
        SLURM_NAME_RE,
        "'{}' is not a Slurm name: letters, digits, '_', '.', '+' or '-', starting "
        "with a letter or digit, at most 64 characters (it is written into batch scripts)",
    )


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value:
        raise ValueError(
            f"'{value}' is not an absolute path: kernels start in the user's directory, so a "
            "relative script would be looked up there; give the full path"
        )
    return value


def _https_url(value: str) -> str:
    if value.startswith("http://"):
        raise ValueError(
            f"'{value}' uses plain http://: identity metadata and endpoints must be "
            "fetched over https:// so they cannot be tampered with in transit"
        )
    if not value.startswith("https://"):
        raise ValueError(f"'{value}' is not an https:// URL")
    return value


def _runtime(value: Any) -> int:
    minutes = parse_runtime(value)
    if minutes <= 0:
        raise ValueError(f"runtime {value!r} must be longer than zero minutes")
    if minutes > MAX_RUNTIME_MINUTES:
        raise ValueError(
            f"runtime {value!r} is {minutes} minutes, over the limit of "
            f"{MAX_RUNTIME_MINUTES} (366 days); give minutes or Slurm's D-HH:MM:SS"
        )
    return minutes


def _tls_protocol(proto: str) -> str:
    if proto not in TLS_PROTOCOLS_KNOWN:
        raise ValueError(f"unknown TLS protocol '{proto}'; use TLSv1.2 and/or TLSv1.3")
    if proto not in TLS_PROTOCOLS_ALLOWED:
        raise ValueError(
            f"'{proto}' is older than TLS 1.2 and has known weaknesses; "
            "allow only TLSv1.2 and TLSv1.3"
        )
    return proto


def _no_wildcard(uri: str) -> str:
    if "*" in uri:
        raise ValueError(
            f"redirect URI '{uri}' has a wildcard: list exact URIs, "
            "a wildcard lets an attacker receive assertions"
        )
    return uri


HostName = Annotated[str, AfterValidator(_hostname)]
Name = Annotated[str, AfterValidator(_name)]
SlurmName = Annotated[str, AfterValidator(_slurm_name)]
WebUrl = Annotated[str, AfterValidator(_web_url)]
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]


def _matching(value: str, pattern: re.Pattern[str], problem: str) -> str:
    """`value` if the whole of it matches, else ValueError with the problem ('{}': value)."""
    if not pattern.fullmatch(value):
        raise ValueError(problem.format(value))
    return value


def _one_of(value: str, allowed: tuple[str, ...], problem: str) -> str:
    """`value` if allowed, else ValueError: the problem ('{}' is the value) and the choices."""
    if value not in allowed:
        raise ValueError(f"{problem.format(value)}; use one of {', '.join(allowed)}")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Minutes = Annotated[int, BeforeValidator(_runtime)]
TlsProtocol = Annotated[str, AfterValidator(_tls_protocol)]
RedirectUri = Annotated[str, AfterValidator(_https_url), AfterValidator(_no_wildcard)]


# --- sitehub_site --------------------------------------------------------------------------


class Site(Strict):
    name: Name = Field(description="Short site name, used in titles and file names.")
    title: str = Field(default="JupyterHub", description="Heading of the landing page.")
    description: str = Field(default="", description="One line under the landing page's heading.")
    public_hostname: HostName = Field(description="Host name users type in the browser.")
    public_port: int = Field(default=443, ge=1, le=65535)
    frontends: list[HostName] = Field(min_length=1, description="Inventory hosts running Apache.")
    demo: bool = Field(
        default=False,
        description="A throw-away demo: secrets may be generated at deploy time.",
    )
    support_url: WebUrl | None = None
    info_url: WebUrl | None = None


# --- sitehub_tls -----------------------------------------------------------------------


class Tls(Strict):
    source: Literal["generated_ca", "files"] = Field(
        description="generated_ca: a site CA made at deploy time (demo); files: site-provided."
    )
    cert_file: str | None = None
    key_file: str | None = None
    chain_file: str | None = None
    protocols: list[TlsProtocol] = Field(default_factory=lambda: list(TLS_PROTOCOLS_ALLOWED))
    hsts_max_age: int = Field(default=63072000, ge=0)

    @field_validator("protocols")
    @classmethod
    def _some_protocol(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one TLS protocol is needed: TLSv1.2 and/or TLSv1.3")
        return value

    @model_validator(mode="after")
    def _files_given(self) -> Tls:
        if self.source == "files" and not (self.cert_file and self.key_file):
            raise ValueError("source 'files' needs cert_file and key_file")
        return self


# --- sitehub_identity ------------------------------------------------------------------------


class OtpPolicy(Strict):
    type: Literal["totp"] = "totp"
    algorithm: str = Field(
        default="HmacSHA1", description="HmacSHA1 suits most authenticator apps."
    )
    digits: int = 6
    period: int = Field(default=30, description="Seconds a code is valid.")

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        return _one_of(value, OTP_ALGORITHMS, "OTP algorithm '{}' is not supported")

    @field_validator("digits")
    @classmethod
    def _digits(cls, value: int) -> int:
        if value not in (6, 8):
            raise ValueError(f"OTP codes must have 6 or 8 digits, not {value}")
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: int) -> int:
        if value not in OTP_PERIODS:
            raise ValueError(
                f"OTP period of {value} seconds: use 30 or 60 (authenticator apps assume 30; a "
                "longer period leaves each code guessable for longer)"
            )
        return value


class BruteForce(Strict):
    enabled: bool = True
    max_failures: int = Field(default=5, ge=1)
    wait_increment_seconds: int = Field(default=60, ge=1)
    max_wait_seconds: int = Field(default=900, ge=1)
    failure_reset_seconds: int = Field(default=43200, ge=1)
    permanent_lockout: bool = False

    @field_validator("max_failures")
    @classmethod
    def _few_failures(cls, value: int) -> int:
        if value > BRUTE_FORCE_MAX_FAILURES:
            raise ValueError(
                f"max_failures of {value} lets an attacker try {value} OTP codes before any "
                f"wait: use at most {BRUTE_FORCE_MAX_FAILURES} (5 is usual)"
            )
        return value

    @field_validator("wait_increment_seconds", "max_wait_seconds")
    @classmethod
    def _real_wait(cls, value: int, info: ValidationInfo) -> int:
        if value < BRUTE_FORCE_MIN_WAIT_SECONDS:
            raise ValueError(
                f"{info.field_name} of {value} seconds barely slows guessing: use at least "
                f"{BRUTE_FORCE_MIN_WAIT_SECONDS} (60 is usual)"
            )
        return value

    @model_validator(mode="after")
    def _wait_grows(self) -> BruteForce:
        if self.max_wait_seconds < self.wait_increment_seconds:
            raise ValueError(
                f"max_wait_seconds ({self.max_wait_seconds}) is below wait_increment_seconds "
                f"({self.wait_increment_seconds}): the wait could never grow; raise it"
            )
        if self.failure_reset_seconds < self.max_wait_seconds:
            raise ValueError(
                f"failure_reset_seconds ({self.failure_reset_seconds}) is below "
                f"max_wait_seconds ({self.max_wait_seconds}): failures would be forgotten "
                "before the longest wait ends; raise it"
            )
        return self

    @field_validator("enabled")
    @classmethod
    def _must_be_on(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "brute-force detection cannot be turned off: without it a 6-digit OTP "
                "can be guessed; tune max_failures/wait_increment_seconds instead"
            )
        return value


class Ldap(Strict):
    # start_tls comes first so that the url check below can see it.
    start_tls: bool = False
    url: str = Field(description="ldaps:// URL of the directory (or ldap:// with start_tls).")
    bind_dn: str
    users_dn: str
    username_attribute: str = "uid"
    uuid_attribute: str = "entryUUID"
    user_object_classes: list[str] = Field(default_factory=lambda: ["inetOrgPerson"])
    groups_dn: str | None = None

    @field_validator("url")
    @classmethod
    def _secure(cls, value: str, info: ValidationInfo) -> str:
        if not (value.startswith("ldaps://") or value.startswith("ldap://")):
            raise ValueError(f"'{value}' is not an ldap:// or ldaps:// URL")
        if value.startswith("ldap://") and not info.data.get("start_tls"):
            raise ValueError(
                f"'{value}' without start_tls sends bind passwords in the clear; "
                "use ldaps:// or set start_tls: true"
            )
        return value


class UserSource(Strict):
    type: Literal["local", "ldap"] = "local"
    ldap: Ldap | None = None

    @model_validator(mode="after")
    def _ldap_given(self) -> UserSource:
        if self.type == "ldap" and self.ldap is None:
            raise ValueError("type 'ldap' needs an 'ldap' block (url, bind_dn, users_dn)")
        return self


class Group(Strict):
    name: Name
    gid: int | None = Field(
        default=None, ge=1000, le=60000, description="POSIX gid on every host (demo users)."
    )


def _group(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class DemoUser(Strict):
    name: Name
    email: str | None = None
    groups: list[str] = Field(default_factory=list)
    uid: int = Field(ge=1000, le=60000)


class Identity(Strict):
    provider: Literal["keycloak"] = "keycloak"
    host: HostName = Field(description="Inventory host running Keycloak.")
    url: HttpsUrl = Field(
        description="Public https:// base URL of Keycloak: what browsers are sent to."
    )
    internal_url: HttpsUrl | None = Field(
        default=None,
        description="How the frontend reaches Keycloak inside the site (defaults to url).",
    )
    realm: Name
    metadata_url: HttpsUrl | None = Field(
        default=None, description="SAML IdP metadata; derived from url and realm when unset."
    )
    admin_url: HttpsUrl | None = Field(
        default=None,
        description="Keycloak's admin listener as operators reach it (admin console and API, "
        "the master realm); url's host on port 8445 when unset. The public url never "
        "serves them.",
    )
    admin_bind_address: str = Field(
        default="127.0.0.1",
        description="Address the admin listener binds to on the Keycloak host: loopback "
        "(operators come through SSH) or the operators' network interface; every address "
        "(0.0.0.0) only where nothing but operators reaches the host's network.",
    )
    admin_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Client addresses or networks (CIDR) the admin listener also accepts "
        "besides the Keycloak host itself; empty: any client that reaches its address.",
    )
    database: Literal["dev-file", "postgres"] = "postgres"
    mfa: OtpPolicy = Field(default_factory=OtpPolicy)
    brute_force: BruteForce = Field(default_factory=BruteForce)
    users: UserSource = Field(default_factory=UserSource)
    groups: list[Annotated[Group, BeforeValidator(_group)]] = Field(
        default_factory=list, description="Realm groups: a name, or name and POSIX gid."
    )
    demo_users: list[DemoUser] = Field(default_factory=list)
    extra_redirect_uris: list[RedirectUri] = Field(default_factory=list)

    @field_validator("admin_bind_address")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"admin_bind_address '{value}' is not an IP address (the admin listener "
                "binds to an address, e.g. 127.0.0.1 or the operators' interface)"
            ) from None
        return value

    @field_validator("admin_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"admin_allowed_networks: '{network}' is not an address or CIDR network"
                ) from None
        return value

    @property
    def idp_metadata_url(self) -> str:
        base = (self.internal_url or self.url).rstrip("/")
        return self.metadata_url or f"{base}/realms/{self.realm}/protocol/saml/descriptor"


# --- sitehub_clusters -------------------------------------------------------------------------


PROXY_API_OFFSET = 1  # an instance on port P: its proxy's API on P+1 (loopback)
HUB_API_OFFSET = 81  # and its hub API on P+81 (8000 -> 8081, as JupyterHub's defaults)


def instance_ports(port: int) -> dict[str, int]:
    """The three ports a hub instance on `port` takes on its host."""
    return {
        "port": port,
        "proxy_api_port": port + PROXY_API_OFFSET,
        "hub_port": port + HUB_API_OFFSET,
    }


MAX_INSTANCE_PORT = 65535 - max(PROXY_API_OFFSET, HUB_API_OFFSET)


class Instance(Strict):
    host: HostName = Field(description="Inventory host running this hub instance.")
    port: int = Field(ge=1, description="Port of the instance's proxy.")
    route: str = Field(description="Balancer route id, stored in the ROUTEID cookie.")

    @field_validator("port")
    @classmethod
    def _derived_ports_fit(cls, value: int) -> int:
        if value > MAX_INSTANCE_PORT:
            raise ValueError(
                f"port {value}: an instance on port P also uses P+{PROXY_API_OFFSET} and "
                f"P+{HUB_API_OFFSET}, so P can be at most {MAX_INSTANCE_PORT}"
            )
        return value

    @field_validator("route")
    @classmethod
    def _route(cls, value: str) -> str:
        if "." in value:
            raise ValueError(
                f"route id '{value}' contains '.': Apache reads the route from the text "
                "after the first '.' of the ROUTEID cookie, so a dotted id never matches"
            )
        if not ROUTE_RE.fullmatch(value):
            raise ValueError(f"route id '{value}' may hold only letters, digits, '_' and '-'")
        if len(value) > ROUTE_MAX:
            raise ValueError(
                f"route id '{value}' has {len(value)} characters, at most {ROUTE_MAX}: with the "
                "segment it names the instance's systemd units"
            )
        return value


class Partition(Strict):
    name: SlurmName
    max_runtime: Minutes = Field(description="Longest runtime offered, minutes or D-HH:MM:SS.")
    gpu_types: list[SlurmName] = Field(default_factory=list)
    accounts: list[SlurmName] = Field(default_factory=list, description="Empty: any account.")
    qos: list[SlurmName] = Field(default_factory=list, description="Empty: the account's QOS.")
    description: str | None = None


class HtcondorPool(Strict):
    central_manager: HostName
    schedd: str | None = Field(default=None, description="Remote schedd name; local when unset.")
    version: str = "24.0"
    packages: Literal["htcondor", "debian"] = Field(
        default="htcondor",
        description="HTCondor's own apt repository for `version` (or repository_url), or "
        "the hosts' Debian release, whose htcondor package must be of the `version` series.",
    )
    security: Literal["idtokens", "ssl", "kerberos"] = "idtokens"
    accounting_groups: list[str] = Field(default_factory=list)
    gpu_capabilities: list[str] = Field(default_factory=list)
    gpu_devices: list[str] = Field(default_factory=list)
    max_cpus: int = Field(default=8, ge=1)
    max_memory_gb: int = Field(default=32, ge=1)
    max_runtime: Minutes = 720
    repository_url: str | None = None
    accounting_group_members: dict[str, list[Name]] = Field(
        default_factory=dict,
        description="Realm groups whose members may charge each accounting group; rendered "
        "into the pool's user map (demo users) and enforced by the schedd at submit.",
    )

    @field_validator("gpu_capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        for capability in value:
            if not re.fullmatch(r"\d{1,2}\.\d{1,2}", capability):
                raise ValueError(
                    f"GPU capability '{capability}' must look like 8.0 (CUDA major.minor)"
                )
        return value

    @field_validator("gpu_devices", "accounting_groups")
    @classmethod
    def _classad_safe(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item or re.search(r"[\"'\\$\n\r]", item):
                raise ValueError(
                    f"'{item}' cannot hold quotes, backslashes, '$' or line breaks: it is "
                    "written into HTCondor submit descriptions and ClassAd expressions"
                )
        return value

    @field_validator("schedd")
    @classmethod
    def _schedd_name(cls, value: str | None) -> str | None:
        # the htcondor_submit role asserts the same pattern (SCHEDD_HOST in its config)
        if value is not None and not SCHEDD_RE.fullmatch(value):
            raise ValueError(
                f"schedd '{value}' is not a schedd name: letters, digits, '.', '@', '_' and '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", value):
            raise ValueError(f"HTCondor version '{value}' must look like 24.0 or 24.0.3")
        return value


class FormOptions(Strict):
    discover: bool = Field(
        default=False, description="Read partitions, accounts and QOS from the scheduler."
    )
    partitions: list[Partition] = Field(default_factory=list)
    accounts: list[SlurmName] = Field(default_factory=list)
    qos: list[SlurmName] = Field(default_factory=list)
    gpu_types: list[SlurmName] = Field(default_factory=list)
    default_runtime: Minutes = 60
    run_locally: bool = Field(default=True, description="Offer 'run locally' on the hub host.")


class Image(Strict):
    name: Name
    ref: str = Field(description="Apptainer image path or container image reference.")
    description: str | None = None

    @field_validator("ref")
    @classmethod
    def _ref_safe(cls, value: str) -> str:
        return _matching(
            value,
            IMAGE_REF,
            "image reference '{}' must be a path or URI without spaces, quotes or shell "
            "characters, not starting with '-': it is written into batch scripts",
        )


class ContainerSettings(Strict):
    """How servers run inside the image a user chose (images, image_dirs): on Slurm, the
    batch script's runtime command; on HTCondor, the container universe, where `binds`
    become the execute nodes' Apptainer binds (the other settings are the pool's own)."""

    runtime: str = Field(default="apptainer", description="apptainer, or podman (test hosts).")
    binds: list[str] = Field(
        default_factory=list,
        description="Host paths inside the container, 'src[:dest][:ro]' (Apptainer's syntax).",
    )
    options: list[str] = Field(
        default_factory=list, description="Extra runtime options, e.g. --nv for GPUs."
    )
    server_cmd: list[str] = Field(
        default_factory=list,
        description="The server's argv inside the image; empty: the notebook environment's "
        "own, which then must be bound in.",
    )

    @field_validator("runtime")
    @classmethod
    def _runtime_known(cls, value: str) -> str:
        return _one_of(value, RUNTIMES, "container runtime '{}' unknown")

    @field_validator("binds")
    @classmethod
    def _binds_parse(cls, value: list[str]) -> list[str]:
        for spec in value:
            Bind.parse(spec)  # ValueError names the bind and what is wrong with it
        return value


class Cluster(Strict):
    segment: str = Field(description="URL segment: the hubs live under /jupyterhub/<segment>/.")
    title: str
    description: str = ""
    info_url: WebUrl | None = None
    scheduler: str
    instances: list[Instance] = Field(min_length=1)
    options: FormOptions = Field(default_factory=FormOptions)
    htcondor: HtcondorPool | None = None
    images: list[Image] = Field(default_factory=list)
    image_dirs: list[str] = Field(default_factory=list)
    container: ContainerSettings = Field(default_factory=ContainerSettings)
    kernels: list[Name] = Field(default_factory=list)
    admin_users: list[Name] = Field(default_factory=list)
    idle_timeout_minutes: int = Field(default=120, ge=5)

    @field_validator("segment")
    @classmethod
    def _segment(cls, value: str) -> str:
        if len(value) > SEGMENT_MAX:
            raise ValueError(
                f"segment '{value}' has {len(value)} characters, at most {SEGMENT_MAX}: it names "
                "the instances' systemd units, directories and batch jobs"
            )
        return _matching(
            value,
            SEGMENT_RE,
            "segment '{}' must match ^[a-z0-9-]+$ (lower-case letters, digits, '-'): "
            "it becomes the URL path /jupyterhub/<segment>/ and cookie paths",
        )

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str) -> str:
        if value not in SCHEDULERS:
            raise ValueError(
                f"unknown scheduler '{value}'; supported schedulers: {', '.join(SCHEDULERS)}"
            )
        return value

    @property
    def base_url(self) -> str:
        return f"/jupyterhub/{self.segment}/"


# --- sitehub_kernels -----------------------------------------------------------------------


class Kernel(Strict):
    name: Name = Field(max_length=KERNEL_NAME_MAX)
    display_name: str
    language: str = "python"
    setup_scripts: list[AbsolutePath] = Field(
        default_factory=list, description="Scripts sourced before the kernel starts."
    )
    setup_args: dict[str, list[str]] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    argv: list[str] = Field(
        default_factory=lambda: ["python3", "-m", "ipykernel_launcher"],
        description="Interpreter command; '-f {connection_file}' is appended.",
    )
    image: str | None = None

    @field_validator("image")
    @classmethod
    def _image_ref(cls, value: str | None) -> str | None:
        if value is None:
            return value
        return _matching(
            value,
            IMAGE_REF,
            "kernel image '{}' must be a path or image reference without spaces, quotes or "
            "shell characters, not starting with '-' (it would be read as an option)",
        )

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"'{key}' is not a valid environment variable name")
        return value

    @field_validator("unset")
    @classmethod
    def _unset_names(cls, value: list[str]) -> list[str]:
        return list(cls._env_names(dict.fromkeys(value, "")).keys())


# --- the whole site ------------------------------------------------------------------------


class SiteModel(Strict):
    """Everything one site declares. Keys are the inventory variable names."""

    sitehub_site: Site
    sitehub_tls: Tls
    sitehub_identity: Identity
    sitehub_clusters: list[Cluster] = Field(min_length=1)
    sitehub_kernels: list[Kernel] = Field(default_factory=list)
    sitehub_secrets: dict[str, Any] = Field(default_factory=dict)


SITE_VARIABLES = tuple(SiteModel.model_fields)
REQUIRED_SITE_VARIABLES = tuple(
    name for name, field in SiteModel.model_fields.items() if field.is_required()
)
