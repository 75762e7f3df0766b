"""Web hardening: security headers, CORS, request size limits, rate limits, no stack traces. To be completed."""

from __future__ import annotations

from fastapi import FastAPI

from twin.settings import Settings


def install_web_hardening(app: FastAPI, settings: Settings) -> None:
    """Install every protective middleware and handler on ``app``."""
