"""The demo's sensors: about fifty of every kind, standing on real features of a territory (idempotent).

Traffic counters, speed cameras, roadside NO2 stations and noise meters stand on the territory's busiest road
arcs; PM and ozone stations at schools, hospitals and other critical sites; light controllers on street
lights; energy meters on the largest buildings; weather stations on roofs; water meters on the water network
when the territory has one (else on large buildings, the district meters a network would feed). Each sensor
carries ``{"demo": true, "demo_key": …}`` and is found again by that key: registering twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from sensing.datasets._sensors import kind_units, register_sensor

#: The default territory of ``make demo`` (layers.importers.default; named here so sensing needs no import).
DEFAULT_TERRITORY_NAME = "Helsinki (centre)"


@dataclass(frozen=True)
class Place:
    """Where a demo sensor stands: the feature (layer, id) it sits on, if any, and its position."""

    layer: str | None
    feature_id: int | None
    lon: float
    lat: float
    #: What the feature says that sizes the sensor (road class, building area, lamp power…).
    props: dict[str, Any]


#: (where, kind, how many): sensors of the same ``where`` and index share a site (a roadside station).
DEMO_PLAN: tuple[tuple[str, str, int], ...] = (
    ("busy_road", "traffic_count", 6),
    ("busy_road", "traffic_speed", 6),
    ("busy_road", "no2", 4),
    ("busy_road", "noise", 3),
    ("sensitive_site", "pm10", 3),
    ("sensitive_site", "pm2_5", 2),
    ("sensitive_site", "o3", 2),
    ("water_pipe", "water_flow", 4),
    ("water_node", "water_pressure", 3),
    ("water_tank", "tank_level", 2),
    ("street_light", "light_state", 4),
    ("street_light", "light_power", 4),
    ("large_building", "building_energy", 5),
    ("roof", "temperature", 2),
    ("roof", "rainfall", 2),
    ("bridge", "river_level", 1),
)

_ROAD_RANK = (
    "CASE highway WHEN 'motorway' THEN 0 WHEN 'trunk' THEN 1 WHEN 'primary' THEN 2"
    " WHEN 'secondary' THEN 3 WHEN 'tertiary' THEN 4 ELSE 5 END"
)

_QUERIES: dict[str, tuple[str, str]] = {
    # One arc per street name, the busiest classes first, the longest of each.
    "busy_road": (
        "road_edges",
        "SELECT id, ST_X(p), ST_Y(p), jsonb_build_object('highway', highway, 'speed_kph', speed_kph, 'name', name)"
        " FROM (SELECT DISTINCT ON (coalesce(name, id::text)) id, highway, speed_kph, name, length_m,"
        f" {_ROAD_RANK} AS rank, ST_LineInterpolatePoint(geom, 0.5) AS p FROM twin.road_edges"
        " WHERE territory_id = %(t)s AND NOT reversed ORDER BY coalesce(name, id::text), length_m DESC) a"
        " ORDER BY rank, length_m DESC, id LIMIT %(n)s",
    ),
    "bridge": (
        "road_edges",
        "SELECT id, ST_X(p), ST_Y(p), jsonb_build_object('name', name) FROM (SELECT id, name, length_m,"
        " ST_LineInterpolatePoint(geom, 0.5) AS p FROM twin.road_edges WHERE territory_id = %(t)s"
        " AND attributes->>'bridge' IN ('yes', 'viaduct')) a ORDER BY length_m DESC, id LIMIT %(n)s",
    ),
    "sensitive_site": (
        "critical_sites",
        "SELECT id, ST_X(geom), ST_Y(geom), jsonb_build_object('kind', kind, 'name', name)"
        " FROM twin.critical_sites WHERE territory_id = %(t)s ORDER BY CASE kind WHEN 'school' THEN 0"
        " WHEN 'kindergarten' THEN 1 WHEN 'hospital' THEN 2 WHEN 'nursing_home' THEN 3 ELSE 4 END, id LIMIT %(n)s",
    ),
    "large_building": (
        "buildings",
        "SELECT id, ST_X(p), ST_Y(p), jsonb_build_object('area_m2', area_m2, 'name', name, 'use', use)"
        " FROM (SELECT id, area_m2, name, use, ST_PointOnSurface(geom) AS p FROM twin.buildings"
        " WHERE territory_id = %(t)s ORDER BY area_m2 DESC NULLS LAST, id LIMIT %(n)s) b",
    ),
    "roof": (
        "buildings",
        "SELECT id, ST_X(p), ST_Y(p), jsonb_build_object('height_m', height_m) FROM (SELECT id, height_m,"
        " ST_PointOnSurface(geom) AS p FROM twin.buildings WHERE territory_id = %(t)s"
        " ORDER BY height_m DESC NULLS LAST, id LIMIT %(n)s) b",
    ),
    "street_light": (
        "street_lights",
        "SELECT id, ST_X(geom), ST_Y(geom), jsonb_build_object('power_w', power_w) FROM twin.street_lights"
        " WHERE territory_id = %(t)s ORDER BY md5(id::text) LIMIT %(n)s",
    ),
    "water_pipe": (
        "water_pipes",
        "SELECT id, ST_X(p), ST_Y(p), jsonb_build_object('diameter_m', diameter_m) FROM (SELECT id, diameter_m,"
        " ST_LineInterpolatePoint(geom, 0.5) AS p FROM twin.water_pipes WHERE territory_id = %(t)s"
        " ORDER BY diameter_m DESC NULLS LAST, id LIMIT %(n)s) w",
    ),
    "water_node": (
        "water_junctions",
        "SELECT id, ST_X(geom), ST_Y(geom), jsonb_build_object('elevation_m', elevation_m)"
        " FROM twin.water_junctions WHERE territory_id = %(t)s ORDER BY md5(id::text) LIMIT %(n)s",
    ),
    "water_tank": (
        "water_tanks",
        "SELECT id, ST_X(geom), ST_Y(geom), jsonb_build_object('max_level_m', max_level_m)"
        " FROM twin.water_tanks WHERE territory_id = %(t)s ORDER BY id LIMIT %(n)s",
    ),
}

#: Where to stand when the territory has none of the features asked for.
_FALLBACK: dict[str, tuple[str, ...]] = {
    "busy_road": ("large_building",),
    "bridge": ("busy_road", "large_building"),
    "sensitive_site": ("large_building", "busy_road"),
    "large_building": ("sensitive_site", "busy_road"),
    "roof": ("sensitive_site", "busy_road"),
    "street_light": ("busy_road", "large_building"),
    "water_pipe": ("large_building", "busy_road"),
    "water_node": ("large_building", "busy_road"),
    "water_tank": ("large_building", "busy_road"),
}


def places(conn: psycopg.Connection, territory_id: int, where: str, n: int) -> list[Place]:
    """Up to ``n`` places of kind ``where``, from the fallbacks when the territory has none, else its centre."""
    for candidate in (where, *_FALLBACK.get(where, ())):
        layer, sql = _QUERIES[candidate]
        rows = conn.execute(sql, {"t": territory_id, "n": n}).fetchall()
        if rows:
            found = [Place(layer, int(r[0]), float(r[1]), float(r[2]), dict(r[3] or {})) for r in rows]
            return [found[i % len(found)] for i in range(n)]
    row = conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) AS p FROM twin.territory"
        " WHERE id = %s AND boundary IS NOT NULL) c",
        (territory_id,),
    ).fetchone()
    if row is None:
        return []
    return [Place(None, None, float(row[0]), float(row[1]), {}) for _ in range(n)]


def sensor_scale(kind: str, place: Place) -> float:
    """The size of a sensor's signal: peak flow of a road, free speed, a building's or a lamp's power…

    Examples
    --------
    >>> sensor_scale("traffic_count", Place(None, None, 0, 0, {"highway": "primary"}))
    1400.0
    >>> sensor_scale("building_energy", Place(None, None, 0, 0, {"area_m2": 20000}))
    400.0
    """
    p = place.props
    if kind == "traffic_count":
        return {"motorway": 3000.0, "trunk": 2000.0, "primary": 1400.0, "secondary": 900.0}.get(
            str(p.get("highway")), 500.0
        )
    if kind == "traffic_speed":
        return max(30.0, min(float(p.get("speed_kph") or 50.0), 90.0))
    if kind == "building_energy":
        return max(20.0, min(float(p.get("area_m2") or 2000.0) * 0.02, 400.0))
    if kind == "light_power":
        return float(p.get("power_w") or 150.0)
    if kind == "water_flow":
        return max(20.0, min(float(p.get("diameter_m") or 0.3) * 400.0, 400.0))
    if kind == "tank_level":
        return max(3.0, min(float(p.get("max_level_m") or 5.0), 20.0))
    return 1.0


def guess_timezone(territory_name: str) -> str:
    """The IANA zone the demo's clocks follow: Helsinki's for the default territory, Paris's otherwise."""
    return "Europe/Helsinki" if territory_name.lower().startswith("helsinki") else "Europe/Paris"


