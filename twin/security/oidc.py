"""OpenID Connect sign-in for agents (Keycloak/ProConnect-style providers). To be completed."""

from __future__ import annotations

from fastapi import APIRouter


def oidc_router() -> APIRouter:
    return APIRouter(prefix="/api/auth/oidc", tags=["Authentification"])
