"""`sitehub reconcile`: orphans, dead records and duplicates, found and (only when told) fixed.

Scheduler answers are in the formats the wrappers parse: squeue/sacct rows from fixtures,
condor_q/condor_history JSON made with classad2's own printJson (as tests/unit/htcondor
does). The fake runner answers only the commands listed, so any other command (a cancel
nobody asked for, a job without the marker touched) fails the test.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime

import classad2
import pytest
from jupyterhub import orm

from sitehub import cli
from sitehub.hub import reconcile, slurm
from sitehub.hub.reconcile import Instance, Record, Result

NOW = datetime.fromisoformat("2025-03-01T10:20:00").timestamp()
SQ = ("squeue", "-h", "-o", reconcile.SQUEUE_LIST_FORMAT)
INVALID = "slurm_load_jobs error: Invalid job id specified\n"
DOWN = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"


class FakeRunner:
    def __init__(self, answers: dict[tuple, Result]):
        self.answers = answers
        self.calls: list[tuple[tuple, str | None]] = []

    def __call__(self, argv, *, env, user=None):
        key = tuple(argv)
        self.calls.append((key, user))
        if key not in self.answers:
            raise AssertionError(f"unexpected command {argv}")
        return self.answers[key]

    def ran(self, tool: str) -> list[tuple]:
        return [c for c, _ in self.calls if c[0] == tool]


def sq_job(job: str) -> tuple:
    return ("squeue", "-h", "-j", job, "-o", slurm.SQUEUE_JOB_FORMAT)


def sacct(job: str) -> tuple:
    return ("sacct", "-n", "-P", "-X", "-j", job, "-o", slurm.SACCT_FORMAT)


ALPHA = Instance("alpha", "slurm", "jupyter-alpha", "sqlite://", {"scheduler": "slurm"})
ALPHA_RECORDS = [
    Record("alpha", "alice", "", "101", "slurm", True),
    Record("alpha", "carol", "", "103", "slurm", True),
    Record("alpha", "hana", "gpu", "110", "slurm", True),
    Record("alpha", "henry", "", "90", "slurm", True),  # job gone, hub counts it running
    Record("alpha", "ivan", "", "91", "slurm", True),  # Slurm does not answer for it
    Record("alpha", "jack", "", "jupyter-alpha.jack.service", "local", True),
    Record("alpha", "kate", "", "92", "slurm", False),  # job gone, no server row
]


@pytest.fixture
def slurm_runner(fixture_text):
    return FakeRunner(
        {
            SQ: Result(0, fixture_text("squeue_jobs_reconcile.txt"), ""),
            sq_job("90"): Result(1, "", INVALID),
            sacct("90"): Result(0, fixture_text("sacct_job_90.txt"), ""),
            sq_job("91"): Result(1, "", DOWN),
            sq_job("92"): Result(0, "", ""),
            sacct("92"): Result(0, "", ""),
            ("scancel", "102"): Result(0, "", ""),
            ("scancel", "104"): Result(0, "", ""),
            ("systemctl", "is-active", "--quiet", "jupyterhub@alpha.service"): Result(0, "", ""),
        }
    )


def run_alpha(runner, **kw):
    cleared = []

    def clear(inst, rec):
        cleared.append(rec.job_id)
        return True

    report = reconcile.reconcile(
        [ALPHA], runner=runner, records_of=lambda i: ALPHA_RECORDS, clear=clear, now=NOW, **kw
    )
    return report, cleared


def test_slurm_findings_are_reported_and_nothing_is_touched(slurm_runner):
    report, cleared = run_alpha(slurm_runner)
    assert [(o["job_id"], o["user"], o["duplicate"]) for o in report.orphans] == [
        ("102", "bob", False),
        ("104", "carol", True),
    ]
    assert report.duplicates == [
        {"instance": "alpha", "scheduler": "slurm", "name": "jupyter-alpha.carol",
         "user": "carol", "jobs": ["103", "104"], "claimed": ["103"]}
    ]  # fmt: skip
    assert [(d["user"], d["job_id"], d["hub_running_it"], d["ended"]) for d in report.dead] == [
        ("henry", "90", True, "CANCELLED by 0, exit 0:15 at 2025-03-01T09:40:12"),
        ("kate", "92", False, "job not in queue"),
    ]
    # unreachable for one job: unchecked, not dead; a local server: not this command's
    assert [(u.get("job_id"), u["what"]) for u in report.unchecked] == [
        ("91", "record"),
        ("jupyter-alpha.jack.service", "local server"),
    ]
    assert [y["job_id"] for y in report.young] == ["108"]  # 30 s old: a spawn in progress
    assert report.actions == [] and cleared == []
    assert slurm_runner.ran("scancel") == [] and slurm_runner.ran("systemctl") == []
    assert reconcile.exit_code(report) == reconcile.EXIT_UNCHECKED  # ivan's job, not jack's
    assert "not yet judged: job 108 jupyter-alpha.frank is unclaimed" in reconcile.render_text(
        report
    )


def test_jobs_without_the_marker_are_never_orphans(slurm_runner):
    report, _ = run_alpha(slurm_runner, cancel_orphans=True)
    touched = {o["job_id"] for o in report.orphans} | {a["job_id"] for a in report.actions}
    # 105: name of dave, owned by eve; 106: not our layout; 107: instance alpha-b's;
    # 109: completing (no longer live)
    assert touched.isdisjoint({"101", "103", "105", "106", "107", "108", "109", "110"})
    assert slurm_runner.ran("scancel") == [("scancel", "102"), ("scancel", "104")]


def test_cancel_orphans_cancels_them_and_says_so(slurm_runner):
    report, cleared = run_alpha(slurm_runner, cancel_orphans=True)
    assert [(a["action"], a["job_id"], a["done"]) for a in report.actions] == [
        ("cancel-orphan", "102", True),
        ("cancel-orphan", "104", True),
    ]
    assert cleared == []  # --cancel-orphans alone clears no record
    text = reconcile.render_text(report)
    assert "cancel-orphan 104 (alpha): done: scancel 104" in text


def test_clear_dead_clears_only_what_no_running_hub_holds(slurm_runner):
    report, cleared = run_alpha(slurm_runner, clear_dead=True)
    assert cleared == ["92"]  # kate's record: no server row, the hub never polls it
    henry = next(a for a in report.actions if a["job_id"] == "90")
    assert not henry["done"] and "left to the hub" in henry["message"]
    assert slurm_runner.ran("scancel") == []


def test_clear_dead_clears_a_stopped_hubs_running_record(slurm_runner):
    stopped = Result(3, "", "")
    slurm_runner.answers[("systemctl", "is-active", "--quiet", "jupyterhub@alpha.service")] = (
        stopped
    )
    _, cleared = run_alpha(slurm_runner, clear_dead=True)
    assert cleared == ["90", "92"]


def test_a_failed_listing_judges_nothing():
    runner = FakeRunner({SQ: Result(1, "", DOWN)})
    report = reconcile.reconcile(
        [ALPHA], runner=runner, records_of=lambda i: ALPHA_RECORDS, cancel_orphans=True,
        clear_dead=True, now=NOW,
    )  # fmt: skip
    assert report.findings() == 0 and report.actions == []
    assert report.unchecked[0]["what"] == "jobs"
    assert reconcile.exit_code(report) == reconcile.EXIT_UNCHECKED


def test_clean_site_exits_zero(fixture_text):
    rows = fixture_text("squeue_jobs_reconcile.txt").splitlines()[:1]
    runner = FakeRunner({SQ: Result(0, "\n".join(rows) + "\n", "")})
    records = [
        Record("alpha", "alice", "", "101", "slurm", True),
        Record("alpha", "jack", "", "jupyter-alpha.jack.service", "local", True),  # not a failure
    ]
    report = reconcile.reconcile([ALPHA], runner=runner, records_of=lambda i: records, now=NOW)
    assert report.findings() == 0 and reconcile.exit_code(report) == reconcile.EXIT_CLEAN
    assert "no orphans, dead records or duplicates" in reconcile.render_text(report)


def test_sacct_description():
    assert slurm.describe_sacct("90", 0, "90|TIMEOUT|0:0|2025-03-01T09:00:00\n") == (
        "TIMEOUT, exit 0:0 at 2025-03-01T09:00:00"
    )
    assert slurm.describe_sacct("90", 1, "") == ""
    assert slurm.describe_sacct("90", 0, "89|FAILED|1:0|Unknown\n") == ""


# ---------------------------------------------------------------------------------------
# HTCondor


def condor_q_json(*ads: str) -> str:
    return "[\n" + ",\n".join(classad2.ClassAd(a).printJson() for a in ads) + "\n]\n"


OLD = int(NOW) - 3600
HTC = Instance(
    "htc", "htcondor", "jupyter-htc", "sqlite://",
    {"scheduler": "htcondor", "condor_schedd_name": "schedd.example.org"},
)  # fmt: skip


def htc_ad(cluster: int, name: str, owner: str, status: int) -> str:
    return (
        f'[ClusterId = {cluster}; JobBatchName = "{name}"; Owner = "{owner}"; '
        f"JobStatus = {status}; QDate = {OLD}]"
    )


HTC_ADS = [
    htc_ad(42, "jupyter-htc.alice", "alice", 2),
    htc_ad(43, "jupyter-htc.bob.gpu", "bob", 5),  # held, unclaimed: an orphan
    htc_ad(44, "jupyter-htc-b.alice", "alice", 1),  # instance htc-b's
    htc_ad(47, "jupyter-htc.mallory", "eve", 1),  # the name encodes another owner
    htc_ad(48, "jupyter-htc.carl", "carl", 4),  # completed
]
HTC_RECORDS = [
    Record("htc", "alice", "", "42", "htcondor", True),
    Record("htc", "zed", "", "50", "htcondor", False),
]


@pytest.fixture
def condor_runner():
    from sitehub.htcondor import status

    schedd = "schedd.example.org"
    history = condor_q_json(
        '[ClusterId = 50; JobStatus = 3; RemoveReason = "via condor_rm (by user zed)"]'
    )
    return FakeRunner(
        {
            tuple(status.jobs_argv("jupyter-htc", schedd, extra=("QDate",))): Result(
                0, condor_q_json(*HTC_ADS), ""
            ),
            tuple(status.condor_q_argv("50", schedd)): Result(0, "", ""),
            tuple(status.history_argv("50", schedd)): Result(0, history, ""),
            tuple(status.condor_rm_argv("43", schedd)): Result(0, "Job 43 marked for removal", ""),
        }
    )


def test_condor_findings_and_removal_as_the_owner(condor_runner):
    kw = {"runner": condor_runner, "records_of": lambda i: HTC_RECORDS, "now": NOW}
    report = reconcile.reconcile([HTC], **kw)
    assert [(o["job_id"], o["state"]) for o in report.orphans] == [("43", "HELD")]
    assert [(d["job_id"], d["ended"]) for d in report.dead] == [
        ("50", "REMOVED: via condor_rm (by user zed)")
    ]
    assert report.duplicates == [] and condor_runner.ran("condor_rm") == []

    cleared = []
    report = reconcile.reconcile(
        [HTC], cancel_orphans=True, clear_dead=True,
        clear=lambda i, r: cleared.append(r.job_id) or True, **kw,
    )  # fmt: skip
    rm = [(c, u) for c, u in condor_runner.calls if c[0] == "condor_rm"]
    assert rm == [(("condor_rm", "-name", "schedd.example.org", "43"), "bob")]
    assert cleared == ["50"]
    assert reconcile.exit_code(report) == reconcile.EXIT_CLEAN


def test_the_condor_listing_asks_for_the_submit_time():
    from sitehub.htcondor import status

    argv = status.jobs_argv("jupyter-htc", extra=("QDate",))
    assert argv[-1] == "ClusterId,JobBatchName,Owner,JobStatus,QDate"
    assert status.jobs_argv("jupyter-htc")[-1] == "ClusterId,JobBatchName,Owner,JobStatus"
    with pytest.raises(ValueError):
        status.jobs_argv("jupyter-htc", extra=("QDate,Env",))


# ---------------------------------------------------------------------------------------
# the hub database and the command


def hub_session(url):
    """A session on a hub database; JupyterHub's alembic stamp reconfigures logging (a root
    handler on this test's stderr, other loggers disabled), which later tests would inherit."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    disabled = {
        name: lg.disabled
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    try:
        return orm.new_session_factory(url)()
    finally:
        root.handlers[:], root.level = handlers, level
        for name, lg in logging.root.manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.disabled = disabled.get(name, False)


