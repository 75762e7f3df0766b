"""Console benchmark (``make bench-console``): first rendered map and 3D panning on Montpellier's street lights.

Montpellier's open-data street lights (≈30,000 points, imported with the GIS importer) are served by our tile
server to the built console in Debian's Chromium (headless, WebGL2 in software: SwiftShader on the CPU, so the
frame rates are a floor, not what a control-room GPU gives). Measured:

- ``first map``: navigation start → the map is idle (style, tiles, glyphs, sprites all drawn), city view;
- ``all lights``: the ``street-lights`` style layer opened to every zoom at z13 (the tiles carry the lights from
  z13; the style draws them from z16 only), so every point of the city is drawn at once → idle again;
- ``3D pan``: frames per second while panning continuously at pitch 60 (requestAnimationFrame sampling in the
  page), at z16.5 (the operators' street view) and at z14 with every light drawn.

Each cold run uses a fresh browser context (empty HTTP cache); the server's tile cache is cold on the first run
and warm afterwards, which the report says.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import uvicorn

from benchmarks.harness import SHARED_DATA, percentile, throwaway_database
from layers.importers.gis import import_gis
from twin.app import create_app
from twin.cluster import free_port
from twin.security.accounts import create_account
from twin.security.crypto import Keyring
from twin.security.sessions import COOKIE_NAME, create_session
from twin.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings, TileSettings

LIGHTS_ZIP = (
    SHARED_DATA
    / "opendata_fr"
    / "montpellier"
    / "VilleMTP_MTP_EclairagePublic"
    / "VilleMTP_MTP_EclairagePublic.zip"
)
TERRITORY = "Montpellier-lights"
CENTRE = (3.8767, 43.6112)  # Comédie (the 3D panning starts there)
CHROMIUM = "/usr/bin/chromium"
IDLE_JS = """() => { const h = window.hyperviseur;
  return Boolean(h && h.map && h.map.loaded() && h.map.areTilesLoaded() && !h.map.isMoving()); }"""
# Every light at once, whatever the tiles' generalisation: the OGC API (3 pages of 10,000) into a deck.gl
# ScatterplotLayer registered through the console's overlay registry.
DECK_ALL_JS = """async () => {
  const t0 = performance.now();
  const points = [];
  for (let offset = 0; ; offset += 10000) {
    const r = await fetch(`/ogc/collections/street_lights/items?limit=10000&offset=${offset}&properties=power_w`);
    const page = await r.json();
    for (const f of page.features) points.push(f.geometry.coordinates);
    if (page.features.length < 10000) break;
  }
  const t1 = performance.now();
  const h = window.hyperviseur;
  h.overlays.register({ id: 'bench-lights', layers: () => [new h.deckLayers.ScatterplotLayer({
    id: 'bench-lights-points', data: points, getPosition: (d) => d, getRadius: 2.5, radiusUnits: 'pixels',
    getFillColor: [255, 179, 0] })] });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return { fetch_ms: t1 - t0, draw_ms: performance.now() - t1, points: points.length };
}"""
PAN_JS = """async (seconds) => {
  const map = window.hyperviseur.map;
  const frames = [];
  let last = performance.now();
  const end = last + seconds * 1000;
  await new Promise((resolve) => {
    const step = (now) => {
      frames.push(now - last);
      last = now;
      map.panBy([6, 2], { animate: false });
      if (now < end) requestAnimationFrame(step); else resolve();
    };
    requestAnimationFrame(step);
  });
  return frames.slice(1);
}"""


@contextmanager
def _serve(url: str, keys: str) -> Iterator[str]:
    settings = Settings(
        database=DatabaseSettings(database_url=url, pool_max_size=4),
        server=ServerSettings(environment="test"),
        security=SecuritySettings(data_keys=keys, signin_rate_per_min=10_000, expensive_rate_per_min=10_000),
        tiles=TileSettings(disk_dir=Path(tempfile.mkdtemp(prefix="hyperviseur-bench-tiles-"))),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _session(url: str, keys: str) -> str:
    with psycopg.connect(url) as conn:
        new = create_account(conn, Keyring.parse(keys), username="bench-console", role="analyst")
        token, _ = create_session(conn, new.account.id, method="password", scope="full", ttl_s=3600)
    return token


def _wait_idle(page: Any, timeout_ms: int = 120_000) -> None:
    page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=50)


def _cold_load(browser: Any, base: str, token: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": base}])
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{base}/?territoire={TERRITORY}")
    page.wait_for_selector("#map[data-ready=true]", timeout=120_000)
    _wait_idle(page)
    first_map = time.perf_counter() - started
    page.evaluate(f"() => window.hyperviseur.map.jumpTo({{center: [{CENTRE[0]}, {CENTRE[1]}], zoom: 13}})")
    _wait_idle(page)
    started = time.perf_counter()
    page.evaluate("() => window.hyperviseur.map.setLayerZoomRange('street-lights', 0, 24)")
    _wait_idle(page)
    all_lights = time.perf_counter() - started
    drawn = page.evaluate(
        "() => window.hyperviseur.map.queryRenderedFeatures({layers: ['street-lights']}).length"
    )
    deck = page.evaluate(DECK_ALL_JS)
    in_view = page.evaluate(
        """async () => { const b = window.hyperviseur.map.getBounds().toArray().flat().join(',');
          const r = await fetch('/ogc/collections/street_lights/items?limit=1&bbox=' + b);
          return (await r.json()).numberMatched; }"""
    )
    context.close()
    return {
        "first_map_s": first_map,
        "all_lights_s": all_lights,
        "drawn": drawn,
        "in_view": in_view,
        "deck_fetch_ms": deck["fetch_ms"],
        "deck_draw_ms": deck["draw_ms"],
        "deck_points": deck["points"],
    }


def _fps(
    browser: Any, base: str, token: str, *, zoom: float, all_lights: bool, seconds: float
) -> list[float]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": base}])
    page = context.new_page()
    page.goto(f"{base}/?territoire={TERRITORY}")
    page.wait_for_selector("#map[data-ready=true]", timeout=120_000)
    if all_lights:
        page.evaluate(DECK_ALL_JS)
    page.evaluate(
        f"() => window.hyperviseur.map.jumpTo({{center: [{CENTRE[0]}, {CENTRE[1]}], zoom: {zoom}}})"
    )
    page.click("#mode-3d")
    page.wait_for_function("() => window.hyperviseur.map.getPitch() > 55")
    _wait_idle(page)
    frames: list[float] = page.evaluate(PAN_JS, seconds)
    context.close()
    return frames


def _frames_line(name: str, frames: list[float]) -> str:
    fps = 1000 * len(frames) / sum(frames)
    return (
        f"{name:<34} {fps:6.1f} fps  frame p50 {percentile(frames, 50):6.1f} ms  "
        f"p95 {percentile(frames, 95):6.1f} ms  ({len(frames)} frames)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold page loads (default 5)")
    parser.add_argument("--seconds", type=float, default=5.0, help="panning time per FPS sample (default 5)")
    args = parser.parse_args(argv)
    if not LIGHTS_ZIP.exists():
        print(f"bench_console: {LIGHTS_ZIP} missing (see ../shared/data/README.md)")
        return
    if not (Path(__file__).resolve().parent.parent / "frontend" / "dist" / "index.html").exists():
        print("bench_console: frontend/dist missing: run make frontend")
        return
    from playwright.sync_api import sync_playwright

    keys = "bench:" + Keyring.new_key_text()
    with throwaway_database() as url:
        started = time.perf_counter()
        report = import_gis(
            url, LIGHTS_ZIP, layer="street_lights", territory_name=TERRITORY, encoding="latin-1"
        )
        print(
            f"imported {report.kept['street_lights']} street lights in {time.perf_counter() - started:.1f} s"
        )
        token = _session(url, keys)
        with _serve(url, keys) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            renderer = browser.new_page()
            renderer.goto("about:blank")
            gl = renderer.evaluate(
                """() => { const gl = document.createElement('canvas').getContext('webgl2');
                  const ext = gl && gl.getExtension('WEBGL_debug_renderer_info');
                  return gl ? (ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : 'webgl2') : 'none'; }"""
            )
            renderer.close()
            print(f"Chromium {browser.version}, WebGL2 renderer: {gl}")
            loads = [_cold_load(browser, base, token) for _ in range(args.runs)]
            first = [r["first_map_s"] * 1000 for r in loads]
            lights = [r["all_lights_s"] * 1000 for r in loads]
            print(
                f"{'first map (city view), cold server':<34} {first[0]:7.0f} ms\n"
                f"{'first map, warm server, p50':<34} {statistics.median(first[1:] or first):7.0f} ms"
                f"  (max {max(first[1:] or first):.0f})"
            )
            print(
                f"{'tiles z13 (1 light in 8), p50':<34} {statistics.median(lights):7.0f} ms"
                f"  ({int(loads[-1]['drawn'])} points rendered, {int(loads[-1]['in_view'])} in the view)"
            )
            print(
                _frames_line(
                    "3D pan z16.5 (street view)",
                    _fps(browser, base, token, zoom=16.5, all_lights=False, seconds=args.seconds),
                )
            )
            print(
                f"{'deck.gl, every light: fetch, p50':<34} {statistics.median(r['deck_fetch_ms'] for r in loads):7.0f} ms"
                f"  ({int(loads[-1]['deck_points'])} points, OGC API, 3 pages)\n"
                f"{'deck.gl, every light: draw, p50':<34} {statistics.median(r['deck_draw_ms'] for r in loads):7.0f} ms"
            )
            print(
                _frames_line(
                    "3D pan z14, deck.gl 30k points",
                    _fps(browser, base, token, zoom=14, all_lights=True, seconds=args.seconds),
                )
            )
            browser.close()


if __name__ == "__main__":
    main()
