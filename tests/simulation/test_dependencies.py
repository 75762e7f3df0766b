"""Dependency links: a hand-built territory with known answers, KNN against brute force on Monaco, a pipe burst."""

from __future__ import annotations

import json
import math

import numpy as np
import psycopg
import pytest
import shapely

from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.access import AccessModel, access_points_from_dependencies
from simulation.consequences import PipeBurstEvent, RoadClosureEvent, consequence_report
from simulation.dependencies import DependencyModel, dependency_model_from_twin, drivable_edge_ids
from simulation.water.isolation import SegmentModel
from simulation.water.network import network_from_twin
from simulation.water.valves import explicit_isolation_valves
from tests.common import database_fingerprint
from twin.errors import InvalidInput, NotFound

TERRITORY = "Deps-Test"
ORIGIN = (3.87, 43.61)


def _ll(x_m: float, y_m: float) -> tuple[float, float]:
    return (
        ORIGIN[0] + x_m / (111_320 * math.cos(math.radians(ORIGIN[1]))),
        ORIGIN[1] + y_m / 111_320,
    )


def _wkt_point(x: float, y: float) -> str:
    return f"SRID=4326;POINT({_ll(x, y)[0]} {_ll(x, y)[1]})"


def _wkt_square(x: float, y: float, half_m: float = 5.0) -> str:
    ring = [_ll(x + dx, y + dy) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))]
    ring = [
        _ll(x + dx * half_m, y + dy * half_m) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))
    ]
    return "SRID=4326;MULTIPOLYGON(((" + ",".join(f"{a} {b}" for a, b in ring) + ")))"


def _wkt_line(*points: tuple[float, float]) -> str:
    return "SRID=4326;LINESTRING(" + ",".join(f"{_ll(*p)[0]} {_ll(*p)[1]}" for p in points) + ")"


@pytest.fixture(scope="module")
def territory(database_url: str) -> dict[str, int]:
    """Two streets N1–N2 (Rue Haute) and N2–N3 (Rue Basse), 160 m each, a tiny water network R–A–B–C,
    three buildings (one far away), a hospital, a fire station, two lights and four sensors."""
    ids: dict[str, int] = {}
    with psycopg.connect(database_url) as conn:
        tid = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, source) VALUES (%s, 2154, 'test') RETURNING id",
            (TERRITORY,),
        ).fetchone()[0]  # type: ignore[index]
        ids["territory"] = tid
        nodes = {}
        for name, x in (("N1", 0.0), ("N2", 160.0), ("N3", 320.0)):
            nodes[name] = conn.execute(
                "INSERT INTO twin.road_nodes (territory_id, geom) VALUES (%s, %s) RETURNING id",
                (tid, _wkt_point(x, 0)),
            ).fetchone()[0]  # type: ignore[index]
        for street, a, b, xa, xb in (("Rue Haute", "N1", "N2", 0, 160), ("Rue Basse", "N2", "N3", 160, 320)):
            for tail, head, x0, x1 in ((a, b, xa, xb), (b, a, xb, xa)):
                ids[f"{street}:{tail}"] = conn.execute(
                    "INSERT INTO twin.road_edges (territory_id, source_node, target_node, name, highway, length_m,"
                    " speed_kph, travel_time_s, geom) VALUES (%s, %s, %s, %s, 'residential', 160, 30, 19.2, %s)"
                    " RETURNING id",
                    (tid, nodes[tail], nodes[head], street, _wkt_line((x0, 0), (x1, 0))),
                ).fetchone()[0]  # type: ignore[index]
        for name, x, y, residents in (("B1", 80, 15, 20), ("B2", 240, -15, 30), ("B3", 80, 1000, 5)):
            ids[name] = conn.execute(
                "INSERT INTO twin.buildings (territory_id, name, use, residents_est, geom)"
                " VALUES (%s, %s, 'apartments', %s, %s) RETURNING id",
                (tid, name, residents, _wkt_square(x, y)),
            ).fetchone()[0]  # type: ignore[index]
        for name, kind, x, y in (
            ("Hôpital Est", "hospital", 330, 5),
            ("Caserne Ouest", "fire_station", -5, 5),
        ):
            ids[name] = conn.execute(
                "INSERT INTO twin.critical_sites (territory_id, name, kind, geom) VALUES (%s, %s, %s, %s) RETURNING id",
                (tid, name, kind, _wkt_point(x, y)),
            ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO twin.water_reservoirs (territory_id, name, base_head_m, geom) VALUES (%s, 'R', 80, %s)",
            (tid, _wkt_point(0, 30)),
        )
        for name, x, y in (("A", 80, 30), ("B", 160, 30), ("C", 240, -30)):
            ids[name] = conn.execute(
                "INSERT INTO twin.water_junctions (territory_id, name, elevation_m, base_demand_m3_s, geom)"
                " VALUES (%s, %s, 10, 0.001, %s) RETURNING id",
                (tid, name, _wkt_point(x, y)),
            ).fetchone()[0]  # type: ignore[index]
        coords = {"R": (0, 30), "A": (80, 30), "B": (160, 30), "C": (240, -30)}
        for pipe in ("RA", "AB", "BC"):
            ids[pipe] = conn.execute(
                "INSERT INTO twin.water_pipes (territory_id, name, start_node, end_node, length_m, diameter_m, geom)"
                " VALUES (%s, %s, %s, %s, 100, 0.2, %s) RETURNING id",
                (tid, pipe, pipe[0], pipe[1], _wkt_line(coords[pipe[0]], coords[pipe[1]])),
            ).fetchone()[0]  # type: ignore[index]
        for name, y in (("L1", 8), ("L2", 500)):
            ids[name] = conn.execute(
                "INSERT INTO twin.street_lights (territory_id, lamp_type, geom) VALUES (%s, 'LED', %s) RETURNING id",
                (tid, _wkt_point(160, y)),
            ).fetchone()[0]  # type: ignore[index]
        sensors = (
            ("S1", "water_pressure", "m", 240, -30, "water_junctions", ids["C"]),
            ("S2", "traffic_count", "veh/h", 240, 3, None, None),
            ("S3", "no2", "µg/m³", 0, 0, None, None),
            ("S4", "water_flow", "m³/h", 120, 32, None, None),
        )
        for name, kind, unit, x, y, layer, asset in sensors:
            ids[name] = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, geom)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (tid, name, kind, unit, layer, asset, _wkt_point(x, y)),
            ).fetchone()[0]  # type: ignore[index]
    return ids


