"""CondorSpawner driven end to end against fake HTCondor tools.

HTCondor's daemons cannot run on this machine (Debian 12 does not package them, PyPI's
`htcondor` holds only the bindings), so condor_submit, condor_q, condor_rm and
condor_history are a small fake (written below into a temporary directory the spawner's
`condor_bin_dir` points at) that answers from a script and records every call: argv, uid,
environment, stdin, and the environment file as it was when condor_submit ran. The fake
condor_submit reads the description with HTCondor's own parser (htcondor2.Submit) and
refuses what it cannot parse. What the real tools print is modelled on their documented
output (e.g. "1 job(s) submitted to cluster 42."), not captured from a pool.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import stat
import sys
import textwrap
import time
import types
from pathlib import Path
from unittest import mock

import pytest

pytest.importorskip("jupyterhub")
pytest.importorskip("batchspawner")

import classad2
import htcondor2
import yaml
from jupyterhub.objects import Hub, Server
from tornado import web

from sitehub.htcondor.deploy import spawner_settings
from sitehub.hub.condor import CondorSpawner
from sitehub.hub.spawner import SpawnError
from sitehub.inventory.model import Cluster

ROOT = Path(__file__).resolve().parents[3]
ME = pwd.getpwuid(os.getuid())
TOKEN = "tok3n-'quoted'-$(not run)"
SCHEDD = "jupyter-schedd.example.org"

FAKE = textwrap.dedent(
    """\
    #!{python}
    import fcntl, json, os, pathlib, sys, time

    state = pathlib.Path(os.environ["FAKE_CONDOR_STATE"])
    tool = os.path.basename(sys.argv[0])
    record = {{"tool": tool, "argv": sys.argv[1:], "uid": os.getuid(), "env": dict(os.environ)}}
    if tool == "condor_submit":
        import htcondor2

        text = sys.stdin.read()
        record["stdin"] = text
        try:
            sub = htcondor2.Submit(text)
        except Exception as exc:
            record["parsed"] = str(exc)
        else:
            record["parsed"] = True
            env_file = pathlib.Path(sub["initialdir"]) / sub["transfer_input_files"]
            if env_file.exists():
                st = env_file.stat()
                record["env_file"] = {{
                    "path": str(env_file),
                    "mode": st.st_mode & 0o777,
                    "uid": st.st_uid,
                    "text": env_file.read_text(),
                }}
    with open(state / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(state / "calls.jsonl", "a") as log:
            log.write(json.dumps(record) + "\\n")
        script = json.loads((state / "script.json").read_text())
        answers = script.get(tool) or [{{"rc": 0}}]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        (state / "script.json").write_text(json.dumps(script))
    if record.get("parsed", True) is not True:
        sys.stderr.write("ERROR: fake condor_submit could not parse: " + record["parsed"])
        sys.exit(1)
    time.sleep(answer.get("sleep", 0))
    sys.stdout.write(answer.get("out", ""))
    sys.stderr.write(answer.get("err", ""))
    sys.exit(answer.get("rc", 0))
    """
)
TOOLS = ("condor_submit", "condor_q", "condor_rm", "condor_history")


def q(*ads: str) -> dict:
    """A condor_q -json answer, printed by classad2 as HTCondor prints ads."""
    text = "[\n" + ",\n".join(classad2.ClassAd(a).printJson() for a in ads) + "\n]\n"
    return {"out": text}


IDLE = q('[ClusterId = 42; JobStatus = 1; LastRejMatchReason = "no match found"]')
RUNNING = q('[ClusterId = 42; JobStatus = 2; RemoteHost = "slot1_3@gpu07.example.org"]')
HELD = q('[ClusterId = 42; JobStatus = 5; HoldReason = "Failed to pull container image"]')
GONE = {"out": ""}
SUBMITTED = {"out": "Submitting job(s).\n1 job(s) submitted to cluster 42.\n"}


class Fake:
    def __init__(self, base: Path):
        self.bin = base / "bin"
        self.state = base / "state"
        self.bin.mkdir()
        self.state.mkdir()
        text = FAKE.format(python=sys.executable)
        for tool in TOOLS:
            path = self.bin / tool
            path.write_text(text)
            path.chmod(0o755)
        self.script()

    def script(self, **answers: list[dict]) -> None:
        (self.state / "script.json").write_text(json.dumps(answers))

    def calls(self, tool: str | None = None) -> list[dict]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        calls = [json.loads(line) for line in path.read_text().splitlines()]
        return [c for c in calls if tool is None or c["tool"] == tool]


def example_cluster() -> Cluster:
    data = yaml.safe_load(
        (ROOT / "inventories/example-site/group_vars/all/clusters.yml").read_text()
    )
    raw = next(c for c in data["sitehub_clusters"] if c["segment"] == "htc")
    return Cluster.model_validate(raw)


@pytest.fixture
def fake(tmp_path):
    return Fake(tmp_path)


@pytest.fixture
def make(tmp_path, fake):
    def build(**overrides) -> CondorSpawner:
        settings = spawner_settings(example_cluster())
        settings.update(
            condor_bin_dir=str(fake.bin),
            condor_tool_env={"FAKE_CONDOR_STATE": str(fake.state)},
            condor_job_dir=str(tmp_path / "jobs" / "{user}"),
            condor_read_pool_config=False,
            reaper_interval=0,
            startup_poll_interval=0.01,
            startup_poll_max=0.05,
            command_timeout=10,
            instance="htc",
        )
        settings.update(overrides)
        hub = Hub(ip="10.0.0.1", port=8081, base_url="/jupyterhub/htc/hub/")
        user = types.SimpleNamespace(
            name=ME.pw_name, url=f"/jupyterhub/htc/user/{ME.pw_name}/", spawners={}
        )
        s = CondorSpawner(user=user, hub=hub, api_token=TOKEN, **settings)
        s.orm_spawner = types.SimpleNamespace(name="", state=None, server=None, user_options=None)
        s.server = Server(base_url=f"/jupyterhub/htc/user/{ME.pw_name}/")
        s.db = types.SimpleNamespace(commit=lambda: None)
        s._pw = lambda: ME  # the test's own account stands in for the user
        return s

    return build


def run(coro):
    async def main():
        try:
            return await coro
        finally:
            # start() removes a stale job in a task of its own; when start() is refused it
            # is still running: let it end here, as it would in the hub's lasting loop
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=10)

    return asyncio.run(main())


async def start_and_report(s: CondorSpawner, port: int = 4242, after: float = 0.05):
    """start(), with the server's port report arriving like batchspawner-singleuser's."""

    async def report():
        while not s._awaiting_port:
            await asyncio.sleep(0.005)
        await asyncio.sleep(after)
        s.report_port(port)

    task = asyncio.create_task(report())
    try:
        return await s.start()
    finally:
        task.cancel()


OPTIONS = {
    "accounting_group": "group_belle2",
    "cpus": 4,
    "memory": 16,
    "gpu": "capability:8.0",
    "image": "sl7-atlas",
    "runtime": 120,
}


# --------------------------------------------------------------------------- start


def test_start_submits_as_the_user_and_returns_the_execute_node(make, fake):
    fake.script(condor_submit=[SUBMITTED], condor_q=[IDLE, IDLE, RUNNING], condor_rm=[{"rc": 0}])
    s = make()
    s.user_options = dict(OPTIONS)
    host, port = run(start_and_report(s))
    assert (host, port) == ("gpu07.example.org", 4242)
    assert (s.job_id, s.backend, s.exec_host) == ("42", "htcondor", "gpu07.example.org")

    (submit,) = fake.calls("condor_submit")
    # a remote schedd: -name and -spool, the description on stdin
    assert submit["argv"] == ["-name", SCHEDD, "-spool"]
    assert submit["uid"] == ME.pw_uid
    assert submit["parsed"] is True
    sub = htcondor2.Submit(submit["stdin"])
    assert sub["universe"] == "container"
    assert sub["accounting_group"] == "group_belle2"
    assert sub["accounting_group_user"] == ME.pw_name
    assert sub["request_cpus"] == "4" and sub["request_memory"] == str(16 * 1024)
    assert sub["require_gpus"] == "Capability >= 8.0"
    assert sub["allowed_execute_duration"] == "7200"
    assert sub["batch_name"] == f"jupyter-htc.{ME.pw_name}"

    # the token: in the user's 0600 file at submit time, nowhere else
    env_file = submit["env_file"]
    assert env_file["mode"] == 0o600 and env_file["uid"] == ME.pw_uid
    assert "JUPYTERHUB_API_TOKEN=" in env_file["text"]
    assert "SITEHUB_ACCOUNTING_GROUP=group_belle2" in env_file["text"]
    for call in fake.calls():
        assert TOKEN not in json.dumps(call["argv"]) + call.get("stdin", "")
        assert not any(TOKEN in v for v in call["env"].values())
    assert "getenv = true" not in submit["stdin"].lower()
    # spooled: the schedd has its copy, the hub host keeps none
    assert not Path(env_file["path"]).exists()

    messages = [e["message"] for e in s._events]
    assert messages[0] == (
        f"Submitted batch job 42 to accounting group group_belle2 on schedd {SCHEDD}."
    )
    assert any("IDLE (reason: no match found)" in m for m in messages)
    assert any("RUNNING on node gpu07.example.org" in m for m in messages)
    assert messages[-1] == "Notebook server started on gpu07.example.org:4242; connecting."
    # every query named the schedd and asked for all users' jobs
    assert all(
        c["argv"][:4] == ["42", "-name", SCHEDD, "-allusers"] for c in fake.calls("condor_q")
    )


def test_a_stale_job_of_the_same_server_is_removed_before_submitting(make, fake):
    fake.script(condor_submit=[SUBMITTED], condor_q=[RUNNING])
    s = make()
    run(start_and_report(s))
    tools = [c["tool"] for c in fake.calls()]
    assert tools.index("condor_rm") < tools.index("condor_submit")
    (rm,) = fake.calls("condor_rm")
    assert rm["argv"] == [
        "-name",
        SCHEDD,
        "-constraint",
        f'JobBatchName =?= "jupyter-htc.{ME.pw_name}" && Owner =?= "{ME.pw_name}"',
    ]


def test_local_schedd_without_spool_keeps_the_file_until_the_server_reported(make, fake):
    fake.script(condor_submit=[SUBMITTED], condor_q=[IDLE, RUNNING])
    s = make(condor_schedd_name="", condor_spool=False)
    path = Path(s._job_dir(ME)) / s._env_name()
    seen = []

    async def go():
        async def watch():
            while not s._reported_port:
                seen.append(path.exists())
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        result = await start_and_report(s, after=0.1)
        await watcher
        return result

    assert run(go()) == ("gpu07.example.org", 4242)
    assert fake.calls("condor_submit")[0]["argv"] == []
    assert seen and seen[-1]  # there while the job could still be starting
    assert not path.exists()  # and gone once the server runs


def test_job_that_leaves_the_queue_before_reporting_fails_the_spawn_at_once(make, fake):
    history = q("[ClusterId = 42; JobStatus = 4; ExitCode = 1; ExitBySignal = false]")
    fake.script(condor_submit=[SUBMITTED], condor_q=[IDLE, RUNNING, GONE], condor_history=[history])
    s = make()
    started = time.monotonic()
    with pytest.raises(SpawnError) as err:
        run(s.start())  # no port report ever comes
    elapsed = time.monotonic() - started
    assert "job 42 ended (COMPLETED, exit code 1) before the notebook server started" in str(
        err.value
    )
    assert f"jupyter-htc.{ME.pw_name}.42.err after `condor_transfer_data 42`" in str(err.value)
    assert elapsed < 10 < s.start_timeout  # seconds, not the start timeout
    assert s.job_id == ""
    assert fake.calls("condor_history")[0]["argv"][-1] == "42"


def test_a_job_held_while_starting_is_removed_and_says_why(make, fake):
    fake.script(condor_submit=[SUBMITTED], condor_q=[IDLE, HELD], condor_rm=[{"rc": 0}])
    s = make()
    with pytest.raises(SpawnError, match=r"ended \(HELD: Failed to pull container image\)"):
        run(s.start())
    removals = [c["argv"] for c in fake.calls("condor_rm")]
    assert ["-name", SCHEDD, "42"] in removals


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"rc": 1, "err": "ERROR: Failed to connect to queue manager jupyter-schedd\n"},
         "The HTCondor schedd is not reachable, so no job was submitted"),
        ({"rc": 1, "err": "ERROR: Submit requirement CheckGroup evaluated to false\n"},
         "HTCondor refused the job: ERROR: Submit requirement CheckGroup evaluated to false"),
        ({"rc": 0, "out": "Submitting job(s).\n"}, "HTCondor refused the job"),
        # HTCondor 23.9 given a `-` file argument: queued, but printed the ad, not the count
        ({"rc": 0, "out": "\n** Proc 7.0:\nClusterId = 7\n"}, "HTCondor refused the job"),
        ({"rc": 0, "sleep": 3}, "The HTCondor schedd is not reachable"),
    ],
)  # fmt: skip
def test_a_failed_submit_fails_the_spawn_and_removes_the_file(make, fake, answer, message):
    fake.script(condor_submit=[answer])
    s = make(command_timeout=1.5)
    with pytest.raises(SpawnError, match=message):
        run(s.start())
    assert not list(Path(s._job_dir(ME)).glob("*.env"))
    assert not fake.calls("condor_q")
    # whatever the answer, a job the submit may have queued is removed by its name
    tools = [c["tool"] for c in fake.calls()]
    after = tools[tools.index("condor_submit") + 1 :]
    assert after == ["condor_rm"], tools
    assert s._name() in " ".join(fake.calls("condor_rm")[-1]["argv"])


# --------------------------------------------------------------------------- forged values


FORGED = [
    {"accounting_group": ["group_cms"]},
    {"accounting_group": ["group_atlas\nqueue 100"]},
    {"gpu": ['device:A100" || true || "']},
    {"image": ["/etc/shadow"]},
    {"cpus": ["9"]},
    {"runtime": ["1441"]},
    {"request_cpus": ["1"]},
    {"partition": ["debug"]},
]


@pytest.mark.parametrize("form", FORGED)
def test_forged_form_values_are_refused_before_any_description(make, fake, form):
    s = make()
    with mock.patch("sitehub.hub.condor.build_submit") as build:
        with pytest.raises(web.HTTPError) as err:
            run(s.options_from_form(form))
        assert err.value.status_code == 400
        # the same values through the REST API (user_options), at start
        s.user_options = {k: v[0] for k, v in form.items()}
        with pytest.raises(web.HTTPError) as err:
            run(s.start())
        assert err.value.status_code == 400
        build.assert_not_called()
    assert not fake.calls("condor_submit")


def test_run_locally_is_refused_where_not_offered(make, fake):
    s = make(allow_local=False)
    s.user_options = {"run_local": True}
    with pytest.raises(web.HTTPError, match="not offered here"):
        run(s.start())
    assert not fake.calls("condor_submit")


def test_form_values_become_user_options(make):
    s = make()
    form = {k: [str(v)] for k, v in OPTIONS.items()}
    assert run(s.options_from_form(form)) == OPTIONS


def test_the_form_is_the_htcondor_one(make):
    s = make()
    html = run(s.render_options_form())
    assert 'name="accounting_group"' in html and 'name="partition"' not in html
    assert '<option value="group_sphenix">group_sphenix</option>' in html
    assert 'name="run_local"' in html


# --------------------------------------------------------------------------- the pool's narrowing


def test_the_pools_configuration_and_user_map_narrow_the_offer(make, tmp_path, monkeypatch):
    (tmp_path / "groups.map").write_text(f"* {ME.pw_name} group_atlas,group_belle2\n")
    (tmp_path / "condor_config").write_text(
        "GROUP_NAMES = group_atlas, group_belle2, group_sphenix\n"
        "GROUP_QUOTA_group_atlas = 4\n"
        f"CLASSAD_USER_MAPFILE_Groups = {tmp_path}/groups.map\n"
    )
    monkeypatch.setenv("CONDOR_CONFIG", str(tmp_path / "condor_config"))
    monkeypatch.setattr(CondorSpawner, "_pool_cache", None)
    try:
        s = make(condor_read_pool_config=True)
        model = run(s.form_model())
        assert [(g.name, g.max_cpus) for g in model.groups] == [
            ("group_atlas", 4),
            ("group_belle2", 8),
        ]
        with pytest.raises(web.HTTPError, match="'group_sphenix' is not open to you"):
            run(s.options_from_form({"accounting_group": ["group_sphenix"]}))
        with pytest.raises(web.HTTPError, match="CPUs must be from 1 to 4"):
            run(s.options_from_form({"accounting_group": ["group_atlas"], "cpus": ["5"]}))
    finally:
        monkeypatch.undo()
        htcondor2.reload_config()


def test_without_the_bindings_the_inventory_offer_stands(make, monkeypatch):
    monkeypatch.setitem(sys.modules, "htcondor2", None)  # import fails as in a bare hub venv
    monkeypatch.setattr(CondorSpawner, "_pool_cache", None)
    s = make(condor_read_pool_config=True)
    model = run(s.form_model())
    assert [g.name for g in model.groups] == ["group_atlas", "group_belle2", "group_sphenix"]


# --------------------------------------------------------------------------- poll and stop


def polled(make, fake, *answers, **kw):
    fake.script(condor_q=list(answers))
    s = make(**kw)
    s.job_id, s.backend, s.exec_host = "42", "htcondor", "gpu07.example.org"
    return s, run(s.poll())


@pytest.mark.parametrize(
    "answer",
    [
        {"rc": 1, "err": "-- Failed to fetch ads from: <10.0.0.5:9618> : jupyter-schedd\n"},
        {"rc": 1, "err": "Error: Can't find address for schedd jupyter-schedd\n"},
        {"rc": 1, "err": "ERROR: something unexpected\n"},
        {"rc": 0, "err": "Error: Failed to fetch ads\n"},  # rc 0, yet a complaint
        {"rc": 0, "out": "-- Failed to fetch ads\n"},  # not JSON
        {"rc": 0, "sleep": 3},  # no answer in time
        {"rc": 0, "out": '[{"ClusterId": 41, "JobStatus": 2}]'},  # not our job
        {"rc": 127, "err": "condor_q: not found"},
    ],
)
def test_status_failures_keep_the_server(make, fake, answer):
    s, result = polled(make, fake, answer, command_timeout=1.5)
    assert result is None
    assert (s.job_id, s.exec_host) == ("42", "gpu07.example.org")


def test_a_missing_tool_keeps_the_server(make, fake):
    s = make(condor_bin_dir="/nonexistent/bin")
    s.job_id, s.backend = "42", "htcondor"
    assert run(s.poll()) is None
    assert s.job_id == "42"


@pytest.mark.parametrize("answer", [IDLE, RUNNING, HELD])
def test_alive_jobs_keep_the_server(make, fake, answer):
    assert polled(make, fake, answer)[1] is None


@pytest.mark.parametrize(
    "answer",
    [
        GONE,
        {"out": "[]\n"},
        q("[ClusterId = 42; JobStatus = 3]"),
        q("[ClusterId = 42; JobStatus = 4]"),
    ],
)
def test_a_clean_answer_without_the_job_ends_the_server(make, fake, answer):
    s, result = polled(make, fake, answer)
    assert result == 1
    assert s.job_id == "" and s.get_state() == {}


def test_stop_removes_the_job_as_its_owner(make, fake):
    fake.script(condor_rm=[{"rc": 0}], condor_q=[q("[ClusterId = 42; JobStatus = 3]")])
    s = make()
    s.job_id, s.backend = "42", "htcondor"
    run(s.stop())
    (rm,) = fake.calls("condor_rm")
    assert rm["argv"] == ["-name", SCHEDD, "42"] and rm["uid"] == ME.pw_uid


@pytest.mark.parametrize(
    ("answer", "fails"),
    [
        ({"rc": 1, "err": "Job 42.0 not found\n"}, False),
        ({"rc": 1, "err": "Couldn't find/remove all jobs in cluster 42\n"}, False),
        ({"rc": 1, "err": "Couldn't find/remove all jobs in cluster 42: denied\n"}, True),
        ({"rc": 1, "err": "-- Failed to connect to schedd jupyter-schedd\n"}, True),
    ],
)  # fmt: skip
def test_stop_tells_a_failed_removal_from_a_job_already_gone(make, fake, answer, fails):
    fake.script(condor_rm=[answer])
    s = make()
    s.job_id, s.backend = "42", "htcondor"
    if fails:
        with pytest.raises(SpawnError, match="condor_rm 42 failed"):
            run(s.stop(now=True))
    else:
        run(s.stop(now=True))


# --------------------------------------------------------------------------- reaper


def test_reaper_removes_only_this_hubs_unclaimed_jobs(make, fake):
    me = ME.pw_name
    jobs = q(
        f'[ClusterId = 42; JobBatchName = "jupyter-htc.{me}"; Owner = "{me}"; JobStatus = 2]',
        f'[ClusterId = 43; JobBatchName = "jupyter-htc.{me}.gpu"; Owner = "{me}"; JobStatus = 1]',
        # the name encodes another user than the owner: not one of ours
        f'[ClusterId = 44; JobBatchName = "jupyter-htc.bob"; Owner = "{me}"; JobStatus = 1]',
    )
    fake.script(condor_q=[jobs], condor_rm=[{"rc": 0}])
    s = make(reaper_grace=0)
    s._claimed_jobs = lambda: {"42"}
    assert run(s.reap_once()) == ["43"]
    (listing,) = fake.calls("condor_q")
    assert listing["argv"][:5] == ["-name", SCHEDD, "-allusers", "-constraint",
                                   'substr(JobBatchName, 0, 12) =?= "jupyter-htc."']  # fmt: skip
    assert [c["argv"] for c in fake.calls("condor_rm")] == [["-name", SCHEDD, "43"]]


def test_reaper_does_nothing_when_the_listing_fails(make, fake):
    fake.script(condor_q=[{"rc": 1, "err": "-- Failed to fetch ads\n"}])
    s = make(reaper_grace=0)
    s._claimed_jobs = set
    assert run(s.reap_once()) == []
    assert not fake.calls("condor_rm")


def test_the_fake_refuses_what_htcondor_cannot_parse(fake):
    # guard: the fake's parse check is real, so a description HTCondor's parser cannot read
    # fails the tests (it reads `key = value` lines up to `queue`; values are checked only
    # when a schedd makes the job ad)
    fake.script(condor_submit=[SUBMITTED])
    out = __import__("subprocess").run(
        [str(fake.bin / "condor_submit")],
        input="this is not a submit command\nqueue\n",
        env={"FAKE_CONDOR_STATE": str(fake.state), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "could not parse" in out.stderr


def test_state_round_trip(make):
    s = make()
    s.job_id, s.backend, s.exec_host = "42", "htcondor", "gpu07.example.org"
    t = make()
    t.load_state(s.get_state())
    assert (t.job_id, t.backend, t.exec_host) == ("42", "htcondor", "gpu07.example.org")


def test_env_file_permissions_when_written(make, tmp_path):
    s = make()
    run(s._write_env_file(ME, "export A='b'\n"))
    path = Path(s._job_dir(ME)) / s._env_name()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    run(s._remove_env_file())
    assert not path.exists()


def test_only_htcondor_or_local(make):
    from traitlets import TraitError

    with pytest.raises(TraitError):
        make(scheduler="slurm")
    s = make(scheduler="local")
    assert s.options_form == ""  # the hub host only: no form


def test_a_local_only_hub_refuses_batch_options(make, fake):
    s = make(scheduler="local")
    with pytest.raises(web.HTTPError, match="batch options are not accepted"):
        run(s.options_from_form({"accounting_group": ["group_atlas"]}))
    assert not fake.calls()
