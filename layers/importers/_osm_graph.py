"""The drivable road graph, built from OSM ways with osmnx's own rules and finished by osmnx itself."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby, pairwise
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
from shapely.geometry import Point

from twin.errors import ImportRejected, InvalidInput

# osmnx 2.1's "drive" network filter (osmnx._overpass._get_network_filter("drive") with the default
# settings.default_access), copied verbatim so that our PBF import keeps exactly the streets
# ox.graph_from_place(..., network_type="drive") keeps; a test fails if osmnx changes it.
DRIVE_FILTER = (
    '["highway"]["area"!~"yes"]["access"!~"private"]'
    '["highway"!~"abandoned|bridleway|bus_guideway|construction|corridor|'
    "cycleway|elevator|escalator|footway|no|path|pedestrian|planned|platform|"
    'proposed|raceway|razed|rest_area|service|services|steps|track"]'
    '["motor_vehicle"!~"no"]["motorcar"!~"no"]'
    '["service"!~"alley|driveway|emergency_access|parking|parking_aisle|private"]'
)
_CLAUSE = re.compile(r'\["([^"]+)"(?:(!?~)"([^"]*)")?\]')

# osmnx's _add_paths: values of "oneway" meaning one-way, and those meaning against the node order.
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
_REVERSED_VALUES = frozenset({"-1", "reverse", "T"})

# Speeds (km/h) for arcs without a usable maxspeed, by highway class: the French Code de la route
# (motorway 130, dual carriageway 110, rural roads 80 since 2018) and urban practice (50 in built-up
# areas, 30 in most residential streets of the cities we serve, 20 in zones de rencontre).
FRENCH_SPEEDS_KPH: dict[str, float] = {
    "motorway": 130,
    "motorway_link": 70,
    "trunk": 110,
    "trunk_link": 70,
    "primary": 80,
    "primary_link": 50,
    "secondary": 70,
    "secondary_link": 50,
    "tertiary": 50,
    "tertiary_link": 40,
    "unclassified": 50,
    "road": 50,
    "residential": 30,
    "living_street": 20,
    "service": 20,
    "busway": 30,
}
FALLBACK_SPEED_KPH = 30.0
# Speeds outside this range come from mapping errors (maxspeed=5 on a ramp, typos) or are not legal
# in France; routing on them would be wrong, so they are clamped and counted in the report.
MIN_SPEED_KPH, MAX_SPEED_KPH = 5.0, 130.0
# Projected lengths must agree with osmnx's great-circle lengths; a CRS that distorts more than this
# over the territory (e.g. Web Mercator away from the equator) is refused.
MAX_LENGTH_DISTORTION = 0.005
_HIGHWAY_RANK = {name: rank for rank, name in enumerate(FRENCH_SPEEDS_KPH)}


def parse_overpass_filter(text: str) -> tuple[tuple[str, str | None, re.Pattern[str] | None], ...]:
    """Split an Overpass tag filter into ``(key, operator, regex)`` clauses.

    Examples
    --------
    >>> [(k, op) for k, op, _ in parse_overpass_filter('["highway"]["area"!~"yes"]')]
    [('highway', None), ('area', '!~')]
    """
    return tuple(
        (key, op or None, re.compile(pattern) if op else None) for key, op, pattern in _CLAUSE.findall(text)
    )


_DRIVE_CLAUSES = parse_overpass_filter(DRIVE_FILTER)


def is_drivable(tags: Mapping[str, str]) -> bool:
    """Whether a way passes osmnx's "drive" filter, with Overpass semantics.

    ``[k]`` needs the key; ``[k!~re]`` passes when the key is missing or its value does not match
    (unanchored, case-sensitive, as in Overpass).

    Examples
    --------
    >>> is_drivable({"highway": "residential"})
    True
    >>> is_drivable({"highway": "service", "service": "parking_aisle"})
    False
    >>> is_drivable({"highway": "primary", "access": "private"})
    False
    """
    for key, op, pattern in _DRIVE_CLAUSES:
        value = tags.get(key)
        if op is None and value is None:
            return False
        if op == "!~" and value is not None and pattern is not None and pattern.search(value):
            return False
        if op == "~" and (value is None or pattern is None or not pattern.search(value)):
            return False
    return True


@dataclass
class WayPath:
    """A drivable OSM way (or the part of it inside the extract): id, node ids, tags."""

    osmid: int
    node_ids: list[int]
    tags: dict[str, str]


@dataclass
class GraphStats:
    """Counts the report explains the graph with."""

    raw_nodes: int = 0
    raw_arcs: int = 0
    simplified_nodes: int = 0
    simplified_arcs: int = 0
    strongly_connected_nodes: int = 0
    speeds_clamped: int = 0
    speeds_from_maxspeed: int = 0
    length_ratio: float = 1.0
    notes: list[str] = field(default_factory=list)


def graph_from_paths(
    paths: Iterable[WayPath],
    node_xy: Mapping[int, tuple[float, float]],
    node_tags: Mapping[int, Mapping[str, str]],
) -> nx.MultiDiGraph:
    """An unsimplified osmnx-style MultiDiGraph (as osmnx's ``_create_graph`` builds from Overpass).

    Nodes carry ``x``, ``y`` and osmnx's useful node tags; each way gives arcs along its node order
    with osmnx's useful way tags, ``oneway``, ``reversed`` and great-circle ``length``; two-way
    streets get the reverse arcs too.
    """
    graph = nx.MultiDiGraph(crs="epsg:4326", created_with=f"Hyperviseur OSM import, OSMnx {ox.__version__}")
    for path in paths:
        _add_path(graph, path, node_xy, node_tags)
    if graph.number_of_edges():
        graph = ox.distance.add_edge_lengths(graph)
    return graph


def _add_path(
    graph: nx.MultiDiGraph,
    path: WayPath,
    node_xy: Mapping[int, tuple[float, float]],
    node_tags: Mapping[int, Mapping[str, str]],
) -> None:
    nodes = [key for key, _ in groupby(path.node_ids)]
    if len(nodes) < 2:
        return
    attrs: dict[str, Any] = {"osmid": path.osmid}
    attrs.update({tag: path.tags[tag] for tag in ox.settings.useful_tags_way if tag in path.tags})
    oneway = attrs.get("oneway") in _ONEWAY_VALUES or attrs.get("junction") == "roundabout"
    if oneway and attrs.get("oneway") in _REVERSED_VALUES:
        nodes.reverse()
    attrs["oneway"] = oneway
    for node in nodes:
        if node not in graph:
            x, y = node_xy[node]
            tags = node_tags.get(node, {})
            graph.add_node(node, x=x, y=y, **{t: tags[t] for t in ox.settings.useful_tags_node if t in tags})
    arcs = list(pairwise(nodes))
    graph.add_edges_from(arcs, **attrs, reversed=False)
    if not oneway:
        graph.add_edges_from([(v, u) for u, v in arcs], **attrs, reversed=True)


def finish_drive_graph(graph: nx.MultiDiGraph, *, crs_epsg: int) -> tuple[nx.MultiDiGraph, GraphStats]:
    """Simplify, keep the largest connected part, count streets, set metric lengths and speeds.

    Every step is osmnx's own (``simplify_graph``, ``largest_component``, ``count_streets_per_node``,
    ``add_edge_speeds``, ``add_edge_travel_times``). Afterwards each arc's ``length`` is in metres
    measured in ``crs_epsg`` (osmnx's great-circle value stays as ``length_great_circle_m``) and its
    ``travel_time`` in seconds derives from that length.
    """
    stats = GraphStats(raw_nodes=graph.number_of_nodes(), raw_arcs=graph.number_of_edges())
    if stats.raw_arcs == 0:
        raise ImportRejected("no drivable street in the data (osmnx 'drive' filter kept no way)")
    simplified = ox.simplify_graph(graph)
    stats.simplified_nodes, stats.simplified_arcs = simplified.number_of_nodes(), simplified.number_of_edges()
    street_counts = ox.stats.count_streets_per_node(simplified)
    # osmnx's own default (retain_all=False): the largest *weakly* connected component. A strongly
    # connected core would drop every street a clipped extract cuts (80 % of a small one); routing
    # reports unreachable pairs instead, and the report says how much is strongly connected.
    core = ox.truncate.largest_component(simplified, strongly=False)
    stats.strongly_connected_nodes = max((len(c) for c in nx.strongly_connected_components(core)), default=0)
    nx.set_node_attributes(core, {n: street_counts[n] for n in core.nodes}, name="street_count")
    _order_lists(core)
    _set_speeds(core, stats)
    _set_metric_lengths(core, crs_epsg, stats)
    core = ox.routing.add_edge_travel_times(core)
    return core, stats


def _order_lists(graph: nx.MultiDiGraph) -> None:
    """Make merged attributes deterministic: osmnx keeps ``list(set(...))``, whose order varies by run.

    The most important highway class comes first, since osmnx's speed imputation uses the first one.
    """
    for _, _, data in graph.edges(data=True):
        for attr, value in data.items():
            if isinstance(value, list):
                if attr == "highway":
                    data[attr] = sorted(value, key=lambda h: (_HIGHWAY_RANK.get(h, len(_HIGHWAY_RANK)), h))
                else:
                    data[attr] = sorted(value, key=str)


def _set_speeds(graph: nx.MultiDiGraph, stats: GraphStats) -> None:
    stats.speeds_from_maxspeed = sum(1 for *_, m in graph.edges(data="maxspeed") if m is not None)
    ox.routing.add_edge_speeds(graph, hwy_speeds=FRENCH_SPEEDS_KPH, fallback=FALLBACK_SPEED_KPH)
    for _, _, data in graph.edges(data=True):
        speed_kph = float(data["speed_kph"])
        clamped = min(max(speed_kph, MIN_SPEED_KPH), MAX_SPEED_KPH)
        if clamped != speed_kph or not np.isfinite(speed_kph):
            stats.speeds_clamped += 1
            data["speed_kph"] = clamped if np.isfinite(speed_kph) else FALLBACK_SPEED_KPH


def _set_metric_lengths(graph: nx.MultiDiGraph, crs_epsg: int, stats: GraphStats) -> None:
    edges = ox.convert.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True)
    length_m = edges.geometry.to_crs(crs_epsg).length
    great_circle_m = edges["length"].astype(float)
    stats.length_ratio = float(length_m.sum() / great_circle_m.sum())
    if abs(stats.length_ratio - 1.0) > MAX_LENGTH_DISTORTION:
        raise InvalidInput(
            f"EPSG:{crs_epsg} distorts lengths by {100 * (stats.length_ratio - 1):+.1f}% over this territory "
            f"(more than {100 * MAX_LENGTH_DISTORTION:.1f}%); use the local projected CRS "
            "(Lambert-93 2154 in metropolitan France, else the UTM zone) or leave --crs unset"
        )
    for (u, v, k), metres, geometry, gc_m in zip(
        edges.index, length_m.to_numpy(), edges.geometry.to_numpy(), great_circle_m.to_numpy(), strict=True
    ):
        data = graph.edges[u, v, k]
        data["length_great_circle_m"] = float(gc_m)
        data["length"] = float(metres)
        data["geometry"] = geometry


def node_frame(graph: nx.MultiDiGraph, node_tags: Mapping[int, Mapping[str, str]]) -> gpd.GeoDataFrame:
    """road_nodes rows: ``node_key`` is the OSM node id; attributes are the node's OSM tags."""
    keys = list(graph.nodes)
    return gpd.GeoDataFrame(
        {
            "node_key": np.asarray(keys, dtype=np.int64),
            "source_id": [f"node/{n}" for n in keys],
            "street_count": [int(graph.nodes[n].get("street_count", 0)) for n in keys],
            "attributes": [dict(node_tags.get(n, {})) for n in keys],
        },
        geometry=[Point(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in keys],
        crs=4326,
    )


def edge_frame(graph: nx.MultiDiGraph, way_tags: Mapping[int, Mapping[str, str]]) -> gpd.GeoDataFrame:
    """road_edges rows, one per directed arc, in the columns of LAYER_COLUMNS["road_edges"]."""
    rows = [_edge_row(u, v, data, way_tags) for u, v, data in graph.edges(data=True)]
    geometry = [row.pop("geometry") for row in rows]
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=4326)


def _edge_row(
    u: int, v: int, data: Mapping[str, Any], way_tags: Mapping[int, Mapping[str, str]]
) -> dict[str, Any]:
    osmids = sorted(_as_list(data["osmid"]))
    attributes: dict[str, Any] = dict(way_tags.get(osmids[0], {}))
    if len(osmids) > 1:
        # A simplified arc may span several OSM ways; keep every way's tags, not only the first's.
        attributes["merged_ways"] = {str(i): dict(way_tags.get(i, {})) for i in osmids[1:]}
    return {
        "source_key": u,
        "target_key": v,
        "source_id": "way/" + ",".join(str(i) for i in osmids),
        "name": _joined(data.get("name"), "; "),
        "highway": _as_list(data["highway"])[0],
        "oneway": any(_as_list(data["oneway"])),
        # reversed: the arc runs against the OSM way's node order on every way it spans.
        "reversed": all(_as_list(data["reversed"])),
        "maxspeed": _joined(data.get("maxspeed"), ";"),
        "lanes": _joined(data.get("lanes"), ";"),
        "length_m": float(data["length"]),
        "speed_kph": float(data["speed_kph"]),
        "travel_time_s": float(data["travel_time"]),
        "attributes": attributes,
        "geometry": data["geometry"],
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _joined(value: Any, sep: str) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return sep.join(str(v) for v in _as_list(value))
