"""Routing profiles: which arcs a vehicle (or a walker) may use, in which direction, and at what speed.

Every rule reads what the road tables store: ``highway``, ``oneway``, ``speed_kph``, ``length_m`` and the OSM
tags kept in ``attributes`` (``access``, ``psv``, ``bus``, ``emergency``, ``foot``, ``motor_vehicle``…).
Pure functions only: the graph builder (:mod:`routing.graph`) applies them to whole arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twin.errors import InvalidInput

WALKING_SPEED_KPH = 5.0
# Classes where an emergency vehicle with lights and siren gains most (wide roads, traffic moves aside).
MAJOR_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
    }
)
# Access values that shut an arc to ordinary traffic (osmnx's drive filter already drops "private").
_CLOSED_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "permit"})
_SERVICE_ONLY = frozenset({"psv", "bus", "emergency", "taxi", "designated"})
_YES = frozenset({"yes", "designated", "permissive", "official"})
_FOOT_FORBIDDEN_HIGHWAYS = frozenset({"motorway", "motorway_link"})


@dataclass(frozen=True)
class Profile:
    """How one kind of traveller uses the road graph.

    Parameters
    ----------
    name
        ``car``, ``emergency``, ``crew_van`` or ``pedestrian``.
    on_foot
        Walks: every arc both ways at ``fixed_speed_kph``, one-ways and turn restrictions ignored.
    fixed_speed_kph
        Speed on every arc (walking); None: the stored ``speed_kph`` times the factors below.
    major_road_factor, minor_road_factor
        Multipliers of the stored speed on :data:`MAJOR_HIGHWAYS` and on the other classes.
    max_speed_kph
        Cap after the factors.
    service_lanes
        May use arcs reserved to buses, PSV or emergency services (``access=no`` + ``psv=yes``,
        ``highway=busway``, ``service=emergency_access``).
    delivery_access
        May use ``access=delivery`` arcs (crew vans doing work there).
    restriction_exemptions
        Values of a turn restriction's ``except`` tag that exempt this profile (``psv``, ``emergency``).
    """

    name: str
    on_foot: bool = False
    fixed_speed_kph: float | None = None
    major_road_factor: float = 1.0
    minor_road_factor: float = 1.0
    max_speed_kph: float = 130.0
    service_lanes: bool = False
    delivery_access: bool = False
    restriction_exemptions: frozenset[str] = field(default_factory=frozenset)

    @property
    def honours_oneway(self) -> bool:
        return not self.on_foot

    @property
    def honours_turn_restrictions(self) -> bool:
        return not self.on_foot


PROFILES: dict[str, Profile] = {
    "car": Profile("car"),
    # +30 % on major roads (traffic moves aside), +10 % elsewhere; bus lanes and emergency accesses open;
    # restrictions that exempt PSV or emergency vehicles do not apply.
    "emergency": Profile(
        "emergency",
        major_road_factor=1.3,
        minor_road_factor=1.1,
        max_speed_kph=150.0,
        service_lanes=True,
        restriction_exemptions=frozenset({"psv", "emergency", "bus"}),
    ),
    # A loaded utility van: 10 % slower than cars on fast roads, capped at 110 km/h; may enter delivery-only
    # streets where the work is.
    "crew_van": Profile("crew_van", major_road_factor=0.9, max_speed_kph=110.0, delivery_access=True),
    "pedestrian": Profile("pedestrian", on_foot=True, fixed_speed_kph=WALKING_SPEED_KPH),
}


def profile_named(name: str) -> Profile:
    """The profile called ``name``, or InvalidInput listing the known ones.

    Examples
    --------
    >>> profile_named("car").on_foot
    False
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInput(f"unknown profile {name!r}; use one of: {', '.join(PROFILES)}") from None


def _tag(tags: Mapping[str, Any], key: str) -> str:
    value = tags.get(key)
    return str(value).split(";")[0].strip().lower() if value is not None else ""


def arc_allowed(profile: Profile, highway: str, tags: Mapping[str, Any]) -> bool:
    """Whether ``profile`` may travel along an arc of class ``highway`` with these OSM tags.

    Examples
    --------
    >>> arc_allowed(PROFILES["car"], "primary", {"access": "no", "psv": "yes"})
    False
    >>> arc_allowed(PROFILES["emergency"], "primary", {"access": "no", "psv": "yes"})
    True
    >>> arc_allowed(PROFILES["pedestrian"], "motorway", {})
    False
    """
    if profile.on_foot:
        foot = _tag(tags, "foot")
        if foot == "no" or highway in _FOOT_FORBIDDEN_HIGHWAYS:
            return foot in _YES
        return _tag(tags, "access") not in _CLOSED_ACCESS or foot in _YES
    access = _tag(tags, "motor_vehicle") or _tag(tags, "access")
    reserved = access in _CLOSED_ACCESS or access in _SERVICE_ONLY
    service_lane = (
        highway in ("busway", "bus_guideway")
        or _tag(tags, "service") == "emergency_access"
        or (reserved and any(_tag(tags, key) in _YES for key in ("psv", "bus", "emergency")))
    )
    if service_lane or reserved:
        # Emergency vehicles may go where ordinary traffic may not, unless emergency=no says otherwise.
        return profile.service_lanes and _tag(tags, "emergency") != "no"
    if access == "delivery":
        return profile.delivery_access or profile.service_lanes
    return True


def arc_speed_kph(profile: Profile, highway: str, stored_speed_kph: float) -> float:
    """Speed of ``profile`` on an arc whose stored (car) speed is ``stored_speed_kph``.

    Examples
    --------
    >>> arc_speed_kph(PROFILES["emergency"], "primary", 50.0)
    65.0
    >>> arc_speed_kph(PROFILES["pedestrian"], "primary", 50.0)
    5.0
    """
    if profile.fixed_speed_kph is not None:
        return profile.fixed_speed_kph
    factor = profile.major_road_factor if highway in MAJOR_HIGHWAYS else profile.minor_road_factor
    return min(stored_speed_kph * factor, max(profile.max_speed_kph, 1e-9))


def restriction_applies(profile: Profile, tags: Mapping[str, Any]) -> bool:
    """Whether a turn restriction with these relation tags binds ``profile``.

    Examples
    --------
    >>> restriction_applies(PROFILES["emergency"], {"restriction": "no_left_turn", "except": "psv;bicycle"})
    False
    >>> restriction_applies(PROFILES["car"], {"restriction": "no_left_turn", "except": "psv;bicycle"})
    True
    """
    if not profile.honours_turn_restrictions:
        return False
    exempt = {part.strip().lower() for part in str(tags.get("except", "")).split(";") if part.strip()}
    return not (exempt & profile.restriction_exemptions)
