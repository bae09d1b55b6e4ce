"""sitehub.demo: the idempotence verdict read from the progress view's recap, and when a later
`up` has nothing to converge."""

import json

from sitehub.demo import converge_inputs_digest, nothing_to_converge, unexpected_changes


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


# ---- whether a later `up` has anything to converge ------------------------------------


def _tree(tmp_path):
    root = tmp_path / "repo"
    (root / "roles" / "frontend" / "tasks").mkdir(parents=True)
    (root / "roles" / "frontend" / "tasks" / "main.yml").write_text("---\n")
    (root / "ansible.cfg").write_text("[defaults]\n")
    inventory = root / "inventories" / "demo"
    (inventory / ".secrets" / "totp").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all: {}\n")
    (inventory / ".secrets" / "demo_user_password").write_text("first\n")
    return root, inventory


def test_digest_follows_roles_inventory_and_generated_secrets(tmp_path):
    root, inventory = _tree(tmp_path)
    first = converge_inputs_digest(inventory, root)
    assert converge_inputs_digest(inventory, root) == first
    (root / "roles" / "frontend" / "tasks" / "main.yml").write_text("---\n# edited\n")
    second = converge_inputs_digest(inventory, root)
    assert second != first
    (inventory / "hosts.yml").write_text("all: {hosts: {a: {}}}\n")
    third = converge_inputs_digest(inventory, root)
    assert third != second
    (inventory / ".secrets" / "demo_user_password").write_text("regenerated\n")
    assert converge_inputs_digest(inventory, root) != third


def test_digest_ignores_logins_and_its_own_record(tmp_path):
    root, inventory = _tree(tmp_path)
    before = converge_inputs_digest(inventory, root)
    (inventory / ".secrets" / "totp" / "alice.totp").write_text("KEY\n")
    (inventory / ".secrets" / "converged.json").write_text("{}\n")
    (root / "roles" / "frontend" / "__pycache__").mkdir()
    (root / "roles" / "frontend" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert converge_inputs_digest(inventory, root) == before


def test_nothing_to_converge_only_for_the_same_files_and_hosts(tmp_path):
    record = tmp_path / "converged.json"
    state = {"inputs": "abc", "hosts": {"demo-hub1": "id1", "demo-hub2": "id2"}}
    assert not nothing_to_converge(record, state)  # never converged
    record.write_text(json.dumps(state))
    assert nothing_to_converge(record, state)
    assert not nothing_to_converge(record, {**state, "inputs": "abd"})
    recreated = {"inputs": "abc", "hosts": {"demo-hub1": "id1", "demo-hub2": "id3"}}
    assert not nothing_to_converge(record, recreated)
    record.write_text(json.dumps({"inputs": "abc", "hosts": {"demo-hub1": "", "demo-hub2": ""}}))
    assert not nothing_to_converge(
        record, {"inputs": "abc", "hosts": {"demo-hub1": "", "demo-hub2": ""}}
    )
    record.write_text("not json")
    assert not nothing_to_converge(record, state)
