"""Hourly and daily rollups of ``sensing.readings``: run the SQL functions of migration 0013 and report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # the parser refuses readings before 1990
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RollupReport:
    #: Sensor days recomputed (-1: another run held the lock, nothing done).
    sensor_days: int
    #: Every reading received before this instant is in the rollups.
    watermark: datetime | None

    def summary(self) -> str:
        if self.sensor_days < 0:
            return "another rollup is running: nothing done"
        mark = self.watermark.isoformat() if self.watermark else "never"
        return f"{self.sensor_days} sensor days rolled up; readings received before {mark} are in the rollups"


def roll_up(
    conn: psycopg.Connection[Any], *, since: datetime | None = None, until: datetime | None = None
) -> RollupReport:
    """Roll up in the caller's transaction (the caller commits).

    Without ``since``/``until``: the readings received since the last run (incremental, moves the
    watermark). With them: recompute every sensor day of ``[since, until)``, whatever was done before.
    Both are idempotent.
    """
    cur = conn.cursor(row_factory=tuple_row)
    if since is None and until is None:
        row = cur.execute("SELECT sensing.rollup()").fetchone()
    else:
        row = cur.execute(
            "SELECT sensing.rollup(%s, %s)",
            (since or _EARLIEST, until or _LATEST),
        ).fetchone()
    assert row is not None
    return RollupReport(int(row[0]), watermark_of(conn))


def watermark_of(conn: psycopg.Connection[Any]) -> datetime | None:
    """The instant before which every received reading is rolled up (None: never rolled up)."""
    # psycopg cannot load '-infinity' (never rolled up) into a datetime.
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute("SELECT nullif(watermark, '-infinity') FROM sensing.rollup_state")
        .fetchone()
    )
    return row[0] if row is not None else None
