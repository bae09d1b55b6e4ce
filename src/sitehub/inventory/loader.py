"""Load a site inventory exactly as ansible-playbook does, keeping where each value came from.

ansible-core (2.19+) tags every value it reads from YAML with its origin
(file, line, column). We keep those tags so that each problem can name the
file and line an operator has to edit.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sitehub.inventory.model import SITE_VARIABLES

VAULT_HEADER = b"$ANSIBLE_VAULT"
VAULT_HELP = (
    "give the vault password with --vault-password-file (or ANSIBLE_VAULT_PASSWORD_FILE, "
    "or vault_password_file in ansible.cfg)"
)


@dataclass(frozen=True)
class Origin:
    path: str | None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return "<unknown file>"
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass
class LoadedInventory:
    """What validation needs: the site variables and the host inventory."""

    source: str
    # Keys are the variable names as Ansible read them (tagged with the key's file:line).
    site_vars: dict[str, Any]
    hosts: dict[str, set[str]]  # host -> groups
    variable_files: dict[str, str] = field(default_factory=dict)  # var -> file it was set in
    vaulted_variables: set[str] = field(default_factory=set)  # names whose value is vaulted
    # Vaulted variables (inline `!vault` or read from a vault-encrypted file) by name, for
    # the secret strength checks.
    vaulted_values: dict[str, Any] = field(default_factory=dict)
    # The vault secrets the loader was given (a VaultLib), None when there are none: inline
    # values are decrypted with it only to check their strength.
    vault: Any = None
    host_origins: dict[str, Origin] = field(default_factory=dict)  # host -> where it is listed
    # Other `sitehub_*` variables (not part of the site model), with where they are set.
    other_variables: dict[str, Origin] = field(default_factory=dict)
    problems: list[tuple[Origin, str, str]] = field(default_factory=list)  # (origin, key, message)
    fatal: bool = False  # Ansible could not read the inventory: the rest is meaningless


def origin_of(value: Any) -> Origin:
    """The file:line a value was read from, if ansible-core tagged it."""
    try:
        from ansible._internal._datatag._tags import Origin as AnsibleOrigin
    except ImportError:  # older ansible-core: no data tagging, no line numbers
        return Origin(None)
    if isinstance(value, AnsibleOrigin):  # errors carry a bare Origin as their obj
        return Origin(value.path, value.line_num)
    tag = AnsibleOrigin.get_tag(value)
    if tag is None:
        return Origin(None)
    return Origin(tag.path, tag.line_num)


def is_inline_vaulted(value: Any) -> bool:
    """True for an inline `!vault` value (encrypted, or decrypted but still marked)."""
    try:
        from ansible._internal._datatag._tags import VaultedValue
        from ansible.parsing.vault import EncryptedString
    except ImportError:
        return type(value).__name__ in ("AnsibleVaultEncryptedUnicode", "EncryptedString")
    return isinstance(value, EncryptedString) or VaultedValue.is_tagged_on(value)


def is_vaulted(value: Any) -> bool:
    """True for an inline `!vault` value or a value read from a vault-encrypted file."""
    if is_inline_vaulted(value):
        return True
    path = origin_of(value).path
    return bool(path) and is_vault_file(path)


def is_vault_file(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(VAULT_HEADER)) == VAULT_HEADER
    except OSError:
        return False


def _clear_vars_plugin_cache() -> None:
    # host_group_vars caches, per process, which group_vars/host_vars files exist
    # (and which folders do not). ansible-playbook reads an inventory once per
    # process; we may read one several times, after it was edited.
    try:
        from ansible.plugins.vars import host_group_vars
    except ImportError:
        return
    for name in ("FOUND", "NAK", "CANONICAL_PATHS"):
        cache = getattr(host_group_vars, name, None)
        if hasattr(cache, "clear"):
            cache.clear()


def decrypt_inline(value: Any, vault: Any) -> str:
    """The plaintext of an inline `!vault` value; raises AnsibleVaultError when the secrets
    do not open it. Decrypted here, not through the value itself: that would use Ansible's
    process-wide vault context, which a process may set only once."""
    from ansible.module_utils.common.text.converters import to_text
    from ansible.parsing.vault import VaultHelper

    return to_text(vault.decrypt(VaultHelper.get_ciphertext(value, with_tags=False)))


def _vault_secrets(
    loader: Any, password_files: list[str], given: list[tuple[str, bytes]]
) -> list[tuple[str, Any]]:
    from ansible import constants as C
    from ansible.cli import CLI
    from ansible.parsing.vault import VaultSecret

    files = list(password_files)
    default_file = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if not files and default_file:
        files = [default_file]
    # setup_vault_secrets adds ansible.cfg's vault_password_file itself.
    files = [f for f in dict.fromkeys(files) if f != C.DEFAULT_VAULT_PASSWORD_FILE]
    secrets = CLI.setup_vault_secrets(
        loader,
        vault_ids=list(C.DEFAULT_VAULT_IDENTITY_LIST),
        vault_password_files=files,
        ask_vault_pass=False,
        auto_prompt=False,
        # The global context can be set once per process and only serves on-demand
        # decryption of inline values, which validation never does.
        initialize_context=False,
    )
    everything = [(vid, VaultSecret(pw)) for vid, pw in given] + list(secrets)
    loader.set_vault_secrets(everything)
    return everything


def _error_origin(exc: BaseException) -> Origin:
    """The first file:line named along an Ansible error's chain of causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        where = origin_of(getattr(current, "obj", None))
        if where.path:
            return where
        current = current.__cause__ or current.__context__
    return Origin(None)


