"""Each rejection: a shipped inventory broken with one edit must yield a problem that names
the edited file, the line and key path to change, and says what to do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sitehub.inventory import validate_inventory
from sitehub.inventory.validate import Problem

from .conftest import INVENTORIES

CLUSTERS = "group_vars/all/clusters.yml"
IDENTITY = "group_vars/all/identity.yml"
SITE = "group_vars/all/site.yml"
SECRETS = "group_vars/all/secrets.yml"

DEMO_PARTITIONS = """      partitions:
        - name: debug
          max_runtime: 60
          accounts: [default]
          qos: [normal]
        - name: usatlas
          max_runtime: "12:00:00"
          gpu_types: [pascal, tesla]
          accounts: [tier3]
          qos: [usatlas]
        - name: scavenger
          max_runtime: "1-00:00:00"
          accounts: [default, tier3]
          qos: [scavenger]
"""


@dataclass(frozen=True)
class Case:
    id: str
    site: str  # "demo" or "example"
    file: str  # the file edited (and named by the problem)
    old: str
    new: str
    key: str  # key path the problem must name
    words: tuple[str, ...]  # the message must say these
    at: str | None = None  # text on the expected line (default: the start of `new`)


CASES = [
    # --- clusters: URL space and balancer members
    Case(
        "duplicate-segment",
        "demo",
        CLUSTERS,
        "segment: local",
        "segment: hpc",
        "sitehub_clusters[1].segment",
        ("'hpc'", "2 clusters", "own URL space"),
        at="segment: hpc\n    title: Demo Local",
    ),
    *(
        Case(
            f"segment-{bad}",
            "demo",
            CLUSTERS,
            "segment: local",
            f"segment: '{bad}'",
            "sitehub_clusters[1].segment",
            (bad, "^[a-z0-9-]+$"),
        )
        for bad in ("Local", "hpc_ic", "hpc/ic", "hpc ic", "")
    ),
    Case(
        "duplicate-route",
        "demo",
        CLUSTERS,
        "{host: demo-hub2, port: 8000, route: hub2}",
        "{host: demo-hub2, port: 8000, route: hub1}",
        "sitehub_clusters[0].instances[1].route",
        ("'hub1'", "2 instances", "own route id"),
    ),
    Case(
        "duplicate-route-block-style",
        "example",
        CLUSTERS,
        "      - {host: jupyter12.example.org, port: 8000, route: jh12}",
        "      - host: jupyter12.example.org\n        port: 8000\n        route: jh10",
        "sitehub_clusters[0].instances[2].route",
        ("'jh10'", "'htc'"),
        at="route: jh10\n",
    ),
    Case(
        "dotted-route",
        "demo",
        CLUSTERS,
        "route: hub2",
        "route: hub.2",
        "sitehub_clusters[0].instances[1].route",
        ("'hub.2'", "'.'", "ROUTEID"),
    ),
    Case(
        "same-host-port-in-cluster",
        "demo",
        CLUSTERS,
        "{host: demo-hub2, port: 8000, route: hub2}",
        "{host: demo-hub1, port: 8000, route: hub2}",
        "sitehub_clusters[0].instances[1].port",
        ("demo-hub1:8000", "hpc/hub1", "own port"),
    ),
    Case(
        "derived-port-clash",
        "demo",
        CLUSTERS,
        "port: 8100",
        "port: 8001",
        "sitehub_clusters[1].instances[0].port",
        ("demo-hub1:8001", "proxy API port of instance hpc/hub1", "P+1", "P+81"),
        at="port: 8001, route: local1",
    ),
    Case(
        "same-host-port-across-clusters",
        "demo",
        CLUSTERS,
        "port: 8100",
        "port: 8000",
        "sitehub_clusters[1].instances[0].port",
        ("demo-hub1:8000", "hpc/hub1", "own port"),
        at="port: 8000, route: local1",
    ),
    Case(
        "same-host-port-across-clusters-example",
        "example",
        CLUSTERS,
        "port: 8100, route: knl20",
        "port: 8000, route: knl20",
        "sitehub_clusters[2].instances[0].port",
        ("jupyter20.example.org:8000", "hpc-ic/ic20"),
    ),
    # --- schedulers and the options form
    Case(
        "unknown-scheduler",
        "demo",
        CLUSTERS,
        "scheduler: local",
        "scheduler: pbs",
        "sitehub_clusters[1].scheduler",
        ("'pbs'", "slurm", "htcondor", "local"),
    ),
    Case(
        "empty-slurm-partitions",
        "demo",
        CLUSTERS,
        DEMO_PARTITIONS,
        "      partitions: []\n",
        "sitehub_clusters[0].options.partitions",
        ("at least one partition", "discover: true"),
    ),
    Case(
        "slurm-without-partitions-or-discovery",
        "example",
        CLUSTERS,
        "discover: true",
        "discover: false",
        "sitehub_clusters[2].options.partitions",
        ("at least one partition", "discover: true"),
        at="options:\n      # KNL",
    ),
    *(
        Case(
            f"malformed-runtime-{bad}",
            "demo",
            CLUSTERS,
            "max_runtime: 60",
            f'max_runtime: "{bad}"',
            "sitehub_clusters[0].options.partitions[0].max_runtime",
            (bad, *hint),
        )
        for bad, hint in (
            ("12h", ("D-HH:MM:SS",)),
            ("1-25:00:00", ("hours (25) must be 0-23", "'2-01:00:00'")),
            ("10:75:00", ("minutes (75) must be 0-59",)),
            ("1 day", ("D-HH:MM:SS",)),
        )
    ),
    Case(
        "over-limit-runtime",
        "demo",
        CLUSTERS,
        "max_runtime: 60",
        'max_runtime: "367-00:00:00"',
        "sitehub_clusters[0].options.partitions[0].max_runtime",
        ("367-00:00:00", "366 days"),
    ),
    Case(
        "over-limit-runtime-minutes",
        "example",
        CLUSTERS,
        'max_runtime: "2-00:00:00"',
        "max_runtime: 600000",
        "sitehub_clusters[1].options.partitions[2].max_runtime",
        ("600000", "366 days"),
    ),
    Case(
        "zero-runtime",
        "demo",
        CLUSTERS,
        "max_runtime: 60",
        "max_runtime: 0",
        "sitehub_clusters[0].options.partitions[0].max_runtime",
        ("longer than zero",),
    ),
    Case(
        "default-runtime-over-every-partition",
        "example",
        CLUSTERS,
        "default_runtime: 30",
        'default_runtime: "3-00:00:00"',
        "sitehub_clusters[1].options.default_runtime",
        ("4320 minutes", "over every partition", "2880"),
    ),
    Case(
        "gpu-type-no-partition-offers",
        "demo",
        CLUSTERS,
        "gpu_types: [pascal, tesla]\n      default_runtime",
        "gpu_types: [pascal, volta]\n      default_runtime",
        "sitehub_clusters[0].options.gpu_types[1]",
        ("'volta'", "no partition", "pascal, tesla"),
    ),
    Case(
        "partition-account-not-in-cluster",
        "example",
        CLUSTERS,
        "accounts: [tier3]\n          qos: [usatlas]",
        "accounts: [tier4]\n          qos: [usatlas]",
        "sitehub_clusters[1].options.partitions[1].accounts[0]",
        ("'tier4'", "default, tier3"),
    ),
    Case(
        "misspelt-htcondor-block",
        "example",
        CLUSTERS,
        "    htcondor:\n      central_manager:",
        "    condor_pool:\n      central_manager:",
        "sitehub_clusters[0].condor_pool",
        ("unknown key 'condor_pool'",),
    ),
    Case(
        "undefined-kernel",
        "example",
        CLUSTERS,
        "kernels: [python3, atlas, belle2]",
        "kernels: [python3, atlas, belle3]",
        "sitehub_clusters[0].kernels[2]",
        ("'belle3'", "sitehub_kernels", "atlas, belle2, python3"),
    ),
    # --- TLS and the identity provider
    Case(
        "tls-1.1",
        "demo",
        SITE,
        "protocols: [TLSv1.2, TLSv1.3]",
        "protocols: [TLSv1.1, TLSv1.2]",
        "sitehub_tls.protocols[0]",
        ("TLSv1.1", "older than TLS 1.2", "TLSv1.2 and TLSv1.3"),
    ),
    Case(
        "tls-1.1-block-list",
        "example",
        SITE,
        "protocols: [TLSv1.2, TLSv1.3]",
        "protocols:\n    - TLSv1.2\n    - TLSv1.1",
        "sitehub_tls.protocols[1]",
        ("TLSv1.1", "older than TLS 1.2"),
        at="- TLSv1.1",
    ),
    Case(
        "tls-files-without-key",
        "example",
        SITE,
        "  key_file: files/tls/jupyter.example.org.key\n",
        "",
        "sitehub_tls",
        ("cert_file and key_file",),
        at="sitehub_tls:",
    ),
    Case(
        "http-metadata-url",
        "demo",
        IDENTITY,
        "  realm: sitehub\n",
        "  realm: sitehub\n  metadata_url: http://demo-keycloak/realms/sitehub/protocol/saml/descriptor\n",
        "sitehub_identity.metadata_url",
        ("http://", "https://"),
        at="  metadata_url:",
    ),
    Case(
        "http-idp-url",
        "example",
        IDENTITY,
        "url: https://sso.example.org",
        "url: http://sso.example.org",
        "sitehub_identity.url",
        ("'http://sso.example.org'", "https://"),
    ),
    Case(
        "http-admin-url",
        "demo",
        IDENTITY,
        "  admin_url: https://localhost:8445\n",
        "  admin_url: http://localhost:8445\n",
        "sitehub_identity.admin_url",
        ("http://", "https://"),
        at="  admin_url:",
    ),
    Case(
        "admin-bind-not-an-address",
        "demo",
        IDENTITY,
        "  admin_bind_address: 0.0.0.0\n",
        "  admin_bind_address: operators.example.org\n",
        "sitehub_identity.admin_bind_address",
        ("operators.example.org", "IP address"),
        at="  admin_bind_address:",
    ),
    Case(
        "admin-network-not-a-network",
        "demo",
        IDENTITY,
        "  admin_bind_address: 0.0.0.0\n",
        "  admin_bind_address: 0.0.0.0\n  admin_allowed_networks: [10.1.0.0/33]\n",
        "sitehub_identity.admin_allowed_networks",
        ("10.1.0.0/33", "CIDR"),
        at="  admin_allowed_networks:",
    ),
    Case(
        "ldap-in-the-clear",
        "example",
        IDENTITY,
        "url: ldaps://ldap.example.org",
        "url: ldap://ldap.example.org",
        "sitehub_identity.users.ldap.url",
        ("ldaps://", "start_tls"),
        at="url: ldap://ldap.example.org",
    ),
    # --- MFA policy
    Case(
        "otp-algorithm",
        "demo",
        IDENTITY,
        "algorithm: HmacSHA1",
        "algorithm: HmacMD5",
        "sitehub_identity.mfa.algorithm",
        ("HmacMD5", "HmacSHA1, HmacSHA256, HmacSHA512"),
    ),
    *(
        Case(
            f"otp-digits-{digits}",
            "demo",
            IDENTITY,
            "digits: 6",
            f"digits: {digits}",
            "sitehub_identity.mfa.digits",
            ("6 or 8", str(digits)),
        )
        for digits in (4, 7, 10)
    ),
    *(
        Case(
            f"otp-period-{period}",
            "example",
            IDENTITY,
            "period: 30",
            f"period: {period}",
            "sitehub_identity.mfa.period",
            ("use 30 or 60",),
        )
        for period in (0, -30, 86400)
    ),
    Case(
        "brute-force-disabled",
        "demo",
        IDENTITY,
        "enabled: true",
        "enabled: false",
        "sitehub_identity.brute_force.enabled",
        ("cannot be turned off", "max_failures"),
    ),
    Case(
        # A bool carries no line of its own: the key's line must still be found.
        "brute-force-disabled-not-first-key",
        "example",
        IDENTITY,
        "    enabled: true\n    max_failures: 5\n",
        "    max_failures: 5\n    enabled: false\n",
        "sitehub_identity.brute_force.enabled",
        ("cannot be turned off",),
        at="    enabled: false",
    ),
    Case(
        "wildcard-redirect-uri",
        "example",
        IDENTITY,
        "  groups: [atlas, belle2, sphenix, eic]\n",
        "  groups: [atlas, belle2, sphenix, eic]\n  extra_redirect_uris:\n"
        "    - https://jupyter.example.org/mellon/postResponse\n"
        "    - https://*.example.org/mellon/postResponse\n",
        "sitehub_identity.extra_redirect_uris[1]",
        ("wildcard", "exact URIs"),
        at="    - https://*.example.org",
    ),
    # --- secrets
    Case(
        "plaintext-secret",
        "example",
        SECRETS,
        'htcondor_token: "{{ vault_htcondor_token }}"',
        "htcondor_token: s3cret-literal-token",
        "sitehub_secrets.htcondor_token",
        ("plaintext", "ansible-vault encrypt_string"),
    ),
    Case(
        "password-lookup-outside-demo",
        "example",
        SECRETS,
        'munge_key: "{{ vault_munge_key }}"',
        "munge_key: \"{{ lookup('ansible.builtin.password', '/tmp/munge', length=64) }}\"",
        "sitehub_secrets.munge_key",
        ("password lookup", "demo", "ansible-vault"),
    ),
    Case(
        "reference-to-undefined-variable",
        "example",
        SECRETS,
        'ldap_bind_password: "{{ vault_ldap_bind_password }}"',
        'ldap_bind_password: "{{ vault_ldap_bind_pasword }}"',
        "sitehub_secrets.ldap_bind_password",
        ("vault_ldap_bind_pasword", "not a vaulted variable"),
    ),
    Case(
        "required-secret-missing",
        "example",
        SECRETS,
        '  munge_key: "{{ vault_munge_key }}"\n',
        "",
        "sitehub_secrets",
        ("'munge_key'", "required"),
        at="sitehub_secrets:",
    ),
    # --- hosts
    Case(
        "hub-host-not-in-inventory",
        "demo",
        CLUSTERS,
        "{host: demo-hub2, port: 8000",
        "{host: demo-hub3, port: 8000",
        "sitehub_clusters[0].instances[1].host",
        ("'demo-hub3'", "not in the inventory", "demo-hub2"),
    ),
    Case(
        "frontend-not-in-inventory",
        "example",
        SITE,
        "frontends: [jupyter01.example.org, jupyter02.example.org]",
        "frontends: [jupyter01.example.org, jupyter03.example.org]",
        "sitehub_site.frontends[1]",
        ("'jupyter03.example.org'", "not in the inventory"),
    ),
    Case(
        "identity-host-not-in-inventory",
        "example",
        IDENTITY,
        "host: sso01.example.org",
        "host: sso02.example.org",
        "sitehub_identity.host",
        ("'sso02.example.org'", "not in the inventory", "sso01.example.org"),
    ),
    # --- keys
    Case(
        "misspelt-key",
        "demo",
        IDENTITY,
        "algorithm: HmacSHA1",
        "algoritm: HmacSHA1",
        "sitehub_identity.mfa.algoritm",
        ("unknown key 'algoritm'", "did you mean 'algorithm'"),
    ),
    Case(
        "misspelt-key-with-bool-value",
        "demo",
        CLUSTERS,
        "run_locally: true",
        "run_localy: true",
        "sitehub_clusters[0].options.run_localy",
        ("unknown key 'run_localy'", "did you mean 'run_locally'"),
    ),
    Case(
        "missing-required-key",
        "demo",
        IDENTITY,
        "  host: demo-keycloak\n",
        "",
        "sitehub_identity.host",
        ("'host'", "missing"),
        at="sitehub_identity:",
    ),
    Case(
        "wrong-type",
        "example",
        CLUSTERS,
        "max_cpus: 8",
        "max_cpus: eight",
        "sitehub_clusters[0].htcondor.max_cpus",
        ("integer", "'eight'"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejection_names_file_line_key(site_copy, case: Case):
    copy = site_copy(case.site)
    copy.edit(case.file, case.old, case.new)
    line = copy.line_of(case.file, case.at or case.new.lstrip("\n").splitlines()[0] or case.new)
    problems = copy.validate()
    copy.expect(problems, key=case.key, file=case.file, line=line, words=case.words)


def test_secret_referring_to_a_plain_variable(site_copy):
    copy = site_copy("example")
    copy.edit(
        SECRETS, "sitehub_secrets:\n", "condor_token_plain: visible-in-git\nsitehub_secrets:\n"
    )
    copy.edit(
        SECRETS,
        'htcondor_token: "{{ vault_htcondor_token }}"',
        'htcondor_token: "{{ condor_token_plain }}"',
    )
    copy.expect(
        copy.validate(),
        key="sitehub_secrets.htcondor_token",
        file=SECRETS,
        line=copy.line_of(SECRETS, "htcondor_token:"),
        words=("condor_token_plain", "not a vaulted variable", "ansible-vault"),
    )


def test_duplicate_segment_names_both_clusters(site_copy):
    copy = site_copy("demo")
    first = copy.line_of(CLUSTERS, "segment: hpc")
    second = copy.edit(CLUSTERS, "segment: local", "segment: hpc")
    problems = copy.validate()
    copy.expect(problems, key="sitehub_clusters[0].segment", file=CLUSTERS, line=first)
    copy.expect(problems, key="sitehub_clusters[1].segment", file=CLUSTERS, line=second)


@pytest.mark.parametrize(
    "rel, text",
    [
        ("host_vars/demo-hub2.yml", "---\nsitehub_tls:\n  source: generated_ca\n"),
        ("group_vars/hubs.yml", "---\n# hubs only\nsitehub_tls:\n  source: generated_ca\n"),
    ],
)
def test_site_variable_overridden_for_some_hosts(site_copy, rel, text):
    copy = site_copy("demo")
    copy.write(rel, text)
    problems = copy.validate()
    copy.expect(
        problems,
        key="sitehub_tls",
        file=rel,
        line=copy.line_of(rel, "sitehub_tls:"),
        words=("site-wide", "group_vars/all", "remove it here", "site.yml:12"),
    )


def test_missing_site_variable(site_copy):
    copy = site_copy("demo")
    text = copy.file(SITE).read_text()
    copy.write(SITE, text.split("\nsitehub_tls:")[0] + "\n")
    problems = copy.validate()
    problem = copy.expect(problems, key="sitehub_tls", words=("missing", "group_vars/all"))
    assert Path(problem.file).resolve() == copy.path.resolve()
    assert problems == [problem], "a missing variable must not cascade into other problems"


def test_generated_secrets_need_the_demo_marker(site_copy):
    """Password lookups are allowed for a demo only: turning the marker off rejects each."""
    copy = site_copy("demo")
    copy.edit(SITE, "demo: true", "demo: false")
    problems = copy.validate()
    names = [line.split(":")[0].strip() for line in copy.file(SECRETS).read_text().splitlines()]
    secrets = [n for n in names if n and not n.startswith(("#", "-", "{", "sitehub_"))]
    assert "keycloak_admin_password" in secrets
    for name in secrets:
        copy.expect(
            problems,
            key=f"sitehub_secrets.{name}",
            file=SECRETS,
            line=copy.line_of(SECRETS, f"  {name}:"),
            words=("password lookup", "only for demo sites"),
        )


def test_misspelt_site_variable(site_copy):
    copy = site_copy("demo")
    line = copy.edit(SITE, "sitehub_tls:", "sitehub_tsl:")
    problems = copy.validate()
    copy.expect(
        problems,
        key="sitehub_tsl",
        file=SITE,
        line=line,
        words=("unknown site variable", "did you mean 'sitehub_tls'"),
    )
    copy.expect(problems, key="sitehub_tls", words=("missing", "'sitehub_tsl' looks like"))


def test_all_problems_at_once_in_one_file(site_copy):
    """A schema error (unknown scheduler) must not hide the cross-checks of other clusters."""
    copy = site_copy("demo")
    copy.edit(CLUSTERS, "segment: local", "segment: hpc")
    copy.edit(CLUSTERS, "scheduler: local", "scheduler: pbs")
    copy.edit(CLUSTERS, "route: hub2", "route: hub.2")
    problems = copy.validate()
    assert len(problems) >= 3
    keys = {p.key for p in problems}
    assert {
        "sitehub_clusters[1].segment",
        "sitehub_clusters[1].scheduler",
        "sitehub_clusters[0].instances[1].route",
    } <= keys


def test_all_problems_at_once_across_files(site_copy):
    copy = site_copy("example")
    copy.edit(SITE, "protocols: [TLSv1.2, TLSv1.3]", "protocols: [TLSv1, TLSv1.3]")
    copy.edit(IDENTITY, "digits: 6", "digits: 5")
    copy.edit(CLUSTERS, "route: ic21", "route: ic20")
    copy.edit(SECRETS, 'munge_key: "{{ vault_munge_key }}"', "munge_key: plain")
    problems = copy.validate()
    assert len(problems) >= 4
    files = {Path(p.file).name for p in problems}
    assert files == {"site.yml", "identity.yml", "clusters.yml", "secrets.yml"}


def test_problems_are_sorted_and_unique(site_copy):
    copy = site_copy("demo")
    copy.edit(CLUSTERS, "segment: local", "segment: hpc")
    copy.edit(IDENTITY, "digits: 6", "digits: 5")
    problems = copy.validate()
    assert problems == sorted(set(problems))


@pytest.mark.parametrize("site", ["demo", "example-site"])
def test_shipped_inventories_are_valid(site):
    assert validate_inventory(INVENTORIES / site) == []


def test_problem_text_format():
    problem = Problem("group_vars/all/site.yml", 12, "sitehub_tls.protocols[0]", "use TLSv1.2")
    assert str(problem) == "group_vars/all/site.yml:12: sitehub_tls.protocols[0]: use TLSv1.2"
    assert str(Problem("inventories/x", 0, "sitehub_tls", "missing")) == (
        "inventories/x: sitehub_tls: missing"
    )


def test_paths_below_the_working_directory_are_relative(site_copy, monkeypatch):
    copy = site_copy("demo")
    copy.edit(IDENTITY, "digits: 6", "digits: 5")
    monkeypatch.chdir(copy.path.parent)
    (problem,) = validate_inventory(copy.path.name)
    assert problem.file == f"demo/{IDENTITY}"


# --- inventories with a vault-encrypted file --------------------------------------------------

VAULT_PASSWORD = "correct horse battery staple"
PLAIN_SECRETS = """---
# Inside a vault-encrypted file, literal values are fine: the file is the vault.
sitehub_secrets:
  keycloak_admin_password: admin-literal-0123456789abcdef0123456789abcdef
  keycloak_db_password: db-literal-0123456789abcdef0123456789abcdef
  ldap_bind_password: ldap-literal-0123456789abcdef0123456789abcdef
  munge_key: munge-literal-0123456789abcdef0123456789abcdef
  htcondor_token: token-literal-0123456789abcdef0123456789abcdef
  hub_cookie_secret: cookie-literal-0123456789abcdef0123456789abcdef
  hub_crypt_key: crypt-literal-0123456789abcdef0123456789abcdef
  hub_proxy_token: "{{ not_vaulted_anywhere }}"
