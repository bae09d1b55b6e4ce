"""Audits of the shipped inventories (made once per session) and private copies to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sitehub.audit import audit_inventory

ROOT = Path(__file__).resolve().parents[3]
INVENTORIES = ROOT / "inventories"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def demo_report():
    return audit_inventory(INVENTORIES / "demo")


@pytest.fixture(scope="session")
def example_report():
    return audit_inventory(INVENTORIES / "example-site")


def copy_inventory(name: str, dest: Path) -> Path:
    """A copy of a shipped inventory without the demo's generated secrets."""
    target = dest / name
    shutil.copytree(INVENTORIES / name, target, ignore=shutil.ignore_patterns(".secrets"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
