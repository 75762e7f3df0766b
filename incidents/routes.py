"""``/api/incidents``: reading incidents and the main courante (group ``incidents``), handling them (group
``incident_handling``: declare, acknowledge, assign, resolve, edit, write in the log).

Reads use the async pool; writes run the synchronous ``incidents.store`` (shared with correlation, which runs
inside the ingestion transaction) on a connection of their own in a worker thread, attributed to the caller
for the audit trail: the change, its log entry and its live events commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from psycopg import sql
from psycopg.rows import tuple_row
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from starlette.concurrency import run_in_threadpool

from incidents import store
from incidents.model import Category, Severity, StatusFilter, Unprocessable
from incidents.views import (
    DETECTION_SELECT,
    ENTRY_COLUMNS,
    INCIDENT_SELECT,
    Viewer,
    detection_json,
    entry_filter,
    entry_json,
    incident_filter,
    incident_json,
)
from twin.deps import Connection
from twin.errors import InvalidInput, NotFound
from twin.security.audit import connect_for, principal_of
from twin.security.deps import require
from twin.security.openapi import PROBLEM
from twin.security.permissions import Group

T = TypeVar("T")
BIGINT_MAX = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Note = Annotated[str | None, Field(default=None, max_length=2000)]

_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Territoire, incident ou équipe inconnu (ou incident non visible pour ce rôle).",
        "content": _PROBLEM_CONTENT,
    }
}
UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    # Documenting a 422 keeps FastAPI from adding its validation one, and with it our 400: say it here.
    400: {"description": "Paramètre ou corps invalide : le détail dit lequel.", "content": _PROBLEM_CONTENT},
    422: {
        "description": "Lieu hors du territoire, ou actif inconnu dans ce territoire (place off the territory,"
        " or unknown asset).",
        "content": _PROBLEM_CONTENT,
    },
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Le statut de l'incident ne permet pas cette action (un incident résolu est clos).",
        "content": _PROBLEM_CONTENT,
    }
}


class IncidentIn(BaseModel):
    """An incident declared by hand: where (WGS84, inside the territory), what, how severe."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")
    title: str = Field(min_length=1, max_length=300)
    category: Category
    severity: Severity
    description: str = Field(default="", max_length=10_000)
    lon: Lon
    lat: Lat
    asset_layer: str | None = Field(default=None, min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9_]*$")
    asset_id: StrictInt | None = Field(default=None, ge=1, le=BIGINT_MAX)

    @model_validator(mode="after")
    def _asset(self) -> IncidentIn:
        if (self.asset_layer is None) != (self.asset_id is None):
            raise ValueError(
                "asset_layer and asset_id go together: send both (e.g. water_pipes, 12) or neither"
            )
        if not self.title.strip():
            raise ValueError("title: write a title (not only spaces)")
        return self


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = None


class AssignIn(BaseModel):
    """To a dispatch crew (a job is created for it), to a service named in words, or both."""

    model_config = ConfigDict(extra="forbid")
    crew_id: StrictInt | None = Field(default=None, ge=1, le=BIGINT_MAX)
    assigned_to: str | None = Field(default=None, min_length=1, max_length=200)
    note: Note = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(min_length=1, max_length=10_000, description="how it was resolved")


class IncidentPatch(BaseModel):
    """Fields to change; ``priority`` is a manual override (logged with the previous value)."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    severity: Severity | None = None
    priority: StrictInt | None = Field(default=None, ge=0, le=100)


class NoteIn(BaseModel):
    """A note in the main courante: general, or about one incident of the territory."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")
    text: str = Field(min_length=1, max_length=10_000)
    incident_id: StrictInt | None = Field(default=None, ge=1, le=BIGINT_MAX)


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS84.

    Examples
    --------
    >>> _bbox("7.7,48.5,7.8,48.6")
    (7.7, 48.5, 7.8, 48.6)
    """
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    ok = len(values) == 4 and all(abs(v) < 1e9 for v in values)
    if not ok or not (-180 <= values[0] <= values[2] <= 180 and -90 <= values[1] <= values[3] <= 90):
        raise InvalidInput(f"bbox {text!r}: send minlon,minlat,maxlon,maxlat in WGS84, min before max")
    return values[0], values[1], values[2], values[3]


async def _territory_id(conn: Connection, key: str | int) -> int:
    text = str(key)
    number = int(text) if text.isdigit() and len(text) <= 9 else None
    cur = await conn.execute(
        "SELECT id FROM twin.territory WHERE name = %(k)s OR id = %(i)s ORDER BY name = %(k)s DESC LIMIT 1",
        {"k": text, "i": number},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no territory {key!r}: list them with GET /api/territories")
    return int(row["id"])


async def _check_inside(conn: Connection, territory_id: int, lon: float, lat: float) -> None:
    """Refuse a place off the territory: outside its boundary, else outside its roads' extent plus ~1 km."""
    cur = await conn.execute(
        "SELECT t.name, CASE WHEN t.boundary IS NOT NULL THEN ST_Covers(t.boundary, p.pt)"
        " ELSE coalesce(ST_Covers(ST_SetSRID(ST_Expand((SELECT ST_Extent(n.geom) FROM twin.road_nodes n"
        "  WHERE n.territory_id = t.id)::geometry, 0.01), 4326), p.pt), false) END AS inside"
        " FROM twin.territory t, (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS pt) p WHERE t.id = %s",
        (lon, lat, territory_id),
    )
    row = await cur.fetchone()
    if row is None or not row["inside"]:
        name = row["name"] if row else territory_id
        raise Unprocessable(
            f"lon/lat ({lon}, {lat}) est hors du territoire '{name}' / is off territory '{name}' (outside its"
            " boundary or its road network): send WGS84 (EPSG:4326) lon/lat inside the territory"
        )


