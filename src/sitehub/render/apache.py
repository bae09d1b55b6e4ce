"""Helpers for the frontend's Apache configuration that the URL-space renderer leaves open.

Request headers: Apache's mod_proxy forwards header names as the client spelled them,
and some backends fold '_' into '-' (or read CGI-style names), so a spoofed
``X_Remote-User`` must be removed just like ``X-Remote-User``. Header names are
case-insensitive in Apache, so only the '-'/'_' spellings need listing.

(Health-check URIs come ready for mod_proxy_hcheck from sitehub.render.urlspace.)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[-_]")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^`|~_-]+\Z")


def header_spellings(names: Iterable[str]) -> list[str]:
    """Every '-'/'_' spelling of each header name, once each (case-insensitively)."""
    result: list[str] = []
    seen: set[str] = set()
    for name in names:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        parts = _SEPARATORS.split(name)
        for seps in itertools.product("-_", repeat=len(parts) - 1):
            spelled = parts[0] + "".join(
                sep + part for sep, part in zip(seps, parts[1:], strict=True)
            )
            if spelled.lower() not in seen:
                seen.add(spelled.lower())
                result.append(spelled)
    return result
