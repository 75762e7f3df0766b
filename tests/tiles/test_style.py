"""The map style, its glyphs and its sprites: decoded back, checked against the font, the spec and the roles."""

from __future__ import annotations

import asyncio
import io
import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import numpy as np
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image, ImageFont
from psycopg.rows import dict_row

from layers.catalog import load_catalog
from tests.common import PROJECT_ROOT, missing
from tests.layers.ogc_fixtures import GIS_LAYER, TEST_SECURITY, load_territory, signed_in
from tiles import glyphs as glyph_module
from tiles.glyphs import GlyphStore, parse_range, resolve_stack
from tiles.sprites import ICONS, SITE_KINDS, sprite_sheet
from tiles.style import LAYER_TITLES, style_document
from twin.app import create_app
from twin.errors import InvalidInput
from twin.security.permissions import may_see_layer
from twin.security.roles import ACCOUNT_ROLES, Role
from twin.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings

BASE = "https://sig.ville.example.fr/carto"
LAYER_TYPES = {
    "background",
    "fill",
    "line",
    "symbol",
    "circle",
    "fill-extrusion",
    "heatmap",
    "raster",
    "hillshade",
}
# Expression operators the style uses, from the MapLibre style spec; anything else is a typo.
OPERATORS = {
    "get",
    "has",
    "match",
    "case",
    "coalesce",
    "step",
    "interpolate",
    "linear",
    "exponential",
    "zoom",
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "all",
    "any",
    "!",
    "*",
    "+",
    "-",
    "/",
    "typeof",
    "geometry-type",
    "literal",
    "concat",
    "to-string",
    "to-number",
}


# --- a protobuf reader independent of the encoder under test -------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            yield number, data[pos : pos + size]
            pos += size
        else:
            raise AssertionError(f"unexpected wire type {wire} in field {number}")


def _zigzag(value: Any) -> int:
    return int((value >> 1) ^ -(value & 1))


def decode_glyphs(data: bytes) -> list[dict[str, Any]]:
    """``glyphs.stacks`` as dicts; each glyph's fields by name, ``top``/``left`` un-zigzagged."""
    names = {1: "id", 2: "bitmap", 3: "width", 4: "height", 5: "left", 6: "top", 7: "advance"}
    stacks = []
    for number, stack_bytes in _fields(data):
        assert number == 1 and isinstance(stack_bytes, bytes)
        stack: dict[str, Any] = {"glyphs": []}
        for field, value in _fields(stack_bytes):
            assert isinstance(value, bytes), f"fontstack field {field} is not length-delimited"
            if field == 1:
                stack["name"] = value.decode()
            elif field == 2:
                stack["range"] = value.decode()
            elif field == 3:
                glyph: dict[str, Any] = {names[n]: v for n, v in _fields(value)}
                glyph["left"], glyph["top"] = _zigzag(glyph["left"]), _zigzag(glyph["top"])
                stack["glyphs"].append(glyph)
        stacks.append(stack)
    return stacks


# --- glyphs ---------------------------------------------------------------------------------------------


