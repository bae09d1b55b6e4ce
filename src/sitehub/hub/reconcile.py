"""`sitehub reconcile`: what the hubs of this host know, checked against the schedulers.

Run as root on a hub host. For every instance the jupyterhub role set up there (one
`<config_dir>/<name>/settings.json` each), it lists the scheduler's jobs carrying that
instance's marker and the hub's servers with their job ids, and reports

* orphans: live jobs with the instance's marker that no server of the instance claims;
* dead records: servers whose job id the scheduler positively says is gone (how it ended
  from `sacct` / `condor_history`); a failed or unclear query is "unchecked", never dead;
* duplicates: several live jobs for one server (the same job name).

It acts only when told: `--cancel-orphans` cancels orphans, `--clear-dead` clears dead
records. A job without the marker is never touched: the marker is the job name (Slurm) or
JobBatchName (HTCondor) `<job_prefix>.<user>[.<server>]` of sitehub.hub.batch.job_name, and
the job's owner must be the user the name encodes (the spawner's reaper's rule).

Why the hub database and not the REST API: the hub's generated config has one service, the
idle culler, whose token JupyterHub hands to that process only; a reconcile token would mean a
new service with `admin:server_state` (the only scope that shows a server's job id) and one
more secret per instance. The database also answers while a hub is down or crash-looping,
which is when orphans and dead records are made, and settings.json (root-only) names it.
Reads are plain SELECTs. Writes (`--clear-dead`) go where no running hub undoes them: a
record the hub does not count as running (no server row: the hub never polls it) is cleared
always; a record of a server the hub counts as running only while that hub is stopped (a
running hub holds the state in memory and would write it back; its own poll clears such a
record within a poll interval anyway).

The jobs are listed before the database is read, and a job younger than `--grace` seconds is
not an orphan yet: a spawn saves its job id only after the submit returned.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from sitehub.htcondor import status as condor
from sitehub.hub import slurm
from sitehub.hub.batch import job_owner
from sitehub.hub.jobs import JobStatus, Phase, Result, last_line

CONFIG_DIR = "/etc/sitehub/hub"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_GRACE = 120.0  # the spawner's reaper_grace default
SCHEDULERS = ("slurm", "htcondor")
# squeue's listing for the reaper (%i|%j|%u|%T) with the submit time, for the grace
SQUEUE_LIST_FORMAT = "%i|%j|%u|%T|%V"
# states in which a job holds (or waits for) resources; COMPLETING etc. are on their way out
SLURM_LIVE = slurm._PENDING_STATES | slurm._RUNNING_STATES
CONDOR_LIVE = frozenset({"IDLE", "RUNNING", "HELD", "SUSPENDED"})

EXIT_CLEAN = 0  # nothing found, or all of it fixed
EXIT_FINDINGS = 1  # findings left
EXIT_UNCHECKED = 2  # an instance or scheduler could not be read


# ---------------------------------------------------------------------------------------
# running commands


Runner = Callable[..., Result]  # runner(argv, *, env, user=None) -> Result


def run_command(
    argv: list[str], *, env: dict[str, str], user: str | None = None, timeout: float = 60.0
) -> Result:
    """Run without a shell; as `user` when given and we are root (condor_rm as the owner)."""
    kwargs: dict = {"env": env, "timeout": timeout, "cwd": "/", "stdin": subprocess.DEVNULL}
    if user is not None and os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        kwargs.update(
            user=pw.pw_uid,
            group=pw.pw_gid,
            extra_groups=os.getgrouplist(pw.pw_name, pw.pw_gid),
        )
        kwargs["env"] = {**env, "HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    except subprocess.TimeoutExpired:
        return Result(None, "", f"{argv[0]} timed out after {timeout:.0f}s", timed_out=True)
    except (OSError, KeyError) as exc:
        return Result(127, "", f"{argv[0]}: {exc}")
    return Result(proc.returncode, proc.stdout, proc.stderr)


# ---------------------------------------------------------------------------------------
# what this host runs


@dataclass(frozen=True)
class Instance:
    name: str
    scheduler: str  # slurm, htcondor, local, or "" (not one of sitehub's spawners)
    prefix: str  # job name prefix: the marker
    db_url: str
    spawner: dict = field(default_factory=dict, compare=False)  # the spawner's settings


def load_instances(config_dir: str | Path = CONFIG_DIR) -> list[Instance]:
    """Every instance the jupyterhub role wrote a settings.json for."""
    out = []
    for path in sorted(Path(config_dir).glob("*/settings.json")):
        s = json.loads(path.read_text(encoding="utf-8"))
        sp = s.get("spawner") or {}
        name = s.get("name") or path.parent.name
        sitehub_class = str(s.get("spawner_class", "")).startswith("sitehub.")
        # a stock spawner (the benchmark's baseline) names its jobs its own way: no marker
        scheduler = sp.get("scheduler", "") if sitehub_class else ""
        prefix = sp.get("job_prefix") or f"jupyter-{sp.get('instance') or name}"
        out.append(Instance(name, scheduler, prefix, s["db_url"], sp))
    return out


@dataclass(frozen=True)
class Record:
    """One server of one hub and the job its state names."""

    instance: str
    user: str
    server: str  # "" = the default server
    job_id: str
    backend: str
    running: bool  # the hub counts it as running or starting (it has a server row)


def read_records(instance: Instance) -> list[Record]:
    """The hub's servers with a job id, from its database (read only)."""
    from jupyterhub import orm  # the hub venv has it; the controller need not
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(instance.db_url)
    try:
        with Session(engine) as db:
            out = []
            for sp in db.query(orm.Spawner).join(orm.User).all():
                state = sp.state or {}
                job = str(state.get("job_id") or "")
                if not job:
                    continue
                backend = state.get("backend") or instance.scheduler  # stock batchspawner state
                out.append(
                    Record(
                        instance.name, sp.user.name, sp.name or "", job, backend,
                        sp.server_id is not None,
                    )
                )  # fmt: skip
            return out
    finally:
        engine.dispose()


