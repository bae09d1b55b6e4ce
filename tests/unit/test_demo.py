"""sitehub.demo: the idempotence verdict read from the progress view's recap."""

import json

from sitehub.demo import unexpected_changes


def test_changed_tasks_are_named_layer_host_task(tmp_path):
    recap = tmp_path / "recap.json"
    recap.write_text(
        json.dumps({"changed_tasks": [{"layer": "Hubs", "host": "demo-hub1", "task": "Restart"}]})
    )
    assert unexpected_changes(recap) == ["Hubs / demo-hub1 / Restart"]


def test_no_changed_task_is_idempotent(tmp_path):
    recap = tmp_path / "recap.json"
    recap.write_text(json.dumps({"changed_tasks": []}))
    assert unexpected_changes(recap) == []


def test_a_missing_recap_is_not_taken_for_no_change(tmp_path):
    (problem,) = unexpected_changes(tmp_path / "absent.json")
    assert "no readable recap" in problem
