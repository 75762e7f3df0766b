"""Territories and sensors that datasets and the demo register: found again by name, never duplicated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from twin.errors import InvalidInput

#: A sensor further than this from every road arc is not attached to one (it stands elsewhere).
ROAD_SNAP_M = 40.0


def ensure_territory(
    conn: psycopg.Connection,
    name: str,
    *,
    crs_epsg: int,
    boundary_wkt: str,
    source: str,
) -> tuple[int, bool]:
    """The id of territory ``name``, created with ``boundary_wkt`` (WGS84) when absent; and whether it was.

    An existing territory keeps its boundary: a dataset never redraws a territory someone imported.
    """
    row = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (name,)).fetchone()
    if row is not None:
        return int(row[0]), False
    row = conn.execute(
        "INSERT INTO twin.territory (name, crs_epsg, source, boundary)"
        " VALUES (%s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326))) RETURNING id",
        (name, crs_epsg, source, boundary_wkt),
    ).fetchone()
    assert row is not None
    return int(row[0]), True


def kind_units(conn: psycopg.Connection) -> dict[str, str]:
    """Unit of every known sensor kind (``sensing.kinds``)."""
    return {str(k): str(u) for k, u in conn.execute("SELECT kind, unit FROM sensing.kinds").fetchall()}


def nearest_road_edge(
    conn: psycopg.Connection, territory_id: int, lon: float, lat: float, *, within_m: float = ROAD_SNAP_M
) -> int | None:
    """The id of the territory's road arc nearest to (lon, lat), if one lies within ``within_m`` metres."""
    row = conn.execute(
        "WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)"
        " SELECT e.id, ST_Distance(e.geom::geography, p.g::geography) AS d FROM twin.road_edges e, p"
        " WHERE e.territory_id = %(t)s ORDER BY e.geom <-> p.g LIMIT 1",
        {"lon": lon, "lat": lat, "t": territory_id},
    ).fetchone()
    if row is None or row[1] is None or float(row[1]) > within_m:
        return None
    return int(row[0])


def register_sensor(
    conn: psycopg.Connection,
    territory_id: int,
    *,
    name: str,
    kind: str,
    lon: float,
    lat: float,
    attributes: dict[str, Any],
    asset: tuple[str, int] | None = None,
    units: dict[str, str] | None = None,
) -> int:
    """Insert the sensor ``name`` of the territory, or update the one already there; return its id.

    ``asset`` is ``(layer, feature id)`` of the twin feature the sensor sits on, if any.
    """
    units = units if units is not None else kind_units(conn)
    if kind not in units:
        raise InvalidInput(f"sensor kind {kind!r} is not in sensing.kinds ({', '.join(sorted(units))})")
    layer, asset_id = asset if asset is not None else (None, None)
    params = {
        "t": territory_id,
        "name": name,
        "kind": kind,
        "unit": units[kind],
        "layer": layer,
        "asset": asset_id,
        "attrs": orjson.dumps(attributes).decode(),
        "lon": lon,
        "lat": lat,
    }
    row = conn.execute(
        "UPDATE twin.sensors SET kind = %(kind)s, unit = %(unit)s, asset_layer = %(layer)s,"
        " asset_id = %(asset)s, attributes = %(attrs)s::jsonb,"
        " geom = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)"
        " WHERE id = (SELECT min(id) FROM twin.sensors WHERE territory_id = %(t)s AND name = %(name)s)"
        " RETURNING id",
        params,
    ).fetchone()
    if row is None:
        row = conn.execute(
            "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, attributes, geom)"
            " VALUES (%(t)s, %(name)s, %(kind)s, %(unit)s, %(layer)s, %(asset)s, %(attrs)s::jsonb,"
            " ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) RETURNING id",
            params,
        ).fetchone()
    assert row is not None
    return int(row[0])


def already_rejected(conn: psycopg.Connection, file_name: str) -> set[tuple[str, int | None]]:
    """(origin, sensor id) of the rejections an earlier import of ``file_name`` stored: a re-import skips them."""
    rows = conn.execute(
        "SELECT origin, sensor_id FROM sensing.rejected WHERE source = 'file' AND origin LIKE %s",
        (file_name.replace("%", r"\%").replace("_", r"\_") + ":%",),
    ).fetchall()
    return {(str(o), None if s is None else int(s)) for o, s in rows}


@dataclass(frozen=True)
class SensorSpec:
    name: str
    kind: str
    lon: float
    lat: float
    attributes: dict[str, Any]


def register_sensors(
    conn: psycopg.Connection,
    territory_id: int,
    specs: list[SensorSpec],
    *,
    snap_to_roads_m: float | None = None,
) -> dict[str, int]:
    """Insert or refresh many sensors in a few statements; return their ids by name.

    With ``snap_to_roads_m``, each is attached to the territory's nearest road arc within that distance.
    """
    units = kind_units(conn)
    unknown = sorted({s.kind for s in specs} - set(units))
    if unknown:
        raise InvalidInput(f"sensor kinds {', '.join(unknown)} are not in sensing.kinds")
    columns = {
        "name": [s.name for s in specs],
        "kind": [s.kind for s in specs],
        "unit": [units[s.kind] for s in specs],
        "lon": [s.lon for s in specs],
        "lat": [s.lat for s in specs],
        "attrs": [orjson.dumps(s.attributes).decode() for s in specs],
    }
    snap = (
        "(SELECT e.id FROM twin.road_edges e WHERE e.territory_id = %(t)s"
        " AND ST_DWithin(e.geom::geography, ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326)::geography, %(d)s)"
        " ORDER BY e.geom <-> ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326) LIMIT 1)"
        if snap_to_roads_m
        else "NULL::bigint"
    )
    new = (
        "SELECT * FROM unnest(%(name)s::text[], %(kind)s::text[], %(unit)s::text[], %(lon)s::float8[],"
        " %(lat)s::float8[], %(attrs)s::jsonb[]) AS n(name, kind, unit, lon, lat, attrs)"
    )
    params = {**columns, "t": territory_id, "d": snap_to_roads_m}
    conn.execute(
        f"WITH n AS ({new}) UPDATE twin.sensors s SET kind = n.kind, unit = n.unit, attributes = n.attrs,"
        " geom = ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326),"
        f" asset_layer = CASE WHEN {snap} IS NULL THEN NULL ELSE 'road_edges' END, asset_id = {snap}"
        " FROM n WHERE s.territory_id = %(t)s AND s.name = n.name",
        params,
    )
    conn.execute(
        "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, attributes, geom)"
        f" SELECT %(t)s, n.name, n.kind, n.unit, CASE WHEN {snap} IS NULL THEN NULL ELSE 'road_edges' END,"
        f" {snap}, n.attrs, ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326) FROM ({new}) n"
        " WHERE NOT EXISTS (SELECT 1 FROM twin.sensors s WHERE s.territory_id = %(t)s AND s.name = n.name)",
        params,
    )
    rows = conn.execute(
        "SELECT name, min(id) FROM twin.sensors WHERE territory_id = %s AND name = ANY(%s) GROUP BY name",
        (territory_id, columns["name"]),
    ).fetchall()
    return {str(n): int(i) for n, i in rows}
