"""Vector tiles: Hyperviseur vs TiPG on Monaco and Montpellier, same tiles decoded and compared.

Three measurements, each printed as p50/p99 with the ratio (peer / ours: above 1 means we are faster):

1. uncached tiles per zoom z12..z16: ours with the cache off vs TiPG (which never caches);
2. cached throughput with wrk on the same URL list: ours with a warm cache vs TiPG;
3. edit-to-fresh-tile: UPDATE one feature, commit, then poll its tile until the ETag changes, and the same
   up to the ``tiles.changed`` event on the WebSocket. TiPG is fresh only because it renders every request.

Run: ``python -m benchmarks.bench_tiles`` (``make bench-tiles``).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import mapbox_vector_tile
import orjson
import psycopg
from shapely.geometry import box, shape

from benchmarks.harness import (
    SHARED_DATA,
    percentile,
    report,
    run_wrk,
    server,
    server_rss_mb,
    throwaway_database,
)
from tiles.coords import Tile, tile_of, tile_ranges

ZOOMS = range(12, 17)
SAMPLE_PER_ZOOM = 100  # random non-empty tiles per layer at z15 and z16 (every tile of the box below)
MIN_SAMPLES = 100  # tiles of a small list are requested in several rounds, up to this many samples
FRESH_EDITS = 100
SEED = 20261126
MONTPELLIER = SHARED_DATA / "opendata_fr" / "montpellier"

# What our tile functions send at z16 (twin/migrations/sql/0004_tiles.sql); TiPG is asked for the same.
PROPERTIES = {
    "buildings": ["id", "height_m", "levels", "use", "name", "area_m2", "residents_est"],
    "road_edges": [
        "id",
        "name",
        "highway",
        "oneway",
        "speed_kph",
        "length_m",
        "travel_time_s",
        "source_node",
        "target_node",
    ],
    "street_lights": ["id", "lamp_type", "power_w"],
}
# TiPG with the same buffer (64 units, its default is 256), the same cap as our LIMIT 50000 (its default is
# 10,000) and the table name as MVT layer name (its default is "default"): the same tile, byte for byte
# where the rows agree.
TIPG_ENV = {
    "TIPG_DB_SCHEMAS": '["twin"]',
    "TIPG_MAX_FEATURES_PER_TILE": "50000",
    "TIPG_TILE_BUFFER": "64",
    "TIPG_SET_MVT_LAYERNAME": "true",
}


@dataclass
class Dataset:
    name: str
    territory_id: int
    layers: list[str]
    tiles: dict[tuple[str, int], list[Tile]] = field(default_factory=dict)  # (layer, z) → tiles


@dataclass
class Servers:
    """Base URLs, and the HTTP clients: a map sends its session only for layers that need one."""

    ours: str  # cache off
    cached: str  # cache on (memory and disk)
    tipg: str
    anonymous: httpx.Client
    signed_in: httpx.Client
    peer: httpx.Client
    internal: set[str]  # layers that need a session (not public)

    def client(self, layer: str) -> httpx.Client:
        return self.signed_in if layer in self.internal else self.anonymous

    def ours_path(self, layer: str, t: Tile) -> str:
        return f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.pbf"

    def tipg_path(self, layer: str, t: Tile) -> str:
        props = ",".join(PROPERTIES[layer])
        return f"/collections/twin.{layer}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}?properties={props}"


# ------------------------------------------------------------------------------------------------ data


def _load_data(url: str) -> list[Dataset]:
    from layers.importers.gis import import_gis
    from layers.importers.osm import import_osm

    datasets: list[Dataset] = []
    pbf = SHARED_DATA / "osm" / "monaco-latest.osm.pbf"
    if pbf.exists():
        start = time.perf_counter()
        import_osm(url, pbf, territory_name="Monaco")
        print(f"imported Monaco (OSM) in {time.perf_counter() - start:.1f} s", flush=True)
        datasets.append(Dataset("Monaco", _territory_id(url, "Monaco"), ["buildings", "road_edges"]))
    else:
        print(f"Monaco skipped: {pbf} is not on this machine")
    files = [
        ("street_lights", MONTPELLIER / "VilleMTP_MTP_EclairagePublic" / "VilleMTP_MTP_EclairagePublic.zip"),
        ("buildings", MONTPELLIER / "VilleMTP_MTP_Batiments" / "VilleMTP_MTP_Batiments.zip"),
        ("roads", MONTPELLIER / "VilleMTP_MTP_FilaireVoies" / "VilleMTP_MTP_FilaireVoies.zip"),
    ]
    if all(path.exists() for _, path in files):
        start = time.perf_counter()
        for layer, path in files:
            import_gis(url, path, layer=layer, territory_name="Montpellier", encoding="latin-1")
        print(f"imported Montpellier (3 GIS files) in {time.perf_counter() - start:.1f} s", flush=True)
        datasets.append(
            Dataset(
                "Montpellier",
                _territory_id(url, "Montpellier"),
                ["street_lights", "buildings", "road_edges"],
            )
        )
    else:
        print(f"Montpellier skipped: {MONTPELLIER} is not on this machine")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return datasets


def _territory_id(url: str, name: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (name,)).fetchone()
    assert row is not None, f"territory {name} was not imported"
    return int(row[0])


def _points(conn: psycopg.Connection[Any], layer: str, territory_id: int) -> list[tuple[int, float, float]]:
    """(id, lon, lat) of a point on each feature of the layer in the territory."""
    rows = conn.execute(
        f"SELECT id, st_x(p), st_y(p) FROM (SELECT id, st_pointonsurface(geom) AS p FROM twin.{layer}"
        " WHERE territory_id = %s AND NOT st_isempty(geom)) s ORDER BY id",
        (territory_id,),
    ).fetchall()
    return [(int(i), float(x), float(y)) for i, x, y in rows]


def _choose_tiles(url: str, dataset: Dataset) -> None:
    """Every tile of the territory's box at z12–z14; 100 random tiles holding a feature at z15 and z16."""
    rng = random.Random(SEED)
    with psycopg.connect(url) as conn:
        union = " UNION ALL ".join(
            f"SELECT geom FROM twin.{layer} WHERE territory_id = %(t)s" for layer in dataset.layers
        )
        row = conn.execute(
            f"SELECT st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) FROM (SELECT st_extent(geom) AS e"
            f" FROM ({union}) u) s",
            {"t": dataset.territory_id},
        ).fetchone()
        assert row is not None and row[0] is not None
        bbox = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
        for layer in dataset.layers:
            points = _points(conn, layer, dataset.territory_id)
            for z in ZOOMS:
                if z <= 14:
                    cols, rows = tile_ranges(bbox, z, buffer_fraction=0.0)
                    dataset.tiles[layer, z] = [Tile(z, x, y) for x in cols for y in rows]
                else:
                    holding = sorted({tile_of(lon, lat, z) for _, lon, lat in points})
                    dataset.tiles[layer, z] = sorted(rng.sample(holding, min(SAMPLE_PER_ZOOM, len(holding))))


