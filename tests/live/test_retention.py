"""Events older than the retention period are pruned at start-up; resuming from before them gives resync."""

from __future__ import annotations

import psycopg

from tests.layers.ogc_fixtures import serve_app, server_settings
from tests.live.conftest import LiveServer, Territory, emit_events, recv_json, recv_until, wait_until
from twin.app import create_app


def test_resuming_from_a_pruned_id_gives_resync_then_live_events(
    database_url: str, territory: Territory
) -> None:
    old = emit_events(database_url, [("incident", "internal", {"n": n}, territory.id) for n in range(3)])
    (recent,) = emit_events(database_url, [("incident", "internal", {"n": 3}, territory.id)])
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE live.events SET at = now() - interval '31 days' WHERE id = ANY(%s)", (old,))
    app = create_app(server_settings(database_url, sensing={"events_retention_days": 30}))
    with serve_app(app) as url:
        wait_until(lambda: app.state.live.hub.ready.is_set())
        with psycopg.connect(database_url) as conn:
            wait_until(
                lambda: conn.execute("SELECT pruned_through FROM live.horizon").fetchone()[0] >= old[-1]
            )
            kept = [
                r[0] for r in conn.execute("SELECT id FROM live.events WHERE id >= %s ORDER BY id", (old[0],))
            ]
        assert kept[0] == recent, "pruning removed the old events only"
        server = LiveServer(url, app, database_url)
        with server.connect("operator", territory=territory.id, since=old[0]) as ws:
            resync = recv_json(ws)
            ready = recv_json(ws)
            (live,) = emit_events(database_url, [("incident", "internal", {"n": 4}, territory.id)])
            got = recv_until(ws, lambda m: "id" in m)
        # From the newest pruned id on, nothing the client needs is gone: a normal replay.
        with server.connect("operator", territory=territory.id, since=old[-1]) as ws:
            replay = recv_until(ws, lambda m: m["topic"] == "ready")
        # An id this database never logged (a client of another installation): resync too.
        with server.connect("operator", territory=territory.id, since=10**12) as ws:
            unknown = recv_json(ws)
    assert resync["topic"] == "resync" and resync["reason"] == "pruned"
    assert "rechargez" in resync["detail_fr"] and "reload" in resync["detail_en"]
    assert ready["topic"] == "ready" and ready["last_id"] >= recent
    assert [m["id"] for m in got] == [live]
    assert [m.get("id") for m in replay if m["topic"] == "incident"] == [recent, live]
    assert unknown["topic"] == "resync" and unknown["reason"] == "unknown_id"
