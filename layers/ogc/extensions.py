"""Other OGC APIs served beside Features under ``/ogc`` (Tiles, …) plug into its landing page here.

``layers`` cannot import the packages above it; they register an :class:`OgcExtension` on the app instead,
and the Features routes add its conformance classes, landing-page links, per-collection links and OpenAPI
paths to their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from layers.catalog import Layer

Links = list[dict[str, Any]]


def _no_links(*_: Any) -> Links:
    return []


def _no_paths(_: list[Layer]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class OgcExtension:
    """What one more OGC API adds to the ``/ogc`` landing page, conformance, collections and OpenAPI.

    ``landing_links(request, public_url)``, ``collection_links(request, public_url, layer)`` and
    ``openapi_paths(visible_layers)`` (paths relative to ``/ogc``) are called per request.
    """

    conformance: tuple[str, ...]
    landing_links: Callable[[Request, str | None], Links] = _no_links
    collection_links: Callable[[Request, str | None, Layer], Links] = _no_links
    openapi_paths: Callable[[list[Layer]], dict[str, Any]] = _no_paths
    tags: tuple[str, ...] = field(default=())


def register_extension(app: Any, extension: OgcExtension) -> None:
    """Add ``extension`` to the app (at start-up, before requests); registering it again changes nothing."""
    current = extensions_of(app)
    if extension not in current:
        app.state.ogc_extensions = [*current, extension]


def extensions_of(app: Any) -> list[OgcExtension]:
    return list(getattr(app.state, "ogc_extensions", []))
