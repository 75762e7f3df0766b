"""Road access after closures: hand-built graphs with known answers, properties against a networkx oracle, Monaco."""

from __future__ import annotations

import doctest
import json
from collections.abc import Sequence

import numpy as np
import psycopg
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulation.access
from routing.engine import matrix, snap_point
from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.access import (
    AccessModel,
    AccessPoint,
    access_point_from_link,
    access_point_from_snap,
    access_points_from_dependencies,
    flood_closure,
    road_closure,
)
from simulation.access_benchmark import naive_access
from simulation.consequences import FloodEvent, PipeBurstEvent, RoadClosureEvent, consequence_report
from simulation.dependencies import dependency_model_from_twin
from tests.common import database_fingerprint
from tests.routing.graphs import lonlat, network_from_arcs, two_way
from twin.errors import InvalidInput, NotFound

PROFILE = "emergency"


def _graph(
    xy: Sequence[tuple[float, float]], arcs: Sequence[tuple[int, int, float]], names: Sequence[str]
) -> TerritoryGraph:
    return TerritoryGraph(network_from_arcs(xy, arcs, names=names), use_cch=False, profiles=(PROFILE,))


def _point(graph: TerritoryGraph, edge_id: int, position: float, **kw: object) -> AccessPoint:
    return access_point_from_link(graph.state(PROFILE), edge_id=edge_id, position=position, **kw)  # type: ignore[arg-type]


def _dead_end() -> tuple[TerritoryGraph, list[AccessPoint]]:
    """A square 0-1-2-3 and a dead end 1-4 (« Impasse de l'Hôpital ») to the hospital; station near 0.

    Arc ids (two-way, interleaved): 1/2 Rue A (0-1), 3/4 Rue B (1-2), 5/6 Rue C (2-3), 7/8 Rue D (3-0),
    9/10 the dead end (1-4).
    """
    xy = [(0, 0), (100, 0), (100, 100), (0, 100), (200, 0)]
    names = [n for n in ("Rue A", "Rue B", "Rue C", "Rue D", "Impasse de l'Hôpital") for _ in (0, 1)]
    graph = _graph(xy, two_way([(0, 1, 10), (1, 2, 10), (2, 3, 10), (3, 0, 10), (1, 4, 20)]), names)
    points = [
        _point(graph, 1, 0.1, layer="critical_sites", id=1, name="Caserne Nord", kind="fire_station"),
        _point(graph, 9, 0.9, layer="critical_sites", id=2, name="Hôpital du Port", kind="hospital"),
        _point(graph, 5, 0.5, layer="buildings", id=10, kind="apartments", residents=12),
        _point(graph, 10, 0.5, layer="buildings", id=11, kind="house", residents=4),  # on the dead end
    ]
    return graph, points


# ---------------------------------------------------------------- answers known by construction


def test_hospital_losing_its_only_access_road_is_isolated() -> None:
    graph, points = _dead_end()
    model = AccessModel(graph, points, profile=PROFILE)
    impact = model.assess([road_closure(graph, [9, 10])])
    by_id = {points[p.point].id: p for p in impact.affected}
    hospital = by_id[2]
    assert hospital.cause == "isolated"
    assert hospital.reason["fr"] == "Hôpital du Port : plus d'accès routier — Impasse de l'Hôpital fermée"
    assert hospital.reason["en"] == "Hôpital du Port: no road access any more — Impasse de l'Hôpital closed"
    assert by_id[11].cause == "isolated"  # the house on the dead end
    [area] = impact.areas
    assert area.node_ids == (5,) and area.cut_in and area.cut_out
    assert {points[k].id for k in area.points} == {2, 11} and area.residents == 4
    # No hospital left for anyone else: the times say so (None), and so does the reason.
    assert by_id[10].cause == "degraded" and by_id[10].to_hospital_s[1] is None
    assert "plus aucun hôpital n'est accessible" in by_id[10].reason["fr"]
    assert impact.times_s(0)["from_fire_station_s"] == [0.0, 0.0]


