"""The crew-dispatch problem and its answer as plain data: crews, jobs, a travel-time matrix, plans.

Times are whole seconds counted from the plan's epoch (the moment it is computed for); places are row/column
indices of the travel-time matrix. Nothing here knows about the database, HTTP or a solver library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A duration at or above this is "no path" (a closure cut the place off): no solver may use the arc.
UNREACHABLE_S = 10**9
PRIORITY_URGENT = 5


@dataclass(frozen=True)
class Crew:
    """A crew (one vehicle) with its shift, depots, skills and capacity.

    ``started_job``/``started_at_s`` name a job the crew is working on: it finishes it first (fixed prefix),
    from the job's place, before any other stop.
    """

    id: str
    start: int
    end: int
    shift_start_s: int
    shift_end_s: int
    capacity: int = 0
    skills: frozenset[str] = frozenset()
    started_job: str | None = None
    started_at_s: int | None = None
    name: str = ""


@dataclass(frozen=True)
class Job:
    """An intervention: where, how long, which skill, when (service starts within the window), how urgent."""

    id: str
    node: int
    duration_s: int
    tw_start_s: int
    tw_end_s: int
    priority: int = 3
    demand: int = 0
    skill: str | None = None


@dataclass(frozen=True)
class DispatchInstance:
    """Everything a plan is computed from; ``durations_s`` is the travel time between matrix places.

    ``previous`` maps job ids to the crew that had them in the plan being revised: re-planning pays
    ``reassign_cost_s`` (in travel seconds) for each job it moves to another crew (minimal disruption).
    Urgent jobs (priority 5) must start within ``urgent_slack_s`` of the earliest moment any eligible crew
    can reach them, unless several urgent jobs compete for the same crews.
    """

    crews: tuple[Crew, ...]
    jobs: tuple[Job, ...]
    durations_s: np.ndarray
    distances_m: np.ndarray | None = None
    previous: Mapping[str, str] = field(default_factory=dict)
    reassign_cost_s: int = 600
    urgent_slack_s: int = 900

    def job(self, job_id: str) -> Job:
        return self._jobs_by_id()[job_id]

    def crew(self, crew_id: str) -> Crew:
        return {c.id: c for c in self.crews}[crew_id]

    def _jobs_by_id(self) -> dict[str, Job]:
        return {j.id: j for j in self.jobs}

    def travel_s(self, a: int, b: int) -> int:
        return int(self.durations_s[a, b])


@dataclass(frozen=True)
class Stop:
    """One job in a crew's route: arrival (ETA), start of service (after waiting for the window), ETD."""

    job: str
    arrival_s: int
    start_s: int
    departure_s: int


@dataclass(frozen=True)
class Route:
    crew: str
    stops: tuple[Stop, ...]
    leave_s: int
    end_s: int
    travel_s: int
    distance_m: float | None = None


@dataclass(frozen=True)
class Unassigned:
    """A job left out of the plan, with a reason code and a sentence saying what would make it fit."""

    job: str
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    solver: str
    time_budget_s: float
    solve_time_s: float
    kpis: dict[str, Any] = field(default_factory=dict)

    @property
    def travel_s(self) -> int:
        return sum(r.travel_s for r in self.routes)

    def route_of(self, crew_id: str) -> Route | None:
        return next((r for r in self.routes if r.crew == crew_id), None)


@dataclass(frozen=True)
class SolverInput:
    """What an adapter solves: the jobs worth trying, each crew's availability after its fixed prefix,
    per-job deadlines (urgent jobs tightened) and prizes (penalties for leaving a job out)."""

    instance: DispatchInstance
    jobs: tuple[Job, ...]
    crew_start: dict[str, int]  # matrix place where the crew becomes free
    crew_ready_s: dict[str, int]  # when it becomes free
    crew_capacity_left: dict[str, int]
    deadline_s: dict[str, int]
    prize: dict[str, int]


# A solver's answer before scheduling: the ordered job ids of each crew (fixed prefixes excluded).
Sequences = dict[str, list[str]]
