"""Typed dependency links between a territory's assets, derived from geometry in PostGIS (in memory, no table).

A link says that a *dependent* asset needs a *provider* asset: a building needs its road access and its water
service connection, a critical site its road access, a street light the road it stands by, a sensor the asset
it measures. Each link has a type, a distance (metres, in the territory's projected CRS), a position along the
provider when it is a road arc (the fraction of its length, in the arc's stored direction) and an origin:
``derived`` (computed here from geometry) or ``edited`` (stated in the twin, as ``twin.sensors.asset_layer`` /
``asset_id``, or changed by hand with :meth:`DependencyModel.with_edited_link`).

Every link type is one SQL statement: a PostGIS KNN (``<->``) that takes the ``k`` nearest candidates by
degrees through the GiST index, ranks them again by metric distance, and keeps the first within a distance.
Results are compact numpy arrays. The water chain junction ← pipe ← valve/pump ← tank/reservoir is network
topology held by :mod:`simulation.water`; this module joins buildings to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import psycopg
from psycopg.rows import tuple_row

from routing.resident import TerritoryGraph
from twin.db import connect
from twin.errors import InvalidInput, NotFound

LinkKind = Literal["road_access", "water_service", "street_light_road", "sensor_asset"]
LINK_KINDS: tuple[str, ...] = ("road_access", "water_service", "street_light_road", "sensor_asset")
LINK_TITLES: dict[str, dict[str, str]] = {
    "road_access": {"fr": "accès routier", "en": "road access"},
    "water_service": {"fr": "branchement d'eau", "en": "water service connection"},
    "street_light_road": {"fr": "voie éclairée", "en": "road lit"},
    "sensor_asset": {"fr": "équipement mesuré", "en": "asset measured"},
}

# Candidates fetched by the KNN in degrees before the metric re-ranking: a degree of longitude is shorter than
# one of latitude away from the equator, so the nearest in degrees is not always the nearest in metres.
KNN_CANDIDATES = 8
DEFAULT_MAX_ACCESS_M = 150.0
# Water demand is allocated to the nearest junction (EPANET's convention); junctions sit at pipe ends, so a
# building may be a long block away from one.
DEFAULT_MAX_SERVICE_M = 250.0
DEFAULT_MAX_LIGHT_M = 50.0
DEFAULT_MAX_SENSOR_M = 100.0

# The layer a sensor of each kind measures when it names none (environmental kinds measure no asset).
SENSOR_KIND_LAYER: dict[str, str] = {
    "water_flow": "water_pipes",
    "water_pressure": "water_junctions",
    "tank_level": "water_tanks",
    "traffic_count": "road_edges",
    "traffic_speed": "road_edges",
    "light_state": "street_lights",
    "light_power": "street_lights",
    "building_energy": "buildings",
}
# Kinds added later fall back on their category (sensing.kinds.category).
SENSOR_CATEGORY_LAYER: dict[str, str] = {
    "water": "water_junctions",
    "traffic": "road_edges",
    "lighting": "street_lights",
    "energy": "buildings",
}
# Twin tables a link may point at (identifiers are never taken from input).
ASSET_TABLES: tuple[str, ...] = (
    "road_edges",
    "buildings",
    "critical_sites",
    "street_lights",
    "water_junctions",
    "water_tanks",
    "water_reservoirs",
    "water_pipes",
    "water_pumps",
    "water_valves",
)


@dataclass(frozen=True)
class Assets:
    """The dependents of one layer as read with their links: ids, names, kinds, residents, a point each.

    ``kinds`` is the building use, the critical-site kind, the sensor kind or the lamp type; ``lonlat`` a
    point on the asset (WGS84).
    """

    layer: str
    ids: np.ndarray  # int64, sorted
    names: tuple[str | None, ...]
    kinds: tuple[str | None, ...]
    residents: np.ndarray  # int64, 0 where unknown or not a dwelling
    lonlat: np.ndarray  # (n, 2) float64

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, asset_id: int) -> int:
        """Position of ``asset_id`` in the arrays (NotFound if absent)."""
        pos = int(np.searchsorted(self.ids, asset_id))
        if pos >= len(self.ids) or self.ids[pos] != asset_id:
            raise NotFound(
                f"no {self.layer} feature with id {asset_id} / aucun objet {self.layer} d'id {asset_id}"
            )
        return pos


@dataclass(frozen=True)
class LinkSet:
    """Links of one type from one dependent layer to one provider layer, as parallel arrays.

    ``unlinked_ids`` are the dependents with no provider within the distance (no link, not a guess).
    """

    kind: str
    dependent_layer: str
    provider_layer: str
    dependent_ids: np.ndarray  # int64
    provider_ids: np.ndarray  # int64
    distance_m: np.ndarray  # float64, nan when the stated provider has no geometry we can measure
    position: np.ndarray  # float64 fraction along a road arc, nan for other providers
    edited: np.ndarray  # bool: True = stated or edited, False = derived here
    max_distance_m: float
    unlinked_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    provider_names: tuple[str, ...] | None = None  # water junction names (the key the water network uses)

    def __len__(self) -> int:
        return len(self.dependent_ids)

    def origin(self, i: int) -> str:
        return "edited" if self.edited[i] else "derived"

    def provider_of(self, dependent_id: int) -> int | None:
        """Row of ``dependent_id``'s link, or None if it has none."""
        hits = np.flatnonzero(self.dependent_ids == dependent_id)
        return int(hits[0]) if len(hits) else None

    def record(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a JSON-ready dict."""
        row: dict[str, Any] = {
            "kind": self.kind,
            "dependent": {"layer": self.dependent_layer, "id": int(self.dependent_ids[i])},
            "provider": {"layer": self.provider_layer, "id": int(self.provider_ids[i])},
            "distance_m": None if np.isnan(self.distance_m[i]) else round(float(self.distance_m[i]), 2),
            "origin": self.origin(i),
        }
        if not np.isnan(self.position[i]):
            row["position"] = round(float(self.position[i]), 6)
        if self.provider_names is not None:
            row["provider"]["name"] = self.provider_names[i]
        return row


@dataclass(frozen=True)
class DependencyModel:
    """The dependency links of one territory, with the dependents' identities (names, kinds, residents)."""

    territory_id: int
    territory: str
    crs_epsg: int
    assets: dict[str, Assets]
    link_sets: tuple[LinkSet, ...]

    def links(self, kind: str, *, dependent_layer: str | None = None) -> list[LinkSet]:
        """The link sets of ``kind`` (optionally from one dependent layer only)."""
        if kind not in LINK_KINDS:
            raise InvalidInput(f"link kind {kind!r} is not one of {', '.join(LINK_KINDS)}")
        return [
            s
            for s in self.link_sets
            if s.kind == kind and (dependent_layer is None or s.dependent_layer == dependent_layer)
        ]

    def link_set(self, kind: str, dependent_layer: str) -> LinkSet | None:
        """The one link set of ``kind`` from ``dependent_layer`` (None if that type was not derived)."""
        found = self.links(kind, dependent_layer=dependent_layer)
        return found[0] if found else None

    def providers_of(self, layer: str, asset_id: int) -> list[dict[str, Any]]:
        """Every link whose dependent is ``(layer, asset_id)``."""
        return [
            s.record(int(i))
            for s in self.link_sets
            if s.dependent_layer == layer
            for i in np.flatnonzero(s.dependent_ids == asset_id)
        ]

    def dependents_of(self, layer: str, asset_id: int) -> list[dict[str, Any]]:
        """Every link whose provider is ``(layer, asset_id)``: what fails when it fails."""
        return [
            s.record(int(i))
            for s in self.link_sets
            if s.provider_layer == layer
            for i in np.flatnonzero(s.provider_ids == asset_id)
        ]

    def with_edited_link(
        self,
        kind: str,
        dependent_layer: str,
        dependent_id: int,
        provider_id: int,
        *,
        position: float | None = None,
        distance_m: float | None = None,
    ) -> DependencyModel:
        """A copy where ``dependent_id``'s link of ``kind`` points at ``provider_id`` (origin ``edited``).

        The provider layer stays that of the link set (a road arc for ``road_access``). No check of the
        provider against the database is made here: callers resolve it (``AccessModel`` rejects unknown arcs).
        """
        link_set = self.link_set(kind, dependent_layer)
        if link_set is None:
            raise NotFound(f"no {kind} links from {dependent_layer} in {self.territory!r}")
        if dependent_layer in self.assets:
            self.assets[dependent_layer].index_of(dependent_id)
        if position is not None and not 0.0 <= position <= 1.0:
            raise InvalidInput(f"position {position} is not a fraction of the arc's length between 0 and 1")
        row = link_set.provider_of(dependent_id)
        values = (
            int(provider_id),
            np.nan if distance_m is None else float(distance_m),
            np.nan if position is None else float(position),
        )
        if row is None:
            edited_set = dataclasses.replace(
                link_set,
                dependent_ids=np.append(link_set.dependent_ids, dependent_id),
                provider_ids=np.append(link_set.provider_ids, values[0]),
                distance_m=np.append(link_set.distance_m, values[1]),
                position=np.append(link_set.position, values[2]),
                edited=np.append(link_set.edited, True),
                unlinked_ids=link_set.unlinked_ids[link_set.unlinked_ids != dependent_id],
                provider_names=None if link_set.provider_names is None else (*link_set.provider_names, ""),
            )
        else:
            arrays = {
                name: getattr(link_set, name).copy()
                for name in ("provider_ids", "distance_m", "position", "edited")
            }
            arrays["provider_ids"][row], arrays["distance_m"][row], arrays["position"][row] = values
            arrays["edited"][row] = True
            edited_set = dataclasses.replace(link_set, **arrays)
        sets = tuple(edited_set if s is link_set else s for s in self.link_sets)
        return dataclasses.replace(self, link_sets=sets)

    def summary(self) -> dict[str, Any]:
        """Counts per link set, JSON-ready (the figures docs and reports quote)."""
        return {
            "territory": self.territory,
            "link_sets": [
                {
                    "kind": s.kind,
                    "title": LINK_TITLES[s.kind],
                    "dependent_layer": s.dependent_layer,
                    "provider_layer": s.provider_layer,
                    "links": len(s),
                    "edited": int(s.edited.sum()),
                    "unlinked": len(s.unlinked_ids),
                    "max_distance_m": s.max_distance_m,
                    "median_distance_m": None
                    if not np.isfinite(s.distance_m).any()
                    else round(float(np.nanmedian(s.distance_m)), 2),
                }
                for s in self.link_sets
            ],
        }


# ---------------------------------------------------------------------------------------------- SQL

# The nearest provider within %(max_m)s metres: KNN candidates by degrees, ranked by metres (ties: lowest id).
# The box (max_m in degrees of longitude, the longer ones, at the feature's latitude) keeps the GiST index in use
# even before ANALYZE has run after an import (else every arc of the territory is measured per feature).
_NEAREST = """
LEFT JOIN LATERAL (
    SELECT c.id AS provider_id, c.distance_m, {position} AS position{extra}
      FROM (SELECT k.id, k.geom_m{extra_k}, ST_Distance(k.geom_m, dm.geom_m) AS distance_m
              FROM (SELECT p.id, ST_Transform(p.geom, %(crs)s) AS geom_m{extra_inner}
                      FROM twin.{provider} p
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

_DEPENDENT_COLUMNS = {
    "buildings": "d.name, d.use, coalesce(d.residents_est, 0), ST_X(ST_PointOnSurface(d.geom)),"
    " ST_Y(ST_PointOnSurface(d.geom))",
    "critical_sites": "d.name, d.kind, 0, ST_X(d.geom), ST_Y(d.geom)",
    "street_lights": "NULL::text, d.lamp_type, 0, ST_X(d.geom), ST_Y(d.geom)",
    "sensors": "d.name, d.kind, 0, ST_X(d.geom), ST_Y(d.geom)",
}


def _link_sql(dependent: str, provider: str, *, arc: bool, provider_filter: str = "", where: str = "") -> str:
    extra = ", c.name" if provider == "water_junctions" else ""
    nearest = _NEAREST.format(
        position=_ARC_POSITION if arc else "NULL::double precision",
        extra=extra,
        extra_inner=", p.name" if extra else "",
        extra_k=", k.name" if extra else "",
        provider=provider,
        provider_filter=provider_filter,
    )
    return (
        f"SELECT d.id, {_DEPENDENT_COLUMNS[dependent]}, n.provider_id, n.distance_m, n.position"
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
_SENSOR_KINDS_SQL = """
SELECT s.kind, k.category FROM (SELECT DISTINCT kind FROM twin.sensors WHERE territory_id = %(t)s) s
  LEFT JOIN sensing.kinds k ON k.kind = s.kind
"""


# ---------------------------------------------------------------------------------------------- reading


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
    knn_candidates: int = KNN_CANDIDATES,
) -> DependencyModel:
    """Derive every link type of a territory from the twin tables.

    Parameters
    ----------
    url
        Database URL.
    territory
        The territory's id or name.
    road_graph
        Its resident routing graph: road access then only uses arcs ``profile`` may travel (the drivable
        graph). Without it every stored arc counts.
    max_access_m, max_service_m, max_light_m, max_sensor_m
        Farther than this, no link (the dependent is listed in ``unlinked_ids``).

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
    }
    for name, value in distances.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100_000:
            raise InvalidInput(f"{name} must be a distance in metres between 0 and 100000, not {value!r}")
    if not isinstance(knn_candidates, int) or not 1 <= knn_candidates <= 64:
        raise InvalidInput(f"knn_candidates must be an integer between 1 and 64, not {knn_candidates!r}")
    with connect(url) as conn:
        cur = conn.cursor(row_factory=tuple_row)
        row = cur.execute(
            "SELECT id, name, crs_epsg FROM twin.territory WHERE id::text = %s OR name = %s ORDER BY id LIMIT 1",
            (str(territory), str(territory)),
        ).fetchone()
        if row is None:
            raise NotFound(f"no territory {territory!r}; import one first / aucun territoire {territory!r}")
        tid, name, crs = int(row[0]), str(row[1]), int(row[2])
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
        plan: Sequence[tuple[str, str, str, float, str]] = (
            ("road_access", "buildings", "road_edges", max_access_m, access_filter),
            ("road_access", "critical_sites", "road_edges", max_access_m, access_filter),
            ("water_service", "buildings", "water_junctions", max_service_m, ""),
            ("street_light_road", "street_lights", "road_edges", max_light_m, ""),
        )
        for kind, dependent, provider, max_m, provider_filter in plan:
            sql = _link_sql(
                dependent, provider, arc=provider == "road_edges", provider_filter=provider_filter
            )
            rows = cur.execute(sql, {**params, "max_m": max_m}).fetchall()
            assets.setdefault(dependent, _assets(dependent, rows))
            sets.append(_link_set(kind, dependent, provider, rows, max_m))
        sensor_assets, sensor_sets = _sensor_links(cur, params, max_sensor_m)
        assets["sensors"] = sensor_assets
        sets += sensor_sets
    return DependencyModel(tid, name, crs, assets, tuple(sets))


