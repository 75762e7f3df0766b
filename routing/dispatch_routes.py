"""``/api/dispatch``: crews, jobs, plans and re-plans for planners; each crew's own jobs for its mobile page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from routing import _dispatch_store as store
from routing._dispatch_matrix import Matrix, engine_matrix, fallback_matrix
from routing._dispatch_service import (
    build_snapshot,
    input_document,
    places_of,
    plan_document,
    solve_in_worker,
)
from routing._dispatch_validate import (
    CrewIn,
    CrewPatch,
    CrewStatus,
    JobIn,
    JobPatch,
    JobStatus,
    PlanRequest,
    ReplanRequest,
    check_skill_known,
    check_window_overlaps_shifts,
    problem_fields,
)
from routing.dispatch_json import crew_json, job_json, my_jobs_document
from routing.routes import NOT_FOUND
from twin.deps import Connection
from twin.errors import Forbidden, InvalidInput, NotFound
from twin.security.audit import aset_actor, client_addr_of, principal_of
from twin.security.deps import require
from twin.security.permissions import Group

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _audited(conn: Connection, request: Request) -> None:
    await aset_actor(conn, principal_of(request), client_addr_of(request))


async def _resident_graph(request: Request, territory_id: int) -> Any:
    """The routing service's resident graph of the territory (live closures), None without the service."""
    service = getattr(request.app.state, "routing", None)
    if service is None or not hasattr(service, "graph"):
        return None
    return await service.graph(territory_id)


async def _matrix(
    request: Request, conn: Connection, territory_id: int, points: list[tuple[float, float]], at: datetime
) -> Matrix:
    # The routing engine's resident graph applies live closures; the stored arcs are a stop-gap without them.
    graph = await _resident_graph(request, territory_id)
    found = await run_in_threadpool(engine_matrix, graph, points, at=at)
    if found is not None:
        return found
    nodes, edges = await store.road_rows(conn, territory_id)
    return await run_in_threadpool(fallback_matrix, nodes, edges, points)


async def _compute(
    request: Request, conn: Connection, body: PlanRequest, *, kind: str, reassign_cost_s: int = 600
) -> dict[str, Any]:
    territory_id, territory = await store.territory_of(conn, body.territory)
    at = body.at or datetime.now(UTC)
    jobs = await store.job_rows(conn, territory_id, ["new", "planned", "started"], limit=5000)
    started_by = {j["crew_id"] for j in jobs if j["status"] == "started"}
    crews = [
        c
        for c in await store.crew_rows(conn, territory_id, active_only=True)
        if c["shift_end"] > at or c["id"] in started_by
    ]
    crew_ids = {c["id"] for c in crews}
    # A job started by a crew that is no longer active stays with it: not the planner's to move.
    jobs = [j for j in jobs if j["status"] != "started" or j["crew_id"] in crew_ids]
    replaces = await store.active_plan_id(conn, territory_id)
    previous = await store.previous_assignment(conn, replaces) if kind == "replan" and replaces else None
    points, where = places_of(crews, jobs, at)
    matrix = await _matrix(request, conn, territory_id, points, at) if crews else None
    if matrix is None:
        raise InvalidInput("no active crew on shift in this territory: create one (POST /api/dispatch/crews)")
    snapshot = build_snapshot(
        crews, jobs, at, matrix, points, where, previous=previous, reassign_cost_s=reassign_cost_s
    )
    plan = await solve_in_worker(
        request.app, snapshot.instance, time_budget_s=body.time_budget_s, solver=body.solver
    )
    document, stops = plan_document(snapshot, plan, matrix.source)
    row = {
        "territory_id": territory_id,
        "created_by": principal_of(request).actor,
        "kind": kind,
        "replaces": replaces,
        "planned_at": at,
        "solver": plan.solver,
        "time_budget_s": body.time_budget_s,
        "objective": plan.travel_s,
        "input": input_document(snapshot, matrix.source),
        "result": document,
    }
    async with conn.transaction():
        await _audited(conn, request)
        plan_id = await store.save_plan(conn, row, stops, apply=body.apply)
    status = "active" if body.apply else "proposed"
    return {
        "id": plan_id,
        "territory": territory,
        "kind": kind,
        "status": status,
        "replaces": replaces,
        **document,
    }


