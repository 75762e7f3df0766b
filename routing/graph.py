"""A profile's view of the road network: the arcs it may use, their weights, and turn restrictions built in.

Turn restrictions are compiled into the graph by *node splitting* at restricted junctions only: at a via
node, each group of incoming arcs that shares the same set of permitted exits gets a copy of the node,
and copies of the permitted exit arcs leave from it. Elsewhere the graph stays node-based, so a city with
a few hundred restrictions gains a few hundred nodes, not the 3–4× of a full edge-expanded graph, and
every engine (plain Dijkstra, CCH) honours restrictions without knowing about them. Restrictions whose via
is a way (``via`` member of type way) are not supported (see docs/routing.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from routing.network import RoadNetwork, TurnRestriction
from routing.profiles import Profile, arc_allowed, arc_speed_kph, restriction_applies

# RoutingKit's infinity is 2**31 - 2: any weight at or above it is never traversed (a closed arc).
INF_WEIGHT_MS = 2**31 - 1
MAX_WEIGHT_MS = 2**31 - 3


@dataclass
class ProfileGraph:
    """Directed arcs of one profile (graph arcs), each a traversal of a stored arc (``edge``).

    ``against`` marks traversals against the stored direction (pedestrians on one-way streets). Graph nodes
    ``0 … network.n_nodes - 1`` are the stored nodes; the others are copies made at restricted junctions
    (``node_base`` gives the stored node of every graph node).
    """

    profile: Profile
    network: RoadNetwork
    n_nodes: int
    tail: np.ndarray
    head: np.ndarray
    edge: np.ndarray
    against: np.ndarray
    weight_ms: np.ndarray  # int64, no overlay
    length_m: np.ndarray
    node_base: np.ndarray
    traversal_ptr: np.ndarray  # CSR over traversal keys (edge * 2 + against) → graph arcs
    traversal_arcs: np.ndarray
    restrictions_applied: int = 0
    _pair_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def n_arcs(self) -> int:
        return len(self.tail)

    def pair_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arcs sorted by (tail, head), the start of each (tail, head) group, the groups of parallel arcs.

        Computed once; a new overlay only re-picks the cheapest of each (rare) parallel group.
        """
        if self._pair_index is None:
            keys = self.tail.astype(np.int64) * self.n_nodes + self.head
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
            sizes = np.diff(np.append(starts, len(order)))
            self._pair_index = (order, starts, np.flatnonzero(sizes > 1))
        return self._pair_index

    def arcs_of_traversal(self, edge: int, against: bool) -> np.ndarray:
        """Graph arcs (the original and its copies at split nodes) travelling ``edge`` in that direction."""
        key = 2 * edge + int(against)
        return self.traversal_arcs[self.traversal_ptr[key] : self.traversal_ptr[key + 1]]

    def weights_with(self, edge_factor: np.ndarray | None) -> np.ndarray:
        """Arc weights (ms) with a per-stored-arc factor applied (``inf`` closes, > 1 slows down)."""
        if edge_factor is None:
            return self.weight_ms
        factor = edge_factor[self.edge]
        slowed = np.where(
            np.isinf(factor),
            INF_WEIGHT_MS,
            np.minimum(np.rint(self.weight_ms * np.where(np.isfinite(factor), factor, 1.0)), MAX_WEIGHT_MS),
        )
        return slowed.astype(np.int64)


def _allowed_edges(network: RoadNetwork, profile: Profile) -> np.ndarray:
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}
    allowed = np.empty(network.n_arcs, dtype=bool)
    for i, (highway, tags) in enumerate(zip(network.highway, network.tags, strict=True)):
        key = (str(highway), tuple(sorted(tags.items())))
        if key not in cache:
            cache[key] = arc_allowed(profile, str(highway), tags)
        allowed[i] = cache[key]
    return allowed


def _speeds_kph(network: RoadNetwork, profile: Profile) -> np.ndarray:
    speeds = np.empty(network.n_arcs, dtype=np.float64)
    for highway in np.unique(network.highway.astype(str)):
        mask = network.highway == highway
        speeds[mask] = [arc_speed_kph(profile, highway, s) for s in network.speed_kph[mask]]
    return speeds


