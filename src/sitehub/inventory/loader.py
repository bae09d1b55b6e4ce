"""Load a site inventory exactly as ansible-playbook does, keeping where each value came from.

ansible-core (2.19+) tags every value it reads from YAML with its origin
(file, line, column). We keep those tags so that each problem can name the
file and line an operator has to edit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitehub.inventory.model import SITE_VARIABLES

VAULT_HEADER = b"$ANSIBLE_VAULT"


@dataclass(frozen=True)
class Origin:
    path: str | None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return "<unknown file>"
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass
class LoadedInventory:
    """What validation needs: the site variables and the host inventory."""

    source: str
    site_vars: dict[str, Any]
    hosts: dict[str, set[str]]  # host -> groups
    variable_files: dict[str, str] = field(default_factory=dict)  # var -> file it was set in
    vaulted_variables: set[str] = field(default_factory=set)  # names whose value is vaulted
    problems: list[tuple[Origin, str, str]] = field(default_factory=list)  # (origin, key, message)


def origin_of(value: Any) -> Origin:
    """The file:line a value was read from, if ansible-core tagged it."""
    try:
        from ansible._internal._datatag._tags import Origin as AnsibleOrigin
    except ImportError:  # older ansible-core: no data tagging, no line numbers
        return Origin(None)
    tag = AnsibleOrigin.get_tag(value)
    if tag is None:
        return Origin(None)
    return Origin(tag.path, tag.line_num)


def is_vaulted(value: Any) -> bool:
    """True for an inline `!vault` value or a value read from a vault-encrypted file."""
    try:
        from ansible._internal._datatag._tags import VaultedValue
        from ansible.parsing.vault import EncryptedString
    except ImportError:
        return type(value).__name__ in ("AnsibleVaultEncryptedUnicode", "EncryptedString")
    if isinstance(value, EncryptedString) or VaultedValue.is_tagged_on(value):
        return True
    path = origin_of(value).path
    return bool(path) and is_vault_file(path)


def is_vault_file(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(VAULT_HEADER)) == VAULT_HEADER
    except OSError:
        return False


def _vault_secrets(loader: Any, password_files: list[str]) -> None:
    from ansible import constants as C
    from ansible.cli import CLI

    files = list(password_files)
    default_file = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE") or C.DEFAULT_VAULT_PASSWORD_FILE
    if not files and default_file:
        files = [default_file]
    secrets = CLI.setup_vault_secrets(
        loader,
        vault_ids=list(C.DEFAULT_VAULT_IDENTITY_LIST),
        vault_password_files=files,
        ask_vault_pass=False,
        auto_prompt=False,
        # The global context is set once per process and only serves on-demand
        # decryption of inline values, which validation never does.
        initialize_context=False,
    )
    loader.set_vault_secrets(secrets)


def load_inventory(source: str | os.PathLike[str], vault_password_files=()) -> LoadedInventory:
    """Read an inventory directory (or file) with Ansible's own loaders."""
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    source = str(source)
    if not Path(source).exists():
        raise FileNotFoundError(f"{source}: no such inventory")
    loader = DataLoader()
    _vault_secrets(loader, list(vault_password_files))
    result = LoadedInventory(source=source, site_vars={}, hosts={})
    try:
        inventory = InventoryManager(loader=loader, sources=[source])
        variables = VariableManager(loader=loader, inventory=inventory)
        hosts = inventory.get_hosts()
        for host in hosts:
            result.hosts[host.name] = {g.name for g in host.get_groups()}
        reference = hosts[0] if hosts else None
        host_vars = [(h, variables.get_vars(host=h)) for h in hosts]
    except AnsibleError as exc:
        result.problems.append((Origin(source), "(inventory)", f"Ansible cannot read it: {exc}"))
        return result
    if reference is None:
        result.problems.append((Origin(source), "(inventory)", "the inventory names no hosts"))
        return result
    result.vaulted_variables = {
        name for name, value in host_vars[0][1].items() if is_vaulted(value)
    }
    for name in SITE_VARIABLES:
        value = host_vars[0][1].get(name)
        if value is None:
            continue
        result.site_vars[name] = value
        where = origin_of(value)
        if where.path:
            result.variable_files[name] = where.path
        for host, hvars in host_vars:
            other = origin_of(hvars.get(name))
            if hvars.get(name) is not None and other.path != where.path:
                result.problems.append(
                    (
                        other,
                        name,
                        f"{name} is site-wide: set it once in group_vars/all, not for host "
                        f"'{host.name}' (it differs from {where})",
                    )
                )
                break
    return result
