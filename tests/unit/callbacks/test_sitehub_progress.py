"""The operator progress view's failure lines (sitehub.callbacks.sitehub_progress)."""

import json

import pytest

pytest.importorskip("ansible")

from sitehub.callbacks.sitehub_progress import failure_message


def test_loop_failure_names_each_failed_item_and_its_own_message():
    res = {
        "msg": "One or more items failed",
        "results": [
            {"item": {"src": "a"}, "_ansible_item_label": "setup.sh", "changed": True},
            {
                "_ansible_item_label": "demo_stack.py",
                "failed": True,
                "msg": "Destination directory /opt/x does not exist",
            },
        ],
    }
    assert failure_message(res) == (
        "item demo_stack.py: Destination directory /opt/x does not exist"
    )


def test_plain_failure_uses_msg_then_stderr():
    assert failure_message({"msg": "boom"}) == "boom"
    assert failure_message({"stderr": "no such file", "rc": 1}) == "no such file"


class _Stats:
    def __init__(self):
        self.processed = {"h1": 1}

    def summarize(self, host):
        return {"ok": 3, "changed": 1, "failures": 0, "unreachable": 0}


class _Named:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class _Result:
    def __init__(self, host, task, changed):
        self.host, self.task = _Named(host), _Named(task)
        self.result = {"changed": changed}


def test_recap_lists_each_changed_task_with_its_layer_and_host(tmp_path, monkeypatch):
    from sitehub.callbacks.sitehub_progress import CallbackModule

    recap_file = tmp_path / "recap.json"
    monkeypatch.setenv("SITEHUB_PROGRESS_RECAP", str(recap_file))
    callback = CallbackModule()
    callback._display.display = lambda *a, **k: None
    callback.tty = False
    callback.layer = "Hubs"
    callback.layers.append({"name": "Hubs", "elapsed": 0.0})
    callback.v2_runner_on_ok(_Result("h1", "Write the hub config", changed=True))
    callback.v2_runner_on_ok(_Result("h1", "Read the config", changed=False))
    callback.v2_playbook_on_stats(_Stats())
    recap = json.loads(recap_file.read_text())
    assert recap["changed_tasks"] == [
        {"layer": "Hubs", "host": "h1", "task": "Write the hub config"}
    ]
    assert recap["layers"][0]["name"] == "Hubs"
    assert recap["layers"][0]["changed"] == 1 and recap["layers"][0]["ok"] == 1
    assert recap["hosts"]["h1"]["changed"] == 1
