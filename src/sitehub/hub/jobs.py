"""What a batch job's state means to the hub, whichever scheduler runs it (pure).

The one rule that matters most: a job is "gone" only when the scheduler positively says so.
A failed, timed-out or unreadable status query means "unknown", and the hub keeps the server
(batchspawner #315, #171 read every unexpected error as "job gone" and dropped running
servers). sitehub.hub.slurm and sitehub.htcondor.status read their tools' answers into these.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field


class Phase(enum.Enum):
    PENDING = "pending"  # job exists and waits (or is held/suspended)
    RUNNING = "running"
    GONE = "gone"  # the scheduler says the job is over (or never heard of it)
    UNKNOWN = "unknown"  # could not tell: keep the server and ask again later


@dataclass(frozen=True)
class JobStatus:
    phase: Phase
    job_id: str = ""
    state: str = ""  # the scheduler's word for it (PENDING, RUNNING, FAILED, IDLE...)
    reason: str = ""  # pending (or hold) reason
    host: str = ""  # node the server runs on
    partition: str = ""
    detail: str = ""  # error text when UNKNOWN
    unreachable: bool = False  # UNKNOWN because the scheduler did not answer
    extra: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class QueuedJob:
    """One row of a scheduler's job listing, for the orphan reaper."""

    job_id: str
    name: str
    user: str
    state: str


@dataclass(frozen=True)
class Result:
    """What a command answered (the spawner's `run`, `sitehub reconcile`'s runner)."""

    rc: int | None  # None: it did not finish
    out: str
    err: str
    timed_out: bool = False


def last_line(stderr: str, prefix: re.Pattern[str] | None = None) -> str:
    """The last meaningful line of a tool's stderr (without `prefix`), for messages."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "no error output"
    return prefix.sub("", lines[-1]) if prefix is not None else lines[-1]
