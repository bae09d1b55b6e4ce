"""Collect an audit of a site from its inventory, the roles' defaults and sitehub's derivations.

Nothing here restates a setting the code owns: the frontend's values come from the frontend
role's files through `sitehub.render.frontend.template_vars` (the same values its templates
see), hub instances and their ports and secrets from `sitehub.deploy.hub_instances`, the other
roles' values from their defaults/main.yml, the recommended MFA and brute-force settings from
the model's defaults, the spawn form's choices from `sitehub.hub.options.build_model`. The few
figures that no file of this project sets (Keycloak's own session defaults, JupyterHub's cookie
age) are named as upstream defaults, and `sitehub audit --live` checks them on the hosts.

No host is touched and no vaulted value is decrypted: secrets are passed to the derivations as
their names, and only their names and origins reach the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from sitehub import deploy
from sitehub.audit.model import (
    LOCAL_ONLY,
    NO_LOGIN,
    SAML_LOGIN,
    AuthChain,
    Departure,
    Grant,
    Listener,
    Member,
    PublicPath,
    Report,
    Secret,
    SessionLayer,
    TlsProfile,
)
from sitehub.inventory.loader import (
    LoadedInventory,
    is_inline_vaulted,
    is_vault_file,
    is_vaulted,
    origin_of,
)
from sitehub.inventory.model import BruteForce, Cluster, Identity, OtpPolicy, SiteModel, Tls
from sitehub.inventory.validate import _display_path, required_secrets
from sitehub.render.frontend import template_vars
from sitehub.render.urlspace import BalancerMember
from sitehub.wheelhouse import repo_root

# Keycloak's own realm defaults (26.x): keycloak_realm does not set these, so they apply.
KEYCLOAK_SSO_IDLE_SECONDS = 1800
KEYCLOAK_SSO_MAX_SECONDS = 36000
# Debian's mariadb-server listens here, on loopback only (slurm_testbed keeps its defaults).
MARIADB_PORT = 3306
ALL_ADDRESSES = ("0.0.0.0", "*", "::", "[::]", "")  # noqa: S104 (names, not binds)
# Host variables the audit reads besides the site model (demo test hosts, demo Slurm).
HOST_VARIABLE_PREFIXES = ("slurm_testbed_", "sitehub_test_publish")


def role_path(role: str, rel: str) -> Path:
    return repo_root(Path(__file__).parent) / "roles" / role / rel


def role_defaults(role: str) -> dict[str, Any]:
    path = role_path(role, "defaults/main.yml")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _template_setting(role: str, template: str, pattern: str) -> str:
    """A value a role's template writes literally (e.g. CHP's --api-ip), by regex group 1."""
    text = role_path(role, f"templates/{template}").read_text(encoding="utf-8")
    found = re.search(pattern, text)
    if not found:
        raise ValueError(f"roles/{role}/templates/{template}: no match for {pattern!r}")
    return found.group(1)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "no limit"
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- secrets passed to the derivations by name ------------------------------------------------


@contextmanager
def recorded_derivations() -> Iterator[None]:
    """Run sitehub.deploy's derivations with markers instead of HMACs.

    sitehub.deploy derives per-instance secrets from site secrets; given the site secrets'
    names, the marker says which site secret and which purpose each derived value comes
    from, so the report follows what deploy.py does without restating it.
    """
    original = deploy.derive_secret

    def marker(site_secret: str, purpose: str) -> str:
        return f"{DERIVED}{site_secret}|{purpose}"

    deploy.derive_secret = marker
    try:
        yield
    finally:
        deploy.derive_secret = original


DERIVED = "<derived>"
NAMES_AS_SECRETS = {
    name: name for name in ("hub_cookie_secret", "hub_crypt_key", "hub_proxy_token")
}


def derived_from(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and value.startswith(DERIVED):
        secret, purpose = value[len(DERIVED) :].split("|", 1)
        return secret, purpose
    return None


def instances_of(site: SiteModel, host: str) -> list[dict[str, Any]]:
    with recorded_derivations():
        return deploy.hub_instances(site.sitehub_clusters, host, NAMES_AS_SECRETS)


def hub_hosts(site: SiteModel) -> list[str]:
    return list(dict.fromkeys(i.host for c in site.sitehub_clusters for i in c.instances))


# --- the report -------------------------------------------------------------------------------


def audit_site(
    loaded: LoadedInventory, site: SiteModel, host_vars: dict[str, dict[str, Any]] | None = None
) -> Report:
    host_vars = host_vars or {}
    fv = template_vars(site, inventory_dir=_display_path(loaded.source))
    report = Report(
        site=site.sitehub_site.name,
        title=site.sitehub_site.title,
        inventory=_display_path(loaded.source),
        public_url=fv["__frontend_public_url"],
        demo=site.sitehub_site.demo,
    )
    report.paths = public_paths(site, fv)
    report.auth = [auth_chain(site, fv, report.paths)]
    report.grants = grants(site, host_vars)
    report.listeners = listeners(site, loaded, fv, host_vars)
    report.tls = tls_profiles(site, fv)
    report.secrets = secrets(site, loaded, fv)
    report.departures = departures(site, fv) + form_departures(site, report.grants)
    report.notes = notes(site, loaded)
    return report


def public_paths(site: SiteModel, fv: dict[str, Any]) -> list[PublicPath]:
    base = fv["__frontend_public_url"]
    mellon = fv["frontend_mellon_endpoint_path"]
    paths = [
        PublicPath(
            url=f"http://{site.sitehub_site.public_hostname}:{fv['frontend_http_port']}/",
            path="http:*",
            served_by="Apache (plain HTTP)",
            login=NO_LOGIN,
            why="only redirects to the https:// site (HSTS keeps browsers from coming back)",
        ),
        PublicPath(
            url=f"{base}/",
            path="/",
            served_by=f"Apache: landing page from {fv['frontend_docroot']}",
            login=NO_LOGIN,
            why="lists the clusters and links to them; mellon runs in 'info' mode here, so "
            "the page holds no user data",
        ),
        PublicPath(
            url=f"{base}/errors/",
            path="/errors/",
            served_by="Apache: static error pages",
            login=NO_LOGIN,
            why="shown when a hub instance does not answer; static text",
        ),
        PublicPath(
            url=f"{base}{mellon}/",
            path=f"{mellon}/",
            served_by="mod_auth_mellon: SP metadata, login, assertion consumer, logout",
            login=NO_LOGIN,
            why="the SAML endpoints must answer before anyone is logged in; ReturnTo may "
            f"point only at this site (MellonRedirectDomains "
            f"{' '.join(fv['frontend_mellon_redirect_domains'])})",
        ),
        PublicPath(
            url=f"{base}{fv['frontend_logout_path']}",
            path=fv["frontend_logout_path"],
            served_by="Apache: expires every cluster's hub cookies, then mellon and Keycloak "
            "logout (SAML single logout)",
            login=NO_LOGIN,
            why="logging out must work with any (or no) session; it only removes cookies",
        ),
        PublicPath(
            url=f"{base}/jupyterhub",
            path="/jupyterhub",
            served_by="Apache: redirect to the landing page",
            login=NO_LOGIN,
            why="a redirect only",
        ),
    ]
    owner_only = fv["frontend_user_servers_owner_only"]
    for cluster, space in zip(site.sitehub_clusters, fv["__frontend_url_spaces"], strict=True):
        members = tuple(
            Member(
                instance=deploy.instance_name(cluster, instance),
                host=m["host"],
                port=m["port"],
                route=m["route"],
                url=m["url"],
                health_check=BalancerMember(**m).health_check_path,
            )
            for instance, m in zip(cluster.instances, space["members"], strict=True)
        )
        paths.append(
            PublicPath(
                url=f"{base}{space['path']}",
                path=space["path"],
                served_by=f"JupyterHub cluster {cluster.segment} ({cluster.scheduler}): "
                f"{len(members)} instance(s)",
                login=SAML_LOGIN,
                why="Location /jupyterhub/ requires a valid mellon session"
                + (
                    f"; {space['path']}user/<name>/ answers its owner only"
                    if owner_only
                    else "; any logged-in user may reach any user's server URL"
                ),
                cluster=cluster.segment,
                balancer=space["balancer"],
                sticky=f"{space['cookie_name']} cookie ({space['cookie_attributes']})",
                failover=(
                    "a user whose instance fails moves to a healthy one (new hub login there)"
                    if fv["frontend_balancer_failover"]
                    else "no failover: the instance's users see 'hub unavailable'"
                )
                + f"; health check every {fv['frontend_hcheck_interval']} s, out after "
                f"{fv['frontend_hcheck_fails']} failures",
                members=members,
            )
        )
    paths.append(
        PublicPath(
            url=f"{base}/balancer-manager",
            path="/balancer-manager",
            served_by="Apache balancer manager (can take hub instances out)",
            login=LOCAL_ONLY,
            why="Require local: administration from the frontend host only",
        )
    )
    identity = site.sitehub_identity
    paths.append(
        PublicPath(
            url=f"{identity.url.rstrip('/')}/realms/{identity.realm}/",
            path=f"/realms/{identity.realm}/",
            served_by=f"Keycloak on {identity.host}: login pages, TOTP enrollment, SAML IdP",
            login=NO_LOGIN,
            why="where the login happens; guarded by brute-force detection",
        )
    )
    # the role's default when the inventory names none: the public host on the admin port
    admin = str(identity.admin_url or "").rstrip("/") or (
        f"https://{urlsplit(identity.url).hostname}:{role_defaults('keycloak')['keycloak_admin_port']}"
    )
    paths.append(
        PublicPath(
            url=f"{admin}/admin/",
            path="/admin/",
            served_by=f"Keycloak's admin listener on {identity.host} (Apache before Keycloak): "
            "admin console, admin API, master realm",
            login="Keycloak master-realm administrator",
            why=f"not on the public listener ({identity.url} answers 404 for /admin/ and "
            f"/realms/master/); the admin listener binds {identity.admin_bind_address}",
        )
    )
    return paths


def _otp_strength(mfa: OtpPolicy, look_ahead: int) -> str:
    window = (2 * look_ahead + 1) * mfa.period
    return (
        f"TOTP {mfa.algorithm}, {mfa.digits} digits: 1 in {10**mfa.digits:,} per guess; a code "
        f"is accepted for up to {window} s ({2 * look_ahead + 1} periods of {mfa.period} s, "
        f"look-ahead {look_ahead}); mandatory for every user (password AND OTP flow)"
    )


def auth_chain(site: SiteModel, fv: dict[str, Any], paths: list[PublicPath]) -> AuthChain:
    identity = site.sitehub_identity
    realm = role_defaults("keycloak_realm")
    bf = identity.brute_force
    users = identity.users
    if users.type == "ldap" and users.ldap is not None:
        source = (
            f"LDAP {users.ldap.url} (users under {users.ldap.users_dn}"
            + (f", groups under {users.ldap.groups_dn}" if users.ldap.groups_dn else "")
            + f", bind as {users.ldap.bind_dn}"
            + (", StartTLS" if users.ldap.start_tls else "")
            + ")"
        )
    else:
        names = ", ".join(u.name for u in identity.demo_users) or "none"
        source = f"local Keycloak users (demo users: {names})"
    mellon_len = int(fv["frontend_mellon_session_length"])
    mellon_idle = int(fv["frontend_mellon_session_idle_timeout"])
    hub_cookie_days = _jupyterhub_cookie_days()
    sessions = (
        SessionLayer(
            layer="Keycloak SSO session",
            idle_seconds=KEYCLOAK_SSO_IDLE_SECONDS,
            max_seconds=KEYCLOAK_SSO_MAX_SECONDS,
            source="Keycloak's realm defaults (keycloak_realm does not set them)",
            effect="the next SAML login asks for password and TOTP again",
        ),
        SessionLayer(
            layer="mellon session (the site's login)",
            idle_seconds=None if mellon_idle < 0 else mellon_idle,
            max_seconds=mellon_len,
            source="roles/frontend defaults (frontend_mellon_session_*)",
            effect="every /jupyterhub/ path sends the browser to Keycloak again",
        ),
        SessionLayer(
            layer="hub login cookie (jupyterhub-hub-login, per cluster)",
            idle_seconds=None,
            max_seconds=min(mellon_len, hub_cookie_days * 86400),
            source=f"JupyterHub's cookie_max_age_days ({hub_cookie_days} d), capped by the "
            f"frontend to the mellon session length ({_duration(mellon_len)})",
            effect="the hub logs the user in again from the frontend's header (no prompt "
            "while the mellon session lasts)",
        ),
    )
    culler = sorted(
        {(c.segment, c.idle_timeout_minutes) for c in site.sitehub_clusters}, key=lambda x: x[0]
    )
    sessions += tuple(
        SessionLayer(
            layer=f"notebook server on cluster {segment} (idle culler)",
            idle_seconds=minutes * 60,
            max_seconds=None,
            source="sitehub_clusters[].idle_timeout_minutes",
            effect="the server is stopped; the user's files stay",
        )
        for segment, minutes in culler
    )
    gates = sessions[:3]
    first_idle = min((s for s in gates if s.idle_seconds), key=lambda s: s.idle_seconds or 0)
    first_max = min((s for s in gates if s.max_seconds), key=lambda s: s.max_seconds or 0)
    ends_first = (
        f"Idle: the {first_idle.layer} ends first, after {_duration(first_idle.idle_seconds)} "
        f"({first_idle.effect}). At the latest: the {first_max.layer} ends after "
        f"{_duration(first_max.max_seconds)} ({first_max.effect}); no hub cookie outlives it "
        "in the browser."
    )
    return AuthChain(
        paths=tuple(p.path for p in paths if p.login == SAML_LOGIN),
        sp_entity_id=fv["frontend_mellon_entity_id"],
        sp_endpoints=f"{fv['__frontend_public_url']}{fv['frontend_mellon_endpoint_path']}/",
        sp_signature=f"{fv['frontend_mellon_signature_method']}, SP key RSA "
        f"{fv['frontend_mellon_sp_key_size']} bits; realm signs with "
        f"{realm['keycloak_realm_saml_signature_algorithm']}",
        idp=f"Keycloak on {identity.host}, {identity.url}",
        realm=identity.realm,
        idp_metadata=identity.idp_metadata_url,
        user_source=source,
        mfa=identity.mfa.model_dump()
        | {"look_ahead": realm["keycloak_realm_otp_look_ahead_window"]},
        mfa_strength=_otp_strength(
            identity.mfa, int(realm["keycloak_realm_otp_look_ahead_window"])
        ),
        brute_force=bf.model_dump()
        | {
            "quick_login_check_milliseconds": realm[
                "keycloak_realm_brute_force_quick_login_check_milliseconds"
            ],
            "minimum_quick_login_wait_seconds": realm[
                "keycloak_realm_brute_force_minimum_quick_login_wait_seconds"
            ],
        },
        password_policy=(
            realm["keycloak_realm_password_policy"]
            if users.type == "local"
            else "the directory's own (LDAP)"
        ),
        hub_trust=f"the frontend sets {fv['frontend_user_header']} from the mellon user only, "
        f"after removing every spelling of it from the client's request; the hubs accept it only "
        f"from the frontends' addresses and with the secret header "
        f"{fv['frontend_hub_secret_header']}",
        sessions=sessions,
        ends_first=ends_first,
    )


def _jupyterhub_cookie_days() -> int:
    from jupyterhub.app import JupyterHub

    return int(JupyterHub.cookie_max_age_days.default_value)


# --- who may use what ---------------------------------------------------------------------------


def grants(site: SiteModel, host_vars: dict[str, dict[str, Any]]) -> list[Grant]:
    identity = site.sitehub_identity
    hub_defaults = role_defaults("jupyterhub")
    everyone = f"every user of realm {identity.realm}"
    out: list[Grant] = []
    for group in identity.groups:
        members = [u.name for u in identity.demo_users if group.name in u.groups]
        if members:
            for name in members:
                out.append(Grant(f"user {name}", "group", group.name, "", "realm group membership"))
        elif identity.users.type == "ldap":
            out.append(
                Grant(
                    f"members in {identity.users.ldap.groups_dn or 'the directory'}",
                    "group",
                    group.name,
                    "",
                    "LDAP group membership",
                )
            )
    if identity.users.type == "ldap" and identity.users.ldap is not None:
        members = f"LDAP users under {identity.users.ldap.users_dn}"
    else:
        members = "local users: " + (", ".join(u.name for u in identity.demo_users) or "none")
    for cluster in site.sitehub_clusters:
        seg = cluster.segment
        who = (
            f"{everyone} ({members})"
            if hub_defaults["jupyterhub_allow_all"]
            else "users in jupyterhub_allowed_users"
        )
        out.append(
            Grant(who, "cluster", seg, seg, "mellon valid-user; hubs allow_all (jupyterhub role)")
        )
        for admin in [*hub_defaults["jupyterhub_admin_users"], *cluster.admin_users]:
            out.append(Grant(f"user {admin}", "hub admin rights", "", seg, "admin_users"))
        out += _cluster_resources(cluster, identity, everyone)
    out += _testbed_grants(site, host_vars)
    return out


def _cluster_resources(cluster: Cluster, identity: Identity, everyone: str) -> list[Grant]:
    seg = cluster.segment
    out: list[Grant] = []
    opts = cluster.options
    if cluster.scheduler == "slurm":
        if opts.discover:
            out.append(
                Grant(
                    "each user",
                    "partitions, accounts and QOS",
                    "that Slurm's associations allow (discover: true, read at spawn time)",
                    seg,
                    "Slurm",
                )
            )
        for part in opts.partitions:
            accounts = part.accounts or opts.accounts or ["any account"]
            for account in accounts:
                out.append(
                    Grant(
                        f"account {account}",
                        "partition",
                        part.name,
                        seg,
                        "inventory partition accounts; per user: Slurm associations",
                        f"QOS {', '.join(part.qos or opts.qos) or 'the association default'}; "
                        f"up to {part.max_runtime} min",
                    )
                )
            for gpu in part.gpu_types:
                out.append(
                    Grant(f"partition {part.name}", "GPU type", gpu, seg, "inventory gpu_types")
                )
    if cluster.scheduler == "htcondor" and cluster.htcondor is not None:
        pool = cluster.htcondor
        limits = f"up to {pool.max_cpus} CPUs, {pool.max_memory_gb} GB, {pool.max_runtime} min"
        members = pool.accounting_group_members
        for group in pool.accounting_groups:
            via = f"inventory accounting_groups; pool {pool.central_manager}"
            if group not in members:
                who = [f"{everyone} (as the pool's user map allows)"]
            else:
                # the schedd enforces it with the pool's user map (sitehub.deploy)
                via = "accounting_group_members, enforced by the schedd's user map"
                who = [f"group {g}" for g in members[group]]
            for subject in who:
                out.append(Grant(subject, "HTCondor accounting group", group, seg, via, limits))
        if members and identity.demo_users:
            for user, groups in deploy.htcondor_group_map(cluster, identity).items():
                for group in groups:
                    out.append(
                        Grant(
                            f"user {user}",
                            "HTCondor accounting group",
                            group,
                            seg,
                            "the pool's user map (sitehub.deploy.htcondor_group_map)",
                            limits,
                        )
                    )
        for cap in pool.gpu_capabilities:
            out.append(Grant(everyone, "GPU capability", f">= {cap}", seg, "gpu_capabilities"))
        for device in pool.gpu_devices:
            out.append(Grant(everyone, "GPU device", device, seg, "gpu_devices"))
    for image in cluster.images:
        out.append(Grant(everyone, "image", image.name, seg, "images", image.ref))
    for folder in cluster.image_dirs:
        out.append(Grant(everyone, "images in", folder, seg, "image_dirs (*.sif)"))
    for kernel in cluster.kernels:
        out.append(Grant(everyone, "kernel", kernel, seg, "kernels"))
    if cluster.scheduler in deploy.BATCH_SCHEDULERS and opts.run_locally:
        out.append(
            Grant(everyone, "servers", "on the hub host (run locally)", seg, "options.run_locally")
        )
    return out


def _testbed_grants(site: SiteModel, host_vars: dict[str, dict[str, Any]]) -> list[Grant]:
    """The demo's own Slurm (slurm_testbed): what each demo user's spawn form offers."""
    from sitehub.hub import slurm

    tb = next((v for v in host_vars.values() if "slurm_testbed_users" in v), None)
    if tb is None:
        return []
    partitions = [
        slurm.Partition(
            name=p["name"],
            max_minutes=slurm.parse_time_minutes(str(p.get("max_time", "UNLIMITED"))),
            default=bool(p.get("default", False)),
            allow_accounts=frozenset(p["allow_accounts"]) if "allow_accounts" in p else None,
            allow_groups=frozenset(p["allow_groups"]) if "allow_groups" in p else None,
            allow_qos=frozenset(p["allow_qos"]) if "allow_qos" in p else None,
        )
        for p in tb.get("slurm_testbed_partitions", [])
    ]
    raw_parts = tb.get("slurm_testbed_partitions", [])
    nodes = [
        slurm.Node(
            name=n["name"],
            addr=n["name"],
            # as slurm.conf.j2 writes them: a partition without `nodes` spans every node
            partitions=tuple(
                p["name"] for p in raw_parts if n["name"] in (p.get("nodes") or [n["name"]])
            ),
            gres=tuple(
                slurm.Gres(g.get("name", "gpu"), g.get("type", ""), int(g.get("count", 1)))
                for g in n.get("gres", [])
            ),
            state="IDLE",
        )
        for n in tb.get("slurm_testbed_compute_hosts", [])
    ]
    assocs = [
        slurm.Association(
            cluster="",
            account=a["account"],
            user=user["name"],
            partition=a.get("partition", ""),
            qos=tuple(a.get("qos", [])),
            default_qos=a.get("default_qos", ""),
        )
        for user in tb.get("slurm_testbed_users", [])
        for a in user.get("associations", [])
    ]
    groups = {u.name: list(u.groups) for u in site.sitehub_identity.demo_users}
    return slurm_grants(site, partitions, nodes, assocs, groups, TESTBED_VIA)


TESTBED_VIA = "demo Slurm (slurm_testbed_*), as the spawn form computes it"


def slurm_grants(
    site: SiteModel,
    partitions: list[Any],
    nodes: list[Any],
    assocs: list[Any],
    user_groups: dict[str, list[str]],
    via: str,
) -> list[Grant]:
    """What Slurm lets each user choose in the spawn form of every Slurm cluster, computed
    with the spawner's own sitehub.hub.options.build_model (also from live Slurm answers)."""
    from sitehub.hub import options

    clusters = [c.segment for c in site.sitehub_clusters if c.scheduler == "slurm"]
    out: list[Grant] = []
    for p in partitions:
        for group in sorted(p.allow_groups or ()):
            out += [Grant(f"group {group}", "partition", p.name, seg, via) for seg in clusters]
    for user in sorted({a.user for a in assocs}):
        form = options.build_model(
            partitions,
            nodes,
            [a for a in assocs if a.user == user],
            user_groups=user_groups.get(user, []),
        )
        for choice in form.partitions:
            accounts = "; ".join(f"{a.name} (QOS {', '.join(a.qos)})" for a in choice.accounts)
            detail = (
                f"accounts {accounts}; GPU types {', '.join(choice.gpu_types) or 'none'}; "
                f"up to {choice.max_minutes} min"
            )
            names = tuple(a.name for a in choice.accounts)
            out += [
                Grant(f"user {user}", "partition", choice.name, seg, via, detail, names)
                for seg in clusters
            ]
    return out


