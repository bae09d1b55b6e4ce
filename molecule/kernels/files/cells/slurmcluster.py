# Cell run in a notebook kernel on a compute node: Dask workers as Slurm jobs with
# no arguments at all (the site's /etc/dask/jobqueue.yaml decides), then the
# slides' logistic-map example through them.
import json
import os
import subprocess

from dask_jobqueue import SLURMCluster
from distributed import Client


def logistic(r, x=0.4, steps=2000, keep=4):
    values = []
    for _ in range(steps):
        x = r * x * (1.0 - x)
        values.append(x)
    return values[-keep:]


def where_am_i(_):
    return {
        k: os.environ.get(k) for k in ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_JOB_ACCOUNT")
    }


cluster = SLURMCluster()
cluster.scale(jobs=2)
client = Client(cluster)
client.wait_for_workers(2, timeout=300)
queue = subprocess.run(
    ["squeue", "-h", "--me", "-o", "%i|%P|%a|%q|%T|%j"], capture_output=True, text=True, check=True
).stdout.split()
rates = [2.5, 2.8, 3.2, 3.5]
results = client.gather(client.map(logistic, rates))
jobs_seen = client.gather(client.map(where_am_i, range(8), pure=False))
script = cluster.job_script()
client.close()
cluster.close()
print(
    json.dumps(
        {
            "squeue": queue,
            "rates": rates,
            "results": results,
            "jobs_seen": jobs_seen,
            "job_script": script,
        }
    )
)
