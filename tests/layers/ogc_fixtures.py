"""A tiny territory for the OGC API tests, a live uvicorn server, signed-in callers, and the OGC JSON schemas."""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
import uvicorn
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from layers.model import TerritoryData
from layers.store import store_territory
from tests.common import OGC_DIR
from twin.app import create_app
from twin.cluster import free_port
from twin.security.accounts import create_account
from twin.security.crypto import Keyring
from twin.security.sessions import create_session
from twin.settings import (
    DatabaseSettings,
    MqttSettings,
    SecuritySettings,
    SensingSettings,
    ServerSettings,
    Settings,
    TileSettings,
)

TERRITORY = "Ogctest-Strasbourg"
GIS_LAYER = "defibrillateurs_ogctest"
UNLISTED_GIS_LAYER = "bancs_ogctest"
SCHEMA_DIR = OGC_DIR / "ogcapi-features-1-openapi" / "schemas"
# A base the registry answers for; nothing is ever fetched from it (no retrieve hook is given,
# so an unknown reference fails instead of going to the network).
SCHEMA_BASE = "https://schemas.invalid/ogcapi-features-1/"

# One fixed data key for every test server and every account the tests create, so that a TOTP secret
# stored by a test can be read by the server (a test key, never used anywhere else).
TEST_DATA_KEYS = "test1:" + base64.urlsafe_b64encode(b"hyperviseur-test-data-key-32byte").decode()
# Rate limits far above what a test sends from its one address (the route walk and schemathesis call
# hundreds of routes a minute); the tests of the limits themselves set their own.
TEST_SECURITY = {
    "data_keys": TEST_DATA_KEYS,
    "signin_rate_per_min": 100_000,
    "expensive_rate_per_min": 100_000,
}

# Around Strasbourg (inside the bbox 5,48,20,70 that ogctests queries), lon/lat.
X0, Y0 = 7.7500, 48.5800


def _frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _square(x: float, y: float, d: float = 0.0002) -> MultiPolygon:
    return MultiPolygon([Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])])


def _edge(
    u: int, v: int, nodes: dict[int, tuple[float, float]], name: str, length_m: float, **kw: Any
) -> dict:
    return {
        "source_key": u,
        "target_key": v,
        "source_id": f"way/{u}{v}",
        "name": name,
        "highway": "residential",
        "oneway": kw.get("oneway", False),
        "reversed": kw.get("reversed", False),
        "maxspeed": None,
        "lanes": None,
        "length_m": length_m,
        "speed_kph": 30.0,
        "travel_time_s": length_m / (30 / 3.6),
        "attributes": {},
        "geometry": LineString([nodes[u], nodes[v]]),
    }


