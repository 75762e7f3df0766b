"""Before the solver: which jobs can be tried at all (and why not), crew availability, deadlines and prizes."""

from __future__ import annotations

from routing._dispatch_model import (
    PRIORITY_URGENT,
    UNREACHABLE_S,
    DispatchInstance,
    Job,
    SolverInput,
    Unassigned,
)
from routing._dispatch_solvers import eligible


def _fixed_prefix(instance: DispatchInstance) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Where and when each crew becomes free, and the capacity it has left, after the job it has started."""
    start, ready, capacity = {}, {}, {}
    for crew in instance.crews:
        start[crew.id], ready[crew.id], capacity[crew.id] = (
            crew.start,
            max(crew.shift_start_s, 0),
            crew.capacity,
        )
        if crew.started_job is not None:
            job = instance.job(crew.started_job)
            began = crew.started_at_s if crew.started_at_s is not None else 0
            start[crew.id] = job.node
            ready[crew.id] = max(began + job.duration_s, 0)
            capacity[crew.id] = crew.capacity - job.demand
    return start, ready, capacity


def _reachable_start(instance: DispatchInstance, job: Job, place: int, ready: int, end: int) -> int | None:
    going, back = instance.travel_s(place, job.node), instance.travel_s(job.node, end)
    if going >= UNREACHABLE_S or back >= UNREACHABLE_S:
        return None
    return max(ready + going, job.tw_start_s)


def prepare(instance: DispatchInstance) -> tuple[SolverInput, list[Unassigned]]:
    """Split the jobs into those a solver should try and those no crew can take, each with its reason."""
    start, ready, capacity = _fixed_prefix(instance)
    started = {c.started_job for c in instance.crews if c.started_job is not None}
    tried: list[Job] = []
    out: list[Unassigned] = []
    deadline: dict[str, int] = {}
    for job in instance.jobs:
        if job.id in started:
            continue
        crews = [c for c in instance.crews if eligible(c, job)]
        if not crews:
            out.append(
                Unassigned(job.id, "no_crew_with_skill", f"no crew of the plan has the skill '{job.skill}'")
            )
            continue
        if job.tw_end_s < 0:
            out.append(Unassigned(job.id, "window_passed", "its time window closed before the plan's start"))
            continue
        if all(job.demand > capacity[c.id] for c in crews):
            out.append(
                Unassigned(
                    job.id,
                    "demand_exceeds_capacity",
                    f"its demand {job.demand} exceeds the capacity left of every crew with the skill",
                )
            )
            continue
        overlapping = [c for c in crews if job.tw_start_s <= c.shift_end_s and ready[c.id] <= job.tw_end_s]
        if not overlapping:
            out.append(
                Unassigned(
                    job.id,
                    "window_outside_shifts",
                    "its time window does not overlap the shift of any crew with the skill",
                )
            )
            continue
        starts = [_reachable_start(instance, job, start[c.id], ready[c.id], c.end) for c in overlapping]
        if all(s is None for s in starts):
            out.append(Unassigned(job.id, "unreachable", "no road leads there from any crew (closures?)"))
            continue
        fits = [
            s
            for c, s in zip(overlapping, starts, strict=True)
            if s is not None
            and s <= job.tw_end_s
            and s + job.duration_s + instance.travel_s(job.node, c.end) <= c.shift_end_s
        ]
        if not fits:
            out.append(
                Unassigned(
                    job.id,
                    "too_far_for_shift",
                    "no crew with the skill can reach it within its window and still end its shift on time",
                )
            )
            continue
        tried.append(job)
        deadline[job.id] = job.tw_end_s
        if job.priority >= PRIORITY_URGENT:
            deadline[job.id] = min(job.tw_end_s, min(fits) + instance.urgent_slack_s)
    return (
        SolverInput(
            instance=instance,
            jobs=tuple(tried),
            crew_start=start,
            crew_ready_s=ready,
            crew_capacity_left=capacity,
            deadline_s=deadline,
            prize=_prizes(instance, tried),
        ),
        out,
    )


def _prizes(instance: DispatchInstance, jobs: list[Job]) -> dict[str, int]:
    """Penalty for leaving a job out: always worth its detour, ×4 per priority level (urgent = 256× low)."""
    finite = instance.durations_s[instance.durations_s < UNREACHABLE_S]
    longest = int(finite.max()) if finite.size else 0
    base = 2 * (2 * longest + instance.reassign_cost_s) + 1
    return {j.id: base * 4 ** (min(5, max(1, j.priority)) - 1) for j in jobs}


def relax_deadlines(problem: SolverInput, job_ids: set[str]) -> SolverInput:
    """The same problem with the urgent deadline of ``job_ids`` back to their own window end."""
    deadline = dict(problem.deadline_s)
    for job in problem.jobs:
        if job.id in job_ids:
            deadline[job.id] = job.tw_end_s
    return SolverInput(
        instance=problem.instance,
        jobs=problem.jobs,
        crew_start=problem.crew_start,
        crew_ready_s=problem.crew_ready_s,
        crew_capacity_left=problem.crew_capacity_left,
        deadline_s=deadline,
        prize=problem.prize,
    )
