"""Live use through the real server, PostGIS and Mosquitto: incidents get their consequences computed, stored and
announced on the WebSocket; the ad hoc what-if equals a direct call; refusals leave the database as it was."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from websockets.sync.client import connect

from incidents import store as incidents_store
from simulation.consequences import consequence_report
from simulation.events import parse_events
from simulation.propagation.context import crews_from_twin
from simulation.territory import load_territory_models
from simulation.visibility import redact_report
from tests.common import missing
from tests.incidents.helpers import fingerprint
from tests.layers.ogc_fixtures import Caller, serve_app, server_settings, signed_in
from tests.live.conftest import recv_json, recv_until, wait_until
from tests.simulation.live_use.helpers import call as _call
from tests.simulation.live_use.helpers import declare as _declare
from tests.simulation.live_use.helpers import finished as _finished
from tests.simulation.live_use.town import Town, ll, make_town
from twin.app import create_app
from twin.broker import EmbeddedBroker, find_mosquitto, host_port_from_url, throwaway_broker
from twin.errors import ClusterError
from twin.settings import SimulationSettings

PREFIX = "hyperviseur"


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    try:
        find_mosquitto()
    except ClusterError as exc:
        missing(str(exc))
    with throwaway_broker(prefix="hyperviseur-test-consequences-mqtt-") as b:
        yield b


@pytest.fixture(scope="module")
def town(database_url: str) -> Town:
    town = make_town(database_url)
    with psycopg.connect(database_url) as conn:
        # A per-sensor threshold: any count over 1,000 veh/h on the dead end is an alert (a jam, an accident).
        conn.execute(
            "INSERT INTO sensing.thresholds (sensor_id, severity, direction, value, label_fr, label_en, source)"
            " VALUES (%s, 'alert', 'above', 1000, 'Bouchon', 'Jam', 'test')",
            (town.ids["comptage-lilas"],),
        )
    return town


@pytest.fixture(scope="module")
def dry_town(database_url: str) -> Town:
    return make_town(database_url, water=False, prefix="Vivre-sec")


@pytest.fixture(scope="module")
def app(database_url: str, broker: EmbeddedBroker, town: Town, dry_town: Town) -> Any:
    mqtt_settings = {"url": broker.url(), "client_id": "consequences-ingest", "topic_prefix": PREFIX}
    settings = server_settings(database_url, sensing={"ingest": True}, mqtt=mqtt_settings)
    settings.simulation = SimulationSettings(auto_consequences=True)
    return create_app(settings)


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[str]:
    with serve_app(app) as url:
        wait_until(lambda: app.state.bus.connected.is_set() and app.state.live.hub.ready.is_set())
        yield url


@pytest.fixture(scope="module")
def people(database_url: str) -> dict[str, Caller]:
    return {r: signed_in(database_url, r) for r in ("operator", "admin", "analyst", "planner", "crew")}


def _affected(report: dict[str, Any]) -> dict[str, list[str]]:
    return {a["name"]: a["causes"] for a in report["affected"] if a["name"]}


def test_a_jam_published_on_mqtt_gets_its_consequences_on_the_websocket(
    server: str, broker: EmbeddedBroker, town: Town, people: dict[str, Caller], database_url: str
) -> None:
    operator = people["operator"]
    ws_url = (
        server.replace("http", "ws", 1)
        + f"/api/live/ws?topics=incident,simulation&territory={town.territory_id}"
    )
    host, port = host_port_from_url(broker.url())
    publisher = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="consequences-pub", protocol=mqtt.MQTTv311
    )
    publisher.connect(host, port)
    publisher.loop_start()
    try:
        with connect(ws_url, additional_headers=operator.headers, open_timeout=10) as ws:
            assert recv_json(ws, 15)["topic"] == "ready"
            at = datetime.now(UTC).replace(microsecond=0).isoformat()
            topic = f"{PREFIX}/sensors/{town.ids['comptage-lilas']}/readings"
            publisher.publish(topic, f'{{"t": "{at}", "v": 1500}}', qos=1).wait_for_publish(5)
            got = recv_until(
                ws,
                lambda m: m["topic"] == "simulation" and m["payload"].get("kind") == "incident_consequences",
                timeout_s=30,
            )
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    created = next(m for m in got if m["topic"] == "incident" and m["payload"]["action"] == "created")
    incident = created["payload"]["incident"]
    event = got[-1]["payload"]
    assert incident["origin"] == "detection" and incident["category"] == "traffic"
    assert event["incident_id"] == incident["id"] and event["status"] == "done"
    assert "bâtiments" in event["summary"]["fr"] and "buildings" in event["summary"]["en"]
    assert got[-1]["territory"] == town.territory_id
    doc = _call(server, operator, "GET", f"/api/incidents/{incident['id']}/consequences", 200)
    assert doc["status"] == "done" and doc["summary"] == event["summary"]
    assert doc["events"] == [
        {
            "type": "road_closure",
            "edge_ids": town.street("Impasse des Lilas"),
            "reason": f"incident {incident['id']}",
            "at_s": 0.0,
        }
    ]
    affected = _affected(doc["report"])
    assert affected["École des Lilas"] == ["road_isolated"] and affected["Villa des Lilas"] == [
        "road_isolated"
    ]
    assert "Résidence Basse" not in affected  # its street stays open
    assert doc["report"]["residents_hit"] == 12
    assert any("Impasse des Lilas" in r["fr"] for a in doc["report"]["affected"] for r in a["reasons"])
    assert "Impasse des Lilas supposée fermée" in doc["assumptions"][0]["fr"]
    assert doc["duration_ms"] > 0 and doc["computed_at"] >= doc["requested_at"]


def test_a_water_incident_on_a_pipe_cuts_the_water_behind_its_valves(
    server: str, town: Town, people: dict[str, Caller]
) -> None:
    operator = people["operator"]
    incident_id = _declare(
        server, operator, town, "water", 150, 100, asset_layer="water_pipes", asset_id=town.ids["AC"]
    )
    doc = _finished(server, operator, incident_id)
    assert doc["status"] == "done", doc
    assert doc["events"] == [{"type": "pipe_burst", "pipe": "AC", "at_s": 0.0}]
    # The school stands 15 m from junction C: the engine links critical sites to their nearest junction.
    assert _affected(doc["report"]) == {"Villa des Lilas": ["no_water"], "École des Lilas": ["no_water"]}
    assert [o["node"] for o in doc["report"]["water"]["outages"]] == ["C"]
    valves = {a["kind"]: a for a in doc["report"]["recommended_actions"]}["close_valves"]["valves"]
    assert valves == ["AC@A"]
    # The analyst may not see water incidents at all; the crew sees only those it is sent to.
    for role in ("analyst", "crew"):
        problem = _call(server, people[role], "GET", f"/api/incidents/{incident_id}/consequences", 404)
        assert "not visible to your role" in problem["detail"]


def test_water_without_a_network_and_security_are_not_applicable_with_the_reason(
    server: str, dry_town: Town, people: dict[str, Caller]
) -> None:
    operator = people["operator"]
    water = _finished(server, operator, _declare(server, operator, dry_town, "water", 100, 10))
    assert water["status"] == "not_applicable" and water["report"] is None and water["events"] == []
    assert water["reason"]["fr"] == "le territoire n'a pas de réseau d'eau : aucune coupure à propager"
    assert water["summary"] == water["reason"]
    security = _finished(server, operator, _declare(server, operator, dry_town, "security", 100, 10))
    assert security["status"] == "not_applicable" and "security" in security["reason"]["en"]


def test_a_new_place_recomputes_and_a_post_recomputes_on_request(
    server: str, town: Town, people: dict[str, Caller], database_url: str
) -> None:
    operator = people["operator"]
    incident_id = _declare(server, operator, town, "traffic", 200, 100)
    first = _finished(server, operator, incident_id)
    assert first["events"][0]["edge_ids"] == town.street("Impasse des Lilas")
    # The place moves to Rue Basse (as a future edit would): the live event carries it, the worker recomputes.
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE incidents.incidents SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326) WHERE id = %s",
            (*ll(300, 2), incident_id),
        )
        incidents_store.announce(conn, incident_id, "edited")

    def moved() -> dict[str, Any] | None:
        doc = _call(server, operator, "GET", f"/api/incidents/{incident_id}/consequences", 200)
        return (
            doc
            if doc["status"] == "done" and doc["events"][0]["edge_ids"] == town.street("Rue Basse")
            else None
        )

    second = wait_until(moved, timeout_s=30, interval_s=0.05)
    assert "Hôpital Est" in _affected(second["report"]) and second["requested_at"] > first["requested_at"]
    # POST: pending at once (202), done again soon.
    queued = _call(server, operator, "POST", f"/api/incidents/{incident_id}/consequences", 202)
    assert queued["status"] == "pending" and queued["report"] is None
    again = _finished(server, operator, incident_id)
    assert again["events"] == second["events"] and again["requested_at"] == queued["requested_at"]


def test_refusals_say_why_and_leave_the_database_as_it_was(
    server: str, town: Town, people: dict[str, Caller], database_url: str
) -> None:
    incident_id = _declare(server, people["operator"], town, "other", 100, 10)
    _finished(server, people["operator"], incident_id)
    before = fingerprint(database_url) | _consequences(database_url)
    unknown = 9_000_000_000
    assert (
        "no incident 9000000000"
        in _call(server, people["operator"], "GET", f"/api/incidents/{unknown}/consequences", 404)["detail"]
    )
    _call(server, people["operator"], "POST", f"/api/incidents/{unknown}/consequences", 404)
    _call(server, None, "GET", f"/api/incidents/{incident_id}/consequences", 401)
    for role in ("analyst", "planner", "crew"):
        _call(server, people[role], "POST", f"/api/incidents/{incident_id}/consequences", 403)
    _call(
        server,
        people["analyst"],
        "POST",
        "/api/simulation/consequences",
        403,
        json={"territory": town.name, "events": []},
    )
    bad = [
        ([], "events must be a non-empty list"),
        (
            [{"type": "road_closure", "edge_ids": [-3]}],
            "event 0 (road_closure): edge_ids must hold positive integer ids",
        ),
        ([{"type": "road_closure", "edge_ids": [999_999_999]}], "unknown road arc id(s) [999999999]"),
        ([{"type": "pipe_burst", "pipe": "ZZ"}], "no pipe, pump or valve named 'ZZ'"),
        (
            [{"type": "flood", "area": {"type": "Point", "coordinates": [3.9, 43.5]}}],
            "event 0 (flood): area must be a GeoJSON Polygon",
        ),
        ([{"type": "tsunami"}], "event 0 (tsunami): type must be one of"),
    ]
    for events, message in bad:
        expect = 404 if "no pipe" in message else 400
        problem = _call(
            server,
            people["planner"],
            "POST",
            "/api/simulation/consequences",
            expect,
            json={"territory": town.name, "events": events},
        )
        assert message in problem["detail"], problem
    assert (
        "Atlantide"
        in _call(
            server,
            people["planner"],
            "POST",
            "/api/simulation/consequences",
            404,
            json={"territory": "Atlantide", "events": [{"type": "pipe_burst", "pipe": "AC"}]},
        )["detail"]
    )
    assert fingerprint(database_url) | _consequences(database_url) == before


def _consequences(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
            " FROM simulation.incident_consequences t"
        ).fetchone()
    return {"simulation.incident_consequences": row}


def test_adhoc_report_equals_a_direct_call_and_follows_live_closures(
    server: str, town: Town, people: dict[str, Caller], database_url: str
) -> None:
    events = [
        {"type": "road_closure", "edge_ids": town.street("Impasse des Lilas"), "reason": "travaux"},
        {"type": "pipe_burst", "pipe": "AB"},
    ]
    at = datetime.now(UTC)  # the same instant for both: the report says when it starts
    body = {"territory": town.name, "events": events, "at": at.isoformat()}
    got = _call(server, people["operator"], "POST", "/api/simulation/consequences", 200, json=body)
    models = load_territory_models(database_url, town.name)
    direct = consequence_report(
        parse_events(events),
        access=models.access,
        dependencies=models.dependencies,
        water=models.segments,
        at=at,
        context=models.context,
        crews=crews_from_twin(database_url, models.territory_id),
    ).as_json()
    assert got == direct
    assert _affected(got)["Résidence Basse"] == ["no_water"] and got["water"] is not None
    # The planner may see the water network too; redaction is the visibility module's for the others.
    assert _call(
        server, people["planner"], "POST", "/api/simulation/consequences", 200, json=body
    ) == redact_report(direct, "planner")
    # A live closure of Rue Haute (the fire station's only way out) changes the "before" of the next report.
    hospital_before = _site(got, "Hôpital Est")["from_fire_station_s"]
    assert hospital_before[0] is not None
    closure = _call(
        server,
        people["operator"],
        "POST",
        "/api/routing/closures",
        201,
        json={"territory": town.name, "edge_ids": town.street("Rue Haute"), "reason": "test"},
    )
    try:
        now = {"territory": town.name, "events": events}  # "before" = the closures in force now
        after = _call(server, people["operator"], "POST", "/api/simulation/consequences", 200, json=now)
        assert _site(after, "Hôpital Est")["from_fire_station_s"] == [None, None]
    finally:
        httpx.delete(
            f"{server}/api/routing/closures/{closure['id']}", headers=people["operator"].headers, timeout=30
        )
    restored = _call(server, people["operator"], "POST", "/api/simulation/consequences", 200, json=now)
    assert _site(restored, "Hôpital Est")["from_fire_station_s"] == hospital_before


def _site(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["access"]["critical_sites"] if s["name"] == name)


def test_time_from_incident_creation_to_consequences_stored(
    server: str, town: Town, people: dict[str, Caller], database_url: str
) -> None:
    """Measured, not asserted: median delay from the incident's commit to its consequences' commit."""
    ids = [_declare(server, people["operator"], town, "traffic", 200, 60 + 10 * k) for k in range(5)]
    for incident_id in ids:
        assert _finished(server, people["operator"], incident_id)["status"] == "done"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM c.computed_at - i.opened_at) * 1000, c.duration_ms"
            " FROM simulation.incident_consequences c JOIN incidents.incidents i ON i.id = c.incident_id"
            " WHERE c.incident_id = ANY(%s)",
            (ids,),
        ).fetchall()
    delays = sorted(float(r[0]) for r in rows)
    print(
        f"incident created → consequences stored: median {statistics.median(delays):.0f} ms over {len(delays)}"
        f" (min {delays[0]:.0f}, max {delays[-1]:.0f}); computation median"
        f" {statistics.median(float(r[1]) for r in rows):.1f} ms"
    )
    assert len(delays) == 5 and all(d > 0 for d in delays)
    # The ad hoc fast path (road part, models resident): server-side report time and round trip.
    body = {
        "territory": town.name,
        "events": [{"type": "road_closure", "edge_ids": town.street("Rue Basse")}],
    }
    server_ms, wall_ms = [], []
    for _ in range(20):
        started = time.perf_counter()
        response = httpx.post(
            f"{server}/api/simulation/consequences", json=body, headers=people["operator"].headers, timeout=30
        )
        wall_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        server_ms.append(float(response.headers["Server-Timing"].split("dur=")[1]))
    p95 = statistics.quantiles(wall_ms, n=20)[18]
    print(
        f"ad hoc road closure: report median {statistics.median(server_ms):.1f} ms, round trip median"
        f" {statistics.median(wall_ms):.1f} ms, p95 {p95:.1f} ms (20 calls, hand-built town)"
    )


def test_an_edited_dependency_link_reaches_the_live_reports(
    server: str, town: Town, people: dict[str, Caller]
) -> None:
    """Editing a link through the API notifies the servers (trigger on simulation.dependency_links): the next
    live report uses it, without a restart."""
    body = {"territory": town.name, "events": [{"type": "pipe_burst", "pipe": "AB"}]}

    def cut_off() -> dict[str, list[str]]:
        return _affected(
            _call(server, people["operator"], "POST", "/api/simulation/consequences", 200, json=body)
        )

    assert cut_off()["Résidence Basse"] == ["no_water"]  # the resident models are loaded now
    edit = {
        "territory": town.name,
        "kind": "water_service",
        "dependent_layer": "buildings",
        "dependent_id": town.ids["Résidence Basse"],
        "provider_layer": "water_junctions",
        "provider_id": None,
        "note": "puits privé",
    }
    link = _call(server, people["planner"], "PUT", "/api/simulation/dependencies", 200, json=edit)
    try:
        wait_until(lambda: "Résidence Basse" not in cut_off())
    finally:
        gone = httpx.delete(
            f"{server}/api/simulation/dependencies/{link['id']}",
            headers=people["planner"].headers,
            timeout=30,
        )
        assert gone.status_code == 204, gone.text
    wait_until(lambda: cut_off().get("Résidence Basse") == ["no_water"])
