"""The rows of a synthetic water network: the six water tables' frames for a layout, with their assumptions.

Sizes the pump and the water tower from the average demand, names every element (``J1…``, ``P1…``, ``R1``,
``PU1``, ``T1``, riser ``PT1``) and writes into each row's ``attributes`` that it is synthetic, how it was
laid and with which seed. Constants are the assumptions docs/simulation.md lists.
"""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from simulation.dependencies import DEFAULT_MAX_SERVICE_M
from simulation.water.synthetic_layout import MERGE_TOLERANCE_M, Layout, Streets
from twin.crs import WGS84

SOURCE = "hyperviseur synthesize water"
PER_CAPITA_L_DAY = 150.0  # SISPEA / Eaufrance: ≈148 L per inhabitant per day for household use in France
PATTERN_NAME = "synthetic_residential"
# Hourly multipliers of a French residential day (night minimum, 7–9 h and 19–21 h peaks); mean 1 by construction.
_HOURLY = np.array(
    [0.45, 0.35, 0.3, 0.3, 0.35, 0.55, 1.0, 1.55, 1.6, 1.35, 1.2, 1.15]
    + [1.2, 1.15, 1.0, 0.95, 1.0, 1.15, 1.35, 1.5, 1.4, 1.15, 0.85, 0.6]
)
DAILY_PATTERN: tuple[float, ...] = tuple(float(x) for x in np.round(_HOURLY / _HOURLY.mean(), 4))
# Flat terrain (no elevation model is read): every head is relative to the local ground, elevation 0 m.
GROUND_M = 0.0
PUMP_DESIGN_HEAD_M = 45.0  # at the design flow; shut-off 60 m (EPANET's one-point curve: 4/3 of it)
PUMP_DESIGN_FACTOR = 1.2  # design flow = 1.2 × average day: the tower covers the peak hours
TANK_BOTTOM_M = 30.0  # water tower bowl above ground: 30–36 m of head over the streets
TANK_MIN_LEVEL_M, TANK_INIT_LEVEL_M, TANK_MAX_LEVEL_M = 0.0, 4.0, 6.0
TANK_STORAGE_H = 8.0  # hours of average demand held between min and max level
HAZEN_WILLIAMS_C = {"PE100": 140.0, "ductile iron (cement lined)": 130.0}


def _attributes(method: str, seed: int, **extra: Any) -> dict[str, Any]:
    return {"synthetic": True, "source": SOURCE, "method": method, "seed": seed, **extra}


def water_frames(
    layout: Layout,
    streets: Streets,
    street_lines: list[Any],
    crs: int,
    served: dict[str, np.ndarray],
    seed: int,
    per_capita_l_day: float,
) -> tuple[dict[str, gpd.GeoDataFrame], float]:
    """The six tables' rows (EPSG:4326 frames), and the tank's useful volume."""
    names = [f"J{k + 1}" for k in range(len(layout.junction_node))]
    xy = streets.node_xy[layout.junction_node]
    residents = np.zeros(len(names))
    np.add.at(residents, served["junction"], served["residents"])
    buildings = np.bincount(served["junction"], minlength=len(names))
    junction_method = (
        f"a street-graph node (nodes closer than {MERGE_TOLERANCE_M:g} m merged); demand = residents of the"
        f" buildings nearest to it (≤ {DEFAULT_MAX_SERVICE_M:g} m) × {per_capita_l_day:g} L/day, daily pattern"
    )
    junctions = [
        {
            "name": names[k],
            "elevation_m": GROUND_M,
            "base_demand_m3_s": float(layout.junction_demand_m3_s[k]),
            "attributes": _attributes(
                junction_method,
                seed,
                road_nodes=[int(streets.node_ids[i]) for i in layout.junction_members[k]],
                residents=int(residents[k]),
                buildings=int(buildings[k]),
                demands=[
                    {
                        "base_m3_s": float(layout.junction_demand_m3_s[k]),
                        "pattern": PATTERN_NAME,
                        "category": "residential",
                    }
                ],
            ),
        }
        for k in range(len(names))
    ]
    average_m3_s = float(layout.junction_demand_m3_s.sum())
    pipes, geometries = _pipes(layout, streets, street_lines, names, xy, seed)
    src, tank_at = xy[layout.source], xy[layout.tank]
    # The source and the tower stand a little off the street, joined by the pump and a riser main.
    reservoir_xy, tank_xy = src + (-20.0, -20.0), tank_at + (15.0, 15.0)
    volume_m3 = max(average_m3_s * TANK_STORAGE_H * 3600.0, 50.0)
    diameter_m = math.sqrt(4 * volume_m3 / (math.pi * (TANK_MAX_LEVEL_M - TANK_MIN_LEVEL_M)))
    design_m3_s = max(average_m3_s * PUMP_DESIGN_FACTOR, 0.001)
    pipes.append(
        {
            "name": "PT1",
            "start_node": names[layout.tank],
            "end_node": "T1",
            "length_m": float(np.hypot(*(tank_xy - tank_at))),
            "diameter_m": 0.3,
            "roughness": HAZEN_WILLIAMS_C["ductile iron (cement lined)"],
            "status": "Open",
            "attributes": _attributes(
                "riser main of the water tower",
                seed,
                role="riser",
                material="ductile iron (cement lined)",
                minor_loss=0.0,
                check_valve=False,
                headloss="H-W",
            ),
        }
    )
    geometries.append(shapely.LineString([tank_at, tank_xy]))
    method_source = (
        "an assumed treatment-plant outlet at the main-street junction nearest the demand's centre"
    )
    frames = {
        "water_junctions": _frame(junctions, shapely.points(xy), crs),
        "water_tanks": _frame(
            [
                {
                    "name": "T1",
                    "elevation_m": GROUND_M + TANK_BOTTOM_M,
                    "init_level_m": TANK_INIT_LEVEL_M,
                    "min_level_m": TANK_MIN_LEVEL_M,
                    "max_level_m": TANK_MAX_LEVEL_M,
                    "diameter_m": diameter_m,
                    "attributes": _attributes(
                        f"water tower at the far end of the trunk main from the source, {TANK_STORAGE_H:g} h of"
                        " average demand",
                        seed,
                        volume_m3=volume_m3,
                    ),
                }
            ],
            shapely.points([tank_xy]),
            crs,
        ),
        "water_reservoirs": _frame(
            [
                {
                    "name": "R1",
                    "base_head_m": GROUND_M,
                    "attributes": _attributes(
                        method_source,
                        seed,
                        patterns={PATTERN_NAME: list(DAILY_PATTERN)},
                        pattern_step_s=3600,
                        per_capita_l_day=per_capita_l_day,
                        terrain="flat, elevation 0 m (no elevation model read)",
                    ),
                }
            ],
            shapely.points([reservoir_xy]),
            crs,
        ),
        "water_pipes": _frame(pipes, geometries, crs),
        "water_valves": _frame([], [], crs),
        "water_pumps": _frame(
            [
                {
                    "name": "PU1",
                    "start_node": "R1",
                    "end_node": names[layout.source],
                    "pump_type": "HEAD",
                    "attributes": _attributes(
                        f"pump sized for {PUMP_DESIGN_FACTOR:g} × the average day at {PUMP_DESIGN_HEAD_M:g} m",
                        seed,
                        status="Open",
                        head_curve=[[design_m3_s, PUMP_DESIGN_HEAD_M]],
                    ),
                }
            ],
            [shapely.LineString([reservoir_xy, src])],
            crs,
        ),
    }
    return frames, volume_m3


