"""Helpers of the vector tile tests: decode tiles, find a feature's tile, wait for a change."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import mapbox_vector_tile
import psycopg

from tiles.coords import Tile, tile_of

# Monaco-Ville and Monte-Carlo, where the Monaco extract is dense.
MONACO_CENTRE = (7.4246, 43.7384)


def decode(data: bytes) -> dict[str, Any]:
    """Decoded MVT, ``{layer: {"features": [...], "extent": 4096}}``; ``{}`` for an empty tile."""
    return mapbox_vector_tile.decode(data) if data else {}


def features_by_id(data: bytes, layer: str) -> dict[int, dict[str, Any]]:
    return {f["id"]: f for f in decode(data).get(layer, {}).get("features", [])}


def feature_tile(url: str, table: str, z: int, *, where: str = "true") -> tuple[int, Tile]:
    """The id and the zoom-``z`` tile of one feature of ``twin.<table>`` (its point on surface)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT id, st_x(p), st_y(p) FROM (SELECT id, st_pointonsurface(geom) AS p FROM twin.{table}"
            f" WHERE {where} ORDER BY id LIMIT 1) s"
        ).fetchone()
    assert row is not None, f"no feature in twin.{table} where {where}"
    return row[0], tile_of(row[1], row[2], z)


def wait_until(check: Callable[[], Any], *, timeout_s: float, interval_s: float = 0.01) -> Any:
    """Poll ``check`` until it returns a truthy value; return it, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
