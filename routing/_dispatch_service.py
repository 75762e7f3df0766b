"""From stored crews and jobs to a checked, stored plan: instance building, the solver's worker process, JSON.

Solving is CPU-bound for up to 30 s, so it runs in a process of its own (one worker per server process,
spawned on first use), never on the event loop nor in a thread that would hold the GIL between C++ calls.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from routing._dispatch_matrix import Matrix
from routing._dispatch_model import Crew, DispatchInstance, Job, Plan
from twin.errors import HyperviseurError, InvalidInput

# A crew's reported position is where it starts from while it is this fresh; else from its depot.
POSITION_FRESH_S = 1800
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class Snapshot:
    """The instance of one planning request and what it was built from (rows, places, epoch)."""

    instance: DispatchInstance
    at: datetime
    crews: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    points: list[tuple[float, float]]


def _after(at: datetime, moment: datetime) -> float:
    return (moment - at).total_seconds()


def places_of(
    crews: list[dict[str, Any]], jobs: list[dict[str, Any]], at: datetime
) -> tuple[list[tuple[float, float]], dict[tuple[str, int], int]]:
    """Distinct matrix places: each crew's start (fresh position or home), its home, each job's location."""
    points: list[tuple[float, float]] = []
    index: dict[tuple[float, float], int] = {}
    where: dict[tuple[str, int], int] = {}

    def add(key: tuple[str, int], lon: float, lat: float) -> None:
        point = (round(float(lon), 7), round(float(lat), 7))
        if point not in index:
            index[point] = len(points)
            points.append(point)
        where[key] = index[point]

    for c in crews:
        fresh = (
            c["pos_lon"] is not None
            and c["position_updated_at"] is not None
            and _after(c["position_updated_at"], at) <= POSITION_FRESH_S
            and c["shift_start"] <= at
        )
        add(
            ("start", c["id"]),
            c["pos_lon"] if fresh else c["home_lon"],
            c["pos_lat"] if fresh else c["home_lat"],
        )
        add(("home", c["id"]), c["home_lon"], c["home_lat"])
    for j in jobs:
        add(("job", j["id"]), j["lon"], j["lat"])
    return points, where


def build_snapshot(
    crews: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    at: datetime,
    matrix: Matrix,
    points: list[tuple[float, float]],
    where: dict[tuple[str, int], int],
    *,
    previous: dict[str, str] | None = None,
    reassign_cost_s: int = 600,
) -> Snapshot:
    """Seconds from ``at`` for every time (windows rounded inwards), crews with their started jobs."""
    if not crews:
        raise InvalidInput(
            "no active crew in this territory: create one (POST /api/dispatch/crews) or activate one"
        )
    started = {j["crew_id"]: j for j in jobs if j["status"] == "started"}
    model_crews = []
    for c in crews:
        job = started.get(c["id"])
        model_crews.append(
            Crew(
                id=str(c["id"]),
                start=where[("start", c["id"])],
                end=where[("home", c["id"])],
                shift_start_s=math.ceil(_after(at, c["shift_start"])),
                shift_end_s=math.floor(_after(at, c["shift_end"])),
                capacity=int(c["capacity"]),
                skills=frozenset(c["skills"]),
                started_job=str(job["id"]) if job else None,
                started_at_s=math.floor(_after(at, job["started_at"])) if job else None,
                name=c["name"],
            )
        )
    model_jobs = tuple(
        Job(
            id=str(j["id"]),
            node=where[("job", j["id"])],
            duration_s=int(j["duration_s"]),
            tw_start_s=math.ceil(_after(at, j["window_start"])),
            tw_end_s=math.floor(_after(at, j["window_end"])),
            priority=int(j["priority"]),
            demand=int(j["demand"]),
            skill=j["required_skill"],
        )
        for j in jobs
    )
    instance = DispatchInstance(
        tuple(model_crews),
        model_jobs,
        matrix.durations_s,
        matrix.distances_m,
        previous=previous or {},
        reassign_cost_s=reassign_cost_s,
    )
    return Snapshot(instance, at, crews, jobs, points)


def _pool(app: Any) -> ProcessPoolExecutor:
    with _pool_lock:
        pool = getattr(app.state, "dispatch_pool", None)
        if pool is None:
            # spawn: the server has threads (uvicorn, the event bus); a forked copy of them could deadlock.
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            app.state.dispatch_pool = pool
        return pool


def shutdown_pool(app: Any) -> None:
    with _pool_lock:
        pool = getattr(app.state, "dispatch_pool", None)
        app.state.dispatch_pool = None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


async def solve_in_worker(app: Any, instance: DispatchInstance, *, time_budget_s: float, solver: str) -> Plan:
    """``plan_dispatch`` in the worker process (its checker runs there too; a failure comes back raised)."""
    from routing.dispatch import plan_dispatch

    try:
        future = _pool(app).submit(plan_dispatch, instance, time_budget_s=time_budget_s, solver=solver)
        return await asyncio.wrap_future(future)
    except BrokenProcessPool as exc:
        shutdown_pool(app)
        raise HyperviseurError("the dispatch worker process died; the next request starts a new one") from exc


def _iso(at: datetime, seconds: int) -> str:
    return (at + timedelta(seconds=seconds)).isoformat()


def plan_document(
    snapshot: Snapshot, plan: Plan, matrix_source: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The plan as the API shows and stores it, and its assignment rows."""
    at = snapshot.at
    crews = {str(c["id"]): c for c in snapshot.crews}
    jobs = {str(j["id"]): j for j in snapshot.jobs}
    routes, rows = [], []
    for route in plan.routes:
        crew = crews[route.crew]
        stops = []
        for k, stop in enumerate(route.stops, start=1):
            job = jobs[stop.job]
            started = job["status"] == "started"
            stops.append(
                {
                    "sequence": k,
                    "job_id": job["id"],
                    "eta": _iso(at, stop.arrival_s),
                    "start_at": _iso(at, stop.start_s),
                    "etd": _iso(at, stop.departure_s),
                    "wait_s": stop.start_s - stop.arrival_s,
                    "priority": job["priority"],
                    "required_skill": job["required_skill"],
                    "location": {"lon": job["lon"], "lat": job["lat"]},
                    "started": started,
                    "description": job["description"],
                }
            )
            rows.append(
                {
                    "crew_id": crew["id"],
                    "job_id": job["id"],
                    "sequence": k,
                    "eta": at + timedelta(seconds=stop.arrival_s),
                    "start_at": at + timedelta(seconds=stop.start_s),
                    "etd": at + timedelta(seconds=stop.departure_s),
                    "started": started,
                }
            )
        routes.append(
            {
                "crew_id": crew["id"],
                "crew": crew["name"],
                "leave_at": _iso(at, route.leave_s),
                "return_at": _iso(at, route.end_s),
                "travel_s": route.travel_s,
                "distance_m": route.distance_m,
                "stops": stops,
            }
        )
    document = {
        "planned_at": at.isoformat(),
        "solver": plan.solver,
        "time_budget_s": plan.time_budget_s,
        "solve_time_s": round(plan.solve_time_s, 3),
        "matrix_source": matrix_source,
        "closures_applied": matrix_source == "engine",
        "routes": routes,
        "unassigned": [
            {"job_id": int(u.job), "reason": u.reason, "message": u.message} for u in plan.unassigned
        ],
        "kpis": plan.kpis,
        "checked": True,
    }
    return document, rows


def input_document(snapshot: Snapshot, matrix_source: str) -> dict[str, Any]:
    """What the solver saw, for the record (times as seconds from ``planned_at``)."""
    inst = snapshot.instance
    return {
        "planned_at": snapshot.at.isoformat(),
        "matrix_source": matrix_source,
        "places": [list(p) for p in snapshot.points],
        "crews": [
            {
                "id": c.id,
                "start": c.start,
                "end": c.end,
                "shift_s": [c.shift_start_s, c.shift_end_s],
                "capacity": c.capacity,
                "skills": sorted(c.skills),
                "started_job": c.started_job,
            }
            for c in inst.crews
        ],
        "jobs": [
            {
                "id": j.id,
                "place": j.node,
                "duration_s": j.duration_s,
                "window_s": [j.tw_start_s, j.tw_end_s],
                "priority": j.priority,
                "demand": j.demand,
                "skill": j.skill,
            }
            for j in inst.jobs
        ],
        "durations_s": np.asarray(inst.durations_s).tolist() if len(snapshot.points) <= 200 else None,
        "previous": dict(inst.previous),
    }
