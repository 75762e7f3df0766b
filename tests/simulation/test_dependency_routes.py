"""/api/simulation/dependencies and /api/simulation/power-feeders through uvicorn and PostGIS: who sees what
(the water network is restricted), editing and re-deriving, feeders; every refusal answers a problem naming the
field and leaves the database as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.layers.ogc_fixtures import Caller, running_server, signed_in
from tests.simulation.dependency_fixtures import build_territory, lonlat, simulation_fingerprint

TERRITORY = "Deps-Routes"
BASE = "/api/simulation"


@pytest.fixture(scope="module")
def ids(database_url: str) -> dict[str, int]:
    return build_territory(database_url, TERRITORY)


@pytest.fixture(scope="module")
def server(database_url: str, ids: dict[str, int]) -> Iterator[str]:
    with running_server(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def people(database_url: str) -> dict[str, Caller]:
    return {role: signed_in(database_url, role) for role in ("planner", "analyst", "operator", "gis_editor")}


def _call(server: str, caller: Caller, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{server}{BASE}{path}", headers=caller.headers, timeout=60, **kwargs)
    assert response.status_code == expect, response.text
    if expect >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    return None if expect == 204 else response.json()


def _asset(server: str, caller: Caller, layer: str, asset_id: int, expect: int = 200) -> Any:
    return _call(
        server,
        caller,
        "GET",
        "/dependencies",
        expect,
        params={"territory": TERRITORY, "layer": layer, "id": asset_id},
    )


def test_a_building_s_providers_down_to_the_sources_for_those_who_see_the_water_network(server, ids, people):
    seen = _asset(server, people["operator"], "buildings", ids["B2"])
    assert seen["asset"] == {"layer": "buildings", "id": ids["B2"], "name": "B2"}
    kinds = {link["kind"]: link for link in seen["providers"]}
    assert set(kinds) == {"road_access", "water_service"}
    assert kinds["water_service"]["provider"]["name"] == "C" and kinds["water_service"]["origin"] == "derived"
    assert [s["step"] for s in seen["chain"]] == [
        "road_access",
        "water_service",
        "segment",
        "pumps",
        "sources",
    ]
    assert {s["name"] for s in seen["chain"][-1]["sources"]} == {"R", "R2"}
    hidden = _asset(server, people["analyst"], "buildings", ids["B2"])
    assert [link["kind"] for link in hidden["providers"]] == ["road_access"]
    assert [s["step"] for s in hidden["chain"]] == ["road_access"]
    # A junction is a water asset: the analyst is told it does not exist; the operator sees what it serves.
    _asset(server, people["analyst"], "water_junctions", ids["C"], expect=404)
    served = _asset(server, people["operator"], "water_junctions", ids["C"])
    assert {(d["dependent"]["layer"], d["dependent"]["id"]) for d in served["dependents"]} == {
        ("buildings", ids["B2"]),
        ("sensors", ids["S1"]),
    }
    summary = _call(
        server, people["analyst"], "GET", "/dependencies/summary", 200, params={"territory": TERRITORY}
    )
    assert "water_service" not in {k["kind"] for k in summary["kinds"]}
    full = _call(
        server, people["operator"], "GET", "/dependencies/summary", 200, params={"territory": TERRITORY}
    )
    by = {(k["kind"], k["dependent_layer"]): k for k in full["kinds"]}
    assert (
        by["water_service", "buildings"]["links"] == 2 and by["water_service", "buildings"]["unlinked"] == 1
    )
    assert by["road_access", "buildings"]["unlinked"] == 1 and full["power_feeders"] == {
        "count": 1,
        "derived": 1,
    }


def test_editing_a_link_is_audited_survives_derivation_and_can_be_undone(server, database_url, ids, people):
    planner = people["planner"]
    body = {
        "territory": TERRITORY,
        "kind": "water_service",
        "dependent_layer": "buildings",
        "dependent_id": ids["B2"],
        "provider_layer": "water_junctions",
        "provider_id": ids["A"],
        "note": "relevé terrain",
    }
    _call(
        server, people["operator"], "PUT", "/dependencies", 403, json=body
    )  # operators do not edit the model
    link = _call(server, planner, "PUT", "/dependencies", 200, json=body)
    assert (
        link["origin"] == "edited"
        and link["updated_by"] == planner.username
        and link["note"] == "relevé terrain"
    )
    with psycopg.connect(database_url) as conn:
        actor = conn.execute(
            "SELECT actor FROM audit.entries WHERE action = 'DEPENDENCY_EDIT' AND object_id = %s",
            (str(link["id"]),),
        ).fetchone()
    assert actor == (planner.username,)
    derived = _call(server, planner, "POST", "/dependencies/derive", 200, json={"territory": TERRITORY})
    assert derived["derivation"]["rows"] > 0
    water = [
        p
        for p in _asset(server, planner, "buildings", ids["B2"])["providers"]
        if p["kind"] == "water_service"
    ]
    assert [(p["provider"]["name"], p["origin"], p["id"]) for p in water] == [("A", "edited", link["id"])]
    with psycopg.connect(database_url) as conn:
        (derived_id,) = conn.execute(
            "SELECT id FROM simulation.dependency_links WHERE territory_id = %s AND origin = 'derived'"
            " AND kind = 'water_service' AND dependent_id = %s",
            (ids["territory"], ids["B2"]),
        ).fetchone()
    before = simulation_fingerprint(database_url)
    problem = _call(server, planner, "DELETE", f"/dependencies/{derived_id}", 409)
    assert "edit it instead" in problem["detail"]
    _call(server, planner, "DELETE", "/dependencies/987654321", 404)
    assert simulation_fingerprint(database_url) == before
    _call(server, planner, "DELETE", f"/dependencies/{link['id']}", 204)
    water = [
        p
        for p in _asset(server, planner, "buildings", ids["B2"])["providers"]
        if p["kind"] == "water_service"
    ]
    assert [(p["provider"]["name"], p["origin"]) for p in water] == [("C", "derived")]


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"kind": "power"}, 400, "kind"),
        ({"dependent_layer": "bâtiments"}, 400, "dependent_layer"),
        ({"provider_layer": "road_edges"}, 400, "provider_layer"),
        ({"dependent_id": 987654}, 400, "dependent_id"),
        ({"provider_id": 987654}, 400, "provider_id"),
        ({"provider_id": "A"}, 400, "provider_id"),
        ({"territory": "Nulle-Part"}, 404, "Nulle-Part"),
        ({"colour": "red"}, 400, "colour"),
    ],
)
def test_refused_edits_name_the_field_and_change_nothing(
    server, database_url, ids, people, fields, status, field
):
    before = simulation_fingerprint(database_url)
    body = {
        "territory": TERRITORY,
        "kind": "water_service",
        "dependent_layer": "buildings",
        "dependent_id": ids["B1"],
        "provider_layer": "water_junctions",
        "provider_id": ids["B"],
        **fields,
    }
    problem = _call(server, people["gis_editor"], "PUT", "/dependencies", status, json=body)
    assert field in problem["detail"]
    assert simulation_fingerprint(database_url) == before


def test_unknown_layers_and_assets_are_refused(server, ids, people):
    problem = _call(
        server,
        people["analyst"],
        "GET",
        "/dependencies",
        400,
        params={"territory": TERRITORY, "layer": "pipes", "id": 1},
    )
    assert "layer 'pipes'" in problem["detail"]
    _asset(server, people["analyst"], "buildings", 987654, expect=404)
    _call(server, people["analyst"], "GET", "/dependencies/summary", 404, params={"territory": "Nulle-Part"})


def test_power_feeders_entered_by_hand_feed_the_nearest_lights(server, database_url, ids, people):
    planner = people["planner"]
    lon, lat = lonlat(300, 20)
    feeder = _call(
        server,
        planner,
        "POST",
        "/power-feeders",
        201,
        json={"territory": TERRITORY, "name": "Poste Est", "kind": "substation", "lon": lon, "lat": lat},
    )
    assert feeder["properties"]["origin"] == "entered"
    collection = _call(
        server, people["analyst"], "GET", "/power-feeders", 200, params={"territory": TERRITORY}
    )
    by_name = {f["properties"]["name"]: f for f in collection["features"]}
    assert set(by_name) == {"A1", "Poste Est"} and by_name["A1"]["properties"]["origin"] == "derived"
    # L3 (300, 8) names no cabinet: it now hangs from the new feeder 12 m away; L1 and L2 keep cabinet A1.
    assert by_name["Poste Est"]["properties"]["links"] >= 1
    light = _asset(server, planner, "street_lights", ids["L3"])
    feeds = [p["provider"]["id"] for p in light["providers"] if p["kind"] == "power_feed"]
    assert feeds == [feeder["id"]]
    with psycopg.connect(database_url) as conn:
        actor = conn.execute(
            "SELECT actor FROM audit.entries WHERE object = 'simulation.power_feeders' AND action = 'INSERT'"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert actor == (planner.username,)
    before = simulation_fingerprint(database_url)
    problem = _call(
        server,
        planner,
        "POST",
        "/power-feeders",
        400,
        json={"territory": TERRITORY, "name": "Poste Est", "kind": "substation", "lon": lon, "lat": lat},
    )
    assert "name 'Poste Est' is already" in problem["detail"]
    problem = _call(
        server,
        planner,
        "POST",
        "/power-feeders",
        400,
        json={"territory": TERRITORY, "name": "X", "kind": "nuclear", "lon": lon, "lat": lat},
    )
    assert "kind 'nuclear'" in problem["detail"]
    _call(
        server,
        people["analyst"],
        "POST",
        "/power-feeders",
        403,
        json={"territory": TERRITORY, "name": "Y", "kind": "cabinet", "lon": lon, "lat": lat},
    )
    assert simulation_fingerprint(database_url) == before
    _call(server, planner, "DELETE", f"/power-feeders/{feeder['id']}", 204)
    _call(server, planner, "DELETE", f"/power-feeders/{feeder['id']}", 404)
    light = _asset(server, planner, "street_lights", ids["L3"])
    assert [p["provider"]["name"] for p in light["providers"] if p["kind"] == "power_feed"] == ["A1"]
