"""One streaming pass over an OSM file with pyosmium, collecting what the OSM importer keeps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium
import shapely
from shapely.geometry.base import BaseGeometry

from layers.importers._osm_graph import WayPath, is_drivable
from layers.importers._osm_restrictions import turn_restriction_from_relation
from layers.importers._osm_tags import CRITICAL_KEYS, critical_kind

# Relation types libosmium assembles into areas.
_AREA_RELATION_TYPES = ("multipolygon", "boundary")


@dataclass
class Feature:
    """An OSM object kept for a point or polygon layer: ``source_id`` like "way/123", tags, WGS84 geometry."""

    source_id: str
    tags: dict[str, str]
    geometry: BaseGeometry


@dataclass
class OsmExtract:
    """Everything read from the file, before any geometry is repaired or any length computed."""

    drive_paths: list[WayPath] = field(default_factory=list)
    node_xy: dict[int, tuple[float, float]] = field(default_factory=dict)
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    way_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    buildings: dict[str, Feature] = field(default_factory=dict)
    building_expected: dict[str, str] = field(default_factory=dict)
    building_rejects: dict[str, str] = field(default_factory=dict)
    sites: dict[str, Feature] = field(default_factory=dict)
    lights: list[Feature] = field(default_factory=list)
    turn_restrictions: list[dict[str, Any]] = field(default_factory=list)
    restrictions_skipped: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)

    def unassembled_buildings(self) -> dict[str, str]:
        """Buildings whose polygon libosmium could not build, with why (plus those refused upfront)."""
        missing = {sid: why for sid, why in self.building_expected.items() if sid not in self.buildings}
        return {**self.building_rejects, **missing}


def read_osm(path: Path) -> OsmExtract:
    """Read roads, buildings, critical sites and street lamps from an OSM PBF/XML file in one pass.

    Raises whatever pyosmium raises on a corrupt file (RuntimeError); the caller turns it into a
    domain error naming the file.
    """
    extract = OsmExtract()
    wkb = osmium.geom.WKBFactory()
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        # Only relations with these keys become areas; every closed way does anyway.
        .with_areas(osmium.filter.KeyFilter("building", *CRITICAL_KEYS))
    )
    # The stubs type items as OSMEntity, a union that includes Changeset (no is_*() methods).
    for obj in processor:
        if obj.is_area():  # type: ignore[union-attr]  # pyosmium stub: Changeset
            _on_area(extract, obj, wkb)
        elif obj.is_node():  # type: ignore[union-attr]  # pyosmium stub: Changeset
            _on_node(extract, obj)
        elif obj.is_way():  # type: ignore[union-attr]  # pyosmium stub: Changeset
            _on_way(extract, obj, wkb)
        elif obj.is_relation():  # type: ignore[union-attr]  # pyosmium stub: Changeset
            _on_relation(extract, obj)
    return extract


def _tags(obj: Any) -> dict[str, str]:
    return {tag.k: tag.v for tag in obj.tags}


def _on_node(extract: OsmExtract, node: Any) -> None:
    extract.counts["nodes"] += 1
    if not node.tags:
        return
    tags = _tags(node)
    # Kept for every tagged node: the graph's nodes (signals, crossings…) are only known later.
    extract.node_tags[node.id] = tags
    point = shapely.Point(node.location.lon, node.location.lat)
    if tags.get("highway") == "street_lamp":
        extract.lights.append(Feature(f"node/{node.id}", tags, point))
    if critical_kind(tags):
        extract.sites[f"node/{node.id}"] = Feature(f"node/{node.id}", tags, point)


def _on_way(extract: OsmExtract, way: Any, wkb: Any) -> None:
    extract.counts["ways"] += 1
    tags = _tags(way)
    if "highway" in tags:
        extract.counts["highway_ways"] += 1
        if is_drivable(tags):
            _keep_drive_way(extract, way, tags)
    if tags.get("building", "no") != "no":
        extract.counts["building_ways"] += 1
        sid = f"way/{way.id}"
        if way.is_closed():
            extract.building_expected[sid] = (
                "its ring could not be built into a polygon (broken or degenerate)"
            )
        else:
            extract.building_rejects[sid] = "building way is not closed"
    if critical_kind(tags):
        # A provisional point on the way; the area pass replaces it by a point inside the polygon.
        try:
            line = shapely.from_wkb(wkb.create_linestring(way))
        except (RuntimeError, osmium.InvalidLocationError):
            return
        extract.sites[f"way/{way.id}"] = Feature(f"way/{way.id}", tags, line.centroid)


def _keep_drive_way(extract: OsmExtract, way: Any, tags: dict[str, str]) -> None:
    """Keep a drivable way, split where its nodes are missing from the extract (clipped at the border)."""
    extract.counts["drive_ways"] += 1
    extract.way_tags[way.id] = tags
    run: list[int] = []
    runs: list[list[int]] = []
    for ref in way.nodes:
        if ref.location.valid():
            extract.node_xy[ref.ref] = (ref.location.lon, ref.location.lat)
            run.append(ref.ref)
        else:
            runs.append(run)
            run = []
    runs.append(run)
    if len(runs) > 1:
        extract.counts["drive_ways_clipped"] += 1
    for nodes in runs:
        if len(nodes) >= 2:
            extract.drive_paths.append(WayPath(way.id, nodes, tags))


def _on_relation(extract: OsmExtract, relation: Any) -> None:
    extract.counts["relations"] += 1
    if relation.tags.get("type") == "restriction":
        members = [(m.type, m.ref, m.role) for m in relation.members]
        row = turn_restriction_from_relation(
            relation.id, _tags(relation), members, extract.restrictions_skipped
        )
        if row is not None:
            extract.turn_restrictions.append(row)
        return
    if relation.tags.get("building", "no") == "no":
        return
    sid = f"relation/{relation.id}"
    kind = relation.tags.get("type", "")
    if kind in _AREA_RELATION_TYPES:
        extract.building_expected[sid] = (
            "multipolygon could not be assembled (members missing or rings broken)"
        )
    else:
        extract.building_rejects[sid] = f"relation type={kind or '(none)'} is not an area"


def _on_area(extract: OsmExtract, area: Any, wkb: Any) -> None:
    tags = _tags(area)
    is_building = tags.get("building", "no") != "no"
    kind = critical_kind(tags)
    if not (is_building or kind):
        return
    sid = f"{'way' if area.from_way() else 'relation'}/{area.orig_id()}"
    try:
        polygon = shapely.from_wkb(wkb.create_multipolygon(area))
    except RuntimeError:
        return  # reported as unassembled below: building_expected without a building
    if is_building:
        extract.buildings[sid] = Feature(sid, tags, polygon)
    if kind:
        extract.sites[sid] = Feature(sid, tags, _point_inside(polygon))


def _point_inside(polygon: BaseGeometry) -> BaseGeometry:
    """A point inside the footprint (a courtyard building's centroid may fall outside it)."""
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    return polygon.representative_point()


def feature_from_tags(source_id: str, tags: Mapping[str, Any], geometry: BaseGeometry) -> Feature:
    """A Feature from a tag mapping that may hold missing values (as osmnx's feature frames do)."""
    clean = {str(k): str(v) for k, v in tags.items() if v is not None and v == v and k != "geometry"}
    return Feature(source_id, clean, geometry)
