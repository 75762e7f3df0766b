"""Routers and start-up of the tiles package, in the order the app mounts them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from layers.ogc.extensions import register_extension
from tiles.events import TileEventHub
from tiles.freshness import CHANNEL, Freshness
from tiles.ogc_tiles import tiles_extension
from tiles.render_connections import RenderConnections
from tiles.service import TileService, build_cache
from twin.bus import EventBus

log = logging.getLogger(__name__)


def tiles_routers() -> list[APIRouter]:
    from tiles.events import tile_events_router
    from tiles.ogc_tiles import ogc_tiles_router
    from tiles.raster_routes import raster_router
    from tiles.routes import tiles_router
    from tiles.style_routes import style_router

    # Fixed paths (style, glyphs, sprites, events) before the /tiles/{z}/{x}/{y} patterns they would match.
    return [style_router(), tile_events_router(), tiles_router(), ogc_tiles_router(), raster_router()]


@asynccontextmanager
async def tiles_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    """Create the process's tile service and subscribe it to the change feed (before the bus starts)."""
    settings = app.state.settings
    disk_dir = None
    if settings.tiles.disk_cache:
        disk_dir = settings.tiles.disk_dir or settings.database.var_dir / "tiles"
    renderers = RenderConnections(app.state.database_url, size=settings.tiles.render_connections)
    service = TileService(
        app.state.pool,
        build_cache(memory_mb=settings.tiles.memory_mb, disk_dir=disk_dir),
        TileEventHub(),
        renderers,
    )
    freshness = Freshness(
        service,
        changes_kept_days=settings.tiles.changes_kept_days,
        replay_margin_s=settings.tiles.replay_margin_s,
    )
    bus.subscribe(
        CHANNEL,
        freshness.on_notification,
        on_connect=freshness.on_connect,
        on_disconnect=freshness.on_disconnect,
    )
    app.state.tiles = service
    register_extension(app, tiles_extension())
    try:
        yield
    finally:
        # Bounded: the marker is a convenience (without it the next start wipes the disk cache), never a
        # reason for a shutdown to hang.
        try:
            await asyncio.wait_for(freshness.on_shutdown(), timeout=10)
        except TimeoutError:
            log.warning("tiles: shutdown bookkeeping timed out; the next start replays from the older marker")
        try:
            await asyncio.wait_for(renderers.close(), timeout=5)
        except TimeoutError:
            log.warning("tiles: render connections did not close within 5 s")
