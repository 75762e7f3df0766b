"""Import a raster file as a Cloud-Optimised GeoTIFF under ``<var_dir>/rasters`` and register it in ``twin.rasters``.

The COG keeps the source grid and CRS (titiler reprojects each tile to Web Mercator on the fly), so values read
back through ``/raster/{name}/point`` are the source's own pixels. The file is written under a temporary name and
renamed only after the database transaction committed: a failed import leaves neither a row nor a file.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from layers.store import territory_id
from tiles._raster_validate import (
    Progress,
    SourceRaster,
    inspect_source,
    quiet,
    validate_arguments,
    validate_path,
)
from twin.db import connect
from twin.errors import InvalidInput
from twin.settings import DatabaseSettings

RASTER_DIR = "rasters"
# Whole bands are read for the statistics up to this many pixels; larger rasters are read from a decimated
# view (GDAL picks the overview), which keeps an import's memory bounded and changes p2/p98 only marginally.
_STATS_MAX_PIXELS = 16_000_000
_INSERT = """
INSERT INTO twin.rasters (territory_id, name, title_fr, title_en, description_fr, path, band_count, dtype,
    nodata, unit, crs, width, height, resolution_m, min, max, statistics, visibility, source, footprint)
VALUES (%(territory_id)s, %(name)s, %(title_fr)s, %(title_en)s, %(description_fr)s, %(path)s, %(band_count)s,
    %(dtype)s, %(nodata)s, %(unit)s, %(crs)s, %(width)s, %(height)s, %(resolution_m)s, %(min)s, %(max)s,
    %(statistics)s, %(visibility)s, %(source)s, ST_SetSRID(ST_GeomFromGeoJSON(%(footprint)s), 4326))
