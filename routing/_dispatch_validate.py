"""Validation of what the dispatch API receives: request bodies, and the rules that need the territory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from twin.errors import InvalidInput

MAX_TIME_BUDGET_S = 30.0
JobStatus = Literal["new", "planned", "started", "done", "cancelled"]
# The API runs the chosen solver only: OR-Tools and VROOM are benchmark peers (bench extra, not installed in
# production), reached through plan_dispatch(solver=) by benchmarks/bench_dispatch.py.
SOLVER_NAMES = Literal["pyvrp"]


def _skill(value: str) -> str:
    value = value.strip().lower()
    if not value or len(value) > 100 or "\x00" in value:
        raise ValueError("a skill is 1 to 100 characters")
    return value


Skill = Annotated[str, AfterValidator(_skill)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: Lon
    lat: Lat


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (e.g. 2026-11-26T08:00:00+01:00)")


class CrewIn(BaseModel):
    """A new crew: its shift, depot and what it can do."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")
    name: str = Field(min_length=1, max_length=200)
    skills: list[Skill] = Field(default_factory=list, max_length=50)
    capacity: int = Field(default=0, ge=0, le=1_000_000)
    shift_start: datetime
    shift_end: datetime
    home: Point
    account: str | None = Field(default=None, max_length=64, description="username of the crew's login")
    active: bool = True

    @model_validator(mode="after")
    def _shift(self) -> CrewIn:
        _aware(self.shift_start, "shift_start")
        _aware(self.shift_end, "shift_end")
        if self.shift_end <= self.shift_start:
            raise ValueError(
                f"impossible shift: shift_end {self.shift_end.isoformat()} is not after "
                f"shift_start {self.shift_start.isoformat()}"
            )
        return self


class CrewPatch(BaseModel):
    """Fields of a crew to change; ``position`` is the crew's live position (mobile page, AVL)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    skills: list[Skill] | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=1_000_000)
    shift_start: datetime | None = None
    shift_end: datetime | None = None
    home: Point | None = None
    position: Point | None = None
    account: str | None = Field(default=None, max_length=64)
    active: bool | None = None

    @model_validator(mode="after")
    def _zones(self) -> CrewPatch:
        _aware(self.shift_start, "shift_start")
        _aware(self.shift_end, "shift_end")
        return self


class JobIn(BaseModel):
    """A new job: where, how long, which skill, when service may start, how urgent (5 = urgent)."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt  # a JSON true is not territory 1
    location: Point
    duration_s: int = Field(ge=0, le=86_400)
    required_skill: Skill | None = None
    window_start: datetime
    window_end: datetime
    priority: int = Field(default=3, ge=1, le=5)
    demand: int = Field(default=0, ge=0, le=1_000_000)
    incident_id: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _window(self) -> JobIn:
        _aware(self.window_start, "window_start")
        _aware(self.window_end, "window_end")
        if self.window_end < self.window_start:
            raise ValueError(
                f"impossible time window: window_end {self.window_end.isoformat()} is before "
                f"window_start {self.window_start.isoformat()}"
            )
        return self


class JobPatch(BaseModel):
    """Fields of a job to change. ``status: started`` needs the crew working on it (``crew_id``)."""

    model_config = ConfigDict(extra="forbid")
    status: JobStatus | None = None
    crew_id: int | None = Field(default=None, ge=1)
    priority: int | None = Field(default=None, ge=1, le=5)
    window_start: datetime | None = None
    window_end: datetime | None = None
    duration_s: int | None = Field(default=None, ge=0, le=86_400)
    description: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _zones(self) -> JobPatch:
        _aware(self.window_start, "window_start")
        _aware(self.window_end, "window_end")
        return self


class CrewStatus(BaseModel):
    """What a crew reports from its mobile page about one of its jobs."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["started", "done"]


class PlanRequest(BaseModel):
    """Compute (and by default apply) a plan for a territory's open jobs and active crews."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt  # a JSON true is not territory 1
    time_budget_s: float = Field(default=5.0, gt=0, le=MAX_TIME_BUDGET_S)
    solver: SOLVER_NAMES = "pyvrp"
    at: datetime | None = Field(default=None, description="epoch of the plan (default: now)")
    apply: bool = Field(default=True, description="make it the territory's active plan")

    @model_validator(mode="after")
    def _zone(self) -> PlanRequest:
        _aware(self.at, "at")
        return self


class ReplanRequest(PlanRequest):
    """Re-plan after a closure or an urgent job: started jobs stay first, other jobs move only if worth it."""

    reason: str = Field(default="", max_length=500)
    reassign_cost_s: int = Field(default=600, ge=0, le=86_400)


def check_window_overlaps_shifts(job: JobIn, shifts: list[tuple[datetime, datetime]]) -> None:
    """A job whose window meets no active crew's shift could never be served: refuse it now."""
    if not shifts:
        raise InvalidInput("the territory has no active crew: create one first (POST /api/dispatch/crews)")
    if not any(job.window_start <= end and start <= job.window_end for start, end in shifts):
        first = min(s for s, _ in shifts).isoformat()
        last = max(e for _, e in shifts).isoformat()
        raise InvalidInput(
            f"impossible time window: [{job.window_start.isoformat()}, {job.window_end.isoformat()}] lies "
            f"outside every active crew's shift (shifts run between {first} and {last}); widen the window "
            "or add a crew whose shift covers it"
        )


def check_skill_known(skill: str | None, known: set[str]) -> None:
    if skill is not None and skill not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"unknown skill '{skill}': no crew of this territory has it (skills of its crews: {listed})"
        )


def problem_fields(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)
