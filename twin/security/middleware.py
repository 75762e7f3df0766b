"""Web hardening: security headers, CORS, request size and rate limits, and no stack trace in any response.

Every middleware here is plain ASGI (no ``BaseHTTPMiddleware``): it adds a few microseconds per request and
leaves streaming responses streaming. Order, outermost first::

    SecurityHeadersMiddleware   headers on every response, and the catch-all 500 with an error id
    CORSMiddleware              only when HYPERVISEUR_CORS_ORIGINS is set (closed by default)
    RequestLimitsMiddleware     429 on sign-in and expensive requests, 413 on oversized bodies
    FastAPI                     routes, domain error handlers
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twin.errors import TooManyRequests
from twin.security.api_docs import install_api_docs
from twin.settings import Settings

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "worker-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Two years, the HSTS preload list's minimum; sent only when the browser really talks TLS to us.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "geolocation=(self), camera=(), microphone=()",
    "cross-origin-opener-policy": "same-origin",
}

SIGNIN_ROUTES: frozenset[tuple[str, str]] = frozenset({("POST", "/api/auth/sign-in")})
# Requests under these path prefixes count against HYPERVISEUR_EXPENSIVE_RATE_PER_MIN; domain packages add
# theirs with ``mark_expensive_prefix`` (or mark a single route with ``Depends(expensive_rate_limit)``).
EXPENSIVE_PATH_PREFIXES: list[str] = []
# An OGC items page is cheap up to this many features; a larger ``limit`` is an expensive request.
OGC_ITEMS_CHEAP_LIMIT = 1000
_OGC_ITEMS_PATH = re.compile(r"^/ogc/collections/[^/]+/items/?$")
_RATE_WINDOW_S = 60.0


def mark_expensive_prefix(prefix: str) -> None:
    """Count every request under ``prefix`` (e.g. ``"/api/routing/matrix"``) as expensive."""
    if not prefix.startswith("/"):
        raise ValueError(f"path prefix {prefix!r} must start with '/'")
    if prefix not in EXPENSIVE_PATH_PREFIXES:
        EXPENSIVE_PATH_PREFIXES.append(prefix)


class SlidingWindowLimiter:
    """At most ``per_minute`` hits per key in any 60-second window (exact: one timestamp per hit).

    Single event loop, no ``await`` inside: no lock needed. Each worker process keeps its own windows.

    Examples
    --------
    >>> clock = iter([0.0, 1.0, 2.0, 61.0]).__next__
    >>> limiter = SlidingWindowLimiter(2, clock=clock)
    >>> [limiter.hit("a"), limiter.hit("a"), limiter.hit("a"), limiter.hit("a")]
    [0.0, 0.0, 58.0, 0.0]
    """

    def __init__(
        self,
        per_minute: int,
        *,
        window_s: float = _RATE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = 0.0

    def hit(self, key: str) -> float:
        """Record one hit for ``key``; 0.0 if allowed, else the seconds to wait before the next one."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        window = self._hits.get(key)
        if window is None:
            window = self._hits[key] = deque()
        cutoff = now - self.window_s
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= self.per_minute:
            return window[0] + self.window_s - now
        window.append(now)
        return 0.0

    def reset(self) -> None:
        self._hits.clear()

    def _sweep(self, now: float) -> None:
        # Forget idle clients once per window, so memory follows the active clients only.
        cutoff = now - self.window_s
        for key in [k for k, w in self._hits.items() if not w or w[-1] <= cutoff]:
            del self._hits[key]
        self._next_sweep = now + self.window_s


class Hardening:
    """The limiters of one application, kept on ``app.state.hardening``."""

    def __init__(self, settings: Settings) -> None:
        sec = settings.security
        self.signin = SlidingWindowLimiter(sec.signin_rate_per_min)
        self.expensive = SlidingWindowLimiter(sec.expensive_rate_per_min)
        self.max_request_bytes = sec.max_request_bytes

    def reset(self) -> None:
        self.signin.reset()
        self.expensive.reset()


def client_key(scope: Scope) -> str:
    """The rate-limit key of a client: its IPv4 address, or its IPv6 /64 (one subscriber's block)."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def expensive_rate_limit(request: Request) -> None:
    """Dependency marking one route expensive: ``dependencies=[Depends(expensive_rate_limit)]``."""
    hardening: Hardening = request.app.state.hardening
    wait = hardening.expensive.hit(client_key(request.scope))
    if wait:
        raise TooManyRequests(
            "too many expensive requests from your address: wait before retrying, or ask for less at once",
            retry_after_s=math.ceil(wait),
        )


def _problem(status: int, title: str, detail: str, **extra: Any) -> bytes:
    # RFC 9457 problem details, the shape every other error of the API has.
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": title}
    return json.dumps({**body, **extra}).encode()


async def _send_problem(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit: the application stops reading."""


