"""The sitehub_validate module and the validation play that opens playbooks/site.yml.

The broken inventories are copies of the demo, whose hosts are podman containers that
do not exist here: a play that reached them would show them in the recap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
MODULE = ROOT / "library" / "sitehub_validate.py"
DOTTED_ROUTE = "sitehub_clusters[0].instances[1].route: route id 'hub.2' contains '.'"


def env() -> dict[str, str]:
    result = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    result.pop("ANSIBLE_FORCE_COLOR", None)
    return result


@pytest.fixture
def broken_demo(tmp_path) -> Path:
    """The demo with a dotted route id (clusters.yml line 10)."""
    dest = tmp_path / "broken-demo"
    shutil.copytree(ROOT / "inventories" / "demo", dest, ignore=shutil.ignore_patterns(".secrets"))
    clusters = dest / "group_vars" / "all" / "clusters.yml"
    clusters.write_text(clusters.read_text().replace("route: hub2", "route: hub.2"))
    return dest


def run_module(tmp_path: Path, **params) -> tuple[int, dict]:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    result = subprocess.run(
        [sys.executable, str(MODULE), str(args)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


def test_module_valid_inventory(tmp_path):
    rc, result = run_module(tmp_path, inventories=[str(ROOT / "inventories" / "example-site")])
    assert rc == 0, result
    assert result["changed"] is False and result["problems"] == []


def test_module_reports_every_problem(tmp_path, broken_demo):
    identity = broken_demo / "group_vars" / "all" / "identity.yml"
    identity.write_text(identity.read_text().replace("digits: 6", "digits: 7"))
    rc, result = run_module(tmp_path, inventories=[str(broken_demo)])
    assert rc != 0 and result["failed"] is True
    problems = result["problems"]
    assert len(problems) == 2
    assert any(
        p.endswith(
            "clusters.yml:10: " + DOTTED_ROUTE + ": Apache reads the route from "
            "the text after the first '.' of the ROUTEID cookie, so a dotted id never matches"
        )
        for p in problems
    ), problems
    digits_line = identity.read_text().splitlines().index("    digits: 7") + 1
    assert any(f"identity.yml:{digits_line}: sitehub_identity.mfa.digits:" in p for p in problems)
    assert "2 problem(s); nothing was deployed" in result["msg"]


def recap_hosts(output: str) -> set[str]:
    recap = output.split("PLAY RECAP", 1)[1]
    return set(re.findall(r"^(\S+)\s+:\s+ok=", recap, flags=re.MULTILINE))


def playbook(inventory: Path, play: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(play)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def test_site_playbook_stops_in_validation(broken_demo):
    result = playbook(broken_demo, ROOT / "playbooks" / "site.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "PLAY [Validate the site inventory]" in output
    assert f"clusters.yml:10: {DOTTED_ROUTE}" in output
    assert "nothing was deployed" in output
    assert recap_hosts(result.stdout) == {"localhost"}, result.stdout


def test_later_plays_do_not_run(broken_demo, tmp_path):
    """Whatever site.yml grows into, a play after the validation never reaches a host."""
    wrapper = tmp_path / "wrapper.yml"
    wrapper.write_text(
        f"""---
- name: The whole site
  ansible.builtin.import_playbook: {ROOT / "playbooks" / "site.yml"}

- name: A play that must never run
  hosts: all
  gather_facts: true
  tasks:
    - name: Reach the host
      ansible.builtin.ping:
