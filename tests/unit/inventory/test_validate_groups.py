"""The site variables that name hosts agree with the hosts file's groups, which the plays
pick their hosts by (sitehub.inventory.validate._check_hosts): a host named in the model but
outside its group would describe nothing deployed, and a host of a group the model does not
name would be deployed unseen by validation."""

from __future__ import annotations

import pytest

CLUSTERS = "group_vars/all/clusters.yml"
IDENTITY = "group_vars/all/identity.yml"
SITE = "group_vars/all/site.yml"


@pytest.mark.parametrize("site", ["demo", "example"])
def test_the_shipped_inventories_agree_with_their_groups(site_copy, site):
    problems = site_copy(site).validate()
    assert not [p for p in problems if "group" in p.message and "'" in p.message], problems


def test_an_instance_on_a_host_outside_hubs_is_refused(site_copy):
    copy = site_copy("demo")
    line = copy.edit(CLUSTERS, "{host: demo-hub2, port: 8000", "{host: demo-c1, port: 8000")
    host_line = copy.line_of("hosts.yml", "demo-c1:")
    copy.expect(
        copy.validate(),
        key="sitehub_clusters[0].instances[1].host",
        file=CLUSTERS,
        line=line,
        words=("'demo-c1'", "not in the 'hubs' group", f"hosts.yml:{host_line}"),
    )


def test_a_frontend_outside_the_frontend_group_is_refused(site_copy):
    copy = site_copy("example")
    line = copy.edit(
        SITE,
        "frontends: [jupyter01.example.org, jupyter02.example.org]",
        "frontends: [jupyter01.example.org, jupyter02.example.org, sso01.example.org]",
    )
    copy.expect(
        copy.validate(),
        key="sitehub_site.frontends[2]",
        file=SITE,
        line=line,
        words=("'sso01.example.org'", "not in the 'frontend' group", "hosts.yml"),
    )


def test_a_frontend_group_host_the_site_does_not_list_is_refused(site_copy):
    copy = site_copy("example")
    copy.edit(
        SITE,
        "frontends: [jupyter01.example.org, jupyter02.example.org]",
        "frontends: [jupyter01.example.org]",
    )
    copy.expect(
        copy.validate(),
        key="sitehub_site.frontends",
        file=SITE,
        words=("'jupyter02.example.org'", "'frontend' group", "not in sitehub_site.frontends"),
    )


def test_the_identity_host_must_be_the_keycloak_groups(site_copy):
    copy = site_copy("example")
    line = copy.edit(IDENTITY, "host: sso01.example.org", "host: jupyter01.example.org")
    problems = [p for p in copy.validate() if p.key == "sitehub_identity.host"]
    messages = [p.message for p in problems]
    assert all(p.file.endswith(IDENTITY) and p.line == line for p in problems), problems
    assert any(
        "'jupyter01.example.org' is not in the 'keycloak' group" in m and "hosts.yml" in m
        for m in messages
    ), messages
    # one problem: the second-host check waits until the named host is right
    assert len(messages) == 1, messages


def test_a_second_keycloak_host_is_refused(site_copy):
    copy = site_copy("demo")
    copy.edit(
        "hosts.yml",
        "            demo-keycloak:\n",
        "            demo-keycloak:\n            demo-sso2:\n",
    )
    copy.expect(
        copy.validate(),
        key="sitehub_identity.host",
        file=IDENTITY,
        words=("'demo-sso2'", "'keycloak' group", "one Keycloak host"),
    )
