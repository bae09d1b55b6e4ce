import pytest

from sitehub.inventory.model import Cluster
from sitehub.render.dask import dask_config

pytest.importorskip("dask_jobqueue")


def flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def slurm_cluster():
    return Cluster(
        segment="hpc",
        title="HPC",
        scheduler="slurm",
        instances=[{"host": "h", "port": 8000, "route": "a"}],
        options={
            "partitions": [
                {"name": "debug", "max_runtime": 60, "accounts": ["default"], "qos": ["normal"]},
                {"name": "gpu", "max_runtime": 600, "accounts": ["tier3"]},
            ],
            "default_runtime": 30,
        },
    )


def test_slurm_defaults_come_from_the_first_partition():
    config = dask_config(slurm_cluster(), python="/opt/nb/bin/python", interface="eth0")
    slurm = config["jobqueue"]["slurm"]
    assert (slurm["queue"], slurm["account"], slurm["walltime"]) == ("debug", "default", "00:30:00")
    assert slurm["job-extra-directives"] == ["--qos=normal"]


def test_a_no_argument_slurmcluster_uses_them():
    import dask
    from dask_jobqueue import SLURMCluster

    config = dask_config(slurm_cluster(), python="/opt/nb/bin/python")
    # merged over dask-jobqueue's defaults, as a file in /etc/dask would be
    with dask.config.set(flatten(config)):
        cluster = SLURMCluster()
        try:
            script = cluster.job_script()
        finally:
            cluster.close()
    assert "#SBATCH -p debug" in script
    assert "#SBATCH -A default" in script
    assert "#SBATCH -t 00:30:00" in script
    assert "#SBATCH --qos=normal" in script
    assert "/opt/nb/bin/python -m distributed.cli.dask_worker" in script
