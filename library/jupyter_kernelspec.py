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
  - Files an earlier version of a listed kernel had (in its marked directory) are removed.
  - Every name is checked before anything is written; hostile names (C(..), C(/),
    leading C(.) or C(-), spaces, over 100 characters), duplicates and symlinked
    kernel directories fail the task with a message saying why.
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
        description:
          - Kernel name (directory name); up to 100 letters, digits, C(.), C(_), C(-),
            starting with a letter or digit.
        type: str
        required: true
      files:
        description:
          - File name (same rules as names) to text content; C(launch) is made
            executable (0755), the rest 0644.
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

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
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


def _check_kernel(module: AnsibleModule, base: str, kernel: dict, seen: set[str]) -> None:
    name = kernel["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > 100:
        module.fail_json(
            msg=f"kernel name {name!r} is not allowed: use up to 100 letters, digits, '.', "
            "'_' and '-', starting with a letter or digit (it becomes a directory name)"
        )
    if name in seen:
        module.fail_json(msg=f"kernel {name} is listed twice")
    seen.add(name)
    if not kernel["files"]:
        module.fail_json(msg=f"kernel {name}: no files given")
    for filename, content in kernel["files"].items():
        if not NAME_RE.fullmatch(filename) or filename == MARKER:
            module.fail_json(
                msg=f"kernel {name}: file name {filename!r} is not allowed: letters, digits, "
                "'.', '_' and '-' only, no '/', not starting with '.'"
            )
        if not isinstance(content, str):
            module.fail_json(msg=f"kernel {name}: content of {filename} must be text")
    folder = os.path.join(base, name)
    # a symlink here would make us write (or delete) somewhere else
    if os.path.islink(folder) or any(
        os.path.islink(os.path.join(folder, f)) for f in kernel["files"]
    ):
        module.fail_json(msg=f"{folder} or a file in it is a symlink: refusing to write through it")
    if os.path.exists(folder) and not os.path.isdir(folder):
        module.fail_json(msg=f"{folder} exists and is not a directory")


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
    if os.path.islink(base):
        module.fail_json(msg=f"kernels_dir {base} is a symlink: name the real directory")
    installed, removed = [], []
    diff = {"before": "", "after": ""}
    names: set[str] = set()
    for kernel in module.params["kernels"]:
        _check_kernel(module, base, kernel, names)
    for kernel in module.params["kernels"]:
        name = kernel["name"]
        folder = os.path.join(base, name)
        changed_files = []
        for filename, content in sorted(kernel["files"].items()):
            path = os.path.join(folder, filename)
            before = _read(path)
            if before != content or not _mode_ok(path, filename):
                changed_files.append((filename, path, before, content))
        stale = []
        if os.path.exists(os.path.join(folder, MARKER)):
            # files an earlier version of this kernel had (ours: the folder is marked)
            stale = sorted(set(os.listdir(folder)) - set(kernel["files"]) - {MARKER})
        else:
            changed_files.append((MARKER, os.path.join(folder, MARKER), None, ""))
        if not changed_files and not stale:
            continue
        installed.append(name)
        for filename in stale:
            path = os.path.join(folder, filename)
            diff["before"] += f"--- {path} (removed)\n"
            if not module.check_mode:
                _remove(path)
        for filename, path, before, content in changed_files:
            diff["before"] += f"--- {path}\n{before or ''}"
            diff["after"] += f"+++ {path}\n{content}"
            if module.check_mode:
                continue
            os.makedirs(folder, mode=0o755, exist_ok=True)
            tmp = f"{path}.sitehub-tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(content)
            # set ours before the move: atomic_move keeps the mode of an existing file
            os.chmod(tmp, 0o755 if filename in EXECUTABLE else 0o644)
            module.atomic_move(tmp, path)
            os.chmod(path, 0o755 if filename in EXECUTABLE else 0o644)
    if module.params["prune"] and os.path.isdir(base):
        for entry in sorted(os.listdir(base)):
            folder = os.path.join(base, entry)
            if entry in names or os.path.islink(folder):
                continue
            if not os.path.exists(os.path.join(folder, MARKER)):
                continue
            removed.append(entry)
            diff["before"] += f"--- {folder}/ (removed)\n"
            if not module.check_mode:
                shutil.rmtree(folder)
    module.exit_json(
        changed=bool(installed or removed), installed=installed, removed=removed, diff=diff
    )


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


if __name__ == "__main__":
    main()
