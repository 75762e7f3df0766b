"""Validation of routing inputs: coordinates, closure bodies, polygons; every refusal says what to send."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, shape

from routing.profiles import PROFILES
from twin.errors import InvalidInput

MAX_CLOSURE_EDGES = 10_000
MAX_CLOSURE_DAYS = 366
MAX_AREA_VERTICES = 10_000


def parse_lonlat(text: str, label: str) -> tuple[float, float]:
    """``"7.42,43.73"`` → ``(7.42, 43.73)``.

    Examples
    --------
    >>> parse_lonlat("7.42, 43.73", "start")
    (7.42, 43.73)
    """
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lon, lat = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidInput(
            f"{label} must be 'lon,lat' in degrees (e.g. 7.4197,43.7313), got {text!r}"
        ) from None
    check_lonlat(lon, lat, label)
    return lon, lat


def check_lonlat(lon: float, lat: float, label: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"{label} ({lon}, {lat}) is not a WGS84 longitude, latitude pair")


def parse_points(raw: Any, label: str, *, min_points: int = 1) -> list[tuple[float, float]]:
    """A JSON list of ``[lon, lat]`` pairs."""
    if not isinstance(raw, list) or len(raw) < min_points:
        raise InvalidInput(f"{label} must be a list of at least {min_points} [lon, lat] pairs")
    points = []
    for i, p in enumerate(raw):
        if not (isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) for v in p)):
            raise InvalidInput(f"{label}[{i}] must be [lon, lat] numbers, got {p!r}")
        check_lonlat(float(p[0]), float(p[1]), f"{label}[{i}]")
        points.append((float(p[0]), float(p[1])))
    return points


def parse_area(raw: Any) -> MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon (WGS84), valid and not empty, as a MultiPolygon."""
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("area must be a GeoJSON Polygon or MultiPolygon object in WGS84 lon/lat")
    try:
        geometry = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise InvalidInput(
            f"area is not a readable GeoJSON polygon ({exc}); send closed rings of [lon, lat]"
        ) from None
    if geometry.is_empty:
        raise InvalidInput("area is empty; send a polygon with at least one ring of 4 positions")
    if shapely.get_num_coordinates(geometry) > MAX_AREA_VERTICES:
        raise InvalidInput(f"area has more than {MAX_AREA_VERTICES} vertices; simplify it")
    if not geometry.is_valid:
        raise InvalidInput(
            f"area is not a valid polygon ({shapely.is_valid_reason(geometry)}); "
            "send a polygon whose rings are closed and do not cross themselves"
        )
    xmin, ymin, xmax, ymax = geometry.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise InvalidInput("area coordinates must be WGS84 longitude, latitude in degrees")
    return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry])


def parse_instant(raw: Any, label: str) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{label} must be an ISO 8601 date-time (2026-03-01T08:00:00+01:00), got {raw!r}"
            ) from None
    if value.tzinfo is None:
        raise InvalidInput(f"{label} needs a time zone (e.g. +01:00 or Z)")
    return value


def validate_closure_body(body: Any) -> dict[str, Any]:
    """Check a closure creation body; return the values to insert (``territory`` still a name or id)."""
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object describing the closure")
    known = {
        "territory",
        "kind",
        "travel_time_factor",
        "edge_ids",
        "area",
        "incident_id",
        "profiles",
        "valid_from",
        "valid_until",
        "duration_s",
        "reason",
    }
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(
            f"unknown closure field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if not isinstance(body.get("territory"), str | int) or isinstance(body.get("territory"), bool):
        raise InvalidInput("territory (name or id) is required")
    kind = body.get("kind", "closure")
    if kind not in ("closure", "slowdown"):
        raise InvalidInput(f"kind must be 'closure' or 'slowdown', not {kind!r}")
    factor = body.get("travel_time_factor")
    if kind == "slowdown":
        if not isinstance(factor, int | float) or isinstance(factor, bool) or not 1 < factor <= 100:
            raise InvalidInput(
                "a slowdown needs travel_time_factor, a number > 1 and ≤ 100 (2 = twice as long)"
            )
    elif factor is not None:
        raise InvalidInput("a closure takes no travel_time_factor (use kind 'slowdown' to slow traffic down)")
    edge_ids = body.get("edge_ids") or []
    if not isinstance(edge_ids, list) or not all(
        isinstance(e, int) and not isinstance(e, bool) for e in edge_ids
    ):
        raise InvalidInput("edge_ids must be a list of road_edges ids (integers)")
    if len(edge_ids) > MAX_CLOSURE_EDGES:
        raise InvalidInput(f"at most {MAX_CLOSURE_EDGES} edge_ids per closure; use an area for a wide zone")
    area = parse_area(body["area"]) if body.get("area") is not None else None
    if not edge_ids and area is None:
        raise InvalidInput("a closure needs edge_ids, an area (GeoJSON polygon) or both")
    incident_id = body.get("incident_id")
    if incident_id is not None and (not isinstance(incident_id, str) or not incident_id.strip()):
        raise InvalidInput("incident_id must be a non-empty string")
    profiles = body.get("profiles")
    if profiles is not None and (
        not isinstance(profiles, list) or not profiles or any(p not in PROFILES for p in profiles)
    ):
        raise InvalidInput(f"profiles must be a non-empty list among {', '.join(PROFILES)}")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason is required: say why the road is closed (e.g. 'inondation', 'travaux')")
    now = datetime.now(UTC)
    valid_from = parse_instant(body.get("valid_from"), "valid_from") or now
    valid_until = parse_instant(body.get("valid_until"), "valid_until")
    duration_s = body.get("duration_s")
    if duration_s is not None:
        if valid_until is not None:
            raise InvalidInput("give valid_until or duration_s, not both")
        if not isinstance(duration_s, int | float) or isinstance(duration_s, bool) or duration_s <= 0:
            raise InvalidInput("duration_s must be a positive number of seconds")
        if duration_s > MAX_CLOSURE_DAYS * 86400:
            raise InvalidInput(f"duration_s must be at most {MAX_CLOSURE_DAYS} days")
        valid_until = valid_from + timedelta(seconds=float(duration_s))
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from")
    return {
        "territory": body["territory"],
        "kind": kind,
        "travel_time_factor": float(factor) if factor is not None else None,
        "edge_ids": sorted(set(edge_ids)),
        "area": area,
        "incident_id": incident_id.strip() if incident_id else None,
        "profiles": profiles,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "reason": reason.strip(),
    }
