"""Thin adapters from a dispatch problem to the VRP solver libraries (PyVRP, OR-Tools, VROOM).

Each adapter receives the same :class:`SolverInput` (eligible jobs, crew availability, deadlines, prizes) and
returns the ordered job ids of each crew; scheduling, repair and checking happen outside, once for all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict

import numpy as np

from routing._dispatch_model import UNREACHABLE_S, Crew, Job, Sequences, SolverInput


def eligible(crew: Crew, job: Job) -> bool:
    """Whether the crew has the skill the job requires."""
    return job.skill is None or job.skill in crew.skills


class DispatchSolver(ABC):
    """One solver library behind one method; ``time_limit_s`` is wall-clock, one thread."""

    name: str

    @abstractmethod
    def solve(self, problem: SolverInput, *, time_limit_s: float, seed: int = 0) -> Sequences: ...


def _places(problem: SolverInput) -> tuple[list[int], dict[int, int]]:
    """Matrix places of the depots (crew starts and ends, each once), then of the jobs, in solver order."""
    depots: dict[int, int] = {}
    for crew in problem.instance.crews:
        for place in (problem.crew_start[crew.id], crew.end):
            depots.setdefault(place, len(depots))
    return [*depots, *(j.node for j in problem.jobs)], depots


def _sub_matrix(problem: SolverInput, nodes: list[int]) -> np.ndarray:
    sub = np.asarray(problem.instance.durations_s, dtype=np.float64)[np.ix_(nodes, nodes)]
    sub = np.where(np.isfinite(sub), sub, UNREACHABLE_S)
    return np.minimum(np.rint(sub), UNREACHABLE_S).astype(np.int64)


def crew_cost_columns(problem: SolverInput, crew: Crew, base: np.ndarray, first_job: int) -> np.ndarray:
    """The arc costs of one crew: travel seconds, plus the re-assignment cost on arcs into a job another
    crew had in the previous plan, and an unreachable cost into a job whose skill the crew lacks."""
    cost = base.copy()
    previous = problem.instance.previous
    for k, job in enumerate(problem.jobs):
        col = first_job + k
        if not eligible(crew, job):
            cost[:, col] = UNREACHABLE_S
        elif job.id in previous and previous[job.id] != crew.id:
            cost[:, col] = np.minimum(cost[:, col] + problem.instance.reassign_cost_s, UNREACHABLE_S)
    np.fill_diagonal(cost, 0)
    return cost


class PyVRPSolver(DispatchSolver):
    """PyVRP's iterated local search; skills and re-assignment costs as one routing profile per kind of crew."""

    name = "pyvrp"

    def solve(self, problem: SolverInput, *, time_limit_s: float, seed: int = 0) -> Sequences:
        from pyvrp import Client, Depot, Location, ProblemData, VehicleType
        from pyvrp import solve as pyvrp_solve
        from pyvrp.stop import MaxRuntime

        if not problem.jobs:
            return {}
        nodes, depots = _places(problem)
        base = _sub_matrix(problem, nodes)
        first_job = len(depots)
        profiles: dict[tuple[object, ...], int] = {}
        matrices: list[np.ndarray] = []
        durations: list[np.ndarray] = []
        types: dict[tuple[int, int, int, int, int, int], list[str]] = defaultdict(list)
        for crew in problem.instance.crews:
            mask = tuple(eligible(crew, j) for j in problem.jobs)
            owner = crew.id if problem.instance.previous else None
            key = (mask, owner)
            if key not in profiles:
                profiles[key] = len(matrices)
                cost = crew_cost_columns(problem, crew, base, first_job)
                matrices.append(cost)
                duration = base.copy()
                duration[:, first_job:][:, [not m for m in mask]] = UNREACHABLE_S
                np.fill_diagonal(duration, 0)
                durations.append(duration)
            vt_key = (
                depots[problem.crew_start[crew.id]],
                depots[crew.end],
                problem.crew_ready_s[crew.id],
                crew.shift_end_s,
                problem.crew_capacity_left[crew.id],
                profiles[key],
            )
            types[vt_key].append(crew.id)
        vehicle_types = [
            VehicleType(
                num_available=len(crews),
                capacity=[cap],
                start_depot=start,
                end_depot=end,
                tw_early=ready,
                tw_late=max(ready, shift_end),
                profile=profile,
            )
            for (start, end, ready, shift_end, cap, profile), crews in types.items()
        ]
        clients = [
            Client(
                location=first_job + k,
                delivery=[job.demand],
                service_duration=job.duration_s,
                tw_early=max(0, job.tw_start_s),
                tw_late=max(0, problem.deadline_s[job.id]),
                prize=problem.prize[job.id],
                required=False,
            )
            for k, job in enumerate(problem.jobs)
        ]
        data = ProblemData(
            [Location(float(i), 0.0) for i in range(len(nodes))],
            clients,
            [Depot(location=i) for i in range(first_job)],
            vehicle_types,
            matrices,  # type: ignore[arg-type]  # pyvrp's stubs spell the shape as int
            durations,  # type: ignore[arg-type]
        )
        result = pyvrp_solve(data, MaxRuntime(time_limit_s), seed=seed, collect_stats=False, display=False)
        crews_of_type = [list(c) for c in types.values()]
        out: Sequences = {}
        for route in result.best.routes():
            crew_id = crews_of_type[route.vehicle_type()].pop(0)
            out[crew_id] = [problem.jobs[a.idx].id for a in route.schedule() if a.is_client()]
        return out


def solver_named(name: str) -> DispatchSolver:
    """The adapter of one library: ``pyvrp`` (the default), ``ortools`` or ``vroom``."""
    if name == "pyvrp":
        return PyVRPSolver()
    if name == "ortools":
        from routing._dispatch_ortools import ORToolsSolver

        return ORToolsSolver()
    if name == "vroom":
        from routing._dispatch_vroom import VroomSolver

        return VroomSolver()
    raise ValueError(f"unknown solver {name!r}; use one of {', '.join(SOLVERS)}")


SOLVERS = ("pyvrp", "ortools", "vroom")
