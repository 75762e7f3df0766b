"""Initiating events of a consequence simulation, and their JSON form (the API's, the scenarios', the reports').

One dataclass per kind of event. ``at_s`` is when the event happens, in seconds after the start of the
simulation (0: at once); reports give each effect's ``since_s`` from it. :func:`parse_events` turns the JSON
the API takes into events, refusing bad input with a message that says which event and which field;
:func:`event_json` is its inverse (``parse_event(event_json(e)) == e``).

Examples
--------
>>> parse_event({"type": "pipe_burst", "pipe": "P12", "at_s": 600})
PipeBurstEvent(pipe='P12', at_s=600.0)
>>> event_json(RoadClosureEvent((4, 5), reason="travaux"))
{'type': 'road_closure', 'edge_ids': [4, 5], 'reason': 'travaux', 'at_s': 0.0}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from twin.errors import InvalidInput

#: At most this many events in one simulation (a scenario, an ad hoc report).
MAX_EVENTS = 50
#: Events happen within this horizon (seconds after the start): a day.
MAX_AT_S = 86_400.0
_MAX_EDGES = 5_000
_MAX_VERTICES = 20_000


@dataclass(frozen=True)
class RoadClosureEvent:
    """Road arcs (``twin.road_edges`` ids) closed, e.g. for works or an accident."""

    edge_ids: tuple[int, ...]
    reason: str = ""
    at_s: float = 0.0


@dataclass(frozen=True)
class FloodEvent:
    """A flooded polygon (WGS84) and the depth of water in it when known (metres)."""

    area: BaseGeometry
    water_level_m: float | None = None
    at_s: float = 0.0


@dataclass(frozen=True)
class PipeBurstEvent:
    """A burst on a water link (its name in the water network): its segment is shut."""

    pipe: str
    at_s: float = 0.0


@dataclass(frozen=True)
class PumpFailureEvent:
    """A pump (its name in the water network) stops: what it fed is served by the tanks while they last."""

    pump: str
    at_s: float = 0.0


@dataclass(frozen=True)
class PowerFailureEvent:
    """A power cut: every asset inside ``area`` (WGS84), and every asset fed by ``feeder_ids``
    (``simulation.power_feeders``), loses power; at least one of the two is given."""

    area: BaseGeometry | None = None
    feeder_ids: tuple[int, ...] = ()
    at_s: float = 0.0


@dataclass(frozen=True)
class PollutionPlumeEvent:
    """A pollution release at ``source`` (lon, lat) carried by the wind: a plume ``length_m`` long downwind,
    widening by ``spread_deg`` on each side. ``wind_from_deg`` is where the wind blows from (meteorological
    convention: 270 = a west wind, blowing eastwards)."""

    source: tuple[float, float]
    wind_from_deg: float
    wind_speed_m_s: float = 3.0
    length_m: float = 2_000.0
    spread_deg: float = 15.0
    pollutant: str = "unknown"
    at_s: float = 0.0


InitiatingEvent = (
    RoadClosureEvent
    | FloodEvent
    | PipeBurstEvent
    | PumpFailureEvent
    | PowerFailureEvent
    | PollutionPlumeEvent
)
EVENT_TYPES: tuple[str, ...] = (
    "road_closure",
    "flood",
    "pipe_burst",
    "pump_failure",
    "power_failure",
    "pollution_plume",
)


@dataclass
class JsonFields:
    """Reads one event's fields, naming the event and the field in every refusal."""

    obj: dict[str, Any]
    where: str
    used: set[str] = field(default_factory=set)

    def fail(self, name: str, what: str) -> InvalidInput:
        return InvalidInput(f"{self.where}: {name} {what}")

    def get(self, name: str, default: Any = ..., *, required: bool = False) -> Any:
        self.used.add(name)
        if name not in self.obj or self.obj[name] is None:
            if required or default is ...:
                raise self.fail(name, "is required / est obligatoire")
            return default
        return self.obj[name]

    def given(self, name: str) -> bool:
        return self.obj.get(name) is not None

    def number(self, name: str, default: Any = ..., *, low: float, high: float) -> Any:
        value = self.get(name, default)
        if not self.given(name):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(name, f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise self.fail(name, f"must be between {low:g} and {high:g}, not {value!r}")
        return float(value)

    def text(self, name: str, default: Any = ..., *, max_length: int = 200) -> Any:
        value = self.get(name, default)
        if not self.given(name):
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, f"must be a non-empty text, not {value!r}")
        if len(value) > max_length:
            raise self.fail(name, f"is longer than {max_length} characters")
        return value

    def ids(self, name: str, *, required: bool = True) -> tuple[int, ...]:
        value = self.get(name, [] if not required else ...)
        if not isinstance(value, list) or (required and not value):
            raise self.fail(name, "must be a non-empty list of ids")
        if len(value) > _MAX_EDGES:
            raise self.fail(name, f"has more than {_MAX_EDGES} ids")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**63:
                raise self.fail(name, f"must hold positive integer ids, not {v!r}")
        return tuple(dict.fromkeys(value))

    def polygon(self, name: str, *, required: bool = True) -> BaseGeometry | None:
        value = self.get(name, ... if required else None)
        if value is None:
            return None
        if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
            raise self.fail(name, "must be a GeoJSON Polygon or MultiPolygon (WGS84)")
        try:
            geom = shape(value)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise self.fail(name, f"is not valid GeoJSON: {exc}") from None
        if geom.is_empty or shapely.get_num_coordinates(geom) > _MAX_VERTICES:
            raise self.fail(name, f"must be a non-empty polygon of at most {_MAX_VERTICES} vertices")
        if not geom.is_valid:
            raise self.fail(name, f"is not a valid polygon ({shapely.is_valid_reason(geom)})")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise self.fail(name, "must be in longitude/latitude degrees (WGS84)")
        return geom

    def point(self, name: str) -> tuple[float, float]:
        value = self.get(name)
        if isinstance(value, dict) and value.get("type") == "Point":
            value = value.get("coordinates")
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90)
        ):
            raise self.fail(name, "must be a GeoJSON Point or [lon, lat] in WGS84 degrees")
        return (float(value[0]), float(value[1]))

    def check_unused(self) -> None:
        unknown = sorted(set(self.obj) - self.used - {"type"})
        if unknown:
            raise InvalidInput(f"{self.where}: unknown field(s) {', '.join(map(repr, unknown))}")


