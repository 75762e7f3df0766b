"""Who is calling: the principal of every request, and the permission check of each endpoint group."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from twin.errors import Forbidden, Unauthorized
from twin.security.permissions import Group, may_use
from twin.security.principal_cache import PrincipalCache
from twin.security.roles import ANONYMOUS, Principal
from twin.security.sessions import COOKIE_NAME, principal_from_token, token_digest


def token_of(request: HTTPConnection) -> tuple[str | None, str]:
    """The session token and where it came from (``bearer`` or ``cookie``)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    return request.cookies.get(COOKIE_NAME) or None, "cookie"


async def resolve_principal(request: HTTPConnection) -> Principal:
    """Run once per request or WebSocket (an app-wide dependency); the result is kept on ``request.state``.

    No token: anonymous. A bearer token that is unknown, expired or revoked: 401, so that API clients
    learn at once that they must sign in again. A stale *cookie* makes the request anonymous instead
    (the browser cannot drop an HttpOnly cookie by itself, and must still reach the sign-in routes);
    routes that need a session then say why it was refused.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token, origin = token_of(request)
    principal = ANONYMOUS
    if token:
        cache: PrincipalCache | None = getattr(request.app.state, "principals", None)
        digest = token_digest(token)
        hit = cache.get(digest) if cache is not None else None
        if hit is not None:
            principal = hit
        else:
            async with request.app.state.pool.connection() as conn:
                try:
                    principal = await principal_from_token(conn, token)
                except Unauthorized as exc:
                    if origin == "bearer":
                        raise
                    request.state.session_problem = str(exc)
            if cache is not None and principal.expires_at is not None:
                left_s = (principal.expires_at - datetime.now(UTC)).total_seconds()
                cache.put(digest, principal, session_left_s=left_s)
    request.state.principal = principal
    return principal


def _sign_in_first(request: Request) -> Unauthorized:
    problem = getattr(request.state, "session_problem", None)
    return Unauthorized(problem or "sign in first (POST /api/auth/sign-in)")


CurrentPrincipal = Annotated[Principal, Depends(resolve_principal)]


def require(group: Group, *, session: bool = False) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency: the caller's role may use ``group`` (and, with ``session``, is signed in with full scope)."""

    async def check(request: Request, principal: CurrentPrincipal) -> Principal:
        if session and not principal.is_authenticated:
            raise _sign_in_first(request)
        if not may_use(principal.role, group):
            if not principal.is_authenticated:
                raise _sign_in_first(request)
            raise Forbidden(f"role '{principal.role}' may not use {group.value} endpoints")
        if principal.scope != "full" and group is not Group.SESSION:
            raise Forbidden("enrol a second factor first (POST /api/auth/totp/setup, then /confirm)")
        return principal

    check.permission_group = group  # type: ignore[attr-defined]  # read by the OpenAPI annotation
    check.requires_session = session  # type: ignore[attr-defined]
    return check


def role_of(request: HTTPConnection) -> str:
    """The role of a request whose principal was resolved (every route's app-wide dependency).

    A session that has not completed its second factor (scope ``enroll_totp``) acts as anonymous: a password
    alone must not open an operator's restricted layers.
    """
    principal = getattr(request.state, "principal", None) or ANONYMOUS
    if principal.scope != "full":
        return ANONYMOUS.role.value
    return principal.role.value
