"""Raster import (`hyperviseur import raster`) and the /raster tile routes, on rasters the tests make themselves.

A 256×256 elevation model in Lambert-93 near Montpellier (a west–east slope, a hill, a nodata corner) is written
with rasterio, imported through the command line into the session database with a var dir under tmp_path, then
served by a live server: tiles, tilejson, info, statistics and point values are checked against the source
pixels. Bad input (files, names, URLs, paths, tiles) answers a clear 4xx or exit code and changes nothing.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import psycopg
import pytest
import rasterio
import uvicorn
from fastapi.routing import iter_route_contexts
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate
from rio_tiler.colormap import cmap

from tests.common import database_fingerprint
from tests.layers.ogc_fixtures import TEST_SECURITY, signed_in
from tiles.raster_routes import install_raster_error_handlers, raster_router
from twin.app import create_app
from twin.cluster import free_port
from twin.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings

TERRITORY = "Rastertest-Montpellier"
CLASH = "mnt_clash_catalogue"  # a vector layer name the raster importer must refuse
SIZE, PIXEL_M = 256, 5.0
X0, Y0 = 770_000.0, 6_280_000.0  # upper-left corner, Lambert-93 (EPSG:2154), Montpellier
NODATA = -9999.0
HILL = (100, 160)  # row, col of the hill top
TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)
TMS = morecantile.tms.get("WebMercatorQuad")


def elevation() -> np.ndarray:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    hill = 80.0 * np.exp(-((rows - HILL[0]) ** 2 + (cols - HILL[1]) ** 2) / (2 * 15.0**2))
    dem = (20.0 + 0.2 * cols + hill).astype("float32")
    dem[:32, :32] = NODATA
    return dem


def write_raster(
    path: Path, data: np.ndarray, *, driver: str = "GTiff", crs: str | None = "EPSG:2154"
) -> Path:
    profile: dict[str, Any] = {
        "driver": driver,
        "width": SIZE,
        "height": SIZE,
        "count": 1,
        "dtype": "float32",
        "nodata": NODATA,
        "transform": from_origin(X0, Y0, PIXEL_M, PIXEL_M),
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def pixel_lonlat(row: int, col: int) -> tuple[float, float]:
    return TO_WGS84.transform(X0 + (col + 0.5) * PIXEL_M, Y0 - (row + 0.5) * PIXEL_M)


def raster_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT * FROM twin.rasters ORDER BY name").fetchall()


def raster_files(var_dir: Path) -> dict[str, bytes]:
    folder = var_dir / "rasters"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[str]:
    """The session database with the test territory and a catalog layer whose name rasters may not take."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, source) VALUES (%s, 2154, 'tests/tiles')"
            " ON CONFLICT (name) DO NOTHING",
            (TERRITORY,),
        )
        conn.execute(
            "INSERT INTO twin.layer_catalog (name, table_name, layer_filter, title_fr, title_en, geometry_type)"
            " VALUES (%s, 'gis_features', %s, 'Conflit', 'Clash', 'Point') ON CONFLICT DO NOTHING",
            (CLASH, CLASH),
        )
    yield database_url
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM twin.layer_catalog WHERE name = %s", (CLASH,))


