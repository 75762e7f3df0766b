"""OGC SensorThings-style read API: being written."""

from __future__ import annotations

from fastapi import APIRouter


def sta_router() -> APIRouter:
    return APIRouter(prefix="/sta/v1.1", tags=["sensorthings"])
