"""Pure rules: date parts, durations, throughput, watermarks, datetimes, hashing, JSON errors."""

import datetime as dt

import pytest

from watcher_server.core.canonical import config_hash
from watcher_server.core.dateparts import add_dateparts
from watcher_server.core.datetimes import format_datetime, parse_datetime
from watcher_server.core.numbers import duration_seconds, throughput
from watcher_server.core.text import contains_pattern
from watcher_server.core.watermarks import watermark_text
from watcher_server.errors import describe_json_error

UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "number", "part", "expected"),
    [
        (at(2024, 1, 1, 10), 90, "minute", at(2024, 1, 1, 11, 30)),
        (at(2024, 1, 1, 10), 2, "hour", at(2024, 1, 1, 12)),
        (at(2024, 3, 9, 10), 1, "day", at(2024, 3, 10, 10)),
        (at(2024, 1, 1), 2, "week", at(2024, 1, 15)),
        (at(2024, 1, 31, 8, 15), 1, "month", at(2024, 2, 29, 8, 15)),
        (at(2023, 1, 31), 1, "month", at(2023, 2, 28)),
        (at(2024, 2, 29), 1, "year", at(2025, 2, 28)),
        (at(2024, 11, 30, 23, 59), 1, "quarter", at(2025, 2, 28, 23, 59)),
        (at(2024, 12, 15), 13, "month", at(2026, 1, 15)),
    ],
)
def test_add_dateparts_uses_fixed_seconds_and_calendar_months(start, number, part, expected):
    assert add_dateparts(start, number, part) == expected


@pytest.mark.parametrize(("seconds", "expected"), [(0.4, 0), (0.6, 1), (2.5, 3), (1.5, 2), (300, 300), (0.5, 1), (3.4999, 3)])
def test_duration_rounds_half_away_from_zero(seconds, expected):
    start = at(2024, 1, 1)
    assert duration_seconds(start, start + dt.timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize(
    ("rows", "duration", "expected"),
    [
        (1000, 300, 3.3333),
        (10000, 300, 33.3333),
        (10, 1, 10.0),
        (None, 5, None),
        (None, 0, 0.0),
        (5, 0, 0.0),
        (2, 3, 0.6667),
        (1, 8, 0.125),
    ],
)
def test_throughput_is_rounded_to_four_places(rows, duration, expected):
    assert throughput(rows, duration) == expected


def test_throughput_rounds_exact_decimal_halves_away_from_zero():
    # 1/32 = 0.03125 exactly; binary rounding of the float would give 0.0312
    assert throughput(1, 32) == 0.0313


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2024-01-01", "2024-01-01"),
        ("  Keep Case ", "  Keep Case "),
        (10, "10"),
        (-3, "-3"),
        (1.5, "1.5"),
        (2.0, "2.0"),
        (1e3, "1000.0"),
        (1e20, "1e+20"),
        (0.00001, "1e-05"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (0.0001, "0.0001"),
        (True, "true"),
        (False, "false"),
        (None, None),
    ],
)
def test_watermark_text_follows_the_storage_rules(value, text):
    assert watermark_text(value) == text


@pytest.mark.parametrize("value", [{"a": 1}, [1], float("nan"), float("inf"), "x" * 256])
def test_watermark_text_rejects_what_cannot_be_stored(value):
    with pytest.raises(ValueError):
        watermark_text(value)


def test_watermark_of_255_characters_is_accepted():
    assert watermark_text("é" * 255) == "é" * 255


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T10:00:00+05:00", at(2024, 1, 1, 5)),
        ("2024-01-01T10:00:00Z", at(2024, 1, 1, 10)),
        ("2024-01-01t10:00:00z", at(2024, 1, 1, 10)),
        ("2024-01-01T10:00:00", at(2024, 1, 1, 10)),
        ("2024-01-01", at(2024, 1, 1)),
        (1700000000, at(2023, 11, 14, 22, 13, 20)),
        (1700000000.5, at(2023, 11, 14, 22, 13, 20, 500000)),
    ],
)
def test_parse_datetime_reads_every_accepted_form_as_utc(value, expected):
    assert parse_datetime(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "", True, [2024], {"d": 1}, 1e20, "0001-01-01T00:00:00+05:00"])
def test_parse_datetime_rejects_other_inputs(value):
    with pytest.raises(ValueError, match="^Unable to parse"):
        parse_datetime(value)


def test_format_datetime_shows_fraction_only_when_non_zero():
    assert format_datetime(at(2024, 1, 1, 5, 5)) == "2024-01-01T05:05:00Z"
    assert format_datetime(at(2024, 1, 1, 10, 0, 0, 400000)) == "2024-01-01T10:00:00.400000Z"
    assert format_datetime(None) is None


def test_format_datetime_reads_any_timezone_as_utc():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert format_datetime(dt.datetime(2024, 1, 1, 12, 0, tzinfo=plus_two)) == "2024-01-01T10:00:00Z"
    assert format_datetime(dt.datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=dt.UTC)) == "2024-01-01T12:00:00.000005Z"
    assert format_datetime(dt.datetime(2024, 1, 1, 12, 0)) == "2024-01-01T12:00:00Z"  # naive: already UTC


def test_config_hash_is_sha256_of_sorted_compact_utf8_json():
    import hashlib

    fields = {"name": "ünïcode", "pipeline_metadata": {"b": 1, "a": [1, 2.5]}, "freshness_number": None}
    expected = hashlib.sha256('{"freshness_number":null,"name":"ünïcode","pipeline_metadata":{"a":[1,2.5],"b":1}}'.encode()).hexdigest()
    assert config_hash(fields) == expected
    assert config_hash({"a": 1}) != config_hash({"a": 1, "b": None})


def test_contains_pattern_escapes_like_wildcards():
    assert contains_pattern("50%_off") == "%50\\%\\_off%"


def test_json_errors_name_line_column_and_trailing_comma():
    document = '{\n"a": 1,\n}'
    assert describe_json_error(document, document.index("}"), "Expecting property name") == (
        "Invalid JSON at line 3, column 1: trailing comma"
    )
    assert describe_json_error('{"a" 1}', 5, "Expecting ':' delimiter") == ("Invalid JSON at line 1, column 6: expecting ':' delimiter")


def test_slack_text_shows_details_in_a_fixed_order_whatever_order_they_were_stored_in():
    from watcher_server.alerts.texts import slack_text

    stored_by_jsonb = {"Links": "L", "Metrics": ["inserts"], "Anomalies": "A", "Extra": 1, "Total Anomalies": 1}
    text = slack_text("warning", "T", "M", stored_by_jsonb, dt.datetime(2025, 1, 1))
    assert [line.split(":*")[0] for line in text.splitlines() if line.startswith("• *")] == [
        "• *Total Anomalies", "• *Metrics", "• *Anomalies", "• *Extra", "• *Links",
    ]  # fmt: skip


def test_alerts_link_to_the_first_twenty_pipelines_and_count_the_rest():
    from watcher_server.alerts.texts import pipeline_links

    text = pipeline_links("http://w", list(range(1, 26)))
    assert text.startswith("\n\t• http://w/ui/pipelines/1\n\t• http://w/ui/pipelines/2")
    assert text.count("http://w/ui/pipelines/") == 20 and text.endswith("\n\t• … and 5 more")