def _pipes(
    layout: Layout, streets: Streets, street_lines: list[Any], names: list[str], xy: np.ndarray, seed: int
) -> tuple[list[dict[str, Any]], list[shapely.LineString]]:
    """Pipe rows along their street, oriented from ``pipe_from`` to ``pipe_to``, ends on the junctions."""
    rows: list[dict[str, Any]] = []
    geometries: list[shapely.LineString] = []
    for k, edge in enumerate(layout.pipe_edge):
        start, end = xy[layout.pipe_from[k]], xy[layout.pipe_to[k]]
        coords = np.array(street_lines[edge].coords, dtype=float)[:, :2]
        if np.hypot(*(coords[0] - start)) > np.hypot(*(coords[0] - end)):
            coords = coords[::-1]
        coords[0], coords[-1] = start, end  # merged nodes moved the ends by < 10 m
        line = shapely.LineString(coords)
        diameter = float(layout.pipe_diameter_m[k])
        material = "PE100" if diameter <= 0.1 else "ductile iron (cement lined)"
        role = layout.pipe_role[k]
        flow = float(layout.pipe_peak_flow_m3_s[k])
        rows.append(
            {
                "name": f"P{k + 1}",
                "start_node": names[layout.pipe_from[k]],
                "end_node": names[layout.pipe_to[k]],
                "length_m": float(line.length),
                "diameter_m": diameter,
                "roughness": HAZEN_WILLIAMS_C[material],
                "status": "Open",
                "attributes": _attributes(
                    _PIPE_METHOD[role],
                    seed,
                    role=role,
                    road_edge=int(streets.edge_ids[edge]),
                    street_class=streets.edge_highway[edge],
                    material=material,
                    peak_flow_m3_s=None if math.isnan(flow) else flow,
                    minor_loss=0.0,
                    check_valve=False,
                    headloss="H-W",
                ),
            }
        )
        geometries.append(line)
    return rows, geometries


_PIPE_METHOD = {
    "trunk": "trunk main along the street, source to water tower: at least 300 mm",
    "tree": "main along the street (spanning tree): diameter for the peak flow of the demand downstream",
    "loop": "loop main along the street, closing a cycle: the smaller diameter of the mains at its ends",
}


def _frame(rows: list[dict[str, Any]], geometry: Any, crs: int) -> gpd.GeoDataFrame:
    for row in rows:
        row["attributes"] = json.loads(json.dumps(row["attributes"]))  # plain JSON types only
    return gpd.GeoDataFrame(rows, geometry=list(geometry), crs=crs).to_crs(WGS84)