def clear_record(instance: Instance, record: Record) -> bool:
    """What the hub's own stop leaves: empty state, no server row. False if it changed since."""
    from jupyterhub import orm
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(instance.db_url)
    try:
        with Session(engine) as db:
            sp = (
                db.query(orm.Spawner)
                .join(orm.User)
                .filter(orm.User.name == record.user, orm.Spawner.name == record.server)
                .one_or_none()
            )
            # a new spawn since the report has another job id: not ours to clear
            if sp is None or str((sp.state or {}).get("job_id") or "") != record.job_id:
                return False
            sp.state = {}
            if sp.server is not None:
                db.delete(sp.server)
                sp.server = None
            db.commit()
            return True
    finally:
        engine.dispose()


def hub_running(instance: Instance, runner: Runner) -> bool:
    """True unless systemd says the instance's hub is not active (unknown counts as running)."""
    res = runner(
        ["systemctl", "is-active", "--quiet", f"jupyterhub@{instance.name}.service"],
        env=_env({}),
    )
    return res.rc != 3  # 3: inactive or failed; no systemctl or a timeout: running


# ---------------------------------------------------------------------------------------
# the schedulers


@dataclass(frozen=True)
class Job:
    job_id: str
    name: str
    user: str
    state: str
    submitted: float | None  # epoch seconds; None when the scheduler did not say
    live: bool


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    for key in ("SLURM_CONF", "CONDOR_CONFIG"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def _slurm_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.strip()).timestamp()  # local time, like squeue
    except ValueError:
        return None


def parse_squeue_list(stdout: str) -> list[Job]:
    """`squeue -h -o SQUEUE_LIST_FORMAT` (the reaper's parse_job_list, plus the submit time)."""
    times = {}
    for line in stdout.splitlines():
        cols = line.strip().split("|")
        if len(cols) >= 5:
            times[cols[0]] = _slurm_time(cols[4])
    out = []
    for j in slurm.parse_job_list(stdout):
        state = j.state.split()[0].rstrip("+") if j.state else ""
        out.append(Job(j.job_id, j.name, j.user, state, times.get(j.job_id), state in SLURM_LIVE))
    return out


