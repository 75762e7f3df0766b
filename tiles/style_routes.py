"""HTTP routes of the map style, its glyphs and its sprite sheet, under ``/tiles``: no asset from elsewhere."""

from __future__ import annotations

import hashlib
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from layers.catalog import load_catalog, role_of_request, visible_layers
from layers.ogc.links import site_url
from tiles.glyphs import GlyphStore, parse_range
from tiles.sprites import sprite_sheet
from tiles.style import style_document
from twin.deps import AppSettings, Connection
from twin.errors import InvalidInput
from twin.settings import Settings

PBF = "application/x-protobuf"
PNG = "image/png"
JSON = "application/json"
# Glyphs and sprites change only with a release (fonts, drawings): a day in caches, then revalidated by ETag.
ASSET_CACHE = "public, max-age=86400"
MAX_FONTSTACK_CHARS = 256
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Inchangé depuis la version que le client a en cache (If-None-Match)."}
}


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _asset(request: Request, data: bytes, media_type: str) -> Response:
    """``data`` with the long-lived cache headers, or 304 when the client already holds this version."""
    etag = _etag(data)
    headers = {"Cache-Control": ASSET_CACHE, "ETag": etag}
    wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or f"W/{etag}" in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def style_router() -> APIRouter:
    """Build the router of ``/tiles/style.json``, ``/tiles/glyphs/…`` and ``/tiles/sprites/…``.

    Glyph ranges are cached in memory and as files under ``<var_dir>/glyphs`` of the app's settings; the
    sprite sheet is drawn once per process.
    """
    router = APIRouter(prefix="/tiles", tags=["Tuiles : style"])
    stores: dict[FilePath, GlyphStore] = {}

    def glyph_store(settings: Settings) -> GlyphStore:
        var_dir = settings.database.var_dir
        if var_dir not in stores:
            stores[var_dir] = GlyphStore(var_dir / "glyphs")
        return stores[var_dir]

    @router.get(
        "/style.json",
        summary="Style MapLibre de la console (couches visibles pour le rôle)",
        response_description="Style MapLibre v8 : source, glyphes et sprites servis par ce serveur.",
    )
    async def style(
        conn: Connection,
        request: Request,
        settings: AppSettings,
        lang: Annotated[
            Literal["fr", "en"], Query(description="Langue des titres et de la légende (fr par défaut)")
        ] = "fr",
    ) -> Response:
        visible = visible_layers(await load_catalog(conn), role_of_request(request))
        document = style_document(
            base_url=site_url(request, settings.server.public_url),
            lang=lang,
            layers=[layer.name for layer in visible],
            catalog=visible,
        )
        # The layer list depends on who asks: never shared by a cache between two callers.
        headers = {
            "Cache-Control": "private, no-cache",
            "Content-Language": lang,
            "Vary": "Authorization, Cookie",
        }
        return Response(orjson.dumps(document), media_type=JSON, headers=headers)

    @router.get(
        "/glyphs/{fontstack}/{glyph_range}.pbf",
        summary="Glyphes SDF d'une pile de polices, par bloc de 256 caractères",
        response_class=Response,
        responses={
            200: {"content": {PBF: {}}, "description": "Glyphes (protobuf de node-fontnik)."},
            **_NOT_MODIFIED,
        },
    )
    async def glyphs(
        request: Request,
        settings: AppSettings,
        fontstack: Annotated[
            str, Path(description="Polices séparées par des virgules, ex. « DejaVu Sans Book,Arial »")
        ],
        glyph_range: Annotated[str, Path(description="Bloc de 256 points de code : 0-255, 256-511, …")],
    ) -> Response:
        if not fontstack.strip() or len(fontstack) > MAX_FONTSTACK_CHARS:
            raise InvalidInput(
                f"font stack must be 1 to {MAX_FONTSTACK_CHARS} characters, e.g. 'DejaVu Sans Book'"
            )
        parse_range(glyph_range)  # a bad range is refused before any work is queued
        store = glyph_store(settings)
        # Rendering a range takes up to a few hundred milliseconds of CPU: never on the event loop.
        data = await run_in_threadpool(store.get, fontstack, glyph_range)
        return _asset(request, data, PBF)

    def sprite_route(ratio: int, suffix: str, media_type: str, summary: str) -> None:
        async def sprite(request: Request) -> Response:
            png, index = await run_in_threadpool(sprite_sheet, ratio)
            return _asset(request, png if media_type == PNG else index, media_type)

        router.add_api_route(
            f"/sprites/sprite{suffix}",
            sprite,
            methods=["GET"],
            summary=summary,
            name=f"sprite{suffix}",
            response_class=Response,
            responses={200: {"content": {media_type: {}}, "description": summary}, **_NOT_MODIFIED},
        )

    sprite_route(1, ".json", JSON, "Index des pictogrammes de la carte")
    sprite_route(1, ".png", PNG, "Planche des pictogrammes de la carte")
    sprite_route(2, "@2x.json", JSON, "Index des pictogrammes de la carte (écrans haute densité)")
    sprite_route(2, "@2x.png", PNG, "Planche des pictogrammes de la carte (écrans haute densité)")
    return router
