"""The sensing read API through the real server: kind visibility everywhere (404 for a hidden sensor),
sensor status, series from raw readings and from rollups (same means), data quality, refusals, thresholds
(validated, audited, NOTIFYed, unchanged data on refusal)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

import sensing.series
from sensing.parse import Reading
from sensing.rollup import roll_up
from sensing.store import ReadingStore
from tests.layers.ogc_fixtures import Caller, running_server, signed_in

T0 = datetime(2021, 3, 1, tzinfo=UTC)
TERRITORY = "Read API test"


@dataclass
class World:
    url: str
    base: str
    ids: dict[str, int]
    analyst: Caller
    operator: Caller

    def get(self, path: str, caller: Caller | None, status: int = 200, **params: str) -> dict:
        headers = caller.headers if caller else {}
        response = httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=60)
        assert response.status_code == status, response.text
        return response.json()


def _register(conn: psycopg.Connection, territory: int, name: str, kind: str, unit: str) -> int:
    return conn.execute(
        "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, geom)"
        " VALUES (%s, %s, %s, %s, 'water_pipes', 7, ST_SetSRID(ST_MakePoint(4.83, 45.76), 4326)) RETURNING id",
        (territory, name, kind, unit),
    ).fetchone()[0]


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        territory = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg) VALUES (%s, 2154) RETURNING id", (TERRITORY,)
        ).fetchone()[0]
        ids = {
            "flow": _register(conn, territory, "flow", "water_flow", "m³/h"),
            "no2": _register(conn, territory, "no2", "no2", "µg/m³"),
            "t_ok": _register(conn, territory, "t_ok", "temperature", "°C"),
            "t_late": _register(conn, territory, "t_late", "temperature", "°C"),
            "quiet": _register(conn, territory, "quiet", "noise", "dB(A)"),
        }
        store = ReadingStore()
        # Flow: every 5 min for 2 hours from T0 except a 30-minute hole (readings 10..15 missing).
        flow = [
            Reading(ids["flow"], T0 + timedelta(minutes=5 * i), 100.0 + i)
            for i in range(24)
            if not 10 <= i < 16
        ]
        # NO2: hourly for 40 days (960 readings), values with a daily wave.
        no2 = [Reading(ids["no2"], T0 + timedelta(hours=h), 40 + 30 * math.sin(h / 3.8)) for h in range(960)]
        recent = [
            Reading(ids["t_ok"], now - timedelta(seconds=60), 12.5),
            Reading(ids["t_late"], now - timedelta(seconds=2400), 11.0),  # > 2× 900 s, < 6×
        ]
        assert (
            store.write(conn, flow + no2 + recent, [], source="file", origin="test").inserted == 18 + 960 + 2
        )
        for sensor, rule in ((ids["no2"], "threshold"), (ids["flow"], "flatline")):
            conn.execute(
                "INSERT INTO sensing.detections (sensor_id, rule, severity, started_at, confidence,"
                " explanation_fr, explanation_en, h3_cell) VALUES (%s, %s, 'warning', %s, 0.9, 'fr', 'en', '89')",
                (sensor, rule, T0),
            )
        conn.execute(
            "INSERT INTO sensing.profiles (sensor_id, slot, slot_s, median, mad, samples, learned_from, learned_to)"
            " VALUES (%s, 0, 3600, 41.0, 3.0, 12, %s, %s), (%s, 1, 3600, 39.0, 2.5, 12, %s, %s)",
            (ids["no2"], T0, now, ids["no2"], T0, now),
        )
        conn.execute(
            "INSERT INTO sensing.rejected (received_at, source, origin, sensor_id, payload, reason)"
            " VALUES (%s, 'mqtt', 'read-api-test', %s, '{\"v\": \"x\"}', 'value \"x\" is not a number')",
            (T0 + timedelta(minutes=10), ids["flow"]),
        )
    with running_server(database_url) as base:
        yield World(
            database_url, base, ids, signed_in(database_url, "analyst"), signed_in(database_url, "operator")
        )


def test_kinds_and_sensors_follow_kind_visibility_and_status(world: World) -> None:
    world.get("/api/sensing/kinds", None, 401)
    analyst_kinds = {k["kind"] for k in world.get("/api/sensing/kinds", world.analyst)}
    operator_kinds = {k["kind"]: k for k in world.get("/api/sensing/kinds", world.operator)}
    assert "water_flow" not in analyst_kinds and "no2" in analyst_kinds
    assert operator_kinds["water_flow"]["visibility"] == "restricted"
    assert operator_kinds["temperature"]["expected_interval_s"] == 900

    seen = {
        s["name"]: s for s in world.get("/api/sensing/sensors", world.analyst, territory=TERRITORY)["sensors"]
    }
    assert set(seen) == {"no2", "t_ok", "t_late", "quiet"}
    assert seen["t_ok"]["status"] == "ok" and seen["t_late"]["status"] == "late"
    assert (
        seen["no2"]["status"] == "silent"
        and seen["quiet"]["status"] == "never"
        and seen["quiet"]["latest"] is None
    )
    assert seen["no2"]["open_detections"] == 1 and seen["no2"]["lon"] == pytest.approx(4.83)
    assert seen["t_ok"]["latest"]["value"] == 12.5
    operator = world.get("/api/sensing/sensors", world.operator, territory=TERRITORY, kind="water_flow")[
        "sensors"
    ]
    assert [s["name"] for s in operator] == ["flow"]
    world.get("/api/sensing/sensors", world.analyst, 404, territory="Nowhere at all")

    flow = world.ids["flow"]
    for path in (
        f"/api/sensing/sensors/{flow}",
        f"/api/sensing/sensors/{flow}/readings",
        f"/api/sensing/sensors/{flow}/profile",
    ):
        problem = world.get(path, world.analyst, 404)
        assert "no sensor" in problem["detail"]
    world.get("/api/sensing/sensors/999999999", world.operator, 404)

    detail = world.get(f"/api/sensing/sensors/{world.ids['no2']}", world.analyst)
    assert detail["kind_info"]["unit"] == "µg/m³" and detail["has_profile"] is True
    assert {t["value"] for t in detail["thresholds"]} >= {200, 400}
    profile = world.get(f"/api/sensing/sensors/{world.ids['no2']}/profile", world.analyst)
    assert profile["slot_s"] == 3600 and profile["slots"] == [[0, 41.0, 3.0, 12], [1, 39.0, 2.5, 12]]
    world.get(f"/api/sensing/sensors/{world.ids['t_ok']}/profile", world.analyst, 404)


def test_series_raw_buckets_and_rollups_give_the_same_means(world: World, monkeypatch) -> None:
    no2 = world.ids["no2"]
    path = f"/api/sensing/sensors/{no2}/readings"
    start, end = T0.isoformat(), (T0 + timedelta(days=40)).isoformat()
    raw = world.get(path, world.analyst, **{"from": start, "to": end, "step": "raw"})
    assert raw["step_s"] is None and len(raw["points"]) == 960 and raw["unit"] == "µg/m³"
    assert raw["points"][0][0] == int(T0.timestamp() * 1000)

    with psycopg.connect(world.url) as conn:
        conn.execute("UPDATE sensing.rollup_state SET watermark = '-infinity'")  # nothing rolled: raw path
    daily_raw = world.get(path, world.analyst, **{"from": start, "to": end, "step": "86400"})
    six_hours_raw = world.get(path, world.analyst, **{"from": start, "to": end, "step": "21600"})
    with psycopg.connect(world.url) as conn:
        roll_up(conn)
    daily = world.get(path, world.analyst, **{"from": start, "to": end, "step": "86400"})
    six_hours = world.get(path, world.analyst, **{"from": start, "to": end, "step": "21600"})
    assert daily["source"] == "daily" and six_hours["source"] == "hourly" and len(daily["points"]) == 40
    for rolled, plain in ((daily, daily_raw), (six_hours, six_hours_raw)):
        assert [p[0] for p in rolled["points"]] == [p[0] for p in plain["points"]]
        for a, b in zip(rolled["points"], plain["points"], strict=True):
            assert a[1] == pytest.approx(b[1], rel=1e-9) and a[2:] == b[2:]
    # Each daily mean is the mean of the day's raw readings.
    first_day = [v for t, v in raw["points"][:24]]
    assert daily["points"][0][1] == pytest.approx(sum(first_day) / 24) and daily["points"][0][4] == 24

    # auto over a year: ≤ 1,500 buckets, from the hourly rollups.
    year = world.get(path, world.analyst, **{"from": "2021-01-01T00:00:00Z", "to": "2022-01-01T00:00:00Z"})
    assert year["source"] == "hourly" and year["step_s"] == 21600 and len(year["points"]) == 160
    assert sum(p[4] for p in year["points"]) == 960
    # A step that is not a multiple of an hour aggregates the raw readings.
    fine = world.get(
        path, world.analyst, **{"from": start, "to": (T0 + timedelta(hours=2)).isoformat(), "step": "1800"}
    )
    assert fine["source"] == "raw" and [p[4] for p in fine["points"]] == [1, 1]

    for params, words in (
        ({"from": "2021-03-01T00:00:00", "step": "raw"}, "has no offset"),
        ({"from": end, "to": start}, "must be after"),
        ({"from": start, "to": end, "step": "fortnightly"}, "send raw, auto"),
        ({"from": "2000-01-01T00:00:00Z", "to": end, "step": "60"}, "more than 10000"),
    ):
        assert words in world.get(path, world.analyst, 400, **params)["detail"]
    monkeypatch.setattr(sensing.series, "RAW_LIMIT", 100)
    assert (
        "more than 100 readings"
        in world.get(path, world.analyst, 400, **{"from": start, "to": end, "step": "raw"})["detail"]
    )


def test_detections_quality_and_rejected(world: World) -> None:
    analyst = world.get("/api/sensing/detections", world.analyst, territory=TERRITORY)["detections"]
    assert [d["sensor_id"] for d in analyst] == [world.ids["no2"]]
    operator = world.get("/api/sensing/detections", world.operator, territory=TERRITORY, open="true")[
        "detections"
    ]
    assert {d["rule"] for d in operator} == {"threshold", "flatline"}
    assert (
        world.get("/api/sensing/detections", world.operator, territory=TERRITORY, open="false")["detections"]
        == []
    )
    assert (
        world.get(
            "/api/sensing/detections",
            world.operator,
            sensor=str(world.ids["no2"]),
            since="2030-01-01T00:00:00Z",
        )["detections"]
        == []
    )

    window = {"territory": TERRITORY, "from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}
    quality = {q["name"]: q for q in world.get("/api/sensing/quality", world.operator, **window)["sensors"]}
    flow = quality["flow"]
    assert (flow["expected"], flow["received"], flow["uptime_pct"]) == (24, 18, 75.0)
    assert (flow["gaps"], flow["longest_gap_s"], flow["rejected"]) == (1, 2100, 1)
    assert (
        quality["quiet"]["received"] == 0
        and quality["quiet"]["gaps"] == 1
        and quality["quiet"]["longest_gap_s"] == 7200
    )
    assert "flow" not in {
        q["name"] for q in world.get("/api/sensing/quality", world.analyst, **window)["sensors"]
    }
    assert (
        "at most 366 days"
        in world.get(
            "/api/sensing/quality", world.operator, 400, **{**window, "from": "2019-01-01T00:00:00Z"}
        )["detail"]
    )

    world.get("/api/sensing/rejected", world.analyst, 403)
    rejected = world.get("/api/sensing/rejected", world.operator, since=T0.isoformat())["rejected"]
    assert any(r["origin"] == "read-api-test" and "not a number" in r["reason"] for r in rejected)


def _thresholds(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT * FROM sensing.thresholds ORDER BY id").fetchall()


def test_threshold_writes_are_validated_audited_and_notified(world: World) -> None:
    no2 = world.ids["no2"]
    route = f"{world.base}/api/sensing/thresholds"
    body = {
        "sensor": no2,
        "severity": "warning",
        "direction": "above",
        "value": 150.0,
        "averaging_s": 3600,
        "label_fr": "Seuil local NO2",
        "label_en": "Local NO2 threshold",
    }
    assert httpx.post(route, json=body, headers=world.analyst.headers).status_code == 403

    before = _thresholds(world.url)
    refusals = [
        ({**body, "kind": "no2"}, 422, "exactly one of"),
        ({k: v for k, v in body.items() if k != "sensor"}, 422, "exactly one of"),
        ({**body, "sensor": None, "kind": "plutonium"}, 422, "unknown kind"),
        ({**body, "sensor": 999999999}, 422, "unknown sensor"),
        ({**body, "value": 5000.0}, 422, "no reading could cross it"),
        ({**body, "severity": "apocalyptic"}, 400, "severity"),
        ({**body, "averaging_s": -1}, 400, "averaging_s"),
        ({**body, "sensor": "1"}, 400, "sensor"),
    ]
    for sent, status, words in refusals:
        response = httpx.post(route, json=sent, headers=world.operator.headers)
        assert response.status_code == status and words in response.json()["detail"], response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert _thresholds(world.url) == before

    with psycopg.connect(world.url, autocommit=True) as listener:
        listener.execute("LISTEN thresholds_changed")
        since = listener.execute("SELECT coalesce(max(id), 0) FROM audit.entries").fetchone()[0]
        created = httpx.post(route, json=body, headers=world.operator.headers)
        assert created.status_code == 201, created.text
        threshold = created.json()
        assert threshold["sensor_id"] == no2 and threshold["kind"] is None and threshold["value"] == 150.0
        tid = threshold["id"]
        listed = world.get("/api/sensing/thresholds", world.analyst, sensor=str(no2))["thresholds"]
        assert tid in {t["id"] for t in listed} and any(t["kind"] == "no2" for t in listed)

        empty = httpx.patch(f"{route}/{tid}", json={}, headers=world.operator.headers)
        assert empty.status_code == 422 and "nothing to change" in empty.json()["detail"]
        patched = httpx.patch(
            f"{route}/{tid}", json={"value": 180.0, "severity": "alert"}, headers=world.operator.headers
        )
        assert patched.status_code == 200 and (patched.json()["value"], patched.json()["severity"]) == (
            180.0,
            "alert",
        )
        assert (
            httpx.patch(f"{route}/{tid}", json={"value": -1.0}, headers=world.operator.headers).status_code
            == 422
        )
        assert httpx.delete(f"{route}/{tid}", headers=world.operator.headers).status_code == 204
        assert httpx.delete(f"{route}/{tid}", headers=world.operator.headers).status_code == 404
        assert (
            httpx.patch(f"{route}/{tid}", json={"value": 1.0}, headers=world.operator.headers).status_code
            == 404
        )

        notes = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=3)]
        assert [(n["op"], n["id"], n["sensor_id"]) for n in notes] == [
            ("insert", tid, no2),
            ("update", tid, no2),
            ("delete", tid, no2),
        ]
        audit = listener.execute(
            "SELECT action, actor FROM audit.entries WHERE id > %s AND object = 'sensing.thresholds' AND object_id = %s ORDER BY id",
            (since, str(tid)),
        ).fetchall()
    assert audit == [(a, world.operator.username) for a in ("INSERT", "UPDATE", "DELETE")]
    assert _thresholds(world.url) == before
