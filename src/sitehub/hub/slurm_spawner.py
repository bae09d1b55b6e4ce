"""SlurmSpawner: notebook servers as Slurm jobs (or "run locally" on the hub host).

sitehub.hub.spawner.SitehubSpawner does everything that is not Slurm's (the form's handling,
run locally, images, progress, stale-job cancel, state, the reaper); this class is its
scheduler interface for Slurm:

* the form: partitions, accounts, QOS and GPU types read live from Slurm (`scontrol`,
  `sacctmgr`, cached hub-wide for a few seconds) and narrowed per user
  (sitehub.hub.options);
* the submit: a batch script (sitehub.hub.batch) through `sbatch --parsable` as the user;
  a chosen image wraps the server in Apptainer or podman;
* the state: `squeue`, read by sitehub.hub.slurm (a failed query is "unknown", never
  "job gone"), the queue position of a pending job, `scancel`.

    c.JupyterHub.spawner_class = "sitehub.hub.slurm_spawner.SlurmSpawner"
    c.SlurmSpawner.scheduler = "slurm"        # or "local"
"""

from __future__ import annotations

import asyncio
import grp
import os
import time
from pathlib import Path

from traitlets import Bool, Float, List, Unicode

from . import options, slurm, spawner
from .batch import JobRequest, UnsafeValue, render_batch_script, server_in_image
from .jobs import JobStatus, QueuedJob
from .spawner import Result, SitehubSpawner, SpawnError, refuse, run


