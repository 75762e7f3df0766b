"""Resuming the live stream: replay exactly once and in order, sensor snapshot, SSE, bus outages."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from incidents.pipeline import live_after_insert
from sensing.parse import Reading
from sensing.store import ReadingStore
from tests.layers.ogc_fixtures import signed_in
from tests.live.conftest import (
    LiveServer,
    Territory,
    emit_events,
    logged_ids,
    recv_json,
    recv_until,
    wait_until,
)
from twin.live_events import emit


def _readings(
    server: LiveServer, values: dict[int, float], at: datetime, headers: dict[str, str] | None = None
) -> None:
    """Store readings through the real ingestion route (store → live push → detection)."""
    headers = headers or signed_in(server.database_url, "operator").headers
    body = [{"sensor": s, "observed_at": at.isoformat(), "value": v} for s, v in values.items()]
    response = httpx.post(f"{server.url}/api/sensing/readings", json=body, headers=headers, timeout=30)
    assert response.status_code == 200 and response.json()["accepted"] == len(values), response.text


def test_events_missed_while_away_are_replayed_once_in_order_then_live_ones(
    server: LiveServer, territory: Territory
) -> None:
    """Two writers emit 240 events while a client keeps disconnecting and resuming from its last id."""
    emitted: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(n):
            (event_id,) = emit_events(server.database_url, [("incident", "internal", {"i": i}, territory.id)])
            with lock:
                emitted.append(event_id)
            time.sleep(random.uniform(0, 0.004))

    with server.connect("analyst", territory=territory.id, topics="incident") as ws:
        since = recv_json(ws)["last_id"]
    writers = [threading.Thread(target=writer, args=(120,)) for _ in range(2)]
    for w in writers:
        w.start()
    received: list[int] = []
    rng = random.Random(7)
    reconnections = 0
    while any(w.is_alive() for w in writers) or len(received) < 240:
        with server.connect("analyst", territory=territory.id, topics="incident", since=since) as ws:
            reconnections += 1
            got = recv_until(ws, lambda m: m["topic"] == "ready")
            assert got[-1]["last_id"] >= since
            for _ in range(rng.randint(0, 15)):  # a few live ones, then leave without warning
                if len(received) + len(logged_ids(got)) >= 240:
                    break
                got.append(recv_json(ws, 10))
        ids = logged_ids(got)
        received.extend(ids)
        since = received[-1] if received else since
        assert reconnections < 500
    for w in writers:
        w.join()
    assert received == sorted(emitted), "events lost, duplicated or out of order across reconnections"
    assert reconnections >= 3


def test_sensor_updates_are_pushed_live_and_in_the_snapshot_on_resume(
    server: LiveServer, territory: Territory
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with (
        server.connect("analyst", territory=territory.id) as analyst,
        server.connect("operator", territory=territory.id) as operator,
    ):
        assert recv_json(analyst)["topic"] == recv_json(operator)["topic"] == "ready"
        _readings(server, {territory.no2: 41.5, territory.flow: 12.25}, now - timedelta(minutes=3))
        live_analyst = recv_until(analyst, lambda m: m["topic"] == "sensors")[-1]
        live_operator: dict[int, Any] = {}
        while len(live_operator) < 2:
            message = recv_until(operator, lambda m: m["topic"] == "sensors")[-1]
            live_operator.update({r[0]: r for r in message["readings"]})
        # A logged event to resume from.
        (mark,) = emit_events(server.database_url, [("log", "internal", {"entry": "mark"}, territory.id)])
        recv_until(analyst, lambda m: m.get("id") == mark)
    assert live_analyst["territory"] == territory.id
    assert [r[0] for r in live_analyst["readings"]] == [territory.no2], "an analyst saw a water sensor"
    stamp_ms = int((now - timedelta(minutes=3)).timestamp() * 1000)
    assert live_operator[territory.no2] == [territory.no2, stamp_ms, 41.5]
    assert live_operator[territory.flow] == [territory.flow, stamp_ms, 12.25]

    # Away: new values, and an event.
    _readings(server, {territory.no2: 57.0, territory.flow: 13.5}, now - timedelta(minutes=2))
    (missed,) = emit_events(server.database_url, [("incident", "internal", {"n": 1}, territory.id)])
    for role, expected in (("analyst", {territory.no2}), ("operator", {territory.no2, territory.flow})):
        with server.connect(role, territory=territory.id, since=mark) as ws:
            got = recv_until(ws, lambda m: m["topic"] == "ready")
        topics = [m["topic"] for m in got]
        assert topics[0] == "incident" and got[0]["id"] == missed
        assert topics[-1] == "ready" and got[-1]["last_id"] >= missed
        snapshot = {r[0]: r for m in got if m["topic"] == "sensors.snapshot" for r in m["readings"]}
        mine = {s for s in snapshot if s in (territory.no2, territory.flow)}
        assert mine == expected, role
        assert snapshot[territory.no2][1:] == [int((now - timedelta(minutes=2)).timestamp() * 1000), 57.0]


def _sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into events {id?, event, data}; comments and retry-only blocks are skipped."""
    fields: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            fields["comment"] = line
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def test_sse_resumes_from_last_event_id(server: LiveServer, territory: Territory) -> None:
    import json

    caller = signed_in(server.database_url, "operator")
    first, second, third = emit_events(
        server.database_url, [("incident", "internal", {"n": n}, territory.id) for n in (1, 2, 3)]
    )
    headers = {**caller.headers, "Accept": "text/event-stream", "Last-Event-ID": str(first)}
    url = f"{server.url}/api/live/events?since=0&territory={territory.id}"  # the header wins over ?since
    with httpx.stream("GET", url, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response)
        replayed = [next(events), next(events)]
        rest = []
        while not rest or rest[-1]["event"] != "ready":
            rest.append(next(events))
        (fourth,) = emit_events(server.database_url, [("incident", "internal", {"n": 4}, territory.id)])
        live = next(e for e in events if e["event"] == "incident")
    assert [(e["id"], e["event"]) for e in replayed] == [(str(second), "incident"), (str(third), "incident")]
    assert json.loads(replayed[0]["data"])["payload"] == {"n": 2}
    assert [e["event"] for e in rest[:-1]] == ["sensors.snapshot"] * (len(rest) - 1)
    assert int(rest[-1]["id"]) >= third, "ready carries an id for EventSource to resume from"
    assert live["id"] == str(fourth) and json.loads(live["data"])["id"] == fourth