# --- listeners and TLS -----------------------------------------------------------------------


def listeners(
    site: SiteModel, loaded: LoadedInventory, fv: dict[str, Any], host_vars: dict[str, Any]
) -> list[Listener]:
    out: list[Listener] = []
    tls_front = "TLS " + ", ".join(site.sitehub_tls.protocols)
    for host in site.sitehub_site.frontends:
        out.append(
            Listener(
                host,
                int(fv["frontend_http_port"]),
                "*",
                "Apache (HTTP)",
                "anyone: redirects to https only",
            )
        )
        out.append(
            Listener(
                host,
                int(fv["frontend_https_port"]),
                "*",
                "Apache (HTTPS): the site",
                "anyone (public)",
                tls_front,
            )
        )
    kc = role_defaults("keycloak")
    identity = site.sitehub_identity
    kc_tls = "TLS " + ", ".join(kc["keycloak_https_protocols"])
    out.append(
        Listener(
            identity.host,
            int(kc["keycloak_https_port"]),
            "*",
            f"Apache before Keycloak, public: /realms/{identity.realm}/, /resources/, /js/ only",
            "anyone (browsers log in here); the frontend fetches the IdP metadata",
            kc_tls,
        )
    )
    out.append(
        Listener(
            identity.host,
            int(kc["keycloak_admin_port"]),
            identity.admin_bind_address,
            "Apache before Keycloak, admin: admin console and API, master realm",
            "operators (keycloak_admin_host, keycloak_admin_allowed); the Keycloak host",
            kc_tls,
        )
    )
    out.append(
        Listener(
            identity.host,
            int(kc["keycloak_backend_port"]),
            kc["keycloak_http_host"],
            "Keycloak (HTTPS), behind the two Apache listeners",
            "the Keycloak host only",
            kc_tls,
        )
    )
    out.append(
        Listener(
            identity.host,
            int(kc["keycloak_management_port"]),
            kc["keycloak_management_host"] or kc["keycloak_http_host"],
            "Keycloak management: health, metrics",
            "the Keycloak host only (keycloak_management_host: the monitoring network)",
        )
    )
    api_ip = _template_setting("jupyterhub", "proxy.env.j2", r"--api-ip (\S+)")
    frontends = ", ".join(site.sitehub_site.frontends)
    for host in hub_hosts(site):
        for inst in instances_of(site, host):
            batch = inst["scheduler"] in deploy.BATCH_SCHEDULERS
            out.append(
                Listener(
                    host,
                    inst["port"],
                    inst["bind_address"],
                    f"configurable-http-proxy of {inst['name']}",
                    f"the frontend ({frontends}); the hub refuses the user header from "
                    "any other address and without the frontend secret",
                )
            )
            out.append(
                Listener(
                    host,
                    inst["proxy_api_port"],
                    api_ip,
                    f"proxy API of {inst['name']}",
                    "this host only (the hub), with a token",
                )
            )
            out.append(
                Listener(
                    host,
                    inst["hub_port"],
                    inst["hub_bind_address"],
                    f"hub API of {inst['name']}",
                    "the proxy and batch jobs on compute nodes, with API tokens"
                    if batch
                    else "this host only (the proxy and local servers)",
                )
            )
    for cluster in site.sitehub_clusters:
        if cluster.htcondor is None:
            continue
        for inst in cluster.instances:
            if cluster.htcondor.schedd:
                what = f"condor_master only; jobs go to the remote schedd {cluster.htcondor.schedd}"
            else:
                what = "condor_master and a local condor_schedd"
            out.append(
                Listener(
                    inst.host,
                    0,
                    "*",
                    f"HTCondor ({what})",
                    f"the pool {cluster.htcondor.central_manager}, authenticated with "
                    f"{cluster.htcondor.security} (port chosen by HTCondor)",
                )
            )
    out += _testbed_listeners(loaded, host_vars)
    out += _demo_pool_listeners(site, loaded)
    for host, hvars in sorted(host_vars.items()):
        for publish in hvars.get("sitehub_test_publish") or []:
            outer, _, inner = str(publish).rpartition(":")
            out.append(
                Listener(
                    "controller (this machine)",
                    int(outer.rsplit(":", 1)[-1]),
                    outer.rsplit(":", 1)[0],
                    f"podman port forward to {host}:{inner}",
                    "this machine's users (loopback)"
                    if outer.startswith("127.")
                    else "anyone who reaches this machine",
                )
            )
    return _unique(out)


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _testbed_listeners(loaded: LoadedInventory, host_vars: dict[str, Any]) -> list[Listener]:
    tb = next((v for v in host_vars.values() if "slurm_testbed_controller_host" in v), None)
    if tb is None:
        return []
    conf = "slurm.conf.j2"
    ctl = int(_template_setting("slurm_testbed", conf, r"SlurmctldPort=(\d+)"))
    slurmd = int(_template_setting("slurm_testbed", conf, r"SlurmdPort=(\d+)"))
    dbd = int(_template_setting("slurm_testbed", "slurmdbd.conf.j2", r"DbdPort=(\d+)"))
    who = "Slurm daemons and submit hosts, authenticated by munge"
    controller = tb["slurm_testbed_controller_host"]
    out = [
        Listener(controller, ctl, "*", "slurmctld (demo Slurm)", f"hub hosts and nodes; {who}"),
        Listener(controller, dbd, "*", "slurmdbd (demo Slurm accounting)", f"slurmctld; {who}"),
        Listener(
            controller,
            MARIADB_PORT,
            "127.0.0.1",
            "MariaDB: slurmdbd's database "
            "(Debian's mariadb-server defaults; slurm_testbed does not set them)",
            "this host only (slurmdbd, over the local socket)",
        ),
    ]
    for node in tb.get("slurm_testbed_compute_hosts", []):
        out.append(Listener(node["name"], slurmd, "*", "slurmd (demo Slurm)", f"slurmctld; {who}"))
    return out


