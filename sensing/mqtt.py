"""The MQTT ingester: QoS 1, a persistent session, batches committed before they are acknowledged.

A message is acknowledged (PUBACK) only after the batch holding it is committed, so the broker keeps and
re-sends whatever was not yet stored when the ingester, the broker or PostgreSQL goes away: delivery is
at-least-once, and the primary key of ``sensing.readings`` makes storage exactly-once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import psycopg

from sensing.parse import Reading, Rejection, readings_from_mqtt
from sensing.store import AfterInsert, ReadingStore, WriteResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int


@dataclass
class IngestStats:
    messages: int = 0
    batches: int = 0
    totals: WriteResult = field(default_factory=WriteResult)
    db_errors: int = 0


class MqttIngester:
    """Subscribe to ``<prefix>/sensors/+/readings`` and store what arrives; ``start()``/``stop()`` in threads.

    Parameters
    ----------
    database_url
        Where readings go.
    host, port
        The broker.
    prefix
        First topic level (``HYPERVISEUR_MQTT_TOPIC_PREFIX``).
    client_id
        Name of the persistent session on the broker: messages published while the ingester is away are
        kept for it.
    max_batch, max_delay_s
        A batch is written when it holds ``max_batch`` messages or its oldest waited ``max_delay_s``.
    on_batch
        Called after each commit with the readings stored (live push and detection hook here).
    """

    def __init__(
        self,
        database_url: str,
        *,
        host: str,
        port: int,
        prefix: str = "hyperviseur",
        client_id: str = "hyperviseur-ingest",
        max_batch: int = 2000,
        max_delay_s: float = 0.05,
        on_batch: Callable[[list[Reading], WriteResult], None] | None = None,
        after_insert: AfterInsert | None = None,
    ) -> None:
        self.database_url = database_url
        self.host, self.port = host, port
        self.prefix = prefix
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.on_batch = on_batch
        self.stats = IngestStats()
        self.store = ReadingStore(after_insert=after_insert)
        self._pending: list[_Message] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._connection = 0
        self._connected = threading.Event()
        self._writer: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        """Whether the ingester is connected and subscribed to the broker."""
        return self._connected.is_set()

    @property
    def topic_filter(self) -> str:
        return f"{self.prefix}/sensors/+/readings"

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, *, timeout_s: float = 10.0, background: bool = False) -> None:
        """Connect (retrying until ``timeout_s``), subscribe, and start the network and writer threads.

        With ``background``, return at once: the network thread connects, and keeps trying while the broker
        is not there (``connected`` tells whether it is).
        """
        if background:
            self._writer = threading.Thread(target=self._write_loop, name="sensing-mqtt-writer", daemon=True)
            self._writer.start()
            self.client.connect_async(self.host, self.port, keepalive=30)
            self.client.loop_start()
            return
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.client.connect(self.host, self.port, keepalive=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._writer = threading.Thread(target=self._write_loop, name="sensing-mqtt-writer", daemon=True)
        self._writer.start()
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            raise TimeoutError(f"the MQTT broker {self.host}:{self.port} did not accept the ingester")

    def stop(self) -> None:
        """Write what is pending, then disconnect; messages not yet committed stay on the broker."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join(30)
        self.client.disconnect()
        self.client.loop_stop()
        if self._conn is not None:
            self._conn.close()

    def wait_idle(self, *, timeout_s: float = 10.0) -> bool:
        """True once nothing is waiting to be written (tests, replay)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending and not self._busy:
                    return True
            time.sleep(0.02)
        return False

    # -- MQTT callbacks (network thread) ---------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker refused the ingester: %s", reason)
            return
        with self._cond:
            self._connection += 1
        client.subscribe(self.topic_filter, qos=1)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("MQTT broker connection lost (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._pending.append(_Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._connection))
            # Wake the writer on the first message (its batching window starts now, not at its next idle
            # poll: that cost a flat 0.2 s of latency) and when a batch is full.
            if len(self._pending) == 1 or len(self._pending) >= self.max_batch:
                self._cond.notify()

    # -- writer thread -----------------------------------------------------------------------------------

    _busy = False

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    if self._stopping.is_set():
                        return
                    self._cond.wait(0.2)
                    continue
                if len(self._pending) < self.max_batch and not self._stopping.is_set():
                    self._cond.wait(self.max_delay_s)
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                self._busy = True
            try:
                self._write_until_committed(batch)
            finally:
                with self._cond:
                    self._busy = False

    def _write_until_committed(self, batch: list[_Message]) -> None:
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        for message in batch:
            good, bad = readings_from_mqtt(message.topic, message.payload, prefix=self.prefix)
            readings += good
            rejections += bad
        delay = 0.2
        while True:
            try:
                conn = self._connection_to_db()
                with conn.transaction():
                    result = self.store.write(
                        conn, readings, rejections, source="mqtt", origin=self.topic_filter
                    )
                break
            except psycopg.OperationalError as exc:
                # PostgreSQL is away: keep the batch (not acknowledged, so also still on the broker) and retry.
                self.stats.db_errors += 1
                log.warning("database unavailable (%s); retrying in %.1f s", exc, delay)
                self._drop_db_connection()
                if self._stopping.is_set() and delay > 2:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except psycopg.Error as exc:
                # Not an outage but a refusal (a sensor deleted meanwhile, a value PostgreSQL will not take):
                # the batch's readings go to the rejected table with the reason, and the pipeline goes on.
                log.error("batch refused by the database: %s", exc)
                self.store.sensors.clear()
                rejections += [
                    Rejection(
                        "mqtt",
                        self.topic_filter,
                        _describe(r),
                        f"refused by the database: {exc}",
                        r.sensor_id,
                    )
                    for r in readings
                ]
                readings = []
        self.stats.messages += len(batch)
        self.stats.batches += 1
        self.stats.totals += result
        with self._cond:
            current = self._connection
        for message in batch:
            # A message received on an earlier connection was re-sent by the broker on this one (it was not
            # acknowledged there): its old packet id means nothing now, and the re-sent copy is acked instead.
            if message.qos > 0 and message.connection == current:
                self.client.ack(message.mid, message.qos)
        if self.on_batch is not None:
            self.on_batch(readings, result)

    def _connection_to_db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, connect_timeout=5)
            self.store.months.clear()
        return self._conn

    def _drop_db_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None


def _describe(reading: Reading) -> str:
    return (
        f'{{"sensor": {reading.sensor_id}, "t": "{reading.observed_at.isoformat()}", "v": {reading.value}}}'
    )
