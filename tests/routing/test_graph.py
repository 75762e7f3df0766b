"""Routing on hand-built graphs: turn restrictions, profiles, closures, unreachable pairs, engines agree."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.closures import Closure
from routing.engine import matrix, route
from routing.graph import profile_graph_from_network
from routing.profiles import PROFILES
from routing.resident import TerritoryGraph
from routing.search import CchEngine, CchIndex, DijkstraEngine
from tests.routing.graphs import lonlat, network_from_arcs, two_way

NOW = datetime.now(UTC)

# A cross: 0 west, 1 centre, 2 east, 3 north, 4 south, plus a detour 2 → 3.
CROSS_XY = [(-100, 0), (0, 0), (100, 0), (0, 100), (0, -100)]
CROSS_ARCS = [(0, 1, 10), (1, 3, 10), (1, 2, 10), (2, 3, 30), (4, 1, 10), (1, 0, 10)]


def _cost(engine, u: int, v: int) -> float:
    path = engine.path([(u, 0)], [(v, 0)])
    return math.inf if path is None else path.cost_ms / 1000.0


def _closure(cid: int, edge_ids=(), area=None, *, factor=None, until=None, profiles=None) -> Closure:
    return Closure(
        cid,
        1,
        "slowdown" if factor else "closure",
        factor,
        tuple(edge_ids),
        area,
        None,
        profiles,
        NOW - timedelta(hours=1),
        until,
        "test",
        "tester",
        NOW,
    )


def test_no_left_turn_is_honoured_by_both_engines():
    network = network_from_arcs(CROSS_XY, CROSS_ARCS, restrictions=[("no_left_turn", 0, 1, 1)])
    graph = profile_graph_from_network(network, PROFILES["car"])
    assert graph.restrictions_applied == 1
    for engine in (DijkstraEngine(graph, graph.weight_ms), CchEngine(CchIndex(graph), graph.weight_ms)):
        assert _cost(engine, 0, 3) == 10 + 10 + 30  # around by 2, not the banned turn 0→1→3
        assert _cost(engine, 4, 3) == 20  # the same turn from the south is allowed
        path = engine.path([(0, 0)], [(3, 0)])
        assert [int(graph.edge[a]) for a in path.arcs] == [0, 2, 3]


def test_only_straight_on_forbids_every_other_exit():
    network = network_from_arcs(CROSS_XY, CROSS_ARCS, restrictions=[("only_straight_on", 0, 1, 2)])
    graph = profile_graph_from_network(network, PROFILES["car"])
    engine = DijkstraEngine(graph, graph.weight_ms)
    assert _cost(engine, 0, 3) == 50
    assert _cost(engine, 0, 2) == 20
    assert _cost(engine, 0, 0) == 0  # no U-turn at 1 either, but staying is free


def test_pedestrians_ignore_restrictions_and_one_ways():
    network = network_from_arcs(
        CROSS_XY, CROSS_ARCS, oneway=[True] * 6, restrictions=[("no_left_turn", 0, 1, 1)]
    )
    car = profile_graph_from_network(network, PROFILES["car"])
    walk = profile_graph_from_network(network, PROFILES["pedestrian"])
    assert _cost(DijkstraEngine(car, car.weight_ms), 3, 1) == math.inf  # against the one-way 1→3
    walking = _cost(DijkstraEngine(walk, walk.weight_ms), 3, 1)
    assert walking == pytest.approx(100 / (5 / 3.6), abs=0.001)  # 100 m at 5 km/h
    assert walk.restrictions_applied == 0


def test_emergency_vehicles_use_bus_lanes_and_drive_faster_on_major_roads():
    tags = [{}, {"access": "no", "psv": "yes"}, {}, {}, {}, {}]
    network = network_from_arcs(CROSS_XY, CROSS_ARCS, tags=tags, highway="primary")
    car = profile_graph_from_network(network, PROFILES["car"])
    emergency = profile_graph_from_network(network, PROFILES["emergency"])
    assert 1 not in set(car.edge.tolist()) and 1 in set(emergency.edge.tolist())
    assert _cost(DijkstraEngine(car, car.weight_ms), 0, 3) == 50
    assert _cost(DijkstraEngine(emergency, emergency.weight_ms), 0, 3) == pytest.approx(20 / 1.3, abs=0.002)


def _ladder() -> TerritoryGraph:
    """Two parallel streets 0-1-2 (fast) and 3-4-5 (slow), joined at both ends: a detour always exists."""
    xy = [(0, 0), (100, 0), (200, 0), (0, 50), (100, 50), (200, 50)]
    arcs = two_way([(0, 1, 10), (1, 2, 10), (3, 4, 20), (4, 5, 20), (0, 3, 5), (2, 5, 5)])
    return TerritoryGraph(network_from_arcs(xy, arcs), profiles=("car",))


def _route_s(graph: TerritoryGraph, a, b, **kw) -> tuple[float | None, set[int]]:
    result, _ = route(graph, lonlat(*a), lonlat(*b), **kw)
    return result.duration_s, {leg.edge for leg in result.legs}


def test_a_closed_edge_is_never_used_while_an_open_alternative_exists():
    graph = _ladder()
    before, edges = _route_s(graph, (0, 0), (200, 0))
    assert before == pytest.approx(20) and edges == {0, 2}
    graph.set_closures([_closure(1, edge_ids=[3])])  # arc id 3 = position 2: 1→2
    for prefer in ("auto", "dijkstra"):
        after, edges = _route_s(graph, (0, 0), (200, 0), prefer=prefer)
        assert 2 not in edges
        assert after == pytest.approx(5 + 40 + 5)


def test_closures_expire_and_slowdowns_multiply_time():
    graph = _ladder()
    now = datetime.now(UTC)  # not the module's NOW: the suite may run longer than the closure lasts
    graph.set_closures([_closure(1, edge_ids=[3], until=now + timedelta(minutes=10))])
    assert _route_s(graph, (0, 0), (200, 0), at=now)[0] == pytest.approx(50)
    later = now + timedelta(minutes=11)
    assert _route_s(graph, (0, 0), (200, 0), at=later)[0] == pytest.approx(20)
    graph.set_closures([_closure(2, edge_ids=[1, 3], factor=1.5)])
    assert _route_s(graph, (0, 0), (200, 0))[0] == pytest.approx(30)


def test_a_polygon_closes_every_arc_it_meets_and_unreachable_is_reported():
    graph = _ladder()
    flooded = shapely.Polygon([lonlat(90, -10), lonlat(110, -10), lonlat(110, 60), lonlat(90, 60)])
    graph.set_closures([_closure(1, area=flooded)])
    assert {int(i) for i in graph.closures[0].arcs} == {0, 1, 2, 3, 4, 5, 6, 7}  # every arc through x=100
    duration, _ = _route_s(graph, (0, 0), (200, 0))
    assert duration is None
    durations, distances, *_ = matrix(graph, [lonlat(0, 0)], [lonlat(200, 0), lonlat(0, 50)])
    assert np.isnan(durations[0, 0]) and np.isnan(distances[0, 0])
    assert durations[0, 1] == pytest.approx(5)


def test_profiles_listed_in_a_closure_are_the_only_ones_affected():
    graph = TerritoryGraph(_ladder().network, profiles=("car", "pedestrian"))
    graph.set_closures([_closure(1, edge_ids=[3], profiles=("car",))])
    assert _route_s(graph, (0, 0), (200, 0))[0] == pytest.approx(50)
    walk, edges = _route_s(graph, (0, 0), (200, 0), profile="pedestrian")
    assert 2 in edges


@st.composite
def _random_graph(draw):
    n = draw(st.integers(2, 9))
    arcs = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 50)), max_size=30)
    )
    closed = draw(st.lists(st.integers(0, max(len(arcs) - 1, 0)), max_size=4))
    return n, arcs, closed


@settings(max_examples=40, deadline=None)
@given(_random_graph())
def test_engines_agree_with_networkx_and_matrix_equals_one_to_one(case):
    n, arcs, closed = case
    xy = [(37.0 * i, 11.0 * (i % 3)) for i in range(n)]
    network = network_from_arcs(xy, arcs or [(0, 0, 1)])
    graph = profile_graph_from_network(network, PROFILES["car"])
    factor = np.ones(network.n_arcs)
    factor[[c for c in closed if c < network.n_arcs]] = np.inf
    weights = graph.weights_with(factor)
    reference = nx.MultiDiGraph()
    reference.add_nodes_from(range(n))
    for arc in range(graph.n_arcs):
        if weights[arc] < 2**31 - 2:
            reference.add_edge(int(graph.tail[arc]), int(graph.head[arc]), weight=int(weights[arc]))
    expected = dict(nx.all_pairs_dijkstra_path_length(reference))
    dijkstra, cch = DijkstraEngine(graph, weights), CchEngine(CchIndex(graph), weights)
    groups = [[(u, 0)] for u in range(n)]
    for engine in (dijkstra, cch):
        table = engine.costs(groups, groups)
        for u in range(n):
            for v in range(n):
                want = expected[u].get(v, math.inf)
                assert table[u, v] == want
                one = engine.path([(u, 0)], [(v, 0)])
                assert (math.inf if one is None else one.cost_ms) == want
                if one is not None:
                    assert sum(int(weights[a]) for a in one.arcs) == want
