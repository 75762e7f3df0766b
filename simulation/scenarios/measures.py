"""The measures the propagation engine does not know, applied to a scenario's report (JSON): valve operations
(who else loses water) and crews sent to events (travel on the scenario's roads, water back after the repair).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely

from routing.closures import Closure
from routing.engine import matrix
from simulation.access import AccessPoint, flood_closure, road_closure
from simulation.events import (
    FloodEvent,
    InitiatingEvent,
    PipeBurstEvent,
    PollutionPlumeEvent,
    PowerFailureEvent,
    RoadClosureEvent,
)
from simulation.scenarios.model import OperateValveMeasure, SendCrewMeasure
from simulation.territory import PROFILE, TerritoryModels
from twin.errors import InvalidInput

#: Assumed time to repair a burst main once the crew is on site (4 h: a typical urban main repair).
REPAIR_DURATION_S = 4 * 3600.0
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CrewInfo:
    """A dispatch crew: where it leaves from (its live position, else its depot)."""

    id: int
    name: str
    lonlat: tuple[float, float]
    from_position: bool


def timeless(closure: Closure) -> Closure:
    """In force whatever the clock says: the fork decided which closures hold."""
    return dataclasses.replace(closure, valid_from=_EPOCH, valid_until=None)


def apply_valves(
    report: dict[str, Any],
    models: TerritoryModels,
    valves: list[tuple[int, OperateValveMeasure]],
    burst: str | None,
) -> None:
    """Buildings a valve operation leaves without water, on top of the report's (added with their reasons)."""
    segments = models.segments
    if segments is None:
        raise InvalidInput(f"measure {valves[0][0]} (operate_valve): the territory has no water network")
    names = {v.name for v in segments.placement.valves}
    for i, m in valves:
        if m.valve not in names:
            raise InvalidInput(
                f"measure {i} (operate_valve): valve {m.valve!r} is not a valve of the territory's water network"
                f" / vanne inconnue"
            )
    closed = {m.valve for _, m in valves if not m.open}
    opened = {m.valve for _, m in valves if m.open}
    net = segments.network
    served_ref = segments.served_nodes()
    already_out: set[str] = set()
    if burst is not None:
        iso = segments.isolate(burst)
        already_out = {o.node for o in iso.outages}
        merged = {iso.segment.index}
        edges = segments.segment_graph_edges()
        grew = True
        while grew:  # a valve left open joins the segment across it to the shut area
            grew = False
            for a, b, valve in edges:
                if valve in opened and (a in merged) != (b in merged):
                    merged |= {a, b}
                    grew = True
        enclosing = {v for s in merged for v in segments.segment(s).valves}
        inside = {v for a, b, v in edges if a in merged and b in merged}
        shut_links = [segments.segment(s).links[0] for s in sorted(merged) if segments.segment(s).links]
        served = segments.served_nodes(
            closed_valves=sorted((enclosing - inside - opened) | closed), isolated_links=shut_links
        )
    else:
        served = segments.served_nodes(closed_valves=sorted(closed))
    newly_out = {net.node_names[k] for k in np.flatnonzero(served_ref & ~served)} - already_out
    closed_txt = ", ".join(sorted(closed))
    opened_txt = ", ".join(sorted(opened))
    why_fr = " ; ".join(
        p
        for p in (
            f"vanne(s) {closed_txt} fermée(s) par le scénario" if closed else "",
            f"vanne(s) {opened_txt} laissée(s) ouverte(s) : l'isolement de {burst} s'étend au-delà"
            if opened and burst
            else "",
        )
        if p
    )
    why_en = "; ".join(
        p
        for p in (
            f"valve(s) {closed_txt} closed by the scenario" if closed else "",
            f"valve(s) {opened_txt} kept open: isolating {burst} shuts more of the network"
            if opened and burst
            else "",
        )
        if p
    )
    added = 0
    service = models.dependencies.link_set("water_service", "buildings")
    assets = models.dependencies.assets.get("buildings")
    if service is not None and service.provider_names is not None and assets is not None:
        for i, junction in enumerate(service.provider_names):
            if junction not in newly_out:
                continue
            k = assets.index_of(int(service.dependent_ids[i]))
            label = AccessPoint(
                "buildings", int(assets.ids[k]), assets.names[k], assets.kinds[k], 0, (0, 0), ()
            )
            reason = {
                "cause": "no_water",
                "fr": f"{label.label()['fr']} : privé d'eau — nœud {junction}, {why_fr}",
                "en": f"{label.label()['en']}: no water — node {junction}, {why_en}",
            }
            _add_affected(report, "buildings", int(assets.ids[k]), assets, k, "no_water", reason)
            added += 1
    report["water_measures"] = {
        "closed_valves": sorted(closed),
        "opened_valves": sorted(opened),
        "nodes_without_water": sorted(newly_out),
        "buildings_without_water": added,
        "fr": f"manœuvres de vannes : {len(newly_out)} nœuds et {added} bâtiments privés d'eau en plus",
        "en": f"valve operations: {len(newly_out)} more nodes and {added} more buildings without water",
    }
    _refresh_totals(report)


