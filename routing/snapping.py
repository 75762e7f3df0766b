"""Snapping: a longitude/latitude to the nearest arc a profile may use, and the anchors a search starts from.

Distances are measured in the territory's projected CRS (metres). A point on a two-way street snaps to both
of its arcs; the search then leaves along whichever direction is cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from routing.graph import INF_WEIGHT_MS, ProfileGraph
from twin.errors import InvalidInput

# Ties within a centimetre are the same street (a two-way street's twin arcs share one geometry).
_TIE_M = 0.01


@dataclass(frozen=True)
class Snap:
    """Where a point lies on the graph: the traversals ``(edge, against, fraction)`` through that spot."""

    lon: float
    lat: float
    snapped: tuple[float, float]
    distance_m: float
    traversals: tuple[tuple[int, bool, float], ...]


class Snapper:
    """Nearest usable arc of one profile graph (an STRtree over the stored arcs it travels)."""

    def __init__(self, graph: ProfileGraph) -> None:
        network = graph.network
        self.graph = graph
        self.edges = np.unique(graph.edge)
        self.tree = shapely.STRtree(network.geometry_m[self.edges])
        self.to_metric = pyproj.Transformer.from_crs(4326, network.crs_epsg, always_xy=True)
        self.to_lonlat = pyproj.Transformer.from_crs(network.crs_epsg, 4326, always_xy=True)
        has = np.zeros(2 * network.n_arcs, dtype=bool)
        has[2 * graph.edge.astype(np.int64) + graph.against] = True
        self.has_traversal = has

    def snap(self, lon: float, lat: float, *, max_distance_m: float, label: str = "point") -> Snap:
        """Snap one point; InvalidInput naming ``label`` when no usable arc lies within ``max_distance_m``."""
        x, y = self.to_metric.transform(lon, lat)
        point = shapely.Point(x, y)
        found, dist = self.tree.query_nearest(point, max_distance=max_distance_m, return_distance=True)
        if not len(found):
            raise InvalidInput(
                f"{label} ({lon:.6f}, {lat:.6f}) is more than {max_distance_m:g} m from any street "
                f"the '{self.graph.profile.name}' profile may use in {self.graph.network.name}; "
                "send a point on or near a street of the territory (or raise max_snap_m)"
            )
        nearest = float(np.min(dist))
        close = self.tree.query(point, predicate="dwithin", distance=nearest + _TIE_M)
        geometries = self.graph.network.geometry_m
        traversals: list[tuple[int, bool, float]] = []
        snapped_xy: tuple[float, float] | None = None
        for i in sorted(close.tolist()):
            edge = int(self.edges[i])
            line = geometries[edge]
            length = line.length
            fraction = float(line.project(point) / length) if length > 0 else 0.0
            if snapped_xy is None:
                p = line.interpolate(fraction, normalized=True)
                snapped_xy = (p.x, p.y)
            if self.has_traversal[2 * edge]:
                traversals.append((edge, False, fraction))
            if self.has_traversal[2 * edge + 1]:
                traversals.append((edge, True, 1.0 - fraction))
        assert snapped_xy is not None
        slon, slat = self.to_lonlat.transform(*snapped_xy)
        return Snap(lon, lat, (float(slon), float(slat)), nearest, tuple(traversals))


def anchors_of(
    graph: ProfileGraph, weights_ms: np.ndarray, snap: Snap
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(sources, targets)`` of a snapped point: leave by the head of its arcs, arrive by their tails.

    Offsets are the parts of the arc travelled, in integer milliseconds; closed arcs give no anchor.
    """
    sources: list[tuple[int, int]] = []
    targets: list[tuple[int, int]] = []
    for edge, against, fraction in snap.traversals:
        arcs = graph.arcs_of_traversal(edge, against)
        if not len(arcs):
            continue
        weight = int(weights_ms[arcs[0]])
        if weight >= INF_WEIGHT_MS:
            continue
        sources.append((int(graph.head[arcs[0]]), round((1.0 - fraction) * weight)))
        for arc in arcs:
            targets.append((int(graph.tail[arc]), round(fraction * weight)))
    return sources, targets


def direct_cost_ms(
    graph: ProfileGraph, weights_ms: np.ndarray, start: Snap, end: Snap
) -> tuple[int, tuple[int, bool, float, float]] | None:
    """Cost of staying on one arc when both points lie on it in travel order (else None)."""
    best: tuple[int, tuple[int, bool, float, float]] | None = None
    for edge, against, f_start in start.traversals:
        for edge2, against2, f_end in end.traversals:
            if edge != edge2 or against != against2 or f_end < f_start:
                continue
            arcs = graph.arcs_of_traversal(edge, against)
            if not len(arcs) or weights_ms[arcs[0]] >= INF_WEIGHT_MS:
                continue
            cost = round((f_end - f_start) * int(weights_ms[arcs[0]]))
            if best is None or cost < best[0]:
                best = (cost, (edge, against, f_start, f_end))
    return best
