"""SQL of the detection engine: what it loads about sensors on first sight, and the batched writes of detections."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h3
import orjson
import psycopg
from psycopg.rows import tuple_row

from detection.model import SEVERITIES, Detection
from detection.rules import Finding, ThresholdRow, effective_thresholds, severity_rank

#: Readings loaded per sensor on first sight to fill rolling windows and the rate history.
HISTORY_READINGS = 300


@dataclass(frozen=True, slots=True)
class SensorMeta:
    id: int
    name: str
    kind: str
    category: str
    visibility: str
    territory_id: int
    lon: float
    lat: float
    h3_cell: str
    asset_layer: str | None
    asset_id: int | None
    unit: str
    title_fr: str
    title_en: str
    interval_s: int
    overrides: dict[str, Any]


def config_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT version FROM sensing.detection_config").fetchone()
    return int(row[0]) if row else 0


def load_meta(conn: psycopg.Connection, sensor_ids: list[int]) -> dict[int, SensorMeta]:
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT s.id, s.name, s.kind, coalesce(k.category, 'other'), coalesce(k.visibility, 'internal'),"
            " s.territory_id, ST_X(s.geom), ST_Y(s.geom), s.asset_layer, s.asset_id, coalesce(k.unit, s.unit),"
            " coalesce(k.title_fr, s.kind), coalesce(k.title_en, s.kind), coalesce(k.expected_interval_s, 3600),"
            " coalesce(s.attributes -> 'detection', '{}')"
            " FROM twin.sensors s LEFT JOIN sensing.kinds k ON k.kind = s.kind WHERE s.id = ANY(%s)",
            (sensor_ids,),
        )
        .fetchall()
    )
    metas = {}
    for r in rows:
        lon, lat = float(r[6]), float(r[7])
        overrides = r[14] if isinstance(r[14], dict) else {}
        metas[int(r[0])] = SensorMeta(
            int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), lon, lat, h3.latlng_to_cell(lat, lon, 9),
            r[8], None if r[9] is None else int(r[9]), r[10], r[11], r[12], int(r[13]), overrides,
        )  # fmt: skip
    return metas


def load_thresholds(conn: psycopg.Connection, metas: dict[int, SensorMeta]) -> dict[int, list[ThresholdRow]]:
    kinds = sorted({m.kind for m in metas.values()})
    rows = conn.execute(
        "SELECT kind, sensor_id, id, severity, direction, value, averaging_s, sustained_s, label_fr, label_en, source"
        " FROM sensing.thresholds WHERE kind = ANY(%s) OR sensor_id = ANY(%s) ORDER BY id",
        (kinds, list(metas)),
    ).fetchall()
    by_kind: dict[str, list[ThresholdRow]] = {}
    by_sensor: dict[int, list[ThresholdRow]] = {}
    for kind, sensor_id, *rest in rows:
        row = ThresholdRow(
            int(rest[0]), rest[1], rest[2], float(rest[3]), int(rest[4]), int(rest[5]), *rest[6:]
        )
        if sensor_id is None:
            by_kind.setdefault(kind, []).append(row)
        else:
            by_sensor.setdefault(int(sensor_id), []).append(row)
    return {
        sid: effective_thresholds(by_kind.get(m.kind, []), by_sensor.get(sid, [])) for sid, m in metas.items()
    }


def load_history(
    conn: psycopg.Connection, firsts: dict[int, datetime]
) -> dict[int, list[tuple[datetime, float]]]:
    """The last readings of each sensor before its first reading of the batch, oldest first."""
    rows = conn.execute(
        "SELECT f.sensor_id, h.observed_at, h.value FROM unnest(%s::bigint[], %s::timestamptz[]) AS f(sensor_id, t)"
        " CROSS JOIN LATERAL (SELECT observed_at, value FROM sensing.readings r"
        "  WHERE r.sensor_id = f.sensor_id AND r.observed_at < f.t ORDER BY observed_at DESC LIMIT %s) h",
        (list(firsts), list(firsts.values()), HISTORY_READINGS),
    ).fetchall()
    history: dict[int, list[tuple[datetime, float]]] = {}
    for sensor_id, at, value in rows:
        history.setdefault(int(sensor_id), []).append((at, float(value)))
    for readings in history.values():
        readings.reverse()
    return history


def load_open(
    conn: psycopg.Connection, firsts: dict[int, datetime]
) -> dict[int, list[tuple[int, str, datetime, str, dict[str, Any]]]]:
    """Detections open at each sensor's first reading of the batch (still open, or closed only later)."""
    rows = conn.execute(
        "SELECT d.id, d.sensor_id, d.rule, d.started_at, d.severity, d.details"
        " FROM unnest(%s::bigint[], %s::timestamptz[]) AS f(sensor_id, t)"
        " JOIN sensing.detections d ON d.sensor_id = f.sensor_id AND d.started_at < f.t"
        "  AND (d.ended_at IS NULL OR d.ended_at >= f.t)"
        " ORDER BY d.started_at",
        (list(firsts), list(firsts.values())),
    ).fetchall()
    found: dict[int, list[tuple[int, str, datetime, str, dict[str, Any]]]] = {}
    for det_id, sensor_id, rule, started_at, severity, details in rows:
        found.setdefault(int(sensor_id), []).append((int(det_id), rule, started_at, severity, details or {}))
    return found


