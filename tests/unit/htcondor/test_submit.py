"""Submit descriptions: what they say, read back with HTCondor's own parser (htcondor2)."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import classad2
import htcondor2
import pytest

from sitehub.htcondor.submit import (
    WRAPPER_PATH,
    GpuRequest,
    JobRequest,
    SubmitContext,
    UnsafeValue,
    build_submit,
    condor_arguments,
    env_file_text,
    job_environment,
    submit_commands,
)

CTX = SubmitContext(
    user="alice",
    job_dir="/home/alice/.sitehub/condor",
    command=["batchspawner-singleuser", "jupyterhub-singleuser", "--debug"],
)
REQ = JobRequest(accounting_group="group_atlas", cpus=4, memory_mb=8192, minutes=90)
IMAGE = "/cvmfs/unpacked.cern.ch/registry.hub.docker.com/atlas/analysisbase:latest"


def parsed(text: str) -> htcondor2.Submit:
    sub = htcondor2.Submit(text)
    assert len(sub) > 0
    return sub


def test_vanilla_description_reads_back_as_written():
    sub = parsed(build_submit(REQ, CTX))
    assert sub["universe"] == "vanilla"
    assert sub["executable"] == WRAPPER_PATH
    assert sub["accounting_group"] == "group_atlas"
    assert sub["accounting_group_user"] == "alice"
    assert sub.expand("request_cpus") == "4"
    assert sub.expand("request_memory") == "8192"
    assert sub.expand("allowed_execute_duration") == "5400"
    assert sub["getenv"] == "false"
    assert sub["transfer_input_files"] == "sitehub-job.env"
    assert sub["should_transfer_files"] == "YES"
    # the wrapper gets the env file first, then the batchspawner command
    assert sub["arguments"] == (
        '"sitehub-job.env batchspawner-singleuser jupyterhub-singleuser --debug"'
    )
    assert sub.expand("output") == "jupyterhub-alice.1.out"  # $(ClusterId) expanded
    for absent in ("request_gpus", "require_gpus", "container_image", "environment"):
        assert absent not in sub


def test_container_universe_and_gpu_by_capability():
    req = dataclasses.replace(REQ, image=IMAGE, gpu=GpuRequest("capability", "8.0"))
    sub = parsed(build_submit(req, CTX))
    assert sub["universe"] == "container"
    assert sub["container_image"] == IMAGE
    # the image is on the execute nodes: never copied from the hub host
    assert sub["transfer_container"] == "false"
    assert sub["request_gpus"] == "1"
    assert sub["require_gpus"] == "Capability >= 8.0"


def test_a_registry_image_is_left_to_htcondor():
    sub = parsed(build_submit(dataclasses.replace(REQ, image="docker://debian:13"), CTX))
    assert sub["container_image"] == "docker://debian:13"
    assert "transfer_container" not in dict(sub)


def test_gpu_by_device_name_is_a_quoted_classad_string():
    req = dataclasses.replace(REQ, gpu=GpuRequest("device", "NVIDIA A100-SXM4-40GB"))
    sub = parsed(build_submit(req, CTX))
    assert sub["require_gpus"] == 'DeviceName == "NVIDIA A100-SXM4-40GB"'


def test_any_gpu_requests_one_without_requirement():
    sub = parsed(build_submit(dataclasses.replace(REQ, gpu=GpuRequest("any")), CTX))
    assert sub["request_gpus"] == "1"
    assert "require_gpus" not in sub


def test_runtime_has_a_periodic_remove_fallback_past_the_grace():
    sub = parsed(build_submit(REQ, dataclasses.replace(CTX, grace_seconds=120)))
    expr = sub["periodic_remove"]
    assert "(time() - JobCurrentStartExecutingDate) > 5520" in expr
    assert "NumJobStarts > 0" in expr


def test_token_never_enters_the_description():
    env = {"JUPYTERHUB_API_TOKEN": "s3cret-token", "JUPYTERHUB_API_URL": "http://hub:8081"}
    text = build_submit(REQ, CTX)
    assert "s3cret" not in text
    assert "getenv = true" not in text.lower()
    assert "environment" not in text
    assert "s3cret-token" in env_file_text(env)


def test_site_extra_commands_are_added_but_cannot_override():
    ctx = dataclasses.replace(CTX, extra={"+ProjectName": '"atlas"', "request_disk": "1GB"})
    sub = parsed(build_submit(REQ, ctx))
    assert sub["MY.ProjectName"] == '"atlas"'
    assert sub["request_disk"] == "1GB"
    for key in ("accounting_group", "Request_Cpus", "queue", "getenv"):
        with pytest.raises(UnsafeValue, match=r"override|not allowed"):
            submit_commands(REQ, dataclasses.replace(CTX, extra={key: "x"}))
    with pytest.raises(UnsafeValue, match="spanning lines"):
        submit_commands(REQ, dataclasses.replace(CTX, extra={"request_disk": "1\nqueue 5"}))


BAD_TEXT = ["a\nqueue 100", 'a"b', "$(ENV(HOME))", "a b", "", "a;b", "x\r", "é"]
# arguments may hold these: they are quoted in HTCondor's argument syntax
QUOTED = {'a"b', "a b", "", "a;b"}


def argv_of(sub: htcondor2.Submit) -> list[str]:
    """The job's argv as HTCondor splits it: the submit file's outer double quotes removed
    and inner ones undoubled (condor_submit's documented rule, applied here), then
    HTCondor's own split (the ClassAd function argsToList)."""
    raw = sub["arguments"]
    assert raw.startswith('"') and raw.endswith('"')
    v2 = raw[1:-1].replace('""', '"')
    return classad2.ExprTree(f"argsToList({classad2.quote(v2)})").eval()


ARGV_CASES = [
    [
        "--ServerApp.tornado_settings="
        + json.dumps({"headers": {"Content-Security-Policy": "frame-ancestors 'self' https://x"}})
    ],
    ["it's", 'say "hi"', "''", '""', "a  b", " lead", "trail "],
    ["", "--flag", ""],
    ["x=1,y=2", "/path/to/file", "%d", "@file", "a+b", "a:b"],
    ["back\\slash", "tick`id`", "semi;colon", "pipe|amp&", "{braces}", "(paren)", "#hash"],
]


@pytest.mark.parametrize("args", ARGV_CASES)
def test_arguments_arrive_as_given(args):
    ctx = dataclasses.replace(CTX, command=["/opt/venv/bin/batchspawner-singleuser", *args])
    sub = parsed(build_submit(REQ, ctx))
    assert argv_of(sub) == ["sitehub-job.env", "/opt/venv/bin/batchspawner-singleuser", *args]


def test_plain_arguments_stay_readable():
    assert condor_arguments(["a.env", "/bin/x", "--debug"]) == '"a.env /bin/x --debug"'
    assert condor_arguments(["it's a"]) == "\"'it''s a'\""


@pytest.mark.parametrize(
    "bad", ["$(ENV(HOME))", "$$(Name)", "a$b", "x\ny", "tab\there", "é", None, 5]
)
def test_arguments_that_cannot_be_carried_are_refused(bad):
    with pytest.raises(UnsafeValue):
        condor_arguments(["x", bad])


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(
    "field",
    ["accounting_group", "image", "capability", "device", "user", "job_dir", "arg", "env_file"],
)
def test_every_field_refuses_values_that_would_change_the_description(field, bad):
    req, ctx = REQ, CTX
    if field == "accounting_group":
        req = dataclasses.replace(REQ, accounting_group=bad)
    elif field == "image":
        req = dataclasses.replace(REQ, image="/images/" + bad if bad else "relative")
    elif field == "capability":
        req = dataclasses.replace(REQ, gpu=GpuRequest("capability", bad))
    elif field == "device":
        if bad in ("a b",):  # device names may hold spaces: "Tesla V100-SXM2-32GB"
            return
        req = dataclasses.replace(REQ, gpu=GpuRequest("device", bad))
    elif field == "user":
        ctx = dataclasses.replace(CTX, user=bad)
    elif field == "job_dir":
        ctx = dataclasses.replace(CTX, job_dir="/home/" + bad if bad else "home")
    elif field == "arg":
        ctx = dataclasses.replace(CTX, command=["jupyterhub-singleuser", bad])
        if bad in QUOTED:
            # quoted, not refused: HTCondor's parser gives the argument back unchanged
            assert argv_of(parsed(build_submit(req, ctx)))[-1] == bad
            return
    elif field == "env_file":
        ctx = dataclasses.replace(CTX, env_file=bad)
    with pytest.raises(UnsafeValue):
        build_submit(req, ctx)


@pytest.mark.parametrize(
    "req",
    [
        dataclasses.replace(REQ, cpus=0),
        dataclasses.replace(REQ, cpus=True),
        dataclasses.replace(REQ, cpus="4"),
        dataclasses.replace(REQ, memory_mb=-1),
        dataclasses.replace(REQ, minutes=0),
        dataclasses.replace(REQ, minutes=10**9),
        dataclasses.replace(REQ, gpu=GpuRequest("model", "x")),
    ],
)
def test_numbers_and_kinds_are_checked(req):
    with pytest.raises(UnsafeValue):
        build_submit(req, CTX)


def test_job_environment_keeps_only_what_the_server_needs():
    env = {
        "JUPYTERHUB_API_TOKEN": "t",
        "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
        "JPY_API_TOKEN": "t",
        "HOME": "/home/alice",
        "PATH": "/usr/bin",
        "LD_PRELOAD": "/evil.so",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    assert sorted(job_environment(env)) == [
        "HOME",
        "JPY_API_TOKEN",
        "JUPYTERHUB_API_TOKEN",
        "JUPYTERHUB_SERVICE_PREFIX",
    ]


TRICKY = {
    "JUPYTERHUB_API_TOKEN": "tok'en\"$(touch pwned)`id` \\ ;&|<>*?~#\nsecond line",
    "JUPYTERHUB_OAUTH_SCOPES": '["access:servers!server=alice/", "read:users:activity"]',
    "JUPYTERHUB_EMPTY": "",
    "HOME": "/home/alice",
}


def test_env_file_is_read_verbatim_by_posix_sh(tmp_path):
    (tmp_path / "job.env").write_text(env_file_text(TRICKY))
    out = subprocess.run(
        [
            "/bin/sh",
            "-c",
            '. ./job.env && exec "$0" -c '
            '"import json, os, sys; json.dump(dict(os.environ), sys.stdout)"',
            "python3",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    assert {k: got.get(k) for k in TRICKY} == TRICKY
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("env", [{"BAD-NAME": "x"}, {"1X": "x"}, {"X": "a\0b"}, {"X": 1}])
def test_env_file_refuses_what_sh_cannot_carry(env):
    with pytest.raises(UnsafeValue):
        env_file_text(env)
