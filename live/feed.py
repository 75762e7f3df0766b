"""Feed the hub from PostgreSQL: logged events read once per process, sensor updates as they are NOTIFYed.

A ``live_events`` notification only says "there is something new": the feed reads the rows after the last id
it published, in batches, and publishes them in id order. ``live.emit()`` makes ids commit in increasing
order, so "after the last id" never skips a row that commits late. When the LISTEN connection comes back
after an outage, the same read catches up every event logged meanwhile, and the sensors updated meanwhile
are published from ``sensing.latest`` (sensor NOTIFYs sent during the outage are lost for good).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool

from live.hub import LiveHub, logged, sensor_values
from twin.live_events import SENSOR_TOPIC

log = logging.getLogger(__name__)

#: Rows read per query; a longer backlog is read in several batches.
READ_BATCH = 1000
#: Readings per sensor message sent from the database (a catch-up or a snapshot).
READINGS_PER_MESSAGE = 5000
#: After a reconnection, sensors updated this long before the connection was lost are sent too: a batch
#: stamps ``updated_at`` when its transaction starts, and commits a little later.
SENSOR_MARGIN_S = 60.0

_NEW_EVENTS_SQL = (
    "SELECT id, at, topic, audience, territory_id, payload::text FROM live.events"
    " WHERE id > %s ORDER BY id LIMIT %s"
)
_SENSORS_UPDATED_SQL = """
SELECT s.territory_id, coalesce(k.visibility, 'internal'), l.sensor_id,
       (extract(epoch FROM l.observed_at) * 1000)::bigint, l.value
  FROM sensing.latest l
  JOIN twin.sensors s ON s.id = l.sensor_id
  LEFT JOIN sensing.kinds k ON k.kind = s.kind
 WHERE l.updated_at > now() - make_interval(secs => %s)
 ORDER BY l.sensor_id
"""


class LiveFeed:
    """Bus handlers that fill one :class:`LiveHub`."""

    def __init__(self, hub: LiveHub, pool: AsyncConnectionPool[Any]) -> None:
        self.hub = hub
        self.pool = pool
        self.bus_connected = False
        self._lock = asyncio.Lock()  # one reader at a time: publication stays in id order
        self._pending = False
        self._reader: asyncio.Task[None] | None = None
        self._disconnected_at: float | None = None

    # --- bus handlers (quick: the reading happens in a task) ---

    async def on_logged(self, _payload: str) -> None:
        self.wake()

    async def on_sensors(self, payload: str) -> None:
        try:
            doc = orjson.loads(payload)
            territory, audience, readings = int(doc["territory"]), str(doc["audience"]), doc["readings"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("live: ignored a malformed sensor_updates payload: %.200s", payload)
            return
        self.hub.publish(sensor_values(SENSOR_TOPIC, readings, audience=audience, territory_id=territory))

    async def on_connect(self) -> None:
        """Catch up what was missed while not listening (at start: just note where the log ends)."""
        reconnection = self._disconnected_at is not None
        try:
            while await self.read_new():
                pass
            if reconnection:
                away_s = time.monotonic() - (self._disconnected_at or time.monotonic())
                await self._publish_sensors_updated_within(away_s + SENSOR_MARGIN_S)
        except Exception:
            log.exception("live: catch-up failed; retrying in the background")
            self.wake()
        self._disconnected_at = None
        self.bus_connected = True

    async def on_disconnect(self) -> None:
        self.bus_connected = False
        self._disconnected_at = time.monotonic()

    # --- reading ---

    def wake(self) -> None:
        """Read (soon) what is new; one reader task at a time, notifications arriving meanwhile coalesce."""
        self._pending = True
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_while_pending(), name="live-feed")

    async def _read_while_pending(self) -> None:
        delay_s = 0.1
        while self._pending:
            self._pending = False
            try:
                if await self.read_new():
                    self._pending = True
                delay_s = 0.1
            except Exception as exc:  # database unreachable: retry; the bus reconnection catches up too
                log.warning("live: reading new events failed (%s); retrying in %.1f s", exc, delay_s)
                self._pending = True
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    async def read_new(self) -> bool:
        """Publish one batch of the events after the last one published; True when more may follow.

        The first call only notes the newest id (a client that wants older events resumes with ``since``).
        """
        async with self._lock:
            async with self.pool.connection() as conn:
                if self.hub.last_id is None:
                    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM live.events")
                    row = await cur.fetchone()
                    self.hub.last_id = int(row[0]) if row else 0
                    self.hub.ready.set()
                    return False
                cur = await conn.execute(_NEW_EVENTS_SQL, (self.hub.last_id, READ_BATCH))
                rows = await cur.fetchall()
            for row in rows:
                self.hub.publish(logged(*row))
            return len(rows) == READ_BATCH

    async def _publish_sensors_updated_within(self, seconds: float) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_SENSORS_UPDATED_SQL, (seconds,))
            rows = await cur.fetchall()
        groups: dict[tuple[int, str], list[list[Any]]] = defaultdict(list)
        for territory, audience, sensor_id, epoch_ms, value in rows:
            groups[territory, audience].append([sensor_id, epoch_ms, value])
        for (territory, audience), readings in groups.items():
            for start in range(0, len(readings), READINGS_PER_MESSAGE):
                chunk = readings[start : start + READINGS_PER_MESSAGE]
                self.hub.publish(
                    sensor_values(SENSOR_TOPIC, chunk, audience=audience, territory_id=territory)
                )

    async def prune(self, retention_days: int) -> int:
        """Delete the events older than the retention period; return how many went."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT live.prune(now() - make_interval(days => %s))", (retention_days,)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait({reader}, timeout=2)
