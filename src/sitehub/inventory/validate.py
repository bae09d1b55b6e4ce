"""Every check a site inventory must pass before any host is touched.

Problems are collected, never raised one at a time: an operator fixes them all in
one go. Each names the file (and line), the key path and what to change.

The schema (sitehub.inventory.model) is checked first; the checks that relate
several values (unique segments, free ports, hosts in the inventory, secrets)
then run on the raw values, so that one malformed cluster does not hide the
problems of the others.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from sitehub.inventory.loader import (
    LoadedInventory,
    Origin,
    close_site_variable,
    decrypt_inline,
    is_inline_vaulted,
    is_vaulted,
    origin_of,
)
from sitehub.inventory.model import (
    HOSTNAME_RE,
    HUB_API_OFFSET,
    INSTANCE_NAME_RE,
    PROXY_API_OFFSET,
    REQUIRED_SITE_VARIABLES,
    ROUTE_RE,
    SCHEDULERS,
    SEGMENT_RE,
    SITE_VARIABLES,
    FormOptions,
    SiteModel,
    instance_ports,
)
from sitehub.render.quoting import control_character

_TEMPLATE_VAR_RE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\Z")
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
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _path_str(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Report:
    def __init__(self, inventory: LoadedInventory, *, require_vault: bool = False):
        self.inventory = inventory
        self.require_vault = require_vault
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []

    def add(self, loc: tuple[Any, ...], message: str) -> None:
        where = self._origin_along(loc)
        self.at(where, _path_str(loc), message)

    def note(self, loc: tuple[Any, ...], message: str) -> None:
        """What was not checked: said, not a problem."""
        where = self._origin_along(loc)
        note = Problem(_display_path(where.path), where.line or 0, _path_str(loc), message)
        if note not in self.notes:
            self.notes.append(note)

    def at(self, where: Origin, key: str, message: str) -> None:
        problem = Problem(_display_path(where.path), where.line or 0, key, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def _origin_along(self, loc: tuple[Any, ...]) -> Origin:
        """The file:line of the deepest key or value that exists along loc.

        Mapping keys carry the line of the key itself, which is where an operator
        looks, and they are tagged even when the value (a bool, a null) is not.
        """
        node: Any = self.inventory.site_vars
        best = Origin(self.inventory.variable_files.get(str(loc[0])) if loc else None)
        if best.path is None:
            best = Origin(self.inventory.source)
        for part in loc:
            if isinstance(node, Mapping):
                key = next((k for k in node if k == part), None)
                if key is None:
                    break
                node = node[key]
                here = origin_of(key)
                if here.path is None:
                    here = origin_of(node)
            elif isinstance(node, list | tuple) and isinstance(part, int) and part < len(node):
                node = node[part]
                here = origin_of(node)
            else:
                break
            if here.path:
                best = here
        return best


def validate_loaded(
    inventory: LoadedInventory,
    *,
    notes: list[Problem] | None = None,
    require_vault: bool = False,
) -> list[Problem]:
    """Every problem of a loaded inventory.

    notes: gets what could not be checked (an inline `!vault` secret's length without a
    vault password). require_vault: such a secret is a problem instead, for a run that
    is about to deploy and would need it (the validation play).
    """
    report = _Report(inventory, require_vault=require_vault)
    problems = _validate(report)
    if notes is not None:
        notes.extend(sorted(report.notes))
    return problems


def _validate(report: _Report) -> list[Problem]:
    inventory = report.inventory
    for origin, key, message in inventory.problems:
        report.at(origin, key, message)
    if inventory.fatal:
        return sorted(report.problems)

    raw = {str(name): _plain(value) for name, value in inventory.site_vars.items()}
    _check_variable_names(report, raw)
    try:
        SiteModel.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "missing" and len(loc) == 1:
                continue  # reported by _check_variable_names, with a hint
            report.add(loc, _message(error))

    _check_text(report, raw)
    _check_hosts(report, raw)
    _check_accounts(report, raw)
    _check_clusters(report, raw)
    _check_identity(report, raw)
    _check_secrets(report, inventory.site_vars, raw)
    if not report.problems:
        _check_renders(report, raw)
    return sorted(report.problems)


def _plain(value: Any) -> Any:
    """Strip Ansible's tagged types; keep inline-vaulted values opaque (never decrypt them).

    Values from a vault-encrypted file were decrypted by Ansible to be read at all;
    they are checked like any other value.
    """
    if is_inline_vaulted(value) and not isinstance(value, dict | list):
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


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields are valid at loc (for 'did you mean' hints)."""
    model: type[BaseModel] = SiteModel
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        found = _inner_model(field.annotation)
        if found is None:
            return None
        model = found
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