@dataclass
class Change:
    """What a batch did to one detection (key: sensor, rule, started_at), merged from its findings in order."""

    sensor_id: int
    rule: str
    started_at: datetime
    known_id: int | None
    severity: str = "info"
    last: Finding | None = None  # the latest finding with values and explanations (not a bare close)
    ended_at: datetime | None = None
    threshold_id: int | None = None

    def add(self, finding: Finding) -> None:
        if finding.action == "close":
            self.ended_at = finding.ended_at
            if severity_rank(finding.severity) > severity_rank(self.severity) and self.last is None:
                self.severity = finding.severity
            return
        self.ended_at = finding.ended_at  # an instant condition (a gap seen on arrival) opens closed
        self.last = finding
        if self.threshold_id is None:
            self.threshold_id = finding.threshold_id
        if severity_rank(finding.severity) > severity_rank(self.severity):
            self.severity = finding.severity


@dataclass(frozen=True, slots=True)
class Written:
    detection: Detection
    action: str  # opened, updated, closed


_COLUMNS = (
    "id, sensor_id, rule, severity, started_at, ended_at, value, expected, score, confidence,"
    " explanation_fr, explanation_en, details"
)


def write_changes(
    conn: psycopg.Connection, changes: Iterable[Change], metas: dict[int, SensorMeta]
) -> list[Written]:
    """Insert new detections and update known ones, in at most four statements; return what changed.

    A replay finds its rows already there (UNIQUE sensor, rule, started_at): they are updated only when
    something differs, so replaying the same readings writes and announces nothing.
    """
    changes = list(changes)
    fresh = [c for c in changes if c.known_id is None and c.last is not None]
    written: list[Written] = []
    ids: dict[tuple[int, str, datetime], int] = {}
    if fresh:
        rows = conn.execute(
            "INSERT INTO sensing.detections (sensor_id, rule, severity, started_at, ended_at, value, expected, score,"
            " confidence, explanation_fr, explanation_en, details, threshold_id, h3_cell)"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[],"
            " %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::text[], %s::text[], %s::jsonb[],"
            " %s::int[], %s::text[])"
            f" ON CONFLICT (sensor_id, rule, started_at) DO NOTHING RETURNING {_COLUMNS}",
            _columns(fresh, metas),
        ).fetchall()
        for row in rows:
            ids[(int(row[1]), row[2], row[4])] = int(row[0])
            written.append(Written(_detection(row, metas, opened=True), "opened"))
    unknown = [c for c in changes if c.known_id is None and (c.sensor_id, c.rule, c.started_at) not in ids]
    if unknown:
        rows = conn.execute(
            "SELECT d.id, d.sensor_id, d.rule, d.started_at FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[])"
            " AS k(sensor_id, rule, started_at) JOIN sensing.detections d USING (sensor_id, rule, started_at)",
            ([c.sensor_id for c in unknown], [c.rule for c in unknown], [c.started_at for c in unknown]),
        ).fetchall()
        found = {(int(r[1]), r[2], r[3]): int(r[0]) for r in rows}
        for c in unknown:
            c.known_id = found.get((c.sensor_id, c.rule, c.started_at))
    for c in changes:
        if c.known_id is None:
            c.known_id = ids.get((c.sensor_id, c.rule, c.started_at))
    # New rows were written in their final state; the others are updated when they got stronger or ended.
    updates = [
        c for c in changes if c.known_id is not None and (c.sensor_id, c.rule, c.started_at) not in ids
    ]
    if updates:
        last = [c.last for c in updates]
        rows = conn.execute(
            "UPDATE sensing.detections d SET"
            " severity = CASE WHEN array_position(%s::text[], u.severity) > array_position(%s::text[], d.severity)"
            "  THEN u.severity ELSE d.severity END,"
            " ended_at = coalesce(u.ended_at, d.ended_at), value = coalesce(u.value, d.value),"
            " expected = coalesce(u.expected, d.expected), score = coalesce(u.score, d.score),"
            " confidence = coalesce(u.confidence, d.confidence),"
            " explanation_fr = coalesce(u.fr, d.explanation_fr), explanation_en = coalesce(u.en, d.explanation_en),"
            " details = d.details || coalesce(u.details, '{}')"
            " FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::float8[], %s::float8[], %s::float8[],"
            " %s::float8[], %s::text[], %s::text[], %s::jsonb[])"
            " AS u(id, severity, ended_at, value, expected, score, confidence, fr, en, details)"
            " WHERE d.id = u.id AND ((u.ended_at IS NOT NULL AND d.ended_at IS DISTINCT FROM u.ended_at)"
            "  OR array_position(%s::text[], u.severity) > array_position(%s::text[], d.severity))"
            f" RETURNING {', '.join('d.' + c.strip() for c in _COLUMNS.split(','))}, u.ended_at IS NOT NULL",
            (
                list(SEVERITIES),
                list(SEVERITIES),
                [c.known_id for c in updates],
                [c.severity for c in updates],
                [c.ended_at for c in updates],
                [f.value if f else None for f in last],
                [f.expected if f else None for f in last],
                [f.score if f else None for f in last],
                [f.confidence if f else None for f in last],
                [f.explanation_fr if f else None for f in last],
                [f.explanation_en if f else None for f in last],
                [orjson.dumps(f.details).decode() if f else None for f in last],
                list(SEVERITIES),
                list(SEVERITIES),
            ),
        ).fetchall()
        for row in rows:
            ended = bool(row[-1])
            written.append(
                Written(_detection(row[:-1], metas, opened=False), "closed" if ended else "updated")
            )
    return written


