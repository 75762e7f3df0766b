"""Feature queries of the OGC API: compose the .sql templates for one layer and run them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from layers.catalog import Layer, quoted
from layers.ogc._validate import ItemsQuery
from layers.ogc.cql2 import filter_from_request
from twin.errors import InvalidInput

# PostgreSQL functions take at most 100 arguments: json_build_object pairs are chunked by 50.
_PAIRS_PER_CALL = 50


@cache
def _template(name: str) -> sql.SQL:
    return sql.SQL(resources.files("layers.ogc").joinpath(f"sql/{name}").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Page:
    """One page of an items request: GeoJSON feature texts joined by commas, and how many matched."""

    features_json: str
    returned: int
    has_more: bool
    matched: int | None


def _properties(layer: Layer, names: tuple[str, ...], params: dict[str, Any]) -> sql.Composable:
    """``json_build_object(key, value, ...)`` over the selected fields; keys are bound parameters."""
    if not names:
        return sql.SQL("'{}'::json")
    pairs = []
    for i, name in enumerate(names):
        key = f"p{i}"
        params[key] = name
        if layer.in_attributes:
            value: sql.Composable = sql.SQL("t.attributes -> {}::text").format(sql.Placeholder(key))
        else:
            value = sql.SQL("t.{}").format(quoted(layer, name))
        pairs.append(sql.SQL("{}::text, {}").format(sql.Placeholder(key), value))
    calls = [
        sql.SQL("json_build_object({})").format(sql.SQL(", ").join(pairs[i : i + _PAIRS_PER_CALL]))
        for i in range(0, len(pairs), _PAIRS_PER_CALL)
    ]
    if len(calls) == 1:
        return calls[0]
    # jsonb concatenation loses the catalog's key order; only reached by layers with > 50 fields.
    return sql.SQL("({})::json").format(sql.SQL(" || ").join(sql.SQL("{}::jsonb").format(c) for c in calls))


def _collection_filter(layer: Layer, params: dict[str, Any]) -> list[sql.Composable]:
    if layer.layer_filter is None:
        return []
    params["layer_filter"] = layer.layer_filter
    return [sql.SQL("t.layer = %(layer_filter)s")]


def _where(
    layer: Layer, query: ItemsQuery, territory_id: int | None, params: dict[str, Any]
) -> sql.Composable:
    conditions = _collection_filter(layer, params)
    if territory_id is not None:
        params["territory_id"] = territory_id
        conditions.append(sql.SQL("t.territory_id = %(territory_id)s"))
    if query.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = query.bbox
        params.update(min_lon=min_lon, min_lat=min_lat, max_lon=max_lon, max_lat=max_lat)
        # ST_Intersects, not a bare &&: it uses the GiST index through its implicit && and then
        # drops lines and polygons whose box touches the bbox but whose shape does not (OGC asks for
        # features whose geometry intersects the box).
        if min_lon <= max_lon:
            conditions.append(
                sql.SQL(
                    "ST_Intersects(t.geom,"
                    " ST_MakeEnvelope(%(min_lon)s, %(min_lat)s, %(max_lon)s, %(max_lat)s, 4326))"
                )
            )
        else:  # crosses the antimeridian: two boxes, each still index-assisted
            conditions.append(
                sql.SQL(
                    "(ST_Intersects(t.geom, ST_MakeEnvelope(%(min_lon)s, %(min_lat)s, 180, %(max_lat)s, 4326))"
                    " OR ST_Intersects(t.geom,"
                    " ST_MakeEnvelope(-180, %(min_lat)s, %(max_lon)s, %(max_lat)s, 4326)))"
                )
            )
    if query.filter is not None:
        cql = filter_from_request(query.filter, query.filter_lang, layer, crs=query.filter_crs, params=params)
        conditions.append(cql.where)
    if not conditions:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(conditions)


async def territory_id_of(conn: AsyncConnection[dict[str, Any]], name_or_id: str) -> int:
    """Resolve a ``territory`` filter value (a name, or a numeric id) to the territory's id."""
    cur = await conn.execute(
        "SELECT id FROM twin.territory WHERE name = %(key)s"
        " OR id = CASE WHEN %(key)s ~ '^[0-9]{1,9}$' THEN %(key)s::integer END"
        " ORDER BY name = %(key)s DESC LIMIT 1",
        {"key": name_or_id},
    )
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute("SELECT name FROM twin.territory ORDER BY name")
        names = ", ".join(r["name"] for r in await cur.fetchall()) or "none"
        raise InvalidInput(f"territory={name_or_id!r} names no territory; known territories: {names}")
    return int(row["id"])


