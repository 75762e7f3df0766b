"""Turn-by-turn instructions in French (default) or English, from the legs of a route.

Consecutive arcs of one street are one step; a step starts where the street name changes, at a marked turn
(angle between the last segment in and the first segment out, in the territory's metric CRS), or at a
roundabout, whose exit is counted among the arcs leaving the ring.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from routing.engine import Leg, RouteResult
from routing.resident import ProfileState

_TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "depart": "Partez vers {heading}{onto}",
        "straight": "Continuez tout droit{onto}",
        "slight_left": "Tournez légèrement à gauche{onto}",
        "slight_right": "Tournez légèrement à droite{onto}",
        "left": "Tournez à gauche{onto}",
        "right": "Tournez à droite{onto}",
        "sharp_left": "Tournez franchement à gauche{onto}",
        "sharp_right": "Tournez franchement à droite{onto}",
        "uturn": "Faites demi-tour{onto}",
        "roundabout": "Prenez le rond-point, puis la {exit} sortie{onto}",
        "arrive": "Vous êtes arrivé",
        "onto": " sur {name}",
        "unreachable": "Aucun itinéraire",
        "headings": (
            "le nord",
            "le nord-est",
            "l'est",
            "le sud-est",
            "le sud",
            "le sud-ouest",
            "l'ouest",
            "le nord-ouest",
        ),
    },
    "en": {
        "depart": "Head {heading}{onto}",
        "straight": "Continue straight{onto}",
        "slight_left": "Bear left{onto}",
        "slight_right": "Bear right{onto}",
        "left": "Turn left{onto}",
        "right": "Turn right{onto}",
        "sharp_left": "Turn sharp left{onto}",
        "sharp_right": "Turn sharp right{onto}",
        "uturn": "Make a U-turn{onto}",
        "roundabout": "At the roundabout, take the {exit} exit{onto}",
        "arrive": "You have arrived",
        "onto": " onto {name}",
        "unreachable": "No route",
        "headings": ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"),
    },
}
LANGUAGES = tuple(_TEXT)


def ordinal(n: int, lang: str) -> str:
    """``1re``/``2e`` in French, ``1st``/``2nd`` in English.

    Examples
    --------
    >>> ordinal(1, "fr"), ordinal(2, "fr"), ordinal(3, "en"), ordinal(11, "en")
    ('1re', '2e', '3rd', '11th')
    """
    if lang == "fr":
        return "1re" if n == 1 else f"{n}e"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def classify_turn(angle_deg: float) -> str:
    """Turn kind from the signed change of heading (positive = to the right, degrees in (-180, 180]).

    Examples
    --------
    >>> classify_turn(5), classify_turn(-90), classify_turn(40), classify_turn(175)
    ('straight', 'left', 'slight_right', 'uturn')
    """
    a = abs(angle_deg)
    side = "right" if angle_deg > 0 else "left"
    if a < 25:
        return "straight"
    if a < 60:
        return f"slight_{side}"
    if a < 130:
        return side
    if a < 165:
        return f"sharp_{side}"
    return "uturn"


def _bearing(p: np.ndarray, q: np.ndarray) -> float:
    """Compass bearing (degrees clockwise from north) from p to q in a metric CRS (x east, y north)."""
    return math.degrees(math.atan2(q[0] - p[0], q[1] - p[1])) % 360.0


def _leg_line(state: ProfileState, leg: Leg) -> np.ndarray:
    line = state.graph.network.geometry_m[leg.edge]
    if leg.against:
        line = shapely.reverse(line)
    coords = shapely.get_coordinates(line)
    return coords if len(coords) >= 2 else np.vstack([coords, coords])


def _name(state: ProfileState, leg: Leg) -> str | None:
    raw = state.graph.network.street_name[leg.edge]
    return str(raw).split(";")[0].strip() or None if raw else None


def _is_roundabout(state: ProfileState, leg: Leg) -> bool:
    return state.graph.network.tags[leg.edge].get("junction") in ("roundabout", "circular")


def instructions_of(result: RouteResult, state: ProfileState, *, lang: str = "fr") -> list[dict[str, Any]]:
    """Steps ``{"type", "text", "street", "distance_m", "duration_s", "location"}`` of a route."""
    text = _TEXT[lang]
    if result.duration_s is None:
        return [
            {
                "type": "unreachable",
                "text": text["unreachable"],
                "street": None,
                "distance_m": None,
                "duration_s": None,
                "location": list(result.start.snapped),
            }
        ]
    network = state.graph.network
    legs = [leg for leg in result.legs if leg.end > leg.start or len(result.legs) == 1]
    total_length = sum(network.length_m[leg.edge] * (leg.end - leg.start) for leg in legs) or 1.0
    speed = (result.distance_m or 0.0) / result.duration_s if result.duration_s else 0.0
    steps: list[dict[str, Any]] = []

    def onto(name: str | None) -> str:
        return text["onto"].format(name=name) if name else ""

    def new_step(kind: str, leg: Leg, words: str) -> None:
        lonlat = shapely.get_coordinates(network.geometry[leg.edge])
        location = lonlat[-1] if leg.against else lonlat[0]
        if kind == "depart":
            location = np.asarray(result.start.snapped)
        steps.append(
            {
                "type": kind,
                "text": words,
                "street": _name(state, leg),
                "distance_m": 0.0,
                "duration_s": 0.0,
                "location": [float(location[0]), float(location[1])],
            }
        )

    first_line = _leg_line(state, legs[0])
    heading = text["headings"][int(((_bearing(first_line[0], first_line[-1]) + 22.5) % 360) // 45)]
    new_step("depart", legs[0], text["depart"].format(heading=heading, onto=onto(_name(state, legs[0]))))
    in_roundabout = False
    exits = 0
    for prev, leg in zip(legs, legs[1:], strict=False):
        before, after = _leg_line(state, prev), _leg_line(state, leg)
        angle = (_bearing(after[0], after[1]) - _bearing(before[-2], before[-1]) + 540.0) % 360.0 - 180.0
        name = _name(state, leg)
        if _is_roundabout(state, leg):
            if not in_roundabout:
                in_roundabout, exits = True, 0
                new_step("roundabout", leg, "")
            exits += _exits_at(state, prev, leg)
            continue
        if in_roundabout:
            exits += 1
            in_roundabout = False
            steps[-1]["text"] = text["roundabout"].format(exit=ordinal(exits, lang), onto=onto(name))
            steps[-1]["street"] = name
            steps[-1]["distance_m"] += 0.0
        else:
            kind = classify_turn(angle)
            if kind != "straight" or name != steps[-1]["street"]:
                new_step(kind, leg, text[kind].format(onto=onto(name)))
        length = network.length_m[leg.edge] * (leg.end - leg.start)
        steps[-1]["distance_m"] += float(length)
    for leg in legs[:1]:
        steps[0]["distance_m"] += float(network.length_m[leg.edge] * (leg.end - leg.start))
    if in_roundabout:
        steps[-1]["text"] = text["roundabout"].format(exit=ordinal(exits + 1, lang), onto="")
    scale = (result.distance_m or total_length) / total_length
    for step in steps:
        step["distance_m"] = round(step["distance_m"] * scale, 1)
        step["duration_s"] = round(step["distance_m"] / speed, 1) if speed else 0.0
    steps.append(
        {
            "type": "arrive",
            "text": text["arrive"],
            "street": None,
            "distance_m": 0.0,
            "duration_s": 0.0,
            "location": list(result.end.snapped),
        }
    )
    return steps


def _exits_at(state: ProfileState, prev: Leg, leg: Leg) -> int:
    """1 if the node between ``prev`` and ``leg`` (on the ring) has an exit off the ring, else 0."""
    network = state.graph.network
    node = network.tail[leg.edge] if not leg.against else network.head[leg.edge]
    if not _is_roundabout(state, prev):
        return 0  # the entry node
    out = np.flatnonzero(network.tail == node)
    return int(any(network.tags[a].get("junction") not in ("roundabout", "circular") for a in out))
