"""Every check a site inventory must pass before any host is touched.

Problems are collected, never raised one at a time: an operator fixes them all in
one go. Each names the file (and line), the key path and what to change.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sitehub.inventory.loader import LoadedInventory, Origin, is_vaulted, origin_of
from sitehub.inventory.model import REQUIRED_SITE_VARIABLES, SiteModel

# Secrets the site needs, by what the site declares.
_TEMPLATE_VAR_RE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_PASSWORD_LOOKUP_RE = re.compile(
    r"^\{\{\s*lookup\(\s*['\"](ansible\.builtin\.)?password['\"]", re.IGNORECASE
)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


def _display_path(path: str | None) -> str:
    """Paths relative to the working directory when below it: what an operator typed."""
    if not path:
        return "<unknown file>"
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _path_str(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Report:
    def __init__(self, inventory: LoadedInventory):
        self.inventory = inventory
        self.problems: list[Problem] = []

    def add(self, loc: tuple[Any, ...], message: str, value: Any = None) -> None:
        where = origin_of(value) if value is not None else Origin(None)
        if where.path is None:
            where = self._origin_along(loc)
        self.problems.append(
            Problem(_display_path(where.path), where.line or 0, _path_str(loc), message)
        )

    def _origin_along(self, loc: tuple[Any, ...]) -> Origin:
        """The origin of the deepest value that exists along loc."""
        node: Any = self.inventory.site_vars
        best = Origin(self.inventory.variable_files.get(str(loc[0])) if loc else None)
        if best.path is None:
            best = Origin(self.inventory.source)
        for part in loc:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            here = origin_of(node)
            if here.path:
                best = here
        return best


def validate_loaded(inventory: LoadedInventory) -> list[Problem]:
    report = _Report(inventory)
    for origin, key, message in inventory.problems:
        report.problems.append(Problem(_display_path(origin.path), origin.line or 0, key, message))

    for name in REQUIRED_SITE_VARIABLES:
        if name not in inventory.site_vars:
            report.problems.append(
                Problem(
                    _display_path(inventory.source),
                    0,
                    name,
                    f"missing: set {name} in group_vars/all (see README, 'The site inventory')",
                )
            )
    if any(p.key in REQUIRED_SITE_VARIABLES for p in report.problems):
        return sorted(report.problems)

    try:
        site = SiteModel.model_validate(_plain(inventory.site_vars))
    except ValidationError as exc:
        for error in exc.errors():
            report.add(tuple(error["loc"]), _message(error))
        raw_site = _plain(inventory.site_vars.get("sitehub_site"))
        demo = isinstance(raw_site, dict) and raw_site.get("demo") is True
        _check_secrets(report, inventory.site_vars, demo=demo)
        return sorted(report.problems)

    _check_hosts(report, site)
    _check_clusters(report, site)
    _check_secrets(report, inventory.site_vars, demo=site.sitehub_site.demo, site=site)
    return sorted(report.problems)


def _plain(value: Any) -> Any:
    """Strip Ansible's tagged types; keep vaulted values opaque (never decrypt to validate)."""
    if is_vaulted(value) and not isinstance(value, dict | list):
        return "<vaulted>"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (misspelt?): it would be ignored, so it is refused"
    text = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


def _check_hosts(report: _Report, site: SiteModel) -> None:
    hosts = report.inventory.hosts
    known = ", ".join(sorted(hosts)) or "none"
    for i, name in enumerate(site.sitehub_site.frontends):
        if name not in hosts:
            report.add(
                ("sitehub_site", "frontends", i),
                f"frontend host '{name}' is not in the inventory (hosts: {known})",
            )
    if site.sitehub_identity.host not in hosts:
        report.add(
            ("sitehub_identity", "host"),
            f"identity host '{site.sitehub_identity.host}' is not in the inventory "
            f"(hosts: {known})",
        )
    for c, cluster in enumerate(site.sitehub_clusters):
        for i, instance in enumerate(cluster.instances):
            if instance.host not in hosts:
                report.add(
                    ("sitehub_clusters", c, "instances", i, "host"),
                    f"hub host '{instance.host}' is not in the inventory (hosts: {known})",
                )


def _check_clusters(report: _Report, site: SiteModel) -> None:
    clusters = site.sitehub_clusters
    segments = Counter(c.segment for c in clusters)
    kernel_names = {k.name for k in site.sitehub_kernels}
    endpoints: dict[tuple[str, int], str] = {}
    for c, cluster in enumerate(clusters):
        here = ("sitehub_clusters", c)
        if segments[cluster.segment] > 1:
            report.add(
                (*here, "segment"),
                f"segment '{cluster.segment}' is used by {segments[cluster.segment]} clusters: "
                "each cluster needs its own URL space /jupyterhub/<segment>/",
            )
        routes = Counter(i.route for i in cluster.instances)
        for i, instance in enumerate(cluster.instances):
            if routes[instance.route] > 1:
                report.add(
                    (*here, "instances", i, "route"),
                    f"route id '{instance.route}' is used twice in cluster '{cluster.segment}': "
                    "sticky sessions could not tell the instances apart",
                )
            endpoint = (instance.host, instance.port)
            taken = endpoints.get(endpoint)
            label = f"{cluster.segment}/{instance.route}"
            if taken:
                report.add(
                    (*here, "instances", i, "port"),
                    f"{instance.host}:{instance.port} is already used by instance {taken}: "
                    "give each instance on a host its own port",
                )
            else:
                endpoints[endpoint] = label
        _check_form(report, here, cluster)
        for k, kernel in enumerate(cluster.kernels):
            if kernel not in kernel_names:
                report.add(
                    (*here, "kernels", k),
                    f"kernel '{kernel}' is not defined in sitehub_kernels "
                    f"(defined: {', '.join(sorted(kernel_names)) or 'none'})",
                )
    kernels = Counter(k.name for k in site.sitehub_kernels)
    for k, kernel in enumerate(site.sitehub_kernels):
        if kernels[kernel.name] > 1:
            report.add(("sitehub_kernels", k, "name"), f"kernel name '{kernel.name}' is repeated")


