"""The scenarios panel and the incident card's consequences in Chromium on Monaco (issue 8).

Same rules as ``test_console_e2e.py`` (its ``browse`` fixture is reused): every request and WebSocket of every
page goes to the server's own origin and nothing breaks the CSP. A planner builds a scenario on the map
(a street picked, a flooded area drawn), runs it in the server's worker, follows its progress over the live
stream and reads the KPI table, the H3 layer and the GeoJSON download; an analyst reads without write
buttons; an operator sees an incident's consequences arrive in its card.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.console.conftest import save_screenshot
from tests.console.console_helpers import sign_in, wait_map_idle
from tests.console.test_console_e2e import MONACO, browse  # noqa: F401 (fixture)
from tests.console.test_console_routing import _click_lonlat, _street_point
from tests.layers.ogc_fixtures import Caller, serve_app, server_settings, signed_in
from twin.app import create_app
from twin.settings import SimulationSettings

CLOSED_STREET = "Avenue Princesse Alice"
MONTE_CARLO = (7.4268, 43.7395)  # dense blocks around the Casino gardens
#: The corners of a flooded block drawn on the map (≈ 160 m × 130 m around MONTE_CARLO).
FLOOD_CORNERS = [(7.4258, 43.7389), (7.4278, 43.7389), (7.4278, 43.7401), (7.4258, 43.7401)]
CASINO = (7.4281, 43.7396)
RUN_TIMEOUT_MS = 120_000


def _wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server to be ready"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(monaco_url: str, console_dist: Any) -> Iterator[str]:
    """The app with its live stream and one scenario worker, served once the hub has read the event log."""
    settings = server_settings(monaco_url)
    settings.simulation = SimulationSettings(auto_consequences=True)  # the incident card's consequences
    app = create_app(settings)
    with serve_app(app) as url:
        _wait_until(lambda: app.state.bus.connected.is_set() and app.state.live.hub.ready.is_set())
        yield url


@pytest.fixture
def no_scenarios_left(monaco_url: str) -> Iterator[None]:
    """Scenarios (and their runs) created by a test are removed even if it fails."""
    with psycopg.connect(monaco_url) as conn:
        before = conn.execute("SELECT coalesce(max(id), 0) FROM simulation.scenarios").fetchone()[0]  # type: ignore[index]
    yield
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        conn.execute("DELETE FROM simulation.scenarios WHERE id > %s", (before,))


def _api(server: str, caller: Caller, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{server}{path}", json=body, headers=caller.headers, timeout=60)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _drawn(page: Any, role: str) -> dict[str, int]:
    """The deck.gl layers drawn now (the overlay registry's composition) and their data sizes."""
    return dict(
        page.evaluate(
            f"""() => window.hyperviseur.overlays.compose('{role}')
                  .map(l => [l.id, Array.isArray(l.props.data) ? l.props.data.length : -1])"""
        )
    )


def _scenario_row(monaco_url: str, scenario_id: int) -> tuple[int, list[Any], list[Any]]:
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT version, events, measures FROM simulation.scenarios WHERE id = %s", (scenario_id,)
        ).fetchone()
    assert row is not None
    return int(row[0]), list(row[1]), list(row[2])


def _street_arcs(monaco_url: str, edge_ids: list[int]) -> set[str]:
    with psycopg.connect(monaco_url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT name FROM twin.road_edges WHERE id = ANY(%s)", (edge_ids,)
        ).fetchall()
    return {r[0] for r in rows}


def _open_panel(page: Any) -> None:
    page.click("[data-panel=scenarios]")
    page.wait_for_selector("#scenarios-live[data-state=open]", timeout=15_000)
    page.wait_for_selector("#scenarios-list[data-count]", timeout=15_000)


def _verdict(row: dict[str, Any]) -> str:
    delta = row["delta"]
    if delta is None:
        return "unknown"
    if abs(delta) < 1e-9:
        return "same"
    return "better" if (delta < 0) == (row["better"] == "lower") else "worse"


