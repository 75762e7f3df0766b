"""What lies around an incident, read from the twin and the resident models: the input of :mod:`.infer`.

Blocking (psycopg, numpy): call it from a worker thread. Distances are geodesic (PostGIS ``geography``) for the
pipes, metric in the territory's CRS for the roads (the routing snapper's).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from simulation.live_use.infer import MAX_PIPE_M, MAX_ROAD_M, IncidentFacts
from simulation.territory import PROFILE, TerritoryModels
from twin.errors import InvalidInput, NotFound

_INCIDENT_SQL = """
SELECT id, territory_id, category, status, ST_X(geom) AS lon, ST_Y(geom) AS lat, asset_layer, asset_id
  FROM incidents.incidents WHERE id = %s
"""
# The sensors whose detections made the incident, newest first, with their latest value.
_SENSORS_SQL = """
SELECT s.id, s.kind, s.asset_layer, s.asset_id, s.attributes->>'overflow_level_m' AS overflow_level_m,
       l.value AS latest
  FROM sensing.detections d
  JOIN twin.sensors s ON s.id = d.sensor_id
  LEFT JOIN sensing.latest l ON l.sensor_id = s.id
 WHERE d.incident_id = %s
 ORDER BY d.started_at DESC, d.id DESC
"""
_SENSOR_SQL = """
SELECT s.id, s.kind, s.asset_layer, s.asset_id, s.attributes->>'overflow_level_m' AS overflow_level_m,
       l.value AS latest
  FROM twin.sensors s LEFT JOIN sensing.latest l ON l.sensor_id = s.id
 WHERE s.id = %s AND s.territory_id = %s
"""
_PIPE_BY_ID_SQL = "SELECT name FROM twin.water_pipes WHERE id = %s AND territory_id = %s"
_PUMP_BY_ID_SQL = "SELECT name FROM twin.water_pumps WHERE id = %s AND territory_id = %s"
# Pipes within reach of the point, nearest first (geography: metres on the spheroid).
_NEAREST_PIPE_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt)
SELECT w.name, ST_Distance(w.geom::geography, p.pt::geography) AS distance_m
  FROM twin.water_pipes w, p
 WHERE w.territory_id = %(t)s AND ST_DWithin(w.geom::geography, p.pt::geography, %(r)s)
   AND (%(junction)s::text IS NULL OR %(junction)s IN (w.start_node, w.end_node))
 ORDER BY distance_m, w.name LIMIT 1
"""
_JUNCTION_BY_ID_SQL = "SELECT name FROM twin.water_junctions WHERE id = %s AND territory_id = %s"


