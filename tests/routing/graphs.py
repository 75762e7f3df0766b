"""Hand-built road networks for routing tests (no database): nodes on a plane near Monaco, straight arcs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from routing.network import RoadNetwork, TurnRestriction

# Degrees per metre near 43.73° N (good enough for tests that only need consistent geometry).
_DEG_PER_M_LAT = 1 / 111_320
_DEG_PER_M_LON = 1 / (111_320 * np.cos(np.radians(43.73)))
ORIGIN = (7.42, 43.73)


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    return ORIGIN[0] + x_m * _DEG_PER_M_LON, ORIGIN[1] + y_m * _DEG_PER_M_LAT


def network_from_arcs(
    xy_m: Sequence[tuple[float, float]],
    arcs: Sequence[tuple[int, int, float]],
    *,
    names: Sequence[str | None] | None = None,
    oneway: Sequence[bool] | None = None,
    tags: Sequence[dict[str, Any]] | None = None,
    highway: str = "residential",
    restrictions: Sequence[tuple[str, int, int, int]] = (),
) -> RoadNetwork:
    """A network with nodes at ``xy_m`` (metres east/north of ORIGIN) and arcs ``(tail, head, time_s)``.

    Lengths are the straight distances; speeds follow. ``restrictions`` are ``(kind, from_arc, via, to_arc)``.
    Database ids are 1-based positions (arc i has id i + 1, node j id j + 1). CRS: UTM 32N.
    """
    n = len(xy_m)
    coords = [lonlat(x, y) for x, y in xy_m]
    tails = np.array([a[0] for a in arcs], dtype=np.int32)
    heads = np.array([a[1] for a in arcs], dtype=np.int32)
    times = np.array([a[2] for a in arcs], dtype=np.float64)
    length = np.array(
        [max(np.hypot(xy_m[t][0] - xy_m[h][0], xy_m[t][1] - xy_m[h][1]), 1.0) for t, h, _ in arcs]
    )
    geometry = np.array([shapely.LineString([coords[t], coords[h]]) for t, h, _ in arcs], dtype=object)
    import pyproj

    to_m = pyproj.Transformer.from_crs(4326, 32632, always_xy=True)
    geometry_m = shapely.transform(geometry, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1])))
    network = RoadNetwork(
        territory_id=1,
        name="Test",
        crs_epsg=32632,
        node_ids=np.arange(1, n + 1, dtype=np.int64),
        node_lonlat=np.array(coords),
        edge_ids=np.arange(1, len(arcs) + 1, dtype=np.int64),
        tail=tails,
        head=heads,
        length_m=length,
        speed_kph=np.where(times > 0, length / np.maximum(times, 1e-9) * 3.6, 50.0),
        travel_time_s=times,
        oneway=np.array(oneway if oneway is not None else [False] * len(arcs), dtype=bool),
        highway=np.array([highway] * len(arcs), dtype=object),
        street_name=np.array(names if names is not None else [None] * len(arcs), dtype=object),
        tags=[dict(t) for t in tags] if tags is not None else [{} for _ in arcs],
        geometry=geometry,
        geometry_m=geometry_m,
    )
    for i, (kind, from_arc, via, to_arc) in enumerate(restrictions):
        network.restrictions.append(
            TurnRestriction(i + 1, kind, via, (from_arc,), (to_arc,), {"restriction": kind})
        )
    return network


def two_way(arcs: Sequence[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Each ``(u, v, t)`` and its reverse ``(v, u, t)``, interleaved."""
    return [a for u, v, t in arcs for a in ((u, v, t), (v, u, t))]