# ------------------------------------------------------------------------------------ same tiles checked


def _decode(data: bytes, layer: str) -> list[dict[str, Any]]:
    if not data:
        return []
    decoded = mapbox_vector_tile.decode(data)
    features: list[dict[str, Any]] = decoded.get(layer, {}).get("features", [])
    return features


def _vertices(geometry: dict[str, Any]) -> int:
    def count(node: Any) -> int:
        if isinstance(node, (list, tuple)) and node and isinstance(node[0], (int, float)):
            return 1
        return sum(count(child) for child in node) if isinstance(node, (list, tuple)) else 0

    return count(geometry["coordinates"])


_CORE = box(1, 1, 4095, 4095)  # the tile less one unit: away from the edge where rounding decides


def _in_core(geometry: dict[str, Any]) -> bool:
    """Whether a decoded feature lies inside the tile proper (ours also sends the 64-unit buffer)."""
    try:
        return bool(shape(geometry).intersects(_CORE))
    except Exception:  # an invalid ring: fall back to its bounding box
        xs: list[float] = []
        ys: list[float] = []

        def walk(node: Any) -> None:
            if isinstance(node, (list, tuple)) and node and isinstance(node[0], (int, float)):
                xs.append(float(node[0]))
                ys.append(float(node[1]))
            elif isinstance(node, (list, tuple)):
                for child in node:
                    walk(child)

        walk(geometry["coordinates"])
        return bool(xs) and max(xs) > 1 and min(xs) < 4095 and max(ys) > 1 and min(ys) < 4095


