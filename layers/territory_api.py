"""``/api/territories``: the imported territories, their extent, CRS and a summary of their layers."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from psycopg import AsyncConnection, sql

from layers.catalog import Layer, load_catalog, quoted, role_of_request, visible_layers
from twin.deps import Connection
from twin.errors import NotFound


@cache
def _sql(name: str) -> str:
    return resources.files("layers").joinpath(f"sql/{name}").read_text(encoding="utf-8")


def _territory(row: dict[str, Any]) -> dict[str, Any]:
    bbox = None if row["xmin"] is None else [row["xmin"], row["ymin"], row["xmax"], row["ymax"]]
    return {
        "id": row["id"],
        "name": row["name"],
        "crs_epsg": row["crs_epsg"],
        "crs_name": row["crs_name"] or None,
        "bbox": bbox,
        "source": row["source"],
        "imported_at": row["imported_at"].isoformat(),
    }


async def territory_rows(
    conn: AsyncConnection[dict[str, Any]], key: str | None = None
) -> list[dict[str, Any]]:
    """Territories (all, or the one named or numbered ``key``, name first) with their WGS84 extent."""
    cur = await conn.execute(_sql("territories.sql"), {"key": key})
    return list(await cur.fetchall())


async def layer_counts(
    conn: AsyncConnection[dict[str, Any]], layers: list[Layer], territory_id: int
) -> dict[str, int]:
    """Feature count of each layer in one territory, in one UNION ALL statement.

    Parameters
    ----------
    conn : AsyncConnection
        Connection with dict rows.
    layers : list of Layer
        The layers to count: pass only the layers the caller may see.
    territory_id : int
        The territory.
    """
    if not layers:
        return {}
    template = sql.SQL(_sql("layer_count.sql"))
    params: dict[str, Any] = {"territory_id": territory_id}
    parts = []
    for i, layer in enumerate(layers):
        params[f"layer_{i}"] = layer.name
        layer_filter: sql.Composable = sql.SQL("")
        if layer.layer_filter is not None:
            params[f"filter_{i}"] = layer.layer_filter
            layer_filter = sql.SQL(" AND t.layer = {}").format(sql.Placeholder(f"filter_{i}"))
        part = template.format(
            layer=sql.Placeholder(f"layer_{i}"), table=quoted(layer), layer_filter=layer_filter
        )
        parts.append(sql.SQL("(\n{}\n)").format(part))
    cur = await conn.execute(sql.SQL("\nUNION ALL\n").join(parts), params)
    return {row["layer"]: int(row["features"]) for row in await cur.fetchall()}


def territory_router() -> APIRouter:
    """Build the router of ``/api/territories``."""
    router = APIRouter(prefix="/api/territories", tags=["Territoires"])

    @router.get("", summary="Territoires importés")
    async def list_territories(conn: Connection) -> Response:
        rows = await territory_rows(conn)
        body = {"territories": [_territory(r) for r in rows]}
        return Response(orjson.dumps(body), media_type="application/json")

    @router.get("/{name_or_id}", summary="Résumé d'un territoire")
    async def territory_summary(
        conn: Connection, request: Request, name_or_id: Annotated[str, Path()]
    ) -> Response:
        rows = await territory_rows(conn, name_or_id)
        if not rows:
            known = ", ".join(r["name"] for r in await territory_rows(conn)) or "none (import one first)"
            raise NotFound(f"no territory named or numbered {name_or_id!r}; known territories: {known}")
        summary = _territory(rows[0])
        layers = visible_layers(await load_catalog(conn), role_of_request(request))
        summary["layers"] = await layer_counts(conn, layers, summary["id"])
        cur = await conn.execute(_sql("territory_totals.sql"), {"territory_id": summary["id"]})
        totals = await cur.fetchone()
        assert totals is not None
        # An aggregate of the buildings layer: shown only to those who may see that layer.
        sees_buildings = any(layer.name == "buildings" for layer in layers)
        summary["residents_est"] = int(totals["residents_est"] or 0) if sees_buildings else None
        summary["road_network_km"] = round(float(totals["road_network_km"] or 0.0), 3)
        summary["road_arcs_km"] = round(float(totals["road_arcs_km"] or 0.0), 3)
        return Response(orjson.dumps(summary), media_type="application/json")

    return router