def _check_form(report: _Report, here: tuple[Any, ...], cluster: Any) -> None:
    options = cluster.options
    at = (*here, "options")
    if cluster.scheduler == "slurm" and not options.discover and not options.partitions:
        report.add(
            (*at, "partitions"),
            "a Slurm cluster needs at least one partition, or discover: true to read them "
            "from the scheduler",
        )
    if cluster.scheduler == "htcondor" and cluster.htcondor is None:
        report.add(
            (*here, "htcondor"),
            "an HTCondor cluster needs an 'htcondor' block (central_manager, schedd, ...)",
        )
    if cluster.scheduler != "htcondor" and cluster.htcondor is not None:
        report.add(
            (*here, "htcondor"),
            f"'htcondor' settings on a '{cluster.scheduler}' cluster would be ignored",
        )
    if cluster.scheduler == "local" and options.partitions:
        report.add(
            (*at, "partitions"),
            "a 'local' cluster runs servers on the hub hosts: partitions do not apply",
        )
    names = Counter(p.name for p in options.partitions)
    offered_gpus: set[str] = set()
    for p, partition in enumerate(options.partitions):
        offered_gpus.update(partition.gpu_types)
        if names[partition.name] > 1:
            report.add((*at, "partitions", p, "name"), f"partition '{partition.name}' repeated")
        if options.accounts:
            for a, account in enumerate(partition.accounts):
                if account not in options.accounts:
                    report.add(
                        (*at, "partitions", p, "accounts", a),
                        f"account '{account}' is not among the cluster's accounts "
                        f"({', '.join(options.accounts)})",
                    )
        if options.qos:
            for q, qos in enumerate(partition.qos):
                if qos not in options.qos:
                    report.add(
                        (*at, "partitions", p, "qos", q),
                        f"QOS '{qos}' is not among the cluster's QOS ({', '.join(options.qos)})",
                    )
    if options.partitions:
        longest = max(p.max_runtime for p in options.partitions)
        if options.default_runtime > longest:
            report.add(
                (*at, "default_runtime"),
                f"default runtime of {options.default_runtime} minutes is over every "
                f"partition's limit (longest: {longest} minutes)",
            )
    if not options.discover:
        for g, gpu in enumerate(options.gpu_types):
            if gpu not in offered_gpus:
                report.add(
                    (*at, "gpu_types", g),
                    f"GPU type '{gpu}' is offered by no partition; add it to a partition's "
                    f"gpu_types or remove it (partitions offer: "
                    f"{', '.join(sorted(offered_gpus)) or 'none'})",
                )


def required_secrets(site: SiteModel) -> list[str]:
    names = ["keycloak_admin_password", "hub_cookie_secret", "hub_crypt_key", "hub_proxy_token"]
    if site.sitehub_identity.database == "postgres":
        names.append("keycloak_db_password")
    if site.sitehub_identity.users.type == "ldap":
        names.append("ldap_bind_password")
    if any(c.scheduler == "slurm" for c in site.sitehub_clusters):
        names.append("munge_key")
    if any(c.scheduler == "htcondor" for c in site.sitehub_clusters):
        names.append("htcondor_token")
    return names


def _check_secrets(
    report: _Report, site_vars: dict[str, Any], demo: bool = False, site: SiteModel | None = None
) -> None:
    secrets = site_vars.get("sitehub_secrets") or {}
    if not isinstance(secrets, dict):
        return
    if site is not None:
        for name in required_secrets(site):
            if name not in secrets:
                report.add(("sitehub_secrets",), f"secret '{name}' is required by this site")
    for name, value in secrets.items():
        state = _secret_state(value, report.inventory.vaulted_variables, demo)
        if state is not None:
            report.add(("sitehub_secrets", str(name)), state, value)


def _secret_state(value: Any, vaulted_variables: set[str], demo: bool) -> str | None:
    """None when the secret is stored safely, else what is wrong with it."""
    if is_vaulted(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        ref = _TEMPLATE_VAR_RE.match(text)
        if ref:
            return (
                None
                if ref.group(1) in vaulted_variables
                else (
                    f"refers to '{ref.group(1)}', which is not a vaulted variable: "
                    "encrypt it with ansible-vault"
                )
            )
        if _PASSWORD_LOOKUP_RE.match(text):
            if demo:
                return None
            return (
                "generated with the password lookup, which keeps it in a plaintext file: "
                "allowed only for demo sites; vault it with `ansible-vault encrypt_string`"
            )
    return "is stored in plaintext: encrypt it with `ansible-vault encrypt_string`" + (
        " or generate it at deploy time with lookup('ansible.builtin.password', ...)"
        if demo
        else ""
    )