@pytest.fixture(scope="module")
def model(database_url: str, territory: dict[str, int]) -> DependencyModel:
    return dependency_model_from_twin(database_url, TERRITORY)


def test_links_of_a_hand_built_territory(model: DependencyModel, territory: dict[str, int]) -> None:
    ids = territory
    access = model.link_set("road_access", "buildings")
    assert access is not None
    assert access.unlinked_ids.tolist() == [ids["B3"]]  # 1 km from any street
    b1 = access.provider_of(ids["B1"])
    assert b1 is not None and access.provider_ids[b1] in (ids["Rue Haute:N1"], ids["Rue Haute:N2"])
    assert access.distance_m[b1] == pytest.approx(10.0, abs=0.2)  # the square's edge is 10 m from the street
    # Any point facing the square's 10 m side is nearest: 75–85 m along the 160 m street, either direction.
    assert min(access.position[b1], 1 - access.position[b1]) == pytest.approx(80 / 160, abs=5.1 / 160)
    assert access.origin(b1) == "derived"
    sites = model.link_set("road_access", "critical_sites")
    assert sites is not None
    hospital = sites.provider_of(ids["Hôpital Est"])
    assert hospital is not None and sites.provider_ids[hospital] in (ids["Rue Basse:N2"], ids["Rue Basse:N3"])
    water = model.link_set("water_service", "buildings")
    assert water is not None and water.provider_names is not None
    served = {int(d): water.provider_names[i] for i, d in enumerate(water.dependent_ids)}
    assert served == {ids["B1"]: "A", ids["B2"]: "C"}
    lights = model.link_set("street_light_road", "street_lights")
    assert lights is not None and lights.unlinked_ids.tolist() == [ids["L2"]] and len(lights) == 1
    sensors = {
        (s.provider_layer, int(d)): (int(s.provider_ids[i]), s.origin(i))
        for s in model.links("sensor_asset")
        for i, d in enumerate(s.dependent_ids)
    }
    assert sensors == {
        ("water_junctions", ids["S1"]): (ids["C"], "edited"),  # stated in twin.sensors
        ("road_edges", ids["S2"]): (sensors[("road_edges", ids["S2"])][0], "derived"),
        ("water_pipes", ids["S4"]): (ids["AB"], "derived"),
    }
    assert sensors[("road_edges", ids["S2"])][0] in (ids["Rue Basse:N2"], ids["Rue Basse:N3"])
    assert model.assets["buildings"].residents.tolist() == [20, 30, 5]
    # Both directions: what a junction serves, what a building depends on.
    assert [r["dependent"]["id"] for r in model.dependents_of("water_junctions", ids["C"])] == [
        ids["B2"],
        ids["S1"],
    ]
    kinds = {r["kind"] for r in model.providers_of("buildings", ids["B2"])}
    assert kinds == {"road_access", "water_service"}
    json.dumps(model.summary())


def test_edited_link_replaces_the_derived_one(model: DependencyModel, territory: dict[str, int]) -> None:
    edited = model.with_edited_link(
        "road_access", "buildings", territory["B3"], territory["Rue Haute:N1"], position=0.25
    )
    links = edited.link_set("road_access", "buildings")
    assert links is not None
    row = links.provider_of(territory["B3"])
    assert row is not None and links.origin(row) == "edited" and links.position[row] == 0.25
    assert links.unlinked_ids.tolist() == []
    original = model.link_set("road_access", "buildings")
    assert (
        original is not None and original.provider_of(territory["B3"]) is None
    )  # the model itself is unchanged
    with pytest.raises(NotFound, match="no buildings feature with id 987654"):
        model.with_edited_link("road_access", "buildings", 987654, territory["Rue Haute:N1"])
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        model.with_edited_link(
            "road_access", "buildings", territory["B1"], territory["Rue Haute:N1"], position=2.0
        )
    with pytest.raises(InvalidInput, match="link kind 'power'"):
        model.links("power")


