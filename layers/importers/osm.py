"""Import an OpenStreetMap extract (or an osmnx place) as a territory: drivable road graph, buildings,
critical sites and street lamps, validated in memory and then written in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from layers.importers import _osm_tags as tagging
from layers.importers._osm_graph import (
    FRENCH_SPEEDS_KPH,
    MAX_SPEED_KPH,
    MIN_SPEED_KPH,
    GraphStats,
    edge_frame,
    finish_drive_graph,
    graph_from_paths,
    node_frame,
)
from layers.importers._osm_reader import Feature, OsmExtract, read_osm
from layers.importers._osm_restrictions import restrictions_on_graph
from layers.model import LAYER_COLUMNS, ImportReport, TerritoryData
from twin.crs import metric_crs_for, require_projected, validate_epsg
from twin.errors import ImportRejected, InvalidInput

Progress = Callable[[str], Any] | None

# A PBF file starts with a 4-byte length, then a BlobHeader whose field 1 (tag 0x0A, length 9) is "OSMHeader".
_PBF_SIGNATURE = b"\x0a\x09OSMHeader"
_XML_SUFFIXES = (".osm", ".xml")


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def validate_osm_file(path: Path | str) -> Path:
    """Return ``path`` if it is a readable OSM PBF or XML file, else raise a domain error naming it.

    Only the header is checked here; corruption further in (a truncated download) is caught while
    reading, still before anything is written.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"OSM file not found: {path}")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file; give an .osm.pbf extract")
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if not head:
        raise ImportRejected(f"{path} is empty; download the extract again")
    name = path.name.lower()
    if name.endswith(".pbf"):
        if head[4:15] != _PBF_SIGNATURE:
            raise ImportRejected(
                f"{path} is not an OSM PBF file (no OSMHeader block at its start, "
                f"it begins with {head[:16]!r}); "
                "give an .osm.pbf extract such as those of download.geofabrik.de"
            )
    elif name.endswith(_XML_SUFFIXES):
        if not head.lstrip().startswith((b"<?xml", b"<osm")):
            raise ImportRejected(f"{path} is not an OSM XML file (it begins with {head[:16]!r})")
    else:
        raise ImportRejected(f"{path}: unsupported file type; give an .osm.pbf (or .osm XML) extract")
    return path


def _validate_crs(crs: str | int | None) -> int | None:
    return None if crs is None else require_projected(validate_epsg(crs))


def territory_from_osm_pbf(
    path: Path, *, name: str | None = None, crs: str | int | None = None, progress: Progress = None
) -> TerritoryData:
    """Read an OSM extract into a TerritoryData, touching no database.

    Parameters
    ----------
    path
        An ``.osm.pbf`` (or ``.osm`` XML) extract.
    name
        Territory name; default from the file name ("monaco-latest.osm.pbf" → "Monaco").
    crs
        Projected CRS for lengths and areas (EPSG code); default Lambert-93 in metropolitan France,
        else the local UTM zone.
    progress
        Called with one line of text per phase.

    Returns
    -------
    TerritoryData
        road_nodes, road_edges, buildings, critical_sites and street_lights in EPSG:4326, with the
        report of what was kept, repaired and rejected.

    Raises
    ------
    InvalidInput
        Missing file, unknown or geographic CRS, or a CRS that distorts lengths.
    ImportRejected
        Not an OSM file, a corrupt or truncated one, or no drivable street in it.
    """
    forced_epsg = _validate_crs(crs)
    path = validate_osm_file(path)
    _say(progress, f"reading {path.name} ({path.stat().st_size:,} bytes) with pyosmium")
    try:
        extract = read_osm(path)
    except RuntimeError as exc:
        raise ImportRejected(
            f"{path} could not be read as OSM data ({exc}); "
            "the file is corrupt or truncated, download it again"
        ) from None
    counts = extract.counts
    _say(
        progress,
        f"read {counts['nodes']:,} nodes, {counts['ways']:,} ways ({counts['highway_ways']:,} highway, "
        f"{counts['building_ways']:,} building), {counts['relations']:,} relations",
    )
    raw_graph = graph_from_paths(extract.drive_paths, extract.node_xy, extract.node_tags)
    return _assemble(
        name=name or tagging.territory_name_from_path(path),
        source=f"OpenStreetMap extract {path.name}",
        raw_graph=raw_graph,
        extract=extract,
        forced_epsg=forced_epsg,
        progress=progress,
    )