def _assets(layer: str, rows: list[tuple[Any, ...]]) -> Assets:
    return Assets(
        layer=layer,
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        names=tuple(r[1] for r in rows),
        kinds=tuple(r[2] for r in rows),
        residents=np.array([r[3] for r in rows], dtype=np.int64),
        lonlat=np.array([(r[4], r[5]) for r in rows], dtype=np.float64).reshape(-1, 2),
    )


def _link_set(kind: str, dependent: str, provider: str, rows: list[tuple[Any, ...]], max_m: float) -> LinkSet:
    linked = [r for r in rows if r[6] is not None]
    return LinkSet(
        kind=kind,
        dependent_layer=dependent,
        provider_layer=provider,
        dependent_ids=np.array([r[0] for r in linked], dtype=np.int64),
        provider_ids=np.array([r[6] for r in linked], dtype=np.int64),
        distance_m=np.array([r[7] for r in linked], dtype=np.float64),
        position=np.array([np.nan if r[8] is None else r[8] for r in linked], dtype=np.float64),
        edited=np.zeros(len(linked), dtype=bool),
        max_distance_m=float(max_m),
        unlinked_ids=np.array([r[0] for r in rows if r[6] is None], dtype=np.int64),
        provider_names=tuple(str(r[9]) for r in linked) if provider == "water_junctions" else None,
    )


