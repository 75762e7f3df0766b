"""Write readings once each: validate against the sensor registry, COPY into a staging table, INSERT … ON CONFLICT DO NOTHING."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg.rows import tuple_row

from sensing.parse import Reading, Rejection

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SensorInfo:
    kind: str
    valid_min: float | None
    valid_max: float | None
    territory_id: int = 0
    #: Layer visibility of the kind (public, internal, restricted): who may see its readings.
    visibility: str = "internal"


#: Called in the writer's transaction with the readings just inserted (not the duplicates): detection,
#: correlation and live push hang here (sensing/pipeline.py). Runs in a savepoint: if it fails, the readings
#: are still stored and the failure is logged.
AfterInsert = Callable[[psycopg.Connection, list[Reading], dict[int, SensorInfo]], None]


@dataclass
class WriteResult:
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    #: The refusals of the last ``write`` (parse and registry), for callers that answer with reasons.
    refusals: list[Rejection] = field(default_factory=list)
    #: The readings of the last ``write`` that were new (stored now, not duplicates).
    stored: list[Reading] = field(default_factory=list)

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        return self


@dataclass
class ReadingStore:
    """Per-process cache of the sensor registry and of the monthly partitions known to exist.

    ``write`` runs inside the caller's transaction: the caller commits, then acknowledges its sources
    (MQTT PUBACK, HTTP answer), which is what makes delivery at-least-once and storage exactly-once.
    """

    sensors: dict[int, SensorInfo] = field(default_factory=dict)
    months: set[tuple[int, int]] = field(default_factory=set)
    after_insert: AfterInsert | None = None

    def load_sensors(self, conn: psycopg.Connection) -> None:
        rows = (
            conn.cursor(row_factory=tuple_row)
            .execute(
                "SELECT s.id, s.kind, k.valid_min, k.valid_max, s.territory_id, coalesce(k.visibility, 'internal')"
                " FROM twin.sensors s LEFT JOIN sensing.kinds k ON k.kind = s.kind"
            )
            .fetchall()
        )
        self.sensors = {int(r[0]): SensorInfo(r[1], r[2], r[3], int(r[4]), r[5]) for r in rows}

    def write(
        self,
        conn: psycopg.Connection,
        readings: Sequence[Reading],
        rejections: Iterable[Rejection],
        *,
        source: str,
        origin: str,
    ) -> WriteResult:
        """Store valid readings (each sensor and instant once) and every rejection; return the counts."""
        refused = list(rejections)
        if any(r.sensor_id not in self.sensors for r in readings):
            self.load_sensors(conn)  # a sensor registered since the last look
        unique: dict[tuple[int, datetime], Reading] = {}
        valid = 0
        for reading in readings:
            reason = self._refusal(reading)
            if reason is not None:
                refused.append(_refuse(reading, source, origin, reason))
                continue
            valid += 1
            unique.setdefault((reading.sensor_id, reading.observed_at), reading)
        result = WriteResult(rejected=len(refused), duplicates=valid - len(unique), refusals=refused)
        if unique:
            self._ensure_partitions(conn, unique.values())
            result.stored = _insert(conn, list(unique.values()))
            result.inserted = len(result.stored)
            result.duplicates += len(unique) - result.inserted
            if result.stored and self.after_insert is not None:
                self._run_after_insert(conn, result.stored)
        if refused:
            with conn.cursor().copy(
                "COPY sensing.rejected (source, origin, sensor_id, payload, reason) FROM STDIN"
            ) as copy:
                for r in refused:
                    copy.write_row((r.source, r.origin, r.sensor_id, r.payload.replace("\x00", ""), r.reason))
        return result

    def _run_after_insert(self, conn: psycopg.Connection, stored: list[Reading]) -> None:
        assert self.after_insert is not None
        try:
            with conn.transaction():  # a savepoint: a failing stage never costs the readings
                self.after_insert(conn, stored, self.sensors)
        except psycopg.OperationalError:
            raise  # the database is away: the whole batch is retried
        except Exception:
            log.exception("after-insert stage failed; %d readings stored without detection", len(stored))

    def _refusal(self, reading: Reading) -> str | None:
        info = self.sensors.get(reading.sensor_id)
        if info is None:
            return f"unknown sensor {reading.sensor_id}: register it in twin.sensors first"
        if info.valid_min is not None and reading.value < info.valid_min:
            return f"value {reading.value} below {info.valid_min}, the lowest a {info.kind} sensor reports"
        if info.valid_max is not None and reading.value > info.valid_max:
            return f"value {reading.value} above {info.valid_max}, the highest a {info.kind} sensor reports"
        return None

    def _ensure_partitions(self, conn: psycopg.Connection, readings: Iterable[Reading]) -> None:
        needed: dict[tuple[int, int], datetime] = {}
        for r in readings:
            utc = r.observed_at.astimezone(UTC)
            needed.setdefault((utc.year, utc.month), utc)
        for month, at in needed.items():
            if month not in self.months:
                conn.execute("SELECT sensing.ensure_partition(%s)", (at,))
                self.months.add(month)


def _refuse(reading: Reading, source: str, origin: str, reason: str) -> Rejection:
    payload = (
        f'{{"sensor": {reading.sensor_id}, "t": "{reading.observed_at.isoformat()}", "v": {reading.value}}}'
    )
    return Rejection(source, origin, payload, reason, reading.sensor_id)


def _insert(conn: psycopg.Connection, readings: list[Reading]) -> list[Reading]:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS sensing_stage"
        " (sensor_id bigint, observed_at timestamptz, value double precision) ON COMMIT DELETE ROWS"
    )
    with conn.cursor().copy("COPY sensing_stage (sensor_id, observed_at, value) FROM STDIN") as copy:
        for r in readings:
            copy.write_row((r.sensor_id, r.observed_at, r.value))
    inserted = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "WITH ins AS (INSERT INTO sensing.readings (sensor_id, observed_at, value)"
            " SELECT sensor_id, observed_at, value FROM sensing_stage ORDER BY sensor_id, observed_at"
            " ON CONFLICT DO NOTHING RETURNING sensor_id, observed_at, value),"
            " newest AS (SELECT DISTINCT ON (sensor_id) sensor_id, observed_at, value FROM ins"
            "  ORDER BY sensor_id, observed_at DESC),"
            " up AS (INSERT INTO sensing.latest AS l (sensor_id, observed_at, value) SELECT * FROM newest"
            "  ON CONFLICT (sensor_id) DO UPDATE SET observed_at = excluded.observed_at, value = excluded.value,"
            "  updated_at = now() WHERE excluded.observed_at > l.observed_at)"
            " SELECT sensor_id, observed_at, value FROM ins"
        )
        .fetchall()
    )
    conn.execute("TRUNCATE sensing_stage")
    return [Reading(int(r[0]), r[1], float(r[2])) for r in inserted]
