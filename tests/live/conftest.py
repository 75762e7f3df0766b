"""Live stream fixtures: a served app (its bus connected), a territory with sensors, stream clients."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.layers.ogc_fixtures import serve_app, server_settings, signed_in
from twin.app import create_app
from twin.live_events import emit


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Any
    database_url: str

    def ws_url(self, **query: Any) -> str:
        params = urlencode({k: v for k, v in query.items() if v is not None})
        return self.url.replace("http", "ws", 1) + "/api/live/ws" + (f"?{params}" if params else "")

    def connect(self, role: str | None, **query: Any) -> ClientConnection:
        """A WebSocket client of a fresh account of ``role`` (None: anonymous)."""
        headers = signed_in(self.database_url, role).headers if role else {}
        return ws_connect(self.ws_url(**query), additional_headers=headers, open_timeout=10)


@dataclass(frozen=True)
class Territory:
    id: int
    name: str
    no2: int  # an NO2 station (kind visibility internal)
    flow: int  # a water flow meter (restricted)


@pytest.fixture(scope="module")
def live_app(database_url: str) -> Any:
    return create_app(server_settings(database_url))


@pytest.fixture(scope="module")
def server(live_app: Any, database_url: str) -> Iterator[LiveServer]:
    with serve_app(live_app) as url:
        wait_until(lambda: live_app.state.bus.connected.is_set() and live_app.state.live.hub.ready.is_set())
        yield LiveServer(url, live_app, database_url)


def make_territory(database_url: str, prefix: str = "Live") -> Territory:
    """A territory of its own (unique name) with an NO2 station and a water flow meter."""
    name = f"{prefix} {secrets.token_hex(3)}"
    with psycopg.connect(database_url) as conn:
        tid = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, boundary) VALUES (%s, 2154,"
            " ST_Multi(ST_MakeEnvelope(2.30, 48.80, 2.40, 48.90, 4326))) RETURNING id",
            (name,),
        ).fetchone()[0]
        ids = [
            conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, geom)"
                " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326)) RETURNING id",
                (tid, sensor, kind, unit),
            ).fetchone()[0]
            for sensor, kind, unit in (("no2-live", "no2", "µg/m³"), ("debit-live", "water_flow", "m³/h"))
        ]
    return Territory(tid, name, *ids)


@pytest.fixture(scope="module")
def territory(database_url: str) -> Territory:
    return make_territory(database_url)


def emit_events(
    database_url: str,
    events: list[tuple[str, str, dict[str, Any], int | None]],
    *,
    commit: bool = True,
) -> list[int]:
    """Emit (topic, audience, payload, territory) events in one transaction; return their ids."""
    with psycopg.connect(database_url) as conn:
        ids = [emit(conn, topic, audience, payload, territory_id=t) for topic, audience, payload, t in events]
        if not commit:
            conn.rollback()
    return ids


def recv_json(ws: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    message = ws.recv(timeout=timeout_s)
    return json.loads(message)


def recv_until(
    ws: ClientConnection, stop: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """Messages (pings left out) up to and including the first for which ``stop`` holds."""
    deadline = time.monotonic() + timeout_s
    out = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"no message matched within {timeout_s} s; got {[m.get('topic') for m in out]}"
            )
        message = recv_json(ws, left)
        if message["topic"] == "ping":
            continue
        out.append(message)
        if stop(message):
            return out


def logged_ids(messages: list[dict[str, Any]]) -> list[int]:
    return [m["id"] for m in messages if "id" in m]


def wait_until(check: Callable[[], Any], *, timeout_s: float = 10.0, interval_s: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