def read_incident(conn: psycopg.Connection[Any], incident_id: int) -> dict[str, Any]:
    """The incident's row (id, territory_id, category, status, lon, lat, asset); NotFound if it is gone."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_INCIDENT_SQL, (incident_id,)).fetchone()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row


def incident_facts(
    conn: psycopg.Connection[Any],
    incident: dict[str, Any],
    models: TerritoryModels | None,
    *,
    prevailing_wind_from_deg: float | None = None,
) -> IncidentFacts:
    """Gather the facts :func:`simulation.live_use.infer.infer_events` needs about ``incident`` (a row of
    :func:`read_incident`); ``models`` is None when the territory has no road network."""
    with conn.cursor(row_factory=dict_row) as cur:
        sensors = cur.execute(_SENSORS_SQL, (incident["id"],)).fetchall()
        if incident["asset_layer"] == "sensors" and incident["asset_id"] is not None:
            own = cur.execute(_SENSOR_SQL, (incident["asset_id"], incident["territory_id"])).fetchone()
            sensors = ([own] if own else []) + sensors
    facts: dict[str, Any] = {
        "incident_id": int(incident["id"]),
        "territory_id": int(incident["territory_id"]),
        "category": incident["category"],
        "lon": float(incident["lon"]),
        "lat": float(incident["lat"]),
        "asset_layer": incident["asset_layer"],
        "asset_id": None if incident["asset_id"] is None else int(incident["asset_id"]),
        "has_roads": models is not None,
        "has_water_network": models is not None and models.water is not None,
        "sensor_kinds": tuple(dict.fromkeys(s["kind"] for s in sensors)),
        "prevailing_wind_from_deg": prevailing_wind_from_deg,
    }
    river = next((s for s in sensors if s["kind"] == "river_level"), None)
    if river is not None:
        facts["river_level_m"] = _float(river["latest"])
        facts["overflow_level_m"] = _float(river["overflow_level_m"])
    if incident["category"] == "water" and facts["has_water_network"]:
        facts.update(_water_asset(conn, incident, sensors))
    if incident["category"] == "traffic" and models is not None:
        facts.update(_road_arcs(models, facts["lon"], facts["lat"]))
    return IncidentFacts(**facts)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None  # a free-text attribute that is not a number: treated as unknown


def _water_asset(
    conn: psycopg.Connection[Any], incident: dict[str, Any], sensors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The pipe (or pump) a water incident is about: its own asset, its sensor's, else the nearest pipe."""
    territory = incident["territory_id"]
    candidates = [(incident["asset_layer"], incident["asset_id"], "asset")]
    candidates += [(s["asset_layer"], s["asset_id"], "sensor") for s in sensors]
    for layer, asset_id, via in candidates:
        if asset_id is None:
            continue
        if layer == "water_pipes":
            row = conn.execute(_PIPE_BY_ID_SQL, (asset_id, territory)).fetchone()
            if row is not None:
                return {"pipe": str(row[0]), "pipe_distance_m": None, "pipe_via": via}
        elif layer == "water_pumps":
            row = conn.execute(_PUMP_BY_ID_SQL, (asset_id, territory)).fetchone()
            if row is not None:
                return {"pump": str(row[0])}
        elif layer == "water_junctions":
            row = conn.execute(_JUNCTION_BY_ID_SQL, (asset_id, territory)).fetchone()
            if row is not None:
                found = _nearest_pipe(conn, incident, junction=str(row[0]), max_m=10 * MAX_PIPE_M)
                if found is not None:
                    return {"pipe": found[0], "pipe_distance_m": found[1], "pipe_via": "junction"}
    found = _nearest_pipe(conn, incident, junction=None, max_m=MAX_PIPE_M)
    if found is None:
        return {}
    return {"pipe": found[0], "pipe_distance_m": found[1], "pipe_via": "nearest"}


def _nearest_pipe(
    conn: psycopg.Connection[Any], incident: dict[str, Any], *, junction: str | None, max_m: float
) -> tuple[str, float] | None:
    row = conn.execute(
        _NEAREST_PIPE_SQL,
        {
            "lon": incident["lon"],
            "lat": incident["lat"],
            "t": incident["territory_id"],
            "r": max_m,
            "junction": junction,
        },
    ).fetchone()
    return None if row is None else (str(row[0]), round(float(row[1]), 1))


def _road_arcs(models: TerritoryModels, lon: float, lat: float) -> dict[str, Any]:
    """The stored arcs (``twin.road_edges`` ids) an emergency vehicle would use at (lon, lat): the snapper's
    traversals, i.e. both arcs of a two-way street, within :data:`MAX_ROAD_M`."""
    state = models.graph.state(PROFILE)
    try:
        snap = state.snapper.snap(lon, lat, max_distance_m=MAX_ROAD_M, label="incident")
    except InvalidInput:
        return {}
    network = models.graph.network
    edges = sorted({int(network.edge_ids[edge]) for edge, _, _ in snap.traversals})
    name = network.street_name[snap.traversals[0][0]] if snap.traversals else None
    return {
        "road_edge_ids": tuple(edges),
        "road_distance_m": round(snap.distance_m, 1),
        "street": str(name) if name else None,
    }