def demo_territory(conn: psycopg.Connection) -> tuple[int, str] | None:
    """The territory the demo runs on: the default one (Helsinki) when present, else the first imported."""
    row = conn.execute(
        "SELECT id, name FROM twin.territory ORDER BY (name = %s) DESC, id LIMIT 1", (DEFAULT_TERRITORY_NAME,)
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def ensure_demo_sensors(
    conn: psycopg.Connection, territory_id: int, *, timezone: str | None = None
) -> list[int]:
    """Register the demo sensors of the territory (or find them again); return their ids, in plan order.

    Runs in the caller's transaction: the caller commits.
    """
    row = conn.execute("SELECT name FROM twin.territory WHERE id = %s", (territory_id,)).fetchone()
    if row is None:
        from twin.errors import NotFound

        raise NotFound(f"no territory {territory_id}: import one first (hyperviseur import osm …)")
    zone = timezone or guess_timezone(str(row[0]))
    units = kind_units(conn)
    existing: dict[str, int] = dict(
        conn.execute(
            "SELECT attributes->>'demo_key', id FROM twin.sensors WHERE territory_id = %s"
            " AND attributes->>'demo' = 'true'",
            (territory_id,),
        ).fetchall()
    )
    ids: list[int] = []
    for where, kind, count in DEMO_PLAN:
        for index, place in enumerate(places(conn, territory_id, where, count)):
            key = f"{kind}-{index + 1}"
            if key in existing:
                ids.append(int(existing[key]))
                continue
            attributes = {
                "demo": True,
                "demo_key": key,
                "site": f"{where}-{index + 1}",
                "scale": sensor_scale(kind, place),
                "timezone": zone,
                "placement": place.layer or "territory centre",
            }
            ids.append(
                register_sensor(
                    conn,
                    territory_id,
                    name=f"demo-{key}",
                    kind=kind,
                    lon=place.lon,
                    lat=place.lat,
                    attributes=attributes,
                    asset=(place.layer, place.feature_id)
                    if place.layer and place.feature_id is not None
                    else None,
                    units=units,
                )
            )
    return ids