def _vault_error(exc: BaseException) -> BaseException | None:
    """The vault error along an error's chain of causes, if any."""
    from ansible.parsing.vault import AnsibleVaultError

    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AnsibleVaultError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _read_error(exc: BaseException, source: str) -> tuple[Origin, str, str]:
    from ansible.errors import AnsibleError

    where = _error_origin(exc)
    if where.path is None:
        where = Origin(source)
    # vault errors: Ansible's own words, not the vars plugin's message around them
    # (vars_plugins/sitehub_vault_files.py, which says how ansible-playbook takes a password)
    vault = _vault_error(exc)
    cause = vault or exc
    text = cause._original_message if isinstance(cause, AnsibleError) else str(cause)
    text = " ".join(str(text).split())
    if vault is not None:
        return (
            where,
            "(vault)",
            f"this file is vault-encrypted and could not be decrypted ({text}): {VAULT_HELP}",
        )
    return where, "(inventory)", f"Ansible cannot read it: {text}"


def _key_in(mapping: dict[Any, Any], name: str) -> Any:
    """The key object (tagged with its file:line) for name, or the plain name."""
    for key in mapping:
        if key == name:
            return key
    return name


def _is_site_wide_file(path: str | None) -> bool:
    """group_vars/all.yml or a file below group_vars/all/."""
    parts = Path(path).parts if path else ()
    return any(
        part == "group_vars" and Path(parts[i + 1]).stem == "all"
        for i, part in enumerate(parts[:-1])
    )


def load_inventory(
    source: str | os.PathLike[str],
    vault_password_files=(),
    vault_secrets: list[tuple[str, bytes]] | None = None,
) -> LoadedInventory:
    """Read an inventory directory (or file) with Ansible's own loaders.

    vault_secrets: (vault id, password) pairs a play already holds, used together with
    the password files (the sitehub_validate action passes the play's).
    """
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    source = str(source)
    if not Path(source).exists():
        raise FileNotFoundError(f"{source}: no such inventory")
    result = LoadedInventory(source=source, site_vars={}, hosts={})
    _clear_vars_plugin_cache()
    loader = DataLoader()
    try:
        secrets = _vault_secrets(loader, list(vault_password_files), vault_secrets or [])
    except AnsibleError as exc:
        message = " ".join(str(exc._original_message).split())
        result.problems.append((Origin(source), "(vault)", f"{message}: {VAULT_HELP}"))
        result.fatal = True
        return result
    if secrets:
        from ansible.parsing.vault import VaultLib

        result.vault = VaultLib(secrets=secrets)
    try:
        inventory = InventoryManager(loader=loader, sources=[source])
        variables = VariableManager(loader=loader, inventory=inventory)
        hosts = inventory.get_hosts()
        for host in hosts:
            result.hosts[host.name] = {g.name for g in host.get_groups()}
            result.host_origins[host.name] = origin_of(host.name)
        host_vars = [(h.name, variables.get_vars(host=h)) for h in hosts]
    except AnsibleError as exc:
        result.problems.append(_read_error(exc, source))
        result.fatal = True
        return result
    if not host_vars:
        result.problems.append((Origin(source), "(inventory)", "the inventory names no hosts"))
        result.fatal = True
        return result

    _scan_variable_files(result, loader, inventory, source)
    _check_role_variables(result, host_vars)
    for name in SITE_VARIABLES:
        _collect_site_variable(result, loader, name, host_vars)
    reference = host_vars[0][1]
    for key, value in reference.items():
        name = str(key)
        if name in result.site_vars:
            continue
        if is_vaulted(value):
            result.vaulted_variables.add(name)
            result.vaulted_values[name] = value
        if name.startswith("sitehub_"):
            result.other_variables[name] = origin_of(key)
    return result


def variable_files(loader: Any, inventory: Any, source: str) -> list[tuple[str, str]]:
    """(entity, file) of every group_vars/host_vars file Ansible reads for this inventory,
    found the way its host_group_vars plugin finds them (extensionless files included)."""
    base = source if os.path.isdir(source) else os.path.dirname(source) or "."
    found: list[tuple[str, str]] = []
    for folder, names in (
        ("group_vars", sorted(inventory.groups)),
        ("host_vars", sorted(h.name for h in inventory.get_hosts())),
    ):
        path = os.path.join(base, folder)
        if not os.path.isdir(path):
            continue
        for name in names:
            found += [(f"{folder}/{name}", f) for f in loader.find_vars_files(path, name)]
    return found


