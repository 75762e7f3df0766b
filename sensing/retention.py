"""Retention: drop whole monthly partitions of raw readings once they are old and rolled up; prune refusals.

A partition is dropped (``DROP TABLE``: instant, no bloat, never a big ``DELETE``) only when its whole month
is older than the retention and every reading in it was received before the rollup watermark, so the
hourly and daily rollups keep its history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

log = logging.getLogger(__name__)

#: Refused readings are kept this long by default (the reasons matter for a few weeks of diagnosis).
REJECTED_RETENTION_DAYS = 90
#: A partition drop waits at most this long for readers to let go of ``sensing.readings``, then is retried
#: at the next run rather than queueing the ingester behind it.
LOCK_TIMEOUT_MS = 5_000


@dataclass
class RetentionReport:
    dropped: list[str] = field(default_factory=list)
    #: Old enough, but holding readings received after the rollup watermark (rolled up at the next run).
    kept_not_rolled: list[str] = field(default_factory=list)
    rejected_deleted: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.dropped)} raw partitions dropped ({', '.join(self.dropped) or 'none'})"]
        if self.kept_not_rolled:
            parts.append(f"kept until rolled up: {', '.join(self.kept_not_rolled)}")
        parts.append(f"{self.rejected_deleted} old refusals deleted")
        return "; ".join(parts)


def month_partitions(conn: psycopg.Connection) -> list[tuple[str, datetime]]:
    """The partitions of ``sensing.readings`` with the end of their month, oldest first."""
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'sensing.readings'::regclass ORDER BY c.relname"
        )
        .fetchall()
    )
    found = []
    for (name,) in rows:
        end = month_end_of(name)
        if end is not None:
            found.append((name, end))
    return found


def month_end_of(partition: str) -> datetime | None:
    """The end (exclusive, UTC) of the month a partition named ``readings_YYYY_MM`` holds.

    Examples
    --------
    >>> month_end_of("readings_2019_12").isoformat()
    '2020-01-01T00:00:00+00:00'
    >>> month_end_of("readings_old") is None
    True
    """
    try:
        _, year, month = partition.split("_")
        y, m = int(year), int(month)
    except ValueError:
        return None
    return datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)


def drop_old_partitions(url: str, *, raw_retention_days: int, now: datetime | None = None) -> RetentionReport:
    """Drop the raw partitions whose month ended more than ``raw_retention_days`` ago and is rolled up.

    ``raw_retention_days`` 0 keeps everything. Each drop is its own transaction.
    """
    report = RetentionReport()
    if raw_retention_days <= 0:
        return report
    limit = (now or datetime.now(UTC)) - timedelta(days=raw_retention_days)
    with psycopg.connect(url, autocommit=True) as conn:
        for name, end in month_partitions(conn):
            if end > limit:
                break
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                table = sql.Identifier("sensing", name)
                # The BRIN index on received_at makes this a small scan of the block ranges after the mark.
                late = conn.execute(
                    sql.SQL(
                        "SELECT EXISTS (SELECT 1 FROM {} WHERE received_at >="
                        " (SELECT watermark FROM sensing.rollup_state))"
                    ).format(table)
                ).fetchone()
                if late is None or late[0]:
                    report.kept_not_rolled.append(name)
                    continue
                conn.execute(sql.SQL("DROP TABLE {}").format(table))
                log.info(
                    "dropped raw readings partition sensing.%s (rolled up, older than %d days)",
                    name,
                    raw_retention_days,
                )
                report.dropped.append(name)
    return report


def prune_rejected(url: str, *, retention_days: int = REJECTED_RETENTION_DAYS) -> int:
    """Delete refusals received more than ``retention_days`` ago (0 keeps all); return how many."""
    if retention_days <= 0:
        return 0
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            "DELETE FROM sensing.rejected WHERE received_at < now() - make_interval(days => %s)",
            (retention_days,),
        )
        return cur.rowcount


def apply_retention(
    url: str, *, raw_retention_days: int, rejected_retention_days: int = REJECTED_RETENTION_DAYS
) -> RetentionReport:
    """Roll up what is pending (so old months qualify), drop old raw partitions, prune old refusals."""
    from sensing.rollup import roll_up

    with psycopg.connect(url) as conn:
        roll_up(conn)
    report = drop_old_partitions(url, raw_retention_days=raw_retention_days)
    report.rejected_deleted = prune_rejected(url, retention_days=rejected_retention_days)
    return report
