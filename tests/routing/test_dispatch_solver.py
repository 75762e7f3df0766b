"""Crew dispatch without the database: Solomon's instances, re-planning, urgency, skills, closures, reasons.

Every plan below went through ``plan_dispatch``, which refuses to return a plan its checker rejects; the tests
check it again so that a failure names the broken rule.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.solomon import BKS, gap_pct, solomon_by_name, solomon_files, solomon_instance, total_length
from routing._dispatch_model import UNREACHABLE_S, Crew, Job
from routing.dispatch import plan_dispatch, previous_assignment
from routing.dispatch_check import check_plan
from tests.routing.dispatch_fixtures import line_instance

SOLOMON = solomon_files()


def _checked(instance, **kw):  # type: ignore[no-untyped-def]
    plan = plan_dispatch(instance, **kw)
    assert check_plan(instance, plan) == []
    return plan


@pytest.mark.skipif(not SOLOMON, reason="Solomon instances not on this machine (../shared/data/vrptw)")
def test_every_solomon_plan_passes_the_checker_at_a_short_budget():
    """All 56 instances at 0.2 s: feasible, each customer served once or reported, within the fleet."""
    assert len(SOLOMON) == 56
    for path in SOLOMON:
        solomon = solomon_instance(path)
        plan = _checked(solomon.instance, time_budget_s=0.2)
        assert len(plan.routes) <= solomon.vehicles
        served = [s.job for r in plan.routes for s in r.stops]
        assert len(served) == len(set(served))
        assert len(served) + len(plan.unassigned) == 100


@pytest.mark.skipif(not SOLOMON, reason="Solomon instances not on this machine")
@pytest.mark.parametrize(
    ("name", "bound_pct"), [("C101", 0.5), ("R101", 3.0), ("RC201", 5.0), ("R205", 10.0)]
)
def test_solomon_plans_are_near_the_optimum_at_5_s(name, bound_pct):
    """Gap to the proven optimum (DIMACS convention) at a 5 s budget; measured gaps are in docs/dispatch.md."""
    solomon = solomon_by_name(name)
    plan = _checked(solomon.instance, time_budget_s=5)
    assert not plan.unassigned
    length = total_length(plan.travel_s)
    gap = gap_pct(length, BKS[name][1])
    assert -1e-9 <= gap <= bound_pct, f"{name}: {length} vs optimum {BKS[name][1]} ({gap:.2f} %)"


@pytest.mark.skipif(not SOLOMON, reason="Solomon instances not on this machine")
@pytest.mark.parametrize("solver", ["ortools", "vroom"])
def test_the_other_adapters_give_checked_plans(solver):
    solomon = solomon_by_name("RC201")
    plan = _checked(solomon.instance, time_budget_s=1, solver=solver)
    assert plan.solver == solver and not plan.unassigned


def test_skills_decide_which_crew_takes_a_job():
    instance = line_instance()
    plan = _checked(instance, time_budget_s=0.3)
    assert not plan.unassigned
    for route in plan.routes:
        crew = instance.crew(route.crew)
        assert all(instance.job(s.job).skill in crew.skills for s in route.stops)


def test_jobs_no_crew_can_take_are_reported_with_their_reason():
    jobs = (
        Job("ok", 1, 600, 0, 3600, skill="plomberie"),
        Job("skill", 2, 600, 0, 3600, skill="soudure"),
        Job("late", 3, 600, 9 * 3600, 10 * 3600, skill="plomberie"),
        Job("heavy", 4, 600, 0, 3600, skill="plomberie", demand=50),
        Job("passed", 5, 600, -7200, -3600, skill="plomberie"),
        Job("cut_off", 5, 600, 0, 3600, skill="electricite"),
    )
    durations = np.array([[60 * abs(i - j) for j in range(6)] for i in range(6)], dtype=np.int64)
    durations[:, 5] = UNREACHABLE_S
    durations[5, 5] = 0
    instance = dataclasses.replace(line_instance(jobs=jobs), durations_s=durations)
    plan = _checked(instance, time_budget_s=0.3)
    reasons = {u.job: u.reason for u in plan.unassigned}
    assert reasons == {
        "skill": "no_crew_with_skill",
        "late": "window_outside_shifts",
        "heavy": "demand_exceeds_capacity",
        "passed": "window_passed",
        "cut_off": "unreachable",
    }
    assert [s.job for r in plan.routes for s in r.stops] == ["ok"]


def test_an_urgent_job_is_served_first_and_dropped_last():
    """One crew, too many jobs for its shift: the urgent job is served, and right away."""
    crews = (Crew("a", 0, 0, 0, 3000, capacity=100, skills=frozenset({"plomberie"})),)
    jobs = tuple(Job(f"j{i}", i, 900, 0, 3000, priority=2, skill="plomberie") for i in range(1, 5))
    jobs += (Job("urgent", 5, 900, 0, 3000, priority=5, skill="plomberie"),)
    plan = _checked(line_instance(crews=crews, jobs=jobs), time_budget_s=0.5)
    stops = plan.routes[0].stops
    assert stops[0].job == "urgent"
    assert "urgent" not in {u.job for u in plan.unassigned}
    assert plan.kpis["urgent_assigned"] == 1


def test_replanning_keeps_started_jobs_first_and_moves_little():
    instance = line_instance()
    first = _checked(instance, time_budget_s=0.3)
    crew_a = first.route_of("a")
    assert crew_a is not None
    started = crew_a.stops[-1].job  # the crew began its last job in the plan, out of order
    crews = tuple(
        dataclasses.replace(c, started_job=started, started_at_s=120) if c.id == "a" else c
        for c in instance.crews
    )
    urgent = Job("new-urgent", 2, 300, 0, 8 * 3600, priority=5, skill="electricite")
    again = dataclasses.replace(
        instance, crews=crews, jobs=(*instance.jobs, urgent), previous=previous_assignment(first)
    )
    second = _checked(again, time_budget_s=0.3)
    route_a = second.route_of("a")
    assert route_a is not None and route_a.stops[0].job == started and route_a.stops[0].start_s == 120
    before, after = previous_assignment(first), previous_assignment(second)
    assert all(after[j] == crew for j, crew in before.items() if j in after)
    route_b = second.route_of("b")
    assert route_b is not None and route_b.stops[0].job == "new-urgent"


def test_a_closure_that_cuts_the_shortest_road_changes_the_plan():
    """Through the matrix: crew a is next to the job; with the road between them closed (the engine's matrix
    then goes round through place 2), crew b, from the other side, is nearer and takes it."""
    open_roads = np.array([[0, 60, 100, 180], [60, 0, 60, 120], [100, 60, 0, 100], [180, 120, 100, 0]])
    closed_road = open_roads.copy()
    closed_road[0, 1] = closed_road[1, 0] = 160
    closed_road[0, 3] = closed_road[3, 0] = 200
    crews = (Crew("a", 0, 0, 0, 3600, capacity=9), Crew("b", 3, 3, 0, 3600, capacity=9))
    jobs = (Job("leak", 1, 60, 0, 3600),)
    base = line_instance(crews=crews, jobs=jobs)
    before = _checked(dataclasses.replace(base, durations_s=open_roads), time_budget_s=0.2)
    after = _checked(dataclasses.replace(base, durations_s=closed_road), time_budget_s=0.2)
    assert [r.crew for r in before.routes] == ["a"]
    assert [r.crew for r in after.routes] == ["b"]


@pytest.fixture(scope="module")
def monaco(monaco_url):  # type: ignore[no-untyped-def]
    from tests.routing.dispatch_fixtures import monaco_places

    return monaco_places(monaco_url)


def test_monaco_interventions_give_checked_plans_and_closures_reroute(monaco):
    """Three crews, 24 interventions at Monaco's critical sites and buildings (matrix: scipy Dijkstra on the
    stored arcs). Closing every arc into the crossing nearest one job's place changes the plan."""
    from tests.routing.dispatch_fixtures import monaco_instance

    instance = monaco_instance(monaco)
    plan = _checked(instance, time_budget_s=1)
    assert plan.kpis["assigned"] >= 12
    urgent = [j.id for j in instance.jobs if j.priority == 5]
    served = {s.job for r in plan.routes for s in r.stops}
    assert all(j in served for j in urgent) or plan.kpis["urgent_assigned"] >= len(urgent) - 1
    # Close the crossing nearest to the first served job: its travel times change, so does the plan.
    target = next(iter(served))
    node_place = monaco["places"][instance.job(target).node]
    nearest = min(
        monaco["nodes"], key=lambda n: (n["lon"] - node_place[0]) ** 2 + (n["lat"] - node_place[1]) ** 2
    )
    kept = [
        e for e in monaco["edges"] if e["target_node"] != nearest["id"] and e["source_node"] != nearest["id"]
    ]
    closed = monaco_instance(monaco, edges=kept)
    assert (closed.durations_s != instance.durations_s).any()
    again = _checked(closed, time_budget_s=1)
    assert previous_assignment(again) != previous_assignment(plan) or again.travel_s != plan.travel_s
