"""SitehubSpawner decisions that need JupyterHub (skipped where it is not installed)."""

import asyncio
import types

import pytest

pytest.importorskip("jupyterhub")
pytest.importorskip("batchspawner")

from jupyterhub import apihandlers

from sitehub.hub import api
from sitehub.hub.slurm import JobStatus, Phase
from sitehub.hub.spawner import SitehubSpawner, SpawnError


class Spawner(SitehubSpawner):
    """The real class with the Slurm/systemd query replaced by a scripted answer."""

    answers: list

    async def job_state(self):
        return self.answers.pop(0)


def make(**kw):
    user = types.SimpleNamespace(name="alice", url="/user/alice/", spawners={})
    s = Spawner(user=user, reaper_interval=0, **kw)
    s.answers = []
    return s


def run(coro):
    return asyncio.run(coro)


def test_port_handler_replaces_batchspawners():
    routes = [h for h in apihandlers.default_handlers if h[0] == api.PATH]
    assert routes == [(api.PATH, api.PortReportHandler)]


def test_poll_keeps_server_when_controller_down():
    s = make()
    s.job_id, s.backend = "42", "slurm"
    s.answers = [JobStatus(Phase.UNKNOWN, "42", detail="Unable to contact", unreachable=True)]
    assert run(s.poll()) is None
    assert s.job_id == "42"


@pytest.mark.parametrize("phase", [Phase.RUNNING, Phase.PENDING])
def test_poll_alive(phase):
    s = make()
    s.job_id, s.backend = "42", "slurm"
    s.answers = [JobStatus(phase, "42")]
    assert run(s.poll()) is None


def test_poll_gone_clears_state():
    s = make()
    s.job_id, s.backend, s.exec_host = "42", "slurm", "hubs-c1"
    s.answers = [JobStatus(Phase.GONE, "42", state="COMPLETED")]
    assert run(s.poll()) == 1
    assert s.job_id == "" and s.get_state() == {}


def test_poll_without_job():
    assert run(make().poll()) == 0


def test_state_round_trip():
    s = make()
    s.job_id, s.backend, s.exec_host = "42", "slurm", "hubs-c1"
    state = s.get_state()
    assert state["job_id"] == "42" and state["backend"] == "slurm"
    t = make()
    t.load_state(state)
    assert (t.job_id, t.backend, t.exec_host) == ("42", "slurm", "hubs-c1")
    old = make()
    old.load_state({"job_id": "7"})  # state written by stock batchspawner
    assert old.backend == "slurm"


def test_report_port_only_once_and_only_while_starting():
    s = make()
    assert not s.report_port(4242)  # not starting
    s._awaiting_port = True
    assert s.report_port(4242)
    assert not s.report_port(5353)  # second report refused
    assert s._reported_port == 4242


def test_job_that_dies_before_reporting_port_fails_fast():
    s = make()
    s.backend, s.job_id = "slurm", "42"
    s.orm_spawner = types.SimpleNamespace(state=None, server=None)
    s.db = types.SimpleNamespace(commit=lambda: None)
    s._port_event = asyncio.Event()
    s.startup_poll_interval = 0.01
    s.answers = [
        JobStatus(Phase.PENDING, "42", "PENDING", "Priority"),
        JobStatus(Phase.RUNNING, "42", "RUNNING", host="hubs-c1"),
        JobStatus(Phase.GONE, "42", "FAILED"),
    ]

    async def no_position(status):
        return 3

    s._queue_position = no_position
    with pytest.raises(SpawnError, match=r"job 42 ended \(FAILED\) before the notebook server"):
        run(s._wait_for_server())
    assert s.job_id == ""
    messages = [e["message"] for e in s._events]
    assert messages[0].startswith("Job 42 is PENDING (reason: Priority")
    assert "position 3" in messages[0]
    assert "on node hubs-c1" in messages[1]


def test_wait_returns_host_once_port_reported():
    s = make()
    s.backend, s.job_id = "slurm", "42"
    s._port_event = asyncio.Event()
    s._awaiting_port = True
    s.startup_poll_interval = 0.01
    s.answers = [
        JobStatus(Phase.UNKNOWN, "42", detail="Socket timed out", unreachable=True),
        JobStatus(Phase.RUNNING, "42", "RUNNING", host="hubs-c2"),
        JobStatus(Phase.RUNNING, "42", "RUNNING", host="hubs-c2"),
    ]

    async def go():
        async def report():
            await asyncio.sleep(0.02)
            s.report_port(4242)

        task = asyncio.create_task(report())
        host = await s._wait_for_server()
        await task
        return host

    assert run(go()) == "hubs-c2"
    assert any("Cannot reach the Slurm controller" in e["message"] for e in s._events)


