"""Turn raw readings (MQTT payloads, HTTP bodies, CSV cells) into validated readings or rejections with a reason."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

#: Instants before this are refused: no sensor of ours reported then, and it catches epoch-ms sent as seconds.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
#: Clock skew tolerated for readings stamped in the future.
FUTURE_SKEW = timedelta(minutes=5)
MAX_PAYLOAD_KEPT = 4000


@dataclass(frozen=True, slots=True)
class Reading:
    sensor_id: int
    observed_at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Rejection:
    source: str  # 'mqtt', 'http' or 'file'
    origin: str  # topic, route, or file:line
    payload: str
    reason: str
    sensor_id: int | None = None


class InvalidReading(ValueError):
    """One reading cannot be accepted; the message is the reason stored with it."""


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def parse_number(raw: object) -> float:
    """A finite number from a JSON number or a text with a decimal point or a French decimal comma.

    Examples
    --------
    >>> parse_number("88,14")
    88.14
    >>> parse_number(3)
    3.0
    >>> parse_number(" -0.5 ")
    -0.5
    """
    if isinstance(raw, bool):
        raise InvalidReading(f"value {raw!r} is a boolean; send a number")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip().replace("\u202f", "").replace("\u00a0", "")
        if not _NUMBER.match(text):
            raise InvalidReading(f"value {raw[:40]!r} is not a number; send e.g. 12.5 or 12,5")
        value = float(text.replace(",", "."))
    else:
        raise InvalidReading(f"value {str(raw)[:40]!r} is not a number; send e.g. 12.5")
    if not math.isfinite(value):
        raise InvalidReading(f"value {raw!r} is not finite")
    return value


def parse_instant(raw: object, *, now: datetime | None = None, naive_tz: Any = None) -> datetime:
    """An aware instant from ISO 8601 text (with offset or Z) or Unix seconds; checked against the clock.

    ``naive_tz`` (a tzinfo) is applied to texts without offset; without it they are refused, because a
    reading an hour off would be stored as a different, wrong reading.

    Examples
    --------
    >>> parse_instant("2019-01-01T00:05:00Z").isoformat()
    '2019-01-01T00:05:00+00:00'
    >>> parse_instant(1546300800).isoformat()
    '2019-01-01T00:00:00+00:00'
    """
    if isinstance(raw, bool):
        raise InvalidReading("time is a boolean; send ISO 8601 text with an offset")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise InvalidReading("time is not finite")
        try:
            at = datetime.fromtimestamp(float(raw), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidReading(f"time {raw!r} is out of range; send Unix seconds") from None
    elif isinstance(raw, str):
        try:
            at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidReading(
                f"time {raw[:40]!r} is not ISO 8601; send e.g. 2019-01-01T00:05:00Z"
            ) from None
        if at.tzinfo is None:
            if naive_tz is None:
                raise InvalidReading(f"time {raw[:40]!r} has no offset; add Z or +01:00")
            at = at.replace(tzinfo=naive_tz)
    else:
        raise InvalidReading("time is missing; send 't' (ISO 8601 with an offset, or Unix seconds)")
    now = now or datetime.now(UTC)
    if at < EARLIEST:
        raise InvalidReading(
            f"time {at.isoformat()} is before {EARLIEST.year}; Unix milliseconds sent as seconds?"
        )
    if at > now + FUTURE_SKEW:
        raise InvalidReading(f"time {at.isoformat()} is in the future")
    return at


def reading_from_object(obj: object, *, sensor_id: int | None = None, now: datetime | None = None) -> Reading:
    """One reading from ``{"t": …, "v": …}`` (or ``observed_at``/``value``, and ``sensor`` when not in the topic)."""
    if not isinstance(obj, dict):
        raise InvalidReading('a reading is a JSON object {"t": time, "v": value}')
    if sensor_id is None:
        raw_id = obj.get("sensor", obj.get("sensor_id"))
        if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
            raise InvalidReading("sensor is missing; send 'sensor' (the sensor's id)")
        try:
            sensor_id = int(raw_id)
        except ValueError:
            raise InvalidReading(f"sensor {str(raw_id)[:40]!r} is not a sensor id") from None
    t = obj.get("t", obj.get("observed_at"))
    v = obj.get("v", obj.get("value"))
    if v is None:
        raise InvalidReading("value is missing; send 'v'")
    return Reading(sensor_id, parse_instant(t, now=now), parse_number(v))


def clip_payload(payload: bytes | str) -> str:
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    return text[:MAX_PAYLOAD_KEPT]


def readings_from_json(
    payload: bytes | str,
    *,
    source: str,
    origin: str,
    sensor_id: int | None = None,
    now: datetime | None = None,
) -> tuple[list[Reading], list[Rejection]]:
    """Readings from a JSON object or array of objects; each bad element becomes a rejection, the rest is kept."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection(source, origin, clip_payload(payload), f"not JSON: {exc}", sensor_id)]
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        return [], [Rejection(source, origin, clip_payload(payload), "empty array: no reading", sensor_id)]
    readings: list[Reading] = []
    rejections: list[Rejection] = []
    for item in items:
        try:
            readings.append(reading_from_object(item, sensor_id=sensor_id, now=now))
        except InvalidReading as exc:
            rejections.append(
                Rejection(source, origin, clip_payload(orjson.dumps(item)), str(exc), sensor_id)
            )
    return readings, rejections


def sensor_id_from_topic(topic: str, prefix: str) -> int:
    """The sensor id of ``<prefix>/sensors/<id>/readings``.

    Examples
    --------
    >>> sensor_id_from_topic("hyperviseur/sensors/42/readings", "hyperviseur")
    42
    """
    parts = topic.split("/")
    head = prefix.split("/")
    n = len(head)
    if parts[:n] != head or len(parts) != n + 3 or parts[n] != "sensors" or parts[n + 2] != "readings":
        raise InvalidReading(f"topic {topic!r} is not {prefix}/sensors/<sensor id>/readings")
    if not (parts[n + 1].isascii() and parts[n + 1].isdigit()):
        raise InvalidReading(f"topic {topic!r}: {parts[n + 1]!r} is not a sensor id")
    return int(parts[n + 1])


def readings_from_mqtt(
    topic: str, payload: bytes, *, prefix: str, now: datetime | None = None
) -> tuple[list[Reading], list[Rejection]]:
    """Readings of one MQTT message (topic scheme and payloads: docs/sensing.md)."""
    try:
        sensor_id = sensor_id_from_topic(topic, prefix)
    except InvalidReading as exc:
        return [], [Rejection("mqtt", topic, clip_payload(payload), str(exc))]
    return readings_from_json(payload, source="mqtt", origin=topic, sensor_id=sensor_id, now=now)
