"""What `condor_submit` and `condor_q` say about a notebook job, for the hub (pure).

Same rule as the Slurm side (sitehub.hub.slurm): a job is "gone" only when HTCondor says so.
A failed, timed-out or unreadable query means "unknown" and the hub keeps the server
(batchspawner #315, #171 read every unexpected error as "job gone"). Phases and the status
record are sitehub.hub.slurm's, so the spawner handles both schedulers alike.
"""

from __future__ import annotations

import json
import re

from sitehub.hub.slurm import JobStatus, Phase

# condor_q prints a JSON list of job ads (nothing at all when the job left the queue)
QUERY_ATTRIBUTES = (
    "ClusterId",
    "JobStatus",
    "RemoteHost",
    "HoldReason",
    "LastRejMatchReason",
    "NumJobStarts",
)
_STATES = {
    1: (Phase.PENDING, "IDLE"),
    2: (Phase.RUNNING, "RUNNING"),
    3: (Phase.GONE, "REMOVED"),
    4: (Phase.GONE, "COMPLETED"),
    5: (Phase.PENDING, "HELD"),  # an admin may release it; periodic_remove ends it otherwise
    6: (Phase.GONE, "TRANSFERRING_OUTPUT"),  # the server has exited
    7: (Phase.PENDING, "SUSPENDED"),
}
_SUBMITTED = re.compile(r"submitted to cluster (\d+)\.")
_UNREACHABLE = (
    "Failed to fetch ads",
    "Can't find address",
    "Failed to connect",
    "Connection refused",
    "timed out",
    "AUTHENTICATE",
)


class SubmitError(RuntimeError):
    """condor_submit refused or failed; the message is HTCondor's, trimmed."""


def condor_q_argv(job_id: str) -> list[str]:
    if not job_id.isdigit():
        raise ValueError(f"not an HTCondor cluster id: {job_id!r}")
    return ["condor_q", job_id, "-json", "-attributes", ",".join(QUERY_ATTRIBUTES)]


def _clean(text: str) -> str:
    return " ".join(text.split())[-300:]


def parse_submit(rc: int, stdout: str, stderr: str) -> str:
    """The cluster id from condor_submit's output, or SubmitError with its reason."""
    match = _SUBMITTED.search(stdout)
    if rc == 0 and match:
        return match.group(1)
    raise SubmitError(_clean(stderr or stdout) or f"condor_submit exited with {rc}")


def interpret_condor_q(
    job_id: str, rc: int | None, stdout: str, stderr: str, timed_out: bool = False
) -> JobStatus:
    """Status of one job from `condor_q ID -json -attributes ...` (condor_q_argv)."""
    if timed_out or rc is None:
        return JobStatus(Phase.UNKNOWN, job_id, detail="condor_q timed out", unreachable=True)
    if rc != 0:
        unreachable = any(s.lower() in stderr.lower() for s in _UNREACHABLE)
        return JobStatus(Phase.UNKNOWN, job_id, detail=_clean(stderr), unreachable=unreachable)
    if not stdout.strip():
        # rc 0 and no ad: the schedd answered and no longer has the job
        return JobStatus(Phase.GONE, job_id, detail="job not in queue")
    try:
        ads = json.loads(stdout)
    except ValueError:
        return JobStatus(
            Phase.UNKNOWN, job_id, detail=f"unreadable condor_q output {stdout[:200]!r}"
        )
    for ad in ads if isinstance(ads, list) else []:
        if not isinstance(ad, dict) or str(ad.get("ClusterId")) != job_id:
            continue
        code = ad.get("JobStatus")
        if code not in _STATES:
            return JobStatus(Phase.UNKNOWN, job_id, detail=f"JobStatus {code!r}")
        phase, state = _STATES[code]
        host = str(ad.get("RemoteHost") or "")
        host = host.split("@", 1)[-1]  # slot1_3@node.example.org -> node.example.org
        reason = ad.get("HoldReason") if code == 5 else ad.get("LastRejMatchReason")
        return JobStatus(phase, job_id, state, str(reason or ""), host)
    return JobStatus(Phase.UNKNOWN, job_id, detail=f"job {job_id} not in condor_q's answer")