def parse_condor_list(stdout: str) -> list[Job]:
    """`condor_q` of jobs_argv(..., extra=("QDate",)) (the reaper's parse_job_list + QDate)."""
    jobs = condor.parse_job_list(stdout)
    ads = json.loads(stdout) if stdout.strip() else []
    qdates = {
        str(ad.get("ClusterId")): ad.get("QDate")
        for ad in (ads if isinstance(ads, list) else [])
        if isinstance(ad, dict)
    }
    out = []
    for j in jobs:
        qdate = qdates.get(j.job_id)
        submitted = float(qdate) if isinstance(qdate, int | float) else None
        out.append(Job(j.job_id, j.name, j.user, j.state, submitted, j.state in CONDOR_LIVE))
    return out


class SchedulerError(RuntimeError):
    pass


class SlurmTools:
    """The Slurm commands the reconciler runs (argv and readers from sitehub.hub.slurm)."""

    label = "Slurm"

    def __init__(self, settings: dict, runner: Runner):
        self.bin_dir = settings.get("slurm_bin_dir", "")
        self.runner = runner

    def _run(self, *argv: str) -> Result:
        tool = str(Path(self.bin_dir) / argv[0]) if self.bin_dir else argv[0]
        return self.runner([tool, *argv[1:]], env=_env({}))

    def list_jobs(self, prefix: str) -> list[Job]:
        res = self._run("squeue", "-h", "-o", SQUEUE_LIST_FORMAT)
        if res.rc != 0:
            raise SchedulerError(f"squeue failed: {slurm.clean_error(res.err)}")
        return parse_squeue_list(res.out)

    def status(self, job_id: str) -> JobStatus:
        res = self._run("squeue", "-h", "-j", job_id, "-o", slurm.SQUEUE_JOB_FORMAT)
        return slurm.interpret_squeue(job_id, res.rc, res.out, res.err, res.timed_out)

    def ended(self, job_id: str) -> str:
        res = self._run("sacct", "-n", "-P", "-X", "-j", job_id, "-o", slurm.SACCT_FORMAT)
        return slurm.describe_sacct(job_id, res.rc, res.out)

    def cancel(self, job: Job) -> tuple[bool, str]:
        res = self._run("scancel", job.job_id)
        if res.rc == 0 or "Invalid job id" in res.err:
            return True, f"scancel {job.job_id}"
        return False, f"scancel {job.job_id} failed: {slurm.clean_error(res.err)}"


class CondorTools:
    """The HTCondor commands the reconciler runs (argv and readers from sitehub.htcondor)."""

    label = "HTCondor"

    def __init__(self, settings: dict, runner: Runner):
        self.bin_dir = settings.get("condor_bin_dir", "")
        self.schedd = settings.get("condor_schedd_name", "")
        self.tool_env = dict(settings.get("condor_tool_env") or {})
        self.runner = runner

    def _run(self, argv: list[str], user: str | None = None) -> Result:
        tool = str(Path(self.bin_dir) / argv[0]) if self.bin_dir else argv[0]
        return self.runner([tool, *argv[1:]], env=_env(self.tool_env), user=user)

    def list_jobs(self, prefix: str) -> list[Job]:
        res = self._run(condor.jobs_argv(prefix, self.schedd, extra=("QDate",)))
        if res.rc != 0 or condor.complains(res.err):
            raise SchedulerError(f"condor_q failed: {last_line(res.err or res.out)}")
        try:
            return parse_condor_list(res.out)
        except ValueError as exc:
            raise SchedulerError(f"condor_q's answer unreadable: {exc}") from None

    def status(self, job_id: str) -> JobStatus:
        res = self._run(condor.condor_q_argv(job_id, self.schedd))
        return condor.interpret_condor_q(job_id, res.rc, res.out, res.err, res.timed_out)

    def ended(self, job_id: str) -> str:
        res = self._run(condor.history_argv(job_id, self.schedd))
        return condor.describe_history(job_id, res.rc, res.out)

    def cancel(self, job: Job) -> tuple[bool, str]:
        # as the owner, like every condor_rm of the hub
        res = self._run(condor.condor_rm_argv(job.job_id, self.schedd), user=job.user)
        text = (res.err + res.out).lower()
        denied = "denied" in text or "permission" in text
        if res.rc == 0 or (not denied and ("not found" in text or "couldn't find" in text)):
            return True, f"condor_rm {job.job_id} (as {job.user})"
        return False, f"condor_rm {job.job_id} failed: {last_line(res.err or res.out)}"


