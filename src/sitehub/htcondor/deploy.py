"""From the site inventory to the htcondor_submit role's variables (pure).

The site playbook (playbooks/, the lead's) calls this for each HTCondor cluster's hub hosts,
through a thin filter plugin, so the inventory stays the one place a site describes its pool.
The host's IDTOKEN is a secret: it comes from sitehub_secrets, not from here.
"""

from __future__ import annotations

from typing import Any


def submit_role_vars(cluster: Any) -> dict[str, Any]:
    """htcondor_submit_* variables for a Cluster (sitehub.inventory.model) on HTCondor."""
    pool = cluster.htcondor
    if pool is None:
        raise ValueError(f"cluster {cluster.segment} has no htcondor block")
    out: dict[str, Any] = {
        "htcondor_submit_version": pool.version,
        "htcondor_submit_central_manager": pool.central_manager,
        "htcondor_submit_schedd": pool.schedd or "",
        "htcondor_submit_security": pool.security,
    }
    if pool.repository_url:
        out["htcondor_submit_repository_url"] = pool.repository_url
    return out