def profile_graph_from_network(network: RoadNetwork, profile: Profile) -> ProfileGraph:
    """Build the arcs of ``profile`` over ``network``, with its speeds and its turn restrictions.

    The ``car`` profile keeps the stored ``travel_time_s`` exactly (so that costs equal pgRouting's on the
    same table); other profiles recompute time from ``length_m`` and their own speed.
    """
    allowed = _allowed_edges(network, profile)
    forward = np.flatnonzero(allowed)
    # Walkers use every street both ways: a one-way street gains the arc its twin would be.
    backward = np.flatnonzero(allowed & network.oneway) if profile.on_foot else np.empty(0, dtype=np.int64)
    edge = np.concatenate([forward, backward]).astype(np.int32)
    against = np.concatenate([np.zeros(len(forward), bool), np.ones(len(backward), bool)])
    tail = np.where(against, network.head[edge], network.tail[edge]).astype(np.int32)
    head = np.where(against, network.tail[edge], network.head[edge]).astype(np.int32)
    if profile.fixed_speed_kph is None and profile.major_road_factor == profile.minor_road_factor == 1.0:
        time_s = network.travel_time_s[edge]
    else:
        time_s = network.length_m[edge] / (_speeds_kph(network, profile)[edge] / 3.6)
    weight_ms = np.minimum(np.rint(time_s * 1000.0), MAX_WEIGHT_MS).astype(np.int64)
    graph = ProfileGraph(
        profile=profile,
        network=network,
        n_nodes=network.n_nodes,
        tail=tail,
        head=head,
        edge=edge,
        against=against,
        weight_ms=weight_ms,
        length_m=network.length_m[edge].copy(),
        node_base=np.arange(network.n_nodes, dtype=np.int32),
        traversal_ptr=np.zeros(1, dtype=np.int64),
        traversal_arcs=np.zeros(0, dtype=np.int64),
    )
    if profile.honours_turn_restrictions:
        _split_restricted_nodes(graph)
    _index_traversals(graph)
    return graph


def _split_restricted_nodes(graph: ProfileGraph) -> None:
    network, profile = graph.network, graph.profile
    by_via: dict[int, list[TurnRestriction]] = defaultdict(list)
    for restriction in network.restrictions:
        if restriction_applies(profile, restriction.tags):
            by_via[restriction.via].append(restriction)
    if not by_via:
        return
    out_of: dict[int, list[int]] = defaultdict(list)
    in_of: dict[int, list[int]] = defaultdict(list)
    vias = np.fromiter(by_via, dtype=np.int64)
    for a in np.flatnonzero(np.isin(graph.tail, vias)).tolist():
        out_of[int(graph.tail[a])].append(a)
    for a in np.flatnonzero(np.isin(graph.head, vias)).tolist():
        in_of[int(graph.head[a])].append(a)
    new_head = graph.head.copy()
    copies: list[tuple[int, int]] = []  # (copied arc, tail node of the copy)
    next_node = graph.n_nodes
    node_base = list(graph.node_base)
    for via_node, restrictions in by_via.items():
        via = int(via_node)
        exits = out_of.get(via, [])
        split_node_of: dict[frozenset[int], int] = {}
        for arc in in_of.get(via, []):
            permitted = set(exits)
            for r in restrictions:
                if graph.edge[arc] not in r.from_arcs:
                    continue
                hits = {x for x in exits if graph.edge[x] in r.to_arcs}
                permitted = permitted & hits if r.is_only else permitted - hits
            if len(permitted) == len(exits):
                continue
            graph.restrictions_applied += 1
            key = frozenset(permitted)
            if key not in split_node_of:
                split_node_of[key] = next_node
                node_base.append(via)
                copies.extend((x, next_node) for x in sorted(permitted))
                next_node += 1
            new_head[arc] = split_node_of[key]
    if not copies:
        return
    originals = np.array([c[0] for c in copies], dtype=np.int64)
    graph.tail = np.concatenate([graph.tail, np.array([c[1] for c in copies], dtype=np.int32)])
    # A copy ends where its original ends, after the original's own head was redirected.
    graph.head = np.concatenate([new_head, new_head[originals]]).astype(np.int32)
    graph.edge = np.concatenate([graph.edge, graph.edge[originals]])
    graph.against = np.concatenate([graph.against, graph.against[originals]])
    graph.weight_ms = np.concatenate([graph.weight_ms, graph.weight_ms[originals]])
    graph.length_m = np.concatenate([graph.length_m, graph.length_m[originals]])
    graph.node_base = np.asarray(node_base, dtype=np.int32)
    graph.n_nodes = next_node


def _index_traversals(graph: ProfileGraph) -> None:
    keys = 2 * graph.edge.astype(np.int64) + graph.against
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=2 * graph.network.n_arcs)
    graph.traversal_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    graph.traversal_arcs = order.astype(np.int64)
