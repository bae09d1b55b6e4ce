"""Defaults that several layers state must agree: the site model (src/sitehub/inventory)
owns each; a role's default and the spawner's trait default only repeat it for standalone
use. And a role option marked required has no default that would let it pass unset."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sitehub.inventory.model import Cluster, FormOptions

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.parent.parent for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def defaults(role: str) -> dict:
    path = ROOT / "roles" / role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def spec(role: str, entry: str = "main") -> dict:
    data = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return data["argument_specs"][entry]["options"]


def test_the_user_header_is_the_same_in_the_frontend_the_hubs_and_the_playbooks():
    wiring = yaml.safe_load((ROOT / "playbooks/group_vars/all.yml").read_text())
    assert defaults("frontend")["frontend_user_header"] == wiring["site_user_header"]
    assert defaults("jupyterhub")["jupyterhub_user_header"] == wiring["site_user_header"]
    assert spec("frontend")["frontend_user_header"]["default"] == wiring["site_user_header"]


def test_the_idle_timeout_default_is_the_models():
    model = Cluster.model_fields["idle_timeout_minutes"].default * 60
    assert defaults("jupyterhub")["jupyterhub_idle_timeout"] == model
    assert spec("jupyterhub")["jupyterhub_idle_timeout"]["default"] == model


def test_run_locally_default_is_the_models_in_the_role_and_the_spawners():
    pytest.importorskip("batchspawner")
    from sitehub.hub.condor import CondorSpawner
    from sitehub.hub.slurm_spawner import SlurmSpawner

    model = FormOptions.model_fields["run_locally"].default
    instance = spec("jupyterhub")["jupyterhub_instances"]["options"]["allow_local"]
    assert instance["default"] is model
    role_vars = (ROOT / "roles/jupyterhub/vars/main.yml").read_text()
    assert f"'allow_local': __jupyterhub_instance.allow_local | default({str(model).lower()})" in (
        role_vars
    )
    for cls in (SlurmSpawner, CondorSpawner):
        assert cls.class_traits()["allow_local"].default_value is model


@pytest.mark.parametrize("role", [p.name for p in ROLES])
def test_required_options_have_no_default(role):
    data = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    wrong = []
    for entry, body in data["argument_specs"].items():
        for name, option in (body.get("options") or {}).items():
            if not option.get("required"):
                continue
            # a default (spec or defaults/) means `required` can never fire
            if "default" in option or name in defaults(role):
                wrong.append(f"{entry}: {name}")
    assert not wrong, f"required with a default in roles/{role}: {wrong}"
