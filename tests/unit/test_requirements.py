"""requirements.yml pins the collections we use; the pinned `ansible` package must satisfy it.

Galaxy is unreachable from CI, so the collections come bundled in the `ansible` package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.galaxy.dependency_resolution.versioning import meets_requirements
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
FQCN_RE = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
# Collections that ship with ansible-core itself, not with the `ansible` package.
CORE = {"ansible.builtin", "ansible.legacy", "ansible.module_utils"}


def bundled_manifest(name: str) -> dict:
    """MANIFEST.json of a collection in the `ansible` package, found through importlib."""
    spec = importlib.util.find_spec("ansible_collections")
    assert spec and spec.submodule_search_locations, "the ansible package is not installed"
    namespace, collection = name.split(".")
    for location in spec.submodule_search_locations:
        manifest = Path(location) / namespace / collection / "MANIFEST.json"
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]
    pytest.fail(f"{name} is not bundled with the installed ansible package")


@pytest.fixture(scope="module")
def galaxy_listing() -> dict[str, list[str]]:
    """Every installed copy of every collection, as ansible-galaxy (and so Ansible) sees them."""
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    result = subprocess.run(
        [str(galaxy), "collection", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
    )
    versions: dict[str, list[str]] = {}
    for collections in json.loads(result.stdout).values():
        for fqcn, info in collections.items():
            versions.setdefault(fqcn, []).append(info["version"])
    return versions


def test_requirements_shape():
    assert REQUIREMENTS, "requirements.yml lists no collections"
    names = [entry["name"] for entry in REQUIREMENTS]
    assert len(names) == len(set(names)), "a collection is listed twice"
    for entry in REQUIREMENTS:
        assert set(entry) <= {"name", "version", "source", "type"}, entry
        assert re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", entry["name"]), entry
        # A range with an upper bound: a new major version must be a deliberate change.
        assert "<" in str(entry.get("version", "")), f"{entry['name']} has no upper bound"


@pytest.mark.parametrize("entry", REQUIREMENTS, ids=[e["name"] for e in REQUIREMENTS])
def test_bundled_version_satisfies_range(entry):
    info = bundled_manifest(entry["name"])
    assert f"{info['namespace']}.{info['name']}" == entry["name"]
    version, wanted = info["version"], str(entry["version"])
    # ansible-galaxy's own comparison, and PEP 440's as a second opinion.
    assert meets_requirements(version, wanted), f"{entry['name']} {version} not in {wanted}"
    assert Version(version) in SpecifierSet(wanted)


@pytest.mark.parametrize("entry", REQUIREMENTS, ids=[e["name"] for e in REQUIREMENTS])
def test_every_installed_copy_satisfies_range(entry, galaxy_listing):
    # Ansible loads the first copy on its collections path, which may not be the bundled one.
    versions = galaxy_listing.get(entry["name"])
    assert versions, f"ansible-galaxy does not see {entry['name']}"
    for version in versions:
        assert meets_requirements(version, str(entry["version"])), (entry, version)


def _used_collections(*folders: str) -> dict[str, Path]:
    used: dict[str, Path] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".yml", ".yaml", ".j2", ".py"} or not path.is_file():
                continue
            for match in FQCN_RE.finditer(path.read_text(errors="replace")):
                fqcn = f"{match[1]}.{match[2]}"
                if fqcn not in CORE and bundled_manifest_exists(fqcn):
                    used.setdefault(fqcn, path)
    return used


def bundled_manifest_exists(fqcn: str) -> bool:
    spec = importlib.util.find_spec("ansible_collections")
    namespace, collection = fqcn.split(".")
    return any(
        (Path(location) / namespace / collection / "MANIFEST.json").is_file()
        for location in (spec.submodule_search_locations or [])
    )


def test_collections_used_by_roles_and_playbooks_are_pinned():
    pinned = {entry["name"] for entry in REQUIREMENTS}
    used = _used_collections("roles", "playbooks")
    missing = {
        name: str(path.relative_to(ROOT)) for name, path in used.items() if name not in pinned
    }
    assert not missing, f"used but not in requirements.yml: {missing}"