def make_hub_db(path, spawners):
    """A hub database made by JupyterHub's own ORM: [(user, server, state, running)]."""
    url = f"sqlite:///{path}"
    db = hub_session(url)
    users = {}
    for user, server, state, running in spawners:
        if user not in users:
            users[user] = orm.User(name=user)
            db.add(users[user])
        sp = orm.Spawner(user=users[user], name=server, state=state)
        if running:
            sp.server = orm.Server(ip="10.0.0.5", port=40001)
        db.add(sp)
    db.commit()
    db.close()
    return url


def test_records_are_read_from_the_hub_database(tmp_path):
    url = make_hub_db(
        tmp_path / "jupyterhub.sqlite",
        [
            ("alice", "", {"job_id": "101", "backend": "slurm", "exec_host": "c1"}, True),
            ("alice", "gpu", {}, False),
            ("kate", "", {"job_id": "92"}, False),  # stock batchspawner state: no backend
        ],
    )
    inst = Instance("alpha", "slurm", "jupyter-alpha", url)
    assert sorted(reconcile.read_records(inst), key=lambda r: r.user) == [
        Record("alpha", "alice", "", "101", "slurm", True),
        Record("alpha", "kate", "", "92", "slurm", False),
    ]


def test_clearing_a_record_leaves_what_the_hubs_stop_leaves(tmp_path):
    url = make_hub_db(
        tmp_path / "jupyterhub.sqlite",
        [("henry", "", {"job_id": "90", "backend": "slurm"}, True)],
    )
    inst = Instance("alpha", "slurm", "jupyter-alpha", url)
    stale = Record("alpha", "henry", "", "89", "slurm", True)
    assert not reconcile.clear_record(inst, stale)  # job id changed since: left alone
    assert reconcile.read_records(inst) == [Record("alpha", "henry", "", "90", "slurm", True)]
    assert reconcile.clear_record(inst, reconcile.read_records(inst)[0])
    db = hub_session(url)
    sp = db.query(orm.Spawner).one()
    assert sp.state == {} and sp.server is None and db.query(orm.Server).count() == 0
    db.close()


