"""One scenario run: the territory's models and the scenario in, the baseline and scenario KPIs and report out.

Both states are evaluated against the same reference, the territory's roads with none of the fork's closures
(its slowdowns stay in the reference: they cannot be expressed as events, and cannot be reopened):

* **baseline** = the live closures of the fork (``live_closures``, frozen at ``forked_at``: a closure created
  later does not count) as road-closure events;
* **scenario** = the scenario's events, its ``close_road`` measures, and the fork's closures minus those its
  ``reopen_road`` measures lift — then its valve operations (:mod:`simulation.water.isolation`) and its crews
  (travel on the scenario's roads, water back ``REPAIR_DURATION_S`` after a crew reaches a burst).

The same :func:`simulation.scenarios.kpis.kpis_of` measures both sides. ``progress(stage, fraction)`` is called
between stages; when it returns False (run cancelled) the run stops with :class:`Cancelled`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely

from routing.closures import Closure, arcs_of_closure
from simulation.consequences import consequence_report
from simulation.events import (
    FloodEvent,
    InitiatingEvent,
    PipeBurstEvent,
    PumpFailureEvent,
    RoadClosureEvent,
    parse_event,
)
from simulation.scenarios.kpis import empty_kpis, kpis_of
from simulation.scenarios.measures import CrewInfo, apply_valves, send_crews, timeless
from simulation.scenarios.model import (
    CloseRoadMeasure,
    OperateValveMeasure,
    ReopenRoadMeasure,
    SendCrewMeasure,
    closure_from_json,
    measures_of,
)
from simulation.territory import PROFILE, TerritoryModels

Progress = Callable[[str, float], bool]


class Cancelled(Exception):
    """The run was cancelled (or its scenario deleted) while it ran."""


@dataclass(frozen=True)
class ScenarioInput:
    """What a run evaluates: the scenario's events and measures (JSON) and its fork."""

    events: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    forked_at: datetime
    live_closures: list[dict[str, Any]]


@dataclass(frozen=True)
class RunResult:
    baseline_kpis: dict[str, Any]
    kpis: dict[str, Any]
    report: dict[str, Any]


def run_scenario(
    models: TerritoryModels,
    scenario: ScenarioInput,
    *,
    progress: Progress,
    crews: dict[int, CrewInfo] | None = None,
    event_places: dict[int, tuple[float, float]] | None = None,
    extras: dict[str, Any] | None = None,
) -> RunResult:
    """Evaluate the baseline and the scenario; see the module's docstring.

    ``extras`` are keywords for :func:`consequence_report` when it takes them (its propagation context, the
    wntr model for hydraulics); ``crews`` and ``event_places`` come from the twin (the worker reads them).

    Raises
    ------
    Cancelled
        ``progress`` returned False.
    InvalidInput, NotFound
        An event or measure the territory cannot take (unknown arc, pipe, valve, crew), saying which.
    """
    graph = models.graph
    extras = {"at": scenario.forked_at, **(extras or {})}
    events = [parse_event(e, i) for i, e in enumerate(scenario.events)]
    measures = measures_of(scenario.measures, n_events=len(events))
    snapshot = [closure_from_json(c) for c in scenario.live_closures]
    applying = [c for c in snapshot if c.applies_to(PROFILE)]
    reference = [timeless(c) for c in applying if c.kind != "closure"]
    reopened = {i for m in measures if isinstance(m, ReopenRoadMeasure) for i in m.closure_ids}
    live_events = _live_closure_events(models, [c for c in applying if c.kind == "closure"])
    graph.set_closures(reference)

    _stage(progress, "État de référence", 0.2)
    baseline_events = [e for _, e in live_events]
    baseline = _report(models, baseline_events, extras) if baseline_events else None
    baseline_kpis = kpis_of(baseline) if baseline is not None else empty_kpis()

    _stage(progress, "Événements et mesures", 0.4)
    closing = [
        RoadClosureEvent(m.edge_ids, m.reason or "mesure du scénario", m.at_s)
        for m in measures
        if isinstance(m, CloseRoadMeasure)
    ]
    kept = [(cid, e) for cid, e in live_events if cid not in reopened]
    all_events: list[InitiatingEvent] = [*events, *closing, *(e for _, e in kept)]
    origins = ["event"] * len(events) + ["measure"] * len(closing) + ["live_closure"] * len(kept)
    report = _report(models, all_events, extras) if all_events else _empty_report(models)
    for described, origin in zip(report.get("events", []), origins, strict=False):
        described["origin"] = origin

    _stage(progress, "Réseau d'eau", 0.6)
    valves = [(i, m) for i, m in enumerate(measures) if isinstance(m, OperateValveMeasure)]
    if valves:
        burst = next((e.pipe for e in events if isinstance(e, PipeBurstEvent)), None)
        apply_valves(report, models, valves, burst)

    _stage(progress, "Équipes", 0.7)
    sent = [(i, m) for i, m in enumerate(measures) if isinstance(m, SendCrewMeasure)]
    arrival = None
    if sent:
        road_events = [e for e in all_events if isinstance(e, RoadClosureEvent | FloodEvent)]
        arrival = send_crews(report, models, events, sent, crews or {}, event_places or {}, road_events)
        graph.set_closures(reference)

    _stage(progress, "Indicateurs", 0.8)
    kpis = kpis_of(report, crew_arrival_s=arrival)
    report["scenario"] = {
        "forked_at": scenario.forked_at.astimezone(UTC).isoformat(),
        "live_closures_applied": [cid for cid, _ in kept],
        "reopened_closure_ids": sorted(reopened),
        "live_slowdowns_in_reference": [c.id for c in reference],
        "measures": scenario.measures,
        "closed_edges": {
            "event": sorted({i for e in events if isinstance(e, RoadClosureEvent) for i in e.edge_ids}),
            "measure": sorted({i for e in closing for i in e.edge_ids}),
            "live_closure": sorted({i for _, e in kept for i in e.edge_ids}),
        },
    }
    report["baseline"] = {
        "summary": (baseline or _empty_report(models))["summary"],
        "residents_hit": baseline_kpis["residents_hit"],
        "live_closures": [cid for cid, _ in live_events],
    }
    _stage(progress, "Couches", 0.9)
    return RunResult(baseline_kpis, kpis, report)