def _columns(changes: list[Change], metas: dict[int, SensorMeta]) -> tuple[list[Any], ...]:
    finals = [c.last for c in changes]
    assert all(f is not None for f in finals)
    return (
        [c.sensor_id for c in changes],
        [c.rule for c in changes],
        [c.severity for c in changes],
        [c.started_at for c in changes],
        [c.ended_at for c in changes],
        [f.value for f in finals if f],
        [f.expected for f in finals if f],
        [f.score for f in finals if f],
        [f.confidence for f in finals if f],
        [f.explanation_fr for f in finals if f],
        [f.explanation_en for f in finals if f],
        [orjson.dumps(f.details).decode() for f in finals if f],
        [c.threshold_id for c in changes],
        [metas[c.sensor_id].h3_cell for c in changes],
    )


def _detection(row: tuple[Any, ...], metas: dict[int, SensorMeta], *, opened: bool) -> Detection:
    (
        det_id,
        sensor_id,
        rule,
        severity,
        started_at,
        ended_at,
        value,
        expected,
        score,
        confidence,
        fr,
        en,
        details,
    ) = row
    m = metas[int(sensor_id)]
    return Detection(
        id=int(det_id), sensor_id=m.id, sensor_name=m.name, kind=m.kind, category=m.category,
        visibility=m.visibility, territory_id=m.territory_id, lon=m.lon, lat=m.lat, h3_cell=m.h3_cell, rule=rule,
        severity=severity, started_at=started_at, ended_at=ended_at, value=value, expected=expected, score=score,
        confidence=float(confidence), explanation_fr=fr, explanation_en=en, opened=opened,
        asset_layer=m.asset_layer, asset_id=m.asset_id, details=details or {},
    )  # fmt: skip


def detection_json(d: Detection) -> dict[str, Any]:
    """The JSON form of a detection for live events and APIs (ISO 8601 times)."""
    return {
        "id": d.id, "sensor_id": d.sensor_id, "sensor_name": d.sensor_name, "kind": d.kind,
        "category": d.category, "visibility": d.visibility, "territory_id": d.territory_id, "lon": d.lon,
        "lat": d.lat, "h3_cell": d.h3_cell, "rule": d.rule, "severity": d.severity,
        "started_at": d.started_at.isoformat(), "ended_at": d.ended_at.isoformat() if d.ended_at else None,
        "value": d.value, "expected": d.expected, "score": d.score, "confidence": d.confidence,
        "explanation_fr": d.explanation_fr, "explanation_en": d.explanation_en, "opened": d.opened,
        "asset_layer": d.asset_layer, "asset_id": d.asset_id, "details": d.details,
    }  # fmt: skip