"""


@pytest.fixture(scope="module")
def vaulted_secrets(tmp_path_factory):
    """(ciphertext of PLAIN_SECRETS, password file): one ansible-vault run per module."""
    folder = tmp_path_factory.mktemp("vault")
    password_file = folder / "password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    target = folder / "secrets.yml"
    target.write_text(PLAIN_SECRETS)
    vault = Path(sys.executable).with_name("ansible-vault")
    subprocess.run(
        [str(vault), "encrypt", "--vault-password-file", str(password_file), str(target)],
        check=True,
        capture_output=True,
    )
    assert target.read_bytes().startswith(b"$ANSIBLE_VAULT;")
    return target.read_bytes(), password_file


@pytest.fixture
def vault_copy(site_copy, vaulted_secrets):
    copy = site_copy("example")
    copy.file(SECRETS).write_bytes(vaulted_secrets[0])
    return copy, vaulted_secrets[1]


def test_vault_file_with_password(vault_copy):
    copy, password_file = vault_copy
    problems = copy.validate(vault_password_files=[str(password_file)])
    # Only the one reference to a variable that is vaulted nowhere; its line is known
    # even though the file is encrypted.
    (problem,) = problems
    copy.expect(
        problems,
        key="sitehub_secrets.hub_proxy_token",
        file=SECRETS,
        line=11,
        words=("not_vaulted_anywhere",),
    )
    assert "plaintext" not in problem.message


def test_vault_file_without_password_is_a_problem_not_a_traceback(vault_copy):
    copy, _ = vault_copy
    problems = copy.validate()
    copy.expect(
        problems,
        key="(vault)",
        file=SECRETS,
        words=("vault-encrypted", "--vault-password-file", "ANSIBLE_VAULT_PASSWORD_FILE"),
    )
    assert len(problems) == 1, "an unreadable inventory must not cascade into 'missing' problems"


def test_vault_file_with_wrong_password(vault_copy, tmp_path):
    copy, _ = vault_copy
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    problems = copy.validate(vault_password_files=[str(wrong)])
    copy.expect(problems, key="(vault)", file=SECRETS, words=("could not be decrypted",))


def test_vault_password_file_that_does_not_exist(vault_copy, tmp_path):
    copy, _ = vault_copy
    problems = copy.validate(vault_password_files=[str(tmp_path / "nope")])
    (problem,) = problems
    assert problem.key == "(vault)"
    assert "nope" in problem.message and "not found" in problem.message


def test_vault_password_from_environment(vault_copy, monkeypatch):
    copy, password_file = vault_copy
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password_file))
    assert [p.key for p in copy.validate()] == ["sitehub_secrets.hub_proxy_token"]


def test_unreadable_yaml_names_file_and_line(site_copy):
    copy = site_copy("demo")
    copy.edit(CLUSTERS, "    title: Demo HPC\n", "    title: Demo HPC\n   bad: [unclosed\n")
    (problem,) = copy.validate()
    assert problem.key == "(inventory)"
    assert problem.file.endswith(CLUSTERS)
    assert problem.line > 0
    assert "YAML" in problem.message


def test_inventory_without_hosts(tmp_path):
    shutil.copytree(INVENTORIES / "demo" / "group_vars", tmp_path / "site" / "group_vars")
    (tmp_path / "site" / "hosts.yml").write_text("---\nall:\n  hosts: {}\n")
    (problem,) = validate_inventory(tmp_path / "site")
    assert "names no hosts" in problem.message


def test_demo_user_group_must_be_a_realm_group(site_copy):
    copy = site_copy("demo")
    copy.edit("group_vars/all/identity.yml", "groups: [atlas]", "groups: [atlsa]")
    problems = copy.validate()
    copy.expect(
        problems,
        key="sitehub_identity.demo_users[0].groups[0]",
        file="group_vars/all/identity.yml",
        words=["atlsa", "not one of sitehub_identity.groups"],
    )


def test_uids_and_gids_must_be_unique(site_copy):
    copy = site_copy("demo")
    copy.edit("group_vars/all/identity.yml", "uid: 2002", "uid: 2001")
    copy.edit("group_vars/all/identity.yml", "gid: 3002", "gid: 3001")
    problems = copy.validate()
    copy.expect(problems, key="sitehub_identity.demo_users[1].uid", words=["uid 2001", "alice"])
    copy.expect(problems, key="sitehub_identity.groups[1].gid", words=["gid 3001", "atlas"])
