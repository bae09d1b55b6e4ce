"""Role variables derived from the site model (sitehub.deploy)."""

from __future__ import annotations

import re

import pytest

from sitehub.deploy import (
    derive_secret,
    frontend_secret,
    htcondor_group_map,
    hub_instances,
    realm_users,
    scheduler_hosts,
)
from sitehub.inventory.model import Cluster, Identity

SECRETS = {"hub_cookie_secret": "c" * 64, "hub_crypt_key": "k" * 64, "hub_proxy_token": "p" * 48}


def cluster(segment, scheduler, instances, **extra):
    return Cluster.model_validate(
        {"segment": segment, "title": segment, "scheduler": scheduler, "instances": instances}
        | extra
    )


CLUSTERS = [
    cluster(
        "hpc",
        "slurm",
        [
            {"host": "h1", "port": 8000, "route": "hub1"},
            {"host": "h2", "port": 8000, "route": "hub2"},
        ],
        admin_users=["alice"],
        idle_timeout_minutes=60,
        options={"default_runtime": 30, "run_locally": True},
    ),
    cluster("local", "local", [{"host": "h1", "port": 8100, "route": "local1"}]),
    cluster(
        "htc",
        "htcondor",
        [{"host": "h3", "port": 8000, "route": "htc1"}],
        htcondor={"central_manager": "cm.example.org"},
    ),
]


def test_instances_of_one_host_with_ports_and_names():
    got = hub_instances(CLUSTERS, "h1", SECRETS)
    assert [i["name"] for i in got] == ["hpc-hub1", "local-local1"]
    hpc, local = got
    assert (hpc["port"], hpc["proxy_api_port"], hpc["hub_port"]) == (8000, 8001, 8081)
    assert (local["port"], local["proxy_api_port"], local["hub_port"]) == (8100, 8101, 8181)
    assert hpc["route"] == "hpc" and local["route"] == "local"
    assert hpc["admin_users"] == ["alice"] and hpc["idle_timeout"] == 3600
    assert hpc["spawner"] == {"default_runtime_minutes": 30}


def test_batch_hubs_listen_for_compute_nodes_local_hubs_do_not():
    hpc, local = hub_instances(CLUSTERS, "h1", SECRETS)
    assert hpc["hub_bind_address"] == "0.0.0.0" and hpc["hub_connect_host"] == "h1"
    assert hpc["scheduler"] == "slurm" and hpc["allow_local"] is True
    assert local["hub_bind_address"] == "127.0.0.1" and "hub_connect_host" not in local
    assert local["allow_local"] is False


def test_htcondor_instances_use_the_condor_spawner():
    (htc,) = hub_instances(CLUSTERS, "h3", SECRETS)
    assert htc["spawner_class"] == "sitehub.hub.condor.CondorSpawner"
    assert htc["spawner"]["condor_schedd_name"] == "" and htc["spawner"]["scheduler"] == "htcondor"


def test_a_host_without_instances_gets_none():
    assert hub_instances(CLUSTERS, "nowhere", SECRETS) == []


def test_instance_secrets_are_distinct_stable_hex_and_not_the_site_secret():
    first = hub_instances(CLUSTERS, "h1", SECRETS) + hub_instances(CLUSTERS, "h2", SECRETS)
    again = hub_instances(CLUSTERS, "h1", SECRETS) + hub_instances(CLUSTERS, "h2", SECRETS)
    values = [i[k] for i in first for k in ("cookie_secret", "crypt_key", "proxy_auth_token")]
    assert values == [
        i[k] for i in again for k in ("cookie_secret", "crypt_key", "proxy_auth_token")
    ]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in values)
    assert not set(values) & set(SECRETS.values())


def test_changing_the_site_secret_changes_every_instance_secret():
    other = dict(SECRETS, hub_cookie_secret="d" * 64)
    a = hub_instances(CLUSTERS, "h1", SECRETS)
    b = hub_instances(CLUSTERS, "h1", other)
    assert all(x["cookie_secret"] != y["cookie_secret"] for x, y in zip(a, b, strict=True))
    assert [x["crypt_key"] for x in a] == [y["crypt_key"] for y in b]


