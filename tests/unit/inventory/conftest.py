"""Copies of the shipped inventories that a test breaks with one edit."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from sitehub.inventory import Problem, validate_inventory

ROOT = Path(__file__).resolve().parents[3]
INVENTORIES = ROOT / "inventories"
SITES = {"demo": "demo", "example": "example-site", "example-site": "example-site"}


@dataclass
class SiteCopy:
    """A private copy of a shipped inventory, with helpers to break it and to read problems."""

    path: Path

    def file(self, rel: str) -> Path:
        return self.path / rel

    def edit(self, rel: str, old: str, new: str) -> int:
        """Replace the one occurrence of old by new in rel; return the line where new starts."""
        target = self.file(rel)
        text = target.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        start = text.index(old)
        target.write_text(text.replace(old, new), encoding="utf-8")
        return text[:start].count("\n") + 1

    def write(self, rel: str, text: str) -> Path:
        target = self.file(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def line_of(self, rel: str, text: str) -> int:
        """1-based line where the one occurrence of text starts."""
        content = self.file(rel).read_text(encoding="utf-8")
        assert content.count(text) == 1, f"{text!r} occurs {content.count(text)} times in {rel}"
        return content[: content.index(text)].count("\n") + 1

    def validate(self, **kwargs) -> list[Problem]:
        return validate_inventory(self.path, **kwargs)

    def expect(
        self,
        problems: list[Problem],
        *,
        key: str,
        file: str | None = None,
        line: int | None = None,
        words: tuple[str, ...] = (),
    ) -> Problem:
        """The problem with this key path, checked for file, line and message words."""
        found = [p for p in problems if p.key == key]
        listing = "\n".join(str(p) for p in problems) or "(no problems)"
        assert found, f"no problem for {key}; got:\n{listing}"
        problem = found[0]
        if file is not None:
            expected = self.file(file)
            assert Path(problem.file).resolve() == expected.resolve() or problem.file.endswith(
                file
            ), f"{problem} does not name {file}"
        if line is not None:
            assert problem.line == line, f"{problem} is not at line {line}"
        for word in words:
            assert word in problem.message, f"{problem} does not mention {word!r}"
        return problem


@pytest.fixture
def site_copy(tmp_path):
    """site_copy("demo") or site_copy("example"): a fresh copy under tmp_path."""

    def make(name: str = "demo") -> SiteCopy:
        source = INVENTORIES / SITES[name]
        dest = tmp_path / SITES[name]
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".secrets"))
        return SiteCopy(dest)

    return make


@pytest.fixture(autouse=True)
def _no_ambient_vault_password(monkeypatch):
    # Validation must not depend on the developer's vault password file.
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