def test_two_roads_closing_one_keeps_access_but_longer() -> None:
    # Station at 0; hospital at 2; short road 0-1-2 (« Rue Courte »), long road 0-3-4-2 (« Rue Longue »).
    xy = [(0, 0), (100, 0), (200, 0), (0, 100), (200, 100)]
    names = [
        n for n in ("Rue Courte", "Rue Courte", "Rue Longue", "Rue Longue", "Rue Longue") for _ in (0, 1)
    ]
    graph = _graph(xy, two_way([(0, 1, 10), (1, 2, 10), (0, 3, 10), (3, 4, 20), (4, 2, 10)]), names)
    points = [
        _point(graph, 5, 0.0, layer="critical_sites", id=1, name="Caserne", kind="fire_station"),  # at node 0
        _point(graph, 3, 1.0, layer="critical_sites", id=2, name="Hôpital", kind="hospital"),
    ]
    model = AccessModel(graph, points, profile=PROFILE)
    impact = model.assess([road_closure(graph, [1, 2])])
    assert not impact.areas and not impact.isolated_points
    [hospital] = [p for p in impact.affected if p.point == 1]
    before, after = hospital.from_station_s
    assert before is not None and after is not None and after > before
    assert after == pytest.approx(before * 4 / 2, rel=0.02)  # 40 s of roads instead of 20 (emergency speeds)
    assert hospital.reason["fr"].startswith("Hôpital : accès dégradé, ")
    assert hospital.reason["fr"].endswith("— Rue Courte fermée")
    report = consequence_report([RoadClosureEvent((1, 2), "travaux")], access=model)
    actions = {a["kind"]: a for a in report.as_json()["recommended_actions"]}
    assert actions["detour"]["worst_delay_s"] == pytest.approx(after - before, abs=0.01)
    assert "no_detour" not in actions


def test_closing_one_direction_of_a_dead_end_cuts_the_way_out_only() -> None:
    graph, points = _dead_end()
    impact = AccessModel(graph, points, profile=PROFILE).assess([road_closure(graph, [10])])  # 4 → 1 closed
    [area] = impact.areas
    assert (area.cut_in, area.cut_out) == (False, True)
    hospital = [p for p in impact.affected if points[p.point].id == 2][0]
    assert hospital.cause == "isolated"
    assert impact.times_s(1)["reachable"] == [True, True] and impact.times_s(1)["can_leave"] == [True, False]
    assert impact.times_s(1)["from_fire_station_s"][0] == impact.times_s(1)["from_fire_station_s"][1]


def test_report_warns_residents_of_an_isolated_area_and_says_there_is_no_detour() -> None:
    graph, points = _dead_end()
    model = AccessModel(graph, points, profile=PROFILE)
    report = consequence_report([RoadClosureEvent((9, 10))], access=model)
    document = json.loads(json.dumps(report.as_json()))  # JSON-serialisable as it is
    actions = {a["kind"]: a for a in document["recommended_actions"]}
    assert actions["no_detour"]["edge_ids"] == [9, 10]
    assert "Impasse de l'Hôpital" in actions["no_detour"]["fr"]
    assert actions["warn_residents"]["building_ids"] == [10, 11]
    assert actions["warn_residents"]["residents"] == 16 and report.residents_hit == 16
    # The station is hit too: it has no hospital to take anyone to any more.
    assert [a["name"] for a in document["critical_sites_hit"]] == ["Caserne Nord", "Hôpital du Port"]
    assert document["residents_by_cause"] == {"road_isolated": 4, "road_degraded": 12}


def test_flood_closes_the_roads_it_covers_and_shallow_water_slows_them() -> None:
    graph, points = _dead_end()
    model = AccessModel(graph, points, profile=PROFILE)
    # A box around the middle of the dead end (x 140–160 m), away from every other road.
    w, s = lonlat(140, -10)
    e, n = lonlat(160, 10)
    area = shapely.box(w, s, e, n)
    deep = model.assess([flood_closure(graph, area, water_level_m=0.5)])
    assert deep.closed_edges == (8, 9) and [a.node_ids for a in deep.areas] == [(5,)]
    shallow = model.assess([flood_closure(graph, area, water_level_m=0.1)])
    assert shallow.closed_edges == () and shallow.slowed_edges == (8, 9) and not shallow.areas
    hospital = [p for p in shallow.affected if points[p.point].id == 2][0]
    assert hospital.cause == "degraded" and "Impasse de l'Hôpital ralentie" in hospital.reason["fr"]
    report = consequence_report(
        [FloodEvent(shapely.box(*lonlat(-20, -10), *lonlat(20, 10)), 1.0)], access=model
    )
    flooded = [a for a in report.affected if "flooded" in a.causes]
    assert [a.name for a in flooded] == ["Caserne Nord"]
    assert flooded[0].reasons[-1]["fr"] == "Caserne Nord : dans la zone inondée (1 m d'eau)"


