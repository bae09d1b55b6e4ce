"""`sitehub render` on the example site: what an auditor reads, parsed by the real tools."""

import json
from pathlib import Path

import pytest

from sitehub.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    assert main(["render", str(ROOT / "inventories/example-site"), "--out", str(out)]) == 0
    return out


def test_every_cluster_gets_a_url_space(rendered):
    spaces = json.loads((rendered / "frontend/url-spaces.json").read_text())
    assert [s["path"] for s in spaces] == [
        "/jupyterhub/htc/",
        "/jupyterhub/hpc-ic/",
        "/jupyterhub/hpc-knl/",
    ]
    assert [m["route"] for m in spaces[0]["members"]] == ["jh10", "jh11", "jh12"]


def test_htc_submit_descriptions_parse_with_htcondor(rendered):
    htcondor2 = pytest.importorskip("htcondor2")
    subs = sorted((rendered / "htcondor/htc").glob("*.sub"))
    assert len(subs) == 5  # cpu + 2 capabilities + 2 devices
    for sub in subs:
        submit = htcondor2.Submit(sub.read_text())
        assert submit["getenv"] == "false"
        assert submit["accounting_group"] == "group_atlas"
    role_vars = json.loads((rendered / "htcondor/htc/htcondor_submit-vars.json").read_text())
    assert role_vars["htcondor_submit_central_manager"] == "condor-cm.example.org"


def test_kernels_are_rendered_with_launchers(rendered):
    spec = json.loads((rendered / "kernels/belle2/kernel.json").read_text())
    assert spec["argv"][0].endswith("/belle2/launch")
    assert "apptainer exec" in (rendered / "kernels/belle2/launch").read_text()
