"""A scenario's measures and the validation of scenario bodies (the API's JSON, refused with a clear reason).

Measures are what a planner does against the events: close roads (a one-way detour), reopen roads the live
state has closed (a detour opened), send a dispatch crew to an event, operate a water valve. Each carries
``at_s`` (when it takes effect, seconds after the start; 0 by default). :func:`parse_measure` and
:func:`measure_json` are inverse, like :mod:`simulation.events` for events.

Examples
--------
>>> parse_measure({"type": "send_crew", "crew_id": 3, "event": 0}, 0, n_events=1)
SendCrewMeasure(crew_id=3, event=0, at_s=0.0)
>>> measure_json(OperateValveMeasure("V-P12-J3", open=False))
{'type': 'operate_valve', 'valve': 'V-P12-J3', 'open': False, 'at_s': 0.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import shape

from routing.closures import Closure
from simulation.events import MAX_AT_S, MAX_EVENTS, JsonFields, event_json, parse_event
from twin.errors import HyperviseurError, InvalidInput

MAX_MEASURES = 50
MEASURE_TYPES: tuple[str, ...] = ("close_road", "reopen_road", "send_crew", "operate_valve")
RUN_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})
_SCENARIO_FIELDS = frozenset({"territory", "name", "description", "events", "measures"})
_PATCH_FIELDS = frozenset({"version", "name", "description", "events", "measures"})


class ScenarioConflict(HyperviseurError):
    """The scenario changed since the caller read it (stale version), or a run is already finished."""

    http_status = 409
    exit_code = 2


@dataclass(frozen=True)
class CloseRoadMeasure:
    """The planner closes road arcs (``twin.road_edges`` ids), e.g. one direction of a street for a detour."""

    edge_ids: tuple[int, ...]
    reason: str = ""
    at_s: float = 0.0


@dataclass(frozen=True)
class ReopenRoadMeasure:
    """Live closures (ids in the scenario's fork) lifted in the scenario: a detour opened."""

    closure_ids: tuple[int, ...]
    at_s: float = 0.0


@dataclass(frozen=True)
class SendCrewMeasure:
    """A dispatch crew sent to event number ``event``; it travels there on the scenario's roads."""

    crew_id: int
    event: int
    at_s: float = 0.0


@dataclass(frozen=True)
class OperateValveMeasure:
    """A water valve closed (``open=False``) or kept open (``open=True``)."""

    valve: str
    open: bool = False
    at_s: float = 0.0


Measure = CloseRoadMeasure | ReopenRoadMeasure | SendCrewMeasure | OperateValveMeasure


def parse_measure(
    obj: Any, index: int, *, n_events: int, live_closures: Sequence[dict[str, Any]] | None = None
) -> Measure:
    """One measure from its JSON form; ``n_events`` bounds ``send_crew.event``, ``live_closures`` (the fork's)
    bounds ``reopen_road.closure_ids`` when given.

    Raises
    ------
    InvalidInput
        Naming the measure's index and the field at fault.
    """
    if not isinstance(obj, dict):
        raise InvalidInput(f"measure {index} must be an object with a 'type', not {type(obj).__name__}")
    kind = obj.get("type")
    where = f"measure {index} ({kind})" if isinstance(kind, str) else f"measure {index}"
    if kind not in MEASURE_TYPES:
        raise InvalidInput(f"{where}: type must be one of {', '.join(MEASURE_TYPES)}, not {kind!r}")
    f = JsonFields(obj, where)
    at_s = f.number("at_s", 0.0, low=0.0, high=MAX_AT_S)
    measure: Measure
    if kind == "close_road":
        reason = f.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 500:
            raise f.fail("reason", "must be a text of at most 500 characters")
        measure = CloseRoadMeasure(f.ids("edge_ids"), reason, at_s)
    elif kind == "reopen_road":
        ids = f.ids("closure_ids")
        if live_closures is not None:
            kinds = {int(c["id"]): c.get("kind") for c in live_closures}
            unknown = [i for i in ids if i not in kinds]
            if unknown:
                raise f.fail(
                    "closure_ids",
                    f"names {unknown}, not live closures of the scenario's fork (its live_closures) / "
                    "fermetures absentes de l'état forké",
                )
            slow = [i for i in ids if kinds[i] != "closure"]
            if slow:
                raise f.fail(
                    "closure_ids",
                    f"names slowdowns {slow}: only closures can be reopened (slowdowns stay in both states)",
                )
        measure = ReopenRoadMeasure(ids, at_s)
    elif kind == "send_crew":
        crew = f.get("crew_id")
        if isinstance(crew, bool) or not isinstance(crew, int) or not 0 < crew < 2**63:
            raise f.fail("crew_id", f"must be a positive integer (a dispatch crew id), not {crew!r}")
        event = f.get("event")
        if n_events == 0:
            raise f.fail("event", "needs an event to go to: the scenario has none")
        if isinstance(event, bool) or not isinstance(event, int) or not 0 <= event < n_events:
            raise f.fail(
                "event",
                f"must be the index of one of the scenario's {n_events} events (0 to {n_events - 1}), "
                f"not {event!r}",
            )
        measure = SendCrewMeasure(crew, event, at_s)
    else:
        valve = f.text("valve", max_length=200)
        is_open = f.get("open", False)
        if not isinstance(is_open, bool):
            raise f.fail("open", f"must be true or false, not {is_open!r}")
        measure = OperateValveMeasure(valve, is_open, at_s)
    f.check_unused()
    return measure


def measure_json(measure: Measure) -> dict[str, Any]:
    """The JSON form of ``measure`` (what :func:`parse_measure` reads back)."""
    if isinstance(measure, CloseRoadMeasure):
        body: dict[str, Any] = {
            "type": "close_road",
            "edge_ids": list(measure.edge_ids),
            "reason": measure.reason,
        }
    elif isinstance(measure, ReopenRoadMeasure):
        body = {"type": "reopen_road", "closure_ids": list(measure.closure_ids)}
    elif isinstance(measure, SendCrewMeasure):
        body = {"type": "send_crew", "crew_id": measure.crew_id, "event": measure.event}
    else:
        body = {"type": "operate_valve", "valve": measure.valve, "open": measure.open}
    return {**body, "at_s": measure.at_s}


def parse_events_list(objs: Any) -> list[dict[str, Any]]:
    """A scenario's events (possibly none) in canonical JSON; refusals name the event and the field."""
    if not isinstance(objs, list):
        raise InvalidInput(f"events must be a list of events, not {type(objs).__name__}")
    if len(objs) > MAX_EVENTS:
        raise InvalidInput(f"events: at most {MAX_EVENTS} events in a scenario, not {len(objs)}")
    return [event_json(parse_event(o, i)) for i, o in enumerate(objs)]


def parse_measures_list(
    objs: Any, *, n_events: int, live_closures: Sequence[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A scenario's measures (possibly none) in canonical JSON."""
    if not isinstance(objs, list):
        raise InvalidInput(f"measures must be a list of measures, not {type(objs).__name__}")
    if len(objs) > MAX_MEASURES:
        raise InvalidInput(f"measures: at most {MAX_MEASURES} measures in a scenario, not {len(objs)}")
    return [
        measure_json(parse_measure(o, i, n_events=n_events, live_closures=live_closures))
        for i, o in enumerate(objs)
    ]


def measures_of(objs: Sequence[dict[str, Any]], *, n_events: int) -> list[Measure]:
    """Stored measures (already valid JSON) back to dataclasses."""
    return [parse_measure(o, i, n_events=n_events) for i, o in enumerate(objs)]


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"name must be a non-empty text, not {value!r} / donnez un nom au scénario")
    if len(value.strip()) > 200:
        raise InvalidInput("name is longer than 200 characters / nom trop long (200 caractères au plus)")
    return value.strip()


def _description(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 4000:
        raise InvalidInput("description must be a text of at most 4,000 characters")
    return value


def _unknown(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(map(repr, unknown))}; send only {', '.join(sorted(allowed))}"
        )


def validate_new_scenario(body: Any) -> dict[str, Any]:
    """The body of ``POST /api/simulation/scenarios`` checked: territory, name, description, events, measures.

    ``reopen_road`` measures are checked against the fork later (the fork is taken at creation).
    """
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object {territory, name, description?, events?, measures?}")
    _unknown(body, _SCENARIO_FIELDS)
    territory = body.get("territory")
    if isinstance(territory, bool) or not isinstance(territory, str | int) or not str(territory).strip():
        raise InvalidInput(f"territory must be a territory name or id, not {territory!r}")
    events = parse_events_list(body.get("events", []))
    return {
        "territory": str(territory),
        "name": _name(body.get("name")),
        "description": _description(body.get("description", "")),
        "events": events,
        "measures_raw": body.get("measures", []),
    }


def validate_patch(body: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The body of ``PATCH /api/simulation/scenarios/{id}`` checked against the stored scenario ``current``.

    Returns the changed columns (``version`` excluded); raises :class:`InvalidInput` naming the field.
    """
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object {version, name?, description?, events?, measures?}")
    _unknown(body, _PATCH_FIELDS)
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"version is required: the scenario's version you read (a positive integer), not {version!r}"
        )
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _name(body["name"])
    if "description" in body:
        changes["description"] = _description(body["description"])
    events = current["events"]
    if "events" in body:
        events = changes["events"] = parse_events_list(body["events"])
    if "measures" in body or "events" in body:
        # New events may shift the indices measures point to: check the measures against them again.
        changes["measures"] = parse_measures_list(
            body.get("measures", current["measures"]),
            n_events=len(events),
            live_closures=current["live_closures"],
        )
    return changes


def live_closure_json(closure: Closure) -> dict[str, Any]:
    """A live closure as the fork keeps it (routing's JSON, without the count of arcs it resolves to)."""
    doc = closure.as_json()
    doc.pop("arcs_affected", None)
    return doc


def closure_from_json(doc: dict[str, Any]) -> Closure:
    """The inverse of :func:`live_closure_json` (areas back to shapely, instants back to datetimes)."""
    return Closure(
        id=int(doc["id"]),
        territory_id=int(doc["territory_id"]),
        kind=str(doc["kind"]),
        travel_time_factor=doc.get("travel_time_factor"),
        edge_ids=tuple(int(e) for e in doc.get("edge_ids") or ()),
        area=shape(doc["area"]) if doc.get("area") else None,
        incident_id=doc.get("incident_id"),
        profiles=tuple(doc["profiles"]) if doc.get("profiles") is not None else None,
        valid_from=datetime.fromisoformat(doc["valid_from"]),
        valid_until=datetime.fromisoformat(doc["valid_until"]) if doc.get("valid_until") else None,
        reason=str(doc.get("reason", "")),
        created_by=str(doc.get("created_by", "")),
        created_at=datetime.fromisoformat(doc["created_at"]),
    )
