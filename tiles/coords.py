"""Web Mercator tile addresses: validation, and which tiles a longitude/latitude box touches."""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.errors import InvalidInput

MAX_ZOOM = 22
# Tiles carry a 64-unit buffer around their 4096 units (tiles.query_envelope in the database): a feature
# that far outside a tile is still drawn in it, so a change there must invalidate the tile too.
BUFFER_FRACTION = 64 / 4096
_MAX_LAT = 85.0511287798066


@dataclass(frozen=True, order=True)
class Tile:
    """A tile of the WebMercatorQuad matrix set (XYZ scheme: y grows southwards)."""

    z: int
    x: int
    y: int

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"


def checked_tile(z: int, x: int, y: int, *, max_zoom: int = MAX_ZOOM) -> Tile:
    """Return the tile if it exists in WebMercatorQuad, else raise ``InvalidInput`` saying why.

    Examples
    --------
    >>> checked_tile(14, 8529, 5975)
    Tile(z=14, x=8529, y=5975)
    >>> checked_tile(2, 4, 0)
    Traceback (most recent call last):
    ...
    twin.errors.InvalidInput: tile column x=4 is out of range at zoom 2: 0 <= x <= 3
    """
    if not 0 <= z <= max_zoom:
        raise InvalidInput(f"zoom z={z} is out of range: 0 <= z <= {max_zoom}")
    last = (1 << z) - 1
    if not 0 <= x <= last:
        raise InvalidInput(f"tile column x={x} is out of range at zoom {z}: 0 <= x <= {last}")
    if not 0 <= y <= last:
        raise InvalidInput(f"tile row y={y} is out of range at zoom {z}: 0 <= y <= {last}")
    return Tile(z, x, y)


def _x_of(lon: float, z: int) -> float:
    return (lon + 180.0) / 360.0 * (1 << z)


def _y_of(lat: float, z: int) -> float:
    lat = max(-_MAX_LAT, min(_MAX_LAT, lat))
    rad = math.radians(lat)
    return (1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * (1 << z)


def tile_ranges(
    bbox: tuple[float, float, float, float], z: int, *, buffer_fraction: float = BUFFER_FRACTION
) -> tuple[range, range]:
    """The columns and rows of the tiles at zoom ``z`` whose buffered extent meets ``bbox``.

    ``bbox`` is (min_lon, min_lat, max_lon, max_lat) in degrees. A tile is touched when the box, grown by the
    tile buffer, overlaps the tile: this is exactly the set of tiles whose SQL query could see a feature in
    the box.

    Examples
    --------
    >>> tile_ranges((7.40, 43.72, 7.44, 43.76), 12)
    (range(2132, 2133), range(1493, 1494))
    >>> tile_ranges((0.0, 0.0, 0.0, 0.0), 0)
    (range(0, 1), range(0, 1))
    """
    min_lon, min_lat, max_lon, max_lat = bbox
    n = 1 << z
    x0 = _x_of(min_lon, z) - buffer_fraction
    x1 = _x_of(max_lon, z) + buffer_fraction
    y0 = _y_of(max_lat, z) - buffer_fraction  # north edge: smaller y
    y1 = _y_of(min_lat, z) + buffer_fraction
    cols = range(max(0, math.floor(x0)), min(n - 1, math.floor(x1)) + 1)
    rows = range(max(0, math.floor(y0)), min(n - 1, math.floor(y1)) + 1)
    return cols, rows


def tile_bounds(tile: Tile) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of a tile, without buffer.

    Examples
    --------
    >>> tile_bounds(Tile(0, 0, 0))[0], round(tile_bounds(Tile(0, 0, 0))[3], 4)
    (-180.0, 85.0511)
    """
    n = 1 << tile.z
    min_lon = tile.x / n * 360.0 - 180.0
    max_lon = (tile.x + 1) / n * 360.0 - 180.0
    max_lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * tile.y / n))))
    min_lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (tile.y + 1) / n))))
    return (min_lon, min_lat, max_lon, max_lat)


def tile_of(lon: float, lat: float, z: int) -> Tile:
    """The tile at zoom ``z`` that contains the point.

    Examples
    --------
    >>> tile_of(7.4246, 43.7384, 16)
    Tile(z=16, x=34119, y=23896)
    """
    n = 1 << z
    return Tile(z, min(n - 1, int(_x_of(lon, z))), min(n - 1, int(_y_of(lat, z))))
