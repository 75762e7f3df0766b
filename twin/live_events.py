"""Write events for the live stream (WebSocket/SSE, package ``live``) from inside the transaction they announce.

Two kinds of event:

- **Logged events** (``emit``): incidents, detections, main-courante entries. Appended to ``live.events``
  by ``live.emit()`` (ids commit in increasing order) and NOTIFYed on ``live_events`` at commit, so a client
  that reconnects replays exactly what it missed from its last event id.
- **Sensor updates** (``notify_sensor_updates``): the newest value of each sensor a batch touched. Too many
  to log (thousands per second); NOTIFYed on ``sensor_updates`` only. A client that reconnects gets, instead
  of a replay, the current value of every sensor updated since it left (``sensing.latest.updated_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import orjson
import psycopg
from psycopg.rows import tuple_row

LOGGED_CHANNEL = "live_events"
SENSOR_CHANNEL = "sensor_updates"
#: The topics a live client may ask for (``?topics=``). A new kind of logged event adds its topic here;
#: clients that ask for no topic in particular receive every topic anyway.
LOGGED_TOPICS = ("incident", "detection", "log", "simulation")
SENSOR_TOPIC = "sensors"
TOPICS = (*LOGGED_TOPICS, SENSOR_TOPIC)
#: PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more: sensor updates are split below this.
MAX_NOTIFY_BYTES = 7_900


class _Reading(Protocol):  # read-only members: frozen dataclasses (sensing.parse.Reading) match
    @property
    def sensor_id(self) -> int: ...
    @property
    def observed_at(self) -> datetime: ...
    @property
    def value(self) -> float: ...


class _SensorMeta(Protocol):
    @property
    def territory_id(self) -> int: ...
    @property
    def visibility(self) -> str: ...


def emit(
    conn: psycopg.Connection,
    topic: str,
    audience: str,
    payload: Mapping[str, Any],
    *,
    territory_id: int | None = None,
) -> int:
    """Append a logged event (delivered at commit, never if the transaction rolls back); return its id.

    ``audience`` is a layer visibility (public, internal, restricted): who may receive it.
    """
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT live.emit(%s, %s, %s, %s::jsonb)",
            (topic, audience, territory_id, orjson.dumps(payload).decode()),
        )
        .fetchone()
    )
    assert row is not None
    return int(row[0])


def notify_sensor_updates(
    conn: psycopg.Connection, readings: Iterable[_Reading], sensors: Mapping[int, _SensorMeta]
) -> int:
    """NOTIFY the newest value of each sensor in ``readings``, grouped by territory and audience.

    Payload: ``{"territory": t, "audience": a, "readings": [[sensor_id, epoch_ms, value], …]}``, split so
    each NOTIFY stays under PostgreSQL's limit. Returns the number of notifications sent.
    """
    newest: dict[int, _Reading] = {}
    for r in readings:
        seen = newest.get(r.sensor_id)
        if seen is None or r.observed_at > seen.observed_at:
            newest[r.sensor_id] = r
    groups: dict[tuple[int, str], list[list[float | int]]] = {}
    for sensor_id, r in newest.items():
        meta = sensors.get(sensor_id)
        if meta is None:
            continue
        key = (meta.territory_id, meta.visibility)
        groups.setdefault(key, []).append([sensor_id, int(r.observed_at.timestamp() * 1000), r.value])
    sent = 0
    for (territory, audience), rows in groups.items():
        for chunk in _chunks(territory, audience, rows):
            conn.execute("SELECT pg_notify(%s, %s)", (SENSOR_CHANNEL, chunk))
            sent += 1
    return sent


def _chunks(territory: int, audience: str, rows: list[list[float | int]]) -> Iterable[str]:
    head = f'{{"territory":{territory},"audience":"{audience}","readings":['
    parts: list[str] = []
    size = len(head) + 2
    for row in rows:
        text = orjson.dumps(row).decode()
        if parts and size + len(text) + 1 > MAX_NOTIFY_BYTES:
            yield head + ",".join(parts) + "]}"
            parts, size = [], len(head) + 2
        parts.append(text)
        size += len(text) + 1
    if parts:
        yield head + ",".join(parts) + "]}"
