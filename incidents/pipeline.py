"""What a batch of new readings goes through after it is stored, in the writer's transaction.

push the newest values live → detect (thresholds, rate, flatline, gaps, learned profiles) → correlate the
detections into incidents (which emit their own live events). ``ReadingStore.after_insert`` runs this in a
savepoint, so the batch's readings, its detections and its incidents commit together, before the MQTT
acknowledgement or the HTTP answer. The same pipeline sweeps for silent sensors every minute (a sensor that
stops reporting sends nothing to react to).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
from fastapi import FastAPI

from detection.engine import Detector
from detection.model import Detection
from incidents.correlate import correlate
from sensing.parse import Reading
from sensing.store import SensorInfo
from twin.bus import EventBus
from twin.live_events import notify_sensor_updates

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 60.0


class LivePipeline:
    """One per process: the detector keeps per-sensor state in memory, shared by every ingestion thread (MQTT
    writer, HTTP batches) under a lock, because a sensor's readings must be judged in order."""

    def __init__(self, detector: Detector | None = None) -> None:
        self.detector = detector or Detector()
        self._lock = threading.Lock()

    def after_insert(
        self, conn: psycopg.Connection, stored: list[Reading], sensors: dict[int, SensorInfo]
    ) -> None:
        """The ``ReadingStore.after_insert`` stage."""
        notify_sensor_updates(conn, stored, sensors)
        with self._lock:
            detections = self.detector.process(conn, stored, sensors)
        if detections:
            correlate(conn, detections)

    def sweep(self, conn: psycopg.Connection, now: datetime | None = None) -> list[Detection]:
        """Open gap detections for sensors silent too long, and correlate them (in the caller's transaction)."""
        with self._lock:
            detections = self.detector.sweep(conn, now or datetime.now(UTC))
        if detections:
            correlate(conn, detections)
        return detections


def live_after_insert(detector: Detector | None = None) -> LivePipeline:
    """The pipeline every ingestion path uses (MQTT ingester, HTTP batches, file replay)."""
    return LivePipeline(detector)


def _sweep_once(url: str, pipeline: LivePipeline) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn, conn.transaction():
        return len(pipeline.sweep(conn))


@contextlib.asynccontextmanager
async def sweep_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    """Sweep for silent sensors every minute while the server runs (errors logged, never fatal)."""
    pipeline: LivePipeline | None = getattr(app.state, "pipeline", None)

    async def loop() -> None:
        assert pipeline is not None
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                found = await asyncio.to_thread(_sweep_once, app.state.database_url, pipeline)
                if found:
                    log.info("gap sweep: %d detections", found)
            except Exception:
                log.exception("gap sweep failed; next one in %.0f s", SWEEP_EVERY_S)

    task = asyncio.create_task(loop(), name="gap-sweep") if pipeline is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=5)
