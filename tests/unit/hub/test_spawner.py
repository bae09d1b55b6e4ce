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
