"""A consequence report for one or several initiating events: affected assets with reasons, people, actions.

Events: road closures (arcs), a flooded polygon (with a water depth when known), a pipe burst (the isolation
of :mod:`simulation.water.isolation`). Road events go through :class:`simulation.access.AccessModel` together
(one overlay of every closure); a burst's junctions without water reach buildings through the dependency
model's ``water_service`` links. Every affected asset carries one reason per cause, in French and English;
every effect here is immediate (``since_s`` 0): time-dependent effects (tanks running dry) come with the
hydraulic runs. :meth:`ConsequenceReport.as_json` is JSON-ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from routing.closures import Closure
from simulation.access import (
    AccessImpact,
    AccessModel,
    AccessPoint,
    flood_closure,
    road_closure,
    street_names,
)
from simulation.dependencies import DependencyModel
from simulation.events import FloodEvent, InitiatingEvent, PipeBurstEvent, RoadClosureEvent
from simulation.water.isolation import Isolation, SegmentModel
from simulation.water.report import isolation_report, outage_reason
from twin.errors import InvalidInput


@dataclass(frozen=True)
class AffectedAsset:
    """One asset hit, with every cause (``road_isolated``, ``road_degraded``, ``flooded``, ``no_water``)."""

    layer: str
    id: int
    name: str | None
    kind: str | None
    residents: int
    causes: tuple[str, ...]
    reasons: tuple[dict[str, str], ...]
    since_s: float = 0.0


@dataclass(frozen=True)
class ConsequenceReport:
    """What the events do to the territory; :meth:`as_json` for the API and the console."""

    territory: str
    events: tuple[dict[str, Any], ...]
    access: AccessImpact | None
    water: Isolation | None
    affected: tuple[AffectedAsset, ...]
    actions: tuple[dict[str, Any], ...]

    @property
    def residents_hit(self) -> int:
        """Residents of every affected building (the people to warn)."""
        return sum(a.residents for a in self.affected if a.layer == "buildings")

    @property
    def critical_sites_hit(self) -> tuple[AffectedAsset, ...]:
        return tuple(a for a in self.affected if a.layer == "critical_sites")

    def as_json(self) -> dict[str, Any]:
        by_cause: dict[str, int] = {}
        for asset in self.affected:
            for cause in asset.causes:
                by_cause[cause] = by_cause.get(cause, 0) + (
                    asset.residents if asset.layer == "buildings" else 0
                )
        sites = self.critical_sites_hit
        n_b = sum(1 for a in self.affected if a.layer == "buildings")
        return {
            "territory": self.territory,
            "events": list(self.events),
            "residents_hit": self.residents_hit,
            "residents_by_cause": by_cause,
            "critical_sites_hit": [
                {"id": a.id, "name": a.name, "kind": a.kind, "causes": list(a.causes)} for a in sites
            ],
            "affected": [
                {
                    "layer": a.layer,
                    "id": a.id,
                    "name": a.name,
                    "kind": a.kind,
                    "residents": a.residents,
                    "causes": list(a.causes),
                    "since_s": a.since_s,
                    "reasons": list(a.reasons),
                }
                for a in self.affected
            ],
            "access": None if self.access is None else self.access.as_json(),
            "water": None if self.water is None else isolation_report(self.water),
            "recommended_actions": list(self.actions),
            "summary": {
                "fr": f"{len(self.events)} événement(s) : {n_b} bâtiments ({self.residents_hit} habitants) et "
                f"{len(sites)} sites sensibles touchés, {len(self.actions)} actions recommandées",
                "en": f"{len(self.events)} event(s): {n_b} buildings ({self.residents_hit} residents) and "
                f"{len(sites)} critical sites hit, {len(self.actions)} recommended actions",
            },
        }


def consequence_report(
    events: Sequence[InitiatingEvent],
    *,
    access: AccessModel,
    dependencies: DependencyModel | None = None,
    water: SegmentModel | None = None,
    at: datetime | None = None,
) -> ConsequenceReport:
    """Propagate ``events`` (together) over road access and the water network.

    Parameters
    ----------
    events
        One or several initiating events.
    access
        The territory's access model (resident graph, access points, facilities).
    dependencies
        Its dependency model: needed to find the buildings a pipe burst leaves without water, and used for the
        flooded buildings (else the access points are).
    water
        The segment model of its water network: needed for a pipe burst.
    at
        Instant whose live closures make the "before" (now by default).

    Raises
    ------
    InvalidInput
        No event, an unknown event type, a burst without a water model or dependencies, bad arcs or polygons.
    NotFound
        A burst on a pipe the water network does not have.
    """
    if not events:
        raise InvalidInput("give at least one initiating event / indiquez au moins un événement initiateur")
    if dependencies is not None and dependencies.territory_id != access.graph.territory_id:
        raise InvalidInput(
            f"dependency model of {dependencies.territory!r} is not for {access.graph.network.name!r}"
        )
    graph = access.graph
    closures: list[Closure] = []
    floods: list[FloodEvent] = []
    bursts: list[PipeBurstEvent] = []
    described: list[dict[str, Any]] = []
    for i, event in enumerate(events):
        if isinstance(event, RoadClosureEvent):
            closures.append(road_closure(graph, list(event.edge_ids), reason=event.reason, ident=-1 - i))
            described.append(
                {"type": "road_closure", "edge_ids": list(event.edge_ids), "reason": event.reason}
            )
        elif isinstance(event, FloodEvent):
            closures.append(flood_closure(graph, event.area, water_level_m=event.water_level_m, ident=-1 - i))
            floods.append(event)
            described.append(
                {
                    "type": "flood",
                    "area": shapely.geometry.mapping(event.area),
                    "water_level_m": event.water_level_m,
                }
            )
        elif isinstance(event, PipeBurstEvent):
            if water is None or dependencies is None:
                raise InvalidInput(
                    "a pipe burst needs the water network's segment model and the dependency model"
                )
            bursts.append(event)
            described.append({"type": "pipe_burst", "pipe": event.pipe})
        else:
            raise InvalidInput(
                f"event {i} is a {type(event).__name__}, not a road closure, a flood or a pipe burst"
            )
    if len(bursts) > 1:
        raise InvalidInput("one pipe burst per report: isolate one segment at a time")
    collected = _Collector()
    impact = access.assess(closures, at=at) if closures else None
    if impact is not None:
        _collect_access(collected, impact)
    for flood in floods:
        _collect_flood(collected, flood, access.points, dependencies)
    isolation = None
    if bursts:
        assert water is not None and dependencies is not None
        isolation = water.isolate(bursts[0].pipe)
        _collect_water(collected, isolation, dependencies)
    actions = _actions(impact, isolation, collected, closures)
    return ConsequenceReport(
        access.graph.network.name,
        tuple(described),
        impact,
        isolation,
        tuple(collected.assets()),
        tuple(actions),
    )


class _Collector:
    """Affected assets keyed by (layer, id), causes and reasons accumulated in event order."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int], dict[str, Any]] = {}

    def add(
        self,
        layer: str,
        asset_id: int,
        name: str | None,
        kind: str | None,
        residents: int,
        cause: str,
        reason: dict[str, str],
    ) -> None:
        row = self._rows.setdefault(
            (layer, asset_id),
            {"name": name, "kind": kind, "residents": residents, "causes": [], "reasons": []},
        )
        if cause not in row["causes"]:
            row["causes"].append(cause)
        row["reasons"].append({"cause": cause, **reason})

    def assets(self) -> list[AffectedAsset]:
        return [
            AffectedAsset(
                layer, i, r["name"], r["kind"], int(r["residents"]), tuple(r["causes"]), tuple(r["reasons"])
            )
            for (layer, i), r in sorted(self._rows.items())
        ]

    def buildings(self) -> list[tuple[int, int]]:
        return [
            (i, int(r["residents"])) for (layer, i), r in sorted(self._rows.items()) if layer == "buildings"
        ]


