"""Raster tiles under ``/raster``: titiler's tiler over the COGs registered in ``twin.rasters``, by name only.

A client names a raster (``/raster/{raster}/tiles/WebMercatorQuad/{z}/{x}/{y}.png``); the name is looked up in
``twin.rasters`` and resolved to a file inside ``<var_dir>/rasters``. URLs and file paths are never accepted
(titiler's default ``?url=`` would let any caller make the server read any file or fetch any URL). A raster
the caller's role may not see answers the same 404 as a missing one, as layers do.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import morecantile
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.routing import APIRoute
from morecantile.defaults import TileMatrixSets
from psycopg.rows import dict_row
from rio_tiler.errors import PointOutsideBounds, RioTilerError, TileOutsideBounds
from starlette.responses import JSONResponse, Response
from titiler.core.errors import BadRequestError, TileNotFoundError, TilerError
from titiler.core.factory import TilerFactory

from layers.catalog import role_of_request
from tiles._raster_params import (
    HistogramParams,
    PreviewParams,
    StatisticsParams,
    TileParams,
    algorithm_params,
    band_params,
    check_tile_request,
    colormap_params,
)
from tiles._raster_validate import RASTER_NAME
from tiles.raster import RASTER_DIR
from twin.errors import NotFound
from twin.security.permissions import may_see_layer

RASTER_PREFIX = "/raster"
TMS_ID = "WebMercatorQuad"
# MapLibre and the console draw Web Mercator only; one matrix set keeps the OGC tileset list cheap.
SUPPORTED_TMS = TileMatrixSets({TMS_ID: morecantile.tms.get(TMS_ID)})
_NOT_FOUND_STATUS = (TileOutsideBounds, PointOutsideBounds, TileNotFoundError)

_ENTRY_SQL = "SELECT name, path, visibility, band_count FROM twin.rasters WHERE name = %s"
_LIST_SQL = """
SELECT r.name, r.title_fr, r.title_en, r.description_fr, r.unit, r.band_count, r.dtype, r.nodata, r.crs,
       r.resolution_m, r.min, r.max, r.statistics, r.visibility, t.name AS territory,
       ARRAY[ST_XMin(r.footprint), ST_YMin(r.footprint), ST_XMax(r.footprint), ST_YMax(r.footprint)] AS bounds
FROM twin.rasters r JOIN twin.territory t ON t.id = r.territory_id
ORDER BY r.name
"""


@dataclass(frozen=True)
class RasterEntry:
    """A registered raster as the tile routes need it."""

    name: str
    file: Path
    visibility: str
    band_count: int


async def _visible_names(request: Request, role: str) -> list[str]:
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute("SELECT name, visibility FROM twin.rasters ORDER BY name")
        return [name for name, visibility in await cur.fetchall() if may_see_layer(role, visibility)]


async def _unknown(request: Request, raster: str, role: str) -> NotFound:
    names = await _visible_names(request, role)
    available = ", ".join(names) if names else "none"
    return NotFound(
        f"no raster named {raster[:80]!r}: name a registered raster (not a path or URL);"
        f" available: {available} (GET {RASTER_PREFIX}/rasters lists them)"
    )


async def raster_path(
    request: Request,
    raster: Annotated[str, PathParam(description="Name of a registered raster (GET /raster/rasters)")],
) -> str:
    """titiler's ``path_dependency``: the COG of a raster the caller may see, else 404."""
    role = role_of_request(request)
    if not RASTER_NAME.match(raster):
        raise await _unknown(request, raster, role)
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(_ENTRY_SQL, (raster,))
        row = await cur.fetchone()
    if row is None or not may_see_layer(role, row[2]):
        raise await _unknown(request, raster, role)
    folder = (Path(request.app.state.settings.database.var_dir) / RASTER_DIR).resolve()
    file = (folder.parent / row[1]).resolve()
    # The table's CHECK already pins the path inside rasters/; resolving again guards against a symlink.
    if file.parent != folder or not file.is_file():
        raise NotFound(
            f"raster {raster!r} is registered but its file is missing on this server:"
            " re-import it (`hyperviseur import raster FILE --name … --replace`)"
        )
    request.state.raster_entry = RasterEntry(row[0], file, row[2], int(row[3]))
    return str(file)


def _problem(status: int, detail: str) -> JSONResponse:
    title = HTTPStatus(status).phrase.replace(" ", "")
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": title}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def problem_from_tiler_error(exc: Exception) -> JSONResponse:
    """RFC 9457 problem for a titiler/rio-tiler refusal: outside the raster → 404, anything else asked → 400."""
    if isinstance(exc, _NOT_FOUND_STATUS):
        return _problem(404, f"{exc}: ask inside the raster's bounds (see its tilejson.json)")
    return _problem(400, f"{exc}: check the query parameters (GET {RASTER_PREFIX}/rasters shows valid ones)")


