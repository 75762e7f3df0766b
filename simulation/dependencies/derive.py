"""Deriving the links of a territory from geometry in PostGIS: one SQL statement per link type, read-only.

Every link type is a PostGIS KNN (``<->``) that takes the ``k`` nearest candidates by degrees through the
GiST index, ranks them again by metric distance, and keeps the first within a distance. Results are compact
numpy arrays (:mod:`simulation.dependencies.model`). Street lights hang from the power feeder their cabinet
attribute names when they carry one (:mod:`simulation.dependencies.feeders`), else from the nearest feeder.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import tuple_row

from routing.resident import TerritoryGraph
from simulation.dependencies.model import (
    ASSET_TABLES,
    DEFAULT_MAX_ACCESS_M,
    DEFAULT_MAX_FEED_M,
    DEFAULT_MAX_LIGHT_M,
    DEFAULT_MAX_PUMP_FEED_M,
    DEFAULT_MAX_SENSOR_M,
    DEFAULT_MAX_SERVICE_M,
    FEEDER_LAYER,
    KNN_CANDIDATES,
    Assets,
    DependencyModel,
    LinkSet,
    assets_from_rows,
    link_sets_from_rows,
    sensor_layer,
)
from twin.db import connect
from twin.errors import InvalidInput, NotFound

# The nearest provider within %(max_m)s metres: KNN candidates by degrees, ranked by metres (ties: lowest id).
# The box (max_m in degrees of longitude, the longer ones, at the feature's latitude) keeps the GiST index in use
# even before ANALYZE has run after an import (else every arc of the territory is measured per feature).
_NEAREST = """
LEFT JOIN LATERAL (
    SELECT c.id AS provider_id, c.distance_m, {position} AS position{extra}
      FROM (SELECT k.id, k.geom_m{extra_k}, ST_Distance(k.geom_m, dm.geom_m) AS distance_m
              FROM (SELECT p.id, ST_Transform(p.geom, %(crs)s) AS geom_m{extra_inner}
                      FROM {provider_table} p
                     WHERE p.territory_id = %(t)s {provider_filter}
                       AND p.geom && ST_Expand(d.geom, %(max_m)s
                           / (111320.0 * cos(radians(least(abs(ST_YMax(d.geom)) + 0.5, 89)))))
                     ORDER BY p.geom <-> d.geom
                     LIMIT %(k)s) k) c
     WHERE c.distance_m <= %(max_m)s
     ORDER BY c.distance_m, c.id
     LIMIT 1) n ON true"""
# Fraction along the arc measured in metres, as routing's snapper does.
_ARC_POSITION = "ST_LineLocatePoint(c.geom_m, ST_ClosestPoint(c.geom_m, dm.geom_m))"

DEPENDENT_COLUMNS = {
    "buildings": "d.name, d.use, coalesce(d.residents_est, 0), ST_X(ST_PointOnSurface(d.geom)),"
    " ST_Y(ST_PointOnSurface(d.geom))",
    "critical_sites": "d.name, d.kind, 0, ST_X(d.geom), ST_Y(d.geom)",
    "street_lights": "NULL::text, d.lamp_type, 0, ST_X(d.geom), ST_Y(d.geom)",
    "sensors": "d.name, d.kind, 0, ST_X(d.geom), ST_Y(d.geom)",
    "water_pumps": "d.name, d.pump_type, 0, ST_X(ST_LineInterpolatePoint(d.geom, 0.5)),"
    " ST_Y(ST_LineInterpolatePoint(d.geom, 0.5))",
}


def provider_table(layer: str) -> str:
    """The qualified table of a provider layer (only known names: identifiers never come from input)."""
    if layer == FEEDER_LAYER:
        return "simulation.power_feeders"
    if layer in ASSET_TABLES:
        return f"twin.{layer}"
    raise InvalidInput(f"layer {layer!r} is not one of {', '.join((*ASSET_TABLES, FEEDER_LAYER))}")


def _link_sql(dependent: str, provider: str, *, arc: bool, provider_filter: str = "", where: str = "") -> str:
    extra = ", c.name" if provider == "water_junctions" else ""
    nearest = _NEAREST.format(
        position=_ARC_POSITION if arc else "NULL::double precision",
        extra=extra,
        extra_inner=", p.name" if extra else "",
        extra_k=", k.name" if extra else "",
        provider_table=provider_table(provider),
        provider_filter=provider_filter,
    )
    return (
        f"SELECT d.id, {DEPENDENT_COLUMNS[dependent]}, n.provider_id, n.distance_m, n.position"
        f"{', n.name' if extra else ''}\n  FROM twin.{dependent} d\n"
        f"  CROSS JOIN LATERAL (SELECT ST_Transform(d.geom, %(crs)s) AS geom_m) dm{nearest}\n"
        f" WHERE d.territory_id = %(t)s {where}\n ORDER BY d.id"
    )


# A sensor's stated asset, measured against whichever table its layer names.
_STATED_SENSOR_SQL = (
    "SELECT s.id, s.asset_layer, s.asset_id,"
    " ST_Distance(ST_Transform(s.geom, %(crs)s), ST_Transform(a.geom, %(crs)s))\n"
    "  FROM twin.sensors s LEFT JOIN (\n"
    + "\n  UNION ALL ".join(
        f"SELECT '{table}' AS layer, id, geom FROM twin.{table} WHERE territory_id = %(t)s"
        for table in ASSET_TABLES
    )
    + "\n  ) a ON a.layer = s.asset_layer AND a.id = s.asset_id\n"
    " WHERE s.territory_id = %(t)s AND s.asset_layer IS NOT NULL AND s.asset_id IS NOT NULL ORDER BY s.id"
)
SENSOR_KINDS_SQL = """
SELECT s.kind, k.category FROM (SELECT DISTINCT kind FROM twin.sensors WHERE territory_id = %(t)s) s
  LEFT JOIN sensing.kinds k ON k.kind = s.kind
