"""Audit trail API for administrators: read entries, verify the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from twin.deps import Connection
from twin.security.audit import entry_as_dict, record_request_read, verify_chain
from twin.security.deps import require
from twin.security.permissions import Group

_MAX_LIMIT = 1000


def audit_router() -> APIRouter:
    router = APIRouter(
        prefix="/api/audit",
        tags=["Audit"],
        dependencies=[Depends(require(Group.AUDIT, session=True))],
    )

    @router.get("/entries", summary="Lire le journal d'audit")
    async def entries(
        conn: Connection,
        request: Request,
        start: Annotated[datetime | None, Query(alias="from", description="ISO 8601, inclusive")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="ISO 8601, exclusive")] = None,
        actor: Annotated[str | None, Query(max_length=200, description="exact actor")] = None,
        object: Annotated[
            str | None, Query(max_length=200, description="exact object, e.g. twin.buildings")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_LIMIT)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    ) -> dict[str, Any]:
        filters = {
            "from": start,
            "to": end,
            "actor": actor,
            "object": object,
            "limit": limit,
            "offset": offset,
        }
        # Who did what is personal data too: reading the trail leaves a trace in it.
        await record_request_read(
            conn, request, "audit.entries", {k: v for k, v in filters.items() if v is not None}
        )
        cur = await conn.execute(
            "SELECT id, at, actor, db_user, client_addr, action, object, object_id, before, after, details,"
            " prev_hash, hash FROM audit.entries"
            " WHERE (%(start)s::timestamptz IS NULL OR at >= %(start)s)"
            " AND (%(end)s::timestamptz IS NULL OR at < %(end)s)"
            " AND (%(actor)s::text IS NULL OR actor = %(actor)s)"
            " AND (%(object)s::text IS NULL OR object = %(object)s)"
            " ORDER BY id LIMIT %(limit)s OFFSET %(offset)s",
            {"start": start, "end": end, "actor": actor, "object": object, "limit": limit, "offset": offset},
        )
        rows = [entry_as_dict(r) for r in await cur.fetchall()]
        return {"entries": rows, "numberReturned": len(rows), "limit": limit, "offset": offset}

    @router.get("/verify", summary="Vérifier la chaîne du journal d'audit")
    async def verify(request: Request) -> dict[str, Any]:
        result = await run_in_threadpool(verify_chain, request.app.state.database_url)
        return {
            "ok": result.ok,
            "checked": result.checked,
            "head": {"id": result.head.id, "hash": result.head.hash} if result.head else None,
            "problems": [
                {"kind": p.kind, "first_id": p.first_id, "last_id": p.last_id, "message": p.message}
                for p in result.problems
            ],
        }

    return router
