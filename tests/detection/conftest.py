"""Detection fixtures: a territory of its own, a sensor per test, readings stored through the real ReadingStore."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
import pytest

from detection.engine import Detector
from detection.model import Detection
from sensing.parse import Reading
from sensing.store import ReadingStore, SensorInfo

_names = itertools.count()


@pytest.fixture(scope="session")
def territory_id(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, boundary) VALUES ('Detection test', 2154,"
            " ST_Multi(ST_MakeEnvelope(7.40, 43.72, 7.44, 43.76, 4326))) RETURNING id"
        ).fetchone()
        assert row is not None
        return int(row[0])


def new_sensor(
    url: str, territory_id: int, kind: str, *, name: str | None = None, attributes: str = "{}"
) -> int:
    """Register a sensor of ``kind`` (unit from sensing.kinds) and return its id."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO twin.sensors (territory_id, name, kind, unit, attributes, geom)"
            " SELECT %s, %s, kind, unit, %s::jsonb, ST_SetSRID(ST_MakePoint(7.42, 43.74), 4326)"
            " FROM sensing.kinds WHERE kind = %s RETURNING id",
            (territory_id, name or f"{kind}-{next(_names)}", attributes, kind),
        ).fetchone()
        assert row is not None
        return int(row[0])


@dataclass
class Pipeline:
    """Readings stored as ingestion stores them, each batch judged by one detector in its transaction."""

    url: str
    detector: Detector = field(default_factory=Detector)
    found: list[Detection] = field(default_factory=list)

    def feed(self, sensor_id: int, points: list[tuple[datetime, float]]) -> list[Detection]:
        batch: list[Detection] = []

        def after_insert(
            conn: psycopg.Connection, stored: list[Reading], sensors: dict[int, SensorInfo]
        ) -> None:
            batch.extend(self.detector.process(conn, stored, sensors))

        store = ReadingStore(after_insert=after_insert)
        with psycopg.connect(self.url) as conn:
            store.write(conn, [Reading(sensor_id, t, v) for t, v in points], [], source="http", origin="test")
        self.found.extend(batch)
        return batch

    def feed_each(self, sensor_id: int, points: list[tuple[datetime, float]]) -> list[Detection]:
        """One batch per reading, as a slow live stream delivers them."""
        out: list[Detection] = []
        for p in points:
            out.extend(self.feed(sensor_id, [p]))
        return out


@pytest.fixture
def pipeline(database_url: str) -> Iterator[Pipeline]:
    yield Pipeline(database_url)


def series(start: datetime, step_s: int, values: list[float]) -> list[tuple[datetime, float]]:
    return [(start + timedelta(seconds=i * step_s), v) for i, v in enumerate(values)]


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()
