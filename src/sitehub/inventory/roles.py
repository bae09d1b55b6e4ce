"""Role variables the site model owns, read from the playbooks themselves.

A role the playbooks configure from the site variables (frontend, keycloak_realm,
jupyterhub, ...) is the model's: each of its variables (prefix `<role>_`) is either set
by a playbook from the model, or left at the role's reviewed default. An inventory that
sets one (group_vars, host_vars) overrides those defaults, unseen by validation, so it
is refused, unless the model lists it in INVENTORY_ROLE_VARIABLES. Roles applied only to
demo sites (the Slurm testbed, the demo HTCondor pool) are the demo inventory's to tune.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sitehub.inventory.model import INVENTORY_ROLE_VARIABLES, SITE_VARIABLES
from sitehub.wheelhouse import repo_root

_SITE_REF = re.compile(r"\b(sitehub_[a-z]+)((?:\.[a-z_]+)*)")
_INCLUDE_ROLE = ("include_role", "ansible.builtin.include_role", "import_role")


@dataclass(frozen=True)
class OwnedVariables:
    prefixes: tuple[str, ...]  # "frontend_", ...: one per role the playbooks drive from the model
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # var -> site values it reads

    def refusal(self, name: str) -> str | None:
        """Why an inventory must not set `name`, or None when it may."""
        if name in INVENTORY_ROLE_VARIABLES:
            return None
        role = next((p[:-1] for p in self.prefixes if name.startswith(p)), None)
        if role is None:
            return None
        refs = self.sources.get(name, ())
        instead = (
            f"set {' / '.join(refs)} instead"
            if refs
            else "its value is the role's reviewed default; if the site needs another, it "
            "must become a site variable (src/sitehub/inventory/model.py)"
        )
        return (
            f"{name} belongs to the {role} role, which sitehub configures from the site "
            f"variables: a value from the inventory would override what validation checked; "
            f"remove it ({instead})"
        )


# Roles applied only to demo sites stand in for a facility's own infrastructure (its Slurm
# cluster, its HTCondor pool): the demo inventory tunes them, the model does not own them.
DEMO_ONLY = "sitehub_site.demo"


def _role_entries(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """(role, vars) of every role entry and include_role task below node (demo-only ones
    left out)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, list):
        for item in node:
            found += _role_entries(item)
    elif isinstance(node, dict):
        role = node.get("role")
        if isinstance(role, str) and str(node.get("when", "")).strip() != DEMO_ONLY:
            found.append((role, node.get("vars") or {}))
        for key in _INCLUDE_ROLE:
            spec = node.get(key)
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                found.append((spec["name"], node.get("vars") or {}))
        for value in node.values():
            if isinstance(value, list | dict):
                found += _role_entries(value)
    return found


def _site_refs(value: Any) -> tuple[str, ...]:
    refs = [
        m.group(1) + m.group(2)
        for m in _SITE_REF.finditer(yaml.safe_dump(value))
        if m.group(1) in SITE_VARIABLES
    ]
    return tuple(dict.fromkeys(refs))


@functools.cache
def owned_role_variables(playbooks: Path | None = None) -> OwnedVariables:
    folder = playbooks or repo_root(Path(__file__).parent) / "playbooks"
    prefixes: set[str] = set()
    sources: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.yml")):
        plays = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        for play in plays if isinstance(plays, list) else []:
            play_vars = play.get("vars") if isinstance(play, dict) else None
            # play vars such as __site_slurm carry site values into role vars
            via = {str(k): _site_refs(v) for k, v in (play_vars or {}).items()}
            for role, role_vars in _role_entries(play):
                # a play may set its role's variables as play vars (batch.yml: htcondor_pool)
                mine = {k: v for k, v in (play_vars or {}).items() if str(k).startswith(role + "_")}
                refs = {}
                for name, value in (mine | role_vars).items():
                    text = yaml.safe_dump(value)
                    found = [*_site_refs(value)]
                    found += [r for var, rs in via.items() if var in text for r in rs]
                    refs[str(name)] = tuple(dict.fromkeys(found))
                if not any(refs.values()):
                    continue  # a role the model does not configure
                prefixes.add(f"{role}_")
                for name, used in refs.items():
                    if used:
                        sources[name] = tuple(dict.fromkeys((*sources.get(name, ()), *used)))
    return OwnedVariables(tuple(sorted(prefixes, key=len, reverse=True)), sources)