def test_planner_builds_runs_and_downloads_a_scenario(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
    no_scenarios_left: None,
    tmp_path: Path,
) -> None:
    planner = signed_in(monaco_url, "planner")
    page, recorded = browse()
    sign_in(page, server, planner, path=MONACO)
    wait_map_idle(page)
    page.evaluate(
        f"() => window.hyperviseur.map.jumpTo({{center: [{MONTE_CARLO[0]}, {MONTE_CARLO[1]}], zoom: 16.2}})"
    )
    wait_map_idle(page)
    _open_panel(page)
    assert page.is_visible("#scenario-new")

    # A new scenario: a name is required (refused in French, nothing stored), then created.
    page.click("#scenario-new")
    page.click("#scenario-create")
    assert "nom" in page.locator("#scenario-new-status").inner_text()
    name = f"Crue Monte-Carlo {secrets.token_hex(2)}"
    page.fill("#scenario-name", name)
    page.fill("#scenario-description", "Casino : rue fermée et îlot inondé")
    page.click("#scenario-create")
    page.wait_for_selector("#scenario-detail[data-scenario]:not([hidden])", timeout=15_000)
    scenario_id = int(page.get_attribute("#scenario-detail", "data-scenario") or 0)
    assert page.locator("#scenario-title").inner_text() == name

    # A road closure with no street picked is refused and stores nothing.
    page.click("#scenario-add-road_closure")
    page.click("#scenario-item-submit")
    assert "rue" in page.locator("#scenario-item-status").inner_text()
    assert _scenario_row(monaco_url, scenario_id) == (1, [], [])

    # Pick the street on the map, then add the event: a PATCH with version 1.
    lon, lat = _street_point(monaco_url, CLOSED_STREET)
    page.click("#scenario-pick-streets")
    page.wait_for_function(
        "() => document.querySelector('#scenario-pick-streets').getAttribute('aria-pressed') === 'true'"
    )
    _click_lonlat(page, lon, lat)
    page.wait_for_selector("#scenario-streets-count:not([data-count='0'])", timeout=10_000)
    page.fill("#scenario-reason", "travaux")
    page.click("#scenario-item-submit")
    page.wait_for_selector("#scenario-events li[data-type=road_closure]", timeout=10_000)
    version, events, _ = _scenario_row(monaco_url, scenario_id)
    assert version == 2 and events[0]["type"] == "road_closure" and events[0]["reason"] == "travaux"
    assert _street_arcs(monaco_url, events[0]["edge_ids"]) == {CLOSED_STREET}

    # A flooded block drawn corner by corner, with its water level.
    page.click("#scenario-add-flood")
    page.click("#scenario-draw-area")
    for corner in FLOOD_CORNERS:
        _click_lonlat(page, *corner)
    page.wait_for_selector("#scenario-area-count[data-count='4']")
    assert _drawn(page, "planner").get("scenarios-draft-points") == 4
    page.fill("#scenario-water-level", "0,6")
    page.click("#scenario-item-submit")
    page.wait_for_selector("#scenario-events li[data-type=flood]", timeout=10_000)
    version, events, _ = _scenario_row(monaco_url, scenario_id)
    assert version == 3 and [e["type"] for e in events] == ["road_closure", "flood"]
    assert events[1]["water_level_m"] == pytest.approx(0.6)
    ring = events[1]["area"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert ring[0] == pytest.approx(list(FLOOD_CORNERS[0]), abs=2e-5)

    # Someone else edits meanwhile: our next change gets a 409, the page reloads the scenario and says so.
    _api(
        server,
        planner,
        "PATCH",
        f"/api/simulation/scenarios/{scenario_id}",
        {"version": 3, "description": "v4"},
    )
    page.click("#scenario-remove-event-0")
    page.wait_for_function(
        "() => (document.querySelector('#scenario-status').textContent || '').includes('modifié ce scénario')"
    )
    page.wait_for_selector("#scenario-detail[data-version='4']")
    assert _scenario_row(monaco_url, scenario_id)[1] == events  # the removal was not applied

    # Run: the progress comes over the live stream, then the results.
    page.evaluate(
        """() => { window.__progress = [];
                   new MutationObserver(() => window.__progress.push(
                       document.querySelector('#scenario-progress-row').dataset.progress))
                     .observe(document.querySelector('#scenario-progress-row'), {attributes: true}); }"""
    )
    page.click("#scenario-run")
    page.wait_for_selector("#scenario-progress-row:not([hidden])", timeout=10_000)
    page.wait_for_selector("#scenario-progress-row[data-results=true]", timeout=RUN_TIMEOUT_MS)
    run_id = int(page.get_attribute("#scenario-progress-row", "data-run") or 0)
    seen = [int(p) for p in page.evaluate("() => window.__progress") if p is not None]
    assert seen[-1] == 100 and any(0 < p < 100 for p in seen), seen
    assert page.get_attribute("#scenario-progress-row", "data-status") == "done"
    assert any(f"/api/simulation/runs/{run_id}/layers" in u for u in recorded.requests)

    # The KPI table: the server's comparison, row for row, coloured by the KPI's better direction.
    run = _api(server, planner, "GET", f"/api/simulation/runs/{run_id}")
    assert run["status"] == "done" and run["comparison"], run
    rows = page.locator("#scenario-kpis tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.kpi)") == [c["kpi"] for c in run["comparison"]]
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.verdict)") == [
        _verdict(c) for c in run["comparison"]
    ]
    labels = page.locator("#scenario-kpis tbody th").all_inner_texts()
    assert labels == [c["label"]["fr"] for c in run["comparison"]]
    residents = next(c for c in run["comparison"] if c["kpi"] == "residents_hit")
    assert residents["scenario"] > residents["baseline"], residents  # the flooded block is inhabited
    report = _api(server, planner, "GET", f"/api/simulation/runs/{run_id}/report")
    assert page.locator("#scenario-summary").inner_text() == report["summary"]["fr"]

    # The H3 layer (and the others) drawn by deck.gl, as many cells as the server's layer holds.
    layers = _api(server, planner, "GET", f"/api/simulation/runs/{run_id}/layers")
    drawn = _drawn(page, "planner")
    assert len(layers["h3"]["features"]) > 0
    assert drawn.get("scenarios-h3") == len(layers["h3"]["features"]), drawn
    assert drawn.get("scenarios-events") == len(layers["events"]["features"]) == 2, drawn
    assert drawn.get("scenarios-affected", 0) > 0, drawn
    page.uncheck("#scenario-layer-h3")
    assert "scenarios-h3" not in _drawn(page, "planner")
    page.check("#scenario-layer-h3")
    assert "scenarios-h3" in _drawn(page, "planner")
    wait_map_idle(page)
    save_screenshot("console-scenario.png", page.screenshot())

    # Download the GeoJSON: the features of the layers, as a file.
    with page.expect_download() as download_info:
        page.click("#scenario-download-geojson")
    path = tmp_path / "scenario.geojson"
    download_info.value.save_as(path)
    geojson = json.loads(path.read_text())
    assert geojson["type"] == "FeatureCollection"
    assert len(geojson["features"]) == sum(len(fc["features"]) for fc in layers.values())

    # Leaving the panel (its instance unmounted) clears its layers from the map.
    page.evaluate("() => window.hyperviseur.panels.unregister('scenarios')")
    assert not any(k.startswith("scenarios-") for k in _drawn(page, "planner"))


