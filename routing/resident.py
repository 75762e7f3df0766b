"""The resident graph of one territory: its network, one graph per profile, and the closure overlays.

A request asks :meth:`TerritoryGraph.engine` for a profile at an instant. The closures valid then select an
overlay (weights = base weights × closure factors, never below the base weights). A new overlay is ready for
the very next request:

* where a CCH customisation is cheap (measured at build, ≤ ``CUSTOMISE_BUDGET_MS``: city graphs), the overlay
  gets its own customised CCH in the request;
* elsewhere (RoutingKit's customisation holds the GIL: 2 s on a 1M-arc graph would freeze the process), the
  overlay keeps the *base* CCH and checks each answer: a base-weight path that meets no closed or slowed arc is
  optimal under the overlay too (weights only grew), otherwise plain Dijkstra on the overlay answers.

Costs are identical whichever engine answers (same integer weights).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import shapely

from routing.closures import Closure, arcs_of_closure, edge_factor, overlay_key
from routing.graph import ProfileGraph, profile_graph_from_network
from routing.network import RoadNetwork
from routing.profiles import PROFILES, profile_named
from routing.search import CchEngine, CchIndex, CheckedCchEngine, DijkstraEngine, Engine
from routing.snapping import Snapper

log = logging.getLogger(__name__)

# Re-customise a CCH inside the request when the base customisation took at most this (Montpellier: 1 ms).
CUSTOMISE_BUDGET_MS = 50.0


@dataclass
class Overlay:
    """Weights of one set of active closures, with the engines built on them."""

    key: tuple[int, ...]
    weights_ms: np.ndarray
    dijkstra: DijkstraEngine
    cch: CchEngine | CheckedCchEngine | None = None


@dataclass
class ProfileState:
    graph: ProfileGraph
    snapper: Snapper
    cch_index: CchIndex | None
    overlay: Overlay
    base: Overlay
    customise_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class TerritoryGraph:
    """Everything routing keeps in memory for one territory (build it in a worker thread)."""

    def __init__(
        self,
        network: RoadNetwork,
        *,
        use_cch: bool = True,
        profiles: tuple[str, ...] = tuple(PROFILES),
    ) -> None:
        self.network = network
        self.use_cch = use_cch
        self.closures: list[Closure] = []
        self.closures_generation = 0
        self._area_index: shapely.STRtree | None = None
        self._states: dict[str, ProfileState] = {}
        self._build_lock = threading.Lock()
        for name in profiles:
            self.state(name)

    @property
    def territory_id(self) -> int:
        return self.network.territory_id

    def state(self, profile: str) -> ProfileState:
        """The profile's graph, built on first use."""
        state = self._states.get(profile)
        if state is not None:
            return state
        with self._build_lock:
            if profile not in self._states:
                graph = profile_graph_from_network(self.network, profile_named(profile))
                index = CchIndex(graph) if self.use_cch else None
                weights = graph.weight_ms
                base = Overlay((), weights, DijkstraEngine(graph, weights))
                started = time.perf_counter()
                if index is not None:
                    base.cch = CchEngine(index, weights)
                customise_ms = (time.perf_counter() - started) * 1000.0
                self._states[profile] = ProfileState(graph, Snapper(graph), index, base, base, customise_ms)
            return self._states[profile]

    def set_closures(self, closures: list[Closure]) -> None:
        """Replace this territory's closures (all of them, active or not); arcs are resolved here once."""
        if self._area_index is None and any(c.area is not None for c in closures):
            self._area_index = shapely.STRtree(self.network.geometry)
        index = self._area_index or shapely.STRtree([])
        self.closures = [
            dataclasses.replace(closure, arcs=arcs_of_closure(self.network, closure, index))
            for closure in closures
        ]
        self.closures_generation += 1

    def active_closures(self, profile: str, at: datetime | None = None) -> list[Closure]:
        at = at or datetime.now(UTC)
        return [c for c in self.closures if c.active_at(at) and c.applies_to(profile)]

    def overlay(self, profile: str, at: datetime | None = None) -> tuple[ProfileState, Overlay]:
        """The profile's state and the overlay of the closures valid at ``at`` (now by default)."""
        state = self.state(profile)
        active = self.active_closures(profile, at)
        key = (self.closures_generation, *overlay_key(active)) if active else ()
        current = state.overlay
        if current.key == key:
            return state, current
        with state.lock:
            if state.overlay.key == key:
                return state, state.overlay
            factor = edge_factor(self.network.n_arcs, active)
            weights = state.graph.weights_with(factor)
            overlay = Overlay(key, weights, DijkstraEngine(state.graph, weights))
            if state.cch_index is not None and state.customise_ms <= CUSTOMISE_BUDGET_MS:
                overlay.cch = CchEngine(state.cch_index, weights)
            elif isinstance(state.base.cch, CchEngine):
                overlay.cch = CheckedCchEngine(state.base.cch, overlay.dijkstra)
            state.overlay = overlay
            return state, overlay

    def engine(
        self, profile: str, at: datetime | None = None, *, prefer: str = "auto"
    ) -> tuple[ProfileState, Overlay, Engine]:
        """State, overlay and the engine to use: the overlay's CCH when it has one, else Dijkstra."""
        state, overlay = self.overlay(profile, at)
        if prefer == "dijkstra" or overlay.cch is None:
            return state, overlay, overlay.dijkstra
        return state, overlay, overlay.cch
