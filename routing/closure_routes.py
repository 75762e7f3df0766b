"""HTTP routes of live closures and slowdowns: create, list, lift (``/api/routing/closures``).

Writes are audited (``routing.closures`` is an audited table; the actor is the signed-in account) and
NOTIFY every server process; this process applies the change before answering, so the caller's next
request already routes around it.
"""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from routing._validate import validate_closure_body
from routing.closures import SELECT_SQL, closure_from_row
from routing.routes import NOT_FOUND, service_of
from twin.deps import Connection
from twin.errors import InvalidInput, NotFound
from twin.security.audit import aset_actor, client_addr_of
from twin.security.deps import CurrentPrincipal, require
from twin.security.permissions import Group

_INSERT = """
INSERT INTO routing.closures (territory_id, kind, travel_time_factor, edge_ids, area, incident_id, profiles,
                              valid_from, valid_until, reason, created_by)
VALUES (%(territory_id)s, %(kind)s, %(travel_time_factor)s, %(edge_ids)s,
        ST_SetSRID(ST_GeomFromWKB(%(area)s), 4326), %(incident_id)s, %(profiles)s,
        %(valid_from)s, %(valid_until)s, %(reason)s, %(created_by)s)
RETURNING id
"""


def closures_router() -> APIRouter:
    router = APIRouter(prefix="/api/routing/closures", tags=["routing"], responses=NOT_FOUND)

    @router.get(
        "", summary="Closures and slowdowns of a territory", dependencies=[Depends(require(Group.ROUTING))]
    )
    async def list_closures(
        request: Request,
        conn: Connection,
        territory: Annotated[str, Query(min_length=1, max_length=200)],
        active: Annotated[bool, Query(description="only those in force now")] = False,
        incident_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        graph = await service_of(request).graph(territory)
        where, params = " WHERE territory_id = %s", [str(graph.territory_id)]
        if active:
            where += " AND valid_from <= now() AND (valid_until IS NULL OR valid_until > now())"
        if incident_id is not None:
            where += " AND incident_id = %s"
            params.append(incident_id)
        cur = await conn.execute(SELECT_SQL + where + " ORDER BY id", params)
        resolved = {c.id: c for c in graph.closures}
        closures = []
        for row in await cur.fetchall():
            closure = resolved.get(int(row["id"])) or closure_from_row(row)
            closures.append(closure.as_json())
        return {"territory": graph.network.name, "closures": closures}

    @router.post(
        "",
        summary="Close roads or slow them down",
        status_code=201,
        dependencies=[Depends(require(Group.CLOSURES))],
    )
    async def create_closure(
        request: Request, conn: Connection, principal: CurrentPrincipal, body: Annotated[Any, Body()]
    ) -> JSONResponse:
        values = validate_closure_body(body)
        service = service_of(request)
        graph = await service.graph(values.pop("territory"))
        if values["edge_ids"]:
            cur = await conn.execute(
                "SELECT coalesce(array_agg(id), '{}') AS ids FROM twin.road_edges"
                " WHERE territory_id = %s AND id = ANY(%s)",
                (graph.territory_id, values["edge_ids"]),
            )
            found = set((await cur.fetchone() or {"ids": []})["ids"])
            missing = [e for e in values["edge_ids"] if e not in found]
            if missing:
                raise InvalidInput(
                    f"edge_ids not in territory {graph.network.name}: {missing[:20]}; "
                    "send ids of twin.road_edges (GET /ogc/collections/road_edges/items)"
                )
        area = values["area"]
        if area is not None and not len(_arcs_meeting(graph, area)):
            raise InvalidInput(
                f"the area meets no road of territory {graph.network.name}; check its position"
            )
        values.update(
            territory_id=graph.territory_id,
            area=shapely.to_wkb(area) if area is not None else None,
            created_by=principal.actor,
        )
        async with conn.transaction():
            await aset_actor(conn, principal, client_addr_of(request))
            cur = await conn.execute(_INSERT, values)
            new_id = int((await cur.fetchone())["id"])  # type: ignore[index]
        await service.reload_closures()  # applied here before answering; other processes get the NOTIFY
        closure = next(c for c in service.graphs[graph.territory_id].closures if c.id == new_id)
        return JSONResponse(closure.as_json(), status_code=201)

    @router.delete(
        "/{closure_id}",
        summary="Lift a closure or slowdown",
        status_code=204,
        dependencies=[Depends(require(Group.CLOSURES))],
    )
    async def delete_closure(
        request: Request, conn: Connection, principal: CurrentPrincipal, closure_id: int
    ) -> Response:
        if not 0 < closure_id < 2**63:
            raise NotFound(f"no closure {closure_id}")
        async with conn.transaction():
            await aset_actor(conn, principal, client_addr_of(request))
            cur = await conn.execute(
                "DELETE FROM routing.closures WHERE id = %s RETURNING territory_id", (closure_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no closure {closure_id}; GET /api/routing/closures?territory=… lists them")
        await service_of(request).reload_closures()
        return Response(status_code=204)

    return router


def _arcs_meeting(graph: Any, area: shapely.Geometry) -> Any:
    return shapely.STRtree(graph.network.geometry).query(area, predicate="intersects")
