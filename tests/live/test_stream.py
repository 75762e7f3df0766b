"""The live WebSocket through the real server: delivery at commit, role/topic/territory filters, refusals."""

from __future__ import annotations

import json
import time

import httpx
import psycopg
import pytest
from websockets.exceptions import InvalidStatus

from tests.layers.ogc_fixtures import signed_in
from tests.live.conftest import (
    LiveServer,
    Territory,
    emit_events,
    make_territory,
    recv_json,
    recv_until,
)
from twin.security.sessions import create_session


def _refusal(server: LiveServer, headers: dict[str, str], **query: object) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as refused:
        from websockets.sync.client import connect

        with connect(server.ws_url(**query), additional_headers=headers, open_timeout=10):
            pass
    response = refused.value.response
    assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, json.loads(response.body)


def _subscribers(server: LiveServer) -> int:
    return len(server.app.state.live.hub)


def _settled_subscribers(server: LiveServer, timeout_s: float = 10.0) -> int:
    """The hub's count once earlier tests' sockets have finished closing server-side (that is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    while _subscribers(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _subscribers(server)


def test_a_committed_event_reaches_the_client_and_a_rolled_back_one_never_does(
    server: LiveServer, territory: Territory
) -> None:
    with server.connect("operator", territory=territory.id) as ws:
        ready = recv_json(ws)
        assert ready["topic"] == "ready" and isinstance(ready["last_id"], int)
        (rolled_back,) = emit_events(
            server.database_url,
            [("incident", "internal", {"action": "created", "n": 0}, territory.id)],
            commit=False,
        )
        (committed,) = emit_events(
            server.database_url, [("incident", "internal", {"action": "created", "n": 1}, territory.id)]
        )
        assert committed > rolled_back > ready["last_id"]
        event = recv_until(ws, lambda m: "id" in m)[-1]
    assert event["id"] == committed, "the rolled-back event was delivered"
    assert event["topic"] == "incident" and event["territory"] == territory.id
    assert event["payload"] == {"action": "created", "n": 1}
    assert event["at"].endswith(("Z", "+00:00")) or "T" in event["at"]


def test_restricted_events_reach_an_operator_but_not_an_analyst(
    server: LiveServer, territory: Territory
) -> None:
    with (
        server.connect("operator", territory=territory.id) as operator,
        server.connect("analyst", territory=territory.id) as analyst,
    ):
        assert recv_json(operator)["topic"] == "ready"
        assert recv_json(analyst)["topic"] == "ready"
        restricted, internal = emit_events(
            server.database_url,
            [
                ("detection", "restricted", {"sensor": territory.flow}, territory.id),
                ("detection", "internal", {"sensor": territory.no2}, territory.id),
            ],
        )
        got_operator = recv_until(operator, lambda m: m.get("id") == internal)
        got_analyst = recv_until(analyst, lambda m: m.get("id") == internal)
    assert [m["id"] for m in got_operator] == [restricted, internal]
    assert [m["id"] for m in got_analyst] == [internal], "an analyst saw a restricted (water network) event"


def test_anonymous_and_half_signed_in_callers_are_refused_with_a_problem(
    server: LiveServer, database_url: str
) -> None:
    before = _settled_subscribers(server)
    status, problem = _refusal(server, {})
    assert status == 401 and "sign in" in problem["detail"]
    status, problem = _refusal(server, {"Authorization": "Bearer not-a-token"})
    assert status == 401
    admin = signed_in(database_url, "admin")
    with psycopg.connect(database_url) as conn:
        token, _ = create_session(conn, admin.account_id, method="password", scope="enroll_totp", ttl_s=600)
    status, problem = _refusal(server, {"Authorization": f"Bearer {token}"})
    assert status == 403 and "second factor" in problem["detail"]
    status, problem = _refusal(server, {"Origin": "https://evil.example"})
    assert status == 403 and "cross-origin" in problem["detail"]
    assert _subscribers(server) == before


def test_bad_filters_are_refused_saying_what_was_wrong(server: LiveServer) -> None:
    headers = signed_in(server.database_url, "operator").headers
    status, problem = _refusal(server, headers, topics="incidents")
    assert status == 400 and "'incidents'" in problem["detail"] and "incident, detection" in problem["detail"]
    status, problem = _refusal(server, headers, since="-3")
    assert status == 400 and "since" in problem["detail"]
    status, problem = _refusal(server, headers, since="abc")
    assert status == 400
    status, problem = _refusal(server, headers, territory="Atlantis-nowhere")
    assert status == 404 and "Atlantis-nowhere" in problem["detail"]


def test_topic_and_territory_filters(server: LiveServer, territory: Territory, database_url: str) -> None:
    other = make_territory(database_url, "Elsewhere")
    with server.connect("operator", topics="incident,log", territory=territory.name) as ws:
        assert recv_json(ws)["topic"] == "ready"
        ids = emit_events(
            database_url,
            [
                ("detection", "internal", {"n": 1}, territory.id),  # topic not asked for
                ("incident", "internal", {"n": 2}, other.id),  # another territory
                ("incident", "internal", {"n": 3}, territory.id),
                ("log", "internal", {"n": 4}, None),  # concerns every territory
                ("incident", "internal", {"n": 5}, territory.id),
            ],
        )
        got = recv_until(ws, lambda m: m.get("id") == ids[-1])
    assert [m["payload"]["n"] for m in got] == [3, 4, 5]


def test_status_tells_subscribers_and_the_last_id(server: LiveServer, territory: Territory) -> None:
    analyst = signed_in(server.database_url, "analyst")
    assert httpx.get(f"{server.url}/api/live/status", timeout=10).status_code == 401
    with server.connect("analyst") as ws:
        recv_json(ws)
        (last,) = emit_events(server.database_url, [("log", "public", {"entry": "x"}, territory.id)])
        recv_until(ws, lambda m: m.get("id") == last)
        status = httpx.get(f"{server.url}/api/live/status", headers=analyst.headers, timeout=10).json()
    assert status["subscribers"] >= 1 and status["last_id"] >= last and status["bus_connected"] is True
