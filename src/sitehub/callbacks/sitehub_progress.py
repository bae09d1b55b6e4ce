"""Ansible stdout callback: a concise progress view for operators.

One line when a layer (play) starts, one per changed or failed task, a live
status line on a terminal, and a summary table at the end, instead of pages of
raw task output. Enabled by `sitehub deploy` / `make demo`
(ANSIBLE_STDOUT_CALLBACK=sitehub_progress). With SITEHUB_PROGRESS_RECAP=FILE it also
writes the summary as JSON (layers, every changed task, per-host counts), which
`sitehub demo up --expect-unchanged` reads to prove a second converge changed nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: sitehub_progress
    type: stdout
    short_description: concise layer/host/elapsed progress and a final summary
    description:
      - Prints each play as a layer with its elapsed time, changed and failed tasks
        as single lines, and a per-layer summary at the end.
    requirements:
      - set as stdout callback
"""


def failure_message(res: dict) -> str:
    """What went wrong, in one line; for a loop, each failed item's own message (Ansible's
    own summary, "One or more items failed", tells an operator nothing)."""
    items = [r for r in res.get("results") or () if isinstance(r, dict) and r.get("failed")]
    if items:
        return "; ".join(
            f"item {r.get('_ansible_item_label', r.get('item'))}: {failure_message(r)}"
            for r in items
        )
    return str(res.get("msg") or res.get("stderr") or res.get("module_stderr") or res)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "sitehub_progress"

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.layer = "-"
        self.layer_started = self.started
        self.layers: list[dict] = []
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.failures: list[str] = []
        self.changed_tasks: list[dict] = []
        self.tty = sys.stdout.isatty()

    # --- helpers -------------------------------------------------------------------
    def _clock(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def _line(self, text: str) -> None:
        if self.tty:
            sys.stdout.write("\r\033[K")
        self._display.display(f"[{self._clock()}] {text}")

    def _status(self, text: str) -> None:
        if self.tty:
            sys.stdout.write(f"\r\033[K[{self._clock()}] {text[:110]}")
            sys.stdout.flush()

    def _close_layer(self) -> None:
        if self.layers:
            self.layers[-1]["elapsed"] = time.monotonic() - self.layer_started

    # --- events --------------------------------------------------------------------
    def v2_playbook_on_play_start(self, play) -> None:
        self._close_layer()
        self.layer = play.get_name().strip() or "play"
        self.layer_started = time.monotonic()
        hosts = ", ".join(play.hosts) if isinstance(play.hosts, list) else str(play.hosts)
        self.layers.append({"name": self.layer, "elapsed": 0.0})
        self._line(f"== {self.layer}  ({hosts})")

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._status(f"{self.layer}: {task.get_name()}")

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._status(f"{self.layer}: handler {task.get_name()}")

    def _count(self, result, kind: str) -> None:
        self.counts[self.layer][kind] += 1

    def v2_runner_on_ok(self, result) -> None:
        if result.result.get("changed"):
            self._count(result, "changed")
            self.changed_tasks.append(
                {
                    "layer": self.layer,
                    "host": result.host.get_name(),
                    "task": result.task.get_name(),
                }
            )
            self._line(f"   changed  {result.host.get_name():20s} {result.task.get_name()}")
        else:
            self._count(result, "ok")
        for message in result.result.get("warnings") or ():
            self._line(f"   warning  {result.host.get_name():20s} {message}")

    def v2_runner_on_skipped(self, result) -> None:
        self._count(result, "skipped")

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        if ignore_errors:
            self._count(result, "ok")
            return
        self._count(result, "failed")
        message = failure_message(result.result)
        text = f"{result.host.get_name()}: {result.task.get_name()}: {message}"
        self.failures.append(text)
        self._line(f"   FAILED   {text}")

    def v2_runner_on_unreachable(self, result) -> None:
        self._count(result, "failed")
        text = f"{result.host.get_name()}: unreachable: {result.result.get('msg')}"
        self.failures.append(text)
        self._line(f"   UNREACHABLE {text}")

    def v2_playbook_on_stats(self, stats) -> None:
        self._close_layer()
        if self.tty:
            sys.stdout.write("\r\033[K")
        self._display.display("\nSummary")
        self._display.display(f"  {'layer':40s} {'time':>7s} {'changed':>8s} {'failed':>7s}")
        for layer in self.layers:
            counts = self.counts[layer["name"]]
            self._display.display(
                f"  {layer['name'][:40]:40s} {layer['elapsed']:6.0f}s "
                f"{counts['changed']:8d} {counts['failed']:7d}"
            )
        total_changed = sum(c["changed"] for c in self.counts.values())
        self._display.display(
            f"  {'total':40s} {time.monotonic() - self.started:6.0f}s {total_changed:8d} "
            f"{len(self.failures):7d}"
        )
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            self._display.display(
                f"  {host:30s} ok={summary['ok']} changed={summary['changed']} "
                f"failed={summary['failures']} unreachable={summary['unreachable']}"
            )
        for failure in self.failures:
            self._display.display(f"FAILED: {failure}")
        recap = os.environ.get("SITEHUB_PROGRESS_RECAP")
        if recap:
            write_recap(recap, self.recap(stats))

    def recap(self, stats) -> dict:
        return {
            "elapsed": round(time.monotonic() - self.started, 1),
            "layers": [
                {
                    "name": layer["name"],
                    "elapsed": round(layer["elapsed"], 1),
                    **self.counts[layer["name"]],
                }
                for layer in self.layers
            ],
            "changed_tasks": self.changed_tasks,
            "failures": self.failures,
            "hosts": {host: stats.summarize(host) for host in sorted(stats.processed)},
        }


def write_recap(path: str, recap: dict) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(recap, out, indent=2)
        out.write("\n")