class _RasterRoute(APIRoute):
    """Route class of the tiler: titiler's and rio-tiler's errors become problem documents right here, so the
    raster routes answer 4xx without app-wide handlers (which would also catch other packages' errors)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (TilerError, RioTilerError) as exc:
                return problem_from_tiler_error(exc)

        return guarded


def install_raster_error_handlers(app: FastAPI) -> None:
    """App-wide safety net for titiler/rio-tiler errors raised outside the raster routes' own handling.

    The routes of :func:`raster_router` already answer problem documents by themselves; this covers code that
    uses rio-tiler elsewhere (later packages). Only titiler's and rio-tiler's own exception types are mapped,
    never ``Exception``: the kernel's catch-all middleware keeps answering real faults.
    """
    for exc_type in (TilerError, BadRequestError, RioTilerError):

        async def handler(_: Request, exc: Exception) -> Response:
            return problem_from_tiler_error(exc)

        app.add_exception_handler(exc_type, handler)


def _site_url(request: Request) -> str:
    public_url = request.app.state.settings.server.public_url
    return (public_url or str(request.base_url)).rstrip("/")


def _tile_query(row: dict[str, Any]) -> str:
    """Default rendering of a single-band raster: p2–p98 stretched over viridis, so a first look shows relief."""
    stats = row["statistics"] or []
    if row["band_count"] != 1 or not stats or stats[0].get("p2") is None:
        return ""
    low, high = stats[0]["p2"], stats[0]["p98"]
    if high <= low:
        low, high = stats[0]["min"], stats[0]["max"] + (1 if stats[0]["max"] == stats[0]["min"] else 0)
    return "?" + urlencode({"rescale": f"{low:.6g},{high:.6g}", "colormap_name": "viridis"})


async def list_rasters(request: Request) -> dict[str, Any]:
    """The rasters the caller may see, with their extent (WGS84), unit, statistics and tile URL template."""
    role = role_of_request(request)
    async with request.app.state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_LIST_SQL)
        rows = await cur.fetchall()
    site = _site_url(request)
    out = []
    for row in rows:
        if not may_see_layer(role, row["visibility"]):
            continue
        base = f"{site}{RASTER_PREFIX}/{row['name']}"
        out.append(
            {
                "name": row["name"],
                "title_fr": row["title_fr"],
                "title_en": row["title_en"],
                "description_fr": row["description_fr"],
                "territory": row["territory"],
                "unit": row["unit"],
                "band_count": row["band_count"],
                "dtype": row["dtype"],
                "nodata": row["nodata"],
                "crs": row["crs"],
                "resolution_m": row["resolution_m"],
                "bounds": row["bounds"],
                "min": row["min"],
                "max": row["max"],
                "statistics": row["statistics"],
                "visibility": row["visibility"],
                "tiles": f"{base}/tiles/{TMS_ID}/{{z}}/{{x}}/{{y}}.png{_tile_query(row)}",
                "tilejson": f"{base}/{TMS_ID}/tilejson.json{_tile_query(row)}",
            }
        )
    return {"rasters": out}


def _kept(route: Any) -> bool:
    if not isinstance(route, APIRoute):
        return True
    # The OGC tileset pages render titiler's HTML templates, which load jQuery, Bootstrap and Leaflet from
    # CDNs (our sovereignty rule and CSP forbid both); tilejson.json carries what a map needs.
    tileset_page = route.path in ("/tiles", "/tiles/{tileMatrixSetId}")
    return "POST" not in (route.methods or ()) and not tileset_page


def raster_router() -> APIRouter:
    """``/raster/rasters`` and titiler's tile, tilejson, info, statistics and point routes per raster name.

    Left out: titiler's map viewer and OGC tileset pages (HTML loading Leaflet and Bootstrap from CDNs),
    preview, bbox/feature crops (arbitrary output sizes), the POST statistics (arbitrary GeoJSON body),
    band-math expressions and tile padding (see ``tiles._raster_params``).
    """
    factory = TilerFactory(
        router=APIRouter(route_class=_RasterRoute),
        router_prefix=RASTER_PREFIX + "/{raster}",
        path_dependency=raster_path,
        layer_dependency=band_params,  # type: ignore[arg-type]  # a function returning BidxParams
        tile_dependency=TileParams,
        img_preview_dependency=PreviewParams,
        stats_dependency=StatisticsParams,
        histogram_dependency=HistogramParams,
        colormap_dependency=colormap_params,
        process_dependency=algorithm_params,
        supported_tms=SUPPORTED_TMS,
        add_preview=False,
        add_part=False,
        add_viewer=False,
        name="raster",
    )
    factory.router.routes[:] = [r for r in factory.router.routes if _kept(r)]
    router = APIRouter(tags=["Raster tiles"])
    router.add_api_route(f"{RASTER_PREFIX}/rasters", list_rasters, methods=["GET"], summary="Visible rasters")
    router.include_router(
        factory.router, prefix=RASTER_PREFIX + "/{raster}", dependencies=[Depends(check_tile_request)]
    )
    return router
