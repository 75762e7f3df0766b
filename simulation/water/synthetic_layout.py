"""Lay a plausible water distribution network under a street graph (pure: arrays in, a layout out).

The rules a water engineer would recognise, each a named constant below (docs/simulation.md, "Synthetic
water network", says why):

- junctions at street-graph nodes, nodes closer than :data:`MERGE_TOLERANCE_M` merged into one;
- mains along street centrelines: a minimum spanning tree that prefers main streets (so trunk mains follow
  them), plus loops — every non-tree street of class tertiary or above, and a seeded
  :data:`MINOR_LOOP_SHARE` of the minor ones — so the network is meshed like a real one, less than its streets;
- diameters from the peak flow each tree main carries (accumulated downstream demand × the pattern's peak),
  at most :data:`MAX_VELOCITY_M_S`, never below 100 mm (hydrant feeding); trunk mains (source → tank) at
  least 300 mm; a loop gets the smaller of the mains feeding its two ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from twin.errors import InvalidInput

MERGE_TOLERANCE_M = 10.0
MINOR_LOOP_SHARE = 0.3
MAX_VELOCITY_M_S = 1.0
DIAMETERS_M: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
TRUNK_MIN_DIAMETER_M = 0.3
# Main streets are cheaper in the spanning tree, so the tree's long runs (the future trunk) follow them.
STREET_WEIGHT: dict[str, float] = {
    "motorway": 0.5,
    "trunk": 0.5,
    "primary": 0.5,
    "secondary": 0.6,
    "tertiary": 0.8,
}
MAIN_STREETS = frozenset(
    {"motorway", "trunk", "primary", "secondary", "tertiary"}
    | {f"{h}_link" for h in ("motorway", "trunk", "primary", "secondary", "tertiary")}
)


@dataclass(frozen=True)
class Streets:
    """The undirected street graph: node ids and metric positions, and one row per street arc."""

    node_ids: np.ndarray  # int64, road_nodes ids
    node_xy: np.ndarray  # (n, 2) metres, the territory's projected CRS
    edge_ids: np.ndarray  # int64, road_edges ids
    edge_u: np.ndarray  # indices into node_ids
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_highway: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """The laid network: junctions (indices into ``Streets.node_ids`` of their representative node) and pipes.

    ``pipe_edge`` indexes ``Streets.edge_ids``; ``pipe_from``/``pipe_to`` index ``junction_node`` and are
    oriented away from the source along the tree (loops: lower junction first).
    """

    junction_node: np.ndarray  # representative street node of each junction
    junction_members: tuple[tuple[int, ...], ...]  # street nodes merged into each junction
    junction_demand_m3_s: np.ndarray
    pipe_edge: np.ndarray
    pipe_from: np.ndarray
    pipe_to: np.ndarray
    pipe_role: tuple[str, ...]  # "trunk", "tree" or "loop"
    pipe_diameter_m: np.ndarray
    pipe_peak_flow_m3_s: np.ndarray
    source: int  # junction index where the pump delivers
    tank: int  # junction index where the tank floats on the network
    dropped_nodes: int  # street nodes outside the largest connected component
    street_edges: int  # undirected streets between distinct merged nodes (candidates for pipes)

    @property
    def meshedness(self) -> float:
        """Meshedness coefficient (independent loops / the most a planar graph can have), 0 for a tree."""
        n = len(self.junction_node)
        return 0.0 if n < 3 else (len(self.pipe_edge) - n + 1) / (2 * n - 5)


def merge_close_nodes(xy: np.ndarray, tolerance_m: float = MERGE_TOLERANCE_M) -> np.ndarray:
    """For each node, the index of the node it merges into: the lowest index of its cluster.

    Clusters are the connected groups of nodes closer than ``tolerance_m`` (a chain of close nodes merges).

    Examples
    --------
    >>> merge_close_nodes(np.array([[0.0, 0.0], [5.0, 0.0], [100.0, 0.0], [12.0, 0.0]])).tolist()
    [0, 0, 2, 0]
    """
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(tolerance_m, output_type="ndarray")
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    first = np.full(label.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, label, np.arange(n))
    return first[label]


def pipe_diameter_m(peak_flow_m3_s: float, *, minimum_m: float = DIAMETERS_M[0]) -> float:
    """The smallest standard diameter carrying ``peak_flow_m3_s`` at no more than :data:`MAX_VELOCITY_M_S`.

    Examples
    --------
    >>> pipe_diameter_m(0.005), pipe_diameter_m(0.012), pipe_diameter_m(0.03), pipe_diameter_m(0.05)
    (0.1, 0.15, 0.2, 0.3)
    """
    for diameter in DIAMETERS_M:
        if diameter >= minimum_m and peak_flow_m3_s <= MAX_VELOCITY_M_S * np.pi * diameter**2 / 4:
            return diameter
    return DIAMETERS_M[-1]


def lay_out(
    streets: Streets,
    demand_at: Callable[[np.ndarray], np.ndarray],
    *,
    peak_factor: float,
    seed: int,
    loop_share: float = MINOR_LOOP_SHARE,
) -> Layout:
    """Junctions, pipes, diameters, source and tank position for ``streets``.

    Parameters
    ----------
    streets : Streets
        Undirected street arcs (one per street, both directions already merged).
    demand_at : callable
        Given the junctions' positions (m, an ``(n, 2)`` array), their average demands (m³/s): the
        caller assigns buildings to their nearest junction.
    peak_factor : float
        Peak hour over average (the demand pattern's maximum): pipes are sized for the peak.
    seed : int
        Chooses the minor loops kept and breaks ties in the spanning tree.

    Raises
    ------
    InvalidInput
        Fewer than two street nodes joined by a street.
    """
    rng = np.random.default_rng(seed)
    merged_into = merge_close_nodes(streets.node_xy)
    u, v = merged_into[streets.edge_u], merged_into[streets.edge_v]
    # One candidate per pair of merged nodes: the shortest street between them (ties: lowest edge id).
    keep = u != v
    lo, hi = np.minimum(u, v)[keep], np.maximum(u, v)[keep]
    candidates = np.flatnonzero(keep)
    order = np.lexsort((streets.edge_ids[candidates], streets.edge_length_m[candidates], hi, lo))
    lo, hi, candidates = lo[order], hi[order], candidates[order]
    first = np.ones(len(candidates), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, candidates = lo[first], hi[first], candidates[first]
    if len(candidates) == 0:
        raise InvalidInput(
            "the territory's street graph has no street between two distinct nodes: nothing to lay pipes "
            "under / aucune rue pour poser des conduites"
        )
    n = len(streets.node_ids)
    weight = np.array(
        [streets.edge_length_m[e] * STREET_WEIGHT.get(streets.edge_highway[e], 1.0) for e in candidates]
    )
    # +1 m keeps zero-length streets in scipy's sparse graph; the jitter only breaks exact ties.
    weight = (weight + 1.0) * (1.0 + 1e-9 * rng.random(len(weight)))
    graph = sparse.coo_matrix((weight, (lo, hi)), shape=(n, n)).tocsr()
    count, label = connected_components(graph, directed=False)
    sizes = np.bincount(label[np.unique(np.concatenate([lo, hi]))], minlength=count)
    main = int(np.argmax(sizes))  # ties: the component of the lowest node index
    in_main = (label[lo] == main) & (label[hi] == main)
    lo, hi, candidates, weight = lo[in_main], hi[in_main], candidates[in_main], weight[in_main]
    nodes = np.unique(np.concatenate([lo, hi]))  # representative street nodes = junctions, in index order
    junction_of = np.full(n, -1, dtype=np.int64)
    junction_of[nodes] = np.arange(len(nodes))
    a, b = junction_of[lo], junction_of[hi]
    m = len(nodes)
    members: list[list[int]] = [[] for _ in range(m)]
    for node in range(n):
        j = junction_of[merged_into[node]]
        if j >= 0:
            members[j].append(node)
    demand = np.asarray(demand_at(streets.node_xy[nodes]), dtype=float)

    tree_graph = minimum_spanning_tree(sparse.coo_matrix((weight, (a, b)), shape=(m, m)).tocsr())
    tree_pairs = set(zip(*(x.tolist() for x in tree_graph.nonzero()), strict=True))
    in_tree = np.array(
        [(int(x), int(y)) in tree_pairs or (int(y), int(x)) in tree_pairs for x, y in zip(a, b, strict=True)]
    )
    is_main = np.array([streets.edge_highway[e] in MAIN_STREETS for e in candidates])
    loop = ~in_tree & (is_main | (rng.random(len(candidates)) < loop_share))

    source = _source_junction(streets.node_xy[nodes], demand, a, b, is_main)
    tree_adj = sparse.coo_matrix(
        (np.ones(int(in_tree.sum()) * 2), (np.r_[a[in_tree], b[in_tree]], np.r_[b[in_tree], a[in_tree]])),
        shape=(m, m),
    ).tocsr()
    order_bfs, parent = breadth_first_order(tree_adj, source, directed=False, return_predecessors=True)
    carried = demand.copy()
    for j in order_bfs[::-1]:
        if parent[j] >= 0:
            carried[parent[j]] += carried[j]
    # Tree distance from the source, for the tank: the far end of the network, on a main street if possible.
    length_by_pair = {
        (int(x), int(y)): streets.edge_length_m[e] for x, y, e in zip(a, b, candidates, strict=True)
    }
    length_by_pair.update({(y, x): d for (x, y), d in list(length_by_pair.items())})
    distance = np.zeros(m)
    for j in order_bfs[1:]:
        distance[j] = distance[parent[j]] + length_by_pair[(int(parent[j]), int(j))]
    on_main = np.zeros(m, dtype=bool)
    on_main[a[is_main]] = on_main[b[is_main]] = True
    tank = int(np.argmax(np.where(on_main, distance, -1.0) if on_main.any() else distance))
    trunk_nodes = set()
    j = tank
    while j != source:
        trunk_nodes.add(j)
        j = int(parent[j])

    pipe_from, pipe_to, roles, diameters, flows = [], [], [], [], []
    inflow_diameter = np.full(m, DIAMETERS_M[-1])
    tree_rows = np.flatnonzero(in_tree)
    for i in tree_rows:  # child = the end whose parent is the other end
        x, y = int(a[i]), int(b[i])
        parent_node, child = (x, y) if parent[y] == x else (y, x)
        flow = carried[child] * peak_factor
        trunk = child in trunk_nodes
        diameter = pipe_diameter_m(flow, minimum_m=TRUNK_MIN_DIAMETER_M if trunk else DIAMETERS_M[0])
        inflow_diameter[child] = diameter
        pipe_from.append(parent_node)
        pipe_to.append(child)
        roles.append("trunk" if trunk else "tree")
        diameters.append(diameter)
        flows.append(flow)
    loop_rows = np.flatnonzero(loop)
    for i in loop_rows:
        x, y = sorted((int(a[i]), int(b[i])))
        pipe_from.append(x)
        pipe_to.append(y)
        roles.append("loop")
        diameters.append(float(min(inflow_diameter[x], inflow_diameter[y])))
        flows.append(float("nan"))  # a loop's flow depends on the hydraulics, not on the tree
    rows = np.r_[tree_rows, loop_rows]
    order_out = np.argsort(candidates[rows], kind="stable")  # pipes in street-edge order: stable names
    return Layout(
        junction_node=nodes,
        junction_members=tuple(tuple(x) for x in members),
        junction_demand_m3_s=demand,
        pipe_edge=candidates[rows][order_out],
        pipe_from=np.array(pipe_from, dtype=np.int64)[order_out],
        pipe_to=np.array(pipe_to, dtype=np.int64)[order_out],
        pipe_role=tuple(roles[k] for k in order_out),
        pipe_diameter_m=np.array(diameters)[order_out],
        pipe_peak_flow_m3_s=np.array(flows)[order_out],
        source=source,
        tank=tank,
        dropped_nodes=int(n - sum(len(x) for x in members)),
        street_edges=len(candidates),
    )


def _source_junction(
    xy: np.ndarray, demand: np.ndarray, a: np.ndarray, b: np.ndarray, is_main: np.ndarray
) -> int:
    """The junction on a main street nearest the demand's centre of gravity (no terrain to say better)."""
    centre = (demand @ xy) / demand.sum() if demand.sum() > 0 else xy.mean(axis=0)
    allowed = np.zeros(len(xy), dtype=bool)
    allowed[a[is_main]] = allowed[b[is_main]] = True
    if not allowed.any():
        allowed[:] = True
    distance = np.where(allowed, np.hypot(*(xy - centre).T), np.inf)
    return int(np.argmin(distance))
