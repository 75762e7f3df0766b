"""The peer of the consequence benchmark (``make bench-simulation``, :mod:`benchmarks.bench_simulation`).

:func:`naive_access` recomputes access with networkx the straightforward way (a graph with the event's weights,
strongly connected components, one Dijkstra per facility anchor, the minimum per point), with routing's anchor
offsets, so its answers must equal :class:`~simulation.access.AccessModel`'s; tests check that too.
:func:`spread_facilities` stands stations and hospitals on a territory that has none (Montpellier's files).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np

from routing.closures import Closure, edge_factor
from routing.engine import snap_point
from routing.graph import INF_WEIGHT_MS
from routing.resident import TerritoryGraph
from simulation.access import (
    AccessModel,
    AccessPoint,
    access_point_from_snap,
)

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MONACO_PBF = SHARED_DATA / "osm" / "monaco-latest.osm.pbf"
MONTPELLIER = SHARED_DATA / "opendata_fr" / "montpellier"
STREETS_ZIP = MONTPELLIER / "VilleMTP_MTP_FilaireVoies" / "VilleMTP_MTP_FilaireVoies.zip"
BUILDINGS_ZIP = MONTPELLIER / "VilleMTP_MTP_Batiments" / "VilleMTP_MTP_Batiments.zip"


def naive_access(model: AccessModel, closures: Sequence[Closure]) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """The peer: times from the nearest station and to the nearest hospital per point (ms), main-component nodes.

    Recomputes everything with networkx from the weights (live + what-if closures), one Dijkstra per facility
    anchor, with routing's anchor offsets and same-arc shortcut, so the answers must equal the model's.
    """
    g = model.state.graph
    live = model.graph.active_closures(model.profile)
    weights = g.weights_with(edge_factor(model.graph.network.n_arcs, [*live, *closures]))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(g.n_nodes))
    for a in np.argsort(-weights, kind="stable"):  # cheapest parallel arc written last
        if weights[a] < INF_WEIGHT_MS:
            graph.add_edge(int(g.tail[a]), int(g.head[a]), weight=int(weights[a]))
    main = max(nx.strongly_connected_components(graph), key=len)
    reverse = graph.reverse(copy=False)

    def anchors(point: AccessPoint, *, leaving: bool) -> list[tuple[int, float, int, bool, float]]:
        found: list[tuple[int, float, int, bool, float]] = []
        for edge, against, fraction in point.traversals:
            arcs = g.arcs_of_traversal(edge, against)
            if not len(arcs) or weights[arcs[0]] >= INF_WEIGHT_MS:
                continue
            w = int(weights[arcs[0]])
            if leaving:
                found.append((int(g.head[arcs[0]]), round((1.0 - fraction) * w), edge, against, fraction))
            else:
                found += [(int(g.tail[a]), round(fraction * w), edge, against, fraction) for a in arcs]
        return found

    def nearest(facilities: np.ndarray, *, outbound: bool) -> np.ndarray:
        rows = [(k, *a) for k, point in enumerate(model.points) for a in anchors(point, leaving=not outbound)]
        owner = np.array([r[0] for r in rows], dtype=np.int64)
        nodes = np.array([r[1] for r in rows], dtype=np.int64)
        offsets = np.array([r[2] for r in rows], dtype=np.float64)
        best = np.full(len(model.points), np.inf)
        on_traversal: dict[tuple[int, bool], list[tuple[int, float]]] = {}
        for r in rows:
            on_traversal.setdefault((r[3], r[4]), []).append((r[0], r[5]))
        for f in facilities:
            for node, offset, edge, against, f_frac in anchors(model.points[f], leaving=outbound):
                lengths = nx.single_source_dijkstra_path_length(
                    graph if outbound else reverse, node, weight="weight"
                )
                dist = np.full(g.n_nodes, np.inf)
                dist[np.fromiter(lengths.keys(), dtype=np.int64)] = np.fromiter(
                    lengths.values(), dtype=np.float64
                )
                np.minimum.at(best, owner, dist[nodes] + offsets + offset)
                for k, p_frac in on_traversal.get((edge, against), []):  # both on one arc, in travel order
                    start, end = (f_frac, p_frac) if outbound else (p_frac, f_frac)
                    if end >= start:
                        w = int(weights[g.arcs_of_traversal(edge, against)[0]])
                        best[k] = min(best[k], round((end - start) * w))
        return best

    return nearest(model.stations, outbound=True), nearest(model.hospitals, outbound=False), set(main)


def spread_facilities(graph: TerritoryGraph, count: int, seed: int) -> list[AccessPoint]:
    """``count`` facility points on random drivable arcs: a fifth fire stations, the rest hospitals."""
    rng = np.random.default_rng(seed)
    state = graph.state("emergency")
    edges = rng.choice(np.unique(state.graph.edge), size=count, replace=False)
    points = []
    for i, e in enumerate(edges):
        lon, lat = graph.network.geometry[e].interpolate(0.5, normalized=True).coords[0]
        kind = "fire_station" if i < max(1, count // 5) else "hospital"
        snap = snap_point(state, lon, lat)
        points.append(
            access_point_from_snap(snap, layer="critical_sites", id=-1 - i, kind=kind, name=f"{kind} {i}")
        )
    return points
