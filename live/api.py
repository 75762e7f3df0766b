"""Live stream API: being written."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI

from twin.bus import EventBus


def live_routers() -> list[APIRouter]:
    return []


@contextlib.asynccontextmanager
async def live_lifespan(app: FastAPI, bus: EventBus) -> AsyncIterator[None]:
    yield
