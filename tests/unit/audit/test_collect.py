"""The audit of the shipped inventories states their concrete facts."""

from __future__ import annotations

import json

from sitehub import deploy
from sitehub.audit import audit_inventory
from sitehub.audit.model import NO_LOGIN, SAML_LOGIN

from .conftest import copy_inventory, edit


def _listeners(report, host):
    return {(item.port, item.bind) for item in report.listeners if item.host == host}


def _grants(report):
    return {g.sentence() for g in report.grants}


def test_demo_hpc_cluster_instances_and_routes(demo_report):
    hpc = demo_report.path("/jupyterhub/hpc/")
    assert hpc.cluster == "hpc"
    assert hpc.login == SAML_LOGIN
    assert hpc.balancer == "balancer://hub-hpc"
    assert [(m.instance, m.host, m.port, m.route) for m in hpc.members] == [
        ("hpc-hub1", "demo-hub1", 8000, "hub1"),
        ("hpc-hub2", "demo-hub2", 8000, "hub2"),
    ]
    # the cookie is scoped to the cluster, trailing slash included
    assert "ROUTEID" in hpc.sticky and "Path=/jupyterhub/hpc/;" in hpc.sticky
    assert hpc.members[0].health_check == "/jupyterhub/hpc/hub/health"
    assert demo_report.public_url == "https://localhost:8443"


def test_example_instances_are_named_as_deploy_names_them(example_report):
    knl = example_report.path("/jupyterhub/hpc-knl/")
    assert [(m.instance, m.host, m.port, m.route) for m in knl.members] == [
        ("hpc-knl-knl20", "jupyter20.example.org", 8100, "knl20"),
        ("hpc-knl-knl21", "jupyter21.example.org", 8100, "knl21"),
    ]
    assert len(example_report.path("/jupyterhub/htc/").members) == 3


def test_paths_without_login_are_exactly_the_expected_ones(demo_report, example_report):
    for report, realm in ((demo_report, "sitehub"), (example_report, "facility")):
        public = {p.path for p in report.public_without_login()}
        assert public == {
            "http:*",
            "/",
            "/errors/",
            "/mellon/",
            "/logout",
            "/jupyterhub",
            f"/realms/{realm}/",
        }
        assert all(p.why for p in report.public_without_login())
        # no hub path is ever public
        assert not any(p.path.startswith("/jupyterhub/") for p in report.public_without_login())
    assert demo_report.path("/balancer-manager").login != NO_LOGIN
    # Keycloak's admin surface is on the admin listener, never the public IdP URL
    assert demo_report.path("/admin/").url == "https://localhost:8445/admin/"
    assert example_report.path("/admin/").url.endswith(":8445/admin/")
    assert demo_report.path("/admin/").login != NO_LOGIN


def test_auth_chain_mfa_brute_force_and_sessions(demo_report, example_report):
    demo = demo_report.auth[0]
    assert demo.mfa["period"] == 30 and demo.mfa["digits"] == 6
    assert demo.mfa["algorithm"] == "HmacSHA1"
    assert demo.realm == "sitehub"
    assert demo.idp_metadata == "https://demo-keycloak:8443/realms/sitehub/protocol/saml/descriptor"
    assert demo.sp_entity_id == "https://localhost:8443/mellon/metadata"
    assert demo.paths == ("/jupyterhub/hpc/", "/jupyterhub/local/", "/jupyterhub/htc/")
    example = example_report.auth[0]
    assert example.brute_force["wait_increment_seconds"] == 120
    assert example.brute_force["max_wait_seconds"] == 3600
    assert "ldaps://ldap.example.org" in example.user_source
    layers = {s.layer.split(" (")[0]: s for s in demo.sessions}
    assert layers["mellon session"].max_seconds == 28800
    assert layers["mellon session"].idle_seconds == 7200
    # the frontend caps the hub cookie to the mellon session
    assert layers["hub login cookie"].max_seconds == 28800
    assert "Keycloak SSO session ends first, after 30 min" in demo.ends_first
    assert "mellon session (the site's login) ends after 8 h" in demo.ends_first
    culler = [s for s in demo.sessions if "idle culler" in s.layer]
    assert {(s.layer.split()[4], s.idle_seconds) for s in culler} == {
        ("hpc", 3600),
        ("local", 7200),
        ("htc", 3600),
    }