# Strings that are numbers or booleans had YAML not been told (by quotes) to keep them text.
_QUOTED_SCALAR = {
    "int_type": re.compile(r"\s*[-+]?\d+\s*"),
    "float_type": re.compile(r"\s*[-+]?\d+(\.\d*)?\s*"),
    "bool_type": re.compile(r"(?i)\s*(true|false|yes|no|on|off)\s*"),
}


def _message(error: Any) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing: add it (see README, 'The site inventory')"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"known keys here: {', '.join(known)}"
            if known
            else "remove it"
        )
        return f"unknown key '{loc[-1]}' (misspelt?): it would be ignored, so it is refused; {hint}"
    value = error.get("input")
    if isinstance(value, str) and _QUOTED_SCALAR.get(kind, re.compile("(?!)")).fullmatch(value):
        wanted = {"int_type": "a number", "bool_type": "true or false", "float_type": "a number"}
        return (
            f"'{value}' is a string (quoted in YAML) where {wanted[kind]} is expected: "
            "write it without quotes"
        )
    text = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    if isinstance(value, str | int | float | bool) or value is None:
        text = f"{text} (got {value!r})"
    return text


def _check_variable_names(report: _Report, raw: dict[str, Any]) -> None:
    """Missing site variables, and `sitehub_*` variables that look like misspelt ones."""
    misspelt: dict[str, str] = {}
    for name, where in report.inventory.other_variables.items():
        meant = close_site_variable(name)
        if meant is None:
            continue
        misspelt[meant] = name
        report.at(
            where,
            name,
            f"unknown site variable '{name}': did you mean '{meant}'? "
            f"(site variables: {', '.join(SITE_VARIABLES)})",
        )
    for name in REQUIRED_SITE_VARIABLES:
        if name in raw:
            continue
        hint = f" ('{misspelt[name]}' looks like a misspelling of it)" if name in misspelt else ""
        report.at(
            Origin(report.inventory.source),
            name,
            f"missing: set {name} in group_vars/all{hint} (see README, 'The site inventory')",
        )


# --- checks on raw values: each guards against the malformed values the schema reported ------


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, mapping) for each mapping in a list; nothing for anything else."""
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _str(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


_JINJA_MARKERS = ("{{", "{%", "{#")


def _strings(value: Any, loc: tuple[Any, ...]) -> typing.Iterator[tuple[tuple[Any, ...], str]]:
    """(loc, text) of every string in value, mapping keys included (at their own loc)."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*loc, key), str(key)
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*loc, i))


def _check_text(report: _Report, raw: dict[str, Any]) -> None:
    """No line breaks, control characters or Jinja in any site value (secrets aside).

    Values reach configuration files line by line, and Ansible templates every string it
    deploys: validation would check '{{ ... }}' as text while hosts get what it evaluates to.
    """
    for name, value in raw.items():
        if name == "sitehub_secrets":  # references and lookups; checked by _check_secrets
            continue
        for loc, text in _strings(value, (name,)):
            bad = control_character(text)
            if bad:
                report.add(
                    loc,
                    f"{text!r} holds a line break or control character ({bad}): values are "
                    "written into configuration files, where it would start a new line; "
                    "remove it",
                )
            marker = next((m for m in _JINJA_MARKERS if m in text), None)
            if marker:
                report.add(
                    loc,
                    f"{text!r} holds '{marker}', which Ansible would template when deploying, "
                    "so hosts would get another value than the one validated: write the "
                    "literal value (only sitehub_secrets may refer to vaulted variables)",
                )


