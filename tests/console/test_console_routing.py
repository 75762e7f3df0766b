"""The routing, closures and crews panels of the console and the crew page's jobs, in Chromium on Monaco (issue 6).

Same rules as ``test_console_e2e.py`` (its fixtures are reused): every request of every page goes to the server's
own origin and nothing breaks the CSP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from shapely.geometry import shape

from tests.console.conftest import save_screenshot
from tests.console.console_helpers import image_difference, map_image, sign_in, wait_map_idle
from tests.console.test_console_e2e import PHONE, _signed_in_page, browse, server  # noqa: F401 (fixtures)
from tests.layers.ogc_fixtures import Caller, signed_in

OSTENDE = (7.4236, 43.7372)  # Avenue d'Ostende, by the port
MONTE_CARLO = (7.4268, 43.7395)  # Avenue de Monte-Carlo
FONTVIEILLE = (7.4197, 43.7313)
CLOSED_STREET = "Avenue Princesse Alice"  # on the fastest car route from OSTENDE to MONTE_CARLO


def _click_lonlat(page: Any, lon: float, lat: float) -> None:
    point = page.evaluate(f"() => window.hyperviseur.map.project([{lon}, {lat}])")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def _pick(page: Any, button: str, lon: float, lat: float) -> None:
    page.click(button)
    page.wait_for_function(
        f"() => document.querySelector('{button}').getAttribute('aria-pressed') === 'true'"
    )
    _click_lonlat(page, lon, lat)


def _layers(page: Any, role: str) -> dict[str, int]:
    """The deck.gl layers drawn now (the overlay registry's composition) and their data sizes."""
    return dict(
        page.evaluate(
            f"""() => window.hyperviseur.overlays.compose('{role}')
                  .map(l => [l.id, Array.isArray(l.props.data) ? l.props.data.length : -1])"""
        )
    )


def _route_state(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => { const s = document.querySelector('#route-summary');
                       return {signature: s.dataset.signature || null, duration: Number(s.dataset.durationS)}; }"""
        )
    )


def _street_point(monaco_url: str, street: str) -> tuple[float, float]:
    """The middle of the longest arc of ``street`` in Monaco."""
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(ST_LineMerge(e.geom), 0.5) AS p"
            " FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id"
            " WHERE t.name = 'Monaco' AND e.name = %s AND GeometryType(ST_LineMerge(e.geom)) = 'LINESTRING'"
            " ORDER BY ST_Length(e.geom::geography) DESC LIMIT 1) s",
            (street,),
        ).fetchone()
    assert row is not None, f"no arc of {street} in Monaco"
    return float(row[0]), float(row[1])


@pytest.fixture
def no_closures_left(monaco_url: str) -> Iterator[None]:
    """Closures placed by a test are lifted even if it fails: later tests route on the open network."""
    with psycopg.connect(monaco_url) as conn:
        before = conn.execute("SELECT coalesce(max(id), 0) FROM routing.closures").fetchone()[0]  # type: ignore[index]
    yield
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        conn.execute("DELETE FROM routing.closures WHERE id > %s", (before,))


def test_operator_routes_closes_a_street_and_the_route_follows(
    browse: Any,  # noqa: F811
    server: str,  # noqa: F811
    monaco_url: str,
    no_closures_left: None,
) -> None:
    page, recorded, _ = _signed_in_page(browse, server, monaco_url, "operator")
    wait_map_idle(page)
    page.evaluate("() => window.hyperviseur.map.jumpTo({center: [7.4252, 43.7384], zoom: 16.4})")
    wait_map_idle(page)
    page.click("[data-panel=routing]")
    assert page.is_visible("#panel-routing")
    assert page.locator("#route-profile option").evaluate_all("os => os.map(o => o.value)") == [
        "car",
        "emergency",
        "crew_van",
        "pedestrian",
    ]
    empty = map_image(page)
    _pick(page, "#route-start-pick", *OSTENDE)
    _pick(page, "#route-end-pick", *MONTE_CARLO)
    page.wait_for_selector("#route-summary[data-signature]", timeout=15_000)
    before = _route_state(page)
    assert before["duration"] > 0
    # The turn-by-turn list in French, from the departure to the arrival; distance and duration shown.
    steps = page.locator("#route-steps li").all_inner_texts()
    assert steps[0].split("\n")[1].startswith("Partez vers") and "Vous êtes arrivé" in steps[-1], steps
    assert any(CLOSED_STREET in s for s in steps), steps
    summary = page.locator("#route-summary").inner_text()
    assert " min" in summary.replace("\u00a0", " ") and ("m" in summary)
    gpx = page.get_attribute("#route-gpx", "href")
    assert gpx and "format=gpx" in gpx and "profile=car" in gpx
    assert page.evaluate(f"() => fetch({gpx!r}).then(r => r.headers.get('content-type'))").startswith(
        "application/gpx+xml"
    )
    # Drawn by deck.gl through the overlay registry, and visibly so.
    drawn = _layers(page, "operator")
    assert drawn.get("routing-route") == 1 and drawn.get("routing-markers") == 2, drawn
    wait_map_idle(page)
    assert image_difference(empty, map_image(page)) > 0.5, "the route is not visible on the map"
    save_screenshot("console-routing.png", page.screenshot())

    # Close a street of that route by clicking it: the route is computed again, around it.
    lon, lat = _street_point(monaco_url, CLOSED_STREET)
    page.click("[data-panel=closures]")
    page.wait_for_selector("#closures-list li")
    page.fill("#closure-reason", "travaux de voirie")
    page.select_option("#closure-duration", "3600")
    _pick(page, "#closure-pick-street", lon, lat)
    page.wait_for_selector("#closures-list li[data-closure]", timeout=15_000)
    item = page.locator("#closures-list li[data-closure]").first
    assert "travaux de voirie" in item.inner_text() and "jusqu’à" in item.inner_text()
    page.wait_for_function(
        "sig => document.querySelector('#route-summary').dataset.signature !== sig",
        arg=before["signature"],
        timeout=15_000,
    )
    after = _route_state(page)
    assert after["duration"] > before["duration"], (before, after)
    page.click("[data-panel=routing]")
    steps_after = page.locator("#route-steps li").all_inner_texts()
    assert not any(CLOSED_STREET in s for s in steps_after), steps_after
    assert "fermeture" in page.locator("#route-summary").inner_text()
    drawn = _layers(page, "operator")
    assert drawn.get("closures-lines", 0) > 0, drawn  # red dashes on the closed arcs
    wait_map_idle(page)
    save_screenshot("console-routing-closure.png", page.screenshot())
    closure_id = item.get_attribute("data-closure")

    # Lifting it brings the first route back.
    page.click("[data-panel=closures]")
    page.click(f"#closure-delete-{closure_id}")
    page.wait_for_selector("#closures-empty")
    page.wait_for_function(
        "sig => document.querySelector('#route-summary').dataset.signature === sig",
        arg=before["signature"],
        timeout=15_000,
    )
    assert any("/api/routing/closures" in u for u in recorded.requests)


def test_analyst_draws_isochrones_but_has_no_closures_tool(
    browse: Any,  # noqa: F811
    server: str,  # noqa: F811
    monaco_url: str,
) -> None:
    page, _, _ = _signed_in_page(browse, server, monaco_url, "analyst")
    wait_map_idle(page)
    tabs = page.eval_on_selector_all("[role=tab]", "els => els.map(e => e.dataset.panel)")
    assert "routing" in tabs and "closures" not in tabs and "crews" not in tabs, tabs
    page.evaluate(
        f"() => window.hyperviseur.map.jumpTo({{center: [{FONTVIEILLE[0]}, {FONTVIEILLE[1]}], zoom: 14.6}})"
    )
    wait_map_idle(page)
    page.click("[data-panel=routing]")
    # Monaco by car is a few minutes across (and its streets are mostly foot=no, their sidewalks being separate
    # footways the importer does not keep): 1, 2 and 3 minutes show three distinct rings.
    page.select_option("#route-profile", "car")
    page.fill("#iso-budgets", "1, 2, 3")
    _pick(page, "#iso-pick", *FONTVIEILLE)
    page.wait_for_selector("#iso-legend li", timeout=15_000)
    legend = page.locator("#iso-legend li").all_inner_texts()
    assert [text.replace("\u00a0", " ") for text in legend] == ["≤ 1 min", "≤ 2 min", "≤ 3 min"]
    features = page.evaluate(
        """() => window.hyperviseur.overlays.compose('analyst')
              .find(l => l.id === 'routing-isochrones').props.data"""
    )
    assert [f["properties"]["budget_s"] for f in features] == [180, 120, 60]
    rings = [shape(f["geometry"]) for f in features]
    # Three nested rings: each smaller budget inside the larger one.
    assert rings[2].area < rings[1].area < rings[0].area
    for small, large in zip(rings[1:], rings, strict=False):
        assert large.buffer(1e-7).contains(small)
    # The closest facilities by travel time, listed and drawn.
    page.select_option("#closest-kind", "hospital")
    _pick(page, "#closest-pick", *FONTVIEILLE)
    page.wait_for_selector("#closest-list li", timeout=15_000)
    assert 1 <= page.locator("#closest-list li").count() <= 3
    assert _layers(page, "analyst").get("routing-closest", 0) >= 1
    wait_map_idle(page)
    save_screenshot("console-isochrones.png", page.screenshot())
    # The closures API refuses the analyst anyway.
    status = page.evaluate(
        """() => fetch('/api/routing/closures', {method: 'POST', headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({territory: 'Monaco', edge_ids: [1], reason: 'x'})}).then(r => r.status)"""
    )
    assert status == 403


def _api(base_url: str, caller: Caller, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{base_url}{path}", json=body, headers=caller.headers, timeout=60)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture
def dispatch_world(server: str, monaco_url: str) -> Iterator[dict[str, Any]]:  # noqa: F811
    """Two crews (different skills, so both get work) and four jobs, created through the API; removed after."""
    planner = signed_in(monaco_url, "planner")
    crew_login = signed_in(monaco_url, "crew")
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(monaco_url) as conn:
        last_plan = conn.execute("SELECT coalesce(max(id), 0) FROM dispatch.plans").fetchone()[0]  # type: ignore[index]
    shift = {
        "shift_start": (now - timedelta(hours=1)).isoformat(),
        "shift_end": (now + timedelta(hours=8)).isoformat(),
    }
    crews = [
        _api(
            server,
            planner,
            "POST",
            "/api/dispatch/crews",
            {
                "territory": "Monaco",
                "name": "Équipe Voirie",
                "skills": ["voirie"],
                "capacity": 10,
                "home": {"lon": OSTENDE[0], "lat": OSTENDE[1]},
                "account": crew_login.username,
                **shift,
            },
        ),
        _api(
            server,
            planner,
            "POST",
            "/api/dispatch/crews",
            {
                "territory": "Monaco",
                "name": "Équipe Éclairage",
                "skills": ["eclairage"],
                "capacity": 10,
                "home": {"lon": FONTVIEILLE[0], "lat": FONTVIEILLE[1]},
                **shift,
            },
        ),
    ]
    places = [(7.4210, 43.7330), (7.4262, 43.7392), (7.4180, 43.7318), (7.4280, 43.7405)]
    jobs = [
        _api(
            server,
            planner,
            "POST",
            "/api/dispatch/jobs",
            {
                "territory": "Monaco",
                "location": {"lon": lon, "lat": lat},
                "duration_s": 600,
                "required_skill": "voirie" if k % 2 == 0 else "eclairage",
                "window_start": now.isoformat(),
                "window_end": (now + timedelta(hours=6)).isoformat(),
                "priority": 5 if k == 0 else 3,
                "description": f"Intervention test {k + 1}",
            },
        )
        for k, (lon, lat) in enumerate(places)
    ]
    yield {"planner": planner, "crew": crew_login, "crews": crews, "jobs": jobs}
    # Later tests (tests/routing) expect Monaco without these crews, jobs and plans.
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        conn.execute("DELETE FROM dispatch.plans WHERE id > %s", (last_plan,))
        conn.execute("DELETE FROM dispatch.jobs WHERE id = ANY(%s)", ([j["id"] for j in jobs],))
        conn.execute("DELETE FROM dispatch.crews WHERE id = ANY(%s)", ([c["id"] for c in crews],))


def test_planner_plans_from_the_panel_and_the_crew_sees_its_jobs(
    browse: Any,  # noqa: F811
    server: str,  # noqa: F811
    monaco_url: str,
    dispatch_world: dict[str, Any],
) -> None:
    planner: Caller = dispatch_world["planner"]
    page, _ = browse()
    sign_in(page, server, planner, path="/?territoire=Monaco")
    wait_map_idle(page)
    tabs = page.eval_on_selector_all("[role=tab]", "els => els.map(e => e.dataset.panel)")
    assert "crews" in tabs and "routing" in tabs and "closures" not in tabs, tabs
    page.click("[data-panel=crews]")
    for crew in dispatch_world["crews"]:
        page.wait_for_selector(f"#crews-list li[data-crew='{crew['id']}']")
    page.select_option("#plan-budget", "2")
    page.click("#plan-run")
    page.wait_for_function(
        "() => (document.querySelector('#plan-status').textContent || '').startsWith('Plan n°')",
        timeout=90_000,
    )
    page.wait_for_selector("#plan-routes[data-plan]")
    ours = {j["id"] for j in dispatch_world["jobs"]}
    by_crew: dict[int, list[int]] = {}
    for crew in dispatch_world["crews"]:
        route = page.locator(f".crew-route[data-crew='{crew['id']}'] li[data-job]")
        by_crew[crew["id"]] = [int(x) for x in route.evaluate_all("els => els.map(e => e.dataset.job)")]
    # Each crew serves the two jobs of its skill, in the plan's order; the KPIs are shown.
    assert {j for js in by_crew.values() for j in js} == ours, by_crew
    assert all(len(js) == 2 for js in by_crew.values()), by_crew
    kpis = dict(
        zip(
            page.locator("#plan-kpis dt").all_inner_texts(),
            page.locator("#plan-kpis dd").all_inner_texts(),
            strict=True,
        )
    )
    assert "Affectées" in kpis and "Temps de trajet" in kpis, kpis
    page.wait_for_selector("#plan-routes[data-roads=true]", timeout=30_000)
    drawn = _layers(page, "planner")
    assert drawn.get("crews-routes", 0) >= 2 and drawn.get("crews-positions", 0) >= 2, drawn
    assert drawn.get("crews-stops", 0) >= 4
    wait_map_idle(page)
    save_screenshot("console-dispatch.png", page.screenshot())

    # The crew linked to "Équipe Voirie" opens /equipe on a phone: its jobs in order and the way to the first.
    voirie = dispatch_world["crews"][0]["id"]
    crew_page, _ = browse(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(crew_page, server, dispatch_world["crew"], path="/equipe")
    crew_page.wait_for_selector("ol.jobs li[data-job]", timeout=30_000)
    order = [
        int(x)
        for x in crew_page.locator("ol.jobs li[data-job]").evaluate_all("els => els.map(e => e.dataset.job)")
    ]
    assert order == by_crew[voirie], (order, by_crew)
    crew_page.wait_for_function("() => document.querySelector('#crew-map').dataset.nextLeg === 'road'")
    assert int(crew_page.get_attribute("#crew-map", "data-leg-points") or 0) > 2
    assert "Arrivée prévue à" in crew_page.locator("ol.jobs li").first.inner_text()
    crew_page.wait_for_timeout(1500)  # the small map's tiles
    save_screenshot("crew-jobs.png", crew_page.screenshot())
    # Start the current job, then finish it: the next one becomes current.
    crew_page.click("#job-start")
    crew_page.wait_for_selector(f"ol.jobs li[data-job='{order[0]}'][data-status=started]")
    assert "commencée" in crew_page.locator("#crew-action").inner_text()
    crew_page.click("#job-done")
    crew_page.wait_for_function(
        "first => document.querySelector('ol.jobs li[data-job]')?.dataset.job !== String(first)", arg=order[0]
    )
    assert [
        int(x)
        for x in crew_page.locator("ol.jobs li[data-job]").evaluate_all("els => els.map(e => e.dataset.job)")
    ] == order[1:]
    assert crew_page.locator("#job-start").count() == 1
    with psycopg.connect(monaco_url) as conn:
        status = conn.execute("SELECT status FROM dispatch.jobs WHERE id = %s", (order[0],)).fetchone()
    assert status is not None and status[0] == "done"
