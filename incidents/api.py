"""The incidents package's HTTP surface, as the composition root (``twin.app``) includes it."""

from __future__ import annotations

from fastapi import APIRouter

from incidents.routes import incidents_router


def incidents_routers() -> list[APIRouter]:
    """``/api/incidents`` (incidents, lifecycle, main courante)."""
    return [incidents_router()]
