"""vars_plugins/sitehub_vault_files.py: an undecryptable vault file is named, nothing loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleParserError
from ansible.inventory.group import Group
from ansible.inventory.host import Host
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import AnsibleVaultError, VaultLib, VaultSecret

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = b"vars-plugin-test"


@pytest.fixture
def plugin():
    spec = importlib.util.spec_from_file_location(
        "sitehub_vault_files", ROOT / "vars_plugins/sitehub_vault_files.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def inventory(tmp_path) -> Path:
    """group_vars/all/: a plain file and a vault-encrypted one; host_vars/h1 encrypted too."""
    vault = VaultLib([("default", VaultSecret(PASSWORD))])
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1:\n")
    folder = tmp_path / "group_vars" / "all"
    folder.mkdir(parents=True)
    (folder / "plain.yml").write_text("plain: 1\n")
    (folder / "vault.yml").write_bytes(vault.encrypt("secret: 2\n"))
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "h1.yml").write_bytes(vault.encrypt("host_secret: 3\n"))
    return tmp_path


def loader(password: bytes | None) -> DataLoader:
    result = DataLoader()
    if password is not None:
        result.set_vault_secrets([("default", VaultSecret(password))])
    return result


def test_without_password_names_the_file_and_how_to_give_it(plugin, inventory, monkeypatch):
    monkeypatch.chdir(inventory)
    with pytest.raises(AnsibleParserError) as caught:
        plugin.VarsModule().get_vars(loader(None), str(inventory), [Group("all")])
    message = caught.value._original_message
    assert message.startswith("group_vars/all/vault.yml: this inventory file is vault-encrypted")
    assert "--vault-password-file" in message and "--ask-vault-pass" in message
    assert isinstance(caught.value.__cause__, AnsibleVaultError)  # Ansible prints it below


def test_wrong_password_names_the_host_vars_file(plugin, inventory):
    with pytest.raises(AnsibleParserError, match=r"host_vars/h1\.yml: this inventory file"):
        plugin.VarsModule().get_vars(loader(b"wrong"), str(inventory), [Host("h1")])


def test_with_password_loads_nothing_itself(plugin, inventory):
    entities = [Group("all"), Host("h1")]
    assert plugin.VarsModule().get_vars(loader(PASSWORD), str(inventory), entities) == {}


def test_checks_each_entity_once_per_process(plugin, inventory):
    plugin.VarsModule().get_vars(loader(PASSWORD), str(inventory), [Group("all")])
    # the check is cached: a second call with no secrets does not decrypt again
    assert plugin.VarsModule().get_vars(loader(None), str(inventory), [Group("all")]) == {}


def test_enabled_before_host_group_vars():
    cfg = (ROOT / "ansible.cfg").read_text()
    assert "vars_plugins_enabled = sitehub_vault_files, host_group_vars" in cfg