def _stage(progress: Progress, stage: str, fraction: float) -> None:
    if not progress(stage, fraction):
        raise Cancelled(stage)


def _live_closure_events(
    models: TerritoryModels, closures: Sequence[Closure]
) -> list[tuple[int, RoadClosureEvent]]:
    """Each live closure as a road-closure event on the arcs it covers today (explicit arcs and area)."""
    network = models.graph.network
    index = shapely.STRtree(network.geometry) if any(c.area is not None for c in closures) else None
    out = []
    for closure in closures:
        arcs = arcs_of_closure(network, closure, index or shapely.STRtree([]))
        ids = tuple(sorted({int(e) for e in network.edge_ids[arcs]}))
        if ids:
            reason = f"fermeture en cours n° {closure.id}" + (
                f" : {closure.reason}" if closure.reason else ""
            )
            out.append((closure.id, RoadClosureEvent(ids, reason)))
    return out


def _report(
    models: TerritoryModels, events: Sequence[InitiatingEvent], extras: dict[str, Any]
) -> dict[str, Any]:
    """consequence_report's JSON; ``extras``: ``at``, available ``crews`` and the wntr model ``wn`` the worker
    loaded. Hydraulics run (EPANET over the horizon) when a water event is present and a wntr model was given."""
    wn = extras.get("wn")
    water_event = any(isinstance(e, PipeBurstEvent | PumpFailureEvent) for e in events)
    return consequence_report(
        list(events),
        access=models.access,
        dependencies=models.dependencies,
        water=models.segments,
        at=extras.get("at"),
        context=models.context,
        crews=extras.get("crews"),
        hydraulics=water_event and wn is not None,
        wn=wn if water_event else None,
    ).as_json()


def _empty_report(models: TerritoryModels) -> dict[str, Any]:
    return {
        "territory": models.name,
        "events": [],
        "residents_hit": 0,
        "residents_by_cause": {},
        "critical_sites_hit": [],
        "affected": [],
        "access": None,
        "water": None,
        "recommended_actions": [],
        "summary": {"fr": "aucun événement : rien n'est touché", "en": "no event: nothing is hit"},
    }
