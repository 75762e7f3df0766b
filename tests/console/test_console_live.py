"""The console's live panels in Chromium on Monaco (issue 7): incidents, main courante and sensors, pushed over
the live WebSocket (/api/live/ws) without reloading the page.

Same rules as ``test_console_e2e.py`` (its ``browse`` fixture is reused): every request and WebSocket of every
page goes to the server's own origin and nothing breaks the CSP. Changes are made through the real API (and
the readings through ``POST /api/sensing/readings``); the page must show them on its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.console.conftest import save_screenshot
from tests.console.console_helpers import sign_in
from tests.console.test_console_e2e import MONACO, browse  # noqa: F401 (fixture)
from tests.layers.ogc_fixtures import Caller, serve_app, server_settings, signed_in
from twin.app import create_app

OSTENDE = (7.4236, 43.7372)  # Avenue d'Ostende, by the port
CASINO = (7.4281, 43.7396)
LARVOTTO = (7.4350, 43.7450)


def _wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server to be ready"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(monaco_url: str, console_dist: Any) -> Iterator[str]:
    """The app with its live stream: served once its bus listens and the hub has read the event log."""
    app = create_app(server_settings(monaco_url))
    with serve_app(app) as url:
        _wait_until(lambda: app.state.bus.connected.is_set() and app.state.live.hub.ready.is_set())
        yield url


@dataclass(frozen=True)
class Sensors:
    territory_id: int
    no2: int  # kind no2: internal, every role but the public sees it
    pressure: int  # kind water_pressure: restricted (admin, operator)
    no2_name: str
    pressure_name: str


@pytest.fixture(scope="module")
def sensors(monaco_url: str) -> Sensors:
    """Two sensors of their own in Monaco (unique names: the Monaco database is shared by the session)."""
    tag = secrets.token_hex(3)
    with psycopg.connect(monaco_url) as conn:
        (tid,) = conn.execute("SELECT id FROM twin.territory WHERE name = 'Monaco'").fetchone()  # type: ignore[misc]
        ids = [
            conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, geom)"
                " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
                (tid, name, kind, unit, *at),
            ).fetchone()[0]  # type: ignore[index]
            for name, kind, unit, at in (
                (f"NO2 Casino {tag}", "no2", "µg/m³", CASINO),
                (f"Pression Larvotto {tag}", "water_pressure", "m", LARVOTTO),
            )
        ]
    return Sensors(int(tid), int(ids[0]), int(ids[1]), f"NO2 Casino {tag}", f"Pression Larvotto {tag}")


def _post(server: str, caller: Caller, path: str, body: Any) -> httpx.Response:
    with httpx.Client(base_url=server, timeout=30) as client:
        return client.post(path, json=body, headers=caller.headers)


def _readings(server: str, caller: Caller, rows: list[tuple[int, datetime, float]]) -> None:
    batch = [{"sensor": s, "observed_at": at.isoformat(), "value": v} for s, at, v in rows]
    answer = _post(server, caller, "/api/sensing/readings", batch)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(rows), answer.text


def _log_count(monaco_url: str) -> int:
    with psycopg.connect(monaco_url) as conn:
        return int(conn.execute("SELECT count(*) FROM incidents.log").fetchone()[0])  # type: ignore[index]


def _incident_row(monaco_url: str, incident_id: int) -> tuple[str, str | None]:
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT status, resolution FROM incidents.incidents WHERE id = %s", (incident_id,)
        ).fetchone()
    assert row is not None
    return str(row[0]), row[1]


def _open_console(browse: Any, server: str, monaco_url: str, role: str) -> tuple[Any, Any, Caller]:  # noqa: F811
    caller = signed_in(monaco_url, role)
    page, recorded = browse()
    sign_in(page, server, caller, path=MONACO)
    page.wait_for_selector("#map[data-ready=true]", timeout=30_000)
    return page, recorded, caller


def _drawn(page: Any, role: str) -> dict[str, int]:
    """The deck.gl layers drawn now and their data sizes."""
    return dict(
        page.evaluate(
            f"""() => window.hyperviseur.overlays.compose('{role}')
                  .map(l => [l.id, Array.isArray(l.props.data) ? l.props.data.length : -1])"""
        )
    )


def test_operator_sees_an_incident_arrive_live_and_acknowledges_it(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
) -> None:
    page, recorded, operator = _open_console(browse, server, monaco_url, "operator")
    page.click("[data-panel=incidents]")
    page.wait_for_selector("#incidents-live[data-state=open]", timeout=15_000)
    page.wait_for_selector("#incidents-list[data-count]")
    assert page.is_visible("#incidents-declare")

    # Declared through the API by someone else: it appears at once, highlighted, without a reload.
    title = f"Chute d'arbre quai Antoine-Ier {secrets.token_hex(2)}"
    created = _post(
        server,
        operator,
        "/api/incidents",
        {
            "territory": "Monaco",
            "title": title,
            "category": "traffic",
            "severity": "alert",
            "description": "Arbre en travers de la chaussée",
            "lon": OSTENDE[0],
            "lat": OSTENDE[1],
        },
    )
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]
    item = f"#incidents-list li[data-incident='{incident_id}']"
    page.wait_for_selector(f"{item}[data-fresh=true]", timeout=10_000)
    text = page.locator(item).inner_text()
    assert title in text and "Nouveau" in text
    assert page.locator(f"{item} svg.pictogram").get_attribute("data-category") == "traffic"
    assert page.locator(f"{item} .incident-badge").inner_text().startswith("P")
    assert title in page.locator("#incidents-notice").inner_text()
    # Drawn on the map by the incidents overlay.
    assert _drawn(page, "operator").get("incidents-markers", 0) >= 1
    save_screenshot("console-incidents.png", page.screenshot())

    # The detail: the log holds the declaration; acknowledge with a note.
    page.click(f"{item} button.incident-open")
    page.wait_for_selector(f"#incident-detail[data-incident='{incident_id}'][data-status=new]")
    assert page.locator("#incident-title").inner_text() == title
    assert page.locator("#incident-log li").count() >= 1
    assert page.is_visible("#incident-acknowledge") and page.is_visible("#incident-resolve")

    # Bad input first: closing without a resolution is refused in French and changes nothing.
    page.click("#incident-resolve")
    page.click("#incident-resolve-submit")
    assert "résolution" in page.locator("#incident-action-status").inner_text()
    assert _incident_row(monaco_url, incident_id) == ("new", None)

    page.click("#incident-acknowledge")
    page.fill("#incident-acknowledge-note", "pompiers prévenus")
    page.click("#incident-acknowledge-submit")
    page.wait_for_selector(
        f"#incident-detail[data-incident='{incident_id}'][data-status=acknowledged]", timeout=10_000
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#incident-log li')].some(li => li.textContent.includes('pompiers prévenus'))",
        timeout=10_000,
    )
    assert page.locator("#incident-detail [data-field=status]").inner_text() == "Acquitté"
    assert not page.is_visible("#incident-acknowledge")  # no longer offered
    assert _incident_row(monaco_url, incident_id) == ("acknowledged", None)
    page.click("#incident-back")
    page.wait_for_selector(f"{item}[data-status=acknowledged]")

    # Another operator's change arrives live too (here: through the API), applied in place.
    assigned = _post(
        server, operator, f"/api/incidents/{incident_id}/assign", {"assigned_to": "services techniques"}
    )
    assert assigned.status_code == 200, assigned.text
    page.wait_for_selector(f"{item}[data-status=assigned]", timeout=10_000)
    assert page.locator(f"#incidents-list li[data-incident='{incident_id}']").count() == 1

    # The main courante: the entries of the incident, live, and a note written from the page.
    page.click("[data-panel=main-courante]")
    page.wait_for_selector(f"#log-list li[data-incident='{incident_id}']")
    assert "pompiers prévenus" in page.locator("#log-list").inner_text()
    before = _log_count(monaco_url)
    page.click("#log-note-submit")  # empty: refused on the page, nothing written
    assert "Écrivez la note" in page.locator("#log-note-status").inner_text()
    assert _log_count(monaco_url) == before
    note = f"Appel de la mairie {secrets.token_hex(2)}"
    page.fill("#log-note", note)
    page.click("#log-note-submit")
    page.wait_for_function(
        "note => document.querySelector('#log-list').textContent.includes(note)", arg=note, timeout=10_000
    )
    assert _log_count(monaco_url) == before + 1
    # The same note arrives by the stream and by the POST answer: shown once.
    assert page.locator("#log-list li", has_text=note).count() == 1
    save_screenshot("console-main-courante.png", page.screenshot())
    # An entry's link opens its incident in the incidents panel.
    page.click(f"#log-list li[data-incident='{incident_id}'] .link-button >> nth=0")
    page.wait_for_selector(f"#incident-detail[data-incident='{incident_id}'][data-status=assigned]")
    assert page.get_attribute("[role=tab][data-panel=incidents]", "aria-selected") == "true"

    # A click on its marker on the map opens it too (from another panel, back in the list first).
    page.click("#incident-back")
    page.click("[data-panel=sensors]")
    page.evaluate(f"() => window.hyperviseur.map.jumpTo({{center: [{OSTENDE[0]}, {OSTENDE[1]}], zoom: 17}})")
    page.wait_for_function("() => !window.hyperviseur.map.isMoving()")
    point = page.evaluate(f"() => window.hyperviseur.map.project([{OSTENDE[0]}, {OSTENDE[1]}])")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector(f"#incident-detail[data-incident='{incident_id}']", timeout=10_000)
    assert page.get_attribute("[role=tab][data-panel=incidents]", "aria-selected") == "true"
    assert any("/api/live/ws" in u for u in recorded.websockets), recorded.websockets


def test_operator_declares_an_incident_on_the_map(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
) -> None:
    page, _, _ = _open_console(browse, server, monaco_url, "operator")
    page.evaluate(f"() => window.hyperviseur.map.jumpTo({{center: [{OSTENDE[0]}, {OSTENDE[1]}], zoom: 16}})")
    page.click("[data-panel=incidents]")
    page.click("#incidents-declare")
    before = _count_incidents(monaco_url)
    # No point, no title: refused on the page, nothing stored.
    page.click("#incident-declare-submit")
    assert "carte" in page.locator("#incident-declare-status").inner_text()
    page.click("#incident-pick")
    page.wait_for_function(
        "() => document.querySelector('#incident-pick').getAttribute('aria-pressed') === 'true'"
    )
    point = page.evaluate(f"() => window.hyperviseur.map.project([{OSTENDE[0]}, {OSTENDE[1]}])")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector("#incident-pick-where[data-lon]")
    page.click("#incident-declare-submit")
    assert "titre" in page.locator("#incident-declare-status").inner_text()
    assert _count_incidents(monaco_url) == before
    title = f"Nid-de-poule boulevard Albert-Ier {secrets.token_hex(2)}"
    page.fill("#incident-title-input", title)
    page.select_option("#incident-category", "traffic")
    page.select_option("#incident-severity", "warning")
    page.click("#incident-declare-submit")
    page.wait_for_function(
        "title => [...document.querySelectorAll('#incidents-list li')].some(li => li.textContent.includes(title))",
        arg=title,
        timeout=10_000,
    )
    assert _count_incidents(monaco_url) == before + 1
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT category, severity, origin, ST_X(geom), ST_Y(geom) FROM incidents.incidents WHERE title = %s",
            (title,),
        ).fetchone()
    assert row is not None and row[:3] == ("traffic", "warning", "manual")
    assert abs(row[3] - OSTENDE[0]) < 2e-4 and abs(row[4] - OSTENDE[1]) < 2e-4


def _count_incidents(monaco_url: str) -> int:
    with psycopg.connect(monaco_url) as conn:
        return int(conn.execute("SELECT count(*) FROM incidents.incidents").fetchone()[0])  # type: ignore[index]


def test_sensors_panel_shows_latest_values_and_updates_them_live(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
    sensors: Sensors,
) -> None:
    operator = signed_in(monaco_url, "operator")
    now = datetime.now(UTC).replace(microsecond=0)
    _readings(
        server,
        operator,
        [(sensors.no2, now - timedelta(minutes=m), 170.0 - m) for m in range(30, 0, -5)]
        + [(sensors.pressure, now - timedelta(minutes=2), 52.25)],
    )
    page, _, _ = _open_console(browse, server, monaco_url, "operator")
    page.click("[data-panel=sensors]")
    no2 = f"#sensors-list li[data-sensor='{sensors.no2}']"
    pressure = f"#sensors-list li[data-sensor='{sensors.pressure}']"
    page.wait_for_selector(no2, timeout=15_000)
    page.wait_for_selector("#sensors-live[data-state=open]", timeout=15_000)
    # Grouped by kind, with the latest value in French and its unit, and a status dot.
    assert page.locator(f"{no2} .sensor-value").inner_text().replace("\u00a0", " ") == "165 µg/m³"
    assert page.locator(f"{pressure} .sensor-value").inner_text().replace("\u00a0", " ") == "52,3 m"
    assert page.locator(no2).get_attribute("data-status") == "ok"
    group = page.locator(f"section.sensor-group:has(li[data-sensor='{sensors.no2}']) h3").inner_text()
    assert "azote" in group, group
    assert _drawn(page, "operator").get("sensors-circles", 0) >= 2

    # A new reading posted to the API reaches the page over the WebSocket: the value changes in place.
    _readings(server, operator, [(sensors.no2, now + timedelta(seconds=1), 171.5)])
    page.wait_for_selector(f"{no2} .sensor-value[data-value='171.5']", timeout=10_000)
    assert page.locator(f"{no2} .sensor-value").inner_text().replace("\u00a0", " ") == "171,5 µg/m³"

    # The detail: the last 24 hours as a line with the kind's thresholds, the latest value, live.
    page.click(f"{no2} button.sensor-open")
    page.wait_for_selector(f"#sensor-detail[data-sensor='{sensors.no2}'] #sensor-chart svg path.chart-line")
    assert int(page.get_attribute("#sensor-chart", "data-points") or 0) >= 1
    # NO2's information threshold (200 µg/m³, hourly mean) is near the data: drawn as a line.
    assert page.locator("#sensor-chart line.chart-threshold[data-severity]").count() >= 1
    assert "200" in page.locator("#sensor-chart .thresholds").inner_text()
    assert "171,5" in page.locator("#sensor-latest").inner_text()
    _readings(server, operator, [(sensors.no2, now + timedelta(seconds=2), 175.0)])
    page.wait_for_selector("#sensor-latest[data-value='175']", timeout=10_000)
    save_screenshot("console-sensor.png", page.screenshot())


def test_analyst_reads_but_has_no_write_buttons_nor_restricted_sensors(
    browse: Any,  # noqa: F811
    server: str,
    monaco_url: str,
    sensors: Sensors,
) -> None:
    operator = signed_in(monaco_url, "operator")
    created = _post(
        server,
        operator,
        "/api/incidents",
        {
            "territory": "Monaco",
            "title": f"Feu de signalisation en panne {secrets.token_hex(2)}",
            "category": "traffic",
            "severity": "warning",
            "lon": CASINO[0],
            "lat": CASINO[1],
        },
    )
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]
    page, _, _ = _open_console(browse, server, monaco_url, "analyst")
    tabs = page.eval_on_selector_all("[role=tab]", "els => els.map(e => e.dataset.panel)")
    assert {"incidents", "main-courante", "sensors"} <= set(tabs), tabs
    page.click("[data-panel=incidents]")
    item = f"#incidents-list li[data-incident='{incident_id}']"
    page.wait_for_selector(item, timeout=15_000)
    assert page.locator("#incidents-declare").count() == 0
    page.click(f"{item} button.incident-open")
    page.wait_for_selector(f"#incident-detail[data-incident='{incident_id}'][data-status=new]")
    for button in ("#incident-acknowledge", "#incident-assign", "#incident-resolve", "#incident-note"):
        assert page.locator(button).count() == 0, button
    page.click("[data-panel=main-courante]")
    page.wait_for_selector("#log-list[data-count]")
    assert page.locator("#log-note").count() == 0
    # Sensors: the NO2 station yes, the water network's pressure sensor (restricted) no.
    page.click("[data-panel=sensors]")
    page.wait_for_selector(f"#sensors-list li[data-sensor='{sensors.no2}']", timeout=15_000)
    assert page.locator(f"#sensors-list li[data-sensor='{sensors.pressure}']").count() == 0
