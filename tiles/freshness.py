"""Keep the tile cache fresh: apply ``tiles_changed`` notifications, and catch up on those missed.

A notification is lost when it fires while this process is not listening (before start, during a reconnect).
Every change is also a row of ``tiles.changes``, so on each (re)connection the service replays the rows after
the last one it applied. Ids come from a sequence, in insertion order, not commit order: a transaction that
commits after a later-numbered one would be skipped, so the replay also takes rows of the last ten minutes.
Transactions longer than that which straddle a restart are the documented limit.

The disk cache outlives the process: the last change applied to it is kept in ``<disk_dir>/.last-change``
at shutdown. A disk cache without that marker, or whose marker predates the changes kept (pruned after
``changes_kept_days``), is wiped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from psycopg.rows import dict_row

from tiles.service import TileService

log = logging.getLogger(__name__)

CHANNEL = "tiles_changed"
_REPLAY_SQL = """
SELECT id, tbl AS table, layer, catalog,
       CASE WHEN min_lon IS NOT NULL THEN json_build_array(min_lon, min_lat, max_lon, max_lat) END AS bbox
  FROM tiles.changes
 WHERE id > %(after)s OR at > now() - interval '10 minutes'
 ORDER BY id
"""
MARKER = ".last-change"


class Freshness:
    """Bus handlers for one :class:`TileService`."""

    def __init__(self, service: TileService, *, changes_kept_days: int) -> None:
        self.service = service
        self.changes_kept_days = changes_kept_days
        self._first_connection = True

    async def on_notification(self, payload: str) -> None:
        await self.service.apply_change(orjson.loads(payload))

    async def on_connect(self) -> None:
        """Catch up: at start against the disk marker, after a reconnect from the last change applied."""
        async with self.service.pool.connection() as conn:
            conn.row_factory = dict_row
            try:
                if self._first_connection:
                    await conn.execute(
                        "DELETE FROM tiles.changes WHERE at < now() - make_interval(days => %s)",
                        (self.changes_kept_days,),
                    )
                    after = await self._disk_marker_or_wipe(conn)
                else:
                    after = self.service.last_change_id
                cur = await conn.execute(_REPLAY_SQL, {"after": after})
                rows = await cur.fetchall()
            finally:
                from psycopg.rows import tuple_row

                conn.row_factory = tuple_row
        for row in rows:
            # Replayed changes are not pushed: the maps that were open reconnect and reload by themselves.
            await self.service.apply_change(dict(row), publish=False)
        self.service.last_change_id = max([self.service.last_change_id, after, *(r["id"] for r in rows)])
        await self.service.settle()
        self.service.cache.synced = True
        if not self._first_connection:
            self.service.hub.publish({"type": "resync"}, visibility=None)
        self._first_connection = False

    async def _disk_marker_or_wipe(self, conn: Any) -> int:
        cur = await conn.execute("SELECT coalesce(max(id), 0) AS last, min(id) AS first FROM tiles.changes")
        row = await cur.fetchone()
        last, first = int(row["last"]), row["first"]
        disk = self.service.cache.disk
        if disk is None:
            return last
        marker = _read_marker(disk.root)
        if marker is None or (first is not None and marker < first - 1) or marker > last:
            log.info("tile disk cache: no usable marker (%s), wiping %s", marker, disk.root)
            disk.clear()
            return last
        return marker

    async def on_disconnect(self) -> None:
        """Changes are being missed from now on: trust nothing cached until the catch-up."""
        self.service.cache.clear_memory()
        self.service.cache.synced = False

    async def on_shutdown(self) -> None:
        await self.service.settle()
        disk = self.service.cache.disk
        if disk is not None:
            disk.root.mkdir(parents=True, exist_ok=True)
            (disk.root / MARKER).write_text(str(self.service.last_change_id))


def _read_marker(root: Path) -> int | None:
    try:
        return int((root / MARKER).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
