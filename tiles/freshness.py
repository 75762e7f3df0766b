"""Keep the tile cache fresh: apply ``tiles_changed`` notifications, and catch up on those missed.

A notification is lost when it fires while this process is not listening (before start, during a reconnect).
Every change is also a row of ``tiles.changes``, so on each (re)connection the service replays the rows
after the last one it applied. Ids are taken when a statement ends, and its transaction commits a little
later: a row numbered below the last one seen may still have been unseen. So the replay also takes the rows
recorded within ``replay_margin_s`` before the moment the process stopped hearing; a transaction that
stays open longer than that between its write and its commit, across a restart, is the documented limit.

The disk cache outlives the process: at shutdown ``<disk_dir>/.last-change`` keeps the last change applied
and the database time. A disk cache without that marker, or whose marker is older than the changes kept
(pruned after ``changes_kept_days``), is wiped.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import orjson
from psycopg.rows import dict_row, tuple_row

from tiles.service import TileService

log = logging.getLogger(__name__)

CHANNEL = "tiles_changed"
MARKER = ".last-change"
_REPLAY_SQL = """
SELECT id, tbl AS table, layer, catalog,
       CASE WHEN min_lon IS NOT NULL THEN json_build_array(min_lon, min_lat, max_lon, max_lat) END AS bbox
  FROM tiles.changes
 WHERE id > %(after)s OR at > %(since)s::timestamptz - make_interval(secs => %(margin_s)s)
 ORDER BY id
"""


class Freshness:
    """Bus handlers for one :class:`TileService`."""

    def __init__(self, service: TileService, *, changes_kept_days: int, replay_margin_s: float) -> None:
        self.service = service
        self.changes_kept_days = changes_kept_days
        self.replay_margin_s = replay_margin_s
        self._first_connection = True
        self._disconnected_at: float | None = None

    async def on_notification(self, payload: str) -> None:
        await self.service.apply_change(orjson.loads(payload))

    async def on_disconnect(self) -> None:
        """Changes are being missed from now on: trust nothing cached until the catch-up."""
        self._disconnected_at = time.monotonic()
        self.service.cache.clear_memory()
        self.service.cache.synced = False

    async def on_connect(self) -> None:
        """Catch up: at start from the disk marker, after a reconnection from the last change applied."""
        async with self.service.pool.connection() as conn:
            conn.row_factory = dict_row
            try:
                if self._first_connection:
                    await conn.execute(
                        "DELETE FROM tiles.changes WHERE at < now() - make_interval(days => %s)",
                        (self.changes_kept_days,),
                    )
                    after, since = await self._disk_marker_or_wipe(conn)
                else:
                    away_s = time.monotonic() - (self._disconnected_at or time.monotonic())
                    after = self.service.last_change_id
                    cur = await conn.execute("SELECT now() - make_interval(secs => %s) AS since", (away_s,))
                    since = (await cur.fetchone())["since"].isoformat()
                cur = await conn.execute(
                    _REPLAY_SQL, {"after": after, "since": since, "margin_s": self.replay_margin_s}
                )
                rows = await cur.fetchall()
            finally:
                conn.row_factory = tuple_row
        for row in rows:
            # Replayed changes are not pushed one by one: open maps get one `resync` below.
            await self.service.apply_change(dict(row), publish=False)
        self.service.last_change_id = max([self.service.last_change_id, after, *(r["id"] for r in rows)])
        await self.service.settle()
        self.service.cache.synced = True
        if not self._first_connection:
            self.service.hub.publish({"type": "resync"}, visibility=None)
        self._first_connection = False

    async def _disk_marker_or_wipe(self, conn: Any) -> tuple[int, str]:
        cur = await conn.execute(
            "SELECT coalesce(max(id), 0) AS last, min(id) AS first, now() AS now FROM tiles.changes"
        )
        row = await cur.fetchone()
        last, first, now = int(row["last"]), row["first"], row["now"].isoformat()
        disk = self.service.cache.disk
        if disk is None:
            return last, now
        marker = _read_marker(disk.root)
        usable = marker is not None and marker[0] <= last and (first is None or marker[0] >= first - 1)
        if marker is None or not usable:
            log.info("tile disk cache: no usable marker (%s), wiping %s", marker, disk.root)
            disk.clear()
            return last, now
        return marker

    async def on_shutdown(self) -> None:
        await self.service.settle()
        disk = self.service.cache.disk
        if disk is None or not self.service.cache.synced:
            return  # not caught up: no marker, the next start wipes the disk cache
        try:
            async with self.service.pool.connection(timeout=3) as conn:
                cur = await conn.execute("SELECT now()")
                row = await cur.fetchone()
        except Exception:  # database gone: leave no marker rather than a wrong one
            (disk.root / MARKER).unlink(missing_ok=True)
            return
        assert row is not None
        disk.root.mkdir(parents=True, exist_ok=True)
        marker = {"id": self.service.last_change_id, "at": row[0].isoformat()}
        (disk.root / MARKER).write_text(json.dumps(marker))


def _read_marker(root: Path) -> tuple[int, str] | None:
    try:
        doc = json.loads((root / MARKER).read_text())
        return int(doc["id"]), str(doc["at"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
