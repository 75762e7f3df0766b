"""Correlation through the real database: detections written as the engine writes them, then correlated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import h3
import psycopg
import pytest
from psycopg.rows import dict_row

from incidents import store
from incidents.correlate import correlate
from incidents.model import CORRELATION_WINDOW_S, DETECTION_AUTHOR
from tests.incidents.helpers import Place, detect, make_place

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture()
def place(database_url: str) -> Place:
    return make_place(database_url)


def _incidents(conn: psycopg.Connection, place: Place) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT i.*, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,"
            " (SELECT array_agg(d.id ORDER BY d.id) FROM sensing.detections d WHERE d.incident_id = i.id) AS dets"
            " FROM incidents.incidents i WHERE territory_id = %s ORDER BY id",
            (place.territory_id,),
        ).fetchall()


def _log(conn: psycopg.Connection, incident_id: int) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT entry, author, text FROM incidents.log WHERE incident_id = %s ORDER BY id", (incident_id,)
    ).fetchall()


def test_neighbouring_cells_within_the_window_make_one_incident(place):
    with psycopg.connect(place.url) as conn:
        first = detect(conn, place, "p227", T0)
        second = detect(conn, place, "p235", T0 + timedelta(minutes=40), severity="alert")
        assert h3.grid_distance(first.h3_cell, second.h3_cell) == 1
        results = correlate(conn, [second, first])  # the batch's order does not matter
        (incident,) = _incidents(conn, place)
    assert [(r.detection_id, r.action) for r in results] == [(first.id, "created"), (second.id, "joined")]
    assert incident["dets"] == [first.id, second.id]
    assert incident["origin"] == "detection" and incident["created_by"] == DETECTION_AUTHOR
    assert incident["title"] == "Anomalie débit d'eau — p227"
    assert incident["category"] == "water" and incident["status"] == "new"
    assert (incident["lon"], incident["lat"]) == pytest.approx((first.lon, first.lat))
    assert (incident["asset_layer"], incident["asset_id"]) == ("water_pipes", 12)
    assert incident["h3_cell"] == first.h3_cell
    # The stronger detection raised the severity; the latest observation moved the window on.
    assert incident["severity"] == "alert"
    assert incident["last_observed_at"] == T0 + timedelta(minutes=40)
    with psycopg.connect(place.url) as conn:
        entries = _log(conn, incident["id"])
    assert [e[0] for e in entries] == ["created", "detection"]
    assert {e[1] for e in entries} == {DETECTION_AUTHOR}
    assert "p235" in entries[1][2] and "priorité" in entries[1][2]


def test_far_apart_hours_later_or_another_category_make_separate_incidents(place):
    window = timedelta(seconds=CORRELATION_WINDOW_S)
    with psycopg.connect(place.url) as conn:
        base = detect(conn, place, "p227", T0)
        far = detect(conn, place, "p999", T0 + timedelta(minutes=5))
        later = detect(conn, place, "p235", T0 + window + timedelta(minutes=1))
        air = detect(conn, place, "no2-bellecour", T0 + timedelta(minutes=1))
        results = correlate(conn, [base, far, later, air])
        incidents = _incidents(conn, place)
    assert [r.action for r in results] == ["created"] * 4
    assert len(incidents) == 4
    assert sorted(len(i["dets"]) for i in incidents) == [1, 1, 1, 1]
    assert {i["category"] for i in incidents} == {"water", "air"}


def test_a_detection_within_the_window_of_the_latest_activity_joins_even_hours_after_the_first(place):
    """The window follows the incident's latest observed activity, not its first detection."""
    with psycopg.connect(place.url) as conn:
        steps = [
            detect(conn, place, s, T0 + timedelta(minutes=90 * i))
            for i, s in enumerate(["p227", "p235", "p227"])
        ]
        for d in steps:
            correlate(conn, [d])
        (incident,) = _incidents(conn, place)
    assert incident["dets"] == [d.id for d in steps]


