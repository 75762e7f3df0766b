"""Serve the operator console (the built ``frontend/dist``) at ``/`` without shadowing any API route.

The console is a single-page application: its client routes (``/``, ``/connexion``, ``/equipe``…) all answer
``index.html`` (``Cache-Control: no-cache``, so a new build is picked up at once), and its hashed assets under
``/assets/`` are cached for a year (their name changes with their content). Paths under the server's own
prefixes (``/api``, ``/ogc``, ``/tiles``, ``/raster``, ``/health``) never reach the console: its route does not
even match them, so their 404 and 405 answers stay the API's. An unknown path is a 404, not the page.

The dist folder is looked up at each request: a build made while the server runs is served without a restart,
and a missing build answers a 503 page saying how to build it (never a 500).
"""

from __future__ import annotations

import gzip
import mimetypes
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

# Client routes of the front end's router (frontend/src/app.ts); a later view adds its path here.
CLIENT_ROUTES: tuple[str, ...] = ("/", "/connexion", "/equipe")
RESERVED_PREFIXES: tuple[str, ...] = ("/api", "/ogc", "/tiles", "/raster", "/health")
ASSET_CACHE = "public, max-age=31536000, immutable"
ROOT_FILE_CACHE = "public, max-age=3600"
PAGE_CACHE = "no-cache"
# Compressed once per asset (names are content hashes, so an entry never goes stale); a few MB at most.
_GZIP_MIN_BYTES = 1024
_GZIP_ENTRIES = 64
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
_MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",  # module workers are refused unless served with a JavaScript type
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}

NOT_BUILT_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Hyperviseur : console non construite</title></head>
<body>
<h1>La console n'est pas construite</h1>
<p>Le serveur fonctionne (API sous <a href="/api/docs">/api/docs</a>, OGC API sous <a href="/ogc">/ogc</a>),
mais le dossier <code>{dist}</code> est absent.</p>
<p>Construisez-la avec <code>make demo</code> (ou <code>make frontend</code>, ou
<code>npm ci --prefix frontend &amp;&amp; npm --prefix frontend run build</code>), puis rechargez la page.</p>
<hr>
<p lang="en">The operator console is not built: run <code>make demo</code> (or <code>make frontend</code>) and
reload this page.</p>
</body></html>
"""


def default_dist_dir() -> Path:
    """``frontend/dist`` of the source tree this package runs from."""
    return Path(__file__).resolve().parent.parent / "frontend" / "dist"


def _media_type(path: Path) -> str:
    return (
        _MEDIA_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


def _reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES)


class _GzipCache:
    """Gzip bodies of immutable assets, keyed by path, size and modification time."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()

    async def get(self, path: Path) -> bytes:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        found = self._entries.get(key)
        if found is None:
            found = await run_in_threadpool(lambda: gzip.compress(path.read_bytes(), compresslevel=6))
            self._entries[key] = found
            while len(self._entries) > _GZIP_ENTRIES:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return found


class ConsoleRoute(BaseRoute):
    """One route for the whole console: client routes, ``/assets/*`` and the dist's top-level files.

    It matches GET and HEAD on those paths only, so the API's own routes, 404s and 405s are untouched.
    """

    def __init__(self, dist_dir: Path, client_routes: Iterable[str] = CLIENT_ROUTES) -> None:
        self.dist_dir = Path(dist_dir)
        self.client_routes = frozenset(client_routes)
        self._gzip = _GzipCache()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        path: str = scope["path"]
        if _reserved(path):
            return Match.NONE, {}
        if path in self.client_routes or path.startswith("/assets/"):
            return Match.FULL, {}
        # A top-level file of the build (favicon.svg…): one segment with an extension.
        name = path[1:]
        if name and "/" not in name and "." in name and name != "index.html":
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        dist = self.dist_dir
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(
                NOT_BUILT_PAGE.format(dist=dist), status_code=503, headers={"Cache-Control": "no-store"}
            )
        path = request.url.path
        if path in self.client_routes:
            return FileResponse(
                index, media_type="text/html; charset=utf-8", headers={"Cache-Control": PAGE_CACHE}
            )
        target = self._file(path)
        if target is None:
            return _not_found(path)
        cache = ASSET_CACHE if path.startswith("/assets/") else ROOT_FILE_CACHE
        media_type = _media_type(target)
        headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
        if accepts_gzip and media_type.startswith(_COMPRESSIBLE) and target.stat().st_size >= _GZIP_MIN_BYTES:
            body = await self._gzip.get(target)
            return Response(body, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
        return FileResponse(target, media_type=media_type, headers=headers)

    def _file(self, path: str) -> Path | None:
        """The file of the build ``path`` names, or None (never a file outside the dist folder)."""
        root = self.dist_dir.resolve()
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate


def _not_found(_path: str) -> Response:
    body = (
        '{"type": "about:blank", "title": "NotFound", "status": 404, "code": "NotFound", '
        '"detail": "no console file at this path: reload the console (a new build renames its assets)"}'
    )
    return Response(body, status_code=404, media_type="application/problem+json")


def mount_console(
    app: FastAPI, dist_dir: Path | None = None, *, client_routes: Iterable[str] = CLIENT_ROUTES
) -> None:
    """Serve the console built in ``dist_dir`` (default: ``frontend/dist``) at ``/``.

    Call it last in ``create_app``: its route comes after every API route, and matches none of their paths.
    """
    app.router.routes.append(ConsoleRoute(dist_dir or default_dist_dir(), client_routes))
