"""``/api/dispatch`` through a real server on Monaco: crews, jobs, plans, re-plans, the crew's page, bad input.

Interventions are placed at Monaco's critical sites and buildings; travel times come from the routing
engine when it is available, else from the stop-gap Dijkstra on the stored arcs (the plan says which).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.layers.ogc_fixtures import Caller, serve_app, server_settings, signed_in
from tests.routing.dispatch_fixtures import dispatch_fingerprint, monaco_places
from twin.app import create_app

NOW = datetime.now(UTC).replace(microsecond=0)


def dispatch_app(url: str) -> Any:
    """The app as ``create_app`` builds it, with the dispatch router mounted if the app does not do it yet."""
    from routing.dispatch_routes import dispatch_router

    app = create_app(server_settings(url))
    if not any(getattr(r, "path", "").startswith("/api/dispatch") for r in app.routes):
        app.include_router(dispatch_router())
    return app


@pytest.fixture(scope="module")
def server(monaco_url: str) -> Iterator[str]:
    with serve_app(dispatch_app(monaco_url)) as url:
        yield url


@pytest.fixture(scope="module")
def people(monaco_url: str) -> dict[str, Caller]:
    return {role: signed_in(monaco_url, role) for role in ("planner", "crew", "analyst")}


@pytest.fixture(scope="module")
def places(monaco_url: str) -> dict[str, Any]:
    return monaco_places(monaco_url)


def _post(server: str, caller: Caller, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server}{path}", json=body, headers=caller.headers, timeout=60)


def _crew(name: str, place: tuple[float, float], skills: list[str], **kw: Any) -> dict[str, Any]:
    return {
        "territory": "Monaco",
        "name": name,
        "skills": skills,
        "capacity": 10,
        "shift_start": (NOW - timedelta(minutes=10)).isoformat(),
        "shift_end": (NOW + timedelta(hours=4)).isoformat(),
        "home": {"lon": place[0], "lat": place[1]},
        **kw,
    }


def _job(place: tuple[float, float], skill: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "territory": "Monaco",
        "location": {"lon": place[0], "lat": place[1]},
        "duration_s": 900,
        "required_skill": skill,
        "window_start": NOW.isoformat(),
        "window_end": (NOW + timedelta(hours=3)).isoformat(),
        "priority": 3,
        **kw,
    }


def _refused(server, caller, path, body, monaco_url, words) -> None:  # type: ignore[no-untyped-def]
    before = dispatch_fingerprint(monaco_url)
    response = _post(server, caller, path, body)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert all(w in detail for w in words), detail
    assert dispatch_fingerprint(monaco_url) == before


def test_dispatch_end_to_end(server, people, places, monaco_url):
    planner, crew_login = people["planner"], people["crew"]
    p = places["places"]
    # No crew yet: planning and job creation say so, and change nothing.
    _refused(
        server,
        planner,
        "/api/dispatch/plan",
        {"territory": "Monaco", "time_budget_s": 1},
        monaco_url,
        ["no active crew"],
    )
    _refused(server, planner, "/api/dispatch/jobs", _job(p[5], None), monaco_url, ["no active crew"])
    crews = [
        _post(
            server,
            planner,
            "/api/dispatch/crews",
            _crew("Équipe Plomberie", p[0], ["plomberie", "voirie"], account=crew_login.username),
        ),
        _post(server, planner, "/api/dispatch/crews", _crew("Équipe Électricité", p[1], ["electricite"])),
        _post(
            server, planner, "/api/dispatch/crews", _crew("Équipe Voirie", p[2], ["voirie", "Electricite"])
        ),
    ]
    assert [c.status_code for c in crews] == [201, 201, 201], [c.text for c in crews]
    assert crews[2].json()["skills"] == ["electricite", "voirie"]
    skills = ["plomberie", "electricite", "voirie"]
    jobs = [
        _post(server, planner, "/api/dispatch/jobs", _job(p[3 + k], skills[k % 3], priority=1 + k % 4))
        for k in range(12)
    ]
    assert all(j.status_code == 201 for j in jobs), [j.text for j in jobs if j.status_code != 201]

    plan = _post(server, planner, "/api/dispatch/plan", {"territory": "Monaco", "time_budget_s": 2})
    assert plan.status_code == 200, plan.text
    doc = plan.json()
    assert (
        doc["checked"]
        and doc["status"] == "active"
        and doc["matrix_source"] in ("engine", "fallback_dijkstra")
    )
    assert doc["kpis"]["assigned"] + doc["kpis"]["unassigned"] == 12
    crew_skills = {c.json()["id"]: set(c.json()["skills"]) for c in crews}
    job_skill = {j.json()["id"]: j.json()["required_skill"] for j in jobs}
    for route in doc["routes"]:
        etas = [s["eta"] for s in route["stops"]]
        assert etas == sorted(etas)
        assert all(job_skill[s["job_id"]] in crew_skills[route["crew_id"]] for s in route["stops"])
    stored = httpx.get(f"{server}/api/dispatch/plans/{doc['id']}", headers=planner.headers).json()
    assert stored["routes"] == doc["routes"]

    # The crew's page: its next jobs in order and the way to the first one.
    mine = httpx.get(f"{server}/api/dispatch/my-jobs", headers=crew_login.headers, timeout=30)
    assert mine.status_code == 200, mine.text
    page = mine.json()
    my_route = next((r for r in doc["routes"] if r["crew_id"] == crews[0].json()["id"]), None)
    assert [j["id"] for j in page["jobs"]] == [s["job_id"] for s in (my_route["stops"] if my_route else [])]
    if page["jobs"]:
        leg = page["next_leg"]
        assert leg["geometry"]["type"] == "LineString" and leg["properties"]["geometry_kind"] in (
            "road",
            "straight_line",
        )
        first = page["jobs"][0]["id"]
        started = _post(server, crew_login, f"/api/dispatch/my-jobs/{first}/status", {"status": "started"})
        assert started.status_code == 200 and started.json()["status"] == "started", started.text

    # An urgent job appears: the re-plan keeps the started job first and serves the urgent one first after it.
    urgent = _post(server, planner, "/api/dispatch/jobs", _job(p[20], "voirie", priority=5, duration_s=600))
    assert urgent.status_code == 201, urgent.text
    again = _post(
        server,
        planner,
        "/api/dispatch/replan",
        {"territory": "Monaco", "time_budget_s": 2, "reason": "fuite"},
    )
    assert again.status_code == 200, again.text
    redo = again.json()
    assert redo["kind"] == "replan" and redo["replaces"] == doc["id"]
    urgent_id = urgent.json()["id"]
    holder = next(r for r in redo["routes"] if any(s["job_id"] == urgent_id for s in r["stops"]))
    position = [s["job_id"] for s in holder["stops"]].index(urgent_id)
    assert position == (1 if holder["stops"][0]["started"] else 0)
    if page["jobs"]:
        mine_again = next(r for r in redo["routes"] if r["crew_id"] == crews[0].json()["id"])
        assert mine_again["stops"][0]["job_id"] == page["jobs"][0]["id"] and mine_again["stops"][0]["started"]
    old = httpx.get(f"{server}/api/dispatch/plans/{doc['id']}", headers=planner.headers).json()
    assert old["status"] == "superseded"


@pytest.mark.parametrize(
    ("path", "change", "words"),
    [
        (
            "/api/dispatch/jobs",
            {"window_end": (NOW - timedelta(hours=1)).isoformat()},
            ["impossible time window", "before"],
        ),
        (
            "/api/dispatch/jobs",
            {
                "window_start": (NOW + timedelta(days=2)).isoformat(),
                "window_end": (NOW + timedelta(days=2, hours=1)).isoformat(),
            },
            ["impossible time window", "outside every active crew's shift"],
        ),
        ("/api/dispatch/jobs", {"required_skill": "soudure"}, ["unknown skill 'soudure'"]),
        ("/api/dispatch/jobs", {"duration_s": -60}, ["duration_s", "greater than or equal to 0"]),
        ("/api/dispatch/jobs", {"location": {"lon": 2.35, "lat": 48.85}}, ["off territory 'Monaco'"]),
        ("/api/dispatch/jobs", {"priority": 9}, ["priority"]),
        ("/api/dispatch/plan", {"time_budget_s": 31}, ["time_budget_s"]),
        ("/api/dispatch/plan", {"time_budget_s": -1}, ["time_budget_s"]),
        ("/api/dispatch/crews", {"shift_end": (NOW - timedelta(hours=1)).isoformat()}, ["impossible shift"]),
        ("/api/dispatch/crews", {"home": {"lon": 7.0, "lat": 43.0}}, ["off territory 'Monaco'"]),
        ("/api/dispatch/crews", {"account": "nobody-here"}, ["no account 'nobody-here'"]),
    ],
)
def test_bad_input_is_refused_naming_the_problem_and_changes_nothing(
    server, people, places, monaco_url, path, change, words
):
    planner = people["planner"]
    p = places["places"]
    if not httpx.get(
        f"{server}/api/dispatch/crews", params={"territory": "Monaco"}, headers=planner.headers
    ).json()["crews"]:
        assert (
            _post(server, planner, "/api/dispatch/crews", _crew("Équipe Test", p[0], ["voirie"])).status_code
            == 201
        )
    base = {
        "/api/dispatch/jobs": _job(p[4], "voirie"),
        "/api/dispatch/plan": {"territory": "Monaco", "time_budget_s": 1},
        "/api/dispatch/crews": _crew("Équipe Refusée", p[0], ["voirie"]),
    }[path]
    _refused(server, planner, path, {**base, **change}, monaco_url, words)


def test_roles_outside_dispatch_are_refused(server, people):
    for who in ("crew", "analyst"):
        response = _post(
            server, people[who], "/api/dispatch/plan", {"territory": "Monaco", "time_budget_s": 1}
        )
        assert response.status_code == 403, response.text
    assert httpx.get(f"{server}/api/dispatch/my-jobs", headers=people["analyst"].headers).status_code == 403
    assert httpx.get(f"{server}/api/dispatch/my-jobs").status_code == 401
