"""What the spawner hands to Slurm or systemd: batch scripts and transient units (pure).

Form input ends up in these texts, so every value is checked against a strict pattern
before it is written (an `#SBATCH` line is parsed by sbatch, not by a shell: a space or a
newline in a value would add options), and the command line is shell-quoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sitehub.render.container import container_argv

from .jobs import JobStatus, Phase

SLURM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./%@+-]*\Z")
UNIT_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class UnsafeValue(ValueError):
    pass


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeValue(f"{what} {value!r} contains characters that are not allowed")
    return value


@dataclass(frozen=True)
class JobRequest:
    """What one spawn asks of Slurm; empty fields are left to Slurm's defaults."""

    partition: str = ""
    account: str = ""
    qos: str = ""
    minutes: int | None = None
    gpu: str = ""  # "": no GPU, "any": any type, else a GRES type
    gpus: int = 1
    image: str = ""  # container image reference the server runs in ("": the node's system)

    def directives(self) -> list[str]:
        out = []
        if self.partition:
            out.append(f"--partition={_checked(self.partition, SLURM_NAME, 'partition')}")
        if self.account:
            out.append(f"--account={_checked(self.account, SLURM_NAME, 'account')}")
        if self.qos:
            out.append(f"--qos={_checked(self.qos, SLURM_NAME, 'QOS')}")
        if self.minutes is not None:
            if not isinstance(self.minutes, int) or isinstance(self.minutes, bool):
                raise UnsafeValue("runtime must be a whole number of minutes")
            if self.minutes < 1:
                raise UnsafeValue("runtime must be at least one minute")
            out.append(f"--time={self.minutes}")
        if self.gpu:
            if not isinstance(self.gpus, int) or self.gpus < 1:
                raise UnsafeValue("GPU count must be a positive whole number")
            if self.gpu == "any":
                out.append(f"--gres=gpu:{self.gpus}")
            else:
                out.append(f"--gres=gpu:{_checked(self.gpu, SLURM_NAME, 'GPU type')}:{self.gpus}")
        return out


def render_batch_script(
    request: JobRequest,
    *,
    job_name: str,
    output: str,
    workdir: str,
    cmd: Sequence[str],
    export: Iterable[str],
    srun: bool = True,
    prologue: str = "",
    extra_directives: Iterable[str] = (),
) -> str:
    """The sbatch script for one notebook server.

    `prologue` and `extra_directives` come from the site configuration (trusted); everything
    else may derive from user input and is validated or quoted here.
    """
    names = [_checked(n, ENV_NAME, "environment variable name") for n in export]
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={_checked(job_name, SLURM_NAME, 'job name')}",
        f"#SBATCH --output={_checked(output, SAFE_PATH, 'output path')}",
        f"#SBATCH --chdir={_checked(workdir, SAFE_PATH, 'working directory')}",
        # only what the hub chose travels with the job, not the hub's own environment
        f"#SBATCH --export={','.join(names) if names else 'NONE'}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
    ]
    lines += [f"#SBATCH {d}" for d in request.directives()]
    for d in extra_directives:
        if "\n" in d:
            raise UnsafeValue("extra #SBATCH directive spans lines")
        lines.append(f"#SBATCH {d}")
    lines += ["", "set -euo pipefail", 'echo "sitehub: job $SLURM_JOB_ID on $(hostname)"']
    if prologue.strip():
        lines += [prologue.rstrip()]
    command = shlex.join(list(cmd))
    # exec: the step (or server) replaces the shell, so scancel's signal reaches it directly
    lines.append(f"exec srun --ntasks=1 --export=ALL {command}" if srun else f"exec {command}")
    return "\n".join(lines) + "\n"


def server_in_image(
    runtime: str,
    image: str,
    argv: Sequence[str],
    *,
    export: Iterable[str],
    binds: Iterable[str] = (),
    options: Sequence[str] = (),
    server_cmd: Sequence[str] = (),
    server_args: Sequence[str] = (),
    workdir: str | None = None,
) -> list[str]:
    """The server's `argv` run inside `image` (sitehub.render.container, as kernels are).

    `server_cmd` replaces `argv` when the image carries its own Jupyter server (it then gets
    `server_args`); `export` names the variables the job carries, which podman passes in.
    `workdir` is where the server starts (its file browser's root): podman starts in the
    image's own directory (/) whatever the job's directory is.
    Raises ValueError when the runtime cannot take the image or a bind.
    """
    inner = [*server_cmd, *server_args] if server_cmd else list(argv)
    return container_argv(
        runtime,  # type: ignore[arg-type]
        image,
        inner,
        binds=binds,
        pass_env=sorted(export),
        workdir=workdir,
        options=options,
    )


