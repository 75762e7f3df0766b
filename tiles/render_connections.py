"""A few database connections kept for tile rendering, checked out through a plain asyncio queue.

Tile queries are short (a quarter of a millisecond in PostgreSQL) and many: the general pool's checkout and
return (locks, statistics, state checks) cost about as much as the query itself. These connections do one
thing, autocommit, so a checkout is a queue get and a return a queue put; a connection that fails is
replaced by a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

APPLICATION_NAME = "hyperviseur-tiles"


class RenderConnections:
    """At most ``size`` autocommit connections to ``database_url``, opened on first use."""

    def __init__(self, database_url: str, *, size: int = 4) -> None:
        self._url = database_url
        self._size = size
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self._opened = 0
        self._closing = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self._checkout()
        try:
            yield conn
        except BaseException:
            # A failed query may leave the connection unusable: replace it rather than guess.
            await self._discard(conn)
            raise
        else:
            if conn.closed or self._closing:
                await self._discard(conn)
            else:
                self._idle.put_nowait(conn)

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        if self._idle.empty() and self._opened < self._size:
            self._opened += 1
            try:
                return await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name=APPLICATION_NAME
                )
            except BaseException:
                self._opened -= 1
                raise
        return await self._idle.get()

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._opened -= 1
        if not conn.closed:
            await conn.close()

    async def close(self) -> None:
        self._closing = True
        while not self._idle.empty():
            await self._discard(self._idle.get_nowait())