class SlurmSpawner(SitehubSpawner):
    scheduler = spawner.scheduler_trait("slurm", "batch jobs")
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

    form = options
    scheduler_label = "the Slurm controller"
    nothing_offered = "You may not submit jobs on this cluster."

    # hub-wide: cached listings
    _cache: dict[tuple[str, ...], tuple[float, Result]] = {}  # noqa: RUF012

    # -------------------------------------------------------------------- commands

    def _bin(self, name: str) -> str:
        return str(Path(self.slurm_bin_dir) / name) if self.slurm_bin_dir else name

    @staticmethod
    def _slurm_env(env: dict[str, str] | None = None) -> dict[str, str]:
        """The tools' environment; the hub's SLURM_CONF (a test cluster's) travels on."""
        env = dict(env) if env is not None else {"PATH": spawner.SYSTEM_PATH, "LANG": "C.UTF-8"}
        if "SLURM_CONF" in os.environ:
            env.setdefault("SLURM_CONF", os.environ["SLURM_CONF"])
        return env

    async def _slurm(self, *args: str, cache: bool = False, **kw) -> Result:
        argv = [self._bin(args[0]), *args[1:]]
        key = tuple(argv)
        now = time.monotonic()
        if cache and key in self._cache and now - self._cache[key][0] < self.slurm_cache_seconds:
            return self._cache[key][1]
        res = await run(argv, timeout=self.command_timeout, env=self._slurm_env(), **kw)
        if cache and res.rc == 0:
            type(self)._cache[key] = (now, res)
        return res

    # -------------------------------------------------------------------- the form

    async def form_model(self) -> options.FormModel:
        """This user's choices, read live from Slurm."""
        allow_local = self.allow_local
        parts_res, nodes_res = await asyncio.gather(
            self._slurm("scontrol", "show", "partition", "-o", cache=True),
            self._slurm("scontrol", "show", "node", "-o", cache=True),
        )
        for res in (parts_res, nodes_res):
            if res.rc != 0:
                notice = self._unreachable_notice(slurm.clean_error(res.err))
                return options.FormModel([], allow_local=allow_local, notice=notice)
        cluster = self.slurm_cluster or await self._cluster_name()
        where = ["where", f"user={self.user.name}"]
        if cluster:
            where.append(f"cluster={cluster}")
        # cached per user like the listings: the spawn right after the form (and a quick
        # re-spawn) reuse them instead of asking slurmdbd again; sbatch enforces them anyway
        assoc_res, user_res = await asyncio.gather(
            self._slurm(
                "sacctmgr", "-n", "-P", "show", "assoc", *where, f"format={slurm.ASSOC_FORMAT}",
                cache=True,
            ),
            self._slurm(
                "sacctmgr", "-n", "-P", "show", "user", self.user.name,
                "format=User,DefaultAccount", cache=True,
            ),
        )  # fmt: skip
        if assoc_res.rc != 0:
            why = slurm.clean_error(assoc_res.err)
            notice = f"Slurm accounting is not reachable right now ({why})."
            return options.FormModel([], allow_local=allow_local, notice=notice)
        pw = self._pw()
        groups = []
        for gid in os.getgrouplist(pw.pw_name, pw.pw_gid):
            try:
                groups.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                continue
        return options.build_model(
            slurm.parse_partitions(parts_res.out),
            slurm.parse_nodes(nodes_res.out),
            slurm.parse_associations(assoc_res.out),
            user_groups=groups,
            default_account=slurm.parse_default_account(user_res.out) if user_res.rc == 0 else "",
            max_runtime_minutes=self.max_runtime_minutes,
            default_runtime_minutes=self.default_runtime_minutes,
            allow_local=allow_local,
            cluster=cluster,
            images=self._images(),
        )

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
        return (slurm.parse_config_value(res.out, "ClusterName") or "") if res.rc == 0 else ""

    # -------------------------------------------------------------------- submit

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
            env=self._slurm_env(env),
            as_user=pw,
            timeout=self.command_timeout,
        )
        try:
            return slurm.parse_sbatch(res.rc if not res.timed_out else 1, res.out, res.err)
        except slurm.SlurmError as exc:
            raise self._submit_failed(exc, exc.unreachable or res.timed_out, "Slurm") from None

    # -------------------------------------------------------------------- the interface

    async def _submit_batch(self, request: JobRequest) -> str:
        return await self._submit_slurm(request)

    def _submitted_where(self, request: JobRequest) -> str:
        return f"partition {request.partition}"

    def _output_hint(self, job: str) -> str:
        return f" Its output is in {self.slurm_output.replace('{home}', '~').replace('%j', job)}."

    async def _cancel_stale(self) -> None:
        try:
            pw = self._pw()
        except SpawnError:
            return
        await self._slurm("scancel", f"--name={self._name()}", f"--user={pw.pw_name}")

    async def _batch_state(self) -> JobStatus:
        res = await self._slurm("squeue", "-h", "-j", self.job_id, "-o", slurm.SQUEUE_JOB_FORMAT)
        return slurm.interpret_squeue(self.job_id, res.rc, res.out, res.err, res.timed_out)

    async def _queue_position(self, status: JobStatus) -> int | None:
        if not status.partition:
            return None
        res = await self._slurm(
            "squeue", "-h", "-t", "PENDING", "-p", status.partition, "--sort=-p,i", "-o", "%i"
        )
        return slurm.queue_position(res.out, self.job_id) if res.rc == 0 else None

    async def _resolve_host(self, status: JobStatus) -> str:
        res = await self._slurm("squeue", "-h", "-j", self.job_id, "-o", "%N")
        host = res.out.strip()
        if res.rc != 0 or not host:
            raise SpawnError(f"Job {self.job_id} runs, but Slurm did not say on which node.")
        return host

    async def _cancel_batch(self) -> None:
        res = await self._slurm("scancel", self.job_id)
        if res.rc != 0 and "Invalid job id" not in res.err:
            # the reaper cancels it once Slurm answers again
            raise SpawnError(f"scancel {self.job_id} failed: {slurm.clean_error(res.err)}")

    async def _list_jobs(self) -> list[QueuedJob] | None:
        res = await self._slurm("squeue", "-h", "-o", "%i|%j|%u|%T")
        return slurm.parse_job_list(res.out) if res.rc == 0 else None

    async def _remove_orphan(self, job: QueuedJob) -> bool:
        res = await self._slurm("scancel", job.job_id)
        return res.rc == 0 or "Invalid job id" in res.err