async def fetch_page(
    conn: AsyncConnection[dict[str, Any]], layer: Layer, query: ItemsQuery, *, count_cap: int
) -> Page:
    """Run one items request: the page of features and a count capped at ``count_cap``.

    ``matched`` is None when more than ``count_cap`` features match: OGC lets a server omit
    numberMatched, and an exact count of a huge table would cost more than the page itself.
    """
    territory = await territory_id_of(conn, query.territory) if query.territory is not None else None
    params: dict[str, Any] = {"limit": query.limit, "offset": query.offset, "count_cap": count_cap}
    names = query.properties if query.properties is not None else layer.field_names()
    statement = _template("items.sql").format(
        table=quoted(layer),
        properties=_properties(layer, names, params),
        where=_where(layer, query, territory, params),
    )
    try:
        cur = await conn.execute(statement, params)
    except (psycopg.DataError, psycopg.errors.InternalError_) as exc:
        # Values are cast safely, but a filter can still ask the impossible of a feature's data
        # (0 ^ -1, an overflowing power, a LIKE pattern ending in its escape character, a geometry
        # GEOS refuses to relate): the filter is at fault, so it is a 400 saying why, not a 500.
        if query.filter is None:
            raise
        raise InvalidInput(
            f"the filter cannot be evaluated on the features of {layer.name!r}:"
            f" {exc.diag.message_primary or exc}; change the expression"
        ) from None
    row = await cur.fetchone()
    assert row is not None  # an aggregate always returns one row
    fetched = int(row["fetched"])
    matched = int(row["matched"])
    return Page(
        features_json=row["features"],
        returned=min(fetched, query.limit),
        has_more=fetched > query.limit,
        matched=matched if matched <= count_cap else None,
    )


async def fetch_feature(conn: AsyncConnection[dict[str, Any]], layer: Layer, feature_id: int) -> str | None:
    """One feature of ``layer`` as GeoJSON text, or None when the collection has no such id."""
    params: dict[str, Any] = {"feature_id": feature_id}
    statement = _template("feature.sql").format(
        table=quoted(layer),
        properties=_properties(layer, layer.field_names(), params),
        where=sql.SQL(" AND ").join([sql.SQL("TRUE"), *_collection_filter(layer, params)]),
    )
    cur = await conn.execute(statement, params)
    row = await cur.fetchone()
    return None if row is None else row["feature"]


class ExtentCache:
    """Spatial extents of collections, kept ``ttl_s`` seconds.

    ST_Extent reads a whole layer (≈0.1 s per million points), too slow to repeat for every
    /collections request; an extent a minute old is good enough for a client's initial map view.
    One cache per app (built in the router factory), never a module global.
    """

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, list[float] | None]] = {}

    async def bbox(self, conn: AsyncConnection[dict[str, Any]], layer: Layer) -> list[float] | None:
        """``[minLon, minLat, maxLon, maxLat]`` of the layer, or None when it has no features."""
        now = time.monotonic()
        entry = self._entries.get(layer.name)
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]
        params: dict[str, Any] = {}
        statement = _template("extent.sql").format(
            table=quoted(layer),
            where=sql.SQL(" AND ").join([sql.SQL("TRUE"), *_collection_filter(layer, params)]),
        )
        cur = await conn.execute(statement, params)
        row = await cur.fetchone()
        box = None
        if row is not None and row["xmin"] is not None:
            # Outward rounding to 1e-7 degree (≈1 cm): the published box still contains every feature.
            box = [
                math.floor(row["xmin"] * 1e7) / 1e7,
                math.floor(row["ymin"] * 1e7) / 1e7,
                math.ceil(row["xmax"] * 1e7) / 1e7,
                math.ceil(row["ymax"] * 1e7) / 1e7,
            ]
        self._entries[layer.name] = (now, box)
        return box
