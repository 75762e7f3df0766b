"""Scenario runs in worker processes: the queue in the database, a process pool, progress and cancellation.

The server's :class:`RunDispatcher` claims queued runs (``FOR UPDATE SKIP LOCKED``: several server processes
share one queue) as long as it has a free worker, and submits :func:`execute_run` to a spawn-context
``ProcessPoolExecutor``. A worker process keeps the models of each territory it has loaded (Monaco: seconds to
load) and reloads them when the territory's data changed (:func:`territory_version`, a cheap query). While it
runs a run it holds an advisory lock on it, so a run left ``running`` by a dead server is recognised (nobody
holds its lock) and queued again at start-up (:func:`simulation.scenarios.store.requeue_orphans`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import psycopg

from simulation.propagation.context import crews_from_twin
from simulation.scenarios import store
from simulation.scenarios.runner import Cancelled, CrewInfo, ScenarioInput, run_scenario
from simulation.territory import TerritoryModels, load_territory_models
from simulation.water.wntr_model import wntr_model_from_twin
from twin.errors import HyperviseurError

log = logging.getLogger(__name__)

# One query, a few aggregates: changes to any of these (import, QGIS edit, re-derivation) reload the models.
_VERSION_SQL = """
SELECT (SELECT row(count(*), max(id), max(xmin::text::bigint))::text FROM twin.road_edges WHERE territory_id = %(t)s),
       (SELECT row(count(*), max(id), max(xmin::text::bigint))::text FROM twin.buildings WHERE territory_id = %(t)s),
       (SELECT row(count(*), max(xmin::text::bigint))::text FROM twin.critical_sites WHERE territory_id = %(t)s),
       (SELECT row(count(*), max(xmin::text::bigint))::text FROM twin.water_pipes WHERE territory_id = %(t)s),
       (SELECT row(count(*), max(updated_at))::text FROM simulation.dependency_links WHERE territory_id = %(t)s)
"""

# Per worker process: territory id → (data version, models); territory id → (version, extra keywords).
_MODELS: dict[int, tuple[tuple[Any, ...], TerritoryModels]] = {}
_EXTRAS: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}


def territory_version(conn: psycopg.Connection[Any], territory_id: int) -> tuple[Any, ...]:
    """A fingerprint of the territory's data the models are built from (cheap: indexed aggregates)."""
    row = conn.execute(_VERSION_SQL, {"t": territory_id}).fetchone()
    return tuple(row or ())


