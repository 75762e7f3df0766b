"""Every route of /api/openapi.json, called as anonymous and as every role, answers what the matrix says.

The permission of each operation is read from its ``x-hyperviseur-permission`` annotation (written by
``twin.security.openapi`` from the route's ``require(...)`` dependency) and checked against
``twin.security.permissions``: allowed means neither 401 nor 403 (nor a server error), refused means 401 for
anonymous and 403 for a signed-in role. ``INPUTS`` gives each operation minimal valid inputs; a route that
appears without an entry fails the walk, so whoever adds a route adds its line here.

The layer rule is walked too: for every role, ``/ogc/collections`` lists exactly the layers
``may_see_layer`` allows, a hidden layer's items and features answer 404, and ``/api/territories/{name}``
counts exactly the visible layers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from layers.catalog import load_catalog
from tests.incidents.helpers import walk_incident
from tests.layers.ogc_fixtures import (
    TERRITORY,
    Caller,
    load_territory,
    running_server,
    signed_in,
)
from tests.routing.dispatch_fixtures import walk_crew, walk_crew_body, walk_job, walk_job_body
from tests.simulation.scenarios.helpers import walk_run, walk_scenario
from twin.security.passwords import generate_password
from twin.security.permissions import Group, may_see_layer, may_use
from twin.security.roles import ACCOUNT_ROLES, Role
from twin.security.sessions import create_session

ROLES = (Role.ANONYMOUS, *ACCOUNT_ROLES)
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass
class World:
    """What the inputs of a call may need: the database, the fixture territory, fresh accounts."""

    url: str
    territory_id: int
    feature_id: int

    def throwaway(self, role: str = "crew") -> Caller:
        """A new account (and session) that a state-changing call may spend."""
        return signed_in(self.url, role, username=f"walk-{role.replace('_', '-')}-{secrets.token_hex(4)}")


@dataclass(frozen=True)
class Call:
    """Minimal valid inputs of one operation.

    ``path`` maps path parameters to values, or to a function of the world (a throwaway target);
    ``body`` builds the JSON body from the world and the caller (``None`` for anonymous); with
    ``own_account``, a signed-in role calls through a throwaway account of its role, because the call
    changes the caller's own session or account (sign-out, password, second factor).
    """

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Callable[[World, Caller | None], Any] | None = None
    own_account: bool = False


def _sign_in_body(world: World, _: Caller | None) -> dict[str, str]:
    target = world.throwaway("crew")
    return {"username": target.username, "password": target.password}


def _password_body(_: World, caller: Caller | None) -> dict[str, str]:
    current = caller.password if caller else generate_password()
    return {"current_password": current, "new_password": generate_password()}


def _new_account_body(_: World, __: Caller | None) -> dict[str, str]:
    return {"username": f"walk-new-{secrets.token_hex(4)}", "role": "analyst"}


def _throwaway_username(world: World) -> str:
    return world.throwaway("crew").username


def _feature(world: World) -> str:
    return str(world.feature_id)


PUBLIC_COLLECTION = "street_lights"
WALK_RASTER = "walk_raster"  # raster tiles: a name no test registers

STA_SETS = ("Things", "Locations", "Sensors", "Datastreams", "ObservedProperties", "Observations")
STA_SINGLE_PATHS = (
    "Things({key})",
    "Things({key})/Locations",
    "Things({key})/Datastreams",
    "Locations({key})",
    "Locations({key})/Things",
    "Sensors({key})",
    "Sensors({key})/Datastreams",
    "Datastreams({key})",
    "Datastreams({key})/Thing",
    "Datastreams({key})/Sensor",
    "Datastreams({key})/ObservedProperty",
    "Datastreams({key})/Observations",
)

# (METHOD, path as in the OpenAPI document) → its inputs. Extend it with every new route.
INPUTS: dict[tuple[str, str], Call] = {
    ("GET", "/health"): Call(),
    ("POST", "/api/auth/sign-in"): Call(body=_sign_in_body),
    ("POST", "/api/auth/sign-out"): Call(own_account=True),
    ("GET", "/api/auth/me"): Call(),
    ("POST", "/api/auth/password"): Call(body=_password_body, own_account=True),
    ("POST", "/api/auth/totp/setup"): Call(own_account=True),
    # A code that is not current: 400 for whoever may call the route, 401 for anonymous.
    ("POST", "/api/auth/totp/confirm"): Call(body=lambda w, c: {"code": "000000"}, own_account=True),
    # OIDC is not configured on the test server: both answer 404 (not configured) to whoever calls.
    ("GET", "/api/auth/oidc/login"): Call(query={"return_to": "/"}),
    ("GET", "/api/auth/oidc/callback"): Call(),
    ("GET", "/api/audit/entries"): Call(query={"limit": "5"}),
    ("GET", "/api/audit/verify"): Call(),
    ("GET", "/api/accounts"): Call(),
    ("POST", "/api/accounts"): Call(body=_new_account_body),
    ("POST", "/api/accounts/{username}/disable"): Call(path={"username": _throwaway_username}),
    ("POST", "/api/accounts/{username}/reset-password"): Call(path={"username": _throwaway_username}),
    # A reading of a sensor the walk territory may lack: 200, or 422 (nothing valid) — never 401/403 when allowed.
    ("POST", "/api/sensing/readings"): Call(
        body=lambda w, c: [{"sensor": 1, "observed_at": "2019-01-01T00:00:00Z", "value": 1.0}]
    ),
    # sensing read API (sensing/read_routes.py): sensor 1 may be absent or hidden (404 is allowed), thresholds
    # are created for the kind noise; PATCH and DELETE name no threshold.
    ("GET", "/api/sensing/kinds"): Call(),
    ("GET", "/api/sensing/sensors"): Call(query={"territory": TERRITORY}),
    ("GET", "/api/sensing/sensors/{sensor_id}"): Call(path={"sensor_id": 1}),
    ("GET", "/api/sensing/sensors/{sensor_id}/readings"): Call(path={"sensor_id": 1}, query={"step": "auto"}),
    ("GET", "/api/sensing/sensors/{sensor_id}/profile"): Call(path={"sensor_id": 1}),
    ("GET", "/api/sensing/detections"): Call(query={"limit": "5"}),
    ("GET", "/api/sensing/quality"): Call(query={"territory": TERRITORY}),
    ("GET", "/api/sensing/rejected"): Call(query={"limit": "5"}),
    ("GET", "/api/sensing/thresholds"): Call(query={"kind": "no2"}),
    ("POST", "/api/sensing/thresholds"): Call(
        body=lambda w, c: {
            "kind": "noise",
            "severity": "info",
            "direction": "above",
            "value": 199.0,
            "label_fr": "Marche de la route",
            "label_en": "Route walk",
        }
    ),
    ("PATCH", "/api/sensing/thresholds/{threshold_id}"): Call(
        path={"threshold_id": 999_999_999}, body=lambda w, c: {"value": 1.0}
    ),
    ("DELETE", "/api/sensing/thresholds/{threshold_id}"): Call(path={"threshold_id": 999_999_999}),
    # SensorThings (sensing/sta.py): entity 1 may be absent or hidden (404 is allowed).
    ("GET", "/sta/v1.1"): Call(),
    **{("GET", f"/sta/v1.1/{name}"): Call(query={"$top": "2"}) for name in STA_SETS},
    **{("GET", f"/sta/v1.1/{path}"): Call(path={"key": "1"}) for path in STA_SINGLE_PATHS},
    ("GET", "/sta/v1.1/ObservedProperties({key})"): Call(path={"key": "'no2'"}),
    ("GET", "/sta/v1.1/ObservedProperties({key})/Datastreams"): Call(path={"key": "'no2'"}),
    ("GET", "/sta/v1.1/Observations({key})"): Call(path={"key": "'1-1546300800000'"}),
    ("GET", "/sta/v1.1/Observations({key})/Datastream"): Call(path={"key": "'1-1546300800000'"}),
    ("GET", "/api/territories"): Call(),
    ("GET", "/api/territories/{name_or_id}"): Call(path={"name_or_id": TERRITORY}),
    ("GET", "/ogc"): Call(),
    ("GET", "/ogc/conformance"): Call(),
    ("GET", "/ogc/api"): Call(),
    ("GET", "/ogc/collections"): Call(),
    ("GET", "/ogc/collections/{collection_id}"): Call(path={"collection_id": PUBLIC_COLLECTION}),
    ("GET", "/ogc/collections/{collection_id}/queryables"): Call(path={"collection_id": PUBLIC_COLLECTION}),
    ("GET", "/ogc/collections/{collection_id}/items"): Call(
        path={"collection_id": PUBLIC_COLLECTION}, query={"limit": "2"}
    ),
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): Call(
        path={"collection_id": PUBLIC_COLLECTION, "feature_id": _feature}
    ),
    # raster tiles (tiles/raster_routes.py): the walk's server has no raster file, so every named raster
    # answers 404 to every role (the listing answers 200); tests/tiles/test_raster.py serves real ones.
    ("GET", "/raster/rasters"): Call(),
    ("GET", "/raster/{raster}/info"): Call(path={"raster": WALK_RASTER}),
    ("GET", "/raster/{raster}/info.geojson"): Call(path={"raster": WALK_RASTER}),
    ("GET", "/raster/{raster}/statistics"): Call(path={"raster": WALK_RASTER}),
    ("GET", "/raster/{raster}/{tileMatrixSetId}/tilejson.json"): Call(
        path={"raster": WALK_RASTER, "tileMatrixSetId": "WebMercatorQuad"}
    ),
    ("GET", "/raster/{raster}/tiles/{tileMatrixSetId}/{z}/{x}/{y}"): Call(
        path={"raster": WALK_RASTER, "tileMatrixSetId": "WebMercatorQuad", "z": 15, "x": 16846, "y": 11391}
    ),
    ("GET", "/raster/{raster}/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}"): Call(
        path={
            "raster": WALK_RASTER,
            "tileMatrixSetId": "WebMercatorQuad",
            "z": 15,
            "x": 16846,
            "y": 11391,
            "format": "png",
        }
    ),
    ("GET", "/raster/{raster}/point/{lon},{lat}"): Call(
        path={"raster": WALK_RASTER, "lon": 7.75, "lat": 48.58}
    ),
    # style, glyphs and sprites (tiles/style_routes.py)
    ("GET", "/tiles/style.json"): Call(query={"lang": "fr"}),
    ("GET", "/tiles/glyphs/{fontstack}/{glyph_range}.pbf"): Call(
        path={"fontstack": "DejaVu Sans Book", "glyph_range": "0-255"}
    ),
    ("GET", "/tiles/sprites/sprite.json"): Call(),
    ("GET", "/tiles/sprites/sprite.png"): Call(),
    ("GET", "/tiles/sprites/sprite@2x.json"): Call(),
    ("GET", "/tiles/sprites/sprite@2x.png"): Call(),
    # vector tiles (tiles/routes.py, tiles/ogc_tiles.py)
    ("GET", "/tiles/tilejson.json"): Call(),
    ("GET", "/tiles/{layer}/tilejson.json"): Call(path={"layer": PUBLIC_COLLECTION}),
    ("GET", "/tiles/{z}/{x}/{y}.{fmt}"): Call(path={"z": 14, "x": 8529, "y": 5975, "fmt": "pbf"}),
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.{fmt}"): Call(
        path={"layer": PUBLIC_COLLECTION, "z": 14, "x": 8529, "y": 5975, "fmt": "pbf"}
    ),
    # routing (routing/routes.py, routing/closure_routes.py): the fixture territory's four crossings near
    # Strasbourg; closures are created for a minute on an area over Rue du Dôme, deletion names no closure.
    ("GET", "/api/routing/route"): Call(
        query={"territory": TERRITORY, "start": "7.7505,48.5800", "end": "7.7515,48.5820"}
    ),
    ("POST", "/api/routing/matrix"): Call(
        body=lambda w, c: {"territory": TERRITORY, "origins": [[7.7505, 48.58], [7.7515, 48.582]]}
    ),
    ("GET", "/api/routing/isochrones"): Call(
        query={"territory": TERRITORY, "start": "7.7505,48.5800", "budgets_s": "30,60"}
    ),
    ("GET", "/api/routing/closest"): Call(
        query={
            "territory": TERRITORY,
            "point": "7.7505,48.5800",
            "candidates": "7.7515,48.5820;7.7520,48.5810",
        }
    ),
    ("GET", "/api/routing/closures"): Call(query={"territory": TERRITORY}),
    ("POST", "/api/routing/closures"): Call(
        body=lambda w, c: {
            "territory": TERRITORY,
            "reason": "route walk",
            "duration_s": 60,
            "area": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [7.7509, 48.5799],
                        [7.7511, 48.5799],
                        [7.7511, 48.5801],
                        [7.7509, 48.5801],
                        [7.7509, 48.5799],
                    ]
                ],
            },
        }
    ),
    ("DELETE", "/api/routing/closures/{closure_id}"): Call(path={"closure_id": 999_999_999}),
    ("GET", "/ogc/tileMatrixSets"): Call(),
    ("GET", "/ogc/tileMatrixSets/{tms_id}"): Call(path={"tms_id": "WebMercatorQuad"}),
    ("GET", "/ogc/tiles"): Call(),
    ("GET", "/ogc/tiles/{tms_id}"): Call(path={"tms_id": "WebMercatorQuad"}),
    ("GET", "/ogc/tiles/{tms_id}/{tile_matrix}/{tile_row}/{tile_col}"): Call(
        path={"tms_id": "WebMercatorQuad", "tile_matrix": 14, "tile_row": 5975, "tile_col": 8529}
    ),
    ("GET", "/ogc/collections/{collection_id}/tiles"): Call(path={"collection_id": PUBLIC_COLLECTION}),
    ("GET", "/ogc/collections/{collection_id}/tiles/{tms_id}"): Call(
        path={"collection_id": PUBLIC_COLLECTION, "tms_id": "WebMercatorQuad"}
    ),
    ("GET", "/ogc/collections/{collection_id}/tiles/{tms_id}/{tile_matrix}/{tile_row}/{tile_col}"): Call(
        path={
            "collection_id": PUBLIC_COLLECTION,
            "tms_id": "WebMercatorQuad",
            "tile_matrix": 14,
            "tile_row": 5975,
            "tile_col": 8529,
        }
    ),
    # crew dispatch (routing/dispatch_routes.py)
    ("GET", "/api/dispatch/crews"): Call(query={"territory": TERRITORY}),
    ("POST", "/api/dispatch/crews"): Call(body=lambda w, c: walk_crew_body(w.territory_id)),
    ("GET", "/api/dispatch/crews/{crew_id}"): Call(
        path={"crew_id": lambda w: walk_crew(w.url, w.territory_id)}
    ),
    ("PATCH", "/api/dispatch/crews/{crew_id}"): Call(
        path={"crew_id": lambda w: walk_crew(w.url, w.territory_id)}, body=lambda w, c: {"capacity": 3}
    ),
    ("DELETE", "/api/dispatch/crews/{crew_id}"): Call(
        path={"crew_id": lambda w: walk_crew(w.url, w.territory_id)}
    ),
    ("GET", "/api/dispatch/jobs"): Call(query={"territory": TERRITORY, "status": "new"}),
    ("POST", "/api/dispatch/jobs"): Call(body=lambda w, c: walk_job_body(w.url, w.territory_id)),
    ("GET", "/api/dispatch/jobs/{job_id}"): Call(path={"job_id": lambda w: walk_job(w.url, w.territory_id)}),
    ("PATCH", "/api/dispatch/jobs/{job_id}"): Call(
        path={"job_id": lambda w: walk_job(w.url, w.territory_id)}, body=lambda w, c: {"priority": 4}
    ),
    ("DELETE", "/api/dispatch/jobs/{job_id}"): Call(
        path={"job_id": lambda w: walk_job(w.url, w.territory_id)}
    ),
    ("POST", "/api/dispatch/plan"): Call(
        body=lambda w, c: {"territory": TERRITORY, "time_budget_s": 0.5, "apply": False}
    ),
    ("POST", "/api/dispatch/replan"): Call(
        body=lambda w, c: {"territory": TERRITORY, "time_budget_s": 0.5, "apply": False}
    ),
    # A plan id no test stores: 404 for whoever may read plans.
    ("GET", "/api/dispatch/plans/{plan_id}"): Call(path={"plan_id": 999_999_999}),
    # The walk's territory has no active plan (the plan above is not applied): 404 for whoever may read plans.
    ("GET", "/api/dispatch/plans/active"): Call(query={"territory": TERRITORY}),
    # The walk's crew accounts are linked to no crew: 404 saying so, for whoever may call.
    ("GET", "/api/dispatch/my-jobs"): Call(),
    ("POST", "/api/dispatch/my-jobs/{job_id}/status"): Call(
        path={"job_id": lambda w: walk_job(w.url, w.territory_id)}, body=lambda w, c: {"status": "started"}
    ),
    # incidents and the main courante (incidents/routes.py): each write spends a fresh incident of the walk's
    # territory; a crew linked to no crew sees none (404 on reads by id).
    ("GET", "/api/incidents"): Call(query={"territory": TERRITORY}),
    ("POST", "/api/incidents"): Call(
        body=lambda w, c: {
            "territory": TERRITORY,
            "title": "Route walk",
            "category": "other",
            "severity": "info",
            "lon": 7.751,
            "lat": 48.581,
        }
    ),
    ("GET", "/api/incidents/log"): Call(query={"territory": TERRITORY, "limit": "5"}),
    ("POST", "/api/incidents/log"): Call(body=lambda w, c: {"territory": TERRITORY, "text": "route walk"}),
    ("GET", "/api/incidents/{incident_id}"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)}
    ),
    ("PATCH", "/api/incidents/{incident_id}"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)},
        body=lambda w, c: {"priority": 5},
    ),
    ("POST", "/api/incidents/{incident_id}/acknowledge"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)}, body=lambda w, c: {}
    ),
    ("POST", "/api/incidents/{incident_id}/assign"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)},
        body=lambda w, c: {"assigned_to": "route walk"},
    ),
    ("POST", "/api/incidents/{incident_id}/resolve"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)},
        body=lambda w, c: {"resolution": "route walk"},
    ),
    # incident consequences (simulation/live_use/routes.py): computed automatically, so a fresh incident's row
    # may not exist yet (404 "not computed yet") for whoever may read; POST queues a computation (202).
    ("GET", "/api/incidents/{incident_id}/consequences"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)}
    ),
    ("POST", "/api/incidents/{incident_id}/consequences"): Call(
        path={"incident_id": lambda w: walk_incident(w.url, w.territory_id)}
    ),
    ("POST", "/api/simulation/consequences"): Call(
        body=lambda w, c: {
            "territory": TERRITORY,
            "events": [
                {
                    "type": "flood",
                    "area": {
                        "type": "Polygon",
                        "coordinates": [
                            [[7.74, 48.57], [7.76, 48.57], [7.76, 48.59], [7.74, 48.59], [7.74, 48.57]]
                        ],
                    },
                }
            ],
        }
    ),
    # live stream (live/): the walk asks without 'Accept: text/event-stream', so the endless stream answers
    # 406 to whoever may open it (tests/live/test_resume.py reads real streams).
    ("GET", "/api/live/events"): Call(query={"topics": "incident"}),
    ("GET", "/api/live/status"): Call(),
    # dependency model (simulation/dependency_routes.py): the walk territory's links are derived on first read;
    # an edit states that the first street light lights no road (it may be hidden: 404 is allowed); deletions name
    # no link or feeder (404); each new feeder gets a fresh name.
    ("GET", "/api/simulation/dependencies/summary"): Call(query={"territory": TERRITORY}),
    ("GET", "/api/simulation/dependencies"): Call(
        query={"territory": TERRITORY, "layer": "street_lights", "id": "1"}
    ),
    ("PUT", "/api/simulation/dependencies"): Call(
        body=lambda w, c: {
            "territory": TERRITORY,
            "kind": "street_light_road",
            "dependent_layer": "street_lights",
            "dependent_id": w.feature_id,
            "provider_layer": "road_edges",
            "provider_id": None,
            "note": "route walk",
        }
    ),
    ("DELETE", "/api/simulation/dependencies/{link_id}"): Call(path={"link_id": 999_999_999}),
    ("POST", "/api/simulation/dependencies/derive"): Call(body=lambda w, c: {"territory": TERRITORY}),
    ("GET", "/api/simulation/power-feeders"): Call(query={"territory": TERRITORY}),
    ("POST", "/api/simulation/power-feeders"): Call(
        body=lambda w, c: {
            "territory": TERRITORY,
            "name": f"walk-{secrets.token_hex(4)}",
            "kind": "cabinet",
            "lon": 7.751,
            "lat": 48.581,
        }
    ),
    ("DELETE", "/api/simulation/power-feeders/{feeder_id}"): Call(path={"feeder_id": 999_999_999}),
    # what-if scenarios (simulation/scenarios/routes.py): fresh scenarios and runs of the walk's territory.
    ("GET", "/api/simulation/scenarios"): Call(query={"territory": TERRITORY}),
    ("POST", "/api/simulation/scenarios"): Call(body=lambda w, c: {"territory": TERRITORY, "name": "walk"}),
    ("GET", "/api/simulation/scenarios/{scenario_id}"): Call(
        path={"scenario_id": lambda w: walk_scenario(w.url, w.territory_id)}
    ),
    ("PATCH", "/api/simulation/scenarios/{scenario_id}"): Call(
        path={"scenario_id": lambda w: walk_scenario(w.url, w.territory_id)},
        body=lambda w, c: {"version": 1, "name": "walk 2"},
    ),
    ("DELETE", "/api/simulation/scenarios/{scenario_id}"): Call(
        path={"scenario_id": lambda w: walk_scenario(w.url, w.territory_id)}
    ),
    ("POST", "/api/simulation/scenarios/{scenario_id}/copy"): Call(
        path={"scenario_id": lambda w: walk_scenario(w.url, w.territory_id)}, body=lambda w, c: {}
    ),
    ("GET", "/api/simulation/scenarios/{scenario_id}/runs"): Call(
        path={"scenario_id": lambda w: walk_scenario(w.url, w.territory_id)}
    ),
    ("POST", "/api/simulation/scenarios/{scenario_id}/runs"): Call(
        path={"scenario_id": lambda w: walk_scenario(w.url, w.territory_id)}
    ),
    ("GET", "/api/simulation/runs/{run_id}"): Call(
        path={"run_id": lambda w: walk_run(w.url, w.territory_id)}
    ),
    # A finished run: 409 for whoever may cancel.
    ("POST", "/api/simulation/runs/{run_id}/cancel"): Call(
        path={"run_id": lambda w: walk_run(w.url, w.territory_id)}
    ),
    ("GET", "/api/simulation/runs/{run_id}/report"): Call(
        path={"run_id": lambda w: walk_run(w.url, w.territory_id)}
    ),
    ("GET", "/api/simulation/runs/{run_id}/layers"): Call(
        path={"run_id": lambda w: walk_run(w.url, w.territory_id)}
    ),
    ("GET", "/api/simulation/runs/{run_id}/download"): Call(
        path={"run_id": lambda w: walk_run(w.url, w.territory_id)}, query={"format": "csv"}
    ),
}


@pytest.fixture(scope="module")
def world(database_url: str) -> World:
    territory_id = load_territory(database_url)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT min(id) FROM twin.street_lights WHERE territory_id = %s", (territory_id,)
        ).fetchone()
    assert row is not None and row[0] is not None
    return World(url=database_url, territory_id=territory_id, feature_id=int(row[0]))


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    with running_server(world.url) as url:
        yield url


@pytest.fixture(scope="module")
def callers(world: World) -> dict[Role, Caller | None]:
    """One signed-in account per role (admin and operator with their second factor done)."""
    out: dict[Role, Caller | None] = {Role.ANONYMOUS: None}
    for role in ACCOUNT_ROLES:
        out[role] = signed_in(world.url, role)
    return out


@pytest.fixture(scope="module")
def document(server: str) -> dict[str, Any]:
    response = httpx.get(f"{server}/api/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _allowed(role: Role, permission: dict[str, Any]) -> bool:
    if permission["session"] and role is Role.ANONYMOUS:
        return False
    return may_use(role, Group(permission["group"]))


def test_every_route_has_inputs_and_a_permission(document):
    operations = _operations(document)
    missing = sorted(set(operations) - set(INPUTS))
    stale = sorted(set(INPUTS) - set(operations))
    assert not missing, f"new routes without an entry in INPUTS of {__file__}: {missing}"
    assert not stale, f"INPUTS names routes that no longer exist: {stale}"
    for key, operation in operations.items():
        permission = operation.get("x-hyperviseur-permission")
        assert permission is not None, f"{key} has no x-hyperviseur-permission"
        assert Group(permission["group"]) in Group and isinstance(permission["session"], bool), key
    # The annotation really reflects the require(...) dependencies.
    assert operations["GET", "/api/accounts"]["x-hyperviseur-permission"] == {
        "group": "accounts",
        "session": True,
    }
    assert operations["GET", "/api/auth/me"]["x-hyperviseur-permission"] == {
        "group": "session",
        "session": True,
    }
    assert operations["GET", "/ogc/collections"]["x-hyperviseur-permission"] == {
        "group": "public",
        "session": False,
    }


def _call(server: str, world: World, key: tuple[str, str], token: str | None, caller: Caller | None):
    method, template = key
    spec = INPUTS[key]
    path = template
    for name, value in spec.path.items():
        path = path.replace("{" + name + "}", str(value(world) if callable(value) else value))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = spec.body(world, caller) if spec.body else None
    return httpx.request(method, f"{server}{path}", params=spec.query, json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_every_route_answers_as_the_matrix_says(server, world, callers, document, role):
    operations = _operations(document)
    assert set(operations) <= set(INPUTS), "see test_every_route_has_inputs_and_a_permission"
    wrong = []
    for key in sorted(operations):
        permission = operations[key]["x-hyperviseur-permission"]
        caller = callers[role]
        if caller is not None and INPUTS[key].own_account:
            caller = world.throwaway(role.value)
        response = _call(server, world, key, caller.token if caller else None, caller)
        allowed = _allowed(role, permission)
        if allowed:
            ok = response.status_code not in (401, 403) and response.status_code < 500
        else:
            ok = response.status_code == (401 if role is Role.ANONYMOUS else 403)
        if not ok:
            wrong.append(
                f"{key} {permission}: {'allowed' if allowed else 'refused'}, got {response.status_code}"
                f" {response.text[:200]}"
            )
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


def test_a_session_without_its_second_factor_only_reaches_its_own_account(server, world, document):
    """An admin signed in with a password only (scope enroll_totp, second factor not yet enrolled) reaches
    public and session routes, and is refused every other group until the second factor is confirmed."""
    caller = signed_in(world.url, "admin")
    with psycopg.connect(world.url) as conn:
        token, _ = create_session(conn, caller.account_id, method="password", scope="enroll_totp", ttl_s=600)
    operations = _operations(document)
    for key in sorted(operations):
        permission = operations[key]["x-hyperviseur-permission"]
        if INPUTS[key].own_account:
            continue  # spends the session; /api/auth/me below stands for the session group
        response = _call(server, world, key, token, caller)
        if permission["group"] in ("public", "session"):
            assert response.status_code not in (401, 403), (key, response.text)
        else:
            assert response.status_code == 403, (key, response.text)
            assert "enrol a second factor" in response.json()["detail"]
    me = httpx.get(f"{server}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["scope"] == "enroll_totp"
    # Layers: a password alone shows no more than anonymous sees.
    ids = {
        c["id"]
        for c in httpx.get(f"{server}/ogc/collections", headers={"Authorization": f"Bearer {token}"}).json()[
            "collections"
        ]
    }
    anonymous = {c["id"] for c in httpx.get(f"{server}/ogc/collections").json()["collections"]}
    assert ids == anonymous


# --- the layer rule, for every role ---


async def _servable_layers(url: str) -> dict[str, str]:
    conn = await psycopg.AsyncConnection.connect(url, row_factory=dict_row)
    async with conn:
        return {layer.name: layer.visibility for layer in await load_catalog(conn)}


def _first_ids(world: World, layers: dict[str, str]) -> dict[str, int | None]:
    """One feature id of the fixture territory per layer; None for a layer without features there."""
    ids = {}
    with psycopg.connect(world.url) as conn:
        for name in layers:
            table, layer_filter = conn.execute(
                "SELECT table_name, layer_filter FROM twin.layer_catalog WHERE name = %s", (name,)
            ).fetchone()
            query = f"SELECT min(id) FROM twin.{table} WHERE territory_id = %s"
            params: tuple[Any, ...] = (world.territory_id,)
            if table == "gis_features":
                query, params = query + " AND layer = %s", (world.territory_id, layer_filter)
            row = conn.execute(query, params).fetchone()
            ids[name] = int(row[0]) if row and row[0] is not None else None
    return ids


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_every_role_sees_exactly_the_layers_the_matrix_allows(server, world, callers, role):
    layers = asyncio.run(_servable_layers(world.url))
    assert {"public", "internal", "restricted"} <= set(layers.values()), "the walk needs every visibility"
    expected = {name for name, visibility in layers.items() if may_see_layer(role, visibility)}
    caller = callers[role]
    headers = {"Authorization": f"Bearer {caller.token}"} if caller else {}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as client:
        listed = {c["id"] for c in client.get("/ogc/collections").json()["collections"]}
        assert listed == expected
        feature_ids = _first_ids(world, layers)
        for name in sorted(layers):
            fid = feature_ids[name] or 1
            for path in (f"/ogc/collections/{name}", f"/ogc/collections/{name}/items"):
                status = client.get(path).status_code
                assert status == (200 if name in expected else 404), (role, path, status)
            single = client.get(f"/ogc/collections/{name}/items/{fid}").status_code
            if name not in expected:
                assert single == 404, (role, name)
            elif feature_ids[name] is not None:
                assert single == 200, (role, name, fid)
        summary = client.get(f"/api/territories/{TERRITORY}").json()
        assert set(summary["layers"]) == expected
        by_id = client.get(f"/api/territories/{world.territory_id}").json()
        assert by_id["layers"] == summary["layers"]
