"""The live half of the ingestion benchmark: breach to WebSocket, and fan-out to many WebSocket clients.

Both run against the real server (``uvicorn --factory twin.app:create_app`` in a subprocess, its MQTT
ingester on, production after-insert stage) and its ``WS /api/live/ws``. When a part cannot run yet (no
live route, no detection), the result is the reason, printed as "not available: …" instead of a figure.

* **Breach → WebSocket**: a fresh NO2 sensor per breach (so no earlier state helps), one reading of
  400 µg/m³ (the information threshold is 200, hourly mean) published at QoS 1 stamped with its send time;
  latency = arrival of the first ``detection`` or ``incident`` message naming that sensor − publish.
* **Fan-out**: N clients (asyncio + websockets, two processes) subscribed to ``incident``; the bench emits
  events with ``twin.live_events.emit`` and commits; latency = each client's receipt − the instant just
  before COMMIT, for every (event, client) pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg

from benchmarks.harness import server
from benchmarks.ingest_publish import close_session
from twin.broker import EmbeddedBroker, host_port_from_url

PREFIX = "hyperviseur"
LIVE_PATH = "/api/live/ws"
BREACH_VALUE = 400.0
WAIT_S = 10.0
CLIENT_PROCESSES = 2


@dataclass
class LiveResults:
    #: ms per breach, or why it could not be measured
    breach: list[float] | str | None = None
    breach_missed: int = 0
    #: ms per (event, client) delivery, or why it could not be measured
    fanout: list[float] | str | None = None
    fanout_missed: int = 0


def _operator_token(url: str) -> str:
    from twin.db import connect
    from twin.security.accounts import create_account
    from twin.security.crypto import Keyring
    from twin.security.sessions import create_session

    with connect(url) as conn:
        new = create_account(
            conn,
            Keyring.parse("bench:" + Keyring.new_key_text()),
            username=f"bench-operator-{time.time_ns()}",
            role="operator",
        )
        token, _ = create_session(conn, new.account.id, method="password", scope="full", ttl_s=7200)
        conn.commit()
    return token


def _territory_with_sensors(url: str, kinds: list[str]) -> tuple[int, list[int]]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, boundary) VALUES (%s, 2154,"
            " ST_Multi(ST_MakeEnvelope(7.70, 48.55, 7.80, 48.62, 4326))) RETURNING id",
            (f"Bench-live-{time.time_ns()}",),
        ).fetchone()
        assert row is not None
        territory = int(row[0])
        ids = []
        for i, kind in enumerate(kinds):
            found = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, geom) SELECT %s, %s, k.kind, k.unit,"
                " ST_SetSRID(ST_MakePoint(7.75 + %s, 48.58), 4326) FROM sensing.kinds k WHERE k.kind = %s"
                " RETURNING id",
                (territory, f"bench-live-{i}", i * 0.0005, kind),
            ).fetchone()
            assert found is not None, kind
            ids.append(int(found[0]))
    return territory, ids


def _mentions(node: Any, sensor_id: int) -> bool:
    """Whether a live message names ``sensor_id`` (as sensor_id/sensor, or in a sensor_ids list)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("sensor_id", "sensor") and value == sensor_id:
                return True
            if key == "sensor_ids" and isinstance(value, list) and sensor_id in value:
                return True
            if _mentions(value, sensor_id):
                return True
    elif isinstance(node, list):
        return any(_mentions(item, sensor_id) for item in node)
    return False


def _bench_seq(node: Any) -> int | None:
    if isinstance(node, dict):
        if isinstance(node.get("bench_seq"), int):
            return int(node["bench_seq"])
        for value in node.values():
            found = _bench_seq(value)
            if found is not None:
                return found
    return None


def _ws_url(base: str, query: str) -> str:
    return base.replace("http://", "ws://") + f"{LIVE_PATH}?{query}"


