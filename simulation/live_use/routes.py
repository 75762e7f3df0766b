"""Incident consequences (``/api/incidents/{id}/consequences``) and the ad hoc what-if
(``POST /api/simulation/consequences``), both on the server's resident models.

An incident's consequences are read with the incident's own visibility (``incidents.views.incident_filter``:
a crew sees those of the incidents it is sent to, a role that may not see the water network none of the water
incidents) and redacted for the role (:func:`simulation.visibility.redact_report`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from incidents.views import Viewer, incident_filter
from simulation.consequences import consequence_report
from simulation.events import parse_events
from simulation.json_response import json_response
from simulation.live_use import store
from simulation.live_use.worker import ConsequenceService
from simulation.propagation.context import crews_from_twin
from simulation.visibility import redact_report
from twin.deps import Connection
from twin.errors import InvalidInput, NotFound
from twin.security.audit import principal_of
from twin.security.deps import require, role_of
from twin.security.openapi import PROBLEM
from twin.security.permissions import Group

BIGINT_MAX = 2**63 - 1
IncidentId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
_PROBLEM = {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Incident inconnu ou non visible pour ce rôle, ou conséquences pas encore calculées.",
        "content": _PROBLEM,
    }
}
_BAD_EVENTS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Événement invalide : le détail dit lequel et quel champ.", "content": _PROBLEM},
    404: {"description": "Territoire inconnu, ou sans réseau routier.", "content": _PROBLEM},
}


class AdhocIn(BaseModel):
    """A quick what-if: events (simulation/events.py JSON) on a territory's live state."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")
    events: Any = Field(description="initiating events, e.g. [{'type': 'road_closure', 'edge_ids': [12]}]")
    at: datetime | None = Field(default=None, description="instant whose live closures make the 'before'")


def _service(request: Request) -> ConsequenceService:
    service: ConsequenceService = request.app.state.consequences
    return service


async def _visible_incident(conn: Connection, request: Request, incident_id: int) -> dict[str, Any]:
    """The incident (id, territory, category) if the caller may see it, as ``GET /api/incidents/{id}`` does."""
    principal = principal_of(request)
    viewer = Viewer(principal.role.value)
    if viewer.is_crew and principal.account_id is not None:
        cur = await conn.execute(
            "SELECT id FROM dispatch.crews WHERE account_id = %s", (principal.account_id,)
        )
        crew = await cur.fetchone()
        viewer = Viewer(viewer.role, int(crew["id"]) if crew else None)
    condition, params = incident_filter(viewer)
    cur = await conn.execute(
        f"SELECT i.id, i.territory_id, i.category FROM incidents.incidents i WHERE i.id = %(id)s AND {condition}",
        {**params, "id": incident_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no incident {incident_id} (or not visible to your role): see GET /api/incidents")
    return row


def _visible_json(row: dict[str, Any], role: str) -> dict[str, Any]:
    out = store.row_json(row)
    if out["report"] is not None:
        out["report"] = redact_report(out["report"], role)
        out["summary"] = out["report"].get("summary")
    return out


def incident_consequences_router() -> APIRouter:
    router = APIRouter(prefix="/api/incidents", tags=["incidents"], responses=_NOT_FOUND)
    readers = [Depends(require(Group.INCIDENTS, session=True))]
    handlers = [Depends(require(Group.INCIDENT_HANDLING, session=True))]

    @router.get(
        "/{incident_id}/consequences",
        summary="Lire les conséquences calculées d'un incident",
        dependencies=readers,
        response_model=dict[str, Any],
    )
    async def read_consequences(incident_id: IncidentId, conn: Connection, request: Request) -> Response:
        """Status ``pending``, ``done`` (with the report), ``failed`` (with the error) or ``not_applicable``
        (with the reason); computed automatically for every incident, or on request (POST)."""
        await _visible_incident(conn, request, incident_id)
        cur = await conn.execute(store.SELECT_SQL, {"id": incident_id})
        row = await cur.fetchone()
        if row is None:
            raise NotFound(
                f"no consequences computed yet for incident {incident_id}: they follow within seconds when "
                "automatic, or POST /api/incidents/{id}/consequences to compute them"
            )
        return json_response(_visible_json(row, role_of(request)))

    @router.post(
        "/{incident_id}/consequences",
        summary="Recalculer les conséquences d'un incident",
        status_code=202,
        dependencies=handlers,
    )
    async def recompute_consequences(
        incident_id: IncidentId, conn: Connection, request: Request
    ) -> dict[str, Any]:
        """Queued now (status ``pending``); the live event ``incident_consequences`` says when it is done."""
        await _visible_incident(conn, request, incident_id)
        row = await _service(request).request(incident_id)
        return _visible_json(row, role_of(request))

    return router


def adhoc_router() -> APIRouter:
    router = APIRouter(prefix="/api/simulation", tags=["simulation"])
    writers = [Depends(require(Group.SCENARIOS, session=True))]

    @router.post(
        "/consequences",
        summary="Conséquences immédiates d'événements (simulation rapide)",
        dependencies=writers,
        responses=_BAD_EVENTS,
        response_model=dict[str, Any],
    )
    async def adhoc_consequences(body: AdhocIn, request: Request) -> Response:
        """The consequence report of ``events`` on the territory's live state, computed now on the server's
        resident models (the first call of a territory loads them)."""
        events = parse_events(body.events)
        if body.at is not None and body.at.tzinfo is None:
            raise InvalidInput(
                f"at: give a time zone, e.g. {body.at.isoformat()}Z, not {body.at.isoformat()!r}"
            )
        models = await _service(request).models.get(body.territory)
        started = time.perf_counter()
        report = await run_in_threadpool(
            lambda: consequence_report(
                events,
                access=models.access,
                dependencies=models.dependencies,
                water=models.segments,
                at=body.at,
                context=models.context,
                crews=crews_from_twin(_service(request).models.database_url, models.territory_id),
            ).as_json()
        )
        timing = {"Server-Timing": f"report;dur={(time.perf_counter() - started) * 1000:.1f}"}
        return json_response(redact_report(report, role_of(request)), headers=timing)

    return router
