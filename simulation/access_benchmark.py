"""Time from an initiating event to a complete consequence report, against a straightforward networkx recomputation.

Run ``.venv/bin/python -m simulation.access_benchmark`` (``--events 200``, ``--no-montpellier``). A throwaway
database gets Monaco (OSM: its buildings, fire stations and hospitals) and Montpellier's municipal street graph
and public buildings (GIS files; no critical sites there, so ``--facilities`` (50) points spread over the
streets stand for stations and hospitals, a fifth of them stations). Each event closes 1–5 random streets
(both directions). Ours: :class:`~simulation.access.AccessModel` (baseline cached, as it is resident) and the
full JSON report. Peer: build a networkx graph with the event's weights, strongly connected components, one
Dijkstra per facility anchor, then the minimum per point. Both answers are compared; prints p50/p95 and the
ratio. Nothing is asserted on time: figures go to docs/simulation.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import psycopg

from routing.closures import Closure, edge_factor
from routing.engine import snap_point
from routing.graph import INF_WEIGHT_MS
from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.access import (
    AccessModel,
    AccessPoint,
    access_point_from_snap,
    access_points_from_dependencies,
)
from simulation.consequences import RoadClosureEvent, consequence_report
from simulation.dependencies import dependency_model_from_twin

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


def _spread_facilities(graph: TerritoryGraph, count: int, seed: int) -> list[AccessPoint]:
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


def bench(url: str, territory: str, *, events: int, facilities: int | None, seed: int = 8) -> None:
    with psycopg.connect(url) as conn:
        network = road_network_from_db(conn, territory)
    graph = TerritoryGraph(network, use_cch=False, profiles=("emergency",))
    started = time.perf_counter()
    deps = dependency_model_from_twin(url, territory, road_graph=graph)
    derive_s = time.perf_counter() - started
    points = access_points_from_dependencies(graph, deps)
    if facilities:
        points = [p for p in points if p.layer == "buildings"] + _spread_facilities(graph, facilities, seed)
    started = time.perf_counter()
    model = AccessModel(graph, points)
    model.assess([])
    build_s = time.perf_counter() - started
    print(
        f"{territory}: {network.n_arcs} arcs, {model.state.graph.n_nodes} nodes, {len(points)} access points "
        f"({len(model.stations)} stations, {len(model.hospitals)} hospitals); dependency model derived in "
        f"{derive_s * 1000:.0f} ms, access model + baseline in {build_s * 1000:.0f} ms",
        flush=True,
    )
    rng = np.random.default_rng(seed)
    drivable = network.edge_ids[np.unique(model.state.graph.edge)]
    ours_ms, peer_ms, isolating = [], [], 0
    for _ in range(events):
        picked = rng.choice(drivable, size=int(rng.integers(1, 6)), replace=False)
        twins = [
            int(network.edge_ids[t])
            for e in network.arcs_of_edge_ids(picked)
            for t in np.flatnonzero((network.tail == network.head[e]) & (network.head == network.tail[e]))
        ]
        event = RoadClosureEvent(tuple(sorted({*picked.tolist(), *twins})))
        started = time.perf_counter()
        report = consequence_report([event], access=model, dependencies=deps)
        document = report.as_json()
        ours_ms.append((time.perf_counter() - started) * 1000)
        isolating += bool(document["access"]["isolated_areas"])
        assert report.access is not None
        started = time.perf_counter()
        from_station, to_hospital, main = naive_access(model, report.access.closures)
        peer_ms.append((time.perf_counter() - started) * 1000)
        assert np.array_equal(from_station, report.access.after.from_station_ms), "times from stations differ"
        assert np.array_equal(to_hospital, report.access.after.to_hospital_ms), "times to hospitals differ"
        assert main == set(np.flatnonzero(report.access.after.in_main).tolist()), "main components differ"
    ours, peer = np.array(ours_ms), np.array(peer_ms)
    print(
        f"  {events} events ({isolating} isolate something): report p50 {np.median(ours):.2f} ms "
        f"p95 {np.percentile(ours, 95):.2f} ms | networkx p50 {np.median(peer):.1f} ms "
        f"p95 {np.percentile(peer, 95):.1f} ms | ratio p50 {np.median(peer) / np.median(ours):.0f}x, "
        f"p95 {np.percentile(peer, 95) / np.percentile(ours, 95):.0f}x; answers equal",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--facilities", type=int, default=50)
    parser.add_argument("--no-montpellier", action="store_true")
    args = parser.parse_args(argv)
    from layers.importers.gis import import_gis
    from layers.importers.osm import import_osm
    from twin.cluster import throwaway_cluster
    from twin.db import migrate

    with throwaway_cluster(prefix="hyperviseur-bench-pg-") as cluster:
        url = cluster.url()
        migrate(url)
        import_osm(url, MONACO_PBF, territory_name="Monaco")
        bench(url, "Monaco", events=args.events, facilities=None)
        if not args.no_montpellier:
            for layer, path in (("roads", STREETS_ZIP), ("buildings", BUILDINGS_ZIP)):
                import_gis(url, path, layer=layer, territory_name="Montpellier", encoding="latin-1")
            bench(url, "Montpellier", events=args.events, facilities=args.facilities)


if __name__ == "__main__":
    main()
