"""A run's results on the map and as files: GeoJSON layers, H3 aggregates, downloads (GeoJSON, CSV, JSON).

Computed from the stored report (already redacted for the caller's role) and the twin's geometries, read in
one query per kind with ``= ANY(%s)`` arrays (thousands of affected buildings stay one round trip). H3 cells
(resolution 9, ≈0.1 km²) aggregate the affected assets by their point: the cells' ``residents_hit`` add up to
the report's ``residents_hit`` whenever every affected building still has its geometry.

Examples
--------
>>> fc = h3_cells([{"layer": "buildings", "residents": 5, "lonlat": (7.42, 43.73)},
...                {"layer": "buildings", "residents": 2, "lonlat": (7.42, 43.73)}])
>>> [(f["properties"]["residents_hit"], f["properties"]["buildings_hit"]) for f in fc["features"]]
[(7, 2)]
"""

from __future__ import annotations

import csv
import io
from typing import Any

import h3
import orjson
from psycopg import AsyncConnection, sql

H3_RESOLUTION = 9
#: Affected layers located by a point on their twin geometry.
LOCATED_LAYERS = ("buildings", "critical_sites", "street_lights", "sensors")
CSV_COLUMNS = (
    "layer",
    "id",
    "name",
    "kind",
    "residents",
    "causes",
    "since_s",
    "lon",
    "lat",
    "reason_fr",
    "reason_en",
)


def _fc(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


async def _points(
    conn: AsyncConnection[dict[str, Any]], territory_id: int, affected: list[dict[str, Any]]
) -> dict[tuple[str, int], tuple[float, float]]:
    ids: dict[str, list[int]] = {}
    for a in affected:
        if a.get("layer") in LOCATED_LAYERS:
            ids.setdefault(a["layer"], []).append(int(a["id"]))
    if not ids:
        return {}
    parts = [
        sql.SQL(
            "SELECT {layer} AS layer, id, ST_X(p) AS lon, ST_Y(p) AS lat FROM (SELECT id, ST_PointOnSurface(geom) p"
            " FROM twin.{table} WHERE territory_id = %s AND id = ANY(%s)) q"
        ).format(layer=sql.Literal(layer), table=sql.Identifier(layer))
        for layer in ids
    ]
    params: list[Any] = []
    for layer in ids:
        params += [territory_id, ids[layer]]
    cur = await conn.execute(sql.SQL(" UNION ALL ").join(parts), params)
    return {(r["layer"], int(r["id"])): (float(r["lon"]), float(r["lat"])) for r in await cur.fetchall()}


def h3_cells(located: list[dict[str, Any]]) -> dict[str, Any]:
    """One polygon per H3 cell holding affected assets (``located``: layer, residents, lonlat each)."""
    cells: dict[str, dict[str, int]] = {}
    for a in located:
        lon, lat = a["lonlat"]
        cell = h3.latlng_to_cell(lat, lon, H3_RESOLUTION)
        c = cells.setdefault(cell, {"residents_hit": 0, "buildings_hit": 0, "critical_sites_hit": 0})
        if a["layer"] == "buildings":
            c["residents_hit"] += int(a["residents"])
            c["buildings_hit"] += 1
        elif a["layer"] == "critical_sites":
            c["critical_sites_hit"] += 1
    features = []
    for cell in sorted(cells):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"cell": cell, **cells[cell]},
            }
        )
    return _fc(features)


def _reason(a: dict[str, Any], lang: str) -> str:
    return " ; ".join(r.get(lang, "") for r in a.get("reasons", []))


async def layers_of(
    conn: AsyncConnection[dict[str, Any]], territory_id: int, report: dict[str, Any]
) -> dict[str, Any]:
    """The run's map layers (WGS84 FeatureCollections) from its (redacted) report."""
    affected = report.get("affected", [])
    points = await _points(conn, territory_id, affected)
    features, located = [], []
    for a in affected:
        lonlat = points.get((a.get("layer"), int(a["id"])))
        if lonlat is None:
            continue
        located.append({**a, "lonlat": lonlat})
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(lonlat)},
                "properties": {
                    "layer": a["layer"],
                    "id": a["id"],
                    "name": a.get("name"),
                    "kind": a.get("kind"),
                    "residents": a.get("residents", 0),
                    "causes": a.get("causes", []),
                    "since_s": a.get("since_s", 0.0),
                    "reason_fr": _reason(a, "fr"),
                    "reason_en": _reason(a, "en"),
                },
            }
        )
    return {
        "affected": _fc(features),
        "h3": h3_cells(located),
        "closed_roads": await _closed_roads(conn, territory_id, report),
        "isolated_areas": await _isolated_areas(conn, report),
        "events": await _events(conn, territory_id, report),
    }


