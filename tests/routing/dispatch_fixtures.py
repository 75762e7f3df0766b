"""Dispatch test inputs: a hand-made line of places, Monaco interventions on its stored roads, fingerprints."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

from routing._dispatch_matrix import fallback_matrix
from routing._dispatch_model import UNREACHABLE_S, Crew, DispatchInstance, Job
from tests.common import database_fingerprint

DISPATCH_TABLES = ("crews", "jobs", "plans", "assignments")
SKILLS = ("plomberie", "electricite", "voirie")


def line_instance(**kw: Any) -> DispatchInstance:
    """Places 0..5 on a line, 60 s apart; place 0 is the depot of two crews (8 h shifts)."""
    n = 6
    durations = np.array([[60 * abs(i - j) for j in range(n)] for i in range(n)], dtype=np.int64)
    crews = kw.pop(
        "crews",
        (
            Crew("a", 0, 0, 0, 8 * 3600, capacity=10, skills=frozenset({"plomberie"})),
            Crew("b", 0, 0, 0, 8 * 3600, capacity=10, skills=frozenset({"electricite"})),
        ),
    )
    jobs = kw.pop(
        "jobs",
        tuple(
            Job(f"j{i}", i, 600, 0, 8 * 3600, skill="plomberie" if i % 2 else "electricite", demand=1)
            for i in range(1, n)
        ),
    )
    return DispatchInstance(crews, jobs, durations, **kw)


def dispatch_fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Twin tables and the dispatch tables: equal fingerprints = unchanged data."""
    result = database_fingerprint(url)
    with psycopg.connect(url) as conn:
        for table in DISPATCH_TABLES:
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                f" FROM dispatch.{table} t"
            ).fetchone()
            assert row is not None
            result[f"dispatch.{table}"] = (int(row[0]), str(row[1]))
    return result


def monaco_places(url: str, territory: str = "Monaco") -> dict[str, Any]:
    """Monaco's id, a few building centroids (depots) and critical sites / buildings (job places)."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        tid = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (territory,)).fetchone()["id"]
        sites = conn.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat"
            " FROM twin.critical_sites WHERE territory_id = %s ORDER BY id LIMIT 12",
            (tid,),
        ).fetchall()
        buildings = conn.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat"
            " FROM twin.buildings WHERE territory_id = %s AND area_m2 > 200 ORDER BY id LIMIT 40",
            (tid,),
        ).fetchall()
        nodes = conn.execute(
            "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM twin.road_nodes WHERE territory_id = %s",
            (tid,),
        ).fetchall()
        edges = conn.execute(
            "SELECT id, source_node, target_node, travel_time_s FROM twin.road_edges WHERE territory_id = %s",
            (tid,),
        ).fetchall()
    places = [(r["lon"], r["lat"]) for r in sites + buildings]
    return {"territory_id": tid, "places": places, "nodes": nodes, "edges": edges}


def monaco_instance(
    places: dict[str, Any], *, seed: int = 6, n_jobs: int = 24, edges=None
) -> DispatchInstance:  # type: ignore[no-untyped-def]
    """Three crews (one per skill, two with a second skill) from three depots, ``n_jobs`` interventions at
    critical sites and buildings, 4 h shifts, windows of 1–4 h, priorities 1–5; matrix by scipy Dijkstra on
    the stored arcs (``edges`` overrides them, e.g. with an arc removed)."""
    rng = random.Random(seed)
    points = places["places"][: 3 + n_jobs]
    matrix = fallback_matrix(places["nodes"], places["edges"] if edges is None else edges, points)
    crews = (
        Crew("c1", 0, 0, 0, 4 * 3600, capacity=8, skills=frozenset({"plomberie", "voirie"})),
        Crew("c2", 1, 1, 0, 4 * 3600, capacity=8, skills=frozenset({"electricite"})),
        Crew("c3", 2, 2, 0, 4 * 3600, capacity=8, skills=frozenset({"voirie", "electricite"})),
    )
    jobs = []
    for k in range(n_jobs):
        start = rng.choice([0, 0, 1800, 3600])
        jobs.append(
            Job(
                f"m{k}",
                3 + k,
                rng.choice([600, 900, 1200]),
                start,
                start + rng.choice([3600, 7200, 14400]),
                priority=rng.choice([1, 2, 3, 3, 4, 5]),
                demand=rng.choice([0, 1, 2]),
                skill=rng.choice(SKILLS),
            )
        )
    return DispatchInstance(crews, tuple(jobs), matrix.durations_s)


def reachable(instance: DispatchInstance) -> bool:
    return bool((instance.durations_s < UNREACHABLE_S).all())


def walk_crew(url: str, territory_id: int) -> int:
    """A crew on shift now (±4 h) in the route walk's territory (near Strasbourg), for routes that need one."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO dispatch.crews (territory_id, name, skills, capacity, shift_start, shift_end, home)"
            " VALUES (%s, 'walk-' || md5(random()::text), '{voirie}', 5, now() - interval '4 hours',"
            " now() + interval '4 hours', ST_SetSRID(ST_MakePoint(7.7501, 48.5801), 4326)) RETURNING id",
            (territory_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def walk_job(url: str, territory_id: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO dispatch.jobs (territory_id, location, duration_s, required_skill, window_start,"
            " window_end) VALUES (%s, ST_SetSRID(ST_MakePoint(7.7519, 48.5801), 4326), 600, 'voirie', now(),"
            " now() + interval '3 hours') RETURNING id",
            (territory_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def walk_job_body(url: str, territory_id: int) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    walk_crew(url, territory_id)
    now = datetime.now(UTC)
    return {
        "territory": territory_id,
        "location": {"lon": 7.7515, "lat": 48.5805},
        "duration_s": 600,
        "required_skill": "voirie",
        "window_start": now.isoformat(),
        "window_end": (now + timedelta(hours=2)).isoformat(),
    }


def walk_crew_body(territory_id: int) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {
        "territory": territory_id,
        "name": f"walk-new-{random.getrandbits(32):08x}",
        "skills": ["voirie"],
        "shift_start": now.isoformat(),
        "shift_end": (now + timedelta(hours=8)).isoformat(),
        "home": {"lon": 7.7501, "lat": 48.5801},
    }