TOOLS = {"slurm": SlurmTools, "htcondor": CondorTools}


# ---------------------------------------------------------------------------------------
# the comparison


@dataclass
class Report:
    orphans: list[dict] = field(default_factory=list)
    dead: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    young: list[dict] = field(default_factory=list)  # unclaimed, within the grace
    unchecked: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)

    def findings(self) -> int:
        return len(self.orphans) + len(self.dead) + len(self.duplicates)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Group:
    """The instances of one scheduler (and settings) sharing one marker."""

    tools: object
    instances: list[Instance]
    jobs: list[Job] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


def reconcile(
    instances: Iterable[Instance],
    *,
    runner: Runner | None = None,
    records_of: Callable[[Instance], list[Record]] = read_records,
    clear: Callable[[Instance, Record], bool] = clear_record,
    cancel_orphans: bool = False,
    clear_dead: bool = False,
    grace: float = DEFAULT_GRACE,
    now: float | None = None,
) -> Report:
    runner = runner or run_command  # looked up here, so tests can replace it
    report = Report()
    groups: dict[tuple, _Group] = {}
    for inst in instances:
        if inst.scheduler not in SCHEDULERS:
            why = (
                "servers run on the hub host (local): not checked"
                if inst.scheduler == "local"
                else "not one of sitehub's spawners: its jobs carry no marker"
            )
            report.unchecked.append({"instance": inst.name, "what": "instance", "why": why})
            continue
        key = (inst.scheduler, inst.prefix, json.dumps(_tool_settings(inst), sort_keys=True))
        group = groups.setdefault(key, _Group(TOOLS[inst.scheduler](inst.spawner, runner), []))
        group.instances.append(inst)

    checked: list[_Group] = []
    for (_, prefix, _), group in groups.items():
        names = ", ".join(i.name for i in group.instances)
        # jobs first, then the databases: a job whose id was saved meanwhile counts as claimed
        try:
            group.jobs = group.tools.list_jobs(prefix)
        except SchedulerError as exc:
            report.unchecked.append({"instance": names, "what": "jobs", "why": str(exc)})
            continue
        try:
            for inst in group.instances:
                group.records += records_of(inst)
        except Exception as exc:  # a database we cannot read: nothing to compare with
            report.unchecked.append({"instance": names, "what": "hub database", "why": str(exc)})
            continue
        checked.append(group)

    now = time.time() if now is None else now
    for group in checked:
        _compare(group, report, grace, now)

    if cancel_orphans:
        by_group = {id(g): g for g in checked}
        for orphan in report.orphans:
            tools = by_group[orphan.pop("_group")].tools
            job = orphan["_job"]
            ok, msg = tools.cancel(job)
            report.actions.append(_action("cancel-orphan", orphan, job.job_id, ok, msg))
    if clear_dead:
        by_name = {i.name: i for g in checked for i in g.instances}
        stopped: dict[str, bool] = {}
        for dead in report.dead:
            inst = by_name[dead["instance"]]
            rec = dead["_record"]
            if rec.running:
                if inst.name not in stopped:
                    stopped[inst.name] = not hub_running(inst, runner)
                if not stopped[inst.name]:
                    msg = "left to the hub: it is running and clears it at its next poll"
                    report.actions.append(_action("clear-dead", dead, rec.job_id, False, msg))
                    continue
            ok = clear(inst, rec)
            msg = "record cleared" if ok else "record changed since it was read: left alone"
            report.actions.append(_action("clear-dead", dead, rec.job_id, ok, msg))
    for item in [*report.orphans, *report.dead]:
        item.pop("_group", None)
        item.pop("_job", None)
        item.pop("_record", None)
    return report


