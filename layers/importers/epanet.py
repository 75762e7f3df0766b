"""Import an EPANET water network (.inp, read by wntr) into a territory's water layers, in one transaction.

EPANET coordinates are often in a local frame. L-Town (BattLeDIM) spans about 2.7 × 1.5 km with x, y in metres
from an arbitrary origin (pipe lengths equal the straight-line distances between their nodes), so a user
places it on a real map by naming a metric CRS and an offset, e.g. in the south of Montpellier::

    hyperviseur import epanet L-TOWN.inp --crs 2154 --offset 769000,6277000 --territory Montpellier

(Lambert-93 metres; every coordinate becomes x + 769000, y + 6277000). Lengths, diameters, demands and
heads are stored in SI units as wntr gives them (m, m³/s), whatever the .inp's flow units.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from layers.importers._gis_validate import Progress, check_area_of_use, validate_territory_name
from layers.model import WATER_LAYERS, ImportReport
from layers.store import delete_layer, ensure_territory, store_layer
from twin.crs import WGS84, metric_crs_for, validate_epsg
from twin.db import connect
from twin.errors import ImportRejected, InvalidInput

_OFFSET = re.compile(
    r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*,\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"
)
_SECTION = re.compile(r"^\s*\[([A-Za-z_]+)\]")


def import_epanet(
    url: str,
    path: Path | str,
    *,
    crs: str | int,
    territory_name: str,
    offset: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import junctions, tanks, reservoirs, pipes, valves and pumps; replace the territory's water layers.

    Parameters
    ----------
    url : str
        PostgreSQL URL of the twin database.
    path : Path or str
        EPANET input file (.inp).
    crs : str or int
        EPSG code of the coordinates once ``offset`` is added, e.g. ``2154``.
    territory_name : str
        Territory to import into; created when missing.
    offset : str, optional
        ``"dx,dy"`` added to every node and vertex coordinate, in units of ``crs``; places a network drawn
        in a local frame (e.g. ``"769000,6277000"`` puts L-Town in Montpellier with ``crs=2154``).
    progress : callable, optional
        Receives one human-readable line per step.

    Returns
    -------
    ImportReport
        Features kept per water table.

    Raises
    ------
    InvalidInput
        Unknown CRS, malformed offset, file not found.
    ImportRejected
        The .inp cannot be parsed, is truncated, or its coordinates do not fall where ``crs`` is used.
        The database is unchanged.
    """
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    epsg = validate_epsg(crs)
    dx, dy = _validate_offset(offset)
    territory = validate_territory_name(territory_name)
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"file not found: {path}")

    say(f"reading {path.name} with wntr …")
    wn = _read_network(path)
    report = ImportReport()
    report.notes.append(
        f"{path.name}: flow units {wn.options.hydraulic.inpfile_units}, headloss "
        f"{wn.options.hydraulic.headloss}; stored in SI (m, m³/s)"
    )
    frames = _network_frames(wn, epsg, dx, dy)
    bounds = gpd.GeoSeries([g for f in frames.values() for g in f.geometry], crs=WGS84).total_bounds
    check_area_of_use(
        bounds,
        CRS.from_epsg(epsg),
        what=path.name,
        hint=" or the network is in a local frame: add --offset dx,dy to place it "
        "(e.g. --crs 2154 --offset 769000,6277000 puts it in Montpellier)",
    )
    say(", ".join(f"{len(f)} {layer.removeprefix('water_')}" for layer, f in frames.items()))

    with connect(url) as conn:
        row = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (territory,)).fetchone()
        if row:
            tid = int(row["id"])
        else:
            lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
            tid = ensure_territory(
                conn, name=territory, crs_epsg=metric_crs_for(lon, lat), source=f"epanet:{path.name}"
            )
        # Links reference nodes by name, so a network is replaced as a whole, never merged.
        for layer in reversed(WATER_LAYERS):
            delete_layer(conn, tid, layer)
        for layer, frame in frames.items():
            report.kept[layer] = store_layer(conn, tid, layer, frame)
    report.notes.append(f"imported {path.name} into {territory!r} in {time.perf_counter() - started:.1f} s")
    say(f"done: {path.name} → water network of {territory!r}")
    return report


def _validate_offset(offset: str | None) -> tuple[float, float]:
    """Parse ``"dx,dy"``; the empty offset is (0, 0)."""
    if offset is None or not str(offset).strip():
        return 0.0, 0.0
    match = _OFFSET.match(str(offset))
    if not match:
        raise InvalidInput(
            f"--offset {offset!r} is not 'dx,dy': give two numbers in CRS units separated by a comma, "
            "e.g. --offset 769000,6277000"
        )
    dx, dy = float(match.group(1)), float(match.group(2))
    if not (math.isfinite(dx) and math.isfinite(dy)):
        raise InvalidInput(f"--offset {offset!r} must be two finite numbers")
    return dx, dy


