"""Vars plugin: a vault-encrypted inventory file that cannot be decrypted is named.

ansible-core 2.19's host_group_vars turns the vault error of a group_vars/host_vars file
into "Attempting to decrypt but no vault secrets found." and nothing else: no file, no
hint. That happens while the first play loads its variables, before any task of ours
(the validation play) can run. Enabled before host_group_vars (ansible.cfg), this plugin
decrypts each vault-encrypted file host_group_vars is about to read, once per process,
and on failure stops the run with the file and how to give the password. It returns no
variables: host_group_vars still loads them; without this plugin only the message is worse.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: sitehub_vault_files
    short_description: Name the vault-encrypted group_vars/host_vars file that cannot be decrypted
    description:
      - Checks that every vault-encrypted file host_group_vars reads can be decrypted with the
        run's vault secrets; fails naming the file and how to give the vault password.
      - Returns no variables. Enable it before host_group_vars.
    options:
      stage:
        ini:
          - key: stage
            section: vars_sitehub_vault_files
        env:
          - name: ANSIBLE_VARS_PLUGIN_STAGE
    extends_documentation_fragment:
      - vars_plugin_staging
"""

import os

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.group import InventoryObjectType
from ansible.parsing.vault import AnsibleVaultError, is_encrypted_file
from ansible.plugins.vars import BaseVarsPlugin
from ansible.utils.path import basedir

HOWTO = (
    "give the vault password: ansible-playbook --vault-password-file FILE or --ask-vault-pass "
    "(or ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file in ansible.cfg)"
)
# (entity name, folder) already checked in this process: get_vars runs for every task
CHECKED: set[tuple[str, str]] = set()


def _vault_error(exc: BaseException) -> AnsibleVaultError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AnsibleVaultError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _shown(path: str) -> str:
    """Relative to the working directory when below it: what the operator typed."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def check_file(loader, path: str) -> None:
    """Raise AnsibleParserError naming path if it is vault-encrypted and cannot be opened."""
    try:
        with open(path, "rb") as handle:
            if not is_encrypted_file(handle):
                return
    except OSError:
        return  # host_group_vars reports a file it cannot read
    try:
        loader.get_text_file_contents(path)
    except AnsibleError as exc:
        error = _vault_error(exc)
        if error is None:
            raise  # not a vault problem: host_group_vars reports it as it always does
        # Ansible prints the vault error itself, as the cause
        raise AnsibleParserError(
            f"{_shown(path)}: this inventory file is vault-encrypted and cannot be decrypted; "
            + HOWTO
        ) from error


class VarsModule(BaseVarsPlugin):
    REQUIRES_ENABLED = True
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        if not isinstance(entities, list):
            entities = [entities]
        base = os.path.realpath(basedir(path))
        for entity in entities:
            name = getattr(entity, "name", None)
            kind = getattr(entity, "base_type", None)
            # host_group_vars skips 'chroot' style host names (/path/to/chroot) too
            if not name or name.startswith(os.path.sep):
                continue
            subdir = "host_vars" if kind is InventoryObjectType.HOST else "group_vars"
            folder = os.path.join(base, subdir)
            if cache and (name, folder) in CHECKED:
                continue
            if os.path.isdir(folder):
                for found in loader.find_vars_files(folder, name):
                    check_file(loader, found)
            CHECKED.add((name, folder))
        return {}