def _demo_pool_listeners(site: SiteModel, loaded: LoadedInventory) -> list[Listener]:
    """The demo's own HTCondor pool (htcondor_pool): daemons as the role's DAEMON_LIST says."""
    if not site.sitehub_site.demo:
        return []
    text = role_path("htcondor_pool", "vars/main.yml").read_text(encoding="utf-8")
    found = re.search(r"__htcondor_pool_daemons: .*?'([A-Z, ]+)' if .*? else '([A-Z, ]+)'", text)
    if not found:
        raise ValueError("roles/htcondor_pool/vars/main.yml: no __htcondor_pool_daemons")
    roles = {"htcondor_central_manager": found.group(1), "htcondor_execute": found.group(2)}
    out = []
    for host, groups in sorted(loaded.hosts.items()):
        for group, daemons in roles.items():
            if group in groups:
                out.append(
                    Listener(
                        host,
                        0,
                        "*",
                        f"HTCondor (demo pool: {daemons})",
                        "the pool's hosts, with IDTOKENS signed by htcondor_signing_key "
                        "(ports chosen by HTCondor)",
                    )
                )
    return out


def _cipher_profile(ciphers: list[str]) -> str:
    aead = all(("GCM" in c or "CHACHA20" in c) for c in ciphers)
    ecdhe = all(c.startswith("ECDHE-") for c in ciphers)
    if aead and ecdhe:
        return "ECDHE key exchange with AEAD ciphers only: forward secrecy, no CBC, no RSA kex"
    weak = [c for c in ciphers if not (c.startswith("ECDHE-") and ("GCM" in c or "CHACHA" in c))]
    return f"includes suites without forward secrecy or AEAD: {', '.join(weak)}"


