"""Validation of a GIS import before anything is written: arguments, the file, its CRS and geometries."""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from layers.importers._gis_fields import normalise
from layers.model import LAYER_COLUMNS, ImportReport
from twin.crs import WGS84, metric_crs_for
from twin.errors import ImportRejected, InvalidInput

Progress = Callable[[str], None]

DEDICATED_LAYERS = ("street_lights", "buildings", "critical_sites", "roads")
_LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED_NAMES = set(LAYER_COLUMNS) | {"territory", "layer_catalog", "road_graph", "water"}
_POINT, _LINE, _POLYGON = 0, 1, 2  # shapely dimension of each geometry family
_NEEDED_DIMENSION = {"street_lights": _POINT, "critical_sites": _POINT, "buildings": _POLYGON, "roads": _LINE}
_DIMENSION_WORD = {_POINT: "points", _LINE: "lines", _POLYGON: "polygons"}
# Geometries declared in degrees must fall in this range, else the file lies about its CRS (a GeoJSON
# written in Lambert-93 without a "crs" member is read as WGS84, as Montpellier's defibrillators are).
_LON_LAT_LIMITS = (-180.0, -90.0, 180.0, 90.0)
# A CRS's area of use is approximate; data slightly outside it is still plausible, data far outside is a
# wrong CRS or a missing offset.
_AREA_OF_USE_MARGIN_DEG = 1.0


def quiet(_message: str) -> None:
    """The progress callback used when the caller gives none."""


def validate_layer_name(layer: str) -> None:
    """Refuse a layer name that the catalog cannot hold or that names a table of its own."""
    if not isinstance(layer, str) or not _LAYER_NAME.match(layer):
        raise InvalidInput(
            f"layer name {layer!r} is not valid: use lowercase letters, digits and underscores, starting "
            "with a letter, at most 63 characters (e.g. defibrillateurs), or one of "
            + ", ".join(DEDICATED_LAYERS)
        )
    if layer in _RESERVED_NAMES and layer not in DEDICATED_LAYERS:
        raise InvalidInput(
            f"layer name {layer!r} is a table of its own: import into {', '.join(DEDICATED_LAYERS)} or a new "
            "name; water networks come from `hyperviseur import epanet`"
        )


def validate_territory_name(name: str) -> str:
    """The territory name without surrounding blanks; an empty one is refused."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("territory name is empty: give --territory, e.g. --territory Montpellier")
    return name.strip()


def validate_encoding(encoding: str | None) -> str | None:
    """Return GDAL's spelling of ``encoding`` (its iconv knows ``ISO-8859-1``, not ``latin-1``).

    Examples
    --------
    >>> validate_encoding("latin-1"), validate_encoding("cp1252"), validate_encoding("utf8")
    ('ISO-8859-1', 'CP1252', 'UTF-8')
    """
    if encoding is None or not encoding.strip():
        return None
    try:
        name = codecs.lookup(encoding.strip()).name
    except LookupError:
        raise InvalidInput(f"unknown encoding {encoding!r}: give e.g. utf-8, latin-1 or cp1252") from None
    if name.startswith("iso8859-"):
        return "ISO-8859-" + name.removeprefix("iso8859-")
    return name.upper()


def validate_path(path: Path | str) -> Path:
    """``path`` as a Path, refused when there is no such file."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"file not found: {path}")
    return path


def read_source(path: Path, *, source_layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    """Read ``path`` with pyogrio; shapefiles may be zipped. Attribute names and values are kept as-is."""
    source = f"/vsizip/{path.resolve()}" if path.suffix.lower() == ".zip" else str(path)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(source)]
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise ImportRejected(f"cannot read {path.name} as a GIS file: {_first_line(exc)}") from None
    if not layers:
        raise ImportRejected(
            f"{path.name} holds no layer (a .zip must contain a .shp with its .shx and .dbf)"
        )
    if source_layer is None and len(layers) > 1:
        raise ImportRejected(
            f"{path.name} holds {len(layers)} layers ({', '.join(layers)}): choose one with --source-layer"
        )
    if source_layer is not None and source_layer not in layers:
        raise ImportRejected(f"{path.name} has no layer {source_layer!r}; its layers: {', '.join(layers)}")
    try:
        frame = pyogrio.read_dataframe(
            source, layer=source_layer or layers[0], encoding=encoding, fid_as_index=True
        )
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            f"text attributes of {path.name} are not {encoding or 'UTF-8'} ({exc.reason} at byte "
            f"{exc.object[exc.start : exc.end]!r}): pass --encoding latin-1 (or cp1252) for old French files"
        ) from None
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise ImportRejected(f"cannot read {path.name}: {_first_line(exc)}") from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise ImportRejected(f"{path.name} has no geometry column: it is a table, not a map layer")
    if frame.empty:
        raise ImportRejected(f"{path.name} holds no features")
    frame = frame.rename_geometry("geometry") if frame.geometry.name != "geometry" else frame
    frame["_feature_id"] = _feature_ids(frame)
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _feature_ids(frame: gpd.GeoDataFrame) -> pd.Series:
    """The feature's own identifier when a column holds unique ones (IDARC, OBJECTID, Id), else its FID."""
    for column in frame.columns:
        if column == frame.geometry.name:
            continue
        key = normalise(column)
        if key in {"id", "fid", "gid", "objectid", "ogc_fid", "identifiant"} or key.startswith("idarc"):
            values = frame[column]
            if values.notna().all() and values.is_unique:
                return values.map(_format_id)
    return pd.Series([str(i) for i in frame.index], index=frame.index)


