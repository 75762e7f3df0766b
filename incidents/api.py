"""Incidents API: being written."""

from __future__ import annotations

from fastapi import APIRouter


def incidents_routers() -> list[APIRouter]:
    return []