def _scan_variable_files(result: LoadedInventory, loader: Any, inventory: Any, source: str) -> None:
    """YAML's silent rewrites (see sitehub.inventory.yamlscan) and site variables defined in
    two files for the same group or host (Ansible keeps the one it reads last)."""
    from ansible.errors import AnsibleError

    from sitehub.inventory import yamlscan

    typed = {*SITE_VARIABLES}
    for entity, files in _grouped(variable_files(loader, inventory, source)):
        defined: dict[str, Origin] = {}
        for file in files:
            try:
                text = loader.get_text_file_contents(file)
                root = yamlscan.compose(text)
            except (AnsibleError, yaml.YAMLError) as exc:
                result.problems.append(_yaml_error(file, exc))
                continue
            for finding in yamlscan.findings(root, typed):
                result.problems.append((Origin(file, finding.line), finding.key, finding.message))
            for key in yamlscan.top_keys(root):
                if key.name not in typed:
                    continue
                here = Origin(file, key.line)
                if key.name in defined:
                    result.problems.append(
                        (
                            here,
                            key.name,
                            f"{key.name} is also set in {defined[key.name]}: Ansible reads every "
                            f"file of {entity}/ (extensionless backups too) and keeps the value "
                            "read last; keep one definition and delete or rename the other "
                            "file (e.g. to *.bak or *~, which Ansible skips)",
                        )
                    )
                else:
                    defined[key.name] = here


def _grouped(pairs: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    out: dict[str, list[str]] = {}
    for entity, file in pairs:
        out.setdefault(entity, []).append(file)
    return list(out.items())


def _yaml_error(file: str, exc: BaseException) -> tuple[Origin, str, str]:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    text = " ".join(str(getattr(exc, "_original_message", None) or exc).split())
    return Origin(file, line), "(yaml)", f"this file cannot be read as YAML: {text}"


def _check_role_variables(
    result: LoadedInventory, host_vars: list[tuple[str, dict[str, Any]]]
) -> None:
    """Role variables the playbooks derive from the site model must not come from the inventory:
    inventory values beat role defaults, and validation never sees them."""
    from sitehub.inventory.roles import owned_role_variables

    owned = owned_role_variables()
    reported: set[tuple[str | None, str]] = set()
    for _, hvars in host_vars:
        for key in hvars:
            name = str(key)
            problem = owned.refusal(name)
            where = origin_of(key)
            if problem is None or (where.path, name) in reported:
                continue
            if where.path is None or not _inside(where.path, result.source):
                continue  # set by Ansible itself, not by the inventory
            reported.add((where.path, name))
            result.problems.append((where, name, problem))


def _inside(path: str, source: str) -> bool:
    base = Path(source if os.path.isdir(source) else os.path.dirname(source) or ".").resolve()
    try:
        Path(path).resolve().relative_to(base)
    except ValueError:
        return False
    return True


def _defining_key(loader: Any, name: str, value: Any, key: Any) -> Any:
    """The key as written in the file the value came from, tagged with its line.

    When several files define a variable, Ansible keeps the key of the first and
    the value of the last, so the key in the merged variables can name the wrong file.
    """
    from ansible.errors import AnsibleError

    where = origin_of(value)
    if where.path is None or origin_of(key).path == where.path:
        return key
    try:
        data = loader.load_from_file(where.path, cache="all", unsafe=True, trusted_as_template=True)
    except AnsibleError:
        data = None
    if isinstance(data, dict):
        found = _key_in(data, name)
        if origin_of(found).path == where.path:
            return found
    return name


def _collect_site_variable(
    result: LoadedInventory,
    loader: Any,
    name: str,
    host_vars: list[tuple[str, dict[str, Any]]],
) -> None:
    """Take a site variable from group_vars/all; flag hosts that see another definition."""
    seen = [
        (host, _defining_key(loader, name, hvars[name], _key_in(hvars, name)), hvars[name])
        for host, hvars in host_vars
        if name in hvars
    ]
    if not seen:
        return

    def where(entry: tuple[str, Any, Any]) -> Origin:
        key_origin = origin_of(entry[1])
        return key_origin if key_origin.path else origin_of(entry[2])

    # The reference definition: the one in group_vars/all if any host sees it.
    reference = next((s for s in seen if _is_site_wide_file(where(s).path)), seen[0])
    _, ref_key, ref_value = reference
    if ref_value is None:
        return
    ref_where = where(reference)
    result.site_vars[ref_key] = ref_value
    if ref_where.path:
        result.variable_files[name] = ref_where.path
    if is_vaulted(ref_value):
        result.vaulted_variables.add(name)
    reported: set[str | None] = {ref_where.path}
    for entry in seen:
        other = where(entry)
        if other.path in reported:
            continue
        reported.add(other.path)
        result.problems.append(
            (
                other,
                name,
                f"{name} is site-wide: set it once in group_vars/all and remove it here "
                f"(host '{entry[0]}' would get another value than the one at {ref_where})",
            )
        )


def close_site_variable(name: str) -> str | None:
    """The site variable a misspelt name most likely meant (one or two letters off)."""
    match = difflib.get_close_matches(name, SITE_VARIABLES, n=1, cutoff=0.9)
    return match[0] if match else None