@dataclass
class Comparison:
    tiles: int = 0
    ours_features: int = 0
    tipg_features: int = 0
    ours_bytes: int = 0
    tipg_bytes: int = 0
    common: int = 0
    only_ours_core: int = 0  # disagreements: inside the tile but missing from TiPG
    only_tipg: int = 0  # disagreements: TiPG has it, we do not
    only_ours_buffer: int = 0  # expected: our tiles carry the 64-unit buffer, TiPG selects the tile only
    same_geometry: int = 0
    vertices_close: int = 0  # vertex count within 2 % (or 1 vertex)
    same_properties: int = 0

    def line(self, name: str) -> str:
        return (
            f"{name:<36} tiles {self.tiles:4d} | features ours {self.ours_features:7d} TiPG {self.tipg_features:7d}"
            f" | KB ours {self.ours_bytes / 1024:8.1f} TiPG {self.tipg_bytes / 1024:8.1f}"
        )


def _compare_tile(c: Comparison, layer: str, ours: bytes, theirs: bytes, *, full: bool) -> None:
    mine, peer = _decode(ours, layer), _decode(theirs, layer)
    c.tiles += 1
    c.ours_features += len(mine)
    c.tipg_features += len(peer)
    c.ours_bytes += len(ours)
    c.tipg_bytes += len(theirs)
    if not full:
        return
    by_id = {int(f["id"]): f for f in mine}
    peer_by_id = {int(f["properties"]["id"]): f for f in peer}
    for fid, feature in by_id.items():
        if fid in peer_by_id:
            c.common += 1
            other = peer_by_id[fid]
            if feature["geometry"] == other["geometry"]:
                c.same_geometry += 1
            a, b = _vertices(feature["geometry"]), _vertices(other["geometry"])
            if abs(a - b) <= max(1, 0.02 * max(a, b)):
                c.vertices_close += 1
            if feature["properties"] == other["properties"]:
                c.same_properties += 1
        elif _in_core(feature["geometry"]):
            c.only_ours_core += 1
        else:
            c.only_ours_buffer += 1
    c.only_tipg += len(set(peer_by_id) - set(by_id))
    unexpected = set().union(*(f["properties"] for f in mine)) - set(PROPERTIES[layer]) if mine else set()
    if unexpected:
        raise SystemExit(f"{layer}: our z16 tiles carry {sorted(unexpected)}, not in PROPERTIES: update it")


def _check_same_tiles(servers: Servers, dataset: Dataset) -> list[str]:
    """Fetch every tile of the lists from both, decode and compare; return the printed lines."""
    lines = []
    for layer in dataset.layers:
        for z in ZOOMS:
            c = Comparison()
            ours, tipg = servers.client(layer), servers.peer
            for t in dataset.tiles[layer, z]:
                a = ours.get(servers.ours + servers.ours_path(layer, t))
                b = tipg.get(servers.tipg + servers.tipg_path(layer, t))
                if a.status_code not in (200, 204) or b.status_code != 200:
                    raise SystemExit(
                        f"{layer} {t}: ours {a.status_code}, TiPG {b.status_code} {b.text[:200]}"
                    )
                _compare_tile(c, layer, a.content, b.content, full=z == 16)
            line = c.line(f"{dataset.name} {layer} z{z}")
            if z == 16:
                line += (
                    f"\n    z16 same features: {c.common} common, {c.only_ours_buffer} only ours in the 64-unit"
                    f" buffer (expected), disagreements: {c.only_ours_core} only ours inside, {c.only_tipg}"
                    f" only TiPG | identical geometry {c.same_geometry}/{c.common}, vertex count within 2 %"
                    f" {c.vertices_close}/{c.common}, identical properties {c.same_properties}/{c.common}"
                )
                if c.only_ours_core or c.only_tipg or c.vertices_close < c.common:
                    line += "  <-- NOT THE SAME ANSWER"
            print(line, flush=True)
            lines.append(line)
    return lines


# ------------------------------------------------------------------------------------- uncached latency


@dataclass
class Latency:
    ours: list[float] = field(default_factory=list)
    tipg: list[float] = field(default_factory=list)


