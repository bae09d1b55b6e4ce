"""Run a playbook from a test and read its PLAY RECAP (changed/failed per host).

Scenario tests use it to converge part of a scenario again after something happened on the
hosts (a user enrolled TOTP, an instance restarted) and to check the run changed nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")
# colour codes, in case the caller's environment forces colour on (molecule does)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """{host: {"ok": n, "changed": n, ...}} from the last PLAY RECAP in ``output``."""
    _, marker, tail = _ANSI.sub("", output).rpartition("PLAY RECAP")
    if not marker:
        raise ValueError("no PLAY RECAP in the playbook output")
    result: dict[str, dict[str, int]] = {}
    for line in tail.splitlines()[1:]:
        match = _RECAP_LINE.match(line.strip())
        if not match:
            if result:
                break  # the recap ended (timer callbacks and the like follow)
            continue
        counts = dict(item.split("=") for item in match["counts"].split())
        result[match["host"]] = {key: int(value) for key, value in counts.items()}
    if not result:
        raise ValueError("the PLAY RECAP lists no host")
    return result


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, dict[str, int]]

    def changed(self, host: str | None = None) -> int:
        hosts = [host] if host else list(self.recap)
        return sum(self.recap[h]["changed"] for h in hosts)

    def failed(self) -> int:
        return sum(c.get("failed", 0) + c.get("unreachable", 0) for c in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """The task headers followed by a "changed:" line (for the failure message)."""
        tasks, current = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line
            elif line.startswith("changed:") and current and current not in tasks:
                tasks.append(current)
        return tasks


def ansible_playbook() -> str:
    """ansible-playbook next to this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise FileNotFoundError("ansible-playbook not found")
    return found


def run_playbook(
    playbook: str | Path,
    *,
    inventories: Iterable[str],
    tags: Iterable[str] = (),
    limit: Iterable[str] = (),
    extra_vars_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> PlaybookRun:
    argv = [ansible_playbook()]
    for inventory in inventories:
        argv += ["-i", str(inventory)]
    if tags:
        argv += ["--tags", ",".join(tags)]
    if limit:
        argv += ["--limit", ",".join(limit)]
    if extra_vars_file is not None:
        argv += ["-e", f"@{extra_vars_file}"]
    argv.append(str(playbook))
    run_env = dict(os.environ if env is None else env)
    # the recap is read from the default output, whatever the caller's callback settings
    run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.default"
    run_env["ANSIBLE_NOCOLOR"] = "1"
    run_env["ANSIBLE_FORCE_COLOR"] = "0"
    done = subprocess.run(
        argv,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    try:
        recap = parse_recap(done.stdout)
    except ValueError as exc:
        raise RuntimeError(f"{exc}; exit {done.returncode}:\n{output[-4000:]}") from None
    return PlaybookRun(done.returncode, output, recap)
