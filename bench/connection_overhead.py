"""What a task costs on a podman test host: containers.podman.podman versus sitehub_podman
(the same plugin with pipelining and mount-on-demand), in one run, as a ratio.

Runs one small playbook against existing test hosts (default: two of the demo's) with each
connection in turn, alternating round by round so both see the same machine load. The
playbook is what a no-op converge mostly is: module tasks that report ok (stat, a file
already in place, a command that changes nothing) plus one copy and one fetch (the file
transfer paths). Prints the medians and writes artifacts/bench/connection_overhead.json.

Usage: python bench/connection_overhead.py [--hosts demo-c1,demo-c2] [--rounds 3] [--tasks 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = ("containers.podman.podman", "sitehub_podman")


def playbook(hosts: str, tasks: int, scratch: str) -> str:
    return f"""
- name: Connection overhead
  hosts: {hosts}
  gather_facts: false
  tasks:
    - name: Stat a file
      ansible.builtin.stat:
        path: /etc/os-release
      loop: "{{{{ range({tasks}) | list }}}}"
    - name: A file already in place
      ansible.builtin.file:
        path: /tmp
        state: directory
    - name: A command that changes nothing
      ansible.builtin.command: "true"
      changed_when: false
    - name: Copy a file
      ansible.builtin.copy:
        content: "connection overhead bench\\n"
        dest: /tmp/sitehub-connection-bench
        mode: "0644"
    - name: Fetch a file
      ansible.builtin.fetch:
        src: /etc/os-release
        dest: "{scratch}/"
"""


def run_once(book: Path, connection: str, inventory: str) -> float:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        CONTAINERS_CONF=str(ROOT / "molecule" / "shared" / "containers.conf"),
    )
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        inventory,
        str(book),
        "-e",
        f"ansible_connection={connection}",
    ]
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{connection}: playbook failed\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default=str(ROOT / "inventories" / "demo"))
    parser.add_argument("--hosts", default="demo-c1,demo-c2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=20, help="stat tasks per host per run")
    default_out = ROOT / "artifacts" / "bench" / "connection_overhead.json"
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args()

    hosts = [h for h in args.hosts.split(",") if h]
    per_run = args.tasks + 4
    times: dict[str, list[float]] = {c: [] for c in CONNECTIONS}
    with tempfile.TemporaryDirectory() as scratch:
        book = Path(scratch) / "bench.yml"
        book.write_text(playbook(",".join(hosts), args.tasks, scratch), encoding="utf-8")
        for round_no in range(1, args.rounds + 1):
            for connection in CONNECTIONS:
                elapsed = run_once(book, connection, args.inventory)
                times[connection].append(elapsed)
                print(f"round {round_no}: {connection:26s} {elapsed:6.1f} s", flush=True)

    medians = {c: statistics.median(t) for c, t in times.items()}
    base, piped = medians[CONNECTIONS[0]], medians[CONNECTIONS[1]]
    per_task = {c: m / (per_run * len(hosts)) for c, m in medians.items()}
    result = {
        "hosts": hosts,
        "rounds": args.rounds,
        "tasks_per_host": per_run,
        "seconds": times,
        "median_seconds": medians,
        "median_seconds_per_task_and_host": per_task,
        "ratio_pipelined_to_collection": piped / base,
        "load_average": os.getloadavg(),
    }
    print()
    for connection in CONNECTIONS:
        print(
            f"{connection:26s} median {medians[connection]:6.1f} s "
            f"({per_task[connection] * 1000:.0f} ms per task and host)"
        )
    print(f"sitehub_podman / containers.podman.podman: {piped / base:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
