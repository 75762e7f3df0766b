"""The report's timeline: events and their effects in time order, with the local clock (Europe/Paris).

Critical sites get an entry each; buildings are grouped by (time, cause) so a thousand homes make one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulation.propagation.collect import AffectedAsset

LOCAL_TIME = ZoneInfo("Europe/Paris")
CAUSE_WORDS: dict[str, tuple[str, str]] = {
    "road_isolated": ("plus d'accès routier", "no road access"),
    "road_degraded": ("accès des secours dégradé", "emergency access degraded"),
    "flooded": ("inondés", "flooded"),
    "no_water": ("privés d'eau", "without water"),
    "low_pressure": ("pression d'eau insuffisante", "water pressure too low"),
    "water_at_risk": ("alimentés par un réservoir seulement", "fed by a tank only"),
    "no_power": ("privés d'électricité", "without power"),
    "on_generator": ("sur groupe électrogène", "on backup generator"),
    "in_plume": ("dans le panache de pollution", "in the pollution plume"),
}
_ORDER = {"event": 0, "tank_empty": 1, "effect": 2, "crew_arrival": 3}


def clock_of(start: datetime) -> Callable[[float], str]:
    """``at_s`` → ``14:20`` in Paris time (``J+1 02:10`` / ``D+1 02:10`` past midnight is left to the caller:
    the French form is returned, days counted from the start's date).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> clock = clock_of(datetime(2025, 1, 15, 13, 0, tzinfo=UTC))
    >>> clock(0), clock(4800), clock(12 * 3600)
    ('14:00', '15:20', 'J+1 02:00')
    """
    local_start = start.astimezone(LOCAL_TIME)

    def clock(at_s: float) -> str:
        moment = (start + timedelta(seconds=float(at_s))).astimezone(LOCAL_TIME)
        days = (moment.date() - local_start.date()).days
        return f"J+{days} {moment:%H:%M}" if days else f"{moment:%H:%M}"

    return clock


def build_timeline(
    clock: Callable[[float], str],
    events: Sequence[dict[str, Any]],
    affected: Sequence[AffectedAsset],
    *,
    tanks_empty: Sequence[tuple[str, float]] = (),
    crews: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Ordered entries ``{at_s, clock, kind, fr, en, assets}`` (kind: event, tank_empty, effect, crew_arrival)."""
    entries: list[dict[str, Any]] = []

    def add(at_s: float, kind: str, fr: str, en: str, assets: list[dict[str, Any]]) -> None:
        entries.append(
            {
                "at_s": round(float(at_s), 1),
                "clock": clock(at_s),
                "kind": kind,
                "fr": fr,
                "en": en,
                "assets": assets,
            }
        )

    for i, event in enumerate(events):
        fr, en = event_words(event)
        add(
            float(event.get("at_s", 0.0)),
            "event",
            f"événement n° {i + 1} : {fr}",
            f"event #{i + 1}: {en}",
            [],
        )
    for tank, at_s in tanks_empty:
        add(
            at_s,
            "tank_empty",
            f"réservoir {tank} vide",
            f"tank {tank} empty",
            [{"layer": "water_tanks", "name": tank}],
        )
    groups: dict[tuple[float, str], list[AffectedAsset]] = {}
    for asset in affected:
        for reason in asset.reasons:
            since = float(reason.get("since_s", asset.since_s))
            if asset.layer == "critical_sites":
                ref = {"layer": asset.layer, "id": asset.id, "name": asset.name}
                add(since, "effect", reason["fr"], reason["en"], [ref])
            else:
                members = groups.setdefault((round(since, 1), reason["cause"]), [])
                if asset not in members:
                    members.append(asset)
    for (since, cause), members in groups.items():
        words = CAUSE_WORDS.get(cause, (cause, cause))
        people = sum(a.residents for a in members)
        add(
            since,
            "effect",
            f"{len(members)} bâtiments ({people} habitants) {words[0]}",
            f"{len(members)} buildings ({people} residents) {words[1]}",
            [{"layer": a.layer, "id": a.id} for a in members],
        )
    for crew in crews:
        if crew.get("eta_s") is None:
            continue
        add(
            crew["arrival_s"],
            "crew_arrival",
            f"arrivée de l'équipe {crew['crew']['name']} : {crew['task_fr']}",
            f"crew {crew['crew']['name']} arrives: {crew['task_en']}",
            [],
        )
    entries.sort(key=lambda e: (e["at_s"], _ORDER[e["kind"]]))
    return entries


def event_words(event: dict[str, Any]) -> tuple[str, str]:
    """One event in a few words, French and English."""
    kind = event["type"]
    if kind == "road_closure":
        n = len(event.get("edge_ids", []))
        return f"fermeture de {n} tronçon(s) de voirie", f"{n} road arc(s) closed"
    if kind == "flood":
        return "inondation", "flood"
    if kind == "pipe_burst":
        return f"rupture de la conduite {event['pipe']}", f"burst on pipe {event['pipe']}"
    if kind == "pump_failure":
        return f"panne de la pompe {event['pump']}", f"pump {event['pump']} fails"
    if kind == "power_failure":
        return "coupure d'électricité", "power cut"
    if kind == "pollution_plume":
        return f"rejet de {event.get('pollutant', '?')}", f"{event.get('pollutant', '?')} release"
    return kind, kind
