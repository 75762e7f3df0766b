"""Routers of the layers package, in the order the app mounts them."""

from __future__ import annotations

from fastapi import APIRouter


def layers_routers() -> list[APIRouter]:
    from layers.ogc.routes import ogc_features_router
    from layers.territory_api import territory_router

    return [territory_router(), ogc_features_router()]
