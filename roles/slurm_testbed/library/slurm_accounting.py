#!/usr/bin/python
"""Bring Slurm's accounting database to a wanted state with sacctmgr."""

from __future__ import annotations

import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: slurm_accounting
short_description: Ensure a Slurm cluster, its accounts, QOS and user associations exist
description:
  - Reads the accounting database with C(sacctmgr -nP show ...) and adds only what is missing.
  - QOS priority/max_wall, association QOS lists, default QOS and users' default account
    are changed when they differ. Nothing is ever removed.
  - Needs a running slurmdbd; slurmctld is not needed.
options:
  cluster:
    description: Cluster name (ClusterName in slurm.conf).
    type: str
    required: true
  accounts:
    description: Accounts of the cluster (name, description, organization, parent).
    type: list
    elements: dict
    default: []
  qos:
    description: QOS (name, priority, max_wall).
    type: list
    elements: dict
    default: []
  users:
    description: Users (name, default_account, associations of account, qos, default_qos).
    type: list
    elements: dict
    default: []
  sacctmgr:
    description: Path of the sacctmgr command.
    type: str
    default: sacctmgr
author: sitehub
"""

EXAMPLES = r"""
- name: Accounts and associations
  slurm_accounting:
    cluster: sitehub
    accounts: [{name: tier3, description: Tier-3 users}]
    qos: [{name: usatlas, priority: 100}]
    users:
      - name: alice
        default_account: tier3
        associations: [{account: tier3, qos: [normal, usatlas], default_qos: normal}]
"""

RETURN = r"""
commands:
  description: The sacctmgr commands run (or, in check mode, that would run).
  type: list
  elements: list
  returned: always
"""

_TIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def slurm_time_seconds(value: str | int | None) -> int | None:
    """Seconds in a Slurm time string; None for empty/UNLIMITED/INFINITE.

    Accepted as Slurm does: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
    """
    if value is None:
        return None
    text = str(value).strip()
    if text == "" or text.upper() in ("UNLIMITED", "INFINITE", "-1"):
        return None
    match = _TIME_RE.match(text)
    if not match:
        raise ValueError(f"not a Slurm time: {value!r}")
    days, first, second, third = match.groups()
    if days is None:
        if second is None:  # M
            return int(first) * 60
        if third is None:  # M:S
            return int(first) * 60 + int(second)
        return int(first) * 3600 + int(second) * 60 + int(third)  # H:M:S
    hours = int(first)
    minutes = int(second) if second is not None else 0
    seconds = int(third) if third is not None else 0
    return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_rows(text: str, fields: list[str]) -> list[dict[str, str]]:
    """Rows of `sacctmgr -nP show ... format=<fields>` as dicts."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|")
        values += [""] * (len(fields) - len(values))
        rows.append({f: v.strip() for f, v in zip(fields, values, strict=False)})
    return rows


def _qos_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return sorted({str(v).strip() for v in value if str(v).strip()})


