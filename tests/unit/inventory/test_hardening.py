"""Issue 21: each class of value that walked around validation is refused at its root.

Like test_validate.py, a shipped inventory is broken with one edit; the problem must name
the edited file, the line and key, and say what to change.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sitehub.inventory import validate
from sitehub.inventory.roles import owned_role_variables
from sitehub.render import commands

CLUSTERS = "group_vars/all/clusters.yml"
IDENTITY = "group_vars/all/identity.yml"
SITE = "group_vars/all/site.yml"
KERNELS = "group_vars/all/kernels.yml"
HOSTS = "hosts.yml"


@dataclass(frozen=True)
class Case:
    id: str
    site: str
    file: str
    old: str
    new: str
    key: str
    words: tuple[str, ...]
    at: str | None = None  # text on the expected line (default: the start of `new`)


CASES = [
    # --- line breaks and control characters, whatever the field
    Case(
        "route-newline",
        "demo",
        CLUSTERS,
        "route: hub2}",
        'route: "hub2\\n"}',
        "sitehub_clusters[0].instances[1].route",
        ("U+000A", "line break", "remove it"),
    ),
    Case(
        "identity-url-extra-line",
        "example",
        IDENTITY,
        "url: https://sso.example.org",
        'url: "https://sso.example.org\\nhttp-enabled=true"',
        "sitehub_identity.url",
        ("U+000A",),
    ),
    Case(
        "title-line-separator",
        "demo",
        CLUSTERS,
        "title: Demo Local",
        'title: "Demo\\u2028Local"',
        "sitehub_clusters[1].title",
        ("U+2028",),
    ),
    # --- Jinja: validated as text, deployed as what it evaluates to
    Case(
        "title-jinja",
        "demo",
        CLUSTERS,
        "title: Demo HPC",
        "title: \"{{ lookup('pipe', 'id') }}\"",
        "sitehub_clusters[0].title",
        ("'{{'", "template", "literal value"),
    ),
    Case(
        "env-jinja-statement",
        "demo",
        KERNELS,
        'DEMO_STACK_RELEASE: "2026-11"',
        'DEMO_STACK_RELEASE: "{% if true %}x{% endif %}"',
        "sitehub_kernels[1].env.DEMO_STACK_RELEASE",
        ("'{%'",),
    ),
    # --- YAML quirks
    Case(
        "base-60",
        "demo",
        CLUSTERS,
        'max_runtime: "12:00:00"',
        "max_runtime: 12:00:00",
        "sitehub_clusters[0].options.partitions[1].max_runtime",
        ("base-60", "43200", '"12:00:00"'),
    ),
    Case(
        "yes-boolean",
        "demo",
        CLUSTERS,
        "run_locally: true",
        "run_locally: yes",
        "sitehub_clusters[0].options.run_locally",
        ("boolean true", "'yes'"),
    ),
    Case(
        "octal",
        "demo",
        IDENTITY,
        "gid: 3001",
        "gid: 03001",
        "sitehub_identity.groups[0].gid",
        ("octal", "1537", "'03001'"),
    ),
    Case(
        "duplicate-key",
        "demo",
        CLUSTERS,
        "    title: Demo Local\n",
        "    title: Demo Local\n    title: Demo Local 2\n",
        "sitehub_clusters[1].title",
        ("twice", "silently dropped"),
        at="    title: Demo Local 2",
    ),
    # --- loose values
    Case(
        "port-as-string",
        "demo",
        CLUSTERS,
        "port: 8100",
        'port: "8100"',
        "sitehub_clusters[1].instances[0].port",
        ("string", "without quotes"),
    ),
    Case(
        "derived-port-over-65535",
        "demo",
        CLUSTERS,
        "port: 8100",
        "port: 65500",
        "sitehub_clusters[1].instances[0].port",
        ("P+81", "at most 65454"),
    ),
    Case(
        "hub-on-frontend-443",
        "demo",
        CLUSTERS,
        "{host: demo-hub1, port: 8100, route: local1}",
        "{host: demo-frontend, port: 443, route: local1}",
        "sitehub_clusters[1].instances[0].port",
        ("frontend", "443", "another port"),
    ),
    Case(
        "brute-force-toothless",
        "demo",
        IDENTITY,
        "max_failures: 5",
        "max_failures: 1000",
        "sitehub_identity.brute_force.max_failures",
        ("at most 30",),
    ),
    Case(
        "brute-force-short-wait",
        "demo",
        IDENTITY,
        "wait_increment_seconds: 60",
        "wait_increment_seconds: 1",
        "sitehub_identity.brute_force.wait_increment_seconds",
        ("at least 30",),
    ),
    Case(
        "otp-period-a-day",
        "demo",
        IDENTITY,
        "period: 30",
        "period: 86400",
        "sitehub_identity.mfa.period",
        ("30 or 60",),
    ),
    Case(
        "dev-file-production",
        "example",
        IDENTITY,
        "database: postgres",
        "database: dev-file",
        "sitehub_identity.database",
        ("demo sites", "postgres"),
    ),
    Case(
        "kernel-name-case",
        "demo",
        KERNELS,
        "name: demo-stack",
        "name: Python3-Demo",
        "sitehub_kernels[1].name",
        ("only in case",),
    ),
    Case(
        "kernel-name-too-long",
        "demo",
        KERNELS,
        "name: demo-stack",
        "name: " + "k" * 101,
        "sitehub_kernels[1].name",
        ("100",),
    ),
    Case(
        "relative-setup-script",
        "demo",
        KERNELS,
        "setup_scripts: [/opt/sitehub/software/demo-stack/setup.sh]",
        "setup_scripts: [demo-stack/setup.sh]",
        "sitehub_kernels[1].setup_scripts[0]",
        ("absolute path",),
    ),
    Case(
        "kernel-image-option",
        "demo",
        KERNELS,
        "image: localhost/sitehub-kernel:trixie",
        "image: --privileged",
        "sitehub_kernels[2].image",
        ("not starting with '-'",),
    ),
    Case(
        "javascript-link",
        "example",
        SITE,
        "info_url: https://docs.example.org/jupyter",
        'info_url: "javascript:alert(1)"',
        "sitehub_site.info_url",
        ("https:// link", "path on this site"),
    ),
    Case(
        "segment-too-long",
        "demo",
        CLUSTERS,
        "segment: local",
        "segment: " + "l" * 300,
        "sitehub_clusters[1].segment",
        ("at most 29", "systemd"),
    ),
    Case(
        "partition-too-long",
        "demo",
        CLUSTERS,
        "- name: debug",
        "- name: " + "d" * 100,
        "sitehub_clusters[0].options.partitions[0].name",
        ("Slurm name", "64"),
    ),
    Case(
        "instance-name-for-jupyterhub",
        "demo",
        CLUSTERS,
        "route: local1}",
        "route: Local_1}",
        "sitehub_clusters[1].instances[0].route",
        ("'local-Local_1'", "jupyterhub role", "31"),
        at="{host: demo-hub1, port: 8100, route: Local_1}",
    ),
    Case(
        "protocol-relative-link",
        "example",
        SITE,
        "info_url: https://docs.example.org/jupyter",
        "info_url: //evil.example.net/",
        "sitehub_site.info_url",
        ("path on this site",),
    ),
    Case(
        "schedd-name",
        "example",
        CLUSTERS,
        "schedd: jupyter-schedd.example.org",
        'schedd: "jupyter-schedd.example.org; rm"',
        "sitehub_clusters[0].htcondor.schedd",
        ("not a schedd name",),
    ),
    Case(
        "host-name-invalid",
        "demo",
        HOSTS,
        "            demo-c2:",
        "            demo_c2:",
        "demo_c2",
        ("not a valid host name",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_refused_with_file_line_key(site_copy, case):
    copy = site_copy(case.site)
    line = copy.edit(case.file, case.old, case.new)
    if case.at is not None:
        line = copy.line_of(case.file, case.at)
    problems = copy.validate()
    copy.expect(problems, key=case.key, file=case.file, line=line, words=case.words)


def test_instance_names_that_collide_after_derivation(site_copy):
    copy = site_copy("demo")
    copy.edit(CLUSTERS, "route: hub2}", "route: a-b}")
    copy.edit(CLUSTERS, "segment: local", "segment: hpc-a")
    line = copy.edit(CLUSTERS, "route: local1}", "route: b}")
    copy.expect(
        copy.validate(),
        key="sitehub_clusters[1].instances[0].route",
        file=CLUSTERS,
        line=line,
        words=("'hpc-a-b'", "hpc/a-b", "change the route id"),
    )


def test_backup_file_in_group_vars_all_redefines(site_copy):
    copy = site_copy("demo")
    site = copy.file(SITE).read_text()
    copy.write("group_vars/all/site_old", site.replace("Demo", "Old demo"))
    copy.write("group_vars/all/site.yml~", site)  # skipped by Ansible: no problem
    problems = copy.validate()
    problem = copy.expect(
        problems,
        key="sitehub_site",
        file="group_vars/all/site_old",
        line=copy.line_of("group_vars/all/site_old", "sitehub_site:"),
        words=("also set in", "site.yml", "extensionless"),
    )
    assert "site.yml~" not in str(problems), problem


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("keycloak_realm_otp_period", "sitehub_identity.mfa.period"),
        ("frontend_site_title", "sitehub_site.title"),
        ("frontend_mellon_redirect_domains", "must become a site variable"),
        ("jupyterhub_frontend_secret", "sitehub_secrets"),
    ],
)
def test_model_owned_role_variable_refused(site_copy, name, instead):
    copy = site_copy("demo")
    copy.write("group_vars/frontend.yml", f"---\nsome_other_setting: 1\n{name}: x\n")
    problems = copy.validate()
    copy.expect(
        problems, key=name, file="group_vars/frontend.yml", line=3, words=("override", instead)
    )


def test_role_variables_the_model_exposes_or_does_not_own_pass(site_copy):
    copy = site_copy("demo")
    copy.write("group_vars/keycloak.yml", "---\nkeycloak_tls_cert_src: files/kc.crt\n")
    problems = copy.validate()
    # the demo's testbed.yml tunes demo-only roles (slurm_testbed_*, htcondor_pool_*)
    assert problems == [], "\n".join(map(str, problems))
    owned = owned_role_variables()
    assert owned.refusal("slurm_testbed_users") is None
    assert owned.refusal("htcondor_pool_cpus") is None  # demo-only role (batch.yml)
    assert owned.refusal("htcondor_submit_schedd") is not None
    assert owned.refusal("keycloak_tls_cert_src") is None
    assert "keycloak_realm_" in owned.prefixes


def test_yaml_syntax_error_names_file_and_line(site_copy):
    copy = site_copy("demo")
    copy.write("group_vars/hubs.yml", "---\nfoo: [unclosed\nbar: 1\n")
    problems = copy.validate()
    assert problems, "a broken YAML file must be a problem"
    assert any(p.file.endswith("group_vars/hubs.yml") and p.line for p in problems), problems


SHORT_SECRETS = """---
sitehub_secrets:
  keycloak_admin_password: tiny5
  keycloak_db_password: ""
  ldap_bind_password: ldap-literal-0123456789abcdef
  munge_key: munge-literal-0123456789abcdef0123456789
  htcondor_token: token-literal-0123456789abcdef0123456789
  hub_cookie_secret: cookie-literal-0123456789abcdef0123456789
  hub_crypt_key: crypt-literal-0123456789abcdef0123456789
  hub_proxy_token: proxy-literal-0123456789abcdef0123456789
