"""Routes, matrices and closest facilities on a resident territory graph, honouring closures and profiles.

Everything here is synchronous and CPU-bound: the API calls it in a worker thread. ``travel_time_matrix`` is
the entry point crew dispatch uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely import ops

from routing.resident import Overlay, ProfileState, TerritoryGraph
from routing.search import DijkstraEngine, Engine
from routing.snapping import Snap, anchors_of, direct_cost_ms
from twin.errors import InvalidInput

if TYPE_CHECKING:
    from routing.service import RoutingService

DEFAULT_MAX_SNAP_M = 500.0
MAX_MATRIX_POINTS = 400  # origins + destinations of one matrix request


@dataclass
class Leg:
    """One stored arc travelled (``start``..``end`` fractions along the travel direction)."""

    edge: int
    against: bool
    start: float
    end: float


@dataclass
class RouteResult:
    """A route between two snapped points (``legs`` empty and ``duration_s`` None when unreachable)."""

    profile: str
    start: Snap
    end: Snap
    duration_s: float | None
    distance_m: float | None
    legs: list[Leg]
    engine: str

    def geometry(self, graph_state: ProfileState) -> shapely.LineString:
        """The route as one WGS84 LineString, from the snapped start to the snapped end."""
        network = graph_state.graph.network
        coords: list[tuple[float, float]] = []
        for leg in self.legs:
            line = network.geometry[leg.edge]
            if leg.against:
                line = shapely.reverse(line)
            piece = (
                line if (leg.start, leg.end) == (0.0, 1.0) else ops.substring(line, leg.start, leg.end, True)
            )
            points = [tuple(c) for c in shapely.get_coordinates(piece)]
            coords.extend(points[1:] if coords and points and coords[-1] == points[0] else points)
        if len(coords) < 2:
            coords = [self.start.snapped, self.end.snapped]
        return shapely.LineString(coords)


def snap_point(
    state: ProfileState,
    lon: float,
    lat: float,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    label: str = "point",
) -> Snap:
    """Snap ``(lon, lat)`` to the profile's nearest usable arc (InvalidInput beyond ``max_snap_m``)."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0) or not np.isfinite([lon, lat]).all():
        raise InvalidInput(f"{label} ({lon}, {lat}) is not a longitude, latitude pair in degrees (WGS84)")
    return state.snapper.snap(lon, lat, max_distance_m=max_snap_m, label=label)


def route(
    graph: TerritoryGraph,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    profile: str = "car",
    at: datetime | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    prefer: str = "auto",
) -> tuple[RouteResult, ProfileState]:
    """The fastest route from ``start`` to ``end`` (lon, lat) for ``profile`` with the closures valid at ``at``.

    Returns the result (unreachable: ``duration_s`` None) and the profile state it was computed on.
    """
    state, overlay, engine = graph.engine(profile, at, prefer=prefer)
    a = snap_point(state, *start, max_snap_m=max_snap_m, label="start")
    b = snap_point(state, *end, max_snap_m=max_snap_m, label="end")
    return route_between(state, overlay, engine, a, b), state


def route_between(state: ProfileState, overlay: Overlay, engine: Engine, a: Snap, b: Snap) -> RouteResult:
    g, w = state.graph, overlay.weights_ms
    sources, targets = anchors_of(g, w, a)[0], anchors_of(g, w, b)[1]
    direct = direct_cost_ms(g, w, a, b)
    path = engine.path(sources, targets) if sources and targets else None
    name = g.profile.name
    if path is None and direct is None:
        return RouteResult(name, a, b, None, None, [], engine.name)
    if direct is not None and (path is None or direct[0] <= path.cost_ms):
        edge, against, f0, f1 = direct[1]
        legs = [Leg(edge, against, f0, f1)]
        cost_ms = direct[0]
    else:
        assert path is not None
        first = _traversal_of(a, path.source, head=True, graph_state=state)
        last = _traversal_of(b, path.target, head=False, graph_state=state)
        legs = [Leg(first[0], first[1], first[2], 1.0)]
        legs += [Leg(int(g.edge[arc]), bool(g.against[arc]), 0.0, 1.0) for arc in path.arcs]
        legs.append(Leg(last[0], last[1], 0.0, last[2]))
        cost_ms = path.cost_ms
    length = g.network.length_m
    distance_m = float(sum(length[leg.edge] * (leg.end - leg.start) for leg in legs))
    return RouteResult(name, a, b, cost_ms / 1000.0, distance_m, legs, engine.name)


