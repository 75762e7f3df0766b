"""The propagation engine: initiating events → affected assets over time, timeline, recommended actions.

Road closures and floods go through :class:`simulation.access.AccessModel` together (one overlay of every
closure); a pipe burst isolates its segment (:mod:`simulation.water.isolation`); a pump failure cuts what
only it fed; a power cut puts lights out, stops the pumps it feeds (chained as pump failures) and the sites
without a generator; a plume reaches what lies in its cone. With ``hydraulics=True`` and a wntr model, the
water events are run with EPANET for the horizon and each junction gets the time its pressure falls below
service. Each asset's ``since_s`` is its event's ``at_s`` plus the propagation delay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely

from routing.closures import Closure
from simulation.access import AccessImpact, AccessModel, AccessPoint, flood_closure, road_closure
from simulation.dependencies import DependencyModel
from simulation.events import (
    FloodEvent,
    InitiatingEvent,
    PipeBurstEvent,
    PollutionPlumeEvent,
    PowerFailureEvent,
    PumpFailureEvent,
    RoadClosureEvent,
    event_json,
)
from simulation.propagation import actions as act
from simulation.propagation.collect import VULNERABLE_KINDS, Collector, label_of
from simulation.propagation.context import Crew, PropagationContext
from simulation.propagation.plume import Plume, collect_plume
from simulation.propagation.power import PowerOutage, collect_power_failure
from simulation.propagation.report import ConsequenceReport
from simulation.propagation.timeline import build_timeline, clock_of
from simulation.propagation.water import (
    Clock,
    PumpOutage,
    burst_timing,
    collect_burst,
    collect_pump_failure,
    customers_of,
    pump_failure_timing,
    pump_outage,
)
from simulation.water.hydraulics import HydraulicSettings
from simulation.water.isolation import SegmentModel
from twin.errors import InvalidInput

_MAX_GENERATOR_TASKS = 5


def consequence_report(
    events: Sequence[InitiatingEvent],
    *,
    access: AccessModel,
    dependencies: DependencyModel | None = None,
    water: SegmentModel | None = None,
    at: datetime | None = None,
    hydraulics: bool = False,
    wn: Any | None = None,
    hydraulic_settings: HydraulicSettings | None = None,
    context: PropagationContext | None = None,
    crews: Sequence[Crew] | None = None,
) -> ConsequenceReport:
    """Propagate ``events`` (together) over roads, water, power and air.

    Parameters
    ----------
    events
        One or several initiating events.
    access
        The territory's access model (resident graph, access points, facilities).
    dependencies
        Its dependency model: needed for water events (buildings on junctions), used for floods, power cuts
        and plumes (else the access points are the assets).
    water
        The segment model of its water network: needed for a pipe burst or a pump failure.
    at
        The start: its live closures make the "before", and the clock times count from it (now by default).
    hydraulics
        Run EPANET over the horizon for the water events (needs ``wn``); off on the fast path.
    wn
        The wntr model of the water network (same names as ``water.network``).
    hydraulic_settings
        Horizon, report step, service pressure (default 24 h, 5 min, 20 m).
    context
        Water positions and power links (:func:`simulation.propagation.context.propagation_context_from_twin`).
    crews
        Crews that could be sent (:func:`simulation.propagation.context.crews_from_twin`); None: no crew advice.

    Raises
    ------
    InvalidInput
        No event, an unknown event type, a water event without the models it needs, bad arcs or polygons,
        ``hydraulics`` without a wntr model.
    NotFound
        A burst or pump failure on a link the water network does not have.
    """
    if not events:
        raise InvalidInput("give at least one initiating event / indiquez au moins un événement initiateur")
    if dependencies is not None and dependencies.territory_id != access.graph.territory_id:
        raise InvalidInput(
            f"dependency model of {dependencies.territory!r} is not for {access.graph.network.name!r}"
        )
    if hydraulics and wn is None:
        raise InvalidInput("hydraulics=True needs the wntr model of the water network (wn)")
    start = at or datetime.now(UTC)
    clock = clock_of(start)
    context = context or PropagationContext()
    graph = access.graph
    closures: list[Closure] = []
    road_at: list[float] = []
    tasks: list[act.Task] = []
    by_kind: dict[type, list[tuple[int, Any]]] = {}
    for i, event in enumerate(events):
        if isinstance(event, RoadClosureEvent):
            closure = road_closure(graph, list(event.edge_ids), reason=event.reason, ident=-1 - i)
            closures.append(closure)
            road_at.append(event.at_s)
            arc = int(graph.network.arcs_of_edge_ids(np.array(event.edge_ids[:1], dtype=np.int64))[0])
            spot = graph.network.geometry[arc].interpolate(0.5, normalized=True)
            street = graph.network.street_name[arc] or f"arc {event.edge_ids[0]}"
            tasks.append(
                act.Task(
                    "barrier",
                    i,
                    event.at_s,
                    (spot.x, spot.y),
                    "roads",
                    f"barrer {street}",
                    f"close off {street}",
                )
            )
        elif isinstance(event, FloodEvent):
            closures.append(flood_closure(graph, event.area, water_level_m=event.water_level_m, ident=-1 - i))
            road_at.append(event.at_s)
            spot = event.area.representative_point()
            tasks.append(
                act.Task(
                    "barrier",
                    i,
                    event.at_s,
                    (spot.x, spot.y),
                    "roads",
                    "barrer la zone inondée",
                    "close off the flood",
                )
            )
        elif isinstance(event, PipeBurstEvent | PumpFailureEvent):
            if water is None or dependencies is None:
                raise InvalidInput(
                    f"event {i}: a {'pipe burst' if isinstance(event, PipeBurstEvent) else 'pump failure'} "
                    "needs the water network's segment model and the dependency model / il faut le réseau "
                    "d'eau et le modèle de dépendances"
                )
        elif not isinstance(event, PowerFailureEvent | PollutionPlumeEvent):
            raise InvalidInput(
                f"event {i} is a {type(event).__name__}, not an initiating event (not a road closure, a flood or a "
                "pipe burst, nor a pump failure, a power failure or a pollution plume)"
            )
        by_kind.setdefault(type(event), []).append((i, event))
    bursts = by_kind.get(PipeBurstEvent, [])
    if len(bursts) > 1:
        raise InvalidInput("one pipe burst per report: isolate one segment at a time")
    settings = hydraulic_settings
    collected = Collector()
    impact = access.assess(closures, at=at) if closures else None
    if impact is not None:
        _collect_access(collected, impact, min(road_at))
    for _, flood in by_kind.get(FloodEvent, []):
        _collect_flood(collected, flood, access.points, dependencies, clock)
    served = customers_of(dependencies, context.junction_lonlat) if dependencies is not None else {}
    isolation, timings = None, []
    for i, burst in bursts:
        assert water is not None and dependencies is not None
        isolation = water.isolate(burst.pipe)
        timing = burst_timing(wn, water.network, isolation, settings=settings) if hydraulics else None
        timings += [timing] if timing else []
        collect_burst(collected, isolation, timing, dependencies, served, at_s=burst.at_s, clock=clock)
        if burst.pipe in context.water_lonlat:
            valves = ", ".join(isolation.valves_to_close)
            tasks.insert(
                0,
                act.Task(
                    "close_valves",
                    i,
                    burst.at_s,
                    context.water_lonlat[burst.pipe],
                    "water",
                    f"fermer les vannes {valves} (rupture de {burst.pipe})",
                    f"close valves {valves} (burst on {burst.pipe})",
                ),
            )
    power: list[PowerOutage] = []
    pumps: dict[str, tuple[int, float, dict[str, str] | None]] = {
        e.pump: (i, e.at_s, None) for i, e in by_kind.get(PumpFailureEvent, [])
    }
    for i, cut in by_kind.get(PowerFailureEvent, []):
        outage = collect_power_failure(collected, i, cut, dependencies, context, graph, clock=clock)
        power.append(outage)
        for pump in outage.pumps:
            if water is not None and pump in water.network.link_index and pump not in pumps:
                pumps[pump] = (i, cut.at_s, {"fr": "coupure d'électricité", "en": "power cut"})
        tasks += _generator_tasks(dependencies, i, cut.at_s, outage)
    pump_outages: list[PumpOutage] = []
    for pump, (i, at_s, why) in pumps.items():
        assert water is not None and dependencies is not None
        outage_p = pump_outage(water.network, pump, wn=wn)
        pump_outages.append(outage_p)
        timing = pump_failure_timing(wn, pump, settings=settings) if hydraulics else None
        timings += [timing] if timing else []
        collect_pump_failure(
            collected, outage_p, timing, dependencies, served, at_s=at_s, clock=clock, why=why
        )
        if pump in context.pump_lonlat:
            tasks.append(
                act.Task(
                    "repair_pump",
                    i,
                    at_s,
                    context.pump_lonlat[pump],
                    "water",
                    f"remettre en marche la pompe {pump}",
                    f"restart pump {pump}",
                )
            )
    plumes: list[Plume] = []
    fallback = [(p.layer, p.id, p.name, p.kind, p.residents, p.lonlat[0], p.lonlat[1]) for p in access.points]
    for i, release in by_kind.get(PollutionPlumeEvent, []):
        plumes.append(collect_plume(collected, i, release, dependencies, fallback, clock=clock))
    affected = collected.assets()
    actions = act.access_actions(impact, bool(closures))
    if isolation is not None:
        actions.append(act.valve_action(isolation))
    for plume, (_, release) in zip(plumes, by_kind.get(PollutionPlumeEvent, []), strict=True):
        if plume.sites or plume.buildings:
            in_it = [a for a in affected if a.layer == "critical_sites" and a.id in set(plume.sites)]
            actions.append(act.plume_action(in_it, plume.residents, release.pollutant))
    if crews is not None:
        weights, engine = _after_state(access, impact, at)
        actions += act.crew_actions(tasks, crews, access, weights, engine)
    actions += act.warn_actions(collected, affected)
    described = tuple(event_json(e) for e in events)
    tanks = sorted(
        {
            (t, at_s + s)
            for (_, at_s, _), o in zip(pumps.values(), pump_outages, strict=True)
            for tm in timings
            if tm.event == f"pump_failure:{o.pump}"
            for t, s in tm.tank_empty_s.items()
        },
        key=lambda x: x[1],
    )
    timeline = build_timeline(
        clock, described, affected, tanks_empty=tanks, crews=[a for a in actions if a["kind"] == "send_crew"]
    )
    return ConsequenceReport(
        graph.network.name,
        described,
        impact,
        isolation,
        tuple(affected),
        tuple(actions),
        start,
        tuple(timeline),
        tuple(power),
        tuple(plumes),
        tuple(pump_outages),
        tuple(timings),
        water_network=None if water is None else _water_network(water),
    )


def _water_network(water: SegmentModel) -> dict[str, Any]:
    """Which water network the report ran on, and how much of it is assumed."""
    source = water.network.source or ""
    return {
        "source": source,
        "synthetic": source.endswith("(synthetic)"),
        "valves_assumed": water.placement.assumed,
    }


def _after_state(
    access: AccessModel, impact: AccessImpact | None, at: datetime | None
) -> tuple[np.ndarray, Any]:
    """Weights and Dijkstra engine of the road graph as the events left it (the live one without closures)."""
    if impact is not None:
        return impact.after.weights, impact.after.engine
    _, overlay = access.graph.overlay(access.profile, at)
    return overlay.weights_ms, overlay.dijkstra


def _generator_tasks(
    dependencies: DependencyModel | None, i: int, at_s: float, outage: PowerOutage
) -> list[act.Task]:
    sites = dependencies.assets.get("critical_sites") if dependencies is not None else None
    if sites is None:
        return []
    tasks: list[act.Task] = []
    for site_id in outage.sites_without_power:
        k = sites.index_of(site_id)
        if sites.kinds[k] not in VULNERABLE_KINDS or len(tasks) >= _MAX_GENERATOR_TASKS:
            continue
        label = label_of("critical_sites", site_id, sites.names[k], sites.kinds[k])
        tasks.append(
            act.Task(
                "generator",
                i,
                at_s,
                (float(sites.lonlat[k, 0]), float(sites.lonlat[k, 1])),
                "power",
                f"installer un groupe électrogène à {label['fr']}",
                f"bring a generator to {label['en']}",
            )
        )
    return tasks


def _collect_access(collected: Collector, impact: AccessImpact, at_s: float) -> None:
    # Thousands of buildings may be cut off at once: a point first seen here gets its row in one step (the row
    # ``add`` would build), the others go through ``add``.
    rows, points, since_s = collected._rows, impact.model.points, float(at_s)
    for p in impact.affected:
        point = points[p.point]
        cause = "road_isolated" if p.cause == "isolated" else "road_degraded"
        key = (point.layer, point.id)
        if key not in rows:
            rows[key] = {
                "name": point.name,
                "kind": point.kind,
                "residents": point.residents,
                "causes": [cause],
                "reasons": [{"cause": cause, **p.reason, "since_s": since_s}],
                "since_s": at_s,
                "lonlat": point.lonlat,
            }
            continue
        collected.add(
            point.layer,
            point.id,
            point.name,
            point.kind,
            point.residents,
            cause,
            p.reason,
            since_s=at_s,
            lonlat=point.lonlat,
        )


def _collect_flood(
    collected: Collector,
    flood: FloodEvent,
    points: Sequence[AccessPoint],
    dependencies: DependencyModel | None,
    clock: Clock,
) -> None:
    depth_fr = "hauteur d'eau inconnue" if flood.water_level_m is None else f"{flood.water_level_m:g} m d'eau"
    depth_en = "unknown depth" if flood.water_level_m is None else f"{flood.water_level_m:g} m of water"
    rows: list[tuple[str, int, str | None, str | None, int, float, float]] = []
    if dependencies is not None:
        for layer in ("buildings", "critical_sites"):
            assets = dependencies.assets.get(layer)
            if assets is not None:
                rows += [
                    (
                        layer,
                        int(assets.ids[k]),
                        assets.names[k],
                        assets.kinds[k],
                        int(assets.residents[k]),
                        float(assets.lonlat[k, 0]),
                        float(assets.lonlat[k, 1]),
                    )
                    for k in range(len(assets))
                ]
    else:
        rows = [(p.layer, p.id, p.name, p.kind, p.residents, p.lonlat[0], p.lonlat[1]) for p in points]
    if not rows:
        return
    xy = np.array([(r[5], r[6]) for r in rows])
    inside = shapely.contains_xy(flood.area, xy[:, 0], xy[:, 1])
    for r in (rows[k] for k in np.flatnonzero(inside)):
        label = label_of(r[0], r[1], r[2], r[3])
        reason = {
            "fr": f"{label['fr']} : dans la zone inondée ({depth_fr})",
            "en": f"{label['en']}: inside the flooded area ({depth_en})",
        }
        collected.add(
            r[0], r[1], r[2], r[3], r[4], "flooded", reason, since_s=flood.at_s, lonlat=(r[5], r[6])
        )
