"""Travel times between the places of a dispatch problem: the routing engine's matrix (live closures applied),
or, until a territory's resident graph is available, a Dijkstra on its stored road arcs (closures ignored,
said so in the plan)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from routing._dispatch_model import UNREACHABLE_S

# The last metres between a place and the nearest road crossing, counted at a walking-and-parking pace.
SNAP_SPEED_MPS = 15 / 3.6
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Matrix:
    durations_s: np.ndarray
    distances_m: np.ndarray | None
    source: str  # "engine" (closures applied) or "fallback_dijkstra" (stored arcs, closures ignored)


def as_seconds(values: np.ndarray) -> np.ndarray:
    """Whole seconds, unreachable pairs (inf, nan, negative) as :data:`UNREACHABLE_S`."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values >= UNREACHABLE_S)
    return np.where(bad, UNREACHABLE_S, np.rint(np.where(bad, 0, values))).astype(np.int64)


def engine_matrix(graph: Any, points: list[tuple[float, float]], *, at: datetime | None) -> Matrix | None:
    """The routing engine's crew-van matrix on a resident graph (None without one): closures valid at ``at``."""
    if graph is None:
        return None
    try:
        from routing.engine import travel_time_matrix  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    durations, distances = travel_time_matrix(graph, points, profile="crew_van", at=at)
    return Matrix(as_seconds(durations), np.asarray(distances, dtype=np.float64), "engine")


def _local_xy(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    # Equirectangular metres around the territory: exact enough to pick the nearest crossing of a town.
    x = np.radians(lon) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    y = np.radians(lat) * EARTH_RADIUS_M
    return np.column_stack([x, y])


def fallback_matrix(nodes: list[Any], edges: list[Any], points: list[tuple[float, float]]) -> Matrix:
    """Fastest times on stored arcs (``twin.road_edges.travel_time_s``) by scipy's Dijkstra.

    ``nodes`` are rows (id, lon, lat) of ``twin.road_nodes``, ``edges`` rows (source_node, target_node,
    travel_time_s) of ``twin.road_edges``, of one territory.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    n = len(points)
    if not nodes or not edges:
        durations = np.full((n, n), UNREACHABLE_S, dtype=np.int64)
        np.fill_diagonal(durations, 0)
        return Matrix(durations, None, "fallback_dijkstra")
    ids = np.array([_get(r, "id", 0) for r in nodes], dtype=np.int64)
    lon = np.array([_get(r, "lon", 1) for r in nodes], dtype=np.float64)
    lat = np.array([_get(r, "lat", 2) for r in nodes], dtype=np.float64)
    index = {int(i): k for k, i in enumerate(ids)}
    src = np.array([index[int(_get(e, "source_node", 0))] for e in edges])
    dst = np.array([index[int(_get(e, "target_node", 1))] for e in edges])
    # Zero-cost arcs would vanish from a sparse matrix: keep them as a microsecond.
    cost = np.maximum(np.array([float(_get(e, "travel_time_s", 2)) for e in edges]), 1e-6)
    graph = csr_matrix((cost, (src, dst)), shape=(len(ids), len(ids)))
    lat0 = float(np.mean(lat))
    tree = cKDTree(_local_xy(lon, lat, lat0))
    plon = np.array([p[0] for p in points])
    plat = np.array([p[1] for p in points])
    gap_m, nearest = tree.query(_local_xy(plon, plat, lat0))
    sources, where = np.unique(nearest, return_inverse=True)
    times = dijkstra(graph, directed=True, indices=sources)[:, sources]
    snap = gap_m / SNAP_SPEED_MPS
    full = times[np.ix_(where, where)] + snap[:, None] + snap[None, :]
    np.fill_diagonal(full, 0.0)
    return Matrix(as_seconds(full), None, "fallback_dijkstra")


def _get(row: Any, key: str, index: int) -> Any:
    return row[key] if isinstance(row, dict) else row[index]
