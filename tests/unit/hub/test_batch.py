"""Batch scripts and local units (sitehub.hub.batch): values checked, commands quoted."""

import shlex

import pytest

from sitehub.hub import batch, slurm
from sitehub.hub.batch import JobRequest, UnsafeValue
from sitehub.hub.slurm import Phase

CMD = ["/opt/nb/bin/batchspawner-singleuser", "/opt/nb/bin/jupyterhub-singleuser", "--debug"]


def render(request, **kw):
    args = dict(
        job_name="jupyter-alpha.alice",
        output="/home/alice/.jupyterhub-slurm-%j.log",
        workdir="/home/alice",
        cmd=CMD,
        export=["JUPYTERHUB_API_TOKEN", "PATH"],
    )
    args.update(kw)
    return batch.render_batch_script(request, **args)


def test_full_script():
    req = JobRequest("usatlas", "tier3", "atlas", 90, "pascal")
    text = render(req)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for want in [
        "#SBATCH --job-name=jupyter-alpha.alice",
        "#SBATCH --output=/home/alice/.jupyterhub-slurm-%j.log",
        "#SBATCH --chdir=/home/alice",
        "#SBATCH --export=JUPYTERHUB_API_TOKEN,PATH",
        "#SBATCH --partition=usatlas",
        "#SBATCH --account=tier3",
        "#SBATCH --qos=atlas",
        "#SBATCH --time=90",
        "#SBATCH --gres=gpu:pascal:1",
    ]:
        assert want in lines
    assert lines[-1] == "exec srun --ntasks=1 --export=ALL " + shlex.join(CMD)


def test_any_gpu_and_defaults():
    text = render(JobRequest(partition="debug", gpu="any"), srun=False)
    assert "#SBATCH --gres=gpu:1" in text
    assert "--account" not in text and "--qos" not in text and "--time" not in text
    assert text.splitlines()[-1] == "exec " + shlex.join(CMD)


@pytest.mark.parametrize(
    "request_",
    [
        JobRequest(partition="debug\n#SBATCH --uid=0"),
        JobRequest(partition="debug --uid=0"),
        JobRequest(account="a;rm -rf /"),
        JobRequest(qos="$(id)"),
        JobRequest(gpu="pascal:8"),
        JobRequest(minutes=0),
        JobRequest(minutes="60"),  # type: ignore[arg-type]
        JobRequest(minutes=True),  # type: ignore[arg-type]
    ],
)
def test_forged_values_never_reach_the_script(request_):
    with pytest.raises(UnsafeValue):
        render(request_)


def test_paths_and_env_names_checked():
    with pytest.raises(UnsafeValue):
        render(JobRequest(), output="/home/a b/x.log")
    with pytest.raises(UnsafeValue):
        render(JobRequest(), export=["BAD-NAME"])
    with pytest.raises(UnsafeValue):
        render(JobRequest(), extra_directives=["--mem=1G\n--uid=0"])


def test_command_is_shell_quoted():
    cmd = ["/x/run", "--ServerApp.x='a b'; rm -rf ~ $(id) `id`"]
    last = render(JobRequest(), cmd=cmd).splitlines()[-1]
    assert shlex.split(last)[-2:] == cmd


def test_job_name_and_owner():
    assert batch.job_name("jupyter-alpha", "alice") == "jupyter-alpha.alice"
    assert batch.job_name("jupyter-alpha", "alice", "gpu box") == "jupyter-alpha.alice.gpu_box"
    assert batch.job_owner("jupyter-alpha.alice.gpu_box", "jupyter-alpha") == "alice"
    assert batch.job_owner("jupyter-alpha-beta.alice", "jupyter-alpha") is None
    assert batch.job_owner("jupyter-alpha.", "jupyter-alpha") is None
    assert batch.job_owner("spawner-jupyterhub", "jupyter-alpha") is None


def test_unclaimed_jobs_are_only_ours():
    jobs = slurm.parse_job_list(
        "41|jupyter-alpha.alice|alice|RUNNING\n"  # claimed by a server
        "42|jupyter-alpha.alice.gpu|alice|PENDING\n"  # ours, unclaimed
        "43|jupyter-alpha.bob|mallory|RUNNING\n"  # name says bob, owner differs: not ours
        "44|jupyter-alpha-beta.alice|alice|RUNNING\n"  # instance alpha-beta
        "45|spawner-jupyterhub|alice|RUNNING\n"  # stock batchspawner
    )
    assert batch.unclaimed_jobs(jobs, "jupyter-alpha", {"41"}) == {"42"}


def test_env_file_quoting():
    text = batch.env_file_text({"B": 'say "hi" \\ $HOME', "A": "1"})
    assert text == 'A="1"\nB="say \\"hi\\" \\\\ $HOME"\n'
    with pytest.raises(UnsafeValue):
        batch.env_file_text({"A": "x\ny"})
    with pytest.raises(UnsafeValue):
        batch.env_file_text({"A B": "x"})


def test_systemd_run_argv():
    argv = batch.systemd_run_argv(
        "jupyter-alpha.alice.service",
        user="alice",
        group="alice",
        workdir="/home/alice",
        env_file="/run/sitehub-spawner/jupyter-alpha.alice.service.env",
        cmd=CMD,
        properties=["MemoryMax=2G"],
    )
    assert argv[0] == "systemd-run"
    assert "--uid=alice" in argv and "--collect" in argv
    assert "--property=MemoryMax=2G" in argv
    assert argv[argv.index("--") + 1 :] == CMD


@pytest.mark.parametrize(
    ("rc", "out", "phase"),
    [
        (0, "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n", "running"),
        (0, "LoadState=loaded\nActiveState=activating\nSubState=start\n", "pending"),
        (0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\n", "gone"),
        (0, "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n", "gone"),
        (1, "", "unknown"),
        (0, "", "unknown"),
    ],
)
def test_unit_status(rc, out, phase):
    st = batch.interpret_unit("u.service", rc, out, "Failed to connect to bus")
    assert st.phase is Phase(phase)


def test_unit_status_timeout():
    assert batch.interpret_unit("u", None, "", "", timed_out=True).phase is Phase.UNKNOWN
