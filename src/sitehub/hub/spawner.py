"""SitehubSpawner: what sitehub's spawners share, whichever scheduler runs the servers.

Built on batchspawner 1.3.0 (its base class, traits and `batchspawner-singleuser` port
report), with the failures batchspawner is known for fixed here once, for every scheduler:

* a status query that fails or times out, or a scheduler that is down, is "unknown", never
  "job gone": the server is kept and asked about again (batchspawner #315, #171);
* a job that ends before its server reports a port fails the spawn at once, with the
  scheduler's state, instead of waiting for the start timeout (#253);
* the port report reaches the hub on JupyterHub 6 through our own handler (sitehub.hub.api,
  #267), which accepts only a port;
* a pending job's progress shows job id, state, reason (and queue position where the
  scheduler has one), then the node it runs on;
* stale jobs of the same server are cancelled before a new submit, and a reaper cancels jobs
  of this hub that no server claims (e.g. a cancel that failed while the scheduler was
  down), so jobs are neither duplicated nor orphaned.

Also here, once: the options form's handling (sitehub.hub.form: coercion, "run locally",
images, the re-check of forged values, rendering), the entitlement check before a submit,
the spawner's state, and "run locally" itself: the server as the user in a transient systemd
unit on the hub host, outside the hub's cgroup, so a hub restart leaves it running too.

The batch systems are peers behind a small interface (the "scheduler interface" section
below): sitehub.hub.slurm_spawner.SlurmSpawner and sitehub.hub.condor.CondorSpawner. This
class alone serves hubs whose servers all run on the hub host:

    c.JupyterHub.spawner_class = "sitehub.hub.spawner.SitehubSpawner"   # scheduler "local"
    c.JupyterHub.spawner_class = "sitehub.hub.slurm_spawner.SlurmSpawner"
    c.JupyterHub.spawner_class = "sitehub.hub.condor.CondorSpawner"
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import batchspawner  # noqa: F401  (imported for its base class and its API registration)
from batchspawner import BatchSpawnerBase
from tornado import web
from traitlets import Bool, Dict, Enum, Float, Integer, List, Unicode, default

from . import api, form, progress
from .batch import (
    UNIT_SHOW_PROPERTIES,
    env_file_text,
    interpret_unit,
    job_name,
    systemd_run_argv,
    unclaimed_jobs,
)
from .form import OptionsError
from .images import IMAGE_REF, ImageChoice, image_choices
from .jobs import JobStatus, Phase, QueuedJob, Result, last_line

api.install()

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SpawnError(Exception):
    """A spawn failure with a message meant for the user (shown on the progress page)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.jupyterhub_message = message


def refuse(status: int, message: str) -> web.HTTPError:
    err = web.HTTPError(status, message)
    err.jupyterhub_message = message
    return err


async def run(
    argv: list[str],
    *,
    input: str | None = None,
    env: dict[str, str] | None = None,
    as_user: pwd.struct_passwd | None = None,
    timeout: float = 30.0,
) -> Result:
    """Run a command without a shell; as `as_user` when given (setuid if root, else sudo)."""
    kwargs: dict = {}
    if as_user is not None:
        if os.geteuid() == 0:
            kwargs.update(
                user=as_user.pw_uid,
                group=as_user.pw_gid,
                extra_groups=os.getgrouplist(as_user.pw_name, as_user.pw_gid),
            )
        else:
            argv = ["sudo", "-n", "-E", "-u", as_user.pw_name, "--", *argv]
    env = env if env is not None else {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd="/",
            **kwargs,
        )
    except OSError as exc:
        return Result(127, "", f"{argv[0]}: {exc}")
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Result(None, "", f"{argv[0]} timed out after {timeout:.0f}s", timed_out=True)
    return Result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def scheduler_trait(name: str, servers: str) -> Enum:
    """A batch spawner's `scheduler` trait: its own batch system, or 'local' (hub host only)."""
    return Enum(
        [name, "local"],
        name,
        config=True,
        help=f"'{name}': servers are {servers}; 'local': on the hub host.",
    )


