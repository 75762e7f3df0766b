"""Road closures → isolated areas and emergency-access degradation, on a territory's resident routing graph.

What-if closures are :class:`routing.closures.Closure` objects laid over the graph with the live ones, by the
same mechanism as routing (``edge_factor`` → ``ProfileGraph.weights_with``), so a what-if answers "what if
this closure came on top of today's". Before = the live overlay; after = live + what-if.

For each state, on the CSR arrays of the overlay's Dijkstra engine:

* the *main component* is the largest strongly connected component before the event; a node is isolated when
  it was in it before and is not any more (cannot be reached from it, or cannot get back to it);
* travel time from the nearest fire station is ONE multi-source Dijkstra (scipy, ``min_only=True``) from one
  virtual node per station, joined to its anchors by their offsets; time to the nearest hospital is one on
  the reversed graph. A point (building, critical site) is reached through its road-access link, exactly as
  routing reaches a snapped point (same anchors, offsets and same-arc shortcut), so the costs equal
  ``routing.engine.matrix``'s to the millisecond.

Weights only grow (a closure closes, a slowdown multiplies by ≥ 1), so closing more never shortens a trip and
never reconnects a node; an access that got worse crossed a changed arc on its former path: that arc's street
is the reason given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph
from shapely.geometry.base import BaseGeometry

from routing.closures import Closure, arcs_of_closure, edge_factor
from routing.graph import INF_WEIGHT_MS
from routing.resident import Overlay, ProfileState, TerritoryGraph
from routing.search import DijkstraEngine
from routing.snapping import Snap
from simulation.dependencies import DependencyModel
from twin.errors import InvalidInput, NotFound

# Standing water from this depth makes a road impassable (French flood guidance: 30 cm float a car away);
# shallower water is assumed to halve speeds.
IMPASSABLE_WATER_DEPTH_M = 0.30
SHALLOW_WATER_SLOWDOWN = 2.0
_TWIN_LENGTH_TOLERANCE_M = 0.5

KIND_LABELS: dict[str, tuple[str, str]] = {
    "hospital": ("Hôpital", "Hospital"),
    "clinic": ("Clinique", "Clinic"),
    "school": ("École", "School"),
    "kindergarten": ("Crèche", "Kindergarten"),
    "nursing_home": ("EHPAD", "Nursing home"),
    "fire_station": ("Centre de secours", "Fire station"),
    "police": ("Police", "Police"),
    "town_hall": ("Mairie", "Town hall"),
    "water_works": ("Ouvrage d'eau potable", "Water works"),
    "pharmacy": ("Pharmacie", "Pharmacy"),
    "shelter": ("Hébergement d'urgence", "Shelter"),
    "power_substation": ("Poste électrique", "Power substation"),
}
AccessCause = Literal["isolated", "degraded"]


@dataclass(frozen=True)
class AccessPoint:
    """Something reached by road: where it opens onto the graph (``traversals`` as routing's ``Snap``)."""

    layer: str
    id: int
    name: str | None
    kind: str | None
    residents: int
    lonlat: tuple[float, float]
    traversals: tuple[tuple[int, bool, float], ...]  # (stored arc, against, fraction in travel direction)

    def label(self) -> dict[str, str]:
        """How reasons name it, e.g. ``École de la Condamine`` or ``Hôpital n° 12``.

        Examples
        --------
        >>> AccessPoint("critical_sites", 12, None, "hospital", 0, (7.4, 43.7), ()).label()
        {'fr': 'Hôpital n° 12', 'en': 'Hospital #12'}
        """
        if self.name:
            return {"fr": self.name, "en": self.name}
        fr, en = KIND_LABELS.get(
            self.kind or "", ("Bâtiment", "Building") if self.layer == "buildings" else ("Site", "Site")
        )
        return {"fr": f"{fr} n° {self.id}", "en": f"{en} #{self.id}"}


def access_point_from_link(
    state: ProfileState,
    *,
    layer: str,
    id: int,
    name: str | None = None,
    kind: str | None = None,
    residents: int = 0,
    lonlat: tuple[float, float] | None = None,
    edge_id: int,
    position: float,
) -> AccessPoint:
    """The point at ``position`` (fraction, stored direction) along road arc ``edge_id``, both ways if two-way.

    The twin arc of a two-way street (same nodes reversed, same length) is added, as the snapper would.

    Raises
    ------
    InvalidInput
        ``edge_id`` is not a road arc of the territory, or ``profile`` may not travel it.
    """
    network, graph = state.graph.network, state.graph
    arcs = network.arcs_of_edge_ids(np.array([edge_id], dtype=np.int64))
    if not len(arcs):
        raise InvalidInput(
            f"{layer} {id}: road arc {edge_id} is not an arc of {network.name!r} / "
            f"l'arc routier {edge_id} n'existe pas dans {network.name!r}"
        )
    if not 0.0 <= position <= 1.0 or not math.isfinite(position):
        raise InvalidInput(f"{layer} {id}: position {position} along arc {edge_id} is not between 0 and 1")
    arc = int(arcs[0])
    twins = np.flatnonzero(
        (network.tail == network.head[arc])
        & (network.head == network.tail[arc])
        & (np.abs(network.length_m - network.length_m[arc]) <= _TWIN_LENGTH_TOLERANCE_M)
    )
    candidates = [(arc, False, position), (arc, True, 1.0 - position)]
    for twin in twins.tolist():
        candidates += [(twin, False, 1.0 - position), (twin, True, position)]
    has = np.zeros(2 * network.n_arcs, dtype=bool)
    has[2 * graph.edge.astype(np.int64) + graph.against] = True
    traversals = tuple((e, a, float(f)) for e, a, f in candidates if has[2 * e + int(a)])
    if not traversals:
        raise InvalidInput(
            f"{layer} {id}: road arc {edge_id} is not usable by the '{graph.profile.name}' profile; "
            "link it to a street that vehicle may use"
        )
    if lonlat is None:  # the access point itself
        spot = network.geometry[arc].interpolate(position, normalized=True)
        lonlat = (float(spot.x), float(spot.y))
    return AccessPoint(layer, int(id), name, kind, int(residents), lonlat, traversals)


def access_point_from_snap(
    snap: Snap, *, layer: str, id: int, name: str | None = None, kind: str | None = None, residents: int = 0
) -> AccessPoint:
    """The point routing snapped (``routing.engine.snap_point``): same anchors as a route to or from it."""
    return AccessPoint(layer, int(id), name, kind, int(residents), (snap.lon, snap.lat), snap.traversals)


def access_points_from_dependencies(
    graph: TerritoryGraph, model: DependencyModel, *, profile: str = "emergency", buildings: bool = True
) -> list[AccessPoint]:
    """Critical sites (and buildings) with a road-access link, as access points of ``profile``."""
    if model.territory_id != graph.territory_id:
        raise InvalidInput(
            f"dependency model of {model.territory!r} does not match graph {graph.network.name!r}"
        )
    state = graph.state(profile)
    points: list[AccessPoint] = []
    for layer in ("critical_sites", "buildings") if buildings else ("critical_sites",):
        links, assets = model.link_set("road_access", layer), model.assets.get(layer)
        if links is None or assets is None:
            continue
        for i in range(len(links)):
            k = assets.index_of(int(links.dependent_ids[i]))
            points.append(
                access_point_from_link(
                    state,
                    layer=layer,
                    id=int(assets.ids[k]),
                    name=assets.names[k],
                    kind=assets.kinds[k],
                    residents=int(assets.residents[k]),
                    lonlat=(float(assets.lonlat[k, 0]), float(assets.lonlat[k, 1])),
                    edge_id=int(links.provider_ids[i]),
                    position=float(np.nan_to_num(links.position[i], nan=0.5)),
                )
            )
    return points


# ---------------------------------------------------------------------------------------------- what-if closures


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


# ---------------------------------------------------------------------------------------------- one state


@dataclass
class _State:
    """Reachability and nearest-facility times of every point under one weight vector."""

    weights: np.ndarray
    engine: DijkstraEngine
    in_main: np.ndarray  # per graph node
    reach_in: np.ndarray
    reach_out: np.ndarray
    reachable: np.ndarray  # per point
    can_leave: np.ndarray
    from_station_ms: np.ndarray  # inf: unreachable / no station
    station: np.ndarray  # facility index, -1
    to_hospital_ms: np.ndarray
    hospital: np.ndarray
    pred_from: np.ndarray | None = None  # forward tree from stations (graph + virtual nodes)
    pred_to: np.ndarray | None = None  # reversed tree from hospitals
    best_arrival: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    best_departure: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class _Anchors:
    """Flat anchors: ``point`` k enters the graph at ``node`` through ``arc`` (weight arc ``weight_arc``)."""

    point: np.ndarray
    node: np.ndarray
    weight_arc: np.ndarray
    fraction: np.ndarray  # part of the weight paid on the arc (arrival: f; departure: 1 - f)


def _group_min(values: np.ndarray, owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum of ``values`` per owner and the position of that minimum (-1 where none)."""
    best = np.full(n, np.inf)
    np.minimum.at(best, owner, values)
    arg = np.full(n, -1, dtype=np.int64)
    hits = np.flatnonzero(np.isfinite(values) & (values == best[owner]))
    arg[owner[hits[::-1]]] = hits[::-1]  # the first anchor reaching the minimum wins
    return best, arg


class AccessModel:
    """Access points of one territory and profile, with their anchors, built once; :meth:`assess` per event.

    Parameters
    ----------
    graph
        The territory's resident routing graph (its live closures make the "before").
    points
        Buildings and critical sites with their road access (:func:`access_points_from_dependencies`).
    fire_station_ids, hospital_ids
        Ids (layer ``critical_sites``) of the facilities; default: the points of kind ``fire_station`` and
        ``hospital``.
    """

    def __init__(
        self,
        graph: TerritoryGraph,
        points: Sequence[AccessPoint],
        *,
        profile: str = "emergency",
        fire_station_ids: Sequence[int] | None = None,
        hospital_ids: Sequence[int] | None = None,
    ) -> None:
        self.graph = graph
        self.profile = profile
        self.points = list(points)
        self.state = graph.state(profile)
        g = self.state.graph
        self.stations = self._facilities("fire_station", fire_station_ids)
        self.hospitals = self._facilities("hospital", hospital_ids)
        rows_in: list[tuple[int, int, int, float]] = []
        rows_out: list[tuple[int, int, int, float]] = []
        for k, point in enumerate(self.points):
            for edge, against, fraction in point.traversals:
                arcs = g.arcs_of_traversal(edge, against)
                if not len(arcs):
                    continue
                rows_out.append((k, int(g.head[arcs[0]]), int(arcs[0]), 1.0 - fraction))
                rows_in += [(k, int(g.tail[a]), int(arcs[0]), fraction) for a in arcs]
        self.arrival = _anchors(rows_in)
        self.departure = _anchors(rows_out)
        # Anchors are in point order: a point's anchors are one slice.
        self.arrival_ptr = np.searchsorted(self.arrival.point, np.arange(len(self.points) + 1))
        self.departure_ptr = np.searchsorted(self.departure.point, np.arange(len(self.points) + 1))
        self._direct_from = self._direct_pairs(self.stations, leaving=True)
        self._direct_to = self._direct_pairs(self.hospitals, leaving=False)
        self._baseline: tuple[Overlay, _State] | None = None
        self.street_cache: dict[tuple[int, ...], dict[str, str]] = {}

    def _facilities(self, kind: str, ids: Sequence[int] | None) -> np.ndarray:
        by_id = {p.id: k for k, p in enumerate(self.points) if p.layer == "critical_sites"}
        if ids is None:
            return np.array(
                [k for k, p in enumerate(self.points) if p.layer == "critical_sites" and p.kind == kind],
                dtype=np.int64,
            )
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise NotFound(f"{kind} ids {unknown} are not critical sites with a road access in this model")
        return np.array([by_id[i] for i in ids], dtype=np.int64)

    def _direct_pairs(self, facilities: np.ndarray, *, leaving: bool) -> tuple[np.ndarray, ...]:
        """Facility/point pairs on one traversal in travel order (routing's ``direct_cost_ms`` case)."""
        g = self.state.graph
        rows: list[tuple[int, int, int, float]] = []
        wanted = set(facilities.tolist())
        on_traversal: dict[tuple[int, bool], list[tuple[int, float]]] = {}
        for k, point in enumerate(self.points):
            for edge, against, fraction in point.traversals:
                on_traversal.setdefault((edge, against), []).append((k, fraction))
        for (edge, against), members in on_traversal.items():
            arcs = g.arcs_of_traversal(edge, against)
            for f, f_frac in members:
                if f not in wanted or not len(arcs):
                    continue
                for k, p_frac in members:
                    start, end = (f_frac, p_frac) if leaving else (p_frac, f_frac)
                    if end >= start:
                        rows.append((k, f, int(arcs[0]), end - start))
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        return (
            np.array(cols[0], dtype=np.int64),
            np.array(cols[1], dtype=np.int64),
            np.array(cols[2], dtype=np.int64),
            np.array(cols[3], dtype=np.float64),
        )

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, weights: np.ndarray, engine: DijkstraEngine, main: np.ndarray | None) -> _State:
        n = self.state.graph.n_nodes
        matrix = engine.matrix
        # Closed arcs are +inf in the engine's matrix; copies, as eliminate_zeros works in place.
        open_ = sp.csr_matrix(
            (np.isfinite(matrix.data).astype(np.int8), matrix.indices.copy(), matrix.indptr.copy()),
            shape=(n, n),
        )
        open_.eliminate_zeros()
        _, labels = csgraph.connected_components(open_, directed=True, connection="strong")
        # Before: the largest component; after: the one that kept most of the nodes of the former.
        main_label = np.bincount(labels if main is None else labels[main]).argmax()
        root = int(np.flatnonzero(labels == main_label)[0])
        reach_in = _reached(open_, root)
        reach_out = _reached(open_.T.tocsr(), root)
        in_main = reach_in & reach_out
        m = len(self.points)
        arr_open = weights[self.arrival.weight_arc] < INF_WEIGHT_MS
        dep_open = weights[self.departure.weight_arc] < INF_WEIGHT_MS
        reachable = np.zeros(m, dtype=bool)
        reachable[self.arrival.point[arr_open & reach_in[self.arrival.node]]] = True
        can_leave = np.zeros(m, dtype=bool)
        can_leave[self.departure.point[dep_open & reach_out[self.departure.node]]] = True
        state = _State(
            weights,
            engine,
            in_main,
            reach_in,
            reach_out,
            reachable,
            can_leave,
            np.full(m, np.inf),
            np.full(m, -1),
            np.full(m, np.inf),
            np.full(m, -1),
        )
        if len(self.stations):
            state.from_station_ms, state.station, state.pred_from, state.best_arrival = self._nearest(
                matrix, weights, self.stations, self.departure, self.arrival, self._direct_from
            )
        if len(self.hospitals):
            state.to_hospital_ms, state.hospital, state.pred_to, state.best_departure = self._nearest(
                matrix.T.tocsr(), weights, self.hospitals, self.arrival, self.departure, self._direct_to
            )
        return state

    def _nearest(
        self,
        matrix: sp.csr_matrix,
        weights: np.ndarray,
        facilities: np.ndarray,
        leave: _Anchors,
        reach: _Anchors,
        direct: tuple[np.ndarray, ...],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One multi-source Dijkstra from ``facilities`` (their ``leave`` anchors) to every point (``reach``)."""
        n, k = matrix.shape[0], len(facilities)
        slot = np.full(len(self.points), -1, dtype=np.int64)
        slot[facilities] = np.arange(k)
        mine = np.flatnonzero(slot[leave.point] >= 0)
        w = weights[leave.weight_arc[mine]]
        ok = w < INF_WEIGHT_MS
        mine, w = mine[ok], w[ok]
        rows = slot[leave.point[mine]]
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=k)
        indptr = np.concatenate([matrix.indptr, matrix.indptr[-1] + np.cumsum(counts)])
        offsets = np.rint(leave.fraction[mine] * w)[order]
        augmented = sp.csr_matrix(
            (
                np.concatenate([matrix.data, offsets]),
                np.concatenate([matrix.indices, leave.node[mine][order]]),
                indptr,
            ),
            shape=(n + k, n + k),
        )
        dist, pred, source = csgraph.dijkstra(
            augmented, directed=True, indices=np.arange(n, n + k), min_only=True, return_predecessors=True
        )
        wr = weights[reach.weight_arc]
        cost = np.where(wr < INF_WEIGHT_MS, dist[reach.node] + np.rint(reach.fraction * wr), np.inf)
        best, arg = _group_min(cost, reach.point, len(self.points))
        nearest = np.where(arg >= 0, source[reach.node[np.maximum(arg, 0)]] - n, -1)
        points, facility, arcs, span = direct
        if len(points):
            wd = weights[arcs]
            dcost = np.where(wd < INF_WEIGHT_MS, np.rint(span * wd), np.inf)
            better = np.flatnonzero(dcost < best[points])
            for j in better[np.argsort(-dcost[better])]:  # cheapest last: it wins
                best[points[j]], nearest[points[j]], arg[points[j]] = dcost[j], slot[facility[j]], -1
        nearest = np.where(np.isfinite(best), nearest, -1)
        return best, nearest, pred, arg

    def _before(self, at: datetime | None) -> tuple[Overlay, _State]:
        _, overlay = self.graph.overlay(self.profile, at)
        if self._baseline is None or self._baseline[0] is not overlay:
            self._baseline = (overlay, self._evaluate(overlay.weights_ms, overlay.dijkstra, None))
        return self._baseline

    def assess(self, closures: Sequence[Closure], *, at: datetime | None = None) -> AccessImpact:
        """What these what-if closures do on top of the live ones valid at ``at`` (now by default)."""
        for c in closures:
            if not isinstance(c, Closure):
                raise InvalidInput(f"a what-if closure is a routing Closure, not {type(c).__name__}")
            if c.territory_id != self.graph.territory_id:
                raise InvalidInput(
                    f"closure {c.id} belongs to territory {c.territory_id}, not {self.graph.network.name!r}"
                )
        overlay, before = self._before(at)
        live = self.graph.active_closures(self.profile, at)
        factor = edge_factor(
            self.graph.network.n_arcs, [*live, *[c for c in closures if c.applies_to(self.profile)]]
        )
        weights = self.state.graph.weights_with(factor)
        changed = weights > overlay.weights_ms
        if not changed.any():
            after = before
        else:
            after = self._evaluate(weights, DijkstraEngine(self.state.graph, weights), before.in_main)
        return _impact(self, list(closures), before, after, changed)


def _anchors(rows: list[tuple[int, int, int, float]]) -> _Anchors:
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return _Anchors(
        np.array(cols[0], dtype=np.int64),
        np.array(cols[1], dtype=np.int64),
        np.array(cols[2], dtype=np.int64),
        np.array(cols[3], dtype=np.float64),
    )


def _reached(matrix: sp.csr_matrix, root: int) -> np.ndarray:
    order = csgraph.breadth_first_order(matrix, root, directed=True, return_predecessors=False)
    seen = np.zeros(matrix.shape[0], dtype=bool)
    seen[order] = True
    return seen


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PointImpact:
    """One point whose access changed, before → after (times in seconds, None when unreachable)."""

    point: int
    cause: AccessCause
    area: int | None
    from_station_s: tuple[float | None, float | None]
    to_hospital_s: tuple[float | None, float | None]
    station: tuple[int | None, int | None]  # point index of the nearest station
    hospital: tuple[int | None, int | None]
    edges: tuple[int, ...]  # stored arcs blamed (closed or slowed by the event)
    reason: dict[str, str]


@dataclass(frozen=True)
class IsolatedArea:
    """Nodes cut off together from the main component, and what stands there."""

    index: int
    node_ids: tuple[int, ...]  # twin.road_nodes ids
    points: tuple[int, ...]
    residents: int
    edges: tuple[int, ...]  # stored arcs closed at its boundary
    cut_in: bool  # cannot be reached from the rest of the territory
    cut_out: bool  # cannot get back to it
    reason: dict[str, str]


@dataclass(frozen=True)
class AccessImpact:
    """Everything an event does to road access; :meth:`as_json` for reports."""

    model: AccessModel
    closures: list[Closure]
    closed_edges: tuple[int, ...]  # stored arcs the event closed
    slowed_edges: tuple[int, ...]
    areas: tuple[IsolatedArea, ...]
    affected: tuple[PointImpact, ...]
    before: _State
    after: _State

    @property
    def isolated_points(self) -> tuple[int, ...]:
        return tuple(p.point for p in self.affected if p.cause == "isolated")

    def times_s(self, k: int) -> dict[str, Any]:
        """Point ``k``'s times before and after, and its nearest facilities."""
        return {
            "from_fire_station_s": [
                _seconds(self.before.from_station_ms[k]),
                _seconds(self.after.from_station_ms[k]),
            ],
            "to_hospital_s": [
                _seconds(self.before.to_hospital_ms[k]),
                _seconds(self.after.to_hospital_ms[k]),
            ],
            "reachable": [bool(self.before.reachable[k]), bool(self.after.reachable[k])],
            "can_leave": [bool(self.before.can_leave[k]), bool(self.after.can_leave[k])],
        }

    def as_json(self) -> dict[str, Any]:
        model, network = self.model, self.model.graph.network
        points = model.points

        def ref(k: int | None) -> dict[str, Any] | None:
            return (
                None if k is None else {"layer": points[k].layer, "id": points[k].id, "name": points[k].name}
            )

        return {
            "profile": model.profile,
            "closed_edge_ids": [int(network.edge_ids[e]) for e in self.closed_edges],
            "slowed_edge_ids": [int(network.edge_ids[e]) for e in self.slowed_edges],
            "fire_stations": [ref(int(k)) for k in model.stations],
            "hospitals": [ref(int(k)) for k in model.hospitals],
            "isolated_areas": [
                {
                    "index": a.index,
                    "road_node_ids": list(a.node_ids),
                    "cut_in": a.cut_in,
                    "cut_out": a.cut_out,
                    "assets": [ref(k) for k in a.points],
                    "residents": a.residents,
                    "closed_edge_ids": [int(network.edge_ids[e]) for e in a.edges],
                    "reason": a.reason,
                }
                for a in self.areas
            ],
            "critical_sites": [
                {**(ref(k) or {}), "kind": points[k].kind, **self.times_s(k)}
                for k in range(len(points))
                if points[k].layer == "critical_sites"
            ],
            "affected": [
                {
                    **(ref(p.point) or {}),
                    "kind": points[p.point].kind,
                    "residents": points[p.point].residents,
                    "cause": p.cause,
                    "area": p.area,
                    "from_fire_station_s": list(p.from_station_s),
                    "to_hospital_s": list(p.to_hospital_s),
                    "nearest_fire_station": [ref(s) for s in p.station],
                    "nearest_hospital": [ref(h) for h in p.hospital],
                    "edge_ids": [int(network.edge_ids[e]) for e in p.edges],
                    "reason": p.reason,
                }
                for p in self.affected
            ],
        }


def _seconds(ms: float) -> float | None:
    return None if not np.isfinite(ms) else round(float(ms) / 1000.0, 3)


def format_duration(seconds: float | None) -> str:
    """``2 min 05 s`` (same in French and English); ``—`` when unreachable.

    Examples
    --------
    >>> format_duration(125.4), format_duration(42.0), format_duration(None)
    ('2 min 05 s', '42 s', '—')
    """
    if seconds is None:
        return "—"
    total = round(seconds)
    return f"{total // 60} min {total % 60:02d} s" if total >= 60 else f"{total} s"


def street_names(model: AccessModel, edges: Sequence[int]) -> dict[str, str]:
    """Streets of these stored arcs, each once, e.g. ``Boulevard Albert 1er, voie sans nom (arc 12)``."""
    key = tuple(edges)
    cached = model.street_cache.get(key)
    if cached is not None:  # every point of an isolated area names the same streets
        return cached
    network = model.graph.network
    fr: list[str] = []
    en: list[str] = []
    for e in edges:
        name = network.street_name[e]
        f = str(name) if name else f"voie sans nom (arc {int(network.edge_ids[e])})"
        if f not in fr:
            fr.append(f)
            en.append(str(name) if name else f"unnamed road (arc {int(network.edge_ids[e])})")
    named = {"fr": ", ".join(fr), "en": ", ".join(en), "n": str(len(fr))}
    if len(model.street_cache) < 10_000:
        model.street_cache[key] = named
    return named


def _blamed_arcs(model: AccessModel, state: _State, changed: np.ndarray, *, forward: bool) -> np.ndarray:
    """Per point, a graph arc whose weight grew on its before path from the nearest station (``forward``) or to
    the nearest hospital, the one nearest the point (-1: none).

    The tree's arcs are labelled changed or not, and every node takes the label of its nearest labelled
    ancestor by pointer jumping (log-depth numpy steps instead of one walk per point).
    """
    m = len(model.points)
    pred = state.pred_from if forward else state.pred_to
    best = state.best_arrival if forward else state.best_departure
    if pred is None:
        return np.full(m, -1, dtype=np.int64)
    anchors = model.arrival if forward else model.departure
    n = model.state.graph.n_nodes
    engine = state.engine
    nodes = np.arange(n)
    parent = pred[:n].astype(np.int64)
    in_tree = (parent >= 0) & (parent < n)
    tails, heads = (parent, nodes) if forward else (nodes, parent)
    keys = tails[in_tree] * n + heads[in_tree]
    label = np.full(n, -1, dtype=np.int64)
    tree_arcs = engine.pair_arc[np.searchsorted(engine.pair_keys, keys)]
    label[in_tree] = np.where(changed[tree_arcs], tree_arcs, -1)
    # A root's arc is the facility's own anchor arc (from its virtual node).
    facilities = model.stations if forward else model.hospitals
    leave = model.departure if forward else model.arrival
    slot = np.full(m, -1, dtype=np.int64)
    slot[facilities] = np.arange(len(facilities))
    theirs = np.flatnonzero(slot[leave.point] >= 0)
    theirs = theirs[
        changed[leave.weight_arc[theirs]] & (pred[leave.node[theirs]] == n + slot[leave.point[theirs]])
    ]
    label[leave.node[theirs]] = leave.weight_arc[theirs]
    parent = np.where(in_tree, parent, nodes)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2))))) + 1):
        label = np.where(label >= 0, label, label[parent])
        parent = parent[parent]
    blamed = np.full(m, -1, dtype=np.int64)
    has = best >= 0
    chosen = best[has]
    own = anchors.weight_arc[chosen]
    blamed[has] = np.where(changed[own], own, label[anchors.node[chosen]])
    return blamed