def _tool_settings(inst: Instance) -> dict:
    keys = ("slurm_bin_dir", "condor_bin_dir", "condor_schedd_name", "condor_tool_env")
    return {k: inst.spawner.get(k) for k in keys}


def _action(kind: str, item: dict, target: str, ok: bool, message: str) -> dict:
    return {"action": kind, "instance": item["instance"], "job_id": target, "done": ok,
            "message": message}  # fmt: skip


def _compare(group: _Group, report: Report, grace: float, now: float) -> None:
    prefix = group.instances[0].prefix
    names = ", ".join(i.name for i in group.instances)
    scheduler = group.instances[0].scheduler
    claimed = {r.job_id for r in group.records}
    # the marker: our name layout and the owner the name encodes (never anyone else's job)
    ours = [j for j in group.jobs if j.live and job_owner(j.name, prefix) == j.user]

    by_name: dict[str, list[Job]] = defaultdict(list)
    for job in ours:
        by_name[job.name].append(job)
    duplicated = set()
    for name, jobs in sorted(by_name.items()):
        if len(jobs) > 1:
            ids = [j.job_id for j in jobs]
            duplicated.update(ids)
            report.duplicates.append({
                "instance": names, "scheduler": scheduler, "name": name, "user": jobs[0].user,
                "jobs": ids, "claimed": [i for i in ids if i in claimed],
            })  # fmt: skip

    for job in ours:
        if job.job_id in claimed:
            continue
        item = {
            "instance": names, "scheduler": scheduler, "job_id": job.job_id, "name": job.name,
            "user": job.user, "state": job.state,
            "age_seconds": None if job.submitted is None else round(now - job.submitted),
            "duplicate": job.job_id in duplicated,
        }  # fmt: skip
        if job.submitted is None or now - job.submitted < grace:
            report.young.append(item)  # a spawn may not have saved this id yet
            continue
        report.orphans.append({**item, "_group": id(group), "_job": job})

    listed = {j.job_id for j in group.jobs}
    for rec in group.records:
        base = {"instance": rec.instance, "user": rec.user, "server": rec.server,
                "job_id": rec.job_id, "backend": rec.backend}  # fmt: skip
        if rec.backend != scheduler:
            why = "not this command's (runs on the hub host)"
            report.unchecked.append({**base, "what": f"{rec.backend} server", "why": why})
            continue
        if rec.job_id in listed:
            continue
        # absent from the listing: gone only if the per-job query says so, as in the spawner
        status = group.tools.status(rec.job_id)
        if status.phase is Phase.GONE:
            ended = group.tools.ended(rec.job_id) or status.state or status.detail
            report.dead.append({**base, "hub_running_it": rec.running, "ended": ended,
                                "_record": rec})  # fmt: skip
        elif status.phase is Phase.UNKNOWN:
            report.unchecked.append({**base, "what": "record", "why": status.detail})


# ---------------------------------------------------------------------------------------
# the command


