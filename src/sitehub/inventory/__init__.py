"""The site inventory: model, loader and validation."""

from __future__ import annotations

from sitehub.inventory.loader import load_inventory
from sitehub.inventory.validate import Problem, validate_loaded


def validate_inventory(source, vault_password_files=()) -> list[Problem]:
    """Load an inventory as Ansible does and return every problem found."""
    return validate_loaded(load_inventory(source, vault_password_files))


__all__ = ["Problem", "load_inventory", "validate_inventory", "validate_loaded"]
