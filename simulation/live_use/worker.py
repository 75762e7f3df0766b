"""Consequences computed in the background for every incident, from the live event feed.

Incidents announce themselves on the live event log (``live.events``, topic ``incident``, NOTIFY
``live_events`` at commit: ``incidents.store.announce``), so this service listens to the same channel as the
live hub and reads the incident events after the last one it saw. A ``created`` incident, or one whose
category, place or asset changed since its consequences were computed, gets a ``pending`` row and joins the
queue; one worker thread computes them one at a time (:func:`simulation.live_use.compute.compute_and_store`),
outside every ingestion transaction: detection commits first, then this service hears of it.

On start-up and after a lost bus connection, it catches up: open incidents without a row and every pending
row are queued. ``HYPERVISEUR_SIMULATION_AUTO_CONSEQUENCES=false`` turns the automatic part off; a
``POST /api/incidents/{id}/consequences`` is still computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from routing.service import TILES_CHANNEL
from simulation.live_use import store
from simulation.live_use.compute import Outcome, compute_and_store
from simulation.live_use.infer import IncidentFacts
from simulation.live_use.models import DEPENDENCIES_CHANNEL, GraphSource, ResidentModels
from twin.bus import EventBus
from twin.errors import NotFound
from twin.live_events import LOGGED_CHANNEL

log = logging.getLogger(__name__)

READ_BATCH = 1000
_EVENTS_SQL = "SELECT id, payload FROM live.events WHERE id > %s AND topic = 'incident' ORDER BY id LIMIT %s"
_LAST_ID_SQL = "SELECT coalesce(max(id), 0) FROM live.events"


class ConsequenceService:
    """The queue of incidents whose consequences are due, its worker, and the bus handlers that fill it."""

    def __init__(
        self,
        database_url: str,
        pool: AsyncConnectionPool[Any],
        routing: GraphSource,
        *,
        auto: bool = True,
        prevailing_wind_from_deg: float | None = None,
    ) -> None:
        self.database_url = database_url
        self.pool = pool
        self.auto = auto
        self.prevailing_wind_from_deg = prevailing_wind_from_deg
        # One thread: incidents are computed one after the other; ad hoc requests use the server's threads.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consequences")
        self.models = ResidentModels(database_url, routing, self.executor)
        self.computed: list[Outcome] = []  # the latest outcomes (tests, status), bounded
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._last_id: int | None = None
        self._worker: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending_read = False

    # -- requests -------------------------------------------------------------------------------------------

    async def request(self, incident_id: int) -> dict[str, Any]:
        """Mark the incident's consequences pending (a new ``requested_at``) and queue it; return the row."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(store.REQUEST_SQL, {"id": incident_id})
            row = await cur.fetchone()
        assert row is not None
        self._enqueue(incident_id)
        return row

    def _enqueue(self, incident_id: int) -> None:
        if incident_id not in self._queued:
            self._queued.add(incident_id)
            self._queue.put_nowait(incident_id)

    # -- the worker -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="incident-consequences")

    async def stop(self) -> None:
        for task in (self._worker, self._reader):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=5)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _work(self) -> None:
        while True:
            incident_id = await self._queue.get()
            self._queued.discard(incident_id)
            try:
                await self.compute(incident_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away, a bug: logged; the row stays pending for the catch-up
                log.exception("simulation: consequences of incident %s not computed", incident_id)

    async def compute(self, incident_id: int) -> Outcome | None:
        """Compute the incident's pending consequences now (None: nothing pending)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT c.requested_at, i.territory_id FROM simulation.incident_consequences c"
                " JOIN incidents.incidents i ON i.id = c.incident_id"
                " WHERE c.incident_id = %s AND c.status = 'pending'",
                (incident_id,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        requested_at, territory_id = row
        try:
            models = await self.models.get(int(territory_id))
        except NotFound:
            models = None  # no road network: the row says not applicable
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(
            self.executor,
            lambda: compute_and_store(
                self.database_url,
                incident_id,
                requested_at,
                models,
                prevailing_wind_from_deg=self.prevailing_wind_from_deg,
            ),
        )
        self.computed = [*self.computed[-99:], outcome]
        return outcome

    # -- bus handlers ---------------------------------------------------------------------------------------

    async def on_logged(self, _payload: str) -> None:
        """``live_events``: something was logged; read the incident events after the last one seen."""
        self._wake()

    async def on_connect(self) -> None:
        """(Re)connected: read what was logged meanwhile, then queue every open incident not computed yet."""
        try:
            if self._last_id is None:
                async with self.pool.connection() as conn:
                    row = await (await conn.execute(_LAST_ID_SQL)).fetchone()
                self._last_id = int(row[0]) if row else 0
            else:
                while await self._read_new():
                    pass
            await self.catch_up()
        except Exception:  # the database away: the next reconnection catches up
            log.exception("simulation: consequences catch-up failed")

    async def on_disconnect(self) -> None:
        return None

    async def catch_up(self) -> int:
        """Queue the open incidents never computed (when automatic) and every pending row; return how many."""
        async with self.pool.connection() as conn:
            if self.auto:
                await conn.execute(store.CATCH_UP_SQL)
            rows = await (await conn.execute(store.PENDING_SQL)).fetchall()
        for (incident_id,) in rows:
            self._enqueue(int(incident_id))
        return len(rows)

    def _wake(self) -> None:
        self._pending_read = True
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_while_pending(), name="consequences-feed")

    async def _read_while_pending(self) -> None:
        delay_s = 0.1
        while self._pending_read:
            self._pending_read = False
            try:
                if await self._read_new():
                    self._pending_read = True
                delay_s = 0.1
            except Exception as exc:  # database unreachable: retry; the reconnection catches up too
                log.warning("simulation: reading incident events failed (%s); retry in %.1f s", exc, delay_s)
                self._pending_read = True
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    async def _read_new(self) -> bool:
        """Handle one batch of incident events after the last one seen; True when more may follow."""
        if self._last_id is None:
            return False  # not connected yet: on_connect notes where the log ends
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_EVENTS_SQL, (self._last_id, READ_BATCH))).fetchall()
        if not rows:
            return False
        self._last_id = int(rows[-1][0])
        if self.auto:
            await self._handle([payload for _, payload in rows])
        return len(rows) == READ_BATCH

    async def _handle(self, payloads: list[Any]) -> None:
        latest: dict[int, dict[str, Any]] = {}
        created: set[int] = set()
        for payload in payloads:
            incident = (payload or {}).get("incident") or {}
            if "id" not in incident:
                continue
            latest[int(incident["id"])] = incident
            if payload.get("action") == "created":
                created.add(int(incident["id"]))
        if not latest:
            return
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(store.BASES_SQL, {"ids": list(latest)})
            stored = {int(r["incident_id"]): r for r in await cur.fetchall()}
        for incident_id, incident in latest.items():
            if incident.get("status") == "resolved":
                continue
            row = stored.get(incident_id)
            if row is not None and row["status"] == "pending":
                self._enqueue(incident_id)
            elif incident_id in created or row is None or row["basis"] != _basis(incident):
                await self.request(incident_id)


def _basis(incident: dict[str, Any]) -> dict[str, Any]:
    """The inference basis of an incident's live JSON, as :meth:`IncidentFacts.basis` writes it."""
    return IncidentFacts(
        int(incident["id"]),
        int(incident["territory_id"]),
        incident["category"],
        float(incident["lon"]),
        float(incident["lat"]),
        incident.get("asset_layer"),
        incident.get("asset_id"),
    ).basis()


@contextlib.asynccontextmanager
async def consequences_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    """Start the consequence service (after routing and live: it uses the routing service's graphs) and
    subscribe it to the live event log and the layer changes, before the bus starts."""
    settings = getattr(app.state.settings, "simulation", None)
    service = ConsequenceService(
        app.state.database_url,
        app.state.pool,
        app.state.routing,
        auto=getattr(settings, "auto_consequences", True),
        prevailing_wind_from_deg=getattr(settings, "prevailing_wind_from_deg", None),
    )
    bus.subscribe(
        LOGGED_CHANNEL, service.on_logged, on_connect=service.on_connect, on_disconnect=service.on_disconnect
    )
    bus.subscribe(TILES_CHANNEL, service.models.on_tiles_changed)
    bus.subscribe(DEPENDENCIES_CHANNEL, service.models.on_dependencies_changed)
    app.state.consequences = service
    service.start()
    try:
        yield
    finally:
        await service.stop()
