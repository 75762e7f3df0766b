"""The scenario runs' part of the server's lifespan: runs left by a dead server queued again, worker processes
started, and stopped with the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from simulation.scenarios.workers import RunDispatcher


@asynccontextmanager
async def scenarios_lifespan(app: FastAPI, bus: Any) -> AsyncIterator[None]:
    """Own the process pool of scenario runs (``HYPERVISEUR_SIMULATION_WORKERS`` processes) for the app's life."""
    settings = app.state.settings
    workers = settings.simulation.workers if hasattr(settings, "simulation") else 1
    dispatcher = RunDispatcher(app.state.database_url, workers=workers)
    await dispatcher.start()
    app.state.scenario_runs = dispatcher
    try:
        yield
    finally:
        await dispatcher.stop()
