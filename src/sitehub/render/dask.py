"""Dask-jobqueue defaults for a cluster's notebooks, rendered from the inventory.

Written to /etc/dask/jobqueue.yaml in the notebook environment, so that in a
notebook `SLURMCluster()` (or `HTCondorCluster()`) with no arguments starts
workers as batch jobs of the cluster's default partition and account.
"""

from __future__ import annotations

from typing import Any

from sitehub.inventory.model import Cluster
from sitehub.runtime import format_runtime


def default_partition(cluster: Cluster) -> tuple[str | None, str | None, str | None]:
    """(partition, account, qos) a no-argument cluster uses: the first of each offered."""
    options = cluster.options
    if not options.partitions:
        return None, (options.accounts or [None])[0], (options.qos or [None])[0]
    first = options.partitions[0]
    account = (first.accounts or options.accounts or [None])[0]
    qos = (first.qos or options.qos or [None])[0]
    return first.name, account, qos


def dask_config(
    cluster: Cluster,
    *,
    python: str,
    interface: str | None = None,
    local_directory: str = "${TMPDIR:-/tmp}",
    log_directory: str | None = None,
    cores: int = 1,
    memory: str = "2GiB",
) -> dict[str, Any]:
    common: dict[str, Any] = {
        "cores": cores,
        "memory": memory,
        "processes": 1,
        "python": python,
        "interface": interface,
        "local-directory": local_directory,
        "log-directory": log_directory,
        "walltime": format_runtime(cluster.options.default_runtime),
    }
    config: dict[str, Any] = {
        # The dashboard is reached through the user's server (jupyter-server-proxy).
        "distributed": {"dashboard": {"link": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"}},
    }
    if cluster.scheduler == "slurm":
        partition, account, qos = default_partition(cluster)
        slurm = dict(common, queue=partition, account=account)
        slurm["job-extra-directives"] = [f"--qos={qos}"] if qos else []
        config["jobqueue"] = {"slurm": slurm}
    elif cluster.scheduler == "htcondor":
        pool = cluster.htcondor
        condor = dict(common, disk="1GiB")
        condor.pop("walltime")
        extra: dict[str, str] = {}
        if pool and pool.accounting_groups:
            extra["accounting_group"] = pool.accounting_groups[0]
        condor["job-extra-directives"] = extra
        config["jobqueue"] = {"htcondor": condor}
    return config
