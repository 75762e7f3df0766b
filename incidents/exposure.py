"""Who and what is exposed around an incident: residents and critical sites within a radius of its category.

Distances are geodesic (PostGIS ``geography``, metres on the spheroid), so no territory CRS is needed; a
bounding-box test on the stored WGS84 geometries first lets the spatial indexes do the work.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg

#: How far an incident's effect reaches, per category (metres). Water: a pressure or quality problem hits
#: the blocks fed by the same mains; air: a pollution plume over a district; traffic: the street and its
#: neighbours; lighting: the lit street only.
RADIUS_M: dict[str, float] = {
    "water": 500.0,
    "air": 1000.0,
    "traffic": 300.0,
    "lighting": 100.0,
    "energy": 200.0,
    "weather": 1000.0,
    "security": 300.0,
    "other": 300.0,
}
DEFAULT_RADIUS_M = 300.0
MAX_LISTED_SITES = 10
_METRES_PER_DEGREE = 111_320.0

_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt)
SELECT
    (SELECT coalesce(sum(b.residents_est), 0) FROM twin.buildings b, p
      WHERE b.territory_id = %(t)s AND b.residents_est > 0
        AND b.geom && ST_Expand(p.pt, %(deg)s)
        AND ST_DWithin(b.geom::geography, p.pt::geography, %(r)s)) AS residents,
    (SELECT coalesce(jsonb_agg(s ORDER BY s.distance_m, s.id), '[]'::jsonb) FROM (
        SELECT c.id, coalesce(c.name, '') AS name, c.kind,
               round(ST_Distance(c.geom::geography, p.pt::geography)::numeric, 1)::float8 AS distance_m
          FROM twin.critical_sites c, p
         WHERE c.territory_id = %(t)s AND c.geom && ST_Expand(p.pt, %(deg)s)
           AND ST_DWithin(c.geom::geography, p.pt::geography, %(r)s)
         ORDER BY distance_m, c.id LIMIT %(n)s) s) AS sites
"""


def radius_m_of(category: str) -> float:
    """The exposure radius of a category.

    Examples
    --------
    >>> radius_m_of("water"), radius_m_of("unknown")
    (500.0, 300.0)
    """
    return RADIUS_M.get(category, DEFAULT_RADIUS_M)


def _degrees_around(lat: float, radius_m: float) -> float:
    """A box half-size in degrees that surely holds the circle of ``radius_m`` (longitude degrees shrink
    with latitude), with a 10 % margin for the spheroid."""
    shrink = max(math.cos(math.radians(min(abs(lat), 89.0))), 0.01)
    return 1.1 * radius_m / (_METRES_PER_DEGREE * shrink)


def exposure_at(
    conn: psycopg.Connection[Any], territory_id: int, lon: float, lat: float, category: str
) -> dict[str, Any]:
    """``{radius_m, residents, critical_sites: [{id, name, kind, distance_m}]}`` around a point.

    Residents are the sum of ``twin.buildings.residents_est`` of buildings within the radius (any part of
    the footprint); critical sites are listed nearest first, ten at most.
    """
    radius_m = radius_m_of(category)
    row = conn.execute(
        _SQL,
        {
            "lon": lon,
            "lat": lat,
            "t": territory_id,
            "r": radius_m,
            "deg": _degrees_around(lat, radius_m),
            "n": MAX_LISTED_SITES,
        },
    ).fetchone()
    assert row is not None
    residents, sites = (row["residents"], row["sites"]) if isinstance(row, dict) else (row[0], row[1])
    return {"radius_m": radius_m, "residents": int(residents), "critical_sites": list(sites)}
