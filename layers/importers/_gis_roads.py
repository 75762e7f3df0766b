"""Turn street centre-lines into the directed road graph: nodes at snapped line ends, one arc per direction.

Montpellier's street centre-lines (``VilleMTP_MTP_FilaireVoies``) carry their traffic direction in
``SENS_CIRCU``; measured on the 2014 file (8,011 segments):

- ``DOUBLE SENS`` (5,995): two-way, two arcs;
- ``SENS UNIQUE`` (1,742): one-way **in the digitised direction**, one arc from the first to the last vertex.
  Where two one-way segments of the same street (``CODE_VOIE``) meet, 1,000 joins run end→start and only
  67 run end→end or start→start, so the digitised direction is the traffic direction;
- ``INTERDIT`` (41): closed to motor traffic, left out of the graph (reported as rejected, with their ids);
- ``FICTIF`` (18): virtual connectors across squares and car parks, kept two-way so the graph stays connected;
- empty (215): direction unknown, kept two-way (as OpenStreetMap assumes).

The 7,970 segments kept give 6,008 nodes and 14,198 arcs (2 × 6,228 + 1,742).

No value means "one-way against the digitised direction" in this file; ``-1``/``sens inverse`` are understood
for other sources.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from layers.importers._gis_fields import find_field, normalise, number_values, source_attributes, text_values
from layers.model import ImportReport
from twin.crs import WGS84
from twin.errors import ImportRejected

# Endpoints closer than this (in the territory's metric CRS) are one road node: centre-line files are
# digitised with sub-metre gaps at junctions, and no two distinct junctions are this close.
SNAP_TOLERANCE_M = 0.5
# Free-flow speeds when the source has none: 50 km/h is the French urban limit on main roads,
# 30 km/h the usual limit on residential streets.
MAIN_ROAD_SPEED_KPH = 50.0
LOCAL_ROAD_SPEED_KPH = 30.0

# Road types (Montpellier's TYPVOI abbreviations, their spelled-out forms, OSM highway classes) that are
# main roads, driven at 50 km/h; every other street gets 30 km/h.
_MAIN_ROAD_TYPES = {
    "av", "avenue", "bd", "boulevard", "rte", "route", "auto", "autoroute", "quai", "pont", "viad", "viaduc",
    "tun", "tunnel", "rdpt", "rond-point", "motorway", "trunk", "primary", "secondary", "tertiary",
}  # fmt: skip
_ONEWAY_FORWARD = {"sens unique", "sens direct", "unique", "yes", "true", "1", "ft", "forward", "oneway"}
_ONEWAY_REVERSE = {"-1", "reverse", "backward", "tf", "sens inverse", "inverse"}
_TWO_WAY = {"double sens", "double", "both", "no", "false", "0", "fictif", ""}
_CLOSED = {"interdit", "ferme", "closed", "no traffic"}


def road_graph_from_lines(
    metric: gpd.GeoDataFrame, report: ImportReport, *, snap_tolerance_m: float = SNAP_TOLERANCE_M
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Turn centre-lines into road nodes and directed arcs, in the frames store_road_graph wants.

    Line endpoints closer than ``snap_tolerance_m`` become one node; a two-way segment gives two arcs, a
    one-way segment one arc in its traffic direction; segments closed to traffic are rejected. Lengths are
    measured in ``metric``'s CRS; the speed comes from a speed field, else from the road type (50 km/h on
    main roads, stored with ``highway='tertiary'``, 30 km/h elsewhere, ``highway='residential'``).

    Parameters
    ----------
    metric : GeoDataFrame
        Validated line features in the territory's metric CRS, with a ``_feature_id`` column.
    report : ImportReport
        Receives the rejected segments (closed to traffic, shorter than the snapping).
    snap_tolerance_m : float, default 0.5
        Endpoints closer than this are one node.

    Returns
    -------
    (GeoDataFrame, GeoDataFrame)
        Nodes (``node_key``) and arcs (``source_key``, ``target_key``), both in EPSG:4326.
    """
    lines = metric.explode(index_parts=False)
    lines = lines.loc[lines.geom_type == "LineString"].copy()
    direction = _directions(lines, report)
    open_ = direction != "closed"
    for fid in lines.loc[~open_, "_feature_id"]:
        report.reject(
            "roads", fid, "closed to motor traffic (direction field says so): left out of the graph"
        )
    lines, direction = lines.loc[open_], direction[open_]
    if lines.empty:
        raise ImportRejected("no road segment open to traffic: the road graph would be empty")

    coords = [np.asarray(g.coords) for g in lines.geometry]
    ends = np.array([[c[0], c[-1]] for c in coords]).reshape(-1, 2)
    node_of_end, node_xy = _snap(ends, snap_tolerance_m)
    u, v = node_of_end[0::2], node_of_end[1::2]
    for i, c in enumerate(coords):  # make every arc start and end exactly on its node
        c[0], c[-1] = node_xy[u[i]], node_xy[v[i]]
    geoms = np.array([shapely.LineString(c) for c in coords], dtype=object)
    length_m = shapely.length(geoms)
    degenerate = (u == v) & (length_m < 2 * snap_tolerance_m)
    for fid in lines["_feature_id"].to_numpy()[degenerate]:
        report.reject("roads", fid, f"shorter than {2 * snap_tolerance_m} m: both ends snap to one node")
    ok = ~degenerate
    lines, direction, u, v, geoms, length_m = lines[ok], direction[ok], u[ok], v[ok], geoms[ok], length_m[ok]

    name = text_values(lines, find_field(lines, ("name", "nom", "lib_off", "libelle", "nom_voie", "nomvoi")))
    road_type = text_values(
        lines, find_field(lines, ("highway", "typvoi", "type_voie", "typevoie", "hierarchie", "classe"))
    )
    main = np.array([bool(t) and normalise(t) in _MAIN_ROAD_TYPES for t in road_type])
    speed_kph = number_values(
        lines, find_field(lines, ("maxspeed", "speed_kph", "vitesse", "vitesse_max", "vmax"))
    )
    speed_kph = np.where(
        np.isnan(speed_kph) | (speed_kph <= 0),
        np.where(main, MAIN_ROAD_SPEED_KPH, LOCAL_ROAD_SPEED_KPH),
        speed_kph,
    )
    highway = np.where(main, "tertiary", "residential").astype(object)
    attributes = source_attributes(lines)

    forward = direction != "reverse"
    backward = direction != "forward"
    geoms_4326 = gpd.GeoSeries(geoms, crs=metric.crs).to_crs(WGS84).to_numpy()
    arcs = []
    for mask, reverse in ((forward, False), (backward, True)):
        idx = np.flatnonzero(mask)
        arcs.append(
            pd.DataFrame(
                {
                    "source_key": (v if reverse else u)[idx],
                    "target_key": (u if reverse else v)[idx],
                    "source_id": lines["_feature_id"].to_numpy()[idx],
                    "name": name[idx],
                    "highway": highway[idx],
                    "oneway": direction[idx] != "both",
                    "reversed": reverse,
                    "maxspeed": None,
                    "lanes": None,
                    "length_m": length_m[idx],
                    "speed_kph": speed_kph[idx],
                    "travel_time_s": length_m[idx] / (speed_kph[idx] / 3.6),
                    "attributes": [attributes[i] for i in idx],
                    "geometry": shapely.reverse(geoms_4326[idx]) if reverse else geoms_4326[idx],
                }
            )
        )
    edges = gpd.GeoDataFrame(pd.concat(arcs, ignore_index=True), geometry="geometry", crs=WGS84)

    used = np.unique(np.concatenate([u, v]))
    street_count = np.bincount(np.concatenate([u, v]), minlength=len(node_xy))
    nodes = gpd.GeoDataFrame(
        {
            "node_key": used,
            "source_id": None,
            "street_count": street_count[used],
            "attributes": [{} for _ in used],
        },
        geometry=gpd.points_from_xy(node_xy[used, 0], node_xy[used, 1]),
        crs=metric.crs,
    ).to_crs(WGS84)
    return nodes, edges


