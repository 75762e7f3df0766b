"""Tile sources: the catalog layers that have a ``tiles.tile_<layer>`` function, with its zoom range."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from layers.catalog import Layer, load_catalog

_FUNCTIONS_SQL = """
SELECT substr(p.proname, 6) AS layer, obj_description(p.oid, 'pg_proc') AS tilejson
  FROM pg_proc AS p
  JOIN pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tiles'
   AND p.proname LIKE 'tile\\_%'
   AND p.prorettype = 'bytea'::regtype
   AND pg_get_function_identity_arguments(p.oid) = 'z integer, x integer, y integer, query_params json'
"""


@dataclass(frozen=True)
class TileSource:
    """A layer served as vector tiles."""

    layer: Layer
    minzoom: int
    maxzoom: int

    @property
    def name(self) -> str:
        return self.layer.name

    def function_call(self) -> sql.Composed:
        """``SELECT tiles.tile_<layer>(z, x, y, query_params)`` with the four values as placeholders."""
        return sql.SQL("SELECT tiles.{}(%s::integer, %s::integer, %s::integer, %s::json)").format(
            sql.Identifier(f"tile_{self.layer.name}")
        )


def _zooms(comment: str | None) -> tuple[int, int]:
    try:
        doc: Any = json.loads(comment or "{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    minzoom, maxzoom = doc.get("minzoom", 0), doc.get("maxzoom", 22)
    return (int(minzoom) if isinstance(minzoom, int) else 0, int(maxzoom) if isinstance(maxzoom, int) else 22)


async def load_sources(conn: AsyncConnection[dict[str, Any]]) -> dict[str, TileSource]:
    """The catalog's layers that have a tile function, by name, in catalog order."""
    layers = await load_catalog(conn)
    cur = await conn.execute(_FUNCTIONS_SQL)
    functions = {row["layer"]: _zooms(row["tilejson"]) for row in await cur.fetchall()}
    sources: dict[str, TileSource] = {}
    for layer in layers:
        if layer.name in functions:
            minzoom, maxzoom = functions[layer.name]
            sources[layer.name] = TileSource(layer, minzoom, maxzoom)
    return sources