async def _check_asset(conn: Connection, territory_id: int, layer: str, asset_id: int) -> None:
    """Refuse a link to an asset that is not a feature of a catalog layer in the incident's territory."""
    cur = await conn.execute(
        "SELECT table_name, layer_filter FROM twin.layer_catalog WHERE name = %s", (layer,)
    )
    found = await cur.fetchone()
    if found is None:
        raise Unprocessable(f"asset_layer {layer!r} is not a layer of the catalog: see GET /ogc/collections")
    query = sql.SQL("SELECT 1 FROM twin.{} WHERE id = %s AND territory_id = %s").format(
        sql.Identifier(found["table_name"])
    )
    params: list[Any] = [asset_id, territory_id]
    if found["layer_filter"] is not None:
        query += sql.SQL(" AND layer = %s")
        params.append(found["layer_filter"])
    if await (await conn.execute(query, params)).fetchone() is None:
        raise Unprocessable(f"asset {layer}/{asset_id} does not exist in the incident's territory")


async def _viewer(conn: Connection, request: Request) -> Viewer:
    principal = principal_of(request)
    role = principal.role.value
    if role != "crew" or principal.account_id is None:
        return Viewer(role)
    cur = await conn.execute("SELECT id FROM dispatch.crews WHERE account_id = %s", (principal.account_id,))
    row = await cur.fetchone()
    return Viewer(role, int(row["id"]) if row else None)


async def _write(request: Request, work: Callable[[store.Conn, str], T]) -> T:
    """Run ``work(conn, author)`` in one transaction attributed to the caller, in a worker thread."""
    author = principal_of(request).actor

    def run() -> T:
        with connect_for(request) as conn:
            conn.row_factory = tuple_row  # twin.live_events reads rows by position
            return work(conn, author)

    return await run_in_threadpool(run)


