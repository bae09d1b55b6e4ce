"""Filters of the frontend role (thin wrappers: the logic lives in sitehub.render.apache)."""

from __future__ import annotations

from typing import Any

from sitehub.render.apache import header_spellings


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "frontend_header_spellings": header_spellings,
        }
