"""Routers and start-up of the routing package, in the order the app mounts them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from routing.service import ROUTING_CHANNEL, TILES_CHANNEL, RoutingService
from twin.bus import EventBus


def routing_routers() -> list[APIRouter]:
    from routing.closure_routes import closures_router
    from routing.dispatch_routes import dispatch_router
    from routing.routes import routing_router

    # /api/routing/closures before the computation routes (no pattern overlaps, but keep lists stable).
    return [closures_router(), routing_router(), dispatch_router()]


@asynccontextmanager
async def routing_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    """Create the process's routing service and subscribe it to road and closure changes (before the bus
    starts). Graphs are loaded on first use, in a worker thread."""
    service = RoutingService(app.state.database_url, pool=app.state.pool)
    bus.subscribe(TILES_CHANNEL, service.on_tiles_changed)
    bus.subscribe(ROUTING_CHANNEL, service.on_routing_changed, on_connect=service.on_connect)
    app.state.routing = service
    try:
        yield
    finally:
        service.close()