def _check_hosts(report: _Report, raw: dict[str, Any]) -> None:
    hosts = report.inventory.hosts
    known = ", ".join(sorted(hosts)) or "none"
    for host in sorted(hosts):
        if not HOSTNAME_RE.fullmatch(host):
            report.at(
                report.inventory.host_origins.get(host) or Origin(report.inventory.source),
                host,
                f"inventory host {host!r} is not a valid host name: host names are written "
                "into Apache balancer URLs and certificates; use letters, digits, '-' and '.'",
            )

    def check(loc: tuple[Any, ...], name: Any, what: str, group: str) -> None:
        if not isinstance(name, str):
            return
        if name not in hosts:
            report.add(
                loc,
                f"{what} '{name}' is not in the inventory: add it to hosts.yml or name one of "
                f"its hosts ({known})",
            )
        elif group not in hosts[name]:
            # the plays pick their hosts by group: the value would describe nothing deployed
            where = report.inventory.host_origins.get(name)
            path = _display_path(where.path) if where and where.path else report.inventory.source
            line = f":{where.line}" if where and where.line else ""
            report.add(
                loc,
                f"{what} '{name}' is not in the '{group}' group ({path}{line} lists it "
                f"elsewhere): add it under {group} there, since the plays pick their hosts "
                "by group",
            )

    site = raw.get("sitehub_site")
    frontends = site.get("frontends") if isinstance(site, dict) else None
    if isinstance(frontends, list):
        for i, name in enumerate(frontends):
            check(("sitehub_site", "frontends", i), name, "frontend host", "frontend")
        # and the other way round: the frontend play runs on every host of the group
        for host in sorted(h for h, groups in hosts.items() if "frontend" in groups):
            if host not in frontends:
                report.add(
                    ("sitehub_site", "frontends"),
                    f"host '{host}' is in the 'frontend' group but not in sitehub_site.frontends: "
                    "list it here or move it out of the group",
                )
    identity = raw.get("sitehub_identity")
    if isinstance(identity, dict):
        host = identity.get("host")
        check(("sitehub_identity", "host"), host, "identity host", "keycloak")
        # a second Keycloak host, once the named one is right (else that error says enough)
        named = isinstance(host, str) and "keycloak" in hosts.get(host, ())
        for other in sorted(h for h, groups in hosts.items() if "keycloak" in groups):
            if named and other != host:
                report.add(
                    ("sitehub_identity", "host"),
                    f"host '{other}' is in the 'keycloak' group but sitehub_identity.host is "
                    f"'{host}': one Keycloak host, named in both places",
                )
    for c, cluster in _items(raw.get("sitehub_clusters")):
        for i, instance in _items(cluster.get("instances")):
            loc = ("sitehub_clusters", c, "instances", i, "host")
            check(loc, instance.get("host"), "hub host", "hubs")


def _check_accounts(report: _Report, raw: dict[str, Any]) -> None:
    """Demo users become POSIX users on every host: names and ids must not clash."""
    identity = raw.get("sitehub_identity")
    if not isinstance(identity, dict):
        return
    groups: dict[str, Any] = {}
    gids: dict[int, str] = {}
    for g, group in enumerate(identity.get("groups") or []):
        name = group if isinstance(group, str) else (group or {}).get("name")
        gid = None if isinstance(group, str) else (group or {}).get("gid")
        if not isinstance(name, str):
            continue
        if name in groups:
            report.add(("sitehub_identity", "groups", g), f"group '{name}' is listed twice")
        groups[name] = gid
        if isinstance(gid, int):
            if gid in gids:
                report.add(
                    ("sitehub_identity", "groups", g, "gid"),
                    f"gid {gid} is already used by group '{gids[gid]}'",
                )
            gids[gid] = name
    uids: dict[int, str] = {}
    for u, user in _items(identity.get("demo_users")):
        uid, name = user.get("uid"), user.get("name")
        if isinstance(uid, int):
            if uid in uids:
                report.add(
                    ("sitehub_identity", "demo_users", u, "uid"),
                    f"uid {uid} is already used by demo user '{uids[uid]}'",
                )
            uids[uid] = str(name)
        for k, group in enumerate(user.get("groups") or []):
            if isinstance(group, str) and group not in groups:
                report.add(
                    ("sitehub_identity", "demo_users", u, "groups", k),
                    f"group '{group}' is not one of sitehub_identity.groups "
                    f"({', '.join(groups) or 'none'}): add it there first",
                )


_PORT_USES = {"port": "proxy port", "proxy_api_port": "proxy API port", "hub_port": "hub API port"}