def _publisher(broker: EmbeddedBroker) -> mqtt.Client:
    host, port = host_port_from_url(broker.url())
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-breach-{time.time_ns()}", protocol=mqtt.MQTTv311
    )
    client.connect(host, port)
    client.loop_start()
    return client


def _stored(url: str, sensor_id: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sensing.readings WHERE sensor_id = %s", (sensor_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def _ingester_ready(url: str, publisher: mqtt.Client, sensor_id: int, timeout_s: float = 30.0) -> bool:
    """Publish a harmless reading until the server's ingester has stored one (it connects in the background)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publisher.publish(
            f"{PREFIX}/sensors/{sensor_id}/readings", b'{"t": %.6f, "v": 10.0}' % time.time(), qos=1
        ).wait_for_publish(5)
        for _ in range(20):
            if _stored(url, sensor_id):
                return True
            time.sleep(0.1)
    return False


def breach_to_websocket(
    base: str, token: str, url: str, broker: EmbeddedBroker, breaches: int
) -> tuple[list[float] | str, int]:
    """ms from publishing an NO2 breach to the first live message naming its sensor; missed count."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    territory, ids = _territory_with_sensors(url, ["water_flow"] + ["no2"] * breaches)
    warmup, no2 = ids[0], ids[1:]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        ws = connect(
            _ws_url(base, f"topics=detection,incident&territory={territory}"),
            additional_headers=headers,
            open_timeout=10,
        )
    except InvalidStatus as exc:
        return f"WS {LIVE_PATH} refused the handshake (HTTP {exc.response.status_code})", 0
    except OSError as exc:
        return f"WS {LIVE_PATH} unreachable ({exc})", 0
    publisher = _publisher(broker)
    samples: list[float] = []
    missed = 0
    try:
        if not _ingester_ready(url, publisher, warmup):
            return "the server's MQTT ingester stored nothing within 30 s", 0
        for n, sensor in enumerate(no2):
            while True:  # leave out what earlier breaches left behind
                try:
                    ws.recv(timeout=0)
                except TimeoutError:
                    break
            sent = time.time()
            publisher.publish(
                f"{PREFIX}/sensors/{sensor}/readings", b'{"t": %.6f, "v": %.1f}' % (sent, BREACH_VALUE), qos=1
            )
            deadline = time.monotonic() + WAIT_S
            while True:
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        raise TimeoutError
                    message = orjson.loads(ws.recv(timeout=left))
                except TimeoutError:
                    if n == 0:
                        stored = "stored" if _stored(url, sensor) else "not even stored"
                        return (
                            f"no detection/incident message on the WebSocket within {WAIT_S:.0f} s of an NO2"
                            f" breach (the reading was {stored})",
                            0,
                        )
                    missed += 1
                    break
                if message.get("topic") in ("detection", "incident") and _mentions(message, sensor):
                    samples.append((time.time() - sent) * 1000.0)
                    break
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        ws.close()
    return samples, missed


# ------------------------------------------------------------------------------------------- fan-out


async def _listen_all(
    ws_url: str, headers: dict[str, str], count: int, events: int, ready: Any, go: Any, timeout_s: float
) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    connections = []
    try:
        for first in range(0, count, 50):  # open in waves: the server authenticates each one
            connections += await asyncio.gather(
                *[
                    connect(ws_url, additional_headers=headers, open_timeout=60, max_size=None)
                    for _ in range(first, min(count, first + 50))
                ]
            )
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported, not raised in the child
        ready.put(f"error: {exc!r}")
        return {"error": repr(exc)}
    received: list[tuple[int, float]] = []

    async def listen(ws: Any) -> None:
        got = 0
        while got < events:
            raw = await ws.recv()
            now = time.time()
            seq = _bench_seq(orjson.loads(raw))
            if seq is not None:
                received.append((seq, now))
                got += 1

    ready.put("ready")
    await asyncio.to_thread(go.wait)  # in a thread: the connections keep answering pings meanwhile
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*[listen(ws) for ws in connections]), timeout_s)
    for ws in connections:
        await ws.close()
    return {"received": received}


