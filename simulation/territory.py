"""Everything a consequence simulation needs of one territory, loaded once and kept resident.

:func:`load_territory_models` reads the road graph (or takes the server's resident one), the dependency model,
the access model (buildings and critical sites with their road access, fire stations, hospitals) and, when the
territory has a water network, its segment model (isolation valves: the stored ones when the network has
some, else assumed by the default rule and said so). A server keeps one per territory; a scenario worker
process keeps its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg.rows import dict_row

from routing.closures import SELECT_SQL, closure_from_row
from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.access import AccessModel, access_points_from_dependencies
from simulation.dependencies import DependencyModel, load_dependency_model
from simulation.propagation.context import PropagationContext, propagation_context_from_twin
from simulation.water.isolation import SegmentModel
from simulation.water.network import WaterNetwork, network_from_twin
from simulation.water.valves import default_isolation_valves
from twin.errors import NotFound

PROFILE = "emergency"


@dataclass
class TerritoryModels:
    """One territory's resident simulation models."""

    territory_id: int
    name: str
    graph: TerritoryGraph
    dependencies: DependencyModel
    access: AccessModel
    water: WaterNetwork | None
    segments: SegmentModel | None
    # Water element positions and power-feed links the propagation engine reads (empty when none).
    context: PropagationContext
    loaded_at: datetime
    load_ms: float

    @property
    def water_synthetic(self) -> bool:
        """Whether the water network was laid by ``hyperviseur synthesize water`` (reports say so)."""
        return self.water is not None and (self.water.source or "").endswith("(synthetic)")


def load_road_graph(url: str, territory: int | str) -> TerritoryGraph:
    """The territory's road graph (emergency profile, no CCH) with its live closures."""
    with psycopg.connect(url) as conn:
        network = road_network_from_db(conn, territory)
        graph = TerritoryGraph(network, use_cch=False, profiles=(PROFILE,))
        conn.row_factory = dict_row  # type: ignore[assignment]
        rows = conn.execute(SELECT_SQL + " WHERE territory_id = %s", (network.territory_id,)).fetchall()
    graph.set_closures([closure_from_row(r) for r in rows])  # type: ignore[arg-type]
    return graph


def load_territory_models(
    url: str, territory: int | str, *, graph: TerritoryGraph | None = None
) -> TerritoryModels:
    """Load (or build) every model of ``territory``; ``graph`` is the caller's resident road graph if it has one.

    Raises
    ------
    NotFound
        No such territory, or it has no road network.
    """
    started = time.perf_counter()
    if graph is None:
        graph = load_road_graph(url, territory)
    dependencies = load_dependency_model(url, graph.territory_id, graph, profile=PROFILE)
    access = AccessModel(graph, access_points_from_dependencies(graph, dependencies, profile=PROFILE))
    water: WaterNetwork | None
    try:
        water = network_from_twin(url, dependencies.territory)
    except NotFound:
        water = None
    segments = None if water is None else SegmentModel(water, default_isolation_valves(water))
    return TerritoryModels(
        graph.territory_id,
        dependencies.territory,
        graph,
        dependencies,
        access,
        water,
        segments,
        propagation_context_from_twin(url, graph.territory_id),
        datetime.now(UTC),
        (time.perf_counter() - started) * 1000,
    )