def _assemble(
    *,
    name: str,
    source: str,
    raw_graph: nx.MultiDiGraph,
    extract: OsmExtract,
    forced_epsg: int | None,
    progress: Progress,
) -> TerritoryData:
    """Turn what was read into layers, computing every metric value in the territory's projected CRS."""
    report = ImportReport()
    epsg, why = _choose_epsg(raw_graph, forced_epsg)
    _say(
        progress,
        f"building the drivable graph from {raw_graph.number_of_edges():,} arcs (lengths in EPSG:{epsg})",
    )
    graph, stats = finish_drive_graph(raw_graph, crs_epsg=epsg)
    layers = {
        "road_nodes": node_frame(graph, extract.node_tags),
        "road_edges": edge_frame(graph, extract.way_tags),
    }
    _say(progress, f"graph: {len(layers['road_nodes']):,} nodes, {len(layers['road_edges']):,} arcs")
    layers["buildings"] = _buildings_frame(
        extract.buildings.values(), extract.unassembled_buildings(), epsg=epsg, report=report
    )
    layers["critical_sites"] = _sites_frame(extract.sites.values())
    layers["street_lights"] = _lights_frame(extract.lights)
    for layer, frame in layers.items():
        report.kept[layer] = len(frame)
    _say(
        progress,
        f"{len(layers['buildings']):,} buildings, {len(layers['critical_sites']):,} critical sites, "
        f"{len(layers['street_lights']):,} street lights",
    )
    report.notes.extend(_notes(extract, stats, layers, epsg=epsg, why=why))
    restrictions, dropped = restrictions_on_graph(extract.turn_restrictions, extract.way_tags, graph.nodes)
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(extract.restrictions_skipped.items()))
    report.notes.append(
        f"turn restrictions: {len(restrictions):,} kept (no_*/only_*, from way, via node, to way); "
        f"{dropped:,} on ways or nodes outside the drivable graph"
        + (f"; skipped: {skipped}" if skipped else "")
    )
    return TerritoryData(
        name=name,
        crs_epsg=epsg,
        source=source,
        boundary=_boundary(layers),
        layers=layers,
        report=report,
        turn_restrictions=restrictions,
    )


def _choose_epsg(graph: nx.MultiDiGraph, forced_epsg: int | None) -> tuple[int, str]:
    if forced_epsg is not None:
        return forced_epsg, "given"
    if graph.number_of_nodes() == 0:
        raise ImportRejected("no drivable street in the data (osmnx 'drive' filter kept no way)")
    xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)])
    lon, lat = np.median(xy, axis=0)
    # The median of the street nodes, not the file's bbox: extracts often carry a far-flung
    # maritime or administrative boundary (Monaco's reaches 7.2–7.6° E).
    return metric_crs_for(
        float(lon), float(lat)
    ), f"chosen for the street network centred on {lon:.3f}, {lat:.3f}"


_INTEGER_COLUMNS = ("levels", "residents_est", "street_count")


def _frame(rows: list[dict[str, Any]], layer: str, geometries: list[BaseGeometry]) -> gpd.GeoDataFrame:
    columns = list(LAYER_COLUMNS[layer])
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry=geometries, crs=4326)
    for column in _INTEGER_COLUMNS:
        if column in frame.columns:
            # pandas turns an int column with a gap into floats ("8.0"), which an integer column refuses.
            frame[column] = pd.Series([row.get(column) for row in rows], index=frame.index, dtype=object)
    return frame