def _check_clusters(report: _Report, raw: dict[str, Any]) -> None:
    clusters = _items(raw.get("sitehub_clusters"))
    segments = Counter(_str(c, "segment") for _, c in clusters)
    kernel_list = raw.get("sitehub_kernels") or []
    kernel_names = {_str(k, "name") for _, k in _items(kernel_list)} - {None}
    endpoints: dict[tuple[str, int], tuple[str, str]] = {}
    site = raw.get("sitehub_site") if isinstance(raw.get("sitehub_site"), dict) else {}
    listed = site.get("frontends")
    frontends = set(listed) if isinstance(listed, list) else set()
    public_port = site.get("public_port", 443)
    frontend_ports = {80, 443} | ({public_port} if isinstance(public_port, int) else set())
    derived_names: dict[str, str] = {}
    for c, cluster in clusters:
        here = ("sitehub_clusters", c)
        segment = _str(cluster, "segment")
        label = segment or f"#{c}"
        if segment is not None and segments[segment] > 1:
            report.add(
                (*here, "segment"),
                f"segment '{segment}' is used by {segments[segment]} clusters: each cluster "
                "needs its own URL space /jupyterhub/<segment>/; rename all but one",
            )
        instances = _items(cluster.get("instances"))
        routes = Counter(_str(i, "route") for _, i in instances)
        for i, instance in instances:
            route = _str(instance, "route")
            if route is not None and routes[route] > 1:
                report.add(
                    (*here, "instances", i, "route"),
                    f"route id '{route}' is used by {routes[route]} instances of cluster "
                    f"'{label}': sticky sessions could not tell them apart; give each "
                    "instance its own route id",
                )
            if segment is not None and route is not None:
                name = f"{segment}-{route}"  # sitehub.deploy.instance_name
                # only when segment and route are each valid: else their own problem says it
                parts_valid = SEGMENT_RE.fullmatch(segment) and ROUTE_RE.fullmatch(route)
                if parts_valid and not INSTANCE_NAME_RE.fullmatch(name):
                    report.add(
                        (*here, "instances", i, "route"),
                        f"this instance would be named '{name}' (<segment>-<route>), which the "
                        "jupyterhub role refuses as a unit name: it must start with a lower-case "
                        "letter and hold at most 31 lower-case letters, digits and '-'; "
                        "change the route id (or shorten the segment)",
                    )
                if name in derived_names:
                    report.add(
                        (*here, "instances", i, "route"),
                        f"this instance would be named '{name}' (<segment>-<route>), like "
                        f"instance {derived_names[name]}: the two would share systemd units "
                        "and directories; change the route id",
                    )
                else:
                    derived_names[name] = f"{label}/{route}"
            host, port = instance.get("host"), instance.get("port")
            if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool):
                continue
            taken = sorted(set(instance_ports(port).values()) & frontend_ports)
            if host in frontends and taken:
                report.add(
                    (*here, "instances", i, "port"),
                    f"{host} is a frontend, where Apache listens on "
                    f"{', '.join(map(str, sorted(frontend_ports)))}; this instance would take "
                    f"{', '.join(map(str, taken))} (P, P+{PROXY_API_OFFSET}, P+{HUB_API_OFFSET}): "
                    "choose another port",
                )
            # an instance takes three ports: its proxy (port), the proxy's API and the hub API
            mine = instance_ports(port)
            clash = next(
                (
                    (use, p, endpoints[(host, p)])
                    for use, p in mine.items()
                    if (host, p) in endpoints
                ),
                None,
            )
            if clash:
                use, taken_port, (other, other_use) = clash
                if use == other_use == "port":
                    report.add(
                        (*here, "instances", i, "port"),
                        f"{host}:{port} is already used by instance {other}: "
                        "give each instance on a host its own port",
                    )
                    continue
                report.add(
                    (*here, "instances", i, "port"),
                    f"{host}:{taken_port} ({_PORT_USES[use]} of this instance) is already the "
                    f"{_PORT_USES[other_use]} of instance {other}: an instance on port P also "
                    f"uses P+{PROXY_API_OFFSET} and P+{HUB_API_OFFSET}; choose ports that "
                    "leave those free",
                )
            else:
                for use, p in mine.items():
                    endpoints[(host, p)] = (f"{label}/{route or i}", use)
        _check_form(report, here, cluster)
        kernels = cluster.get("kernels")
        if isinstance(kernel_list, list) and isinstance(kernels, list):
            for k, kernel in enumerate(kernels):
                if isinstance(kernel, str) and kernel not in kernel_names:
                    report.add(
                        (*here, "kernels", k),
                        f"kernel '{kernel}' is not defined in sitehub_kernels: define it there "
                        f"or remove it (defined: {', '.join(sorted(kernel_names)) or 'none'})",
                    )
    names = Counter(_str(k, "name") for _, k in _items(kernel_list))
    folded: dict[str, str] = {}
    for k, kernel in _items(kernel_list):
        name = _str(kernel, "name")
        if name is not None and names[name] > 1:
            report.add(
                ("sitehub_kernels", k, "name"),
                f"kernel name '{name}' is used {names[name]} times: kernel names must be unique",
            )
        elif name is not None and name.lower() in folded:
            report.add(
                ("sitehub_kernels", k, "name"),
                f"kernel name '{name}' differs from '{folded[name.lower()]}' only in case: "
                "Jupyter finds kernels case-insensitively, so one would hide the other; rename it",
            )
        if name is not None:
            folded.setdefault(name.lower(), name)


