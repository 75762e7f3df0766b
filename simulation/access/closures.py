"""What-if road closures: arcs closed by id, or the roads a flooded polygon cuts or slows down."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from routing.closures import Closure, arcs_of_closure
from routing.resident import TerritoryGraph
from twin.errors import InvalidInput

# Standing water from this depth makes a road impassable (French flood guidance: 30 cm float a car away);
# shallower water is assumed to halve speeds.
IMPASSABLE_WATER_DEPTH_M = 0.30
SHALLOW_WATER_SLOWDOWN = 2.0


def _what_if(
    graph: TerritoryGraph,
    *,
    kind: str,
    factor: float | None,
    edge_ids: tuple[int, ...],
    area: BaseGeometry | None,
    reason: str,
    ident: int,
) -> Closure:
    now = datetime.now(UTC)
    closure = Closure(
        ident, graph.territory_id, kind, factor, edge_ids, area, None, None, now, None, reason, "what-if", now
    )
    index = shapely.STRtree(graph.network.geometry) if area is not None else shapely.STRtree([])
    return dataclasses.replace(closure, arcs=arcs_of_closure(graph.network, closure, index))


def road_closure(
    graph: TerritoryGraph, edge_ids: Sequence[int], *, reason: str = "", ident: int = -1
) -> Closure:
    """A what-if closure of road arcs (database ids of ``twin.road_edges``).

    Raises
    ------
    InvalidInput
        No arc given, or ids that are not arcs of the territory (all of them are named).
    """
    ids = list(edge_ids)
    if not ids:
        raise InvalidInput("a road closure needs at least one road arc id / indiquez au moins un arc routier")
    if not all(isinstance(e, int | np.integer) and not isinstance(e, bool) for e in ids):
        raise InvalidInput(f"road arc ids are integers, not {ids!r}")
    known = graph.network.edge_ids
    unknown = sorted({int(e) for e in ids} - set(known[np.isin(known, ids)].tolist()))
    if unknown:
        raise InvalidInput(
            f"unknown road arc id(s) {unknown} in {graph.network.name!r} (ids of twin.road_edges) / "
            f"arc(s) routier(s) inconnu(s) {unknown}"
        )
    return _what_if(
        graph,
        kind="closure",
        factor=None,
        edge_ids=tuple(int(e) for e in ids),
        area=None,
        reason=reason or "what-if road closure",
        ident=ident,
    )


def flood_closure(
    graph: TerritoryGraph, area: BaseGeometry, *, water_level_m: float | None = None, ident: int = -2
) -> Closure:
    """The roads a flooded polygon (WGS84) cuts: closed from :data:`IMPASSABLE_WATER_DEPTH_M` of water (or
    when the depth is unknown), slowed ×:data:`SHALLOW_WATER_SLOWDOWN` below it.

    Raises
    ------
    InvalidInput
        Not a polygon, empty, invalid, outside longitude/latitude bounds, or a negative water level.
    """
    if not isinstance(area, BaseGeometry) or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"a flooded area is a Polygon or MultiPolygon in WGS84, not {type(area).__name__}")
    if area.is_empty:
        raise InvalidInput("the flooded polygon is empty / le polygone inondé est vide")
    if not area.is_valid:
        raise InvalidInput(
            f"the flooded polygon is invalid ({shapely.is_valid_reason(area)}); send a valid ring / polygone invalide"
        )
    if area.area == 0:
        raise InvalidInput("the flooded polygon has no area / le polygone inondé n'a pas de surface")
    w, s, e, n = area.bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise InvalidInput(
            f"the flooded polygon's bounds {area.bounds} are not longitudes/latitudes (EPSG:4326)"
        )
    if water_level_m is not None and (not math.isfinite(water_level_m) or water_level_m < 0):
        raise InvalidInput(f"water level {water_level_m!r} m is not a depth ≥ 0")
    passable = water_level_m is not None and water_level_m < IMPASSABLE_WATER_DEPTH_M
    depth = "unknown depth" if water_level_m is None else f"{water_level_m:g} m of water"
    return _what_if(
        graph,
        kind="slowdown" if passable else "closure",
        factor=SHALLOW_WATER_SLOWDOWN if passable else None,
        edge_ids=(),
        area=area,
        reason=f"flooded area ({depth})",
        ident=ident,
    )
