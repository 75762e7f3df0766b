"""Fetch a place's drivable streets and features through osmnx's online queries (network needed)."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx

from layers.importers import _osm_tags as tagging
from layers.importers._osm_reader import Feature, OsmExtract, feature_from_tags
from twin.errors import ImportRejected

_PLACE_FEATURE_TAGS: dict[str, bool | str | list[str]] = {
    "building": True,
    "amenity": [
        "hospital",
        "clinic",
        "school",
        "kindergarten",
        "fire_station",
        "police",
        "townhall",
        "pharmacy",
        "nursing_home",
        "social_facility",
        "refugee_site",
    ],
    "healthcare": ["hospital", "clinic", "pharmacy"],
    "social_facility": ["nursing_home", "shelter"],
    "man_made": ["water_works", "water_tower"],
    "power": ["substation"],
    "highway": ["street_lamp"],
}


def fetch_place(place: str) -> tuple[nx.MultiDiGraph, OsmExtract]:
    """The unsimplified 'drive' graph and the features of ``place``, as osmnx downloads them.

    Raises
    ------
    ImportRejected
        The OSM services cannot be reached, or osmnx finds no such place or no data in it.
    """
    import osmnx as ox
    import requests

    try:
        raw_graph = ox.graph_from_place(place, network_type="drive", simplify=False, retain_all=True)
        features = ox.features_from_place(place, tags=_PLACE_FEATURE_TAGS)
    except requests.RequestException as exc:
        raise ImportRejected(
            f"cannot reach the OpenStreetMap services to fetch {place!r} ({type(exc).__name__}); "
            "--place needs network access: import a downloaded .osm.pbf extract instead"
        ) from None
    except (
        ox._errors.InsufficientResponseError,
        ox._errors.ResponseStatusCodeError,
        TypeError,
        ValueError,
    ) as exc:
        raise ImportRejected(f"osmnx could not fetch {place!r}: {exc}") from None
    return raw_graph, _extract_from_osmnx(raw_graph, features)


def _extract_from_osmnx(graph: nx.MultiDiGraph, features: gpd.GeoDataFrame) -> OsmExtract:
    """An OsmExtract from osmnx's graph (tags limited to osmnx's useful tags) and features frame."""
    extract = OsmExtract()
    for _, _, data in graph.edges(data=True):
        for osmid in data["osmid"] if isinstance(data["osmid"], list) else [data["osmid"]]:
            extract.way_tags.setdefault(osmid, {k: str(v) for k, v in data.items() if isinstance(v, str)})
    extract.counts["highway_ways"] = extract.counts["drive_ways"] = len(extract.way_tags)
    for (element, osmid), row in features.iterrows():
        feature = feature_from_tags(
            f"{element}/{osmid}", row.drop(labels=["nodes", "ways"], errors="ignore"), row.geometry
        )
        tags = feature.tags
        if tags.get("building", "no") != "no" and feature.geometry.geom_type in ("Polygon", "MultiPolygon"):
            extract.buildings[feature.source_id] = feature
        if tagging.critical_kind(tags):
            point = (
                feature.geometry
                if feature.geometry.geom_type == "Point"
                else feature.geometry.representative_point()
            )
            extract.sites[feature.source_id] = Feature(feature.source_id, tags, point)
        if tags.get("highway") == "street_lamp" and feature.geometry.geom_type == "Point":
            extract.lights.append(feature)
    return extract
