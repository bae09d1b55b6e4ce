"""Runtimes as Slurm writes them, in whole minutes.

Slurm accepts "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
"days-hours:minutes" and "days-hours:minutes:seconds". The inventory and the
options form use the same forms, plus plain integers (minutes).
"""

from __future__ import annotations

import math
import re

_DAYS_RE = re.compile(r"^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?\Z")
_CLOCK_RE = re.compile(r"^(\d+)(?::(\d+))?(?::(\d+))?\Z")
UNLIMITED = ("UNLIMITED", "INFINITE", "infinite", "unlimited")
_FORMS = "give minutes (90) or Slurm's D-HH:MM:SS / HH:MM:SS (1-12:00:00)"


class RuntimeFormatError(ValueError):
    pass


def parse_runtime(value: object) -> int:
    """Return minutes (seconds round up) or raise RuntimeFormatError."""
    if isinstance(value, bool):
        raise RuntimeFormatError(f"runtime {value!r} is not a duration: {_FORMS}")
    if isinstance(value, int):
        if value < 0:
            raise RuntimeFormatError(f"runtime {value!r} is negative: {_FORMS}")
        return value
    if not isinstance(value, str):
        raise RuntimeFormatError(f"runtime {value!r} is not a duration: {_FORMS}")
    text = value.strip()
    match = _DAYS_RE.match(text)
    if match:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        return _minutes(days, hours, minutes, seconds, value, days_form=True)
    match = _CLOCK_RE.match(text)
    if match:
        parts = [int(g) for g in match.groups() if g is not None]
        if len(parts) == 1:
            return _minutes(0, 0, parts[0], 0, value)
        if len(parts) == 2:  # minutes:seconds
            return _minutes(0, 0, parts[0], parts[1], value)
        return _minutes(0, parts[0], parts[1], parts[2], value, clock_form=True)
    raise RuntimeFormatError(f"runtime {value!r} is malformed: {_FORMS}")


def _minutes(
    days: int,
    hours: int,
    minutes: int,
    seconds: int,
    original: object,
    days_form: bool = False,
    clock_form: bool = False,
) -> int:
    total = days * 1440 + hours * 60 + minutes + math.ceil(seconds / 60)
    fields = []
    # A field after a larger unit wraps: 25 hours after a day count is a typo.
    if days_form and hours > 23:
        fields.append(f"hours ({hours}) must be 0-23")
    if (days_form or clock_form) and minutes > 59:
        fields.append(f"minutes ({minutes}) must be 0-59")
    if seconds > 59:
        fields.append(f"seconds ({seconds}) must be 0-59")
    if fields:
        raise RuntimeFormatError(
            f"runtime {original!r} is malformed: {', '.join(fields)}; "
            f"for {total} minutes write {format_runtime(total)!r}"
        )
    return total


def format_runtime(minutes: int) -> str:
    """Minutes as Slurm's D-HH:MM:00 (what `--time` and `scontrol` print)."""
    if minutes < 0:
        raise ValueError(f"a runtime cannot be negative ({minutes} minutes)")
    days, rest = divmod(int(minutes), 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{mins:02d}:00"
    return f"{hours:02d}:{mins:02d}:00"
