"""Our shortest paths equal pgRouting's on the same edges: Monaco (random pairs) and pgRouting's documentation
network; N one-to-one routes equal one matrix; the OSM import keeps turn restrictions."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import psycopg
import pytest

from routing.graph import profile_graph_from_network
from routing.network import road_network_from_db
from routing.profiles import PROFILES
from routing.search import CchEngine, CchIndex, DijkstraEngine
from tests.common import SHARED_DATA, shared_file
from tests.routing.graphs import network_from_arcs

PGR_DIR = SHARED_DATA / "pgrouting"
N_SOURCES, N_TARGETS = 25, 40


@pytest.fixture(scope="module")
def pgrouting(monaco_url: str) -> str:
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    return monaco_url


@pytest.fixture(scope="module")
def monaco(pgrouting: str):
    with psycopg.connect(pgrouting) as conn:
        network = road_network_from_db(conn, "Monaco")
    # pgRouting knows no turn restriction: compare on the car graph without them (they are tested apart).
    plain = dataclasses.replace(network, restrictions=[])
    return network, profile_graph_from_network(plain, PROFILES["car"])


def _pgr_costs(
    url: str, edge_ids: list[int], sources: list[int], targets: list[int]
) -> dict[tuple[int, int], float]:
    """pgr_dijkstra many-to-many over the same arcs and the same integer-millisecond costs."""
    edges_sql = (
        "SELECT id, source_node AS source, target_node AS target, round(travel_time_s * 1000) AS cost"
        f" FROM twin.road_edges WHERE id IN ({','.join(map(str, edge_ids))})"
    )
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstra(%s, %s::bigint[], %s::bigint[], directed => true)"
            " WHERE edge = -1",
            (edges_sql, sources, targets),
        ).fetchall()
    return {(int(s), int(t)): float(c) for s, t, c in rows}


def test_issue_6_monaco_costs_equal_pgr_dijkstra_for_random_pairs(monaco, pgrouting):
    network, graph = monaco
    rng = np.random.default_rng(6)
    sources = rng.choice(network.n_nodes, N_SOURCES, replace=False)
    targets = rng.choice(network.n_nodes, N_TARGETS, replace=False)
    edge_ids = network.edge_ids[np.unique(graph.edge)].tolist()
    expected = _pgr_costs(
        pgrouting, edge_ids, network.node_ids[sources].tolist(), network.node_ids[targets].tolist()
    )
    assert len(expected) > N_SOURCES * N_TARGETS // 4, "too few reachable pairs to mean anything"
    engines = [DijkstraEngine(graph, graph.weight_ms), CchEngine(CchIndex(graph), graph.weight_ms)]
    groups_from = [[(int(s), 0)] for s in sources]
    groups_to = [[(int(t), 0)] for t in targets]
    for engine in engines:
        table = engine.costs(groups_from, groups_to)
        for i, s in enumerate(sources):
            for j, t in enumerate(targets):
                key = (int(network.node_ids[s]), int(network.node_ids[t]))
                want = 0.0 if s == t else expected.get(key, math.inf)
                assert table[i, j] == want, (engine.name, key)
                path = engine.path([(int(s), 0)], [(int(t), 0)])  # N one-to-one == one matrix
                assert (math.inf if path is None else path.cost_ms) == table[i, j]
    # Stored seconds, not only their rounding: within half a millisecond per arc.
    path = engines[0].path([(int(sources[0]), 0)], [(int(targets[0]), 0)]) or engines[0].path(
        [(int(sources[1]), 0)], [(int(targets[1]), 0)]
    )
    assert path is not None
    exact_s = float(network.travel_time_s[graph.edge[path.arcs]].sum())
    assert abs(exact_s * 1000 - path.cost_ms) <= 0.5 * len(path.arcs) + 1e-6


def test_pgrouting_documentation_network_matches_its_documented_costs(pgrouting):
    rows = list(csv.DictReader(shared_file(PGR_DIR / "sample_topology.csv").open()))
    vertices = sorted({int(r["source"]) for r in rows} | {int(r["target"]) for r in rows})
    index = {v: i for i, v in enumerate(vertices)}
    xy = [(0.0, 0.0)] * len(vertices)
    for r in rows:
        xy[index[int(r["source"])]] = (float(r["x1"]) * 100, float(r["y1"]) * 100)
        xy[index[int(r["target"])]] = (float(r["x2"]) * 100, float(r["y2"]) * 100)
    arcs, edge_of_arc = [], []
    for r in rows:
        s, t = index[int(r["source"])], index[int(r["target"])]
        if float(r["cost"]) >= 0:
            arcs.append((s, t, float(r["cost"])))
            edge_of_arc.append(int(r["edge_id"]))
        if float(r["reverse_cost"]) >= 0:
            arcs.append((t, s, float(r["reverse_cost"])))
            edge_of_arc.append(int(r["edge_id"]))
    network = network_from_arcs(xy, arcs, oneway=[True] * len(arcs))
    graph = profile_graph_from_network(network, PROFILES["car"])
    engine = DijkstraEngine(graph, graph.weight_ms)

    def cost(a: int, b: int) -> float:
        path = engine.path([(index[a], 0)], [(index[b], 0)])
        return math.inf if path is None else path.cost_ms / 1000

    assert cost(6, 10) == 5  # documented: 6-7-11-16-15-10, edges 4, 8, 9, 16, 3
    path = engine.path([(index[6], 0)], [(index[10], 0)])
    assert [edge_of_arc[a] for a in path.arcs] == [4, 8, 9, 16, 3]
    # And every pair against pgr_dijkstra on the documented sample data loaded into the test database.
    with psycopg.connect(pgrouting, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS pgr_sample CASCADE; CREATE SCHEMA pgr_sample")
        conn.execute("SET search_path = pgr_sample, public")
        text = shared_file(PGR_DIR / "sampledata.sql").read_text().split("/* --POINTS CREATE start */")[0]
        # Edges and vertices only (the rest needs pgRouting 3.5); psql meta-commands (\d) dropped.
        conn.execute("\n".join(line for line in text.splitlines() if not line.startswith("\\")))
        got = conn.execute(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstra("
            "'SELECT id, source, target, cost, reverse_cost FROM pgr_sample.edges',"
            " (SELECT array_agg(id) FROM pgr_sample.vertices), (SELECT array_agg(id) FROM pgr_sample.vertices))"
            " WHERE edge = -1"
        ).fetchall()
        conn.execute("DROP SCHEMA pgr_sample CASCADE")
    expected = {(int(s), int(t)): float(c) for s, t, c in got}
    cch = CchEngine(CchIndex(graph), graph.weight_ms)
    for a in vertices:
        for b in vertices:
            want = 0.0 if a == b else expected.get((a, b), math.inf)
            assert cost(a, b) == want, (a, b)
            one = cch.path([(index[a], 0)], [(index[b], 0)])
            assert (math.inf if one is None else one.cost_ms / 1000) == want


def test_osm_import_keeps_turn_restrictions_and_the_graph_honours_them(monaco_url):
    with psycopg.connect(monaco_url) as conn:
        kinds = dict(
            conn.execute("SELECT restriction, count(*) FROM routing.turn_restrictions GROUP BY 1").fetchall()
        )
        network = road_network_from_db(conn, "Monaco")
    assert (
        sum(kinds.values()) >= 30
        and any(k.startswith("only_") for k in kinds)
        and any(k.startswith("no_") for k in kinds)
    )
    assert len(network.restrictions) == sum(kinds.values()) - network.unmapped_restrictions
    graph = profile_graph_from_network(network, PROFILES["car"])
    engine = DijkstraEngine(graph, graph.weight_ms)
    for r in network.restrictions:
        # Enter by a from-arc's head, from its tail: the banned exits are never the next arc.
        from_arc = r.from_arcs[0]
        start = int(network.tail[from_arc])
        for to_arc in network.arcs_of_edge_ids(network.edge_ids[list(network.tail == r.via)]):
            banned = (to_arc in r.to_arcs) != r.is_only
            if not banned:
                continue
            path = engine.path([(start, 0)], [(int(network.head[to_arc]), 0)])
            if path is None or len(path.arcs) < 2:
                continue
            edges = [int(graph.edge[a]) for a in path.arcs]
            assert not any(a == from_arc and b == to_arc for a, b in zip(edges, edges[1:], strict=False)), r