def render_text(report: Report) -> str:
    lines = []

    def server(item: dict) -> str:
        return f"{item['user']}" + (f"/{item['server']}" if item.get("server") else "")

    for o in report.orphans:
        dup = " (duplicate)" if o["duplicate"] else ""
        lines.append(
            f"orphan: {o['scheduler']} job {o['job_id']} {o['name']} of {o['user']}, "
            f"{o['state']}, {o['age_seconds']}s old: no server of {o['instance']} claims it{dup}"
        )
    for d in report.dead:
        how = "the hub counts it as running" if d["hub_running_it"] else "no server row"
        lines.append(
            f"dead: {d['instance']} server {server(d)} names {d['backend']} job {d['job_id']}, "
            f"which is gone ({d['ended']}); {how}"
        )
    for d in report.duplicates:
        claimed = ", ".join(d["claimed"]) or "none"
        lines.append(
            f"duplicate: {d['scheduler']} jobs {', '.join(d['jobs'])} are all {d['name']} "
            f"({d['instance']}); claimed by the hub: {claimed}"
        )
    for y in report.young:
        why = "no submit time" if y["age_seconds"] is None else "younger than the grace"
        lines.append(f"not yet judged: job {y['job_id']} {y['name']} is unclaimed ({why})")
    for u in report.unchecked:
        what = f" {u['job_id']}" if "job_id" in u else ""
        lines.append(f"unchecked: {u['instance']} {u['what']}{what}: {u['why']}")
    for a in report.actions:
        mark = "done" if a["done"] else "NOT done"
        lines.append(f"{a['action']} {a['job_id']} ({a['instance']}): {mark}: {a['message']}")
    if not report.findings():
        lines.append("no orphans, dead records or duplicates")
    return "\n".join(lines) + "\n"


def exit_code(report: Report) -> int:
    fixed = {(a["action"], a["job_id"]) for a in report.actions if a["done"]}
    left = [o for o in report.orphans if ("cancel-orphan", o["job_id"]) not in fixed]
    left += [d for d in report.dead if ("clear-dead", d["job_id"]) not in fixed]
    # a duplicate is fixed when all but its claimed job were cancelled
    for d in report.duplicates:
        extra = [j for j in d["jobs"] if j not in d["claimed"]]
        if len(d["claimed"]) > 1 or any(("cancel-orphan", j) not in fixed for j in extra):
            left.append(d)
    # local servers and non-sitehub instances are out of scope, not failures
    if any(u["what"] not in {"instance", "local server"} for u in report.unchecked):
        return EXIT_UNCHECKED
    return EXIT_FINDINGS if left else EXIT_CLEAN


def add_subparsers(sub) -> None:
    parser = sub.add_parser(
        "reconcile",
        help="on a hub host: the hubs' servers against the schedulers' jobs",
        description="Compare every hub instance of this host (its database) with its "
        "scheduler: orphan jobs, dead records, duplicates. Reports only, unless told to act.",
    )
    parser.add_argument("--config-dir", default=CONFIG_DIR, help="the hubs' settings.json dirs")
    parser.add_argument("--instance", action="append", default=[], help="only this instance")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--cancel-orphans", action="store_true", help="cancel orphan jobs")
    parser.add_argument("--clear-dead", action="store_true", help="clear dead hub records")
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        help="seconds an unclaimed job may be old before it counts as an orphan",
    )
    parser.set_defaults(func=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    instances = load_instances(args.config_dir)
    if args.instance:
        unknown = set(args.instance) - {i.name for i in instances}
        if unknown:
            print(f"error: no instance {', '.join(sorted(unknown))} in {args.config_dir}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_UNCHECKED
        instances = [i for i in instances if i.name in args.instance]
    if not instances:
        print(f"error: no hub instance in {args.config_dir}", file=sys.stderr)
        return EXIT_UNCHECKED
    report = reconcile(
        instances, cancel_orphans=args.cancel_orphans, clear_dead=args.clear_dead, grace=args.grace
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        sys.stdout.write(render_text(report))
    return exit_code(report)


def main(argv: list[str] | None = None) -> int:
    """`python -m sitehub.hub.reconcile`: the hub venv has sitehub without the controller's
    dependencies (pydantic, ansible), which `sitehub`'s other commands import."""
    parser = argparse.ArgumentParser(prog="python -m sitehub.hub.reconcile")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subparsers(sub)
    args = parser.parse_args(["reconcile", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
