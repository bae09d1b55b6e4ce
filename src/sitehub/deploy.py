"""Role variables derived from the site model, where a plain Jinja mapping would be unclear."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sitehub.htcondor.deploy import spawner_settings
from sitehub.inventory.model import Cluster, Identity, Instance, instance_ports
from sitehub.render.quoting import systemd_instance


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


# Each hub instance needs its own secrets; the site keeps one of each in the vault and every
# instance gets a value derived from it with HMAC (no secret is reused verbatim, none extra to
# manage). The frontend's header secret is derived the same way.
BATCH_SCHEDULERS = ("slurm", "htcondor")
SPAWNER_CLASSES = {
    "slurm": "sitehub.hub.slurm_spawner.SlurmSpawner",
    "htcondor": "sitehub.hub.condor.CondorSpawner",
    "local": "sitehub.hub.spawner.SitehubSpawner",
}


def derive_secret(site_secret: str, purpose: str) -> str:
    """64 hex characters for `purpose` (instance name + use), from one vaulted site secret."""
    if not site_secret:
        raise ValueError(f"cannot derive the {purpose} secret from an empty site secret")
    return hmac.new(str(site_secret).encode(), purpose.encode(), hashlib.sha256).hexdigest()


def instance_name(cluster: Cluster, instance: Instance) -> str:
    """The hub instance's name on its host: unit, config directory and job names use it."""
    return systemd_instance(f"{cluster.segment}-{instance.route}")


def container_settings(cluster: Cluster) -> dict[str, Any]:
    """SlurmSpawner's container traits: the images a Slurm cluster offers its servers."""
    return {
        "container_images": [
            {"name": i.name, "ref": i.ref, "description": i.description or i.name}
            for i in cluster.images
        ],
        "container_image_dirs": list(cluster.image_dirs),
        "container_runtime": cluster.container.runtime,
        "container_binds": list(cluster.container.binds),
        "container_options": list(cluster.container.options),
        "container_server_cmd": list(cluster.container.server_cmd),
    }


def hub_instances(
    clusters: list[Cluster], host: str, secrets: dict[str, Any]
) -> list[dict[str, Any]]:
    """The `jupyterhub` role's instances for one host, from the site's clusters."""
    result = []
    for cluster in clusters:
        for instance in cluster.instances:
            if instance.host != host:
                continue
            name = instance_name(cluster, instance)
            batch = cluster.scheduler in BATCH_SCHEDULERS
            entry: dict[str, Any] = {
                "name": name,
                "route": cluster.segment,
                **instance_ports(instance.port),
                # the frontend reaches the proxy over the network; the hub refuses the user
                # header from anywhere but the frontend
                "bind_address": "0.0.0.0",  # noqa: S104
                # batch jobs on compute nodes call the hub API; local servers do not
                "hub_bind_address": "0.0.0.0" if batch else "127.0.0.1",  # noqa: S104
                "scheduler": cluster.scheduler,
                "allow_local": batch and cluster.options.run_locally,
                "admin_users": list(cluster.admin_users),
                "idle_timeout": cluster.idle_timeout_minutes * 60,
                "spawner": {"default_runtime_minutes": cluster.options.default_runtime},
                "cookie_secret": derive_secret(secrets["hub_cookie_secret"], f"{name}/cookie"),
                "crypt_key": derive_secret(secrets["hub_crypt_key"], f"{name}/crypt"),
                "proxy_auth_token": derive_secret(secrets["hub_proxy_token"], f"{name}/proxy"),
            }
            if batch:
                entry["hub_connect_host"] = host
            if cluster.scheduler in SPAWNER_CLASSES:
                entry["spawner_class"] = SPAWNER_CLASSES[cluster.scheduler]
            if cluster.scheduler == "htcondor":
                entry["spawner"] |= spawner_settings(cluster)
            elif cluster.scheduler == "slurm" and (cluster.images or cluster.image_dirs):
                entry["spawner"] |= container_settings(cluster)
            result.append(entry)
    return result


def scheduler_hosts(clusters: list[Cluster], scheduler: str) -> list[str]:
    """Hosts running an instance of a `scheduler` cluster: they submit to its batch system."""
    return sorted({i.host for c in clusters if c.scheduler == scheduler for i in c.instances})


def htcondor_group_map(cluster: Cluster, identity: Identity) -> dict[str, list[str]]:
    """Each demo user and the accounting groups their realm groups may charge.

    The pool's user map (htcondor_pool_group_map) is written from this; sites with a
    directory write it from there instead. A user in no such group is left out (and so
    offered no group).
    """
    pool = cluster.htcondor
    if pool is None:
        raise ValueError(f"cluster {cluster.segment} has no htcondor block")
    result = {}
    for user in identity.demo_users:
        groups = [
            g
            for g in pool.accounting_groups
            if set(user.groups) & set(pool.accounting_group_members.get(g, []))
        ]
        if groups:
            result[user.name] = groups
    return result


def frontend_secret(secrets: dict[str, Any]) -> str:
    """Shared by the frontend (sends it) and every hub (requires it)."""
    return derive_secret(secrets["hub_cookie_secret"], "frontend-header")


def realm_users(identity: Identity, password: str) -> list[dict[str, Any]]:
    """Demo users as `keycloak_realm_demo_users` (one generated demo password for all)."""
    if identity.demo_users and not password:
        raise ValueError("demo users need sitehub_secrets.demo_user_password")
    return [
        {
            "username": user.name,
            "first_name": user.name.capitalize(),
            "last_name": "Demo",
            "email": user.email or f"{user.name}@demo.invalid",
            "groups": list(user.groups),
            "password": password,
        }
        for user in identity.demo_users
    ]
