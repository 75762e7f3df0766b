"""Raw readings to readings or rejections: numbers with decimal commas, instants with offsets, topics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensing.parse import (
    InvalidReading,
    parse_instant,
    parse_number,
    readings_from_json,
    readings_from_mqtt,
    sensor_id_from_topic,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("88,14", 88.14), ("88.14", 88.14), (" -3 ", -3.0), (",5", 0.5), ("1e3", 1000.0), (7, 7.0), (2.5, 2.5)],
)
def test_numbers_with_points_or_decimal_commas(raw: object, expected: float) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "1,2,3", "1.2.3", "nan", "inf", True, None, [1], float("nan")])
def test_bad_numbers_say_what_to_send(raw: object) -> None:
    with pytest.raises(InvalidReading):
        parse_number(raw)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_french_text_of_a_number_reads_back(value: float) -> None:
    assert parse_number(repr(value).replace(".", ",")) == value


def test_instants() -> None:
    assert parse_instant("2019-01-01T01:00:00+01:00", now=NOW) == datetime(2019, 1, 1, tzinfo=UTC)
    assert parse_instant(1546300800.5, now=NOW).microsecond == 500000
    with pytest.raises(InvalidReading, match="no offset"):
        parse_instant("2019-01-01 00:00:00", now=NOW)
    assert parse_instant("2019-01-01 00:00:00", now=NOW, naive_tz=UTC) == datetime(2019, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidReading, match="future"):
        parse_instant("2027-01-01T00:00:00Z", now=NOW)
    with pytest.raises(InvalidReading, match="before 1990"):
        parse_instant(12, now=NOW)
    with pytest.raises(InvalidReading, match="ISO 8601"):
        parse_instant("yesterday", now=NOW)
    with pytest.raises(InvalidReading, match="missing"):
        parse_instant(None, now=NOW)


def test_topic_scheme() -> None:
    assert sensor_id_from_topic("city/a/sensors/7/readings", "city/a") == 7
    for topic in ("hyperviseur/sensors/x/readings", "hyperviseur/sensors/7", "other/sensors/7/readings"):
        with pytest.raises(InvalidReading, match="topic|sensor id"):
            sensor_id_from_topic(topic, "hyperviseur")


def test_one_bad_element_does_not_spoil_the_others() -> None:
    payload = b'[{"t": "2019-01-01T00:00:00Z", "v": "88,14"}, {"t": "2019-01-01T00:05:00Z"}, 3]'
    good, bad = readings_from_mqtt("hyperviseur/sensors/5/readings", payload, prefix="hyperviseur", now=NOW)
    assert [(r.sensor_id, r.value) for r in good] == [(5, 88.14)]
    assert [b.reason for b in bad] == [
        "value is missing; send 'v'",
        'a reading is a JSON object {"t": time, "v": value}',
    ]
    assert all(b.sensor_id == 5 and b.source == "mqtt" for b in bad)


def test_not_json_and_empty_arrays_are_rejected_whole() -> None:
    _, bad = readings_from_json(b"\xff{oops", source="http", origin="/api", now=NOW)
    assert bad[0].reason.startswith("not JSON") and bad[0].payload  # the raw text is kept, decoded leniently
    _, bad = readings_from_json(b"[]", source="http", origin="/api", now=NOW)
    assert bad[0].reason == "empty array: no reading"
    _, bad = readings_from_json(b'{"t": 1546300800, "v": 1}', source="http", origin="/api", now=NOW)
    assert bad[0].reason.startswith("sensor is missing")
