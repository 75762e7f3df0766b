"""``/health``: is the database reachable and is its schema at the current migration?"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from twin.db import head_revision


def health_router() -> APIRouter:
    router = APIRouter(tags=["Santé"])

    @router.get("/health", summary="État du service")
    async def health(request: Request) -> JSONResponse:
        head = head_revision()
        try:
            async with request.app.state.pool.connection(timeout=3) as conn:
                cur = await conn.execute("SELECT version_num FROM public.alembic_version")
                row = await cur.fetchone()
            current = row[0] if row else None
        except Exception as exc:  # any database failure makes the service unhealthy, and says why
            return JSONResponse(
                {"status": "error", "database": "unreachable or not migrated", "detail": str(exc)},
                status_code=503,
            )
        ok = current == head
        return JSONResponse(
            {
                "status": "ok" if ok else "error",
                "database": "reachable",
                "migration": {"current": current, "head": head, "up_to_date": ok},
            },
            status_code=200 if ok else 503,
        )

    return router
