"""CondorSpawner: notebook servers as HTCondor jobs (or "run locally" on the hub host).

sitehub.hub.spawner.SitehubSpawner does everything that is not HTCondor's (the form's
handling, run locally, images, progress, stale-job cancel, state, start, the wait for the
port report, poll, stop, the orphan reaper); this class is its scheduler interface for
HTCondor, a peer of sitehub.hub.slurm_spawner.SlurmSpawner:

* the form: accounting groups from the inventory, narrowed by the pool's GROUP_NAMES /
  GROUP_QUOTA_<g> / GROUP_ACCEPT_SURPLUS and by the site's accounting-group user map
  (read with HTCondor's bindings when the hub venv has them), CPUs, memory, GPU by compute
  capability or device name, container image, runtime, run locally
  (sitehub.htcondor.choices, on the shared sitehub.hub.form);
* the submit: sitehub.htcondor.submit.build_submit, `condor_submit` run as the user. The
  hub's API token is not in the job's environment through `getenv = True` nor in the job ad:
  it goes to a 0600 file the user owns, transferred with `transfer_input_files` (with
  `-spool` for a remote schedd: copied at submit time and deleted from the hub host at
  once) and read and deleted by the job wrapper;
* the state: `condor_q` as read by sitehub.htcondor.status: a failed, timed-out or
  complaining query is "unknown" and keeps the server, never "job gone"; a job that leaves
  the queue, or is held, before its server reported a port fails the spawn at once, with
  HTCondor's reason (condor_history) instead of waiting for the start timeout.

    c.JupyterHub.spawner_class = "sitehub.hub.condor.CondorSpawner"
    c.CondorSpawner.scheduler = "htcondor"      # or "local"
    # sitehub.htcondor.deploy.spawner_settings(cluster) gives the rest from the inventory
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import time
from pathlib import Path

from traitlets import Bool, Dict, Float, Integer, List, Unicode

from sitehub.htcondor import choices
from sitehub.htcondor.status import (
    SubmitError,
    batch_constraint,
    complains,
    condor_q_argv,
    condor_rm_argv,
    condor_rm_constraint_argv,
    describe_history,
    history_argv,
    interpret_condor_q,
    jobs_argv,
    parse_job_list,
    parse_submit,
    submit_argv,
)
from sitehub.htcondor.submit import (
    ENV_NAMES,
    IMAGE_REF,
    USER_NAME,
    WRAPPER_PATH,
    JobRequest,
    SubmitContext,
    UnsafeValue,
    build_submit,
    env_file_text,
    job_environment,
)

from .jobs import JobStatus, Phase, QueuedJob, last_line
from .spawner import SYSTEM_PATH, Result, SitehubSpawner, SpawnError, run, scheduler_trait

# writes stdin to DIR/NAME as the user: umask 077 (0700 directory, 0600 file), renamed into
# place so a job never reads half a file; the token travels on stdin, never in argv
WRITE_ENV_FILE = (
    'umask 077 && mkdir -p -- "$1" && cat > "$1/$2.tmp" && mv -f -- "$1/$2.tmp" "$1/$2"'
)


class CondorSpawner(SitehubSpawner):
    scheduler = scheduler_trait("htcondor", "HTCondor jobs")
    condor_bin_dir = Unicode("", config=True, help="Directory of the HTCondor tools ('' = PATH).")
    condor_schedd_name = Unicode(
        "", config=True, help="Schedd to submit to (-name); '' = the host's configuration."
    )
    condor_spool = Bool(
        False,
        config=True,
        help="Submit with -spool: input files go to the schedd at submit time (remote schedd).",
    )
    condor_job_dir = Unicode(
        "{home}/.sitehub/condor",
        config=True,
        help="Per-user submit directory ({home}, {user}): environment file, job output, log.",
    )
    condor_wrapper = Unicode(
        WRAPPER_PATH, config=True, help="The job's executable (roles/htcondor_submit installs it)."
    )
    condor_extra_submit = Dict(
        config=True, help="Site-wide submit commands, e.g. {'+ProjectName': '\"atlas\"'}."
    )
    condor_grace_seconds = Integer(
        300, config=True, help="Past the runtime, and for held jobs, before periodic_remove."
    )
    condor_env_names = List(
        Unicode(), config=True, help="More variables of the server's environment to pass on."
    )
    condor_tool_env = Dict(
        config=True, help="Extra environment for condor_* tools (e.g. CONDOR_CONFIG)."
    )
    # the offer (sitehub.htcondor.deploy.spawner_settings fills these from the inventory)
    condor_accounting_groups = List(Unicode(), config=True, help="Accounting groups offered.")
    condor_max_cpus = Integer(8, config=True, help="Most CPUs a server may request.")
    condor_max_memory_gb = Integer(32, config=True, help="Most memory (GB) a server may request.")
    condor_gpu_capabilities = List(
        Unicode(), config=True, help="CUDA capabilities offered as minimum ('8.0')."
    )
    condor_gpu_devices = List(Unicode(), config=True, help="GPU models offered (DeviceName).")
    condor_read_pool_config = Bool(
        True,
        config=True,
        help="Narrow the offer by the host's HTCondor configuration (needs the bindings).",
    )
    condor_usermap = Unicode(
        choices.USERMAP_NAME,
        config=True,
        help="Name of the accounting-group user map (CLASSAD_USER_MAPFILE_<name>); '' = none.",
    )
    condor_cache_seconds = Float(
        60.0, config=True, help="How long the pool's configuration is reused between users."
    )

    form = choices
    scheduler_label = "the HTCondor schedd"
    image_ref_pattern = IMAGE_REF
    nothing_offered = "You may not submit jobs to this pool."

    # hub-wide: the pool's configuration as last read (time, settings or None)
    _pool_cache: tuple[float, dict[str, str] | None] | None = None

    # -------------------------------------------------------------------- commands

    def _condor(self, argv: list[str]) -> list[str]:
        tool = str(Path(self.condor_bin_dir) / argv[0]) if self.condor_bin_dir else argv[0]
        return [tool, *argv[1:]]

    def _tool_env(self, pw: pwd.struct_passwd | None = None) -> dict[str, str]:
        """What HTCondor's tools see: no hub secrets; the user's HOME (their tokens)."""
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        if "CONDOR_CONFIG" in os.environ:
            env["CONDOR_CONFIG"] = os.environ["CONDOR_CONFIG"]
        env.update(self.condor_tool_env)
        if pw is not None:
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
        return env

    async def _tool(self, argv: list[str], *, as_user=None, input=None) -> Result:
        return await run(
            self._condor(argv),
            input=input,
            env=self._tool_env(as_user),
            as_user=as_user,
            timeout=self.command_timeout,
        )

    # -------------------------------------------------------------------- options

    def _pool_config(self) -> dict[str, str] | None:
        """The host's GROUP_* and user-map settings, read with HTCondor's bindings; None when
        turned off or unreadable (then the inventory's groups are offered as they are)."""
        if not self.condor_read_pool_config:
            return None
        cls = CondorSpawner
        now = time.monotonic()
        if cls._pool_cache is not None and now - cls._pool_cache[0] < self.condor_cache_seconds:
            return cls._pool_cache[1]
        config: dict[str, str] | None
        try:
            import htcondor2

            htcondor2.reload_config()  # the bindings read it once per process otherwise
            config = choices.local_pool_config()
        except Exception as exc:  # ImportError (no bindings in the hub venv) included
            self.log.warning(
                "HTCondor's configuration cannot be read (%s); the form offers the "
                "inventory's accounting groups without the pool's narrowing",
                exc,
            )
            config = None
        cls._pool_cache = (now, config)
        return config

    async def form_model(self) -> choices.FormModel:
        """This user's choices: the inventory's offer narrowed by the pool's configuration."""
        allow_local = self.allow_local
        config = self._pool_config()
        user_groups = None
        if config is not None and self.condor_usermap:
            try:
                user_groups = choices.usermap_groups(self.user.name, config, self.condor_usermap)
            except Exception as exc:
                # a map is configured but unreadable: offer nothing rather than everything
                self.log.error("accounting-group map %s unreadable: %s", self.condor_usermap, exc)
                notice = self._notice("The pool's accounting-group map cannot be read right now.")
                return choices.FormModel([], allow_local=allow_local, notice=notice)
        try:
            return choices.build_model(
                accounting_groups=self.condor_accounting_groups,
                max_cpus=self.condor_max_cpus,
                max_memory_gb=self.condor_max_memory_gb,
                max_runtime_minutes=self.max_runtime_minutes,
                default_runtime_minutes=self.default_runtime_minutes,
                gpu_capabilities=self.condor_gpu_capabilities,
                gpu_devices=self.condor_gpu_devices,
                images=self.container_images,
                image_dirs=self.container_image_dirs,
                allow_local=allow_local,
                pool_config=config,
                user_groups=user_groups,
            )
        except ValueError as exc:
            # inventory values unfit for a submit description: a site error, not the user's
            self.log.error("CondorSpawner settings unusable: %s", exc)
            notice = "This hub's HTCondor settings are not usable; please tell the administrators."
            return choices.FormModel([], allow_local=allow_local, notice=notice)

    # -------------------------------------------------------------------- submit

    def _job_dir(self, pw: pwd.struct_passwd) -> str:
        return self.condor_job_dir.replace("{home}", pw.pw_dir).replace("{user}", pw.pw_name)

    def _env_name(self) -> str:
        return f"{self._name()}.env"

    def submit_context(self, pw: pwd.struct_passwd) -> SubmitContext:
        return SubmitContext(
            user=pw.pw_name,
            job_dir=self._job_dir(pw),
            command=self.server_argv(),
            batch_name=self._name(),
            env_file=self._env_name(),
            wrapper=self.condor_wrapper,
            grace_seconds=self.condor_grace_seconds,
            extra=dict(self.condor_extra_submit),
        )

    def submit_description(self, request: JobRequest, pw: pwd.struct_passwd) -> str:
        """The text condor_submit reads for this server (every value checked again)."""
        try:
            return build_submit(request, self.submit_context(pw))
        except UnsafeValue as exc:
            # form values were validated already: this is the hub's own configuration
            self.log.error("%s: no submit description: %s", self._log_name, exc)
            raise SpawnError(
                "This hub's HTCondor settings cannot make a submit description; "
                "please tell the administrators."
            ) from None

    def job_env(self, request: JobRequest) -> dict[str, str]:
        """The server's environment (the hub's API token included) for the environment file."""
        env = self.user_env()
        # condormap's default accounting group in the user's kernels
        env["SITEHUB_ACCOUNTING_GROUP"] = request.accounting_group
        names = ENV_NAMES | {"PATH", "LC_ALL", "LOGNAME", *self.condor_env_names}
        return job_environment(env, names=names)

    async def _write_env_file(self, pw: pwd.struct_passwd, text: str) -> None:
        job_dir = self._job_dir(pw)
        argv = ["/bin/sh", "-c", WRITE_ENV_FILE, "sitehub-env", job_dir, self._env_name()]
        # as the user: the file is theirs (condor_submit and the shadow read it as them) and
        # root never writes into a directory the user controls
        res = await run(
            argv, input=text, env=self._tool_env(pw), as_user=pw, timeout=self.command_timeout
        )
        if res.rc != 0:
            raise SpawnError(
                f"Could not write the job's environment file in {job_dir}: {last_line(res.err)}"
            )

    async def _remove_env_file(self) -> None:
        pw = self._pw_or_none()
        if pw is None:
            return
        path = str(Path(self._job_dir(pw)) / self._env_name())
        res = await run(
            ["rm", "-f", "--", path],
            env=self._tool_env(pw),
            as_user=pw,
            timeout=self.command_timeout,
        )
        if res.rc != 0:
            self.log.warning("%s: could not remove %s: %s", self._log_name, path, res.err)

    async def _submit_batch(self, request: JobRequest) -> str:
        pw = self._pw()
        text = self.submit_description(request, pw)
        try:
            env_text = env_file_text(self.job_env(request))
        except UnsafeValue as exc:
            self.log.error("%s: environment not passable: %s", self._log_name, exc)
            raise SpawnError("The server's environment cannot be passed to the job.") from None
        self.log.debug("Submit description for %s:\n%s", self._log_name, text)
        await self._write_env_file(pw, env_text)
        res = await self._tool(
            submit_argv(self.condor_schedd_name, self.condor_spool), as_user=pw, input=text
        )
        try:
            job_id = parse_submit(1 if res.rc is None else res.rc, res.out, res.err)
        except SubmitError as exc:
            await self._remove_env_file()
            # an answer we could not read may still have queued a job: none is left behind
            await self._cancel_stale()
            unreachable = exc.unreachable or res.timed_out
            raise self._submit_failed(exc, unreachable, "HTCondor") from None
        if self.condor_spool:
            await self._remove_env_file()  # the schedd holds its copy now
        return job_id

    def _submitted_where(self, request: JobRequest) -> str:
        where = f"accounting group {request.accounting_group}"
        if self.condor_schedd_name:
            where += f" on schedd {self.condor_schedd_name}"
        return where

    def _output_hint(self, job: str) -> str:
        shown = self.condor_job_dir.replace("{home}", "~").replace("{user}", self.user.name)
        err = f"{shown}/{self._name()}.{job}.err"
        if self.condor_spool:
            return f" Its error output is {err} after `condor_transfer_data {job}`."
        return f" Its error output is in {err}."

    async def start(self):
        try:
            return await super().start()
        finally:
            # read by the wrapper before the server reported its port, or never needed
            if self.backend == "htcondor" and not self.condor_spool:
                await self._remove_env_file()

    async def _cancel_stale(self) -> None:
        pw = self._pw_or_none()
        if pw is None or not USER_NAME.fullmatch(pw.pw_name):
            return
        constraint = f'{batch_constraint(self._name())} && Owner =?= "{pw.pw_name}"'
        await self._tool(condor_rm_constraint_argv(constraint, self.condor_schedd_name), as_user=pw)

    # -------------------------------------------------------------------- state

    async def _batch_state(self) -> JobStatus:
        res = await self._tool(condor_q_argv(self.job_id, self.condor_schedd_name))
        status = interpret_condor_q(self.job_id, res.rc, res.out, res.err, res.timed_out)
        if self._awaiting_port and status.state == "HELD":
            # a held job runs nothing: fail the spawn now, not after the start timeout
            try:
                await self._cancel()
            except SpawnError as exc:
                self.log.warning("%s: %s", self._log_name, exc)
            why = f"HELD: {status.reason}" if status.reason else "HELD"
            return JobStatus(Phase.GONE, self.job_id, state=why)
        if self._awaiting_port and status.phase is Phase.GONE and not status.state:
            # left the queue: ask the history why (best effort)
            hist = await self._tool(history_argv(self.job_id, self.condor_schedd_name))
            how = describe_history(self.job_id, hist.rc, hist.out)
            if how:
                status = dataclasses.replace(status, state=how)
        return status

    # no _queue_position: HTCondor's fair share has no single queue order to show

    async def _resolve_host(self, status: JobStatus) -> str:
        again = await self.job_state()
        if again.host:
            return again.host
        raise SpawnError(f"Job {self.job_id} runs, but HTCondor did not say on which machine.")

    async def _cancel_batch(self) -> None:
        pw = self._pw_or_none()
        res = await self._tool(condor_rm_argv(self.job_id, self.condor_schedd_name), as_user=pw)
        if not self.condor_spool:
            await self._remove_env_file()
        if res.rc != 0 and not _already_gone(res):
            # the reaper removes it once the schedd answers again
            raise SpawnError(f"condor_rm {self.job_id} failed: {last_line(res.err or res.out)}")

    # -------------------------------------------------------------------- orphan reaper

    async def _list_jobs(self) -> list[QueuedJob] | None:
        res = await self._tool(jobs_argv(self.job_prefix, self.condor_schedd_name))
        if res.rc != 0 or complains(res.err):
            return None
        try:
            return parse_job_list(res.out)
        except ValueError:
            return None

    async def _remove_orphan(self, job: QueuedJob) -> bool:
        # as its owner, like every other condor_rm of the hub
        try:
            pw = pwd.getpwnam(job.user)
        except KeyError:
            pw = None
        res = await self._tool(condor_rm_argv(job.job_id, self.condor_schedd_name), as_user=pw)
        return res.rc == 0 or _already_gone(res)


def _already_gone(res: Result) -> bool:
    """condor_rm's answer for a job that is not (or no longer) in the queue."""
    text = (res.err + res.out).lower()
    if "denied" in text or "permission" in text:
        return False
    return "not found" in text or "couldn't find" in text or "already" in text
