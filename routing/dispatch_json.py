"""JSON shapes of crews, jobs and a crew's own job list (with the route to its next job)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def crew_json(row: dict[str, Any]) -> dict[str, Any]:
    position = None
    if row["pos_lon"] is not None:
        position = {
            "lon": row["pos_lon"],
            "lat": row["pos_lat"],
            "updated_at": _iso(row["position_updated_at"]),
        }
    return {
        "id": row["id"],
        "territory": row["territory"],
        "name": row["name"],
        "skills": list(row["skills"]),
        "capacity": row["capacity"],
        "shift_start": _iso(row["shift_start"]),
        "shift_end": _iso(row["shift_end"]),
        "home": {"lon": row["home_lon"], "lat": row["home_lat"]},
        "position": position,
        "account": row["account"],
        "active": row["active"],
    }


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "territory": row["territory"],
        "location": {"lon": row["lon"], "lat": row["lat"]},
        "duration_s": row["duration_s"],
        "required_skill": row["required_skill"],
        "window_start": _iso(row["window_start"]),
        "window_end": _iso(row["window_end"]),
        "priority": row["priority"],
        "demand": row["demand"],
        "status": row["status"],
        "crew_id": row["crew_id"],
        "started_at": _iso(row["started_at"]),
        "incident_id": row["incident_id"],
        "description": row["description"],
    }


def _engine_route(graph: Any, start: tuple[float, float], end: tuple[float, float]) -> dict[str, Any] | None:
    """The routing engine's crew-van route (GeoJSON geometry) on the resident graph, None if there is none."""
    if graph is None:
        return None
    from routing.engine import route

    try:
        found, state = route(graph, start, end, profile="crew_van")
    except Exception:  # the next job must still show, with a straight line, if routing fails (e.g. snapping)
        log.exception("route to the next job failed; showing a straight line")
        return None
    if found.duration_s is None:
        return None
    geometry = found.geometry(state).__geo_interface__
    return {"type": geometry["type"], "coordinates": [list(c) for c in geometry["coordinates"]]}


def my_jobs_document(
    crew: dict[str, Any], plan_id: int | None, stops: list[dict[str, Any]], graph: Any
) -> dict[str, Any]:
    """The crew's remaining stops in order (ETA, window, what to do) and the way to the first one."""
    jobs = [
        {
            "sequence": s["sequence"],
            "eta": _iso(s["eta"]),
            "start_at": _iso(s["start_at"]),
            "etd": _iso(s["etd"]),
            **job_json(s),
        }
        for s in stops
    ]
    next_leg = None
    if jobs:
        here = (
            (crew["pos_lon"], crew["pos_lat"])
            if crew["pos_lon"] is not None
            else (crew["home_lon"], crew["home_lat"])
        )
        there = (jobs[0]["location"]["lon"], jobs[0]["location"]["lat"])
        geometry = _engine_route(graph, here, there)
        kind = "road"
        if geometry is None:
            geometry, kind = {"type": "LineString", "coordinates": [list(here), list(there)]}, "straight_line"
        next_leg = {
            "type": "Feature",
            "geometry": geometry,
            "properties": {"job_id": jobs[0]["id"], "geometry_kind": kind, "eta": jobs[0]["eta"]},
        }
    return {"crew": crew_json(crew), "plan_id": plan_id, "jobs": jobs, "next_leg": next_leg}
