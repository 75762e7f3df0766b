"""VROOM adapter (pyvroom): skills and priorities are native, re-assignment costs a cost matrix per crew."""

from __future__ import annotations

from datetime import timedelta

from routing._dispatch_model import Sequences, SolverInput
from routing._dispatch_solvers import DispatchSolver, _places, _sub_matrix, crew_cost_columns


class VroomSolver(DispatchSolver):
    """VROOM at its highest exploration level, one thread, stopped by its own timeout.

    VROOM serves as many jobs as it can, highest ``priority`` (0–100) first, then minimises cost: our
    priorities 1–5 map to 0, 25, 50, 75, 100; it has no prizes, so a job is never dropped to save travel.
    """

    name = "vroom"

    def solve(self, problem: SolverInput, *, time_limit_s: float, seed: int = 0) -> Sequences:
        import vroom

        if not problem.jobs:
            return {}
        nodes, depots = _places(problem)
        base = _sub_matrix(problem, nodes)
        first_job = len(depots)
        skills = {s: i for i, s in enumerate(sorted({j.skill for j in problem.jobs if j.skill}))}
        vrp = vroom.Input()
        crews = problem.instance.crews
        profiles: dict[bytes, str] = {}
        for v, crew in enumerate(crews):
            cost = crew_cost_columns(problem, crew, base, first_job)
            key = cost.tobytes()
            if key not in profiles:
                profiles[key] = f"p{len(profiles)}"
                vrp.set_durations_matrix(profiles[key], base)
                vrp.set_costs_matrix(profiles[key], cost)
            ready = problem.crew_ready_s[crew.id]
            vrp.add_vehicle(
                vroom.Vehicle(
                    v,
                    start=depots[problem.crew_start[crew.id]],
                    end=depots[crew.end],
                    profile=profiles[key],
                    capacity=[max(0, problem.crew_capacity_left[crew.id])],
                    skills={skills[s] for s in crew.skills if s in skills},
                    time_window=vroom.TimeWindow(ready, max(ready, crew.shift_end_s)),
                )
            )
        for k, job in enumerate(problem.jobs):
            early = max(0, job.tw_start_s)
            vrp.add_job(
                vroom.Job(
                    k,
                    location=first_job + k,
                    default_service=job.duration_s,
                    delivery=[job.demand],
                    skills={skills[job.skill]} if job.skill else set(),
                    priority=25 * (min(5, max(1, job.priority)) - 1),
                    time_windows=[vroom.TimeWindow(early, max(early, problem.deadline_s[job.id]))],
                )
            )
        solution = vrp.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=time_limit_s))
        routes = solution.routes
        out: Sequences = {}
        for row in routes[routes["type"] == "job"].itertuples():
            out.setdefault(crews[int(row.vehicle_id)].id, []).append(problem.jobs[int(row.id)].id)
        return out
