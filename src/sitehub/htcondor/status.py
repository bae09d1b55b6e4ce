"""What `condor_submit` and `condor_q` say about a notebook job, for the hub (pure).

Same rule as the Slurm side (sitehub.hub.slurm): a job is "gone" only when HTCondor says so,
i.e. condor_q exits 0, complains about nothing and lists no ad for the job. A failed,
timed-out, complaining or unreadable query means "unknown" and the hub keeps the server
(batchspawner #315, #171 read every unexpected error as "job gone"). Phases and the status
record are sitehub.hub.jobs', so the spawner handles both schedulers alike.

Also here: the argv of every HTCondor command the spawner runs (ids and names checked, so a
value can never become an option), and the readers of their answers.
"""

from __future__ import annotations

import json
import re

from sitehub.hub.jobs import JobStatus, Phase, QueuedJob

from .submit import FILE_NAME, _checked

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
    "Failed to get",
    "Could not connect",
)
# stderr of an answer with rc 0 that is still not a clean one (the tool complained)
_COMPLAINT = re.compile(r"\b(error|failed|fail|can't|cannot|unable)\b", re.IGNORECASE)
# a schedd name as condor_q -name takes it (host name, or name@host)
SCHEDD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,254}\Z")


class SubmitError(RuntimeError):
    """condor_submit refused or failed; the message is HTCondor's, trimmed."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


def is_unreachable(text: str) -> bool:
    """True when an HTCondor tool's error says the schedd (or its authentication) failed."""
    low = text.lower()
    return any(s.lower() in low for s in _UNREACHABLE)


def complains(stderr: str) -> bool:
    """True when a tool that exited 0 still reported a problem on stderr."""
    return bool(_COMPLAINT.search(stderr)) or is_unreachable(stderr)


def _schedd(schedd: str) -> list[str]:
    if not schedd:
        return []  # the host's configuration (SCHEDD_HOST, or the local schedd)
    if not SCHEDD_NAME.fullmatch(schedd):
        raise ValueError(f"not a schedd name: {schedd!r}")
    return ["-name", schedd]


def _cluster(job_id: str) -> str:
    if not isinstance(job_id, str) or not job_id.isascii() or not job_id.isdigit():
        raise ValueError(f"not an HTCondor cluster id: {job_id!r}")
    return job_id


def condor_q_argv(job_id: str, schedd: str = "") -> list[str]:
    """One job's state; -allusers since the hub (root or its service user) owns no job."""
    return [
        "condor_q",
        _cluster(job_id),
        *_schedd(schedd),
        "-allusers",
        "-json",
        "-attributes",
        ",".join(QUERY_ATTRIBUTES),
    ]


def submit_argv(schedd: str = "", spool: bool = False) -> list[str]:
    """condor_submit reading the description on stdin (no file argument: HTCondor 23.9 reads
    a `-` argument too, but then prints the job ad instead of "N job(s) submitted to cluster
    M", seen live); -spool copies the input files (the environment file with the token) to
    the schedd at submit time."""
    return ["condor_submit", *_schedd(schedd), *(["-spool"] if spool else [])]


def condor_rm_argv(job_id: str, schedd: str = "") -> list[str]:
    return ["condor_rm", *_schedd(schedd), _cluster(job_id)]


def batch_constraint(batch_name: str) -> str:
    _checked(batch_name, FILE_NAME, "batch name")
    return f'JobBatchName =?= "{batch_name}"'


def prefix_constraint(prefix: str) -> str:
    """Jobs whose batch name starts with `prefix.` (sitehub.hub.batch.job_name's layout)."""
    _checked(prefix, FILE_NAME, "job name prefix")
    head = prefix + "."
    return f'substr(JobBatchName, 0, {len(head)}) =?= "{head}"'


def condor_rm_constraint_argv(constraint: str, schedd: str = "") -> list[str]:
    return ["condor_rm", *_schedd(schedd), "-constraint", constraint]


LIST_ATTRIBUTES = ("ClusterId", "JobBatchName", "Owner", "JobStatus")


