"""`sitehub validate`: exit codes, the `file:line: key: message` lines and --json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from sitehub.cli import main

from .conftest import INVENTORIES

LINE_RE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<key>[^:\s]+): (?P<message>.+)$")


def test_valid_inventory_exit_0(capsys):
    assert main(["validate", str(INVENTORIES / "demo")]) == 0
    out, err = capsys.readouterr()
    assert "valid" in out and "3 clusters: hpc, local, htc" in out
    assert err == ""


def test_problems_exit_1_one_line_each(site_copy, capsys):
    copy = site_copy("demo")
    copy.edit("group_vars/all/clusters.yml", "route: hub2", "route: hub.2")
    copy.edit("group_vars/all/identity.yml", "digits: 6", "digits: 7")
    assert main(["validate", str(copy.path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    header, *lines = err.splitlines()
    assert header == f"{copy.path}: 2 problem(s):"
    parsed = [LINE_RE.match(line.strip()) for line in lines]
    assert all(parsed), lines
    found = {(Path(m["file"]).name, int(m["line"]), m["key"]) for m in parsed}
    assert found == {
        (
            "clusters.yml",
            copy.line_of("group_vars/all/clusters.yml", "route: hub.2"),
            "sitehub_clusters[0].instances[1].route",
        ),
        (
            "identity.yml",
            copy.line_of("group_vars/all/identity.yml", "digits: 7"),
            "sitehub_identity.mfa.digits",
        ),
    }


def test_missing_path_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 2
    out, err = capsys.readouterr()
    assert "no such inventory" in err and out == ""


def test_json_valid(capsys):
    assert main(["validate", "--json", str(INVENTORIES / "example-site")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["problems"] == [] and data["details"] == []
    # its inline `!vault` secrets: their length needs the vault password, so it is not checked
    assert len(data["notes"]) == 8
    assert all("length not checked" in note for note in data["notes"]), data["notes"]


def test_json_problems(site_copy, capsys):
    copy = site_copy("example")
    copy.edit("group_vars/all/site.yml", "protocols: [TLSv1.2, TLSv1.3]", "protocols: [TLSv1.1]")
    assert main(["validate", "--json", str(copy.path)]) == 1
    data = json.loads(capsys.readouterr().out)
    (text,) = data["problems"]
    (detail,) = data["details"]
    assert detail["key"] == "sitehub_tls.protocols[0]"
    assert detail["line"] == 17 and detail["file"].endswith("group_vars/all/site.yml")
    assert "TLSv1.1" in detail["message"]
    assert text == f"{detail['file']}:{detail['line']}: {detail['key']}: {detail['message']}"


def test_json_missing_path_still_prints_json(tmp_path, capsys):
    # The sitehub_validate module reads stdout: it must get JSON even here.
    assert main(["validate", "--json", str(tmp_path / "nope")]) == 2
    data = json.loads(capsys.readouterr().out)
    assert "no such inventory" in data["problems"][0]


def test_vault_password_file_option(site_copy, tmp_path, capsys):
    copy = site_copy("example")
    missing = tmp_path / "missing-password"
    assert main(["validate", str(copy.path), "--vault-password-file", str(missing)]) == 1
    assert "(vault)" in capsys.readouterr().err


def test_console_script():
    """The installed `sitehub` entry point (one real process)."""
    script = Path(sys.executable).with_name("sitehub")
    result = subprocess.run(
        [str(script), "validate", str(INVENTORIES / "no-such-site")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "no such inventory" in result.stderr
