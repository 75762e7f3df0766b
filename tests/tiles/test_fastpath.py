"""The tile fast path serves only plain, valid, visible single-layer tiles and hands the rest to the app."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tiles.cache import CachedTile
from tiles.fastpath import TileFastPath


class _Service:
    def __init__(self) -> None:
        layer = SimpleNamespace(visibility="public", name="roads")
        self.source = SimpleNamespace(layer=layer, name="roads")
        self.rendered: list[Any] = []

    async def sources(self) -> dict[str, Any]:
        return {"roads": self.source}

    async def tile(self, source: Any, tile: Any) -> CachedTile:
        self.rendered.append(tile)
        return CachedTile.of(b"tile-bytes")


def _run(
    path: str, *, method: str = "GET", query: bytes = b""
) -> tuple[bool, list[dict[str, Any]], _Service]:
    service = _Service()
    app = SimpleNamespace(state=SimpleNamespace(tiles=service, pool=None))
    downstream: list[bool] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        downstream.append(True)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [],
        "app": app,
        "state": {},
    }
    asyncio.run(TileFastPath(inner)(scope, receive, send))
    return bool(downstream), sent, service


def test_a_plain_visible_tile_is_served_here() -> None:
    went_on, sent, service = _run("/tiles/roads/14/8529/5975.pbf")
    assert not went_on and [str(t) for t in service.rendered] == ["14/8529/5975"]
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"tile-bytes"


@pytest.mark.parametrize(
    ("path", "method", "query"),
    [
        ("/tiles/roads/23/0/0.pbf", "GET", b""),  # zoom out of range: the route says so
        ("/tiles/roads/2/4/0.pbf", "GET", b""),
        ("/tiles/hidden/14/1/1.pbf", "GET", b""),  # unknown layer: the route lists the others
        ("/tiles/roads/14/1/1.pbf", "GET", b"territory_id=1"),  # parameters: the route validates them
        ("/tiles/roads/14/1/1.pbf", "HEAD", b""),
        ("/tiles/roads/14/1/1.png", "GET", b""),
        ("/tiles/14/1/1.pbf", "GET", b""),  # combined tiles go to their route
    ],
)
def test_everything_else_goes_to_the_route(path: str, method: str, query: bytes) -> None:
    went_on, sent, service = _run(path, method=method, query=query)
    assert went_on and not sent and not service.rendered
