"""The composition root: ``create_app(settings)`` wires the kernel and every domain package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from twin import __version__
from twin.db import database_url
from twin.errors import HyperviseurError
from twin.health import health_router
from twin.settings import Settings


def _error_body(status: int, title: str, detail: str) -> dict[str, object]:
    # RFC 9457 problem details, the shape OGC API exceptions use too.
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": title}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HyperviseurError)
    async def _domain_error(_: Request, exc: HyperviseurError) -> JSONResponse:
        return JSONResponse(
            _error_body(exc.http_status, type(exc).__name__, str(exc)),
            status_code=exc.http_status,
            media_type="application/problem+json",
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {err.get('msg')} (got {err.get('input')!r})")
        return JSONResponse(
            _error_body(400, "InvalidParameterValue", "; ".join(problems)),
            status_code=400,
            media_type="application/problem+json",
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Hyperviseur application; nothing connects until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            database_url(settings.database),
            min_size=settings.database.pool_min_size,
            max_size=settings.database.pool_max_size,
            open=False,
            kwargs={"autocommit": True},
        )
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Hyperviseur",
        version=__version__,
        description="Hyperviseur territorial : le jumeau numérique du territoire, en direct.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    _install_error_handlers(app)
    app.include_router(health_router())
    _include_domain_routers(app)
    return app


def _include_domain_routers(app: FastAPI) -> None:
    from layers.api import layers_routers

    for router in layers_routers():
        app.include_router(router)