def territory_data() -> TerritoryData:
    """Four crossings, five road arcs, three buildings, two critical sites, six street lights (one
    far north, outside most test boxes), a sensor, a restricted water pipe, three defibrillators and
    one row of a GIS layer that is not in the catalog."""
    nodes = {1: (X0, Y0), 2: (X0 + 0.002, Y0), 3: (X0 + 0.002, Y0 + 0.002), 4: (X0, Y0 + 0.002)}
    road_nodes = _frame(
        [
            {
                "node_key": k,
                "source_id": f"node/{k}",
                "street_count": 2,
                "attributes": {},
                "geometry": Point(xy),
            }
            for k, xy in nodes.items()
        ]
    )
    road_edges = _frame(
        [
            _edge(1, 2, nodes, "Rue du Dôme", 148.0),
            _edge(2, 1, nodes, "Rue du Dôme", 148.0, reversed=True),
            _edge(2, 3, nodes, "Quai Saint-Thomas", 222.0, oneway=True),
            _edge(3, 4, nodes, "Place Kléber", 148.0),
            _edge(4, 3, nodes, "Place Kléber", 148.0, reversed=True),
        ]
    )
    buildings = _frame(
        [
            {
                "source_id": "way/10",
                "name": "Hôtel de Ville",
                "use": "civic",
                "height_m": 18.0,
                "levels": 4,
                "area_m2": 350.0,
                "residents_est": 0,
                "attributes": {},
                "geometry": _square(X0 + 0.0005, Y0 + 0.0005),
            },
            {
                "source_id": "way/11",
                "name": None,
                "use": "residential",
                "height_m": 12.0,
                "levels": 4,
                "area_m2": 200.0,
                "residents_est": 20,
                "attributes": {},
                "geometry": _square(X0 + 0.0012, Y0 + 0.0005),
            },
            {
                "source_id": "way/12",
                "name": "Résidence « Les Tilleuls »",
                "use": "residential",
                "height_m": 9.0,
                "levels": 3,
                "area_m2": 150.0,
                "residents_est": 11,
                "attributes": {},
                "geometry": _square(X0 + 0.0005, Y0 + 0.0013),
            },
        ]
    )
    critical_sites = _frame(
        [
            {
                "source_id": "node/20",
                "name": "Mairie",
                "kind": "town_hall",
                "attributes": {},
                "geometry": Point(X0 + 0.0006, Y0 + 0.0006),
            },
            {
                "source_id": "node/21",
                "name": "École élémentaire",
                "kind": "school",
                "attributes": {},
                "geometry": Point(X0 + 0.0015, Y0 + 0.0015),
            },
        ]
    )
    lights = [
        {
            "source_id": f"node/3{i}",
            "lamp_type": "LED",
            "power_w": 40.0 + i,
            "attributes": {},
            "geometry": Point(X0 + 0.0004 * i, Y0 + 0.0001),
        }
        for i in range(5)
    ]
    lights.append(
        {
            "source_id": "node/39",
            "lamp_type": "sodium",
            "power_w": 150.0,
            "attributes": {},
            "geometry": Point(X0, Y0 + 0.05),
        }
    )
    sensors = _frame(
        [
            {
                "name": "debit-01",
                "kind": "flow",
                "unit": "m3/h",
                "asset_layer": None,
                "asset_id": None,
                "attributes": {},
                "geometry": Point(X0 + 0.001, Y0 + 0.001),
            }
        ]
    )
    pipes = _frame(
        [
            {
                "name": "P1",
                "start_node": "J1",
                "end_node": "J2",
                "length_m": 150.0,
                "diameter_m": 0.2,
                "roughness": 100.0,
                "status": "open",
                "attributes": {},
                "geometry": LineString([(X0, Y0 + 0.0001), (X0 + 0.002, Y0 + 0.0001)]),
            }
        ]
    )
    defibs = _frame(
        [
            {
                "layer": GIS_LAYER,
                "source_id": f"dae-{i}",
                "attributes": {"acces": "libre", "etage": i},
                "geometry": Point(X0 + 0.0003 * i, Y0 + 0.0007),
            }
            for i in range(3)
        ]
        # Rows of a GIS layer that is not in the catalog: they must never be served.
        + [
            {
                "layer": UNLISTED_GIS_LAYER,
                "source_id": "banc-1",
                "attributes": {"acces": "libre"},
                "geometry": Point(X0 + 0.0001, Y0 + 0.0007),
            }
        ]
    )
    return TerritoryData(
        name=TERRITORY,
        crs_epsg=2154,
        source="tests/layers/ogc_fixtures.py",
        layers={
            "road_nodes": road_nodes,
            "road_edges": road_edges,
            "buildings": buildings,
            "critical_sites": critical_sites,
            "street_lights": _frame(lights),
            "sensors": sensors,
            "water_pipes": pipes,
            "gis_features": defibs,
        },
    )


def load_territory(url: str) -> int:
    """Store the fixture territory (replacing an earlier copy) and register its GIS layer."""
    fields = [
        {"name": "acces", "type": "string", "title_fr": "Accès", "title_en": "Access"},
        {"name": "etage", "type": "integer", "title_fr": "Étage", "title_en": "Floor"},
    ]
    with psycopg.connect(url) as conn:
        tid = store_territory(conn, territory_data())
        conn.execute(
            "INSERT INTO twin.layer_catalog (name, table_name, layer_filter, title_fr, title_en,"
            " description_fr, geometry_type, fields, visibility, sort_order)"
            " VALUES (%s, 'gis_features', %s, 'Défibrillateurs', 'Defibrillators',"
            " 'DAE du territoire de test.', 'Point', %s, 'public', 90) ON CONFLICT (name) DO NOTHING",
            (GIS_LAYER, GIS_LAYER, json.dumps(fields)),
        )
    return tid


def keyring_for_tests() -> Keyring:
    return Keyring.parse(TEST_DATA_KEYS)