def _impact(
    model: AccessModel, closures: list[Closure], before: _State, after: _State, changed: np.ndarray
) -> AccessImpact:
    g, network = model.state.graph, model.graph.network
    closed_arcs = changed & (after.weights >= INF_WEIGHT_MS)
    closed_edges = tuple(sorted(set(g.edge[closed_arcs].tolist())))
    slowed_edges = tuple(sorted(set(g.edge[changed & ~closed_arcs].tolist()) - set(closed_edges)))
    lost = before.in_main & ~after.in_main
    area_of_node = np.full(g.n_nodes, -1, dtype=np.int64)
    count = 0
    if lost.any():
        nodes = np.flatnonzero(lost)
        count, labels = csgraph.connected_components(before.engine.matrix[nodes][:, nodes], directed=False)
        area_of_node[nodes] = labels
    isolated = (before.reachable & ~after.reachable) | (before.can_leave & ~after.can_leave)
    worse = (after.from_station_ms > before.from_station_ms) | (after.to_hospital_ms > before.to_hospital_ms)
    blamed_from = _blamed_arcs(model, before, changed, forward=True)
    blamed_to = _blamed_arcs(model, before, changed, forward=False)
    closed_set = set(closed_edges)
    boundary_arcs = np.flatnonzero(closed_arcs)
    boundary_area = np.maximum(area_of_node[g.tail[boundary_arcs]], area_of_node[g.head[boundary_arcs]])
    area_edges = [sorted(set(g.edge[boundary_arcs[boundary_area == a]].tolist())) for a in range(count)]
    area_points: list[list[int]] = [[] for _ in range(count)]
    affected: list[PointImpact] = []
    for k in np.flatnonzero(isolated | worse).tolist():
        arcs_in = model.arrival.weight_arc[model.arrival_ptr[k] : model.arrival_ptr[k + 1]]
        arcs_out = model.departure.weight_arc[model.departure_ptr[k] : model.departure_ptr[k + 1]]
        own = {int(g.edge[a]) for a in np.concatenate([arcs_in, arcs_out]) if changed[a]}
        area = None
        if isolated[k]:
            hits = area_of_node[model.arrival.node[model.arrival_ptr[k] : model.arrival_ptr[k + 1]]]
            hits = hits[hits >= 0]
            area = int(hits[0]) if len(hits) else None
            edges = own | (set(area_edges[area]) if area is not None else set())
            if area is not None:
                area_points[area].append(k)
        else:
            edges = own | {int(g.edge[a]) for a in (blamed_from[k], blamed_to[k]) if a >= 0}
        cause: AccessCause = "isolated" if isolated[k] else "degraded"
        affected.append(_point_impact(model, k, cause, area, before, after, tuple(sorted(edges)), closed_set))
    areas = []
    for a in range(count):
        members = np.flatnonzero(area_of_node == a)
        areas.append(
            IsolatedArea(
                a,
                tuple(sorted(set(network.node_ids[g.node_base[members]].tolist()))),
                tuple(area_points[a]),
                int(sum(model.points[k].residents for k in area_points[a])),
                tuple(area_edges[a]),
                bool((~after.reach_in[members]).any()),
                bool((~after.reach_out[members]).any()),
                _area_reason(
                    model, a, len(set(g.node_base[members].tolist())), area_points[a], tuple(area_edges[a])
                ),
            )
        )
    return AccessImpact(
        model, closures, closed_edges, slowed_edges, tuple(areas), tuple(affected), before, after
    )


