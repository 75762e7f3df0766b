"""Console-facing read API of sensing (sensors, readings, detections, data quality): being written."""

from __future__ import annotations

from fastapi import APIRouter


def read_router() -> APIRouter:
    return APIRouter(prefix="/api/sensing", tags=["sensing"])
