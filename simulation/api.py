"""Routers of the simulation package, in the order the app mounts them (``twin.app`` includes them)."""

from __future__ import annotations

from fastapi import APIRouter


def simulation_routers() -> list[APIRouter]:
    from simulation.dependency_routes import dependency_router
    from simulation.live_use.routes import adhoc_router, incident_consequences_router
    from simulation.scenarios.routes import scenario_router

    return [dependency_router(), incident_consequences_router(), adhoc_router(), scenario_router()]
