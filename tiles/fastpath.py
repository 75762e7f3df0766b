"""The hot path of a map: a plain GET of one layer's tile, served without FastAPI's routing and dependencies.

A map asks for hundreds of tiles a minute; for those plain requests (no query string, a known visible layer,
valid coordinates) matching ~100 routes and solving the dependency graph cost as much as the tile itself. This
inner ASGI middleware answers them with the same functions as the ``/tiles/{layer}/{z}/{x}/{y}.{fmt}`` route
(principal, visibility, cache, response); anything else — errors included — goes on to that route, so both
give the same answers. The web-hardening middlewares (headers, limits) wrap it like every route.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from layers.catalog import visible_to
from tiles.coords import MAX_ZOOM, Tile
from tiles.routes import tile_response
from twin.errors import HyperviseurError
from twin.security.deps import resolve_principal, role_of

_TILE_PATH = re.compile(r"/tiles/([a-z][a-z0-9_]{0,62})/(\d{1,2})/(\d{1,8})/(\d{1,8})\.(?:pbf|mvt)")


class TileFastPath:
    """Serve plain single-layer tile GETs directly; hand everything else to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        match = _TILE_PATH.fullmatch(scope["path"])
        service = getattr(scope["app"].state, "tiles", None) if match else None
        if match is None or service is None:
            await self.app(scope, receive, send)
            return
        layer, z, x, y = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
        if z > MAX_ZOOM or x >= 1 << z or y >= 1 << z:
            await self.app(scope, receive, send)  # the route says what is out of range
            return
        request = Request(scope, receive)
        try:
            await resolve_principal(request)
        except HyperviseurError:
            await self.app(scope, receive, send)  # a refused token: the route answers 401 in the usual shape
            return
        source = (await service.sources()).get(layer)
        if source is None or not visible_to(source.layer, role_of(request)):
            await self.app(scope, receive, send)  # the route answers 404 listing what exists
            return
        cached = await service.tile(source, Tile(z, x, y))
        response = tile_response(request, cached, public=source.layer.visibility == "public")
        await response(scope, receive, send)
