"""Runtimes in every form Slurm accepts, as whole minutes."""

from __future__ import annotations

import pytest

from sitehub.runtime import RuntimeFormatError, format_runtime, parse_runtime


@pytest.mark.parametrize(
    "text, minutes",
    [
        # minutes
        (0, 0),
        (90, 90),
        ("90", 90),
        (" 45 ", 45),
        # minutes:seconds (seconds round up to a whole minute)
        ("90:00", 90),
        ("90:30", 91),
        ("0:01", 1),
        # hours:minutes:seconds (hours may exceed a day without a day count)
        ("1:30:00", 90),
        ("12:00:00", 720),
        ("48:00:00", 2880),
        ("00:00:59", 1),
        # days-hours
        ("2-12", 3600),
        ("0-1", 60),
        # days-hours:minutes
        ("2-12:30", 3630),
        # days-hours:minutes:seconds
        ("1-00:00:00", 1440),
        ("2-12:30:15", 3631),
        ("366-00:00:00", 366 * 1440),
    ],
)
def test_parse(text, minutes):
    assert parse_runtime(text) == minutes


@pytest.mark.parametrize(
    "value, words",
    [
        ("12h", "malformed"),
        ("1 day", "malformed"),
        ("", "malformed"),
        ("1-", "malformed"),
        ("-5", "malformed"),
        ("1:2:3:4", "malformed"),
        ("1-2:3:4:5", "malformed"),
        ("UNLIMITED", "malformed"),
        ("1-25:00:00", "hours (25) must be 0-23"),
        ("0-24", "hours (24) must be 0-23"),
        ("1-00:60", "minutes (60) must be 0-59"),
        ("10:75:00", "minutes (75) must be 0-59"),
        ("10:00:60", "seconds (60) must be 0-59"),
        ("10:75", "seconds (75) must be 0-59"),
        (-5, "negative"),
        (True, "not a duration"),
        (1.5, "not a duration"),
        (None, "not a duration"),
        (["1:00:00"], "not a duration"),
    ],
)
def test_parse_errors(value, words):
    with pytest.raises(RuntimeFormatError) as exc:
        parse_runtime(value)
    assert words in str(exc.value)
    assert isinstance(exc.value, ValueError)  # pydantic turns ValueError into a field error


def test_out_of_range_error_suggests_the_right_spelling():
    with pytest.raises(RuntimeFormatError, match=r"for 2940 minutes write '2-01:00:00'"):
        parse_runtime("1-25:00:00")


@pytest.mark.parametrize(
    "minutes, text",
    [
        (0, "00:00:00"),
        (1, "00:01:00"),
        (59, "00:59:00"),
        (60, "01:00:00"),
        (1439, "23:59:00"),
        (1440, "1-00:00:00"),
        (2941, "2-01:01:00"),
        (366 * 1440, "366-00:00:00"),
    ],
)
def test_format(minutes, text):
    assert format_runtime(minutes) == text


def test_format_negative():
    with pytest.raises(ValueError, match="negative"):
        format_runtime(-1)


@pytest.mark.parametrize("minutes", [*range(0, 3 * 1440, 37), 1439, 1440, 1441, 527040])
def test_round_trip_minutes(minutes):
    assert parse_runtime(format_runtime(minutes)) == minutes


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("90", "01:30:00"),
        ("48:00:00", "2-00:00:00"),
        ("2-12", "2-12:00:00"),
        ("2-12:30", "2-12:30:00"),
        ("90:30", "01:31:00"),
        ("1-00:00:00", "1-00:00:00"),
    ],
)
def test_round_trip_text(text, canonical):
    assert format_runtime(parse_runtime(text)) == canonical
    assert parse_runtime(canonical) == parse_runtime(text)
