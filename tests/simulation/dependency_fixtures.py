"""A hand-built territory for the dependency store and routes: two streets, a water network with a pump,
buildings, lights carrying their lighting cabinet (``armoire``), a pump, sensors; and a fingerprint of the
simulation tables and the audit trail (equal fingerprints = nothing written)."""

from __future__ import annotations

import json
import math

import psycopg

ORIGIN = (3.87, 43.61)


def _ll(x_m: float, y_m: float) -> tuple[float, float]:
    return (ORIGIN[0] + x_m / (111_320 * math.cos(math.radians(ORIGIN[1]))), ORIGIN[1] + y_m / 111_320)


def wkt_point(x: float, y: float) -> str:
    return f"SRID=4326;POINT({_ll(x, y)[0]} {_ll(x, y)[1]})"


def _square(x: float, y: float, half_m: float = 5.0) -> str:
    ring = [
        _ll(x + dx * half_m, y + dy * half_m) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))
    ]
    return "SRID=4326;MULTIPOLYGON(((" + ",".join(f"{a} {b}" for a, b in ring) + ")))"


def _line(*points: tuple[float, float]) -> str:
    return "SRID=4326;LINESTRING(" + ",".join(f"{_ll(*p)[0]} {_ll(*p)[1]}" for p in points) + ")"


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    return _ll(x_m, y_m)


def build_territory(url: str, name: str) -> dict[str, int]:
    """Streets N1–N2 (Rue Haute) and N2–N3 (Rue Basse), 160 m each, both ways; water R → A → B → C plus
    R2 -(pump PU1)-> B; buildings B1 (by A), B2 (by C), B3 (far); lights L1, L2 of cabinet A1, L3 of none;
    a hospital; sensors S1 (stated on C) and S2 (traffic)."""
    ids: dict[str, int] = {}

    def one(conn: psycopg.Connection, sql: str, params: tuple) -> int:
        row = conn.execute(sql + " RETURNING id", params).fetchone()
        assert row is not None
        return int(row[0])

    with psycopg.connect(url) as conn:
        tid = one(
            conn, "INSERT INTO twin.territory (name, crs_epsg, source) VALUES (%s, 2154, 'test')", (name,)
        )
        ids["territory"] = tid
        nodes = {
            n: one(
                conn,
                "INSERT INTO twin.road_nodes (territory_id, geom) VALUES (%s, %s)",
                (tid, wkt_point(x, 0)),
            )
            for n, x in (("N1", 0.0), ("N2", 160.0), ("N3", 320.0))
        }
        for street, a, b, xa, xb in (("Rue Haute", "N1", "N2", 0, 160), ("Rue Basse", "N2", "N3", 160, 320)):
            for tail, head, x0, x1 in ((a, b, xa, xb), (b, a, xb, xa)):
                ids[f"{street}:{tail}"] = one(
                    conn,
                    "INSERT INTO twin.road_edges (territory_id, source_node, target_node, name, highway, length_m,"
                    " speed_kph, travel_time_s, geom) VALUES (%s, %s, %s, %s, 'residential', 160, 30, 19.2, %s)",
                    (tid, nodes[tail], nodes[head], street, _line((x0, 0), (x1, 0))),
                )
        for b, x, y, residents in (("B1", 80, 15, 20), ("B2", 240, -15, 30), ("B3", 80, 1000, 5)):
            ids[b] = one(
                conn,
                "INSERT INTO twin.buildings (territory_id, name, use, residents_est, geom)"
                " VALUES (%s, %s, 'apartments', %s, %s)",
                (tid, b, residents, _square(x, y)),
            )
        ids["Hôpital"] = one(
            conn,
            "INSERT INTO twin.critical_sites (territory_id, name, kind, geom) VALUES (%s, 'Hôpital', 'hospital', %s)",
            (tid, wkt_point(330, 5)),
        )
        for r, x, y in (("R", 0, 30), ("R2", 160, 90)):
            ids[r] = one(
                conn,
                "INSERT INTO twin.water_reservoirs (territory_id, name, base_head_m, geom) VALUES (%s, %s, 80, %s)",
                (tid, r, wkt_point(x, y)),
            )
        coords = {"R": (0, 30), "R2": (160, 90), "A": (80, 30), "B": (160, 30), "C": (240, -30)}
        for j in ("A", "B", "C"):
            ids[j] = one(
                conn,
                "INSERT INTO twin.water_junctions (territory_id, name, elevation_m, base_demand_m3_s, geom)"
                " VALUES (%s, %s, 10, 0.001, %s)",
                (tid, j, wkt_point(*coords[j])),
            )
        for pipe, a, b in (("RA", "R", "A"), ("AB", "A", "B"), ("BC", "B", "C")):
            ids[pipe] = one(
                conn,
                "INSERT INTO twin.water_pipes (territory_id, name, start_node, end_node, length_m, diameter_m, geom)"
                " VALUES (%s, %s, %s, %s, 100, 0.2, %s)",
                (tid, pipe, a, b, _line(coords[a], coords[b])),
            )
        ids["PU1"] = one(
            conn,
            "INSERT INTO twin.water_pumps (territory_id, name, start_node, end_node, pump_type, geom)"
            " VALUES (%s, 'PU1', 'R2', 'B', 'POWER', %s)",
            (tid, _line(coords["R2"], coords["B"])),
        )
        for light, x, y, cabinet in (("L1", 160, 8, "A1"), ("L2", 160, 500, "A1"), ("L3", 300, 8, None)):
            ids[light] = one(
                conn,
                "INSERT INTO twin.street_lights (territory_id, lamp_type, attributes, geom) VALUES (%s, 'LED', %s, %s)",
                (tid, json.dumps({"Armoire": cabinet} if cabinet else {}), wkt_point(x, y)),
            )
        for sensor, kind, unit, x, y, layer, asset in (
            ("S1", "water_pressure", "m", 240, -30, "water_junctions", ids["C"]),
            ("S2", "traffic_count", "veh/h", 240, 3, None, None),
        ):
            ids[sensor] = one(
                conn,
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, geom)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (tid, sensor, kind, unit, layer, asset, wkt_point(x, y)),
            )
    return ids


def simulation_fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the dependency links, the power feeders and the audit trail."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in ("simulation.dependency_links", "simulation.power_feeders", "audit.entries"):
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out