def test_pipe_burst_and_road_closure_in_one_report(
    database_url: str, model: DependencyModel, territory: dict[str, int]
) -> None:
    ids = territory
    with psycopg.connect(database_url) as conn:
        graph = TerritoryGraph(road_network_from_db(conn, TERRITORY), use_cch=False, profiles=("emergency",))
    deps = dependency_model_from_twin(database_url, TERRITORY, road_graph=graph)
    access = AccessModel(graph, access_points_from_dependencies(graph, deps))
    net = network_from_twin(database_url, TERRITORY)
    water = SegmentModel(net, explicit_isolation_valves(net, [("AB", "A"), ("AB", "B")]))
    rue_basse = (ids["Rue Basse:N2"], ids["Rue Basse:N3"])
    report = consequence_report(
        [RoadClosureEvent(rue_basse, "travaux"), PipeBurstEvent("AB")],
        access=access,
        dependencies=deps,
        water=water,
    )
    document = json.loads(json.dumps(report.as_json()))
    by_id = {(a["layer"], a["id"]): a for a in document["affected"]}
    b2 = by_id[("buildings", ids["B2"])]
    assert b2["causes"] == ["road_isolated", "no_water"] and b2["residents"] == 30
    assert b2["reasons"][1]["fr"].startswith("B2 : privé d'eau — branché sur le nœud C : privé d'eau car")
    assert b2["reasons"][0]["en"] == "B2: no road access any more — Rue Basse closed"
    # B1 keeps its water (A is still fed by R) and its street, but the only hospital is cut off.
    assert by_id[("buildings", ids["B1"])]["causes"] == ["road_degraded"]
    assert "no hospital can be reached any more" in by_id[("buildings", ids["B1"])]["reasons"][0]["en"]
    assert by_id[("critical_sites", ids["Hôpital Est"])]["causes"] == ["road_isolated"]
    actions = {a["kind"]: a for a in document["recommended_actions"]}
    assert actions["close_valves"]["valves"] == ["AB@A", "AB@B"]
    assert actions["warn_residents"]["building_ids"] == [ids["B1"], ids["B2"]]
    assert actions["warn_residents"]["residents"] == 50 and report.residents_hit == 50
    assert document["water"]["cut_off_nodes"] == ["B", "C"]
    with pytest.raises(NotFound, match="no pipe, pump or valve named 'ZZ'"):
        consequence_report([PipeBurstEvent("ZZ")], access=access, dependencies=deps, water=water)
    with pytest.raises(InvalidInput, match="one pipe burst per report"):
        consequence_report(
            [PipeBurstEvent("AB"), PipeBurstEvent("BC")], access=access, dependencies=deps, water=water
        )


def test_bad_inputs_are_refused_and_leave_the_data_unchanged(
    database_url: str, territory: dict[str, int]
) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(NotFound, match="no territory 'Nulle-Part'"):
        dependency_model_from_twin(database_url, "Nulle-Part")
    with pytest.raises(InvalidInput, match="max_access_m must be a distance"):
        dependency_model_from_twin(database_url, TERRITORY, max_access_m=-3)
    with pytest.raises(InvalidInput, match="knn_candidates"):
        dependency_model_from_twin(database_url, TERRITORY, knn_candidates=0)
    dependency_model_from_twin(database_url, TERRITORY)
    assert database_fingerprint(database_url) == before


def test_monaco_knn_equals_brute_force_nearest_drivable_arc(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        network = road_network_from_db(conn, "Monaco")
        crs = network.crs_epsg
        sites = conn.execute(
            "SELECT id, ST_AsBinary(ST_Transform(geom, %s)) FROM twin.critical_sites WHERE territory_id = %s"
            " ORDER BY id",
            (crs, network.territory_id),
        ).fetchall()
    graph = TerritoryGraph(network, use_cch=False, profiles=("emergency",))
    model = dependency_model_from_twin(monaco_url, "Monaco", road_graph=graph)
    links = model.link_set("road_access", "critical_sites")
    assert links is not None and len(links) == len(sites) == 57 and not len(links.unlinked_ids)
    drivable = drivable_edge_ids(graph)
    arcs = network.arcs_of_edge_ids(drivable)
    for site_id, wkb in sites:
        point = shapely.from_wkb(bytes(wkb))
        distances = shapely.distance(network.geometry_m[arcs], point)
        row = links.provider_of(int(site_id))
        assert row is not None
        assert links.distance_m[row] == pytest.approx(float(distances.min()), abs=0.01)
        assert int(links.provider_ids[row]) in drivable
    buildings = model.link_set("road_access", "buildings")
    assert buildings is not None and len(buildings) + len(buildings.unlinked_ids) == len(
        model.assets["buildings"]
    )
    assert np.nanmax(buildings.distance_m) <= buildings.max_distance_m
