"""``hyperviseur detection learn|scan|quality`` and the data-quality query, with their refusals."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from detection.profiles import learn_profiles
from sensing.parse import Reading
from sensing.quality import data_quality
from sensing.store import ReadingStore
from tests.detection.conftest import new_sensor, rows, series
from twin.cli import app
from twin.errors import InvalidInput

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday


def _store(url: str, sensor: int, points: list[tuple[datetime, float]]) -> None:
    with psycopg.connect(url) as conn:
        ReadingStore().write(
            conn, [Reading(sensor, t, v) for t, v in points], [], source="file", origin="test"
        )


def _profiles_fingerprint(url: str) -> list[tuple]:
    return rows(
        url,
        "SELECT count(*), coalesce(md5(string_agg(p::text, '|' ORDER BY p::text)), '') FROM sensing.profiles p",
    )


def _daily(i: int) -> float:
    """A flow with a daily cycle (5-min steps) and a little deterministic noise."""
    return 60.0 + 30.0 * math.sin(2 * math.pi * i / 288) + (i * 7919 % 11 - 5) * 0.3


@pytest.fixture
def flow_sensor(database_url: str, territory_id: int) -> tuple[int, str]:
    name = f"cli-flow-{datetime.now().timestamp()}"
    sensor = new_sensor(database_url, territory_id, "water_flow", name=name)
    two_weeks = [_daily(i) for i in range(14 * 288)]
    leak_day = [_daily(i) + 25.0 for i in range(14 * 288, 15 * 288)]
    _store(database_url, sensor, series(T0, 300, two_weeks + leak_day))
    return sensor, name


def test_learn_then_scan_finds_the_step_and_a_second_scan_writes_nothing(
    database_url: str, flow_sensor: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor, name = flow_sensor
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    runner = CliRunner()
    learned = runner.invoke(
        app,
        [
            "detection",
            "learn",
            "--from",
            "2024-03-04",
            "--to",
            "2024-03-18",
            "--sensor",
            name,
            "--timezone",
            "UTC",
        ],
    )
    assert learned.exit_code == 0, learned.output
    assert "1 sensor profiles learned (168 slots)" in learned.output
    [(slots, samples)] = rows(
        database_url, "SELECT count(*), min(samples) FROM sensing.profiles WHERE sensor_id = %s", (sensor,)
    )
    assert (slots, samples) == (168, 24)  # 12 readings an hour, two weeks
    scanned = runner.invoke(
        app, ["detection", "scan", "--from", "2024-03-18", "--to", "2024-03-19", "--sensor", name]
    )
    assert scanned.exit_code == 0, scanned.output
    assert "288 readings scanned; detections opened: anomaly 1" in scanned.output
    [(started, severity, explanation)] = rows(
        database_url,
        "SELECT started_at, severity, explanation_en FROM sensing.detections WHERE sensor_id = %s AND rule = 'anomaly'",
        (sensor,),
    )
    assert T0 + timedelta(days=14) <= started < T0 + timedelta(days=14, hours=2)
    assert "above its Monday 00:00 profile" in explanation or "above its Monday 01:00 profile" in explanation
    again = runner.invoke(
        app, ["detection", "scan", "--from", "2024-03-18", "--to", "2024-03-19", "--sensor", name]
    )
    assert again.exit_code == 0 and "detections opened: none" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-03-18", "--to", "2024-03-04"], "the period is empty"),
        (["--from", "2024-03-04", "--to", "2024-03-18", "--slot-minutes", "11"], "does not divide a week"),
        (["--from", "2024-03-04", "--to", "2024-03-18", "--timezone", "Mars/Olympus"], "not an IANA zone"),
        (["--from", "1999-01-01", "--to", "1999-02-01"], "nothing learned, profiles unchanged"),
        (["--from", "yesterday", "--to", "2024-03-18"], "is not ISO 8601"),
        (
            ["--from", "2024-03-04", "--to", "2024-03-18", "--sensor", "no-such-sensor"],
            "no sensor named no-such-sensor",
        ),
    ],
)
def test_learn_refuses_bad_input_and_changes_nothing(
    database_url: str,
    flow_sensor: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    before = _profiles_fingerprint(database_url)
    result = CliRunner().invoke(app, ["detection", "learn", *args])
    # The CLI's main() turns InvalidInput into "error: …" and exit code 2; the runner hands it back raw.
    assert isinstance(result.exception, InvalidInput), result.output
    assert message in str(result.exception) and result.exception.exit_code == 2
    assert _profiles_fingerprint(database_url) == before


def test_learn_keeps_other_profiles_when_refused(database_url: str, flow_sensor: tuple[int, str]) -> None:
    sensor, _ = flow_sensor
    learn_profiles(database_url, [sensor], T0, T0 + timedelta(days=14), timezone="UTC")
    before = _profiles_fingerprint(database_url)
    with pytest.raises(InvalidInput, match="nothing learned"):
        learn_profiles(
            database_url, [sensor], T0 - timedelta(days=60), T0 - timedelta(days=30), timezone="UTC"
        )
    assert _profiles_fingerprint(database_url) == before


def test_data_quality_counts_uptime_gaps_and_rejections(database_url: str, territory_id: int) -> None:
    sensor = new_sensor(database_url, territory_id, "water_pressure")
    start = datetime(2024, 5, 1, tzinfo=UTC)
    minutes = [m for m in range(0, 120, 5) if not 30 <= m <= 65]  # a 45-min silence between 00:25 and 01:10
    _store(database_url, sensor, [(start + timedelta(minutes=m), 40.0 + m / 100) for m in minutes])
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sensing.rejected (received_at, source, origin, sensor_id, payload, reason)"
            " VALUES (%s, 'http', 'test', %s, '{}', 'value above range')",
            (start + timedelta(minutes=10), sensor),
        )
        [q] = data_quality(conn, [sensor], start, start + timedelta(hours=2))
    assert (q.intervals_expected, q.intervals_covered, q.readings) == (24, 16, 16)
    assert q.uptime_pct == pytest.approx(100 * 16 / 24)
    assert (q.gaps, q.longest_gap_s, q.rejected) == (1, 2700.0, 1)
    with psycopg.connect(database_url) as conn:
        [silent] = data_quality(conn, [sensor], start + timedelta(hours=3), start + timedelta(hours=4))
    assert (silent.uptime_pct, silent.gaps, silent.longest_gap_s) == (0.0, 1, 3600.0)


def test_data_quality_refuses_an_empty_or_naive_period(database_url: str) -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    with psycopg.connect(database_url) as conn:
        with pytest.raises(InvalidInput, match="period is empty"):
            data_quality(conn, None, start, start)
        with pytest.raises(InvalidInput, match="time zone offset"):
            data_quality(conn, None, datetime(2024, 5, 1), datetime(2024, 5, 2))


def test_quality_command_prints_a_row_per_sensor(
    database_url: str, flow_sensor: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, name = flow_sensor
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    result = CliRunner().invoke(
        app, ["detection", "quality", "--from", "2024-03-04", "--to", "2024-03-05", "--sensor", name]
    )
    assert result.exit_code == 0, result.output
    assert f"{name}\t100.0\t288\t0\t0.0\t0" in result.output
