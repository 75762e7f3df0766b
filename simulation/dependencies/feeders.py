"""Power feeders (``simulation.power_feeders``): substations and lighting cabinets, when the territory knows them.

Feeders are known in two ways: entered by a person (``POST /api/simulation/power-feeders``), or derived from
the street lights when they carry the cabinet they hang from as an attribute (an ``armoire`` id in French
municipal data): one feeder per cabinet, at the centroid of its lights, marked ``{"derived": true}`` in its
attributes. Montpellier's open street-light data carries no such attribute (only the lantern type), nor do
OpenStreetMap's street lamps as imported: there, feeders are entered by hand.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from twin.errors import InvalidInput, NotFound

# Attribute names (compared case-insensitively) that name a street light's cabinet, most specific first.
CABINET_KEYS: tuple[str, ...] = (
    "armoire",
    "id_armoire",
    "armoire_id",
    "num_armoire",
    "code_armoire",
    "no_armoire",
    "cabinet",
    "cabinet_id",
    "feeder",
    "feeder_id",
    "power_feeder",
    "depart",
)
FEEDER_KINDS: tuple[str, ...] = ("substation", "cabinet", "other")

_KEYS_SQL = """
SELECT DISTINCT k FROM twin.street_lights, jsonb_object_keys(attributes) k
 WHERE territory_id = %s AND jsonb_typeof(attributes) = 'object'
"""
# One feeder per cabinet at the centroid of its lights; a feeder a person entered under that name is kept.
_UPSERT_DERIVED_SQL = """
INSERT INTO simulation.power_feeders AS f (territory_id, name, kind, attributes, geom)
SELECT %(t)s, left(trim(l.attributes ->> %(key)s), 200), 'cabinet',
       jsonb_build_object('derived', true, 'source', 'twin.street_lights.attributes.' || %(key)s,
                          'lights', count(*)),
       ST_Centroid(ST_Collect(l.geom))
  FROM twin.street_lights l
 WHERE l.territory_id = %(t)s AND length(trim(coalesce(l.attributes ->> %(key)s, ''))) > 0
 GROUP BY 2
ON CONFLICT (territory_id, name) DO UPDATE
   SET attributes = EXCLUDED.attributes, geom = EXCLUDED.geom
 WHERE (f.attributes ->> 'derived')::boolean IS TRUE
   AND (f.attributes IS DISTINCT FROM EXCLUDED.attributes OR NOT ST_Equals(f.geom, EXCLUDED.geom))
"""
_DELETE_STALE_SQL = """
DELETE FROM simulation.power_feeders f
 WHERE f.territory_id = %(t)s AND (f.attributes ->> 'derived')::boolean IS TRUE
   AND NOT EXISTS (SELECT 1 FROM twin.street_lights l
                    WHERE l.territory_id = f.territory_id AND trim(l.attributes ->> %(key)s) = f.name)
"""
_FEEDER_COLUMNS = "id, name, kind, attributes, ST_X(geom) AS lon, ST_Y(geom) AS lat"


def cabinet_key(conn: psycopg.Connection[Any], territory_id: int) -> str | None:
    """The street lights' attribute that names their cabinet, or None when they carry none."""
    keys = {str(r[0]) for r in conn.cursor(row_factory=tuple_row).execute(_KEYS_SQL, (territory_id,))}
    by_lower = {k.lower(): k for k in sorted(keys)}
    return next((by_lower[k] for k in CABINET_KEYS if k in by_lower), None)


