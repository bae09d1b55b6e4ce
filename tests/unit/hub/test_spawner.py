"""What SitehubSpawner does for every scheduler, run against both peers: SlurmSpawner and
CondorSpawner (skipped where JupyterHub is not installed).

Each scheduler's interface (sitehub.hub.spawner's "scheduler interface" section) is replaced
by a script: job states, the form's model, submits, cancels and the job listing are
recorded, so these tests exercise only the shared code (options handling, run locally,
images, entitlement check, stale-job cancel, progress, state, the reaper) with the real form
modules of each scheduler. What reaches sbatch or condor_submit is tested in
test_slurm_spawner.py and test_condor_spawner.py.
"""

import asyncio
import types

import pytest

pytest.importorskip("jupyterhub")
pytest.importorskip("batchspawner")

from jupyterhub import apihandlers
from tornado import web

from sitehub.htcondor import choices
from sitehub.hub import api, form, options
from sitehub.hub.condor import CondorSpawner
from sitehub.hub.images import ImageChoice
from sitehub.hub.jobs import JobStatus, Phase, QueuedJob
from sitehub.hub.slurm_spawner import SlurmSpawner
from sitehub.hub.spawner import SitehubSpawner, SpawnError

IMAGES = {"el9": ImageChoice("el9", "/images/el9.sif", "EL 9")}


def slurm_model(allow_local: bool) -> options.FormModel:
    part = options.PartitionChoice(
        "debug",
        max_minutes=60,
        default_minutes=30,
        gpu_types=[],
        has_gpus=False,
        accounts=[options.AccountChoice("default", ["normal"], "normal")],
        default_account="default",
    )
    return options.FormModel([part], "debug", allow_local=allow_local, images=dict(IMAGES))


def condor_model(allow_local: bool) -> choices.FormModel:
    return choices.build_model(
        accounting_groups=["group_a"],
        max_cpus=2,
        max_memory_gb=4,
        max_runtime_minutes=60,
        default_runtime_minutes=30,
        images=[{"name": "el9", "ref": "/images/el9.sif", "description": "EL 9"}],
        allow_local=allow_local,
    )


# scheduler -> (class, its form model, a valid choice, a forged one, its unreachable label)
SCHEDULERS = {
    "slurm": (
        SlurmSpawner,
        slurm_model,
        {"partition": "debug", "runtime": 20, "image": "el9"},
        {"partition": "staff"},
        "the Slurm controller",
    ),
    "htcondor": (
        CondorSpawner,
        condor_model,
        {"accounting_group": "group_a", "cpus": 2, "runtime": 20, "image": "el9"},
        {"accounting_group": "group_root"},
        "the HTCondor schedd",
    ),
}


def scripted(cls):
    """`cls` with its scheduler interface replaced by recorded, scripted answers."""

    class Scripted(cls):
        async def _batch_state(self):
            return self.answers.pop(0)

        async def form_model(self):
            self.calls.append("form_model")
            return self.model

        async def _submit_batch(self, request):
            self.calls.append(("submit", request))
            return "42"

        async def _cancel_stale(self):
            await asyncio.sleep(0.01)  # still running while the choice is checked
            self.calls.append("cancel_stale")

        async def _cancel_batch(self):
            self.calls.append("cancel")

        async def _list_jobs(self):
            return self.listing

        async def _remove_orphan(self, job):
            self.calls.append(("remove", job.job_id))
            return True

        def _claimed_jobs(self):
            return self.claimed

    Scripted.__name__ = cls.__name__
    return Scripted


@pytest.fixture(params=sorted(SCHEDULERS))
def scheduler(request):
    return request.param


@pytest.fixture
def make(scheduler):
    cls, model, *_ = SCHEDULERS[scheduler]

    def build(**kw):
        allow_local = kw.setdefault("allow_local", True)
        user = types.SimpleNamespace(name="alice", url="/user/alice/", spawners={})
        s = scripted(cls)(user=user, reaper_interval=0, **kw)
        s.answers, s.calls, s.listing, s.claimed = [], [], [], set()
        s.model = model(allow_local)
        s.orm_spawner = types.SimpleNamespace(name="", state=None, server=None, user_options=None)
        s.db = types.SimpleNamespace(commit=lambda: None)
        return s

    return build


def run(coro):
    return asyncio.run(coro)


def test_port_handler_replaces_batchspawners():
    routes = [h for h in apihandlers.default_handlers if h[0] == api.PATH]
    assert routes == [(api.PATH, api.PortReportHandler)]


def test_the_peers_share_one_base_and_neither_derives_from_the_other():
    assert SlurmSpawner.__bases__ == (SitehubSpawner,)
    assert CondorSpawner.__bases__ == (SitehubSpawner,)


# --------------------------------------------------------------------------- the form