def _traversal_of(
    snap: Snap,
    chosen: tuple[int, int],
    *,
    head: bool,
    graph_state: ProfileState,
) -> tuple[int, bool, float]:
    """Which traversal of the snapped point an anchor came from (its node and offset identify it)."""
    g = graph_state.graph
    for edge, against, fraction in snap.traversals:
        for arc in g.arcs_of_traversal(edge, against):
            node = int(g.head[arc]) if head else int(g.tail[arc])
            if node == chosen[0]:
                return edge, against, fraction
    raise AssertionError("anchor without a traversal")  # anchors are built from these traversals


def matrix(
    graph: TerritoryGraph,
    origins: Sequence[tuple[float, float]],
    destinations: Sequence[tuple[float, float]],
    *,
    profile: str = "car",
    at: datetime | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    distances: bool = True,
    prefer: str = "auto",
) -> tuple[np.ndarray, np.ndarray | None, list[Snap], list[Snap], str]:
    """Many-to-many durations (s) and, with ``distances``, lengths (m); unreachable pairs are ``nan``.

    Durations alone use the fastest engine (CCH one-to-many sweeps); with distances the Dijkstra trees give
    both at once (a CCH would need one path query per pair, measured slower: docs/routing.md).
    """
    if len(origins) + len(destinations) > MAX_MATRIX_POINTS:
        raise InvalidInput(
            f"{len(origins)} origins + {len(destinations)} destinations exceed the matrix cap of "
            f"{MAX_MATRIX_POINTS} points; split the request"
        )
    if not origins or not destinations:
        raise InvalidInput("a matrix needs at least one origin and one destination")
    state, overlay, engine = graph.engine(profile, at, prefer=prefer)
    snaps_from = [
        snap_point(state, *p, max_snap_m=max_snap_m, label=f"origin {i}") for i, p in enumerate(origins)
    ]
    snaps_to = [
        snap_point(state, *p, max_snap_m=max_snap_m, label=f"destination {j}")
        for j, p in enumerate(destinations)
    ]
    g, w = state.graph, overlay.weights_ms
    src = [_anchors_with_lengths(state, w, s)[0] for s in snaps_from]
    dst = [_anchors_with_lengths(state, w, s)[1] for s in snaps_to]
    lengths: np.ndarray | None = None
    if distances or engine is overlay.dijkstra:
        dijkstra: DijkstraEngine = overlay.dijkstra
        cost_ms, lengths = dijkstra.costs_and_lengths(src, dst, lengths=distances)
        used = dijkstra.name
    else:
        cost_ms = engine.costs(
            [[a[:2] for a in group] for group in src], [[a[:2] for a in group] for group in dst]
        )
        used = engine.name
    for i, a in enumerate(snaps_from):
        for j, b in enumerate(snaps_to):
            direct = direct_cost_ms(g, w, a, b)
            if direct is not None and direct[0] <= cost_ms[i, j]:
                cost_ms[i, j] = direct[0]
                if lengths is not None:
                    edge, _, f0, f1 = direct[1]
                    lengths[i, j] = g.network.length_m[edge] * (f1 - f0)
    durations_s = np.where(np.isfinite(cost_ms), cost_ms / 1000.0, np.nan)
    if lengths is not None:
        lengths = np.where(np.isfinite(cost_ms), lengths, np.nan)
    return durations_s, lengths, snaps_from, snaps_to, used