"""


def test_short_and_empty_secrets_in_a_vault_file(site_copy, tmp_path):
    copy = site_copy("example")
    target = copy.file("group_vars/all/secrets.yml")
    target.write_text(SHORT_SECRETS)
    password = tmp_path / "password"
    password.write_text("throw-away\n")
    vault = Path(sys.executable).with_name("ansible-vault")
    subprocess.run(
        [str(vault), "encrypt", "--vault-password-file", str(password), str(target)],
        check=True,
        capture_output=True,
    )
    problems = copy.validate(vault_password_files=[str(password)])
    copy.expect(
        problems, key="sitehub_secrets.keycloak_admin_password", words=("5 characters", "32")
    )
    copy.expect(problems, key="sitehub_secrets.keycloak_db_password", words=("empty",))
    assert "tiny5" not in "\n".join(str(p) for p in problems), "never print a secret"


def test_demo_lookup_too_short(site_copy):
    copy = site_copy("demo")
    copy.edit(
        "group_vars/all/secrets.yml",
        "/hub_crypt_key', length=64",
        "/hub_crypt_key', length=8",
    )
    copy.expect(copy.validate(), key="sitehub_secrets.hub_crypt_key", words=("length=8", "32"))


def test_render_never_ends_in_a_traceback(site_copy, monkeypatch, tmp_path, capsys):
    copy = site_copy("demo")

    def broken(*args, **kwargs):
        raise OSError("File name too long")

    monkeypatch.setattr(commands, "render_site", broken)
    monkeypatch.setattr(validate, "_check_renders", lambda report, raw: None)
    parser_args = type(
        "Args",
        (),
        {"inventory": str(copy.path), "out": str(tmp_path / "out"), "vault_password_file": []},
    )
    assert commands.cmd_render(parser_args) == 2
    assert "rendering failed (OSError: File name too long)" in capsys.readouterr().err


def test_validation_renders_the_site_first(site_copy, monkeypatch):
    """A limit only a renderer knows still fails validation, not `sitehub render`."""

    def broken(*args, **kwargs):
        raise ValueError("a renderer refuses")

    monkeypatch.setattr(commands, "render_site", broken)
    problems = site_copy("demo").validate()
    assert any("sitehub cannot render this site" in p.message for p in problems), problems


# --- inline `!vault` secrets: decrypted where the vault password is given -------------------

INLINE_PASSWORD = "inline-test-password"
STRONG = "s3cret-0123456789abcdef0123456789abcdef"  # 39 characters


def inline_vault(text: str, password: str = INLINE_PASSWORD) -> str:
    """`!vault |` and the ciphertext of text, as `ansible-vault encrypt_string` writes it."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(password.encode()))])
    body = vault.encrypt(text).decode().splitlines()
    return "!vault |\n" + "".join(f"    {line}\n" for line in body)