def _sensor_links(
    cur: psycopg.Cursor[tuple[Any, ...]], params: dict[str, Any], max_m: float
) -> tuple[Assets, list[LinkSet]]:
    """Stated links (``asset_layer``/``asset_id``) first; the others to the nearest asset of their kind's layer."""
    stated = cur.execute(_STATED_SENSOR_SQL, params).fetchall()
    categories = dict(cur.execute(_SENSOR_KINDS_SQL, params).fetchall())
    kinds_by_layer: dict[str, list[str]] = {}
    for kind, category in categories.items():
        layer = SENSOR_KIND_LAYER.get(kind) or SENSOR_CATEGORY_LAYER.get(category or "")
        if layer is not None:
            kinds_by_layer.setdefault(layer, []).append(kind)
    everyone = cur.execute(
        f"SELECT d.id, {_DEPENDENT_COLUMNS['sensors']} FROM twin.sensors d WHERE d.territory_id = %(t)s ORDER BY d.id",
        params,
    ).fetchall()
    assets = _assets("sensors", everyone)
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
        rows = cur.execute(sql, {**params, "kinds": kinds, "max_m": max_m}).fetchall()
        rows = [r for r in rows if int(r[0]) not in stated_ids]
        if rows:
            sets.append(_link_set("sensor_asset", "sensors", layer, rows, max_m))
    return assets, sets
