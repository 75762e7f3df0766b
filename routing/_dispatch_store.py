"""Reading and writing schema ``dispatch`` (crews, jobs, plans, assignments) through the async pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from routing._dispatch_validate import CrewIn, JobIn
from twin.errors import InvalidInput, NotFound

Conn = AsyncConnection[dict[str, Any]]
_POINT = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)"
CREW_COLUMNS = (
    "c.id, c.territory_id, t.name AS territory, c.name, c.skills, c.capacity, c.shift_start, c.shift_end,"
    " ST_X(c.home) AS home_lon, ST_Y(c.home) AS home_lat, ST_X(c.position) AS pos_lon,"
    " ST_Y(c.position) AS pos_lat, c.position_updated_at, a.username AS account, c.account_id, c.active"
)
_CREWS = f"SELECT {CREW_COLUMNS} FROM dispatch.crews c JOIN twin.territory t ON t.id = c.territory_id LEFT JOIN auth.accounts a ON a.id = c.account_id"
JOB_COLUMNS = (
    "j.id, j.territory_id, t.name AS territory, ST_X(j.location) AS lon, ST_Y(j.location) AS lat, j.duration_s,"
    " j.required_skill, j.window_start, j.window_end, j.priority, j.demand, j.status, j.crew_id, j.started_at,"
    " j.incident_id, j.description, j.created_at, j.updated_at"
)
_JOBS = f"SELECT {JOB_COLUMNS} FROM dispatch.jobs j JOIN twin.territory t ON t.id = j.territory_id"


async def territory_of(conn: Conn, key: str | int) -> tuple[int, str]:
    """The id and name of the territory named or numbered ``key`` (name first)."""
    text = str(key)
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None
    cur = await conn.execute(
        "SELECT id, name FROM twin.territory WHERE name = %(k)s OR id = %(i)s ORDER BY name = %(k)s DESC LIMIT 1",
        {"k": text, "i": number},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no territory {key!r}: list them with GET /api/territories")
    return int(row["id"]), str(row["name"])


async def check_on_territory(
    conn: Conn, territory_id: int, name: str, lon: float, lat: float, what: str
) -> None:
    """Refuse a place outside the territory: its boundary, else the extent of its roads plus ~1 km."""
    cur = await conn.execute(
        "SELECT CASE WHEN t.boundary IS NOT NULL THEN ST_Covers(t.boundary, p.pt)"
        " ELSE ST_Covers(ST_SetSRID(ST_Expand((SELECT ST_Extent(n.geom) FROM twin.road_nodes n"
        "  WHERE n.territory_id = t.id)::geometry, 0.01), 4326), p.pt) END AS inside"
        f" FROM twin.territory t, (SELECT {_POINT} AS pt) p WHERE t.id = %s",
        (lon, lat, territory_id),
    )
    row = await cur.fetchone()
    if row is None or not row["inside"]:
        raise InvalidInput(
            f"{what} ({lon}, {lat}) is off territory '{name}' (outside its boundary or its road network): "
            "send lon/lat in WGS84 (EPSG:4326) inside the territory"
        )


async def account_id_of(conn: Conn, username: str | None) -> int | None:
    if username is None:
        return None
    cur = await conn.execute("SELECT id, role FROM auth.accounts WHERE username = %s", (username,))
    row = await cur.fetchone()
    if row is None:
        raise InvalidInput(f"no account {username!r}: create the crew's login first (POST /api/accounts)")
    if row["role"] != "crew":
        raise InvalidInput(
            f"account {username!r} has role {row['role']!r}; a crew signs in with a 'crew' account"
        )
    return int(row["id"])


async def crew_shifts_and_skills(
    conn: Conn, territory_id: int
) -> tuple[list[tuple[datetime, datetime]], set[str]]:
    cur = await conn.execute(
        "SELECT shift_start, shift_end, skills FROM dispatch.crews WHERE territory_id = %s AND active",
        (territory_id,),
    )
    rows = await cur.fetchall()
    return [(r["shift_start"], r["shift_end"]) for r in rows], {s for r in rows for s in r["skills"]}


async def insert_crew(conn: Conn, territory_id: int, body: CrewIn, account_id: int | None) -> int:
    cur = await conn.execute(
        "INSERT INTO dispatch.crews (territory_id, name, skills, capacity, shift_start, shift_end, home,"
        f" account_id, active) VALUES (%s, %s, %s, %s, %s, %s, {_POINT}, %s, %s) RETURNING id",
        (
            territory_id,
            body.name.strip(),
            sorted(set(body.skills)),
            body.capacity,
            body.shift_start,
            body.shift_end,
            body.home.lon,
            body.home.lat,
            account_id,
            body.active,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def crew_row(conn: Conn, crew_id: int) -> dict[str, Any]:
    cur = await conn.execute(f"{_CREWS} WHERE c.id = %s", (crew_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no crew {crew_id}: list them with GET /api/dispatch/crews")
    return row


async def crew_rows(
    conn: Conn, territory_id: int | None, *, active_only: bool = False
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"{_CREWS} WHERE (%(t)s::integer IS NULL OR c.territory_id = %(t)s)"
        " AND (NOT %(a)s OR c.active) ORDER BY c.id",
        {"t": territory_id, "a": active_only},
    )
    return list(await cur.fetchall())


async def crew_of_account(conn: Conn, account_id: int) -> dict[str, Any] | None:
    cur = await conn.execute(f"{_CREWS} WHERE c.account_id = %s", (account_id,))
    return await cur.fetchone()


async def update_crew(conn: Conn, crew_id: int, fields: dict[str, Any]) -> None:
    sets, params = [], []
    for name, value in fields.items():
        if name in ("home", "position"):
            sets.append(f"{name} = {_POINT}")
            params += [value["lon"], value["lat"]]
            if name == "position":
                sets.append("position_updated_at = now()")
        else:
            sets.append(f"{name} = %s")
            params.append(sorted(set(value)) if name == "skills" else value)
    if not sets:
        return
    try:
        await conn.execute(
            f"UPDATE dispatch.crews SET {', '.join(sets)}, updated_at = now() WHERE id = %s",
            (*params, crew_id),
        )
    except Exception as exc:  # a CHECK, e.g. the shift, refused the change
        raise _refused(exc) from exc


def _refused(exc: Exception) -> Exception:
    import psycopg.errors

    if isinstance(exc, psycopg.errors.CheckViolation | psycopg.errors.UniqueViolation):
        return InvalidInput(
            f"refused by the database: {exc.diag.message_primary} ({exc.diag.constraint_name})"
        )
    return exc


async def insert_job(conn: Conn, territory_id: int, body: JobIn) -> int:
    cur = await conn.execute(
        "INSERT INTO dispatch.jobs (territory_id, location, duration_s, required_skill, window_start, window_end,"
        f" priority, demand, incident_id, description) VALUES (%s, {_POINT}, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (
            territory_id,
            body.location.lon,
            body.location.lat,
            body.duration_s,
            body.required_skill,
            body.window_start,
            body.window_end,
            body.priority,
            body.demand,
            body.incident_id,
            body.description,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def job_row(conn: Conn, job_id: int) -> dict[str, Any]:
    cur = await conn.execute(f"{_JOBS} WHERE j.id = %s", (job_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no job {job_id}: list them with GET /api/dispatch/jobs")
    return row


async def job_rows(
    conn: Conn, territory_id: int | None, statuses: list[str] | None = None, *, limit: int = 1000
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        f"{_JOBS} WHERE (%(t)s::integer IS NULL OR j.territory_id = %(t)s)"
        " AND (%(s)s::text[] IS NULL OR j.status = ANY(%(s)s)) ORDER BY j.priority DESC, j.id LIMIT %(l)s",
        {"t": territory_id, "s": statuses, "l": limit},
    )
    return list(await cur.fetchall())


async def update_job(conn: Conn, job_id: int, fields: dict[str, Any]) -> None:
    if not fields:
        return
    sets = [f"{name} = %s" for name in fields]
    if fields.get("status") == "started":
        sets.append("started_at = coalesce(started_at, now())")
    try:
        await conn.execute(
            f"UPDATE dispatch.jobs SET {', '.join(sets)}, updated_at = now() WHERE id = %s",
            (*fields.values(), job_id),
        )
    except Exception as exc:
        raise _refused(exc) from exc


async def active_plan_id(conn: Conn, territory_id: int) -> int | None:
    cur = await conn.execute(
        "SELECT id FROM dispatch.plans WHERE territory_id = %s AND status = 'active'", (territory_id,)
    )
    row = await cur.fetchone()
    return int(row["id"]) if row else None


async def previous_assignment(conn: Conn, plan_id: int) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT job_id, crew_id FROM dispatch.assignments WHERE plan_id = %s", (plan_id,)
    )
    return {str(r["job_id"]): str(r["crew_id"]) for r in await cur.fetchall()}


async def save_plan(conn: Conn, row: dict[str, Any], stops: list[dict[str, Any]], *, apply: bool) -> int:
    """Store a plan and its stops; when applied it becomes the territory's active plan and jobs follow it."""
    if apply:
        await conn.execute(
            "UPDATE dispatch.plans SET status = 'superseded' WHERE territory_id = %s AND status = 'active'",
            (row["territory_id"],),
        )
    cur = await conn.execute(
        "INSERT INTO dispatch.plans (territory_id, created_by, kind, replaces, planned_at, solver, time_budget_s,"
        " objective, input, result, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            row["territory_id"],
            row["created_by"],
            row["kind"],
            row["replaces"],
            row["planned_at"],
            row["solver"],
            row["time_budget_s"],
            row["objective"],
            Jsonb(row["input"]),
            Jsonb(row["result"]),
            "active" if apply else "proposed",
        ),
    )
    plan = await cur.fetchone()
    assert plan is not None
    plan_id = int(plan["id"])
    if stops:
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO dispatch.assignments (plan_id, crew_id, job_id, sequence, eta, start_at, etd)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (plan_id, s["crew_id"], s["job_id"], s["sequence"], s["eta"], s["start_at"], s["etd"])
                    for s in stops
                ],
            )
    if apply:
        planned = [s["job_id"] for s in stops if not s["started"]]
        await conn.execute(
            "UPDATE dispatch.jobs j SET status = 'planned', crew_id = a.crew_id, updated_at = now()"
            " FROM dispatch.assignments a WHERE a.plan_id = %s AND a.job_id = j.id AND j.id = ANY(%s)"
            " AND (j.status <> 'planned' OR j.crew_id IS DISTINCT FROM a.crew_id)",
            (plan_id, planned),
        )
        await conn.execute(
            "UPDATE dispatch.jobs SET status = 'new', crew_id = NULL, updated_at = now()"
            " WHERE territory_id = %s AND status = 'planned' AND NOT (id = ANY(%s))",
            (row["territory_id"], planned),
        )
    return plan_id