def jobs_argv(prefix: str, schedd: str = "", extra: tuple[str, ...] = ()) -> list[str]:
    """Every queued job of one hub (for the orphan reaper; `sitehub reconcile` adds QDate)."""
    for name in extra:
        if not name.isascii() or not name.isalnum():
            raise ValueError(f"not a job attribute name: {name!r}")
    return [
        "condor_q",
        *_schedd(schedd),
        "-allusers",
        "-constraint",
        prefix_constraint(prefix),
        "-json",
        "-attributes",
        ",".join((*LIST_ATTRIBUTES, *extra)),
    ]


def parse_job_list(stdout: str) -> list[QueuedJob]:
    """`jobs_argv` output -> the queued jobs (sitehub.hub.jobs.QueuedJob, as the Slurm
    side's reaper reads them)."""
    if not stdout.strip():
        return []
    ads = json.loads(stdout)
    out = []
    for ad in ads if isinstance(ads, list) else []:
        if not isinstance(ad, dict) or "ClusterId" not in ad:
            continue
        state = _STATES.get(ad.get("JobStatus"), (None, str(ad.get("JobStatus"))))[1]
        out.append(
            QueuedJob(
                str(ad["ClusterId"]), str(ad.get("JobBatchName") or ""), str(ad.get("Owner") or ""),
                state,
            )
        )  # fmt: skip
    return out


HISTORY_ATTRIBUTES = (
    "ClusterId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "RemoveReason",
    "HoldReason",
    "LastHoldReason",
)


def history_argv(job_id: str, schedd: str = "") -> list[str]:
    return [
        "condor_history",
        *_schedd(schedd),
        "-limit",
        "1",
        "-json",
        "-attributes",
        ",".join(HISTORY_ATTRIBUTES),
        _cluster(job_id),
    ]


def describe_history(job_id: str, rc: int | None, stdout: str) -> str:
    """How a job ended, from `history_argv` output; '' when history does not say."""
    if rc != 0 or not stdout.strip():
        return ""
    try:
        ads = json.loads(stdout)
    except ValueError:
        return ""
    for ad in ads if isinstance(ads, list) else []:
        if not isinstance(ad, dict) or str(ad.get("ClusterId")) != job_id:
            continue
        state = _STATES.get(ad.get("JobStatus"), (None, "ENDED"))[1]
        if ad.get("ExitBySignal") is True:
            text = f"{state}, killed by signal {ad.get('ExitSignal')}"
        elif ad.get("ExitCode") is not None:
            text = f"{state}, exit code {ad.get('ExitCode')}"
        else:
            text = state
        reason = ad.get("RemoveReason") or ad.get("HoldReason") or ad.get("LastHoldReason")
        if reason:
            text += f": {reason}"
        return _clean(str(text))
    return ""


def _clean(text: str) -> str:
    return " ".join(text.split())[-300:]


def parse_submit(rc: int, stdout: str, stderr: str) -> str:
    """The cluster id from condor_submit's output, or SubmitError with its reason."""
    match = _SUBMITTED.search(stdout)
    if rc == 0 and match:
        return match.group(1)
    text = stderr or stdout
    raise SubmitError(
        _clean(text) or f"condor_submit exited with {rc}", unreachable=is_unreachable(text)
    )


def interpret_condor_q(
    job_id: str, rc: int | None, stdout: str, stderr: str, timed_out: bool = False
) -> JobStatus:
    """Status of one job from `condor_q ID -json -attributes ...` (condor_q_argv)."""
    if timed_out or rc is None:
        return JobStatus(Phase.UNKNOWN, job_id, detail="condor_q timed out", unreachable=True)
    if rc != 0:
        return JobStatus(
            Phase.UNKNOWN, job_id, detail=_clean(stderr), unreachable=is_unreachable(stderr)
        )
    if complains(stderr):
        # rc 0, yet the tool complained: not the schedd's clean "no such job"
        return JobStatus(
            Phase.UNKNOWN, job_id, detail=_clean(stderr), unreachable=is_unreachable(stderr)
        )
    if not stdout.strip():
        # rc 0 and no ad: the schedd answered and no longer has the job
        return JobStatus(Phase.GONE, job_id, detail="job not in queue")
    try:
        ads = json.loads(stdout)
    except ValueError:
        return JobStatus(
            Phase.UNKNOWN, job_id, detail=f"unreadable condor_q output {stdout[:200]!r}"
        )
    if ads == []:
        # some versions print an empty list instead of nothing
        return JobStatus(Phase.GONE, job_id, detail="job not in queue")
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