def _polygonal(geometry: BaseGeometry) -> tuple[MultiPolygon | None, str | None]:
    """The footprint as a valid MultiPolygon, with why it needed repair; None if nothing is left."""
    if geometry.is_empty:
        return None, "empty geometry"
    reason = None
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        geometry = shapely.make_valid(geometry)
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [poly for part in parts for poly in shapely.get_parts(part)]
    if not polygons:
        return None, f"no polygon left after repair ({reason})"
    footprint = MultiPolygon(polygons)
    if not footprint.is_valid:  # touching parts from make_valid: union them
        footprint = shapely.unary_union(polygons)
        footprint = footprint if footprint.geom_type == "MultiPolygon" else MultiPolygon([footprint])
    if footprint.area <= 0:
        return None, f"zero area after repair ({reason})"
    return footprint, reason


def _buildings_frame(
    features: Iterable[Feature], unassembled: dict[str, str], *, epsg: int, report: ImportReport
) -> gpd.GeoDataFrame:
    for source_id, reason in sorted(unassembled.items()):
        report.reject("buildings", source_id, reason)
    kept: list[tuple[Feature, MultiPolygon]] = []
    for feature in features:
        footprint, why = _polygonal(feature.geometry)
        if footprint is None:
            report.reject("buildings", feature.source_id, why or "invalid geometry")
            continue
        if why:
            report.repair("buildings", feature.source_id, f"made valid ({why})")
        kept.append((feature, footprint))
    areas_m2 = gpd.GeoSeries([g for _, g in kept], crs=4326).to_crs(epsg).area.to_numpy()
    rows = [_building_row(f, float(a)) for (f, _), a in zip(kept, areas_m2, strict=True)]
    return _frame(rows, "buildings", [g for _, g in kept])


def _building_row(feature: Feature, area_m2: float) -> dict[str, Any]:
    tags = feature.tags
    height_m = tagging.parse_height_m(tags.get("height"))
    levels = tagging.parse_levels(tags.get("building:levels"))
    return {
        "source_id": feature.source_id,
        "name": tags.get("name"),
        "use": tagging.building_use(tags),
        "height_m": height_m,
        "levels": levels,
        "area_m2": area_m2,
        "residents_est": tagging.residents_estimate(tags, area_m2, levels, height_m),
        "attributes": tags,
    }


def _sites_frame(features: Iterable[Feature]) -> gpd.GeoDataFrame:
    features = sorted(features, key=lambda f: f.source_id)
    rows = [
        {
            "source_id": f.source_id,
            "name": f.tags.get("name"),
            "kind": tagging.critical_kind(f.tags),
            "attributes": f.tags,
        }
        for f in features
    ]
    return _frame(rows, "critical_sites", [f.geometry for f in features])


def _lights_frame(features: list[Feature]) -> gpd.GeoDataFrame:
    rows = [
        {
            "source_id": f.source_id,
            "lamp_type": tagging.lamp_type(f.tags),
            "power_w": tagging.lamp_power_w(f.tags),
            "attributes": f.tags,
        }
        for f in features
    ]
    return _frame(rows, "street_lights", [f.geometry for f in features])


def _boundary(layers: dict[str, gpd.GeoDataFrame]) -> MultiPolygon | None:
    """Convex hull of everything imported: the data's extent, not an administrative border."""
    coords = [shapely.get_coordinates(frame.geometry.to_numpy()) for frame in layers.values() if len(frame)]
    if not coords:
        return None
    hull = shapely.MultiPoint(np.concatenate(coords)).convex_hull
    return MultiPolygon([hull]) if hull.geom_type == "Polygon" else None