def ws_clients(
    ws_url: str, headers: dict[str, str], count: int, events: int, ready: Any, go: Any, timeout_s: float
) -> dict[str, Any]:
    """Child process: ``count`` WebSocket clients; the (event seq, receipt instant) of every delivery."""
    return asyncio.run(_listen_all(ws_url, headers, count, events, ready, go, timeout_s))


def fan_out(base: str, token: str, url: str, clients: int, events: int) -> tuple[list[float] | str, int]:
    """ms from just before COMMIT of an emitted event to its receipt, per (event, client); missed count."""
    from twin.live_events import emit

    territory, _ = _territory_with_sensors(url, [])
    ws_url = _ws_url(base, f"topics=incident&territory={territory}")
    headers = {"Authorization": f"Bearer {token}"}
    context = multiprocessing.get_context("spawn")
    committing: dict[int, float] = {}
    with context.Manager() as manager, ProcessPoolExecutor(CLIENT_PROCESSES, mp_context=context) as pool:
        ready, go = manager.Queue(), manager.Event()
        share = [
            clients // CLIENT_PROCESSES + (k < clients % CLIENT_PROCESSES) for k in range(CLIENT_PROCESSES)
        ]
        timeout_s = 120.0 + events * 0.5
        futures = [pool.submit(ws_clients, ws_url, headers, n, events, ready, go, timeout_s) for n in share]
        for _ in share:
            try:
                state = ready.get(timeout=180)
            except queue.Empty:
                go.set()
                return f"{clients} WebSocket clients did not connect within 180 s", 0
            if state != "ready":
                go.set()
                return f"WebSocket clients could not connect to {LIVE_PATH}: {state}", 0
        go.set()
        time.sleep(1.0)
        with psycopg.connect(url) as conn:
            for seq in range(events):
                emit(
                    conn,
                    "incident",
                    "internal",
                    {"action": "updated", "incident": {"id": 0, "title": "bench fan-out"}, "bench_seq": seq},
                    territory_id=territory,
                )
                committing[seq] = time.time()
                conn.commit()
                time.sleep(0.2)
        outcomes = [f.result() for f in futures]
    samples = [
        (at - committing[seq]) * 1000.0 for outcome in outcomes for seq, at in outcome.get("received", [])
    ]
    if not samples:
        return f"none of {clients} clients received any of {events} events emitted on 'incident'", 0
    return samples, clients * events - len(samples)


def live_results(
    url: str, broker: EmbeddedBroker, *, breaches: int, clients: int, events: int, breach: bool, fanout: bool
) -> LiveResults:
    results = LiveResults()
    client_id = f"bench-server-{time.time_ns()}"
    env = {
        "HYPERVISEUR_DATABASE_URL": url,
        "HYPERVISEUR_MQTT_URL": broker.url(),
        "HYPERVISEUR_MQTT_CLIENT_ID": client_id,
        "HYPERVISEUR_SENSING_INGEST": "true",
    }
    try:
        with server(["--factory", "twin.app:create_app"], env, "/health", stop_timeout_s=60) as base:
            token = _operator_token(url)
            if breach:
                print(f"\n3. Breach → WebSocket: {breaches} NO2 breaches, one fresh sensor each", flush=True)
                results.breach, results.breach_missed = breach_to_websocket(
                    base, token, url, broker, breaches
                )
            if fanout:
                print(f"\n4. Fan-out: {events} events to {clients} WebSocket clients", flush=True)
                results.fanout, results.fanout_missed = fan_out(base, token, url, clients, events)
    except RuntimeError as exc:
        reason = "the server with its MQTT ingester did not start: " + str(exc).strip().splitlines()[-1][:200]
        results.breach = reason if breach else None
        results.fanout = reason if fanout else None
    finally:
        close_session(broker.url(), client_id)
    return results