def test_batch_servers_get_more_than_jupyterhubs_30_s_to_answer():
    assert make().http_timeout == 120
    assert make(http_timeout=45).http_timeout == 45


def _submit_script(monkeypatch, request, **kw):
    """The batch script _submit_slurm hands to sbatch (sbatch itself replaced by a capture)."""
    import pwd

    from sitehub.hub import spawner as spawner_mod
    from sitehub.hub.spawner import Result

    s = make(**kw)
    seen = {}

    async def fake_run(argv, *, input=None, **_):
        seen["argv"], seen["script"] = argv, input
        return Result(0, "4242\n", "")

    pw = pwd.struct_passwd(("alice", "x", 2001, 2001, "", "/home/alice", "/bin/bash"))
    monkeypatch.setattr(spawner_mod, "run", fake_run)
    monkeypatch.setattr(s, "_pw", lambda: pw)
    monkeypatch.setattr(s, "get_env", lambda: {"JUPYTERHUB_API_TOKEN": "t0ken"})
    assert run(s._submit_slurm(request)) == "4242"
    return seen["script"]


def test_server_runs_in_the_chosen_image_with_apptainer(monkeypatch):
    from sitehub.hub.batch import JobRequest

    script = _submit_script(
        monkeypatch,
        JobRequest("debug", "default", "normal", 30, image="/cvmfs/img/el9.sif"),
        container_binds=["/opt/sitehub/notebook:ro", "/cvmfs"],
        container_options=["--nv"],
    )
    last = script.splitlines()[-1]
    assert last.startswith(
        "exec srun --ntasks=1 --export=ALL apptainer exec "
        "--bind /opt/sitehub/notebook:/opt/sitehub/notebook:ro --bind /cvmfs:/cvmfs "
        "--pwd /home/alice --nv "
        "/cvmfs/img/el9.sif /opt/sitehub/notebook/venv/bin/batchspawner-singleuser "
    )
    assert "t0ken" not in script  # the token travels in the environment, never in the script


def test_server_runs_in_the_chosen_image_with_podman_and_its_own_jupyter(monkeypatch):
    from sitehub.hub.batch import JobRequest

    script = _submit_script(
        monkeypatch,
        JobRequest("debug", "default", "normal", 30, image="localhost/sitehub-notebook:test"),
        container_runtime="podman",
        container_server_cmd=["batchspawner-singleuser", "jupyterhub-singleuser"],
    )
    last = script.splitlines()[-1]
    # podman carries only the variables it is told about: every one the hub exported
    assert "--env JUPYTERHUB_API_TOKEN" in last and "--env HOME" in last
    # podman starts in the image's directory, not the job's: the server's root is the home
    assert "--workdir /home/alice" in last
    assert last.endswith(
        "localhost/sitehub-notebook:test batchspawner-singleuser jupyterhub-singleuser"
    )


def test_no_image_runs_the_server_on_the_node(monkeypatch):
    from sitehub.hub.batch import JobRequest

    script = _submit_script(monkeypatch, JobRequest("debug", "default", "normal", 30))
    assert "apptainer" not in script and "podman" not in script


def test_an_image_the_runtime_cannot_take_fails_the_spawn_clearly(monkeypatch):
    from sitehub.hub.batch import JobRequest

    with pytest.raises(SpawnError, match=r"The image relative\.sif cannot be started here"):
        _submit_script(monkeypatch, JobRequest("debug", image="relative.sif"))


def test_the_form_and_the_spawn_after_it_ask_slurmdbd_once(monkeypatch, fixture_text):
    import pwd

    from sitehub.hub import spawner as spawner_mod
    from sitehub.hub.spawner import Result

    answers = {
        "partition": fixture_text("scontrol_show_partition.txt"),
        "node": fixture_text("scontrol_show_node.txt"),
        "config": fixture_text("scontrol_show_config.txt"),
        "assoc": fixture_text("sacctmgr_assoc_alice.txt"),
        "user": "alice|tier3\n",
    }
    calls = []

    async def fake_run(argv, **_):
        calls.append(argv[0] + " " + argv[2 if argv[0] == "scontrol" else 4])
        return Result(0, answers[argv[2] if argv[0] == "scontrol" else argv[4]], "")

    monkeypatch.setattr(spawner_mod, "run", fake_run)
    monkeypatch.setattr(SitehubSpawner, "_cache", {})
    s = make()
    pw = pwd.struct_passwd(("alice", "x", 2001, 2001, "", "/home/alice", "/bin/bash"))
    monkeypatch.setattr(s, "_pw", lambda: pw)
    first = run(s.form_model())
    second = run(s.form_model())
    assert [p.name for p in first.partitions] == [p.name for p in second.partitions]
    assert first.partitions, "the fixture offers alice partitions"
    assert calls.count("sacctmgr assoc") == 1 and calls.count("sacctmgr user") == 1
