"""The issue's end-to-end path: a threshold breach published on MQTT becomes an incident on a WebSocket.

Real Mosquitto → the server's MQTT ingester → storage → detection (the NO2 information threshold,
200 µg/m³ hourly mean, a regulatory default of ``sensing.thresholds``) → correlation into an incident →
``live.events`` → the LISTEN bus → the hub → an operator's WebSocket.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from websockets.sync.client import connect

from tests.common import missing
from tests.layers.ogc_fixtures import running_server, signed_in
from tests.live.conftest import make_territory, recv_json, recv_until
from twin.broker import EmbeddedBroker, find_mosquitto, host_port_from_url, throwaway_broker
from twin.errors import ClusterError

PREFIX = "hyperviseur"
NO2_INFORMATION_UG_M3 = 200.0


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    try:
        find_mosquitto()
    except ClusterError as exc:
        missing(str(exc))
    with throwaway_broker(prefix="hyperviseur-test-live-mqtt-") as b:
        yield b


def _publisher(broker: EmbeddedBroker) -> mqtt.Client:
    host, port = host_port_from_url(broker.url())
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="live-breach-pub", protocol=mqtt.MQTTv311
    )
    client.connect(host, port)
    client.loop_start()
    return client


def _mentions_sensor(payload: Any, sensor_id: int) -> bool:
    """Whether a payload names the sensor anywhere (``sensor_id`` or ``sensor`` key, at any depth)."""
    if isinstance(payload, dict):
        if payload.get("sensor_id") == sensor_id or payload.get("sensor") == sensor_id:
            return True
        return any(_mentions_sensor(v, sensor_id) for v in payload.values())
    if isinstance(payload, list):
        return any(_mentions_sensor(v, sensor_id) for v in payload)
    return False


def test_a_threshold_breach_published_on_mqtt_becomes_an_incident_on_a_websocket(
    database_url: str, broker: EmbeddedBroker
) -> None:
    territory = make_territory(database_url, "Breach")
    mqtt_settings = {"url": broker.url(), "client_id": "live-breach-ingest", "topic_prefix": PREFIX}
    with running_server(database_url, sensing={"ingest": True}, mqtt=mqtt_settings) as url:
        server_url = url.replace("http", "ws", 1)
        operator = signed_in(database_url, "operator")
        ws_url = f"{server_url}/api/live/ws?topics=detection,incident&territory={territory.id}"
        with connect(ws_url, additional_headers=operator.headers, open_timeout=10) as ws:
            assert recv_json(ws, 15)["topic"] == "ready"
            publisher = _publisher(broker)
            try:
                now = datetime.now(UTC).replace(microsecond=0)
                topic = f"{PREFIX}/sensors/{territory.no2}/readings"
                started = time.monotonic()
                # An hour of readings well over the information threshold: the hourly mean is 260 µg/m³.
                for minutes_ago in (55, 45, 35, 25, 15, 5, 0):
                    at = now - timedelta(minutes=minutes_ago)
                    payload = f'{{"t": "{at.isoformat()}", "v": 260}}'
                    publisher.publish(topic, payload, qos=1).wait_for_publish(5)
                got: list[dict[str, Any]] = []

                def complete(_: dict[str, Any]) -> bool:
                    detection = any(
                        m["topic"] == "detection" and _mentions_sensor(m["payload"], territory.no2)
                        for m in got
                    )
                    created = any(
                        m["topic"] == "incident" and m["payload"].get("action") == "created" for m in got
                    )
                    return detection and created

                def collect(message: dict[str, Any]) -> bool:
                    got.append(message)
                    return complete(message)

                recv_until(ws, collect, timeout_s=10)
                took_s = time.monotonic() - started
            finally:
                publisher.loop_stop()
                publisher.disconnect()
    incident = next(m for m in got if m["topic"] == "incident")
    assert incident["territory"] == territory.id
    assert [m["id"] for m in got] == sorted(m["id"] for m in got)
    print(f"breach published → detection and incident on the WebSocket in {took_s:.2f} s")
