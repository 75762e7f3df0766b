"""Sensing fixtures: a throwaway Mosquitto per module, sensors registered in the session database."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from twin.broker import EmbeddedBroker, throwaway_broker


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with throwaway_broker(prefix="hyperviseur-test-mqtt-") as b:
        yield b


@pytest.fixture(scope="session")
def sensor_ids(database_url: str) -> dict[str, int]:
    """Three sensors of a test territory: a flow meter, a tank level and an NO2 station."""
    with psycopg.connect(database_url) as conn:
        territory = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, boundary) VALUES ('Sensing test', 2154,"
            " ST_Multi(ST_MakeEnvelope(-1.45, 48.10, -1.40, 48.13, 4326))) RETURNING id"
        ).fetchone()[0]
        ids = {}
        for name, kind, unit in (
            ("p227", "water_flow", "m³/h"),
            ("T1", "tank_level", "m"),
            ("no2-1", "no2", "µg/m³"),
        ):
            ids[name] = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, geom)"
                " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(-1.42, 48.12), 4326)) RETURNING id",
                (territory, name, kind, unit),
            ).fetchone()[0]
    return ids
