"""HTTP routes of routing computations under ``/api/routing``: route, matrix, isochrones, closest facilities."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from routing import engine as routing_engine
from routing._validate import parse_instant, parse_lonlat, parse_points
from routing.gpx import route_to_gpx
from routing.instructions import LANGUAGES, instructions_of
from routing.isochrones import DEFAULT_BUFFER_M, isochrones
from routing.profiles import PROFILES, profile_named
from routing.service import RoutingService
from twin.deps import Connection
from twin.errors import InvalidInput, NotFound
from twin.security.deps import require
from twin.security.openapi import PROBLEM
from twin.security.permissions import Group

MAX_CLOSEST_K = 20
MAX_CANDIDATES = 200
Territory = Annotated[str, Query(description="Territory name or id", min_length=1, max_length=200)]
Profile = Annotated[str, Query(description=f"One of {', '.join(PROFILES)}")]
At = Annotated[str | None, Query(description="ISO 8601 instant whose closures apply (default: now)")]
MaxSnap = Annotated[
    float, Query(gt=0, le=5000, description="Farthest a point may lie from a usable street (m)")
]


def service_of(request: Request) -> RoutingService:
    service: RoutingService = request.app.state.routing
    return service


def _check(profile: str, at: str | None) -> datetime | None:
    profile_named(profile)
    return parse_instant(at, "at")


# Territories (and routes, closures) are named in the query or body: a 404 can answer any routing call.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Unknown territory, no critical site of that kind, or no route between the points.",
        "content": {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}},
    }
}


def routing_router() -> APIRouter:
    router = APIRouter(
        responses=NOT_FOUND,
        prefix="/api/routing",
        tags=["routing"],
        dependencies=[Depends(require(Group.ROUTING))],
    )

    @router.get("/route", summary="Fastest route between two points, with turn-by-turn instructions")
    async def get_route(
        request: Request,
        territory: Territory,
        start: Annotated[str, Query(description="lon,lat")],
        end: Annotated[str, Query(description="lon,lat")],
        profile: Profile = "car",
        lang: Annotated[str, Query(description="fr or en")] = "fr",
        format: Annotated[str, Query(description="geojson or gpx")] = "geojson",
        at: At = None,
        max_snap_m: MaxSnap = routing_engine.DEFAULT_MAX_SNAP_M,
    ) -> Response:
        when = _check(profile, at)
        if lang not in LANGUAGES:
            raise InvalidInput(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
        if format not in ("geojson", "gpx"):
            raise InvalidInput(f"format must be 'geojson' or 'gpx', not {format!r}")
        a, b = parse_lonlat(start, "start"), parse_lonlat(end, "end")
        service = service_of(request)
        graph = await service.graph(territory)

        def compute() -> tuple[Any, Any, list[dict[str, Any]], Any]:
            result, state = routing_engine.route(graph, a, b, profile=profile, at=when, max_snap_m=max_snap_m)
            if result.duration_s is None:
                return result, state, [], None
            return result, state, instructions_of(result, state, lang=lang), result.geometry(state)

        result, state, steps, geometry = await service.run(compute)
        if result.duration_s is None:
            raise NotFound(
                f"no '{profile}' route from start to end in {graph.network.name}: the end cannot be reached "
                "(one-way streets, closures or a disconnected street); try another point or profile"
            )
        title = "Itinéraire" if lang == "fr" else "Route"
        if format == "gpx":
            return Response(
                route_to_gpx(geometry, steps, name=f"{title} {profile}"), media_type="application/gpx+xml"
            )
        return JSONResponse(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(geometry),
                "properties": {
                    "territory": graph.network.name,
                    "profile": profile,
                    "duration_s": round(result.duration_s, 3),
                    "distance_m": round(result.distance_m or 0.0, 1),
                    "engine": result.engine,
                    "closures_applied": len(graph.active_closures(profile, when)),
                    "snapped": {
                        "start": {
                            "lonlat": list(result.start.snapped),
                            "distance_m": round(result.start.distance_m, 1),
                        },
                        "end": {
                            "lonlat": list(result.end.snapped),
                            "distance_m": round(result.end.distance_m, 1),
                        },
                    },
                    "instructions": steps,
                },
            },
            media_type="application/geo+json",
        )

    @router.post("/matrix", summary="Many-to-many durations and distances (unreachable = null)")
    async def post_matrix(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        known = {"territory", "origins", "destinations", "profile", "at", "annotations", "max_snap_m"}
        if set(body) - known:
            raise InvalidInput(f"unknown field(s) {sorted(set(body) - known)}; known: {sorted(known)}")
        if not isinstance(body.get("territory"), str | int):
            raise InvalidInput("territory (name or id) is required")
        profile = body.get("profile", "car")
        if not isinstance(profile, str):
            raise InvalidInput("profile must be a string")
        when = _check(profile, body.get("at"))
        origins = parse_points(body.get("origins"), "origins")
        destinations = (
            parse_points(body["destinations"], "destinations") if "destinations" in body else origins
        )
        annotations = body.get("annotations", ["duration", "distance"])
        if (
            not isinstance(annotations, list)
            or not set(annotations) <= {"duration", "distance"}
            or not annotations
        ):
            raise InvalidInput("annotations must be a non-empty list among 'duration', 'distance'")
        if len(origins) + len(destinations) > routing_engine.MAX_MATRIX_POINTS:
            raise InvalidInput(
                f"{len(origins)} origins + {len(destinations)} destinations exceed the cap of "
                f"{routing_engine.MAX_MATRIX_POINTS} points per matrix; split the request"
            )
        max_snap = body.get("max_snap_m", routing_engine.DEFAULT_MAX_SNAP_M)
        if not isinstance(max_snap, int | float) or not 0 < max_snap <= 5000:
            raise InvalidInput("max_snap_m must be a number in (0, 5000]")
        service = service_of(request)
        graph = await service.graph(body["territory"])
        durations, distances, _, _, used = await service.run(
            routing_engine.matrix,
            graph,
            origins,
            destinations,
            profile=profile,
            at=when,
            max_snap_m=float(max_snap),
            distances="distance" in annotations,
        )
        out: dict[str, Any] = {"territory": graph.network.name, "profile": profile, "engine": used}
        if "duration" in annotations:
            out["durations_s"] = _nulls(durations, 3)
        if distances is not None:
            out["distances_m"] = _nulls(distances, 1)
        return out

    @router.get("/isochrones", summary="Areas reachable within time budgets (nested polygons)")
    async def get_isochrones(
        request: Request,
        territory: Territory,
        start: Annotated[str, Query(description="lon,lat")],
        budgets_s: Annotated[str, Query(description="comma-separated seconds, e.g. 300,600,900")],
        profile: Profile = "car",
        at: At = None,
        buffer_m: Annotated[float, Query(ge=1, le=500)] = DEFAULT_BUFFER_M,
        max_snap_m: MaxSnap = routing_engine.DEFAULT_MAX_SNAP_M,
    ) -> JSONResponse:
        when = _check(profile, at)
        try:
            budgets = [float(b) for b in budgets_s.split(",") if b.strip()]
        except ValueError:
            raise InvalidInput(
                f"budgets_s must be comma-separated seconds (300,600), got {budgets_s!r}"
            ) from None
        point = parse_lonlat(start, "start")
        service = service_of(request)
        graph = await service.graph(territory)
        polygons = await service.run(
            isochrones,
            graph,
            point,
            budgets,
            profile=profile,
            at=when,
            buffer_m=buffer_m,
            max_snap_m=max_snap_m,
        )
        features = [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(polygon),
                "properties": {"budget_s": budget, "profile": profile, "arcs_reached": arcs},
            }
            for budget, polygon, arcs in reversed(polygons)  # largest first: drawn below the smaller ones
        ]
        return JSONResponse(
            {"type": "FeatureCollection", "features": features}, media_type="application/geo+json"
        )

    @router.get("/closest", summary="The k nearest facilities by travel time")
    async def get_closest(
        request: Request,
        conn: Connection,
        territory: Territory,
        point: Annotated[str, Query(description="lon,lat")],
        kind: Annotated[
            str | None, Query(description="critical site kind, e.g. fire_station, hospital")
        ] = None,
        candidates: Annotated[str | None, Query(description="explicit candidates: lon,lat;lon,lat…")] = None,
        k: Annotated[int, Query(ge=1, le=MAX_CLOSEST_K)] = 3,
        profile: Profile = "car",
        direction: Annotated[str, Query(description="from_facilities or to_facilities")] = "from_facilities",
        at: At = None,
    ) -> JSONResponse:
        when = _check(profile, at)
        here = parse_lonlat(point, "point")
        if (kind is None) == (candidates is None):
            raise InvalidInput("give either kind (a critical site kind) or candidates (lon,lat;lon,lat…)")
        service = service_of(request)
        graph = await service.graph(territory)
        sites: list[dict[str, Any]]
        if kind is not None:
            cur = await conn.execute(
                "SELECT id, name, kind, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM twin.critical_sites"
                " WHERE territory_id = %s AND kind = %s ORDER BY id LIMIT %s",
                (graph.territory_id, kind, MAX_CANDIDATES + 1),
            )
            sites = list(await cur.fetchall())
            if not sites:
                raise NotFound(f"no critical site of kind {kind!r} in {graph.network.name}")
        else:
            raw = [c for c in candidates.split(";") if c.strip()] if candidates else []
            sites = [
                {"id": None, "name": None, "kind": None, "lon": p[0], "lat": p[1]}
                for p in (parse_lonlat(c, f"candidate {i}") for i, c in enumerate(raw))
            ]
        if not sites or len(sites) > MAX_CANDIDATES:
            raise InvalidInput(f"between 1 and {MAX_CANDIDATES} candidates, got {len(sites)}")
        best = await service.run(
            routing_engine.closest,
            graph,
            here,
            [(s["lon"], s["lat"]) for s in sites],
            k=k,
            profile=profile,
            at=when,
            direction=direction,
        )
        features = []
        for rank, item in enumerate(best, start=1):
            site = sites[item["index"]]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
                    "properties": {
                        "rank": rank,
                        "site_id": site["id"],
                        "name": site["name"],
                        "kind": site["kind"],
                        "duration_s": round(item["duration_s"], 3),
                        "distance_m": round(item["distance_m"], 1),
                    },
                }
            )
        return JSONResponse(
            {"type": "FeatureCollection", "features": features, "profile": profile, "direction": direction},
            media_type="application/geo+json",
        )

    return router


def _nulls(values: Any, digits: int) -> list[list[float | None]]:
    return [[None if v != v else round(float(v), digits) for v in row] for row in values]
