"""Isochrones: the area reachable within each time budget, as polygons nested by construction.

Method: one bounded Dijkstra from the snapped start (limit = the largest budget). For each budget, every arc
reached is kept whole, and an arc entered but not finished is cut at the fraction the remaining time
allows. The polygon is the union of those pieces buffered by ``buffer_m`` in the territory's metric CRS
(a street corridor, not a convex or concave hull: it never claims a block the streets do not reach). Since
the pieces of a smaller budget are a subset of those of a larger one, and each polygon is also united with
the previous one, iso(t1) ⊂ iso(t2) holds exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyproj
import shapely
from shapely import ops

from routing.engine import DEFAULT_MAX_SNAP_M, snap_point
from routing.resident import ProfileState, TerritoryGraph
from routing.snapping import Snap, anchors_of
from twin.errors import InvalidInput

MAX_BUDGET_S = 4 * 3600
MAX_BUDGETS = 10
DEFAULT_BUFFER_M = 25.0


def validate_budgets(budgets_s: Sequence[float]) -> list[float]:
    """Sorted, distinct budgets; InvalidInput for none, too many, non-positive or above 4 h.

    Examples
    --------
    >>> validate_budgets([600, 300])
    [300.0, 600.0]
    """
    if not budgets_s:
        raise InvalidInput("give at least one time budget in seconds (budgets_s=300,600)")
    if len(budgets_s) > MAX_BUDGETS:
        raise InvalidInput(f"at most {MAX_BUDGETS} budgets per request, got {len(budgets_s)}")
    for b in budgets_s:
        if not np.isfinite(b) or b <= 0 or b > MAX_BUDGET_S:
            raise InvalidInput(
                f"budget {b} s is out of range: each budget must be > 0 and at most {MAX_BUDGET_S} s (4 h)"
            )
    return sorted({float(b) for b in budgets_s})


def isochrones(
    graph: TerritoryGraph,
    start: tuple[float, float],
    budgets_s: Sequence[float],
    *,
    profile: str = "car",
    at: datetime | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> list[tuple[float, shapely.Geometry, int]]:
    """``(budget_s, WGS84 polygon, arcs reached)`` for each budget, smallest first."""
    budgets = validate_budgets(budgets_s)
    if not 1.0 <= buffer_m <= 500.0:
        raise InvalidInput(f"buffer_m must be between 1 and 500 m, got {buffer_m}")
    state, overlay, _ = graph.engine(profile, at)
    snap = snap_point(state, *start, max_snap_m=max_snap_m, label="start")
    g, w = state.graph, overlay.weights_ms
    limit_ms = budgets[-1] * 1000.0
    cost = np.full(g.n_nodes, np.inf)
    for node, offset in anchors_of(g, w, snap)[0]:
        dist, _ = overlay.dijkstra.tree(node, limit_ms=max(limit_ms - offset, 0.0))
        cost = np.minimum(cost, dist + offset)
    network = g.network
    geometry_m = network.geometry_m
    to_lonlat = pyproj.Transformer.from_crs(network.crs_epsg, 4326, always_xy=True)
    start_pieces = _start_pieces(state, w, snap)
    results = []
    previous: shapely.Geometry | None = None
    open_arcs = w < 2**31 - 2
    done = np.zeros(g.n_arcs, dtype=bool)
    for budget in budgets:
        b_ms = budget * 1000.0
        entered = open_arcs & (cost[g.tail] <= b_ms)
        full = entered & (cost[g.tail] + w <= b_ms)
        partial = np.flatnonzero(entered & ~full)
        # Arcs already whole in the previous polygon are not buffered again (the union below keeps them).
        lines = [geometry_m[e] for e in np.unique(g.edge[full & ~done])]
        done = done | full
        for arc in partial:
            fraction = float((b_ms - cost[g.tail[arc]]) / w[arc]) if w[arc] else 1.0
            line = geometry_m[g.edge[arc]]
            if g.against[arc]:
                line = shapely.reverse(line)
            lines.append(ops.substring(line, 0.0, min(fraction, 1.0), normalized=True))
        for line, reach_ms in start_pieces:
            fraction = min(b_ms / reach_ms, 1.0) if reach_ms > 0 else 1.0
            # A start at the very end of its arc leaves a point, not a line.
            fits = line.geom_type == "LineString" and line.length > 0
            lines.append(ops.substring(line, 0.0, fraction, normalized=True) if fits else line)
        lines.append(shapely.Point(*state.snapper.to_metric.transform(*snap.snapped)))
        area = shapely.union_all(shapely.buffer(np.array(lines, dtype=object), buffer_m, quad_segs=2))
        if previous is not None:
            area = shapely.union(area, previous)
        previous = area
        polygon = shapely.transform(area, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
        results.append((budget, polygon, int(full.sum() + len(partial))))
    return results


def _start_pieces(
    state: ProfileState, weights_ms: np.ndarray, snap: Snap
) -> list[tuple[shapely.LineString, float]]:
    """The rest of each start arc from the snapped point, with the time (ms) to travel all of it."""
    g = state.graph
    pieces = []
    for edge, against, fraction in snap.traversals:
        arcs = g.arcs_of_traversal(edge, against)
        if not len(arcs) or weights_ms[arcs[0]] >= 2**31 - 2:
            continue
        line = g.network.geometry_m[edge]
        if against:
            line = shapely.reverse(line)
        piece = ops.substring(line, fraction, 1.0, normalized=True)
        pieces.append((piece, (1.0 - fraction) * float(weights_ms[arcs[0]])))
    return pieces
