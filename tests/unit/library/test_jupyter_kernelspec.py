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
