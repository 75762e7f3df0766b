"""OGC API Features Part 1 (Core, GeoJSON, OpenAPI 3.0) under ``/ogc``: ``/`` is the web console's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from layers.catalog import Layer, find_layer, load_catalog, role_of_request, visible_layers
from layers.ogc import _validate
from layers.ogc.cql2 import CONFORMANCE as FILTER_CONFORMANCE
from layers.ogc.extensions import extensions_of
from layers.ogc.features import ExtentCache, fetch_feature, fetch_page
from layers.ogc.links import (
    GEOJSON,
    HTML,
    JSON,
    OGC_PREFIX,
    OPENAPI_30,
    OPENAPI_31,
    REL_QUERYABLES,
    SCHEMA_JSON,
    language,
    link,
    ogc_url,
    site_url,
    with_query,
)
from layers.ogc.openapi import openapi_document
from twin import __version__
from twin.deps import AppSettings, Connection
from twin.errors import NotFound
from twin.security.audit import record_request_read

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    *FILTER_CONFORMANCE,
]
_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "date-time": {"type": "string", "format": "date-time"},
    "timestamp": {"type": "string", "format": "date-time"},
    "array": {"type": "array"},
}
_GEOMETRY_FORMATS = {
    "Point": "geometry-point",
    "MultiPoint": "geometry-multipoint",
    "LineString": "geometry-linestring",
    "MultiLineString": "geometry-multilinestring",
    "Polygon": "geometry-polygon",
    "MultiPolygon": "geometry-multipolygon",
    "GeometryCollection": "geometry-geometrycollection",
}
_PLAIN = ("f",)

# Declared for the generated /api/docs only; the values are validated by layers.ogc._validate,
# which also rejects parameters not listed here (OGC /req/core/query-param-unknown).
FormatParam = Annotated[str | None, Query(description="json (seul format servi pour l'instant)")]


def _json(body: Any, media_type: str = JSON, lang: str | None = None) -> Response:
    headers = {"Content-Language": lang} if lang else None
    return Response(orjson.dumps(body), media_type=media_type, headers=headers)


def _check_plain_query(request: Request) -> None:
    """Resources other than items take only ``f``: anything else is a 400 naming it."""
    _validate.parse_format(_validate.single_values(request.query_params.multi_items(), _PLAIN).get("f"))


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def queryable_properties(layer: Layer, lang: str) -> dict[str, Any]:
    """The JSON Schema of each queryable: the geometry, the feature id, then the catalog's fields.

    The geometry is listed as ``geometry`` (``geom`` is accepted too) with the OGC role and format of
    Part 3 / Part 5; dates and times are strings with ``format`` date or date-time.
    """
    other = "title_en" if lang == "fr" else "title_fr"
    geometry_title = "Géométrie" if lang == "fr" else "Geometry"
    properties: dict[str, Any] = {
        "geometry": {
            "title": geometry_title,
            "x-ogc-role": "primary-geometry",
            "format": _GEOMETRY_FORMATS.get(layer.geometry_type, "geometry-any"),
        },
        "id": {
            "title": "Identifiant" if lang == "fr" else "Identifier",
            "type": "integer",
            "x-ogc-role": "id",
        },
    }
    for fld in layer.fields:
        properties[fld.name] = {
            "title": getattr(fld, f"title_{lang}"),
            f"x-{other.replace('_', '-')}": getattr(fld, other),
            **_TYPES.get(fld.type, {"type": "string"}),
        }
    return properties


def ogc_features_router(*, extent_ttl_s: float = 60.0) -> APIRouter:
    """Build the router of the OGC API Features endpoints.

    Parameters
    ----------
    extent_ttl_s : float
        How long a collection's spatial extent is cached (computing it reads the whole layer).
    """
    router = APIRouter(prefix=OGC_PREFIX, tags=["OGC API Features"])
    extents = ExtentCache(ttl_s=extent_ttl_s)

    async def visible(conn: Connection, request: Request) -> list[Layer]:
        return visible_layers(await load_catalog(conn), role_of_request(request))

    async def collection_body(
        conn: Connection, request: Request, settings: AppSettings, layer: Layer
    ) -> dict[str, Any]:
        public_url, lang = settings.server.public_url, language(request)
        href = ogc_url(request, public_url, f"/collections/{layer.name}")
        body: dict[str, Any] = {
            "id": layer.name,
            "title": layer.title(lang),
            "description": layer.description_fr,
            "links": [
                link(href, "self", JSON, layer.title(lang)),
                link(f"{href}/items", "items", GEOJSON, layer.title(lang)),
                link(f"{href}/queryables", REL_QUERYABLES, SCHEMA_JSON, "Propriétés"),
                *(
                    extra
                    for ext in extensions_of(request.app)
                    for extra in ext.collection_links(request, public_url, layer)
                ),
            ],
            "itemType": "feature",
            "crs": [CRS84],
        }
        bbox = await extents.bbox(conn, layer)
        if bbox is not None:
            # No layer of the twin has a temporal property: the temporal extent is left out, not null
            # (the OGC schema wants an object when the member is present).
            body["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
        return body

    @router.get("", summary="Page d'accueil OGC API Features")
    @router.get("/", include_in_schema=False)
    async def landing(request: Request, settings: AppSettings, f: FormatParam = None) -> Response:
        _check_plain_query(request)
        public_url = settings.server.public_url
        site = site_url(request, public_url)
        return _json(
            {
                "title": "Hyperviseur — jumeau numérique du territoire",
                "description": "Couches du jumeau numérique en OGC API Features (GeoJSON, WGS84).",
                "links": [
                    link(ogc_url(request, public_url), "self", JSON, "Cette page"),
                    link(
                        ogc_url(request, public_url, "/api"),
                        "service-desc",
                        OPENAPI_30,
                        "Définition de l'API OGC (OpenAPI 3.0)",
                    ),
                    link(
                        f"{site}/api/openapi.json",
                        "service-desc",
                        OPENAPI_31,
                        "Définition de toute l'API Hyperviseur (OpenAPI 3.1)",
                    ),
                    link(f"{site}/api/docs", "service-doc", HTML, "Documentation interactive"),
                    link(
                        ogc_url(request, public_url, "/conformance"),
                        "conformance",
                        JSON,
                        "Classes de conformité",
                    ),
                    link(ogc_url(request, public_url, "/collections"), "data", JSON, "Collections"),
                    *(
                        extra
                        for ext in extensions_of(request.app)
                        for extra in ext.landing_links(request, public_url)
                    ),
                ],
            }
        )

    @router.get("/conformance", summary="Classes de conformité")
    async def conformance(request: Request, f: FormatParam = None) -> Response:
        _check_plain_query(request)
        extra = [c for ext in extensions_of(request.app) for c in ext.conformance]
        return _json({"conformsTo": [*CONFORMANCE, *extra]})

    @router.get("/api", summary="Définition OpenAPI 3.0 de l'API OGC")
    async def api_definition(
        conn: Connection, request: Request, settings: AppSettings, f: FormatParam = None
    ) -> Response:
        _check_plain_query(request)
        layers = await visible(conn, request)
        document = openapi_document(
            layers,
            server_url=ogc_url(request, settings.server.public_url),
            version=__version__,
            default_limit=settings.server.items_default_limit,
            max_limit=settings.server.items_max_limit,
        )
        for ext in extensions_of(request.app):
            document["paths"].update(ext.openapi_paths(layers))
        return _json(document, OPENAPI_30)

    @router.get("/collections", summary="Collections (couches)")
    async def collections(
        conn: Connection, request: Request, settings: AppSettings, f: FormatParam = None
    ) -> Response:
        _check_plain_query(request)
        layers = await visible(conn, request)
        href = ogc_url(request, settings.server.public_url, "/collections")
        body = {
            "links": [link(href, "self", JSON, "Collections")],
            "collections": [await collection_body(conn, request, settings, layer) for layer in layers],
        }
        return _json(body, lang=language(request))

    @router.get("/collections/{collection_id}", summary="Une collection")
    async def collection(
        conn: Connection,
        request: Request,
        settings: AppSettings,
        collection_id: Annotated[str, Path()],
        f: FormatParam = None,
    ) -> Response:
        _check_plain_query(request)
        layer = find_layer(await load_catalog(conn), collection_id, role_of_request(request))
        return _json(await collection_body(conn, request, settings, layer), lang=language(request))

    @router.get("/collections/{collection_id}/queryables", summary="Propriétés d'une collection")
    async def queryables(
        conn: Connection,
        request: Request,
        settings: AppSettings,
        collection_id: Annotated[str, Path()],
        f: FormatParam = None,
    ) -> Response:
        _check_plain_query(request)
        layer = find_layer(await load_catalog(conn), collection_id, role_of_request(request))
        lang = language(request)
        body = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": ogc_url(request, settings.server.public_url, f"/collections/{layer.name}/queryables"),
            "type": "object",
            "title": layer.title(lang),
            "properties": queryable_properties(layer, lang),
            # Filters may name only these (OGC API Features Part 3, /req/queryables/get-queryables-response).
            "additionalProperties": False,
        }
        return _json(body, SCHEMA_JSON, lang)

    @router.get("/collections/{collection_id}/items", summary="Objets d'une collection (GeoJSON)")
    async def items(
        conn: Connection,
        request: Request,
        settings: AppSettings,
        collection_id: Annotated[str, Path()],
        bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
        limit: Annotated[str | None, Query(description="taille de page")] = None,
        offset: Annotated[str | None, Query(description="objets à sauter")] = None,
        properties: Annotated[str | None, Query(description="propriétés à renvoyer")] = None,
        territory: Annotated[str | None, Query(description="nom ou id du territoire")] = None,
        datetime: Annotated[str | None, Query(description="RFC 3339 ; sans effet (rien n'est daté)")] = None,
        filter: Annotated[
            str | None, Query(description="filtre CQL2, p. ex. kind='hospital' (OGC API Features Part 3)")
        ] = None,
        filter_lang: Annotated[
            str | None, Query(alias="filter-lang", description="cql2-text (défaut) ou cql2-json")
        ] = None,
        filter_crs: Annotated[
            str | None, Query(alias="filter-crs", description=f"seul {CRS84} (défaut) est accepté")
        ] = None,
        f: FormatParam = None,
    ) -> Response:
        layer = find_layer(await load_catalog(conn), collection_id, role_of_request(request))
        server = settings.server
        query = _validate.items_query_from(
            request.query_params.multi_items(),
            properties=layer.field_names(),
            default_limit=server.items_default_limit,
            max_limit=server.items_max_limit,
        )
        page = await fetch_page(conn, layer, query, count_cap=server.count_exact_up_to)
        href = ogc_url(request, server.public_url, f"/collections/{layer.name}/items")
        params = query.as_params()
        if layer.visibility == "restricted":
            await record_request_read(conn, request, layer.name, {"params": params, "count": page.returned})
        links = [
            link(with_query(href, params), "self", GEOJSON, "Cette page"),
            link(
                ogc_url(request, server.public_url, f"/collections/{layer.name}"),
                "collection",
                JSON,
                layer.title(language(request)),
            ),
        ]
        if page.has_more:
            links.append(
                link(
                    with_query(href, {**params, "offset": str(query.offset + query.limit)}),
                    "next",
                    GEOJSON,
                    "Page suivante",
                )
            )
        if query.offset > 0:
            links.append(
                link(
                    with_query(href, {**params, "offset": str(max(0, query.offset - query.limit))}),
                    "prev",
                    GEOJSON,
                    "Page précédente",
                )
            )
        head: dict[str, Any] = {"type": "FeatureCollection", "timeStamp": _timestamp()}
        if page.matched is not None:
            head["numberMatched"] = page.matched
        head["numberReturned"] = page.returned
        head["links"] = links
        # The features arrive from PostgreSQL as GeoJSON text: splice them in, never parse them.
        body = orjson.dumps(head)[:-1] + b',"features":[' + page.features_json.encode() + b"]}"
        return Response(body, media_type=GEOJSON)

    @router.get("/collections/{collection_id}/items/{feature_id}", summary="Un objet (GeoJSON)")
    async def feature(
        conn: Connection,
        request: Request,
        settings: AppSettings,
        collection_id: Annotated[str, Path()],
        feature_id: Annotated[str, Path()],
        f: FormatParam = None,
    ) -> Response:
        _check_plain_query(request)
        layer = find_layer(await load_catalog(conn), collection_id, role_of_request(request))
        fid = _validate.feature_id_from(feature_id, layer.name)
        text = await fetch_feature(conn, layer, fid)
        if text is None:
            raise NotFound(
                f"feature {feature_id!r} does not exist in collection {layer.name!r};"
                f" list the existing ones at /ogc/collections/{layer.name}/items"
            )
        if layer.visibility == "restricted":
            await record_request_read(conn, request, layer.name, {"count": 1}, object_id=str(fid))
        public_url = settings.server.public_url
        collection_href = ogc_url(request, public_url, f"/collections/{layer.name}")
        body = orjson.loads(text)
        body["links"] = [
            link(f"{collection_href}/items/{fid}", "self", GEOJSON, "Cet objet"),
            link(collection_href, "collection", JSON, layer.title(language(request))),
        ]
        return _json(body, GEOJSON)

    return router
