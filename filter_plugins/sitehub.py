"""Jinja2 filters over sitehub's renderers (thin wrappers: the logic lives in src/sitehub)."""

from __future__ import annotations

from typing import Any

from sitehub.deploy import posix_accounts
from sitehub.inventory.model import Cluster, Identity, Kernel
from sitehub.inventory.validate import _plain
from sitehub.render.kernelspec import render_kernel
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "sitehub_url_spaces": sitehub_url_spaces,
            "sitehub_kernelspec": sitehub_kernelspec,
            "sitehub_kernelspec_entry": sitehub_kernelspec_entry,
            "sitehub_posix_accounts": sitehub_posix_accounts,
        }
