"""The GIS editor's round trip through the real QGIS (3.22, headless): OGC API Features, vector tiles, a PostGIS
edit with the editor's own PostgreSQL login, then the audit trail, the OGC API and the tiles must show it.

QGIS runs in Debian's system Python (``/usr/bin/python3``, package python3-qgis), in a subprocess that drives
``qgis_script.py``; its screenshots illustrate docs/qgis.md. Refresh them with::

    HYPERVISEUR_UPDATE_DOC_IMAGES=1 .venv/bin/python -m pytest tests/qgis -q
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import psycopg
import pytest
from PIL import Image, ImageChops, ImageStat

from tests.common import PROJECT_ROOT
from tests.layers.ogc_fixtures import Caller, running_server, signed_in
from twin.security.pg_logins import create_gis_login

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("qgis_script.py")
DOC_IMAGES = PROJECT_ROOT / "docs" / "images" / "qgis"
TABLE = "street_lights"
FIELD = "power_w"
TILE_ZOOM = 16  # the zmax QGIS is given: its edit view (≈ z19) overzooms the z16 tile
MOVE_M = 5.0
FRESHNESS_S = 1.0  # "edits show up everywhere within a second"
QGIS_TIMEOUT_S = 120.0
SCREENSHOTS = ("oapif", "vector_tiles", "postgis_before", "postgis_after", "tiles_before", "tiles_after")


def _qgis_env(home: Path) -> dict[str, str]:
    """A clean environment for the system Python: nothing of the virtualenv, a throwaway home and profile."""
    runtime = home / "xdg-runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "QT_QPA_PLATFORM": "offscreen",
        "QGIS_PREFIX_PATH": "/usr",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="module")
def qgis_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The system Python with QGIS; skip when it is missing, except in CI where bootstrap installs it."""
    env = _qgis_env(tmp_path_factory.mktemp("qgis-probe"))
    try:
        probe = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import qgis.core"], env=env, capture_output=True, text=True, timeout=60
        )
        error = probe.stderr.strip().splitlines()[-1:] if probe.returncode else None
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        error = [str(exc)]
    if error is not None:
        message = f"QGIS Python bindings unavailable ({SYSTEM_PYTHON} -c 'import qgis.core': {error})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install python3-qgis and qgis-providers (scripts/bootstrap.sh)")
        pytest.skip(message + "; install python3-qgis and qgis-providers")
    return SYSTEM_PYTHON


# -- geometry helpers ----------------------------------------------------------------------------------------


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_fraction(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Position in tile units (fractional x, y in Web Mercator tile space)."""
    n = 2**z
    return (lon + 180.0) / 360.0 * n, (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n


def lonlat_of_fraction(fx: float, fy: float, z: int) -> tuple[float, float]:
    n = 2**z
    lon = fx / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * fy / n))))
    return lon, lat


def moved_towards_tile_centre(lon: float, lat: float, z: int, metres: float) -> tuple[float, float]:
    """``metres`` (at most half the way) towards the centre of the point's tile: it stays in the same tile."""
    x, y = tile_of(lon, lat, z)
    c_lon, c_lat = lonlat_of_fraction(x + 0.5, y + 0.5, z)
    m_per_deg_lat = 111_320.0
    m_per_deg_lon = m_per_deg_lat * math.cos(math.radians(lat))
    dx, dy = (c_lon - lon) * m_per_deg_lon, (c_lat - lat) * m_per_deg_lat
    distance = math.hypot(dx, dy)
    step = min(metres, distance / 2) / distance
    return lon + dx * step / m_per_deg_lon, lat + dy * step / m_per_deg_lat


def scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]  # queries are constants of this module
    assert row is not None
    return row[0]


def feature_in_tile(content: bytes, layer: str, fid: int) -> dict[str, Any] | None:
    decoded = mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})
    for feature in decoded.get(layer, {}).get("features", []):
        if feature["properties"].get("id") == fid:
            return feature
    return None


