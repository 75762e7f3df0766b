"""The composition root: ``create_app(settings)`` wires the kernel and every domain package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException

from twin import __version__
from twin.bus import EventBus
from twin.console import mount_console
from twin.db import database_url
from twin.errors import HyperviseurError, TooManyRequests, Unauthorized
from twin.health import health_router
from twin.security.audit_routes import audit_router
from twin.security.crypto import load_keyring
from twin.security.deps import resolve_principal
from twin.security.middleware import install_web_hardening
from twin.security.oidc import oidc_router
from twin.security.openapi import install_permission_annotations
from twin.security.principal_cache import PrincipalCache
from twin.security.routes import accounts_router, auth_router
from twin.settings import Settings


def _error_body(status: int, title: str, detail: str) -> dict[str, object]:
    # RFC 9457 problem details, the shape OGC API exceptions use too.
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": title}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HyperviseurError)
    async def _domain_error(_: Request, exc: HyperviseurError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="hyperviseur"'
        return JSONResponse(
            _error_body(exc.http_status, type(exc).__name__, str(exc)),
            status_code=exc.http_status,
            media_type="application/problem+json",
            headers=headers,
        )

    @app.exception_handler(psycopg.DataError)
    async def _nul_character(_: Request, exc: psycopg.DataError) -> JSONResponse:
        # PostgreSQL text (and jsonb, as \u0000) cannot hold a NUL character: a request carrying one is bad
        # input, not a server fault.
        if "NUL" not in str(exc) and not isinstance(exc, psycopg.errors.UntranslatableCharacter):
            raise exc
        return JSONResponse(
            _error_body(
                400, "InvalidParameterValue", "a parameter or field contains a NUL character: remove it"
            ),
            status_code=400,
            media_type="application/problem+json",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _framework_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own refusals (unparsable JSON body, unknown path, wrong method) in the same shape.
        title = HTTPStatus(exc.status_code).phrase.replace(" ", "")
        return JSONResponse(
            _error_body(exc.status_code, title, str(exc.detail)),
            status_code=exc.status_code,
            media_type="application/problem+json",
            headers=exc.headers,
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
        app.state.database_url = database_url(settings.database)
        app.state.keyring = load_keyring(
            settings.security.data_keys,
            var_dir=settings.database.var_dir,
            environment=settings.server.environment,
        )
        bus = EventBus(app.state.database_url)
        app.state.bus = bus
        principals = PrincipalCache(ttl_s=settings.security.principal_cache_s)
        app.state.principals = principals
        bus.subscribe(
            "auth_changed",
            principals.on_change,
            on_connect=principals.on_connect,
            on_disconnect=principals.on_disconnect,
        )
        app.state.pipeline = _pipeline()
        app.state.after_insert = app.state.pipeline.after_insert
        async with AsyncExitStack() as stack:
            stack.push_async_callback(pool.close)
            for domain_lifespan in _domain_lifespans():
                await stack.enter_async_context(domain_lifespan(app, bus))
            await bus.start()
            stack.push_async_callback(bus.stop)
            yield

    app = FastAPI(
        title="Hyperviseur",
        version=__version__,
        description="Hyperviseur territorial : le jumeau numérique du territoire, en direct.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        # Every request's principal is resolved once, before any route: layer rules and audit need it.
        dependencies=[Depends(resolve_principal)],
    )
    app.state.settings = settings
    _install_error_handlers(app)
    app.include_router(health_router())
    app.include_router(auth_router())
    app.include_router(oidc_router())
    app.include_router(accounts_router())
    app.include_router(audit_router())
    _install_domain_middleware(app)  # added first: innermost, inside the web hardening
    install_web_hardening(app, settings)
    _include_domain_routers(app)
    install_permission_annotations(app)
    mount_console(app)
    return app


def _install_domain_middleware(app: FastAPI) -> None:
    from tiles.fastpath import TileFastPath

    app.add_middleware(TileFastPath)


def _include_domain_routers(app: FastAPI) -> None:
    from incidents.api import incidents_routers
    from layers.api import layers_routers
    from live.api import live_routers
    from routing.api import routing_routers
    from sensing.api import sensing_routers
    from simulation.api import simulation_routers
    from tiles.api import tiles_routers
    from tiles.raster_routes import install_raster_error_handlers

    routers = [
        *layers_routers(),
        *tiles_routers(),
        *routing_routers(),
        *sensing_routers(),
        *incidents_routers(),
        *live_routers(),
        *simulation_routers(),
    ]
    for router in routers:
        app.include_router(router)
    install_raster_error_handlers(app)


def _pipeline() -> Any:
    """What every ingestion path runs on new readings: live push, detection, incidents."""
    from incidents.pipeline import LivePipeline

    return LivePipeline()


def _domain_lifespans() -> list[Callable[[FastAPI, EventBus], AbstractAsyncContextManager[None]]]:
    """Start-up/shutdown of the domain packages; each subscribes to the bus before it starts."""
    from incidents.pipeline import sweep_lifespan
    from live.api import live_lifespan
    from routing.api import routing_lifespan
    from sensing.api import sensing_lifespan
    from simulation.live_use.worker import consequences_lifespan
    from simulation.scenarios.service import scenarios_lifespan
    from tiles.api import tiles_lifespan

    # live before sensing: the ingester's first batch may already emit events. Consequences after routing
    # (they use its resident graphs) and after live and sensing.
    return [
        tiles_lifespan,
        routing_lifespan,
        live_lifespan,
        sensing_lifespan,
        sweep_lifespan,
        consequences_lifespan,
        scenarios_lifespan,
    ]