# ---------------------------------------------------------------- properties (hypothesis)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[TerritoryGraph, list[AccessPoint], list[int], list[int]]:
    side = draw(st.integers(2, 4))
    xy = [(100.0 * (i % side), 100.0 * (i // side)) for i in range(side * side)]
    pairs = [(i, i + 1) for i in range(len(xy)) if (i + 1) % side] + [
        (i, i + side) for i in range(len(xy) - side)
    ]
    arcs: list[tuple[int, int, float]] = []
    for u, v in pairs:
        kind = draw(st.sampled_from(["two_way", "two_way", "forward", "backward"]))
        t = float(draw(st.integers(5, 60)))
        arcs += (
            [(u, v, t)]
            if kind == "forward"
            else [(v, u, t)]
            if kind == "backward"
            else [(u, v, t), (v, u, t)]
        )
    graph = _graph(xy, arcs, [f"Rue {i}" for i in range(len(arcs))])
    n_points = draw(st.integers(2, 6))
    points = [
        _point(
            graph,
            draw(st.integers(1, len(arcs))),
            draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
            layer="critical_sites",
            id=k,
            kind="fire_station" if k == 0 else "hospital" if k == 1 else "school",
        )
        for k in range(n_points)
    ]
    closed = draw(st.lists(st.integers(1, len(arcs)), max_size=len(arcs), unique=True))
    more = draw(st.lists(st.integers(1, len(arcs)), max_size=4, unique=True))
    return graph, points, closed, sorted(set(closed) | set(more))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenarios())
def test_closing_more_roads_never_improves_access_nor_reconnects(
    scenario: tuple[TerritoryGraph, list[AccessPoint], list[int], list[int]],
) -> None:
    graph, points, closed, more = scenario
    model = AccessModel(graph, points, profile=PROFILE)
    some = model.assess([road_closure(graph, closed)] if closed else [])
    most = model.assess([road_closure(graph, more)] if more else [])
    main_before = some.before.in_main
    for a, b in ((some.before, some.after), (some.after, most.after)):
        assert (b.from_station_ms >= a.from_station_ms).all() and (b.to_hospital_ms >= a.to_hospital_ms).all()
        # Never reconnects: what no station reaches (or no hospital) stays so.
        assert not (np.isfinite(b.from_station_ms) & ~np.isfinite(a.from_station_ms)).any()
        assert not (np.isfinite(b.to_hospital_ms) & ~np.isfinite(a.to_hospital_ms)).any()
        # The main component is the piece keeping most of the former one: while it keeps a majority it is
        # unique, so isolated nodes and points stay isolated.
        if 2 * (a.in_main & main_before).sum() > main_before.sum() < 2 * (b.in_main & main_before).sum():
            assert not (b.in_main & ~a.in_main).any()
            assert not (b.reachable & ~a.reachable).any() and not (b.can_leave & ~a.can_leave).any()
    # The same answers as a straightforward networkx recomputation.
    from_station, to_hospital, _ = naive_access(model, most.closures)
    assert np.array_equal(from_station, most.after.from_station_ms)
    assert np.array_equal(to_hospital, most.after.to_hospital_ms)


# ---------------------------------------------------------------- bad input


def test_bad_inputs_are_refused_with_clear_errors() -> None:
    graph, points = _dead_end()
    model = AccessModel(graph, points, profile=PROFILE)
    baseline = model.assess([]).after.from_station_ms.copy()
    with pytest.raises(InvalidInput, match=r"unknown road arc id\(s\) \[999\]"):
        road_closure(graph, [3, 999])
    with pytest.raises(InvalidInput, match="at least one road arc"):
        road_closure(graph, [])
    with pytest.raises(InvalidInput, match="empty"):
        flood_closure(graph, shapely.Polygon())
    with pytest.raises(InvalidInput, match="Polygon or MultiPolygon"):
        flood_closure(graph, shapely.Point(7.42, 43.73))
    with pytest.raises(InvalidInput, match="invalid"):
        flood_closure(graph, shapely.Polygon([(7.42, 43.73), (7.43, 43.74), (7.43, 43.73), (7.42, 43.74)]))
    with pytest.raises(InvalidInput, match="not a depth"):
        flood_closure(graph, shapely.box(7.42, 43.73, 7.43, 43.74), water_level_m=-1.0)
    with pytest.raises(InvalidInput, match="road arc 77 is not an arc"):
        _point(graph, 77, 0.5, layer="buildings", id=5)
    with pytest.raises(InvalidInput, match="not between 0 and 1"):
        _point(graph, 3, 1.5, layer="buildings", id=5)
    with pytest.raises(NotFound, match=r"fire_station ids \[42\]"):
        AccessModel(graph, points, profile=PROFILE, fire_station_ids=[42])
    with pytest.raises(InvalidInput, match="at least one initiating event"):
        consequence_report([], access=model)
    with pytest.raises(InvalidInput, match="pipe burst needs the water network"):
        consequence_report([PipeBurstEvent("p1")], access=model)
    with pytest.raises(InvalidInput, match="not a road closure, a flood or a pipe burst"):
        consequence_report(["close everything"], access=model)  # type: ignore[list-item]
    # Nothing was laid over the graph by the failed calls.
    assert graph.closures == [] and np.array_equal(model.assess([]).after.from_station_ms, baseline)


# ---------------------------------------------------------------- Monaco (real OSM)


@pytest.fixture(scope="module")
def monaco(monaco_url: str) -> tuple[str, TerritoryGraph]:
    with psycopg.connect(monaco_url) as conn:
        network = road_network_from_db(conn, "Monaco")
    return monaco_url, TerritoryGraph(network, use_cch=False, profiles=(PROFILE,))


def test_monaco_times_equal_routing_matrix_with_live_or_what_if_closures(
    monaco: tuple[str, TerritoryGraph],
) -> None:
    url, graph = monaco
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, kind, name, ST_X(geom), ST_Y(geom) FROM twin.critical_sites c WHERE territory_id ="
            " (SELECT id FROM twin.territory WHERE name = 'Monaco') ORDER BY id"
        ).fetchall()
    state = graph.state(PROFILE)
    points = [
        access_point_from_snap(
            snap_point(state, r[3], r[4]), layer="critical_sites", id=r[0], kind=r[1], name=r[2]
        )
        for r in rows
    ]
    model = AccessModel(graph, points, profile=PROFILE)
    assert len(model.stations) == 2 and len(model.hospitals) == 6
    stations = [(points[k].lonlat) for k in model.stations]
    hospitals = [(points[k].lonlat) for k in model.hospitals]
    sites = [p.lonlat for p in points]
    # A what-if closure of a busy arc here is the same closure laid live on a second graph there.
    busy = int(
        graph.network.edge_ids[np.argmax(graph.network.length_m * (graph.network.highway == "primary"))]
    )
    closure = road_closure(graph, [busy])
    live = TerritoryGraph(graph.network, use_cch=False, profiles=(PROFILE,))
    live.set_closures([closure])
    impact = model.assess([closure])
    for on, result in ((graph, impact.before), (live, impact.after)):
        from_station, *_ = matrix(on, stations, sites, profile=PROFILE)
        to_hospital, *_ = matrix(on, sites, hospitals, profile=PROFILE)
        expected_from = np.nanmin(np.where(np.isnan(from_station), np.inf, from_station), axis=0) * 1000
        expected_to = np.nanmin(np.where(np.isnan(to_hospital), np.inf, to_hospital), axis=1) * 1000
        assert np.allclose(result.from_station_ms, expected_from, atol=0.5)
        assert np.allclose(result.to_hospital_ms, expected_to, atol=0.5)


def test_monaco_closing_the_street_in_front_of_the_hospital_cuts_its_access(
    monaco: tuple[str, TerritoryGraph],
) -> None:
    url, graph = monaco
    before = database_fingerprint(url)
    deps = dependency_model_from_twin(url, "Monaco", road_graph=graph)
    model = AccessModel(graph, access_points_from_dependencies(graph, deps, profile=PROFILE), profile=PROFILE)
    chpg = next(
        k
        for k, p in enumerate(model.points)
        if p.name and "Princesse Grace" in p.name and p.kind == "hospital"
    )
    access_edges = sorted({int(graph.network.edge_ids[e]) for e, _, _ in model.points[chpg].traversals})
    street = str(graph.network.street_name[model.points[chpg].traversals[0][0]])
    report = consequence_report([RoadClosureEvent(tuple(access_edges))], access=model, dependencies=deps)
    assert report.access is not None
    hit = [p for p in report.access.affected if p.point == chpg]
    assert hit and hit[0].cause == "isolated"
    assert (
        hit[0].reason["fr"].startswith("Centre hospitalier Princesse Grace (CHPG) : plus d'accès routier — ")
    )
    assert street in hit[0].reason["fr"] and street in hit[0].reason["en"]
    assert any(a.name == "Centre hospitalier Princesse Grace (CHPG)" for a in report.critical_sites_hit)
    after, base = report.access.after, report.access.before
    assert (after.from_station_ms >= base.from_station_ms).all() and (
        after.to_hospital_ms >= base.to_hospital_ms
    ).all()
    json.dumps(report.as_json())
    with pytest.raises(InvalidInput):
        consequence_report([RoadClosureEvent((-5,))], access=model)
    with pytest.raises(NotFound):
        dependency_model_from_twin(url, "Atlantide")
    assert database_fingerprint(url) == before  # reading, deriving and failing wrote nothing


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(simulation.access)
    assert tried >= 3 and failures == 0
