"""sitehub.render.frontend renders exactly what the frontend role would write.

The reference is Ansible itself: the play of playbooks/frontend.yml (its vars and role vars,
read from the file) templates the role's files on localhost, with only the hub secret given
on the command line; no host of the inventory is contacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sitehub.render import frontend
from sitehub.render.commands import site_model

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
INVENTORIES = [ROOT / "inventories/example-site", ROOT / "inventories/demo"]
SECRET = "PLAIN-TEST-SECRET"
COMPARED_VARS = [
    "frontend_site_title",
    "frontend_site_description",
    "frontend_public_hostname",
    "frontend_public_port",
    "frontend_support_url",
    "frontend_info_url",
    "frontend_tls_cert_src",
    "frontend_tls_key_src",
    "frontend_tls_chain_src",
    "frontend_tls_protocols",
    "frontend_hsts_max_age",
    "frontend_idp_metadata_url",
    "frontend_mellon_sp_dir",
    "frontend_user_header",
]


def ansible_frontend(inventory: Path, out: Path) -> None:
    """Template the role's files with the real playbook's variables, on localhost."""
    play = yaml.safe_load((ROOT / "playbooks/frontend.yml").read_text())
    role = next(p for p in play if "roles" in p)
    role_vars = role["roles"][0]["vars"]
    dump = "{{ {" + ", ".join(f"'{k}': {k}" for k in COMPARED_VARS) + "} | to_json }}"
    check = [
        {
            "hosts": "frontend[0]",
            "gather_facts": False,
            "vars": role["vars"],
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "frontend",
                        "tasks_from": "assert.yml",
                        "public": True,
                    },
                    "vars": role_vars,
                },
                {
                    "ansible.builtin.template": {
                        "src": str(ROOT / "roles/frontend/templates") + "/{{ item }}",
                        "dest": f"{out}/{{{{ item | regex_replace('[.]j2$', '') }}}}",
                        "mode": "0644",
                    },
                    "loop": list(frontend.TEMPLATES),
                    "vars": role_vars,
                },
                {
                    "ansible.builtin.copy": {"content": dump, "dest": f"{out}/vars.json"},
                    "vars": role_vars,
                },
            ],
        }
    ]
    playbook = out / "check.yml"
    playbook.write_text(yaml.safe_dump(check, sort_keys=False))
    # the play's group_vars (site_user_header, site_generated_dir) sit next to it
    (out / "group_vars").symlink_to(ROOT / "playbooks/group_vars")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
            "-e",
            "ansible_connection=local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"frontend_hub_secret={SECRET}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def body(text: str) -> str:
    """Without the `ansible_managed` line (the second line in HTML, the first elsewhere)."""
    return "\n".join(line for line in text.splitlines() if "Ansible managed" not in line)


@pytest.mark.skipif(not (BIN / "ansible-playbook").exists(), reason="needs ansible-core")
@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_same_files_as_the_role_run_by_ansible(inventory, tmp_path):
    ansible_frontend(inventory, tmp_path)
    site = site_model(str(inventory))
    mine = frontend.render_frontend(site, inventory_dir=str(inventory))
    for name in frontend.TEMPLATES.values():
        expected = body((tmp_path / name).read_text())
        assert body(mine[name].replace(frontend.SECRET_PLACEHOLDER, SECRET)) == expected, name
    role_vars = json.loads(mine["frontend-vars.json"])
    assert {k: role_vars[k] for k in COMPARED_VARS} == json.loads(
        (tmp_path / "vars.json").read_text()
    )


def test_demo_site_port_and_generated_certificate():
    site = site_model(str(ROOT / "inventories/demo"))
    context = frontend.template_vars(site, inventory_dir="inv")
    assert context["__frontend_public_url"] == "https://localhost:8443"
    assert context["__frontend_return_hosts_re"] == "localhost:8443"
    assert context["frontend_tls_cert_src"] == "inv/.secrets/pki/frontend.crt"
    assert context["frontend_tls_chain_src"] == ""
    assert context["frontend_hub_secret"] == frontend.SECRET_PLACEHOLDER


def test_a_templated_role_value_it_does_not_know_is_an_error(monkeypatch):
    site = site_model(str(ROOT / "inventories/example-site"))
    files = frontend.role_files() | {"__frontend_new": "{{ frontend_docroot }}/new"}
    monkeypatch.setattr(frontend, "role_files", lambda: files)
    with pytest.raises(ValueError, match="__frontend_new"):
        frontend.template_vars(site)


def test_filters_behave_like_ansibles():
    core = pytest.importorskip("ansible.plugins.filter.core")
    for args in [("TLSv1.2", "^", "+"), ("/jupyterhub/htc/", "/$", ""), ("a.b", r"\.", "-")]:
        assert frontend.ANSIBLE_FILTERS["regex_replace"](*args) == core.regex_replace(*args)
    for value in ["/mellon", "jupyter.example.org", "a+b(c)"]:
        assert frontend.ANSIBLE_FILTERS["regex_escape"](value) == core.regex_escape(value)


def test_unknown_filter_fails_loudly():
    env = frontend.environment()
    with pytest.raises(Exception, match="to_nice_yaml"):
        env.from_string("{{ x | to_nice_yaml }}").render(x=1)
