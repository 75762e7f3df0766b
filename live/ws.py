"""``WS /api/live/ws``: the live stream over a WebSocket (JSON text frames), for the console.

Refusals happen before the handshake completes, as an HTTP answer with a problem+json body (401 without a
session, 403 cross-origin or a role without the ``live`` group, 400 bad query, 404 unknown territory, 503
not ready). A client too slow to keep up gets ``resync`` (reason ``slow``) and the close code 1013 (try
again later): it reconnects with ``since`` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from live.hub import Message
from live.replay import resync
from live.session import LiveService, messages, open_request, parse_since, pump, subscribe
from twin.errors import Forbidden, HyperviseurError

#: A dropped client may not read its last frames: never wait longer than this for them.
FAREWELL_S = 1.0
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_GOING_AWAY = 1001


def live_ws_router() -> APIRouter:
    router = APIRouter(prefix="/api/live", tags=["Direct"])

    @router.websocket("/ws")
    async def live_ws(websocket: WebSocket) -> None:
        """Query: ``since`` (last event id), ``topics`` (incident,detection,log,simulation,sensors), ``territory``."""
        live: LiveService = websocket.app.state.live
        query = websocket.query_params
        try:
            if not same_origin(websocket):
                raise Forbidden("cross-origin WebSocket refused / WebSocket d'une autre origine refusé")
            request = await open_request(
                live,
                websocket,
                topics=query.get("topics"),
                territory=query.get("territory"),
                since=parse_since(query.get("since"), "since"),
            )
        except HyperviseurError as exc:
            await refuse(websocket, exc)
            return
        await websocket.accept()
        sub = subscribe(live, request)
        try:

            async def send(message: Message) -> None:
                await websocket.send_text(message.text)

            ended = await pump(messages(live, sub, request.since), send, client_leaves(websocket), sub)
            if ended == "dropped":
                code = CLOSE_GOING_AWAY if sub.reason == "shutdown" else CLOSE_TRY_AGAIN_LATER
                await farewell(websocket, resync(sub.reason), code=code)
        finally:
            live.hub.unsubscribe(sub)

    return router


async def client_leaves(websocket: WebSocket) -> None:
    """Return when the client closes (clients have nothing to say; reading notices their leaving)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def farewell(websocket: WebSocket, message: Message, *, code: int) -> None:
    """Tell a dropped client why, if it still reads, and close; bounded (it may never read again)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.send_text(message.text), FAREWELL_S)
        await asyncio.wait_for(websocket.close(code=code, reason="resync"), FAREWELL_S)


async def refuse(websocket: WebSocket, exc: HyperviseurError) -> None:
    """Answer the handshake with the error's HTTP status and a problem+json body (RFC 9457)."""
    title = type(exc).__name__
    body = {
        "type": "about:blank",
        "title": title,
        "status": exc.http_status,
        "detail": str(exc),
        "code": title,
    }
    response = JSONResponse(body, status_code=exc.http_status, media_type="application/problem+json")
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # a server without the denial-response extension: a bare close
        await websocket.close(code=1008, reason=str(exc)[:120])


def same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin on WebSockets and no CORS applies: refuse pages of other sites (CSWSH).

    Non-browser clients send no Origin; they still need a session.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    host = websocket.headers.get("host", "")
    allowed = set(websocket.app.state.settings.security.cors_origins)
    return origin in allowed or origin.split("://", 1)[-1] == host