def _point_impact(
    model: AccessModel,
    k: int,
    cause: AccessCause,
    area: int | None,
    before: _State,
    after: _State,
    edges: tuple[int, ...],
    closed: set[int],
) -> PointImpact:
    label = model.points[k].label()
    streets_closed = street_names(model, [e for e in edges if e in closed])
    streets_slowed = street_names(model, [e for e in edges if e not in closed])
    why_fr, why_en = [], []
    if streets_closed["fr"]:
        plural = "s" if streets_closed["n"] != "1" else ""
        why_fr.append(f"{streets_closed['fr']} fermée{plural}")
        why_en.append(f"{streets_closed['en']} closed")
    if streets_slowed["fr"]:
        plural = "s" if streets_slowed["n"] != "1" else ""
        why_fr.append(f"{streets_slowed['fr']} ralentie{plural}")
        why_en.append(f"{streets_slowed['en']} slowed down")
    because_fr = f" — {' ; '.join(why_fr)}" if why_fr else ""
    because_en = f" — {'; '.join(why_en)}" if why_en else ""
    station = (_index(before.station[k], model.stations), _index(after.station[k], model.stations))
    hospital = (_index(before.hospital[k], model.hospitals), _index(after.hospital[k], model.hospitals))
    times_station = (_seconds(before.from_station_ms[k]), _seconds(after.from_station_ms[k]))
    times_hospital = (_seconds(before.to_hospital_ms[k]), _seconds(after.to_hospital_ms[k]))
    if cause == "isolated":
        fr = f"{label['fr']} : plus d'accès routier{because_fr}"
        en = f"{label['en']}: no road access any more{because_en}"
    else:
        parts_fr, parts_en = [], []
        if after.from_station_ms[k] > before.from_station_ms[k]:
            fr_part, en_part = _time_change(times_station, "station")
            parts_fr.append(fr_part)
            parts_en.append(en_part)
        if after.to_hospital_ms[k] > before.to_hospital_ms[k]:
            fr_part, en_part = _time_change(times_hospital, "hospital")
            parts_fr.append(fr_part)
            parts_en.append(en_part)
        fr = f"{label['fr']} : accès dégradé, {' ; '.join(parts_fr)}{because_fr}"
        en = f"{label['en']}: access degraded, {'; '.join(parts_en)}{because_en}"
    return PointImpact(
        k, cause, area, times_station, times_hospital, station, hospital, edges, {"fr": fr, "en": en}
    )


