"""The operator console in Debian's Chromium, against a live server on the Monaco territory (issue 5).

Every test records the page's requests and WebSockets and checks that all of them went to the server's own
origin: the console is sovereign by construction, not by a single test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.console.conftest import save_screenshot
from tests.console.console_helpers import (
    distinct_colours,
    image_difference,
    map_image,
    sign_in,
    wait_map_idle,
)
from tests.layers.ogc_fixtures import Caller, running_server, signed_in

MONACO = "/?territoire=Monaco"
DESKTOP = {"width": 1400, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(monaco_url: str, console_dist: Any) -> Iterator[str]:
    with running_server(monaco_url) as url:
        yield url


@dataclass
class Recorded:
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _same_origin(url: str, base: str) -> bool:
    scheme, netloc = urlsplit(url)[:2]
    if scheme in ("data", "blob"):  # in-page data, never a network request
        return True
    return netloc == urlsplit(base).netloc and scheme in ("http", "ws")


@pytest.fixture
def browse(chromium: Any, server: str) -> Iterator[Any]:
    """Open a fresh browser context (no cookies); every request of every page is checked at the end."""
    contexts: list[tuple[Any, Recorded]] = []

    def open_page(*, viewport: dict[str, int] = DESKTOP, **options: Any) -> tuple[Any, Recorded]:
        context = chromium.new_context(viewport=viewport, locale="fr-FR", **options)
        recorded = Recorded()
        context.on("request", lambda r: recorded.requests.append(r.url))
        page = context.new_page()
        page.on("websocket", lambda ws: recorded.websockets.append(ws.url))
        page.on(
            "console",
            lambda m: recorded.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: recorded.console_errors.append(str(e)))
        contexts.append((context, recorded))
        return page, recorded

    yield open_page
    for context, recorded in contexts:
        context.close()
        foreign = [u for u in recorded.requests + recorded.websockets if not _same_origin(u, server)]
        assert not foreign, f"requests to other origins: {foreign}"
        csp = [e for e in recorded.console_errors if "Content Security Policy" in e]
        assert not csp, f"the page broke the CSP: {csp}"


def _signed_in_page(
    browse: Any, server: str, monaco_url: str, role: str, *, path: str = MONACO, **kw: Any
) -> tuple[Any, Recorded, Caller]:
    caller = signed_in(monaco_url, role)
    page, recorded = browse(**kw)
    sign_in(page, server, caller, path=path)
    return page, recorded, caller


def _monaco_site(monaco_url: str) -> tuple[int, str, float, float]:
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT s.id, s.name, ST_X(s.geom), ST_Y(s.geom) FROM twin.critical_sites s"
            " JOIN twin.territory t ON t.id = s.territory_id"
            " WHERE t.name = 'Monaco' AND s.name IS NOT NULL AND GeometryType(s.geom) = 'POINT'"
            " ORDER BY s.name LIMIT 1"
        ).fetchone()
    assert row is not None, "Monaco has no named critical site"
    return int(row[0]), str(row[1]), float(row[2]), float(row[3])


def test_operator_signs_in_with_totp_and_the_map_renders(browse: Any, server: str, monaco_url: str) -> None:
    page, recorded, caller = _signed_in_page(browse, server, monaco_url, "operator")
    wait_map_idle(page)
    assert page.locator(".user-name").inner_text() == caller.username
    image = map_image(page)
    # A blank canvas has one colour (the background); a drawn map of Monaco has thousands.
    assert distinct_colours(image) > 500, "the map canvas is blank"
    save_screenshot("console.png", page.screenshot())
    assert any("/tiles/style.json?lang=fr" in u for u in recorded.requests)
    assert any(urlsplit(u).path.startswith("/tiles/glyphs/") for u in recorded.requests)
    assert any(urlsplit(u).path.startswith("/tiles/sprites/") for u in recorded.requests)
    # The live indicator reaches "open" over ws://<same host>/tiles/events; the panels share one live stream.
    page.wait_for_selector("#live-state[data-state=open]", timeout=10_000)
    ws_origin = server.replace("http://", "ws://")
    assert all(u.startswith(ws_origin + "/") for u in recorded.websockets)
    assert sorted(urlsplit(u).path for u in recorded.websockets) == ["/api/live/ws", "/tiles/events"]
    # French first: the UI and the layer panel (catalog titles) are in French.
    assert page.locator("#sign-out").inner_text() == "Se déconnecter"
    assert page.locator("label[for=layer-buildings]").inner_text().startswith("Bâtiments")
    # An operator sees no administration tool.
    assert page.locator("[data-panel=accounts]").count() == 0


def test_layers_toggle_from_the_catalog_panel(browse: Any, server: str, monaco_url: str) -> None:
    page, _, _ = _signed_in_page(browse, server, monaco_url, "analyst")
    wait_map_idle(page)
    page.evaluate("() => window.hyperviseur.map.jumpTo({center: [7.4215, 43.7335], zoom: 16.5})")
    wait_map_idle(page)
    ids = page.eval_on_selector_all("[data-collection]", "els => els.map(e => e.dataset.collection)")
    # The analyst's catalog: internal layers yes, the restricted water network no.
    assert {"road_edges", "buildings", "critical_sites", "street_lights"} <= set(ids)
    assert not any(i.startswith("water_") for i in ids)
    count = "() => window.hyperviseur.map.queryRenderedFeatures({layers: ['buildings']}).length"
    assert page.evaluate(count) > 0
    before = map_image(page)
    page.uncheck("#layer-buildings")
    wait_map_idle(page)
    assert (
        page.evaluate("() => window.hyperviseur.map.getLayoutProperty('buildings', 'visibility')") == "none"
    )
    assert page.evaluate(count) == 0
    assert image_difference(before, map_image(page)) > 1.0
    page.check("#layer-buildings")
    wait_map_idle(page)
    assert page.evaluate(count) > 0


def test_a_click_opens_the_feature_card_with_french_titles(browse: Any, server: str, monaco_url: str) -> None:
    site_id, name, lon, lat = _monaco_site(monaco_url)
    page, _, _ = _signed_in_page(browse, server, monaco_url, "planner")
    wait_map_idle(page)
    page.evaluate(f"() => window.hyperviseur.map.jumpTo({{center: [{lon}, {lat}], zoom: 18}})")
    wait_map_idle(page)
    point = page.evaluate(f"() => window.hyperviseur.map.project([{lon}, {lat}])")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    card = page.locator("#feature-card")
    card.wait_for(state="visible")
    page.wait_for_selector("#feature-card dl.attributes")
    assert card.get_attribute("data-collection") == "critical_sites"
    assert card.get_attribute("data-feature-id") == str(site_id)
    assert page.locator("#card-title").inner_text() == name
    labels = page.locator("#feature-card dt").all_inner_texts()
    assert "Couche" in labels and "Identifiant" in labels
    # The coordinates bar follows the cursor, in WGS 84 and Lambert-93 (French formatting).
    assert "° N" in page.locator("#coords-wgs84").inner_text()
    assert page.locator("#coords-l93").inner_text().startswith("X ")
    # The selection is drawn by the deck.gl overlay registry (beside the planner's routing and crews overlays).
    assert "selection" in page.evaluate("() => window.hyperviseur.overlays.ids()")
    page.keyboard.press("Escape")
    card.wait_for(state="hidden")


def test_3d_mode_extrudes_buildings(browse: Any, server: str, monaco_url: str) -> None:
    page, _, _ = _signed_in_page(browse, server, monaco_url, "operator")
    wait_map_idle(page)
    page.evaluate("() => window.hyperviseur.map.jumpTo({center: [7.4215, 43.7335], zoom: 16.5})")
    wait_map_idle(page)
    flat = map_image(page)
    save_screenshot("console-2d.png", page.screenshot())
    page.click("#mode-3d")
    page.wait_for_function("() => window.hyperviseur.map.getPitch() > 55")
    wait_map_idle(page)
    assert page.get_attribute("#mode-3d", "aria-pressed") == "true"
    assert (
        page.evaluate("() => window.hyperviseur.map.getLayoutProperty('buildings-3d', 'visibility')")
        == "visible"
    )
    extruded = "() => window.hyperviseur.map.queryRenderedFeatures({layers: ['buildings-3d']}).length"
    assert page.evaluate(extruded) > 0
    tilted = map_image(page)
    save_screenshot("console-3d.png", page.screenshot())
    assert image_difference(flat, tilted) > 5.0, "3D looks like 2D"
    page.click("#mode-2d")
    page.wait_for_function("() => window.hyperviseur.map.getPitch() === 0")
    assert (
        page.evaluate("() => window.hyperviseur.map.getLayoutProperty('buildings-3d', 'visibility')")
        == "none"
    )


def test_a_database_edit_reaches_the_open_page_within_one_second(
    browse: Any, server: str, monaco_url: str
) -> None:
    page, recorded, _ = _signed_in_page(browse, server, monaco_url, "operator")
    wait_map_idle(page)
    page.evaluate("() => window.hyperviseur.map.jumpTo({center: [7.4215, 43.7335], zoom: 16.2})")
    wait_map_idle(page)
    page.wait_for_selector("#live-state[data-state=open]")
    feature = page.evaluate(
        """() => {
          const m = window.hyperviseur.map;
          const c = m.getCanvas();
          const fs = m.queryRenderedFeatures([[c.clientWidth * 0.4, c.clientHeight * 0.4],
                                              [c.clientWidth * 0.6, c.clientHeight * 0.6]], {layers: ['buildings']});
          return fs.length ? {id: fs[0].id, name: fs[0].properties.name ?? null} : null;
        }"""
    )
    assert feature is not None, "no building in the middle of the view"
    tiles_loaded = page.evaluate(
        "() => window.hyperviseur.map.style.tileManagers['hyperviseur'].getIds().length"
    )
    new_name = f"Bâtiment modifié {time.monotonic_ns() % 100000}"
    start_requests = len(recorded.requests)
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        started = time.monotonic()
        conn.execute("UPDATE twin.buildings SET name = %s WHERE id = %s", (new_name, feature["id"]))
    page.wait_for_function(
        """([id, name]) => window.hyperviseur.map.queryRenderedFeatures({layers: ['buildings']})
             .some(f => f.id === id && f.properties.name === name)""",
        arg=[feature["id"], new_name],
        timeout=5_000,
        polling="raf",
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the edit took {elapsed:.2f} s to reach the page"
    refetched = [u for u in recorded.requests[start_requests:] if "/tiles/" in u and u.endswith(".pbf")]
    assert refetched, "no tile was fetched again"
    # Only the tiles the edit touches are refetched, not the whole view, and the page was not reloaded.
    assert len(refetched) < tiles_loaded, f"{len(refetched)} tiles refetched of {tiles_loaded} in view"
    assert not any("style.json" in u for u in recorded.requests[start_requests:])


def test_admin_sees_the_accounts_tool_and_can_sign_out(browse: Any, server: str, monaco_url: str) -> None:
    page, _, caller = _signed_in_page(browse, server, monaco_url, "admin")
    wait_map_idle(page)
    page.click("[data-panel=accounts]")
    page.wait_for_selector("#panel-accounts table.accounts")
    assert caller.username in page.locator("#panel-accounts").inner_text()
    page.click("#sign-out")
    page.wait_for_url("**/connexion?raison=deconnexion")
    assert "déconnecté" in page.locator("#signin-message").inner_text()
    status = page.evaluate("() => fetch('/api/auth/me').then(r => r.status)")
    assert status == 401


def test_session_expiry_sends_back_to_sign_in_with_a_message(
    browse: Any, server: str, monaco_url: str
) -> None:
    page, _, caller = _signed_in_page(browse, server, monaco_url, "analyst")
    wait_map_idle(page)
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE auth.sessions SET revoked_at = now() WHERE account_id = %s", (caller.account_id,)
        )
    # Coming back to the window checks the session at once (else a check runs every minute).
    page.evaluate("() => window.dispatchEvent(new Event('focus'))")
    page.wait_for_url("**/connexion?raison=expiree**")
    assert "expiré" in page.locator("#signin-message").inner_text()
    # Signing in again brings the user back to where they were.
    page.fill("#username", caller.username)
    page.fill("#password", caller.password)
    page.click("#signin-submit")
    page.wait_for_function("() => location.pathname === '/'")


def test_wrong_password_and_english(browse: Any, server: str, monaco_url: str) -> None:
    caller = signed_in(monaco_url, "planner")
    page, _ = browse()
    page.goto(server + "/connexion")
    page.select_option("#lang", "en")
    assert page.locator("#signin-submit").inner_text() == "Sign in"
    page.fill("#username", caller.username)
    page.fill("#password", "not the password")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-message.error")
    assert "Wrong name" in page.locator("#signin-message").inner_text()
    page.fill("#password", caller.password)
    page.click("#signin-submit")
    page.wait_for_selector("#map[data-ready=true]", timeout=30_000)
    assert page.locator("#sign-out").inner_text() == "Sign out"
    assert page.evaluate("() => localStorage.getItem('hyperviseur.lang')") == "en"
    assert page.evaluate("() => window.hyperviseur.map.getStyle().name").endswith("territory map")


def test_search_by_street_name_opens_its_card(browse: Any, server: str, monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT e.name FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id"
            " WHERE t.name = 'Monaco' AND e.name LIKE 'Boulevard%%' ORDER BY e.name LIMIT 1"
        ).fetchone()
    assert row is not None
    street = str(row[0])
    page, _, _ = _signed_in_page(browse, server, monaco_url, "operator")
    wait_map_idle(page)
    # Lower case, without accents: the filter is CASEI/ACCENTI.
    page.fill("#search", street.lower()[len("boulevard ") :])
    page.wait_for_selector("#search-results [role=option]")
    options = page.locator("#search-results [role=option]").all_inner_texts()
    assert any(street in o for o in options), options
    index = next(i for i, o in enumerate(options) if street in o)
    for _ in range(index + 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#feature-card dl.attributes")
    assert page.get_attribute("#feature-card", "data-collection") in (
        "road_edges",
        "critical_sites",
        "buildings",
    )
    assert street in page.locator("#card-title").inner_text()


def test_keyboard_reaches_the_controls(browse: Any, server: str, monaco_url: str) -> None:
    page, _, _ = _signed_in_page(browse, server, monaco_url, "analyst")
    wait_map_idle(page)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate("() => document.activeElement.id || document.activeElement.dataset.panel || ''")
        )
    for wanted in ("search", "mode-2d", "mode-3d", "lang", "sign-out"):
        assert wanted in focused, (wanted, focused)
    # The panel tabs follow the ARIA tabs pattern: arrow keys move between them.
    page.focus("[data-panel=layers]")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.dataset.panel") == "legend"
    assert page.is_visible("#panel-legend")


def test_crew_view_on_a_phone(browse: Any, server: str, monaco_url: str) -> None:
    caller = signed_in(monaco_url, "crew")
    page, _ = browse(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, server, caller, path="/")
    page.wait_for_function("() => location.pathname === '/equipe'")
    # No permission given: the page says so instead of waiting for ever.
    page.wait_for_function("() => document.querySelector('#crew-position')?.dataset.located === 'false'")
    assert "Position refusée" in page.locator("#crew-position").inner_text()
    # GET /api/dispatch/my-jobs is not served yet (or returns nothing): an empty state.
    page.wait_for_selector("#crew-jobs-empty")
    page.wait_for_selector("#crew-map canvas")
    page.wait_for_timeout(2000)  # the small map's first tiles (the crew page exposes no map hook)
    save_screenshot("crew.png", page.screenshot())

    located, _ = browse(
        viewport=PHONE,
        is_mobile=True,
        geolocation={"longitude": 7.4215, "latitude": 43.7335, "accuracy": 12},
        permissions=["geolocation"],
    )
    sign_in(located, server, signed_in(monaco_url, "crew"), path="/equipe")
    located.wait_for_function("() => document.querySelector('#crew-position')?.dataset.located === 'true'")
    assert "43,7335" in located.locator("#crew-position").inner_text()


def test_the_console_is_served_with_its_cache_rules(server: str, console_dist: Any) -> None:
    page = httpx.get(server + "/equipe")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assert "content-security-policy" in page.headers
    asset = next((console_dist / "assets").glob("index-*.js")).name
    script = httpx.get(f"{server}/assets/{asset}", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-encoding"] == "gzip"
    assert httpx.get(server + "/api/no-such-route").headers["content-type"] == "application/problem+json"
