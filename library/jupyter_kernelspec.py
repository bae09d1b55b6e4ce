#!/usr/bin/python
"""Ansible module: install Jupyter kernel specs rendered on the controller.

The specs are rendered by sitehub's renderer (filter `sitehub_kernelspec`) on the
controller; this module only places the files on the host, so it needs no
sitehub code there. It exists because no maintained module installs a kernel
spec directory as one unit with check mode, diff and pruning.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jupyter_kernelspec
short_description: Install, update and prune Jupyter kernel specs as whole directories
description:
  - Writes each kernel's C(kernel.json) and launcher into I(kernels_dir)/<name>/.
  - Idempotent; supports check mode and diff.
  - With I(prune), removes kernel directories this module installed earlier
    (marked by a C(.sitehub) file) that are no longer listed. Kernels it did not
    install are never touched.
options:
  kernels_dir:
    description: System-wide kernels directory.
    type: path
    default: /usr/local/share/jupyter/kernels
  kernels:
    description: Kernel specs, as produced by the C(sitehub_kernelspec) filter plus a name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Kernel name (directory name); letters, digits, C(.), C(_), C(-).
        type: str
        required: true
      files:
        description: File name to content; C(launch) is made executable.
        type: dict
        required: true
  prune:
    description: Remove sitehub-installed kernels that are not listed.
    type: bool
    default: false
author: sitehub developers
"""

EXAMPLES = r"""
- name: Install the site's kernels
  jupyter_kernelspec:
    kernels: "{{ sitehub_kernels | map('sitehub_kernelspec_entry') | list }}"
    prune: true
"""

RETURN = r"""
installed:
  description: Kernels written or updated.
  returned: always
  type: list
  elements: str
removed:
  description: Kernels removed by prune.
  returned: always
  type: list
  elements: str
"""

import os
import re
import shutil

from ansible.module_utils.basic import AnsibleModule

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MARKER = ".sitehub"
EXECUTABLE = ("launch",)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _mode_ok(path: str, name: str) -> bool:
    want = 0o755 if name in EXECUTABLE else 0o644
    return os.path.exists(path) and (os.stat(path).st_mode & 0o777) == want


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kernels_dir": {"type": "path", "default": "/usr/local/share/jupyter/kernels"},
            "kernels": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "files": {"type": "dict", "required": True},
                },
            },
            "prune": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    base = module.params["kernels_dir"]
    installed, removed = [], []
    diff = {"before": "", "after": ""}
    names = set()
    for kernel in module.params["kernels"]:
        name = kernel["name"]
        if not NAME_RE.match(name) or name in (".", ".."):
            module.fail_json(
                msg=f"kernel name {name!r} is not allowed: use letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )
        for filename in kernel["files"]:
            if "/" in filename or filename.startswith("."):
                module.fail_json(msg=f"kernel {name}: file name {filename!r} is not allowed")
        names.add(name)
        folder = os.path.join(base, name)
        changed_files = []
        for filename, content in sorted(kernel["files"].items()):
            path = os.path.join(folder, filename)
            before = _read(path)
            if before != content or not _mode_ok(path, filename):
                changed_files.append((filename, path, before, content))
        if not os.path.exists(os.path.join(folder, MARKER)):
            changed_files.append((MARKER, os.path.join(folder, MARKER), None, ""))
        if not changed_files:
            continue
        installed.append(name)
        for filename, path, before, content in changed_files:
            diff["before"] += f"--- {path}\n{before or ''}"
            diff["after"] += f"+++ {path}\n{content}"
            if module.check_mode:
                continue
            os.makedirs(folder, mode=0o755, exist_ok=True)
            tmp = f"{path}.sitehub-tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(content)
            module.atomic_move(tmp, path)
            # atomic_move gives new files default permissions: set ours afterwards
            os.chmod(path, 0o755 if filename in EXECUTABLE else 0o644)
    if module.params["prune"] and os.path.isdir(base):
        for entry in sorted(os.listdir(base)):
            folder = os.path.join(base, entry)
            if entry in names or not os.path.exists(os.path.join(folder, MARKER)):
                continue
            removed.append(entry)
            diff["before"] += f"--- {folder}/ (removed)\n"
            if not module.check_mode:
                shutil.rmtree(folder)
    module.exit_json(
        changed=bool(installed or removed), installed=installed, removed=removed, diff=diff
    )


if __name__ == "__main__":
    main()
