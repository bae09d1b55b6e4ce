"""`batch_map(fn, inputs)`: like map(), but each call runs on batch workers.

The notebook spelling of the slides' `condormap`: workers are batch jobs started
by dask-jobqueue with the site's defaults (/etc/dask/jobqueue.yaml), so a user
needs neither sbatch nor submit files. A progress bar advances as results come in.

We build on dask-jobqueue rather than the `slurm-magic` package: slurm-magic only
wraps sbatch/squeue as cell magics, so users would still write batch scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def _default_cluster() -> Any:
    import dask
    from dask_jobqueue import HTCondorCluster, SLURMCluster

    configured = dask.config.get("jobqueue", default={}) or {}
    if configured.get("htcondor") and not configured.get("slurm"):
        return HTCondorCluster()
    return SLURMCluster()


def batch_map(
    fn: Callable[[Any], Any],
    inputs: Iterable[Any],
    *,
    jobs: int = 2,
    cluster: Any = None,
    progress: bool = True,
) -> list[Any]:
    """Apply fn to every input on batch workers and return the results in order.

    jobs: how many batch jobs (workers) to start. cluster: an existing dask
    cluster (SLURMCluster, HTCondorCluster, LocalCluster, ...) to use instead of a
    new one; it is left running. The batch jobs of a cluster made here end when
    the results are in.
    """
    from distributed import Client, as_completed

    items = list(inputs)
    own = cluster is None
    cluster = _default_cluster() if own else cluster
    try:
        if hasattr(cluster, "scale") and own:
            cluster.scale(jobs=jobs)
        with Client(cluster) as client:
            futures = client.map(fn, items, pure=False)
            bar = _progress_bar(len(items)) if progress else None
            for _ in as_completed(futures):
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
            return client.gather(futures)
    finally:
        if own:
            cluster.close()


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="batch jobs", unit="task")
