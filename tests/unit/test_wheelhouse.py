"""Offline wheel sets (sitehub.wheelhouse): lock parsing and completeness check."""

import hashlib
import shutil
from pathlib import Path

from sitehub import wheelhouse

REPO = Path(__file__).resolve().parents[2]


def test_parse_lock():
    text = (
        "# comment\n"
        "jupyterhub==6.1.1 --hash=sha256:aa\n"
        "tornado==6.6.1 \\\n    --hash=sha256:bb --hash=sha256:cc\n"
    )
    assert wheelhouse.parse_lock(text) == {
        "jupyterhub==6.1.1": {"aa"},
        "tornado==6.6.1": {"bb", "cc"},
    }


def test_missing_pins(tmp_path):
    wheel = tmp_path / "x-1-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    digest = hashlib.sha256(b"wheel").hexdigest()
    lock = {"x==1": {digest}, "y==2": {"00"}}
    assert wheelhouse.missing_pins(lock, tmp_path) == ["y==2"]
    assert wheelhouse.missing_pins(lock, tmp_path / "absent") == ["x==1", "y==2"]


def test_target_is_debian12_python():
    args = wheelhouse.target_args()
    assert args[args.index("--python-version") + 1] == "3.11.2"
    assert "--only-binary=:all:" in args


def test_role_lock_files_are_fully_hashed():
    for wset in wheelhouse.SETS.values():
        lock = wheelhouse.parse_lock((REPO / wset.requirements).read_text())
        assert lock, wset.name
        assert all(hashes for hashes in lock.values()), wset.name
        assert all("==" in pin for pin in lock), wset.name
    hub = wheelhouse.parse_lock((REPO / wheelhouse.SETS["hub"].requirements).read_text())
    assert "jupyterhub==6.1.1" in hub and "batchspawner==1.3.0" in hub


def test_sitehub_wheel_changes_with_the_code_not_with_the_readme(tmp_path):
    # a copy of the project's source: the hubs reinstall (and restart) when these bytes change
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", repo / "pyproject.toml")
    (repo / "README.md").write_text("first text\n")

    def build(name: str) -> str:
        dest = tmp_path / name
        dest.mkdir()
        return hashlib.sha256(wheelhouse.build_sitehub_wheel(repo, dest).read_bytes()).hexdigest()

    first = build("a")
    (repo / "README.md").write_text("a documentation edit\n")
    assert build("b") == first
    with (repo / "src" / "sitehub" / "__init__.py").open("a") as init:
        init.write("\n# a code edit\n")
    assert build("c") != first
