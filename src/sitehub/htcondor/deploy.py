"""From the site inventory to the htcondor_submit role's variables and the CondorSpawner's
settings (pure).

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
        "htcondor_submit_install_source": pool.packages,
    }
    if pool.repository_url:
        out["htcondor_submit_repository_url"] = pool.repository_url
    return out


SPAWNER_CLASS = "sitehub.hub.condor.CondorSpawner"


def spawner_settings(cluster: Any) -> dict[str, Any]:
    """CondorSpawner traits for the hub instances of an HTCondor cluster.

    The jupyterhub role writes them into each instance's settings (its `spawner` entry) with
    `spawner_class: sitehub.hub.condor.CondorSpawner`. A remote schedd gets `-spool`
    submits, so the environment file (with the hub's token) is copied to the schedd at submit
    time instead of being read later from a directory the schedd host may not see.
    """
    pool = cluster.htcondor
    if pool is None:
        raise ValueError(f"cluster {cluster.segment} has no htcondor block")
    return {
        "scheduler": "htcondor",
        "allow_local": cluster.options.run_locally,
        "condor_schedd_name": pool.schedd or "",
        "condor_spool": bool(pool.schedd),
        "condor_accounting_groups": list(pool.accounting_groups),
        "condor_max_cpus": pool.max_cpus,
        "condor_max_memory_gb": pool.max_memory_gb,
        "condor_gpu_capabilities": list(pool.gpu_capabilities),
        "condor_gpu_devices": list(pool.gpu_devices),
        "container_images": [
            {"name": i.name, "ref": i.ref, "description": i.description or i.name}
            for i in cluster.images
        ],
        "container_image_dirs": list(cluster.image_dirs),
        "max_runtime_minutes": pool.max_runtime,
        "default_runtime_minutes": cluster.options.default_runtime,
    }