def tls_profiles(site: SiteModel, fv: dict[str, Any]) -> list[TlsProfile]:
    kc = role_defaults("keycloak")
    return [
        TlsProfile(
            endpoint=f"frontend {fv['__frontend_public_url']}",
            protocols=tuple(site.sitehub_tls.protocols),
            ciphers=tuple(fv["frontend_tls_ciphers"]),
            tls13_ciphersuites=tuple(fv["frontend_tls13_ciphersuites"]),
            curves=tuple(fv["frontend_tls_curves"]),
            profile=_cipher_profile(fv["frontend_tls_ciphers"]),
            hsts_max_age=site.sitehub_tls.hsts_max_age,
        ),
        TlsProfile(
            endpoint=f"Keycloak {site.sitehub_identity.url}",
            protocols=tuple(kc["keycloak_https_protocols"]),
            ciphers=(),
            tls13_ciphersuites=(),
            curves=(),
            profile="Keycloak's (Quarkus) default cipher suites for these protocols",
        ),
    ]


# --- secrets ------------------------------------------------------------------------------


_REF = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_LOOKUP = re.compile(r"lookup\(\s*['\"](?:ansible\.builtin\.)?password['\"]\s*,\s*([^,)]+)")


def secret_origin(value: Any, loaded: LoadedInventory) -> tuple[str, str]:
    where = origin_of(value)
    at = f"{_display_path(where.path)}:{where.line}" if where.path else "?"
    if is_inline_vaulted(value):
        return "vault", f"inline !vault value at {at}"
    text = str(value).strip()
    ref = _REF.match(text)
    if ref:
        name = ref.group(1)
        if name in loaded.vaulted_variables:
            return "vault", f"refers to vaulted variable {name} (at {at})"
        return "plaintext", f"refers to {name}, which is NOT vaulted (at {at})"
    lookup = _LOOKUP.search(text)
    if lookup:
        return (
            "generated at deploy time",
            f"ansible.builtin.password lookup into {lookup.group(1).strip()} on the "
            f"controller, kept in a plaintext file (at {at})",
        )
    if is_vaulted(value):
        return "vault", f"in vault-encrypted file {_display_path(where.path)}"
    return "plaintext", f"plaintext value at {at}"


