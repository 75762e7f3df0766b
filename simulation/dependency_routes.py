"""``/api/simulation/dependencies`` and ``/api/simulation/power-feeders``: read the dependency model (group
``simulation``), correct it, re-derive it and enter power feeders (group ``dependency_editing``).

The work runs on synchronous connections in worker threads (:mod:`simulation.dependencies`); writes are
attributed to the caller: link edits are recorded in the audit trail by ``record_event`` (the links table is
too large for the audit triggers), power feeders by their table's trigger. The water network is restricted:
a role that may not see it gets 404 for water assets and never sees a water link or the water chain.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from routing.routes import service_of
from simulation.dependencies.derive import drivable_edge_ids
from simulation.dependencies.describe import (
    asset_dependencies,
    dependency_summary,
    territory_of,
)
from simulation.dependencies.feeders import create_feeder, delete_feeder, list_feeders
from simulation.dependencies.links import AUDIT_OBJECT, delete_edited_link, put_edited_link
from simulation.dependencies.store import derive_and_save
from twin.db import connect
from twin.errors import NotFound
from twin.security.audit import client_addr_of, connect_for, principal_of, record_event
from twin.security.deps import require, role_of
from twin.security.openapi import PROBLEM
from twin.security.permissions import Group, may_see_layer

BIGINT_MAX = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Territory = Annotated[str, Query(min_length=1, max_length=200, description="nom ou id du territoire")]
_PROBLEM = {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Paramètre ou corps invalide : le détail dit lequel.", "content": _PROBLEM},
    404: {
        "description": "Territoire, objet ou lien inconnu (ou couche non visible pour ce rôle).",
        "content": _PROBLEM,
    },
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Lien calculé : corrigez-le au lieu de le supprimer.", "content": _PROBLEM}
}


class LinkIn(BaseModel):
    """A corrected link: ``provider_id`` null says the dependent has no such provider (a private well)."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")
    kind: str = Field(min_length=1, max_length=63)
    dependent_layer: str = Field(min_length=1, max_length=63)
    dependent_id: StrictInt = Field(ge=1, le=BIGINT_MAX)
    provider_layer: str = Field(min_length=1, max_length=63)
    provider_id: StrictInt | None = Field(ge=1, le=BIGINT_MAX)
    note: str = Field(default="", max_length=2000)


class DeriveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")


class FeederIn(BaseModel):
    """A power feeder entered by hand (WGS84 position)."""

    model_config = ConfigDict(extra="forbid")
    territory: StrictStr | StrictInt = Field(description="territory name or id")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="cabinet", min_length=1, max_length=20)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)


def _visibility(url: str, role: str) -> Any:
    """``layer -> bool`` for ``role``: the catalog's visibility; water layers restricted, others internal,
    when the catalog does not list them (power feeders)."""
    with connect(url) as conn:
        catalog = {
            str(r["name"]): str(r["visibility"])
            for r in conn.execute("SELECT name, visibility FROM twin.layer_catalog")
        }

    def visible(layer: str) -> bool:
        default = "restricted" if layer.startswith("water_") else "internal"
        return may_see_layer(role, catalog.get(layer, default))

    return visible


async def _drivable(request: Request, territory_id: int) -> Any:
    """Arcs emergency vehicles may use, from the server's resident graph (None when it has no roads)."""
    try:
        graph = await service_of(request).graph(territory_id)
    except NotFound:
        return None
    return drivable_edge_ids(graph)