def _directions(lines: gpd.GeoDataFrame, report: ImportReport) -> np.ndarray:
    """'both', 'forward' (digitised direction), 'reverse' or 'closed' per segment, from its direction."""
    column = find_field(lines, ("oneway", "sens_circu", "sens_circulation", "sens", "direction"))
    if column is None:
        report.notes.append("no traffic-direction field (oneway, SENS_CIRCU): every segment is two-way")
        return np.full(len(lines), "both", dtype=object)
    out = np.full(len(lines), "both", dtype=object)
    unknown: dict[str, int] = {}
    for i, value in enumerate(text_values(lines, column)):
        key = normalise(value) if value else ""
        if key in _ONEWAY_FORWARD:
            out[i] = "forward"
        elif key in _ONEWAY_REVERSE:
            out[i] = "reverse"
        elif key in _CLOSED:
            out[i] = "closed"
        elif key not in _TWO_WAY:
            unknown[value] = unknown.get(value, 0) + 1
    if unknown:
        report.notes.append(f"unknown {column} values taken as two-way: {unknown}")
    return out


def _snap(points: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster points within ``tolerance_m`` (transitively); return each point's node and node positions.

    A node sits on its cluster's first point, a real digitised endpoint, rather than on a mean no line
    passes through.
    """
    pairs = cKDTree(points).query_pairs(tolerance_m, output_type="ndarray")
    n = len(points)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    first = np.full(labels.max() + 1, n)
    np.minimum.at(first, labels, np.arange(n))
    return labels, points[first]
