"""What a batch of new readings goes through after it is stored, in the writer's transaction.

push the newest values live → detect (thresholds, rate, flatline, gaps, learned profiles) → correlate the
detections into incidents (which emit their own live events). ``ReadingStore.after_insert`` runs this in a
savepoint, so the batch's readings, its detections and its incidents commit together, before the MQTT
acknowledgement or the HTTP answer.
"""

from __future__ import annotations

import threading

import psycopg

from detection.engine import Detector
from incidents.correlate import correlate
from sensing.parse import Reading
from sensing.store import AfterInsert, SensorInfo
from twin.live_events import notify_sensor_updates


def live_after_insert(detector: Detector | None = None) -> AfterInsert:
    """The after-insert stage every ingestion path uses (MQTT ingester, HTTP batches, file replay).

    The detector keeps per-sensor state in memory: one detector per process, shared by the ingestion
    threads under a lock (batches of one sensor must be seen in order).
    """
    detector = detector or Detector()
    lock = threading.Lock()

    def after_insert(conn: psycopg.Connection, stored: list[Reading], sensors: dict[int, SensorInfo]) -> None:
        notify_sensor_updates(conn, stored, sensors)
        with lock:
            detections = detector.process(conn, stored, sensors)
        if detections:
            correlate(conn, detections)

    return after_insert
