"""The feasibility checker catches each kind of broken plan: valid plans mutated one rule at a time."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.solomon import solomon_by_name, solomon_files
from routing._dispatch_model import Plan, Route, Stop
from routing.dispatch import plan_dispatch
from routing.dispatch_check import check_plan
from tests.routing.dispatch_fixtures import line_instance


@pytest.fixture(scope="module")
def line():  # type: ignore[no-untyped-def]
    instance = line_instance()
    plan = plan_dispatch(instance, time_budget_s=0.3)
    assert check_plan(instance, plan) == []
    return instance, plan


def _kinds(instance, plan) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.kind for v in check_plan(instance, plan)}


def _with_route(plan: Plan, index: int, route: Route) -> Plan:
    routes = list(plan.routes)
    routes[index] = route
    return dataclasses.replace(plan, routes=tuple(routes))


def _retimed(instance, crew_id: str, jobs: list[str], leave: int) -> Route:  # type: ignore[no-untyped-def]
    """A route with honest ETAs for the given order (earliest start), whatever the windows say."""
    crew = instance.crew(crew_id)
    place, t, travel, stops = crew.start, leave, 0, []
    for job_id in jobs:
        job = instance.job(job_id)
        arrival = t + instance.travel_s(place, job.node)
        start = max(arrival, job.tw_start_s)
        stops.append(Stop(job_id, arrival, start, start + job.duration_s))
        travel += instance.travel_s(place, job.node)
        place, t = job.node, start + job.duration_s
    back = instance.travel_s(place, crew.end)
    return Route(crew_id, tuple(stops), leave, t + back, travel + back)


@pytest.mark.skipif(not solomon_files(), reason="Solomon instances not on this machine")
def test_swapping_two_stops_breaks_a_time_window():
    solomon = solomon_by_name("C101")  # tight windows: almost any swap makes a crew late
    plan = plan_dispatch(solomon.instance, time_budget_s=0.5)
    index, route = next((k, r) for k, r in enumerate(plan.routes) if len(r.stops) >= 4)
    order = [s.job for s in route.stops]
    order[0], order[-1] = order[-1], order[0]
    broken = _with_route(plan, index, _retimed(solomon.instance, route.crew, order, route.leave_s))
    assert "time_window" in _kinds(solomon.instance, broken)


def test_exceeding_the_capacity_is_named(line):
    instance, plan = line
    smaller = dataclasses.replace(
        instance, crews=tuple(dataclasses.replace(c, capacity=1) for c in instance.crews)
    )
    assert "capacity" in _kinds(smaller, plan)


def test_a_job_given_to_a_crew_without_its_skill_is_named(line):
    instance, plan = line
    route = plan.routes[0]
    other = next(c for c in instance.crews if c.id != route.crew)
    moved = _with_route(plan, 0, dataclasses.replace(route, crew=other.id))
    kinds = _kinds(instance, moved)
    assert "skill" in kinds


def test_a_job_in_two_routes_or_in_none_is_named(line):
    instance, plan = line
    first, second = plan.routes[0], plan.routes[1]
    twice = _with_route(
        plan,
        1,
        _retimed(instance, second.crew, [*(s.job for s in second.stops), first.stops[0].job], second.leave_s),
    )
    assert "duplicate_job" in _kinds(instance, twice)
    dropped = _with_route(
        plan, 0, _retimed(instance, first.crew, [s.job for s in first.stops[1:]], first.leave_s)
    )
    assert _kinds(instance, dropped) == {"missing_job"}


def test_a_started_job_that_is_not_kept_first_is_named(line):
    instance, plan = line
    route = plan.routes[0]
    crews = tuple(
        dataclasses.replace(c, started_job=route.stops[-1].job, started_at_s=0) if c.id == route.crew else c
        for c in instance.crews
    )
    assert "started_job_moved" in _kinds(dataclasses.replace(instance, crews=crews), plan)


def test_ending_after_the_shift_and_wrong_etas_are_named(line):
    instance, plan = line
    route = plan.routes[0]
    short = tuple(
        dataclasses.replace(c, shift_end_s=route.end_s - 1) if c.id == route.crew else c
        for c in instance.crews
    )
    assert "shift_end" in _kinds(dataclasses.replace(instance, crews=short), plan)
    first = route.stops[0]
    shifted = dataclasses.replace(first, arrival_s=first.arrival_s + 5)
    wrong = _with_route(plan, 0, dataclasses.replace(route, stops=(shifted, *route.stops[1:])))
    assert "eta" in _kinds(instance, wrong)