_FACILITY_WORDS = {
    "station": (
        "depuis le centre de secours le plus proche",
        "from the nearest fire station",
        "plus aucun centre de secours ne l'atteint",
        "no fire station reaches it any more",
    ),
    "hospital": (
        "jusqu'à l'hôpital le plus proche",
        "to the nearest hospital",
        "plus aucun hôpital n'est accessible",
        "no hospital can be reached any more",
    ),
}


def _time_change(times: tuple[float | None, float | None], facility: str) -> tuple[str, str]:
    """``5 min 10 s depuis … au lieu de 2 min 05 s`` (or: none reachable any more), in French and English.

    Examples
    --------
    >>> _time_change((125.0, 310.0), "hospital")[1]
    '5 min 10 s to the nearest hospital instead of 2 min 05 s'
    >>> _time_change((125.0, None), "station")[0]
    "plus aucun centre de secours ne l'atteint (2 min 05 s avant)"
    """
    near_fr, near_en, none_fr, none_en = _FACILITY_WORDS[facility]
    before, after = format_duration(times[0]), format_duration(times[1])
    if times[1] is None:
        return f"{none_fr} ({before} avant)", f"{none_en} (was {before})"
    return f"{after} {near_fr} au lieu de {before}", f"{after} {near_en} instead of {before}"


def _index(slot: int, facilities: np.ndarray) -> int | None:
    return None if slot < 0 else int(facilities[slot])


def _area_reason(
    model: AccessModel, index: int, n_nodes: int, points: list[int], edges: tuple[int, ...]
) -> dict[str, str]:
    streets = street_names(model, edges)
    residents = sum(model.points[k].residents for k in points)
    sites = [model.points[k].label() for k in points if model.points[k].layer == "critical_sites"]
    sites_fr = f", dont {', '.join(s['fr'] for s in sites)}" if sites else ""
    sites_en = f", including {', '.join(s['en'] for s in sites)}" if sites else ""
    plural = "s" if streets["n"] != "1" else ""
    return {
        "fr": f"zone isolée n° {index + 1} : {n_nodes} carrefours, {len(points)} bâtiments ou sites, {residents} "
        f"habitants{sites_fr} — {streets['fr']} fermée{plural}",
        "en": f"isolated area #{index + 1}: {n_nodes} junctions, {len(points)} buildings or sites, {residents} "
        f"residents{sites_en} — {streets['en']} closed",
    }
