"""The routing service of one server process: resident graphs per territory, kept fresh from the event bus.

* ``tiles_changed`` notifications for ``road_edges``/``road_nodes`` mark the territories whose extent the change
  meets as stale; each is rebuilt in a worker thread and swapped in atomically (requests keep the old graph
  until then; a territory that is not resident yet is loaded on first use).
* ``routing_changed`` notifications (``routing.closures`` or ``routing.turn_restrictions`` changed) reload the
  closures of the resident territories (a small query), or rebuild the graph for restrictions. The next
  request uses them: no graph is rebuilt for a closure.
* On every (re)connection of the bus, closures are reloaded and graphs checked against the database (a
  notification may have been missed while disconnected).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from routing.closures import SELECT_SQL, closure_from_row
from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from twin.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

ROAD_TABLES = frozenset({"road_edges", "road_nodes"})
ROUTING_CHANNEL = "routing_changed"
TILES_CHANNEL = "tiles_changed"


class RoutingService:
    """Resident territory graphs and their closures, for one process."""

    def __init__(
        self, database_url: str, *, pool: AsyncConnectionPool | None = None, use_cch: bool = True
    ) -> None:
        self.database_url = database_url
        self.pool = pool
        self.use_cch = use_cch
        # Requests and builds share 2 threads (the machine's cores); CCH queries release the GIL.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="routing")
        self.graphs: dict[int, TerritoryGraph] = {}
        self._loading: dict[int, asyncio.Future[TerritoryGraph]] = {}
        self._names: dict[str, int] = {}
        self.rebuilds = 0

    # -- graphs ---------------------------------------------------------------------------------------------

    def build_graph(self, territory: int | str) -> TerritoryGraph:
        """Read and build a territory's graph and closures (blocking: call it in a worker thread)."""
        with psycopg.connect(self.database_url) as conn:
            network = road_network_from_db(conn, territory)
            graph = TerritoryGraph(network, use_cch=self.use_cch, profiles=("car",))
            conn.row_factory = dict_row  # type: ignore[assignment]
            rows = conn.execute(SELECT_SQL + " WHERE territory_id = %s", (network.territory_id,)).fetchall()
        graph.set_closures([closure_from_row(r) for r in rows])  # type: ignore[arg-type]
        return graph

    async def territory_id(self, territory: int | str) -> int:
        key = str(territory)
        if key in self._names:
            return self._names[key]
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(
                "SELECT id FROM twin.territory WHERE id::text = %s OR name = %s ORDER BY id LIMIT 1",
                (key, key),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no territory {territory!r}; GET /api/territories lists them")
        self._names[key] = int(row[0])
        return int(row[0])

    async def graph(self, territory: int | str) -> TerritoryGraph:
        """The resident graph of a territory, loading it (once, in a worker thread) on first use."""
        tid = await self.territory_id(territory)
        graph = self.graphs.get(tid)
        if graph is not None:
            return graph
        future = self._loading.get(tid)
        if future is None:
            future = asyncio.get_running_loop().run_in_executor(self.executor, self.build_graph, tid)
            self._loading[tid] = future
            try:
                self.graphs[tid] = await future
            finally:
                self._loading.pop(tid, None)
            return self.graphs[tid]
        return await future

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run CPU-bound routing work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    def graph_for_points(
        self, points: Sequence[tuple[float, float]], *, territory: int | str | None = None
    ) -> TerritoryGraph:
        """A resident graph: ``territory`` if given, else the one whose road extent holds all the points."""
        if territory is not None:
            for graph in self.graphs.values():
                if str(territory) in (str(graph.territory_id), graph.network.name):
                    return graph
            graph = self.build_graph(territory)
            self.graphs[graph.territory_id] = graph  # resident from now on, like those loaded by requests
            return graph
        for graph in self.graphs.values():
            w, s, e, n = graph.network.bbox()
            if all(w <= x <= e and s <= y <= n for x, y in points):
                return graph
        raise InvalidInput("no resident territory contains all the points; name the territory")

    # -- event bus handlers ---------------------------------------------------------------------------------

    async def on_tiles_changed(self, payload: str) -> None:
        change = orjson.loads(payload)
        if change.get("table") not in ROAD_TABLES:
            return
        bbox = change.get("bbox")
        for tid, graph in list(self.graphs.items()):
            if bbox is None or _overlaps(graph.network.bbox(), bbox):
                self._schedule_rebuild(tid)
        # A new territory (an import) is loaded on first use; names may have changed.
        self._names.clear()

    async def on_routing_changed(self, payload: str) -> None:
        table = orjson.loads(payload).get("table") if payload else None
        if table == "turn_restrictions":
            for tid in list(self.graphs):
                self._schedule_rebuild(tid)
            return
        await self.reload_closures()

    async def on_connect(self) -> None:
        """Catch up after a (re)connection: closures again, and every resident graph rebuilt."""
        await self.reload_closures()
        for tid in list(self.graphs):
            self._schedule_rebuild(tid)

    def _schedule_rebuild(self, tid: int) -> None:
        loop = asyncio.get_running_loop()

        async def rebuild() -> None:
            try:
                graph = await loop.run_in_executor(self.executor, self.build_graph, tid)
            except NotFound:
                self.graphs.pop(tid, None)  # the territory or its roads are gone
                return
            self.graphs[tid] = graph  # atomic swap: requests under way keep the old object
            self.rebuilds += 1

        task = loop.create_task(rebuild())
        task.add_done_callback(_log_failure)

    async def reload_closures(self) -> None:
        """Read the closures of every resident territory and lay them over the graphs."""
        if not self.graphs:
            return
        async with await psycopg.AsyncConnection.connect(self.database_url, row_factory=dict_row) as conn:
            cur = await conn.execute(SELECT_SQL + " WHERE territory_id = ANY(%s)", (list(self.graphs),))
            rows = await cur.fetchall()
        by_territory: dict[int, list[Any]] = {tid: [] for tid in self.graphs}
        for row in rows:
            by_territory.setdefault(int(row["territory_id"]), []).append(closure_from_row(row))
        for tid, closures in by_territory.items():
            graph = self.graphs.get(tid)
            if graph is not None:
                await self.run(graph.set_closures, closures)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("routing: graph rebuild failed: %s", task.exception())


def _overlaps(a: tuple[float, float, float, float], b: Sequence[float]) -> bool:
    return not (b[2] < a[0] or b[0] > a[2] or b[3] < a[1] or b[1] > a[3])