RETURNING id
"""


@dataclass(frozen=True)
class RasterReport:
    """What an import registered: the raster's name, file, grid and per-band statistics."""

    name: str
    territory: str
    raster_id: int
    path: Path
    band_count: int
    dtype: str
    crs: str
    width: int
    height: int
    nodata: float | None
    statistics: list[dict[str, Any]]
    replaced: bool
    cog_seconds: float
    size_bytes: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the command line."""
        verb = "replaced" if self.replaced else "imported"
        lines = [
            f"raster {self.name} {verb} into {self.territory}: {self.width}×{self.height} px, {self.band_count}"
            f" band(s) {self.dtype}, {self.crs}, COG {self.size_bytes / 1e6:.1f} MB in {self.cog_seconds:.2f} s"
        ]
        for band in self.statistics:
            if band["count"]:
                lines.append(
                    f"    band {band['band']}: min {band['min']:.6g}, max {band['max']:.6g},"
                    f" mean {band['mean']:.6g} ({band['count']} valid pixels)"
                )
            else:
                lines.append(f"    band {band['band']}: no valid pixel")
        lines.extend(self.notes)
        return "\n".join(lines)


def raster_dir(var_dir: Path | str) -> Path:
    """The folder holding the COGs of every imported raster."""
    return Path(var_dir) / RASTER_DIR


def _band_statistics(dataset: Any, band: int, nodata: float | None) -> dict[str, Any]:
    pixels = dataset.width * dataset.height
    if pixels > _STATS_MAX_PIXELS:
        scale = (pixels / _STATS_MAX_PIXELS) ** 0.5
        shape = (max(1, int(dataset.height / scale)), max(1, int(dataset.width / scale)))
        data = dataset.read(band, out_shape=shape, resampling=Resampling.nearest)
    else:
        data = dataset.read(band)
    values = data.astype("float64", copy=False).ravel()
    valid = np.isfinite(values)
    if nodata is not None and not np.isnan(nodata):
        valid &= values != nodata
    values = values[valid]
    if values.size == 0:
        return {
            "band": band,
            "count": 0,
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "p2": None,
            "p98": None,
        }
    p2, p98 = np.percentile(values, [2, 98])
    return {
        "band": band,
        "count": int(values.size),
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p2": float(p2),
        "p98": float(p98),
    }


def _write_cog(source: SourceRaster, target: Path) -> float:
    profile = cog_profiles.get("deflate")
    # Horizontal differencing compresses smooth grids (elevations, concentrations) about twice as well.
    profile["predictor"] = 3 if source.dtype.startswith("float") else 2
    started = time.perf_counter()
    with rasterio.open(source.path) as src:
        cog_translate(
            src,
            target,
            profile,
            nodata=source.nodata,
            # Averaging keeps low-zoom tiles of a continuous field representative; nodata is excluded by GDAL.
            overview_resampling="average",
            web_optimized=False,
            config={"GDAL_NUM_THREADS": "ALL_CPUS"},
            quiet=True,
        )
    return time.perf_counter() - started


def _check_name_free(conn: Any, name: str, *, replace: bool) -> bool:
    """Whether a raster of that name exists (locked until commit); refuse catalog names and unasked replaces."""
    if conn.execute("SELECT 1 FROM twin.layer_catalog WHERE name = %s", (name,)).fetchone():
        raise InvalidInput(
            f"{name!r} already names a vector layer of the catalog: choose another raster name"
            " (e.g. with a suffix such as _mnt or _grille)"
        )
    exists = conn.execute("SELECT 1 FROM twin.rasters WHERE name = %s FOR UPDATE", (name,)).fetchone()
    if exists and not replace:
        raise InvalidInput(f"a raster named {name!r} exists: pass --replace (replace=True) to replace it")
    return exists is not None


def import_raster(
    database_url: str,
    path: Path | str,
    *,
    name: str,
    territory_name: str,
    title_fr: str | None = None,
    title_en: str | None = None,
    description_fr: str = "",
    unit: str | None = None,
    visibility: str = "internal",
    nodata: float | None = None,
    replace: bool = False,
    var_dir: Path | str | None = None,
    progress: Progress = quiet,
) -> RasterReport:
    """Convert a raster file to a COG and register it for the raster tile routes, all or nothing.

    Parameters
    ----------
    database_url : str
        The database (``twin.db.database_url``).
    path : Path or str
        Any raster GDAL reads (GeoTIFF, ASCII grid with its .prj, …) with a CRS and a geotransform.
    name : str
        The raster's name in URLs (``/raster/{name}/...``): ``^[a-z][a-z0-9_]{0,62}$``, not a catalog layer.
    territory_name : str
        An existing territory (``twin.territory.name``).
    title_fr, title_en, description_fr, unit : str, optional
        What the console shows; titles default to the name, ``unit`` e.g. ``m`` or ``µg/m³``.
    visibility : {'public', 'internal', 'restricted'}
        Who may see it, with the rule of the layer catalog.
    nodata : float, optional
        Overrides the file's nodata value.
    replace : bool
        Replace a raster of the same name instead of refusing.
    var_dir : Path, optional
        Default ``DatabaseSettings().var_dir``; the COG goes to ``<var_dir>/rasters/<name>.tif``.

    Raises
    ------
    InvalidInput
        Bad argument or file (see ``tiles._raster_validate``), a name used by the catalog, or an existing
        raster without ``replace``.
    NotFound
        No such territory.
    """
    validate_arguments(
        name=name, visibility=visibility, unit=unit, titles=(title_fr, title_en, description_fr)
    )
    source = inspect_source(validate_path(path), nodata=nodata)
    folder = raster_dir(var_dir if var_dir is not None else DatabaseSettings().var_dir)
    relative = f"{RASTER_DIR}/{name}.tif"
    with connect(database_url) as conn:  # fail fast, before the conversion: territory, name
        territory = territory_id(conn, territory_name)
        _check_name_free(conn, name, replace=replace)
        conn.rollback()
    folder.mkdir(parents=True, exist_ok=True)
    # Same folder as the final file, so that the rename is atomic; a dot name is never a registered path.
    temporary = folder / f".{name}.{secrets.token_hex(6)}.tmp.tif"
    try:
        progress(f"converting {source.path.name} to a Cloud-Optimised GeoTIFF…")
        seconds = _write_cog(source, temporary)
        with rasterio.open(temporary) as cog:
            statistics = [_band_statistics(cog, b, source.nodata) for b in range(1, cog.count + 1)]
        row = {
            "territory_id": territory,
            "name": name,
            "title_fr": title_fr or name,
            "title_en": title_en or title_fr or name,
            "description_fr": description_fr,
            "path": relative,
            "band_count": source.band_count,
            "dtype": source.dtype,
            "nodata": source.nodata,
            "unit": unit,
            "crs": source.crs,
            "width": source.width,
            "height": source.height,
            "resolution_m": source.resolution_m,
            "min": json.dumps([s["min"] for s in statistics]),
            "max": json.dumps([s["max"] for s in statistics]),
            "statistics": json.dumps(statistics),
            "visibility": visibility,
            "source": source.path.name,
            "footprint": json.dumps(source.footprint),
        }
        with connect(database_url) as conn:
            replaced = _check_name_free(conn, name, replace=replace)
            conn.execute("DELETE FROM twin.rasters WHERE name = %s", (name,))
            new = conn.execute(_INSERT, row).fetchone()
            assert new is not None
            conn.commit()
        os.replace(temporary, folder / f"{name}.tif")
    finally:
        temporary.unlink(missing_ok=True)
    notes = [f"nodata = {source.nodata:g}"] if source.nodata is not None else ["no nodata value"]
    return RasterReport(
        name=name,
        territory=territory_name,
        raster_id=int(new["id"]),
        path=folder / f"{name}.tif",
        band_count=source.band_count,
        dtype=source.dtype,
        crs=source.crs,
        width=source.width,
        height=source.height,
        nodata=source.nodata,
        statistics=statistics,
        replaced=replaced,
        cog_seconds=seconds,
        size_bytes=(folder / f"{name}.tif").stat().st_size,
        notes=notes,
    )
