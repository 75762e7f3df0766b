"""Scenarios end to end on Monaco: a real server with its worker process, the live WebSocket, PostGIS.

Fork → edit (optimistic concurrency) → run in the worker process → progress on the live stream → KPIs side
by side; a reopened live closure improves access; a live closure created after the fork changes nothing;
cancellation; bad input refused with nothing stored; roles; layers, H3 and downloads.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from simulation.territory import load_territory_models
from tests.layers.ogc_fixtures import serve_app, server_settings, signed_in
from tests.live.conftest import recv_until, wait_until
from twin.app import create_app

API = "/api/simulation"


@pytest.fixture(scope="module")
def monaco_sites(monaco_url: str) -> dict[str, Any]:
    """Monaco's id, and the road arcs that are the only access of two hospitals (from the access model)."""
    models = load_territory_models(monaco_url, "Monaco")
    net = models.graph.network
    hospitals = [p for p in models.access.points if p.layer == "critical_sites" and p.kind == "hospital"]
    chpg = next(p for p in hospitals if p.name and "Princesse Grace" in p.name)
    other = next(p for p in hospitals if p.id != chpg.id and p.traversals)

    def edges(point: Any) -> list[int]:
        return sorted({int(net.edge_ids[e]) for e, _, _ in point.traversals})

    return {"territory_id": models.territory_id, "chpg": edges(chpg), "other": edges(other)}