def test_analyst_reads_scenarios_without_write_buttons(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
    no_scenarios_left: None,
) -> None:
    planner = signed_in(monaco_url, "planner")
    with psycopg.connect(monaco_url) as conn:
        edges = [
            int(r[0])
            for r in conn.execute(
                "SELECT e.id FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id"
                " WHERE t.name = 'Monaco' AND e.name = %s ORDER BY e.id LIMIT 2",
                (CLOSED_STREET,),
            ).fetchall()
        ]
    created = _api(
        server,
        planner,
        "POST",
        "/api/simulation/scenarios",
        {
            "territory": "Monaco",
            "name": f"Fermeture lue {secrets.token_hex(2)}",
            "events": [{"type": "road_closure", "edge_ids": edges, "reason": "marché"}],
        },
    )
    analyst = signed_in(monaco_url, "analyst")
    page, _ = browse()
    sign_in(page, server, analyst, path=MONACO)
    page.wait_for_selector("#map[data-ready=true]", timeout=30_000)
    _open_panel(page)
    item = f"#scenarios-list li[data-scenario='{created['id']}']"
    page.wait_for_selector(item)
    assert created["name"] in page.locator(item).inner_text()
    assert page.locator("#scenario-new").count() == 0
    page.click(f"{item} button.scenario-open")
    page.wait_for_selector(f"#scenario-detail[data-scenario='{created['id']}']:not([hidden])")
    page.wait_for_selector("#scenario-events li[data-type=road_closure]")
    assert "marché" in page.locator("#scenario-events").inner_text()
    for write in ("#scenario-run", "#scenario-delete", "[id^=scenario-add-]", "[id^=scenario-remove-]"):
        assert page.locator(write).count() == 0, write
    # The API refuses the analyst anyway, and the scenario is as it was.
    status = page.evaluate(
        f"""() => fetch('/api/simulation/scenarios/{created["id"]}/runs', {{method: 'POST'}}).then(r => r.status)"""
    )
    assert status == 403
    assert _scenario_row(monaco_url, created["id"])[0] == created["version"]


