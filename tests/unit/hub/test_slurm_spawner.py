"""SlurmSpawner's scheduler interface: batch scripts, images, the form's Slurm queries
(skipped where JupyterHub is not installed). What it shares with CondorSpawner is in
test_spawner.py, run against both."""

import asyncio
import types

import pytest

pytest.importorskip("jupyterhub")
pytest.importorskip("batchspawner")

from sitehub.hub.slurm_spawner import SlurmSpawner
from sitehub.hub.spawner import SpawnError


def make(**kw):
    user = types.SimpleNamespace(name="alice", url="/user/alice/", spawners={})
    return SlurmSpawner(user=user, reaper_interval=0, **kw)


def run(coro):
    return asyncio.run(coro)


def _submit_script(monkeypatch, request, **kw):
    """The batch script _submit_slurm hands to sbatch (sbatch itself replaced by a capture)."""
    import pwd

    from sitehub.hub import slurm_spawner as spawner_mod
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

    from sitehub.hub import slurm_spawner as spawner_mod
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
    monkeypatch.setattr(SlurmSpawner, "_cache", {})
    s = make()
    pw = pwd.struct_passwd(("alice", "x", 2001, 2001, "", "/home/alice", "/bin/bash"))
    monkeypatch.setattr(s, "_pw", lambda: pw)
    first = run(s.form_model())
    second = run(s.form_model())
    assert [p.name for p in first.partitions] == [p.name for p in second.partitions]
    assert first.partitions, "the fixture offers alice partitions"
    assert calls.count("sacctmgr assoc") == 1 and calls.count("sacctmgr user") == 1
