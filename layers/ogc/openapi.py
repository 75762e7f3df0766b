"""The OpenAPI 3.0 definition of the OGC API (conformance class oas30), one path set per collection.

FastAPI publishes the whole application as OpenAPI 3.1 at /api/openapi.json; OGC API Features 1.0
asks for OpenAPI 3.0, and its test suite reads parameters from paths with literal collection ids
(``/collections/buildings/items``), so this document is written here, from the catalog.
"""

from __future__ import annotations

from typing import Any

from layers.catalog import Layer
from layers.ogc._validate import CRS84
from layers.ogc.links import GEOJSON, JSON, OPENAPI_30, SCHEMA_JSON

_REF = "#/components/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{kind}/{name}"}


def _parameters(default_limit: int, max_limit: int) -> dict[str, Any]:
    def query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "description": description,
            "required": False,
            "schema": schema,
            "style": "form",
            "explode": False,
            **extra,
        }

    return {
        # The 1.0 definition (minItems 4, maxItems 6), which OGC's 1.0 test suite checks.
        "bbox": query(
            "bbox",
            "Emprise en WGS84 (lon/lat) : minLon,minLat,maxLon,maxLat. "
            "Only features whose geometry intersects the box.",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        ),
        "datetime": query(
            "datetime",
            "RFC 3339 instant or interval. Validated; no layer of the twin has a "
            "temporal property, so it selects every feature.",
            {"type": "string"},
        ),
        "limit": query(
            "limit",
            f"Page size, 1 to {max_limit} (larger values are served as {max_limit}).",
            {"type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit},
        ),
        "offset": query(
            "offset",
            "Number of features to skip (the next link sets it).",
            {"type": "integer", "minimum": 0, "default": 0},
        ),
        "properties": query(
            "properties",
            "Comma-separated properties to return (empty: none).",
            {"type": "array", "items": {"type": "string"}},
        ),
        "territory": query("territory", "Only features of this territory (name or id).", {"type": "string"}),
        # OGC API Features Part 3 (Filtering) with CQL2.
        "filter": query(
            "filter",
            "CQL2 filter on the collection's queryables (see /collections/{collectionId}/queryables), "
            "e.g. kind='hospital' AND S_INTERSECTS(geometry, BBOX(3.80,43.56,3.95,43.66)).",
            {"type": "string"},
        ),
        "filter-lang": query(
            "filter-lang",
            "Language of the filter: cql2-text (default) or cql2-json.",
            {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
        ),
        "filter-crs": query(
            "filter-crs",
            "CRS of the geometries in the filter: only CRS84 (longitude, latitude).",
            {"type": "string", "format": "uri", "enum": [CRS84], "default": CRS84},
        ),
        "f": query(
            "f",
            "Encoding; JSON (GeoJSON for features) is the only one.",
            {"type": "string", "enum": ["json", "geojson"]},
        ),
        "featureId": {
            "name": "featureId",
            "in": "path",
            "required": True,
            "description": "Feature id.",
            "schema": {"type": "string"},
        },
    }


_LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "hreflang": {"type": "string"},
        "title": {"type": "string"},
        "length": {"type": "integer"},
    },
}
_LINKS = {"type": "array", "items": _ref("schemas", "link")}


def _schemas() -> dict[str, Any]:
    return {
        "link": _LINK,
        "landingPage": {
            "type": "object",
            "required": ["links"],
            "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "links": _LINKS},
        },
        "confClasses": {
            "type": "object",
            "required": ["conformsTo"],
            "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
        },
        "collection": {
            "type": "object",
            "required": ["id", "links"],
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "links": _LINKS,
                "itemType": {"type": "string"},
                "crs": {"type": "array", "items": {"type": "string"}},
                "extent": {
                    "type": "object",
                    "properties": {
                        "spatial": {
                            "type": "object",
                            "properties": {
                                "bbox": {
                                    "type": "array",
                                    "items": {"type": "array", "items": {"type": "number"}},
                                },
                                "crs": {"type": "string"},
                            },
                        }
                    },
                },
            },
        },
        "collections": {
            "type": "object",
            "required": ["links", "collections"],
            "properties": {
                "links": _LINKS,
                "collections": {"type": "array", "items": _ref("schemas", "collection")},
            },
        },
        "geometryGeoJSON": {
            "type": "object",
            "nullable": True,
            "required": ["type"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [
                        "Point",
                        "MultiPoint",
                        "LineString",
                        "MultiLineString",
                        "Polygon",
                        "MultiPolygon",
                        "GeometryCollection",
                    ],
                },
                "coordinates": {"type": "array", "items": {}},
            },
        },
        "featureGeoJSON": {
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "geometry": _ref("schemas", "geometryGeoJSON"),
                "properties": {"type": "object", "nullable": True},
                "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "links": _LINKS,
            },
        },
        "featureCollectionGeoJSON": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": _ref("schemas", "featureGeoJSON")},
                "links": _LINKS,
                "timeStamp": {"type": "string", "format": "date-time"},
                "numberMatched": {"type": "integer", "minimum": 0},
                "numberReturned": {"type": "integer", "minimum": 0},
            },
        },
        "exception": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
        },
    }