class SitehubSpawner(BatchSpawnerBase):
    scheduler = Enum(["local"], "local", config=True, help="'local': servers run on the hub host.")
    # the site model's default (sitehub_clusters[].options.run_locally), as the role's
    allow_local = Bool(
        True, config=True, help="Offer 'run locally' (on the hub host) in a batch form."
    )
    instance = Unicode("hub", config=True, help="Hub instance name; part of job/unit names.")
    job_prefix = Unicode(config=True, help="Job and unit names: <prefix>.<user>[.<server>].")

    @default("http_timeout")
    def _http_timeout_default(self):
        # after the port report, a server on a busy node with a shared filesystem can take
        # well over JupyterHub's 30 s to answer; giving up then kills a healthy job
        return 120

    @default("job_prefix")
    def _job_prefix_default(self):
        return f"jupyter-{self.instance}"

    notebook_prefix = Unicode(
        "/opt/sitehub/notebook/venv",
        config=True,
        help="Single-user environment, at the same path on every node.",
    )
    command_timeout = Float(30.0, config=True, help="Seconds before a command gives up.")
    startup_poll_max = Float(
        5.0, config=True, help="Longest pause between status checks while starting."
    )
    max_runtime_minutes = Integer(
        7 * 24 * 60, config=True, help="Runtime cap (where the scheduler sets none)."
    )
    default_runtime_minutes = Integer(60, config=True, help="Runtime preselected in the form.")
    local_unit_properties = List(
        Unicode(),
        config=True,
        help="systemd properties for local servers, e.g. 'MemoryMax=4G', 'CPUQuota=200%'.",
    )
    local_runtime_dir = Unicode(
        "/run/sitehub-spawner", config=True, help="Root-only directory for local servers' env."
    )
    container_images = List(
        Dict(), config=True, help="Images offered for the server: [{name, ref, description}]."
    )
    container_image_dirs = List(
        Unicode(), config=True, help="Directories on shared storage whose *.sif are offered."
    )
    reaper_interval = Float(
        60.0, config=True, help="Seconds between scans for jobs of this hub no server claims."
    )
    reaper_grace = Float(
        120.0, config=True, help="An unclaimed job is cancelled after being seen this long."
    )

    # hub-wide: the reaper
    _reaper_task: asyncio.Task | None = None
    _unclaimed: dict[str, float] = {}  # noqa: RUF012

    backend = Unicode("")  # the scheduler or "local" for the current server
    exec_host = Unicode("")

    @default("env_keep")
    def _env_keep_default(self):
        return ["LANG", "LC_ALL"]

    @default("batchspawner_singleuser_cmd")
    def _bs_cmd_default(self):
        return f"{self.notebook_prefix}/bin/batchspawner-singleuser"

    @default("cmd")
    def _cmd_default(self):
        return [f"{self.notebook_prefix}/bin/jupyterhub-singleuser"]

    @default("options_form")
    def _options_form_default(self):
        if self.scheduler == "local":
            return ""
        return lambda spawner: spawner.render_options_form()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._events: list[dict] = []
        self._port_event: asyncio.Event | None = None
        self._reported_port = 0
        self._awaiting_port = False
        self._ensure_reaper()

    # -------------------------------------------------------------------- scheduler interface
    # What a batch system supplies (SlurmSpawner, CondorSpawner); everything else is shared.

    # the scheduler's form: coerce(raw), validate(model, opts) -> Choice, render_form(model, prev)
    form: ModuleType | None = None
    # who is unreachable when a status query gets no answer (progress messages)
    scheduler_label = "the scheduler"
    # the image references its runtime takes
    image_ref_pattern = IMAGE_REF
    # the 503 message when the form offers this user nothing (and says nothing itself)
    nothing_offered = "You may not submit jobs on this cluster."

    async def form_model(self) -> Any:
        """This user's choices (with .offered, .notice, .allow_local)."""
        raise NotImplementedError

    async def _submit_batch(self, request: Any) -> str:
        """Submit the validated request as the user; the job id (SpawnError otherwise)."""
        raise NotImplementedError

    def _submitted_where(self, request: Any) -> str:
        raise NotImplementedError

    def _output_hint(self, job: str) -> str:
        """Where the user finds the output of a job that ended early (' Its output is ...')."""
        return ""

    async def _cancel_stale(self) -> None:
        """Cancel queued jobs of this very server (best effort)."""
        raise NotImplementedError

    async def _batch_state(self) -> JobStatus:
        raise NotImplementedError

    async def _queue_position(self, status: JobStatus) -> int | None:
        return None

    async def _resolve_host(self, status: JobStatus) -> str:
        """Where a running job runs, when its status did not say."""
        raise SpawnError(f"Job {self.job_id} runs, but the scheduler did not say where.")

    async def _cancel_batch(self) -> None:
        raise NotImplementedError

    async def _list_jobs(self) -> list[QueuedJob] | None:
        """Every queued job of this hub's prefix, for the reaper; None when unknown."""
        raise NotImplementedError

    async def _remove_orphan(self, job: QueuedJob) -> bool:
        """Cancel a job no server claims; True when it is gone."""
        raise NotImplementedError

    # -------------------------------------------------------------------- commands

    def _pw(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(self.user.name)
        except KeyError:
            raise SpawnError(
                f"There is no system account '{self.user.name}' on the hub host."
            ) from None

    def _pw_or_none(self) -> pwd.struct_passwd | None:
        try:
            return self._pw()
        except SpawnError:
            return None

    def user_env(self) -> dict[str, str]:
        pw = self._pw()
        env = self.get_env()
        env.update(
            HOME=pw.pw_dir,
            USER=pw.pw_name,
            LOGNAME=pw.pw_name,
            SHELL=pw.pw_shell or "/bin/bash",
            PATH=f"{self.notebook_prefix}/bin:{SYSTEM_PATH}",
        )
        env.setdefault("LANG", "C.UTF-8")
        return env

    def server_argv(self) -> list[str]:
        return [self.batchspawner_singleuser_cmd, *self.cmd, *self.get_args()]

    def _name(self) -> str:
        return job_name(self.job_prefix, self.user.name, self.name or "")

    # -------------------------------------------------------------------- options

    def _images(self) -> dict[str, ImageChoice]:
        try:
            return image_choices(
                self.container_images, self.container_image_dirs, self.image_ref_pattern
            )
        except ValueError as exc:
            # a site error: offer no image rather than a broken one
            self.log.error("container_images unusable: %s", exc)
            return {}

    def _notice(self, text: str) -> str:
        """A form notice for when the scheduler cannot be asked, pointing at run locally."""
        return text + (" You can still run locally on the hub host." if self.allow_local else "")

    def _submit_failed(self, exc: Exception, unreachable: bool, scheduler: str) -> SpawnError:
        """What the user reads when a submit failed: `scheduler` (Slurm, HTCondor) refused
        the job, or could not be reached (then nothing was submitted)."""
        if not unreachable:
            return SpawnError(f"{scheduler} refused the job: {exc}")
        label = self.scheduler_label[0].upper() + self.scheduler_label[1:]
        return SpawnError(
            f"{label} is not reachable, so no job was submitted ({exc}). Please try again in "
            "a few minutes" + (" or choose 'run locally'." if self.allow_local else ".")
        )

    def _unreachable_notice(self, why: str) -> str:
        label = self.scheduler_label[0].upper() + self.scheduler_label[1:]
        return self._notice(f"{label} is not reachable right now ({why}).")

    async def render_options_form(self) -> str:
        model = await self.form_model()
        return self.form.render_form(model, self.orm_spawner.user_options or {})

    async def options_from_form(self, formdata):
        data = {k: v for k, v in formdata.items() if not k.startswith("_")}
        try:
            if self.scheduler == "local":
                return form.local_only(data)
            opts = self.form.coerce(data)
            self.form.validate(await self.form_model(), opts)
        except OptionsError as exc:
            raise refuse(400, str(exc)) from None
        return opts

    async def choose(self) -> form.Choice:
        """The validated choice for this spawn, from user_options (form or REST API)."""
        opts = dict(self.user_options or {})
        try:
            if self.scheduler == "local":
                form.local_only(opts)
                return form.Choice(run_local=True)
            coerced = self.form.coerce(opts)
            local = form.run_locally(coerced, self.allow_local)
            if local is not None:
                # no scheduler query (none that could hang while the scheduler is down)
                return local
            model = await self.form_model()
            if not model.offered:
                raise refuse(503, model.notice or self.nothing_offered)
            return self.form.validate(model, coerced)
        except OptionsError as exc:
            raise refuse(400, str(exc)) from None

    # -------------------------------------------------------------------- state

    def load_state(self, state):
        super().load_state(state)
        # state written by stock batchspawner has a job id and no backend
        self.backend = state.get("backend", self.scheduler if self.job_id else "")
        self.exec_host = state.get("exec_host", "")

    def get_state(self):
        state = super().get_state()
        if self.job_id:
            state["backend"] = self.backend
            state["exec_host"] = self.exec_host
        return state

    def clear_state(self):
        super().clear_state()
        self.backend = ""
        self.exec_host = ""

    def _save_state(self):
        self.orm_spawner.state = self.get_state()
        self.db.commit()

    # -------------------------------------------------------------------- run locally

    async def _submit_local(self) -> str:
        pw = self._pw()
        unit = self._name() + ".service"
        await run(["systemctl", "stop", unit], timeout=self.command_timeout)
        rundir = Path(self.local_runtime_dir)
        rundir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env_file = rundir / f"{unit}.env"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(env_file_text(self.user_env()))
        argv = systemd_run_argv(
            unit,
            user=pw.pw_name,
            group=grp.getgrgid(pw.pw_gid).gr_name,
            workdir=pw.pw_dir,
            env_file=str(env_file),
            cmd=self.server_argv(),
            properties=self.local_unit_properties,
            description=f"Jupyter server of {pw.pw_name} (hub {self.instance})",
        )
        res = await run(argv, timeout=self.command_timeout)
        if res.rc != 0:
            env_file.unlink(missing_ok=True)
            raise SpawnError(f"Could not start the server on the hub host: {last_line(res.err)}")
        return unit

    async def job_state(self) -> JobStatus:
        if self.backend == "local":
            res = await run(
                ["systemctl", "show", f"--property={UNIT_SHOW_PROPERTIES}", self.job_id],
                timeout=self.command_timeout,
            )
            return interpret_unit(self.job_id, res.rc, res.out, res.err, res.timed_out)
        return await self._batch_state()

    async def _cancel(self) -> None:
        if self.backend != "local":
            await self._cancel_batch()
            return
        res = await run(["systemctl", "stop", self.job_id], timeout=self.command_timeout)
        (Path(self.local_runtime_dir) / f"{self.job_id}.env").unlink(missing_ok=True)
        if res.rc != 0 and "not loaded" not in res.err:
            raise SpawnError(f"Could not stop {self.job_id}: {last_line(res.err)}")

    # -------------------------------------------------------------------- lifecycle

    def _emit(self, event: dict) -> None:
        if not self._events or self._events[-1].get("message") != event.get("message"):
            self._events.append(event)

    def report_port(self, port: int) -> bool:
        """Called by the port-report API handler; True if accepted."""
        if not self._awaiting_port or self._reported_port:
            return False
        self._reported_port = port
        if self._port_event is not None:
            self._port_event.set()
        return True

    async def start(self):
        self._events = []
        self._reported_port = 0
        self._port_event = asyncio.Event()
        # a job of this very server still queued (earlier hub run, lost sbatch answer) would
        # become a duplicate: cancel it while the choice is being checked
        stale = asyncio.ensure_future(self._cancel_stale()) if self.scheduler != "local" else None
        choice = await self.choose()
        if stale is not None and not choice.run_local:
            await stale
        self.port = 0  # batchspawner-singleuser picks the port and reports it
        if choice.run_local:
            self.backend, self.ip = "local", "127.0.0.1"
        else:
            self.backend, self.ip = self.scheduler, "0.0.0.0"  # noqa: S104 (compute node, hub reaches it)
        self._awaiting_port = True
        try:
            if self.backend == "local":
                self.job_id = await self._submit_local()
                self._emit({"progress": progress.SUBMITTED, "message": "Starting on the hub host."})
            else:
                assert choice.job is not None
                self.job_id = await self._submit_batch(choice.job)
                self._emit(progress.submitted(self.job_id, self._submitted_where(choice.job)))
            self._save_state()
            host = await self._wait_for_server()
        finally:
            self._awaiting_port = False
        self.exec_host = host
        self.port = self._reported_port
        self._save_state()
        self._emit(progress.connecting(host, self.port))
        self.log.info("%s: job %s serves on %s:%s", self._log_name, self.job_id, host, self.port)
        return host, self.port

    async def _wait_for_server(self) -> str:
        """Follow the job until it runs and its server has reported a port; return the host."""
        assert self._port_event is not None
        interval = self.startup_poll_interval
        last_position_check = 0.0
        position = None
        while True:
            status = await self.job_state()
            if status.phase is Phase.GONE:
                job, state = self.job_id, status.state or status.detail
                self._awaiting_port = False
                self.clear_state()
                self._save_state()
                where = self._output_hint(job) if self.backend != "local" else ""
                raise SpawnError(
                    f"The job {job} ended ({state}) before the notebook server started.{where}"
                )
            if status.phase is not Phase.PENDING:
                position = None
            elif time.monotonic() - last_position_check > 5:
                last_position_check = time.monotonic()
                position = await self._queue_position(status)
            if status.phase is Phase.UNKNOWN:
                self.log.warning(
                    "%s: state of job %s unknown (%s); waiting", self._log_name, self.job_id,
                    status.detail,
                )  # fmt: skip
            if self.backend != "local" or status.phase is not Phase.RUNNING:
                self._emit(progress.describe(status, position, self.scheduler_label))
            if status.phase is Phase.RUNNING and self._reported_port:
                if self.backend == "local":
                    return "127.0.0.1"
                return status.host or await self._resolve_host(status)
            try:
                await asyncio.wait_for(self._port_event.wait(), timeout=interval)
            except TimeoutError:
                interval = min(interval * 1.5, self.startup_poll_max)

    async def poll(self):
        if not self.job_id:
            return 0
        status = await self.job_state()
        if status.phase in (Phase.RUNNING, Phase.PENDING):
            return None
        if status.phase is Phase.UNKNOWN:
            # the controller may be down or slow: the job is most likely fine, keep the server
            self.log.warning(
                "%s: cannot tell the state of job %s (%s); keeping the server",
                self._log_name, self.job_id, status.detail,
            )  # fmt: skip
            return None
        self.log.info(
            "%s: job %s is over (%s)", self._log_name, self.job_id, status.state or status.detail
        )
        self.clear_state()
        return 1

    async def stop(self, now=False):
        if not self.job_id:
            return
        self.log.info("%s: stopping job %s", self._log_name, self.job_id)
        await self._cancel()
        if now:
            return
        for _ in range(20):
            status = await self.job_state()
            if status.phase is Phase.GONE:
                return
            await asyncio.sleep(0.5)
        self.log.warning("%s: job %s still not gone after cancel", self._log_name, self.job_id)

    async def progress(self):
        sent = 0
        while True:
            while sent < len(self._events):
                yield self._events[sent]
                sent += 1
            await asyncio.sleep(0.5)

    # -------------------------------------------------------------------- orphan reaper

    def _ensure_reaper(self) -> None:
        cls = type(self)
        if self.scheduler == "local" or self.reaper_interval <= 0:
            return
        if cls._reaper_task is not None and not cls._reaper_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        cls._reaper_task = loop.create_task(self._reap_forever())

    def _claimed_jobs(self) -> set[str]:
        from jupyterhub import orm

        claimed = set()
        for orm_spawner in self.db.query(orm.Spawner).all():
            job = (orm_spawner.state or {}).get("job_id")
            if job:
                claimed.add(str(job))
        return claimed

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reaper_interval)
            try:
                await self.reap_once()
            except Exception:
                self.log.exception("orphan reaper failed; trying again later")

    async def reap_once(self) -> list[str]:
        """Cancel jobs of this hub (by name) that no server claims, after a grace period."""
        jobs = await self._list_jobs()
        if jobs is None:
            return []
        by_id = {j.job_id: j for j in jobs}
        unclaimed = unclaimed_jobs(jobs, self.job_prefix, self._claimed_jobs())
        now = time.monotonic()
        cls = type(self)
        cls._unclaimed = {j: cls._unclaimed.get(j, now) for j in unclaimed}
        cancelled = []
        for job, since in list(cls._unclaimed.items()):
            if now - since < self.reaper_grace:
                continue
            self.log.warning(
                "Cancelling job %s of %s: no server of this hub claims it", job, by_id[job].user
            )
            if await self._remove_orphan(by_id[job]):
                cancelled.append(job)
                cls._unclaimed.pop(job, None)
        return cancelled
