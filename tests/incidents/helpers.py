"""A small territory of their own for the incident tests (Lyon, Presqu'île): boundary, buildings with
residents, critical sites and sensors of a water and an air kind; detections written as the engine would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h3
import psycopg

from detection.model import Detection
from tests.common import database_fingerprint

X0, Y0 = 4.8320, 45.7600  # Lyon, place Bellecour
#: Near the first sensor: a hospital 117 m east, a nursing home 1.5 km away (outside every radius but air).
BUILDINGS = [(X0 + 0.0005, Y0 + 0.0005, 40), (X0 - 0.0005, Y0 + 0.0004, 60), (X0 + 0.02, Y0 + 0.02, 500)]

# Tables incidents, correlation and the API write: a refused request leaves all of them unchanged.
_TABLES = ("incidents.incidents", "incidents.log", "live.events", "dispatch.jobs", "sensing.detections")


@dataclass(frozen=True)
class Place:
    """The test territory and its sensors (name → id)."""

    url: str
    territory_id: int
    name: str
    sensors: dict[str, int]


def make_place(url: str, *, with_sites: bool = True) -> Place:
    """Insert a fresh territory (unique name) with its buildings, critical sites and sensors."""
    name = f"Incidents-Lyon-{secrets.token_hex(3)}"
    with psycopg.connect(url) as conn:
        (tid,) = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, boundary) VALUES (%s, 2154,"
            " ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4326))) RETURNING id",
            (name, X0 - 0.05, Y0 - 0.05, X0 + 0.05, Y0 + 0.05),
        ).fetchone()
        for i, (x, y, residents) in enumerate(BUILDINGS):
            conn.execute(
                "INSERT INTO twin.buildings (territory_id, source_id, use, residents_est, geom) VALUES"
                " (%s, %s, 'residential', %s, ST_Multi(ST_Expand(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 0.0001)))",
                (tid, f"b{i}", residents, x, y),
            )
        if with_sites:
            for kind, site, x, y in (
                ("hospital", "Hôpital Saint-Joseph", X0 + 0.0015, Y0),
                ("nursing_home", "EHPAD Les Glycines", X0 + 0.0, Y0 + 0.0135),
            ):
                conn.execute(
                    "INSERT INTO twin.critical_sites (territory_id, name, kind, geom)"
                    " VALUES (%s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                    (tid, site, kind, x, y),
                )
        sensors = {}
        ring = h3.grid_ring(h3.latlng_to_cell(Y0, X0, 9), 1)
        near_lat, near_lon = h3.cell_to_latlng(sorted(ring)[0])
        for sensor, kind, x, y, asset in (
            ("p227", "water_flow", X0, Y0, ("water_pipes", 12)),
            ("p235", "water_pressure", near_lon, near_lat, (None, None)),  # a neighbouring H3 cell
            ("p999", "water_flow", X0 + 0.04, Y0 + 0.04, (None, None)),  # ≈5 km away
            ("no2-bellecour", "no2", X0, Y0, (None, None)),
        ):
            (sensors[sensor],) = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, geom)"
                " VALUES (%s, %s, %s, 'u', %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
                (tid, sensor, kind, asset[0], asset[1], x, y),
            ).fetchone()
    return Place(url, tid, name, sensors)


def detect(
    conn: psycopg.Connection[Any],
    place: Place,
    sensor: str,
    started_at: datetime,
    *,
    severity: str = "warning",
    confidence: float = 0.9,
    rule: str = "anomaly",
) -> Detection:
    """Insert an open detection of ``sensor`` into ``sensing.detections`` and return it as the engine would."""
    row = conn.execute(
        "SELECT s.id, s.name, s.kind, k.category, k.visibility, ST_X(s.geom), ST_Y(s.geom), s.asset_layer,"
        " s.asset_id FROM twin.sensors s JOIN sensing.kinds k ON k.kind = s.kind WHERE s.id = %s",
        (place.sensors[sensor],),
    ).fetchone()
    assert row is not None
    sensor_id, name, kind, category, visibility, lon, lat, asset_layer, asset_id = row
    cell = h3.latlng_to_cell(lat, lon, 9)
    explanation = f"{name} : débit 40 % au-dessus du profil"
    (detection_id,) = conn.execute(
        "INSERT INTO sensing.detections (sensor_id, rule, severity, started_at, value, expected, score,"
        " confidence, explanation_fr, explanation_en, h3_cell) VALUES (%s, %s, %s, %s, 14.0, 10.0, 4.2, %s, %s,"
        " %s, %s) RETURNING id",
        (sensor_id, rule, severity, started_at, confidence, explanation, f"{name}: flow 40 % above", cell),
    ).fetchone()
    return Detection(
        id=detection_id,
        sensor_id=sensor_id,
        sensor_name=name,
        kind=kind,
        category=category,
        visibility=visibility,
        territory_id=place.territory_id,
        lon=lon,
        lat=lat,
        h3_cell=cell,
        rule=rule,
        severity=severity,
        started_at=started_at,
        ended_at=None,
        value=14.0,
        expected=10.0,
        score=4.2,
        confidence=confidence,
        explanation_fr=explanation,
        explanation_en=f"{name}: flow 40 % above",
        opened=True,
        asset_layer=asset_layer,
        asset_id=asset_id,
    )


def fingerprint(url: str) -> dict[str, Any]:
    """Row count and md5 of the incident, log, live event, dispatch job and detection tables, plus the twin
    tables (``tests.common.database_fingerprint``): equal fingerprints = nothing written."""
    out: dict[str, Any] = dict(database_fingerprint(url))
    with psycopg.connect(url) as conn:
        for table in _TABLES:
            out[table] = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
            ).fetchone()
    return out


def walk_incident(url: str, territory_id: int) -> int:
    """A fresh open incident of ``territory_id`` (the route walk spends one per call), created as the API
    creates one by hand."""
    from incidents import store  # the walk's import list stays short

    with psycopg.connect(url) as conn:
        (lon, lat) = conn.execute(
            "SELECT ST_X(ST_Centroid(ST_Extent(geom)::geometry)), ST_Y(ST_Centroid(ST_Extent(geom)::geometry))"
            " FROM twin.road_nodes WHERE territory_id = %s",
            (territory_id,),
        ).fetchone()
        new = store.NewIncident(
            territory_id=territory_id,
            title="Route walk",
            category="other",
            severity="info",
            lon=lon,
            lat=lat,
            origin="manual",
            created_by="route-walk",
        )
        return int(store.create(conn, new, log_text="route walk")["id"])