def test_resolved_incidents_take_no_new_detection(place):
    with psycopg.connect(place.url) as conn:
        first = detect(conn, place, "p227", T0)
        (created,) = correlate(conn, [first])
        store.resolve(conn, created.incident_id, "opératrice", "vanne refermée")
        second = detect(conn, place, "p235", T0 + timedelta(minutes=10))
        (again,) = correlate(conn, [second])
    assert again.action == "created" and again.incident_id != created.incident_id


def test_updates_and_closures_are_logged_while_open_and_never_resolve(place):
    with psycopg.connect(place.url) as conn:
        first = detect(conn, place, "p227", T0, severity="warning")
        (created,) = correlate(conn, [first])
        stronger = replace(first, opened=False, severity="critical")
        conn.execute("UPDATE sensing.detections SET severity = 'critical' WHERE id = %s", (first.id,))
        cleared = replace(stronger, ended_at=T0 + timedelta(hours=1, minutes=5))
        results = correlate(conn, [stronger])
        results += correlate(conn, [cleared])
        (incident,) = _incidents(conn, place)
        entries = _log(conn, incident["id"])
        store.resolve(conn, incident["id"], "opératrice", "fuite réparée")
        (after,) = correlate(conn, [cleared])
        entries_after = _log(conn, incident["id"])
    assert [r.action for r in results] == ["logged", "logged"]
    assert incident["status"] == "new" and incident["severity"] == "critical"
    assert [e[0] for e in entries] == ["created", "detection", "detection"]
    assert "Condition levée le 01/03/2024 12:05" in entries[2][2]  # 11:05 UTC in Europe/Paris
    assert after.action == "ignored" and len(entries_after) == len(entries) + 1  # only the resolution


def test_correlation_writes_live_events_and_is_audited_as_automatic_detection(place):
    with psycopg.connect(place.url) as conn:
        since = conn.execute("SELECT coalesce(max(id), 0) FROM live.events").fetchone()[0]
        audit_since = conn.execute("SELECT coalesce(max(id), 0) FROM audit.entries").fetchone()[0]
        water = detect(conn, place, "p227", T0)
        air = detect(conn, place, "no2-bellecour", T0)
        correlate(conn, [water, air])
    with psycopg.connect(place.url) as conn:
        events = conn.execute(
            "SELECT topic, audience, payload FROM live.events WHERE id > %s AND territory_id = %s ORDER BY id",
            (since, place.territory_id),
        ).fetchall()
        actors = conn.execute(
            "SELECT DISTINCT actor FROM audit.entries WHERE id > %s AND object = 'incidents.incidents'",
            (audit_since,),
        ).fetchall()
    incident_events = [(a, p["incident"]["category"], p["action"]) for t, a, p in events if t == "incident"]
    assert incident_events == [("restricted", "water", "created"), ("internal", "air", "created")]
    log_events = [(a, p["entry"]["entry"]) for t, a, p in events if t == "log"]
    assert log_events == [("restricted", "created"), ("internal", "created")]
    assert actors == [(DETECTION_AUTHOR,)]


def test_a_failed_correlation_leaves_nothing_behind(place):
    """A detection of a territory that does not exist: the transaction rolls back whole."""
    with psycopg.connect(place.url) as conn:
        d = detect(conn, place, "p227", T0)
        conn.commit()
    before = None
    with psycopg.connect(place.url) as conn:
        before = conn.execute("SELECT count(*) FROM incidents.incidents").fetchone()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            correlate(conn, [replace(d, territory_id=2_000_000_000)])
    with psycopg.connect(place.url) as conn:
        assert conn.execute("SELECT count(*) FROM incidents.incidents").fetchone() == before
        assert conn.execute(
            "SELECT incident_id FROM sensing.detections WHERE id = %s", (d.id,)
        ).fetchone() == (None,)
