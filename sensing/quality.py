"""Data quality of sensors over a period: uptime, gaps and rejected readings, in one SQL query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from twin.errors import InvalidInput

#: Silent for more than this many expected intervals: a gap (the same factor as detection's gap rule).
GAP_FACTOR = 3


@dataclass(frozen=True, slots=True)
class SensorQuality:
    sensor_id: int
    name: str
    expected_interval_s: int
    #: Expected intervals in the period, and how many hold at least one reading.
    intervals_expected: int
    intervals_covered: int
    readings: int
    gaps: int
    longest_gap_s: float
    #: Readings of this sensor refused at ingestion during the period (by time received).
    rejected: int

    @property
    def uptime_pct(self) -> float:
        return 100.0 * self.intervals_covered / self.intervals_expected if self.intervals_expected else 0.0


_QUALITY_SQL = """
WITH s AS (
    SELECT s.id, s.name, coalesce(k.expected_interval_s, 3600) AS iv
    FROM twin.sensors s LEFT JOIN sensing.kinds k ON k.kind = s.kind
    WHERE %(ids)s::bigint[] IS NULL OR s.id = ANY(%(ids)s::bigint[])
), pts AS (
    SELECT s.id AS sensor_id, s.iv, x.t, x.real
    FROM s CROSS JOIN LATERAL (
        SELECT observed_at AS t, true AS real FROM sensing.readings r
        WHERE r.sensor_id = s.id AND r.observed_at >= %(start)s AND r.observed_at < %(end)s
        UNION ALL SELECT %(start)s::timestamptz, false
        UNION ALL SELECT %(end)s::timestamptz, false
    ) x
), steps AS (
    SELECT sensor_id, iv, t, real,
           extract(epoch FROM t - lag(t) OVER (PARTITION BY sensor_id ORDER BY t, real DESC)) AS step_s
    FROM pts
)
SELECT s.id, s.name, s.iv,
       ceil(extract(epoch FROM %(end)s::timestamptz - %(start)s::timestamptz) / s.iv)::int,
       count(DISTINCT floor(extract(epoch FROM st.t - %(start)s::timestamptz) / s.iv)) FILTER (WHERE st.real),
       count(*) FILTER (WHERE st.real),
       count(*) FILTER (WHERE st.step_s > %(factor)s * s.iv),
       coalesce(max(st.step_s) FILTER (WHERE st.step_s > %(factor)s * s.iv), 0),
       (SELECT count(*) FROM sensing.rejected j WHERE j.sensor_id = s.id
          AND j.received_at >= %(start)s AND j.received_at < %(end)s)
FROM s JOIN steps st ON st.sensor_id = s.id
GROUP BY s.id, s.name, s.iv ORDER BY s.id
"""


def data_quality(
    conn: psycopg.Connection, sensor_ids: list[int] | None, start: datetime, end: datetime
) -> list[SensorQuality]:
    """Uptime (share of expected intervals with a reading), gaps (silences longer than
    ``GAP_FACTOR`` intervals, the period's bounds included) and rejected readings of each sensor."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("the period's bounds need a time zone offset (e.g. 2019-01-01T00:00:00Z)")
    if end <= start:
        raise InvalidInput(f"the period is empty: {end.isoformat()} is not after {start.isoformat()}")
    rows = conn.execute(
        _QUALITY_SQL, {"ids": sensor_ids, "start": start, "end": end, "factor": GAP_FACTOR}
    ).fetchall()
    return [
        SensorQuality(
            int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), float(r[7]), int(r[8])
        )
        for r in rows
    ]