def _response(description: str, media_type: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": _ref("schemas", schema)}}}


def _errors(*statuses: str) -> dict[str, Any]:
    texts = {
        "400": "Paramètre invalide (le détail dit lequel et quoi envoyer).",
        "404": "Ressource inexistante.",
        "500": "Erreur du serveur.",
    }
    return {
        s: {
            "description": texts[s],
            "content": {"application/problem+json": {"schema": _ref("schemas", "exception")}},
        }
        for s in statuses
    }


def _get(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    params: list[str] | None = None,
    tag: str = "OGC API Features",
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": [tag],
            "parameters": [_ref("parameters", p) for p in params or ["f"]],
            "responses": {**responses, **_errors("400", "500")},
        }
    }


def _collection_paths(layer: Layer) -> dict[str, Any]:
    base = f"/collections/{layer.name}"
    items_params = [
        "bbox",
        "datetime",
        "limit",
        "offset",
        "properties",
        "territory",
        "filter",
        "filter-lang",
        "filter-crs",
        "f",
    ]
    return {
        base: _get(
            f"describeCollection_{layer.name}",
            f"{layer.title_fr} : description",
            {"200": _response("La collection.", JSON, "collection"), **_errors("404")},
        ),
        f"{base}/queryables": _get(
            f"getQueryables_{layer.name}",
            f"{layer.title_fr} : propriétés filtrables",
            {
                "200": {
                    "description": "Schéma JSON des propriétés utilisables dans un filtre CQL2.",
                    "content": {SCHEMA_JSON: {"schema": {"type": "object"}}},
                },
                **_errors("404"),
            },
        ),
        f"{base}/items": _get(
            f"getFeatures_{layer.name}",
            f"{layer.title_fr} : objets",
            {"200": _response("Une page d'objets.", GEOJSON, "featureCollectionGeoJSON")},
            items_params,
        ),
        f"{base}/items/{{featureId}}": _get(
            f"getFeature_{layer.name}",
            f"{layer.title_fr} : un objet",
            {"200": _response("L'objet.", GEOJSON, "featureGeoJSON"), **_errors("404")},
            ["featureId", "f"],
        ),
    }


def openapi_document(
    layers: list[Layer], *, server_url: str, version: str, default_limit: int, max_limit: int
) -> dict[str, Any]:
    """Build the OpenAPI 3.0 document of the OGC API for the given (already visible) layers.

    Parameters
    ----------
    layers : list of Layer
        Collections to describe: pass only the layers the caller may see.
    server_url : str
        Absolute URL of the OGC landing page (``…/ogc``); every path is relative to it.
    version : str
        The application's version.
    default_limit, max_limit : int
        Items page size, from ``ServerSettings``.
    """
    paths: dict[str, Any] = {
        "/": _get(
            "getLandingPage",
            "Page d'accueil de l'API OGC",
            {"200": _response("Liens vers les ressources de l'API.", JSON, "landingPage")},
        ),
        "/conformance": _get(
            "getConformanceDeclaration",
            "Classes de conformité",
            {"200": _response("Classes de conformité déclarées.", JSON, "confClasses")},
        ),
        "/api": _get(
            "getAPIDefinition",
            "Ce document (OpenAPI 3.0)",
            {
                "200": {
                    "description": "La définition de l'API.",
                    "content": {OPENAPI_30: {"schema": {"type": "object"}}},
                }
            },
        ),
        "/collections": _get(
            "getCollections",
            "Collections (couches) du jumeau",
            {"200": _response("Les collections.", JSON, "collections")},
        ),
    }
    for layer in layers:
        paths.update(_collection_paths(layer))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Hyperviseur — OGC API Features",
            "version": version,
            "description": "Couches du jumeau numérique du territoire, en OGC API Features 1.0 "
            "(Core, GeoJSON, OpenAPI 3.0) with Part 3 filtering (CQL2 text and JSON).",
            "license": {"name": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"parameters": _parameters(default_limit, max_limit), "schemas": _schemas()},
    }
