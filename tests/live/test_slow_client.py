"""A client that stops reading is dropped (one resync, then closed) and never holds back the others."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.layers.ogc_fixtures import signed_in
from tests.live.conftest import LiveServer, Territory, emit_events, recv_json, wait_until

# Big, incompressible events (the WebSocket is deflated) fill the slow client's socket buffers sooner.
PAYLOAD_CHARS = 8000
MAX_EVENTS = 8000


def test_a_client_that_never_reads_is_dropped_and_the_others_get_everything(
    server: LiveServer, territory: Territory
) -> None:
    url = server.ws_url(territory=territory.id, topics="log")
    # A small receive buffer and a one-frame queue: the slow client's socket fills after a few frames.
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    with (
        ws_connect(
            url, sock=sock, additional_headers=signed_in(server.database_url, "analyst").headers, max_queue=1
        ) as slow,
        ws_connect(url, additional_headers=signed_in(server.database_url, "analyst").headers) as healthy,
    ):
        _check(server, slow, healthy, territory)


def _check(
    server: LiveServer, slow: ClientConnection, healthy: ClientConnection, territory: Territory
) -> None:
    hub = server.app.state.live.hub
    assert recv_json(slow)["topic"] == "ready"
    assert recv_json(healthy)["topic"] == "ready"
    subscribers = len(hub)
    dropped_before = hub.dropped_total
    received: list[int] = []
    done = threading.Event()

    def read_healthy() -> None:
        while not done.is_set() or len(received) < len(emitted):
            message = json.loads(healthy.recv(timeout=30))
            if "id" in message:
                received.append(message["id"])

    emitted: list[int] = []
    reader = threading.Thread(target=read_healthy, daemon=True)
    reader.start()
    while hub.dropped_total == dropped_before and len(emitted) < MAX_EVENTS:
        batch = [("log", "internal", {"entry": secrets.token_urlsafe(PAYLOAD_CHARS)}, territory.id)] * 100
        emitted += emit_events(server.database_url, batch)
    done.set()
    reader.join(timeout=60)
    assert hub.dropped_total == dropped_before + 1, f"not dropped after {len(emitted)} events"
    assert len(hub) == subscribers - 1
    assert received == emitted, "the healthy client missed events or got them out of order"

    # The slow client, once it reads again, finds the frames sent before it was dropped, then the end.
    got: list[dict] = []
    try:
        while True:
            got.append(json.loads(slow.recv(timeout=10)))
    except ConnectionClosed:
        pass
    ids = [m["id"] for m in got if "id" in m]
    assert ids == emitted[: len(ids)] and len(ids) < len(emitted)
    if got and got[-1]["topic"] == "resync":  # when the farewell still fitted in its buffers
        assert got[-1]["reason"] == "slow"
    healthy.close()
    wait_until(lambda: len(hub) == subscribers - 2)
