"""``/tiles`` and OGC API Tiles over HTTP: content, roles, conditional requests, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.common import OGC_DIR, database_fingerprint
from tests.layers.ogc_fixtures import running_server, signed_in
from tests.tiles.tile_fixtures import MONACO_CENTRE, decode
from tiles.coords import tile_of

MVT = "application/vnd.mapbox-vector-tile"
T16 = tile_of(*MONACO_CENTRE, 16)


@pytest.fixture(scope="module")
def base_url(monaco_url: str) -> Iterator[str]:
    with running_server(monaco_url) as url:
        yield url


@pytest.fixture(scope="module")
def anonymous(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def _client(base_url: str, url: str, role: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30, headers=signed_in(url, role).headers)


@pytest.fixture(scope="module")
def analyst(base_url: str, monaco_url: str) -> Iterator[httpx.Client]:
    with _client(base_url, monaco_url, "analyst") as c:
        yield c


@pytest.fixture(scope="module")
def planner(base_url: str, monaco_url: str) -> Iterator[httpx.Client]:
    with _client(base_url, monaco_url, "planner") as c:
        yield c


def _direct(url: str, layer: str, z: int, x: int, y: int) -> bytes:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT tiles.tile_{layer}(%s::integer, %s::integer, %s::integer, '{{}}'::json)",
            (z, x, y),
            binary=True,
        ).fetchone()
    return bytes(row[0])


def test_a_layer_tile_is_what_its_sql_function_makes(anonymous: httpx.Client, monaco_url: str) -> None:
    r = anonymous.get(f"/tiles/road_edges/{T16}.pbf")
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    assert r.content == _direct(monaco_url, "road_edges", T16.z, T16.x, T16.y)
    assert r.headers["cache-control"] == "public, no-cache" and r.headers["etag"]
    again = anonymous.get(f"/tiles/road_edges/{T16}.mvt")  # second time, from the cache
    assert again.content == r.content and again.headers["etag"] == r.headers["etag"]


def test_conditional_request_and_empty_tile(anonymous: httpx.Client) -> None:
    r = anonymous.get(f"/tiles/road_edges/{T16}.pbf")
    same = anonymous.get(f"/tiles/road_edges/{T16}.pbf", headers={"If-None-Match": r.headers["etag"]})
    assert same.status_code == 304 and not same.content
    empty = anonymous.get("/tiles/road_edges/16/0/0.pbf")  # mid-Pacific
    assert empty.status_code == 204 and not empty.content


def test_combined_tile_holds_only_the_layers_the_caller_may_see(
    anonymous: httpx.Client, analyst: httpx.Client
) -> None:
    public = decode(anonymous.get(f"/tiles/{T16}.pbf").content)
    staff = decode(analyst.get(f"/tiles/{T16}.pbf").content)
    assert "road_edges" in public and "buildings" not in public and "critical_sites" not in public
    assert {"road_edges", "buildings", "critical_sites"} <= set(staff)
    only = decode(analyst.get(f"/tiles/{T16}.pbf", params={"layers": "buildings"}).content)
    assert set(only) == {"buildings"}
    assert anonymous.get(f"/tiles/{T16}.pbf", params={"layers": "buildings"}).status_code == 404


def test_internal_layer_is_404_for_anonymous_and_served_to_staff(
    anonymous: httpx.Client, analyst: httpx.Client
) -> None:
    hidden = anonymous.get(f"/tiles/buildings/{T16}.pbf")
    assert hidden.status_code == 404 and "buildings" not in hidden.json()["detail"].split("available:")[1]
    r = analyst.get(f"/tiles/buildings/{T16}.pbf")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-cache"


def test_tilejson_lists_visible_layers_with_our_urls(
    anonymous: httpx.Client, planner: httpx.Client, base_url: str
) -> None:
    doc = anonymous.get("/tiles/tilejson.json").json()
    assert doc["tilejson"] == "3.0.0" and doc["tiles"] == [f"{base_url}/tiles/{{z}}/{{x}}/{{y}}.pbf"]
    ids = {layer["id"] for layer in doc["vector_layers"]}
    assert "road_edges" in ids and "buildings" not in ids and "water_pipes" not in ids
    assert doc["maxzoom"] == 16 and doc["bounds"][0] < MONACO_CENTRE[0] < doc["bounds"][2]
    assert "water_pipes" in {
        layer["id"] for layer in planner.get("/tiles/tilejson.json").json()["vector_layers"]
    }
    one = anonymous.get("/tiles/street_lights/tilejson.json").json()
    assert one["minzoom"] == 13 and one["vector_layers"][0]["fields"]["power_w"] == "Number"
    assert one["tiles"] == [f"{base_url}/tiles/street_lights/{{z}}/{{x}}/{{y}}.pbf"]


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/tiles/road_edges/23/0/0.pbf", 400, "zoom z=23 is out of range"),
        ("/tiles/road_edges/2/4/0.pbf", 400, "tile column x=4"),
        ("/tiles/road_edges/2/0/-1.pbf", 400, "tile row y=-1"),
        ("/tiles/road_edges/a/0/0.pbf", 400, "z"),
        ("/tiles/road_edges/2/0/0.png", 400, "fmt"),
        ("/tiles/nowhere/2/0/0.pbf", 404, "available: road_edges"),
        ("/tiles/road_edges/2/0/0.pbf?colour=red", 400, "unknown parameter 'colour'"),
        ("/tiles/road_edges/2/0/0.pbf?territory_id=0", 400, "territory_id"),
        ("/tiles/2/0/0.pbf?layers=,", 400, "layers is empty"),
        ("/tiles/2/0/0.pbf?layers=road_edges,nope", 404, "'nope' does not exist"),
        ("/ogc/tileMatrixSets/WorldCRS84Quad", 404, "available: WebMercatorQuad"),
        ("/ogc/collections/road_edges/tiles/WebMercatorQuad/23/0/0", 400, "zoom z=23"),
        ("/ogc/collections/road_edges/tiles/WebMercatorQuad/3/0/0?f=png", 400, "f=mvt"),
    ],
)
def test_bad_tile_requests_say_what_is_wrong(
    anonymous: httpx.Client, monaco_url: str, path: str, status: int, says: str
) -> None:
    before = database_fingerprint(monaco_url)
    r = anonymous.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert says in r.json()["detail"]
    assert database_fingerprint(monaco_url) == before


def test_ogc_tile_matrix_set_is_the_standard_one(anonymous: httpx.Client) -> None:
    listed = anonymous.get("/ogc/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in listed] == ["WebMercatorQuad"]
    ours = anonymous.get("/ogc/tileMatrixSets/WebMercatorQuad").json()
    reference = json.loads((OGC_DIR / "tilematrixsets" / "WebMercatorQuad.json").read_text())
    assert ours["uri"] == reference["uri"] and ours["crs"] == reference["crs"]
    for mine, theirs in zip(ours["tileMatrices"], reference["tileMatrices"], strict=False):
        assert mine["id"] == theirs["id"] and mine["matrixWidth"] == theirs["matrixWidth"]
        assert mine["scaleDenominator"] == pytest.approx(theirs["scaleDenominator"], rel=1e-12)
        assert mine["pointOfOrigin"] == pytest.approx(theirs["pointOfOrigin"], rel=1e-12)


def test_ogc_tilesets_and_tiles_match_the_xyz_tiles(anonymous: httpx.Client, base_url: str) -> None:
    tilesets = anonymous.get("/ogc/collections/road_edges/tiles").json()["tilesets"]
    assert tilesets[0]["dataType"] == "vector" and tilesets[0]["tileMatrixSetURI"].endswith("WebMercatorQuad")
    tileset = anonymous.get("/ogc/collections/road_edges/tiles/WebMercatorQuad").json()
    template = next(link for link in tileset["links"] if link["rel"] == "item")
    assert (
        template["href"]
        == f"{base_url}/ogc/collections/road_edges/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
    )
    limits = {lim["tileMatrix"]: lim for lim in tileset["tileMatrixSetLimits"]}
    lim16 = limits["16"]
    assert (
        lim16["minTileCol"] <= T16.x <= lim16["maxTileCol"]
        and lim16["minTileRow"] <= T16.y <= lim16["maxTileRow"]
    )
    ogc = anonymous.get(f"/ogc/collections/road_edges/tiles/WebMercatorQuad/16/{T16.y}/{T16.x}")
    xyz = anonymous.get(f"/tiles/road_edges/{T16}.pbf")
    assert (
        ogc.status_code == 200 and ogc.content == xyz.content and ogc.headers["etag"] == xyz.headers["etag"]
    )
    dataset = anonymous.get(f"/ogc/tiles/WebMercatorQuad/16/{T16.y}/{T16.x}")
    assert dataset.content == anonymous.get(f"/tiles/{T16}.pbf").content
    assert anonymous.get("/ogc/collections/buildings/tiles").status_code == 404


def test_ogc_landing_conformance_and_collections_announce_the_tiles(anonymous: httpx.Client) -> None:
    landing = {link["rel"]: link["href"] for link in anonymous.get("/ogc").json()["links"]}
    assert landing["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"].endswith("/ogc/tiles")
    assert landing["http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"].endswith("/ogc/tileMatrixSets")
    conforms = anonymous.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    collection = anonymous.get("/ogc/collections/road_edges").json()
    tilesets = [link for link in collection["links"] if link["rel"].endswith("tilesets-vector")]
    assert tilesets and tilesets[0]["href"].endswith("/ogc/collections/road_edges/tiles")
    paths = anonymous.get("/ogc/api").json()["paths"]
    assert "/collections/road_edges/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}" in paths
    assert "/collections/buildings/tiles" not in paths, "a hidden layer's tiles are not documented"
    assert paths["/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"]["get"]["responses"]["204"]


def test_the_fast_path_answers_exactly_as_the_route(
    anonymous: httpx.Client, analyst: httpx.Client, monaco_url: str
) -> None:
    with psycopg.connect(monaco_url) as conn:
        monaco = conn.execute("SELECT id FROM twin.territory WHERE name = 'Monaco'").fetchone()[0]
    for client, layer in ((anonymous, "road_edges"), (analyst, "buildings")):
        fast = client.get(f"/tiles/{layer}/{T16}.pbf")  # plain GET: tiles.fastpath
        routed = client.get(f"/tiles/{layer}/{T16}.pbf", params={"territory_id": monaco})  # FastAPI route
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        for header in ("etag", "cache-control", "content-type", "vary", "content-security-policy"):
            assert fast.headers.get(header) == routed.headers.get(header), header
