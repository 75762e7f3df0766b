"""``/tiles``: XYZ vector tiles per layer and combined, and their TileJSON documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from layers.catalog import role_of_request
from layers.ogc.links import language, site_url
from tiles.cache import CachedTile
from tiles.coords import Tile, checked_tile
from tiles.service import TileService
from tiles.sources import TileSource
from twin.deps import AppSettings
from twin.errors import InvalidInput

MVT = "application/vnd.mapbox-vector-tile"
_TILE_PARAMS = ("territory_id", "layers")
_TYPES = {"string": "String", "number": "Number", "integer": "Number", "boolean": "Boolean"}

TerritoryParam = Annotated[
    int | None, Query(ge=1, description="ne garder que les objets de ce territoire (identifiant)")
]
Format = Annotated[Literal["pbf", "mvt"], Path(description="pbf ou mvt (même contenu)")]


def service_of(request: Request) -> TileService:
    return request.app.state.tiles


def check_tile_query(request: Request, allowed: tuple[str, ...] = _TILE_PARAMS) -> None:
    """Unknown parameters are refused: a typo must not silently return an unfiltered tile."""
    for name in request.query_params:
        if name not in allowed:
            raise InvalidInput(f"unknown parameter {name!r}; tile requests take: {', '.join(allowed)}")


def tile_response(request: Request, tile: CachedTile, *, public: bool) -> Response:
    """200 with the tile, 204 when it is empty, 304 when the client's copy is current.

    ``no-cache`` lets browsers keep tiles but makes them ask again each time (a 304 costs a few bytes):
    with the WebSocket events, that is how a map never shows a stale tile.
    """
    headers = {
        "ETag": tile.etag,
        "Cache-Control": ("public" if public else "private") + ", no-cache",
        "Vary": "Cookie, Authorization",
    }
    if tile.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if not tile.data:
        return Response(status_code=204, headers=headers)
    return Response(tile.data, media_type=MVT, headers=headers)


def _vector_layer(source: TileSource, lang: str, maxzoom: int) -> dict[str, Any]:
    layer = source.layer
    fields = {"id": "Number"} | {f.name: _TYPES.get(f.type, "String") for f in layer.fields}
    return {
        "id": source.name,
        "description": layer.title(lang),
        "minzoom": source.minzoom,
        "maxzoom": maxzoom,
        "fields": fields,
    }


async def territory_bounds(service: TileService) -> list[float]:
    """The box of every territory's boundary (CRS84), or the whole Web Mercator world when there is none."""
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e)"
            " FROM (SELECT st_extent(boundary) AS e FROM twin.territory) s"
        )
        row = await cur.fetchone()
    if row is None or row[0] is None:
        return [-180.0, -85.0511, 180.0, 85.0511]
    return [round(float(v), 6) for v in row]


def tilejson(
    *,
    name: str,
    tiles_url: str,
    sources: list[TileSource],
    lang: str,
    maxzoom: int,
    bounds: list[float],
) -> dict[str, Any]:
    """A TileJSON 3.0.0 document for one or several layers."""
    minzoom = min((s.minzoom for s in sources), default=0)
    center_zoom = max(minzoom, min(maxzoom, 14))
    return {
        "tilejson": "3.0.0",
        "name": name,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, center_zoom],
        "attribution": "© contributeurs OpenStreetMap, données de la collectivité",
        "vector_layers": [_vector_layer(s, lang, maxzoom) for s in sources],
    }


def tiles_router() -> APIRouter:
    router = APIRouter(prefix="/tiles", tags=["Tuiles vectorielles"])

    @router.get("/tilejson.json", summary="TileJSON de toutes les couches visibles")
    async def combined_tilejson(request: Request, settings: AppSettings) -> Response:
        check_tile_query(request, ())
        service = service_of(request)
        sources = await service.visible_sources(role_of_request(request))
        lang = language(request)
        base = site_url(request, settings.server.public_url)
        doc = tilejson(
            name="Hyperviseur",
            tiles_url=f"{base}/tiles/{{z}}/{{x}}/{{y}}.pbf",
            sources=sources,
            lang=lang,
            maxzoom=settings.tiles.source_maxzoom,
            bounds=await territory_bounds(service),
        )
        return Response(orjson.dumps(doc), media_type="application/json", headers={"Content-Language": lang})

    @router.get("/{layer}/tilejson.json", summary="TileJSON d'une couche")
    async def layer_tilejson(layer: str, request: Request, settings: AppSettings) -> Response:
        check_tile_query(request, ())
        service = service_of(request)
        source = await service.visible_source(layer, role_of_request(request))
        lang = language(request)
        base = site_url(request, settings.server.public_url)
        doc = tilejson(
            name=source.layer.title(lang),
            tiles_url=f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.pbf",
            sources=[source],
            lang=lang,
            maxzoom=settings.tiles.source_maxzoom,
            bounds=await territory_bounds(service),
        )
        return Response(orjson.dumps(doc), media_type="application/json", headers={"Content-Language": lang})

    @router.get(
        "/{z}/{x}/{y}.{fmt}",
        summary="Tuile vectorielle combinée (toutes les couches visibles)",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}, 204: {"description": "tuile vide"}},
    )
    async def combined_tile(
        z: int,
        x: int,
        y: int,
        fmt: Format,
        request: Request,
        territory_id: TerritoryParam = None,
        layers: Annotated[
            str | None, Query(description="couches à inclure, séparées par des virgules (défaut : toutes)")
        ] = None,
    ) -> Response:
        check_tile_query(request)
        tile = checked_tile(z, x, y)
        service = service_of(request)
        role = role_of_request(request)
        if layers is None:
            sources = await service.visible_sources(role)
        else:
            names = [n for n in layers.split(",") if n]
            if not names:
                raise InvalidInput("layers is empty: name at least one layer, or leave it out for all")
            sources = [await service.visible_source(n, role) for n in dict.fromkeys(names)]
        combined = await service.combined_tile(sources, tile, territory_id=territory_id)
        public = all(s.layer.visibility == "public" for s in sources)
        return tile_response(request, combined, public=public)

    @router.get(
        "/{layer}/{z}/{x}/{y}.{fmt}",
        summary="Tuile vectorielle d'une couche (Mapbox Vector Tile)",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}, 204: {"description": "tuile vide"}},
    )
    async def layer_tile(
        layer: str,
        z: int,
        x: int,
        y: int,
        fmt: Format,
        request: Request,
        territory_id: TerritoryParam = None,
    ) -> Response:
        check_tile_query(request, ("territory_id",))
        tile: Tile = checked_tile(z, x, y)
        service = service_of(request)
        source = await service.visible_source(layer, role_of_request(request))
        cached = await service.tile(source, tile, territory_id=territory_id)
        return tile_response(request, cached, public=source.layer.visibility == "public")

    return router
