"""HTTP batch ingestion: ``POST /api/sensing/readings`` through the same ReadingStore as MQTT and file replay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool

from sensing.maintenance import running_maintenance
from sensing.mqtt import MqttIngester
from sensing.parse import readings_from_json
from sensing.store import ReadingStore, WriteResult
from twin.broker import broker_address
from twin.bus import EventBus
from twin.security.deps import require
from twin.security.permissions import Group

log = logging.getLogger(__name__)

ROUTE = "/api/sensing/readings"
MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_REASONS = 100

_BODY_EXAMPLE = [
    {"sensor": 1, "observed_at": "2019-01-01T00:05:00Z", "value": 82.9},
    {"sensor": 1, "t": 1546301100, "v": "82,9"},
]


def _store(app: FastAPI) -> ReadingStore:
    store = getattr(app.state, "reading_store", None)
    if store is None:
        store = app.state.reading_store = ReadingStore(after_insert=getattr(app.state, "after_insert", None))
    return store


def _write(pool: ConnectionPool, store: ReadingStore, payload: bytes) -> WriteResult:
    """Parse and store in one transaction; a batch with nothing valid is rolled back whole (the caller
    gets every reason in the answer, so nothing needs keeping in ``sensing.rejected``)."""
    readings, rejections = readings_from_json(payload, source="http", origin=ROUTE)
    with pool.connection() as conn:
        result = store.write(conn, readings, rejections, source="http", origin=ROUTE)
        if result.inserted + result.duplicates == 0:
            conn.rollback()
    return result


def _answer(result: WriteResult) -> dict[str, Any]:
    return {
        "accepted": result.inserted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "rejections": [{"payload": r.payload, "reason": r.reason} for r in result.refusals[:MAX_REASONS]],
    }


def sensing_routers() -> list[APIRouter]:
    """Ingestion, reading (console) and SensorThings routers."""
    from sensing.read_routes import read_router
    from sensing.sta import sta_router

    return [ingest_router(), read_router(), sta_router()]


@contextlib.asynccontextmanager
async def sensing_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    """Run the MQTT ingester in this process (unless HYPERVISEUR_SENSING_INGEST=false).

    A broker that is not there at start-up does not stop the server: the ingester keeps trying in the
    background (paho reconnects), and readings published meanwhile wait in the broker's persistent session.
    """
    settings = app.state.settings
    # HTTP batches write with the synchronous ReadingStore in worker threads: a small pool of its own keeps them
    # off the async pool and saves a connection set-up per batch.
    ingest_pool = ConnectionPool(app.state.database_url, min_size=0, max_size=4, open=False, timeout=10)
    ingest_pool.open(wait=False)
    app.state.ingest_pool = ingest_pool
    ingester: MqttIngester | None = None
    if settings.sensing.ingest:
        host, port = broker_address(settings)
        ingester = MqttIngester(
            app.state.database_url,
            host=host,
            port=port,
            prefix=settings.mqtt.topic_prefix,
            client_id=settings.mqtt.client_id,
            after_insert=getattr(app.state, "after_insert", None),
        )
        try:
            await asyncio.to_thread(ingester.start, background=True)
        except (OSError, TimeoutError) as exc:
            log.warning("MQTT ingester not connected at start-up (%s); it keeps trying", exc)
    app.state.ingester = ingester
    simulator = None
    if settings.sensing.simulator:  # the demo's sensors come alive (docs/sensing-data.md)
        from sensing.simulator import SimulatorThread

        host, port = broker_address(settings)
        simulator = SimulatorThread(
            app.state.database_url, host=host, port=port, prefix=settings.mqtt.topic_prefix
        )
        simulator.start()
    try:
        async with running_maintenance(  # rollups every 5 min, retention hourly (sensing/maintenance.py)
            app.state.database_url,
            raw_retention_days=settings.sensing.raw_retention_days,
            rejected_retention_days=settings.sensing.rejected_retention_days,
        ):
            yield
    finally:
        if simulator is not None:
            await asyncio.to_thread(simulator.stop)
        if ingester is not None:
            await asyncio.to_thread(ingester.stop)
        await asyncio.to_thread(ingest_pool.close, 5)


def ingest_router() -> APIRouter:
    router = APIRouter(prefix="/api/sensing", tags=["sensing"])

    @router.post(
        "/readings",
        summary="Store a batch of readings (each sensor and instant once)",
        description=(
            "A JSON array of {sensor, observed_at, value} (also t/v). Each valid reading is stored once"
            " (a repeat is counted as a duplicate, the first value wins); each invalid one is refused with its"
            " reason and kept in sensing.rejected while the rest is stored. A batch with no valid reading"
            " answers 422 and changes nothing."
        ),
        dependencies=[Depends(require(Group.INGEST))],
        responses={
            413: {"description": "Batch over 8 MiB: split it"},
            422: {
                "description": "No valid reading in the batch: nothing stored; the reasons are in the answer"
            },
        },
    )
    async def post_readings(
        request: Request,
        body: Annotated[Any, Body(openapi_examples={"batch": {"value": _BODY_EXAMPLE}})],
    ) -> JSONResponse:
        payload = await request.body()
        if len(payload) > MAX_BATCH_BYTES:
            return JSONResponse(
                {"detail": f"batch over {MAX_BATCH_BYTES // 1024 // 1024} MiB: split it"}, status_code=413
            )
        pool = request.app.state.ingest_pool
        result = await asyncio.to_thread(_write, pool, _store(request.app), payload)
        content = _answer(result)
        if result.inserted + result.duplicates == 0:
            content["detail"] = "no valid reading in the batch: nothing stored"
            return JSONResponse(content, status_code=422)
        return JSONResponse(content)

    return router