def secrets(site: SiteModel, loaded: LoadedInventory, fv: dict[str, Any]) -> list[Secret]:
    raw = next((v for k, v in loaded.site_vars.items() if k == "sitehub_secrets"), {}) or {}
    out: list[Secret] = []
    needed = required_secrets(site)
    for name in dict.fromkeys([*needed, *map(str, raw)]):
        if name not in raw:
            out.append(Secret(name, "missing", "required by this site but not set"))
            continue
        origin, detail = secret_origin(raw[name], loaded)
        used = "required" if name in needed else "optional"
        out.append(Secret(name, origin, detail, used))
    derived: dict[str, list[str]] = {}
    for host in hub_hosts(site):
        for inst in instances_of(site, host):
            for key, value in inst.items():
                found = derived_from(value)
                if found:
                    out.append(
                        Secret(
                            f"{inst['name']} {key}",
                            "derived",
                            f"HMAC-SHA256 of site secret {found[0]}, purpose '{found[1]}'",
                            f"hub instance {inst['name']} on {host}",
                        )
                    )
                    derived.setdefault(found[0], []).append(inst["name"])
    with recorded_derivations():
        header = derived_from(deploy.frontend_secret(NAMES_AS_SECRETS))
    if header:
        out.append(
            Secret(
                f"frontend header secret ({fv['frontend_hub_secret_header']})",
                "derived",
                f"HMAC-SHA256 of site secret {header[0]}, purpose '{header[1]}'",
                "sent by the frontend, required by every hub",
            )
        )
    out.append(
        Secret(
            "SAML SP key pair (sp.key, sp.crt)",
            "generated at deploy time",
            f"made once on the controller in {fv['frontend_mellon_sp_dir']} (kept out of git); "
            f"RSA {fv['frontend_mellon_sp_key_size']} bits",
            "mod_auth_mellon signs its SAML messages",
        )
    )
    tls = site.sitehub_tls
    if tls.source == "generated_ca":
        out.append(
            Secret(
                "site CA and TLS keys (frontend, Keycloak)",
                "generated at deploy time",
                "site_ca role, on the controller under "
                + fv["frontend_tls_key_src"].rsplit("/", 1)[0],
                "frontend and Keycloak certificates",
            )
        )
    else:
        key = Path(loaded.source) / str(tls.key_file)
        state = (
            "vault-encrypted file"
            if is_vault_file(str(key))
            else "plaintext file"
            if key.exists()
            else "file not present in this checkout"
        )
        out.append(
            Secret(
                "TLS private key",
                "file",
                f"{tls.key_file} in the inventory ({state})",
                "the frontend's certificate",
            )
        )
    return out