def plan(
    cluster: str,
    accounts: list[dict],
    qos: list[dict],
    users: list[dict],
    current: dict[str, list[dict[str, str]]],
) -> list[list[str]]:
    """sacctmgr argument lists (without the command and -i) that reach the wanted state.

    current holds parsed rows: clusters (cluster), qos (name, priority, maxwall),
    assocs (account, user, partition, qos, defaultqos) of this cluster,
    users (user, defaultaccount).
    """
    cmds: list[list[str]] = []
    if cluster not in {r["cluster"] for r in current["clusters"]}:
        cmds.append(["add", "cluster", cluster])

    have_qos = {r["name"]: r for r in current["qos"]}
    for q in qos:
        name = q["name"]
        settings = []
        if q.get("priority") is not None:
            settings.append(("priority", str(int(q["priority"]))))
        if q.get("max_wall"):
            settings.append(("maxwall", str(q["max_wall"])))
        if name not in have_qos:
            cmds.append(["add", "qos", name] + [f"{k}={v}" for k, v in settings])
            continue
        row = have_qos[name]
        diff = []
        for key, value in settings:
            if key == "priority" and row.get("priority", "") != value:
                diff.append(f"{key}={value}")
            if key == "maxwall" and slurm_time_seconds(row.get("maxwall")) != slurm_time_seconds(
                value
            ):
                diff.append(f"{key}={value}")
        if diff:
            cmds.append(["modify", "qos", "where", f"name={name}", "set", *diff])

    assocs = current["assocs"]
    account_assocs = {r["account"] for r in assocs if not r["user"]}
    for acct in accounts:
        if acct["name"] in account_assocs:
            continue
        cmd = ["add", "account", acct["name"], f"cluster={cluster}"]
        for key, arg in (
            ("description", "description"),
            ("organization", "organization"),
            ("parent", "parent"),
        ):
            if acct.get(key):
                cmd.append(f"{arg}={acct[key]}")
        cmds.append(cmd)

    user_assocs = {(r["user"], r["account"]): r for r in assocs if r["user"] and not r["partition"]}
    default_accounts = {r["user"]: r["defaultaccount"] for r in current["users"]}
    for user in users:
        name = user["name"]
        associations = user.get("associations") or []
        default_account = user.get("default_account") or (
            associations[0]["account"] if associations else ""
        )
        # the default account's association first: it may only be set once it exists
        for assoc in sorted(associations, key=lambda a: a["account"] != default_account):
            account = assoc["account"]
            want_qos = _qos_list(assoc.get("qos"))
            want_default = assoc.get("default_qos") or ""
            row = user_assocs.get((name, account))
            if row is None:
                cmd = ["add", "user", name, f"account={account}", f"cluster={cluster}"]
                if name not in default_accounts and default_account:
                    # the first association also sets the user's default account
                    cmd.append(f"defaultaccount={default_account}")
                    default_accounts[name] = default_account
                if want_qos:
                    cmd.append("qos=" + ",".join(want_qos))
                if want_default:
                    cmd.append(f"defaultqos={want_default}")
                cmds.append(cmd)
                continue
            diff = []
            if want_qos and _qos_list(row.get("qos")) != want_qos:
                diff.append("qos=" + ",".join(want_qos))
            if want_default and row.get("defaultqos", "") != want_default:
                diff.append(f"defaultqos={want_default}")
            if diff:
                cmds.append(
                    [
                        "modify",
                        "user",
                        "where",
                        f"name={name}",
                        f"account={account}",
                        f"cluster={cluster}",
                        "set",
                        *diff,
                    ]
                )
        if default_account and default_accounts.get(name, default_account) != default_account:
            cmds.append(
                [
                    "modify",
                    "user",
                    "where",
                    f"name={name}",
                    "set",
                    f"defaultaccount={default_account}",
                ]
            )
    return cmds


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cluster": {"type": "str", "required": True},
            "accounts": {"type": "list", "elements": "dict", "default": []},
            "qos": {"type": "list", "elements": "dict", "default": []},
            "users": {"type": "list", "elements": "dict", "default": []},
            "sacctmgr": {"type": "str", "default": "sacctmgr"},
        },
        supports_check_mode=True,
    )
    p = module.params
    sacctmgr = module.get_bin_path(p["sacctmgr"], required=True)
    cluster = p["cluster"]

    def show(args: list[str], fields: list[str]) -> list[dict[str, str]]:
        cmd = [sacctmgr, "-nP", "show", *args, "format=" + ",".join(fields)]
        rc, out, err = module.run_command(cmd)
        if rc != 0:
            module.fail_json(msg=f"{' '.join(cmd)} failed: {err.strip() or out.strip()}", rc=rc)
        return parse_rows(out, [f.lower() for f in fields])

    current = {
        "clusters": show(["cluster"], ["Cluster"]),
        "qos": show(["qos"], ["Name", "Priority", "MaxWall"]),
        "assocs": show(
            ["assoc", "where", f"cluster={cluster}"],
            ["Account", "User", "Partition", "QOS", "DefaultQOS"],
        ),
        "users": show(["user"], ["User", "DefaultAccount"]),
    }
    try:
        cmds = plan(cluster, p["accounts"], p["qos"], p["users"], current)
    except (KeyError, ValueError) as exc:
        module.fail_json(msg=f"invalid accounting definition: {exc}")

    if not module.check_mode:
        for args in cmds:
            rc, out, err = module.run_command([sacctmgr, "-i", *args])
            if rc != 0:
                module.fail_json(
                    msg=f"sacctmgr {' '.join(args)} failed: {err.strip() or out.strip()}",
                    rc=rc,
                    commands=cmds,
                )
    module.exit_json(changed=bool(cmds), commands=cmds)


if __name__ == "__main__":
    main()
