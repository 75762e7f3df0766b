"""The embedded event bus: one LISTEN connection per server process, dispatching NOTIFY payloads to handlers.

PostgreSQL sends a notification at commit, so a handler never hears of a change that was rolled back. A
notification sent while the connection is down is lost: on every (re)connection each handler's
``on_connect`` runs, so that it can catch up from a table that records the events (``tiles.changes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]
ConnectHook = Callable[[], Awaitable[None]]


class EventBus:
    """Listen to PostgreSQL channels and call the handlers subscribed to each, in arrival order.

    Handlers run one after the other on the listener task: they must be quick (hand heavy work to a thread
    or a task). A handler that raises is logged and does not stop the bus.
    """

    def __init__(self, database_url: str, *, reconnect_max_s: float = 10.0) -> None:
        self._url = database_url
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._on_connect: list[ConnectHook] = []
        self._on_disconnect: list[ConnectHook] = []
        self._task: asyncio.Task[None] | None = None
        self._reconnect_max_s = reconnect_max_s
        self.connected = asyncio.Event()

    def subscribe(
        self,
        channel: str,
        handler: Handler,
        *,
        on_connect: ConnectHook | None = None,
        on_disconnect: ConnectHook | None = None,
    ) -> None:
        """Call ``handler(payload)`` for every notification on ``channel`` (subscribe before ``start``).

        ``on_connect`` runs on every (re)connection, before notifications flow; ``on_disconnect`` when the
        connection is lost (from then on notifications are being missed).
        """
        if self._task is not None:
            raise RuntimeError("subscribe before the bus starts")
        self._handlers[channel].append(handler)
        if on_connect is not None:
            self._on_connect.append(on_connect)
        if on_disconnect is not None:
            self._on_disconnect.append(on_disconnect)

    async def start(self) -> None:
        """Start listening in the background (``connected`` is set once the first catch-up has run)."""
        if not self._handlers:
            return
        self._task = asyncio.create_task(self._run(), name="event-bus")

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop listening; never waits more than ``timeout_s`` (a shutdown must not hang on a socket)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            log.warning("event bus: listener did not stop within %.0f s; abandoned", timeout_s)

    async def _run(self) -> None:
        delay_s = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    for channel in self._handlers:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    for hook in self._on_connect:
                        await self._call(hook)
                    self.connected.set()
                    delay_s = 0.2
                    async for note in conn.notifies():
                        for handler in self._handlers.get(note.channel, ()):
                            await self._call(handler, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection: back off, reconnect, catch up
                if self.connected.is_set():
                    self.connected.clear()
                    for hook in self._on_disconnect:
                        await self._call(hook)
                log.warning("event bus: connection lost (%s); reconnecting in %.1f s", exc, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self._reconnect_max_s)

    @staticmethod
    async def _call(fn: Callable[..., Awaitable[None]], *args: str) -> None:
        try:
            await fn(*args)
        except Exception:  # one faulty handler must not silence the others
            log.exception("event bus: handler %r failed", fn)
