"""The server's resident simulation models: one :class:`~simulation.territory.TerritoryModels` per territory.

They are built on the routing service's resident graph (``RoutingService.graph``), so live closures are the
same object for routing and for consequences: a new live closure changes the graph's closure overlay, and the
access model's "before" follows it (``AccessModel`` re-evaluates its baseline whenever the overlay object
changes). When the routing service swaps in a rebuilt graph (the roads changed), the models built on the old
one are dropped and rebuilt on first use; a change to the other layers they read (buildings, critical sites,
water network, street lights, sensors: ``tiles_changed`` notifications) drops those of the territories whose
extent it meets. Loading runs in a worker thread, once per territory at a time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from routing.resident import TerritoryGraph
from simulation.territory import TerritoryModels, load_territory_models

log = logging.getLogger(__name__)

#: Twin tables the models read besides the roads (the roads reach them through the routing graph).
#: NOTIFY channel of simulation.dependency_links writes (migration 0014), payload the territory id.
DEPENDENCIES_CHANNEL = "dependencies_changed"
MODEL_TABLES = frozenset(
    {
        "buildings",
        "critical_sites",
        "street_lights",
        "sensors",
        "water_junctions",
        "water_tanks",
        "water_reservoirs",
        "water_pipes",
        "water_valves",
        "water_pumps",
    }
)


class GraphSource(Protocol):
    """What the models need of the routing service: its resident graph of a territory."""

    async def graph(self, territory: int | str) -> TerritoryGraph: ...


@dataclass(frozen=True)
class _Entry:
    models: TerritoryModels
    generation: int  # of the territory's other layers when loaded


class ResidentModels:
    """Territory models kept in memory, loaded lazily and dropped when their data changes."""

    def __init__(self, database_url: str, routing: GraphSource, executor: Executor) -> None:
        self.database_url = database_url
        self.routing = routing
        self.executor = executor
        self.loads = 0
        self._entries: dict[int, _Entry] = {}
        self._generation: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def resident(self, territory_id: int) -> TerritoryModels | None:
        """The models in memory for a territory, fresh or not (None: not loaded)."""
        entry = self._entries.get(territory_id)
        return None if entry is None else entry.models

    async def get(self, territory: int | str) -> TerritoryModels:
        """The territory's models, loaded (in a worker thread) if absent or stale.

        Raises
        ------
        NotFound
            No such territory, or it has no road network.
        """
        graph = await self.routing.graph(territory)
        tid = graph.territory_id
        entry = self._entries.get(tid)
        if (
            entry is not None
            and entry.models.graph is graph
            and entry.generation == self._generation.get(tid, 0)
        ):
            return entry.models
        lock = self._locks.setdefault(tid, asyncio.Lock())
        async with lock:
            graph = await self.routing.graph(tid)
            generation = self._generation.get(tid, 0)
            entry = self._entries.get(tid)
            if entry is not None and entry.models.graph is graph and entry.generation == generation:
                return entry.models
            loop = asyncio.get_running_loop()
            models = await loop.run_in_executor(
                self.executor, lambda: load_territory_models(self.database_url, tid, graph=graph)
            )
            self._entries[tid] = _Entry(models, generation)
            # The models are long-lived: move them out of the collector's reach, or a full collection of the
            # heap adds ≈0.1 s to a few live reports (docs/benchmarks.md, make bench-simulation).
            gc.freeze()
            self.loads += 1
            log.info("simulation: models of %s loaded in %.0f ms", models.name, models.load_ms)
            return models

    async def on_dependencies_changed(self, payload: str) -> None:
        """Bus handler: the dependency links of a territory were written (edit, derivation): its models are stale."""
        if payload.isascii() and payload.isdigit():
            tid = int(payload)
            self._generation[tid] = self._generation.get(tid, 0) + 1

    async def on_tiles_changed(self, payload: str) -> None:
        """Bus handler: a layer the models read changed; those of the territories it meets go stale."""
        try:
            change: dict[str, Any] = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if change.get("table") not in MODEL_TABLES:
            return
        bbox = change.get("bbox")
        for tid, entry in list(self._entries.items()):
            if bbox is None or _overlaps(entry.models.graph.network.bbox(), bbox):
                self._generation[tid] = self._generation.get(tid, 0) + 1


def _overlaps(a: tuple[float, float, float, float], b: Sequence[float]) -> bool:
    # A change beside the roads' extent may still touch the territory (a building set back): ~1 km margin.
    margin = 0.01
    return not (b[2] < a[0] - margin or b[0] > a[2] + margin or b[3] < a[1] - margin or b[1] > a[3] + margin)