def test_run_locally_refuses_an_image_for_every_scheduler(make, scheduler):
    # the drift this fixes: HTCondor ran locally and silently dropped the image
    s = make()
    s.user_options = {"run_local": True, "image": "el9"}
    with pytest.raises(web.HTTPError, match="Container images run in batch jobs only") as err:
        run(s.start())
    assert err.value.status_code == 400
    assert not any(isinstance(c, tuple) for c in s.calls)  # nothing submitted
    with pytest.raises(web.HTTPError, match="Container images run in batch jobs only"):
        run(s.options_from_form({"run_local": ["on"], "image": ["el9"]}))


def test_run_locally_asks_the_scheduler_nothing(make):
    s = make()
    s.user_options = {"run_local": "true", "image": "none"}
    assert run(s.choose()) == form.Choice(run_local=True)
    assert "form_model" not in s.calls  # no query that could hang while it is down


def test_run_locally_is_refused_where_not_offered(make):
    s = make(allow_local=False)
    s.user_options = {"run_local": True}
    with pytest.raises(web.HTTPError, match="not offered here") as err:
        run(s.choose())
    assert err.value.status_code == 400


def test_a_valid_choice_becomes_the_schedulers_request_with_the_image(make, scheduler):
    s = make()
    s.user_options = dict(SCHEDULERS[scheduler][2])
    choice = run(s.choose())
    assert not choice.run_local
    assert choice.job.minutes == 20 and choice.job.image == "/images/el9.sif"


def test_an_image_not_offered_is_refused_alike(make, scheduler):
    s = make()
    s.user_options = {**SCHEDULERS[scheduler][2], "image": "centos7"}
    with pytest.raises(web.HTTPError) as err:
        run(s.choose())
    assert err.value.status_code == 400
    assert "Image 'centos7' is not offered here (available: none, el9)." in str(err.value)


def test_forged_choices_are_refused_before_any_submit(make, scheduler):
    s = make()
    s.user_options = dict(SCHEDULERS[scheduler][3])
    with pytest.raises(web.HTTPError) as err:
        run(s.start())
    assert err.value.status_code == 400
    assert not any(isinstance(c, tuple) for c in s.calls)
    with pytest.raises(web.HTTPError):
        run(s.options_from_form({k: [str(v)] for k, v in SCHEDULERS[scheduler][3].items()}))


def test_nothing_offered_is_503_with_the_forms_notice(make, scheduler):
    s = make()
    s.model = type(s.model)([], notice="The scheduler is not reachable right now (x).")
    s.user_options = {}
    with pytest.raises(web.HTTPError, match="not reachable right now") as err:
        run(s.choose())
    assert err.value.status_code == 503


def test_form_values_become_user_options(make, scheduler):
    s = make()
    chosen = SCHEDULERS[scheduler][2]
    assert run(s.options_from_form({k: [str(v)] for k, v in chosen.items()})) == chosen


def test_the_form_is_the_schedulers_on_the_shared_template(make, scheduler):
    s = make()
    html = run(s.render_options_form())
    key = "partition" if scheduler == "slurm" else "accounting_group"
    assert f'name="{key}"' in html
    # the shared part: one fieldset the run-locally box disables, the image select
    assert 'id="sitehub-batch"' in html and 'name="run_local"' in html
    assert '<option value="el9">EL 9</option>' in html


def test_the_form_says_the_scheduler_is_unreachable_and_offers_run_locally(make, scheduler):
    s = make()
    label = SCHEDULERS[scheduler][4]
    notice = s._unreachable_notice("timed out")
    assert notice.startswith(label[0].upper() + label[1:] + " is not reachable right now")
    assert notice.endswith("You can still run locally on the hub host.")
    assert "run locally" not in make(allow_local=False)._unreachable_notice("x")


@pytest.mark.parametrize("cls", [SitehubSpawner, SlurmSpawner, CondorSpawner])
def test_a_local_only_hub_refuses_batch_options(cls):
    user = types.SimpleNamespace(name="alice", url="/user/alice/", spawners={})
    s = cls(user=user, reaper_interval=0, scheduler="local")
    assert s.options_form == ""
    with pytest.raises(web.HTTPError, match="batch options are not accepted"):
        run(s.options_from_form({"partition": ["debug"]}))
    s.user_options = {"accounting_group": "group_a"}
    with pytest.raises(web.HTTPError, match="batch options are not accepted"):
        run(s.choose())
    s.user_options = {}
    assert run(s.choose()) == form.Choice(run_local=True)
    assert run(s.options_from_form({"run_local": ["on"]})) == {"run_local": True}


# --------------------------------------------------------------------------- start