def run_cli(monkeypatch, capsys, url: str, var_dir: Path, *args: str) -> tuple[int, str, str]:
    """``hyperviseur import raster …`` in-process, through the CLI's own main (its exit codes included)."""
    import twin.cli
    from layers.cli import import_app
    from tiles.cli import add_raster_commands

    add_raster_commands(import_app)  # a no-op once twin/cli.py wires it
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", url)
    monkeypatch.setenv("HYPERVISEUR_VAR_DIR", str(var_dir))
    monkeypatch.setattr(sys, "argv", ["hyperviseur", "import", "raster", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        twin.cli.main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture(scope="module")
def imported(world: str, var_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DEM imported twice through the CLI: ``mnt_test`` (public) and ``mnt_interne`` (internal)."""
    from tiles.raster import import_raster

    folder = tmp_path_factory.mktemp("sources")
    source = write_raster(folder / "mnt.tif", elevation())
    timings = {}
    for name, visibility in (("mnt_test", "public"), ("mnt_interne", "internal")):
        report = import_raster(
            world,
            source,
            name=name,
            territory_name=TERRITORY,
            title_fr="MNT test",
            unit="m",
            visibility=visibility,
            var_dir=var_dir,
        )
        timings[name] = report.cog_seconds
    return {"source": source, "timings": timings}


@contextmanager
def serving(url: str, var_dir: Path) -> Iterator[str]:
    settings = Settings(
        database=DatabaseSettings(database_url=url, var_dir=var_dir, pool_max_size=4),
        server=ServerSettings(environment="test"),
        security=SecuritySettings(**TEST_SECURITY),
    )
    app = create_app(settings)
    if not any((r.path_format or "").startswith("/raster") for r in iter_route_contexts(app.routes)):
        app.include_router(raster_router())
        install_raster_error_handlers(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(imported, world: str, var_dir: Path) -> Iterator[str]:
    with serving(world, var_dir) as base:
        yield base


# --- import ---------------------------------------------------------------------------------------------


def test_cli_import_writes_a_valid_cog_and_registers_it(world, var_dir, tmp_path, monkeypatch, capsys):
    source = write_raster(tmp_path / "mnt_cli.tif", elevation())
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        world,
        var_dir,
        str(source),
        "--name",
        "mnt_cli",
        "--territory",
        TERRITORY,
        "--title-fr",
        "Relief",
        "--unit",
        "m",
        "--visibility",
        "public",
    )
    assert code == 0, err
    assert "raster mnt_cli imported" in out
    cog = var_dir / "rasters" / "mnt_cli.tif"
    valid, errors, _ = cog_validate(cog, quiet=True)
    assert valid and not errors
    assert not [p for p in (var_dir / "rasters").iterdir() if p.name.startswith(".")], "temporary file left"
    dem = elevation()
    with rasterio.open(cog) as src:
        assert src.crs.to_epsg() == 2154 and src.nodata == NODATA and src.profile["tiled"]
        assert src.overviews(1) == []  # smaller than one 512-px block: overviews would not save a read
        assert np.array_equal(src.read(1), dem)  # lossless: the source grid is kept, not resampled
    with psycopg.connect(world) as conn:
        row = conn.execute(
            "SELECT r.band_count, r.dtype, r.nodata, r.crs, r.unit, r.visibility, r.path, r.min, r.max,"
            " r.statistics, t.name, ST_Contains(r.footprint, ST_SetSRID(ST_Point(%s, %s), 4326)),"
            " ST_Area(ST_Transform(r.footprint, 2154)), r.title_fr, r.title_en"
            " FROM twin.rasters r JOIN twin.territory t ON t.id = r.territory_id WHERE r.name = 'mnt_cli'",
            pixel_lonlat(*HILL),
        ).fetchone()
    valid_pixels = dem[dem != NODATA]
    assert row[:7] == (1, "float32", NODATA, "EPSG:2154", "m", "public", "rasters/mnt_cli.tif")
    assert row[7] == [pytest.approx(float(valid_pixels.min()))] and row[8] == [
        pytest.approx(float(valid_pixels.max()))
    ]
    stats = row[9][0]
    assert stats["count"] == valid_pixels.size == SIZE * SIZE - 32 * 32
    assert stats["mean"] == pytest.approx(float(valid_pixels.mean()), rel=1e-6)
    assert row[10] == TERRITORY and row[11] is True
    assert row[12] == pytest.approx((SIZE * PIXEL_M) ** 2, rel=1e-3)  # footprint = the grid's extent
    assert row[13:] == ("Relief", "Relief")


def test_ascii_grid_imports_with_the_same_values(world, var_dir, tmp_path, monkeypatch, capsys):
    source = write_raster(tmp_path / "mnt.asc", elevation(), driver="AAIGrid")
    assert source.with_suffix(".prj").exists()
    code, out, err = run_cli(
        monkeypatch, capsys, world, var_dir, str(source), "--name", "mnt_asc", "--territory", TERRITORY
    )
    assert code == 0, err
    with rasterio.open(var_dir / "rasters" / "mnt_asc.tif") as src:
        assert np.array_equal(src.read(1), elevation()) and src.crs.to_epsg() == 2154


def test_replace_needs_the_flag_and_then_replaces(world, var_dir, tmp_path, monkeypatch, capsys):
    first = write_raster(tmp_path / "a.tif", elevation())
    assert (
        run_cli(
            monkeypatch, capsys, world, var_dir, str(first), "--name", "mnt_rep", "--territory", TERRITORY
        )[0]
        == 0
    )
    before, files = raster_rows(world), raster_files(var_dir)
    second = write_raster(tmp_path / "b.tif", elevation() + np.float32(1000) * (elevation() != NODATA))
    code, _, err = run_cli(
        monkeypatch, capsys, world, var_dir, str(second), "--name", "mnt_rep", "--territory", TERRITORY
    )
    assert code == 2 and "--replace" in err
    assert raster_rows(world) == before and raster_files(var_dir) == files
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        world,
        var_dir,
        str(second),
        "--name",
        "mnt_rep",
        "--territory",
        TERRITORY,
        "--replace",
    )
    assert code == 0 and "replaced" in out, err
    with psycopg.connect(world) as conn:
        assert conn.execute("SELECT count(*) FROM twin.rasters WHERE name = 'mnt_rep'").fetchone() == (1,)
    with rasterio.open(var_dir / "rasters" / "mnt_rep.tif") as src:
        assert src.read(1).max() == pytest.approx(elevation().max() + 1000)


def _no_crs(tmp: Path) -> Path:
    return write_raster(tmp / "sans_crs.tif", elevation(), crs=None)


def _text(tmp: Path) -> Path:
    path = tmp / "notes.tif"
    path.write_text("ceci n'est pas un raster\n", encoding="utf-8")
    return path


def _good(tmp: Path) -> Path:
    return write_raster(tmp / "ok.tif", elevation())


BAD_IMPORTS = [
    ("no-crs", _no_crs, ["--name", "mnt_bad"], 2, "declares no CRS"),
    ("text-file", _text, ["--name", "mnt_bad"], 2, "not a raster GDAL can read"),
    ("catalog-clash", _good, ["--name", CLASH], 2, "names a vector layer"),
    ("path-as-name", _good, ["--name", "../../etc/passwd"], 2, "raster name"),
    ("bad-visibility", _good, ["--name", "mnt_bad", "--visibility", "everyone"], 2, "visibility"),
    ("unknown-territory", _good, ["--name", "mnt_bad", "--territory", "Atlantide"], 4, "no territory named"),
    ("nodata-out-of-range", _good, ["--name", "mnt_bad", "--nodata", "1e300"], 2, "cannot be stored"),
    ("url-as-file", lambda tmp: "https://example.com/x.tif", ["--name", "mnt_bad"], 2, "not a local file"),
    ("missing-file", lambda tmp: tmp / "absent.tif", ["--name", "mnt_bad"], 2, "no file at"),
]


@pytest.mark.parametrize(
    ("source", "options", "code", "message"), [b[1:] for b in BAD_IMPORTS], ids=[b[0] for b in BAD_IMPORTS]
)
def test_bad_import_is_refused_and_changes_nothing(
    world, var_dir, tmp_path, monkeypatch, capsys, source, options, code, message
):
    path = source(tmp_path)
    if "--territory" not in options:
        options = [*options, "--territory", TERRITORY]
    before, rows, files = database_fingerprint(world), raster_rows(world), raster_files(var_dir)
    got, _, err = run_cli(monkeypatch, capsys, world, var_dir, str(path), *options)
    assert got == code, err
    assert message in err and err.startswith("error: ")
    assert database_fingerprint(world) == before and raster_rows(world) == rows
    assert raster_files(var_dir) == files


def test_failed_registration_leaves_no_file_and_no_row(world, var_dir, tmp_path, monkeypatch):
    import tiles.raster

    monkeypatch.setattr(
        tiles.raster, "_INSERT", "INSERT INTO twin.rasters (name) VALUES (%(name)s) RETURNING id"
    )
    rows, files = raster_rows(world), raster_files(var_dir)
    with pytest.raises(psycopg.errors.NotNullViolation):
        tiles.raster.import_raster(
            world, _good(tmp_path), name="mnt_fail", territory_name=TERRITORY, var_dir=var_dir
        )
    assert raster_rows(world) == rows and raster_files(var_dir) == files


# --- HTTP -----------------------------------------------------------------------------------------------


def _png(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


def test_tile_over_the_hill_shows_the_hill(server):
    lon, lat = pixel_lonlat(*HILL)
    tile = TMS.tile(lon, lat, 16)
    url = f"{server}/raster/mnt_test/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    pixels = _png(httpx.get(url, params={"rescale": "20,150", "colormap_name": "viridis"}, timeout=30))
    assert pixels.shape == (256, 256, 4)
    assert (pixels[..., 3] == 255).sum() > 1000  # data, not an empty (transparent) tile
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 20
    bounds = TMS.xy_bounds(tile)
    x, y = TMS.xy(lon, lat)
    col = int((x - bounds.left) / (bounds.right - bounds.left) * 256)
    row = int((bounds.top - y) / (bounds.top - bounds.bottom) * 256)
    top = float(elevation()[HILL])
    expected = cmap.get("viridis")[round((top - 20) / (150 - 20) * 255)]
    assert np.abs(pixels[row, col].astype(int) - expected).max() <= 12, (pixels[row, col], expected)
    assert pixels[row, col, 1] > pixels[..., 1].mean() + 30  # the hill top is the brightest part of the tile


def test_point_returns_the_source_pixel(server, imported):
    dem = elevation()
    with rasterio.open(imported["source"]) as src:
        for row, col in (HILL, (200, 40), (5, 250)):
            lon, lat = pixel_lonlat(row, col)
            body = httpx.get(f"{server}/raster/mnt_test/point/{lon},{lat}", timeout=30).json()
            x, y = X0 + (col + 0.5) * PIXEL_M, Y0 - (row + 0.5) * PIXEL_M
            (expected,) = next(src.sample([(x, y)]))
            assert body["values"] == [pytest.approx(float(expected), rel=1e-6)]
            assert expected == dem[row, col]


def test_info_statistics_tilejson_and_listing(server):
    info = httpx.get(f"{server}/raster/mnt_test/info", timeout=30).json()
    assert info["dtype"] == "float32" and info["nodata_value"] == NODATA and info["width"] == SIZE
    stats = httpx.get(f"{server}/raster/mnt_test/statistics", timeout=30).json()
    dem = elevation()
    assert stats["b1"]["max"] == pytest.approx(float(dem.max()), rel=1e-6)
    assert stats["b1"]["min"] == pytest.approx(float(dem[dem != NODATA].min()), rel=1e-6)
    tilejson = httpx.get(f"{server}/raster/mnt_test/WebMercatorQuad/tilejson.json", timeout=30).json()
    assert "/raster/mnt_test/tiles/WebMercatorQuad/{z}/{x}/{y}" in tilejson["tiles"][0]
    west, south = pixel_lonlat(SIZE - 1, 0)
    assert tilejson["bounds"][0] == pytest.approx(west, abs=1e-3) and tilejson["bounds"][1] == pytest.approx(
        south, abs=1e-3
    )
    listing = httpx.get(f"{server}/raster/rasters", timeout=30).json()["rasters"]
    entry = next(r for r in listing if r["name"] == "mnt_test")
    assert entry["unit"] == "m" and entry["bounds"][0] == pytest.approx(west, abs=1e-3)
    template = entry["tiles"]
    tile = TMS.tile(*pixel_lonlat(*HILL), 15)
    filled = template.replace("{z}", str(tile.z)).replace("{x}", str(tile.x)).replace("{y}", str(tile.y))
    assert _png(httpx.get(filled, timeout=30))[..., 3].max() == 255  # the advertised template works as is


def test_internal_raster_is_hidden_from_anonymous_and_shown_to_an_analyst(server, world):
    analyst = signed_in(world, "analyst")
    tile = TMS.tile(*pixel_lonlat(*HILL), 15)
    paths = [
        "/info",
        f"/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
        "/WebMercatorQuad/tilejson.json",
    ]
    for path in paths:
        anonymous = httpx.get(f"{server}/raster/mnt_interne{path}", timeout=30)
        assert (
            anonymous.status_code == 404
            and "mnt_interne" not in anonymous.json()["detail"].split("available:")[1]
        )
        assert (
            httpx.get(f"{server}/raster/mnt_interne{path}", headers=analyst.headers, timeout=30).status_code
            == 200
        )
    names = {r["name"] for r in httpx.get(f"{server}/raster/rasters", timeout=30).json()["rasters"]}
    assert "mnt_test" in names and "mnt_interne" not in names
    names = {
        r["name"]
        for r in httpx.get(f"{server}/raster/rasters", headers=analyst.headers, timeout=30).json()["rasters"]
    }
    assert {"mnt_test", "mnt_interne"} <= names


far_tile = TMS.tile(2.35, 48.85, 16)  # Paris: inside the matrix, outside the raster
BAD_REQUESTS = [
    ("unknown-name", "/raster/absent/info", 404, "available:"),
    ("path-encoded", "/raster/..%2F..%2Fetc%2Fpasswd/info", 404, None),
    ("path-dots", "/raster/%2E%2E/info", 404, None),
    ("url-encoded", "/raster/https%3A%2F%2Fexample.com%2Fx.tif/info", 404, None),
    ("url-query", "/raster/mnt_test/info?url=/etc/passwd", 200, None),  # titiler's ?url= is simply ignored
    ("z-too-high", "/raster/mnt_test/tiles/WebMercatorQuad/30/0/0.png", 404, "z goes from 0 to 24"),
    ("x-outside-matrix", "/raster/mnt_test/tiles/WebMercatorQuad/2/9/0.png", 404, "no tile"),
    ("negative-z", "/raster/mnt_test/tiles/WebMercatorQuad/-1/0/0.png", 404, "no tile"),
    (
        "outside-raster",
        f"/raster/mnt_test/tiles/WebMercatorQuad/16/{far_tile.x}/{far_tile.y}.png",
        404,
        "bounds",
    ),
    ("unknown-tms", "/raster/mnt_test/tiles/LINZAntarticaMapTilegrid/1/0/0.png", 400, None),
    ("huge-tilesize", "/raster/mnt_test/tiles/WebMercatorQuad/16/0/0.png?tilesize=100000", 400, "tilesize"),
    ("jp2-format", "/raster/mnt_test/tiles/WebMercatorQuad/16/0/0.jp2", 400, "format"),
    ("band-5", "/raster/mnt_test/statistics?bidx=5", 400, "bands 1 to 1"),
    ("expression", "/raster/mnt_test/statistics?expression=b1*2", 200, None),  # not offered: ignored
    ("bad-colormap", '/raster/mnt_test/WebMercatorQuad/tilejson.json?colormap={"a":1}', 400, "colormap"),
    (
        "bad-algorithm-params",
        "/raster/mnt_test/WebMercatorQuad/tilejson.json?algorithm=hillshade&algorithm_params=[1]",
        400,
        "JSON object",
    ),
    ("zero-bins", "/raster/mnt_test/statistics?histogram_bins=0", 400, "histogram_bins"),
    ("percentile-500", "/raster/mnt_test/statistics?p=500", 400, "percentiles"),
    ("point-outside", "/raster/mnt_test/point/2.35,48.85", 404, "bounds"),
    ("point-not-number", "/raster/mnt_test/point/abc,def", 400, None),
    ("point-huge-latitude", "/raster/mnt_test/point/0.0,-2.7e282", 400, "longitude,latitude"),
    ("point-huge-projected", "/raster/mnt_test/point/1e300,0?coord_crs=EPSG:2154", 400, "out of range"),
    ("padding-not-offered", "/raster/mnt_test/tiles/WebMercatorQuad/0/0/0.png?padding=1", 200, None),
    ("maxzoom-huge", "/raster/mnt_test/WebMercatorQuad/tilejson.json?maxzoom=30085", 400, "maxzoom"),
    ("tileset-page-dropped", "/raster/mnt_test/tiles/WebMercatorQuad?f=html", 404, None),
]


@pytest.mark.parametrize(
    ("path", "status", "message"), [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_answer_a_clear_4xx_and_change_nothing(server, world, var_dir, path, status, message):
    before, rows, files = database_fingerprint(world), raster_rows(world), raster_files(var_dir)
    response = httpx.get(f"{server}{path}", timeout=30)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        if message:
            assert message in response.json()["detail"], response.text
    assert (
        database_fingerprint(world) == before
        and raster_rows(world) == rows
        and raster_files(var_dir) == files
    )


# --- generated inputs -----------------------------------------------------------------------------------

try:
    import schemathesis
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import status_code_conformance
except ImportError:  # pragma: no cover - a dev dependency
    schemathesis = None


@pytest.fixture(scope="module")
def raster_schema(server):
    schema = schemathesis.openapi.from_url(f"{server}/api/openapi.json")
    schema.config.update(base_url=server, parameters={"path.raster": "mnt_test"})
    schema.config.generation.update(max_examples=25)
    return schema


if schemathesis is not None:
    raster_operations = schemathesis.pytest.from_fixture("raster_schema").include(path_regex=r"^/raster")

    @raster_operations.parametrize()
    @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def test_raster_routes_never_answer_a_server_error(case):
        """Generated query strings on a real raster: a 4xx the operation documents, never a 5xx."""
        case.call_and_validate(checks=[not_a_server_error, status_code_conformance])
