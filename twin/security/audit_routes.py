"""Audit trail API for administrators. To be completed."""

from __future__ import annotations

from fastapi import APIRouter


def audit_router() -> APIRouter:
    return APIRouter(prefix="/api/audit", tags=["Audit"])
