"""Parsers for Slurm (22.05) command output, and what a job's state means to the hub.

Pure functions only: the spawner runs the commands, these read their output into
sitehub.hub.jobs' records. A job is "gone" only when Slurm positively says so: a failed,
timed-out or unreadable status query means "unknown", and the hub keeps the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# scheduler-independent (shared with HTCondor); callers may still import them from here
from .jobs import JobStatus, Phase, QueuedJob, last_line

# ---------------------------------------------------------------------------------------
# small helpers

_KEY_SPLIT = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9_/:.]*=)")
NONE_VALUES = frozenset({"", "(null)", "n/a", "N/A", "None", "NONE"})


def parse_kv_line(line: str) -> dict[str, str]:
    """One `scontrol show ... -o` record: `Key=Value Key2=Value two ...` -> dict.

    Values may hold spaces (`OS=Linux 6.1.0 #1 SMP`, `Reason=Not responding`) and `=`
    (`TRES=cpu=4,mem=1G`): a new key starts only at whitespace followed by `Word=`.
    """
    out: dict[str, str] = {}
    for part in _KEY_SPLIT.split(line.strip()):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value.strip()
    return out


def parse_time_minutes(value: str) -> int | None:
    """Slurm time limit -> whole minutes (rounded up); None when unlimited.

    Accepts the forms Slurm prints and takes: `UNLIMITED`, `INFINITE`, `NONE`, `M`, `M:S`,
    `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
    """
    v = value.strip()
    if v.upper() in {"UNLIMITED", "INFINITE", "NONE", ""}:
        return None
    days = 0
    if "-" in v:
        d, _, v = v.partition("-")
        days = int(d)
        parts = [int(p) for p in v.split(":")]
        hours, minutes, seconds = [*parts, 0, 0, 0][:3]
    else:
        parts = [int(p) for p in v.split(":")]
        if len(parts) == 1:
            hours, minutes, seconds = 0, parts[0], 0
        elif len(parts) == 2:
            hours, minutes, seconds = 0, parts[0], parts[1]
        elif len(parts) == 3:
            hours, minutes, seconds = parts
        else:
            raise ValueError(f"not a Slurm time: {value!r}")
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    return -(-total // 60)


def _name_set(value: str | None) -> frozenset[str] | None:
    """Comma list -> set; None for `ALL` (no restriction) or absent."""
    if value is None or value.strip().upper() == "ALL":
        return None
    return frozenset(x for x in value.split(",") if x and x not in NONE_VALUES)


# ---------------------------------------------------------------------------------------
# partitions and nodes


@dataclass(frozen=True)
class Partition:
    name: str
    state: str = "UP"
    max_minutes: int | None = None  # None: unlimited
    default_minutes: int | None = None
    default: bool = False
    allow_accounts: frozenset[str] | None = None  # None: all accounts
    deny_accounts: frozenset[str] = frozenset()
    allow_groups: frozenset[str] | None = None  # None: all groups
    allow_qos: frozenset[str] | None = None  # None: all QOS
    deny_qos: frozenset[str] = frozenset()
    hidden: bool = False

    def account_allowed(self, account: str) -> bool:
        if account in self.deny_accounts:
            return False
        return self.allow_accounts is None or account in self.allow_accounts

    def qos_allowed(self, qos: str) -> bool:
        if not qos:  # no --qos: the association's default applies
            return True
        if qos in self.deny_qos:
            return False
        return self.allow_qos is None or qos in self.allow_qos

    def groups_allowed(self, groups: Iterable[str]) -> bool:
        return self.allow_groups is None or bool(self.allow_groups & set(groups))


def parse_partitions(text: str) -> list[Partition]:
    """`scontrol show partition -o` (one partition per line)."""
    parts = []
    for line in text.splitlines():
        kv = parse_kv_line(line)
        if "PartitionName" not in kv:
            continue
        parts.append(
            Partition(
                name=kv["PartitionName"],
                state=kv.get("State", "UP"),
                max_minutes=parse_time_minutes(kv.get("MaxTime", "UNLIMITED")),
                default_minutes=parse_time_minutes(kv.get("DefaultTime", "NONE")),
                default=kv.get("Default", "NO") == "YES",
                allow_accounts=_name_set(kv.get("AllowAccounts")),
                deny_accounts=_name_set(kv.get("DenyAccounts")) or frozenset(),
                allow_groups=_name_set(kv.get("AllowGroups")),
                allow_qos=_name_set(kv.get("AllowQos")),
                deny_qos=_name_set(kv.get("DenyQos")) or frozenset(),
                hidden=kv.get("Hidden", "NO") == "YES",
            )
        )
    return parts


@dataclass(frozen=True)
class Gres:
    name: str  # "gpu"
    type: str  # "" when untyped
    count: int


def parse_gres(value: str) -> list[Gres]:
    """Node `Gres=` value: `gpu:pascal:2`, `gpu:2`, `gpu:tesla:1(S:0-1),gpu:pascal:1`, `(null)`."""
    if value.strip() in NONE_VALUES:
        return []
    out = []
    for item in re.sub(r"\([^)]*\)", "", value).split(","):
        bits = [b for b in item.strip().split(":") if b != ""]
        if not bits:
            continue
        name, gtype, count = bits[0], "", 1
        if len(bits) == 2:
            if bits[1].isdigit():
                count = int(bits[1])
            else:
                gtype = bits[1]
        elif len(bits) >= 3:
            gtype = bits[1]
            count = int(bits[2]) if bits[2].isdigit() else 1
        out.append(Gres(name, gtype, count))
    return out


@dataclass(frozen=True)
class Node:
    name: str
    addr: str
    partitions: tuple[str, ...]
    gres: tuple[Gres, ...]
    state: str

    @property
    def gpu_types(self) -> set[str]:
        return {g.type for g in self.gres if g.name == "gpu" and g.type}

    @property
    def has_gpus(self) -> bool:
        return any(g.name == "gpu" and g.count > 0 for g in self.gres)


def parse_nodes(text: str) -> list[Node]:
    """`scontrol show node -o` (one node per line)."""
    nodes = []
    for line in text.splitlines():
        kv = parse_kv_line(line)
        if "NodeName" not in kv:
            continue
        addr = kv.get("NodeAddr", "")
        nodes.append(
            Node(
                name=kv["NodeName"],
                addr=addr if addr not in NONE_VALUES else kv["NodeName"],
                partitions=tuple(p for p in kv.get("Partitions", "").split(",") if p),
                gres=tuple(parse_gres(kv.get("Gres", "(null)"))),
                state=kv.get("State", ""),
            )
        )
    return nodes


def gpus_by_partition(nodes: Iterable[Node]) -> dict[str, tuple[bool, frozenset[str]]]:
    """partition -> (has any GPU, GPU types offered on its nodes)."""
    acc: dict[str, tuple[bool, set[str]]] = {}
    for node in nodes:
        for part in node.partitions:
            has, types = acc.setdefault(part, (False, set()))
            acc[part] = (has or node.has_gpus, types | node.gpu_types)
    return {p: (has, frozenset(types)) for p, (has, types) in acc.items()}


def parse_config_value(text: str, key: str) -> str | None:
    """A value from `scontrol show config` (`Key  = value` lines)."""
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip() == key:
            return v.strip()
    return None


# ---------------------------------------------------------------------------------------
# associations


ASSOC_FORMAT = "Cluster,Account,User,Partition,QOS,DefaultQOS"


@dataclass(frozen=True)
class Association:
    cluster: str
    account: str
    user: str
    partition: str  # "" = every partition
    qos: tuple[str, ...]
    default_qos: str


def parse_associations(text: str) -> list[Association]:
    """`sacctmgr -n -P show assoc where user=X format=<ASSOC_FORMAT>` (pipe-separated)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cols = line.split("|")
        if len(cols) < 6:
            raise ValueError(f"unexpected sacctmgr line: {line!r}")
        cluster, account, user, partition, qos, default_qos = (c.strip() for c in cols[:6])
        if not user:  # account-level rows carry no user
            continue
        out.append(
            Association(
                cluster=cluster,
                account=account,
                user=user,
                partition=partition,
                qos=tuple(q for q in qos.split(",") if q),
                default_qos=default_qos,
            )
        )
    return out


def parse_default_account(text: str) -> str:
    """`sacctmgr -n -P show user X format=User,DefaultAccount` -> the default account."""
    for line in text.splitlines():
        cols = line.strip().split("|")
        if len(cols) >= 2 and cols[1]:
            return cols[1]
    return ""


# ---------------------------------------------------------------------------------------
# submitting and following a job


class SlurmError(RuntimeError):
    """A Slurm command failed; `unreachable` when the controller could not be contacted."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


_UNREACHABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Zero Bytes were transmitted"
    r"|Connection refused|Communication connection failure|Slurm backup controller in standby"
    r"|slurmctld.*(?:not responding|down)|Transport endpoint is not connected",
    re.IGNORECASE,
)


def is_unreachable(stderr: str) -> bool:
    return bool(_UNREACHABLE.search(stderr))


_TOOL_PREFIX = re.compile(r"^(?:sbatch|squeue|scancel|scontrol|sacctmgr): error: ")


def clean_error(stderr: str) -> str:
    """Last meaningful line of a Slurm tool's stderr, without the `sbatch: error: ` prefix."""
    return last_line(stderr, _TOOL_PREFIX)


def parse_sbatch(rc: int, stdout: str, stderr: str) -> str:
    """`sbatch --parsable` -> job id (`123` or `123;cluster`); raise SlurmError otherwise."""
    if rc != 0:
        raise SlurmError(clean_error(stderr), unreachable=is_unreachable(stderr))
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if lines:
        job_id = lines[-1].split(";")[0]
        if job_id.isdigit():
            return job_id
    raise SlurmError(f"sbatch printed no job id: {stdout.strip()!r} {stderr.strip()!r}")


_PENDING_STATES = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
     "SUSPENDED", "STOPPED", "RESIZING"}
)  # fmt: skip
_RUNNING_STATES = frozenset({"RUNNING", "SIGNALING"})
_GONE_STATES = frozenset(
    {"COMPLETING", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "PREEMPTED", "NODE_FAIL",
     "REVOKED", "SPECIAL_EXIT", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "STAGE_OUT"}
)  # fmt: skip

SQUEUE_JOB_FORMAT = "%i|%T|%r|%B|%N|%P"


def interpret_squeue(
    job_id: str, rc: int | None, stdout: str, stderr: str, timed_out: bool = False
) -> JobStatus:
    """Status of one job from `squeue -h -j ID -o '%i|%T|%r|%B|%N|%P'`.

    rc None or timed_out: the command did not finish -> UNKNOWN.
    """
    if timed_out or rc is None:
        return JobStatus(Phase.UNKNOWN, job_id, detail="squeue timed out", unreachable=True)
    if rc != 0:
        if "Invalid job id specified" in stderr:
            return JobStatus(Phase.GONE, job_id, detail=clean_error(stderr))
        return JobStatus(
            Phase.UNKNOWN, job_id, detail=clean_error(stderr), unreachable=is_unreachable(stderr)
        )
    rows = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not rows:
        # rc 0 and nothing listed: the job has left the controller's memory
        return JobStatus(Phase.GONE, job_id, detail="job not in queue")
    for row in rows:
        cols = row.split("|")
        if len(cols) < 6 or cols[0] != job_id:
            continue
        _, state, reason, batch_host, nodelist, partition = (c.strip() for c in cols[:6])
        state = state.split()[0].rstrip("+") if state else ""
        host = batch_host if batch_host not in NONE_VALUES else ""
        if not host and nodelist and "[" not in nodelist and "," not in nodelist:
            host = nodelist if nodelist not in NONE_VALUES else ""
        reason = "" if reason in NONE_VALUES else reason
        if state in _RUNNING_STATES:
            phase = Phase.RUNNING
        elif state in _PENDING_STATES:
            phase = Phase.PENDING
        elif state in _GONE_STATES:
            phase = Phase.GONE
        else:
            return JobStatus(Phase.UNKNOWN, job_id, state=state, detail=f"state {state!r}")
        return JobStatus(phase, job_id, state, reason, host, partition)
    return JobStatus(Phase.UNKNOWN, job_id, detail=f"unexpected squeue output {stdout[:200]!r}")


def queue_position(stdout: str, job_id: str) -> int | None:
    """1-based position of job_id in `squeue -h -t PD -p P --sort=-p,i -o %i` output."""
    ids = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    try:
        return ids.index(job_id) + 1
    except ValueError:
        return None


def parse_job_list(stdout: str) -> list[QueuedJob]:
    """`squeue -h -o '%i|%j|%u|%T'` rows."""
    out = []
    for line in stdout.splitlines():
        cols = line.strip().split("|")
        if len(cols) >= 4 and cols[0]:
            out.append(QueuedJob(cols[0], cols[1], cols[2], cols[3]))
    return out


# for `sitehub reconcile`: how a job that left the queue ended (one row per job with -X)
SACCT_FORMAT = "JobID,State,ExitCode,End"


def describe_sacct(job_id: str, rc: int | None, stdout: str) -> str:
    """`sacct -n -P -X -j ID -o SACCT_FORMAT` -> 'CANCELLED by 0, exit 0:15 at ...'; '' when
    accounting does not say (no slurmdbd, purged, failed)."""
    if rc != 0:
        return ""
    for line in stdout.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 4 or cols[0] != job_id:
            continue
        state, code, end = cols[1], cols[2], cols[3]
        text = state
        if code and code not in NONE_VALUES:
            text += f", exit {code}"
        if end and end not in NONE_VALUES and end != "Unknown":
            text += f" at {end}"
        return text
    return ""