def inline_site(site_copy, tmp_path, **plain: str):
    """The example site with every secret an inline `!vault` value encrypted with
    INLINE_PASSWORD: the hub secrets in secrets.yml, the others in vault.yml that
    secrets.yml refers to (as shipped). plain: NAME=text overrides a secret's text."""
    copy = site_copy("example")
    direct = ("hub_cookie_secret", "hub_crypt_key", "hub_proxy_token")
    referred = ("keycloak_admin_password", "keycloak_db_password", "ldap_bind_password")
    referred += ("munge_key", "htcondor_token")
    secrets = "---\nsitehub_secrets:\n"
    for name in referred:
        secrets += f'  {name}: "{{{{ vault_{name} }}}}"\n'
    for name in direct:
        secrets += f"  {name}: " + inline_vault(plain.get(name, STRONG))
    vault_vars = "---\n" + "".join(
        f"vault_{name}: " + inline_vault(plain.get(name, STRONG)) for name in referred
    )
    copy.write("group_vars/all/secrets.yml", secrets)
    copy.write("group_vars/all/vault.yml", vault_vars)
    password = tmp_path / "inline-password"
    password.write_text(INLINE_PASSWORD + "\n")
    return copy, password


def validate_with_notes(copy, password_files=(), **kwargs):
    from sitehub.inventory import load_inventory, validate_loaded

    notes: list = []
    problems = validate_loaded(load_inventory(copy.path, password_files), notes=notes, **kwargs)
    return problems, notes


