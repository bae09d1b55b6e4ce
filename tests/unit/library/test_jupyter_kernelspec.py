"""The jupyter_kernelspec module and kernels role, run for real by ansible-playbook on localhost."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def play(tmp_path, kernels, *extra, prune=True):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        textwrap.dedent(
            f"""\
            - hosts: localhost
              connection: local
              gather_facts: false
              roles:
                - role: kernels
                  kernels_dir: {tmp_path / "kernels"}
                  kernels_prune: {str(prune).lower()}
                  kernels_list: {json.dumps(kernels)}
            """
        )
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            str(playbook),
            "-e",
            f"ansible_python_interpreter={BIN / 'python'}",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    result = json.loads(out.stdout) if out.stdout.startswith("{") else None
    return out, result


def changed(result):
    return result["stats"]["localhost"]["changed"]


KERNELS = [
    {"name": "demo-stack", "display_name": "Demo ✓ it's", "env": {"A": "x y"}},
    {"name": "plain", "display_name": "Plain"},
]


@pytest.mark.slow
def test_install_is_idempotent_check_mode_changes_nothing_and_prune_removes(tmp_path):
    out, result = play(tmp_path, KERNELS, "--check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert changed(result) == 1
    assert not (tmp_path / "kernels").exists()  # check mode wrote nothing

    out, result = play(tmp_path, KERNELS)
    assert out.returncode == 0 and changed(result) == 1
    spec = json.loads((tmp_path / "kernels/demo-stack/kernel.json").read_text())
    assert spec["display_name"] == "Demo ✓ it's"
    assert os.access(tmp_path / "kernels/demo-stack/launch", os.X_OK)

    out, result = play(tmp_path, KERNELS)
    assert changed(result) == 0  # idempotent

    foreign = tmp_path / "kernels/foreign"
    foreign.mkdir()
    (foreign / "kernel.json").write_text("{}")
    out, result = play(tmp_path, KERNELS[:1])
    assert changed(result) == 1
    assert not (tmp_path / "kernels/plain").exists()  # pruned: installed by us, now unlisted
    assert foreign.exists()  # never touch kernels we did not install


@pytest.mark.slow
def test_hostile_names_fail_with_a_clear_message(tmp_path):
    out, _ = play(tmp_path, [{"name": "../../etc", "display_name": "x"}])
    assert out.returncode != 0
    assert "not a valid name" in out.stdout
    assert not (tmp_path / "etc").exists()


# ---- the module alone, as Ansible runs it (args file), without a playbook --------------

MODULE = ROOT / "library" / "jupyter_kernelspec.py"


def run_module(tmp_path, kernels, *, check=False, prune=False, kernels_dir=None):
    args = {
        "ANSIBLE_MODULE_ARGS": {
            "kernels_dir": str(kernels_dir or tmp_path / "kernels"),
            "kernels": kernels,
            "prune": prune,
            "_ansible_check_mode": check,
            "_ansible_diff": True,
        }
    }
    argsfile = tmp_path / "args.json"
    argsfile.write_text(json.dumps(args))
    out = subprocess.run(
        [sys.executable, str(MODULE), str(argsfile)], capture_output=True, text=True, timeout=60
    )
    return json.loads(out.stdout)


def spec(name, launch="#!/bin/sh\nexec true\n", **extra):
    return {"name": name, "files": {"kernel.json": '{"argv": []}\n', "launch": launch, **extra}}


def test_module_check_mode_reports_a_diff_and_writes_nothing(tmp_path):
    result = run_module(tmp_path, [spec("a")], check=True)
    assert result["changed"] and result["installed"] == ["a"]
    assert "+++ " + str(tmp_path / "kernels/a/launch") in result["diff"]["after"]
    assert not (tmp_path / "kernels").exists()


def test_module_update_is_idempotent_and_sets_modes(tmp_path):
    assert run_module(tmp_path, [spec("a")])["changed"]
    launch = tmp_path / "kernels/a/launch"
    assert oct(launch.stat().st_mode & 0o777) == "0o755"
    assert oct((tmp_path / "kernels/a/kernel.json").stat().st_mode & 0o777) == "0o644"
    assert not run_module(tmp_path, [spec("a")])["changed"]
    # a mode drift alone is a change, and is repaired
    launch.chmod(0o700)
    assert run_module(tmp_path, [spec("a")])["changed"]
    assert oct(launch.stat().st_mode & 0o777) == "0o755"
    # a new launcher: the diff shows old and new text
    result = run_module(tmp_path, [spec("a", launch="#!/bin/sh\nexec false\n")], check=True)
    assert "exec true" in result["diff"]["before"] and "exec false" in result["diff"]["after"]
    assert "exec true" in launch.read_text()  # check mode


def test_module_removes_files_a_kernel_no_longer_has(tmp_path):
    run_module(tmp_path, [spec("a", **{"logo-64x64.png": "x"})])
    assert (tmp_path / "kernels/a/logo-64x64.png").exists()
    result = run_module(tmp_path, [spec("a")])
    assert result["changed"]
    assert not (tmp_path / "kernels/a/logo-64x64.png").exists()


def test_module_prunes_only_its_own_unlisted_kernels_and_only_when_asked(tmp_path):
    run_module(tmp_path, [spec("a"), spec("b")])
    foreign = tmp_path / "kernels/python3"
    foreign.mkdir()
    (foreign / "kernel.json").write_text("{}")
    result = run_module(tmp_path, [spec("a")])
    assert not result["changed"] and (tmp_path / "kernels/b").exists()  # prune not asked
    result = run_module(tmp_path, [spec("a")], prune=True, check=True)
    assert result["removed"] == ["b"] and (tmp_path / "kernels/b").exists()  # check mode
    result = run_module(tmp_path, [spec("a")], prune=True)
    assert result["removed"] == ["b"] and not (tmp_path / "kernels/b").exists()
    assert foreign.exists()


@pytest.mark.parametrize(
    "name,message",
    [
        ("../../etc", "kernel name '../../etc' is not allowed"),
        ("a/b", "kernel name 'a/b' is not allowed"),
        (".hidden", "kernel name '.hidden' is not allowed"),
        ("..", "kernel name '..' is not allowed"),
        ("-rf", "kernel name '-rf' is not allowed"),
        ("a b", "kernel name 'a b' is not allowed"),
        ("a\nb", "is not allowed"),
        ("x" * 101, "up to 100"),
    ],
)
def test_module_refuses_hostile_kernel_names(tmp_path, name, message):
    result = run_module(tmp_path, [spec("ok"), spec(name)])
    assert result.get("failed"), result
    assert message in result["msg"]
    # refused before anything was written, the good kernel included
    assert not (tmp_path / "kernels").exists()


@pytest.mark.parametrize("filename", ["../launch", ".sitehub", "a/b", ".bashrc", ""])
def test_module_refuses_hostile_file_names(tmp_path, filename):
    result = run_module(tmp_path, [spec("a", **{filename: "x"})])
    assert result.get("failed") and "file name" in result["msg"]
    assert not (tmp_path / "kernels").exists()


def test_module_refuses_duplicates_and_symlinks(tmp_path):
    result = run_module(tmp_path, [spec("a"), spec("a")])
    assert result.get("failed") and "listed twice" in result["msg"]
    (tmp_path / "kernels").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "kernels/a").symlink_to(elsewhere)
    result = run_module(tmp_path, [spec("a")])
    assert result.get("failed") and "symlink" in result["msg"]
    assert list(elsewhere.iterdir()) == []
