"""Tile maths and the cache's rules, without a server."""

from __future__ import annotations

import doctest
from pathlib import Path

import morecantile
from hypothesis import given
from hypothesis import strategies as st

import tiles.coords
from tiles.cache import CachedTile, DiskTiles, MemoryTiles, TileCache, TileKey
from tiles.coords import Tile, tile_bounds, tile_of, tile_ranges

WMQ = morecantile.tms.get("WebMercatorQuad")
lons = st.floats(-179.9, 179.9)
lats = st.floats(-85.0, 85.0)
zooms = st.integers(0, 22)


def test_doctests() -> None:
    assert doctest.testmod(tiles.coords).failed == 0


@given(lons, lats, zooms)
def test_tile_of_agrees_with_morecantile(lon: float, lat: float, z: int) -> None:
    theirs = WMQ.tile(lon, lat, z)
    ours = tile_of(lon, lat, z)
    # Points within a hair of a tile edge may fall either side by rounding.
    if (ours.x, ours.y) != (theirs.x, theirs.y):
        b = WMQ.xy_bounds(theirs)
        x, y = WMQ.xy(lon, lat)
        assert min(abs(x - b.left), abs(x - b.right), abs(y - b.bottom), abs(y - b.top)) < 1e-3


@given(lons, lats, st.floats(0, 0.05), st.floats(0, 0.05), zooms)
def test_a_box_touches_the_tiles_of_its_corners_and_no_far_tile(
    lon: float, lat: float, dlon: float, dlat: float, z: int
) -> None:
    box = (lon, lat, min(lon + dlon, 179.99), min(lat + dlat, 85.0))
    cols, rows = tile_ranges(box, z)
    for corner in ((box[0], box[1]), (box[2], box[3])):
        t = tile_of(*corner, z)
        assert t.x in cols and t.y in rows
    # Every touched tile's buffered bounds meet the box.
    for x in (cols.start, cols.stop - 1):
        for y in (rows.start, rows.stop - 1):
            w, s, e, n = tile_bounds(Tile(z, x, y))
            pad_lon = (e - w) * 64 / 4096 + 1e-9
            assert w - pad_lon <= box[2] and e + pad_lon >= box[0]


def _key(layer: str, z: int, x: int, y: int) -> TileKey:
    return TileKey(layer, Tile(z, x, y))


def test_memory_invalidation_drops_exactly_the_touched_tiles() -> None:
    memory = MemoryTiles(10_000_000)
    inside = tile_of(7.42, 43.73, 16)
    outside = tile_of(7.45, 43.76, 16)
    for t in (inside, outside):
        memory.put(TileKey("lamps", t), CachedTile.of(b"x"))
    memory.put(TileKey("roads", inside), CachedTile.of(b"y"))
    assert memory.invalidate("lamps", (7.42, 43.73, 7.42, 43.73)) == 1
    assert memory.get(TileKey("lamps", inside)) is None
    assert memory.get(TileKey("lamps", outside)) is not None
    assert memory.get(TileKey("roads", inside)) is not None, "other layers keep their tiles"


def test_memory_budget_evicts_least_recently_used() -> None:
    memory = MemoryTiles(3 * (1000 + 200))
    keys = [_key("a", 10, i, 0) for i in range(4)]
    for key in keys[:3]:
        memory.put(key, CachedTile.of(b"x" * 1000))
    memory.get(keys[0])  # now the most recent
    memory.put(keys[3], CachedTile.of(b"x" * 1000))
    assert memory.get(keys[1]) is None and memory.get(keys[0]) is not None
    assert memory.used_bytes <= 3 * 1200


def test_a_rendering_overtaken_by_a_change_is_not_stored(tmp_path: Path) -> None:
    cache = TileCache(MemoryTiles(10_000_000), DiskTiles(tmp_path), synced=True)
    key = _key("lamps", 16, 34119, 23896)
    generation = cache.generation("lamps")
    cache.invalidate_memory("lamps", (7.0, 43.0, 8.0, 44.0))  # a change lands while rendering
    assert not cache.put(key, CachedTile.of(b"old"), generation=generation)
    assert cache.get(key) is None and not DiskTiles(tmp_path).path_of(key).exists()


def test_pending_disk_invalidation_is_a_miss_until_done(tmp_path: Path) -> None:
    disk = DiskTiles(tmp_path)
    key = _key("lamps", 16, 34119, 23896)
    disk.write(key, b"old")
    cache = TileCache(MemoryTiles(10_000_000), disk, synced=True)
    box = tile_bounds(key.tile)
    cache.invalidate_memory("lamps", box)
    assert cache.get(key) is None, "the file is still there but the region is pending"
    cache.invalidate_disk("lamps", box)
    assert not disk.path_of(key).exists()
    assert cache.put(key, CachedTile.of(b"new"), generation=cache.generation("lamps"))
    assert disk.read(key) == b"new"


def test_an_unsynced_cache_neither_reads_disk_nor_stores(tmp_path: Path) -> None:
    disk = DiskTiles(tmp_path)
    key = _key("lamps", 12, 1, 1)
    disk.write(key, b"from an earlier run")
    cache = TileCache(MemoryTiles(10_000_000), disk)
    assert cache.get(key) is None
    assert not cache.put(key, CachedTile.of(b"x"), generation=cache.generation("lamps"))
    cache.synced = True
    assert cache.get(key) == CachedTile.of(b"from an earlier run")


def test_whole_layer_disk_invalidation(tmp_path: Path) -> None:
    disk = DiskTiles(tmp_path)
    for i in range(3):
        disk.write(_key("lamps", 14, i, i), b"x")
    disk.write(_key("roads", 14, 0, 0), b"y")
    disk.invalidate("lamps", None)
    assert not (tmp_path / "lamps").exists() and disk.read(_key("roads", 14, 0, 0)) == b"y"
