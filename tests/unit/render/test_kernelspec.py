import json
import os
import shlex
import subprocess
import sys

import pytest

from sitehub.inventory.model import Kernel
from sitehub.render.container import container_argv
from sitehub.render.kernelspec import render_kernel

HOSTILE = 'it\'s a "quoted" $(touch pwned) `x` Ümlaut ✓'


def install(tmp_path, kernel, **kwargs):
    spec = render_kernel(kernel, kernels_dir=str(tmp_path), **kwargs)
    folder = tmp_path / kernel.name
    folder.mkdir()
    for name, text in spec.files().items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "launch").chmod(0o755)
    return spec, folder


def test_kernel_json_points_at_launcher_and_keeps_unicode(tmp_path):
    kernel = Kernel(name="atlas", display_name='ATLAS ✓ "test"', language="python")
    spec = render_kernel(kernel, kernels_dir="/k")
    data = json.loads(spec.kernel_json)
    assert data["argv"] == ["/k/atlas/launch", "-f", "{connection_file}"]
    assert data["display_name"] == 'ATLAS ✓ "test"'
    assert data["language"] == "python"


def test_launcher_sources_setup_sets_env_and_execs(tmp_path):
    software = tmp_path / "sw dir"
    software.mkdir()
    setup = software / "setup it's.sh"
    setup.write_text(
        'export STACK_ARGS="$*"\nexport PATH="/opt/stack/bin:$PATH"\n'
        "export PYTHONPATH=/opt/stack/python\n",
        encoding="utf-8",
    )
    kernel = Kernel(
        name="stack",
        display_name="Stack",
        setup_scripts=[str(setup)],
        setup_args={str(setup): ["--release", HOSTILE]},
        env={"HOSTILE": HOSTILE},
        unset=["DROP_ME"],
        argv=[
            sys.executable,
            "-c",
            "import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in "
            "('HOSTILE', 'STACK_ARGS', 'PYTHONPATH', 'DROP_ME')} | {'argv': sys.argv[1:]}))",
        ],
    )
    _, folder = install(tmp_path, kernel)
    env = dict(os.environ, DROP_ME="still here")
    out = subprocess.run(
        [str(folder / "launch"), "-f", "conn file.json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert seen["HOSTILE"] == HOSTILE
    assert seen["STACK_ARGS"] == f"--release {HOSTILE}"
    assert seen["PYTHONPATH"] == "/opt/stack/python"
    assert seen["DROP_ME"] is None
    assert seen["argv"] == ["-f", "conn file.json"]
    assert not (tmp_path / "pwned").exists()


def test_launcher_execs_so_signals_reach_the_kernel(tmp_path):
    kernel = Kernel(name="k", display_name="K", argv=["bash", "-c", 'echo "$$"'])
    _, folder = install(tmp_path, kernel)
    proc = subprocess.Popen([str(folder / "launch")], stdout=subprocess.PIPE, text=True)
    printed = proc.stdout.read().strip()
    proc.wait()
    # exec replaces the launcher: the kernel has the launcher's own pid
    assert printed == str(proc.pid)


def test_broken_setup_fails_with_its_own_message(tmp_path):
    setup = tmp_path / "broken.sh"
    setup.write_text('echo "stack release 9 not found" >&2\nreturn 3\n', encoding="utf-8")
    kernel = Kernel(name="broken", display_name="B", setup_scripts=[str(setup)], argv=["true"])
    _, folder = install(tmp_path, kernel)
    out = subprocess.run([str(folder / "launch")], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert "stack release 9 not found" in out.stderr
    assert "setup script" in out.stderr and "broken.sh" in out.stderr


@pytest.mark.parametrize("runtime", ["apptainer", "podman"])
def test_container_kernels_exec_the_runtime_with_the_connection_dir_bound(tmp_path, runtime):
    # a fake runtime on PATH records the argv the launcher execs
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv"
    fake = bindir / runtime
    fake.write_text(f'#!/bin/bash\nprintf "%s\\0" "$$" "$@" > {shlex.quote(str(record))}\n')
    fake.chmod(0o755)
    runtime_dir = tmp_path / "run time"
    runtime_dir.mkdir()
    kernel = Kernel(
        name="c",
        display_name="C",
        image="/images/x.sif",
        env={"MARK": HOSTILE},
        argv=["python3", "-m", "ipykernel_launcher"],
    )
    _, folder = install(
        tmp_path,
        kernel,
        container_runtime=runtime,
        bind_paths=("/data",),
        container_options=("--opt",),
    )
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    proc = subprocess.Popen(
        [str(folder / "launch"), "-f", str(runtime_dir / "kernel-1.json")], env=env
    )
    assert proc.wait(timeout=10) == 0
    pid, *argv = record.read_bytes().decode().split("\0")[:-1]
    assert pid == str(proc.pid)  # exec'd: the runtime is the launcher's own process
    expected = container_argv(
        runtime,
        "/images/x.sif",
        ["python3", "-m", "ipykernel_launcher", "-f", str(runtime_dir / "kernel-1.json")],
        binds=["/data", f"{runtime_dir}:{runtime_dir}"],
        pass_env=["MARK"] if runtime == "podman" else (),
        options=["--opt"],
    )
    assert argv == expected[1:]


def test_container_kernel_refuses_a_connection_dir_binds_cannot_carry(tmp_path):
    kernel = Kernel(name="c", display_name="C", image="localhost/x", argv=["python3"])
    _, folder = install(tmp_path, kernel, container_runtime="podman")
    bad = tmp_path / "a,b"
    bad.mkdir()
    out = subprocess.run(
        [str(folder / "launch"), "-f", str(bad / "k.json")],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert out.returncode == 1
    assert "connection file directory" in out.stderr and "a,b" in out.stderr


@pytest.mark.parametrize("bad", ["../etc", "a b", "", "-x"])
def test_hostile_kernel_names_are_refused(bad):
    with pytest.raises(ValueError):
        Kernel(name=bad, display_name="x")


def test_bad_env_names_are_refused():
    with pytest.raises(ValueError, match="environment variable"):
        Kernel(name="k", display_name="K", env={"A-B": "1"})
    with pytest.raises(ValueError, match="environment variable"):
        Kernel(name="k", display_name="K", unset=["$(x)"])