def _read_network(path: Path) -> Any:
    """Parse with wntr; any parse failure becomes ImportRejected with wntr's message in one line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    sections = {m.group(1).upper() for line in text.splitlines() if (m := _SECTION.match(line))}
    truncated = "" if "END" in sections else " (no [END] line: the file looks truncated)"
    import wntr  # slow to import (≈5 s): only when an EPANET file is really imported

    try:
        wn = wntr.network.WaterNetworkModel(str(path))
    except Exception as exc:  # wntr raises EpanetException, but also KeyError/AttributeError on bad files
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ImportRejected(
            f"{path.name} is not a valid EPANET network: wntr says {type(exc).__name__}: {message}{truncated}"
        ) from None
    if wn.num_nodes == 0:
        raise ImportRejected(
            f"{path.name} has no junction, tank or reservoir: not an EPANET network{truncated}"
        )
    # wntr silently puts nodes missing from [COORDINATES] at (0, 0): refuse rather than map them there.
    placed = _nodes_with_coordinates(text)
    unplaced = [name for name in wn.node_name_list if name not in placed]
    if unplaced:
        raise ImportRejected(
            f"{len(unplaced)} of {wn.num_nodes} nodes of {path.name} have no [COORDINATES] entry (e.g. "
            f"{', '.join(unplaced[:5])}): they cannot be placed on the map{truncated}"
        )
    return wn


def _nodes_with_coordinates(text: str) -> set[str]:
    names: set[str] = set()
    in_section = False
    for line in text.splitlines():
        section = _SECTION.match(line)
        if section:
            in_section = section.group(1).upper() == "COORDINATES"
            continue
        body = line.split(";", 1)[0].split()
        if in_section and len(body) >= 3:
            names.add(body[0])
    return names


def _network_frames(wn: Any, epsg: int, dx: float, dy: float) -> dict[str, gpd.GeoDataFrame]:
    """One EPSG:4326 frame per water table, columns as in LAYER_COLUMNS."""

    def xy(coordinates: Any) -> tuple[float, float]:
        return float(coordinates[0]) + dx, float(coordinates[1]) + dy

    def points(rows: list[dict[str, Any]], coords: list[tuple[float, float]]) -> gpd.GeoDataFrame:
        geometry = shapely.points(np.array(coords, dtype=float).reshape(-1, 2)) if coords else []
        return gpd.GeoDataFrame(rows, geometry=list(geometry), crs=epsg).to_crs(WGS84)

    def lines(links: list[tuple[str, Any]], row: Any) -> gpd.GeoDataFrame:
        rows, paths = [], []
        for name, link in links:
            rows.append(
                {
                    "name": name,
                    "start_node": link.start_node_name,
                    "end_node": link.end_node_name,
                    **row(link),
                }
            )
            vertices = [link.start_node.coordinates, *link.vertices, link.end_node.coordinates]
            paths.append([xy(c) for c in vertices])
        geometry = [shapely.LineString(p) for p in paths]
        return gpd.GeoDataFrame(rows, geometry=geometry, crs=epsg).to_crs(WGS84)

    junctions = list(wn.junctions())
    tanks = list(wn.tanks())
    reservoirs = list(wn.reservoirs())
    return {
        "water_junctions": points(
            [
                {
                    "name": n,
                    "elevation_m": j.elevation,
                    # A junction may carry several demand categories (L-Town: residential, commercial,
                    # industrial): their base values add up; patterns stay in the attributes.
                    "base_demand_m3_s": float(sum(d.base_value for d in j.demand_timeseries_list)),
                    "attributes": {
                        "demands": [
                            {"base_m3_s": d.base_value, "pattern": d.pattern_name, "category": d.category}
                            for d in j.demand_timeseries_list
                        ],
                        "emitter_coefficient": j.emitter_coefficient,
                        "tag": j.tag,
                    },
                }
                for n, j in junctions
            ],
            [xy(j.coordinates) for _, j in junctions],
        ),
        "water_tanks": points(
            [
                {
                    "name": n,
                    "elevation_m": t.elevation,
                    "init_level_m": t.init_level,
                    "min_level_m": t.min_level,
                    "max_level_m": t.max_level,
                    "diameter_m": t.diameter,
                    "attributes": {
                        "min_vol_m3": t.min_vol,
                        "vol_curve": t.vol_curve_name,
                        "overflow": t.overflow,
                        "tag": t.tag,
                    },
                }
                for n, t in tanks
            ],
            [xy(t.coordinates) for _, t in tanks],
        ),
        "water_reservoirs": points(
            [
                {
                    "name": n,
                    "base_head_m": r.base_head,
                    "attributes": {"head_pattern": r.head_pattern_name, "tag": r.tag},
                }
                for n, r in reservoirs
            ],
            [xy(r.coordinates) for _, r in reservoirs],
        ),
        "water_pipes": lines(
            list(wn.pipes()),
            lambda p: {
                "length_m": p.length,
                "diameter_m": p.diameter,
                "roughness": p.roughness,
                "status": _status(p.initial_status),
                "attributes": {
                    "minor_loss": p.minor_loss,
                    "check_valve": bool(p.check_valve),
                    "headloss": wn.options.hydraulic.headloss,
                    "tag": p.tag,
                },
            },
        ),
        "water_valves": lines(
            list(wn.valves()),
            lambda v: {
                "valve_type": v.valve_type,
                "diameter_m": v.diameter,
                "setting": v.initial_setting,
                "attributes": {"status": _status(v.initial_status), "minor_loss": v.minor_loss, "tag": v.tag},
            },
        ),
        "water_pumps": lines(
            list(wn.pumps()),
            lambda p: {
                "pump_type": p.pump_type,
                "attributes": {
                    "status": _status(p.initial_status),
                    "tag": p.tag,
                    "pump_curve": getattr(p, "pump_curve_name", None),
                    "power_kw": (p.power / 1000.0) if getattr(p, "power", None) is not None else None,
                    "speed": p.speed_timeseries.base_value,
                },
            },
        ),
    }


def _status(status: Any) -> str | None:
    """wntr's LinkStatus as EPANET spells it (Open, Closed, Active)."""
    if status is None:
        return None
    return getattr(status, "name", str(status))
