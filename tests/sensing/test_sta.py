"""OGC SensorThings API (read-only) through the real server: entity shapes per the 1.1 data model, absolute
links, navigation, paging (``$top``/``$skip``/``@iot.nextLink``/``$count``), ``$filter`` on time and result,
``$orderby``, ``$select``, water datastreams invisible to analysts, and 400s for what is not supported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from sensing.parse import Reading
from sensing.store import ReadingStore
from tests.layers.ogc_fixtures import Caller, running_server, signed_in

T0 = datetime(2021, 6, 1, tzinfo=UTC)
STA = "/sta/v1.1"


@dataclass
class World:
    base: str
    no2: int
    flow: int
    analyst: Caller
    operator: Caller

    def get(self, path: str, caller: Caller | None = None, status: int = 200, **params: str) -> dict:
        url = path if path.startswith("http") else f"{self.base}{STA}{path}"
        response = httpx.get(url, params=params or None, headers=(caller or self.analyst).headers, timeout=60)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    with psycopg.connect(database_url) as conn:
        territory = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg) VALUES ('STA test', 2154) RETURNING id"
        ).fetchone()[0]
        ids = [
            conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, geom)"
                " VALUES (%s, %s, %s, %s, 'critical_sites', 3, ST_SetSRID(ST_MakePoint(7.75, 48.58), 4326))"
                " RETURNING id",
                (territory, name, kind, unit),
            ).fetchone()[0]
            for name, kind, unit in (("sta-no2", "no2", "µg/m³"), ("sta-flow", "water_flow", "m³/h"))
        ]
        # 25 hourly NO2 readings (values 10, 13, …, 82) and 5 flow readings.
        readings = [Reading(ids[0], T0 + timedelta(hours=h), 10.0 + 3 * h) for h in range(25)]
        readings += [Reading(ids[1], T0 + timedelta(minutes=5 * i), 50.0) for i in range(5)]
        ReadingStore().write(conn, readings, [], source="file", origin="test")
    with running_server(database_url) as base:
        yield World(
            base, ids[0], ids[1], signed_in(database_url, "analyst"), signed_in(database_url, "operator")
        )


def test_service_root_and_sign_in_required(world: World) -> None:
    root = world.get("")
    assert {v["name"] for v in root["value"]} == {
        "Things",
        "Locations",
        "Sensors",
        "ObservedProperties",
        "Datastreams",
        "Observations",
    }
    assert all(v["url"] == f"{world.base}{STA}/{v['name']}" for v in root["value"])
    assert (
        "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel" in root["serverSettings"]["conformance"]
    )
    assert httpx.get(f"{world.base}{STA}/Things", timeout=30).status_code == 401


def test_entities_follow_the_data_model_and_navigate(world: World) -> None:
    thing = world.get(f"/Things({world.no2})")
    assert (
        thing["@iot.id"] == world.no2 and thing["@iot.selfLink"] == f"{world.base}{STA}/Things({world.no2})"
    )
    assert thing["name"] == "sta-no2" and thing["properties"] == {
        "asset_layer": "critical_sites",
        "asset_id": 3,
        "territory": "STA test",
    }
    datastreams = world.get(thing["Datastreams@iot.navigationLink"])["value"]
    assert len(datastreams) == 1
    ds = datastreams[0]
    assert ds["unitOfMeasurement"] == {
        "name": "µg/m³",
        "symbol": "µg/m³",
        "definition": "urn:hyperviseur:unit:µg/m³",
    }
    assert ds["observationType"].endswith("OM_Measurement")
    assert ds["phenomenonTime"] == "2021-06-01T00:00:00Z/2021-06-02T00:00:00Z"
    assert world.get(ds["Thing@iot.navigationLink"])["@iot.id"] == world.no2
    sensor = world.get(ds["Sensor@iot.navigationLink"])
    assert sensor["encodingType"] == "application/json" and sensor["metadata"].startswith(world.base)
    prop = world.get(ds["ObservedProperty@iot.navigationLink"])
    assert prop["@iot.id"] == "no2" and prop["definition"] == "urn:hyperviseur:kind:no2"
    assert prop["@iot.selfLink"].endswith("/ObservedProperties('no2')")
    assert world.get(prop["@iot.selfLink"])["name"] == "Nitrogen dioxide (NO2)"
    assert world.no2 in {d["@iot.id"] for d in world.get(prop["Datastreams@iot.navigationLink"])["value"]}
    location = world.get(thing["Locations@iot.navigationLink"])["value"][0]
    assert location["encodingType"] == "application/geo+json"
    assert location["location"] == {"type": "Point", "coordinates": [7.75, 48.58]}
    assert world.get(location["Things@iot.navigationLink"])["value"][0]["@iot.id"] == world.no2

    first = world.get(ds["Observations@iot.navigationLink"], **{"$top": "1"})["value"][0]
    assert first == {
        "@iot.id": f"{world.no2}-{int(T0.timestamp() * 1000)}",
        "@iot.selfLink": f"{world.base}{STA}/Observations('{world.no2}-{int(T0.timestamp() * 1000)}')",
        "phenomenonTime": "2021-06-01T00:00:00Z",
        "resultTime": "2021-06-01T00:00:00Z",
        "result": 10.0,
        "Datastream@iot.navigationLink": f"{world.base}{STA}/Observations('{world.no2}-{int(T0.timestamp() * 1000)}')/Datastream",
    }
    assert world.get(first["@iot.selfLink"])["result"] == 10.0
    assert world.get(first["Datastream@iot.navigationLink"])["@iot.id"] == world.no2
    selected = world.get(f"/Things({world.no2})", **{"$select": "id,name,Datastreams"})
    assert set(selected) == {"@iot.id", "name", "Datastreams@iot.navigationLink"}


def test_water_datastreams_are_invisible_to_analysts(world: World) -> None:
    flow = world.flow
    for path in (
        f"/Things({flow})",
        f"/Datastreams({flow})",
        f"/Datastreams({flow})/Observations",
        f"/Sensors({flow})",
        f"/Locations({flow})",
        "/ObservedProperties('water_flow')",
        f"/Observations('{flow}-{int(T0.timestamp() * 1000)}')",
    ):
        world.get(path, world.analyst, 404)
        world.get(path, world.operator, 200)
    assert flow not in {d["@iot.id"] for d in world.get("/Datastreams", **{"$top": "10000"})["value"]}
    assert flow in {
        d["@iot.id"] for d in world.get("/Datastreams", world.operator, **{"$top": "10000"})["value"]
    }
    assert "water_flow" not in {p["@iot.id"] for p in world.get("/ObservedProperties")["value"]}
    mine = world.get("/Observations", **{"$filter": f"id eq '{flow}-{int(T0.timestamp() * 1000)}'"})
    assert mine["value"] == []


def test_paging_counts_and_next_links(world: World) -> None:
    path = f"/Datastreams({world.no2})/Observations"
    page = world.get(path, **{"$top": "10", "$count": "true"})
    assert page["@iot.count"] == 25 and len(page["value"]) == 10
    results = [o["result"] for o in page["value"]]
    while "@iot.nextLink" in page:
        assert page["@iot.nextLink"].startswith(f"{world.base}{STA}{path}")
        page = world.get(page["@iot.nextLink"])
        results += [o["result"] for o in page["value"]]
    assert results == [10.0 + 3 * h for h in range(25)]
    assert "@iot.count" not in world.get(path)
    newest = world.get(path, **{"$orderby": "phenomenonTime desc", "$top": "2"})["value"]
    assert [o["result"] for o in newest] == [82.0, 79.0]


def test_filters_on_time_result_and_id(world: World) -> None:
    path = f"/Datastreams({world.no2})/Observations"
    hour = world.get(
        path,
        **{
            "$filter": "phenomenonTime ge 2021-06-01T02:00:00Z and phenomenonTime lt 2021-06-01T05:00:00+00:00",
            "$count": "true",
        },
    )
    assert [o["phenomenonTime"] for o in hour["value"]] == [f"2021-06-01T0{h}:00:00Z" for h in (2, 3, 4)]
    assert hour["@iot.count"] == 3
    either = world.get(
        path, **{"$filter": "(result lt 14 or result gt 80) and resultTime gt 2000-01-01T00:00:00Z"}
    )
    assert [o["result"] for o in either["value"]] == [10.0, 13.0, 82.0]
    assert world.get(path, **{"$filter": "result eq 1e9"})["value"] == []
    things = world.get("/Things", **{"$filter": f"id eq {world.no2} or name eq 'nobody'"})["value"]
    assert [t["name"] for t in things] == ["sta-no2"]


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/Things", {"$expand": "Datastreams"}, "$expand is not supported"),
        ("/Things", {"$top": "10001"}, "from 0 to 10000"),
        ("/Things", {"$skip": "-1"}, "whole number"),
        ("/Things", {"$count": "yes"}, "true or false"),
        ("/Observations", {"$filter": "substringof('a', name)"}, "not a property"),
        ("/Observations", {"$filter": "result like 3"}, "not a supported operator"),
        ("/Observations", {"$filter": "(result gt 3"}, "not closed"),
        ("/Observations", {"$filter": "result gt 3 result"}, "join comparisons"),
        ("/Observations", {"$filter": "phenomenonTime gt 2021-06-01"}, "ISO 8601 time with offset"),
        ("/Observations", {"$filter": "result gt 'x'"}, "with a number"),
        ("/Observations", {"$filter": "result gt ; drop table"}, "cannot read"),
        ("/Observations", {"$filter": "id gt '1-2'"}, "eq or ne"),
        ("/Observations", {"$orderby": "result sideways"}, "$orderby"),
        ("/Things", {"$select": "colour"}, "no property 'colour'"),
    ],
)
def test_unsupported_or_malformed_options_answer_400(
    world: World, path: str, params: dict, words: str
) -> None:
    problem = world.get(path, world.analyst, 400, **params)
    assert words in problem["detail"]


def test_unknown_entities_answer_404(world: World) -> None:
    for path in (
        "/Things(999999999)",
        "/Things(abc)",
        "/Datastreams(0)/Observations",
        "/Observations('nope')",
        "/ObservedProperties('plutonium')",
        "/Observations('1-1')/Datastream",
    ):
        assert world.get(path, world.operator, 404)["detail"].startswith("no ")
    assert (
        "apply to collections"
        in world.get(f"/Things({world.no2})", world.analyst, 400, **{"$top": "1"})["detail"]
    )
