"""The tile service of one server process: sources, rendering through the cache, and freshness.

It lives on ``app.state.tiles`` from start-up to shutdown (``tiles.api.tiles_lifespan``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from layers.catalog import visible_to
from tiles.cache import BBox, CachedTile, DiskTiles, MemoryTiles, TileCache, TileKey
from tiles.coords import Tile
from tiles.events import TileEventHub
from tiles.render_connections import RenderConnections
from tiles.sources import TileSource, load_sources
from twin.errors import NotFound

log = logging.getLogger(__name__)

EMPTY = CachedTile.of(b"")


class TileService:
    """Serve tiles of the catalog's layers from the cache, rendering and storing misses."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        cache: TileCache,
        hub: TileEventHub,
        renderers: RenderConnections | None = None,
    ) -> None:
        self.pool = pool
        self.renderers = renderers
        self.cache = cache
        self.hub = hub
        self._sources: dict[str, TileSource] | None = None
        self._sources_lock = asyncio.Lock()
        self._disk_tasks: set[asyncio.Future[None]] = set()
        self.last_change_id = 0

    # -- sources -----------------------------------------------------------------------------------------

    async def sources(self) -> dict[str, TileSource]:
        """The tile sources, loaded once and reloaded after a catalog change."""
        sources = self._sources
        if sources is not None:
            return sources
        async with self._sources_lock:
            if self._sources is None:
                async with self.pool.connection() as conn:
                    from psycopg.rows import dict_row, tuple_row

                    conn.row_factory = dict_row
                    try:
                        self._sources = await load_sources(conn)
                    finally:
                        conn.row_factory = tuple_row
            return self._sources

    async def visible_source(self, name: str, role: str) -> TileSource:
        """The source named ``name`` if ``role`` may see it; else NotFound listing what does exist."""
        sources = await self.sources()
        source = sources.get(name)
        if source is None or not visible_to(source.layer, role):
            names = ", ".join(s.name for s in sources.values() if visible_to(s.layer, role)) or "none"
            raise NotFound(f"tile layer {name!r} does not exist; available: {names}")
        return source

    async def visible_sources(self, role: str) -> list[TileSource]:
        return [s for s in (await self.sources()).values() if visible_to(s.layer, role)]

    # -- tiles ---------------------------------------------------------------------------------------------

    async def tile(self, source: TileSource, tile: Tile, *, territory_id: int | None = None) -> CachedTile:
        """The tile of one layer: from the cache, or rendered by its SQL function and stored."""
        if tile.z < source.minzoom:
            return EMPTY  # nothing is drawn below the layer's minimum zoom: no query at all
        variant = "" if territory_id is None else f"t{territory_id}"
        key = TileKey(source.name, tile, variant)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        generation = self.cache.generation(source.name)
        params = "{}" if territory_id is None else orjson.dumps({"territory_id": str(territory_id)}).decode()
        connections = self.renderers or self.pool
        for attempt in (1, 2):
            try:
                async with connections.connection() as conn:
                    cur = await conn.execute(
                        source.function_call(), (tile.z, tile.x, tile.y, params), binary=True
                    )
                    row = await cur.fetchone()
                break
            except psycopg.OperationalError:
                # A connection closed under us (database restart, idle timeout): once more on a new one.
                if attempt == 2:
                    raise
        data = bytes(row[0]) if row and row[0] is not None else b""
        rendered = CachedTile.of(data)
        self.cache.put(key, rendered, generation=generation)
        return rendered

    async def combined_tile(
        self, sources: list[TileSource], tile: Tile, *, territory_id: int | None = None
    ) -> CachedTile:
        """Several layers in one tile: MVT layers are a repeated field, so tiles concatenate."""
        parts = [await self.tile(s, tile, territory_id=territory_id) for s in sources]
        data = b"".join(p.data for p in parts)
        etag = (
            '"' + hashlib.blake2b("".join(p.etag for p in parts).encode(), digest_size=12).hexdigest() + '"'
        )
        return CachedTile(data, etag)

    # -- freshness -----------------------------------------------------------------------------------------

    async def apply_change(self, change: dict[str, Any], *, publish: bool = True) -> None:
        """Invalidate what one ``tiles.changes`` row touches and tell the subscribed maps."""
        change_id = int(change.get("id") or 0)
        self.last_change_id = max(self.last_change_id, change_id)
        bbox_list = change.get("bbox")
        bbox: BBox | None = (
            (float(bbox_list[0]), float(bbox_list[1]), float(bbox_list[2]), float(bbox_list[3]))
            if bbox_list
            else None
        )
        if change.get("catalog"):
            self._sources = None  # fields or visibility may have changed: reload on next use
        layers = await self._layers_of(change)
        for source in layers:
            self.cache.invalidate_memory(source.name, bbox)
            self._invalidate_disk_later(source.name, bbox)
            if publish:
                event = {
                    "type": "tiles.changed",
                    "layer": source.name,
                    "bbox": list(bbox) if bbox else None,
                    "change": change_id,
                    "catalog": bool(change.get("catalog")),
                }
                self.hub.publish(event, visibility=source.layer.visibility)

    async def _layers_of(self, change: dict[str, Any]) -> list[TileSource]:
        table, layer = change.get("table"), change.get("layer")
        sources = await self.sources()
        if change.get("catalog"):
            hit = [sources[layer]] if layer in sources else []
            if not hit and layer:
                # The layer was removed or hidden: its tiles go too (nothing to publish to).
                self.cache.invalidate_memory(layer, None)
                self._invalidate_disk_later(layer, None)
            return hit
        if table == "gis_features":
            return [s for s in sources.values() if s.layer.in_attributes and s.layer.layer_filter == layer]
        return [s for s in sources.values() if s.layer.table_name == table]

    def _invalidate_disk_later(self, layer: str, bbox: BBox | None) -> None:
        if self.cache.disk is None:
            return
        future = asyncio.get_running_loop().run_in_executor(None, self.cache.invalidate_disk, layer, bbox)
        self._disk_tasks.add(future)
        future.add_done_callback(self._disk_tasks.discard)

    async def settle(self) -> None:
        """Wait for pending disk invalidations (shutdown, tests)."""
        if self._disk_tasks:
            await asyncio.gather(*self._disk_tasks, return_exceptions=True)


def build_cache(*, memory_mb: int, disk_dir: Any | None) -> TileCache:
    return TileCache(MemoryTiles(memory_mb * 1024 * 1024), DiskTiles(disk_dir) if disk_dir else None)