# -- the scene -----------------------------------------------------------------------------------------------


def pick_street_light(url: str) -> tuple[int, float, float, float | None]:
    """The Monaco street light with most others within 150 m (a lively screenshot): id, lon, lat, power_w."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT s.id, st_x(s.geom), st_y(s.geom), s.power_w FROM twin.street_lights s"
            " JOIN twin.territory t ON t.id = s.territory_id AND t.name = 'Monaco'"
            " ORDER BY (SELECT count(*) FROM twin.street_lights o"
            "           WHERE st_dwithin(o.geom::geography, s.geom::geography, 150)) DESC, s.id LIMIT 1"
        ).fetchone()
    assert row is not None, "Monaco has no street light: the OSM import changed?"
    return int(row[0]), float(row[1]), float(row[2]), row[3]


@pytest.fixture
def gis_editor(monaco_url: str) -> Iterator[tuple[Caller, str, str]]:
    """A signed-in gis_editor account and its PostgreSQL login: (caller, login, password)."""
    caller = signed_in(monaco_url, "gis_editor")
    with psycopg.connect(monaco_url) as conn:
        login, password = create_gis_login(conn, caller.account_id, caller.username)
    yield caller, login, password


@pytest.fixture
def street_light(monaco_url: str) -> Iterator[tuple[int, float, float, float | None]]:
    """The feature QGIS edits, put back as it was afterwards (other tests share the session database)."""
    fid, lon, lat, power = pick_street_light(monaco_url)
    yield fid, lon, lat, power
    with psycopg.connect(monaco_url) as conn:
        conn.execute(
            "UPDATE twin.street_lights SET power_w = %s, geom = st_setsrid(st_makepoint(%s, %s), 4326)"
            " WHERE id = %s",
            (power, lon, lat, fid),
        )


class QgisRun:
    """The QGIS subprocess: its JSON events as they come, stderr kept in a file, killed after the timeout."""

    def __init__(self, python: str, args: dict[str, Any], home: Path) -> None:
        self.stderr_path = home / "qgis-stderr.log"
        self.started = time.monotonic()
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [python, str(SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=_qgis_env(home),
                text=True,
            )
        self.watchdog = threading.Timer(QGIS_TIMEOUT_S, self.proc.kill)
        self.watchdog.start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(args))
        self.proc.stdin.close()

    def events(self) -> Iterator[dict[str, Any]]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # QGIS itself printed something
            if isinstance(event, dict) and "event" in event:
                yield event

    def finish(self) -> tuple[int, float]:
        code = self.proc.wait(timeout=QGIS_TIMEOUT_S)
        self.watchdog.cancel()
        return code, time.monotonic() - self.started

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]


def wait_for_server(
    client: httpx.Client,
    tile_url: str,
    item_url: str,
    old_etag: str,
    fid: int,
    new_value: float,
    deadline: float,
) -> dict[str, Any]:
    """Poll the tile and the item until both show ``new_value`` or ``deadline`` (epoch s) passes."""
    seen: dict[str, Any] = {}
    while True:
        if "tile" not in seen:
            tile = client.get(tile_url, headers={"If-None-Match": old_etag})
            if tile.status_code == 200:
                feature = feature_in_tile(tile.content, TABLE, fid)
                if feature is not None and feature["properties"].get(FIELD) == new_value:
                    seen["tile"] = {"etag": tile.headers["etag"], "feature": feature, "after_s": time.time()}
        if "item" not in seen:
            item = client.get(item_url).json()
            if item["properties"][FIELD] == new_value:
                seen["item"] = {"body": item, "after_s": time.time()}
        if ("tile" in seen and "item" in seen) or time.time() > deadline:
            return seen
        time.sleep(0.02)


def assert_not_blank(path: Path) -> None:
    assert path.exists(), f"no screenshot {path}"
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (900, 600)
        stddev = ImageStat.Stat(rgb.convert("L")).stddev[0]
        colours = rgb.getcolors(maxcolors=1_000_000) or []
    assert stddev > 10, f"{path.name} is nearly uniform (grey-level stddev {stddev:.1f})"
    assert len(colours) > 20, f"{path.name} has only {len(colours)} colours"
    # No single colour (the white background) covers nearly everything.
    assert max(count for count, _ in colours) < 0.95 * rgb.width * rgb.height, f"{path.name} is mostly empty"


def assert_images_differ(a: Path, b: Path) -> None:
    with Image.open(a) as first, Image.open(b) as second:
        box = ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox()
    assert box is not None, f"{a.name} and {b.name} are identical: the edit is not visible"


def save_doc_image(source: Path, target: Path) -> None:
    """A 128-colour copy for the docs: a quarter of the size, no visible difference on these flat maps."""
    with Image.open(source) as image:
        palette = image.convert("RGB").quantize(
            colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    palette.save(target, "PNG", optimize=True)


# -- the test ------------------------------------------------------------------------------------------------


def test_qgis_edit_reaches_audit_ogc_api_and_tiles(
    qgis_python: str,
    monaco_url: str,
    gis_editor: tuple[Caller, str, str],
    street_light: tuple[int, float, float, float | None],
    tmp_path: Path,
) -> None:
    caller, login, password = gis_editor
    fid, lon, lat, old_value = street_light
    new_value = 42.5 if old_value != 42.5 else 57.5
    new_lon, new_lat = moved_towards_tile_centre(lon, lat, TILE_ZOOM, MOVE_M)
    x, y = tile_of(lon, lat, TILE_ZOOM)
    assert tile_of(new_lon, new_lat, TILE_ZOOM) == (x, y)
    shots_dir = tmp_path / "screenshots"
    with psycopg.connect(monaco_url) as conn:
        audit_start = scalar(conn, "SELECT coalesce(max(id), 0) FROM audit.entries")
        counts = {
            name: scalar(conn, f"SELECT count(*) FROM twin.{name}")
            for name in ("street_lights", "road_edges", "buildings")
        }
        pg = {"host": "127.0.0.1", "port": conn.info.port, "dbname": conn.info.dbname}

    with running_server(monaco_url) as base, httpx.Client(base_url=base, timeout=10) as client:
        tile_url = f"/tiles/{TABLE}/{TILE_ZOOM}/{x}/{y}.pbf"
        item_url = f"/ogc/collections/{TABLE}/items/{fid}"
        before_tile = client.get(tile_url)
        assert before_tile.status_code == 200, before_tile.text
        old_etag = before_tile.headers["etag"]
        before_feature = feature_in_tile(before_tile.content, TABLE, fid)
        assert before_feature is not None and before_feature["properties"].get(FIELD) == old_value
        before_item = client.get(item_url)
        assert before_item.status_code == 200
        assert before_item.json()["properties"][FIELD] == old_value

        args = {
            "server": base,
            "token": caller.token,
            "pg": {**pg, "user": login, "password": password},
            "out_dir": str(shots_dir),
            "profile_dir": str(tmp_path / "qgis-profile"),
            "center": [lon, lat],
            "edit": {
                "table": TABLE,
                "id": fid,
                "field": FIELD,
                "value": new_value,
                "unit": "W",
                "move_to": [new_lon, new_lat],
            },
            "tiles_after_s": FRESHNESS_S,
        }
        run = QgisRun(qgis_python, args, tmp_path)
        events: dict[str, dict[str, Any]] = {}
        seen: dict[str, Any] = {}
        for event in run.events():
            events[event["event"]] = event
            if event["event"] == "committed" and event["ok"]:
                seen = wait_for_server(
                    client, tile_url, item_url, old_etag, fid, new_value, deadline=event["at"] + FRESHNESS_S
                )
        code, elapsed_s = run.finish()
        after_item = client.get(item_url).json()

    report = {"qgis_subprocess_s": round(elapsed_s, 2), "events": events, "server": seen}
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2, default=str))
    assert "error" not in events, events["error"]["traceback"] + "\n" + run.stderr()
    assert code == 0 and "done" in events, f"QGIS exited with {code}\n{run.stderr()}"
    done = events["done"]

    # (b) OGC API Features: public layers anonymously, the internal one only with the session.
    oapif = done["oapif"]
    assert oapif["street_lights"] == {"valid": True, "features": counts["street_lights"]}
    assert oapif["road_edges"] == {"valid": True, "features": counts["road_edges"]}
    assert oapif["buildings_anonymous"]["valid"] is False
    assert any("buildings" in m and "Not Found" in m for m in oapif["buildings_anonymous"]["log"]), oapif
    assert oapif["buildings"] == {"valid": True, "features": counts["buildings"]}
    # Every request QGIS made succeeded, but for that refused collection (404: its existence is not disclosed).
    assert done["http"]["failed"] == [f"404 {base}/ogc/collections/buildings"], done["http"]
    # (c) vector tiles
    assert done["vector_tiles"]["valid"] is True
    # (d) the edit, committed by QGIS and read back from PostGIS
    assert done["postgis"] == {"valid": True, "features": counts[TABLE]}, done["postgis"]
    assert "commit" in done, done
    commit = done["commit"]
    assert commit["ok"], commit["messages"]
    assert (commit["feature_id"], commit["old_value"], commit["reread_value"]) == (fid, old_value, new_value)
    assert commit["new_point"] == pytest.approx([new_lon, new_lat], abs=1e-7)

    # The audit trail names the editor's own login, for that feature, with only what changed.
    with psycopg.connect(monaco_url) as conn:
        entries = conn.execute(
            "SELECT actor, db_user, action, before, after FROM audit.entries"
            " WHERE id > %s AND object = %s AND object_id = %s ORDER BY id",
            (audit_start, f"twin.{TABLE}", str(fid)),
        ).fetchall()
    assert [(e[0], e[1], e[2]) for e in entries] == [(login, login, "UPDATE")], entries
    before, after = entries[0][3], entries[0][4]
    assert set(before) == set(after) == {FIELD, "geom"}
    assert (before[FIELD], after[FIELD]) == (old_value, new_value)
    assert after["geom"].startswith("SRID=4326;POINT(")

    # The OGC API and the tile showed the edit within a second of QGIS's commit.
    assert "item" in seen, f"the OGC API item still showed the old value {FRESHNESS_S} s after the commit"
    assert "tile" in seen, f"tile {tile_url} still had the old feature {FRESHNESS_S} s after the commit"
    assert seen["tile"]["etag"] != old_etag
    assert after_item["properties"][FIELD] == new_value
    assert after_item["geometry"]["coordinates"] == pytest.approx([new_lon, new_lat], abs=1e-7)
    fx, fy = tile_fraction(new_lon, new_lat, TILE_ZOOM)
    expected = [round((fx - x) * 4096), round((fy - y) * 4096)]
    assert seen["tile"]["feature"]["geometry"]["coordinates"] == pytest.approx(expected, abs=1)

    # Screenshots: every step, not blank, and the edit visible in PostGIS and in the tiles.
    paths = {name: shots_dir / f"{name}.png" for name in SCREENSHOTS}
    for name, path in paths.items():
        assert done["screenshots"][name]["errors"] == [], done["screenshots"][name]
        assert_not_blank(path)
    assert_images_differ(paths["postgis_before"], paths["postgis_after"])
    assert_images_differ(paths["tiles_before"], paths["tiles_after"])
    if os.environ.get("HYPERVISEUR_UPDATE_DOC_IMAGES") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        for path in paths.values():
            save_doc_image(path, DOC_IMAGES / path.name)
    print(
        f"\nQGIS subprocess {elapsed_s:.2f} s; timings {done['timings_s']};"
        f" server fresh {seen['tile']['after_s'] - commit['at']:.3f} s (tile),"
        f" {seen['item']['after_s'] - commit['at']:.3f} s (item) after the commit; screenshots in {shots_dir}"
    )