def derive_feeders(conn: psycopg.Connection[Any], territory_id: int) -> tuple[str | None, int]:
    """Create or move the derived feeders of a territory from its lights' cabinet attribute.

    Returns
    -------
    (str or None, int)
        The attribute used (None: the lights name no cabinet, nothing is written) and the number of derived
        feeders the territory has now. Derived feeders whose cabinet no longer appears are deleted; feeders
        entered by hand are never touched.
    """
    key = cabinet_key(conn, territory_id)
    if key is None:
        return None, 0
    params = {"t": territory_id, "key": key}
    conn.execute(_DELETE_STALE_SQL, params)
    conn.execute(_UPSERT_DERIVED_SQL, params)
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT count(*) FROM simulation.power_feeders WHERE territory_id = %s"
            " AND (attributes ->> 'derived')::boolean IS TRUE",
            (territory_id,),
        )
        .fetchone()
    )
    return key, int(row[0]) if row else 0


def feeder_feature(row: dict[str, Any]) -> dict[str, Any]:
    """A feeder row (``_FEEDER_COLUMNS`` plus ``links``) as a GeoJSON Feature."""
    attributes = row["attributes"] or {}
    return {
        "type": "Feature",
        "id": int(row["id"]),
        "geometry": {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]},
        "properties": {
            "id": int(row["id"]),
            "name": row["name"],
            "kind": row["kind"],
            "origin": "derived" if attributes.get("derived") is True else "entered",
            "attributes": attributes,
            "links": int(row.get("links") or 0),
        },
    }


def list_feeders(conn: psycopg.Connection[Any], territory_id: int) -> dict[str, Any]:
    """The territory's feeders as a GeoJSON FeatureCollection, with the number of links each feeds."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT {_FEEDER_COLUMNS}, (SELECT count(*) FROM simulation.dependency_links l"
            "  WHERE l.territory_id = f.territory_id AND l.kind = 'power_feed' AND l.provider_layer = 'power_feeders'"
            "  AND l.provider_id = f.id) AS links"
            " FROM simulation.power_feeders f WHERE territory_id = %s ORDER BY id",
            (territory_id,),
        )
        .fetchall()
    )
    return {"type": "FeatureCollection", "features": [feeder_feature(dict(r)) for r in rows]}


def create_feeder(
    conn: psycopg.Connection[Any], territory_id: int, *, name: str, kind: str, lon: float, lat: float
) -> dict[str, Any]:
    """Insert a feeder a person entered (in the caller's transaction); Conflict-like InvalidInput on a name
    already used in the territory."""
    if kind not in FEEDER_KINDS:
        raise InvalidInput(
            f"kind {kind!r} is not one of {', '.join(FEEDER_KINDS)} / type d'alimentation inconnu"
        )
    if not name.strip() or len(name.strip()) > 200:
        raise InvalidInput("name: give the feeder a name of 1 to 200 characters / nom de 1 à 200 caractères")
    taken = (
        conn.cursor()
        .execute(
            "SELECT 1 FROM simulation.power_feeders WHERE territory_id = %s AND name = %s",
            (territory_id, name.strip()),
        )
        .fetchone()
    )
    if taken:
        raise InvalidInput(f"name {name.strip()!r} is already a feeder of this territory / nom déjà utilisé")
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "INSERT INTO simulation.power_feeders (territory_id, name, kind, attributes, geom)"
            " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
            f" RETURNING {_FEEDER_COLUMNS}",
            (territory_id, name.strip(), kind, json.dumps({"derived": False}), lon, lat),
        )
        .fetchone()
    )
    assert row is not None
    return feeder_feature(dict(row))


def delete_feeder(conn: psycopg.Connection[Any], feeder_id: int) -> int:
    """Delete a feeder and every link to it (in the caller's transaction); returns its territory id."""
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute("DELETE FROM simulation.power_feeders WHERE id = %s RETURNING territory_id", (feeder_id,))
        .fetchone()
    )
    if row is None:
        raise NotFound(
            f"no power feeder {feeder_id}; GET /api/simulation/power-feeders?territory=… lists them"
        )
    conn.execute(
        "DELETE FROM simulation.dependency_links WHERE territory_id = %s AND provider_layer = 'power_feeders'"
        " AND provider_id = %s",
        (int(row[0]), feeder_id),
    )
    return int(row[0])