def _check_form(report: _Report, here: tuple[Any, ...], raw_cluster: dict[str, Any]) -> None:
    """The options form of one cluster; skipped where the schema already failed."""
    scheduler = raw_cluster.get("scheduler")
    if scheduler not in SCHEDULERS:
        return
    try:
        options = FormOptions.model_validate(raw_cluster.get("options") or {})
    except ValidationError:
        return
    at = (*here, "options")
    if scheduler == "slurm" and not options.discover and not options.partitions:
        report.add(
            (*at, "partitions"),
            "a Slurm cluster needs at least one partition, or discover: true to read them "
            "from the scheduler",
        )
    has_condor = raw_cluster.get("htcondor") is not None
    if scheduler == "htcondor" and not has_condor:
        report.add(
            here,
            "an HTCondor cluster needs an 'htcondor' block (central_manager, schedd, ...)",
        )
    if scheduler != "htcondor" and has_condor:
        report.add(
            (*here, "htcondor"),
            f"'htcondor' settings on a '{scheduler}' cluster would be ignored: remove them",
        )
    if has_condor and isinstance(raw_cluster["htcondor"], dict):
        _check_group_members(report, (*here, "htcondor"), raw_cluster["htcondor"])
    if scheduler == "local" and options.partitions:
        report.add(
            (*at, "partitions"),
            "a 'local' cluster runs servers on the hub hosts: partitions do not apply, remove them",
        )
    names = Counter(p.name for p in options.partitions)
    offered_gpus: set[str] = set()
    for p, partition in enumerate(options.partitions):
        offered_gpus.update(partition.gpu_types)
        if names[partition.name] > 1:
            report.add(
                (*at, "partitions", p, "name"),
                f"partition '{partition.name}' is listed {names[partition.name]} times: "
                "list each partition once",
            )
        if options.accounts:
            for a, account in enumerate(partition.accounts):
                if account not in options.accounts:
                    report.add(
                        (*at, "partitions", p, "accounts", a),
                        f"account '{account}' is not among the cluster's accounts "
                        f"({', '.join(options.accounts)}): add it there or remove it here",
                    )
        if options.qos:
            for q, qos in enumerate(partition.qos):
                if qos not in options.qos:
                    report.add(
                        (*at, "partitions", p, "qos", q),
                        f"QOS '{qos}' is not among the cluster's QOS "
                        f"({', '.join(options.qos)}): add it there or remove it here",
                    )
    if options.partitions:
        longest = max(p.max_runtime for p in options.partitions)
        if options.default_runtime > longest:
            report.add(
                (*at, "default_runtime"),
                f"default runtime of {options.default_runtime} minutes is over every "
                f"partition's max_runtime (longest: {longest} minutes): lower it to at most "
                f"{longest}",
            )
    if not options.discover and options.partitions:
        for g, gpu in enumerate(options.gpu_types):
            if gpu not in offered_gpus:
                report.add(
                    (*at, "gpu_types", g),
                    f"GPU type '{gpu}' is offered by no partition; add it to a partition's "
                    f"gpu_types or remove it (partitions offer: "
                    f"{', '.join(sorted(offered_gpus)) or 'none'})",
                )


