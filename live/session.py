"""One client's stream, whatever carries it (WebSocket or SSE): who it is, what it asked for, what it gets.

``open_request`` checks the caller and the query (errors are raised before the transport is opened, so
they are answered as problem details); ``messages`` yields the opening (replay or ``ready``) then the live
messages and pings; ``pump`` sends them until the client leaves or is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from live.feed import LiveFeed
from live.hub import LiveHub, Message, Subscriber, control
from live.replay import ready, resume
from twin.errors import DatabaseNotReady, Forbidden, InvalidInput, NotFound, Unauthorized
from twin.live_events import TOPICS
from twin.security.permissions import Group, may_use
from twin.security.roles import ANONYMOUS

log = logging.getLogger(__name__)

PING_EVERY_S = 20.0
#: How long a client connecting right after the server started waits for the feed's first read.
READY_WAIT_S = 10.0
MAX_EVENT_ID = 2**63 - 1
PING = control("ping")


@dataclass
class LiveService:
    """What the live routes need, kept on ``app.state.live``."""

    hub: LiveHub
    feed: LiveFeed
    pool: AsyncConnectionPool[Any]
    retention_days: int


@dataclass(frozen=True)
class StreamRequest:
    """A client's validated request: its role and filters, and where it resumes from (None: from now)."""

    role: str
    topics: frozenset[str] | None
    territory_id: int | None
    since: int | None


def role_allowed(connection: HTTPConnection) -> str:
    """The caller's role, if it may use the live stream (group ``live``); else Unauthorized/Forbidden."""
    principal = getattr(connection.state, "principal", None) or ANONYMOUS
    if not principal.is_authenticated:
        problem = getattr(connection.state, "session_problem", None)
        raise Unauthorized(problem or "sign in first (POST /api/auth/sign-in)")
    if principal.scope != "full":
        raise Forbidden("enrol a second factor first (POST /api/auth/totp/setup, then /confirm)")
    if not may_use(principal.role, Group.LIVE):
        raise Forbidden(f"role '{principal.role.value}' may not use {Group.LIVE.value} endpoints")
    return principal.role.value


def parse_topics(topics: str | None) -> frozenset[str] | None:
    """``incident,sensors`` → the set; None or empty means every topic.

    Examples
    --------
    >>> sorted(parse_topics("incident, sensors"))
    ['incident', 'sensors']
    >>> parse_topics("") is None
    True
    """
    if topics is None:
        return None
    names = {t.strip() for t in topics.split(",") if t.strip()}
    if not names:
        return None
    unknown = sorted(names - set(TOPICS))
    if unknown:
        raise InvalidInput(
            f"topics: unknown topic(s) {', '.join(repr(u) for u in unknown)}; choose among {', '.join(TOPICS)}"
            f" / sujets inconnus ; choisir parmi {', '.join(TOPICS)}"
        )
    return frozenset(names)


def parse_since(value: str | int | None, name: str) -> int | None:
    """An event id to resume from (``since`` or the ``Last-Event-ID`` header); None when absent.

    Examples
    --------
    >>> parse_since("41", "since"), parse_since(None, "since")
    (41, None)
    """
    if value is None or value == "":
        return None
    try:
        since = int(value)
    except (TypeError, ValueError):
        since = -1
    if not 0 <= since <= MAX_EVENT_ID:
        raise InvalidInput(
            f"{name}: expected the id of the last event received (an integer ≥ 0), got {str(value)[:40]!r}"
            f" / {name} : id du dernier événement reçu attendu (entier ≥ 0)"
        )
    return since


async def territory_id_of(pool: AsyncConnectionPool[Any], territory: str | None) -> int | None:
    """Resolve ``territory`` (a name or an id) to an id; None when absent; NotFound when unknown."""
    if territory is None or territory == "":
        return None
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM twin.territory WHERE name = %(key)s"
            " OR id = CASE WHEN %(key)s ~ '^[0-9]{1,9}$' THEN %(key)s::integer END"
            " ORDER BY name = %(key)s DESC LIMIT 1",
            {"key": territory},
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(
            f"territory={territory[:100]!r} names no territory (give its name or id)"
            " / territoire inconnu (donner son nom ou son id)"
        )
    return int(row[0])


async def open_request(
    live: LiveService,
    connection: HTTPConnection,
    *,
    topics: str | None,
    territory: str | None,
    since: int | None,
) -> StreamRequest:
    """Check the caller and the filters, and wait (briefly) for the feed to be ready."""
    role = role_allowed(connection)
    request = StreamRequest(role, parse_topics(topics), await territory_id_of(live.pool, territory), since)
    try:
        await asyncio.wait_for(live.hub.ready.wait(), READY_WAIT_S)
    except TimeoutError:
        raise DatabaseNotReady(
            "the live stream is not ready (database unreachable): retry in a few seconds"
            " / flux en direct pas prêt (base injoignable) : réessayer dans quelques secondes"
        ) from None
    return request


def subscribe(live: LiveService, request: StreamRequest) -> Subscriber:
    return live.hub.subscribe(request.role, topics=request.topics, territory_id=request.territory_id)


async def messages(live: LiveService, sub: Subscriber, since: int | None) -> AsyncIterator[Message]:
    """The stream of one subscriber (subscribed already): opening, then live messages and pings."""
    last_id = live.hub.last_id or 0
    if since is None:
        floor = last_id
        yield ready(floor)
    else:
        floor = since
        async for message in resume(
            live.pool, sub, since, live_last_id=last_id, retention_days=live.retention_days
        ):
            if message.topic == "ready" and message.id is not None:
                floor = message.id
            yield message
    queue = sub.queue
    while True:
        if queue.empty():
            try:
                async with asyncio.timeout(PING_EVERY_S):
                    message = await queue.get()
            except TimeoutError:
                yield PING
                continue
        else:
            message = queue.get_nowait()
        if message.id is not None and message.id <= floor:
            continue  # replayed already
        yield message


async def pump(
    stream: AsyncIterator[Message],
    send: Callable[[Message], Awaitable[None]],
    client_gone: Coroutine[Any, Any, None],
    sub: Subscriber,
) -> str:
    """Send ``stream`` until the client leaves (``client``), is dropped (``dropped``) or sending fails
    (``error``); return which. A dropped client's pending send is abandoned (it may never complete)."""

    async def send_all() -> None:
        async for message in stream:
            await send(message)

    sender = asyncio.create_task(send_all())
    leaving = asyncio.create_task(client_gone)
    dropped = asyncio.create_task(sub.dropped.wait())
    tasks = {sender, leaving, dropped}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait(tasks, timeout=2)
    if dropped in done:
        return "dropped"
    if leaving in done:
        return "client"
    error = None if sender.cancelled() else sender.exception()
    if error is not None:
        # A database failure (the replay) is the server's; a failed send is the client going away.
        level = logging.WARNING if isinstance(error, psycopg.Error) else logging.DEBUG
        log.log(level, "live: a stream stopped on an error: %r", error)
    return "error"