async def plan_row(conn: Conn, plan_id: int) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT p.id, p.territory_id, t.name AS territory, p.created_at, p.created_by, p.kind, p.replaces,"
        " p.planned_at, p.solver, p.time_budget_s, p.objective, p.result, p.status"
        " FROM dispatch.plans p JOIN twin.territory t ON t.id = p.territory_id WHERE p.id = %s",
        (plan_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no plan {plan_id}: compute one with POST /api/dispatch/plan")
    return row


async def crew_stops(conn: Conn, plan_id: int, crew_id: int) -> list[dict[str, Any]]:
    """The crew's stops in a plan that are not done or cancelled, in order, with their jobs."""
    cur = await conn.execute(
        f"SELECT a.sequence, a.eta, a.start_at, a.etd, {JOB_COLUMNS} FROM dispatch.assignments a"
        " JOIN dispatch.jobs j ON j.id = a.job_id JOIN twin.territory t ON t.id = j.territory_id"
        " WHERE a.plan_id = %s AND a.crew_id = %s AND j.status NOT IN ('done', 'cancelled') ORDER BY a.sequence",
        (plan_id, crew_id),
    )
    return list(await cur.fetchall())


async def road_rows(conn: Conn, territory_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Crossings and arcs of a territory, for the stop-gap matrix when no resident graph is available."""
    nodes = await conn.execute(
        "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM twin.road_nodes WHERE territory_id = %s ORDER BY id",
        (territory_id,),
    )
    edges = await conn.execute(
        "SELECT source_node, target_node, travel_time_s FROM twin.road_edges WHERE territory_id = %s",
        (territory_id,),
    )
    return list(await nodes.fetchall()), list(await edges.fetchall())