def _check_group_members(report: _Report, at: tuple[Any, ...], pool: dict[str, Any]) -> None:
    """Who may charge a group is given only for the groups the cluster offers."""
    members = pool.get("accounting_group_members")
    offered = pool.get("accounting_groups") or []
    if not isinstance(members, dict):
        return
    for group in members:
        if group not in offered:
            report.add(
                (*at, "accounting_group_members", group),
                f"accounting group '{group}' is not among the cluster's accounting_groups "
                f"({', '.join(map(str, offered)) or 'none'}): add it there or remove it here",
            )


def _check_identity(report: _Report, raw: dict[str, Any]) -> None:
    identity = raw.get("sitehub_identity")
    site = raw.get("sitehub_site")
    if not isinstance(identity, dict) or not isinstance(site, dict):
        return
    if identity.get("database") == "dev-file" and site.get("demo") is not True:
        report.add(
            ("sitehub_identity", "database"),
            "database 'dev-file' keeps Keycloak's users and keys in a local file Keycloak "
            "itself calls unfit for production; it is allowed only on demo sites: use postgres",
        )


def _check_renders(report: _Report, raw: dict[str, Any]) -> None:
    """Render the site in memory: a limit a renderer enforces must be a validation problem.

    Runs only on an otherwise valid site; specific checks above should catch each case
    with its own key, this names the first renderer that still refuses.
    """
    import tempfile
    from pathlib import Path

    from sitehub.render.commands import render_site

    try:
        site = SiteModel.model_validate(raw)
        with tempfile.TemporaryDirectory() as out:
            render_site(site, Path(out))
    except Exception as exc:  # any renderer's refusal becomes a problem
        report.add(
            ("sitehub_site",),
            f"sitehub cannot render this site ({type(exc).__name__}: {exc}); change the "
            "value it names",
        )


# --- secrets ------------------------------------------------------------------------------


def required_secrets(raw: dict[str, Any] | SiteModel) -> list[str]:
    """Names of the secrets a site needs, from what it declares."""
    if isinstance(raw, SiteModel):
        raw = raw.model_dump()
    identity = raw.get("sitehub_identity")
    identity = identity if isinstance(identity, dict) else {}
    users = identity.get("users") if isinstance(identity.get("users"), dict) else {}
    schedulers = {c.get("scheduler") for _, c in _items(raw.get("sitehub_clusters"))}
    names = ["keycloak_admin_password", "hub_cookie_secret", "hub_crypt_key", "hub_proxy_token"]
    if identity and identity.get("database", "postgres") == "postgres":
        names.append("keycloak_db_password")
    if users.get("type") == "ldap":
        names.append("ldap_bind_password")
    if "slurm" in schedulers:
        names.append("munge_key")
    if "htcondor" in schedulers:
        site = raw.get("sitehub_site")
        demo = isinstance(site, dict) and site.get("demo") is True
        # a demo builds its own pool: every pool host holds its signing key
        names.append("htcondor_signing_key" if demo else "htcondor_token")
    return names


def _check_secrets(report: _Report, site_vars: dict[str, Any], raw: dict[str, Any]) -> None:
    secrets = site_vars.get("sitehub_secrets") or {}
    if not isinstance(secrets, Mapping):
        return
    site = raw.get("sitehub_site")
    demo = isinstance(site, dict) and site.get("demo") is True
    for name in required_secrets(raw):
        if name not in secrets:
            report.add(
                ("sitehub_secrets",),
                f"secret '{name}' is required by this site: add it "
                + ("(a password lookup is fine for a demo)" if demo else "(vaulted)"),
            )
    for name, value in secrets.items():
        loc = ("sitehub_secrets", str(name))
        state = _secret_state(value, report.inventory.vaulted_variables, demo)
        if state is None:
            state = _secret_strength(report, loc, value)
        if state is not None:
            report.add(loc, state)


