"""Jinja2 filters over sitehub's renderers (thin wrappers: the logic lives in src/sitehub)."""

from __future__ import annotations

from typing import Any

from sitehub.deploy import (
    frontend_secret,
    htcondor_group_map,
    hub_instances,
    posix_accounts,
    realm_users,
    scheduler_hosts,
)
from sitehub.htcondor.deploy import submit_role_vars
from sitehub.inventory.model import Cluster, Identity, Kernel
from sitehub.inventory.validate import _plain
from sitehub.render.kernelspec import render_kernel
from sitehub.render.quoting import FILTERS as QUOTING_FILTERS
from sitehub.render.urlspace import route_cookie_header, url_space


def sitehub_url_spaces(clusters: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    """sitehub_clusters -> one URL space per cluster (balancer, members, cookie scope)."""
    result = []
    for raw in clusters:
        space = url_space(Cluster.model_validate(_plain(raw)), **kwargs)
        data = space.as_dict()
        data["set_cookie"] = route_cookie_header(space)
        result.append(data)
    return result


def sitehub_kernelspec(kernel: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    """One sitehub_kernels entry -> {"kernel.json": ..., "launch": ...}."""
    return render_kernel(Kernel.model_validate(_plain(kernel)), **kwargs).files()


def sitehub_kernelspec_entry(kernel: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """One sitehub_kernels entry -> {"name": ..., "files": {...}} for jupyter_kernelspec."""
    return {"name": str(kernel["name"]), "files": sitehub_kernelspec(kernel, **kwargs)}


def sitehub_posix_accounts(identity: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """sitehub_identity -> {"groups": [...], "users": [...]} for the common role."""
    return posix_accounts(Identity.model_validate(_plain(identity)))


def _revealed(secrets: dict[str, Any]) -> dict[str, str]:
    # str() decrypts inline-vaulted values, which _plain deliberately keeps opaque
    return {str(k): str(v) for k, v in secrets.items()}


def sitehub_hub_instances(
    clusters: list[dict[str, Any]], host: str, secrets: dict[str, Any]
) -> list[dict[str, Any]]:
    """sitehub_clusters -> this host's `jupyterhub_instances` (ports, secrets derived)."""
    return hub_instances(_clusters(clusters), str(host), _revealed(secrets))


def sitehub_frontend_secret(secrets: dict[str, Any]) -> str:
    """sitehub_secrets -> the header secret the frontend sends and the hubs require."""
    return frontend_secret(_revealed(secrets))


def sitehub_realm_users(identity: dict[str, Any], password: str) -> list[dict[str, Any]]:
    """sitehub_identity -> its demo users as `keycloak_realm_demo_users`."""
    return realm_users(Identity.model_validate(_plain(identity)), str(password))


def _clusters(clusters: list[dict[str, Any]]) -> list[Cluster]:
    return [Cluster.model_validate(_plain(raw)) for raw in clusters]


def sitehub_scheduler_hosts(clusters: list[dict[str, Any]], scheduler: str) -> list[str]:
    """sitehub_clusters -> the hosts of every `scheduler` cluster's instances."""
    return scheduler_hosts(_clusters(clusters), str(scheduler))


def sitehub_htcondor_group_map(
    cluster: dict[str, Any], identity: dict[str, Any]
) -> dict[str, list[str]]:
    """One HTCondor cluster + sitehub_identity -> {user: [accounting groups]}."""
    return htcondor_group_map(
        Cluster.model_validate(_plain(cluster)), Identity.model_validate(_plain(identity))
    )


def sitehub_htcondor_submit_vars(cluster: dict[str, Any]) -> dict[str, Any]:
    """One HTCondor cluster -> its hub hosts' htcondor_submit_* variables."""
    return submit_role_vars(Cluster.model_validate(_plain(cluster)))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "sitehub_url_spaces": sitehub_url_spaces,
            "sitehub_kernelspec": sitehub_kernelspec,
            "sitehub_kernelspec_entry": sitehub_kernelspec_entry,
            "sitehub_posix_accounts": sitehub_posix_accounts,
            "sitehub_hub_instances": sitehub_hub_instances,
            "sitehub_frontend_secret": sitehub_frontend_secret,
            "sitehub_realm_users": sitehub_realm_users,
            "sitehub_scheduler_hosts": sitehub_scheduler_hosts,
            "sitehub_htcondor_group_map": sitehub_htcondor_group_map,
            "sitehub_htcondor_submit_vars": sitehub_htcondor_submit_vars,
            **QUOTING_FILTERS,
        }
