"""Sign-in sessions: opaque random tokens, stored only as SHA-256, with expiry and revocation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection

from twin.errors import Unauthorized
from twin.security.roles import Principal, Role

TOKEN_PREFIX = "hv_"
COOKIE_NAME = "hv_session"


def token_digest(token: str) -> bytes:
    """SHA-256 of a session token: what the database stores and the principal cache is keyed by."""
    return hashlib.sha256(token.encode()).digest()


def create_session(
    conn: psycopg.Connection[Any],
    account_id: int,
    *,
    method: str,
    scope: str,
    ttl_s: int,
    client_addr: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, datetime]:
    """Create a session and return its token (shown once, never stored) and its expiry."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    conn.execute(
        "INSERT INTO auth.sessions (account_id, token_sha256, scope, method, expires_at, client_addr, user_agent)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (account_id, token_digest(token), scope, method, expires_at, client_addr, (user_agent or "")[:300]),
    )
    return token, expires_at


async def principal_from_token(conn: AsyncConnection[Any], token: str) -> Principal:
    """The principal of a valid token; Unauthorized saying why for an unknown, expired or revoked one."""
    cur = await conn.execute(
        "SELECT s.id, s.scope, s.method, s.expires_at, s.revoked_at, a.id AS account_id, a.username, a.role,"
        " a.disabled FROM auth.sessions s JOIN auth.accounts a ON a.id = s.account_id"
        " WHERE s.token_sha256 = %s",
        (token_digest(token),),
    )
    row = await cur.fetchone()
    if row is None:
        raise Unauthorized("unknown session token: sign in again")
    values = (
        row if isinstance(row, dict) else dict(zip([d.name for d in cur.description or []], row, strict=True))
    )
    if values["revoked_at"] is not None:
        raise Unauthorized("this session was signed out or revoked: sign in again")
    if values["expires_at"] <= datetime.now(UTC):
        raise Unauthorized("this session has expired: sign in again")
    if values["disabled"]:
        raise Unauthorized("this account is disabled")
    return Principal(
        role=Role(values["role"]),
        account_id=int(values["account_id"]),
        username=values["username"],
        session_id=int(values["id"]),
        scope=values["scope"],
        method=values["method"],
        expires_at=values["expires_at"],
    )


async def revoke_session(conn: AsyncConnection[Any], session_id: int) -> None:
    await conn.execute(
        "UPDATE auth.sessions SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (session_id,)
    )