"""
# Lights whose cabinet attribute names a feeder: linked to it whatever the distance.
_CABINET_LINKS_SQL = """
SELECT d.id, f.id, ST_Distance(ST_Transform(d.geom, %(crs)s), ST_Transform(f.geom, %(crs)s))
  FROM twin.street_lights d
  JOIN simulation.power_feeders f ON f.territory_id = d.territory_id AND f.name = trim(d.attributes ->> %(key)s)
 WHERE d.territory_id = %(t)s
"""
TERRITORY_SQL = (
    "SELECT id, name, crs_epsg FROM twin.territory WHERE id::text = %s OR name = %s ORDER BY name = %s DESC,"
    " id LIMIT 1"
)


def territory_row(cur: psycopg.Cursor[Any], territory: int | str) -> tuple[int, str, int]:
    """``(id, name, crs_epsg)`` of a territory given by id or name (NotFound if none)."""
    key = str(territory)
    row = cur.execute(TERRITORY_SQL, (key, key, key)).fetchone()
    if row is None:
        raise NotFound(f"no territory {territory!r}; import one first / aucun territoire {territory!r}")
    if isinstance(row, dict):
        return int(row["id"]), str(row["name"]), int(row["crs_epsg"])
    return int(row[0]), str(row[1]), int(row[2])


def drivable_edge_ids(graph: TerritoryGraph, profile: str = "emergency") -> np.ndarray:
    """Database ids of the stored road arcs ``profile`` may travel (sorted int64)."""
    state = graph.state(profile)
    return np.asarray(graph.network.edge_ids[np.unique(state.graph.edge)], dtype=np.int64)


def dependency_model_from_twin(
    url: str,
    territory: int | str,
    *,
    road_graph: TerritoryGraph | None = None,
    profile: str = "emergency",
    max_access_m: float = DEFAULT_MAX_ACCESS_M,
    max_service_m: float = DEFAULT_MAX_SERVICE_M,
    max_light_m: float = DEFAULT_MAX_LIGHT_M,
    max_sensor_m: float = DEFAULT_MAX_SENSOR_M,
    max_feed_m: float = DEFAULT_MAX_FEED_M,
    max_pump_feed_m: float = DEFAULT_MAX_PUMP_FEED_M,
    knn_candidates: int = KNN_CANDIDATES,
    cabinet_key: str | None = None,
    kinds: Collection[str] | None = None,
) -> DependencyModel:
    """Derive every link type of a territory from the twin tables (reads only).

    Parameters
    ----------
    url
        Database URL.
    territory
        The territory's id or name.
    road_graph
        Its resident routing graph: road access then only uses arcs ``profile`` may travel (the drivable
        graph). Without it every stored arc counts.
    max_access_m, max_service_m, max_light_m, max_sensor_m, max_feed_m, max_pump_feed_m
        Farther than this, no link (the dependent is listed in ``unlinked_ids``).
    cabinet_key
        The street lights' attribute naming their cabinet (``feeders.cabinet_key`` finds it): a light whose
        cabinet is a feeder's name hangs from that feeder. Power-feed links exist only when the territory has
        feeders (``simulation.power_feeders``).
    kinds
        Derive only these link kinds (default: all); the model then holds only their link sets.

    Raises
    ------
    NotFound
        No such territory.
    InvalidInput
        A distance that is not a positive number of metres.
    """
    distances = {
        "max_access_m": max_access_m,
        "max_service_m": max_service_m,
        "max_light_m": max_light_m,
        "max_sensor_m": max_sensor_m,
        "max_feed_m": max_feed_m,
        "max_pump_feed_m": max_pump_feed_m,
    }
    for name, value in distances.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100_000:
            raise InvalidInput(f"{name} must be a distance in metres between 0 and 100000, not {value!r}")
    if not isinstance(knn_candidates, int) or not 1 <= knn_candidates <= 64:
        raise InvalidInput(f"knn_candidates must be an integer between 1 and 64, not {knn_candidates!r}")
    with connect(url) as conn:
        cur = conn.cursor(row_factory=tuple_row)
        tid, name, crs = territory_row(cur, territory)
        if road_graph is not None and road_graph.territory_id != tid:
            raise InvalidInput(
                f"road_graph is the graph of territory {road_graph.territory_id}, not of {name!r}"
            )
        params: dict[str, Any] = {"t": tid, "crs": crs, "k": knn_candidates}
        drivable = None if road_graph is None else drivable_edge_ids(road_graph, profile)
        access_filter = "" if drivable is None else "AND p.id = ANY(%(drivable)s)"
        if drivable is not None:
            params["drivable"] = drivable.tolist()
        assets: dict[str, Assets] = {}
        sets: list[LinkSet] = []
        plan: list[tuple[str, str, str, float, str]] = [
            ("road_access", "buildings", "road_edges", max_access_m, access_filter),
            ("road_access", "critical_sites", "road_edges", max_access_m, access_filter),
            ("water_service", "buildings", "water_junctions", max_service_m, ""),
            ("street_light_road", "street_lights", "road_edges", max_light_m, ""),
        ]
        has_feeders = cur.execute(
            "SELECT EXISTS (SELECT 1 FROM simulation.power_feeders WHERE territory_id = %s)", (tid,)
        ).fetchone()
        if has_feeders and has_feeders[0]:
            plan += [
                ("power_feed", "street_lights", FEEDER_LAYER, max_feed_m, ""),
                ("power_feed", "water_pumps", FEEDER_LAYER, max_pump_feed_m, ""),
            ]
        for kind, dependent, provider, max_m, provider_filter in plan:
            if kinds is not None and kind not in kinds:
                continue
            sql = _link_sql(
                dependent, provider, arc=provider == "road_edges", provider_filter=provider_filter
            )
            rows = cur.execute(sql, {**params, "max_m": max_m}).fetchall()
            if kind == "power_feed" and dependent == "street_lights" and cabinet_key:
                rows = _with_cabinet_links(cur, rows, {**params, "key": cabinet_key})
            assets.setdefault(dependent, assets_from_rows(dependent, rows))
            sets.append(
                link_sets_from_rows(rows, kind=kind, dependent=dependent, provider=provider, max_m=max_m)
            )
        if kinds is None or "sensor_asset" in kinds:
            sensor_assets, sensor_sets = _sensor_links(cur, params, max_sensor_m)
            assets["sensors"] = sensor_assets
            sets += sensor_sets
    return DependencyModel(tid, name, crs, assets, tuple(sets))


def _with_cabinet_links(
    cur: psycopg.Cursor[tuple[Any, ...]], rows: list[tuple[Any, ...]], params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    named = {int(r[0]): (int(r[1]), float(r[2])) for r in cur.execute(_CABINET_LINKS_SQL, params).fetchall()}
    return [(*r[:6], *named[int(r[0])], None) if int(r[0]) in named else r for r in rows]


def _sensor_links(
    cur: psycopg.Cursor[tuple[Any, ...]], params: dict[str, Any], max_m: float
) -> tuple[Assets, list[LinkSet]]:
    """Stated links (``asset_layer``/``asset_id``) first; the others to the nearest asset of their kind's layer."""
    stated = cur.execute(_STATED_SENSOR_SQL, params).fetchall()
    categories = dict(cur.execute(SENSOR_KINDS_SQL, params).fetchall())
    kinds_by_layer: dict[str, list[str]] = {}
    for kind, category in categories.items():
        layer = sensor_layer(kind, category)
        if layer is not None:
            kinds_by_layer.setdefault(layer, []).append(kind)
    everyone = cur.execute(
        f"SELECT d.id, {DEPENDENT_COLUMNS['sensors']} FROM twin.sensors d WHERE d.territory_id = %(t)s ORDER BY d.id",
        params,
    ).fetchall()
    assets = assets_from_rows("sensors", everyone)
    stated_ids = {int(r[0]) for r in stated}
    sets: list[LinkSet] = []
    for layer in sorted({str(r[1]) for r in stated}):
        mine = [r for r in stated if r[1] == layer]
        sets.append(
            LinkSet(
                kind="sensor_asset",
                dependent_layer="sensors",
                provider_layer=layer,
                dependent_ids=np.array([r[0] for r in mine], dtype=np.int64),
                provider_ids=np.array([r[2] for r in mine], dtype=np.int64),
                distance_m=np.array([np.nan if r[3] is None else r[3] for r in mine], dtype=np.float64),
                position=np.full(len(mine), np.nan),
                edited=np.ones(len(mine), dtype=bool),
                max_distance_m=float(max_m),
            )
        )
    for layer, kinds in sorted(kinds_by_layer.items()):
        sql = _link_sql(
            "sensors",
            layer,
            arc=layer == "road_edges",
            where="AND d.kind = ANY(%(kinds)s) AND d.asset_id IS NULL",
        )
        rows: Sequence[tuple[Any, ...]] = cur.execute(
            sql, {**params, "kinds": kinds, "max_m": max_m}
        ).fetchall()
        rows = [r for r in rows if int(r[0]) not in stated_ids]
        if rows:
            sets.append(
                link_sets_from_rows(
                    rows, kind="sensor_asset", dependent="sensors", provider=layer, max_m=max_m
                )
            )
    return assets, sets