def parse_event(obj: Any, index: int = 0) -> InitiatingEvent:
    """One event from its JSON form (see the module's examples); raises :class:`InvalidInput` saying what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"event {index} must be an object with a 'type', not {type(obj).__name__}")
    kind = obj.get("type")
    where = f"event {index} ({kind})" if isinstance(kind, str) else f"event {index}"
    if kind not in EVENT_TYPES:
        raise InvalidInput(f"{where}: type must be one of {', '.join(EVENT_TYPES)}, not {kind!r}")
    f = JsonFields(obj, where)
    at_s = f.number("at_s", 0.0, low=0.0, high=MAX_AT_S)
    event: InitiatingEvent
    if kind == "road_closure":
        reason = f.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 500:
            raise f.fail("reason", "must be a text of at most 500 characters")
        event = RoadClosureEvent(f.ids("edge_ids"), reason, at_s)
    elif kind == "flood":
        area = f.polygon("area")
        assert area is not None
        event = FloodEvent(area, f.number("water_level_m", None, low=0.0, high=30.0), at_s)
    elif kind == "pipe_burst":
        event = PipeBurstEvent(f.text("pipe"), at_s)
    elif kind == "pump_failure":
        event = PumpFailureEvent(f.text("pump"), at_s)
    elif kind == "power_failure":
        area = f.polygon("area", required=False)
        feeders = f.ids("feeder_ids", required=False)
        if area is None and not feeders:
            raise InvalidInput(f"{where}: give an area (GeoJSON polygon) or feeder_ids, or both")
        event = PowerFailureEvent(area, feeders, at_s)
    else:
        event = PollutionPlumeEvent(
            f.point("source"),
            f.number("wind_from_deg", low=0.0, high=360.0),
            f.number("wind_speed_m_s", 3.0, low=0.0, high=60.0),
            f.number("length_m", 2_000.0, low=10.0, high=50_000.0),
            f.number("spread_deg", 15.0, low=1.0, high=60.0),
            f.text("pollutant", "unknown", max_length=40),
            at_s,
        )
    f.check_unused()
    return event


def parse_events(objs: Any) -> list[InitiatingEvent]:
    """A list of events from JSON; at least one, at most :data:`MAX_EVENTS`."""
    if not isinstance(objs, list) or not objs:
        raise InvalidInput("events must be a non-empty list / indiquez au moins un événement initiateur")
    if len(objs) > MAX_EVENTS:
        raise InvalidInput(f"at most {MAX_EVENTS} events in one simulation, not {len(objs)}")
    return [parse_event(o, i) for i, o in enumerate(objs)]


def event_json(event: InitiatingEvent) -> dict[str, Any]:
    """The JSON form of ``event`` (what :func:`parse_event` reads back)."""
    if isinstance(event, RoadClosureEvent):
        body: dict[str, Any] = {"edge_ids": list(event.edge_ids), "reason": event.reason}
    elif isinstance(event, FloodEvent):
        body = {"area": shapely.geometry.mapping(event.area), "water_level_m": event.water_level_m}
    elif isinstance(event, PipeBurstEvent):
        body = {"pipe": event.pipe}
    elif isinstance(event, PumpFailureEvent):
        body = {"pump": event.pump}
    elif isinstance(event, PowerFailureEvent):
        body = {
            "area": None if event.area is None else shapely.geometry.mapping(event.area),
            "feeder_ids": list(event.feeder_ids),
        }
    elif isinstance(event, PollutionPlumeEvent):
        body = {
            "source": list(event.source),
            "wind_from_deg": event.wind_from_deg,
            "wind_speed_m_s": event.wind_speed_m_s,
            "length_m": event.length_m,
            "spread_deg": event.spread_deg,
            "pollutant": event.pollutant,
        }
    else:
        raise InvalidInput(f"{type(event).__name__} is not an initiating event")
    return {"type": _TYPE_OF[type(event)], **body, "at_s": event.at_s}


_TYPE_OF: dict[type, str] = {
    RoadClosureEvent: "road_closure",
    FloodEvent: "flood",
    PipeBurstEvent: "pipe_burst",
    PumpFailureEvent: "pump_failure",
    PowerFailureEvent: "power_failure",
    PollutionPlumeEvent: "pollution_plume",
}


def events_json(events: Sequence[InitiatingEvent]) -> list[dict[str, Any]]:
    return [event_json(e) for e in events]