class SecurityHeadersMiddleware:
    """Security headers on every HTTP response, and a generic 500 for any unexpected exception.

    A header a route sets itself is left alone. The 500 body carries an error id; the traceback goes to the
    server log under the same id, never to the client.
    """

    def __init__(self, app: ASGIApp, *, hsts_always: bool) -> None:
        self.app = app
        self.hsts_always = hsts_always
        base = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        self._plain = tuple(base)
        self._tls = (*base, (b"strict-transport-security", STRICT_TRANSPORT_SECURITY.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._tls if self.hsts_always or scope.get("scheme") == "https" else self._plain
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            error_id = secrets.token_hex(6)
            logger.error(
                "unexpected error %s on %s %s", error_id, scope.get("method"), scope.get("path"), exc_info=exc
            )
            if started:  # a streamed response broke half-way: nothing left to say, let the server cut it
                raise
            detail = f"an unexpected error occurred; give the administrator this error id: {error_id}"
            body = _problem(500, "InternalError", detail, error_id=error_id)
            await _send_problem(send_with_headers, 500, body, [])


class RequestLimitsMiddleware:
    """429 past the sign-in and expensive-request rates, 413 past ``max_request_bytes``.

    A declared ``Content-Length`` over the limit is refused before the body is read; a chunked body is
    counted as it streams and refused as soon as it passes the limit, whatever the route was doing with it.
    """

    def __init__(self, app: ASGIApp, *, hardening: Hardening) -> None:
        self.app = app
        self.hardening = hardening
        self.max_bytes = hardening.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self._limiter_for(scope)
        if limiter is not None:
            wait = limiter.hit(client_key(scope))
            if wait:
                retry = max(1, math.ceil(wait))
                which = "sign-in attempts" if limiter is self.hardening.signin else "expensive requests"
                detail = f"too many {which} from your address: retry in {retry} s"
                body = _problem(429, "TooManyRequests", detail)
                await _send_problem(send, 429, body, [(b"retry-after", str(retry).encode())])
                return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the HTTP server rejects a malformed length before we run
                if declared > self.max_bytes:
                    await self._refuse_too_large(send)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked:
            # No body, or one whose declared length the HTTP server enforces: nothing to count.
            await self.app(scope, receive, send)
            return
        await self._call_counting(scope, receive, send)

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:  # whatever the route answers to a cut body (often a 400), the answer is 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse_too_large(send)

    async def _refuse_too_large(self, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes: send less at once (e.g. import in parts)"
        body = _problem(413, "PayloadTooLarge", detail, max_bytes=self.max_bytes)
        await _send_problem(send, 413, body, [(b"connection", b"close")])

    def _limiter_for(self, scope: Scope) -> SlidingWindowLimiter | None:
        method, path = scope["method"], scope["path"]
        if (method, path) in SIGNIN_ROUTES:
            return self.hardening.signin
        if method == "GET" and _OGC_ITEMS_PATH.match(path) and _asks_many_items(scope["query_string"]):
            return self.hardening.expensive
        for prefix in EXPENSIVE_PATH_PREFIXES:
            if path.startswith(prefix):
                return self.hardening.expensive
        return None


def _asks_many_items(query_string: bytes) -> bool:
    if b"limit" not in query_string:
        return False
    for key, value in parse_qsl(query_string.decode("latin-1")):
        if key == "limit":
            try:
                return int(value) > OGC_ITEMS_CHEAP_LIMIT
            except ValueError:
                return False  # the route answers 400 for a limit that is not a number
    return False


def install_web_hardening(app: FastAPI, settings: Settings) -> None:
    """Install every protective middleware on ``app``, and serve the API docs without any CDN."""
    sec = settings.security
    hardening = Hardening(settings)
    app.state.hardening = hardening
    install_api_docs(app)
    # add_middleware puts each new middleware outside the previous ones: innermost first.
    app.add_middleware(RequestLimitsMiddleware, hardening=hardening)
    if sec.cors_origins:
        wildcard = "*" in sec.cors_origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sec.cors_origins,
            # Session cookies travel cross-origin only to origins named one by one, never to "*".
            allow_credentials=not wildcard,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type", "accept", "accept-language"],
            expose_headers=["retry-after", "link", "content-crs"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts_always=sec.behind_tls_proxy)