def test_inline_vault_secrets_strong_enough(site_copy, tmp_path):
    copy, password = inline_site(site_copy, tmp_path)
    assert validate_with_notes(copy, [str(password)]) == ([], [])


def test_inline_vault_secret_too_short_is_refused(site_copy, tmp_path):
    copy, password = inline_site(site_copy, tmp_path, hub_cookie_secret="tiny7ab", munge_key="")
    problems, _ = validate_with_notes(copy, [str(password)])
    assert len(problems) == 2, problems
    copy.expect(
        problems,
        key="sitehub_secrets.hub_cookie_secret",
        file="group_vars/all/secrets.yml",
        line=copy.line_of("group_vars/all/secrets.yml", "  hub_cookie_secret:"),
        words=("7 characters", "32"),
    )
    # a reference: the problem is where the secret is named, and says where its value is
    copy.expect(
        problems,
        key="sitehub_secrets.munge_key",
        file="group_vars/all/secrets.yml",
        line=copy.line_of("group_vars/all/secrets.yml", "  munge_key:"),
        words=("empty",),
    )
    assert "tiny7ab" not in "\n".join(str(p) for p in problems), "never print a secret"


def test_inline_vault_reference_names_the_vaulted_variable(site_copy, tmp_path):
    copy, password = inline_site(site_copy, tmp_path, keycloak_admin_password="short")
    problems, _ = validate_with_notes(copy, [str(password)])
    copy.expect(problems, key="sitehub_secrets.keycloak_admin_password", words=("5 characters",))