def dependency_router() -> APIRouter:
    router = APIRouter(prefix="/api/simulation", tags=["simulation"], responses=RESPONSES)
    readers = [Depends(require(Group.SIMULATION))]
    editors = [Depends(require(Group.DEPENDENCY_EDITING))]

    @router.get(
        "/dependencies/summary",
        summary="Compter les liens de dépendance d'un territoire",
        dependencies=readers,
    )
    async def summary(request: Request, territory: Territory) -> dict[str, Any]:
        url, role = request.app.state.database_url, role_of(request)

        def run() -> dict[str, Any]:
            return dependency_summary(url, territory, visible=_visibility(url, role))

        return await run_in_threadpool(run)

    @router.get(
        "/dependencies",
        summary="Lire les dépendances d'un objet (fournisseurs, dépendants, chaîne jusqu'aux ressources en eau)",
        dependencies=readers,
    )
    async def read_dependencies(
        request: Request,
        territory: Territory,
        layer: Annotated[str, Query(min_length=1, max_length=63, description="couche de l'objet")],
        id: Annotated[int, Query(ge=1, le=BIGINT_MAX, description="id de l'objet dans la couche")],
    ) -> dict[str, Any]:
        url, role = request.app.state.database_url, role_of(request)

        def run() -> dict[str, Any]:
            return asset_dependencies(url, territory, layer, id, visible=_visibility(url, role))

        return await run_in_threadpool(run)

    @router.put(
        "/dependencies",
        summary="Corriger un lien de dépendance (ou déclarer l'absence de fournisseur)",
        dependencies=editors,
    )
    async def edit_link(request: Request, body: LinkIn) -> dict[str, Any]:
        url, role = request.app.state.database_url, role_of(request)
        territory = await run_in_threadpool(territory_of, url, body.territory)
        drivable = await _drivable(request, territory[0]) if body.kind == "road_access" else None
        actor, addr = principal_of(request).actor, client_addr_of(request)

        def run() -> dict[str, Any]:
            visible = _visibility(url, role)
            for layer in (body.dependent_layer, body.provider_layer):
                if not visible(layer):
                    raise NotFound(f"no layer {layer!r} for this role / couche inconnue")
            with connect_for(request) as conn:
                return put_edited_link(
                    conn,
                    territory,
                    kind=body.kind,
                    dependent_layer=body.dependent_layer,
                    dependent_id=body.dependent_id,
                    provider_layer=body.provider_layer,
                    provider_id=body.provider_id,
                    note=body.note,
                    actor=actor,
                    client_addr=addr,
                    drivable=drivable,
                )

        return await run_in_threadpool(run)

    @router.post(
        "/dependencies/derive",
        summary="Recalculer les liens de dépendance (les corrections sont gardées)",
        dependencies=editors,
    )
    async def derive(request: Request, body: DeriveIn) -> dict[str, Any]:
        url, role = request.app.state.database_url, role_of(request)
        tid = (await run_in_threadpool(territory_of, url, body.territory))[0]
        try:
            graph = await service_of(request).graph(tid)
        except NotFound:
            graph = None

        def run() -> dict[str, Any]:
            result = derive_and_save(url, tid, road_graph=graph)
            with connect_for(request) as conn:
                record_event(
                    conn,
                    actor=None,
                    action="DEPENDENCY_DERIVE",
                    object=AUDIT_OBJECT,
                    object_id=str(tid),
                    details={
                        k: result[k] for k in ("rows", "cabinet_key", "derived_feeders", "derive_s", "save_s")
                    },
                    client_addr=client_addr_of(request),
                )
            out = dependency_summary(url, tid, visible=_visibility(url, role))
            out["derivation"] = {
                k: result[k] for k in ("rows", "cabinet_key", "derived_feeders", "derive_s", "save_s")
            }
            return out

        return await run_in_threadpool(run)

    @router.delete(
        "/dependencies/{link_id}",
        summary="Supprimer une correction de lien (le lien calculé revient)",
        status_code=204,
        dependencies=editors,
        responses=CONFLICT,
    )
    async def delete_link(request: Request, link_id: Id) -> Response:
        actor, addr = principal_of(request).actor, client_addr_of(request)

        def run() -> None:
            with connect_for(request) as conn:
                delete_edited_link(conn, link_id, actor=actor, client_addr=addr)

        await run_in_threadpool(run)
        return Response(status_code=204)

    @router.get(
        "/power-feeders",
        summary="Lister les départs d'alimentation électrique (GeoJSON)",
        dependencies=readers,
    )
    async def feeders(request: Request, territory: Territory) -> dict[str, Any]:
        url = request.app.state.database_url

        def run() -> dict[str, Any]:
            tid = territory_of(url, territory)[0]
            with connect(url) as conn:
                return list_feeders(conn, tid)

        return await run_in_threadpool(run)

    @router.post(
        "/power-feeders",
        summary="Ajouter un départ d'alimentation électrique (poste, armoire)",
        status_code=201,
        dependencies=editors,
    )
    async def add_feeder(request: Request, body: FeederIn) -> JSONResponse:
        url = request.app.state.database_url

        def run() -> dict[str, Any]:
            tid = territory_of(url, body.territory)[0]
            with connect_for(request) as conn:
                feature = create_feeder(conn, tid, name=body.name, kind=body.kind, lon=body.lon, lat=body.lat)
            derive_and_save(url, tid, kinds=("power_feed",))
            return feature

        return JSONResponse(await run_in_threadpool(run), status_code=201)

    @router.delete(
        "/power-feeders/{feeder_id}",
        summary="Supprimer un départ d'alimentation électrique (et ses liens)",
        status_code=204,
        dependencies=editors,
    )
    async def remove_feeder(request: Request, feeder_id: Id) -> Response:
        url = request.app.state.database_url

        def run() -> None:
            with connect_for(request) as conn:
                tid = delete_feeder(conn, feeder_id)
            derive_and_save(url, tid, kinds=("power_feed",))

        await run_in_threadpool(run)
        return Response(status_code=204)

    return router