def _add_affected(
    report: dict[str, Any], layer: str, asset_id: int, assets: Any, k: int, cause: str, reason: dict[str, str]
) -> None:
    for row in report["affected"]:
        if row["layer"] == layer and row["id"] == asset_id:
            if cause not in row["causes"]:
                row["causes"].append(cause)
            row["reasons"].append(reason)
            return
    report["affected"].append(
        {
            "layer": layer,
            "id": asset_id,
            "name": assets.names[k],
            "kind": assets.kinds[k],
            "residents": int(assets.residents[k]),
            "causes": [cause],
            "since_s": 0.0,
            "reasons": [reason],
        }
    )


def _refresh_totals(report: dict[str, Any]) -> None:
    """Totals, warnings and summary again after measures added affected assets."""
    report["affected"].sort(key=lambda a: (a["layer"], a["id"]))
    buildings = [a for a in report["affected"] if a["layer"] == "buildings"]
    residents = sum(int(a["residents"]) for a in buildings)
    by_cause: dict[str, int] = {}
    for a in report["affected"]:
        for cause in a["causes"]:
            by_cause[cause] = by_cause.get(cause, 0) + (
                int(a["residents"]) if a["layer"] == "buildings" else 0
            )
    report["residents_hit"], report["residents_by_cause"] = residents, by_cause
    actions = [a for a in report.get("recommended_actions", []) if a.get("kind") != "warn_residents"]
    if buildings:
        actions.append(
            {
                "kind": "warn_residents",
                "building_ids": [a["id"] for a in buildings],
                "residents": residents,
                "fr": f"prévenir les habitants de {len(buildings)} bâtiments (≈{residents} personnes)",
                "en": f"warn the residents of {len(buildings)} buildings (≈{residents} people)",
            }
        )
    report["recommended_actions"] = actions
    n_sites = len(report.get("critical_sites_hit", []))
    report["summary"] = {
        "fr": f"{len(report.get('events', []))} événement(s) et mesures : {len(buildings)} bâtiments ({residents}"
        f" habitants) et {n_sites} sites sensibles touchés, {len(actions)} actions recommandées",
        "en": f"{len(report.get('events', []))} event(s) and measures: {len(buildings)} buildings ({residents}"
        f" residents) and {n_sites} critical sites hit, {len(actions)} recommended actions",
    }


def event_place(event: InitiatingEvent, models: TerritoryModels) -> tuple[float, float] | None:
    """Where a crew goes for ``event`` when its geometry says it (None: ask the twin, e.g. a pipe's place)."""
    if isinstance(event, RoadClosureEvent):
        network = models.graph.network
        arcs = network.arcs_of_edge_ids(np.asarray(event.edge_ids[:1], dtype=np.int64))
        if not len(arcs):
            return None
        p = shapely.line_interpolate_point(network.geometry[arcs[0]], 0.5, normalized=True)
        return (float(p.x), float(p.y))
    if isinstance(event, FloodEvent | PowerFailureEvent) and event.area is not None:
        p = event.area.representative_point()
        return (float(p.x), float(p.y))
    if isinstance(event, PollutionPlumeEvent):
        return event.source
    return None


