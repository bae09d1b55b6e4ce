"""Read an inventory for the audit: validated as `sitehub validate` does, never decrypted."""

from __future__ import annotations

import os
from typing import Any

from sitehub.audit.collect import HOST_VARIABLE_PREFIXES, audit_site
from sitehub.audit.model import Report
from sitehub.inventory import load_inventory, validate_loaded
from sitehub.inventory.model import SiteModel
from sitehub.inventory.validate import Problem, _plain


class AuditInputError(ValueError):
    """The inventory cannot be audited; each problem names its file, line and key."""

    def __init__(self, source: str, problems: list[Problem] | None = None, message: str = ""):
        self.source = source
        self.problems = problems or []
        super().__init__(message or "\n".join(str(p) for p in self.problems))


def host_variables(source: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The few per-host variables the audit reads besides the site model (see
    HOST_VARIABLE_PREFIXES), per host, as ansible-playbook would see them."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(source)])
    variables = VariableManager(loader=loader, inventory=inventory)
    out: dict[str, dict[str, Any]] = {}
    for host in inventory.get_hosts():
        hvars = variables.get_vars(host=host)
        out[host.name] = {
            str(k): _plain(v) for k, v in hvars.items() if str(k).startswith(HOST_VARIABLE_PREFIXES)
        }
    return out


def load_site(source: str | os.PathLike[str], vault_password_files=()):
    """(loaded inventory, site model); AuditInputError when it is missing or invalid."""
    source = str(source)
    try:
        loaded = load_inventory(source, vault_password_files)
    except FileNotFoundError as exc:
        raise AuditInputError(source, message=str(exc)) from None
    problems = validate_loaded(loaded)
    if problems:
        raise AuditInputError(source, problems)
    return loaded, SiteModel.model_validate(_plain(loaded.site_vars))


def audit_inventory(source: str | os.PathLike[str], vault_password_files=()) -> Report:
    """The audit of one inventory; AuditInputError when it is missing or invalid."""
    loaded, site = load_site(source, vault_password_files)
    return audit_site(loaded, site, host_variables(source))
