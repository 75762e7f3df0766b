"""Shortest-path engines over one profile graph and one weight vector: plain Dijkstra on CSR arrays (scipy,
the correctness baseline) and customisable contraction hierarchies (RoutingKit's CCH).

Both take the same integer weights (milliseconds), the same anchors (graph nodes with integer offsets:
the part of the first and last arc travelled) and return the same costs, which tests check.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import routingkit_cch as rk
import scipy.sparse as sp
from scipy.sparse import csgraph

from routing.graph import INF_WEIGHT_MS, ProfileGraph

Anchor = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]
"""``(sources, targets)``: ``(graph node, offset ms)`` pairs to leave from and to arrive at."""


@dataclass
class Path:
    """A node-to-node path: its cost (ms, offsets included), graph arcs, and the anchor pairs used."""

    cost_ms: int
    arcs: list[int]
    source: tuple[int, int]
    target: tuple[int, int]


class Engine(Protocol):
    name: str

    def path(self, sources: Sequence[tuple[int, int]], targets: Sequence[tuple[int, int]]) -> Path | None: ...

    def costs(
        self, sources: Sequence[Sequence[tuple[int, int]]], targets: Sequence[Sequence[tuple[int, int]]]
    ) -> np.ndarray: ...


class DijkstraEngine:
    """scipy's Dijkstra on a CSR matrix; parallel arcs keep their cheapest member, closed arcs are +inf."""

    name = "dijkstra"

    def __init__(self, graph: ProfileGraph, weights_ms: np.ndarray) -> None:
        self.graph = graph
        self.weights_ms = weights_ms
        n = graph.n_nodes
        order, starts, multi = graph.pair_index()
        self.pair_keys = graph.tail[order[starts]].astype(np.int64) * n + graph.head[order[starts]]
        self.pair_arc = order[starts].copy()
        sizes = np.diff(np.append(starts, len(order)))
        for g in multi:  # parallel arcs (rare): the cheapest under these weights
            members = order[starts[g] : starts[g] + sizes[g]]
            self.pair_arc[g] = members[np.argmin(weights_ms[members])]
        data = weights_ms[self.pair_arc].astype(np.float64)
        data[weights_ms[self.pair_arc] >= INF_WEIGHT_MS] = np.inf
        tails = self.pair_keys // n
        indptr = np.concatenate([[0], np.cumsum(np.bincount(tails, minlength=n))])
        self.matrix = sp.csr_matrix((data, (self.pair_keys % n).astype(np.int32), indptr), shape=(n, n))

    def tree(self, node: int, *, limit_ms: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Costs (ms, inf = unreached) and predecessor nodes from ``node``, up to ``limit_ms``."""
        dist, pred = csgraph.dijkstra(
            self.matrix, directed=True, indices=node, return_predecessors=True, limit=limit_ms
        )
        return dist, pred

    def arcs_of_pred(self, nodes: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The graph arc entering each of ``nodes`` in the predecessor tree ``pred``."""
        keys = pred[nodes].astype(np.int64) * self.graph.n_nodes + nodes
        return self.pair_arc[np.searchsorted(self.pair_keys, keys)]

    def walk(self, pred: np.ndarray, target: int) -> list[int]:
        arcs: list[int] = []
        node = target
        while pred[node] >= 0:
            arcs.append(int(self.arcs_of_pred(np.array([node]), pred)[0]))
            node = int(pred[node])
        arcs.reverse()
        return arcs

    def path(self, sources: Sequence[tuple[int, int]], targets: Sequence[tuple[int, int]]) -> Path | None:
        best: Path | None = None
        target_nodes = np.array([t for t, _ in targets], dtype=np.int64)
        target_offsets = np.array([o for _, o in targets], dtype=np.float64)
        for source in sources:
            dist, pred = self.tree(source[0])
            total = dist[target_nodes] + target_offsets + source[1]
            i = int(np.argmin(total))
            if np.isfinite(total[i]) and (best is None or total[i] < best.cost_ms):
                best = Path(int(total[i]), self.walk(pred, int(target_nodes[i])), source, targets[i])
        return best

    def costs(
        self, sources: Sequence[Sequence[tuple[int, int]]], targets: Sequence[Sequence[tuple[int, int]]]
    ) -> np.ndarray:
        return self.costs_and_lengths(sources, targets, lengths=False)[0]

    def costs_and_lengths(
        self,
        sources: Sequence[Sequence[tuple[int, int] | tuple[int, int, float]]],
        targets: Sequence[Sequence[tuple[int, int] | tuple[int, int, float]]],
        *,
        lengths: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cheapest cost (ms) from each source anchor set to each target anchor set, and the length (m) of
        the node-to-node part of that path (inf / nan when unreachable)."""
        flat_nodes = np.array([t[0] for group in targets for t in group], dtype=np.int64)
        flat_offsets = np.array([t[1] for group in targets for t in group], dtype=np.float64)
        flat_extra_m = np.array([t[2] if len(t) > 2 else 0.0 for group in targets for t in group])
        sizes = np.array([len(g) for g in targets], dtype=np.int64)
        cost = np.full((len(sources), len(targets)), np.inf)
        length = np.full((len(sources), len(targets)), np.nan)
        if not len(flat_nodes):
            return cost, length
        filled = np.flatnonzero(sizes > 0)  # a target without anchor (on a closed arc) stays unreachable
        owner = np.repeat(np.arange(len(filled)), sizes[filled])
        starts = np.concatenate([[0], np.cumsum(sizes[filled])[:-1]]).astype(np.int64)
        for i, group in enumerate(sources):
            for anchor in group:
                node, offset = anchor[0], anchor[1]
                dist, pred = self.tree(node)
                total = dist[flat_nodes] + flat_offsets + offset
                group_min = np.minimum.reduceat(total, starts)
                hits = np.flatnonzero(total == group_min[owner])
                _, first = np.unique(owner[hits], return_index=True)
                best_k = hits[first]  # the first anchor reaching each target group's minimum
                better = group_min < cost[i, filled]
                cost[i, filled] = np.where(better, group_min, cost[i, filled])
                if lengths and better.any():
                    k = best_k[better]
                    extra = (anchor[2] if len(anchor) > 2 else 0.0) + flat_extra_m[k]
                    length[i, filled[better]] = self.tree_lengths(pred, flat_nodes[k]) + extra
        return cost, length
        for i, group in enumerate(sources):
            for node, offset in group:
                dist, pred = self.tree(node)
                total = dist[flat_nodes] + flat_offsets + offset
                group_min = np.minimum.reduceat(total, starts)
                hits = np.flatnonzero(total == group_min[owner])
                _, first = np.unique(owner[hits], return_index=True)
                best_k = hits[first]  # the first anchor reaching each target group's minimum
                better = group_min < cost[i]
                cost[i] = np.where(better, group_min, cost[i])
                if lengths and better.any():
                    length[i, better] = -1.0 - best_k[better]
                    self._resolve_lengths(length[i], pred, flat_nodes)
        return cost, length

    def tree_lengths(self, pred: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Length (m) of the tree path to each of ``nodes``, walking all of them back at once."""
        current = np.array(nodes, dtype=np.int64)
        total = np.zeros(len(current))
        active = pred[current] >= 0
        while active.any():
            walking = current[active]
            total[active] += self.graph.length_m[self.arcs_of_pred(walking, pred)]
            current[active] = pred[walking]
            active = pred[current] >= 0
        return total


_LOCAL = threading.local()


class CchIndex:
    """The metric-independent part of a CCH (node order and elimination tree), built once per graph."""

    def __init__(self, graph: ProfileGraph) -> None:
        lonlat = graph.network.node_lonlat[graph.node_base]
        tail, head = graph.tail.tolist(), graph.head.tolist()
        order = rk.compute_order_inertial(
            graph.n_nodes, tail, head, lonlat[:, 1].tolist(), lonlat[:, 0].tolist()
        )
        self.graph = graph
        self.cch = rk.CCH(order, tail, head, False)


class CchEngine:
    """Queries on a customised CCH metric; the metric is immutable once built, queries are pooled per thread."""

    name = "cch"

    def __init__(self, index: CchIndex, weights_ms: np.ndarray) -> None:
        self.graph = index.graph
        self.weights_ms = weights_ms
        self.metric = rk.CCHMetric(index.cch, np.minimum(weights_ms, INF_WEIGHT_MS).tolist())

    def _query(self) -> rk.CCHQuery:
        """This thread's query object for this metric (RoutingKit's queries may not cross threads)."""
        cache: dict[int, tuple[weakref.ref[CchEngine], rk.CCHQuery]] = _LOCAL.__dict__.setdefault(
            "queries", {}
        )
        for key, (ref, _) in list(cache.items()):
            if ref() is None:
                del cache[key]  # dropped on the thread that made it, as RoutingKit requires
        entry = cache.get(id(self))
        if entry is None or entry[0]() is not self:
            entry = (weakref.ref(self), rk.CCHQuery(self.metric))
            cache[id(self)] = entry
        return entry[1]

    def path(self, sources: Sequence[tuple[int, int]], targets: Sequence[tuple[int, int]]) -> Path | None:
        result = self._query().run_multi(list(sources), list(targets))
        cost, arcs = result.distance, list(result.arc_path) if result.distance is not None else []
        del result  # RoutingKit refuses a new run while a result is alive
        if cost is None:
            return None
        first_tail = int(self.graph.tail[arcs[0]]) if arcs else None
        last_head = int(self.graph.head[arcs[-1]]) if arcs else None
        source = next((s for s in sources if first_tail is None or s[0] == first_tail), sources[0])
        if not arcs:  # source and target on the same node: the cheapest matching pair
            pairs = [(s[1] + t[1], s, t) for s in sources for t in targets if s[0] == t[0]]
            _, source, target = min(pairs)
        else:
            target = min((t for t in targets if t[0] == last_head), key=lambda t: t[1])
        return Path(int(cost), [int(a) for a in arcs], source, target)

    def costs(
        self, sources: Sequence[Sequence[tuple[int, int]]], targets: Sequence[Sequence[tuple[int, int]]]
    ) -> np.ndarray:
        flat_nodes = [t for group in targets for t, _ in group]
        flat_offsets = np.array([o for group in targets for _, o in group], dtype=np.float64)
        sizes = np.array([len(g) for g in targets], dtype=np.int64)
        filled = np.flatnonzero(sizes > 0)
        starts = np.concatenate([[0], np.cumsum(sizes[filled])[:-1]]).astype(np.int64)
        cost = np.full((len(sources), len(targets)), np.inf)
        if not flat_nodes:
            return cost
        one_to_many = rk.CCHOneToMany(self.metric, flat_nodes)
        try:
            for i, group in enumerate(sources):
                if not group:
                    continue
                raw = np.array(one_to_many.distances_from_multi(list(group)), dtype=np.float64)
                raw = np.where(np.isnan(raw), np.inf, raw) + flat_offsets
                cost[i, filled] = np.minimum.reduceat(raw, starts)
        finally:
            del one_to_many
        return cost


class CheckedCchEngine:
    """The base CCH (weights before closures) checked against an overlay whose weights are never lower.

    A base path whose arcs all keep their weight under the overlay is optimal there too: every overlay cost
    is at least the base cost, and this path costs the base optimum. Any other answer comes from plain
    Dijkstra on the overlay. Matrices cannot be checked without paths: Dijkstra answers them.
    """

    name = "cch+check"

    def __init__(self, base: CchEngine, overlay: DijkstraEngine) -> None:
        self.base = base
        self.overlay = overlay
        self.graph = overlay.graph

    def path(self, sources: Sequence[tuple[int, int]], targets: Sequence[tuple[int, int]]) -> Path | None:
        found = self.base.path(sources, targets)
        if found is None:
            return None  # unreachable on the base weights: closures only remove arcs
        arcs = np.asarray(found.arcs, dtype=np.int64)
        if np.array_equal(self.overlay.weights_ms[arcs], self.base.weights_ms[arcs]):
            return found
        return self.overlay.path(sources, targets)

    def costs(
        self, sources: Sequence[Sequence[tuple[int, int]]], targets: Sequence[Sequence[tuple[int, int]]]
    ) -> np.ndarray:
        return self.overlay.costs(sources, targets)