def _format_id(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def assign_crs(
    frame: gpd.GeoDataFrame, path: Path, forced_epsg: int | None, report: ImportReport
) -> gpd.GeoDataFrame:
    """Give ``frame`` the CRS of its coordinates: ``--crs`` when given, else what the file declares.

    ``--crs`` wins over a declared CRS because some files declare a wrong one (GeoJSON is read as WGS84
    whatever its coordinates); the override is noted in the report.
    """
    if forced_epsg is not None:
        declared = frame.crs
        if declared is not None and declared.to_epsg() != forced_epsg:
            report.notes.append(
                f"{path.name} declares {crs_label(declared)}; --crs EPSG:{forced_epsg} used instead"
            )
        return frame.set_crs(forced_epsg, allow_override=True)
    if frame.crs is None:
        raise ImportRejected(
            f"{path.name} declares no CRS (a shapefile without its .prj?): pass --crs with the EPSG code of "
            "its coordinates, e.g. --crs 2154 for Lambert-93"
        )
    try:
        CRS.from_user_input(frame.crs)
    except CRSError as exc:
        raise InvalidInput(f"{path.name} declares a CRS pyproj does not know ({exc}): pass --crs") from None
    return frame


def crs_label(crs: Any) -> str:
    """``EPSG:<code>`` when the CRS has one, else its name, for messages."""
    epsg = CRS.from_user_input(crs).to_epsg() if crs is not None else None
    return f"EPSG:{epsg}" if epsg else str(getattr(crs, "name", crs))


def validate_coordinates(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse coordinates that cannot be in the declared CRS: it is wrong, so every position would be."""
    present = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if present.empty:
        return
    minx, miny, maxx, maxy = present.total_bounds
    crs = CRS.from_user_input(frame.crs)
    if crs.is_geographic:
        west, south, east, north = _LON_LAT_LIMITS
        if minx < west or maxx > east or miny < south or maxy > north:
            raise ImportRejected(
                f"coordinates of {path.name} (x {minx:.0f}…{maxx:.0f}, y {miny:.0f}…{maxy:.0f}) are not "
                f"longitude/latitude although it declares {crs_label(crs)}: they look projected; pass --crs "
                "with their real CRS, e.g. --crs 2154 for Lambert-93"
            )
        lon_lat = (minx, miny, maxx, maxy)
    else:
        lon_lat = tuple(present.to_crs(WGS84).total_bounds)
    check_area_of_use(lon_lat, crs, what=path.name)


def check_area_of_use(lon_lat_bounds: Iterable[float], crs: CRS, *, what: str, hint: str = "") -> None:
    """Raise ImportRejected when data (bounds in degrees) lies far outside the area of use of its CRS."""
    area = crs.area_of_use
    minx, miny, maxx, maxy = lon_lat_bounds
    if area is None or not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        if area is not None:
            raise ImportRejected(f"coordinates of {what} do not transform to longitude/latitude{hint}")
        return
    margin = _AREA_OF_USE_MARGIN_DEG
    if (
        minx < area.west - margin
        or maxx > area.east + margin
        or miny < area.south - margin
        or maxy > area.north + margin
    ):
        raise ImportRejected(
            f"coordinates of {what} fall at lon {minx:.2f}…{maxx:.2f}, lat {miny:.2f}…{maxy:.2f}, outside "
            f"the area of use of {crs_label(crs)} ({area.name}): the CRS is wrong{hint}"
        )


def metric_epsg_for(frame: gpd.GeoDataFrame) -> int:
    """Metric CRS of a new territory, from the centroid of the data's extent (Lambert-93 in France)."""
    present = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if present.empty:
        raise ImportRejected("every geometry is empty: nothing to import")
    minx, miny, maxx, maxy = present.to_crs(WGS84).total_bounds
    return metric_crs_for((minx + maxx) / 2, (miny + maxy) / 2)


def validate_geometries(
    frame: gpd.GeoDataFrame, layer: str, path: Path, report: ImportReport
) -> gpd.GeoDataFrame:
    """Drop Z, reject empty and wrong-type geometries, repair invalid ones when the repair is sound.

    ``frame`` is in the territory's metric CRS, so the collapse test compares areas in square metres.
    Features are reported by their ``_feature_id``; the kept frame has only usable geometries.
    """
    geoms = frame.geometry.to_numpy()
    if shapely.has_z(geoms).any():
        report.notes.append(f"{int(shapely.has_z(geoms).sum())} geometries had Z values: dropped (2D twin)")
        geoms = shapely.force_2d(geoms)
    keep = np.ones(len(frame), dtype=bool)
    ids = frame["_feature_id"].to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        report.reject(layer, ids[i], "empty geometry")
    keep &= ~missing

    needed = _NEEDED_DIMENSION.get(layer)
    if needed is not None:
        dims = np.where(missing, -1, shapely.get_dimensions(geoms))
        fits = (dims == needed) | ((layer == "critical_sites") & (dims == _POLYGON))
        if not fits[~missing].any() and (~missing).any():
            found = sorted({g.geom_type for g in geoms[~missing]})
            raise ImportRejected(
                f"{path.name} holds {'/'.join(found)} geometries; layer {layer!r} needs "
                f"{_DIMENSION_WORD[needed]}. Import it under a new layer name (e.g. --layer "
                f"{suggest_name(path)}) to keep it as generic GIS features"
            )
        for i in np.flatnonzero(~fits & ~missing):
            report.reject(
                layer, ids[i], f"{geoms[i].geom_type} where {layer} needs {_DIMENSION_WORD[needed]}"
            )
        keep &= fits | missing

    invalid = keep & ~shapely.is_valid(np.where(keep, geoms, None))
    for i in np.flatnonzero(invalid):
        fixed, why = _repair(geoms[i])
        if fixed is None:
            report.reject(layer, ids[i], why)
            keep[i] = False
        else:
            report.repair(layer, ids[i], why)
            geoms[i] = fixed
    out = frame.loc[keep].copy()
    out.geometry = gpd.GeoSeries(geoms[keep], index=out.index, crs=frame.crs)
    return out


def _repair(geom: shapely.Geometry) -> tuple[shapely.Geometry | None, str]:
    """Return (repaired geometry, why) or (None, why) when make_valid would change what the feature is.

    Sound means: same dimension (a polygon stays a polygon, not a line), non-empty, and, for polygons,
    an area at least half of what GEOS measures on the invalid original (not collapsed to a sliver).
    A bow-tie measures 0 (its two lobes cancel) and is repaired into its two triangles.
    """
    reason = shapely.is_valid_reason(geom)
    dimension = shapely.get_dimensions(geom)
    fixed = shapely.make_valid(geom)
    parts = [p for p in _flatten(fixed) if shapely.get_dimensions(p) == dimension and not p.is_empty]
    if not parts:
        return None, f"invalid ({reason}) and collapses to a lower dimension when repaired"
    if len(parts) == 1:
        fixed = parts[0]
    else:
        collect = {
            _POINT: shapely.multipoints,
            _LINE: shapely.multilinestrings,
            _POLYGON: shapely.multipolygons,
        }
        fixed = collect[dimension](parts)
    if dimension == _POLYGON and (fixed.area <= 0 or fixed.area < 0.5 * abs(geom.area)):
        return None, f"invalid ({reason}) and its area collapses when repaired ({fixed.area:.3g} m²)"
    return fixed, f"invalid ({reason}), repaired with make_valid"


def _flatten(geom: shapely.Geometry) -> list[shapely.Geometry]:
    if geom.geom_type == "GeometryCollection":
        return [p for part in shapely.get_parts(geom) for p in _flatten(part)]
    return list(shapely.get_parts(geom))


def suggest_name(path: Path) -> str:
    """A valid layer name made from a file name, for messages: 'Fontaines.geojson' → 'fontaines'."""
    stem = normalise(path.name.split(".")[0]).replace(" ", "_").replace("-", "_")
    stem = re.sub(r"[^a-z0-9_]", "", stem).lstrip("0123456789_") or "layer"
    return stem[:63]
