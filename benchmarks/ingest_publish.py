"""MQTT publishers of the ingestion benchmark, run in child processes so they never take the ingester's GIL.

Two ways to publish: :func:`publish_all` sends a prepared list of messages as fast as the broker acknowledges
them (to fill the ingester's persistent session while it is away), :func:`publish_paced` sends at an exact
rate for a while, each payload stamped with its own send time (``t``, Unix seconds with microseconds), so
that the stored ``observed_at`` *is* the publish instant.
"""

from __future__ import annotations

import math
import threading
import time

import paho.mqtt.client as mqtt

from twin.broker import host_port_from_url

#: Unacknowledged QoS 1 messages a publisher keeps in flight (paho's default of 20 would cap the rate).
PUBLISHER_INFLIGHT = 2000


class _Publisher:
    """A connected paho client that counts the PUBACKs it receives."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.acked = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(PUBLISHER_INFLIGHT)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=60)
        self.client.loop_start()

    def _on_publish(self, _c: mqtt.Client, _u: object, _mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            self.acked += 1

    def wait_acked(self, count: int, stall_s: float) -> int:
        """Wait until ``count`` PUBACKs arrived, or none for ``stall_s``; return how many arrived."""
        last, last_change = self.acked, time.monotonic()
        while self.acked < count and time.monotonic() - last_change < stall_s:
            time.sleep(0.01)
            if self.acked != last:
                last, last_change = self.acked, time.monotonic()
        return self.acked

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(host: str, port: int, client_id: str, messages: list[tuple[str, bytes]]) -> int:
    """Publish every (topic, payload) at QoS 1; return how many the broker acknowledged."""
    publisher = _Publisher(host, port, client_id)
    try:
        for sent, (topic, payload) in enumerate(messages):
            # A bounded backlog: paho would otherwise queue every message not yet in flight in memory.
            while sent - publisher.acked > 2 * PUBLISHER_INFLIGHT:
                time.sleep(0.001)
            publisher.client.publish(topic, payload, qos=1)
        return publisher.wait_acked(len(messages), stall_s=30)
    finally:
        publisher.close()


def publish_paced(
    host: str,
    port: int,
    client_id: str,
    topics: list[str],
    rate_per_s: float,
    duration_s: float,
    start_at: float,
) -> dict[str, float]:
    """From the Unix instant ``start_at``, publish ``rate_per_s`` messages/s for ``duration_s``, round-robin
    over ``topics``; each payload is ``{"t": send time, "v": value}``.

    Returns the count published and acknowledged by the broker (only those are sure to be there), and the
    worst lag behind the schedule (s): a publisher that fell behind under-loaded the ingester, so the caller
    reports it.
    """
    publisher = _Publisher(host, port, client_id)
    total = int(rate_per_s * duration_s)
    worst_lag_s = 0.0
    try:
        while time.time() < start_at:
            time.sleep(min(0.01, max(0.0, start_at - time.time())))
        for i in range(total):
            due = start_at + i / rate_per_s
            now = time.time()
            if now < due:
                time.sleep(due - now)
                now = time.time()
            else:
                worst_lag_s = max(worst_lag_s, now - due)
            value = 50.0 + 20.0 * math.sin(i / 500.0)
            payload = b'{"t": %.6f, "v": %.3f}' % (now, value)
            publisher.client.publish(topics[i % len(topics)], payload, qos=1)
        acked = publisher.wait_acked(total, stall_s=30)
        return {"sent": float(total), "acked": float(acked), "worst_lag_s": worst_lag_s}
    finally:
        publisher.close()


def open_session(broker_url: str, client_id: str, topic_filter: str) -> None:
    """Create an ingester's persistent session (subscribed, then away): the broker queues for it from now on."""
    host, port = host_port_from_url(broker_url)
    subscribed = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311
    )
    client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    try:
        if not subscribed.wait(10):
            raise SystemExit(f"could not open the session {client_id} on the broker {broker_url}")
    finally:
        client.disconnect()
        client.loop_stop()


def close_session(broker_url: str, client_id: str) -> None:
    """Drop a finished run's persistent session: it would otherwise queue every later run's messages."""
    host, port = host_port_from_url(broker_url)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
    )
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(host, port)
    client.loop_start()
    try:
        connected.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