async def _closed_roads(
    conn: AsyncConnection[dict[str, Any]], territory_id: int, report: dict[str, Any]
) -> dict[str, Any]:
    access = report.get("access") or {}
    closed = [int(e) for e in access.get("closed_edge_ids", [])]
    causes: dict[int, str] = {}
    for cause in ("live_closure", "measure", "event"):  # the event's cause wins, then the measure's
        for e in (report.get("scenario") or {}).get("closed_edges", {}).get(cause, []):
            causes[int(e)] = cause
    if not closed:
        return _fc([])
    cur = await conn.execute(
        "SELECT id, name, ST_AsGeoJSON(geom, 7) AS g FROM twin.road_edges WHERE territory_id = %s"
        " AND id = ANY(%s) ORDER BY id",
        (territory_id, closed),
    )
    return _fc(
        [
            {
                "type": "Feature",
                "geometry": orjson.loads(r["g"]),
                "properties": {
                    "edge_id": int(r["id"]),
                    "name": r["name"],
                    "cause": causes.get(int(r["id"]), "event"),
                },
            }
            for r in await cur.fetchall()
        ]
    )


async def _isolated_areas(conn: AsyncConnection[dict[str, Any]], report: dict[str, Any]) -> dict[str, Any]:
    areas = (report.get("access") or {}).get("isolated_areas", [])
    idx = [a["index"] for a in areas for _ in a.get("road_node_ids", [])]
    nodes = [int(n) for a in areas for n in a.get("road_node_ids", [])]
    if not nodes:
        return _fc([])
    # A 15 m band around the area's junctions: an area of one junction or one street is still a polygon.
    cur = await conn.execute(
        "SELECT a.idx, ST_AsGeoJSON(ST_Buffer(ST_ConvexHull(ST_Collect(n.geom))::geography, 15)::geometry, 7) AS g"
        " FROM unnest(%s::int[], %s::bigint[]) AS a(idx, node) JOIN twin.road_nodes n ON n.id = a.node"
        " GROUP BY a.idx ORDER BY a.idx",
        (idx, nodes),
    )
    by_index = {a["index"]: a for a in areas}
    features = []
    for r in await cur.fetchall():
        area = by_index[int(r["idx"])]
        features.append(
            {
                "type": "Feature",
                "geometry": orjson.loads(r["g"]),
                "properties": {
                    "index": area["index"],
                    "residents": area.get("residents", 0),
                    "reason_fr": (area.get("reason") or {}).get("fr"),
                    "reason_en": (area.get("reason") or {}).get("en"),
                },
            }
        )
    return _fc(features)


async def _events(
    conn: AsyncConnection[dict[str, Any]], territory_id: int, report: dict[str, Any]
) -> dict[str, Any]:
    """The scenario's own events (not the fork's closures) where they happen; water ones only if named."""
    own = [e for e in report.get("events", []) if e.get("origin", "event") == "event"]
    features = []
    for index, event in enumerate(own):
        geometry: dict[str, Any] | None = None
        kind = event.get("type")
        if kind == "road_closure" and event.get("edge_ids"):
            cur = await conn.execute(
                "SELECT ST_AsGeoJSON(ST_Collect(geom), 7) AS g FROM twin.road_edges WHERE territory_id = %s"
                " AND id = ANY(%s)",
                (territory_id, [int(e) for e in event["edge_ids"]]),
            )
            row = await cur.fetchone()
            geometry = orjson.loads(row["g"]) if row and row["g"] else None
        elif kind in ("flood", "power_failure") and event.get("area"):
            geometry = event["area"]
        elif kind == "pollution_plume" and event.get("source"):
            geometry = {"type": "Point", "coordinates": list(event["source"])}
        elif kind in ("pipe_burst", "pump_failure") and (event.get("pipe") or event.get("pump")):
            table = "water_pipes" if kind == "pipe_burst" else "water_pumps"
            cur = await conn.execute(
                sql.SQL(
                    "SELECT ST_AsGeoJSON(geom, 7) AS g FROM twin.{} WHERE territory_id = %s AND name = %s"
                ).format(sql.Identifier(table)),
                (territory_id, event.get("pipe") or event.get("pump")),
            )
            row = await cur.fetchone()
            geometry = orjson.loads(row["g"]) if row else None
        if geometry is not None:
            features.append(
                {"type": "Feature", "geometry": geometry, "properties": {"index": index, "type": kind}}
            )
    return _fc(features)


def download_geojson(layers: dict[str, Any]) -> bytes:
    """Every layer in one FeatureCollection, each feature saying its ``collection``."""
    features = [
        {**f, "properties": {"collection": name, **f["properties"]}}
        for name, fc in layers.items()
        for f in fc["features"]
    ]
    return orjson.dumps(_fc(features))


def download_csv(layers: dict[str, Any]) -> bytes:
    """The affected assets, one row each (causes joined by ``;``), with their point."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for f in layers["affected"]["features"]:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"]
        writer.writerow(
            [
                p["layer"],
                p["id"],
                p["name"] or "",
                p["kind"] or "",
                p["residents"],
                ";".join(p["causes"]),
                p["since_s"],
                lon,
                lat,
                p["reason_fr"],
                p["reason_en"],
            ]
        )
    return out.getvalue().encode("utf-8")


def download_json(run: dict[str, Any], report: dict[str, Any]) -> bytes:
    """The run (KPIs side by side) and its full (redacted) report."""
    return orjson.dumps({"run": run, "report": report})