@dataclass(frozen=True)
class Caller:
    """A signed-in test account: its name, password, session token and TOTP URI (admin, operator)."""

    username: str
    role: str
    password: str
    token: str
    account_id: int
    totp_uri: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signed_in(url: str, role: str, *, username: str | None = None, ttl_s: int = 3600) -> Caller:
    """Create an account of ``role`` (unique name unless given) and a full-scope session for it.

    Accounts whose role requires TOTP get their second factor at creation, so a ``full`` session is
    what they hold after signing in with password and code.
    """
    username = username or f"{role.replace('_', '-')}-{secrets.token_hex(4)}"
    with psycopg.connect(url) as conn:
        new = create_account(conn, keyring_for_tests(), username=username, role=role)
        token, _ = create_session(conn, new.account.id, method="password", scope="full", ttl_s=ttl_s)
    assert new.password is not None
    return Caller(username, role, new.password, token, new.account.id, new.totp_uri)


@contextmanager
def running_server(
    database_url: str,
    *,
    security: dict[str, Any] | None = None,
    tiles: dict[str, Any] | None = None,
    sensing: dict[str, Any] | None = None,
    mqtt: dict[str, Any] | None = None,
    **server: Any,
) -> Iterator[str]:
    """Serve ``create_app`` with uvicorn on a free local port in a thread; yield its base URL.

    ``security`` overrides ``SecuritySettings`` fields on top of :data:`TEST_SECURITY`; ``tiles`` overrides
    ``TileSettings`` (the disk cache goes to a fresh temporary folder unless ``disk_dir`` is given);
    ``sensing`` and ``mqtt`` override ``SensingSettings`` (no MQTT ingester unless ``ingest`` is True) and
    ``MqttSettings``.
    """
    settings = server_settings(
        database_url, security=security, tiles=tiles, sensing=sensing, mqtt=mqtt, **server
    )
    with serve_app(create_app(settings)) as url:
        yield url


def server_settings(
    database_url: str,
    *,
    security: dict[str, Any] | None = None,
    tiles: dict[str, Any] | None = None,
    sensing: dict[str, Any] | None = None,
    mqtt: dict[str, Any] | None = None,
    **server: Any,
) -> Settings:
    """Settings of a test server: :data:`TEST_SECURITY`, the tile disk cache in a fresh temporary folder,
    no MQTT ingester unless ``sensing={"ingest": True}`` (and ``mqtt`` says which broker)."""
    tiles = dict(tiles or {})
    if tiles.get("disk_cache", True) and "disk_dir" not in tiles:
        tiles["disk_dir"] = Path(tempfile.mkdtemp(prefix="hyperviseur-test-tiles-"))
    return Settings(
        database=DatabaseSettings(database_url=database_url, pool_max_size=4),
        server=ServerSettings(environment="test", **server),
        security=SecuritySettings(**{**TEST_SECURITY, **(security or {})}),
        tiles=TileSettings(**tiles),
        sensing=SensingSettings(**{"ingest": False, **(sensing or {})}),
        mqtt=MqttSettings(**(mqtt or {})),
    )


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an app with uvicorn on a free local port in a thread; yield its base URL."""
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


def _null_types(node: Any) -> Any:
    # The official 1.1 schemas write `type: null` meaning the JSON type "null", but YAML reads a bare
    # null as None; put the string back so that JSON Schema understands it.
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "type" and value is None:
                out[key] = "null"
            elif key == "type" and isinstance(value, list):
                out[key] = ["null" if v is None else v for v in value]
            else:
                out[key] = _null_types(value)
        return out
    if isinstance(node, list):
        return [_null_types(v) for v in node]
    return node


def ogc_registry() -> Registry:
    """The OGC API Features 1.1 schemas (local copies), each under its file name, for relative $refs."""
    resources = []
    for path in sorted(Path(SCHEMA_DIR).glob("*.yaml")):
        contents = _null_types(yaml.safe_load(path.read_text(encoding="utf-8")))
        resources.append((SCHEMA_BASE + path.name, Resource.from_contents(contents, DRAFT202012)))
    return Registry().with_resources(resources)


def assert_ogc_valid(registry: Registry, document: Any, schema_file: str) -> None:
    """Validate ``document`` against one official schema (e.g. ``featureCollectionGeoJSON.yaml``)."""
    validator = Draft202012Validator(
        {"$ref": SCHEMA_BASE + schema_file},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, f"{schema_file}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
