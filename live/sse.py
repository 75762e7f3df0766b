"""``GET /api/live/events``: the live stream as Server-Sent Events (``text/event-stream``).

The same messages as the WebSocket, one SSE event each: ``event: <topic>``, ``data: <the JSON>``, and an
``id:`` line on logged events and on ``ready`` — the browser's ``EventSource`` sends the last one back as
``Last-Event-ID`` when it reconnects, and the stream resumes from it. Keep-alives are SSE comments.

The client must ask for ``Accept: text/event-stream`` (``EventSource`` always does): any other client would
wait forever on an answer that never ends, so it gets 406 saying how to ask.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from live.hub import Message
from live.replay import resync
from live.session import (
    MAX_EVENT_ID,
    LiveService,
    StreamRequest,
    messages,
    open_request,
    parse_since,
    pump,
    subscribe,
)
from twin.security.deps import require
from twin.security.openapi import PROBLEM
from twin.security.permissions import Group

#: How long an EventSource waits before reconnecting after the stream ended (milliseconds).
RETRY_MS = 2000
FAREWELL_S = 1.0
EVENT_STREAM = "text/event-stream"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}},
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Flux SSE sans fin : `event: <sujet>`, `data: <JSON>`, `id:` sur les événements"
        " journalisés (The endless SSE stream)",
        "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
    },
    404: _problem("Territoire inconnu (unknown territory)."),
    406: _problem("Demander `Accept: text/event-stream` (ask for text/event-stream)."),
    503: _problem("Flux pas encore prêt, base injoignable : réessayer (not ready: retry)."),
}


class EventStreamResponse(Response):
    """Streams one client's messages; ends when the client leaves or is dropped (too slow, shutdown)."""

    media_type = EVENT_STREAM

    def __init__(self, live: LiveService, request: StreamRequest) -> None:
        self.live = live
        self.request = request
        self.status_code = 200
        self.background = None
        # No Content-Length (the body never ends); no buffering by a proxy (nginx honours X-Accel-Buffering).
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live, request = self.live, self.request
        sub = subscribe(live, request)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await _body(send, f"retry: {RETRY_MS}\n\n".encode())

            async def send_message(message: Message) -> None:
                await _body(send, b": ping\n\n" if message.topic == "ping" else message.sse())

            async def client_gone() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass

            ended = await pump(messages(live, sub, request.since), send_message, client_gone(), sub)
        finally:
            live.hub.unsubscribe(sub)
        with contextlib.suppress(Exception):
            if ended == "dropped":
                await asyncio.wait_for(_body(send, resync(sub.reason).sse()), FAREWELL_S)
            await asyncio.wait_for(
                send({"type": "http.response.body", "body": b"", "more_body": False}), FAREWELL_S
            )


async def _body(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


def live_sse_router() -> APIRouter:
    router = APIRouter(prefix="/api/live", tags=["Direct"])

    @router.get(
        "/events",
        response_class=EventStreamResponse,
        status_code=200,
        responses=RESPONSES,
        dependencies=[Depends(require(Group.LIVE))],
        summary="Flux en direct (SSE) : incidents, détections, main courante, capteurs",
    )
    async def live_events(
        request: Request,
        since: Annotated[
            int | None, Query(ge=0, le=MAX_EVENT_ID, description="id du dernier événement reçu (resume)")
        ] = None,
        topics: Annotated[
            str | None,
            Query(max_length=200, description="incident,detection,log,simulation,sensors (défaut : tous)"),
        ] = None,
        territory: Annotated[str | None, Query(max_length=200, description="nom ou id du territoire")] = None,
        last_event_id: Annotated[
            str | None, Header(alias="Last-Event-ID", max_length=40, description="envoyé par EventSource")
        ] = None,
    ) -> Response:
        """Incidents, détections, main courante et valeurs des capteurs que le rôle peut voir, en direct.

        Reprise sans perte : ``Last-Event-ID`` (ou ``since``) rejoue les événements manqués, puis
        ``sensors.snapshot`` et ``ready``. (The live stream, resumable; see docs/live.md.)
        """
        # The header is the newer resume point: EventSource keeps the URL (and its ?since) it started with.
        resume_from = parse_since(last_event_id, "Last-Event-ID")
        live: LiveService = request.app.state.live
        stream_request = await open_request(
            live,
            request,
            topics=topics,
            territory=territory,
            since=resume_from if resume_from is not None else since,
        )
        if EVENT_STREAM not in request.headers.get("accept", ""):
            raise StarletteHTTPException(
                406,
                "this is an endless event stream: ask for it with 'Accept: text/event-stream' (EventSource does)"
                " / flux sans fin : le demander avec « Accept: text/event-stream »",
            )
        return EventStreamResponse(live, stream_request)

    return router
