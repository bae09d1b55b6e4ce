#!/usr/bin/python
"""Ansible module: validate a site inventory with sitehub's own validator."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sitehub_validate
short_description: Check a sitehub site inventory before any host is touched
description:
  - Loads the inventory exactly as ansible-playbook does (group_vars, host_vars,
    vault-encrypted values) and runs every check of C(sitehub validate).
  - Fails with one line per problem, each naming the file, line and key to change.
  - Runs on the controller as an action plugin (action_plugins/sitehub_validate.py),
    which hands the play's vault secrets (--vault-password-file, --vault-id, ansible.cfg)
    to the validator; this module file documents the task and is what runs only where
    the action plugin is not on the plugin path.
options:
  inventories:
    description: Inventory sources of the play (C(ansible_inventory_sources)).
    type: list
    elements: path
    required: true
  vault_password_files:
    description: Vault password files, for inventories with vault-encrypted files.
    type: list
    elements: path
    default: []
author: sitehub developers
"""

EXAMPLES = r"""
- name: Validate the site inventory
  sitehub_validate:
    inventories: "{{ ansible_inventory_sources }}"
  delegate_to: localhost
"""

RETURN = r"""
problems:
  description: Every problem found, as "file:line: key: message".
  returned: always
  type: list
  elements: str
"""

import json
import sys

from ansible.module_utils.basic import AnsibleModule


def _validate(module: AnsibleModule, source: str) -> list[str]:
    # A module runs from a zip holding only module_utils, so the validator (which
    # needs all of ansible-core to read the inventory) runs in a child process of
    # the controller's Python, where sitehub is installed.
    command = [sys.executable, "-m", "sitehub.cli", "validate", "--json", source]
    for password_file in module.params["vault_password_files"]:
        command += ["--vault-password-file", password_file]
    rc, out, err = module.run_command(command)
    try:
        return json.loads(out)["problems"]
    except (ValueError, KeyError):
        module.fail_json(
            msg=f"sitehub validate could not run (rc={rc}); is sitehub installed in "
            f"{sys.executable}? {err.strip()}"
        )
    return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "inventories": {"type": "list", "elements": "path", "required": True},
            # paths, not secrets: say so, or Ansible warns about the word "password"
            "vault_password_files": {
                "type": "list",
                "elements": "path",
                "default": [],
                "no_log": False,
            },
        },
        supports_check_mode=True,
    )
    problems: list[str] = []
    for source in module.params["inventories"]:
        problems += _validate(module, source)
    if problems:
        module.fail_json(
            msg=f"the site inventory has {len(problems)} problem(s); nothing was deployed:\n"
            + "\n".join(problems),
            problems=problems,
        )
    module.exit_json(changed=False, problems=[])


if __name__ == "__main__":
    main()
