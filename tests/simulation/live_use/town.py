"""A hand-built town with known answers: three streets, a dead end, buildings, sites, a tiny water network.

::

    Caserne (-5,5)  N1 ── Rue Haute ── N2 ── Rue Basse ── N3  Hôpital Est (405,5)
                          B1 (100,15)  │     B2 (300,-15)
                                       │ Impasse des Lilas (dead end)
                          B3 (215,150) │  École des Lilas (185,170)
                                       N4 (200,200)

Water: reservoir R (0,30) ─ RA ─ A (100,30) ─ AB ─ B (300,-30); A ─ AC ─ C (200,170). A meets three pipes,
so the assumed valves isolate AC alone: a burst of AC leaves C (B3) without water, nothing else.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass

import psycopg

ORIGIN = (3.95, 43.55)


def ll(x_m: float, y_m: float) -> tuple[float, float]:
    """(lon, lat) of a point ``x_m`` east and ``y_m`` north of the town's origin."""
    return (
        ORIGIN[0] + x_m / (111_320 * math.cos(math.radians(ORIGIN[1]))),
        ORIGIN[1] + y_m / 111_320,
    )


def _point(x: float, y: float) -> str:
    lon, lat = ll(x, y)
    return f"SRID=4326;POINT({lon} {lat})"


def _line(*points: tuple[float, float]) -> str:
    return "SRID=4326;LINESTRING(" + ",".join(f"{ll(*p)[0]} {ll(*p)[1]}" for p in points) + ")"


def _square(x: float, y: float, half_m: float = 5.0) -> str:
    ring = [ll(x + dx * half_m, y + dy * half_m) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))]
    return "SRID=4326;MULTIPOLYGON(((" + ",".join(f"{a} {b}" for a, b in ring) + ")))"


@dataclass(frozen=True)
class Town:
    url: str
    name: str
    territory_id: int
    ids: dict[str, int]

    def street(self, name: str) -> list[int]:
        """Both arcs of a street, e.g. ``street("Impasse des Lilas")``."""
        return sorted(v for k, v in self.ids.items() if k.startswith(name + ":"))


def make_town(url: str, *, water: bool = True, prefix: str = "Vivre") -> Town:
    """Insert the town as a new territory (unique name); ``water=False``: without its water network."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    ids: dict[str, int] = {}
    west, south = ll(-300, -300)
    east, north = ll(700, 500)
    with psycopg.connect(url) as conn:
        tid = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, source, boundary) VALUES (%s, 2154, 'test',"
            " ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4326))) RETURNING id",
            (name, west, south, east, north),
        ).fetchone()[0]  # type: ignore[index]
        nodes = {}
        for node, x, y in (("N1", 0, 0), ("N2", 200, 0), ("N3", 400, 0), ("N4", 200, 200)):
            nodes[node] = conn.execute(
                "INSERT INTO twin.road_nodes (territory_id, geom) VALUES (%s, %s) RETURNING id",
                (tid, _point(x, y)),
            ).fetchone()[0]  # type: ignore[index]
        xy = {"N1": (0, 0), "N2": (200, 0), "N3": (400, 0), "N4": (200, 200)}
        for street, a, b in (
            ("Rue Haute", "N1", "N2"),
            ("Rue Basse", "N2", "N3"),
            ("Impasse des Lilas", "N2", "N4"),
        ):
            for tail, head in ((a, b), (b, a)):
                ids[f"{street}:{tail}"] = conn.execute(
                    "INSERT INTO twin.road_edges (territory_id, source_node, target_node, name, highway,"
                    " length_m, speed_kph, travel_time_s, geom)"
                    " VALUES (%s, %s, %s, %s, 'residential', 200, 30, 24, %s) RETURNING id",
                    (tid, nodes[tail], nodes[head], street, _line(xy[tail], xy[head])),
                ).fetchone()[0]  # type: ignore[index]
        for building, x, y, residents in (
            ("Résidence Haute", 100, 15, 20),
            ("Résidence Basse", 300, -15, 30),
            ("Villa des Lilas", 215, 150, 12),
        ):
            ids[building] = conn.execute(
                "INSERT INTO twin.buildings (territory_id, name, use, residents_est, geom)"
                " VALUES (%s, %s, 'apartments', %s, %s) RETURNING id",
                (tid, building, residents, _square(x, y)),
            ).fetchone()[0]  # type: ignore[index]
        for site, kind, x, y in (
            ("Caserne Ouest", "fire_station", -5, 5),
            ("Hôpital Est", "hospital", 405, 5),
            ("École des Lilas", "school", 185, 170),
        ):
            ids[site] = conn.execute(
                "INSERT INTO twin.critical_sites (territory_id, name, kind, geom) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (tid, site, kind, _point(x, y)),
            ).fetchone()[0]  # type: ignore[index]
        if water:
            conn.execute(
                "INSERT INTO twin.water_reservoirs (territory_id, name, base_head_m, geom) VALUES (%s, 'R', 80, %s)",
                (tid, _point(0, 30)),
            )
            coords = {"R": (0, 30), "A": (100, 30), "B": (300, -30), "C": (200, 170)}
            for junction in ("A", "B", "C"):
                ids[junction] = conn.execute(
                    "INSERT INTO twin.water_junctions (territory_id, name, elevation_m, base_demand_m3_s, geom)"
                    " VALUES (%s, %s, 10, 0.001, %s) RETURNING id",
                    (tid, junction, _point(*coords[junction])),
                ).fetchone()[0]  # type: ignore[index]
            for pipe in ("RA", "AB", "AC"):
                ids[pipe] = conn.execute(
                    "INSERT INTO twin.water_pipes (territory_id, name, start_node, end_node, length_m,"
                    " diameter_m, geom) VALUES (%s, %s, %s, %s, 150, 0.2, %s) RETURNING id",
                    (tid, pipe, pipe[0], pipe[1], _line(coords[pipe[0]], coords[pipe[1]])),
                ).fetchone()[0]  # type: ignore[index]
        sensors: list[tuple[str, str, str, int, int, str | None, int | None, dict[str, float]]] = [
            ("comptage-lilas", "traffic_count", "veh/h", 200, 100, None, None, {}),
            ("no2-centre", "no2", "µg/m³", 200, 0, None, None, {}),
            ("riviere", "river_level", "m", 300, 50, None, None, {"overflow_level_m": 2.0}),
        ]
        if water:
            sensors.append(("debit-lilas", "water_flow", "m³/h", 150, 100, "water_pipes", ids["AC"], {}))
        for sensor, kind, unit, x, y, layer, asset, attributes in sensors:
            ids[sensor] = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, attributes, geom)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (tid, sensor, kind, unit, layer, asset, json.dumps(attributes), _point(x, y)),
            ).fetchone()[0]  # type: ignore[index]
    return Town(url, name, tid, ids)