def _notes(
    extract: OsmExtract, stats: GraphStats, layers: dict[str, gpd.GeoDataFrame], *, epsg: int, why: str
) -> list[str]:
    counts = extract.counts
    nodes, edges = layers["road_nodes"], layers["road_edges"]
    buildings = layers["buildings"]
    kinds = Counter(layers["critical_sites"]["kind"])
    notes = [
        f"roads: {counts['highway_ways']:,} highway ways in the data → {counts['drive_ways']:,} pass osmnx's "
        "'drive' filter (footways, cycleways, paths, steps, pedestrian streets, service/parking aisles, "
        "private "
        f"and construction ways excluded) → {stats.raw_arcs:,} arcs between {stats.raw_nodes:,} nodes → "
        f"simplified by osmnx to {stats.simplified_arcs:,} arcs / {stats.simplified_nodes:,} nodes → "
        f"{len(edges):,} arcs / {len(nodes):,} nodes kept in the largest connected network (osmnx's default; "
        f"{stats.strongly_connected_nodes:,} of its nodes are mutually reachable by car, the others are "
        "dead ends of one-way streets cut by the extract's edge)",
        f"speeds: maxspeed on {stats.speeds_from_maxspeed:,} arcs, "
        "the others get the French default of their "
        f"class ({', '.join(f'{k} {v:g}' for k, v in list(FRENCH_SPEEDS_KPH.items())[:6])}… km/h); "
        f"{stats.speeds_clamped} clamped into {MIN_SPEED_KPH:g}–{MAX_SPEED_KPH:g} km/h",
        f"metric CRS: EPSG:{epsg} ({why}); its lengths differ from osmnx's great-circle ones by "
        f"{100 * (stats.length_ratio - 1):+.3f}% in total",
        f"buildings: {len(buildings):,} footprints kept ({int(buildings['residents_est'].sum()):,} estimated "
        "residents: residential floor area / 40 m², storeys from building:levels, else height / 3 m, "
        "else 1 for houses and 3 otherwise)",
        "critical sites: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"),
        f"street lights: {len(layers['street_lights']):,} highway=street_lamp nodes",
        "boundary: convex hull of the imported features (not an administrative border)",
    ]
    if counts["drive_ways_clipped"]:
        notes.append(
            f"{counts['drive_ways_clipped']:,} drivable ways are cut at the extract's edge (nodes missing); "
            "their parts inside were kept"
        )
    return notes


def territory_from_place(
    place: str, *, name: str | None = None, crs: str | int | None = None, progress: Progress = None
) -> TerritoryData:
    """Like :func:`territory_from_osm_pbf`, downloading ``place`` through osmnx (needs network access).

    Raises
    ------
    ImportRejected
        The OSM services cannot be reached or know no such place.
    """
    from layers.importers._osm_place import fetch_place

    forced_epsg = _validate_crs(crs)
    _say(progress, f"downloading the drivable streets and features of {place!r} through osmnx (network)")
    raw_graph, extract = fetch_place(place)
    return _assemble(
        name=name or place.split(",")[0].strip(),
        source=f"OpenStreetMap via osmnx, place {place!r}",
        raw_graph=raw_graph,
        extract=extract,
        forced_epsg=forced_epsg,
        progress=progress,
    )


# --- the import itself --------------------------------------------------------------------------------


def import_osm(
    url: str,
    path: Path | None,
    *,
    place: str | None = None,
    territory_name: str | None = None,
    crs: str | int | None = None,
    progress: Progress = None,
) -> ImportReport:
    """Import an OSM extract (or an osmnx place) as a territory, replacing one of the same name.

    Everything is read and validated in memory first; the database is written in one transaction,
    so a bad file or a failure while writing leaves it exactly as it was.

    Parameters
    ----------
    url
        PostgreSQL URL of a migrated database.
    path
        The ``.osm.pbf`` extract; None when ``place`` is given.
    place
        A place name for osmnx (e.g. "Sète, France"); needs network access.
    territory_name
        Default: from the file name, or the first part of the place name.
    crs
        Projected CRS for metric values; default chosen from the territory's position.
    progress
        Called with one line of text per phase.

    Returns
    -------
    ImportReport
        Kept, repaired and rejected features per layer, with notes.
    """
    from layers.store import store_territory
    from twin.db import connect

    if (path is None) == (place is None):
        raise InvalidInput("give either an OSM file or a place name, not both and not neither")
    if path is not None:
        data = territory_from_osm_pbf(Path(path), name=territory_name, crs=crs, progress=progress)
    else:
        assert place is not None
        data = territory_from_place(place, name=territory_name, crs=crs, progress=progress)
    _say(progress, f"writing territory {data.name!r} in one transaction")
    with connect(url) as conn, conn.transaction():
        store_territory(conn, data)
    _say(progress, f"imported {data.name!r} (CRS EPSG:{data.crs_epsg})")
    return data.report
