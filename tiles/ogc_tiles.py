"""OGC API – Tiles under ``/ogc``: tile matrix sets, vector tilesets per collection and for the dataset.

The same tiles as ``/tiles/...`` (same cache, same ETags); only the addressing differs: OGC names the
matrix and puts the row (y) before the column (x).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import morecantile
import orjson
from fastapi import APIRouter, Query, Request, Response

from layers.catalog import Layer, role_of_request
from layers.ogc.extensions import OgcExtension
from layers.ogc.links import JSON, language, link, ogc_url
from tiles.coords import checked_tile, tile_ranges
from tiles.routes import (
    MVT,
    TerritoryParam,
    check_tile_query,
    service_of,
    territory_bounds,
    tile_response,
)
from tiles.sources import TileSource
from twin.deps import AppSettings
from twin.errors import InvalidInput, NotFound

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TMS = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
_GEOMETRY_DIMENSION = {"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1}


@cache
def _tms_document() -> bytes:
    tms = morecantile.tms.get(TMS_ID)
    return tms.model_dump_json(exclude_none=True, by_alias=True).encode()


def _check_tms(tms_id: str) -> None:
    if tms_id != TMS_ID:
        raise NotFound(f"tile matrix set {tms_id!r} is not served; available: {TMS_ID}")


def _json(body: Any, lang: str | None = None) -> Response:
    return Response(orjson.dumps(body), media_type=JSON, headers={"Content-Language": lang} if lang else None)


def _limits(sources: list[TileSource], bounds: list[float], maxzoom: int) -> list[dict[str, Any]]:
    minzoom = min((s.minzoom for s in sources), default=0)
    limits = []
    for z in range(minzoom, maxzoom + 1):
        cols, rows = tile_ranges((bounds[0], bounds[1], bounds[2], bounds[3]), z, buffer_fraction=0.0)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": rows.start,
                "maxTileRow": rows.stop - 1,
                "minTileCol": cols.start,
                "maxTileCol": cols.stop - 1,
            }
        )
    return limits


def _tileset(
    request: Request,
    public_url: str | None,
    base_path: str,
    title: str,
    sources: list[TileSource],
    bounds: list[float],
    maxzoom: int,
    lang: str,
) -> dict[str, Any]:
    href = ogc_url(request, public_url, base_path)
    return {
        "title": title,
        "dataType": "vector",
        "crs": CRS_3857,
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": _limits(sources, bounds, maxzoom),
        "boundingBox": {
            "lowerLeft": bounds[:2],
            "upperRight": bounds[2:],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        },
        "layers": [
            {
                "id": s.name,
                "title": s.layer.title(lang),
                "dataType": "vector",
                "geometryDimension": _GEOMETRY_DIMENSION.get(s.layer.geometry_type, 2),
                "minTileMatrix": str(s.minzoom),
                "maxTileMatrix": str(maxzoom),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {f.name: {"type": f.type, "title": f.title_fr} for f in s.layer.fields},
                },
            }
            for s in sources
        ],
        "links": [
            link(href, "self", JSON, title),
            link(ogc_url(request, public_url, f"/tileMatrixSets/{TMS_ID}"), REL_TILING_SCHEME, JSON),
            {
                "href": href + "/{tileMatrix}/{tileRow}/{tileCol}",
                "rel": "item",
                "type": MVT,
                "templated": True,
            },
        ],
    }


def _tileset_list(request: Request, public_url: str | None, base_path: str, title: str) -> dict[str, Any]:
    href = ogc_url(request, public_url, f"{base_path}/{TMS_ID}")
    return {
        "links": [link(ogc_url(request, public_url, base_path), "self", JSON)],
        "tilesets": [
            {
                "title": title,
                "dataType": "vector",
                "crs": CRS_3857,
                "tileMatrixSetURI": TMS_URI,
                "links": [
                    link(href, "self", JSON, title),
                    link(ogc_url(request, public_url, f"/tileMatrixSets/{TMS_ID}"), REL_TILING_SCHEME, JSON),
                ],
            }
        ],
    }


def ogc_tiles_router() -> APIRouter:
    router = APIRouter(prefix="/ogc", tags=["OGC API Tiles"])

    @router.get("/tileMatrixSets", summary="Grilles de tuilage (TileMatrixSets)")
    async def tile_matrix_sets(request: Request, settings: AppSettings) -> Response:
        check_tile_query(request, ("f",))
        href = ogc_url(request, settings.server.public_url, f"/tileMatrixSets/{TMS_ID}")
        body = {
            "links": [link(ogc_url(request, settings.server.public_url, "/tileMatrixSets"), "self", JSON)],
            "tileMatrixSets": [
                {
                    "id": TMS_ID,
                    "title": "Google Maps Compatible for the World",
                    "uri": TMS_URI,
                    "crs": CRS_3857,
                    "links": [link(href, "self", JSON), link(href, REL_TILING_SCHEME, JSON)],
                }
            ],
        }
        return _json(body)

    @router.get("/tileMatrixSets/{tms_id}", summary="Définition d'une grille de tuilage")
    async def tile_matrix_set(tms_id: str, request: Request) -> Response:
        check_tile_query(request, ("f",))
        _check_tms(tms_id)
        return Response(_tms_document(), media_type=JSON)

    @router.get("/tiles", summary="Jeux de tuiles vectorielles du jeu de données")
    async def dataset_tilesets(request: Request, settings: AppSettings) -> Response:
        check_tile_query(request, ("f",))
        return _json(_tileset_list(request, settings.server.public_url, "/tiles", "Hyperviseur"))

    @router.get("/tiles/{tms_id}", summary="Jeu de tuiles vectorielles du jeu de données")
    async def dataset_tileset(tms_id: str, request: Request, settings: AppSettings) -> Response:
        check_tile_query(request, ("f",))
        _check_tms(tms_id)
        service = service_of(request)
        sources = await service.visible_sources(role_of_request(request))
        lang = language(request)
        body = _tileset(
            request,
            settings.server.public_url,
            f"/tiles/{TMS_ID}",
            "Hyperviseur",
            sources,
            await _bounds(request),
            settings.tiles.source_maxzoom,
            lang,
        )
        return _json(body, lang)

    @router.get(
        "/tiles/{tms_id}/{tile_matrix}/{tile_row}/{tile_col}",
        summary="Tuile vectorielle du jeu de données (toutes les couches visibles)",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}, 204: {"description": "tuile vide"}},
    )
    async def dataset_tile(
        tms_id: str,
        tile_matrix: int,
        tile_row: int,
        tile_col: int,
        request: Request,
        territory_id: TerritoryParam = None,
        f: Annotated[str | None, Query(description="mvt (seul format servi)")] = None,
    ) -> Response:
        check_tile_query(request, ("territory_id", "f"))
        _check_tms(tms_id)
        _check_format(f)
        tile = checked_tile(tile_matrix, tile_col, tile_row)
        service = service_of(request)
        sources = await service.visible_sources(role_of_request(request))
        combined = await service.combined_tile(sources, tile, territory_id=territory_id)
        return tile_response(request, combined, public=all(s.layer.visibility == "public" for s in sources))

    @router.get("/collections/{collection_id}/tiles", summary="Jeux de tuiles d'une collection")
    async def collection_tilesets(collection_id: str, request: Request, settings: AppSettings) -> Response:
        check_tile_query(request, ("f",))
        source = await service_of(request).visible_source(collection_id, role_of_request(request))
        title = source.layer.title(language(request))
        return _json(
            _tileset_list(request, settings.server.public_url, f"/collections/{collection_id}/tiles", title)
        )

    @router.get("/collections/{collection_id}/tiles/{tms_id}", summary="Jeu de tuiles d'une collection")
    async def collection_tileset(
        collection_id: str, tms_id: str, request: Request, settings: AppSettings
    ) -> Response:
        check_tile_query(request, ("f",))
        _check_tms(tms_id)
        source = await service_of(request).visible_source(collection_id, role_of_request(request))
        lang = language(request)
        body = _tileset(
            request,
            settings.server.public_url,
            f"/collections/{collection_id}/tiles/{TMS_ID}",
            source.layer.title(lang),
            [source],
            await _bounds(request),
            settings.tiles.source_maxzoom,
            lang,
        )
        return _json(body, lang)

    @router.get(
        "/collections/{collection_id}/tiles/{tms_id}/{tile_matrix}/{tile_row}/{tile_col}",
        summary="Tuile vectorielle d'une collection",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}, 204: {"description": "tuile vide"}},
    )
    async def collection_tile(
        collection_id: str,
        tms_id: str,
        tile_matrix: int,
        tile_row: int,
        tile_col: int,
        request: Request,
        territory_id: TerritoryParam = None,
        f: Annotated[str | None, Query(description="mvt (seul format servi)")] = None,
    ) -> Response:
        check_tile_query(request, ("territory_id", "f"))
        _check_tms(tms_id)
        _check_format(f)
        tile = checked_tile(tile_matrix, tile_col, tile_row)
        service = service_of(request)
        source = await service.visible_source(collection_id, role_of_request(request))
        cached = await service.tile(source, tile, territory_id=territory_id)
        return tile_response(request, cached, public=source.layer.visibility == "public")

    return router


def _check_format(f: str | None) -> None:
    if f not in (None, "mvt"):
        raise InvalidInput(f"f={f!r} is not served; tiles come as Mapbox Vector Tiles: f=mvt")


async def _bounds(request: Request) -> list[float]:
    return await territory_bounds(service_of(request))


# -- the /ogc landing page, conformance, collection links and OpenAPI paths -------------------------------


def _path_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


_TMS_PARAM = _path_param("tileMatrixSetId", "grille de tuilage", {"type": "string", "enum": [TMS_ID]})
_TILE_PARAMS = [
    _TMS_PARAM,
    _path_param("tileMatrix", "niveau de zoom", {"type": "string", "pattern": "^[0-9]{1,2}$"}),
    _path_param("tileRow", "ligne (y, vers le sud)", {"type": "integer", "minimum": 0}),
    _path_param("tileCol", "colonne (x, vers l'est)", {"type": "integer", "minimum": 0}),
]
_PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}


def _operation(
    operation_id: str, summary: str, media_type: str, params: list[dict[str, Any]]
) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": summary, "content": {media_type: {"schema": {"type": "object"}}}}
    if media_type == MVT:
        ok["content"] = {MVT: {"schema": {"type": "string", "format": "binary"}}}
    responses: dict[str, Any] = {
        "200": ok,
        "400": {"description": "Paramètre invalide (le détail dit lequel).", "content": _PROBLEM},
        "404": {"description": "Ressource inexistante ou non visible.", "content": _PROBLEM},
    }
    if media_type == MVT:
        responses["204"] = {"description": "Tuile vide."}
        responses["304"] = {"description": "La copie du client (If-None-Match) est à jour."}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["OGC API Tiles"],
            "parameters": params,
            "responses": responses,
        }
    }


def _openapi_paths(layers: list[Layer]) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/tileMatrixSets": _operation("getTileMatrixSetsList", "Grilles de tuilage", JSON, []),
        "/tileMatrixSets/{tileMatrixSetId}": _operation(
            "getTileMatrixSet", "Définition d'une grille", JSON, [_TMS_PARAM]
        ),
        "/tiles": _operation("getDatasetTileSetsList", "Jeux de tuiles du jeu de données", JSON, []),
        "/tiles/{tileMatrixSetId}": _operation(
            "getDatasetTileSet", "Jeu de tuiles du jeu de données", JSON, [_TMS_PARAM]
        ),
        "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": _operation(
            "getDatasetTile", "Tuile combinée", MVT, _TILE_PARAMS
        ),
    }
    for layer in layers:
        base = f"/collections/{layer.name}/tiles"
        paths[base] = _operation(f"getTileSetsList.{layer.name}", f"Jeux de tuiles de {layer.name}", JSON, [])
        paths[f"{base}/{{tileMatrixSetId}}"] = _operation(
            f"getTileSet.{layer.name}", f"Jeu de tuiles de {layer.name}", JSON, [_TMS_PARAM]
        )
        paths[f"{base}/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"] = _operation(
            f"getTile.{layer.name}", f"Tuile de {layer.name}", MVT, _TILE_PARAMS
        )
    return paths


def _landing_links(request: Request, public_url: str | None) -> list[dict[str, Any]]:
    return [
        link(ogc_url(request, public_url, "/tileMatrixSets"), REL_TMS, JSON, "Grilles de tuilage"),
        link(ogc_url(request, public_url, "/tiles"), REL_TILESETS_VECTOR, JSON, "Tuiles vectorielles"),
    ]


def _collection_links(request: Request, public_url: str | None, layer: Layer) -> list[dict[str, Any]]:
    href = ogc_url(request, public_url, f"/collections/{layer.name}/tiles")
    return [link(href, REL_TILESETS_VECTOR, JSON, "Tuiles vectorielles")]


def tiles_extension() -> OgcExtension:
    """OGC API Tiles as seen from the ``/ogc`` landing page, conformance and OpenAPI document."""
    return OgcExtension(
        conformance=tuple(CONFORMANCE),
        landing_links=_landing_links,
        collection_links=_collection_links,
        openapi_paths=_openapi_paths,
    )
