"""The access model: reachability and nearest fire station / hospital times of every access point, per state.

Before = the live overlay (cached while the overlay is the same); after = live + what-if closures. Each state
is ONE multi-source Dijkstra from the fire stations and one on the reversed graph from the hospitals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from routing.closures import Closure, edge_factor
from routing.graph import INF_WEIGHT_MS
from routing.resident import Overlay, TerritoryGraph
from routing.search import DijkstraEngine
from simulation.access.impact import AccessImpact, impact_of
from simulation.access.points import AccessPoint
from twin.errors import InvalidInput, NotFound


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
        return impact_of(self, list(closures), before, after, changed)


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
