"""The SQL tile functions: Martin's signature, generalisation by zoom, clipping, the change feed."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.tiles.tile_fixtures import MONACO_CENTRE, decode, feature_tile
from tiles.coords import tile_of

BUILTIN = [
    "road_edges",
    "road_nodes",
    "buildings",
    "critical_sites",
    "street_lights",
    "water_pipes",
    "water_valves",
    "water_pumps",
    "water_junctions",
    "water_tanks",
    "water_reservoirs",
    "sensors",
]


def _tile(conn: psycopg.Connection, layer: str, z: int, x: int, y: int) -> bytes:
    row = conn.execute(
        f"SELECT tiles.tile_{layer}(%s::integer, %s::integer, %s::integer, '{{}}'::json)",
        (z, x, y),
        binary=True,
    ).fetchone()
    assert row is not None
    return bytes(row[0])


def test_every_builtin_layer_has_a_martin_compatible_function(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        rows = conn.execute(
            "SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prorettype::regtype::text,"
            " obj_description(p.oid, 'pg_proc') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'tiles' AND p.proname LIKE 'tile\\_%'"
        ).fetchall()
    found = {name[5:]: (args, ret, json.loads(comment)) for name, args, ret, comment in rows}
    for layer in BUILTIN:
        args, ret, tilejson = found[layer]
        assert args == "z integer, x integer, y integer, query_params json"
        assert ret == "bytea"
        assert 0 <= tilejson["minzoom"] <= 16 and tilejson["maxzoom"] == 22


def test_buildings_appear_with_zoom_and_gain_attributes(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        counts, names = {}, {}
        for z in (10, 12, 13, 14, 15, 16):
            t = tile_of(*MONACO_CENTRE, z)
            features = (
                decode(_tile(conn, "buildings", t.z, t.x, t.y)).get("buildings", {}).get("features", [])
            )
            counts[z] = len(features)
            names[z] = any("name" in f["properties"] for f in features)
    assert counts[10] == 0 and counts[12] == 0, "no buildings below z13"
    assert counts[13] > 0, counts
    # Small footprints are dropped at low zoom; at z16 every building of the (smaller) tile is there.
    assert not names[13] and not names[14], "names are thinned out below z15"
    assert names[16]


def test_road_classes_by_zoom(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        classes = {}
        for z in (10, 11, 13, 16):
            t = tile_of(*MONACO_CENTRE, z)
            features = (
                decode(_tile(conn, "road_edges", t.z, t.x, t.y)).get("road_edges", {}).get("features", [])
            )
            classes[z] = {f["properties"]["highway"] for f in features}
            if z < 14:
                assert all("speed_kph" not in f["properties"] for f in features)
    main = {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"}
    assert classes[11] and classes[11] <= main, classes[11]
    assert classes[13] - main, "secondary/tertiary roads from z12"
    assert "residential" in classes[16] or "service" in classes[16] or len(classes[16]) > len(classes[13])


def test_geometries_are_clipped_to_the_tile_and_its_buffer(monaco_url: str) -> None:
    t = tile_of(*MONACO_CENTRE, 15)
    with psycopg.connect(monaco_url) as conn:
        layer = decode(_tile(conn, "road_edges", t.z, t.x, t.y))["road_edges"]
    coords: list[float] = []

    def walk(node: object) -> None:
        if isinstance(node, list | tuple):
            if node and isinstance(node[0], int | float):
                coords.extend(node)  # type: ignore[arg-type]
            else:
                for child in node:
                    walk(child)

    for feature in layer["features"]:
        walk(feature["geometry"]["coordinates"])
    assert coords
    assert min(coords) >= -64 and max(coords) <= 4096 + 64


def test_out_of_range_tiles_and_low_zooms_are_empty_without_error(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        assert _tile(conn, "road_edges", 3, 99, 0) == b""
        assert _tile(conn, "road_edges", 30, 0, 0) == b""
        assert _tile(conn, "street_lights", 5, 16, 11) == b""


def test_territory_parameter_filters(monaco_url: str) -> None:
    t = tile_of(*MONACO_CENTRE, 14)
    with psycopg.connect(monaco_url) as conn:
        tid = conn.execute("SELECT id FROM twin.territory WHERE name = 'Monaco'").fetchone()[0]
        call = "SELECT tiles.tile_road_edges(%s, %s, %s, %s::json)"
        own = conn.execute(call, (t.z, t.x, t.y, json.dumps({"territory_id": str(tid)}))).fetchone()[0]
        other = conn.execute(call, (t.z, t.x, t.y, json.dumps({"territory_id": "999999"}))).fetchone()[0]
        junk = conn.execute(call, (t.z, t.x, t.y, json.dumps({"territory_id": "1; DROP"}))).fetchone()[0]
    assert decode(own)["road_edges"]["features"]
    assert other == b""
    assert decode(junk) == decode(own), "an unreadable territory filter is ignored, not an error"


def test_a_statement_records_one_change_with_the_box_of_old_and_new_rows(monaco_url: str) -> None:
    fid, _ = feature_tile(monaco_url, "street_lights", 16)
    with psycopg.connect(monaco_url, autocommit=True) as conn:
        conn.execute("LISTEN tiles_changed")
        before = conn.execute("SELECT coalesce(max(id), 0) FROM tiles.changes").fetchone()[0]
        old = conn.execute(
            "SELECT st_x(geom), st_y(geom) FROM twin.street_lights WHERE id = %s", (fid,)
        ).fetchone()
        conn.execute(
            "UPDATE twin.street_lights SET geom = st_translate(geom, 0.001, 0.0005) WHERE id = %s", (fid,)
        )
        conn.execute(
            "UPDATE twin.street_lights SET geom = st_translate(geom, -0.001, -0.0005) WHERE id = %s", (fid,)
        )
        rows = conn.execute(
            "SELECT tbl, layer, min_lon, min_lat, max_lon, max_lat FROM tiles.changes WHERE id > %s ORDER BY id",
            (before,),
        ).fetchall()
        notes = list(conn.notifies(timeout=1, stop_after=2))
    assert len(rows) == 2 and all(r[0] == "street_lights" for r in rows)
    tbl, layer, min_lon, min_lat, max_lon, max_lat = rows[0]
    assert min_lon == pytest.approx(old[0]) and min_lat == pytest.approx(old[1])
    assert max_lon == pytest.approx(old[0] + 0.001) and max_lat == pytest.approx(old[1] + 0.0005)
    payload = json.loads(notes[0].payload)
    assert payload["table"] == "street_lights" and payload["bbox"] == pytest.approx(list(rows[0][2:]))


def test_a_gis_layer_gets_its_tile_function_with_its_catalog_row(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO twin.layer_catalog (name, table_name, layer_filter, title_fr, title_en, geometry_type)"
            " VALUES ('bornes_test_tiles', 'gis_features', 'bornes_test_tiles', 'Bornes', 'Posts', 'Point')"
        )
        exists = "SELECT to_regprocedure('tiles.tile_bornes_test_tiles(integer, integer, integer, json)')"
        assert conn.execute(exists).fetchone()[0] is not None
        conn.execute("DELETE FROM twin.layer_catalog WHERE name = 'bornes_test_tiles'")
        assert conn.execute(exists).fetchone()[0] is None


def test_street_lights_are_a_stable_sample_below_z16(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        ids = {}
        for z in (13, 14, 15, 16):
            t = tile_of(*MONACO_CENTRE, z)
            features = (
                decode(_tile(conn, "street_lights", t.z, t.x, t.y))
                .get("street_lights", {})
                .get("features", [])
            )
            ids[z] = {f["id"] for f in features}
    assert ids[16], "lamps around the centre"
    for z in (13, 14, 15):
        assert all(i % (1 << (16 - z)) == 0 for i in ids[z]), z
    # A lamp drawn at one zoom is drawn at every higher zoom (within the smaller tile it falls in).
    assert {i for i in ids[16] if i % 8 == 0} <= ids[13]
