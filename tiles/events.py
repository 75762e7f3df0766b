"""Push "tiles changed" events to the maps that show them, over a WebSocket, filtered by role.

Each subscriber has a bounded queue: a client too slow to keep up gets one ``resync`` event (refetch every
tile) instead of an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from layers.catalog import visible_to
from twin.security.deps import role_of

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
PING_EVERY_S = 20.0


@dataclass(eq=False)
class Subscriber:
    role: str
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False


class TileEventHub:
    """Fan-out of tile events to WebSocket subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self, role: str) -> Subscriber:
        sub = Subscriber(role)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def publish(self, event: dict[str, Any], *, visibility: str | None) -> None:
        """Queue ``event`` for every subscriber whose role may see a layer of ``visibility``.

        ``visibility`` None means the event concerns no particular layer (e.g. a resync): everyone gets it.
        """
        for sub in list(self._subscribers):
            if visibility is not None and not _may_see(sub.role, visibility):
                continue
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True


def _may_see(role: str, visibility: str) -> bool:
    from twin.security.permissions import may_see_layer

    return may_see_layer(role, visibility)


def tile_events_router() -> APIRouter:
    router = APIRouter(prefix="/tiles", tags=["Tuiles vectorielles"])

    @router.websocket("/events")
    async def tile_events(websocket: WebSocket) -> None:
        """Events ``tiles.changed`` {layer, bbox, change}: refetch those tiles. Same-origin only."""
        if not _same_origin(websocket):
            await websocket.close(code=1008, reason="cross-origin WebSocket refused")
            return
        service = websocket.app.state.tiles
        role = role_of(websocket)
        await websocket.accept()
        sub = service.hub.subscribe(role)
        try:
            sources = await service.sources()
            layers = [s.name for s in sources.values() if visible_to(s.layer, role)]
            await websocket.send_bytes(orjson.dumps({"type": "hello", "role": role, "layers": layers}))
            receiver = asyncio.create_task(_drain_client(websocket))
            try:
                while True:
                    if sub.overflowed:
                        await websocket.send_bytes(orjson.dumps({"type": "resync"}))
                        _empty(sub.queue)
                        sub.overflowed = False
                    # Wait for an event or for the client to leave, whichever comes first: a closed map
                    # must not hold its subscription (and the server's shutdown) until the next ping.
                    getter = asyncio.create_task(sub.queue.get())
                    done, _ = await asyncio.wait(
                        {getter, receiver}, timeout=PING_EVERY_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    if receiver in done:
                        getter.cancel()
                        return
                    if getter in done:
                        event = getter.result()
                    else:
                        getter.cancel()
                        event = {"type": "ping"}
                    await websocket.send_bytes(orjson.dumps(event))
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await receiver
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            service.hub.unsubscribe(sub)

    return router


async def _drain_client(websocket: WebSocket) -> None:
    # Clients have nothing to say; reading notices their disconnection.
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def _empty(queue: asyncio.Queue[dict[str, Any]]) -> None:
    while not queue.empty():
        queue.get_nowait()


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin on WebSockets and no CORS applies: refuse pages of other sites (CSWSH).

    Non-browser clients (QGIS, scripts) send no Origin and are allowed; they still need a session for
    anything that is not public.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    host = websocket.headers.get("host", "")
    allowed = set(websocket.app.state.settings.security.cors_origins)
    return origin in allowed or origin.split("://", 1)[-1] == host