"""
    )
    result = playbook(broken_demo, wrapper)
    assert result.returncode != 0
    assert "A play that must never run" not in result.stdout
    assert recap_hosts(result.stdout) == {"localhost"}, result.stdout


VAULT_FILE_SECRETS = """---
vault_keycloak_admin_password: admin-0123456789abcdef0123456789abcdef
vault_keycloak_db_password: db-0123456789abcdef0123456789abcdef
vault_ldap_bind_password: ldap-0123456789abcdef0123456789abcdef
vault_munge_key: munge-0123456789abcdef0123456789abcdef
vault_htcondor_token: token-0123456789abcdef0123456789abcdef
"""


def inline_vault(text: str, password: str) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret

    body = VaultLib([("default", VaultSecret(password.encode()))]).encrypt(text).decode()
    return "!vault |\n" + "".join(f"    {line}\n" for line in body.splitlines())


def reencrypt_inline(secrets_yml: Path, password: str, text: str) -> None:
    """Every inline `!vault` value of secrets_yml replaced by text encrypted with password
    (the shipped ciphertexts are of a throw-away password nobody has)."""
    out, skipping = [], False
    for line in secrets_yml.read_text().splitlines(keepends=True):
        if skipping and line.startswith("    "):
            continue
        skipping = line.rstrip().endswith("!vault |")
        if skipping:
            key = line.split(":", 1)[0]
            out.append(f"{key}: " + inline_vault(text, password))
        else:
            out.append(line)
    secrets_yml.write_text("".join(out))


@pytest.fixture
def vault_file_site(tmp_path) -> tuple[Path, Path]:
    """The example site with its vault.yml a vault-encrypted file and its inline values
    encrypted with the same password, and the password file."""
    dest = tmp_path / "vault-site"
    shutil.copytree(ROOT / "inventories" / "example-site", dest)
    vault_yml = dest / "group_vars" / "all" / "vault.yml"
    vault_yml.write_text(VAULT_FILE_SECRETS)
    reencrypt_inline(
        dest / "group_vars" / "all" / "secrets.yml",
        "throw-away",
        "inline-0123456789abcdef0123456789abcdef",
    )
    password = tmp_path / "vault-password"
    password.write_text("throw-away\n")
    subprocess.run(
        [
            str(BIN / "ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(password),
            str(vault_yml),
        ],
        check=True,
        capture_output=True,
        env=env(),
    )
    return dest, password


def test_play_accepts_vault_file_inventory_with_vault_password_file(vault_file_site):
    site, password = vault_file_site
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(site),
            str(ROOT / "playbooks" / "validate.yml"),
            "--vault-password-file",
            str(password),
        ],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout


def test_play_names_the_file_of_a_yaml_error(broken_demo):
    (broken_demo / "group_vars" / "hubs.yml").write_text("---\nfoo: [unclosed\nbar: 1\n")
    result = playbook(broken_demo, ROOT / "playbooks" / "validate.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "group_vars/hubs.yml:" in output, output


def vault_help_in(output: str) -> bool:
    return "--vault-password-file" in output and "--ask-vault-pass" in output


def test_play_without_password_names_the_vault_file(vault_file_site):
    site, _ = vault_file_site
    result = playbook(site, ROOT / "playbooks" / "validate.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # ansible-core alone says "Attempting to decrypt but no vault secrets found." and no file
    assert "group_vars/all/vault.yml: this inventory file is vault-encrypted" in output, output
    assert vault_help_in(output), output


def test_play_with_wrong_password_names_the_vault_file(vault_file_site, tmp_path):
    site, _ = vault_file_site
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            *("-i", str(site), str(ROOT / "playbooks" / "validate.yml")),
            *("--vault-password-file", str(wrong)),
        ],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "group_vars/all/vault.yml: this inventory file is vault-encrypted" in output, output
    assert "Decryption failed" in output


def test_play_without_password_names_inline_vault_secrets(broken_demo):
    """Inline values load without a password (Ansible decrypts them when used, after hosts
    were changed): the validation play refuses the run naming file, line and key."""
    secrets = broken_demo / "group_vars" / "all" / "secrets.yml"
    text = secrets.read_text()
    start = text.index("  hub_cookie_secret:")
    end = text.index("\n", start) + 1
    secrets.write_text(
        text[:start]
        + "  hub_cookie_secret: "
        + inline_vault("inline-0123456789abcdef0123456789abcdef", "pw")
        + text[end:]
    )
    clusters = broken_demo / "group_vars" / "all" / "clusters.yml"
    clusters.write_text(clusters.read_text().replace("route: hub.2", "route: hub2"))
    result = playbook(broken_demo, ROOT / "playbooks" / "validate.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    line = text[:start].count("\n") + 1
    assert f"secrets.yml:{line}: sitehub_secrets.hub_cookie_secret:" in output, output
    assert "no vault password" in output and vault_help_in(output)
    assert "1 problem(s)" in output
