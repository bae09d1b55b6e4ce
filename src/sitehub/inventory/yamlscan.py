"""What YAML did to the inventory's variable files that Ansible would not tell.

Ansible reads variable files as YAML 1.1 and keeps the last of two equal keys (with at
most a warning). So an unquoted ``12:00:00`` becomes 43200 (base 60), ``yes`` becomes
true, ``0755`` becomes 493, and a second file in group_vars/all (an extensionless backup
copy, say) silently replaces a site variable. This module composes each file's YAML
node tree (no values are built, inline vault values stay ciphertext) and reports those
cases with the file, line and key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n"}
_OCTAL = re.compile(r"[-+]?0[0-7_]+\Z")
_HEX = re.compile(r"[-+]?0x[0-9a-fA-F_]+\Z")
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class Finding:
    line: int
    key: str  # key path, as validation prints it (sitehub_clusters[0].segment)
    message: str


@dataclass(frozen=True)
class TopKey:
    name: str
    line: int


def _path(parts: tuple[object, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _read_as(node: yaml.ScalarNode) -> str | None:
    """How YAML 1.1 read an unquoted scalar that looks like text, or None if unsurprising."""
    if node.style is not None:  # quoted or block: a string, as written
        return None
    text = node.value
    if node.tag == _BOOL and text.lower() in _BOOL_WORDS:
        value = text.lower() in ("yes", "on", "y")
        return (
            f"YAML reads unquoted {text} as the boolean {str(value).lower()}: write "
            f"{str(value).lower()} for a boolean, or quote it ('{text}') for text"
        )
    if node.tag in (_INT, _FLOAT) and ":" in text:
        value = yaml.safe_load(text)
        return (
            f"YAML reads unquoted {text} as the base-60 number {value}: quote it "
            f'("{text}") for a duration or a time'
        )
    if node.tag == _INT and _OCTAL.match(text) and text.strip("+-0_"):
        return (
            f"YAML reads unquoted {text} as the octal number {yaml.safe_load(text)}: quote it "
            f"('{text}') if you mean the digits, or drop the leading 0 for a decimal number"
        )
    if node.tag == _INT and _HEX.match(text):
        return (
            f"YAML reads unquoted {text} as the hexadecimal number {yaml.safe_load(text)}: "
            f"quote it ('{text}') for text, or write the decimal number"
        )
    return None


class _Composer(yaml.SafeLoader):
    """SafeLoader that only composes: Ansible's own tags (!vault, !unsafe) are kept as tags."""


def compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=_Composer)


def top_keys(root: yaml.Node | None) -> list[TopKey]:
    if not isinstance(root, yaml.MappingNode):
        return []
    return [
        TopKey(str(k.value), k.start_mark.line + 1)
        for k, _ in root.value
        if isinstance(k, yaml.ScalarNode)
    ]


def findings(root: yaml.Node | None, typed_roots: set[str]) -> Iterator[Finding]:
    """Duplicate keys anywhere; surprising scalars below the top-level keys in typed_roots."""
    if root is None:
        return
    stack: list[tuple[yaml.Node, tuple[object, ...], bool]] = [(root, (), False)]
    while stack:
        node, where, typed = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else repr(key)
                line = key.start_mark.line + 1
                here = (*where, name)
                if name in seen:
                    yield Finding(
                        line,
                        _path(here),
                        f"key '{name}' is given twice in this mapping (first at line "
                        f"{seen[name]}): YAML keeps only the last, so line {seen[name]}'s value "
                        "is silently dropped; keep one",
                    )
                else:
                    seen[name] = line
                stack.append((value, here, typed or (not where and name in typed_roots)))
                if typed and isinstance(key, yaml.ScalarNode):
                    message = _read_as(key)
                    if message:
                        yield Finding(line, _path(here), f"as a key, {message}")
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, (*where, i), typed))
        elif isinstance(node, yaml.ScalarNode) and typed:
            message = _read_as(node)
            if message:
                yield Finding(node.start_mark.line + 1, _path(where), message)