def test_a_stale_job_is_cancelled_before_the_submit(make, scheduler):
    s = make()
    s.user_options = dict(SCHEDULERS[scheduler][2])

    async def served():
        s._reported_port = 4242
        return "node1"

    s._wait_for_server = served
    assert run(s.start()) == ("node1", 4242)
    names = [c if isinstance(c, str) else c[0] for c in s.calls]
    assert names.index("cancel_stale") < names.index("submit")
    assert (s.backend, s.job_id, s.exec_host) == (scheduler, "42", "node1")
    assert s._events[0]["message"].startswith("Submitted batch job 42 to ")


# --------------------------------------------------------------------------- state


def test_poll_keeps_server_when_the_scheduler_is_down(make, scheduler):
    s = make()
    s.job_id, s.backend = "42", scheduler
    s.answers = [JobStatus(Phase.UNKNOWN, "42", detail="Unable to contact", unreachable=True)]
    assert run(s.poll()) is None
    assert s.job_id == "42"


@pytest.mark.parametrize("phase", [Phase.RUNNING, Phase.PENDING])
def test_poll_alive(make, scheduler, phase):
    s = make()
    s.job_id, s.backend = "42", scheduler
    s.answers = [JobStatus(phase, "42")]
    assert run(s.poll()) is None


def test_poll_gone_clears_state(make, scheduler):
    s = make()
    s.job_id, s.backend, s.exec_host = "42", scheduler, "hubs-c1"
    s.answers = [JobStatus(Phase.GONE, "42", state="COMPLETED")]
    assert run(s.poll()) == 1
    assert s.job_id == "" and s.get_state() == {}


def test_poll_without_job(make):
    assert run(make().poll()) == 0


def test_state_round_trip(make, scheduler):
    s = make()
    s.job_id, s.backend, s.exec_host = "42", scheduler, "hubs-c1"
    state = s.get_state()
    assert state["job_id"] == "42" and state["backend"] == scheduler
    t = make()
    t.load_state(state)
    assert (t.job_id, t.backend, t.exec_host) == ("42", scheduler, "hubs-c1")
    old = make()
    old.load_state({"job_id": "7"})  # state written by stock batchspawner
    assert old.backend == scheduler


def test_report_port_only_once_and_only_while_starting(make):
    s = make()
    assert not s.report_port(4242)  # not starting
    s._awaiting_port = True
    assert s.report_port(4242)
    assert not s.report_port(5353)  # second report refused
    assert s._reported_port == 4242


def test_job_that_dies_before_reporting_port_fails_fast(make, scheduler):
    s = make()
    s.backend, s.job_id = scheduler, "42"
    s._port_event = asyncio.Event()
    s.startup_poll_interval = 0.01
    s.answers = [
        JobStatus(Phase.PENDING, "42", "PENDING", "Priority"),
        JobStatus(Phase.RUNNING, "42", "RUNNING", host="hubs-c1"),
        JobStatus(Phase.GONE, "42", "FAILED"),
    ]

    async def position(status):
        return 3

    s._queue_position = position
    with pytest.raises(SpawnError, match=r"job 42 ended \(FAILED\) before the notebook server"):
        run(s._wait_for_server())
    assert s.job_id == ""
    messages = [e["message"] for e in s._events]
    assert messages[0].startswith("Job 42 is PENDING (reason: Priority")
    assert "position 3" in messages[0]
    assert "on node hubs-c1" in messages[1]


def test_wait_returns_host_once_port_reported_and_names_the_scheduler(make, scheduler):
    s = make()
    s.backend, s.job_id = scheduler, "42"
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
    label = SCHEDULERS[scheduler][4]
    assert any(f"Cannot reach {label} (Socket timed out)" in e["message"] for e in s._events)


def test_batch_servers_get_more_than_jupyterhubs_30_s_to_answer(make):
    assert make().http_timeout == 120
    assert make(http_timeout=45).http_timeout == 45


# --------------------------------------------------------------------------- the reaper


def test_reaper_cancels_only_this_hubs_unclaimed_jobs_after_the_grace(make, monkeypatch):
    s = make(instance="hpc", reaper_grace=0.05)
    monkeypatch.setattr(type(s), "_unclaimed", {})
    s.listing = [
        QueuedJob("1", "jupyter-hpc.alice", "alice", "RUNNING"),  # unclaimed: goes
        QueuedJob("2", "jupyter-hpc.bob", "bob", "RUNNING"),  # claimed by a server
        QueuedJob("3", "jupyter-hpc-b.alice", "alice", "RUNNING"),  # another hub's
        QueuedJob("4", "jupyter-hpc.alice", "mallory", "RUNNING"),  # not the name's owner
    ]
    s.claimed = {"2"}
    assert run(s.reap_once()) == []  # first seen: within the grace
    asyncio.run(asyncio.sleep(0.06))
    assert run(s.reap_once()) == ["1"]
    assert [c for c in s.calls if isinstance(c, tuple)] == [("remove", "1")]


def test_reaper_does_nothing_when_the_listing_is_unknown(make):
    s = make(reaper_grace=0)
    s.listing = None
    assert run(s.reap_once()) == []
