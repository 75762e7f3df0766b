"""Readings through the real Mosquitto into the real PostGIS: stored once, refused with a reason, never lost."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest

from sensing.mqtt import MqttIngester
from sensing.parse import Reading
from sensing.store import ReadingStore
from twin.broker import EmbeddedBroker, host_port_from_url
from twin.cluster import EmbeddedCluster

PREFIX = "hyperviseur"


@pytest.fixture()
def ingester(
    broker: EmbeddedBroker, database_url: str, request: pytest.FixtureRequest
) -> Iterator[MqttIngester]:
    host, port = host_port_from_url(broker.url())
    ing = MqttIngester(
        database_url, host=host, port=port, prefix=PREFIX, client_id=f"ingest-{request.node.name}"[:60]
    )
    ing.start()
    yield ing
    ing.stop()


def _publisher(broker: EmbeddedBroker, name: str) -> mqtt.Client:
    host, port = host_port_from_url(broker.url())
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=name, clean_session=False, protocol=mqtt.MQTTv311
    )
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.connect(host, port)
    client.loop_start()
    return client


def _count(url: str, sensor: int, start: datetime, end: datetime) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM sensing.readings WHERE sensor_id = %s AND observed_at >= %s AND observed_at < %s",
            (sensor, start, end),
        ).fetchone()[0]


def _wait_for(predicate, timeout_s: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _payload(at: datetime, value: float) -> bytes:
    return f'{{"t": "{at.isoformat()}", "v": {value}}}'.encode()


def test_a_reading_delivered_twice_is_stored_once(
    broker: EmbeddedBroker, ingester: MqttIngester, database_url: str, sensor_ids: dict[str, int]
) -> None:
    sensor = sensor_ids["p227"]
    start = datetime(2019, 1, 1, tzinfo=UTC)
    pub = _publisher(broker, "pub-dup")
    topic = f"{PREFIX}/sensors/{sensor}/readings"
    for i in range(100):
        for _ in range(2):  # every reading twice, as a publisher retrying after a lost PUBACK does
            pub.publish(
                topic, _payload(start + timedelta(minutes=5 * i), 80 + i * 0.1), qos=1
            ).wait_for_publish(5)
    # and once more in one array message, across a month boundary (two partitions)
    batch = b"[" + b",".join(_payload(start + timedelta(minutes=5 * i), 1.0) for i in range(100)) + b"]"
    pub.publish(topic, batch, qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    assert _wait_for(lambda: ingester.stats.messages >= 201)
    assert ingester.wait_idle()
    assert _count(database_url, sensor, start, start + timedelta(days=1)) == 100
    with psycopg.connect(database_url) as conn:
        first = conn.execute(
            "SELECT value FROM sensing.readings WHERE sensor_id = %s AND observed_at = %s", (sensor, start)
        ).fetchone()[0]
    assert first == 80.0, "the first delivery wins; a later duplicate never overwrites it"
    assert ingester.stats.totals.inserted == 100
    assert ingester.stats.totals.duplicates == 200


def test_malformed_payloads_land_in_the_rejected_table(
    broker: EmbeddedBroker, ingester: MqttIngester, database_url: str, sensor_ids: dict[str, int]
) -> None:
    tank = sensor_ids["T1"]
    at = datetime(2019, 2, 1, tzinfo=UTC)
    marker = "malformed-test"
    cases = {
        f"{PREFIX}/sensors/{tank}/readings": [
            (b"{not json " + marker.encode(), "not JSON"),
            (f'{{"t": "2019-02-01 00:00:00", "v": 1, "m": "{marker}"}}'.encode(), "has no offset"),
            (f'{{"t": "{at.isoformat()}", "v": "beaucoup", "m": "{marker}"}}'.encode(), "is not a number"),
            (f'{{"t": "{at.isoformat()}", "v": 250, "m": "{marker}"}}'.encode(), "above 100.0"),
        ],
        f"{PREFIX}/sensors/999999/readings": [
            (f'{{"t": "{at.isoformat()}", "v": 1, "m": "{marker}"}}'.encode(), "unknown sensor 999999"),
        ],
        f"{PREFIX}/sensors/abc/readings": [(marker.encode(), "is not a sensor id")],
    }
    pub = _publisher(broker, "pub-bad")
    for topic, payloads in cases.items():
        for payload, _ in payloads:
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
    # a good reading after the bad ones: the pipeline is still alive
    pub.publish(f"{PREFIX}/sensors/{tank}/readings", _payload(at, 3.41), qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    assert _wait_for(lambda: _count(database_url, tank, at, at + timedelta(seconds=1)) == 1)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT source, origin, reason FROM sensing.rejected WHERE source = 'mqtt'"
            " AND (payload LIKE %s OR reason LIKE %s OR (sensor_id = %s AND reason LIKE 'value 250.0 above%%'))",
            (f"%{marker}%", "%999999%", tank),
        ).fetchall()
    reasons = [r[2] for r in rows]
    expected = [fragment for payloads in cases.values() for _, fragment in payloads]
    for fragment in expected:
        assert any(fragment in reason for reason in reasons), (fragment, reasons)
    # the out-of-range value is not guessed at or clipped: it is absent from the readings
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT value FROM sensing.readings WHERE sensor_id = %s AND observed_at = %s", (tank, at)
        ).fetchall()
    assert stored == [(3.41,)]


def _publish_stream(
    pub: mqtt.Client, topic: str, start: datetime, n: int, acked: list[int], stop: threading.Event
) -> None:
    """Publish n readings, each until the broker acknowledges it (a publisher doing its at-least-once part)."""
    for i in range(n):
        while not stop.is_set():
            info = pub.publish(topic, _payload(start + timedelta(seconds=i), float(i % 90)), qos=1)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(3)
            if info.is_published():
                acked.append(i)
                break


def test_restarting_mosquitto_then_postgresql_mid_stream_loses_no_accepted_reading(
    broker: EmbeddedBroker,
    ingester: MqttIngester,
    database_url: str,
    sensor_ids: dict[str, int],
    pg_cluster: EmbeddedCluster,
) -> None:
    sensor = sensor_ids["no2-1"]
    start = datetime(2019, 3, 1, tzinfo=UTC)
    n = 3000
    pub = _publisher(broker, "pub-restart")
    acked: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=_publish_stream,
        args=(pub, f"{PREFIX}/sensors/{sensor}/readings", start, n, acked, stop),
        daemon=True,
    )
    thread.start()
    assert _wait_for(lambda: len(acked) > 500)
    broker.restart()
    assert _wait_for(lambda: len(acked) > 1500, timeout_s=30)
    pg_cluster.stop()
    pg_cluster.start()
    thread.join(60)
    stop.set()
    pub.disconnect()
    pub.loop_stop()
    assert len(acked) == n
    assert _wait_for(
        lambda: _count(database_url, sensor, start, start + timedelta(seconds=n)) == n, timeout_s=30
    ), _count(database_url, sensor, start, start + timedelta(seconds=n))
    assert ingester.stats.db_errors >= 1 or ingester.stats.totals.inserted >= n


def test_store_creates_monthly_partitions_with_brin(database_url: str, sensor_ids: dict[str, int]) -> None:
    store = ReadingStore()
    readings = [Reading(sensor_ids["T1"], datetime(2017, m, 15, tzinfo=UTC), 2.0) for m in (1, 2, 3)]
    with psycopg.connect(database_url) as conn, conn.transaction():
        result = store.write(conn, readings, [], source="file", origin="test")
    assert result.inserted == 3
    with psycopg.connect(database_url) as conn:
        parts = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'sensing.readings'::regclass"
            )
        }
        brins = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_indexes WHERE schemaname = 'sensing' AND indexdef LIKE '%USING brin%'"
            )
        }
    assert {"readings_2017_01", "readings_2017_02", "readings_2017_03"} <= parts
    assert {"readings_2017_01", "readings_2017_02", "readings_2017_03"} <= brins
