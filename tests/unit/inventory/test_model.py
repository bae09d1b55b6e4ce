"""Field-level rules of the site model, without any inventory."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from sitehub.inventory.model import (
    MAX_RUNTIME_MINUTES,
    REQUIRED_SITE_VARIABLES,
    SCHEDULERS,
    SITE_VARIABLES,
    BruteForce,
    Cluster,
    FormOptions,
    Identity,
    Instance,
    Kernel,
    Ldap,
    OtpPolicy,
    Partition,
    SiteModel,
    Tls,
    UserSource,
)
from sitehub.inventory.validate import _plain

from .conftest import INVENTORIES

CLUSTER = {
    "segment": "hpc",
    "title": "HPC",
    "scheduler": "slurm",
    "instances": [{"host": "hub1", "port": 8000, "route": "hub1"}],
    "options": {"partitions": [{"name": "debug", "max_runtime": "1:00:00"}]},
}


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[tuple, str]:
    return {tuple(e["loc"]): e["msg"] for e in exc.value.errors()}


def test_site_variables():
    assert SITE_VARIABLES == (
        "sitehub_site",
        "sitehub_tls",
        "sitehub_identity",
        "sitehub_clusters",
        "sitehub_kernels",
        "sitehub_secrets",
    )
    assert set(REQUIRED_SITE_VARIABLES) == {
        "sitehub_site",
        "sitehub_tls",
        "sitehub_identity",
        "sitehub_clusters",
    }


def test_cluster_defaults_and_base_url():
    cluster = Cluster.model_validate(CLUSTER)
    assert cluster.base_url == "/jupyterhub/hpc/"
    assert cluster.options.partitions[0].max_runtime == 60
    assert cluster.options.default_runtime == 60
    assert cluster.idle_timeout_minutes == 120


@pytest.mark.parametrize("segment", ["hpc", "hpc-ic", "a1", "0"])
def test_good_segments(segment):
    assert Cluster.model_validate({**CLUSTER, "segment": segment}).segment == segment


@pytest.mark.parametrize("segment", ["HPC", "hpc_ic", "hpc/ic", "hpc.ic", "", "ü"])
def test_bad_segments(segment):
    with pytest.raises(ValidationError) as exc:
        Cluster.model_validate({**CLUSTER, "segment": segment})
    assert "^[a-z0-9-]+$" in errors(exc)[("segment",)]


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_supported_schedulers(scheduler):
    assert Cluster.model_validate({**CLUSTER, "scheduler": scheduler}).scheduler == scheduler


def test_unknown_scheduler_lists_supported():
    with pytest.raises(ValidationError) as exc:
        Cluster.model_validate({**CLUSTER, "scheduler": "SLURM"})
    assert "slurm, htcondor, local" in errors(exc)[("scheduler",)]


def test_cluster_needs_an_instance():
    with pytest.raises(ValidationError) as exc:
        Cluster.model_validate({**CLUSTER, "instances": []})
    assert ("instances",) in errors(exc)


@pytest.mark.parametrize("route", ["hub1", "jh-10", "a_b", "X9"])
def test_good_routes(route):
    assert Instance(host="h", port=1, route=route).route == route


@pytest.mark.parametrize(
    "route, words", [("hub.1", "contains '.'"), ("hub 1", "only letters"), ("", "only letters")]
)
def test_bad_routes(route, words):
    with pytest.raises(ValidationError, match=words):
        Instance(host="h", port=1, route=route)


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_bad_ports(port):
    with pytest.raises(ValidationError):
        Instance(host="h", port=port, route="r")


@pytest.mark.parametrize(
    "value, minutes", [(30, 30), ("30", 30), ("12:00:00", 720), ("1-00:00:00", 1440)]
)
def test_partition_runtime_in_minutes(value, minutes):
    assert Partition(name="p", max_runtime=value).max_runtime == minutes


@pytest.mark.parametrize(
    "value, words",
    [
        ("12h", "malformed"),
        ("1-25:00:00", "hours (25) must be 0-23"),
        (0, "longer than zero"),
        (MAX_RUNTIME_MINUTES + 1, "366 days"),
        (True, "not a duration"),
        (-5, "negative"),
    ],
)
def test_partition_bad_runtime(value, words):
    with pytest.raises(ValidationError) as exc:
        Partition(name="p", max_runtime=value)
    assert words in errors(exc)[("max_runtime",)]


def test_runtime_limit_is_inclusive():
    assert FormOptions(default_runtime=MAX_RUNTIME_MINUTES).default_runtime == MAX_RUNTIME_MINUTES


@pytest.mark.parametrize("protocols", [["TLSv1.2"], ["TLSv1.3"], ["TLSv1.2", "TLSv1.3"]])
def test_modern_tls(protocols):
    assert Tls(source="generated_ca", protocols=protocols).protocols == protocols


@pytest.mark.parametrize(
    "protocols, loc, words",
    [
        (["TLSv1.2", "TLSv1.1"], ("protocols", 1), "older than TLS 1.2"),
        (["SSLv3"], ("protocols", 0), "older than TLS 1.2"),
        (["TLSv1"], ("protocols", 0), "older than TLS 1.2"),
        (["TLS1.3"], ("protocols", 0), "unknown TLS protocol"),
        ([], ("protocols",), "at least one"),
    ],
)
def test_old_or_unknown_tls(protocols, loc, words):
    with pytest.raises(ValidationError) as exc:
        Tls(source="generated_ca", protocols=protocols)
    assert words in errors(exc)[loc]


def test_tls_files_need_cert_and_key():
    with pytest.raises(ValidationError, match="cert_file and key_file"):
        Tls(source="files", cert_file="a.crt")
    assert Tls(source="files", cert_file="a.crt", key_file="a.key").key_file == "a.key"


IDENTITY = {"host": "kc", "url": "https://sso.example.org", "realm": "facility"}


def test_identity_defaults_and_metadata_url():
    identity = Identity.model_validate(IDENTITY)
    assert identity.mfa.algorithm == "HmacSHA1" and identity.mfa.digits == 6
    assert identity.brute_force.enabled is True
    assert identity.idp_metadata_url == (
        "https://sso.example.org/realms/facility/protocol/saml/descriptor"
    )
    given = Identity.model_validate({**IDENTITY, "metadata_url": "https://idp/x.xml"})
    assert given.idp_metadata_url == "https://idp/x.xml"


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("url", "http://sso.example.org", "plain http://"),
        ("url", "sso.example.org", "not an https:// URL"),
        ("metadata_url", "http://sso/metadata", "plain http://"),
    ],
)
def test_identity_urls_must_be_https(key, value, words):
    with pytest.raises(ValidationError) as exc:
        Identity.model_validate({**IDENTITY, key: value})
    assert words in errors(exc)[(key,)]


@pytest.mark.parametrize(
    "uris, loc, words",
    [
        (["https://a/ok", "https://*.example.org/cb"], ("extra_redirect_uris", 1), "wildcard"),
        (["https://hub.example.org/*"], ("extra_redirect_uris", 0), "wildcard"),
        (["http://hub.example.org/cb"], ("extra_redirect_uris", 0), "plain http://"),
    ],
)
def test_redirect_uris(uris, loc, words):
    with pytest.raises(ValidationError) as exc:
        Identity.model_validate({**IDENTITY, "extra_redirect_uris": uris})
    assert words in errors(exc)[loc]


@pytest.mark.parametrize("algorithm", ["HmacSHA1", "HmacSHA256", "HmacSHA512"])
@pytest.mark.parametrize("digits", [6, 8])
def test_good_otp(algorithm, digits):
    policy = OtpPolicy(algorithm=algorithm, digits=digits, period=30)
    assert (policy.algorithm, policy.digits) == (algorithm, digits)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("algorithm", "HmacMD5", "HmacSHA1, HmacSHA256, HmacSHA512"),
        ("algorithm", "hmacsha1", "not supported"),
        ("digits", 7, "6 or 8"),
        ("digits", 0, "6 or 8"),
        ("period", 0, "use 30 or 60"),
        ("period", 86400, "use 30 or 60"),
        ("type", "hotp", "totp"),
    ],
)
def test_bad_otp(field, value, words):
    with pytest.raises(ValidationError) as exc:
        OtpPolicy.model_validate({field: value})
    assert words in errors(exc)[(field,)]


def test_brute_force_cannot_be_disabled():
    with pytest.raises(ValidationError, match="cannot be turned off"):
        BruteForce(enabled=False)
    with pytest.raises(ValidationError):
        BruteForce(max_failures=0)


def test_ldap_must_be_encrypted():
    base = {"bind_dn": "uid=kc", "users_dn": "ou=people"}
    assert Ldap.model_validate({**base, "url": "ldaps://ldap"}).url == "ldaps://ldap"
    assert Ldap.model_validate({**base, "url": "ldap://ldap", "start_tls": True}).start_tls
    with pytest.raises(ValidationError) as exc:
        Ldap.model_validate({**base, "url": "ldap://ldap"})
    assert "start_tls" in errors(exc)[("url",)]
    with pytest.raises(ValidationError, match="not an ldap"):
        Ldap.model_validate({**base, "url": "https://ldap"})


def test_ldap_user_source_needs_ldap_block():
    with pytest.raises(ValidationError, match="needs an 'ldap' block"):
        UserSource(type="ldap")


def test_kernel_env_names():
    assert Kernel(name="k", display_name="K", env={"A_1": "x"}, unset=["B"]).unset == ["B"]
    with pytest.raises(ValidationError, match="not a valid environment variable"):
        Kernel(name="k", display_name="K", env={"1A": "x"})
    with pytest.raises(ValidationError, match="not a valid environment variable"):
        Kernel(name="k", display_name="K", unset=["A-B"])


def test_unknown_keys_are_refused():
    with pytest.raises(ValidationError) as exc:
        Cluster.model_validate({**CLUSTER, "segmnet": "x"})
    assert [e["type"] for e in exc.value.errors()] == ["extra_forbidden"]


def test_models_are_frozen():
    cluster = Cluster.model_validate(CLUSTER)
    with pytest.raises(ValidationError):
        cluster.segment = "other"


@pytest.mark.parametrize("site", ["demo", "example-site"])
def test_shipped_inventories_make_a_site_model(site):
    from sitehub.inventory import load_inventory

    loaded = load_inventory(INVENTORIES / site)
    model = SiteModel.model_validate(_plain(loaded.site_vars))
    assert model.sitehub_clusters
    assert all(c.base_url.startswith("/jupyterhub/") for c in model.sitehub_clusters)


def test_example_site_shape():
    """The production-like example: HTC on HTCondor with 3 hubs, two Slurm HPC clusters."""
    from sitehub.inventory import load_inventory

    site = SiteModel.model_validate(_plain(load_inventory(INVENTORIES / "example-site").site_vars))
    by_scheduler = {}
    for cluster in site.sitehub_clusters:
        by_scheduler.setdefault(cluster.scheduler, []).append(cluster)
    (htc,) = by_scheduler["htcondor"]
    assert len(htc.instances) == 3
    assert len(by_scheduler["slurm"]) == 2
    assert any(p.gpu_types for c in by_scheduler["slurm"] for p in c.options.partitions)
    # inline-vaulted values stay opaque: validation never decrypts them
    assert site.sitehub_secrets["hub_cookie_secret"] == "<vaulted>"


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("gpu_capabilities", ["8"], "must look like 8.0"),
        ("gpu_devices", ['A100" || true'], "cannot hold quotes"),
        ("accounting_groups", ["group_$(x)"], "cannot hold quotes"),
        ("version", "latest", "must look like 24.0"),
    ],
)
def test_htcondor_values_that_reach_classads_are_checked(field, value, words):
    from sitehub.inventory.model import HtcondorPool

    with pytest.raises(ValueError, match=re.escape(words)):
        HtcondorPool(central_manager="cm.example.org", **{field: value})