def test_listeners_per_hub_host(demo_report, example_report):
    # batch hubs expose their API to compute nodes, the local cluster's stays on loopback
    assert _listeners(demo_report, "demo-hub1") == {
        (8000, "0.0.0.0"),
        (8001, "127.0.0.1"),
        (8081, "0.0.0.0"),
        (8100, "0.0.0.0"),
        (8101, "127.0.0.1"),
        (8181, "127.0.0.1"),
    }
    assert _listeners(example_report, "jupyter20.example.org") == {
        (8000, "0.0.0.0"),
        (8001, "127.0.0.1"),
        (8081, "0.0.0.0"),
        (8100, "0.0.0.0"),
        (8101, "127.0.0.1"),
        (8181, "0.0.0.0"),
    }
    # Apache's public and admin listeners (the demo's admin one on every container address,
    # where podman's published port arrives), Keycloak and its management port on loopback
    assert _listeners(demo_report, "demo-keycloak") == {
        (8443, "*"),
        (8445, "0.0.0.0"),
        (8543, "127.0.0.1"),
        (9000, "127.0.0.1"),
    }
    assert _listeners(demo_report, "demo-slurmctl") == {
        (6817, "*"),
        (6819, "*"),
        (3306, "127.0.0.1"),
    }
    assert {p for p, _ in _listeners(demo_report, "demo-frontend")} == {80, 443}
    # production Slurm is the site's: no slurm daemon listens on a host sitehub deploys
    assert not [i for i in example_report.listeners if "slurm" in i.service]
    forwards = [i for i in demo_report.listeners if i.host.startswith("controller")]
    assert {(i.port, i.bind) for i in forwards} == {
        (8443, "127.0.0.1"),
        (8444, "127.0.0.1"),
        (8445, "127.0.0.1"),
    }


def test_tls_profile(example_report):
    front = example_report.tls[0]
    assert front.protocols == ("TLSv1.2", "TLSv1.3")
    assert "ECDHE-RSA-AES128-GCM-SHA256" in front.ciphers
    assert front.profile.startswith("ECDHE key exchange with AEAD ciphers only")
    assert front.hsts_max_age == 63072000


def test_secrets_by_origin(demo_report, example_report):
    example = {s.name: s for s in example_report.secrets}
    assert example["hub_cookie_secret"].origin == "vault"
    assert "inline !vault" in example["hub_cookie_secret"].detail
    assert "vault_keycloak_admin_password" in example["keycloak_admin_password"].detail
    assert example["keycloak_admin_password"].origin == "vault"
    derived = example["hpc-ic-ic20 cookie_secret"]
    assert derived.origin == "derived"
    assert "hub_cookie_secret" in derived.detail and "'hpc-ic-ic20/cookie'" in derived.detail
    assert example["TLS private key"].origin == "file"
    demo = {s.name: s for s in demo_report.secrets}
    assert demo["munge_key"].origin == "generated at deploy time"
    assert "/munge_key" in demo["munge_key"].detail
    header = next(s for s in demo_report.secrets if s.name.startswith("frontend header"))
    assert "'frontend-header'" in header.detail


def test_no_secret_value_reaches_the_report(tmp_path):
    inv = copy_inventory("demo", tmp_path)
    (inv / ".secrets").mkdir()
    value = "f00dfeed" * 8
    (inv / ".secrets" / "hub_cookie_secret").write_text(value)
    text = json.dumps(audit_inventory(inv).as_dict())
    assert value not in text
    # nor anything derived from it
    assert deploy.derive_secret(value, "hpc-hub1/cookie") not in text
    assert deploy.derive_secret(value, "frontend-header") not in text


def test_vault_ciphertext_is_not_in_the_report(example_report):
    text = json.dumps(example_report.as_dict())
    assert "$ANSIBLE_VAULT" not in text


