"""Feasibility checker of dispatch plans, written apart from the solvers and from the scheduler.

It recomputes every route from the instance alone (travel times, service durations, windows, shifts, skills,
capacities, started jobs) and lists each broken rule; an empty list means the plan is feasible.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing._dispatch_model import UNREACHABLE_S, DispatchInstance, Plan, Route


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``kind`` is a stable code (``time_window``, ``skill``…), ``message`` says where."""

    kind: str
    message: str
    crew: str | None = None
    job: str | None = None


def check_plan(instance: DispatchInstance, plan: Plan) -> list[Violation]:
    """Every constraint a plan must keep, verified independently of how it was computed.

    Examples
    --------
    >>> import numpy as np
    >>> from routing._dispatch_model import Crew, Job, Route, Stop
    >>> inst = DispatchInstance(
    ...     crews=(Crew("c", 0, 0, 0, 100, capacity=1),),
    ...     jobs=(Job("j", 1, 10, 0, 20),),
    ...     durations_s=np.array([[0, 5], [5, 0]]),
    ... )
    >>> late = Plan((Route("c", (Stop("j", 30, 30, 40),), 25, 45, 10),), (), "test", 0, 0)
    >>> [v.kind for v in check_plan(inst, late)]
    ['time_window']
    """
    out: list[Violation] = []
    jobs = {j.id: j for j in instance.jobs}
    crews = {c.id: c for c in instance.crews}
    where: dict[str, str] = {}

    def place(job_id: str, at: str) -> None:
        if job_id not in jobs:
            out.append(
                Violation(
                    "unknown_job", f"{at} names job {job_id!r}, which is not in the instance", job=job_id
                )
            )
        elif job_id in where:
            out.append(
                Violation(
                    "duplicate_job", f"job {job_id!r} appears in {where[job_id]} and in {at}", job=job_id
                )
            )
        else:
            where[job_id] = at

    for route in plan.routes:
        for stop in route.stops:
            place(stop.job, f"the route of crew {route.crew!r}")
    for item in plan.unassigned:
        place(item.job, "the unassigned list")
    for job_id in jobs.keys() - where.keys():
        out.append(
            Violation("missing_job", f"job {job_id!r} is neither in a route nor unassigned", job=job_id)
        )

    routed: dict[str, Route] = {}
    for route in plan.routes:
        if route.crew not in crews:
            out.append(
                Violation("unknown_crew", f"a route names crew {route.crew!r}, which is not in the instance")
            )
            continue
        if route.crew in routed:
            out.append(Violation("duplicate_crew", f"crew {route.crew!r} has two routes", crew=route.crew))
        routed[route.crew] = route
        out.extend(_check_route(instance, route))

    for crew in instance.crews:
        if crew.started_job is None:
            continue
        first = routed[crew.id].stops[:1] if crew.id in routed else ()
        if not first or first[0].job != crew.started_job:
            out.append(
                Violation(
                    "started_job_moved",
                    f"crew {crew.id!r} started job {crew.started_job!r} but its route does not begin with it",
                    crew=crew.id,
                    job=crew.started_job,
                )
            )
    return out


def _check_route(instance: DispatchInstance, route: Route) -> list[Violation]:
    out: list[Violation] = []
    crew = instance.crew(route.crew)
    jobs = {j.id: j for j in instance.jobs}
    stops = [s for s in route.stops if s.job in jobs]
    if not stops:
        return out

    def bad(kind: str, message: str, job: str | None = None) -> None:
        out.append(Violation(kind, f"crew {crew.id!r}: {message}", crew=crew.id, job=job))

    load = sum(jobs[s.job].demand for s in stops)
    if load > crew.capacity:
        bad("capacity", f"carries {load}, more than its capacity {crew.capacity}")
    position, clock, travel = crew.start, route.leave_s, 0
    if route.leave_s < crew.shift_start_s and crew.started_job is None:
        bad("shift_start", f"leaves at {route.leave_s}, before its shift starts at {crew.shift_start_s}")
    for k, stop in enumerate(stops):
        job = jobs[stop.job]
        if job.skill is not None and job.skill not in crew.skills:
            bad("skill", f"job {job.id!r} needs skill '{job.skill}', which the crew lacks", job.id)
        if k == 0 and crew.started_job == job.id:
            if crew.started_at_s is not None and stop.start_s != crew.started_at_s:
                bad(
                    "started_job_moved", f"started job {job.id!r} is shown starting at {stop.start_s}", job.id
                )
            if stop.departure_s != stop.start_s + job.duration_s:
                bad(
                    "eta",
                    f"job {job.id!r} ends at {stop.departure_s}, not start + {job.duration_s} s",
                    job.id,
                )
            position, clock = job.node, max(stop.departure_s, 0)
            if route.leave_s != stop.departure_s:
                bad("eta", f"leaves its started job at {route.leave_s}, not at {stop.departure_s}", job.id)
            continue
        if crew.started_job == job.id:
            bad("started_job_moved", f"started job {job.id!r} is not its first stop", job.id)
        going = instance.travel_s(position, job.node)
        if going >= UNREACHABLE_S:
            bad("unreachable_arc", f"no road leads to job {job.id!r} from its previous place", job.id)
        if stop.arrival_s != clock + going:
            bad(
                "eta",
                f"arrives at job {job.id!r} at {stop.arrival_s}, the matrix says {clock + going}",
                job.id,
            )
        expected_start = max(stop.arrival_s, job.tw_start_s)
        if stop.start_s != expected_start:
            bad("eta", f"starts job {job.id!r} at {stop.start_s}, expected {expected_start}", job.id)
        if stop.start_s > job.tw_end_s or stop.start_s < job.tw_start_s:
            bad(
                "time_window",
                f"starts job {job.id!r} at {stop.start_s}, outside its window [{job.tw_start_s}, {job.tw_end_s}]",
                job.id,
            )
        if stop.departure_s != stop.start_s + job.duration_s:
            bad("eta", f"leaves job {job.id!r} at {stop.departure_s}, not start + {job.duration_s} s", job.id)
        position, clock, travel = job.node, stop.departure_s, travel + going
    back = instance.travel_s(position, crew.end)
    if back >= UNREACHABLE_S:
        bad("unreachable_arc", "no road leads back to its end depot")
    if route.end_s != clock + back:
        bad("eta", f"ends at {route.end_s}, the matrix says {clock + back}")
    if clock + back > crew.shift_end_s:
        bad("shift_end", f"is back at {clock + back}, after its shift ends at {crew.shift_end_s}")
    if route.travel_s != travel + back:
        bad("eta", f"claims {route.travel_s} s of travel, the matrix says {travel + back}")
    return out
