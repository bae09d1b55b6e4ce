"""Runtimes as Slurm writes them, in whole minutes.

Slurm accepts "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
"days-hours:minutes" and "days-hours:minutes:seconds". The inventory and the
options form use the same forms, plus plain integers (minutes).
"""

from __future__ import annotations

import math
import re

_DAYS_RE = re.compile(r"^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$")
_CLOCK_RE = re.compile(r"^(\d+)(?::(\d+))?(?::(\d+))?$")
UNLIMITED = ("UNLIMITED", "INFINITE", "infinite", "unlimited")


class RuntimeFormatError(ValueError):
    pass


def parse_runtime(value: object) -> int:
    """Return minutes (seconds round up) or raise RuntimeFormatError."""
    if isinstance(value, bool):
        raise RuntimeFormatError(f"runtime {value!r} is not a duration")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise RuntimeFormatError(f"runtime {value!r} is not a number of minutes or D-HH:MM:SS")
    text = value.strip()
    match = _DAYS_RE.match(text)
    if match:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        return _minutes(days, hours, minutes, seconds, value)
    match = _CLOCK_RE.match(text)
    if match:
        parts = [int(g) for g in match.groups() if g is not None]
        if len(parts) == 1:
            return _minutes(0, 0, parts[0], 0, value)
        if len(parts) == 2:
            return _minutes(0, 0, parts[0], parts[1], value)
        return _minutes(0, parts[0], parts[1], parts[2], value)
    raise RuntimeFormatError(
        f"runtime {value!r} is malformed: give minutes (90) or Slurm's "
        "D-HH:MM:SS / HH:MM:SS (1-12:00:00)"
    )


def _minutes(days: int, hours: int, minutes: int, seconds: int, original: object) -> int:
    if (hours > 23 and days) or seconds > 59:
        raise RuntimeFormatError(f"runtime {original!r} has an out-of-range field")
    return days * 1440 + hours * 60 + minutes + math.ceil(seconds / 60)


def format_runtime(minutes: int) -> str:
    """Minutes as Slurm's D-HH:MM:00 (what `--time` and `scontrol` print)."""
    days, rest = divmod(int(minutes), 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{mins:02d}:00"
    return f"{hours:02d}:{mins:02d}:00"
