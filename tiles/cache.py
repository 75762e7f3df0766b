"""The tile cache: memory (LRU, byte budget) in front of disk, invalidated by layer and bounding box.

Never stale, by three rules:

* every change of a layer bumps that layer's *generation*; a tile rendered while the generation moved is
  served but not stored (its database snapshot may predate the change);
* invalidation drops the memory entries at once; files on disk are removed by a worker thread, and until it
  is done the region is *pending*: a disk read inside it is a miss;
* at start, the server replays the changes it missed from ``tiles.changes`` (see ``tiles.freshness``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tiles.coords import Tile, tile_ranges

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class TileKey:
    """One layer's tile; ``variant`` tells apart renderings with different query parameters."""

    layer: str
    tile: Tile
    variant: str = ""


@dataclass(frozen=True)
class CachedTile:
    """Tile bytes (empty: no feature there) and their strong ETag."""

    data: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes) -> CachedTile:
        return cls(data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')


def _touches(bbox: BBox | None, tile: Tile) -> bool:
    if bbox is None:
        return True
    cols, rows = tile_ranges(bbox, tile.z)
    return tile.x in cols and tile.y in rows


@dataclass
class _Stats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    invalidated: int = 0
    stale_renders_dropped: int = 0


class MemoryTiles:
    """An LRU of tiles within a byte budget, indexed by layer and zoom for invalidation."""

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._lru: OrderedDict[TileKey, CachedTile] = OrderedDict()
        self._index: dict[str, dict[int, set[TileKey]]] = defaultdict(lambda: defaultdict(set))

    def __len__(self) -> int:
        return len(self._lru)

    @property
    def used_bytes(self) -> int:
        return self._used

    def get(self, key: TileKey) -> CachedTile | None:
        hit = self._lru.get(key)
        if hit is not None:
            self._lru.move_to_end(key)
        return hit

    def put(self, key: TileKey, tile: CachedTile) -> None:
        self.drop(key)
        size = len(tile.data) + 200  # the key, the entry and the index cost about this much
        if size > self._budget:
            return
        self._lru[key] = tile
        self._used += size
        self._index[key.layer][key.tile.z].add(key)
        while self._used > self._budget:
            self.drop(next(iter(self._lru)))

    def drop(self, key: TileKey) -> None:
        old = self._lru.pop(key, None)
        if old is not None:
            self._used -= len(old.data) + 200
            self._index[key.layer][key.tile.z].discard(key)

    def invalidate(self, layer: str, bbox: BBox | None) -> int:
        """Drop the layer's tiles that ``bbox`` touches (all of them for ``None``); return how many."""
        dropped = 0
        for z, keys in list(self._index.get(layer, {}).items()):
            if bbox is None:
                doomed = list(keys)
            else:
                cols, rows = tile_ranges(bbox, z)
                doomed = [k for k in keys if k.tile.x in cols and k.tile.y in rows]
            for key in doomed:
                self.drop(key)
            dropped += len(doomed)
        return dropped

    def clear(self) -> None:
        self._lru.clear()
        self._index.clear()
        self._used = 0


class DiskTiles:
    """Tiles as files ``<root>/<layer>/<z>/<x>/<y>[~variant].pbf``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: TileKey) -> Path:
        name = f"{key.tile.y}~{key.variant}.pbf" if key.variant else f"{key.tile.y}.pbf"
        return self.root / key.layer / str(key.tile.z) / str(key.tile.x) / name

    def read(self, key: TileKey) -> bytes | None:
        try:
            return self.path_of(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, key: TileKey, data: bytes) -> None:
        path = self.path_of(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def invalidate(self, layer: str, bbox: BBox | None) -> int:
        """Remove the layer's files that ``bbox`` touches; return how many (a whole layer counts 1)."""
        layer_dir = self.root / layer
        if not layer_dir.is_dir():
            return 0
        if bbox is None:
            trash = layer_dir.with_name(f".trash-{layer}-{os.getpid()}-{threading.get_ident()}")
            os.replace(layer_dir, trash)
            shutil.rmtree(trash, ignore_errors=True)
            return 1
        removed = 0
        for z_dir in _int_entries(layer_dir):
            z = int(z_dir.name)
            cols, rows = tile_ranges(bbox, z)
            for x_dir in _entries_in(z_dir, cols):
                for y_file in x_dir.iterdir():
                    y_text = y_file.name.split("~", 1)[0].removesuffix(".pbf")
                    if y_text.isdigit() and int(y_text) in rows:
                        y_file.unlink(missing_ok=True)
                        removed += 1
        return removed

    def clear(self) -> None:
        if self.root.is_dir():
            for child in self.root.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)


def _int_entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.isdigit() and p.is_dir()]


def _entries_in(folder: Path, wanted: range) -> list[Path]:
    # A small range is cheaper to probe than a large folder to list, and the other way round.
    if len(wanted) <= 64:
        return [p for p in (folder / str(i) for i in wanted) if p.is_dir()]
    return [p for p in _int_entries(folder) if int(p.name) in wanted]


@dataclass
class TileCache:
    """Memory in front of disk, with per-layer generations and pending disk invalidations."""

    memory: MemoryTiles
    disk: DiskTiles | None
    stats: _Stats = field(default_factory=_Stats)
    _generations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _pending: dict[str, list[BBox | None]] = field(default_factory=lambda: defaultdict(list))
    # False until the changes missed (before start, during a reconnect) have been replayed: until then
    # nothing is read from disk (an earlier run wrote it) and nothing is stored (a change may go unheard).
    synced: bool = False

    def generation(self, layer: str) -> int:
        return self._generations[layer]

    def get(self, key: TileKey) -> CachedTile | None:
        hit = self.memory.get(key)
        if hit is not None:
            self.stats.memory_hits += 1
            return hit
        if self.disk is not None and self.synced and not self._is_pending(key):
            data = self.disk.read(key)
            if data is not None:
                tile = CachedTile.of(data)
                self.memory.put(key, tile)
                self.stats.disk_hits += 1
                return tile
        self.stats.misses += 1
        return None

    def put(self, key: TileKey, tile: CachedTile, *, generation: int) -> bool:
        """Store a rendering made at ``generation``; refuse it (False) if the layer changed since."""
        if generation != self._generations[key.layer] or not self.synced:
            self.stats.stale_renders_dropped += 1
            return False
        self.memory.put(key, tile)
        if self.disk is not None and not self._is_pending(key):
            self.disk.write(key, tile.data)
        return True

    def invalidate_memory(self, layer: str, bbox: BBox | None) -> None:
        """First half of an invalidation, on the event loop: bump the generation, drop memory entries and
        mark the region pending on disk until :meth:`invalidate_disk` has run."""
        self._generations[layer] += 1
        self.stats.invalidated += self.memory.invalidate(layer, bbox)
        if self.disk is not None:
            self._pending[layer].append(bbox)

    def invalidate_disk(self, layer: str, bbox: BBox | None) -> None:
        """Second half, in a worker thread: remove the files, then lift the pending mark."""
        try:
            if self.disk is not None:
                self.disk.invalidate(layer, bbox)
        finally:
            pending = self._pending.get(layer)
            if pending and bbox in pending:
                pending.remove(bbox)

    def clear_memory(self) -> None:
        """Forget every tile held in memory; renderings under way are not stored."""
        for layer in list(self._generations):
            self._generations[layer] += 1
        self.memory.clear()

    def clear(self) -> None:
        self.clear_memory()
        if self.disk is not None:
            self.disk.clear()

    def _is_pending(self, key: TileKey) -> bool:
        return any(_touches(bbox, key.tile) for bbox in self._pending.get(key.layer, ()))