# Secrets sitehub itself uses as keys (derivation seeds, tokens, the admin password): a
# short one is guessable. Passwords other systems set (LDAP bind, database) must not be empty.
STRONG_SECRETS = (
    "keycloak_admin_password",
    "hub_cookie_secret",
    "hub_crypt_key",
    "hub_proxy_token",
    "munge_key",
)
MIN_SECRET_LENGTH = 32
_LOOKUP_LENGTH_RE = re.compile(r"\blength\s*=\s*(\d+)")
VAULT_HOWTO = (
    "give the vault password: ansible-playbook --vault-password-file FILE or "
    "--ask-vault-pass (or ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file in ansible.cfg)"
)


def _secret_strength(report: _Report, loc: tuple[str, str], value: Any) -> str | None:
    """What is weak about a secret, else None.

    Literals in a vault-encrypted file were decrypted to be read at all; inline `!vault`
    values (the secret itself or the variable it refers to) are decrypted with the vault
    secrets validation was given. Without any, the length is not checked: a note says so,
    or (require_vault: a run about to deploy) a problem, as the deploy would fail on it.
    """
    name = loc[1]
    text = value.strip() if isinstance(value, str) and not is_inline_vaulted(value) else None
    ref = _TEMPLATE_VAR_RE.match(text) if text is not None else None
    if text is not None and _PASSWORD_LOOKUP_RE.match(text):
        length = _LOOKUP_LENGTH_RE.search(text)
        if name in STRONG_SECRETS and length and int(length.group(1)) < MIN_SECRET_LENGTH:
            return (
                f"generated with length={length.group(1)}: use length={MIN_SECRET_LENGTH} or "
                "more for a key sitehub derives secrets from"
            )
        return None
    what = "its inline `!vault` value"
    if ref:
        target = report.inventory.vaulted_values.get(ref.group(1))
        if target is None:  # not vaulted: _secret_state said so
            return None
        value = target
        at = origin_of(target)
        where = f"{_display_path(at.path)}:{at.line}" if at.line else _display_path(at.path)
        what = f"the inline `!vault` value of {ref.group(1)} ({where})"
    if is_inline_vaulted(value):
        vault = report.inventory.vault
        if vault is None:
            if report.require_vault:
                return f"{what} cannot be decrypted, this run has no vault password: " + (
                    VAULT_HOWTO
                )
            report.note(
                loc,
                f"length not checked: {what} needs the vault password "
                "(sitehub validate --vault-password-file FILE checks it)",
            )
            return None
        from ansible.errors import AnsibleError

        try:
            value = decrypt_inline(value, vault)
        except AnsibleError as exc:
            reason = " ".join(str(getattr(exc, "_original_message", exc)).split())
            return f"{what} cannot be decrypted with the vault password given ({reason})"
    text = str(value).strip()
    if not text:
        return "is empty: set the real secret (vaulted)"
    if name in STRONG_SECRETS and len(text) < MIN_SECRET_LENGTH:
        return (
            f"has {len(text)} characters: a key sitehub derives secrets from needs at least "
            f"{MIN_SECRET_LENGTH}; generate one (e.g. `openssl rand -hex 32`) and vault it"
        )
    return None


def _secret_state(value: Any, vaulted_variables: set[str], demo: bool) -> str | None:
    """None when the secret is stored safely, else what is wrong with it."""
    if is_inline_vaulted(value):
        return None
    # A reference or a lookup says where the secret really is, even inside a vault file.
    if isinstance(value, str):
        text = value.strip()
        ref = _TEMPLATE_VAR_RE.match(text)
        if ref:
            if ref.group(1) in vaulted_variables:
                return None
            return (
                f"refers to '{ref.group(1)}', which is not a vaulted variable: encrypt "
                f"{ref.group(1)} with `ansible-vault encrypt_string` (or put it in a "
                "vault-encrypted file)"
            )
        if _PASSWORD_LOOKUP_RE.match(text):
            if demo:
                return None
            return (
                "generated with the password lookup, which keeps it in a plaintext file: "
                "allowed only for demo sites; vault it with `ansible-vault encrypt_string`"
            )
    if is_vaulted(value):  # a literal in a vault-encrypted file
        return None
    return "is stored in plaintext: encrypt it with `ansible-vault encrypt_string`" + (
        " or generate it at deploy time with lookup('ansible.builtin.password', ...)"
        if demo
        else ""
    )