def _anchors_with_lengths(
    state: ProfileState, weights_ms: np.ndarray, snap: Snap
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """Anchors with the metres travelled on the first/last arc as a third member."""
    g = state.graph
    sources: list[tuple[int, int, float]] = []
    targets: list[tuple[int, int, float]] = []
    for edge, against, fraction in snap.traversals:
        one = Snap(snap.lon, snap.lat, snap.snapped, snap.distance_m, ((edge, against, fraction),))
        s, t = anchors_of(g, weights_ms, one)
        length = float(g.network.length_m[edge])
        sources += [(n, o, (1.0 - fraction) * length) for n, o in s]
        targets += [(n, o, fraction * length) for n, o in t]
    return sources, targets


def travel_time_matrix(
    graph_or_service: TerritoryGraph | RoutingService,
    points: list[tuple[float, float]],
    *,
    profile: str = "crew_van",
    at: datetime | None = None,
    territory: int | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Square travel-time and distance matrices between ``points`` (lon, lat), honouring closures.

    This is the function crew dispatch calls; its signature is stable.

    Parameters
    ----------
    graph_or_service
        A resident :class:`TerritoryGraph`, or the app's :class:`RoutingService` (then the territory is
        ``territory``, or the one whose roads contain the points).
    points
        ``(lon, lat)`` in WGS84; each is snapped to the nearest arc the profile may use (500 m at most).
    profile
        ``car``, ``emergency``, ``crew_van`` or ``pedestrian``.
    at
        The instant whose closures apply (default: now).

    Returns
    -------
    durations_s, distances_m
        ``(n, n)`` float arrays; ``nan`` where ``j`` cannot be reached from ``i``; the diagonal is 0.

    Raises
    ------
    InvalidInput
        A point too far from any usable street, too many points, an unknown profile.
    """
    graph = graph_or_service if isinstance(graph_or_service, TerritoryGraph) else None
    if graph is None:
        graph = graph_or_service.graph_for_points(points, territory=territory)  # type: ignore[union-attr]
    durations_s, distances_m, *_ = matrix(graph, points, points, profile=profile, at=at, distances=True)
    assert distances_m is not None
    np.fill_diagonal(durations_s, 0.0)
    np.fill_diagonal(distances_m, 0.0)
    return durations_s, distances_m


def closest(
    graph: TerritoryGraph,
    point: tuple[float, float],
    candidates: Sequence[tuple[float, float]],
    *,
    k: int,
    profile: str = "car",
    at: datetime | None = None,
    direction: str = "from_facilities",
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> list[dict[str, Any]]:
    """The ``k`` candidates nearest ``point`` by travel time (``from_facilities``: they drive to the point,
    as a fire engine does; ``to_facilities``: the point drives to them, as to a hospital).

    Candidates that cannot be snapped or reached are left out. Returns ``{"index", "duration_s",
    "distance_m"}`` sorted by duration.
    """
    if direction not in ("from_facilities", "to_facilities"):
        raise InvalidInput(f"direction must be 'from_facilities' or 'to_facilities', not {direction!r}")
    state = graph.state(profile)
    usable = []
    for i, c in enumerate(candidates):
        try:
            snap_point(state, *c, max_snap_m=max_snap_m, label=f"candidate {i}")
        except InvalidInput:
            continue
        usable.append(i)
    if not usable:
        return []
    chosen = [candidates[i] for i in usable]
    if direction == "from_facilities":
        dur, dist, *_ = matrix(graph, chosen, [point], profile=profile, at=at, max_snap_m=max_snap_m)
        durations, lengths = dur[:, 0], dist[:, 0] if dist is not None else None
    else:
        dur, dist, *_ = matrix(graph, [point], chosen, profile=profile, at=at, max_snap_m=max_snap_m)
        durations, lengths = dur[0], dist[0] if dist is not None else None
    assert lengths is not None
    order = [i for i in np.argsort(durations, kind="stable") if np.isfinite(durations[i])][:k]
    return [
        {"index": usable[i], "duration_s": float(durations[i]), "distance_m": float(lengths[i])}
        for i in order
    ]
