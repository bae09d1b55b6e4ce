"""Action plugin for sitehub_validate: validation on the controller, with the play's vault.

The module (library/sitehub_validate.py) documents the task. As an action it runs in
ansible-playbook's own process, so it can hand the vault secrets the play was given
(--vault-password-file, --vault-id, --ask-vault-pass, ansible.cfg) to the validator; a
module sees none of them. The validator runs in a child process of the same Python, so
reading the inventory again leaves this process's caches alone; the secrets travel on
its stdin, never on a command line or in a file.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from ansible.plugins.action import ActionBase


def _secrets(loader) -> list[list[str]]:
    vault = getattr(loader, "_vault", None)
    out = []
    for vault_id, secret in getattr(vault, "secrets", None) or []:
        data = getattr(secret, "bytes", None)
        if data:
            out.append([str(vault_id), base64.b64encode(data).decode("ascii")])
    return out


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        sources = list(args.get("inventories") or [])
        password_files = [str(f) for f in args.get("vault_password_files") or [] if f]
        secrets = json.dumps(_secrets(self._loader))
        problems: list[str] = []
        for source in sources:
            command = [sys.executable, "-m", "sitehub.cli", "validate", "--json"]
            command += ["--vault-secrets-stdin", str(source)]
            for password_file in password_files:
                command += ["--vault-password-file", password_file]
            run = subprocess.run(
                command, input=secrets, capture_output=True, text=True, check=False
            )
            try:
                problems += json.loads(run.stdout)["problems"]
            except (ValueError, KeyError):
                result.update(
                    failed=True,
                    msg=f"sitehub validate could not run (rc={run.returncode}); is sitehub "
                    f"installed in {sys.executable}? {run.stderr.strip()}",
                )
                return result
        result["changed"] = False
        result["problems"] = problems
        if problems:
            result["failed"] = True
            result["msg"] = (
                f"the site inventory has {len(problems)} problem(s); nothing was deployed:\n"
                + "\n".join(problems)
            )
        return result
