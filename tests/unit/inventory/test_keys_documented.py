"""inventories/README.md has a row for every key of the site model, and no row for a key
the model does not have, so the key-by-key page cannot fall behind the code."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator

import pytest
import yaml
from pydantic import BaseModel

from sitehub.inventory.model import INVENTORY_ROLE_VARIABLES, SiteModel
from sitehub.inventory.validate import required_secrets

from .conftest import INVENTORIES, ROOT

README = INVENTORIES / "README.md"
PLAYBOOKS = ROOT / "playbooks"
SECRETS = "sitehub_secrets"
HOSTS = "hosts.yml"
ROLE_VARIABLES = "group_vars/keycloak"
NO_HOST = "Keys that reach no host"

_HEADING = re.compile(r"^#{2,4}\s+(.*)$")
_TICKED = re.compile(r"`([^`]+)`")


def _inner_model(annotation: typing.Any) -> tuple[type[BaseModel] | None, bool]:
    """(model inside an annotation, whether it sits in a list): list[X], X | None, Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for arg in typing.get_args(annotation):
        model, in_list = _inner_model(arg)
        if model is not None:
            return model, in_list or typing.get_origin(annotation) is list
    return None, False


def model_keys(model: type[BaseModel] = SiteModel, prefix: str = "") -> Iterator[str]:
    """Every leaf key, as the README writes it: sitehub_clusters[].instances[].host."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        inner, in_list = _inner_model(field.annotation)
        if inner is None:
            yield path
        else:
            yield from model_keys(inner, path + ("[]" if in_list else ""))


def readme_sections() -> dict[str, list[str]]:
    """Heading (its first `ticked` text, or the heading itself) -> the rows' ticked keys."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        heading = _HEADING.match(line)
        if heading:
            ticked = _TICKED.search(heading.group(1))
            current = ticked.group(1) if ticked else heading.group(1).strip()
            sections.setdefault(current, [])
            continue
        if current is None or not line.startswith("|"):
            continue
        first = line.strip("|").split("|")[0]
        if set(first.strip()) <= set("-: "):
            continue  # the separator row
        sections[current] += _TICKED.findall(first)
    return sections


def documented() -> set[str]:
    """Full keys of the tables: each row's key below its heading's prefix."""
    return {
        f"{prefix}.{key}"
        for prefix, keys in readme_sections().items()
        if prefix != NO_HOST
        for key in keys
    }


MODEL_KEYS = sorted(model_keys())
TOP_LEVEL = tuple(SiteModel.model_fields)


def test_the_walk_finds_nested_keys() -> None:
    # a broken walk would find nothing and let every check below pass
    assert "sitehub_clusters[].options.partitions[].max_runtime" in MODEL_KEYS
    assert "sitehub_identity.users.ldap.url" in MODEL_KEYS
    assert "sitehub_identity.groups[].gid" in MODEL_KEYS
    assert len(MODEL_KEYS) > 90


@pytest.mark.parametrize("key", [k for k in MODEL_KEYS if k != SECRETS])
def test_every_model_key_has_a_row(key: str) -> None:
    assert key in documented(), (
        f"{key} has no row in {README.relative_to(ROOT)}: add it (what it means, where it "
        "lands on a host) to the table of its section"
    )


def test_no_row_for_a_key_the_model_lacks() -> None:
    model = set(MODEL_KEYS)
    stale = sorted(
        key
        for key in documented()
        if key.split(".")[0].removesuffix("[]") in TOP_LEVEL
        and not key.startswith(SECRETS + ".")
        and key not in model
    )
    assert not stale, f"rows for keys the model does not accept: {stale}"


def _secrets_used() -> set[str]:
    names: set[str] = set()
    for demo in (False, True):
        names |= set(
            required_secrets(
                {
                    "sitehub_site": {"demo": demo},
                    "sitehub_identity": {"database": "postgres", "users": {"type": "ldap"}},
                    "sitehub_clusters": [{"scheduler": s} for s in ("slurm", "htcondor")],
                }
            )
        )
    for path in PLAYBOOKS.glob("*.yml"):
        names |= set(re.findall(r"\bsitehub_secrets\.([a-z_]+)", path.read_text()))
    return names


def test_every_secret_has_a_row() -> None:
    rows = set(readme_sections().get(SECRETS, []))
    used = _secrets_used()
    assert used - rows == set(), f"secrets without a row under {SECRETS}: {used - rows}"
    assert rows - used == set(), f"rows for secrets nothing requires or reads: {rows - used}"


def _groups_in_playbooks() -> set[str]:
    groups: set[str] = set()
    for path in PLAYBOOKS.glob("*.yml"):
        text = path.read_text()
        groups |= set(re.findall(r"groups\[['\"]([A-Za-z0-9_]+)['\"]\]", text))
        for play in yaml.safe_load(text) or []:
            pattern = play.get("hosts") if isinstance(play, dict) else None
            if isinstance(pattern, str):
                groups |= {p.lstrip("!&") for p in re.split(r"[:,]", pattern) if p}
    return groups - {"all", "localhost"}


def test_every_group_the_playbooks_use_has_a_row() -> None:
    rows = set(readme_sections().get(HOSTS, []))
    missing = _groups_in_playbooks() - rows
    assert not missing, f"hosts-file groups the playbooks use without a row: {missing}"


def test_role_variables_an_inventory_may_set_have_rows() -> None:
    rows = set(readme_sections().get(ROLE_VARIABLES, []))
    assert set(INVENTORY_ROLE_VARIABLES) == rows


def test_keys_that_reach_no_host_are_model_keys() -> None:
    listed = [k for k in readme_sections().get(NO_HOST, []) if k.startswith("sitehub_")]
    assert listed, f"the '{NO_HOST}' table names no key"
    known = {*MODEL_KEYS, *documented()}
    unknown = [key for key in listed if key not in known]
    assert not unknown, f"'{NO_HOST}' names keys that are not in the tables: {unknown}"
