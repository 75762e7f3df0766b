"""Bounded versions of titiler's query dependencies, so that no query string can ask for unbounded work.

titiler's own dependencies accept any tile size, buffer, preview size, histogram bin count or percentile, and
some of them turn a malformed value into a server error (an ``assert`` or a ``TypeError`` in a dataclass
``__post_init__``); these answer 400 with what to send instead. Band-math ``expression`` is not offered at all:
it is a small language evaluated per pixel, and band indexes (``bidx``) cover what the console needs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Query, Request
from pydantic import ValidationError
from rio_tiler.colormap import cmap as default_cmap
from rio_tiler.errors import InvalidColorFormat
from titiler.core.algorithm import algorithms as titiler_algorithms
from titiler.core.algorithm.base import BaseAlgorithm
from titiler.core.dependencies import BidxParams, ColorMapParams, DefaultDependency

from twin.errors import InvalidInput, NotFound

MAX_TILESIZE = 1024
MAX_ZOOM = 24  # deepest matrix of WebMercatorQuad (≈1 cm pixels)
MAX_BUFFER = 64
MAX_PREVIEW = 2048
MAX_BINS = 1000
# Elevation and grid algorithms only: cheap, per-tile, and useful on the rasters we import.
ALGORITHMS = ("hillshade", "slope", "terrarium", "terrainrgb")
# Formats a browser or GIS reads and GDAL here writes; jp2 (JPEG2000) is slow to encode and served by no map.
TILE_FORMATS = frozenset({"png", "jpeg", "jpg", "webp", "tif", "npy"})


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None  # FastAPI's own validation answers 400 for a non-integer


def _check_point(params: Any, coord_crs: str | None) -> None:
    try:
        lon, lat = float(params["lon"]), float(params["lat"])
    except ValueError:
        return
    if coord_crs is None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"point {lon},{lat} is not a longitude,latitude: give -180..180,-90..90 (WGS84)")
    # PROJ fails (instead of answering "outside") on coordinates far beyond any CRS's domain.
    if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) < 1e8 and abs(lat) < 1e8):
        raise InvalidInput(f"point {lon},{lat} is out of range for coord_crs={coord_crs}")


def check_tile_request(request: Request) -> None:
    """Router dependency of every raster route: bounded sizes and zooms, known format, sane coordinates."""
    params, query = request.path_params, request.query_params
    size = _integer(query.get("tilesize"))
    if size is not None and size > MAX_TILESIZE:
        raise InvalidInput(
            f"tilesize={size} is too large: at most {MAX_TILESIZE} pixels (256 or 512 usually)"
        )
    for key in ("minzoom", "maxzoom"):
        zoom = _integer(query.get(key))
        if zoom is not None and not 0 <= zoom <= MAX_ZOOM:
            raise InvalidInput(f"{key}={zoom}: zooms go from 0 to {MAX_ZOOM}")
    if {"lon", "lat"} <= params.keys():
        _check_point(params, query.get("coord_crs"))
    fmt = params.get("format")
    if fmt is not None and fmt not in TILE_FORMATS:
        raise InvalidInput(f"tile format {fmt!r} is not served: use one of {', '.join(sorted(TILE_FORMATS))}")
    if {"z", "x", "y"} <= params.keys():
        try:
            z, x, y = (int(params[k]) for k in ("z", "x", "y"))
        except ValueError:
            return  # FastAPI's own validation answers 400 for a non-integer
        if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
            raise NotFound(
                f"no tile {z}/{x}/{y} in WebMercatorQuad: z goes from 0 to 24 and x, y from 0 to 2^z - 1"
            )


def band_params(
    request: Request,
    indexes: Annotated[
        list[int] | None, Query(alias="bidx", title="Band indexes", description="Bands to read, from 1")
    ] = None,
) -> BidxParams:
    """Band indexes, checked against the raster's band count (resolved before, on ``request.state``)."""
    entry = getattr(request.state, "raster_entry", None)
    if indexes and entry is not None:
        wrong = [i for i in indexes if not 1 <= i <= entry.band_count]
        if wrong:
            raise InvalidInput(f"bidx {wrong} does not exist: this raster has bands 1 to {entry.band_count}")
    return BidxParams(indexes=indexes)


@dataclass
class TileParams(DefaultDependency):
    """Tile buffer, bounded. titiler's ``padding`` is not offered: rio-tiler then reads the source window at
    full resolution, which at low zoom means the whole raster (3 s for a z8 tile of a 256-px test raster)."""

    buffer: Annotated[
        float | None,
        Query(gt=0, le=MAX_BUFFER, description="Pixels added on each side; a multiple of 0.5"),
    ] = None