def send_crews(
    report: dict[str, Any],
    models: TerritoryModels,
    events: list[InitiatingEvent],
    sent: list[tuple[int, SendCrewMeasure]],
    crews: dict[int, CrewInfo],
    places: dict[int, tuple[float, float]],
    road_events: Sequence[InitiatingEvent],
) -> float | None:
    """Each crew's travel on the scenario's roads; the last arrival (s), None if no crew can get there."""
    graph = models.graph
    what_if: list[Closure] = []
    for j, e in enumerate(road_events):
        if isinstance(e, RoadClosureEvent):
            what_if.append(road_closure(graph, list(e.edge_ids), reason=e.reason, ident=-1 - j))
        elif isinstance(e, FloodEvent):
            what_if.append(flood_closure(graph, e.area, water_level_m=e.water_level_m, ident=-1 - j))
    graph.set_closures([*graph.closures, *(timeless(c) for c in what_if)])
    rows, arrivals = [], []
    for i, m in sent:
        crew = crews.get(m.crew_id)
        if crew is None:
            raise InvalidInput(
                f"measure {i} (send_crew): crew_id {m.crew_id} is not an active crew of the territory"
                " (GET /api/dispatch/crews) / équipe inconnue"
            )
        place = places.get(m.event) or event_place(events[m.event], models)
        if place is None:
            raise InvalidInput(f"measure {i} (send_crew): event {m.event} has no place a crew can go to")
        durations, *_ = matrix(graph, [crew.lonlat], [place], profile=PROFILE, distances=False)
        travel = float(durations[0, 0])
        reachable = math.isfinite(travel)
        at_s = m.at_s + travel if reachable else None
        event = events[m.event]
        restored = None
        if reachable and at_s is not None and isinstance(event, PipeBurstEvent):
            restored = max(at_s, event.at_s) + REPAIR_DURATION_S
            for a in report["affected"]:
                if "no_water" in a["causes"]:
                    a["until_s"] = restored if a.get("until_s") is None else min(a["until_s"], restored)
        where = "position" if crew.from_position else "depot"
        if reachable and at_s is not None:
            arrivals.append(at_s)
            fr = f"équipe {crew.name} : sur place à t+{at_s:.0f} s ({travel:.0f} s de trajet depuis son "
            fr += ("dernière position" if crew.from_position else "dépôt") + ")"
            en = f"crew {crew.name}: on site at t+{at_s:.0f} s ({travel:.0f} s from its {where})"
            if restored is not None:
                fr += f", eau rétablie à t+{restored:.0f} s (réparation supposée de {REPAIR_DURATION_S / 3600:g} h)"
                en += f", water back at t+{restored:.0f} s (repair assumed to take {REPAIR_DURATION_S / 3600:g} h)"
        else:
            fr = f"équipe {crew.name} : aucun itinéraire jusqu'à l'événement n° {m.event + 1}"
            en = f"crew {crew.name}: no route to event #{m.event + 1}"
        rows.append(
            {
                "crew_id": crew.id,
                "name": crew.name,
                "event": m.event,
                "leaves_from": where,
                "dispatched_at_s": m.at_s,
                "travel_s": round(travel, 1) if reachable else None,
                "arrival_s": None if at_s is None else round(at_s, 1),
                "water_restored_at_s": restored,
                "fr": fr,
                "en": en,
            }
        )
    report["crews"] = rows
    timeline = report.get("timeline")
    if isinstance(timeline, list):
        for row in rows:
            if row["arrival_s"] is not None:
                timeline.append(
                    {"at_s": row["arrival_s"], "kind": "crew_arrival", "fr": row["fr"], "en": row["en"]}
                )
        timeline.sort(key=lambda t: t.get("at_s") or 0)
    return max(arrivals) if arrivals else None
