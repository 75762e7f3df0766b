"""In-memory form of imported territory data, validated before anything touches the database."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

# Columns each layer table accepts besides territory_id and id (geometry column is ``geometry``).
LAYER_COLUMNS: dict[str, tuple[str, ...]] = {
    "road_nodes": ("source_id", "street_count", "attributes"),
    "road_edges": (
        "source_id",
        "name",
        "highway",
        "oneway",
        "reversed",
        "maxspeed",
        "lanes",
        "length_m",
        "speed_kph",
        "travel_time_s",
        "attributes",
    ),
    "buildings": ("source_id", "name", "use", "height_m", "levels", "area_m2", "residents_est", "attributes"),
    "critical_sites": ("source_id", "name", "kind", "attributes"),
    "street_lights": ("source_id", "lamp_type", "power_w", "attributes"),
    "water_junctions": ("name", "elevation_m", "base_demand_m3_s", "attributes"),
    "water_tanks": (
        "name",
        "elevation_m",
        "init_level_m",
        "min_level_m",
        "max_level_m",
        "diameter_m",
        "attributes",
    ),
    "water_reservoirs": ("name", "base_head_m", "attributes"),
    "water_pipes": (
        "name",
        "start_node",
        "end_node",
        "length_m",
        "diameter_m",
        "roughness",
        "status",
        "attributes",
    ),
    "water_valves": ("name", "start_node", "end_node", "valve_type", "diameter_m", "setting", "attributes"),
    "water_pumps": ("name", "start_node", "end_node", "pump_type", "attributes"),
    "sensors": ("name", "kind", "unit", "asset_layer", "asset_id", "attributes"),
    "gis_features": ("layer", "source_id", "attributes"),
}

WATER_LAYERS = (
    "water_junctions",
    "water_tanks",
    "water_reservoirs",
    "water_pipes",
    "water_valves",
    "water_pumps",
)

CRITICAL_SITE_KINDS = (
    "hospital",
    "clinic",
    "school",
    "kindergarten",
    "nursing_home",
    "fire_station",
    "police",
    "town_hall",
    "water_works",
    "pharmacy",
    "shelter",
    "power_substation",
    "other",
)


@dataclass
class ImportReport:
    """What an import kept, repaired and rejected, per layer, with reasons for the last two."""

    kept: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, list[str]] = field(default_factory=dict)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def repair(self, layer: str, feature_id: str, why: str) -> None:
        self.repaired.setdefault(layer, []).append(f"{feature_id}: {why}")

    def reject(self, layer: str, feature_id: str, why: str) -> None:
        self.rejected.setdefault(layer, []).append(f"{feature_id}: {why}")

    def summary(self) -> str:
        lines = []
        for layer in sorted(set(self.kept) | set(self.repaired) | set(self.rejected)):
            lines.append(
                f"{layer}: {self.kept.get(layer, 0)} kept, {len(self.repaired.get(layer, []))} repaired, "
                f"{len(self.rejected.get(layer, []))} rejected"
            )
            for reason in self.rejected.get(layer, [])[:5]:
                lines.append(f"    rejected {reason}")
            if len(self.rejected.get(layer, [])) > 5:
                lines.append(f"    … and {len(self.rejected[layer]) - 5} more rejected")
        lines.extend(self.notes)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {"kept": self.kept, "repaired": self.repaired, "rejected": self.rejected, "notes": self.notes}


@dataclass
class TerritoryData:
    """A territory ready to be stored: every frame in EPSG:4326 with the columns of LAYER_COLUMNS.

    ``road_nodes`` carries a ``node_key`` column and ``road_edges`` ``source_key``/``target_key``
    columns referring to it; the store turns them into database ids.
    """

    name: str
    crs_epsg: int
    source: str
    boundary: BaseGeometry | None = None
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    report: ImportReport = field(default_factory=ImportReport)
    # Rows of routing.turn_restrictions (OSM no_*/only_* relations: from way, via node, to way, tags).
    turn_restrictions: list[dict[str, object]] = field(default_factory=list)