def dispatch_router() -> APIRouter:
    """Planner routes (group ``dispatch``) and the crew's own routes (group ``crew``)."""
    # Territories, crews, jobs and plans are named in paths and bodies: any dispatch call may answer 404.
    router = APIRouter(prefix="/api/dispatch", tags=["Dispatch"], responses=NOT_FOUND)
    planners = [Depends(require(Group.DISPATCH, session=True))]
    crews = [Depends(require(Group.CREW, session=True))]

    @router.get("/crews", summary="Lister les équipes", dependencies=planners)
    async def list_crews(
        conn: Connection, territory: Annotated[str | None, Query(max_length=200)] = None
    ) -> dict[str, Any]:
        tid = (await store.territory_of(conn, territory))[0] if territory else None
        return {"crews": [crew_json(r) for r in await store.crew_rows(conn, tid)]}

    @router.post("/crews", summary="Créer une équipe", status_code=201, dependencies=planners)
    async def create_crew(body: CrewIn, conn: Connection, request: Request) -> dict[str, Any]:
        tid, name = await store.territory_of(conn, body.territory)
        await store.check_on_territory(conn, tid, name, body.home.lon, body.home.lat, "home")
        async with conn.transaction():
            await _audited(conn, request)
            account_id = await store.account_id_of(conn, body.account)
            crew_id = await store.insert_crew(conn, tid, body, account_id)
        return crew_json(await store.crew_row(conn, crew_id))

    @router.get("/crews/{crew_id}", summary="Lire une équipe", dependencies=planners)
    async def get_crew(crew_id: Id, conn: Connection) -> dict[str, Any]:
        return crew_json(await store.crew_row(conn, crew_id))

    @router.patch("/crews/{crew_id}", summary="Modifier une équipe", dependencies=planners)
    async def patch_crew(crew_id: Id, body: CrewPatch, conn: Connection, request: Request) -> dict[str, Any]:
        crew = await store.crew_row(conn, crew_id)
        fields = problem_fields(body)
        for key in ("home", "position"):
            if fields.get(key) is not None:
                point = fields[key]
                await store.check_on_territory(
                    conn, crew["territory_id"], crew["territory"], point["lon"], point["lat"], key
                )
        async with conn.transaction():
            await _audited(conn, request)
            if "account" in fields:
                fields["account_id"] = await store.account_id_of(conn, fields.pop("account"))
            await store.update_crew(
                conn, crew_id, {k: v for k, v in fields.items() if v is not None or k == "account_id"}
            )
        return crew_json(await store.crew_row(conn, crew_id))

    @router.delete("/crews/{crew_id}", summary="Supprimer une équipe", status_code=204, dependencies=planners)
    async def delete_crew(crew_id: Id, conn: Connection, request: Request) -> Response:
        await store.crew_row(conn, crew_id)
        cur = await conn.execute(
            "SELECT id FROM dispatch.jobs WHERE crew_id = %s AND status = 'started' LIMIT 1", (crew_id,)
        )
        started = await cur.fetchone()
        if started is not None:
            # A started job keeps its crew (a CHECK of the schema): finish or cancel it first.
            raise InvalidInput(
                f"crew {crew_id} has a started job ({started['id']}): mark it done or cancelled before"
                " deleting the crew"
            )
        async with conn.transaction():
            await _audited(conn, request)
            await conn.execute("DELETE FROM dispatch.crews WHERE id = %s", (crew_id,))
        return Response(status_code=204)

    @router.get("/jobs", summary="Lister les interventions", dependencies=planners)
    async def list_jobs(
        conn: Connection,
        territory: Annotated[str | None, Query(max_length=200)] = None,
        status: Annotated[list[JobStatus] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> dict[str, Any]:
        tid = (await store.territory_of(conn, territory))[0] if territory else None
        return {
            "jobs": [
                job_json(r)
                for r in await store.job_rows(conn, tid, list(status) if status else None, limit=limit)
            ]
        }

    @router.post("/jobs", summary="Créer une intervention", status_code=201, dependencies=planners)
    async def create_job(body: JobIn, conn: Connection, request: Request) -> dict[str, Any]:
        tid, name = await store.territory_of(conn, body.territory)
        await store.check_on_territory(conn, tid, name, body.location.lon, body.location.lat, "location")
        shifts, skills = await store.crew_shifts_and_skills(conn, tid)
        check_window_overlaps_shifts(body, shifts)
        check_skill_known(body.required_skill, skills)
        async with conn.transaction():
            await _audited(conn, request)
            job_id = await store.insert_job(conn, tid, body)
        return job_json(await store.job_row(conn, job_id))

    @router.get("/jobs/{job_id}", summary="Lire une intervention", dependencies=planners)
    async def get_job(job_id: Id, conn: Connection) -> dict[str, Any]:
        return job_json(await store.job_row(conn, job_id))

    @router.patch("/jobs/{job_id}", summary="Modifier une intervention", dependencies=planners)
    async def patch_job(job_id: Id, body: JobPatch, conn: Connection, request: Request) -> dict[str, Any]:
        job = await store.job_row(conn, job_id)
        fields = {k: v for k, v in problem_fields(body).items() if v is not None}
        if fields.get("status") == "started" and not (fields.get("crew_id") or job["crew_id"]):
            raise InvalidInput("a started job needs the crew working on it: send crew_id")
        if "crew_id" in fields:
            crew = await store.crew_row(conn, fields["crew_id"])
            if crew["territory_id"] != job["territory_id"]:
                raise InvalidInput(
                    f"crew {crew['id']} works in territory '{crew['territory']}', not '{job['territory']}'"
                )
        start = fields.get("window_start", job["window_start"])
        end = fields.get("window_end", job["window_end"])
        if end < start:
            raise InvalidInput(
                f"impossible time window: window_end {end.isoformat()} is before window_start {start.isoformat()}"
            )
        async with conn.transaction():
            await _audited(conn, request)
            await store.update_job(conn, job_id, fields)
        return job_json(await store.job_row(conn, job_id))

    @router.delete(
        "/jobs/{job_id}", summary="Supprimer une intervention", status_code=204, dependencies=planners
    )
    async def delete_job(job_id: Id, conn: Connection, request: Request) -> Response:
        await store.job_row(conn, job_id)
        async with conn.transaction():
            await _audited(conn, request)
            await conn.execute("DELETE FROM dispatch.jobs WHERE id = %s", (job_id,))
        return Response(status_code=204)

    @router.post("/plan", summary="Calculer les tournées des équipes", dependencies=planners)
    async def plan(body: PlanRequest, conn: Connection, request: Request) -> dict[str, Any]:
        return await _compute(request, conn, body, kind="plan")

    @router.post("/replan", summary="Recalculer après une fermeture ou une urgence", dependencies=planners)
    async def replan(body: ReplanRequest, conn: Connection, request: Request) -> dict[str, Any]:
        return await _compute(request, conn, body, kind="replan", reassign_cost_s=body.reassign_cost_s)

    # Declared before /plans/{plan_id}: "active" is not a plan id.
    @router.get("/plans/active", summary="Lire le plan en vigueur d'un territoire", dependencies=planners)
    async def get_active_plan(
        conn: Connection, territory: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> dict[str, Any]:
        territory_id, name = await store.territory_of(conn, territory)
        plan_id = await store.active_plan_id(conn, territory_id)
        if plan_id is None:
            raise NotFound(f"no active plan in {name}: compute one with POST /api/dispatch/plan")
        return _plan_json(await store.plan_row(conn, plan_id))

    @router.get("/plans/{plan_id}", summary="Lire un plan", dependencies=planners)
    async def get_plan(plan_id: Id, conn: Connection) -> dict[str, Any]:
        return _plan_json(await store.plan_row(conn, plan_id))

    @router.get("/my-jobs", summary="Mes prochaines interventions", dependencies=crews)
    async def my_jobs(conn: Connection, request: Request) -> dict[str, Any]:
        crew = await _my_crew(conn, request)
        plan_id = await store.active_plan_id(conn, crew["territory_id"])
        stops = await store.crew_stops(conn, plan_id, crew["id"]) if plan_id else []
        graph = await _resident_graph(request, crew["territory_id"]) if stops else None
        return await run_in_threadpool(my_jobs_document, crew, plan_id, stops, graph)

    @router.post(
        "/my-jobs/{job_id}/status",
        summary="Signaler le début ou la fin d'une intervention",
        dependencies=crews,
    )
    async def my_job_status(
        job_id: Id, body: CrewStatus, conn: Connection, request: Request
    ) -> dict[str, Any]:
        crew = await _my_crew(conn, request)
        job = await store.job_row(conn, job_id)
        plan_id = await store.active_plan_id(conn, crew["territory_id"])
        mine = job["crew_id"] == crew["id"] or (
            plan_id is not None
            and any(s["id"] == job_id for s in await store.crew_stops(conn, plan_id, crew["id"]))
        )
        if not mine:
            raise NotFound(f"job {job_id} is not in your plan: see GET /api/dispatch/my-jobs")
        allowed = {"started": ("new", "planned"), "done": ("started",)}[body.status]
        if job["status"] not in allowed:
            raise InvalidInput(f"job {job_id} is {job['status']}: it cannot become {body.status}")
        async with conn.transaction():
            await _audited(conn, request)
            await store.update_job(conn, job_id, {"status": body.status, "crew_id": crew["id"]})
        return job_json(await store.job_row(conn, job_id))

    return router


def _plan_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "territory", "kind", "status", "replaces", "created_by")
    return {**{k: row[k] for k in keys}, "created_at": row["created_at"].isoformat(), **row["result"]}


async def _my_crew(conn: Connection, request: Request) -> dict[str, Any]:
    principal = principal_of(request)
    if principal.account_id is None:
        raise Forbidden("sign in with your crew's account")
    crew = await store.crew_of_account(conn, principal.account_id)
    if crew is None:
        raise NotFound(
            f"no crew is linked to account '{principal.username}': a planner sets it "
            '(PATCH /api/dispatch/crews/{id} with {"account": …})'
        )
    return crew