# --- departures from the recommended settings -------------------------------------------------


_MFA_WHY = {
    "algorithm": "authenticator apps other than the common ones may not support it",
    "digits": "fewer digits make a code easier to guess",
    "period": "a longer period keeps a phished or shoulder-surfed code valid longer",
}
_BF_WHY = {
    "max_failures": ("more", "more guesses of password or OTP before a lockout"),
    "wait_increment_seconds": ("less", "a shorter lockout lets guessing resume sooner"),
    "max_wait_seconds": ("less", "a shorter longest lockout allows more guesses per day"),
    "failure_reset_seconds": ("less", "failures are forgotten sooner"),
}


def _fmt(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def departures(site: SiteModel, fv: dict[str, Any]) -> list[Departure]:
    identity, tls, demo = site.sitehub_identity, site.sitehub_tls, site.sitehub_site.demo
    out: list[Departure] = []
    recommended_mfa = OtpPolicy()
    for key, why in _MFA_WHY.items():
        value, rec = getattr(identity.mfa, key), getattr(recommended_mfa, key)
        if value != rec:
            weaker = (key == "digits" and value < rec) or (key == "period" and value > rec)
            out.append(
                Departure(
                    f"sitehub_identity.mfa.{key}",
                    _fmt(value),
                    _fmt(rec),
                    "weaker" if weaker else "note",
                    why,
                )
            )
    recommended_bf = BruteForce()
    for key, (weak_dir, why) in _BF_WHY.items():
        value, rec = getattr(identity.brute_force, key), getattr(recommended_bf, key)
        if value == rec:
            continue
        weaker = value > rec if weak_dir == "more" else value < rec
        out.append(
            Departure(
                f"sitehub_identity.brute_force.{key}",
                _fmt(value),
                _fmt(rec),
                "weaker" if weaker else "stricter",
                why
                if weaker
                else "stricter than recommended: attackers get fewer guesses, users who "
                "mistype wait longer",
            )
        )
    if identity.brute_force.permanent_lockout != recommended_bf.permanent_lockout:
        out.append(
            Departure(
                "sitehub_identity.brute_force.permanent_lockout",
                "true",
                "false",
                "note",
                "anyone who knows a user name can lock that user out until an admin acts",
            )
        )
    if identity.database == "dev-file":
        out.append(
            Departure(
                "sitehub_identity.database",
                "dev-file",
                "postgres",
                "accepted for a demo" if demo else "weaker",
                "Keycloak's embedded H2 database: one node, no backups, not supported "
                "for production",
            )
        )
    elif role_defaults("keycloak")["keycloak_db_sslmode"] != "verify-full":
        out.append(
            Departure(
                "keycloak_db_sslmode (roles/keycloak default)",
                role_defaults("keycloak")["keycloak_db_sslmode"],
                "verify-full",
                "weaker",
                "'prefer' falls back to a cleartext database connection an attacker on "
                "the path can force",
            )
        )
    if identity.users.type == "local" and not demo:
        out.append(
            Departure(
                "sitehub_identity.users.type",
                "local",
                "ldap",
                "note",
                "accounts live only in Keycloak: leavers are not removed with the "
                "facility's directory",
            )
        )
    if tls.source == "generated_ca" and not demo:
        out.append(
            Departure(
                "sitehub_tls.source",
                "generated_ca",
                "files",
                "weaker",
                "browsers do not trust a CA made at deploy time; users learn to click "
                "through certificate warnings",
            )
        )
    if "TLSv1.3" not in tls.protocols:
        out.append(
            Departure(
                "sitehub_tls.protocols",
                ", ".join(tls.protocols),
                "TLSv1.2, TLSv1.3",
                "weaker",
                "TLS 1.3 removes legacy handshakes and encrypts more of them",
            )
        )
    rec_hsts = Tls.model_fields["hsts_max_age"].default
    if tls.hsts_max_age < rec_hsts:
        out.append(
            Departure(
                "sitehub_tls.hsts_max_age",
                str(tls.hsts_max_age),
                str(rec_hsts),
                "weaker",
                "browsers may be tricked into plain http:// sooner after a visit",
            )
        )
    if demo:
        out.append(
            Departure(
                "sitehub_site.demo",
                "true",
                "false",
                "accepted for a demo",
                "secrets are generated into plaintext files on the controller instead of "
                "the vault; never use for real users",
            )
        )
    kc = role_defaults("keycloak")
    if (kc["keycloak_management_host"] or kc["keycloak_http_host"]) in ALL_ADDRESSES:
        out.append(
            Departure(
                "keycloak_management_host (roles/keycloak default)",
                f"'{kc['keycloak_management_host']}' (= {kc['keycloak_http_host']})",
                "a management-only address, or a firewall",
                "note",
                f"health and metrics on port {kc['keycloak_management_port']} answer "
                "anyone who reaches the Keycloak host; metrics reveal load and realm names",
            )
        )
    plain = sorted(
        {
            s["segment"]
            for s in fv["__frontend_url_spaces"]
            for m in s["members"]
            if m["url"].startswith("http://")
        }
    )
    if plain:
        out.append(
            Departure(
                "frontend to hub traffic",
                f"plain HTTP (clusters {', '.join(plain)})",
                "a private network between frontends and hubs",
                "note",
                f"the user header ({fv['frontend_user_header']}), the frontend secret and "
                "every notebook travel unencrypted between frontend and hub hosts",
            )
        )
    if not fv["frontend_user_servers_owner_only"]:
        out.append(
            Departure(
                "frontend_user_servers_owner_only",
                "false",
                "true",
                "weaker",
                "a left-over server cookie of another user reaches their server",
            )
        )
    for cluster in site.sitehub_clusters:
        if cluster.scheduler in deploy.BATCH_SCHEDULERS and cluster.options.run_locally:
            out.append(
                Departure(
                    f"sitehub_clusters[{cluster.segment}].options.run_locally",
                    "true",
                    "false on busy hubs",
                    "note",
                    "users may run their server on the hub host itself, next to the hub "
                    "and its users' sessions",
                )
            )
    return out


def form_departures(site: SiteModel, grants: list[Grant]) -> list[Departure]:
    """Accounts Slurm lets a user choose in a partition beyond the inventory's list for it: the
    spawn form offers what Slurm allows, so the inventory's list does not restrict anyone."""
    out = []
    for cluster in site.sitehub_clusters:
        for part in cluster.options.partitions:
            declared = set(part.accounts or cluster.options.accounts)
            if not declared:
                continue
            extra = sorted(
                f"{account} ({g.subject})"
                for g in grants
                if g.cluster == cluster.segment and g.kind == "partition" and g.value == part.name
                for account in g.accounts
                if account not in declared
            )
            if extra:
                out.append(
                    Departure(
                        f"sitehub_clusters[{cluster.segment}].options.partitions[{part.name}]"
                        ".accounts",
                        ", ".join(sorted(declared)),
                        "the accounts Slurm allows there",
                        "note",
                        f"Slurm also offers {', '.join(extra)}: the spawn form offers what "
                        "Slurm's associations and partition limits allow, so this list "
                        "restricts nobody",
                    )
                )
    return out


def notes(site: SiteModel, loaded: LoadedInventory) -> list[str]:
    out = []
    if any(c.scheduler == "slurm" for c in site.sitehub_clusters) and not site.sitehub_site.demo:
        out.append(
            "Slurm is the site's own cluster (not deployed by sitehub): the hubs become submit "
            "hosts, and who may use which account, QOS and partition is decided by Slurm's "
            "associations, which the spawn form reads per user at spawn time."
        )
    if loaded.vaulted_variables:
        out.append(
            "Vaulted values were not decrypted: " + ", ".join(sorted(loaded.vaulted_variables))
        )
    return out
