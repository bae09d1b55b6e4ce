"""Role variables derived from the site model, where a plain Jinja mapping would be unclear."""

from __future__ import annotations

from typing import Any

from sitehub.inventory.model import Identity


def posix_accounts(identity: Identity) -> dict[str, list[dict[str, Any]]]:
    """Demo users and their groups as `common` role users/groups (same ids on every host).

    Each user also gets a private group with gid = uid, as Debian's adduser does.
    """
    gids = {group.name: group.gid for group in identity.groups}
    groups = [{"name": name, "gid": gid} for name, gid in gids.items() if gid is not None]
    users = [
        {
            "name": user.name,
            "uid": user.uid,
            "gid": user.uid,
            "groups": [g for g in user.groups if gids.get(g) is not None],
        }
        for user in identity.demo_users
    ]
    return {"groups": groups, "users": users}
