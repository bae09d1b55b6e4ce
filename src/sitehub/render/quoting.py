"""One quoting rule per output language a site value is written into.

Validation already refuses line breaks and control characters in site values; these
functions are the renderers' own guard, so a value that slipped past validation fails the
render instead of adding a line to a configuration file. Each either returns text that the
language reads back as exactly the value, or raises UnsafeText.

* Apache (httpd.conf, mellon, BalancerMember): `apache_word` for unquoted arguments (no
  whitespace, quotes, backslashes), `apache_quoted` for a "..." argument.
* shell (kernel launchers, batch scripts): `shell_word`, POSIX single quotes.
* systemd: `systemd_instance` for the instance name in unit@instance.service.
* Keycloak's conf file (key=value properties): `keycloak_value`.
* HTML: `html_text` for text and attribute values (always double-quoted attributes).
"""

from __future__ import annotations

import html
import re
import shlex
import unicodedata


class UnsafeText(ValueError):
    """A value that cannot be written safely into the target language."""


def control_character(text: str) -> str | None:
    """The first line break or control character in text, as U+XXXX, or None."""
    for char in text:
        # Cc: C0/C1 controls (\n, \r, NUL, ESC...); Zl/Zp: Unicode line/paragraph separators
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def _one_line(value: object, language: str) -> str:
    text = str(value)
    bad = control_character(text)
    if bad:
        raise UnsafeText(f"{text!r} holds {bad}: it cannot be written into {language}")
    return text


_APACHE_WORD = re.compile(r"[^\s\"'\\<>]+\Z")


def apache_word(value: object) -> str:
    """An unquoted Apache directive argument: refused unless it is one plain word."""
    text = _one_line(value, "an Apache configuration")
    if not _APACHE_WORD.match(text):
        raise UnsafeText(
            f"{text!r} is not one plain word: an unquoted Apache argument cannot hold "
            "spaces, quotes, backslashes or '<', '>'"
        )
    return text


def apache_quoted(value: object) -> str:
    """A double-quoted Apache argument; '\\' and '"' escaped as httpd's parser reads them."""
    text = _one_line(value, "an Apache configuration")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shell_word(value: object) -> str:
    """One POSIX shell word that expands to exactly value."""
    text = str(value)
    if "\x00" in text:
        raise UnsafeText(f"{text!r} holds NUL, which no shell argument can carry")
    return shlex.quote(text)


# systemd unit names: ASCII letters, digits and ":_.\\-" only, at most 255 characters in all.
_UNIT_INSTANCE = re.compile(r"[A-Za-z0-9:_.-]+\Z")
UNIT_NAME_MAX = 255


def systemd_instance(value: object, template: str = "jupyterhub@.service") -> str:
    """The instance part of `template` (a unit like name@.service): a valid unit name."""
    text = _one_line(value, "a systemd unit name")
    full = template.replace("@", f"@{text}", 1)
    if not _UNIT_INSTANCE.match(text) or len(full) > UNIT_NAME_MAX:
        raise UnsafeText(
            f"{text!r} cannot name a systemd unit ({full!r}): use letters, digits, ':', '_', "
            f"'.' and '-', at most {UNIT_NAME_MAX} characters for the whole unit name"
        )
    return text


_KEYCLOAK_KEY = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


def keycloak_value(value: object) -> str:
    """A value in Keycloak's conf file (Java properties): one line, '\\' escaped."""
    text = _one_line(value, "Keycloak's configuration")
    return text.replace("\\", "\\\\")


def keycloak_key(value: object) -> str:
    """An option name in Keycloak's conf file (db-url-host, ...)."""
    text = _one_line(value, "Keycloak's configuration")
    if not _KEYCLOAK_KEY.match(text):
        raise UnsafeText(f"{text!r} is not a Keycloak option name (lower-case, digits, '-')")
    return text


def html_text(value: object) -> str:
    """Text or a double-quoted attribute value in HTML."""
    return html.escape(str(value), quote=True)


# Jinja filter names (filter_plugins/sitehub.py and sitehub.render.frontend use these).
FILTERS = {
    "sitehub_apache_word": apache_word,
    "sitehub_apache_quoted": apache_quoted,
    "sitehub_shell_word": shell_word,
    "sitehub_systemd_instance": systemd_instance,
    "sitehub_keycloak_value": keycloak_value,
    "sitehub_keycloak_key": keycloak_key,
    "sitehub_html": html_text,
}
