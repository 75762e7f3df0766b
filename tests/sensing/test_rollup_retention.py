"""Hourly/daily rollups equal SQL aggregates of the raw readings, late readings re-roll their bucket, reruns
change nothing; retention drops only old, rolled-up monthly partitions (whole tables) and keeps the rollups;
the maintenance loop runs, survives failures and stops."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from sensing.maintenance import running_maintenance
from sensing.parse import Reading
from sensing.retention import drop_old_partitions, prune_rejected
from sensing.rollup import roll_up, watermark_of
from sensing.store import ReadingStore
from twin.cli import app


@pytest.fixture(scope="module")
def sensors(database_url: str) -> dict[str, int]:
    """Two flow meters and a temperature probe of a territory of this module."""
    with psycopg.connect(database_url) as conn:
        territory = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg) VALUES ('Rollup test', 2154) RETURNING id"
        ).fetchone()[0]
        ids = {}
        for name, kind, unit in (
            ("f1", "water_flow", "m³/h"),
            ("f2", "water_flow", "m³/h"),
            ("t1", "temperature", "°C"),
        ):
            ids[name] = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, geom)"
                " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326)) RETURNING id",
                (territory, name, kind, unit),
            ).fetchone()[0]
    return ids


def _store(url: str, readings: list[Reading]) -> int:
    with psycopg.connect(url) as conn:
        return ReadingStore().write(conn, readings, [], source="file", origin="test").inserted


def _series(sensor: int, start: datetime, count: int, step_s: int = 300, base: float = 50) -> list[Reading]:
    # A wave plus a trend: buckets with different means, minima and maxima.
    return [
        Reading(
            sensor, start + timedelta(seconds=i * step_s), round(base + 20 * math.sin(i / 7) + i * 0.01, 3)
        )
        for i in range(count)
    ]


def _rollups(url: str, table: str, ids: list[int]) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"SELECT sensor_id, bucket, n, mean, min, max FROM sensing.{table} WHERE sensor_id = ANY(%s)"
            " ORDER BY sensor_id, bucket",
            (ids,),
        ).fetchall()


def _raw_aggregates(url: str, unit: str, ids: list[int], since: datetime, until: datetime) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT sensor_id, date_trunc(%s, observed_at, 'UTC') AS b, count(*), avg(value), min(value), max(value)"
            " FROM sensing.readings WHERE sensor_id = ANY(%s) AND observed_at >= %s AND observed_at < %s"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            (unit, ids, since, until),
        ).fetchall()


def _same(rollups: list[tuple], raw: list[tuple]) -> None:
    assert len(rollups) == len(raw) > 0
    for got, want in zip(rollups, raw, strict=True):
        assert got[:3] == want[:3]
        assert got[3] == pytest.approx(want[3], rel=1e-12)
        assert (got[4], got[5]) == (want[4], want[5])


def test_rollups_equal_raw_aggregates_and_late_reading_rerolls_its_bucket(
    database_url: str, sensors: dict[str, int]
) -> None:
    ids = [sensors["f1"], sensors["f2"]]
    start = datetime(2020, 2, 27, 22, 0, tzinfo=UTC)  # across a month end (leap year) and several days
    until = datetime(2020, 3, 10, tzinfo=UTC)
    assert (
        _store(database_url, _series(ids[0], start, 1200) + _series(ids[1], start, 1000, step_s=420)) == 2200
    )
    with psycopg.connect(database_url) as conn:
        report = roll_up(conn)
    assert report.sensor_days >= 8 and report.watermark is not None
    _same(
        _rollups(database_url, "readings_hourly", ids),
        _raw_aggregates(database_url, "hour", ids, start, until),
    )
    _same(
        _rollups(database_url, "readings_daily", ids), _raw_aggregates(database_url, "day", ids, start, until)
    )

    # A late reading in an hour rolled long ago: its hour and day are recomputed at the next run.
    late_at = datetime(2020, 2, 28, 5, 2, 30, tzinfo=UTC)
    before = {r[1]: r for r in _rollups(database_url, "readings_hourly", [ids[0]])}[
        late_at.replace(minute=0, second=0)
    ]
    assert _store(database_url, [Reading(ids[0], late_at, 999.0)]) == 1
    with psycopg.connect(database_url) as conn:
        assert roll_up(conn).sensor_days >= 1
    after = {r[1]: r for r in _rollups(database_url, "readings_hourly", [ids[0]])}[
        late_at.replace(minute=0, second=0)
    ]
    assert after[2] == before[2] + 1 and after[5] == 999.0 and after[3] > before[3]
    _same(
        _rollups(database_url, "readings_daily", ids), _raw_aggregates(database_url, "day", ids, start, until)
    )

    # Idempotent: an incremental run with nothing new, and a full recompute of the range, change nothing.
    hourly, daily = (
        _rollups(database_url, "readings_hourly", ids),
        _rollups(database_url, "readings_daily", ids),
    )
    with psycopg.connect(database_url) as conn:
        assert roll_up(conn).sensor_days == 0
        assert roll_up(conn, since=start, until=until).sensor_days >= 8
    # (Means equal to the last bit but one: a sum's order depends on the plan.)
    _same(_rollups(database_url, "readings_hourly", ids), hourly)
    _same(_rollups(database_url, "readings_daily", ids), daily)


def test_retention_drops_only_old_rolled_up_partitions_and_keeps_rollups(
    database_url: str, sensors: dict[str, int]
) -> None:
    sensor = sensors["t1"]
    # Months nobody else writes: 1995. "Now" is 1995-06-10, retention 30 days: Jan and Feb are old enough,
    # May (ends 1995-06-01, after the limit 1995-05-11) is not.
    for month in (1, 2, 5):
        assert (
            _store(
                database_url, _series(sensor, datetime(1995, month, 3, tzinfo=UTC), 100, step_s=900, base=10)
            )
            == 100
        )
    now = datetime(1995, 6, 10, tzinfo=UTC)
    with psycopg.connect(database_url) as conn:
        # A run that started before these readings were stored cannot have rolled them: simulate it.
        conn.execute("UPDATE sensing.rollup_state SET watermark = '1994-01-01'")
    early = drop_old_partitions(database_url, raw_retention_days=30, now=now)
    assert early.dropped == [] and early.kept_not_rolled == ["readings_1995_01", "readings_1995_02"]

    with psycopg.connect(database_url) as conn:
        roll_up(conn)
    hourly = _rollups(database_url, "readings_hourly", [sensor])
    daily = _rollups(database_url, "readings_daily", [sensor])
    assert sum(r[2] for r in daily) == 300

    report = drop_old_partitions(database_url, raw_retention_days=30, now=now)
    assert report.dropped == ["readings_1995_01", "readings_1995_02"] and report.kept_not_rolled == []
    assert "2 raw partitions dropped" in report.summary()
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT to_regclass('sensing.readings_1995_01'), to_regclass('sensing.readings_1995_02'),"
            " to_regclass('sensing.readings_1995_05')"
        ).fetchone()
        assert tables[:2] == (None, None) and tables[2] is not None
        left = conn.execute(
            "SELECT count(*) FROM sensing.readings WHERE sensor_id = %s", (sensor,)
        ).fetchone()[0]
    assert left == 100  # May only
    assert _rollups(database_url, "readings_hourly", [sensor]) == hourly  # history kept in the rollups
    assert _rollups(database_url, "readings_daily", [sensor]) == daily
    # 0 keeps everything.
    assert (
        drop_old_partitions(database_url, raw_retention_days=0, now=datetime(2100, 1, 1, tzinfo=UTC)).dropped
        == []
    )


def test_prune_rejected_deletes_only_old_refusals(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sensing.rejected (received_at, source, origin, payload, reason) VALUES"
            " (now() - interval '100 days', 'http', 'prune-test', '{}', 'old'),"
            " (now() - interval '10 days', 'http', 'prune-test', '{}', 'recent')"
        )
    assert prune_rejected(database_url, retention_days=90) >= 1
    assert prune_rejected(database_url, retention_days=0) == 0
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT reason FROM sensing.rejected WHERE origin = 'prune-test'").fetchall()
    assert left == [("recent",)]


def test_cli_rollup_and_prune(database_url: str, sensors: dict[str, int], monkeypatch) -> None:
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    _store(database_url, _series(sensors["f1"], datetime(2020, 4, 1, tzinfo=UTC), 24))
    result = CliRunner().invoke(app, ["sensing", "rollup"])
    assert result.exit_code == 0, result.output
    assert "sensor days rolled up" in result.output
    ranged = CliRunner().invoke(
        app, ["sensing", "rollup", "--from", "2020-04-01T00:00:00Z", "--to", "2020-04-02T00:00:00Z"]
    )
    assert ranged.exit_code == 0 and ranged.output.startswith("1 sensor days"), ranged.output
    naive = CliRunner().invoke(
        app, ["sensing", "rollup", "--from", "2020-04-01T00:00:00", "--to", "2020-04-02T00:00:00Z"]
    )
    assert naive.exit_code != 0 and "no offset" in naive.output
    pruned = CliRunner().invoke(app, ["sensing", "prune", "--raw-retention-days", "0"])
    assert pruned.exit_code == 0 and "0 raw partitions dropped" in pruned.output, pruned.output


def test_maintenance_loop_runs_survives_failures_and_stops(database_url: str) -> None:
    async def run(url: str) -> tuple[int, int, int]:
        async with running_maintenance(
            url, raw_retention_days=0, rollup_period_s=0.05, retention_period_s=0.1
        ) as stats:
            for _ in range(400):
                await asyncio.sleep(0.05)
                if stats.rollups + stats.failures >= 3 and (stats.retentions or stats.failures):
                    break
        return stats.rollups, stats.retentions, stats.failures

    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE sensing.rollup_state SET ran_at = NULL")
    rollups, retentions, failures = asyncio.run(run(database_url))
    assert rollups >= 3 and retentions >= 1 and failures == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT ran_at FROM sensing.rollup_state").fetchone()[0] is not None
        assert watermark_of(conn) is not None

    # A database that is not there: every run fails, is logged, and the loop goes on until stopped.
    rollups, _, failures = asyncio.run(run("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"))
    assert rollups == 0 and failures >= 3
