"""Routers and start-up of the live stream (docs/live.md).

``live_lifespan`` builds the process's hub and feed, subscribes the feed to the bus (``live_events``,
``sensor_updates``) before the bus starts, and prunes ``live.events`` past the retention period every hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field

from live.feed import LiveFeed
from live.hub import LiveHub
from live.session import LiveService
from live.sse import live_sse_router
from live.ws import live_ws_router
from twin.bus import EventBus
from twin.live_events import LOGGED_CHANNEL, SENSOR_CHANNEL
from twin.security.deps import require
from twin.security.permissions import Group
from twin.security.roles import Principal

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


class LiveStatus(BaseModel):
    """The live stream of this server process."""

    subscribers: int = Field(description="clients connected (WebSocket and SSE)")
    last_id: int | None = Field(description="last logged event id published (None before the first read)")
    bus_connected: bool = Field(description="the LISTEN connection is up (else events wait for it)")
    dropped_total: int = Field(description="clients dropped for being too slow since the start")
    published_total: int = Field(description="messages published since the start")
    retention_days: int = Field(description="logged events are replayable this long")


def live_routers() -> list[APIRouter]:
    return [live_ws_router(), live_sse_router(), status_router()]


def status_router() -> APIRouter:
    router = APIRouter(prefix="/api/live", tags=["Direct"])

    @router.get("/status", response_model=LiveStatus, summary="État du flux en direct de ce processus")
    async def live_status(
        request: Request, _: Annotated[Principal, Depends(require(Group.LIVE))]
    ) -> LiveStatus:
        live: LiveService = request.app.state.live
        return LiveStatus(
            subscribers=len(live.hub),
            last_id=live.hub.last_id,
            bus_connected=live.feed.bus_connected,
            dropped_total=live.hub.dropped_total,
            published_total=live.hub.published_total,
            retention_days=live.retention_days,
        )

    return router


@contextlib.asynccontextmanager
async def live_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    hub = LiveHub()
    feed = LiveFeed(hub, app.state.pool)
    retention_days = app.state.settings.sensing.events_retention_days
    bus.subscribe(
        LOGGED_CHANNEL, feed.on_logged, on_connect=feed.on_connect, on_disconnect=feed.on_disconnect
    )
    bus.subscribe(SENSOR_CHANNEL, feed.on_sensors)
    app.state.live = LiveService(hub, feed, app.state.pool, retention_days)
    pruner = asyncio.create_task(_prune_periodically(feed, retention_days), name="live-prune")
    try:
        yield
    finally:
        hub.close_all()
        pruner.cancel()
        await asyncio.wait({pruner}, timeout=2)
        await feed.stop()


async def _prune_periodically(feed: LiveFeed, retention_days: int) -> None:
    while True:
        try:
            removed = await feed.prune(retention_days)
            if removed:
                log.info("live: pruned %d events older than %d days", removed, retention_days)
        except Exception as exc:  # database away: the next round prunes
            log.warning("live: pruning failed (%s)", exc)
        await asyncio.sleep(PRUNE_EVERY_S)