def job_name(prefix: str, user: str, server: str = "") -> str:
    """Slurm job / systemd unit base name for one server: `<prefix>.<user>[.<server>]`.

    Dots separate the parts: instance names (in the prefix) cannot hold one, so one hub
    instance never mistakes another's jobs for its own (`a` vs `a-b`).
    """
    base = f"{prefix}.{user}"
    if server:
        base += "." + UNIT_CHARS.sub("_", server)
    return _checked(base[:64], SLURM_NAME, "job name")


def job_owner(name: str, prefix: str) -> str | None:
    """The user a job name of this prefix encodes, or None if it is not one of ours."""
    head, sep, rest = name.partition(".")
    if not sep or head != prefix or not rest:
        return None
    return rest.split(".", 1)[0]


def unclaimed_jobs(jobs: Iterable, prefix: str, claimed: set[str]) -> set[str]:
    """Ids of this hub's queued jobs (named by job_name, owned by the user the name encodes)
    that no server of the hub claims."""
    return {
        j.job_id for j in jobs if job_owner(j.name, prefix) == j.user and j.job_id not in claimed
    }


# ---------------------------------------------------------------------------------------
# "run locally": a transient systemd unit, outside the hub's own cgroup, so restarting the
# hub leaves local servers alone exactly like batch jobs.


def env_file_text(env: Mapping[str, str]) -> str:
    """systemd EnvironmentFile= content; values double-quoted, no expansion happens there."""
    out = []
    for key, value in sorted(env.items()):
        _checked(key, ENV_NAME, "environment variable name")
        if "\n" in value or "\r" in value or "\0" in value:
            raise UnsafeValue(f"value of {key} spans lines")
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{key}="{quoted}"')
    return "\n".join(out) + "\n"


def systemd_run_argv(
    unit: str,
    *,
    user: str,
    group: str,
    workdir: str,
    env_file: str,
    cmd: Sequence[str],
    properties: Iterable[str] = (),
    slice_name: str = "",
    description: str = "",
) -> list[str]:
    """argv for `systemd-run` starting the server as the user in its own unit."""
    _checked(unit, SLURM_NAME, "unit name")
    argv = [
        "systemd-run",
        f"--unit={unit}",
        f"--uid={user}",
        f"--gid={group}",
        f"--working-directory={_checked(workdir, SAFE_PATH, 'working directory')}",
        f"--property=EnvironmentFile={_checked(env_file, SAFE_PATH, 'environment file')}",
        "--property=KillMode=mixed",
        "--property=TimeoutStopSec=15",
        "--collect",
        "--quiet",
    ]
    if description:
        argv.append(f"--description={description}")
    if slice_name:
        argv.append(f"--slice={_checked(slice_name, SLURM_NAME, 'slice')}")
    argv += [f"--property={p}" for p in properties]
    argv += ["--", *cmd]
    return argv


UNIT_SHOW_PROPERTIES = "LoadState,ActiveState,SubState,Result,ExecMainStatus,MainPID"


def parse_systemctl_show(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def interpret_unit(
    unit: str, rc: int | None, stdout: str, stderr: str, timed_out: bool = False
) -> JobStatus:
    """Status of a local server's unit from `systemctl show -p <UNIT_SHOW_PROPERTIES>`."""
    if timed_out or rc is None:
        return JobStatus(Phase.UNKNOWN, unit, detail="systemctl timed out", unreachable=True)
    if rc != 0:
        return JobStatus(Phase.UNKNOWN, unit, detail=stderr.strip()[-300:])
    props = parse_systemctl_show(stdout)
    load, active = props.get("LoadState", ""), props.get("ActiveState", "")
    if not load or not active:
        return JobStatus(Phase.UNKNOWN, unit, detail=f"unexpected systemctl output {stdout!r}")
    if load == "not-found" or active in {"inactive", "failed"}:
        # --collect unloads the unit once it ended: not-found means it ran and exited
        state = props.get("Result", "") or active
        return JobStatus(Phase.GONE, unit, state=state, detail=f"unit {active}")
    if active == "active":
        return JobStatus(Phase.RUNNING, unit, state=props.get("SubState", "running"))
    if active in {"activating", "reloading"}:
        return JobStatus(Phase.PENDING, unit, state=active)
    # deactivating: on its way out
    return JobStatus(Phase.GONE, unit, state=active, detail=f"unit {active}")
