"""Spawn progress messages for the hub's progress page (pure)."""

from __future__ import annotations

from .jobs import JobStatus, Phase

# JupyterHub draws a bar from `progress` (0-100); the steps of a batch spawn
SUBMITTED, PENDING, RUNNING, CONNECTING = 10, 30, 70, 90

# Slurm's pending reasons users meet most, in words
REASONS = {
    "Resources": "waiting for free resources",
    "Priority": "higher-priority jobs are ahead",
    "QOSMaxJobsPerUserLimit": "your QOS allows no more running jobs",
    "AssocMaxJobsLimit": "your account allows no more running jobs",
    "ReqNodeNotAvail": "the requested nodes are not available",
    "PartitionDown": "the partition is down",
    "PartitionTimeLimit": "the runtime exceeds the partition's limit",
    "BeginTime": "waiting for its start time",
    "Dependency": "waiting for another job",
    "JobHeldUser": "held by you",
    "JobHeldAdmin": "held by an administrator",
    "None": "being scheduled",
}


def submitted(job_id: str, where: str) -> dict:
    return {"progress": SUBMITTED, "message": f"Submitted batch job {job_id} to {where}."}


def describe(
    status: JobStatus, position: int | None = None, scheduler: str = "the Slurm controller"
) -> dict:
    """One progress event for the job's current status; `scheduler` names what did not
    answer when the status is unknown for that reason."""
    jid = status.job_id
    if status.phase is Phase.PENDING:
        why = REASONS.get(status.reason, status.reason) if status.reason else ""
        text = f"Job {jid} is {status.state or 'PENDING'}"
        if status.reason:
            text += f" (reason: {status.reason}" + (f", {why}" if why != status.reason else "")
            text += ")"
        if position is not None:
            text += f"; position {position} in the queue"
            if status.partition:
                text += f" of partition {status.partition}"
        return {
            "progress": PENDING,
            "message": text + ".",
            "job_id": jid,
            "state": status.state,
            "reason": status.reason,
            "queue_position": position,
        }
    if status.phase is Phase.RUNNING:
        where = f" on node {status.host}" if status.host else ""
        return {
            "progress": RUNNING,
            "message": f"Job {jid} is RUNNING{where}; waiting for the notebook server to start.",
            "job_id": jid,
            "state": status.state,
            "node": status.host,
        }
    if status.phase is Phase.UNKNOWN:
        if status.unreachable:
            text = f"Cannot reach {scheduler} ({status.detail}); still trying."
        else:
            text = f"Status of job {jid} unknown ({status.detail}); still trying."
        return {"progress": PENDING, "message": text, "job_id": jid}
    return {
        "progress": PENDING,
        "message": f"Job {jid} ended ({status.state or status.detail}).",
        "job_id": jid,
        "state": status.state,
    }


def connecting(host: str, port: int) -> dict:
    return {
        "progress": CONNECTING,
        "message": f"Notebook server started on {host}:{port}; connecting.",
        "node": host,
    }
