"""The loader reads an inventory as ansible-playbook does and keeps where values came from."""

from __future__ import annotations

import pytest

from sitehub.inventory import load_inventory, validate_inventory
from sitehub.inventory.loader import (
    _is_site_wide_file,
    close_site_variable,
    is_inline_vaulted,
    is_vaulted,
    origin_of,
)
from sitehub.inventory.model import SITE_VARIABLES

from .conftest import INVENTORIES


def test_demo_hosts_groups_and_site_variables():
    loaded = load_inventory(INVENTORIES / "demo")
    assert not loaded.problems and not loaded.fatal
    assert {"demo-frontend", "demo-keycloak", "demo-hub1", "demo-hub2"} <= set(loaded.hosts)
    assert "frontend" in loaded.hosts["demo-frontend"]
    assert "sitehub_test_hosts" in loaded.hosts["demo-hub1"]
    assert set(loaded.site_vars) == set(SITE_VARIABLES)
    for name in SITE_VARIABLES:
        assert loaded.variable_files[name].startswith(str(INVENTORIES / "demo" / "group_vars"))
    # Other sitehub_* variables are kept aside (with where they are set), never as site variables.
    assert "sitehub_demo_secrets" in loaded.other_variables
    assert "sitehub_test_network" in loaded.other_variables


def test_site_variable_keys_carry_their_line():
    loaded = load_inventory(INVENTORIES / "demo")
    keys = {str(k): k for k in loaded.site_vars}
    where = origin_of(keys["sitehub_tls"])
    assert where.path.endswith("group_vars/all/site.yml")
    text = (INVENTORIES / "demo/group_vars/all/site.yml").read_text().splitlines()
    assert text[where.line - 1].startswith("sitehub_tls:")


def test_values_carry_file_and_line():
    loaded = load_inventory(INVENTORIES / "demo")
    route = loaded.site_vars["sitehub_clusters"][0]["instances"][1]["route"]
    where = origin_of(route)
    assert where.path.endswith("group_vars/all/clusters.yml")
    lines = (INVENTORIES / "demo/group_vars/all/clusters.yml").read_text().splitlines()
    assert "route: hub2" in lines[where.line - 1]
    assert str(where) == f"{where.path}:{where.line}"
    assert origin_of(object()).path is None


def test_example_site_vaulted_variables():
    loaded = load_inventory(INVENTORIES / "example-site")
    assert {
        "vault_keycloak_admin_password",
        "vault_keycloak_db_password",
        "vault_ldap_bind_password",
        "vault_munge_key",
        "vault_htcondor_token",
    } <= loaded.vaulted_variables
    secrets = loaded.site_vars["sitehub_secrets"]
    assert is_inline_vaulted(secrets["hub_cookie_secret"])
    assert is_vaulted(secrets["hub_cookie_secret"])
    assert not is_vaulted(secrets["munge_key"])  # a reference, checked by name


def test_missing_inventory_raises():
    with pytest.raises(FileNotFoundError, match="no such inventory"):
        load_inventory(INVENTORIES / "no-such-site")


def test_loading_twice_in_one_process():
    # ansible's vault context is process-global and can be set only once.
    for _ in range(2):
        assert validate_inventory(INVENTORIES / "example-site") == []


def test_edits_between_loads_are_seen(site_copy):
    # ansible's host_group_vars caches which folders exist: a second load must see new ones.
    copy = site_copy("demo")
    assert copy.validate() == []
    copy.write("host_vars/demo-hub1.yml", "---\nsitehub_site:\n  name: other\n")
    assert [p.key for p in copy.validate()] == ["sitehub_site"]
    copy.file("host_vars/demo-hub1.yml").unlink()
    assert copy.validate() == []


def test_site_variable_value_from_group_vars_all_when_a_host_overrides(site_copy):
    copy = site_copy("demo")
    # The first host (demo-frontend) gets another value: group_vars/all still wins.
    copy.write("host_vars/demo-frontend.yml", "---\nsitehub_tls:\n  source: files\n")
    loaded = load_inventory(copy.path)
    assert loaded.site_vars["sitehub_tls"]["source"] == "generated_ca"
    assert loaded.variable_files["sitehub_tls"].endswith("group_vars/all/site.yml")
    ((where, key, _),) = loaded.problems
    assert key == "sitehub_tls"
    assert where.path.endswith("host_vars/demo-frontend.yml") and where.line == 2


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/s/group_vars/all.yml", True),
        ("/s/group_vars/all/site.yml", True),
        ("/s/group_vars/all/nested/site.yml", True),
        ("/s/group_vars/hubs.yml", False),
        ("/s/host_vars/all.yml", False),
        ("/s/hosts.yml", False),
        (None, False),
    ],
)
def test_site_wide_files(path, expected):
    assert _is_site_wide_file(path) is expected


@pytest.mark.parametrize(
    "name, meant",
    [
        ("sitehub_cluster", "sitehub_clusters"),
        ("sitehub_identiy", "sitehub_identity"),
        ("sitehub_tsl", "sitehub_tls"),
        ("sitehub_demo_secrets", None),
        ("sitehub_test_network", None),
    ],
)
def test_close_site_variable(name, meant):
    assert close_site_variable(name) == meant
