"""Crew dispatch: assign jobs to crews, order each crew's route and compute its ETAs (a VRP with time windows).

The solver libraries only order jobs; this module screens the jobs no crew can take (with a reason), keeps
the jobs crews have started as fixed prefixes, schedules every route itself (earliest service start), drops
whatever a solver returned that would break a constraint, and has every plan verified by
:func:`routing.dispatch_check.check_plan` before it is returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from routing._dispatch_model import (
    PRIORITY_URGENT,
    UNREACHABLE_S,
    Crew,
    DispatchInstance,
    Job,
    Plan,
    Route,
    Sequences,
    Stop,
    Unassigned,
)
from routing._dispatch_prepare import prepare, relax_deadlines
from routing._dispatch_solvers import SOLVERS, eligible, solver_named
from routing.dispatch_check import Violation, check_plan
from twin.errors import HyperviseurError

__all__ = [
    "SOLVERS",
    "Crew",
    "DispatchInstance",
    "Job",
    "Plan",
    "PlanCheckFailed",
    "plan_dispatch",
    "previous_assignment",
    "schedule_plan",
]

log = logging.getLogger(__name__)
DEFAULT_SOLVER = "pyvrp"


class PlanCheckFailed(HyperviseurError):
    """A computed plan broke a constraint: a bug on our side, never returned to the caller."""

    http_status = 500

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        listed = "; ".join(v.message for v in violations[:5])
        super().__init__(
            f"the dispatch plan failed its feasibility check ({len(violations)} violations: {listed}); "
            "it was not saved — please report it"
        )

    def __reduce__(self) -> tuple[type[PlanCheckFailed], tuple[list[Violation]]]:
        # Raised in the solver's worker process and re-raised in the server: pickle the violations, not the text.
        return (PlanCheckFailed, (self.violations,))


def plan_dispatch(
    instance: DispatchInstance, *, time_budget_s: float = 5.0, solver: str = DEFAULT_SOLVER, seed: int = 0
) -> Plan:
    """Compute a checked plan: routes with ETAs for every crew, and the jobs left out with their reasons.

    Parameters
    ----------
    instance
        Crews, jobs and the travel-time matrix (closures already applied by whoever built it).
    time_budget_s
        Wall-clock time the solver may use (one thread).
    solver
        ``pyvrp`` (default), ``ortools`` or ``vroom``.
    seed
        Seed of the solver's random choices, for repeatable plans.

    Raises
    ------
    PlanCheckFailed
        If the plan breaks a constraint (a bug: it is logged and never returned).
    """
    began = time.perf_counter()
    problem, unassigned = prepare(instance)
    adapter = solver_named(solver)
    urgent = {j.id for j in problem.jobs if j.priority >= PRIORITY_URGENT}
    tight = {j for j in urgent if problem.deadline_s[j] < problem.instance.job(j).tw_end_s}
    first_budget = time_budget_s * (0.6 if tight else 1.0)
    sequences = adapter.solve(problem, time_limit_s=first_budget, seed=seed)
    missed = tight - {j for seq in sequences.values() for j in seq}
    if missed:
        # Several urgent jobs competed for the same crews: serve them later rather than not at all.
        sequences = adapter.solve(
            relax_deadlines(problem, missed), time_limit_s=time_budget_s - first_budget, seed=seed
        )
    plan = schedule_plan(
        instance,
        sequences,
        unassigned=unassigned,
        solver=adapter.name,
        time_budget_s=time_budget_s,
        solve_time_s=time.perf_counter() - began,
    )
    violations = check_plan(instance, plan)
    if violations:
        log.error("dispatch plan of %s failed its check: %s", adapter.name, violations)
        raise PlanCheckFailed(violations)
    return plan


def previous_assignment(plan: Plan) -> dict[str, str]:
    """Job id → crew id of a plan, to re-plan with minimal disruption (``DispatchInstance.previous``)."""
    return {stop.job: route.crew for route in plan.routes for stop in route.stops}


def schedule_plan(
    instance: DispatchInstance,
    sequences: Sequences,
    *,
    unassigned: Iterable[Unassigned] = (),
    solver: str = "",
    time_budget_s: float = 0.0,
    solve_time_s: float = 0.0,
) -> Plan:
    """Turn ordered job ids per crew into a timed plan, prefixing started jobs and dropping any job that would
    break a window, a skill, the capacity or the shift end (reported as ``no_room``)."""
    out = list(unassigned)
    routes = []
    seen = {u.job for u in out}
    for crew in instance.crews:
        seq = [j for j in sequences.get(crew.id, []) if j not in seen and j != crew.started_job]
        seen.update(seq)
        route, dropped = _schedule(instance, crew, seq)
        seen.difference_update(dropped)
        if route is not None:
            routes.append(route)
    started = {c.started_job for c in instance.crews}
    for job in instance.jobs:
        if job.id not in seen and job.id not in started:
            out.append(
                Unassigned(
                    job.id,
                    "no_room",
                    "every crew that could take it is busy with jobs of higher priority or nearer by; "
                    "add a crew, widen its window or extend a shift",
                )
            )
    plan = Plan(tuple(routes), tuple(out), solver, time_budget_s, solve_time_s)
    return Plan(plan.routes, plan.unassigned, solver, time_budget_s, solve_time_s, kpis(instance, plan))


def _schedule(instance: DispatchInstance, crew: Crew, seq: list[str]) -> tuple[Route | None, list[str]]:
    stops: list[Stop] = []
    place, t, load = crew.start, max(crew.shift_start_s, 0), 0
    if crew.started_job is not None:
        job = instance.job(crew.started_job)
        began = crew.started_at_s if crew.started_at_s is not None else 0
        stops.append(Stop(job.id, began, began, began + job.duration_s))
        place, t, load = job.node, max(began + job.duration_s, 0), job.demand
    leave = t if crew.started_job is None else stops[0].departure_s
    travel = 0
    dropped = []
    for job_id in seq:
        job = instance.job(job_id)
        going = instance.travel_s(place, job.node)
        arrival = t + going
        start = max(arrival, job.tw_start_s)
        done = start + job.duration_s
        back = instance.travel_s(job.node, crew.end)
        if (
            not eligible(crew, job)
            or going >= UNREACHABLE_S
            or back >= UNREACHABLE_S
            or start > job.tw_end_s
            or load + job.demand > crew.capacity
            or done + back > crew.shift_end_s
        ):
            dropped.append(job_id)
            continue
        stops.append(Stop(job.id, arrival, start, done))
        place, t, load, travel = job.node, done, load + job.demand, travel + going
    if not stops:
        return None, dropped
    travel += instance.travel_s(place, crew.end)
    return (
        Route(
            crew.id,
            tuple(stops),
            leave,
            t + instance.travel_s(place, crew.end),
            travel,
            _distance(instance, crew, stops),
        ),
        dropped,
    )


def _distance(instance: DispatchInstance, crew: Crew, stops: list[Stop]) -> float | None:
    if instance.distances_m is None:
        return None
    places = [instance.job(s.job).node for s in stops]
    first = crew.start if crew.started_job is None else places[0]
    path = [first, *places, crew.end]
    return float(sum(instance.distances_m[a, b] for a, b in zip(path, path[1:], strict=False)))


def kpis(instance: DispatchInstance, plan: Plan) -> dict[str, object]:
    """Figures of a plan for the console: service level (by priority), travel, waiting, makespan."""
    stops = [(r, s) for r in plan.routes for s in r.stops]
    urgent = [j for j in instance.jobs if j.priority >= PRIORITY_URGENT]
    served = {s.job for _, s in stops}
    by_priority = {
        str(p): {
            "jobs": sum(1 for j in instance.jobs if j.priority == p),
            "assigned": sum(1 for j in instance.jobs if j.priority == p and j.id in served),
        }
        for p in range(1, 6)
    }
    distances = [r.distance_m for r in plan.routes if r.distance_m is not None]
    return {
        "jobs": len(instance.jobs),
        "assigned": len(served),
        "unassigned": len(plan.unassigned),
        "urgent_assigned": sum(1 for j in urgent if j.id in served),
        "urgent_jobs": len(urgent),
        "by_priority": by_priority,
        "crews": len(instance.crews),
        "crews_used": len(plan.routes),
        "travel_s": plan.travel_s,
        "distance_m": round(sum(distances), 1) if distances else None,
        "wait_s": sum(s.start_s - s.arrival_s for _, s in stops),
        "makespan_s": max((r.end_s for r in plan.routes), default=0),
    }