def test_empty_site_secret_is_refused():
    with pytest.raises(ValueError, match="empty site secret"):
        derive_secret("", "x/cookie")


def test_frontend_secret_differs_from_every_instance_secret():
    secret = frontend_secret(SECRETS)
    instance_values = {
        v for i in hub_instances(CLUSTERS, "h1", SECRETS) for v in i.values() if isinstance(v, str)
    }
    assert re.fullmatch(r"[0-9a-f]{64}", secret) and secret not in instance_values


def identity(users):
    return Identity.model_validate(
        {"host": "kc", "url": "https://kc.example.org", "realm": "r", "demo_users": users}
    )


def test_realm_users_share_the_demo_password():
    users = realm_users(
        identity(
            [{"name": "alice", "uid": 2001, "groups": ["atlas"]}, {"name": "bob", "uid": 2002}]
        ),
        "pw",
    )
    assert [(u["username"], u["password"], u["groups"]) for u in users] == [
        ("alice", "pw", ["atlas"]),
        ("bob", "pw", []),
    ]
    assert users[0]["email"] == "alice@demo.invalid"


def test_realm_users_without_a_password_are_refused():
    with pytest.raises(ValueError, match="demo_user_password"):
        realm_users(identity([{"name": "alice", "uid": 2001}]), "")


def test_slurm_images_become_the_spawners_container_settings():
    gpu = cluster(
        "gpu",
        "slurm",
        [{"host": "h4", "port": 8000, "route": "gpu1"}],
        images=[{"name": "el9", "ref": "/cvmfs/img/el9.sif", "description": "EL9"}],
        image_dirs=["/gpfs/containers"],
        container={"binds": ["/cvmfs:ro", "/opt/sitehub/notebook:ro"], "options": ["--nv"]},
    )
    (hub,) = hub_instances([gpu], "h4", SECRETS)
    assert hub["spawner"] == {
        "default_runtime_minutes": 60,
        "container_images": [{"name": "el9", "ref": "/cvmfs/img/el9.sif", "description": "EL9"}],
        "container_image_dirs": ["/gpfs/containers"],
        "container_runtime": "apptainer",
        "container_binds": ["/cvmfs:ro", "/opt/sitehub/notebook:ro"],
        "container_options": ["--nv"],
        "container_server_cmd": [],
    }


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"container": {"runtime": "docker"}}, "container runtime 'docker' unknown"),
        ({"container": {"binds": ["relative/dir"]}}, "must be absolute"),
        ({"container": {"binds": ["/a,b"]}}, "separates binds"),
        ({"images": [{"name": "x", "ref": "--privileged"}]}, "not starting with '-'"),
        ({"images": [{"name": "x", "ref": "/a.sif; id"}]}, "shell characters"),
    ],
)
def test_unusable_container_settings_are_refused(extra, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cluster("gpu", "slurm", [{"host": "h4", "port": 8000, "route": "gpu1"}], **extra)


def test_scheduler_hosts_are_the_instances_hosts_of_that_scheduler():
    assert scheduler_hosts(CLUSTERS, "slurm") == ["h1", "h2"]
    assert scheduler_hosts(CLUSTERS, "htcondor") == ["h3"]
    assert scheduler_hosts(CLUSTERS, "pbs") == []


def htc_cluster(members):
    return cluster(
        "htc",
        "htcondor",
        [{"host": "h3", "port": 8000, "route": "htc1"}],
        htcondor={
            "central_manager": "cm.example.org",
            "accounting_groups": ["group_atlas", "group_belle2"],
            "accounting_group_members": members,
        },
    )


def test_group_map_follows_realm_groups():
    people = identity(
        [
            {"name": "alice", "uid": 2001, "groups": ["atlas", "belle2"]},
            {"name": "bob", "uid": 2002, "groups": ["belle2"]},
            {"name": "carol", "uid": 2003, "groups": []},
        ]
    )
    members = {"group_atlas": ["atlas"], "group_belle2": ["belle2"]}
    assert htcondor_group_map(htc_cluster(members), people) == {
        "alice": ["group_atlas", "group_belle2"],
        "bob": ["group_belle2"],
    }
