"""The htcondor_submit role's configuration for the example site, rendered by Ansible on
this machine and read back with HTCondor's own configuration parser (htcondor2.param)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sitehub.htcondor.deploy import submit_role_vars

ROOT = Path(__file__).resolve().parents[3]
KEYS = [
    "CONDOR_HOST",
    "COLLECTOR_HOST",
    "DAEMON_LIST",
    "SCHEDD_HOST",
    "UID_DOMAIN",
    "SEC_DEFAULT_AUTHENTICATION",
    "SEC_DEFAULT_AUTHENTICATION_METHODS",
    "SEC_CLIENT_AUTHENTICATION_METHODS",
    "SEC_DEFAULT_ENCRYPTION",
    "SEC_TOKEN_SYSTEM_DIRECTORY",
    "AUTH_SSL_CLIENT_CAFILE",
    "SUBMIT_ALLOW_GETENV",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the role writes root-owned files"),
]


def read_config(config_dir: Path) -> dict:
    top = config_dir.parent / "condor_config"
    top.write_text(f"LOCAL_CONFIG_DIR = {config_dir}\n")
    code = (
        "import json, sys, htcondor2; "
        "print(json.dumps({k: htcondor2.param.get(k) for k in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *KEYS],
        env={"CONDOR_CONFIG": str(top), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, htc):
    """Three hosts' configuration, rendered by one ansible-playbook run."""
    base = tmp_path_factory.mktemp("htcondor-config")
    variants = {
        "example": submit_role_vars(htc),
        "local-ssl": {
            "htcondor_submit_central_manager": "cm.example.org:9618",
            "htcondor_submit_security": "ssl",
            "htcondor_submit_uid_domain": "example.org",
            "htcondor_submit_extra_config": {"SUBMIT_ALLOW_GETENV": "false"},
        },
        "kerberos": {
            "htcondor_submit_central_manager": "cm.example.org",
            "htcondor_submit_security": "kerberos",
        },
    }
    tasks = []
    for name, role_vars in variants.items():
        role_vars = {
            **role_vars,
            "htcondor_submit_config_dir": str(base / name / "config.d"),
            "htcondor_submit_service": False,
        }
        tasks.append(
            {
                "name": f"Render {name}",
                "ansible.builtin.include_role": {
                    "name": "htcondor_submit",
                    "tasks_from": "config.yml",
                },
                "vars": role_vars,
            }
        )
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    (base / "play.yml").write_text(yaml.safe_dump(play))
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(base / "play.yml")],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return base


def test_example_site_submits_to_its_remote_schedd_with_idtokens(rendered):
    got = read_config(rendered / "example/config.d")
    assert got["CONDOR_HOST"] == "condor-cm.example.org"
    assert got["COLLECTOR_HOST"] == "condor-cm.example.org"
    assert got["SCHEDD_HOST"] == "jupyter-schedd.example.org"
    assert got["DAEMON_LIST"] == "MASTER"
    assert got["SEC_DEFAULT_AUTHENTICATION"].upper() == "REQUIRED"
    assert got["SEC_DEFAULT_AUTHENTICATION_METHODS"] == "FS, IDTOKENS"
    assert got["SEC_CLIENT_AUTHENTICATION_METHODS"] == "FS, IDTOKENS"
    assert got["SEC_DEFAULT_ENCRYPTION"].upper() == "REQUIRED"
    assert got["SEC_TOKEN_SYSTEM_DIRECTORY"] == "/etc/condor/tokens.d"


def test_local_schedd_with_ssl_and_site_additions(rendered):
    got = read_config(rendered / "local-ssl/config.d")
    assert got["CONDOR_HOST"] == "cm.example.org:9618"
    assert got["SCHEDD_HOST"] is None
    assert got["DAEMON_LIST"] == "MASTER, SCHEDD"
    assert got["UID_DOMAIN"] == "example.org"
    assert got["SEC_DEFAULT_AUTHENTICATION_METHODS"] == "FS, SSL"
    assert got["AUTH_SSL_CLIENT_CAFILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert got["SUBMIT_ALLOW_GETENV"] is False


def test_kerberos(rendered):
    got = read_config(rendered / "kerberos/config.d")
    assert got["SEC_CLIENT_AUTHENTICATION_METHODS"] == "FS, KERBEROS"
    assert got["SEC_TOKEN_SYSTEM_DIRECTORY"] != "/etc/condor/tokens.d"


def test_role_vars_follow_the_inventory(htc):
    assert submit_role_vars(htc) == {
        "htcondor_submit_version": "24.0",
        "htcondor_submit_central_manager": "condor-cm.example.org",
        "htcondor_submit_schedd": "jupyter-schedd.example.org",
        "htcondor_submit_security": "idtokens",
        "htcondor_submit_install_source": "htcondor",
    }
    mirror = htc.model_copy(
        update={
            "htcondor": htc.htcondor.model_copy(
                update={"repository_url": "https://mirror.example.org/htcondor/24.0"}
            )
        }
    )
    assert (
        submit_role_vars(mirror)["htcondor_submit_repository_url"]
        == "https://mirror.example.org/htcondor/24.0"
    )
