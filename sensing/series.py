"""Time series of one sensor over a range: raw readings, or buckets (mean, min, max, count) read from the
hourly/daily rollups when the step allows, from raw readings otherwise.

Buckets start at multiples of the step since the Unix epoch (UTC), so hourly and daily rollups fit whole
buckets of any step that is a multiple of an hour or a day. Readings newer than the rollup watermark come
from the raw table, so the last buckets are complete before the next rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import tuple_row

from twin.errors import InvalidInput

#: Points an ``auto`` series aims below.
AUTO_MAX_POINTS = 1_500
#: Buckets an explicit step may produce.
MAX_BUCKETS = 10_000
#: Raw readings one request may return.
RAW_LIMIT = 50_000
#: Steps ``auto`` chooses from: each a divisor or multiple of an hour or a day, so rollups serve the long ones.
AUTO_STEPS_S = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000)
HOUR_S = 3600
DAY_S = 86400

Source = Literal["raw", "hourly", "daily"]


@dataclass(frozen=True)
class Plan:
    step_s: int
    source: Source
    start: datetime
    end: datetime


def auto_step_s(span_s: float, *, max_points: int = AUTO_MAX_POINTS) -> int:
    """The smallest step of :data:`AUTO_STEPS_S` that cuts ``span_s`` into at most ``max_points`` buckets.

    Examples
    --------
    >>> auto_step_s(86400), auto_step_s(7 * 86400), auto_step_s(365 * 86400)
    (60, 600, 21600)
    """
    for step in AUTO_STEPS_S:
        if span_s / step <= max_points:
            return step
    return AUTO_STEPS_S[-1]


def source_for(step_s: int) -> Source:
    """The coarsest stored table whose buckets fit whole in buckets of ``step_s``.

    Examples
    --------
    >>> source_for(300), source_for(7200), source_for(172800)
    ('raw', 'hourly', 'daily')
    """
    if step_s % DAY_S == 0:
        return "daily"
    if step_s % HOUR_S == 0:
        return "hourly"
    return "raw"


def align(start: datetime, end: datetime, step_s: int) -> tuple[datetime, datetime]:
    """Widen ``[start, end)`` to whole buckets of ``step_s`` (multiples of the step since the epoch).

    Examples
    --------
    >>> a, b = align(datetime(2019, 1, 1, 10, 30, tzinfo=UTC), datetime(2019, 1, 1, 12, 1, tzinfo=UTC), 3600)
    >>> a.isoformat(), b.isoformat()
    ('2019-01-01T10:00:00+00:00', '2019-01-01T13:00:00+00:00')
    """
    lo = int(start.timestamp()) // step_s * step_s
    end_s = end.timestamp()
    hi = int(-(-end_s // step_s)) * step_s
    return datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(max(hi, lo + step_s), UTC)


def plan_series(start: datetime, end: datetime, step: str) -> Plan | None:
    """What to read for ``step`` (``raw``, ``auto`` or a number of seconds); None for raw readings.

    Raises
    ------
    InvalidInput
        A step that is neither, or one that would make more than :data:`MAX_BUCKETS` buckets.
    """
    if end <= start:
        raise InvalidInput(f"'to' ({end.isoformat()}) must be after 'from' ({start.isoformat()})")
    if step == "raw":
        return None
    span_s = (end - start).total_seconds()
    if step == "auto":
        step_s = auto_step_s(span_s)
    else:
        if not (step.isascii() and step.isdigit()) or len(step) > 9 or int(step) < 1:
            raise InvalidInput(
                f"step {step!r} is not understood: send raw, auto, or a whole number of seconds (e.g. 3600)"
            )
        step_s = int(step)
        if span_s / step_s > MAX_BUCKETS:
            raise InvalidInput(
                f"step {step_s} s cuts this range into {int(span_s // step_s)} buckets, more than {MAX_BUCKETS}:"
                " send a longer step, a shorter range, or step=auto"
            )
    lo, hi = align(start, end, step_s)
    return Plan(step_s, source_for(step_s), lo, hi)


_BUCKET = "floor(extract(epoch FROM {column}) / %(step)s) * %(step)s"

_RAW_BUCKETS = f"""
SELECT ({_BUCKET.format(column="observed_at")})::bigint AS b, count(*), avg(value), min(value), max(value)
FROM sensing.readings WHERE sensor_id = %(sensor)s AND observed_at >= %(from)s AND observed_at < %(to)s
GROUP BY b ORDER BY b"""

# Rollup buckets before the cut, raw readings after it, merged bucket by bucket (means weighted by count).
_ROLLUP_BUCKETS = """
WITH parts AS (
    SELECT bucket AS t, n, mean, min, max FROM sensing.{table}
    WHERE sensor_id = %(sensor)s AND bucket >= %(from)s AND bucket < least(%(to)s, %(cut)s)
    UNION ALL
    SELECT observed_at, 1, value, value, value FROM sensing.readings
    WHERE sensor_id = %(sensor)s AND observed_at >= greatest(%(from)s, %(cut)s) AND observed_at < %(to)s
)
SELECT ({bucket})::bigint AS b, sum(n), sum(mean * n) / sum(n), min(min), max(max)
FROM parts GROUP BY b ORDER BY b"""


async def bucket_points(conn: AsyncConnection[Any], sensor_id: int, plan: Plan) -> list[list[float | int]]:
    """``[[epoch_ms, mean, min, max, count], …]`` for the buckets of ``plan`` that hold readings."""
    params: dict[str, Any] = {"sensor": sensor_id, "step": plan.step_s, "from": plan.start, "to": plan.end}
    if plan.source == "raw":
        query = _RAW_BUCKETS
    else:
        cur = await conn.cursor(row_factory=tuple_row).execute(
            "SELECT date_trunc(%s, watermark, 'UTC') FROM sensing.rollup_state WHERE watermark > '-infinity'",
            ("hour" if plan.source == "hourly" else "day",),
        )
        mark = await cur.fetchone()
        params["cut"] = mark[0] if mark else datetime(1970, 1, 1, tzinfo=UTC)
        table = "readings_hourly" if plan.source == "hourly" else "readings_daily"
        query = _ROLLUP_BUCKETS.format(table=table, bucket=_BUCKET.format(column="t"))
    cur = await conn.cursor(row_factory=tuple_row).execute(query, params)
    return [
        [int(b) * 1000, float(mean), float(lo), float(hi), int(n)]
        for b, n, mean, lo, hi in await cur.fetchall()
    ]


async def raw_points(
    conn: AsyncConnection[Any], sensor_id: int, start: datetime, end: datetime, *, limit: int | None = None
) -> list[list[float | int]]:
    """``[[epoch_ms, value], …]``; more than ``limit`` readings in the range is refused, not cut."""
    if end <= start:
        raise InvalidInput(f"'to' ({end.isoformat()}) must be after 'from' ({start.isoformat()})")
    limit = RAW_LIMIT if limit is None else limit
    cur = await conn.cursor(row_factory=tuple_row).execute(
        "SELECT (extract(epoch FROM observed_at) * 1000)::bigint, value FROM sensing.readings"
        " WHERE sensor_id = %s AND observed_at >= %s AND observed_at < %s ORDER BY observed_at LIMIT %s",
        (sensor_id, start, end, limit + 1),
    )
    rows = await cur.fetchall()
    if len(rows) > limit:
        raise InvalidInput(
            f"more than {limit} readings between {start.isoformat()} and {end.isoformat()}: send a shorter"
            " range, or step=auto for buckets"
        )
    return [[int(t), float(v)] for t, v in rows]