def _live_closure(url: str, territory_id: int, edge_ids: list[int], reason: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO routing.closures (territory_id, kind, edge_ids, reason, created_by)"
            " VALUES (%s, 'closure', %s, %s, 'test') RETURNING id",
            (territory_id, edge_ids, reason),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def server(monaco_url: str, monaco_sites: dict[str, Any]) -> Iterator[str]:
    # The live closure in front of the CHPG exists before every fork of this module.
    closure = _live_closure(monaco_url, monaco_sites["territory_id"], monaco_sites["chpg"], "travaux CHPG")
    monaco_sites["live_closure"] = closure
    app = create_app(server_settings(monaco_url))
    with serve_app(app) as url:
        wait_until(lambda: app.state.bus.connected.is_set() and app.state.live.hub.ready.is_set())
        yield url
    with psycopg.connect(monaco_url) as conn:
        conn.execute("DELETE FROM routing.closures WHERE id = %s", (closure,))


@pytest.fixture(scope="module")
def people(monaco_url: str) -> dict[str, dict[str, str]]:
    return {
        role: {"Authorization": f"Bearer {signed_in(monaco_url, role).token}"}
        for role in ("planner", "analyst", "crew", "operator")
    }


def _scenarios_fingerprint(url: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM simulation.scenarios), (SELECT md5(coalesce(string_agg(s::text, '|'"
            " ORDER BY id), '')) FROM simulation.scenarios s), (SELECT count(*) FROM simulation.scenario_runs)"
        ).fetchone()
    assert row is not None
    return tuple(row)


def _create(server: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server}{API}/scenarios", json={"territory": "Monaco", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _run(server: str, headers: dict[str, str], scenario_id: int) -> dict[str, Any]:
    response = httpx.post(f"{server}{API}/scenarios/{scenario_id}/runs", headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def _finished(server: str, headers: dict[str, str], run_id: int, timeout_s: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = httpx.get(f"{server}{API}/runs/{run_id}", headers=headers).json()
        return run if run["status"] in ("done", "failed", "cancelled") else None

    return wait_until(done, timeout_s=timeout_s, interval_s=0.2)


def _kpi(run: dict[str, Any], key: str) -> tuple[Any, Any]:
    row = next(r for r in run["comparison"] if r["kpi"] == key)
    return row["baseline"], row["scenario"]


def test_run_with_progress_on_the_live_stream_and_kpis_side_by_side(server, people, monaco_sites, monaco_url):
    planner = people["planner"]
    scenario = _create(
        server,
        planner,
        name="Fermeture devant l'hôpital",
        events=[{"type": "road_closure", "edge_ids": monaco_sites["other"], "reason": "chantier"}],
    )
    assert scenario["version"] == 1 and scenario["last_run"] is None
    assert [c["id"] for c in scenario["live_closures"]] == [monaco_sites["live_closure"]]
    from websockets.sync.client import connect

    ws_url = server.replace("http", "ws", 1) + "/api/live/ws?topics=simulation"
    with connect(ws_url, additional_headers=planner, open_timeout=10) as ws:
        recv_until(ws, lambda m: m["topic"] == "ready")
        run = _run(server, planner, scenario["id"])
        assert run["status"] == "queued" and run["kpis"] is None
        messages = recv_until(
            ws,
            lambda m: (
                m.get("payload", {}).get("run_id") == run["id"]
                and m["payload"]["status"] in ("done", "failed")
            ),
            timeout_s=90,
        )
    mine = [m["payload"] for m in messages if m.get("payload", {}).get("run_id") == run["id"]]
    assert mine[-1]["status"] == "done", mine[-1]
    running = [m for m in mine if m["status"] == "running"]
    assert len(running) >= 5
    assert {"Chargement du territoire", "État de référence", "Indicateurs"} <= {m["stage"] for m in running}
    progress = [m["progress"] for m in mine if m["status"] != "queued"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert all(m["kind"] == "run" and m["scenario_id"] == scenario["id"] for m in mine)

    done = _finished(server, planner, run["id"])
    assert done["status"] == "done" and done["error"] is None
    baseline, hit = _kpi(done, "residents_hit")
    assert hit >= baseline
    assert _kpi(done, "critical_sites_hit")[0] >= 1  # the live closure already cuts the CHPG off
    assert len(done["comparison"]) == 13 and all(
        r["label"]["fr"] and r["label"]["en"] for r in done["comparison"]
    )
    report = httpx.get(f"{server}{API}/runs/{run['id']}/report", headers=planner).json()
    assert report["residents_hit"] == done["kpis"]["residents_hit"]
    assert report["scenario"]["closed_edges"]["event"] == monaco_sites["other"]
    assert report["baseline"]["live_closures"] == [monaco_sites["live_closure"]]
    listed = httpx.get(f"{server}{API}/scenarios/{scenario['id']}", headers=planner).json()
    assert listed["last_run"]["id"] == run["id"]


def test_reopening_a_live_closure_improves_access_and_later_closures_do_not_count(
    server, people, monaco_sites, monaco_url
):
    planner = people["planner"]
    scenario = _create(
        server,
        planner,
        name="Déviation ouverte",
        measures=[{"type": "reopen_road", "closure_ids": [monaco_sites["live_closure"]]}],
    )
    first = _finished(server, planner, _run(server, planner, scenario["id"])["id"])
    assert first["status"] == "done", first["error"]
    base_sites, scen_sites = _kpi(first, "critical_sites_hit")
    assert scen_sites < base_sites
    assert _kpi(first, "residents_hit")[1] <= _kpi(first, "residents_hit")[0]
    # A live closure after the fork (the other hospital's access) changes neither side of a new run.
    later = _live_closure(monaco_url, monaco_sites["territory_id"], monaco_sites["other"], "après le fork")
    try:
        again = _finished(server, planner, _run(server, planner, scenario["id"])["id"])
    finally:
        with psycopg.connect(monaco_url) as conn:
            conn.execute("DELETE FROM routing.closures WHERE id = %s", (later,))
    assert again["status"] == "done"
    assert again["kpis"] == first["kpis"] and again["baseline_kpis"] == first["baseline_kpis"]


def test_stale_version_is_refused_and_nothing_changes(server, people, monaco_url):
    planner = people["planner"]
    scenario = _create(server, planner, name="Versions")
    patched = httpx.patch(
        f"{server}{API}/scenarios/{scenario['id']}",
        json={"version": 1, "name": "Versions 2", "events": [{"type": "road_closure", "edge_ids": [1]}]},
        headers=planner,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2 and patched.json()["events"][0]["edge_ids"] == [1]
    before = _scenarios_fingerprint(monaco_url)
    stale = httpx.patch(
        f"{server}{API}/scenarios/{scenario['id']}", json={"version": 1, "name": "perdu"}, headers=planner
    )
    assert stale.status_code == 409 and "version 1" in stale.json()["detail"]
    assert _scenarios_fingerprint(monaco_url) == before
    empty = _create(server, planner, name="Vide")
    refused = httpx.post(f"{server}{API}/scenarios/{empty['id']}/runs", headers=planner)
    assert refused.status_code == 400 and "no event and no measure" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"events": [{"type": "road_closure", "edge_ids": []}]}, ("event 0", "edge_ids")),
        (
            {"events": [{"type": "flood", "area": {"type": "Point", "coordinates": [7, 43]}}]},
            ("event 0", "area"),
        ),
        ({"measures": [{"type": "send_crew", "crew_id": 1, "event": 3}]}, ("measure 0", "event")),
        ({"measures": [{"type": "reopen_road", "closure_ids": [999999]}]}, ("measure 0", "closure_ids")),
        ({"measures": [{"type": "operate_valve", "valve": "V1", "open": "yes"}]}, ("measure 0", "open")),
        ({"measures": [{"type": "teleport"}]}, ("measure 0", "type")),
        ({"name": "  "}, ("name",)),
    ],
)
def test_bad_events_and_measures_are_refused_naming_index_and_field(server, people, monaco_url, body, words):
    before = _scenarios_fingerprint(monaco_url)
    response = httpx.post(
        f"{server}{API}/scenarios",
        json={"territory": "Monaco", "name": "Mauvais", **body},
        headers=people["planner"],
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert all(w in response.json()["detail"] for w in words), response.json()["detail"]
    assert _scenarios_fingerprint(monaco_url) == before


def test_cancel_a_queued_run(server, people, monaco_sites):
    planner = people["planner"]
    scenario = _create(
        server,
        planner,
        name="Annulation",
        events=[{"type": "road_closure", "edge_ids": monaco_sites["other"]}],
    )
    # One worker: the third run waits for the first two; cancelled at once, it never starts.
    runs = [_run(server, planner, scenario["id"]) for _ in range(3)]
    cancelled = httpx.post(f"{server}{API}/runs/{runs[2]['id']}/cancel", headers=planner)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    first = _finished(server, planner, runs[0]["id"])
    second = _finished(server, planner, runs[1]["id"])
    assert (first["status"], second["status"]) == ("done", "done")
    third = httpx.get(f"{server}{API}/runs/{runs[2]['id']}", headers=planner).json()
    assert third["status"] == "cancelled" and third["started_at"] is None and third["kpis"] is None
    again = httpx.post(f"{server}{API}/runs/{runs[0]['id']}/cancel", headers=planner)
    assert again.status_code == 409
    listed = httpx.get(f"{server}{API}/scenarios/{scenario['id']}/runs", headers=planner).json()["runs"]
    assert [r["id"] for r in listed] == sorted((r["id"] for r in runs), reverse=True)


def test_roles_and_water_details(server, people):
    scenario = _create(
        server,
        people["planner"],
        name="Vanne",
        measures=[{"type": "operate_valve", "valve": "V-P12-J3", "open": False}],
    )
    url = f"{server}{API}/scenarios/{scenario['id']}"
    assert httpx.get(url, headers=people["planner"]).json()["measures"][0]["valve"] == "V-P12-J3"
    seen_by_analyst = httpx.get(url, headers=people["analyst"])
    assert seen_by_analyst.status_code == 200 and "valve" not in seen_by_analyst.json()["measures"][0]
    assert httpx.get(url, headers=people["crew"]).status_code == 200
    assert httpx.get(url).status_code == 401
    for role, expected in (("analyst", 403), ("crew", 403), ("operator", 201)):
        response = httpx.post(
            f"{server}{API}/scenarios", json={"territory": "Monaco", "name": role}, headers=people[role]
        )
        assert response.status_code == expected, (role, response.text)
    copy = httpx.post(f"{url}/copy", json={"name": "Variante"}, headers=people["planner"])
    assert copy.status_code == 201 and copy.json()["forked_at"] == scenario["forked_at"]
    assert (
        httpx.delete(f"{server}{API}/scenarios/{copy.json()['id']}", headers=people["analyst"]).status_code
        == 403
    )
    assert (
        httpx.delete(f"{server}{API}/scenarios/{copy.json()['id']}", headers=people["planner"]).status_code
        == 204
    )
    assert (
        httpx.get(f"{server}{API}/scenarios/{copy.json()['id']}", headers=people["planner"]).status_code
        == 404
    )


def test_layers_h3_and_downloads(server, people, monaco_sites):
    planner = people["planner"]
    scenario = _create(
        server, planner, name="Couches", events=[{"type": "road_closure", "edge_ids": monaco_sites["other"]}]
    )
    run = _finished(server, planner, _run(server, planner, scenario["id"])["id"])
    assert run["status"] == "done", run["error"]
    report = httpx.get(f"{server}{API}/runs/{run['id']}/report", headers=planner).json()
    layers = httpx.get(f"{server}{API}/runs/{run['id']}/layers", headers=people["analyst"]).json()
    assert set(layers) == {"affected", "h3", "closed_roads", "isolated_areas", "events"}
    for fc in layers.values():
        assert fc["type"] == "FeatureCollection"
        for f in fc["features"]:
            assert f["type"] == "Feature" and f["geometry"]["type"] and "coordinates" in f["geometry"]
    points = layers["affected"]["features"]
    assert len(points) == len(report["affected"]) > 0
    assert all(7.38 < p["geometry"]["coordinates"][0] < 7.45 for p in points)
    assert sum(c["properties"]["residents_hit"] for c in layers["h3"]["features"]) == report["residents_hit"]
    assert sum(c["properties"]["critical_sites_hit"] for c in layers["h3"]["features"]) == len(
        report["critical_sites_hit"]
    )
    closed = {
        f["properties"]["edge_id"]: f["properties"]["cause"] for f in layers["closed_roads"]["features"]
    }
    assert all(closed[e] == "event" for e in monaco_sites["other"])
    assert all(closed[e] == "live_closure" for e in monaco_sites["chpg"])
    assert [f["properties"] for f in layers["events"]["features"]] == [{"index": 0, "type": "road_closure"}]

    base = f"{server}{API}/runs/{run['id']}/download"
    as_csv = httpx.get(base, params={"format": "csv"}, headers=planner)
    assert as_csv.status_code == 200 and "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (
        len(rows) == len(points)
        and sum(int(r["residents"]) for r in rows if r["layer"] == "buildings") == (report["residents_hit"])
    )
    as_geojson = json.loads(httpx.get(base, params={"format": "geojson"}, headers=planner).content)
    assert as_geojson["type"] == "FeatureCollection"
    assert {f["properties"]["collection"] for f in as_geojson["features"]} >= {
        "affected",
        "h3",
        "closed_roads",
    }
    as_json = httpx.get(base, params={"format": "json"}, headers=planner).json()
    assert as_json["run"]["id"] == run["id"] and as_json["report"]["residents_hit"] == report["residents_hit"]
    bad = httpx.get(base, params={"format": "xlsx"}, headers=planner)
    assert bad.status_code == 400
