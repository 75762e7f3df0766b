"""Validation of a raster import before anything is written: the arguments, the file, its georeferencing."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.warp import transform_geom

from twin.errors import InvalidInput

Progress = Callable[[str], None]

RASTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
VISIBILITIES = ("public", "internal", "restricted")
# Pixel types a PNG/WebP tile can be rendered from after rescaling; complex numbers have no colour.
_SUPPORTED_DTYPES = frozenset(
    {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"}
)
_MAX_TEXT = 500
_URL = re.compile(r"^[a-z][a-z0-9+.-]+:/", re.IGNORECASE)
# Points per footprint edge: a Lambert-93 rectangle is slightly curved in WGS84; 21 points keep the
# footprint within a few centimetres of the true outline at a commune's scale.
_EDGE_POINTS = 21


def quiet(_message: str) -> None:
    """The progress callback used when the caller gives none."""


@dataclass(frozen=True)
class SourceRaster:
    """What the validation learnt about a source file (the file itself is reopened for the conversion)."""

    path: Path
    driver: str
    band_count: int
    dtype: str
    width: int
    height: int
    crs: str
    nodata: float | None
    resolution_m: float | None
    footprint: dict[str, Any]  # GeoJSON Polygon in EPSG:4326


def validate_arguments(
    *, name: str, visibility: str, unit: str | None, titles: tuple[str | None, ...]
) -> None:
    """Refuse a name, visibility or text that the table cannot hold, saying what to send instead."""
    if not isinstance(name, str) or not RASTER_NAME.match(name):
        raise InvalidInput(
            f"raster name {name!r} is not valid: use lowercase letters, digits and underscores, starting with a"
            " letter, at most 63 characters (e.g. mnt_montpellier)"
        )
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility {visibility!r} is not valid: use one of {', '.join(VISIBILITIES)}")
    for label, text in (("unit", unit), *(("title", t) for t in titles)):
        if text is not None and (len(text) > _MAX_TEXT or "\x00" in text):
            raise InvalidInput(
                f"the {label} is too long or holds a NUL character: at most {_MAX_TEXT} characters"
            )


def validate_path(path: Path | str) -> Path:
    """The source must be an existing regular file (GDAL also opens URLs and /vsi paths: not here)."""
    text = str(path)
    # A URL given on the command line arrives as a Path, which folds "//" into "/".
    if _URL.match(text) or text.startswith("/vsi"):
        raise InvalidInput(f"{text!r} is not a local file: download it first, then import the file")
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"no file at {source}: give the path of a raster file (GeoTIFF, ASCII grid, …)")
    return source


def _outline(bounds: tuple[float, float, float, float]) -> dict[str, Any]:
    left, bottom, right, top = bounds
    steps = np.linspace(0.0, 1.0, _EDGE_POINTS)
    ring = (
        [(left + (right - left) * t, bottom) for t in steps[:-1]]
        + [(right, bottom + (top - bottom) * t) for t in steps[:-1]]
        + [(right - (right - left) * t, top) for t in steps[:-1]]
        + [(left, top - (top - bottom) * t) for t in steps[:-1]]
    )
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _footprint_4326(src: Any) -> dict[str, Any]:
    try:
        geom = transform_geom(src.crs, "EPSG:4326", _outline(tuple(src.bounds)))
    except Exception as exc:  # PROJ errors surface as several rasterio/pyproj types
        raise InvalidInput(
            f"the raster's extent cannot be expressed in WGS84 ({exc}): check its CRS ({src.crs})"
        ) from None
    coords = np.asarray(geom["coordinates"][0], dtype=float)
    lon, lat = coords[:, 0], coords[:, 1]
    if not np.isfinite(coords).all() or (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        raise InvalidInput(
            f"the raster's extent {tuple(src.bounds)} falls outside the Earth in its CRS {src.crs}:"
            " the CRS or the geotransform is wrong"
        )
    return {"type": "Polygon", "coordinates": [coords.tolist()]}


def _check_nodata(nodata: float | None, dtype: str) -> float | None:
    if nodata is None:
        return None
    if math.isnan(nodata):
        if not dtype.startswith("float"):
            raise InvalidInput(
                f"nodata NaN needs floating-point pixels; this raster holds {dtype}: give a number"
            )
        return nodata
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        if not float(nodata).is_integer() or not info.min <= nodata <= info.max:
            raise InvalidInput(
                f"nodata {nodata} cannot be stored in {dtype} pixels: give an integer in [{info.min}, {info.max}]"
            )
    elif math.isfinite(nodata) and abs(nodata) > float(np.finfo(dtype).max):
        raise InvalidInput(f"nodata {nodata} cannot be stored in {dtype} pixels: give a smaller value")
    return float(nodata)


def inspect_source(path: Path, *, nodata: float | None) -> SourceRaster:
    """Open ``path`` with GDAL and check that it is a georeferenced raster the tiles can serve.

    Raises
    ------
    InvalidInput
        Not a raster GDAL can read, no CRS, no geotransform, no band, an unsupported pixel type or a nodata
        value the pixel type cannot hold; the message says which and what to do.
    """
    try:
        with warnings.catch_warnings():
            # A file without a geotransform opens with a warning; we refuse it below with our own message.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InvalidInput(
            f"{path.name} is not a raster GDAL can read ({exc}): give a GeoTIFF, an ASCII grid (.asc) or"
            " another GDAL raster format"
        ) from None
    with src:
        if src.count < 1:
            raise InvalidInput(f"{path.name} has no band: nothing to draw")
        if src.crs is None:
            raise InvalidInput(
                f"{path.name} declares no CRS: add one (e.g. `gdal_edit.py -a_srs EPSG:2154 {path.name}`,"
                " or a .prj file beside an ASCII grid), then import again"
            )
        if src.transform == Affine.identity():
            # Ground control points alone would need a warp on every tile: ask for a warped file instead.
            hint = (
                "`gdalwarp` it onto a grid"
                if src.gcps[0]
                else "georeference it (e.g. `gdal_translate -a_ullr …`)"
            )
            raise InvalidInput(
                f"{path.name} has no geotransform (pixel size and origin): {hint}, then import again"
            )
        dtypes = set(src.dtypes)
        if len(dtypes) > 1:
            raise InvalidInput(
                f"{path.name} mixes pixel types {sorted(dtypes)}: convert its bands to one type"
            )
        dtype = src.dtypes[0]
        if dtype not in _SUPPORTED_DTYPES:
            raise InvalidInput(f"{path.name} holds {dtype} pixels: only integer and floating-point rasters")
        chosen = _check_nodata(nodata if nodata is not None else src.nodata, dtype)
        metric = src.crs.is_projected and (src.crs.linear_units or "").lower() in ("metre", "meter", "m")
        return SourceRaster(
            path=path,
            driver=src.driver,
            band_count=src.count,
            dtype=dtype,
            width=src.width,
            height=src.height,
            crs=src.crs.to_string(),
            nodata=chosen,
            resolution_m=abs(src.transform.a) if metric else None,
            footprint=_footprint_4326(src),
        )