def _timed_get(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000.0
    if response.status_code not in (200, 204):
        raise SystemExit(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed


def _uncached_latency(servers: Servers, dataset: Dataset) -> dict[tuple[str, int], Latency]:
    """Each tile from both servers in alternation (who goes first alternates too), in rounds."""
    out: dict[tuple[str, int], Latency] = {}
    for layer in dataset.layers:
        ours, tipg = servers.client(layer), servers.peer
        for z in ZOOMS:
            tiles = dataset.tiles[layer, z]
            rounds = max(2, -(-MIN_SAMPLES // max(1, len(tiles))))
            lat = out[layer, z] = Latency()
            for r in range(rounds):
                for i, t in enumerate(tiles):
                    ours_url = servers.ours + servers.ours_path(layer, t)
                    tipg_url = servers.tipg + servers.tipg_path(layer, t)
                    if (i + r) % 2:
                        lat.ours.append(_timed_get(ours, ours_url))
                        lat.tipg.append(_timed_get(tipg, tipg_url))
                    else:
                        lat.tipg.append(_timed_get(tipg, tipg_url))
                        lat.ours.append(_timed_get(ours, ours_url))
            report(f"{dataset.name} {layer} z{z} ({len(tiles)} tiles x{rounds})", lat.ours, lat.tipg, "TiPG")
    return out


# --------------------------------------------------------------------------------------------- freshness


def _edit_targets(url: str, dataset: Dataset, layer: str) -> list[tuple[int, Tile]]:
    rng = random.Random(SEED + 1)
    with psycopg.connect(url) as conn:
        points = _points(conn, layer, dataset.territory_id)
    chosen = rng.sample(points, min(FRESH_EDITS, len(points)))
    return [(fid, tile_of(lon, lat, 16)) for fid, lon, lat in chosen]


_EDIT_SQL = {
    "street_lights": "UPDATE twin.street_lights SET lamp_type = %s WHERE id = %s",
    "buildings": "UPDATE twin.buildings SET name = %s WHERE id = %s",
}


def _edit(conn: psycopg.Connection[Any], layer: str, fid: int, value: str) -> float:
    """Update one feature, commit, and return the time just after the commit."""
    conn.execute(_EDIT_SQL[layer], (value, fid))
    conn.commit()
    return time.perf_counter()


def _tile_freshness(
    url: str, servers: Servers, layer: str, targets: list[tuple[int, Tile]]
) -> tuple[list[float], int]:
    """ms from commit until the polled tile's ETag changes; and how many edits never showed (5 s)."""
    client = servers.client(layer)
    samples: list[float] = []
    stale = 0
    with psycopg.connect(url) as conn:
        for i, (fid, t) in enumerate(targets):
            tile_url = servers.cached + servers.ours_path(layer, t)
            before = client.get(tile_url)
            before = client.get(tile_url)  # the second one is a cache hit: the tile is warm
            etag = before.headers["etag"]
            committed = _edit(conn, layer, fid, f"bench-{layer}-{i}-{time.time_ns()}")
            while True:
                response = client.get(tile_url, headers={"If-None-Match": etag})
                now = time.perf_counter()
                if response.status_code == 200 and response.headers["etag"] != etag:
                    samples.append((now - committed) * 1000.0)
                    break
                if now - committed > 5.0:
                    stale += 1
                    break
                time.sleep(0.001)
    return samples, stale


def _event_freshness(
    url: str, servers: Servers, layer: str, targets: list[tuple[int, Tile]], headers: dict[str, str]
) -> tuple[list[float], int]:
    """ms from commit until the WebSocket subscriber receives ``tiles.changed`` for the layer."""
    from websockets.sync.client import connect

    samples: list[float] = []
    missed = 0
    ws_url = servers.cached.replace("http://", "ws://") + "/tiles/events"
    with connect(ws_url, additional_headers=headers) as ws, psycopg.connect(url) as conn:
        hello = orjson.loads(ws.recv(timeout=10))
        if layer not in hello.get("layers", []):
            raise SystemExit(f"WebSocket hello does not list {layer}: {hello}")
        for i, (fid, _) in enumerate(targets):
            while True:  # drain what an earlier edit left behind
                try:
                    ws.recv(timeout=0)
                except TimeoutError:
                    break
            committed = _edit(conn, layer, fid, f"ws-{layer}-{i}-{time.time_ns()}")
            while True:
                try:
                    event = orjson.loads(ws.recv(timeout=5))
                except TimeoutError:
                    missed += 1
                    break
                if event.get("type") == "tiles.changed" and event.get("layer") == layer:
                    samples.append((time.perf_counter() - committed) * 1000.0)
                    break
    return samples, missed


# ------------------------------------------------------------------------------------------------ main


def _servers(stack: ExitStack, url: str, token: str) -> Servers:
    disk = stack.enter_context(tempfile.TemporaryDirectory(prefix="hyperviseur-bench-tiles-"))
    base = {"HYPERVISEUR_DATABASE_URL": url}
    uncached_env = {**base, "HYPERVISEUR_TILES_MEMORY_MB": "0", "HYPERVISEUR_TILES_DISK_CACHE": "false"}
    cached_env = {
        **base,
        "HYPERVISEUR_TILES_MEMORY_MB": "256",
        "HYPERVISEUR_TILES_DISK_CACHE": "true",
        "HYPERVISEUR_TILES_DISK_DIR": disk,
    }
    factory = ["--factory", "twin.app:create_app"]
    ours = stack.enter_context(server(factory, uncached_env, "/health"))
    # A closed WebSocket subscriber lingers until its next ping (20 s, tiles/events.py): uvicorn waits for it.
    cached = stack.enter_context(server(factory, cached_env, "/health", stop_timeout_s=40))
    tipg = stack.enter_context(server(["tipg.main:app"], {"DATABASE_URL": url, **TIPG_ENV}, "/healthz"))
    with psycopg.connect(url) as conn:
        internal = {
            name
            for (name,) in conn.execute("SELECT name FROM twin.layer_catalog WHERE visibility <> 'public'")
        }
    return Servers(
        ours=ours,
        cached=cached,
        tipg=tipg,
        anonymous=stack.enter_context(httpx.Client(timeout=120)),
        signed_in=stack.enter_context(
            httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"})
        ),
        peer=stack.enter_context(httpx.Client(timeout=120)),
        internal=internal,
    )


def _pooled(latency: dict[tuple[str, int], Latency], z: int) -> Latency:
    pooled = Latency()
    for (_, zoom), lat in latency.items():
        if zoom == z:
            pooled.ours += lat.ours
            pooled.tipg += lat.tipg
    return pooled


def _fmt(samples: list[float], digits: int = 1) -> str:
    return f"{statistics.median(samples):.{digits}f} ({percentile(samples, 99):.{digits}f})"


def _rss(base: str) -> str:
    rss = server_rss_mb(base)
    return "unknown" if rss is None else f"{rss:.0f} MiB"


def _wrk_line(name: str, result: dict[str, float]) -> None:
    print(
        f"{name:<44} {result['rps']:9.0f} req/s | latency p50 {result['p50_ms']:7.2f} ms"
        f" p99 {result['p99_ms']:7.2f} ms | non-2xx {result['non_2xx']:.0f}, socket errors"
        f" {result['socket_errors']:.0f}",
        flush=True,
    )


def _minzoom(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT substr(p.proname, 6), obj_description(p.oid, 'pg_proc') FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'tiles' AND p.proname LIKE 'tile\\_%'"
        ).fetchall()
    return {name: int(orjson.loads(doc or "{}").get("minzoom", 0)) for name, doc in rows}


def _latency_tables(
    datasets: list[Dataset], latencies: dict[str, dict[tuple[str, int], Latency]], minzoom: dict[str, int]
) -> list[str]:
    rows = [
        "| dataset | zoom | tiles | ours p50 (p99) ms | TiPG p50 (p99) ms | ours / TiPG p50 |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in datasets:
        for z in ZOOMS:
            pooled = _pooled(latencies[dataset.name], z)
            n = sum(len(dataset.tiles[layer, z]) for layer in dataset.layers)
            ratio = statistics.median(pooled.ours) / statistics.median(pooled.tipg)
            rows.append(
                f"| {dataset.name} | z{z} | {n} | {_fmt(pooled.ours)} | {_fmt(pooled.tipg)}"
                f" | {ratio:.2f}{' ✓' if ratio <= 0.5 else ' ✗'} |"
            )
    rows += [
        "",
        "| dataset, layer | zoom | tiles × rounds | ours p50 (p99) ms | TiPG p50 (p99) ms | ours / TiPG p50 |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in datasets:
        for layer in dataset.layers:
            for z in ZOOMS:
                lat = latencies[dataset.name][layer, z]
                n = len(dataset.tiles[layer, z])
                ratio = statistics.median(lat.ours) / statistics.median(lat.tipg)
                note = " (below our minzoom: 204, no query)" if z < minzoom.get(layer, 0) else ""
                rows.append(
                    f"| {dataset.name}, {layer} | z{z} | {n} × {len(lat.ours) // max(1, n)} | {_fmt(lat.ours)}"
                    f" | {_fmt(lat.tipg)} | {ratio:.2f}{note} |"
                )
    return rows


def _throughput(servers: Servers, datasets: list[Dataset], token: str) -> tuple[list[str], list[str]]:
    auth = {"Authorization": f"Bearer {token}"}
    rows = [
        "| dataset | URLs | ours cached req/s (p99 ms) | ours uncached req/s | TiPG req/s (p99 ms) | cached / TiPG |",
        "|---|---|---|---|---|---|",
    ]
    rss_rows: list[str] = []
    for dataset in datasets:
        pairs = [(layer, t) for layer in dataset.layers for z in ZOOMS for t in dataset.tiles[layer, z]]
        ours_paths = [servers.ours_path(layer, t) for layer, t in pairs]
        tipg_paths = [servers.tipg_path(layer, t) for layer, t in pairs]
        signed = [layer in servers.internal for layer, _ in pairs]
        for (layer, _), path in zip(pairs, ours_paths, strict=True):  # warm: every tile rendered once
            servers.client(layer).get(servers.cached + path).raise_for_status()
        rss_rows.append(
            f"{dataset.name}: RSS after warm-up: ours cached {_rss(servers.cached)}, ours uncached"
            f" {_rss(servers.ours)}, TiPG {_rss(servers.tipg)}"
        )
        cached = run_wrk(servers.cached, ours_paths, headers=auth, signed=signed)
        _wrk_line(f"{dataset.name} ours cached", cached)
        peer = run_wrk(servers.tipg, tipg_paths)
        _wrk_line(f"{dataset.name} TiPG", peer)
        uncached = run_wrk(servers.ours, ours_paths, headers=auth, signed=signed)
        _wrk_line(f"{dataset.name} ours uncached", uncached)
        ratio = cached["rps"] / peer["rps"]
        print(f"{dataset.name}: ours cached / TiPG = {ratio:.1f}x (target >= 3x)", flush=True)
        rows.append(
            f"| {dataset.name} | {len(ours_paths)} | {cached['rps']:.0f} ({cached['p99_ms']:.0f})"
            f" | {uncached['rps']:.0f} | {peer['rps']:.0f} ({peer['p99_ms']:.0f})"
            f" | {ratio:.1f}{' ✓' if ratio >= 3 else ' ✗'} |"
        )
    rss_rows.append(f"after the wrk runs: ours cached {_rss(servers.cached)}")
    for line in rss_rows:
        print(line, flush=True)
    return rows, rss_rows


def _freshness(url: str, servers: Servers, datasets: list[Dataset], token: str) -> list[str]:
    rows = [
        f"| edit (N = {FRESH_EDITS}) | commit → polled tile has a new ETag, p50 (p99) ms | commit → WebSocket"
        " `tiles.changed`, p50 (p99) ms |",
        "|---|---|---|",
    ]
    by_name = {d.name: d for d in datasets}
    for name, layer in (("Montpellier", "street_lights"), ("Monaco", "buildings")):
        if name not in by_name:
            continue
        headers = {"Authorization": f"Bearer {token}"} if layer in servers.internal else {}
        targets = _edit_targets(url, by_name[name], layer)
        polled, stale = _tile_freshness(url, servers, layer, targets)
        events, missed = _event_freshness(url, servers, layer, targets, headers)
        print(
            f"{name} {layer}: commit → fresh tile p50 {statistics.median(polled):.2f} ms"
            f" p99 {percentile(polled, 99):.2f} ms ({stale} still stale after 5 s) | commit → WebSocket event"
            f" p50 {statistics.median(events):.2f} ms p99 {percentile(events, 99):.2f} ms ({missed} missed)",
            flush=True,
        )
        rows.append(f"| {name} {layer} | {_fmt(polled, 2)} | {_fmt(events, 2)} |")
    return rows


def _session_cost(servers: Servers, dataset: Dataset, token: str) -> list[str]:
    """The same public tiles fetched anonymously and with a session (a signed-in operator's map)."""
    layer = next(name for name in dataset.layers if name not in servers.internal)
    tiles = dataset.tiles[layer, 16]
    paths = [servers.ours_path(layer, t) for t in tiles]
    anonymous, signed = Latency(), Latency()  # .ours: uncached server, .tipg: cached server (reused fields)
    for r in range(3):
        for i, path in enumerate(paths):
            order = [(anonymous, servers.anonymous), (signed, servers.signed_in)]
            for lat, client in order if (i + r) % 2 else order[::-1]:
                lat.ours.append(_timed_get(client, servers.ours + path))
                lat.tipg.append(_timed_get(client, servers.cached + path))
    auth = {"Authorization": f"Bearer {token}"}
    cached_anon = run_wrk(servers.cached, paths)
    cached_signed = run_wrk(servers.cached, paths, headers=auth)
    rows = [
        f"| {dataset.name} {layer} z16, {len(paths)} tiles | anonymous | with a session (Bearer) |",
        "|---|---|---|",
        f"| uncached, sequential p50 (p99) ms | {_fmt(anonymous.ours, 2)} | {_fmt(signed.ours, 2)} |",
        f"| cached, sequential p50 (p99) ms | {_fmt(anonymous.tipg, 2)} | {_fmt(signed.tipg, 2)} |",
        f"| cached, wrk -t2 -c32 req/s | {cached_anon['rps']:.0f} | {cached_signed['rps']:.0f} |",
    ]
    for row in rows:
        print(row, flush=True)
    return rows


def main() -> None:
    from benchmarks.bench_ogc_items import _analyst_token

    with throwaway_database() as url:
        datasets = _load_data(url)
        if not datasets:
            return
        for dataset in datasets:
            _choose_tiles(url, dataset)
        token = _analyst_token(url)
        minzoom = _minzoom(url)
        with ExitStack() as stack:
            servers = _servers(stack, url, token)
            print(
                "\nVector tiles, Hyperviseur vs TiPG 1.6.1, one uvicorn worker each, same PostgreSQL (JIT off),"
                f" {os.cpu_count()} cores; public layers fetched anonymously, {sorted(servers.internal & set(PROPERTIES))}"
                " with an analyst's session"
            )
            print("\n1. Same tiles: decoded and compared (z16 feature by feature; lower zooms: counts)")
            for dataset in datasets:
                _check_same_tiles(servers, dataset)

            print("\n2. Uncached tiles (ours: HYPERVISEUR_TILES_MEMORY_MB=0, DISK_CACHE=false), sequential")
            latencies = {d.name: _uncached_latency(servers, d) for d in datasets}
            latency_rows = _latency_tables(datasets, latencies, minzoom)

            print("\n3. Throughput: wrk -t2 -c32 -d10s cycling through every tile of the lists above")
            wrk_rows, rss_rows = _throughput(servers, datasets, token)

            print(f"\n4. Edit-to-fresh-tile on our cached server (cache warm), N = {FRESH_EDITS}")
            fresh_rows = _freshness(url, servers, datasets, token)
            tipg_z16 = _pooled(latencies[datasets[-1].name], 16).tipg
            tipg_note = (
                "TiPG has no cache and no change events: every request renders from the database, so a tile is"
                " fresh on the next request, and every request pays the uncached latency"
                f" (z16 p50 {statistics.median(tipg_z16):.1f} ms)."
            )
            print(tipg_note, flush=True)

            print("\n5. What a session costs per tile request (ours, same public tiles)")
            session_rows = _session_cost(servers, datasets[-1], token)
        print("\nSummary (markdown)\n")
        for line in [
            *latency_rows,
            "",
            *wrk_rows,
            "",
            *rss_rows,
            "",
            *fresh_rows,
            "",
            tipg_note,
            "",
            *session_rows,
        ]:
            print(line)


if __name__ == "__main__":
    main()
