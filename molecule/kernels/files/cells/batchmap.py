# Cell run in a notebook kernel on a compute node: the map helper, progress and all.
import json
import os

from sitehub_notebook import batch_map


def logistic_in_a_job(r, x=0.4, steps=2000):
    for _ in range(steps):
        x = r * x * (1.0 - x)
    return {
        "r": r,
        "x": x,
        "job": os.environ.get("SLURM_JOB_ID"),
        "partition": os.environ.get("SLURM_JOB_PARTITION"),
        "account": os.environ.get("SLURM_JOB_ACCOUNT"),
    }


rates = [2.2, 2.4, 2.6, 2.8, 2.9, 2.95]
results = batch_map(logistic_in_a_job, rates, jobs=2)
print(json.dumps(results))
