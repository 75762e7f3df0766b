"""Each detection rule on synthetic readings stored through the real ReadingStore and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from detection.engine import Detector
from tests.detection.conftest import Pipeline, new_sensor, rows, series

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _detections(url: str, sensor_id: int) -> list[tuple]:
    return rows(
        url,
        "SELECT rule, severity, started_at, ended_at, value, explanation_fr, explanation_en, details"
        " FROM sensing.detections WHERE sensor_id = %s ORDER BY started_at, rule",
        (sensor_id,),
    )


def test_no2_alert_needs_three_consecutive_hourly_means(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "no2", name="no2-alert")
    start = T0 + timedelta(days=10)
    assert pipeline.feed_each(sensor, series(start, 3600, [80, 90, 100])) == []
    first = pipeline.feed_each(sensor, series(start + timedelta(hours=3), 3600, [420]))
    # Above 200 µg/m³ (hourly mean): information threshold at once; above 400 but not yet for 3 h.
    assert [(d.rule, d.severity, d.opened) for d in first] == [("threshold", "warning", True)]
    second = pipeline.feed_each(sensor, series(start + timedelta(hours=4), 3600, [430]))
    assert second == []
    third = pipeline.feed_each(sensor, series(start + timedelta(hours=5), 3600, [410]))
    assert [(d.rule, d.severity, d.opened) for d in third] == [("threshold", "alert", False)]
    assert third[0].started_at == start + timedelta(hours=3)
    assert "400 µg/m³" in third[0].explanation_en and "for 3 h" in third[0].explanation_en
    assert "seuil d'alerte NO2" in third[0].explanation_fr and "depuis 3 h" in third[0].explanation_fr
    # Back under: released for one expected interval (two readings), then closed where it first cleared.
    assert pipeline.feed_each(sensor, series(start + timedelta(hours=6), 3600, [120])) == []
    closed = pipeline.feed_each(sensor, series(start + timedelta(hours=7), 3600, [110]))
    assert [(d.rule, d.ended_at) for d in closed] == [("threshold", start + timedelta(hours=6))]
    [(rule, severity, started, ended, _value, _fr, _en, details)] = _detections(database_url, sensor)
    assert (rule, severity, started, ended) == (
        "threshold",
        "alert",
        start + timedelta(hours=3),
        start + timedelta(hours=6),
    )
    assert details["direction"] == "above" and "2008/50" in details["source"]


def test_threshold_averages_over_its_window(database_url: str, territory_id: int, pipeline: Pipeline) -> None:
    """Readings every 15 min against the hourly-mean NO2 threshold: one spike is averaged away, two are not."""
    sensor = new_sensor(database_url, territory_id, "no2")
    start = T0 + timedelta(days=20)
    assert pipeline.feed(sensor, series(start, 900, [100, 100, 100, 500])) == []  # mean 200: not above
    found = pipeline.feed(sensor, series(start + timedelta(hours=1), 900, [500]))  # window: 100 100 500 500
    assert [(d.rule, d.severity, d.value) for d in found] == [("threshold", "warning", 300.0)]
    assert "moyenne sur 1 h 300 µg/m³" in found[0].explanation_fr


def test_threshold_hysteresis_does_not_flap(database_url: str, territory_id: int, pipeline: Pipeline) -> None:
    sensor = new_sensor(database_url, territory_id, "no2")
    start = T0 + timedelta(days=30)
    # 195 is under 200 but within the 5 % release margin: the detection stays open.
    found = pipeline.feed(sensor, series(start, 3600, [210, 195, 210, 195, 205, 196]))
    assert [(d.rule, d.opened, d.ended_at) for d in found] == [("threshold", True, None)]
    closed = pipeline.feed(sensor, series(start + timedelta(hours=6), 3600, [150, 150]))
    assert [d.ended_at for d in closed] == [start + timedelta(hours=6)]
    assert len(_detections(database_url, sensor)) == 1


def test_sensor_threshold_overrides_its_kind_and_reloads(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "no2")
    start = T0 + timedelta(days=40)
    assert pipeline.feed(sensor, series(start, 3600, [170])) == []
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sensing.thresholds (sensor_id, severity, direction, value, averaging_s, sustained_s,"
            " label_fr, label_en, source) VALUES (%s, 'warning', 'above', 150, 3600, 0,"
            " 'Seuil local', 'Local threshold', 'test')",
            (sensor,),
        )
    # The same detector sees the configuration version move and reloads the sensor's thresholds.
    found = pipeline.feed(sensor, series(start + timedelta(hours=1), 3600, [170]))
    assert [(d.rule, d.severity, d.expected) for d in found] == [("threshold", "warning", 150.0)]
    assert "local threshold (150 µg/m³)" in found[0].explanation_en


def test_rate_jump_opens_and_the_next_plausible_reading_closes(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "tank_level", name="T-rate")
    start = T0 + timedelta(days=50)
    smooth = [3.0 + 0.5 * math.sin(i / 20) for i in range(60)]
    assert [d for d in pipeline.feed(sensor, series(start, 300, smooth)) if d.rule == "rate"] == []
    jump_at = start + timedelta(seconds=60 * 300)
    found = pipeline.feed(sensor, series(jump_at, 300, [0.2, 0.2]))
    rate = [d for d in found if d.rule == "rate"]
    assert [(d.opened, d.started_at, d.ended_at) for d in rate] == [
        (True, jump_at, jump_at + timedelta(seconds=300))
    ]
    assert "jumped from" in rate[0].explanation_en and "to 0.2 m in 5 min" in rate[0].explanation_en
    assert "saut de" in rate[0].explanation_fr


def test_flatline_opens_after_twelve_identical_intervals(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "water_pressure")
    start = T0 + timedelta(days=60)
    assert pipeline.feed(sensor, series(start, 300, [42.0 + i * 0.1 for i in range(5)] + [42.5] * 12)) == []
    run_start = start + timedelta(seconds=5 * 300)
    found = pipeline.feed(sensor, series(start + timedelta(seconds=17 * 300), 300, [42.5]))
    assert [(d.rule, d.started_at, d.opened) for d in found] == [("flatline", run_start, True)]
    assert "same value 42.5 m for 1 h (13 identical readings)" in found[0].explanation_en
    closed = pipeline.feed(sensor, series(start + timedelta(seconds=18 * 300), 300, [43.0]))
    assert [(d.rule, d.ended_at) for d in closed] == [("flatline", start + timedelta(seconds=18 * 300))]


@pytest.mark.parametrize(("kind", "value"), [("light_state", 1.0), ("water_flow", 0.0)])
def test_legitimately_constant_kinds_never_flatline(
    database_url: str, territory_id: int, pipeline: Pipeline, kind: str, value: float
) -> None:
    sensor = new_sensor(database_url, territory_id, kind)
    interval = 900 if kind == "light_state" else 300
    assert pipeline.feed(sensor, series(T0 + timedelta(days=70), interval, [value] * 100)) == []


def test_gap_sweep_opens_and_next_reading_closes(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "water_flow", name="gap-flow")
    start = T0 + timedelta(days=80)
    pipeline.feed(sensor, series(start, 300, [10.0, 11.0, 12.0]))
    last = start + timedelta(seconds=600)
    with psycopg.connect(database_url) as conn:
        assert [
            d for d in pipeline.detector.sweep(conn, last + timedelta(minutes=14)) if d.sensor_id == sensor
        ] == []
        swept = [
            d for d in pipeline.detector.sweep(conn, last + timedelta(minutes=20)) if d.sensor_id == sensor
        ]
    assert [(d.rule, d.started_at, d.ended_at, d.opened) for d in swept] == [("gap", last, None, True)]
    assert swept[0].explanation_en.endswith("no reading for 20 min (one expected every 5 min)")
    with psycopg.connect(database_url) as conn:  # announced once
        assert [
            d for d in pipeline.detector.sweep(conn, last + timedelta(minutes=25)) if d.sensor_id == sensor
        ] == []
    back = last + timedelta(minutes=30)
    found = pipeline.feed(sensor, [(back, 12.5)])
    assert [(d.rule, d.started_at, d.ended_at, d.opened) for d in found] == [("gap", last, back, False)]


def test_gap_seen_on_arrival_without_sweep(database_url: str, territory_id: int, pipeline: Pipeline) -> None:
    sensor = new_sensor(database_url, territory_id, "water_flow")
    start = T0 + timedelta(days=90)
    pipeline.feed(sensor, series(start, 300, [10.0, 11.0]))
    found = pipeline.feed(sensor, [(start + timedelta(hours=2), 11.5)])
    assert [(d.rule, d.opened, d.started_at, d.ended_at) for d in found] == [
        ("gap", True, start + timedelta(seconds=300), start + timedelta(hours=2))
    ]
    assert "aucun relevé pendant 1 h 55 min" in found[0].explanation_fr


def _flat_profile(url: str, sensor: int, median: float, mad: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO sensing.profiles (sensor_id, slot, slot_s, median, mad, samples, learned_from, learned_to,"
            " timezone) SELECT %s, s, 3600, %s, %s, 24, '2023-12-01', '2023-12-29', 'UTC'"
            " FROM generate_series(0, 167) s",
            (sensor, median, mad),
        )


def test_anomaly_explains_against_the_weekly_slot(database_url: str, territory_id: int) -> None:
    sensor = new_sensor(database_url, territory_id, "water_flow", name="fm-p227")
    _flat_profile(database_url, sensor, 100.0, 2.0)
    pipeline = Pipeline(database_url)
    tuesday = T0 + timedelta(days=7 + 1)  # Tuesday 2024-01-09 00:00 UTC
    normal = [100.0 + (i % 3 - 1) for i in range(24)]  # 00:00 → 01:55
    leak = [138.0 + (i % 3 - 1) * 0.5 for i in range(36)]  # 02:00 → 04:55
    found = pipeline.feed(sensor, series(tuesday, 300, normal + leak))
    anomalies = [d for d in found if d.rule == "anomaly"]
    assert len(anomalies) == 1
    a = anomalies[0]
    # z reaches 3 once six 138s are in the 1 h mean (02:25); it must hold 1 h more: opened at 03:20.
    assert a.started_at == tuesday + timedelta(hours=2, minutes=25)
    assert a.explanation_fr.startswith("débit d'eau à fm-p227 38 % au-dessus de son profil du mardi 03:00")
    assert a.explanation_en.startswith("water flow at fm-p227 38% above its Tuesday 03:00 profile")
    assert a.severity == "warning" and a.score is not None and a.score > 6
    assert 0 < a.confidence <= 1
    # Back to normal: cleared after |z| < 1.5 for an hour.
    back = pipeline.feed(sensor, series(tuesday + timedelta(hours=5), 300, normal + normal))
    assert [(d.rule, d.opened) for d in back] == [("anomaly", False)]
    assert back[0].ended_at is not None and back[0].ended_at > tuesday + timedelta(hours=5)


def test_scan_is_idempotent_and_matches_live(database_url: str, territory_id: int) -> None:
    sensor = new_sensor(database_url, territory_id, "water_flow")
    _flat_profile(database_url, sensor, 50.0, 1.0)
    start = T0 + timedelta(days=100)
    values = [50.0] * 30 + [70.0] * 40 + [50.0] * 40 + [50.0] * 20
    with psycopg.connect(database_url) as conn:
        from sensing.parse import Reading
        from sensing.store import ReadingStore

        ReadingStore().write(
            conn,
            [Reading(sensor, t, v) for t, v in series(start, 300, values)],
            [],
            source="file",
            origin="t",
        )
    end = start + timedelta(days=1)

    def snapshot() -> list[tuple]:
        return rows(
            database_url,
            "SELECT id, rule, severity, started_at, ended_at, explanation_en FROM sensing.detections"
            " WHERE sensor_id = %s ORDER BY id",
            (sensor,),
        )

    with psycopg.connect(database_url) as conn:
        report = Detector().scan(conn, start, end, [sensor])
    assert report.readings == len(values)
    assert report.opened.get("anomaly") == 1 and report.opened.get("rate") == 1
    first = snapshot()
    with psycopg.connect(database_url) as conn:
        again = Detector().scan(conn, start, end, [sensor])
    assert again.opened == {} and again.closed == {}
    assert snapshot() == first
    # A scan of the second half resumes the detection open at its start and changes nothing either.
    with psycopg.connect(database_url) as conn:
        half = Detector().scan(conn, start + timedelta(minutes=300), end, [sensor])
    assert half.opened == {} and snapshot() == first


def test_detection_events_reach_the_live_log(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "water_pressure")
    start = T0 + timedelta(days=110)
    found = pipeline.feed(sensor, series(start, 300, [30.0] * 14))
    [flat] = [d for d in found if d.rule == "flatline"]
    [(audience, territory, payload)] = rows(
        database_url,
        "SELECT audience, territory_id, payload FROM live.events WHERE topic = 'detection'"
        " AND (payload -> 'detection' ->> 'id')::bigint = %s",
        (flat.id,),
    )
    assert (audience, territory) == ("restricted", territory_id)
    assert payload["action"] == "opened"
    assert payload["detection"]["started_at"] == start.isoformat()
    assert payload["detection"]["explanation_en"] == flat.explanation_en
    assert orjson.loads(orjson.dumps(payload))["detection"]["h3_cell"] == flat.h3_cell


def test_late_readings_are_stored_but_not_judged(
    database_url: str, territory_id: int, pipeline: Pipeline
) -> None:
    sensor = new_sensor(database_url, territory_id, "water_pressure")
    start = T0 + timedelta(days=120)
    pipeline.feed(sensor, series(start, 300, [30.0, 31.0, 32.0, 33.0]))
    # Older than what the detector has seen: stored (a gap in the past is filled), no gap or jump announced.
    late = pipeline.feed(sensor, [(start - timedelta(hours=3), 99.0)])
    assert late == []
    assert rows(database_url, "SELECT count(*) FROM sensing.readings WHERE sensor_id = %s", (sensor,)) == [
        (5,)
    ]
