"""``/api/simulation/scenarios`` and ``/api/simulation/runs``: planners' what-if scenarios and their runs.

Reads are group ``simulation`` (every signed-in role; reports redacted for roles that may not see the water
network), writes group ``scenarios``. Writes run in one transaction attributed to the caller (scenarios are
audited); a run is queued here and executed by the worker processes (:mod:`simulation.scenarios.workers`).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from simulation.json_response import json_response
from simulation.scenarios import results, store
from simulation.visibility import redact_report, sees_water_network
from twin.deps import Connection
from twin.errors import InvalidInput
from twin.security.audit import aset_actor, client_addr_of, principal_of
from twin.security.deps import require
from twin.security.openapi import PROBLEM
from twin.security.permissions import Group

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
_PROBLEM = {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Corps ou paramètre invalide : le détail dit lequel.", "content": _PROBLEM},
    404: {"description": "Territoire, scénario ou exécution inconnu.", "content": _PROBLEM},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Version périmée (le scénario a changé) ou exécution déjà terminée.",
        "content": _PROBLEM,
    }
}
_MEDIA = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def _role(request: Request) -> str:
    return principal_of(request).role.value


def redact(doc: dict[str, Any], role: str) -> dict[str, Any]:
    """A run's report as ``role`` may read it: :func:`redact_report`, plus the scenario's own water sections."""
    out = redact_report(doc, role)
    if sees_water_network(role):
        return out
    out = out if out is not doc else copy.deepcopy(doc)
    out["water_measures"] = None
    scenario = out.get("scenario") or {}
    scenario["measures"] = redact_measures(scenario.get("measures", []), role)
    return out


def redact_measures(measures: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """Valve names are water-network details: hidden from roles that may not see it."""
    if sees_water_network(role):
        return measures
    return [{k: v for k, v in m.items() if k != "valve"} for m in measures]


def redact_scenario(doc: dict[str, Any], role: str) -> dict[str, Any]:
    if sees_water_network(role):
        return doc
    events = [
        {k: v for k, v in e.items() if k not in ("pipe", "pump")}
        if e.get("type") in ("pipe_burst", "pump_failure")
        else e
        for e in doc["events"]
    ]
    return {**doc, "events": events, "measures": redact_measures(doc["measures"], role)}


def scenario_router() -> APIRouter:
    router = APIRouter(prefix="/api/simulation", tags=["simulation"], responses=RESPONSES)
    readers = [Depends(require(Group.SIMULATION))]
    writers = [Depends(require(Group.SCENARIOS))]

    @router.get("/scenarios", summary="Lister les scénarios", dependencies=readers)
    async def list_scenarios(
        conn: Connection,
        request: Request,
        territory: Annotated[str | None, Query(max_length=200, description="nom ou id du territoire")] = None,
    ) -> dict[str, Any]:
        """Les plus récemment modifiés d'abord (newest first)."""
        territory_id = await store.territory_id_of(conn, territory) if territory is not None else None
        role = _role(request)
        return {
            "scenarios": [redact_scenario(s, role) for s in await store.list_scenarios(conn, territory_id)]
        }

    @router.post(
        "/scenarios",
        summary="Créer un scénario (fork de l'état en direct)",
        status_code=201,
        dependencies=writers,
    )
    async def create_scenario(
        conn: Connection, request: Request, body: Annotated[Any, Body()]
    ) -> JSONResponse:
        """Fige l'état en direct maintenant (fermetures en vigueur) ; événements et mesures facultatifs."""
        principal = principal_of(request)
        async with conn.transaction():
            await aset_actor(conn, principal, client_addr_of(request))
            new_id = await store.create_scenario(conn, body, principal.actor)
        return JSONResponse(await store.get_scenario(conn, new_id), status_code=201)

    @router.get("/scenarios/{scenario_id}", summary="Lire un scénario", dependencies=readers)
    async def get_scenario(conn: Connection, request: Request, scenario_id: Id) -> dict[str, Any]:
        return redact_scenario(await store.get_scenario(conn, scenario_id), _role(request))

    @router.patch(
        "/scenarios/{scenario_id}", summary="Modifier un scénario", dependencies=writers, responses=CONFLICT
    )
    async def patch_scenario(
        conn: Connection, request: Request, scenario_id: Id, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """``version`` obligatoire : celle que vous avez lue (409 si le scénario a changé depuis)."""
        async with conn.transaction():
            await aset_actor(conn, principal_of(request), client_addr_of(request))
            await store.patch_scenario(conn, scenario_id, body)
        return await store.get_scenario(conn, scenario_id)

    @router.post(
        "/scenarios/{scenario_id}/copy",
        summary="Copier un scénario (variante)",
        status_code=201,
        dependencies=writers,
    )
    async def copy_scenario(
        conn: Connection, request: Request, scenario_id: Id, body: Annotated[Any, Body()] = None
    ) -> JSONResponse:
        principal = principal_of(request)
        async with conn.transaction():
            await aset_actor(conn, principal, client_addr_of(request))
            new_id = await store.copy_scenario(conn, scenario_id, body, principal.actor)
        return JSONResponse(await store.get_scenario(conn, new_id), status_code=201)

    @router.delete(
        "/scenarios/{scenario_id}", summary="Supprimer un scénario", status_code=204, dependencies=writers
    )
    async def delete_scenario(conn: Connection, request: Request, scenario_id: Id) -> Response:
        async with conn.transaction():
            await aset_actor(conn, principal_of(request), client_addr_of(request))
            await store.delete_scenario(conn, scenario_id)
        return Response(status_code=204)

    @router.get(
        "/scenarios/{scenario_id}/runs", summary="Lister les exécutions d'un scénario", dependencies=readers
    )
    async def list_runs(conn: Connection, scenario_id: Id) -> dict[str, Any]:
        return {"runs": await store.list_runs(conn, scenario_id)}

    @router.post(
        "/scenarios/{scenario_id}/runs", summary="Lancer un scénario", status_code=202, dependencies=writers
    )
    async def queue_run(conn: Connection, request: Request, scenario_id: Id) -> JSONResponse:
        """Mise en file ; des processus de calcul l'exécutent (progression sur le flux en direct « simulation »)."""
        async with conn.transaction():
            row = await store.queue_run(conn, scenario_id, principal_of(request).actor)
        dispatcher = getattr(request.app.state, "scenario_runs", None)
        if dispatcher is not None:
            dispatcher.wake.set()
        return JSONResponse(store.run_json(row), status_code=202)

    @router.get("/runs/{run_id}", summary="Lire une exécution", dependencies=readers)
    async def get_run(conn: Connection, run_id: Id) -> dict[str, Any]:
        return store.run_json(await store.run_row(conn, run_id))

    @router.post(
        "/runs/{run_id}/cancel", summary="Annuler une exécution", dependencies=writers, responses=CONFLICT
    )
    async def cancel_run(conn: Connection, run_id: Id) -> dict[str, Any]:
        async with conn.transaction():
            row = await store.cancel_run(conn, run_id)
        return store.run_json(row)

    async def _report(
        conn: Connection, request: Request, run_id: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        row = await store.run_row(conn, run_id, report=True)
        if row["report"] is None:
            raise InvalidInput(
                f"run {run_id} is {row['status']}: it has no report yet (only done runs have one) /"
                " pas encore de résultat"
            )
        return row, redact(row["report"], _role(request))

    @router.get(
        "/runs/{run_id}/report",
        summary="Rapport de conséquences d'une exécution",
        dependencies=readers,
        response_model=dict[str, Any],
    )
    async def get_report(conn: Connection, request: Request, run_id: Id) -> Response:
        """Le rapport du scénario, avec le résumé de l'état de référence (``baseline``)."""
        _, report = await _report(conn, request, run_id)
        return json_response(report)

    @router.get(
        "/runs/{run_id}/layers",
        summary="Couches cartographiques d'une exécution",
        dependencies=readers,
        response_model=dict[str, Any],
    )
    async def get_layers(conn: Connection, request: Request, run_id: Id) -> Response:
        """GeoJSON (WGS84) : actifs touchés, mailles H3 (résolution 9), routes fermées, zones isolées, événements."""
        row, report = await _report(conn, request, run_id)
        return json_response(await results.layers_of(conn, int(row["territory_id"]), report))

    @router.get(
        "/runs/{run_id}/download", summary="Télécharger les résultats d'une exécution", dependencies=readers
    )
    async def download(
        conn: Connection,
        request: Request,
        run_id: Id,
        format: Annotated[
            Literal["geojson", "csv", "json"], Query(description="geojson, csv ou json")
        ] = "geojson",
    ) -> Response:
        row, report = await _report(conn, request, run_id)
        if format == "json":
            body = results.download_json(store.run_json(row), report)
        else:
            layers = await results.layers_of(conn, int(row["territory_id"]), report)
            body = results.download_geojson(layers) if format == "geojson" else results.download_csv(layers)
        name = f"scenario-{row['scenario_id']}-run-{run_id}.{format}"
        return Response(
            body, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    return router