def write_settings(config_dir, name, db_url, scheduler="slurm", spawner_class=None):
    d = config_dir / name
    d.mkdir(parents=True)
    cls = (
        spawner_class
        or {
            "slurm": "sitehub.hub.slurm_spawner.SlurmSpawner",
            "htcondor": "sitehub.hub.condor.CondorSpawner",
            "local": "sitehub.hub.spawner.SitehubSpawner",
        }[scheduler]
    )
    settings = {"name": name, "db_url": db_url, "spawner_class": cls,
                "spawner": {"scheduler": scheduler, "instance": name}}  # fmt: skip
    (d / "settings.json").write_text(json.dumps(settings))


def test_instances_from_the_roles_settings(tmp_path):
    write_settings(tmp_path, "alpha", "sqlite:///a")
    write_settings(tmp_path, "bench", "sqlite:///b", spawner_class="batchspawner.SlurmSpawner")
    write_settings(tmp_path, "loc", "sqlite:///c", scheduler="local")
    got = [(i.name, i.scheduler, i.prefix) for i in reconcile.load_instances(tmp_path)]
    assert got == [("alpha", "slurm", "jupyter-alpha"), ("bench", "", "jupyter-bench"),
                   ("loc", "local", "jupyter-loc")]  # fmt: skip


def test_the_command_end_to_end(tmp_path, monkeypatch, capsys, slurm_runner):
    url = make_hub_db(
        tmp_path / "alpha.sqlite",
        [
            ("alice", "", {"job_id": "101", "backend": "slurm"}, True),
            ("carol", "", {"job_id": "103", "backend": "slurm"}, True),
            ("hana", "gpu", {"job_id": "110", "backend": "slurm"}, True),
            ("kate", "", {"job_id": "92", "backend": "slurm"}, False),
        ],
    )
    write_settings(tmp_path / "etc", "alpha", url)
    monkeypatch.setattr(reconcile, "run_command", slurm_runner)
    monkeypatch.setattr(reconcile.time, "time", lambda: NOW)
    base = ["reconcile", "--config-dir", str(tmp_path / "etc")]

    assert cli.main([*base, "--json"]) == reconcile.EXIT_FINDINGS
    report = json.loads(capsys.readouterr().out)
    assert [o["job_id"] for o in report["orphans"]] == ["102", "104"]
    assert [d["job_id"] for d in report["dead"]] == ["92"]
    assert [d["name"] for d in report["duplicates"]] == ["jupyter-alpha.carol"]
    assert slurm_runner.ran("scancel") == []

    assert cli.main([*base, "--cancel-orphans", "--clear-dead"]) == reconcile.EXIT_CLEAN
    out = capsys.readouterr().out
    assert "clear-dead 92 (alpha): done: record cleared" in out
    assert slurm_runner.ran("scancel") == [("scancel", "102"), ("scancel", "104")]
    inst = reconcile.load_instances(tmp_path / "etc")[0]
    assert [r.user for r in reconcile.read_records(inst)] == ["alice", "carol", "hana"]


def test_an_unknown_instance_is_refused(tmp_path, capsys):
    write_settings(tmp_path, "alpha", "sqlite:///a")
    rc = cli.main(["reconcile", "--config-dir", str(tmp_path), "--instance", "beta"])
    assert rc == reconcile.EXIT_UNCHECKED
    assert "no instance beta" in capsys.readouterr().err


def test_the_hub_venvs_entry_point_needs_no_controller_package(tmp_path, capsys):
    # the hub venv lacks pydantic and ansible: the module's own main takes the same options

    write_settings(tmp_path, "alpha", "sqlite:///a")
    assert reconcile.main(["--config-dir", str(tmp_path), "--instance", "x"]) == 2
    assert "no instance x" in capsys.readouterr().err
    probe = (
        "import sys, sitehub.hub.reconcile; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'ansible', 'yaml'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
