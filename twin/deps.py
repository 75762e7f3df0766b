"""FastAPI dependencies shared by every router: a pooled async connection, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import dict_row, tuple_row

from twin.settings import Settings


async def _connection(request: Request) -> AsyncIterator[AsyncConnection[dict[str, Any]]]:
    pool = request.app.state.pool
    async with pool.connection() as conn:
        conn.row_factory = dict_row
        try:
            yield conn
        finally:
            # The connection goes back to the pool: other users (health, sessions) expect tuple rows.
            conn.row_factory = tuple_row


def _settings(request: Request) -> Settings:
    return request.app.state.settings


Connection = Annotated[AsyncConnection[dict[str, Any]], Depends(_connection)]
AppSettings = Annotated[Settings, Depends(_settings)]