def test_sse_refuses_what_it_cannot_serve(server: LiveServer, territory: Territory) -> None:
    caller = signed_in(server.database_url, "analyst")
    url = f"{server.url}/api/live/events"
    plain = httpx.get(url, headers=caller.headers, timeout=10)
    assert plain.status_code == 406 and "text/event-stream" in plain.json()["detail"]
    assert plain.headers["content-type"] == "application/problem+json"
    stream_headers = {**caller.headers, "Accept": "text/event-stream"}
    bad_id = httpx.get(url, headers={**stream_headers, "Last-Event-ID": "yesterday"}, timeout=10)
    assert bad_id.status_code == 400 and "Last-Event-ID" in bad_id.json()["detail"]
    bad_topic = httpx.get(url, params={"topics": "incident,weather"}, headers=stream_headers, timeout=10)
    assert bad_topic.status_code == 400 and "'weather'" in bad_topic.json()["detail"]
    unknown = httpx.get(url, params={"territory": "999999"}, headers=stream_headers, timeout=10)
    assert unknown.status_code == 404
    anonymous = httpx.get(url, headers={"Accept": "text/event-stream"}, timeout=10)
    assert anonymous.status_code == 401
    assert len(server.app.state.live.hub) == 0, "a refused request left a subscription behind"


def test_events_logged_while_the_bus_was_down_still_arrive(server: LiveServer, territory: Territory) -> None:
    """The LISTEN connection is killed; events and a sensor value committed before it is back arrive."""
    feed = server.app.state.live.feed
    store = ReadingStore(after_insert=live_after_insert())
    listening_sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
    )
    reading = Reading(territory.no2, datetime.now(UTC).replace(microsecond=0), 63.0)
    with (
        server.connect("operator", territory=territory.id) as ws,
        psycopg.connect(server.database_url, autocommit=True) as admin,
        psycopg.connect(server.database_url) as writer,
    ):
        store.load_sensors(writer)
        writer.commit()
        assert recv_json(ws)["topic"] == "ready"
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
        ).fetchone()[0]
        assert killed >= 1
        # Committed at once, before the bus is back (it waits 0.2 s before reconnecting): both notifications
        # are lost, the catch-up on reconnection must bring them.
        missed = [emit(writer, "incident", "internal", {"n": n}, territory_id=territory.id) for n in range(3)]
        assert store.write(writer, [reading], [], source="test", origin="test").inserted == 1
        writer.commit()
        listening = admin.execute(listening_sql).fetchone()[0]
        assert listening == 0, "the bus was back before the events were committed: nothing was tested"
        got = recv_until(ws, lambda m: m.get("id") == missed[-1], timeout_s=15)
        wait_until(lambda: feed.bus_connected)

        def has_new_value(message: dict[str, Any]) -> bool:
            return message["topic"] == "sensors" and [territory.no2, 63.0] in [
                [r[0], r[2]] for r in message["readings"]
            ]

        if not any(has_new_value(m) for m in got):
            recv_until(ws, has_new_value, timeout_s=15)
    assert logged_ids(got) == missed
