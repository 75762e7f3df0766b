"""Recommended actions: valves to close, detour or none, crews to send (by road travel time after the
closures), people to warn (critical sites first, per cause)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routing.engine import snap_point
from routing.search import DijkstraEngine
from routing.snapping import Snap, anchors_of, direct_cost_ms
from simulation.access import AccessImpact, AccessModel, street_names
from simulation.propagation.collect import VULNERABLE_KINDS, AffectedAsset, Collector
from simulation.propagation.context import Crew
from simulation.propagation.timeline import CAUSE_WORDS
from simulation.water.isolation import Isolation
from twin.errors import InvalidInput

# Free skill words (dispatch.crews.skills) that fit each kind of task.
SKILLS: dict[str, frozenset[str]] = {
    "water": frozenset({"eau", "plomberie", "water", "plumbing", "reseau_eau", "fontainier", "hydraulique"}),
    "roads": frozenset({"voirie", "signalisation", "roads", "barriers", "barriérage", "barrierage"}),
    "power": frozenset({"electricite", "électricité", "eclairage", "éclairage", "power", "electricity"}),
}
# Crews farther than this from a road are not sent by this estimate (their depot is off the graph).
CREW_MAX_SNAP_M = 500.0


@dataclass(frozen=True)
class Task:
    """Work for a crew at ``lonlat`` after event ``event`` (at ``at_s``); ``skill`` is a key of SKILLS."""

    kind: str
    event: int
    at_s: float
    lonlat: tuple[float, float]
    skill: str
    fr: str
    en: str


def access_actions(impact: AccessImpact | None, has_closures: bool) -> list[dict[str, Any]]:
    """No detour into each isolated area, or the detour that exists."""
    actions: list[dict[str, Any]] = []
    if impact is None:
        return actions
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
    if has_closures and not impact.areas and not impact.isolated_points:
        worst = worst_delay_s(impact)
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
    return actions


def valve_action(isolation: Isolation) -> dict[str, Any]:
    valves = ", ".join(isolation.valves_to_close)
    assumed_fr = " (vannes supposées)" if isolation.valves_assumed else ""
    assumed_en = " (valves assumed)" if isolation.valves_assumed else ""
    return {
        "kind": "close_valves",
        "valves": list(isolation.valves_to_close),
        "fr": f"fermer les vannes {valves}{assumed_fr} pour isoler {isolation.link}",
        "en": f"close valves {valves}{assumed_en} to isolate {isolation.link}",
    }


def warn_actions(collected: Collector, affected: Sequence[AffectedAsset]) -> list[dict[str, Any]]:
    """``warn_residents`` (every building, as before) and ``warn_people``: per cause, sites first."""
    actions: list[dict[str, Any]] = []
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
    by_cause: dict[str, list[AffectedAsset]] = {}
    for asset in affected:
        for cause in asset.causes:
            by_cause.setdefault(cause, []).append(asset)
    groups: list[dict[str, Any]] = []
    for cause, assets in by_cause.items():
        sites = sorted(
            (a for a in assets if a.layer == "critical_sites"),
            key=lambda a: (_rank(a.kind), a.since_s, a.id),
        )
        homes = [a for a in assets if a.layer == "buildings"]
        groups.append(
            {
                "cause": cause,
                "sites": [{"id": a.id, "name": a.name, "kind": a.kind, "since_s": a.since_s} for a in sites],
                "buildings": len(homes),
                "residents": sum(a.residents for a in homes),
                "first_s": min(a.since_s for a in assets),
            }
        )
    if groups:
        groups.sort(key=lambda g: (not g["sites"], g["first_s"]))
        words = [
            (CAUSE_WORDS.get(g["cause"], (g["cause"], g["cause"])), len(g["sites"]), g["residents"])
            for g in groups
        ]
        actions.append(
            {
                "kind": "warn_people",
                "by_cause": groups,
                "fr": "prévenir d'abord les sites sensibles, puis les habitants : "
                + " ; ".join(f"{w[0]} : {s} sites, {r} habitants" for w, s, r in words),
                "en": "warn the critical sites first, then the residents: "
                + "; ".join(f"{w[1]}: {s} sites, {r} residents" for w, s, r in words),
            }
        )
    return actions


def plume_action(sites: Sequence[AffectedAsset], residents: int, pollutant: str) -> dict[str, Any]:
    ordered = sorted(sites, key=lambda a: (_rank(a.kind), a.since_s, a.id))
    names = ", ".join(a.name or f"site {a.id}" for a in ordered[:5])
    return {
        "kind": "confine",
        "site_ids": [a.id for a in ordered],
        "residents": residents,
        "fr": f"confinement (portes et fenêtres fermées, ventilation coupée) face au panache de {pollutant} : "
        f"{len(ordered)} sites sensibles d'abord ({names}), puis ≈{residents} habitants",
        "en": f"shelter in place (doors and windows shut, ventilation off) from the {pollutant} plume: "
        f"{len(ordered)} critical sites first ({names}), then ≈{residents} residents",
    }


def crew_actions(
    tasks: Sequence[Task],
    crews: Sequence[Crew],
    access: AccessModel,
    weights_ms: np.ndarray,
    engine: DijkstraEngine,
) -> list[dict[str, Any]]:
    """Send the nearest available crew to each task in order, a crew with the task's skill when one can get
    there, by travel time over the road graph as the events left it; each crew takes one task.

    Returns one ``send_crew`` action per task (``crew`` None when no crew can reach it).
    """
    if not tasks:
        return []
    state = access.state
    g = state.graph
    crew_snaps = []
    for crew in crews:
        if not crew.available:
            continue
        try:
            snap = snap_point(state, *crew.lonlat, max_snap_m=CREW_MAX_SNAP_M, label=f"crew {crew.id}")
        except InvalidInput:
            continue  # its depot is off the road graph: not sent by this estimate
        crew_snaps.append((crew, snap))
    task_snaps: list[Snap | None] = []
    for task in tasks:
        try:
            task_snaps.append(snap_point(state, *task.lonlat, max_snap_m=CREW_MAX_SNAP_M, label=task.kind))
        except InvalidInput:
            task_snaps.append(None)
    cost_ms = np.full((len(crew_snaps), len(tasks)), np.inf)
    if crew_snaps:
        targets = [_anchors(g, weights_ms, s, leaving=False) for s in task_snaps]
        sources = [_anchors(g, weights_ms, s, leaving=True) for _, s in crew_snaps]
        cost_ms = engine.costs(sources, targets)
        for i, (_, a) in enumerate(crew_snaps):
            for j, b in enumerate(task_snaps):
                direct = None if b is None else direct_cost_ms(g, weights_ms, a, b)
                if direct is not None and direct[0] < cost_ms[i, j]:
                    cost_ms[i, j] = direct[0]
    taken: set[int] = set()
    actions = []
    for j, task in enumerate(tasks):
        options = [i for i in range(len(crew_snaps)) if i not in taken and np.isfinite(cost_ms[i, j])]
        skilled = [i for i in options if _has_skill(crew_snaps[i][0], task.skill)]
        pick = min(skilled or options, key=lambda i: cost_ms[i, j], default=None)
        action: dict[str, Any] = {
            "kind": "send_crew",
            "task": task.kind,
            "event": task.event,
            "lonlat": list(task.lonlat),
            "task_fr": task.fr,
            "task_en": task.en,
            "crew": None,
            "eta_s": None,
            "eta_min": None,
            "arrival_s": None,
            "skill_matched": False,
        }
        if pick is None:
            action["fr"] = f"aucune équipe disponible ne peut atteindre : {task.fr}"
            action["en"] = f"no available crew can reach: {task.en}"
        else:
            taken.add(pick)
            crew = crew_snaps[pick][0]
            eta_s = float(cost_ms[pick, j]) / 1000.0
            matched = bool(skilled)
            note_fr = "" if matched else " (compétence non vérifiée)"
            note_en = "" if matched else " (skill not checked)"
            action.update(
                crew={"id": crew.id, "name": crew.name, "skills": list(crew.skills)},
                eta_s=round(eta_s, 1),
                eta_min=round(eta_s / 60.0, 1),
                arrival_s=round(task.at_s + eta_s, 1),
                skill_matched=matched,
                fr=f"envoyer l'équipe {crew.name}{note_fr} : {task.fr} — arrivée en {eta_s / 60:.0f} min",
                en=f"send crew {crew.name}{note_en}: {task.en} — arrives in {eta_s / 60:.0f} min",
            )
        actions.append(action)
    return actions


def _anchors(g: Any, weights_ms: np.ndarray, snap: Snap | None, *, leaving: bool) -> list[tuple[int, int]]:
    """Where a crew leaves from or arrives at: the arc's anchors, or the ends of that arc when it is closed (a
    barrier is set up at the closed street's ends; a crew on a closed street drives out by one end)."""
    if snap is None:
        return []
    targets = anchors_of(g, weights_ms, snap)[0 if leaving else 1]
    if targets:
        return targets
    for edge, against, _ in snap.traversals:
        for arc in g.arcs_of_traversal(edge, against):
            targets += [(int(g.tail[arc]), 0), (int(g.head[arc]), 0)]
    return targets


def _rank(kind: str | None) -> int:
    """Vulnerable kinds first, in :data:`VULNERABLE_KINDS` order (hospitals, nursing homes … schools)."""
    return VULNERABLE_KINDS.index(kind) if kind in VULNERABLE_KINDS else len(VULNERABLE_KINDS)


def _has_skill(crew: Crew, skill: str) -> bool:
    return bool({s.strip().lower() for s in crew.skills} & SKILLS[skill])


def worst_delay_s(impact: AccessImpact) -> float:
    """Largest increase of a critical site's time from a fire station or to a hospital (s)."""
    worst = 0.0
    for p in impact.affected:
        if impact.model.points[p.point].layer != "critical_sites":
            continue
        for before, after in (p.from_station_s, p.to_hospital_s):
            if before is not None and after is not None:
                worst = max(worst, after - before)
    return worst