def models_for(url: str, conn: psycopg.Connection[Any], territory_id: int) -> TerritoryModels:
    """This process's models of the territory, loaded again when its data changed."""
    version = territory_version(conn, territory_id)
    cached = _MODELS.get(territory_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    models = load_territory_models(url, territory_id)
    _MODELS[territory_id] = (version, models)
    return models


def extras_for(url: str, models: TerritoryModels, *, water_events: bool) -> dict[str, Any]:
    """What a run needs beyond the resident models: the crews available now (recommended actions) and, for
    water events, the wntr model (hydraulics), loaded once per territory version."""
    version = _MODELS[models.territory_id][0] if models.territory_id in _MODELS else ()
    cached = _EXTRAS.get(models.territory_id)
    extras = dict(cached[1]) if cached is not None and cached[0] == version else {}
    if water_events and "wn" not in extras and models.water is not None:
        try:
            extras["wn"] = wntr_model_from_twin(url, models.territory_id).wn
        except HyperviseurError as exc:  # e.g. pump curves not stored: no hydraulics, the report says so
            log.warning("no wntr model for territory %s: %s", models.territory_id, exc)
            extras["wn"] = None
    _EXTRAS[models.territory_id] = (version, extras)
    return {**extras, "crews": crews_from_twin(url, models.territory_id)}


def _crews(conn: psycopg.Connection[Any], territory_id: int, ids: list[int]) -> dict[int, CrewInfo]:
    rows = conn.execute(
        "SELECT id, name, ST_X(coalesce(position, home)), ST_Y(coalesce(position, home)), position IS NOT NULL"
        " FROM dispatch.crews WHERE territory_id = %s AND active AND id = ANY(%s)",
        (territory_id, ids),
    ).fetchall()
    return {int(r[0]): CrewInfo(int(r[0]), str(r[1]), (float(r[2]), float(r[3])), bool(r[4])) for r in rows}


def _water_places(
    conn: psycopg.Connection[Any], territory_id: int, events: list[dict[str, Any]], wanted: set[int]
) -> dict[int, tuple[float, float]]:
    """Places of the pipe, pump and feeder events crews are sent to (points on their twin geometry)."""
    places: dict[int, tuple[float, float]] = {}
    queries = {
        "pipe_burst": (
            "pipe",
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM twin.water_pipes"
            " WHERE territory_id = %s AND name = %s) q",
        ),
        "pump_failure": (
            "pump",
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM twin.water_pumps"
            " WHERE territory_id = %s AND name = %s) q",
        ),
    }
    for i in sorted(wanted):
        event = events[i]
        if event["type"] in queries:
            key, sql = queries[event["type"]]
            row = conn.execute(sql, (territory_id, event[key])).fetchone()
        elif event["type"] == "power_failure" and event.get("feeder_ids") and not event.get("area"):
            row = conn.execute(
                "SELECT ST_X(geom), ST_Y(geom) FROM simulation.power_feeders WHERE territory_id = %s"
                " AND id = ANY(%s) ORDER BY id LIMIT 1",
                (territory_id, event["feeder_ids"]),
            ).fetchone()
        else:
            continue
        if row is not None:
            places[i] = (float(row[0]), float(row[1]))
    return places


def execute_run(url: str, run_id: int) -> str:
    """Run ``run_id`` in this (worker) process, writing its progress and result; its final status.

    Every error ends the run as ``failed`` with a message; nothing escapes to the pool but the status.
    """
    handle = store.RunHandle(url, run_id)
    try:
        scenario = handle.scenario()
        if scenario is None:
            return "cancelled"
        if not handle.progress("Chargement du territoire", 0.05):
            return "cancelled"
        territory_id = int(scenario["territory_id"])
        with psycopg.connect(url) as conn:
            models = models_for(url, conn, territory_id)
            measures = scenario["measures"]
            crew_ids = [int(m["crew_id"]) for m in measures if m["type"] == "send_crew"]
            crews = _crews(conn, territory_id, crew_ids) if crew_ids else {}
            wanted = {int(m["event"]) for m in measures if m["type"] == "send_crew"}
            places = _water_places(conn, territory_id, scenario["events"], wanted) if wanted else {}
        water_events = any(e["type"] in ("pipe_burst", "pump_failure") for e in scenario["events"])
        result = run_scenario(
            models,
            ScenarioInput(scenario["events"], measures, scenario["forked_at"], scenario["live_closures"]),
            progress=handle.progress,
            crews=crews,
            event_places=places,
            extras=extras_for(url, models, water_events=water_events),
        )
        return "done" if handle.finish(result.baseline_kpis, result.kpis, result.report) else "cancelled"
    except Cancelled:
        return "cancelled"
    except HyperviseurError as exc:
        handle.fail(f"{type(exc).__name__}: {exc}")
        return "failed"
    except Exception as exc:  # a bug must still end the run, with something to report
        log.exception("scenario run %s failed", run_id)
        handle.fail(
            f"internal error / erreur interne: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        )
        return "failed"
    finally:
        handle.close()


def _warm_up() -> None:
    """Import the heavy modules once in each new worker (spawned processes start bare)."""
    import simulation.scenarios.runner  # noqa: F401


class RunDispatcher:
    """Claims queued runs and feeds them to a process pool of ``workers`` processes (0: none, runs wait)."""

    def __init__(self, url: str, *, workers: int, poll_s: float = 1.0) -> None:
        self.url = url
        self.workers = workers
        self.poll_s = poll_s
        self.wake = asyncio.Event()
        self._orphans_checked = False
        self.running: dict[int, Future[str]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    async def _requeue_orphans(self) -> None:
        """Queue again the runs a stopped server left running (once; retried while the database is away)."""
        try:
            requeued = await asyncio.to_thread(store.requeue_orphans, self.url)
        except (psycopg.Error, OSError) as exc:  # not reachable or not migrated yet: /health says so
            log.warning("scenario dispatcher: orphaned runs not checked yet: %s", exc)
            return
        self._orphans_checked = True
        if requeued:
            log.warning("scenario runs %s were left running by a stopped server: queued again", requeued)

    async def start(self) -> None:
        await self._requeue_orphans()
        if self.workers <= 0:
            return
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up
        )
        self._task = asyncio.create_task(self._loop(), name="scenario-runs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            # Runs in progress are abandoned: their worker dies with the pool, their lock with it, and the
            # next start-up queues them again.
            processes = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                await asyncio.to_thread(process.join, 5)

    async def _loop(self) -> None:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._orphans_checked:
                await self._requeue_orphans()
            try:
                self.running = {k: f for k, f in self.running.items() if not f.done()}
                free = self.workers - len(self.running)
                for run_id in await asyncio.to_thread(store.claim_runs, self.url, free):
                    future = self._pool.submit(execute_run, self.url, run_id)
                    future.add_done_callback(lambda _: loop.call_soon_threadsafe(self.wake.set))
                    self.running[run_id] = future
            except (psycopg.Error, OSError) as exc:  # the database restarts: try again at the next tick
                log.warning("scenario dispatcher: %s", exc)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll_s)