def _half_away(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _freetype_px(units: int, upem: int) -> int:
    """A font-unit coordinate as fontnik gets it: scaled to 26.6 fixed point by FreeType, then rounded."""
    return _half_away(_half_away(units * 24 * 64 / upem) / 64)


@pytest.fixture(scope="module")
def book() -> Path:
    font = resolve_stack("DejaVu Sans Book")
    if font.name != "DejaVu Sans Book":
        missing("fonts-dejavu-core is not installed")
    return font.path


@pytest.fixture(scope="module")
def latin1(book: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = GlyphStore(tmp_path_factory.mktemp("glyphs")).get(
        "DejaVu Sans Book,Arial Unicode MS Regular", "0-255"
    )
    (stack,) = decode_glyphs(data)
    return stack


def test_glyph_range_holds_the_fonts_characters_with_fontnik_metrics(
    book: Path, latin1: dict[str, Any]
) -> None:
    tt = pytest.importorskip("fontTools.ttLib").TTFont(str(book))
    upem, cmap, hmtx, glyf = tt["head"].unitsPerEm, tt.getBestCmap(), tt["hmtx"], tt["glyf"]
    assert latin1["name"] == "DejaVu Sans Book" and latin1["range"] == "0-255"
    by_id = {g["id"]: g for g in latin1["glyphs"]}
    # Exactly the code points the font maps, in order: the missing ones are simply absent.
    assert list(by_id) == sorted(c for c in cmap if c <= 255)
    for char in "Aé":
        glyph, name = by_id[ord(char)], cmap[ord(char)]
        # fontnik's unhinted FreeType metrics at 24 px: advance truncated, box rounded half away from zero.
        assert glyph["advance"] == math.floor(hmtx[name][0] * 24 / upem)
        box = glyf[name]
        xmin, ymin, xmax, ymax = (_freetype_px(v, upem) for v in (box.xMin, box.yMin, box.xMax, box.yMax))
        assert (glyph["left"], glyph["width"], glyph["height"]) == (xmin, xmax - xmin, ymax - ymin)
        ascender = ImageFont.truetype(str(book), 24).getmetrics()[0]
        assert glyph["top"] == ymax - ascender
        assert len(glyph["bitmap"]) == (glyph["width"] + 6) * (glyph["height"] + 6)
    space = by_id[32]
    assert space["width"] == 0 and "bitmap" not in space and space["advance"] > 0
    assert by_id[ord("é")]["height"] > by_id[ord("e")]["height"]  # the accent is there


def test_glyph_sdf_is_inside_high_outside_low_like_the_rasterised_glyph(
    book: Path, latin1: dict[str, Any]
) -> None:
    glyph = next(g for g in latin1["glyphs"] if g["id"] == ord("A"))
    sdf = np.frombuffer(glyph["bitmap"], np.uint8).reshape(glyph["height"] + 6, glyph["width"] + 6)
    border = np.concatenate([sdf[0], sdf[-1], sdf[:, 0], sdf[:, -1]])
    assert border.max() < 128, "the 3 px buffer is outside the glyph"
    assert sdf.max() > 200 and sdf.min() == 0
    # Ink area at MapLibre's 0.75 threshold ≈ the ink FreeType paints at 24 px (anti-aliased coverage).
    painted = np.asarray(ImageFont.truetype(str(book), 24).getmask("A")).sum() / 255
    assert abs((sdf >= 192).sum() - painted) < 0.2 * painted
    # The apex is at the top middle of the box, the counter (the hole of the A) is outside.
    assert sdf[3, 3 + glyph["width"] // 2] >= 150
    assert sdf[3 + glyph["height"] - 1, 3 + glyph["width"] // 2] < 192


def test_glyph_ranges_are_cached_on_disk_and_resolved_by_font(
    book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = GlyphStore(tmp_path).get("DejaVu Sans Book", "256-511")
    assert list(tmp_path.rglob("256-511.pbf"))

    def no_rendering(*args: Any) -> None:
        raise AssertionError("rendered again instead of reading the cache")

    monkeypatch.setattr(glyph_module, "render_range", no_rendering)
    again = GlyphStore(tmp_path)
    assert again.get("DejaVu Sans Book", "256-511") == first
    # An unknown stack gets the default font, from the same cache entry (the request text is not a key).
    assert again.get("Open Sans Regular,Arial Unicode MS Regular", "256-511") == first
    assert len(list(tmp_path.rglob("*.pbf"))) == 1


def test_bold_and_empty_ranges(book: Path, tmp_path: Path) -> None:
    store = GlyphStore(None)
    bold = decode_glyphs(store.get("DejaVu Sans Bold", "0-255"))[0]
    assert bold["name"] == "DejaVu Sans Bold"
    regular = decode_glyphs(store.get("DejaVu Sans Book", "0-255"))[0]
    assert next(g for g in bold["glyphs"] if g["id"] == 65) != next(
        g for g in regular["glyphs"] if g["id"] == 65
    )
    # CJK is not in DejaVu: a valid, empty stack, as fontnik answers.
    assert decode_glyphs(store.get("DejaVu Sans Book", "19968-20223")) == [
        {"glyphs": [], "name": "DejaVu Sans Book", "range": "19968-20223"}
    ]


@pytest.mark.parametrize(
    "text", ["0-256", "1-256", "256-255", "65536-65791", "abc", "0-255x", "-1-254", "٠-٢٥٥", ""]
)
def test_bad_glyph_ranges_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="range"):
        parse_range(text)


# --- sprites --------------------------------------------------------------------------------------------


def test_sprite_index_fits_the_sheet_and_2x_is_twice_1x() -> None:
    sheets = {}
    for ratio in (1, 2):
        png, index_bytes = sprite_sheet(ratio)
        image, index = Image.open(io.BytesIO(png)), json.loads(index_bytes)
        assert image.mode == "RGBA" and set(index) == {icon.name for icon in ICONS}
        alpha = np.asarray(image)[:, :, 3]
        boxes = []
        for name, entry in index.items():
            x, y, w, h = entry["x"], entry["y"], entry["width"], entry["height"]
            assert entry["pixelRatio"] == ratio
            assert x >= 0 and y >= 0 and x + w <= image.width and y + h <= image.height, name
            assert (alpha[y : y + h, x : x + w] > 0).mean() > 0.2, f"{name} is (nearly) empty"
            boxes.append((x, y, x + w, y + h))
        for i, a in enumerate(boxes):  # no two images overlap
            assert all(a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1] for b in boxes[i + 1 :])
        sheets[ratio] = (image, index)
    one, two = sheets[1], sheets[2]
    assert two[0].size == (2 * one[0].size[0], 2 * one[0].size[1])
    for name, entry in one[1].items():
        assert {k: 2 * v for k, v in entry.items()} == two[1][name]
    pixels = [
        np.asarray(one[0].crop((e["x"], e["y"], e["x"] + e["width"], e["y"] + e["height"]))).tobytes()
        for e in one[1].values()
    ]
    assert len(set(pixels)) == len(pixels), "two pictograms are identical"


# --- style document -------------------------------------------------------------------------------------


def _expression_ok(node: Any) -> bool:
    if isinstance(node, list) and node and isinstance(node[0], str) and node[0] in OPERATORS:
        return all(_expression_ok(arg) for arg in node[1:])
    if isinstance(node, list):  # a literal array (match labels, text-offset) holds only scalars
        return all(isinstance(v, str | int | float | bool) for v in node)
    return isinstance(node, str | int | float | bool)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _icons(node: Any) -> set[str]:
    names = {s for s in _strings(node) if s in {i.name for i in ICONS} or s.startswith("site-")}
    return names


def check_style(doc: dict[str, Any], base: str, catalog_names: set[str]) -> None:
    """The structural rules of the MapLibre style spec that matter here, and ours (no foreign URL)."""
    assert doc["version"] == 8 and isinstance(doc["name"], str)
    ids = [layer["id"] for layer in doc["layers"]]
    assert len(ids) == len(set(ids)), "duplicate layer ids"
    for layer in doc["layers"]:
        assert layer["type"] in LAYER_TYPES, layer["id"]
        if layer["type"] != "background":
            assert layer["source"] in doc["sources"], layer["id"]
            assert layer["source-layer"] in catalog_names, layer["id"]
        if "filter" in layer:
            assert _expression_ok(layer["filter"]), layer["id"]
        for part in ("paint", "layout"):
            for key, value in layer.get(part, {}).items():
                assert isinstance(value, str | int | float | bool) or _expression_ok(value), (
                    layer["id"],
                    key,
                )
        assert 0 <= layer.get("minzoom", 0) <= 24
        assert layer.get("layout", {}).get("visibility", "visible") in ("visible", "none")
        stack = layer.get("layout", {}).get("text-font")
        if stack:
            assert resolve_stack(",".join(stack)).name == stack[0], "a font the server does not have"
    urls = [s for s in _strings(doc) if "://" in s or s.startswith("//")]
    assert urls and all(u.startswith(base + "/") for u in urls), [u for u in urls if not u.startswith(base)]
    assert _icons(doc["layers"]) <= {icon.name for icon in ICONS}, "an icon missing from the sprite"


def test_full_style_is_well_formed_and_every_icon_is_in_the_sprite() -> None:
    doc = style_document(base_url=BASE + "/", layers=list(LAYER_TITLES))
    check_style(doc, BASE, set(LAYER_TITLES))
    assert doc["sources"]["hyperviseur"] == {"type": "vector", "url": f"{BASE}/tiles/tilejson.json"}
    assert doc["sprite"] == f"{BASE}/tiles/sprites/sprite"
    assert doc["glyphs"] == f"{BASE}/tiles/glyphs/{{fontstack}}/{{range}}.pbf"
    layers = {layer["id"]: layer for layer in doc["layers"]}
    assert layers["buildings-3d"]["layout"]["visibility"] == "none"
    assert layers["buildings-3d"]["type"] == "fill-extrusion" and layers["buildings"]["type"] == "fill"
    assert (
        layers["street-lights"]["minzoom"] == 16
        and layers["roads-label"]["layout"]["symbol-placement"] == "line"
    )
    assert {f"site-{k}" for k in SITE_KINDS} <= _icons(layers["critical-sites"])
    legend = doc["metadata"]["hyperviseur:legend"]
    assert [entry["source-layer"] for entry in legend] == list(LAYER_TITLES)
    assert all(
        entry["title"] == entry["title_fr"] == LAYER_TITLES[entry["source-layer"]][0] for entry in legend
    )


def test_english_changes_only_titles() -> None:
    fr = style_document(base_url=BASE, layers=list(LAYER_TITLES))
    en = style_document(base_url=BASE, lang="en", layers=list(LAYER_TITLES))
    assert fr["name"] != en["name"]
    assert en["metadata"]["hyperviseur:legend"][0]["title"] == "Road network (arcs)"

    def drawing(doc: dict[str, Any]) -> list[Any]:
        return [
            (layer["id"], layer.get("filter"), layer.get("paint"), layer.get("minzoom"))
            for layer in doc["layers"]
        ]

    assert drawing(fr) == drawing(en)
    with pytest.raises(InvalidInput, match="lang"):
        style_document(base_url=BASE, lang="de", layers=[])


def test_style_passes_the_maplibre_validator_when_the_frontend_has_it(tmp_path: Path) -> None:
    validator = PROJECT_ROOT / "frontend" / "node_modules" / ".bin" / "gl-style-validate"
    if not validator.exists() or shutil.which("node") is None:
        missing("frontend/node_modules has no @maplibre/maplibre-gl-style-spec (npm ci in frontend/)")
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style_document(base_url=BASE, layers=list(LAYER_TITLES))))
    done = subprocess.run([str(validator), str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# --- over HTTP, with the catalog and the roles ------------------------------------------------------------


def _app(url: str, var_dir: Path, **server: Any) -> FastAPI:
    settings = Settings(
        database=DatabaseSettings(database_url=url, pool_max_size=4, var_dir=var_dir),
        server=ServerSettings(environment="test", **server),
        security=SecuritySettings(**cast(dict[str, Any], TEST_SECURITY)),
    )
    app = create_app(settings)
    # Included routers stay nested in app.routes with this FastAPI: walk the effective routes.
    if not any(ctx.path == "/tiles/style.json" for ctx in iter_route_contexts(app.routes)):
        from tiles.style_routes import style_router

        app.include_router(style_router())
    return app


@pytest.fixture(scope="module")
def catalog(database_url: str) -> dict[str, str]:
    """Name -> visibility of every layer the catalog really serves (as the routes read it)."""
    load_territory(database_url)

    async def read() -> dict[str, str]:
        async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as conn:
            return {layer.name: layer.visibility for layer in await load_catalog(conn)}

    return asyncio.run(read())


@pytest.fixture(scope="module")
def client(
    database_url: str, catalog: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with TestClient(_app(database_url, tmp_path_factory.mktemp("var"))) as c:
        yield c


@pytest.mark.parametrize("role", [Role.ANONYMOUS, *ACCOUNT_ROLES])
def test_style_shows_exactly_the_layers_the_role_may_see(
    client: TestClient, database_url: str, catalog: dict[str, str], role: Role
) -> None:
    headers = {} if role is Role.ANONYMOUS else signed_in(database_url, role).headers
    response = client.get("/tiles/style.json", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-cache"
    doc = response.json()
    check_style(doc, "http://testserver", set(catalog))
    shown = {layer["source-layer"] for layer in doc["layers"] if "source-layer" in layer}
    assert shown == {name for name, visibility in catalog.items() if may_see_layer(role, visibility)}
    if role is Role.ANONYMOUS:
        assert not shown & {"buildings", "critical_sites", "sensors"} and not any(
            n.startswith("water") for n in shown
        )
        assert GIS_LAYER in shown  # a public GIS layer gets the generic style


def test_style_uses_the_public_url_and_the_language(
    database_url: str, catalog: dict[str, str], tmp_path: Path
) -> None:
    with TestClient(_app(database_url, tmp_path, public_url=BASE + "/")) as c:
        doc = c.get("/tiles/style.json", params={"lang": "en"}).json()
        check_style(doc, BASE, set(catalog))
        assert doc["name"] == "Hyperviseur — territory map"
        bad = c.get("/tiles/style.json", params={"lang": "de"})
        assert bad.status_code == 400 and "lang" in bad.json()["detail"]


def test_glyph_route_caches_and_refuses_bad_ranges(client: TestClient) -> None:
    path = f"/tiles/glyphs/{quote('DejaVu Sans Book,Arial Unicode MS Regular')}/0-255.pbf"
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert decode_glyphs(response.content)[0]["range"] == "0-255"
    again = client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == response.headers["etag"]
    for bad in ("0-256", "100-355", "65536-65791", "a-b"):
        refused = client.get(f"/tiles/glyphs/DejaVu%20Sans%20Book/{bad}.pbf")
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"] == "application/problem+json"
        assert "256" in refused.json()["detail"] or "start-end" in refused.json()["detail"]


def test_sprite_routes(client: TestClient) -> None:
    index1 = client.get("/tiles/sprites/sprite.json")
    index2 = client.get("/tiles/sprites/sprite@2x.json")
    assert index1.status_code == index2.status_code == 200
    assert index2.json()["site-hospital"]["width"] == 2 * index1.json()["site-hospital"]["width"]
    for suffix, size in (("", 1), ("@2x", 2)):
        png = client.get(f"/tiles/sprites/sprite{suffix}.png")
        assert png.headers["content-type"] == "image/png" and "etag" in png.headers
        assert Image.open(io.BytesIO(png.content)).size == Image.open(io.BytesIO(sprite_sheet(size)[0])).size
