"""Submit descriptions for notebook servers in an HTCondor pool (pure, no bindings needed).

`build_submit(request, context)` turns a validated form choice (`JobRequest`, made by
`sitehub.htcondor.choices.validate`) and the spawner's trusted context (`SubmitContext`)
into the text `condor_submit` reads. Every value is checked again here against a strict
pattern: a newline would start a new submit command, `$(...)` would be macro-expanded and a
quote would end a ClassAd string, so none of them can reach the description.

How the hub's API token reaches the job
----------------------------------------
Not with ``getenv = True``: many pools forbid it (``SUBMIT_ALLOW_GETENV = false``), and it
would copy the whole hub-side environment into the job. Not with ``environment =`` either:
whatever it holds becomes the job ad's ``Environment`` attribute, and job ads are readable by
every user of the pool (``condor_q -l``, ``condor_history``), so the token would leak.

Instead the spawner writes the few variables the server needs (`env_file_text`: the
``JUPYTERHUB_*`` set with the token, plus ``HOME``/``USER``/``SHELL``) into a file of the
user's private job directory, mode 0600, and the description lists it in
``transfer_input_files``. HTCondor's file transfer copies it, as the user, into the job's
private sandbox; the wrapper (`roles/htcondor_submit/files/sitehub-condor-job`, the job's
executable, transferred with it so execute nodes need nothing installed) sources it,
deletes it and ``exec``s the batchspawner single-user command. The job ad carries only the
file's name. With a remote schedd the file must be readable where the shadow runs: submit
with ``condor_submit -spool`` (the file is copied at submit time and can be removed at once)
or keep job directories on a file system the schedd host shares.

Runtime is enforced twice: ``allowed_execute_duration`` (HTCondor holds the job when it has
executed that long) and a ``periodic_remove`` fallback for pools whose version ignores it.
The same expression removes a job that was evicted and went back to idle (a notebook server
cannot migrate; the hub already lost it) and a held job after a grace period.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Where roles/htcondor_submit installs the job wrapper on hub (submit) hosts.
WRAPPER_PATH = "/usr/local/libexec/sitehub/sitehub-condor-job"
DEFAULT_ENV_FILE = "sitehub-job.env"
# Variables the single-user server needs; nothing else of the hub's environment travels.
ENV_PREFIXES = ("JUPYTERHUB_",)
# SITEHUB_ACCOUNTING_GROUP: the group chosen in the form, condormap's default in kernels.
ENV_NAMES = frozenset(
    {"JPY_API_TOKEN", "HOME", "USER", "SHELL", "LANG", "SITEHUB_ACCOUNTING_GROUP"}
)

# HTCondor accounting groups may be hierarchical (group_atlas.prod).
GROUP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
# CUDA compute capability as nvidia-smi / HTCondor's GPU discovery report it.
CAPABILITY = re.compile(r"^[0-9]{1,2}\.[0-9]{1,2}\Z")
# GPU model names as HTCondor reports them (DeviceName); no quote, backslash or '$'.
DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()/+-]{0,127}\Z")
# A directory, a .sif file or a docker:// reference; no whitespace, quotes or '$'.
IMAGE_REF = re.compile(r"^(?:/|docker://)[A-Za-z0-9_./:@+-]{1,511}\Z")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./%@+-]{0,511}\Z")
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
# An argument written as is in HTCondor's argument syntax; others are single-quoted.
PLAIN_ARGUMENT = re.compile(r"^[A-Za-z0-9_./:=,@%+-]{1,512}\Z")
# Printable ASCII without '$' ($(...) is a submit macro, $$(...) a match-time substitution).
QUOTABLE_ARGUMENT = re.compile(r"^[\x20-\x23\x25-\x7e]{0,4096}\Z")
SUBMIT_KEY = re.compile(r"^\+?[A-Za-z_][A-Za-z0-9_.]{0,127}\Z")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
GPU_KINDS = ("any", "capability", "device")


class UnsafeValue(ValueError):
    """A value would change the meaning of the submit description; never shown raw to users."""


def _checked(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeValue(f"{what} {value!r} contains characters that are not allowed")
    return value


def _count(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnsafeValue(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


@dataclass(frozen=True)
class GpuRequest:
    """kind 'any': any GPU; 'capability': at least this CUDA capability; 'device': this model."""

    kind: str
    value: str = ""

    def require_gpus(self) -> str:
        """The `require_gpus` expression (evaluated against each GPU's ad), or ''."""
        if self.kind == "any":
            return ""
        if self.kind == "capability":
            return f"Capability >= {_checked(self.value, CAPABILITY, 'GPU capability')}"
        if self.kind == "device":
            return f'DeviceName == "{_checked(self.value, DEVICE_NAME, "GPU device name")}"'
        raise UnsafeValue(f"unknown GPU request kind {self.kind!r}")


@dataclass(frozen=True)
class JobRequest:
    """What one spawn asks of the pool (validated choices, see choices.validate)."""

    accounting_group: str
    cpus: int = 1
    memory_mb: int = 2048
    minutes: int = 60
    gpu: GpuRequest | None = None
    image: str = ""  # container image reference; '' runs in the vanilla universe


@dataclass(frozen=True)
class SubmitContext:
    """What the spawner (trusted) adds: who, where, and the command to run."""

    user: str
    job_dir: str  # absolute, on the submit side: env file, stdout/stderr, event log
    command: Sequence[str]  # e.g. batchspawner-singleuser jupyterhub-singleuser [args]
    batch_name: str = ""
    env_file: str = DEFAULT_ENV_FILE
    wrapper: str = WRAPPER_PATH
    # seconds past allowed_execute_duration before periodic_remove steps in, and that a
    # held job is kept for inspection
    grace_seconds: int = 300
    # site-wide submit commands from the hub configuration (not from users), e.g.
    # {"+ProjectName": '"atlas"', "request_disk": "1GB"}
    extra: Mapping[str, str] = field(default_factory=dict)


def condor_arguments(argv: Sequence[str]) -> str:
    """argv as the value of `arguments` in HTCondor's (new) argument syntax.

    The whole value is double-quoted, a double quote inside doubled; an argument holding
    anything but plain characters is single-quoted, a single quote inside doubled. So
    `--ServerApp.tornado_settings={"headers": ...}` (JupyterHub's Spawner.args) arrives as
    one argument. Checked against HTCondor's own parser (the ClassAd function argsToList) in
    tests/unit/htcondor/test_submit.py.
    """
    words = []
    for arg in argv:
        if isinstance(arg, str) and PLAIN_ARGUMENT.fullmatch(arg):
            words.append(arg)
        else:
            _checked(arg, QUOTABLE_ARGUMENT, "single-user command argument")
            words.append("'" + arg.replace("'", "''") + "'")
    return '"' + " ".join(words).replace('"', '""') + '"'


def periodic_remove(limit_seconds: int, grace_seconds: int) -> str:
    """ClassAd expression: over the runtime, evicted back to idle, or held past the grace."""
    _count(limit_seconds, "runtime (seconds)", 60, 10**9)
    _count(grace_seconds, "grace (seconds)", 0, 86400)
    return (
        f"(JobStatus == 2 && (time() - JobCurrentStartExecutingDate) > "
        f"{limit_seconds + grace_seconds})"
        " || (JobStatus == 1 && NumJobStarts > 0)"
        f" || (JobStatus == 5 && (time() - EnteredCurrentStatus) > {grace_seconds})"
    )


def submit_commands(request: JobRequest, ctx: SubmitContext) -> list[tuple[str, str]]:
    """The (command, value) pairs of the description, in order; every value checked."""
    user = _checked(ctx.user, USER_NAME, "user name")
    job_dir = _checked(ctx.job_dir, SAFE_PATH, "job directory")
    wrapper = _checked(ctx.wrapper, SAFE_PATH, "job wrapper path")
    env_file = _checked(ctx.env_file, FILE_NAME, "environment file name")
    command = list(ctx.command)
    if not command:
        raise UnsafeValue("the single-user command is empty")
    batch_name = _checked(ctx.batch_name or f"jupyterhub-{user}", FILE_NAME, "batch name")
    group = _checked(request.accounting_group, GROUP_NAME, "accounting group")
    cpus = _count(request.cpus, "CPUs", 1, 4096)
    memory = _count(request.memory_mb, "memory (MB)", 1, 64 * 1024 * 1024)
    minutes = _count(request.minutes, "runtime (minutes)", 1, 366 * 24 * 60)

    cmds: list[tuple[str, str]] = []
    if request.image:
        image = _checked(request.image, IMAGE_REF, "container image")
        cmds += [("universe", "container"), ("container_image", image)]
        if image.startswith("/"):
            # a path on the execute nodes (CVMFS, a shared image directory): HTCondor would
            # otherwise copy it from the hub host, where it need not exist, for every job
            cmds.append(("transfer_container", "false"))
    else:
        cmds.append(("universe", "vanilla"))
    cmds += [
        ("executable", wrapper),
        ("transfer_executable", "true"),
        # the wrapper reads the environment file named first, then execs the rest
        ("arguments", condor_arguments([env_file, *command])),
        ("initialdir", job_dir),
        ("should_transfer_files", "YES"),
        ("when_to_transfer_output", "ON_EXIT"),
        ("transfer_input_files", env_file),
        ("getenv", "false"),
        ("output", f"{batch_name}.$(ClusterId).out"),
        ("error", f"{batch_name}.$(ClusterId).err"),
        ("log", f"{batch_name}.log"),
        ("batch_name", batch_name),
        ("notification", "never"),
        ("accounting_group", group),
        ("accounting_group_user", user),
        ("request_cpus", str(cpus)),
        ("request_memory", str(memory)),
    ]
    if request.gpu is not None:
        cmds.append(("request_gpus", "1"))
        expr = request.gpu.require_gpus()
        if expr:
            cmds.append(("require_gpus", expr))
    seconds = minutes * 60
    cmds += [
        ("allowed_execute_duration", str(seconds)),
        ("periodic_remove", periodic_remove(seconds, ctx.grace_seconds)),
    ]
    taken = {k.lower() for k, _ in cmds}
    for key, value in ctx.extra.items():
        _checked(key, SUBMIT_KEY, "extra submit command")
        if key.lower() in taken or key.lower() == "queue":
            raise UnsafeValue(f"extra submit command {key!r} would override sitehub's own")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise UnsafeValue(f"extra submit command {key!r} has a value spanning lines")
        cmds.append((key, value))
    return cmds


def build_submit(request: JobRequest, ctx: SubmitContext) -> str:
    """The submit description text, ending with `queue` (what condor_submit reads on stdin)."""
    lines = ["# sitehub notebook server; generated, every value validated"]
    lines += [f"{key} = {value}" for key, value in submit_commands(request, ctx)]
    lines.append("queue")
    return "\n".join(lines) + "\n"


def job_environment(
    env: Mapping[str, str],
    *,
    prefixes: Iterable[str] = ENV_PREFIXES,
    names: Iterable[str] = ENV_NAMES,
) -> dict[str, str]:
    """The part of the spawner's environment the server needs (token included)."""
    prefixes, names = tuple(prefixes), frozenset(names)
    return {k: v for k, v in env.items() if k in names or k.startswith(prefixes)}


def env_file_text(env: Mapping[str, str]) -> str:
    """Content of the environment file the wrapper sources: `export NAME='value'` lines.

    Values are quoted for POSIX sh with shlex.quote, so the wrapper's `.` runs no code;
    names are checked and values may not hold NUL (sh cannot carry it).
    """
    out = ["# sitehub: read and deleted by the job wrapper; keep 0600"]
    for key, value in sorted(env.items()):
        _checked(key, ENV_NAME, "environment variable name")
        if not isinstance(value, str) or "\0" in value:
            raise UnsafeValue(f"value of {key} cannot be passed to the job")
        out.append(f"export {key}={shlex.quote(value)}")
    return "\n".join(out) + "\n"
