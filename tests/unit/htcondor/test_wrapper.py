"""The job wrapper (roles/htcondor_submit/files/sitehub-condor-job) run by /bin/sh, in a
directory laid out like a job's sandbox after HTCondor's input transfer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sitehub.htcondor.submit import env_file_text

REPORT = (
    "import json, os; print(json.dumps({'cwd': os.getcwd(), 'argv': os.sys.argv[1:], "
    "'env': dict(os.environ)}))"
)


WRAPPER = Path(__file__).resolve().parents[3] / "roles/htcondor_submit/files/sitehub-condor-job"


def run(sandbox, *args, env=None):
    return subprocess.run(
        ["/bin/sh", str(WRAPPER), *args],
        cwd=sandbox,
        env=env or {"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


@pytest.fixture
def sandbox(tmp_path):
    box = tmp_path / "sandbox"
    box.mkdir()
    return box


def test_environment_arrives_verbatim_and_the_file_is_deleted(sandbox, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "JUPYTERHUB_API_TOKEN": "a'b\"c$(touch pwned)`touch pwned2`\\n\nx",
        "JUPYTERHUB_SERVICE_PREFIX": "/jupyterhub/htc/user/alice/",
        "HOME": str(home),
    }
    (sandbox / "sitehub-job.env").write_text(env_file_text(env))
    out = run(sandbox, "sitehub-job.env", sys.executable, "-c", REPORT, "--flag", "a b")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert {k: got["env"].get(k) for k in env} == env
    assert got["cwd"] == str(home)  # the server starts in the user's home
    assert got["argv"] == ["--flag", "a b"]
    assert not (sandbox / "sitehub-job.env").exists()
    assert not list(sandbox.glob("pwned*")) and not list(home.glob("pwned*"))
    assert "sitehub: notebook server for" in out.stderr


def test_without_a_home_the_server_stays_in_the_sandbox(sandbox):
    (sandbox / "job.env").write_text(env_file_text({"HOME": "/nonexistent/home"}))
    out = run(sandbox, "job.env", sys.executable, "-c", REPORT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["cwd"] == str(sandbox)


def test_a_missing_environment_file_fails_clearly(sandbox):
    out = run(sandbox, "sitehub-job.env", "true")
    assert out.returncode == 66
    assert "sitehub-job.env is missing from the job sandbox" in out.stderr


@pytest.mark.parametrize("name", ["../job.env", "/etc/passwd", ".hidden", ""])
def test_the_environment_file_must_be_a_plain_name(sandbox, name):
    out = run(sandbox, name, "true")
    assert out.returncode == 64
    assert "plain file name" in out.stderr


def test_usage(sandbox):
    assert run(sandbox, "only-one").returncode == 64


def test_the_command_replaces_the_wrapper(sandbox):
    # exec: HTCondor's signals (condor_rm, vacate) reach the server, not a shell
    (sandbox / "job.env").write_text(env_file_text({}))
    out = run(sandbox, "job.env", sys.executable, "-c", "import os; print(os.getppid())")
    assert out.returncode == 0
    # the parent of the server is the test's Python, not an intermediate /bin/sh
    assert int(out.stdout) == os.getpid()