@dataclass
class PreviewParams(DefaultDependency):
    """Size of the decimated read behind ``/statistics``, bounded."""

    max_size: Annotated[int, Query(ge=1, le=MAX_PREVIEW, description="Longest side read, in pixels")] = 1024
    height: Annotated[int | None, Query(ge=1, le=MAX_PREVIEW, description="Forced height")] = None
    width: Annotated[int | None, Query(ge=1, le=MAX_PREVIEW, description="Forced width")] = None

    def __post_init__(self) -> None:
        if self.width or self.height:
            self.max_size = None  # type: ignore[assignment]  # rio-tiler reads None as "use width/height"


@dataclass
class StatisticsParams(DefaultDependency):
    """Statistics options; percentiles between 0 and 100."""

    categorical: Annotated[bool | None, Query(description="Count pixels per value")] = None
    categories: Annotated[list[float] | None, Query(alias="c", description="Values to count")] = None
    percentiles: Annotated[
        list[int] | None, Query(alias="p", description="Percentiles to compute, 0 to 100 (default 2 and 98)")
    ] = None

    def __post_init__(self) -> None:
        if self.percentiles and any(not 0 <= p <= 100 for p in self.percentiles):
            raise InvalidInput(f"p={self.percentiles}: percentiles go from 0 to 100")
        if not self.percentiles:
            self.percentiles = [2, 98]


@dataclass
class HistogramParams(DefaultDependency):
    """Histogram bins (a count, or increasing edges) and range, bounded."""

    bins: Annotated[
        str | None,
        Query(alias="histogram_bins", description=f"Bin count (1 to {MAX_BINS}) or increasing edges 'a,b,c'"),
    ] = None
    range: Annotated[str | None, Query(alias="histogram_range", description="'min,max' of the bins")] = None

    def __post_init__(self) -> None:
        self.bins = _parse_bins(self.bins)  # type: ignore[assignment]
        if self.range is not None:
            low_high = _floats(self.range, "histogram_range")
            if len(low_high) != 2 or not low_high[0] < low_high[1]:
                raise InvalidInput(f"histogram_range={self.range!r}: give 'min,max' with min < max")
            self.range = low_high  # type: ignore[assignment]


def _floats(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInput(f"{name}={text!r}: give comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"{name}={text!r}: give finite numbers")
    return values


def _parse_bins(text: str | None) -> int | list[float]:
    if text is None:
        return 10
    edges = _floats(text, "histogram_bins")
    if len(edges) == 1:
        if not edges[0].is_integer() or not 1 <= edges[0] <= MAX_BINS:
            raise InvalidInput(f"histogram_bins={text!r}: a bin count goes from 1 to {MAX_BINS}")
        return int(edges[0])
    if len(edges) > MAX_BINS + 1 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise InvalidInput(f"histogram_bins={text!r}: give at most {MAX_BINS + 1} strictly increasing edges")
    return edges


def colormap_params(
    colormap_name: Annotated[
        Literal[tuple(default_cmap.list())] | None,  # type: ignore[valid-type]
        Query(description="Colormap name (e.g. viridis, terrain)"),
    ] = None,
    colormap: Annotated[str | None, Query(description="JSON colormap {value: colour}")] = None,
) -> Any:
    """titiler's colormap parameters; a malformed custom colormap is a 400, never a server error."""
    try:
        return ColorMapParams(colormap_name=colormap_name, colormap=colormap)
    except HTTPException:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, InvalidColorFormat) as exc:
        raise InvalidInput(
            f'colormap is not valid ({exc}): give a JSON object such as {{"0": "#000000", "255": "#ffffff"}}'
        ) from None


def algorithm_params(
    algorithm: Annotated[
        Literal[ALGORITHMS] | None,  # type: ignore[valid-type]
        Query(description="Post-processing: " + ", ".join(ALGORITHMS)),
    ] = None,
    algorithm_params: Annotated[
        str | None, Query(description="JSON object of the algorithm's options")
    ] = None,
) -> BaseAlgorithm | None:
    """One of a few terrain algorithms, its options a JSON object validated by the algorithm's model."""
    if algorithm is None:
        return None
    try:
        options = json.loads(algorithm_params) if algorithm_params else {}
    except ValueError:
        raise InvalidInput('algorithm_params is not JSON: give an object, e.g. {"azimuth": 315}') from None
    if not isinstance(options, dict):
        raise InvalidInput('algorithm_params must be a JSON object, e.g. {"azimuth": 315}')
    try:
        return titiler_algorithms.get(algorithm)(**options)
    except (ValidationError, TypeError) as exc:
        raise InvalidInput(f"algorithm_params do not suit {algorithm}: {exc}") from None