def test_inline_vault_without_password_is_said_not_checked(site_copy, tmp_path):
    copy, _ = inline_site(site_copy, tmp_path, hub_cookie_secret="tiny7ab")
    problems, notes = validate_with_notes(copy)
    assert problems == []
    assert len(notes) == 8, notes
    cookie = next(n for n in notes if n.key == "sitehub_secrets.hub_cookie_secret")
    assert cookie.file.endswith("group_vars/all/secrets.yml") and cookie.line > 0
    assert "length not checked" in cookie.message and "--vault-password-file" in cookie.message
    munge = next(n for n in notes if n.key == "sitehub_secrets.munge_key")
    assert "vault_munge_key" in munge.message and "vault.yml:" in munge.message


def test_inline_vault_without_password_before_a_deploy_is_refused(site_copy, tmp_path):
    copy, _ = inline_site(site_copy, tmp_path)
    problems, notes = validate_with_notes(copy, require_vault=True)
    assert notes == []
    assert len(problems) == 8, problems
    copy.expect(
        problems,
        key="sitehub_secrets.hub_proxy_token",
        file="group_vars/all/secrets.yml",
        line=copy.line_of("group_vars/all/secrets.yml", "  hub_proxy_token:"),
        words=("no vault password", "--vault-password-file", "--ask-vault-pass"),
    )


def test_inline_vault_with_wrong_password_is_refused(site_copy, tmp_path):
    copy, _ = inline_site(site_copy, tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    problems, _ = validate_with_notes(copy, [str(wrong)])
    assert len(problems) == 8, problems
    copy.expect(
        problems,
        key="sitehub_secrets.hub_crypt_key",
        words=("cannot be decrypted with the vault password given",),
    )


def test_cli_says_which_inline_secrets_were_not_checked(site_copy, tmp_path, capsys):
    from sitehub.cli import main

    copy, password = inline_site(site_copy, tmp_path)
    assert main(["validate", str(copy.path)]) == 0
    err = capsys.readouterr().err
    assert err.count("note: ") == 8 and "length not checked" in err
    assert main(["validate", "--vault-password-file", str(password), str(copy.path)]) == 0
    assert "note: " not in capsys.readouterr().err