def test_incident_card_shows_its_consequences(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
) -> None:
    operator = signed_in(monaco_url, "operator")
    page, _ = browse()
    sign_in(page, server, operator, path=MONACO)
    page.wait_for_selector("#map[data-ready=true]", timeout=30_000)
    page.click("[data-panel=incidents]")
    page.wait_for_selector("#incidents-live[data-state=open]", timeout=15_000)

    # An air pollution incident: a plume around the casino, computed automatically by the server.
    incident = _api(
        server,
        operator,
        "POST",
        "/api/incidents",
        {
            "territory": "Monaco",
            "title": f"Odeur de fumée place du Casino {secrets.token_hex(2)}",
            "category": "air",
            "severity": "alert",
            "lon": CASINO[0],
            "lat": CASINO[1],
        },
    )
    item = f"#incidents-list li[data-incident='{incident['id']}']"
    page.wait_for_selector(item, timeout=10_000)
    page.click(f"{item} button.incident-open")
    page.wait_for_selector(f"#incident-detail[data-incident='{incident['id']}']")
    # Shown as soon as the live event says they are computed (whatever the card showed before).
    page.wait_for_selector("#incident-consequences[data-status=done]", timeout=60_000)
    doc = _api(server, operator, "GET", f"/api/incidents/{incident['id']}/consequences")
    assert doc["status"] == "done"
    assert page.locator("#consequences-summary").inner_text() == doc["report"]["summary"]["fr"]
    residents = int(page.get_attribute("#consequences-residents", "data-residents") or -1)
    assert residents == doc["report"]["residents_hit"]
    sites = page.locator("#consequences-sites li[data-site]").evaluate_all(
        "ls => ls.map(l => Number(l.dataset.site))"
    )
    assert sites == [s["id"] for s in doc["report"]["critical_sites_hit"]]
    assert page.locator("#consequences-actions li").count() >= 1

    # "Voir sur la carte" draws the affected assets.
    assert doc["report"]["affected"], "the plume hits nothing around the casino"
    page.click("#consequences-show")
    page.wait_for_function(
        "() => Number(document.querySelector('#incident-consequences').dataset.drawn) > 0", timeout=30_000
    )
    drawn = _drawn(page, "operator")
    assert 0 < drawn.get("incident-consequences-assets", 0) <= len(doc["report"]["affected"]), drawn
    save_screenshot("console-incident-consequences.png", page.screenshot())

    # "Recalculer": pending, then done again (the live event, or the pending poll, brings it back).
    page.evaluate(
        """() => { const el = document.querySelector('#incident-consequences'); window.__statuses = [];
                   new MutationObserver(() => window.__statuses.push(el.dataset.status))
                     .observe(el, {attributes: true, attributeFilter: ['data-status']}); }"""
    )
    page.click("#consequences-recompute")
    page.wait_for_function(
        "() => window.__statuses.includes('pending') && window.__statuses.at(-1) === 'done'", timeout=60_000
    )
    again = _api(server, operator, "GET", f"/api/incidents/{incident['id']}/consequences")
    assert again["status"] == "done" and again["computed_at"] != doc["computed_at"]

    # A category no network propagates: "non applicable", with the reason.
    security = _api(
        server,
        operator,
        "POST",
        "/api/incidents",
        {
            "territory": "Monaco",
            "title": f"Rixe place d'Armes {secrets.token_hex(2)}",
            "category": "security",
            "severity": "warning",
            "lon": 7.4205,
            "lat": 43.7318,
        },
    )
    page.click("#incident-back")
    page.click(f"#incidents-list li[data-incident='{security['id']}'] button.incident-open")
    page.wait_for_selector("#incident-consequences[data-status=not_applicable]", timeout=60_000)
    text = page.locator("#consequences-status").inner_text()
    assert text.startswith("Non applicable") and "security" in text, text
    assert page.locator("#consequences-show").count() == 0
