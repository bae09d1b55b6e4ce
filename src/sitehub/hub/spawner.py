"""SitehubSpawner: notebook servers as Slurm jobs (or "run locally" on the hub host).

Built on batchspawner 1.3.0 (its base class, traits and `batchspawner-singleuser` port
report), with the failures batchspawner is known for fixed here:

* a status query that fails or times out, or a down slurmctld, is "unknown", never "job gone":
  the server is kept and asked about again (batchspawner #315, #171);
* a job that ends before its server reports a port fails the spawn at once, with Slurm's
  state, instead of waiting for the start timeout (#253);
* the port report reaches the hub on JupyterHub 6 through our own handler (sitehub.hub.api,
  #267), which accepts only a port;
* a pending job's progress shows job id, state, pending reason and queue position, then the
  node it runs on;
* stale jobs of the same server are cancelled before a new submit, and a reaper cancels jobs
  of this hub that no server claims (e.g. a cancel that failed while slurmctld was down), so
  jobs are neither duplicated nor orphaned.

"Run locally" (or scheduler "local") starts the server as the user in a transient systemd
unit on the hub host, outside the hub's cgroup, so a hub restart leaves it running too.

    c.JupyterHub.spawner_class = "sitehub.hub.spawner.SitehubSpawner"
    c.SitehubSpawner.scheduler = "slurm"        # or "local"
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import time
from dataclasses import dataclass
from pathlib import Path

import batchspawner  # noqa: F401  (imported for its base class and its API registration)
from batchspawner import BatchSpawnerBase
from tornado import web
from traitlets import Bool, Dict, Float, Integer, List, Unicode, default

from . import api, options, progress
from .batch import (
    UNIT_SHOW_PROPERTIES,
    JobRequest,
    UnsafeValue,
    env_file_text,
    interpret_unit,
    job_name,
    render_batch_script,
    server_in_image,
    systemd_run_argv,
    unclaimed_jobs,
)
from .images import ImageChoice, image_choices
from .slurm import (
    ASSOC_FORMAT,
    SQUEUE_JOB_FORMAT,
    JobStatus,
    Phase,
    SlurmError,
    clean_error,
    interpret_squeue,
    parse_associations,
    parse_config_value,
    parse_default_account,
    parse_job_list,
    parse_nodes,
    parse_partitions,
    parse_sbatch,
    queue_position,
)

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


@dataclass(frozen=True)
class Result:
    rc: int | None
    out: str
    err: str
    timed_out: bool = False


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
    if "SLURM_CONF" in os.environ:
        env.setdefault("SLURM_CONF", os.environ["SLURM_CONF"])
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


class SitehubSpawner(BatchSpawnerBase):
    scheduler = Unicode(
        "slurm", config=True, help="'slurm': servers are batch jobs; 'local': on the hub host."
    )
    allow_local = Bool(
        False, config=True, help="Offer 'run locally' (on the hub host) in the Slurm form."
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
    command_timeout = Float(30.0, config=True, help="Seconds before a Slurm command gives up.")
    startup_poll_max = Float(
        5.0, config=True, help="Longest pause between status checks while starting."
    )
    slurm_bin_dir = Unicode("", config=True, help="Directory of the Slurm commands ('' = PATH).")
    slurm_cluster = Unicode("", config=True, help="Cluster name for sacctmgr ('' = ClusterName).")
    slurm_output = Unicode(
        "{home}/.jupyterhub-slurm-%j.log",
        config=True,
        help="Job output file ({home} is the user's home; %j the job id).",
    )
    slurm_srun = Bool(True, config=True, help="Run the server as a job step (srun).")
    slurm_prologue = Unicode("", config=True, help="Shell lines run in the job before the server.")
    slurm_extra_directives = List(
        Unicode(), config=True, help="Extra site-wide #SBATCH options, e.g. '--mem=4G'."
    )
    slurm_cache_seconds = Float(
        20.0, config=True, help="How long partition/node listings are reused between users."
    )
    max_runtime_minutes = Integer(
        7 * 24 * 60, config=True, help="Runtime cap when a partition has no MaxTime."
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
    container_runtime = Unicode(
        "apptainer", config=True, help="'apptainer' (production) or 'podman' (test hosts)."
    )
    container_binds = List(
        Unicode(),
        config=True,
        help="Host paths inside the container ('src[:dest][:ro]'); the notebook environment "
        "and home directories when the image does not carry the Jupyter server itself.",
    )
    container_options = List(
        Unicode(), config=True, help="Extra runtime options before the image (e.g. '--nv')."
    )
    container_server_cmd = List(
        Unicode(),
        config=True,
        help="The server's argv inside the image ([] = the same as outside, which needs the "
        "notebook environment bound in).",
    )
    reaper_interval = Float(
        60.0, config=True, help="Seconds between scans for jobs of this hub no server claims."
    )
    reaper_grace = Float(
        120.0, config=True, help="An unclaimed job is cancelled after being seen this long."
    )

    # hub-wide: cached listings and the reaper
    _cache: dict[tuple[str, ...], tuple[float, Result]] = {}  # noqa: RUF012
    _reaper_task: asyncio.Task | None = None
    _unclaimed: dict[str, float] = {}  # noqa: RUF012

    backend = Unicode("")  # "slurm" or "local" for the current server
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

    # -------------------------------------------------------------------- commands

    def _bin(self, name: str) -> str:
        return str(Path(self.slurm_bin_dir) / name) if self.slurm_bin_dir else name

    async def _slurm(self, *args: str, cache: bool = False, **kw) -> Result:
        argv = [self._bin(args[0]), *args[1:]]
        key = tuple(argv)
        now = time.monotonic()
        if cache and key in self._cache and now - self._cache[key][0] < self.slurm_cache_seconds:
            return self._cache[key][1]
        res = await run(argv, timeout=self.command_timeout, **kw)
        if cache and res.rc == 0:
            type(self)._cache[key] = (now, res)
        return res

    def _pw(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(self.user.name)
        except KeyError:
            raise SpawnError(
                f"There is no system account '{self.user.name}' on the hub host."
            ) from None

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

    # -------------------------------------------------------------------- options

    async def form_model(self) -> options.FormModel:
        """This user's choices, read live from Slurm."""
        allow_local = self.allow_local
        parts_res, nodes_res = await asyncio.gather(
            self._slurm("scontrol", "show", "partition", "-o", cache=True),
            self._slurm("scontrol", "show", "node", "-o", cache=True),
        )
        for res in (parts_res, nodes_res):
            if res.rc != 0:
                why = clean_error(res.err)
                notice = f"The Slurm controller is not reachable right now ({why})."
                if allow_local:
                    notice += " You can still run locally on the hub host."
                return options.FormModel([], allow_local=allow_local, notice=notice)
        cluster = self.slurm_cluster or await self._cluster_name()
        where = ["where", f"user={self.user.name}"]
        if cluster:
            where.append(f"cluster={cluster}")
        # cached per user like the listings: the spawn right after the form (and a quick
        # re-spawn) reuse them instead of asking slurmdbd again; sbatch enforces them anyway
        assoc_res, user_res = await asyncio.gather(
            self._slurm(
                "sacctmgr", "-n", "-P", "show", "assoc", *where, f"format={ASSOC_FORMAT}",
                cache=True,
            ),
            self._slurm(
                "sacctmgr", "-n", "-P", "show", "user", self.user.name,
                "format=User,DefaultAccount", cache=True,
            ),
        )  # fmt: skip
        if assoc_res.rc != 0:
            notice = f"Slurm accounting is not reachable right now ({clean_error(assoc_res.err)})."
            return options.FormModel([], allow_local=allow_local, notice=notice)
        pw = self._pw()
        groups = []
        for gid in os.getgrouplist(pw.pw_name, pw.pw_gid):
            try:
                groups.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                continue
        return options.build_model(
            parse_partitions(parts_res.out),
            parse_nodes(nodes_res.out),
            parse_associations(assoc_res.out),
            user_groups=groups,
            default_account=parse_default_account(user_res.out) if user_res.rc == 0 else "",
            max_runtime_minutes=self.max_runtime_minutes,
            default_runtime_minutes=self.default_runtime_minutes,
            allow_local=allow_local,
            cluster=cluster,
            images=self._images(),
        )

    def _images(self) -> dict[str, ImageChoice]:
        try:
            return image_choices(self.container_images, self.container_image_dirs)
        except ValueError as exc:
            # a site error: offer no image rather than a broken one
            self.log.error("container_images unusable: %s", exc)
            return {}

    def _container_wrap(self, image: str, argv: list[str], env: dict[str, str]) -> list[str]:
        """The server's argv run inside `image` (sitehub.render.container, as kernels are)."""
        try:
            return server_in_image(
                self.container_runtime,
                image,
                argv,
                export=env,
                binds=self.container_binds,
                options=self.container_options,
                server_cmd=self.container_server_cmd,
                server_args=self.get_args() if self.container_server_cmd else (),
                workdir=self._pw().pw_dir,
            )
        except ValueError as exc:
            self.log.error("%s: container command not renderable: %s", self._log_name, exc)
            raise SpawnError(f"The image {image} cannot be started here: {exc}") from None

    async def _cluster_name(self) -> str:
        res = await self._slurm("scontrol", "show", "config", cache=True)
        return (parse_config_value(res.out, "ClusterName") or "") if res.rc == 0 else ""

    async def render_options_form(self) -> str:
        model = await self.form_model()
        return options.render_form(model, self.orm_spawner.user_options or {})

    async def options_from_form(self, formdata):
        data = {k: v for k, v in formdata.items() if not k.startswith("_")}
        try:
            opts = options.coerce(data)
            if self.scheduler == "slurm":
                options.validate(await self.form_model(), opts)
        except options.OptionsError as exc:
            raise refuse(400, str(exc)) from None
        return opts

    async def choose(self) -> options.Choice:
        """The validated choice for this spawn, from user_options (form or REST API)."""
        opts = dict(self.user_options or {})
        try:
            if self.scheduler != "slurm":
                coerced = options.coerce(opts)
                if set(coerced) - {"run_local"}:
                    raise options.OptionsError(
                        "This hub runs servers on the hub host; batch options are not accepted."
                    )
                return options.Choice(run_local=True)
            if options.coerce(opts).get("run_local"):
                # validate's run-locally rules need no Slurm query (none that could hang
                # while slurmctld is down)
                return options.validate(options.FormModel([], allow_local=self.allow_local), opts)
            model = await self.form_model()
            if not model.partitions:
                raise refuse(503, model.notice or "You may not submit jobs on this cluster.")
            return options.validate(model, opts)
        except options.OptionsError as exc:
            raise refuse(400, str(exc)) from None

    # -------------------------------------------------------------------- state

    def load_state(self, state):
        super().load_state(state)
        self.backend = state.get("backend", "slurm" if self.job_id else "")
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

    # -------------------------------------------------------------------- backends

    def _name(self) -> str:
        return job_name(self.job_prefix, self.user.name, self.name or "")

    async def _submit_slurm(self, request: JobRequest) -> str:
        pw = self._pw()
        env = self.user_env()
        name = self._name()
        cmd = self.server_argv()
        if request.image:
            cmd = self._container_wrap(request.image, cmd, env)
        try:
            script = render_batch_script(
                request,
                job_name=name,
                output=self.slurm_output.replace("{home}", pw.pw_dir),
                workdir=pw.pw_dir,
                cmd=cmd,
                export=sorted(env),
                srun=self.slurm_srun,
                prologue=self.slurm_prologue,
                extra_directives=self.slurm_extra_directives,
            )
        except UnsafeValue as exc:
            raise refuse(400, str(exc)) from None
        self.log.debug("Batch script for %s:\n%s", self._log_name, script)
        res = await run(
            [self._bin("sbatch"), "--parsable"],
            input=script,
            env=env,
            as_user=pw,
            timeout=self.command_timeout,
        )
        try:
            return parse_sbatch(res.rc if not res.timed_out else 1, res.out, res.err)
        except SlurmError as exc:
            if exc.unreachable or res.timed_out:
                raise SpawnError(
                    "The Slurm controller is not reachable, so no job was submitted "
                    f"({exc}). Please try again in a few minutes"
                    + (" or choose 'run locally'." if self.allow_local else ".")
                ) from None
            raise SpawnError(f"Slurm refused the job: {exc}") from None

    # scheduler hooks: sitehub.hub.condor.CondorSpawner overrides these for HTCondor
    async def _submit_batch(self, request) -> str:
        return await self._submit_slurm(request)

    def _submitted_where(self, request) -> str:
        return f"partition {request.partition}"

    def _output_hint(self, job: str) -> str:
        return f" Its output is in {self.slurm_output.replace('{home}', '~').replace('%j', job)}."

    async def _cancel_stale(self) -> None:
        try:
            pw = self._pw()
        except SpawnError:
            return
        await self._slurm("scancel", f"--name={self._name()}", f"--user={pw.pw_name}")

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
            raise SpawnError(f"Could not start the server on the hub host: {clean_error(res.err)}")
        return unit

    async def job_state(self) -> JobStatus:
        if self.backend == "local":
            res = await run(
                ["systemctl", "show", f"--property={UNIT_SHOW_PROPERTIES}", self.job_id],
                timeout=self.command_timeout,
            )
            return interpret_unit(self.job_id, res.rc, res.out, res.err, res.timed_out)
        res = await self._slurm("squeue", "-h", "-j", self.job_id, "-o", SQUEUE_JOB_FORMAT)
        return interpret_squeue(self.job_id, res.rc, res.out, res.err, res.timed_out)

    async def _queue_position(self, status: JobStatus) -> int | None:
        if not status.partition:
            return None
        res = await self._slurm(
            "squeue", "-h", "-t", "PENDING", "-p", status.partition, "--sort=-p,i", "-o", "%i"
        )
        return queue_position(res.out, self.job_id) if res.rc == 0 else None

    async def _cancel(self) -> None:
        if self.backend == "local":
            res = await run(["systemctl", "stop", self.job_id], timeout=self.command_timeout)
            (Path(self.local_runtime_dir) / f"{self.job_id}.env").unlink(missing_ok=True)
            if res.rc != 0 and "not loaded" not in res.err:
                raise SpawnError(f"Could not stop {self.job_id}: {clean_error(res.err)}")
            return
        res = await self._slurm("scancel", self.job_id)
        if res.rc != 0 and "Invalid job id" not in res.err:
            # the reaper cancels it once Slurm answers again
            raise SpawnError(f"scancel {self.job_id} failed: {clean_error(res.err)}")

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
                self._emit(progress.describe(status, position))
            if status.phase is Phase.RUNNING and self._reported_port:
                if self.backend == "local":
                    return "127.0.0.1"
                return status.host or await self._resolve_host(status)
            try:
                await asyncio.wait_for(self._port_event.wait(), timeout=interval)
            except TimeoutError:
                interval = min(interval * 1.5, self.startup_poll_max)

    async def _resolve_host(self, status: JobStatus) -> str:
        res = await self._slurm("squeue", "-h", "-j", self.job_id, "-o", "%N")
        host = res.out.strip()
        if res.rc != 0 or not host:
            raise SpawnError(f"Job {self.job_id} runs, but Slurm did not say on which node.")
        return host

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
        res = await self._slurm("squeue", "-h", "-o", "%i|%j|%u|%T")
        if res.rc != 0:
            return []
        unclaimed = unclaimed_jobs(parse_job_list(res.out), self.job_prefix, self._claimed_jobs())
        now = time.monotonic()
        cls = type(self)
        cls._unclaimed = {j: cls._unclaimed.get(j, now) for j in unclaimed}
        cancelled = []
        for job, since in list(cls._unclaimed.items()):
            if now - since >= self.reaper_grace:
                self.log.warning("Cancelling job %s: no server of this hub claims it", job)
                r = await self._slurm("scancel", job)
                if r.rc == 0 or "Invalid job id" in r.err:
                    cancelled.append(job)
                    cls._unclaimed.pop(job, None)
        return cancelled
