"""``/api/incidents`` through uvicorn and PostGIS: declaring, the lifecycle, the main courante, who sees what,
live events; every refusal answers a clear problem and leaves the database as it was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from incidents.correlate import correlate
from tests.incidents.helpers import X0, Y0, Place, detect, fingerprint, make_place
from tests.layers.ogc_fixtures import Caller, running_server, signed_in


@pytest.fixture(scope="module")
def place(database_url: str) -> Place:
    return make_place(database_url)


@pytest.fixture(scope="module")
def server(database_url: str, place: Place) -> Iterator[str]:
    with running_server(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def people(database_url: str) -> dict[str, Caller]:
    return {
        role: signed_in(database_url, role) for role in ("operator", "admin", "analyst", "planner", "crew")
    }


def _crew(place: Place, name: str, account_id: int | None = None) -> int:
    now = datetime.now(UTC)
    with psycopg.connect(place.url) as conn:
        (crew_id,) = conn.execute(
            "INSERT INTO dispatch.crews (territory_id, name, shift_start, shift_end, home, account_id)"
            " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s) RETURNING id",
            (
                place.territory_id,
                name,
                now - timedelta(hours=1),
                now + timedelta(hours=8),
                X0,
                Y0,
                account_id,
            ),
        ).fetchone()
    return int(crew_id)


class Api:
    """Calls as one person; ``expect`` checks the status and returns the JSON."""

    def __init__(self, url: str, caller: Caller) -> None:
        self.url, self.caller = url, caller

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{self.url}{path}", headers=self.caller.headers, timeout=30, **kwargs
        )
        assert response.status_code == expect, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response.json()


def _declare(api: Api, place: Place, expect: int = 201, **fields: Any) -> Any:
    body = {
        "territory": place.name,
        "title": "Odeur de gaz rue Victor-Hugo",
        "category": "security",
        "severity": "alert",
        "lon": X0 + 0.0002,
        "lat": Y0 + 0.0002,
        **fields,
    }
    return api.call("POST", "/api/incidents", expect, json=body)


def _events_since(url: str, since: int) -> list[tuple[str, str, dict]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT topic, audience, payload FROM live.events WHERE id > %s ORDER BY id", (since,)
        ).fetchall()


def _last_event_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM live.events").fetchone()[0])


def test_declaring_an_incident_computes_its_priority_logs_it_and_announces_it(server, place, people):
    op = Api(server, people["operator"])
    since = _last_event_id(place.url)
    with psycopg.connect(place.url) as conn:
        (building,) = conn.execute(
            "SELECT min(id) FROM twin.buildings WHERE territory_id = %s", (place.territory_id,)
        ).fetchone()
    created = _declare(
        op, place, description="Signalé par un riverain", asset_layer="buildings", asset_id=building
    )
    assert (created["asset_layer"], created["asset_id"]) == ("buildings", building)
    assert created["status"] == "new" and created["origin"] == "manual"
    assert created["created_by"] == people["operator"].username
    assert created["territory_id"] == place.territory_id and created["detections_count"] == 0
    assert (created["lon"], created["lat"]) == pytest.approx((X0 + 0.0002, Y0 + 0.0002))
    # security: 300 m radius — the hospital (≈120 m) and the two buildings of the square are exposed.
    assert created["exposure"]["residents"] == 100
    assert [s["kind"] for s in created["exposure"]["critical_sites"]] == ["hospital"]
    assert created["priority"] > 60  # alert base 60 + exposure, confidence 1
    detail = op.call("GET", f"/api/incidents/{created['id']}", 200)
    assert [e["entry"] for e in detail["log"]] == ["created"] and detail["detections"] == []
    events = _events_since(place.url, since)
    assert [(t, a) for t, a, _ in events] == [("log", "internal"), ("incident", "internal")]
    assert events[1][2]["action"] == "created" and events[1][2]["incident"]["id"] == created["id"]


@pytest.mark.parametrize(
    ("fields", "expect", "says"),
    [
        ({"lon": X0 + 1.0}, 422, "off territory"),
        ({"category": "volcano"}, 400, "category"),
        ({"severity": "apocalyptic"}, 400, "severity"),
        ({"asset_layer": "water_pipes"}, 400, "asset_layer and asset_id go together"),
        ({"asset_layer": "volcanoes", "asset_id": 1}, 422, "not a layer of the catalog"),
        ({"asset_layer": "water_pipes", "asset_id": 999_999_999}, 422, "does not exist"),
        ({"title": "   "}, 400, "title"),
        ({"lat": 95.0}, 400, "lat"),
        ({"territory": "Atlantide"}, 404, "no territory"),
        ({"territory": True}, 400, "territory"),
        ({"unexpected": 1}, 400, "unexpected"),
    ],
)
def test_a_declaration_with_bad_input_is_refused_saying_why_and_writes_nothing(
    server, place, people, fields, expect, says
):
    before = fingerprint(place.url)
    problem = _declare(Api(server, people["operator"]), place, expect, **fields)
    assert says in problem["detail"]
    assert fingerprint(place.url) == before


def test_lifecycle_new_acknowledged_assigned_resolved_with_its_log(server, place, people):
    op = Api(server, people["operator"])
    incident = _declare(op, place)
    path = f"/api/incidents/{incident['id']}"
    acked = op.call("POST", f"{path}/acknowledge", 200, json={"note": "vu sur caméra"})
    assert acked["status"] == "acknowledged" and acked["acknowledged_at"]
    assigned = op.call("POST", f"{path}/assign", 200, json={"assigned_to": "GRDF astreinte"})
    assert assigned["status"] == "assigned" and assigned["assigned_to"] == "GRDF astreinte"
    assert assigned["dispatch_job_id"] is None
    resolved = op.call("POST", f"{path}/resolve", 200, json={"resolution": "fuite colmatée"})
    assert resolved["status"] == "resolved" and resolved["resolution"] == "fuite colmatée"
    assert resolved["resolved_at"] >= resolved["assigned_at"] >= resolved["acknowledged_at"]
    log = op.call("GET", path, 200)["log"]
    assert [(e["entry"], e["author"]) for e in log] == [
        ("created", people["operator"].username),
        ("status", people["operator"].username),
        ("assignment", people["operator"].username),
        ("status", people["operator"].username),
    ]
    assert "vu sur caméra" in log[1]["text"] and "GRDF astreinte" in log[2]["text"]
    assert "fuite colmatée" in log[3]["text"]


def test_refused_transitions_answer_409_and_change_nothing(server, place, people):
    op = Api(server, people["operator"])
    incident = _declare(op, place)
    path = f"/api/incidents/{incident['id']}"
    op.call("POST", f"{path}/acknowledge", 200)
    before = fingerprint(place.url)
    problem = op.call("POST", f"{path}/acknowledge", 409)
    assert "acknowledged" in problem["detail"] and "pris en compte" in problem["detail"]
    assert fingerprint(place.url) == before
    op.call("POST", f"{path}/resolve", 200, json={"resolution": "fausse alerte"})
    before = fingerprint(place.url)
    for method, suffix, body in (
        ("POST", "/acknowledge", {}),
        ("POST", "/assign", {"assigned_to": "voirie"}),
        ("POST", "/resolve", {"resolution": "encore"}),
        ("PATCH", "", {"title": "nouveau titre"}),
    ):
        problem = op.call(method, f"{path}{suffix}", 409, json=body)
        assert "resolved" in problem["detail"] and "résolu" in problem["detail"]
    assert fingerprint(place.url) == before


def test_other_refusals_are_clear_and_change_nothing(server, place, people):
    op = Api(server, people["operator"])
    incident = _declare(op, place)
    path = f"/api/incidents/{incident['id']}"
    before = fingerprint(place.url)
    assert "crew_id" in op.call("POST", f"{path}/assign", 400, json={})["detail"]
    assert "no crew" in op.call("POST", f"{path}/assign", 400, json={"crew_id": 999_999})["detail"]
    assert "resolution" in op.call("POST", f"{path}/resolve", 400, json={"resolution": ""})["detail"]
    assert "nothing to change" in op.call("PATCH", path, 400, json={})["detail"]
    assert "priority" in op.call("PATCH", path, 400, json={"priority": 101})["detail"]
    assert "no incident" in op.call("POST", "/api/incidents/999999999/acknowledge", 404)["detail"]
    assert fingerprint(place.url) == before


def test_new_to_assigned_acknowledges_and_a_crew_gets_a_dispatch_job(server, place, people):
    op = Api(server, people["operator"])
    crew_id = _crew(place, "Équipe réseau 1")
    incident = _declare(op, place, severity="critical")
    assigned = op.call("POST", f"/api/incidents/{incident['id']}/assign", 200, json={"crew_id": crew_id})
    assert assigned["status"] == "assigned" and assigned["acknowledged_at"] == assigned["assigned_at"]
    assert assigned["assigned_crew_id"] == crew_id and assigned["dispatch_job_id"] is not None
    with psycopg.connect(place.url) as conn:
        job = conn.execute(
            "SELECT territory_id, ST_X(location), ST_Y(location), crew_id, incident_id, status, required_skill,"
            " priority, window_end - window_start, duration_s FROM dispatch.jobs WHERE id = %s",
            (assigned["dispatch_job_id"],),
        ).fetchone()
    tid, lon, lat, job_crew, job_incident, status, skill, priority, window, duration_s = job
    assert (tid, job_crew, job_incident, status, skill) == (
        place.territory_id,
        crew_id,
        str(incident["id"]),
        "new",
        None,
    )
    assert (lon, lat) == pytest.approx((incident["lon"], incident["lat"]))
    assert priority == 5 and window == timedelta(hours=2) and duration_s == 3600
    # Re-assigning to another crew cancels the job nobody started and creates a new one.
    other = _crew(place, "Équipe réseau 2")
    again = op.call("POST", f"/api/incidents/{incident['id']}/assign", 200, json={"crew_id": other})
    with psycopg.connect(place.url) as conn:
        statuses = dict(
            conn.execute(
                "SELECT id, status FROM dispatch.jobs WHERE incident_id = %s", (str(incident["id"]),)
            ).fetchall()
        )
    assert statuses == {assigned["dispatch_job_id"]: "cancelled", again["dispatch_job_id"]: "new"}
    # Resolving cancels the job nobody started either.
    op.call("POST", f"/api/incidents/{incident['id']}/resolve", 200, json={"resolution": "vanne refermée"})
    with psycopg.connect(place.url) as conn:
        (status,) = conn.execute(
            "SELECT status FROM dispatch.jobs WHERE id = %s", (again["dispatch_job_id"],)
        ).fetchone()
    assert status == "cancelled"


def test_a_crew_of_another_territory_is_refused(server, place, people, database_url):
    elsewhere = make_place(database_url)
    crew_id = _crew(elsewhere, "Équipe d'ailleurs")
    op = Api(server, people["operator"])
    incident = _declare(op, place)
    before = fingerprint(place.url)
    problem = op.call("POST", f"/api/incidents/{incident['id']}/assign", 400, json={"crew_id": crew_id})
    assert "works in territory" in problem["detail"]
    assert fingerprint(place.url) == before


def test_patch_edits_and_a_manual_priority_is_logged(server, place, people):
    op = Api(server, people["operator"])
    incident = _declare(op, place, severity="warning")
    path = f"/api/incidents/{incident['id']}"
    raised = op.call("PATCH", path, 200, json={"severity": "critical", "title": "Fuite de gaz confirmée"})
    assert raised["severity"] == "critical" and raised["priority"] > incident["priority"]
    overridden = op.call("PATCH", path, 200, json={"priority": 15})
    assert overridden["priority"] == 15 and overridden["severity"] == "critical"
    log = op.call("GET", path, 200)["log"]
    assert [e["entry"] for e in log] == ["created", "edit", "priority"]
    assert log[1]["data"]["before"] == {
        "severity": "warning",
        "title": "Odeur de gaz rue Victor-Hugo",
        "priority": incident["priority"],  # recomputed with the severity
    }
    assert log[2]["data"] == {"before": raised["priority"], "after": 15}


def test_the_main_courante_takes_notes_and_is_followed_by_id(server, place, people):
    op = Api(server, people["operator"])
    incident = _declare(op, place)
    start = op.call("GET", "/api/incidents/log", 200, params={"territory": place.name, "limit": 1})["entries"]
    after = start[-1]["id"]
    general = op.call(
        "POST", "/api/incidents/log", 201, json={"territory": place.name, "text": "Relève 14 h"}
    )
    about = op.call(
        "POST",
        "/api/incidents/log",
        201,
        json={"territory": place.territory_id, "text": "Riverains prévenus", "incident_id": incident["id"]},
    )
    assert general["incident_id"] is None and general["entry"] == "note"
    assert about["incident_id"] == incident["id"] and about["author"] == people["operator"].username
    followed = op.call("GET", "/api/incidents/log", 200, params={"territory": place.name, "after_id": after})
    assert [e["id"] for e in followed["entries"]] == [general["id"], about["id"]]
    only = op.call("GET", "/api/incidents/log", 200, params={"incident": incident["id"]})["entries"]
    assert [e["entry"] for e in only] == ["created", "note"]
    before = fingerprint(place.url)
    blank = op.call("POST", "/api/incidents/log", 400, json={"territory": place.name, "text": ""})
    assert "text" in blank["detail"]
    missing = op.call(
        "POST",
        "/api/incidents/log",
        404,
        json={"territory": place.name, "text": "x", "incident_id": 999_999_999},
    )
    assert "no incident" in missing["detail"]
    assert fingerprint(place.url) == before


def _water_incident(place: Place) -> int:
    """A water incident opened by correlation, at a day of its own (a new incident each call)."""
    with psycopg.connect(place.url) as conn:
        (n,) = conn.execute("SELECT count(*) FROM sensing.detections").fetchone()
        at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC) + timedelta(days=int(n))
        d = detect(conn, place, "p999", at, severity="alert")
        (result,) = correlate(conn, [d])
    assert result.incident_id is not None
    return result.incident_id


def test_water_incidents_are_seen_only_by_roles_that_see_the_water_network(server, place, people):
    water_id = _water_incident(place)
    air = _declare(Api(server, people["operator"]), place, category="air", title="Panache de fumée")

    def listed(role: str) -> set[int]:
        answer = Api(server, people[role]).call(
            "GET", "/api/incidents", 200, params={"territory": place.name}
        )
        assert answer["count"] == len(answer["incidents"])
        return {i["id"] for i in answer["incidents"]}

    for role in ("operator", "admin", "planner"):
        assert {water_id, air["id"]} <= listed(role)
        Api(server, people[role]).call("GET", f"/api/incidents/{water_id}", 200)
    assert air["id"] in listed("analyst") and water_id not in listed("analyst")
    analyst = Api(server, people["analyst"])
    assert "not visible" in analyst.call("GET", f"/api/incidents/{water_id}", 404)["detail"]
    entries = analyst.call("GET", "/api/incidents/log", 200, params={"territory": place.name})["entries"]
    assert entries and water_id not in {e["incident_id"] for e in entries}
    # The detection that opened it is part of the incident for those who may see it.
    detail = Api(server, people["planner"]).call("GET", f"/api/incidents/{water_id}", 200)
    assert detail["detections_count"] == 1 and detail["detections"][0]["sensor_name"] == "p999"


def test_a_crew_sees_only_the_incidents_assigned_to_it(server, place, people):
    op = Api(server, people["operator"])
    crew = Api(server, people["crew"])
    mine = _declare(op, place, title="Chaussée effondrée")
    other = _declare(op, place, title="Feu de poubelle")
    assert (
        crew.call("GET", "/api/incidents", 200, params={"status": "all"})["count"] == 0
    )  # linked to no crew
    crew_id = _crew(place, "Équipe mobile", account_id=people["crew"].account_id)
    op.call("POST", f"/api/incidents/{mine['id']}/assign", 200, json={"crew_id": crew_id})
    seen = crew.call("GET", "/api/incidents", 200)["incidents"]
    assert [i["id"] for i in seen] == [mine["id"]]
    crew.call("GET", f"/api/incidents/{mine['id']}", 200)
    crew.call("GET", f"/api/incidents/{other['id']}", 404)
    entries = crew.call("GET", "/api/incidents/log", 200, params={"territory": place.name})["entries"]
    assert entries and {e["incident_id"] for e in entries} == {mine["id"]}
    # Reading is not handling: a crew may not change incidents.
    crew.call("POST", f"/api/incidents/{mine['id']}/resolve", 403, json={"resolution": "fait"})


def test_signed_in_readers_may_not_handle_and_anonymous_may_not_read(server, place, people):
    before = fingerprint(place.url)
    for role in ("analyst", "planner"):
        _declare(Api(server, people[role]), place, 403)
    assert httpx.get(f"{server}/api/incidents", timeout=30).status_code == 401
    assert fingerprint(place.url) == before


def test_list_filters_sort_and_validate(server, place, people):
    op = Api(server, people["operator"])
    low = _declare(op, place, severity="info", category="lighting", title="Lampadaire éteint")
    high = _declare(op, place, severity="critical", category="lighting", title="Candélabre tombé")
    params = {"territory": place.name, "category": "lighting"}
    listed = op.call("GET", "/api/incidents", 200, params=params)["incidents"]
    assert [i["id"] for i in listed] == [high["id"], low["id"]]
    op.call("POST", f"/api/incidents/{low['id']}/resolve", 200, json={"resolution": "ampoule changée"})
    assert [i["id"] for i in op.call("GET", "/api/incidents", 200, params=params)["incidents"]] == [
        high["id"]
    ]
    resolved = op.call("GET", "/api/incidents", 200, params={**params, "status": "resolved"})["incidents"]
    assert [i["id"] for i in resolved] == [low["id"]]
    box = f"{X0 + 0.01},{Y0 + 0.01},{X0 + 0.02},{Y0 + 0.02}"
    assert op.call("GET", "/api/incidents", 200, params={**params, "bbox": box})["count"] == 0
    assert "bbox" in op.call("GET", "/api/incidents", 400, params={"bbox": "1,2,3"})["detail"]
    assert "status" in op.call("GET", "/api/incidents", 400, params={"status": "closed"})["detail"]
    assert (
        "no territory" in op.call("GET", "/api/incidents", 404, params={"territory": "Atlantide"})["detail"]
    )


def test_every_change_writes_live_events_for_its_audience(server, place, people):
    op = Api(server, people["operator"])
    water_id = _water_incident(place)
    since = _last_event_id(place.url)
    op.call("POST", f"/api/incidents/{water_id}/acknowledge", 200)
    op.call("POST", "/api/incidents/log", 201, json={"territory": place.name, "text": "Point de situation"})
    # The incident's consequences are computed in the background and announced on topic "simulation" whenever
    # they are ready (tests/simulation/live_use): not a change of the incident.
    events = [e for e in _events_since(place.url, since) if e[0] != "simulation"]
    assert [(t, a) for t, a, _ in events] == [
        ("log", "restricted"),
        ("incident", "restricted"),
        ("log", "internal"),
    ]
    assert events[1][2]["action"] == "acknowledged" and events[1][2]["incident"]["status"] == "acknowledged"
    assert events[0][2]["entry"]["incident_id"] == water_id


def test_writes_are_audited_under_the_operator_name(server, place, people):
    op = Api(server, people["operator"])
    with psycopg.connect(place.url) as conn:
        since = conn.execute("SELECT coalesce(max(id), 0) FROM audit.entries").fetchone()[0]
    incident = _declare(op, place)
    op.call("POST", f"/api/incidents/{incident['id']}/acknowledge", 200)
    with psycopg.connect(place.url) as conn:
        rows = conn.execute(
            "SELECT action, actor FROM audit.entries WHERE id > %s AND object = 'incidents.incidents'"
            " AND object_id = %s ORDER BY id",
            (since, str(incident["id"])),
        ).fetchall()
    assert rows == [("INSERT", people["operator"].username), ("UPDATE", people["operator"].username)]
