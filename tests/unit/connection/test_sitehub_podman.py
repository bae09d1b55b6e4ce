"""sitehub_podman: what it asks podman to do (a recording podman executable stands in for
the CLI; the demo and the molecule scenarios use the plugin against real containers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ansible_collections.containers.podman")

from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader

from sitehub.connection import sitehub_podman

Connection = sitehub_podman.Connection
# as ansible.cfg's connection_plugins does: the loader reads the plugin's option docs
connection_loader.add_directory(str(Path(sitehub_podman.__file__).parent))

RECORDER = """#!/usr/bin/env python3
import json, os, sys
log = os.environ["PODMAN_LOG"]
data = sys.stdin.read()
with open(log, "a") as handle:
    handle.write(json.dumps({"argv": sys.argv[1:], "stdin": data}) + "\\n")
if sys.argv[1] == "mount":
    print(os.environ["PODMAN_MOUNT"])
"""


@pytest.fixture
def podman(tmp_path: Path, monkeypatch) -> Path:
    exe = tmp_path / "podman"
    exe.write_text(RECORDER, encoding="utf-8")
    exe.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    mount = tmp_path / "rootfs"
    (mount / "etc").mkdir(parents=True)
    (mount / "etc" / "os-release").write_text("ID=debian\n", encoding="utf-8")
    monkeypatch.setenv("PODMAN_LOG", str(log))
    monkeypatch.setenv("PODMAN_MOUNT", str(mount))
    return exe


def _connection(podman: Path, user: str | None = None) -> Connection:
    context = PlayContext()
    context.remote_addr = "demo-c1"
    if user:
        context.remote_user = user
    conn = connection_loader.get("sitehub_podman", context, None)
    conn.set_options(var_options={"ansible_podman_executable": str(podman)})
    return conn


def _calls(podman: Path) -> list[dict]:
    log = podman.parent / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_pipelining_is_allowed() -> None:
    assert Connection.has_pipelining is True


def test_a_module_on_stdin_is_one_interactive_exec_and_no_mount(podman: Path) -> None:
    conn = _connection(podman)
    rc, _, _ = conn.exec_command("/usr/bin/python3 && sleep 0", in_data=b"MODULE")
    assert rc == 0
    calls = _calls(podman)
    assert len(calls) == 1
    assert calls[0]["argv"] == [
        "exec",
        "--interactive",
        "demo-c1",
        "/usr/bin/python3",
        "&&",
        "sleep",
        "0",
    ]
    assert calls[0]["stdin"] == "MODULE"


def test_a_plain_command_does_not_attach_stdin(podman: Path) -> None:
    _connection(podman, user="alice").exec_command("echo ~")
    (call,) = _calls(podman)
    assert call["argv"] == ["exec", "--user", "alice", "demo-c1", "echo", "~"]


def test_files_go_through_one_mount(podman: Path, tmp_path: Path) -> None:
    conn = _connection(podman)
    source = tmp_path / "payload"
    source.write_text("payload\n", encoding="utf-8")
    conn.put_file(str(source), "/etc/payload")
    conn.fetch_file("/etc/os-release", str(tmp_path / "fetched"))
    mounts = [c for c in _calls(podman) if c["argv"][0] == "mount"]
    assert len(mounts) == 1
    rootfs = Path(tmp_path / "rootfs")
    assert (rootfs / "etc" / "payload").read_text(encoding="utf-8") == "payload\n"
    assert (tmp_path / "fetched").read_text(encoding="utf-8") == "ID=debian\n"
