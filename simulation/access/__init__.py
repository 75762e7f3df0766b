"""Road closures → isolated areas and emergency-access degradation, on a territory's resident routing graph.

What-if closures are :class:`routing.closures.Closure` objects laid over the graph with the live ones, by the
same mechanism as routing (``edge_factor`` → ``ProfileGraph.weights_with``), so a what-if answers "what if
this closure came on top of today's". Before = the live overlay; after = live + what-if.

For each state, on the CSR arrays of the overlay's Dijkstra engine:

* the *main component* is the largest strongly connected component before the event; a node is isolated when
  it was in it before and is not any more (cannot be reached from it, or cannot get back to it);
* travel time from the nearest fire station is ONE multi-source Dijkstra (scipy, ``min_only=True``) from one
  virtual node per station, joined to its anchors by their offsets; time to the nearest hospital is one on
  the reversed graph. A point (building, critical site) is reached through its road-access link, exactly as
  routing reaches a snapped point (same anchors, offsets and same-arc shortcut), so the costs equal
  ``routing.engine.matrix``'s to the millisecond.

Weights only grow (a closure closes, a slowdown multiplies by ≥ 1), so closing more never shortens a trip and
never reconnects a node; an access that got worse crossed a changed arc on its former path: that arc's street
is the reason given.

Modules: :mod:`~simulation.access.points` (access points), :mod:`~simulation.access.closures` (what-if
closures), :mod:`~simulation.access.model` (the model and its states), :mod:`~simulation.access.impact`
(isolated areas, affected points, reasons). Every name is importable from ``simulation.access``.
"""

from __future__ import annotations

from simulation.access.closures import (
    IMPASSABLE_WATER_DEPTH_M,
    SHALLOW_WATER_SLOWDOWN,
    flood_closure,
    road_closure,
)
from simulation.access.impact import (
    AccessImpact,
    IsolatedArea,
    PointImpact,
    _seconds,
    _time_change,
    format_duration,
    street_names,
)
from simulation.access.model import AccessModel
from simulation.access.points import (
    KIND_LABELS,
    AccessCause,
    AccessPoint,
    access_point_from_link,
    access_point_from_snap,
    access_points_from_dependencies,
)

__all__ = [
    "IMPASSABLE_WATER_DEPTH_M",
    "KIND_LABELS",
    "SHALLOW_WATER_SLOWDOWN",
    "AccessCause",
    "AccessImpact",
    "AccessModel",
    "AccessPoint",
    "IsolatedArea",
    "PointImpact",
    "_seconds",
    "access_point_from_link",
    "access_point_from_snap",
    "access_points_from_dependencies",
    "flood_closure",
    "format_duration",
    "road_closure",
    "street_names",
]

# The examples live in the submodules; doctest.testmod(simulation.access) still finds them here.
__test__ = {
    "AccessPoint.label": AccessPoint.label,
    "format_duration": format_duration,
    "_time_change": _time_change,
}
