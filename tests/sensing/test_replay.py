"""Replay of wide BattLeDIM-style CSV files through the ReadingStore: stored once, bad rows refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from sensing.replay import replay_csv
from twin.cli import app
from twin.errors import InvalidInput

CSV = """Timestamp;p227;T1
2021-03-01 00:00:00;88,14;3,41
2021-03-01 00:05:00;82,9;3,43
2021-03-01 00:05:00;99,9;9,99
2021-03-01 00:10:00;;3,45
yesterday;81,0;3,40
2021-03-01 00:15:00;80,5
2021-03-01 00:20:00;abc;3,47
"""


def _rows(url: str, sensor: int) -> list[tuple[datetime, float]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT observed_at, value FROM sensing.readings WHERE sensor_id = %s"
            " AND observed_at >= '2021-03-01' AND observed_at < '2021-04-01' ORDER BY observed_at",
            (sensor,),
        ).fetchall()


def _rejected(url: str, name: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT origin, reason FROM sensing.rejected WHERE source = 'file' AND origin LIKE %s ORDER BY id",
            (f"{name}:%",),
        ).fetchall()


def test_replay_stores_each_reading_once_and_refuses_bad_rows(
    tmp_path: Path, database_url: str, sensor_ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "scada-replay-test.csv"
    path.write_text(CSV, encoding="utf-8")
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["sensing", "replay", str(path), "--territory", "Sensing test"])
    assert result.exit_code == 0, result.output
    # 6 readings stored (p227 ×2, T1 ×4); the repeated 00:05 row gives 2 duplicates.
    assert "7 rows: 6 readings stored, 2 duplicates, 3 rejected" in result.output

    p227 = _rows(database_url, sensor_ids["p227"])
    assert p227 == [
        (datetime(2021, 3, 1, 0, 0, tzinfo=UTC), 88.14),
        (datetime(2021, 3, 1, 0, 5, tzinfo=UTC), 82.9),  # the first value of a duplicated instant wins
    ]
    t1 = _rows(database_url, sensor_ids["T1"])
    assert [v for _, v in t1] == [3.41, 3.43, 3.45, 3.47]
    rejected = _rejected(database_url, path.name)
    assert rejected == [
        (f"{path.name}:6", "time 'yesterday' is not ISO 8601; send e.g. 2019-01-01T00:05:00Z"),
        (f"{path.name}:7", "2 cells, the header has 3"),
        (f"{path.name}:8", "value 'abc' is not a number; send e.g. 12.5 or 12,5"),
    ]

    # Replaying the same file again stores nothing new (the rejections are recorded again: each try is logged).
    again = replay_csv(database_url, path, territory="Sensing test")
    assert (again.counts.inserted, again.counts.duplicates, again.counts.rejected) == (0, 8, 3)
    assert len(_rows(database_url, sensor_ids["p227"])) == 2


def test_replay_with_prefix_timezone_and_speed(
    tmp_path: Path, database_url: str, sensor_ids: dict[str, int]
) -> None:
    path = tmp_path / "levels.csv"
    path.write_text("Timestamp;1\n2021-03-02 01:00:00;3,5\n2021-03-02 01:00:30;3,6\n", encoding="utf-8")
    report = replay_csv(
        database_url, path, sensor_prefix="T", timezone="Europe/Paris", speed=100, territory="Sensing test"
    )
    assert report.counts.inserted == 2
    stored = dict(_rows(database_url, sensor_ids["T1"]))
    assert stored[datetime(2021, 3, 2, 0, 0, tzinfo=UTC)] == 3.5  # 01:00 in Paris is 00:00 UTC in March


def test_replay_refuses_unknown_sensor_columns(
    tmp_path: Path, database_url: str, sensor_ids: dict[str, int]
) -> None:
    path = tmp_path / "unknown.csv"
    path.write_text("Timestamp;nope\n2021-03-01 00:00:00;1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no sensor named nope"):
        replay_csv(database_url, path)