def test_grants_from_the_demo_slurm(demo_report):
    grants = _grants(demo_report)
    assert "user alice may use partition usatlas on cluster hpc" in grants
    assert "user bob may use partition usatlas on cluster hpc" not in grants
    assert "user bob may use partition scavenger on cluster hpc" in grants
    assert "group atlas may use partition usatlas on cluster hpc" in grants
    assert "user alice may be in group atlas" in grants
    assert "user alice may hold hub admin rights on cluster hpc" in grants
    assert "every user of realm sitehub may use image bookworm on cluster hpc" in grants
    alice = next(
        g
        for g in demo_report.grants
        if g.subject == "user alice" and g.value == "usatlas" and g.kind == "partition"
    )
    assert "tier3 (QOS usatlas)" in alice.detail and "up to 720 min" in alice.detail


def test_grants_of_the_example_site(example_report):
    grants = _grants(example_report)
    realm = "every user of realm facility"
    assert (
        f"{realm} (LDAP users under ou=people,dc=example,dc=org) may use cluster hpc-knl" in grants
    )
    assert (
        f"{realm} (as the pool's user map allows) may use HTCondor accounting group "
        "group_atlas on cluster htc" in grants
    )
    assert "account tier3 may use partition usatlas on cluster hpc-ic" in grants
    assert "partition scavenger may offer GPU type pascal on cluster hpc-ic" in grants
    assert "partition scavenger may offer GPU type tesla on cluster hpc-ic" not in grants
    assert f"{realm} may use image el9-ml on cluster hpc-ic" in grants
    assert any(
        "discover: true" in g.value and g.cluster == "hpc-knl" for g in example_report.grants
    )


def test_departures(demo_report, example_report):
    demo = {d.setting: d for d in demo_report.departures}
    assert demo["sitehub_identity.database"].severity == "accepted for a demo"
    # the demo Slurm lets alice charge tier3 in debug, which the inventory lists for default only
    debug = demo["sitehub_clusters[hpc].options.partitions[debug].accounts"]
    assert debug.value == "default" and "tier3 (user alice)" in debug.why
    assert "sitehub_clusters[hpc].options.partitions[usatlas].accounts" not in demo
    example = {d.setting: d for d in example_report.departures}
    assert example["sitehub_identity.brute_force.wait_increment_seconds"].severity == "stricter"
    assert example["sitehub_identity.brute_force.max_wait_seconds"].value == "3600"
    assert "keycloak_db_sslmode (roles/keycloak default)" in example
    assert "sitehub_identity.database" not in example
    assert all(d.why for d in example_report.departures)
    hub_traffic = example["frontend to hub traffic"]
    assert hub_traffic.value == "plain HTTP (clusters hpc-ic, hpc-knl, htc)"


def test_weaker_settings_are_departures(tmp_path):
    inv = copy_inventory("example-site", tmp_path)
    identity = inv / "group_vars/all/identity.yml"
    edit(identity, "period: 30", "period: 60")
    edit(identity, "max_failures: 5", "max_failures: 20")
    report = audit_inventory(inv)
    found = {d.setting: d for d in report.departures}
    assert found["sitehub_identity.mfa.period"].severity == "weaker"
    assert found["sitehub_identity.brute_force.max_failures"].severity == "weaker"
    assert "up to 180 s" in report.auth[0].mfa_strength


def test_htcondor_accounting_groups_follow_realm_groups(demo_report):
    grants = _grants(demo_report)
    assert "user alice may use HTCondor accounting group group_atlas on cluster htc" in grants
    assert "user bob may use HTCondor accounting group group_belle2 on cluster htc" in grants
    assert "user bob may use HTCondor accounting group group_atlas on cluster htc" not in grants
    assert "group atlas may use HTCondor accounting group group_atlas on cluster htc" in grants
    htc = demo_report.path("/jupyterhub/htc/")
    assert [(m.host, m.port, m.route) for m in htc.members] == [
        ("demo-htc-hub", 8200, "htc1"),
        ("demo-htc-hub", 8300, "htc2"),
    ]
    pool = {i.host: i.service for i in demo_report.listeners if i.host.startswith("demo-htc-")}
    assert pool["demo-htc-cm"] == "HTCondor (demo pool: MASTER, COLLECTOR, NEGOTIATOR)"
    assert pool["demo-htc-x1"] == "HTCondor (demo pool: MASTER, STARTD)"