def _collect_access(collected: _Collector, impact: AccessImpact) -> None:
    for p in impact.affected:
        point = impact.model.points[p.point]
        cause = "road_isolated" if p.cause == "isolated" else "road_degraded"
        collected.add(point.layer, point.id, point.name, point.kind, point.residents, cause, p.reason)


def _collect_flood(
    collected: _Collector,
    flood: FloodEvent,
    points: Sequence[AccessPoint],
    dependencies: DependencyModel | None,
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
        label = AccessPoint(r[0], r[1], r[2], r[3], r[4], (r[5], r[6]), ()).label()
        reason = {
            "fr": f"{label['fr']} : dans la zone inondée ({depth_fr})",
            "en": f"{label['en']}: inside the flooded area ({depth_en})",
        }
        collected.add(r[0], r[1], r[2], r[3], r[4], "flooded", reason)


def _collect_water(collected: _Collector, isolation: Isolation, dependencies: DependencyModel) -> None:
    service = dependencies.link_set("water_service", "buildings")
    assets = dependencies.assets.get("buildings")
    if service is None or service.provider_names is None or assets is None:
        return
    outage_of = {o.node: o for o in isolation.outages}
    for i, junction in enumerate(service.provider_names):
        outage = outage_of.get(junction)
        if outage is None:
            continue
        k = assets.index_of(int(service.dependent_ids[i]))
        label = AccessPoint(
            "buildings", int(assets.ids[k]), assets.names[k], assets.kinds[k], 0, (0, 0), ()
        ).label()
        why = outage_reason(isolation, outage)
        reason = {
            "fr": f"{label['fr']} : privé d'eau — branché sur le {why['fr']}",
            "en": f"{label['en']}: no water — served by {why['en']}",
        }
        collected.add(
            "buildings",
            int(assets.ids[k]),
            assets.names[k],
            assets.kinds[k],
            int(assets.residents[k]),
            "no_water",
            reason,
        )


def _actions(
    impact: AccessImpact | None, isolation: Isolation | None, collected: _Collector, closures: list[Closure]
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if impact is not None:
        for area in impact.areas:
            streets = street_names(impact.model, area.edges)
            actions.append(
                {
                    "kind": "no_detour",
                    "area": area.index,
                    "edge_ids": [int(impact.model.graph.network.edge_ids[e]) for e in area.edges],
                    "fr": f"aucun itinéraire de contournement vers la zone isolée n° {area.index + 1} ({area.residents} "
                    f"habitants) : garder un accès de secours par {streets['fr']} ou pré-positionner des moyens "
                    "dans la zone",
                    "en": f"no detour into isolated area #{area.index + 1} ({area.residents} residents): keep an "
                    f"emergency access through {streets['en']} or pre-position crews inside it",
                }
            )
        if closures and not impact.areas and not impact.isolated_points:
            worst = _worst_delay_s(impact)
            actions.append(
                {
                    "kind": "detour",
                    "worst_delay_s": worst,
                    "fr": "un itinéraire de contournement existe : aucun bâtiment ni site n'est coupé"
                    + (f" ; accès des secours allongé de {worst:.0f} s au plus" if worst else ""),
                    "en": "a detour exists: no building or site is cut off"
                    + (f"; emergency access longer by {worst:.0f} s at most" if worst else ""),
                }
            )
    if isolation is not None:
        valves = ", ".join(isolation.valves_to_close)
        assumed_fr = " (vannes supposées)" if isolation.valves_assumed else ""
        assumed_en = " (valves assumed)" if isolation.valves_assumed else ""
        actions.append(
            {
                "kind": "close_valves",
                "valves": list(isolation.valves_to_close),
                "fr": f"fermer les vannes {valves}{assumed_fr} pour isoler {isolation.link}",
                "en": f"close valves {valves}{assumed_en} to isolate {isolation.link}",
            }
        )
    buildings = collected.buildings()
    if buildings:
        residents = sum(r for _, r in buildings)
        actions.append(
            {
                "kind": "warn_residents",
                "building_ids": [b for b, _ in buildings],
                "residents": residents,
                "fr": f"prévenir les habitants de {len(buildings)} bâtiments (≈{residents} personnes)",
                "en": f"warn the residents of {len(buildings)} buildings (≈{residents} people)",
            }
        )
    return actions


def _worst_delay_s(impact: AccessImpact) -> float:
    """Largest increase of a critical site's time from a fire station or to a hospital (s)."""
    worst = 0.0
    for p in impact.affected:
        if impact.model.points[p.point].layer != "critical_sites":
            continue
        for before, after in (p.from_station_s, p.to_hospital_s):
            if before is not None and after is not None:
                worst = max(worst, after - before)
    return worst
