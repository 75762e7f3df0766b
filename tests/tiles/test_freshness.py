"""Tiles are never stale: edits from anywhere reach the cache and the maps, restarts and lost connections too."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.layers.ogc_fixtures import serve_app, server_settings, signed_in
from tests.tiles.tile_fixtures import feature_tile, features_by_id, wait_until
from tiles.coords import tile_of
from twin.app import create_app


@pytest.fixture(scope="module")
def app(monaco_url: str) -> Any:
    return create_app(server_settings(monaco_url))


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with serve_app(app) as url:
        wait_until(lambda: app.state.bus.connected.is_set(), timeout_s=10)
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def _sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def _fresh_name(client: httpx.Client, path: str, layer: str, fid: int, key: str, value: Any) -> float:
    """Poll the tile until feature ``fid`` shows ``key == value``; return the seconds it took."""
    start = time.monotonic()

    def shows() -> bool:
        feature = features_by_id(client.get(path).content, layer).get(fid)
        return feature is not None and feature["properties"].get(key) == value

    wait_until(shows, timeout_s=1.0, interval_s=0.005)
    return time.monotonic() - start


def test_an_edit_reaches_the_tile_at_every_zoom_and_spares_the_others(
    app: Any, client: httpx.Client, monaco_url: str
) -> None:
    # A lamp of the sample drawn from z13 (ids divisible by 8), so that it is in its tile at every zoom.
    fid, t16 = feature_tile(monaco_url, "street_lights", 16, where="id % 8 = 0")
    paths = {z: f"/tiles/street_lights/{tile_of_feature(monaco_url, fid, z)}.pbf" for z in (13, 15, 16)}
    far = tile_of(7.4380, 43.7500, 16)  # north-east Monaco, far from the first lamp
    far_path = f"/tiles/road_edges/{far}.pbf"
    etags = {z: client.get(p).headers["etag"] for z, p in paths.items()}
    far_etag = client.get(far_path).headers.get("etag")
    renders_before = app.state.tiles.cache.stats.misses
    _sql(monaco_url, "UPDATE twin.street_lights SET lamp_type = 'LED-fresh' WHERE id = %s", (fid,))
    took = _fresh_name(client, paths[16], "street_lights", fid, "lamp_type", "LED-fresh")
    assert took < 1.0
    for z, path in paths.items():
        r = client.get(path)
        assert r.headers["etag"] != etags[z], f"tile at z{z} still the old one"
        assert features_by_id(r.content, "street_lights")[fid]["properties"]["lamp_type"] == "LED-fresh"
    # The unrelated tile of another layer kept its cache entry (no new rendering for it).
    misses = app.state.tiles.cache.stats.misses
    assert client.get(far_path).headers.get("etag") == far_etag
    assert app.state.tiles.cache.stats.misses == misses
    assert misses - renders_before == len(paths)


def tile_of_feature(url: str, fid: int, z: int) -> str:
    with psycopg.connect(url) as conn:
        lon, lat = conn.execute(
            "SELECT st_x(geom), st_y(geom) FROM twin.street_lights WHERE id = %s", (fid,)
        ).fetchone()
    return str(tile_of(lon, lat, z))


def test_insert_and_delete_reach_the_tile(client: httpx.Client, monaco_url: str) -> None:
    _, tile = feature_tile(monaco_url, "street_lights", 16)
    path = f"/tiles/street_lights/{tile}.pbf"
    before = set(features_by_id(client.get(path).content, "street_lights"))
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        new_id = conn.execute(
            "INSERT INTO twin.street_lights (territory_id, lamp_type, geom)"
            " SELECT territory_id, 'new', st_translate(geom, 0.00001, 0) FROM twin.street_lights"
            " WHERE id = (SELECT min(id) FROM twin.street_lights) RETURNING id"
        ).fetchone()[0]
    wait_until(lambda: new_id in features_by_id(client.get(path).content, "street_lights"), timeout_s=1.0)
    _sql(monaco_url, "DELETE FROM twin.street_lights WHERE id = %s", (new_id,))
    wait_until(
        lambda: set(features_by_id(client.get(path).content, "street_lights")) == before, timeout_s=1.0
    )


def _events(ws: Any, wanted: int, timeout_s: float = 2.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < wanted and time.monotonic() < deadline:
        try:
            event = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        except TimeoutError:
            break
        if event["type"] == "tiles.changed":
            out.append(event)
    return out


def test_websocket_pushes_changes_the_role_may_see(base_url: str, monaco_url: str) -> None:
    ws_url = base_url.replace("http", "ws") + "/tiles/events"
    analyst = signed_in(monaco_url, "analyst")
    with (
        ws_connect(ws_url) as anonymous,
        ws_connect(ws_url, additional_headers=analyst.headers) as staff,
    ):
        hello = json.loads(anonymous.recv(timeout=5))
        assert hello["type"] == "hello" and "buildings" not in hello["layers"]
        assert "buildings" in json.loads(staff.recv(timeout=5))["layers"]
        bid, _ = feature_tile(monaco_url, "buildings", 16)
        _sql(monaco_url, "UPDATE twin.buildings SET name = 'Villa WebSocket' WHERE id = %s", (bid,))
        rid, _ = feature_tile(monaco_url, "road_edges", 16)
        started = time.monotonic()
        _sql(monaco_url, "UPDATE twin.road_edges SET name = name WHERE id = %s", (rid,))
        staff_events = _events(staff, 2)
        anonymous_events = _events(anonymous, 1)
        took = time.monotonic() - started
    assert [e["layer"] for e in staff_events] == ["buildings", "road_edges"]
    assert [e["layer"] for e in anonymous_events] == ["road_edges"], "an internal layer's change is not told"
    with psycopg.connect(monaco_url) as conn:
        lon, lat = conn.execute(
            "SELECT st_x(st_centroid(geom)), st_y(st_centroid(geom)) FROM twin.buildings WHERE id = %s",
            (bid,),
        ).fetchone()
    box = staff_events[0]["bbox"]
    assert box[0] <= lon <= box[2] and box[1] <= lat <= box[3]
    assert took < 1.0


def test_cross_origin_websocket_is_refused(base_url: str) -> None:
    ws_url = base_url.replace("http", "ws") + "/tiles/events"
    with (
        pytest.raises((InvalidStatus, Exception)) as refused,
        ws_connect(
            ws_url,
            origin="https://evil.example",  # type: ignore[arg-type]
        ) as ws,
    ):
        ws.recv(timeout=2)
    assert refused.value is not None


def test_catalog_change_hides_a_layer_at_once(client: httpx.Client, monaco_url: str) -> None:
    path = f"/tiles/street_lights/{tile_of(7.4246, 43.7384, 14)}.pbf"
    assert client.get(path).status_code in (200, 204)
    _sql(monaco_url, "UPDATE twin.layer_catalog SET visibility = 'internal' WHERE name = 'street_lights'")
    try:
        wait_until(lambda: client.get(path).status_code == 404, timeout_s=1.0)
    finally:
        _sql(monaco_url, "UPDATE twin.layer_catalog SET visibility = 'public' WHERE name = 'street_lights'")
    wait_until(lambda: client.get(path).status_code in (200, 204), timeout_s=1.0)


def test_changes_missed_while_the_listener_was_down_are_caught_up(
    app: Any, client: httpx.Client, monaco_url: str
) -> None:
    fid, tile = feature_tile(monaco_url, "street_lights", 16)
    path = f"/tiles/street_lights/{tile}.pbf"
    client.get(path)
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
        ).fetchone()[0]
        assert killed >= 1
        conn.execute("UPDATE twin.street_lights SET lamp_type = 'missed' WHERE id = %s", (fid,))
    wait_until(lambda: app.state.bus.connected.is_set(), timeout_s=10)
    assert (
        features_by_id(client.get(path).content, "street_lights")[fid]["properties"]["lamp_type"] == "missed"
    )


def test_disk_cache_survives_a_restart_but_never_serves_what_changed_meanwhile(
    monaco_url: str, tmp_path: Path
) -> None:
    fid, tile = feature_tile(monaco_url, "street_lights", 16)
    path = f"/tiles/street_lights/{tile}.pbf"
    far = f"/tiles/road_edges/{tile_of(7.4380, 43.7500, 16)}.pbf"
    # A short replay margin: the changes other tests made a minute ago would otherwise be replayed too.
    settings = server_settings(monaco_url, tiles={"disk_dir": tmp_path, "replay_margin_s": 0.5})
    time.sleep(0.6)
    first = create_app(settings)
    with serve_app(first) as url, httpx.Client(base_url=url) as c:
        wait_until(lambda: first.state.bus.connected.is_set(), timeout_s=10)
        old = c.get(path)
        far_etag = c.get(far).headers.get("etag")
    assert (tmp_path / ".last-change").exists()
    # While no server runs, QGIS (or anyone) edits the lamp.
    _sql(monaco_url, "UPDATE twin.street_lights SET lamp_type = 'while-down' WHERE id = %s", (fid,))
    second = create_app(settings)
    with serve_app(second) as url, httpx.Client(base_url=url) as c:
        wait_until(lambda: second.state.bus.connected.is_set(), timeout_s=10)
        new = c.get(path)
        assert new.headers["etag"] != old.headers["etag"]
        assert features_by_id(new.content, "street_lights")[fid]["properties"]["lamp_type"] == "while-down"
        assert c.get(far).headers.get("etag") == far_etag
        assert second.state.tiles.cache.stats.disk_hits >= 1, "the unchanged tile came from disk"


def test_a_disk_cache_without_marker_is_wiped(monaco_url: str, tmp_path: Path) -> None:
    stale = tmp_path / "street_lights" / "16" / "1" / "1.pbf"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    app = create_app(server_settings(monaco_url, tiles={"disk_dir": tmp_path}))
    with serve_app(app):
        wait_until(lambda: app.state.bus.connected.is_set(), timeout_s=10)
        assert not stale.exists()


def test_an_import_reaches_the_tiles_of_its_area(client: httpx.Client, monaco_url: str) -> None:
    from tests.layers.ogc_fixtures import X0, Y0, load_territory

    load_territory(monaco_url)
    path = f"/tiles/street_lights/{tile_of(X0 + 0.0005, Y0 + 0.0005, 16)}.pbf"
    before = features_by_id(client.get(path).content, "street_lights")
    assert before, "the fixture territory has lamps in that tile"
    load_territory(monaco_url)  # replaces the territory: new rows, new ids
    wait_until(
        lambda: set(features_by_id(client.get(path).content, "street_lights")).isdisjoint(before),
        timeout_s=1.0,
    )


def test_tiles_survive_their_connections_being_closed(client: httpx.Client, monaco_url: str) -> None:
    path = f"/tiles/road_edges/{tile_of(7.4246, 43.7384, 15)}.pbf?territory_id=1"
    assert client.get(path).status_code in (200, 204)
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'hyperviseur-tiles'"
        ).fetchone()[0]
    assert killed >= 1
    other = f"/tiles/road_edges/{tile_of(7.4246, 43.7384, 15)}.pbf?territory_id=2"  # not cached: rendered
    assert client.get(other).status_code in (200, 204)
