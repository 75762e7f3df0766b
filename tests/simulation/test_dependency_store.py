"""The dependency links stored in simulation.dependency_links: the stored model equals the derived one, edits
survive re-derivation and change consequence reports, "no provider" edits, power feeders from the lights'
cabinets, the providers chain down to the water sources; refused edits leave the database as it was."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.access import AccessModel, access_points_from_dependencies
from simulation.consequences import PipeBurstEvent, consequence_report
from simulation.dependencies import (
    DependencyModel,
    dependency_model_from_twin,
    derive_and_save,
    load_dependency_model,
    providers_chain,
)
from simulation.dependencies.feeders import cabinet_key
from simulation.dependencies.links import LinkConflict, delete_edited_link, put_edited_link
from simulation.territory import load_territory_models
from simulation.water.isolation import SegmentModel
from simulation.water.network import network_from_twin
from simulation.water.valves import explicit_isolation_valves
from tests.simulation.dependency_fixtures import build_territory, simulation_fingerprint
from twin.errors import InvalidInput, NotFound

TERRITORY = "Deps-Store"


@pytest.fixture(scope="module")
def ids(database_url: str) -> dict[str, int]:
    return build_territory(database_url, TERRITORY)


@pytest.fixture(scope="module")
def graph(database_url: str, ids: dict[str, int]) -> TerritoryGraph:
    with psycopg.connect(database_url) as conn:
        return TerritoryGraph(road_network_from_db(conn, TERRITORY), use_cch=False, profiles=("emergency",))


def _territory(ids: dict[str, int]) -> tuple[int, str, int]:
    return ids["territory"], TERRITORY, 2154


def _edit(url: str, ids: dict[str, int], **fields) -> dict:
    with psycopg.connect(url) as conn:
        return put_edited_link(conn, _territory(ids), actor="test-editor", **fields)


def _water_of(model: DependencyModel, building: int) -> tuple[str | None, str | None]:
    for s in model.links("water_service", dependent_layer="buildings"):
        row = s.provider_of(building)
        if row is not None:
            assert s.provider_names is not None
            return s.provider_names[row], s.origin(row)
    return None, None


def _burst(url: str, graph: TerritoryGraph, model: DependencyModel, pipe: str, valves) -> dict:
    net = network_from_twin(url, TERRITORY)
    water = SegmentModel(net, explicit_isolation_valves(net, valves))
    access = AccessModel(graph, access_points_from_dependencies(graph, model))
    report = consequence_report([PipeBurstEvent(pipe)], access=access, dependencies=model, water=water)
    return {a["id"]: a["causes"] for a in report.as_json()["affected"] if a["layer"] == "buildings"}


def test_the_stored_model_equals_the_derived_one(database_url, ids, graph):
    result = derive_and_save(database_url, TERRITORY, road_graph=graph)
    assert result["cabinet_key"] == "Armoire" and result["derived_feeders"] == 1
    derived = dependency_model_from_twin(database_url, TERRITORY, road_graph=graph, cabinet_key="Armoire")
    stored = load_dependency_model(database_url, TERRITORY, graph)
    assert stored.all_links() == derived.all_links()
    assert len(stored.all_links()) == result["rows"]
    kinds = {link[0] for link in stored.all_links()}
    assert kinds == {"road_access", "water_service", "street_light_road", "power_feed", "sensor_asset"}
    assert set(stored.assets) == set(derived.assets)
    for layer, assets in derived.assets.items():
        assert stored.assets[layer].ids.tolist() == assets.ids.tolist()
        assert stored.assets[layer].residents.tolist() == assets.residents.tolist()
    for s in derived.link_sets:
        twin = [
            t
            for t in stored.links(s.kind, dependent_layer=s.dependent_layer)
            if t.provider_layer == s.provider_layer
        ]
        assert twin, (s.kind, s.dependent_layer, s.provider_layer)
        assert set(s.unlinked_ids.tolist()) <= set().union(*(t.unlinked_ids.tolist() for t in twin))
        if s.provider_names is not None:
            names = {int(d): s.provider_names[i] for i, d in enumerate(s.dependent_ids)}
            got = {int(d): t.provider_names[i] for t in twin for i, d in enumerate(t.dependent_ids)}
            assert got == names
        np.testing.assert_allclose(
            np.sort(s.distance_m), np.sort(np.concatenate([t.distance_m for t in twin])), atol=1e-6
        )
    access = stored.link_set("road_access", "buildings")
    assert access is not None and access.unlinked_ids.tolist() == [ids["B3"]]
    # The stated sensor link is an edited row of twin.sensors; the traffic sensor's is derived.
    sensors = {
        (int(d), s.origin(i)) for s in stored.links("sensor_asset") for i, d in enumerate(s.dependent_ids)
    }
    assert sensors == {(ids["S1"], "edited"), (ids["S2"], "derived")}


def test_power_feeders_from_the_lights_cabinets(database_url, ids, graph):
    derive_and_save(database_url, TERRITORY, road_graph=graph)
    model = load_dependency_model(database_url, TERRITORY, graph)
    with psycopg.connect(database_url) as conn:
        assert cabinet_key(conn, ids["territory"]) == "Armoire"
        feeders = conn.execute(
            "SELECT name, id, attributes, ST_Y(geom) FROM simulation.power_feeders WHERE territory_id = %s",
            (ids["territory"],),
        ).fetchall()
    assert [(f[0], f[2]["derived"], f[2]["lights"]) for f in feeders] == [("A1", True, 2)]
    a1 = int(feeders[0][1])
    lights = model.link_set("power_feed", "street_lights")
    assert lights is not None
    fed = {int(d): int(p) for d, p in zip(lights.dependent_ids, lights.provider_ids, strict=True)}
    # L1 and L2 by their cabinet, whatever the distance; L3 names none: the nearest feeder within 500 m, A1 at
    # the centroid (160, 254) of its lights, ≈ 283 m away.
    assert fed[ids["L1"]] == a1 and fed[ids["L2"]] == a1 and fed[ids["L3"]] == a1
    pumps = model.link_set("power_feed", "water_pumps")
    assert pumps is not None and pumps.dependent_ids.tolist() == [ids["PU1"]]
    assert model.dependents_of("power_feeders", a1)[0]["kind"] == "power_feed"
    # A lamp moved to cabinet A2 makes a second feeder on the next derivation; A1 moves to its remaining lights.
    with psycopg.connect(database_url) as conn:
        conn.execute(
            'UPDATE twin.street_lights SET attributes = \'{"Armoire": "A2"}\' WHERE id = %s', (ids["L2"],)
        )
    try:
        derive_and_save(database_url, TERRITORY, road_graph=graph)
        model = load_dependency_model(database_url, TERRITORY, graph)
        with psycopg.connect(database_url) as conn:
            names = dict(
                conn.execute(
                    "SELECT name, id FROM simulation.power_feeders WHERE territory_id = %s",
                    (ids["territory"],),
                ).fetchall()
            )
        assert set(names) == {"A1", "A2"}
        lights = model.link_set("power_feed", "street_lights")
        assert lights is not None
        assert int(lights.provider_ids[lights.provider_of(ids["L2"])]) == names["A2"]
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute(
                'UPDATE twin.street_lights SET attributes = \'{"Armoire": "A1"}\' WHERE id = %s', (ids["L2"],)
            )
        derive_and_save(database_url, TERRITORY, road_graph=graph)
    with psycopg.connect(database_url) as conn:
        left = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM simulation.power_feeders WHERE territory_id = %s", (ids["territory"],)
            )
        ]
    assert left == ["A1"]  # the derived feeder whose cabinet disappeared is gone


def test_an_edit_survives_rederivation_and_changes_the_burst_report(database_url, ids, graph):
    derive_and_save(database_url, TERRITORY, road_graph=graph)
    valves = [("BC", "B"), ("BC", "C")]  # shutting BC cuts C off
    before = load_dependency_model(database_url, TERRITORY, graph)
    assert _water_of(before, ids["B2"]) == ("C", "derived")
    assert "no_water" in _burst(database_url, graph, before, "BC", valves)[ids["B2"]]
    link = _edit(
        database_url,
        ids,
        kind="water_service",
        dependent_layer="buildings",
        dependent_id=ids["B2"],
        provider_layer="water_junctions",
        provider_id=ids["A"],
        note="branché rue Haute",
    )
    assert link["origin"] == "edited" and link["provider"] == {
        "layer": "water_junctions",
        "id": ids["A"],
        "name": "A",
    }
    assert link["distance_m"] > 100  # B2 (240, -15) is ≈ 170 m from A (80, 30)
    derive_and_save(database_url, TERRITORY, road_graph=graph)
    after = load_dependency_model(database_url, TERRITORY, graph)
    assert _water_of(after, ids["B2"]) == ("A", "edited")
    assert ids["B2"] not in _burst(database_url, graph, after, "BC", valves)  # A is still fed by R
    with psycopg.connect(database_url) as conn:
        audit = conn.execute(
            "SELECT actor, details FROM audit.entries WHERE action = 'DEPENDENCY_EDIT' AND object_id = %s",
            (str(link["id"]),),
        ).fetchall()
    assert audit and audit[-1][0] == "test-editor" and audit[-1][1]["before"]["provider"]["name"] == "C"
    # The edit removed, the derived link counts again.
    with psycopg.connect(database_url) as conn:
        delete_edited_link(conn, link["id"], actor="test-editor")
    assert _water_of(load_dependency_model(database_url, TERRITORY, graph), ids["B2"]) == ("C", "derived")


def test_a_no_provider_edit_takes_the_building_out_of_the_water_network(database_url, ids, graph):
    derive_and_save(database_url, TERRITORY, road_graph=graph)
    valves = [("BC", "B"), ("BC", "C")]
    hit = _burst(database_url, graph, load_dependency_model(database_url, TERRITORY, graph), "BC", valves)
    assert "no_water" in hit[ids["B2"]]
    link = _edit(
        database_url,
        ids,
        kind="water_service",
        dependent_layer="buildings",
        dependent_id=ids["B2"],
        provider_layer="water_junctions",
        provider_id=None,
        note="puits privé",
    )
    try:
        assert link["provider"] is None and link["distance_m"] is None
        model = load_dependency_model(database_url, TERRITORY, graph)
        service = model.link_set("water_service", "buildings")
        assert service is not None and service.no_provider_ids.tolist() == [ids["B2"]]
        assert _water_of(model, ids["B2"]) == (None, None)
        statement = {
            "kind": "water_service",
            "dependent": {"layer": "buildings", "id": ids["B2"]},
            "provider": None,
            "distance_m": None,
            "origin": "edited",
        }
        assert statement in model.providers_of("buildings", ids["B2"])
        assert ids["B2"] not in _burst(database_url, graph, model, "BC", valves)
    finally:
        with psycopg.connect(database_url) as conn:
            delete_edited_link(conn, link["id"], actor="test-editor")


def test_the_providers_chain_goes_down_to_the_water_sources(database_url, ids):
    models = load_territory_models(database_url, TERRITORY)
    steps = providers_chain(models, "buildings", ids["B2"])
    assert [s["step"] for s in steps] == ["road_access", "water_service", "segment", "pumps", "sources"]
    assert steps[1]["link"]["provider"]["name"] == "C"
    assert steps[3]["pumps"] == ["PU1"]
    assert {s["name"] for s in steps[4]["sources"]} == {"R", "R2"}
    assert "R2" in steps[4]["fr"] and steps[2]["valves_assumed"] is True
    lights = [s["step"] for s in providers_chain(models, "street_lights", ids["L1"])]
    assert sorted(lights) == ["power_feed", "street_light_road"]
    with pytest.raises(NotFound, match="no buildings feature with id 987654"):
        providers_chain(models, "buildings", 987654)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "power"}, "kind 'power' is not one of"),
        (
            {"dependent_layer": "water_pipes"},
            "dependent_layer 'water_pipes' cannot have a water_service link",
        ),
        ({"provider_layer": "road_edges"}, "provider_layer 'road_edges' cannot provide a water_service link"),
        ({"dependent_id": 987654}, "dependent_id 987654 is not a buildings feature"),
        ({"provider_id": 987654}, "provider_id 987654 is not a water_junctions feature"),
        ({"note": "x" * 2001}, "note: at most 2000 characters"),
    ],
)
def test_refused_edits_leave_the_database_unchanged(database_url, ids, fields, message):
    before = simulation_fingerprint(database_url)
    body = {
        "kind": "water_service",
        "dependent_layer": "buildings",
        "dependent_id": ids["B1"],
        "provider_layer": "water_junctions",
        "provider_id": ids["B"],
        **fields,
    }
    with pytest.raises(InvalidInput, match=message):
        _edit(database_url, ids, **body)
    assert simulation_fingerprint(database_url) == before


def test_derived_links_are_edited_not_deleted(database_url, ids, graph):
    derive_and_save(database_url, TERRITORY, road_graph=graph)
    with psycopg.connect(database_url) as conn:
        derived, stated = (
            int(
                conn.execute(
                    "SELECT id FROM simulation.dependency_links WHERE territory_id = %s AND origin = 'derived'"
                    " ORDER BY id LIMIT 1",
                    (ids["territory"],),
                ).fetchone()[0]
            ),
            int(
                conn.execute(
                    "SELECT id FROM simulation.dependency_links WHERE territory_id = %s AND updated_by = 'twin.sensors'",
                    (ids["territory"],),
                ).fetchone()[0]
            ),
        )
    before = simulation_fingerprint(database_url)
    for link_id, message in ((derived, "is derived: edit it instead"), (stated, "stated by the sensor")):
        with psycopg.connect(database_url) as conn, pytest.raises(LinkConflict, match=message):
            delete_edited_link(conn, link_id, actor="test-editor")
    with psycopg.connect(database_url) as conn, pytest.raises(NotFound, match="no dependency link 987654321"):
        delete_edited_link(conn, 987654321, actor="test-editor")
    assert simulation_fingerprint(database_url) == before
    with pytest.raises(NotFound, match="no territory 'Nulle-Part'"):
        load_dependency_model(database_url, "Nulle-Part")
