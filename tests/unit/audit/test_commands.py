"""`sitehub audit` on the command line: formats, files, and clear refusals."""

from __future__ import annotations

import json

from sitehub.cli import main

from .conftest import INVENTORIES, copy_inventory, edit


def test_markdown_to_stdout(capsys):
    assert main(["audit", str(INVENTORIES / "example-site")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Audit of site example (Example Facility JupyterHub)")


def test_json_and_html_to_files(tmp_path, capsys):
    target = tmp_path / "a" / "demo.json"
    assert main(["audit", str(INVENTORIES / "demo"), "--format", "json", "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert json.loads(target.read_text())["site"] == "demo"
    page = tmp_path / "demo.html"
    assert main(["audit", str(INVENTORIES / "demo"), "--format", "html", "--out", str(page)]) == 0
    assert "<h1>Audit of site demo" in page.read_text()


def test_missing_inventory(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'none'}: no such inventory" in err
    assert "Traceback" not in err


def test_invalid_inventory_names_file_and_key(tmp_path, capsys):
    inv = copy_inventory("example-site", tmp_path)
    edit(inv / "group_vars/all/identity.yml", "max_failures: 5", "max_failure: 5")
    assert main(["audit", str(inv)]) == 1
    err = capsys.readouterr().err
    assert "not audited, 1 problem(s)" in err
    assert "group_vars/all/identity.yml:" in err
    assert "sitehub_identity.brute_force.max_failure" in err
    assert "did you mean 'max_failures'" in err
    assert "Traceback" not in err


def test_missing_site_variable(tmp_path, capsys):
    inv = copy_inventory("demo", tmp_path)
    (inv / "group_vars/all/identity.yml").unlink()
    assert main(["audit", str(inv), "--format", "html"]) == 1
    err = capsys.readouterr().err
    assert "sitehub_identity: missing: set sitehub_identity in group_vars/all" in err


def test_live_refuses_a_site_that_is_no_demo(capsys):
    assert main(["audit", "--live", str(INVENTORIES / "example-site")]) == 2
    assert "checks the demo's podman hosts only" in capsys.readouterr().err