def incidents_router() -> APIRouter:
    router = APIRouter(prefix="/api/incidents", tags=["incidents"], responses=NOT_FOUND)
    readers = [Depends(require(Group.INCIDENTS, session=True))]
    handlers = [Depends(require(Group.INCIDENT_HANDLING, session=True))]

    # /log before /{incident_id}: "log" is not an incident id.
    @router.get("/log", summary="Lire la main courante", dependencies=readers)
    async def read_log(
        conn: Connection,
        request: Request,
        territory: Annotated[str | None, Query(max_length=200)] = None,
        incident: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
        after_id: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        """Entries in order (``id`` ascending): after ``after_id`` when given (to follow the log), else the
        latest ``limit``."""
        viewer = await _viewer(conn, request)
        condition, params = entry_filter(viewer)
        params |= {
            "t": await _territory_id(conn, territory) if territory is not None else None,
            "inc": incident,
            "after": after_id,
            "n": limit,
        }
        where = (
            f"{condition} AND (%(t)s::integer IS NULL OR l.territory_id = %(t)s)"
            " AND (%(inc)s::bigint IS NULL OR l.incident_id = %(inc)s)"
        )
        if after_id is not None:
            sql = f"{where} AND l.id > %(after)s ORDER BY l.id LIMIT %(n)s"
        else:
            sql = f"{where} ORDER BY l.id DESC LIMIT %(n)s"
        cur = await conn.execute(
            f"SELECT {ENTRY_COLUMNS} FROM incidents.log l LEFT JOIN incidents.incidents i ON i.id = l.incident_id"
            f" WHERE {sql}",
            params,
        )
        rows = sorted(await cur.fetchall(), key=lambda r: r["id"])
        return {"entries": [entry_json(r) for r in rows]}

    @router.post("/log", summary="Écrire dans la main courante", status_code=201, dependencies=handlers)
    async def write_log(body: NoteIn, conn: Connection, request: Request) -> dict[str, Any]:
        territory_id = await _territory_id(conn, body.territory)
        return await _write(
            request, lambda c, author: store.add_note(c, territory_id, author, body.text, body.incident_id)
        )

    @router.get("", summary="Lister les incidents", dependencies=readers)
    async def list_incidents(
        conn: Connection,
        request: Request,
        territory: Annotated[str | None, Query(max_length=200, description="name or id")] = None,
        status: StatusFilter = "open",
        category: Category | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        bbox: Annotated[str | None, Query(max_length=200, description="minlon,minlat,maxlon,maxlat")] = None,
    ) -> dict[str, Any]:
        """Sorted by priority (highest first), then the most recently opened. ``open``: not resolved."""
        box = _bbox(bbox)
        viewer = await _viewer(conn, request)
        condition, params = incident_filter(viewer)
        statuses = {"open": ["new", "acknowledged", "assigned"], "all": None}.get(status, [status])
        params |= {
            "t": await _territory_id(conn, territory) if territory is not None else None,
            "st": statuses,
            "cat": category,
            "n": limit,
            "box": list(box) if box else None,
        }
        cur = await conn.execute(
            f"{INCIDENT_SELECT} WHERE {condition}"
            " AND (%(t)s::integer IS NULL OR i.territory_id = %(t)s)"
            " AND (%(st)s::text[] IS NULL OR i.status = ANY(%(st)s))"
            " AND (%(cat)s::text IS NULL OR i.category = %(cat)s)"
            " AND (%(box)s::float8[] IS NULL OR i.geom && ST_MakeEnvelope((%(box)s::float8[])[1],"
            " (%(box)s::float8[])[2], (%(box)s::float8[])[3], (%(box)s::float8[])[4], 4326))"
            " ORDER BY i.priority DESC, i.opened_at DESC, i.id DESC LIMIT %(n)s",
            params,
        )
        incidents = [incident_json(r) for r in await cur.fetchall()]
        return {"incidents": incidents, "count": len(incidents)}

    @router.post(
        "", summary="Déclarer un incident", status_code=201, dependencies=handlers, responses=UNPROCESSABLE
    )
    async def declare(body: IncidentIn, conn: Connection, request: Request) -> dict[str, Any]:
        territory_id = await _territory_id(conn, body.territory)
        await _check_inside(conn, territory_id, body.lon, body.lat)
        if body.asset_layer is not None and body.asset_id is not None:
            await _check_asset(conn, territory_id, body.asset_layer, body.asset_id)

        def work(c: store.Conn, author: str) -> dict[str, Any]:
            new = store.NewIncident(
                territory_id=territory_id,
                title=body.title,
                category=body.category,
                severity=body.severity,
                lon=body.lon,
                lat=body.lat,
                origin="manual",
                created_by=author,
                description=body.description,
                asset_layer=body.asset_layer,
                asset_id=body.asset_id,
            )
            return store.create(c, new, log_text=f"Incident déclaré par {author} : {body.title.strip()}")

        return await _write(request, work)

    @router.get(
        "/{incident_id}", summary="Lire un incident, ses détections et son journal", dependencies=readers
    )
    async def read_incident(incident_id: Id, conn: Connection, request: Request) -> dict[str, Any]:
        viewer = await _viewer(conn, request)
        condition, params = incident_filter(viewer)
        cur = await conn.execute(
            f"{INCIDENT_SELECT} WHERE i.id = %(id)s AND {condition}", {**params, "id": incident_id}
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no incident {incident_id} (or not visible to your role): see GET /api/incidents")
        detections = await (await conn.execute(DETECTION_SELECT, (incident_id,))).fetchall()
        log = await (
            await conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM incidents.log l WHERE l.incident_id = %s ORDER BY l.id",
                (incident_id,),
            )
        ).fetchall()
        return {
            **incident_json(row),
            "detections": [detection_json(d) for d in detections],
            "log": [entry_json(e) for e in log],
        }

    @router.post(
        "/{incident_id}/acknowledge",
        summary="Prendre en compte un incident",
        dependencies=handlers,
        responses=CONFLICT,
    )
    async def acknowledge(
        incident_id: Id, request: Request, body: Annotated[AcknowledgeIn | None, Body()] = None
    ) -> dict[str, Any]:
        note = body.note if body else None
        return await _write(request, lambda c, author: store.acknowledge(c, incident_id, author, note))

    @router.post(
        "/{incident_id}/assign",
        summary="Affecter un incident à une équipe ou un service",
        dependencies=handlers,
        responses=CONFLICT,
    )
    async def assign(incident_id: Id, body: AssignIn, request: Request) -> dict[str, Any]:
        return await _write(
            request,
            lambda c, author: store.assign(
                c, incident_id, author, crew_id=body.crew_id, assigned_to=body.assigned_to, note=body.note
            ),
        )

    @router.post(
        "/{incident_id}/resolve", summary="Résoudre un incident", dependencies=handlers, responses=CONFLICT
    )
    async def resolve(incident_id: Id, body: ResolveIn, request: Request) -> dict[str, Any]:
        return await _write(request, lambda c, author: store.resolve(c, incident_id, author, body.resolution))

    @router.patch("/{incident_id}", summary="Modifier un incident", dependencies=handlers, responses=CONFLICT)
    async def edit(incident_id: Id, body: IncidentPatch, request: Request) -> dict[str, Any]:
        changes = body.model_dump(exclude_none=True)
        return await _write(request, lambda c, author: store.edit(c, incident_id, author, changes))

    return router
