"""GIS-file importer on real PostGIS: Montpellier open data, awkward hand-made files, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from layers.importers.gis import import_gis
from tests.common import MONTPELLIER, PROJECT_ROOT, database_fingerprint, shared_file
from twin.errors import ImportRejected, InvalidInput

LIGHTS_ZIP = MONTPELLIER / "VilleMTP_MTP_EclairagePublic" / "VilleMTP_MTP_EclairagePublic.zip"
BUILDINGS_ZIP = MONTPELLIER / "VilleMTP_MTP_Batiments" / "VilleMTP_MTP_Batiments.zip"
STREETS_ZIP = MONTPELLIER / "VilleMTP_MTP_FilaireVoies" / "VilleMTP_MTP_FilaireVoies.zip"
DEFIBRILLATORS = MONTPELLIER / "VilleMTP_MTP_Defibrillateurs" / "VilleMTP_MTP_Defibrilateurs.geojson"
# Montpellier commune in WGS84 (its boundary file spans 3.807–3.927 E, 43.573–43.650 N).
MONTPELLIER_BBOX = (3.80, 43.56, 3.95, 43.66)
# Lambert-93 point in central Montpellier (Place de la Comédie is near 770 700, 6 279 200).
CENTRE_L93 = (770700.0, 6279200.0)


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _inside_montpellier(url: str, table: str, territory: str, where: str = "true") -> tuple[int, int]:
    """(features, features inside Montpellier's WGS84 bbox) of a territory's table."""
    west, south, east, north = MONTPELLIER_BBOX
    [(total, inside)] = _rows(
        url,
        f"SELECT count(*), count(*) FILTER (WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
        f" FROM twin.{table} JOIN twin.territory t ON t.id = territory_id WHERE t.name = %s AND {where}",
        (west, south, east, north, territory),
    )
    return total, inside


def _write_geojson(path: Path, features: list[dict], crs_epsg: int | None = None) -> Path:
    collection: dict = {"type": "FeatureCollection", "features": features}
    if crs_epsg is not None:
        collection["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs_epsg}"}}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def _square(x: float, y: float, side: float) -> list[list[float]]:
    return [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]


def _small_points(tmp_path: Path, n: int = 5) -> Path:
    """n fountains near the centre of Montpellier, Lambert-93 declared, with accented attributes."""
    x, y = CENTRE_L93
    return _write_geojson(
        tmp_path / "fontaines.geojson",
        [
            {
                "type": "Feature",
                "properties": {"id": i, "nom": f"Fontaine n°{i} de l'Écusson"},
                "geometry": {"type": "Point", "coordinates": [x + 10 * i, y]},
            }
            for i in range(n)
        ],
        crs_epsg=2154,
    )


# ---------------------------------------------------------------------------------------- Montpellier data


def test_montpellier_street_lights_land_in_montpellier(database_url: str) -> None:
    lights = shared_file(LIGHTS_ZIP)
    report = import_gis(
        database_url, lights, layer="street_lights", territory_name="Montpellier-lights", encoding="latin-1"
    )

    rejected = len(report.rejected.get("street_lights", []))
    assert report.kept["street_lights"] == 29_969 - rejected
    total, inside = _inside_montpellier(database_url, "street_lights", "Montpellier-lights")
    assert total == report.kept["street_lights"]
    assert inside == total, "Lambert-93 → WGS84 reprojection put lamps outside Montpellier"
    [(crs_epsg,)] = _rows(
        database_url, "SELECT crs_epsg FROM twin.territory WHERE name = 'Montpellier-lights'"
    )
    assert crs_epsg == 2154
    types = dict(
        _rows(
            database_url,
            "SELECT lamp_type, count(*) FROM twin.street_lights s"
            " JOIN twin.territory t ON t.id = s.territory_id WHERE t.name = 'Montpellier-lights'"
            " GROUP BY lamp_type",
        )
    )
    assert types["lanterne"] == 22_594 + 1  # 'LANTERNE' and one 'Lanterne'
    [(original,)] = _rows(
        database_url,
        "SELECT count(*) FROM twin.street_lights s JOIN twin.territory t ON t.id = s.territory_id"
        " WHERE t.name = 'Montpellier-lights' AND s.attributes->>'type_lante' = 'LUMINAIRE AMBIANCE'",
    )
    assert original == 3_888


def test_montpellier_buildings_keep_french_attributes(database_url: str) -> None:
    buildings = shared_file(BUILDINGS_ZIP)
    report = import_gis(
        database_url, buildings, layer="buildings", territory_name="Montpellier-buildings", encoding="latin-1"
    )

    handled = report.kept["buildings"] + len(report.rejected.get("buildings", []))
    assert handled == 3_356
    assert report.kept["buildings"] >= 3_355
    rows = _rows(
        database_url,
        "SELECT b.name, b.attributes->>'LIBQUART', b.use, b.residents_est FROM twin.buildings b"
        " JOIN twin.territory t ON t.id = b.territory_id WHERE t.name = 'Montpellier-buildings'"
        " AND b.attributes->>'PATRLIB' = 'Faculté des Sciences'",
    )
    assert len(rows) == 62  # as many as in the file: Latin-1 'é' decoded, not mangled
    assert {r[0] for r in rows} == {"Faculté des Sciences"}
    assert {r[2] for r in rows} <= {"D", "L"}  # the cadastre's TYPE (bâti dur / léger), kept as the use
    assert {r[3] for r in rows} == {0}  # public buildings: nobody lives there
    [(quarters,)] = _rows(
        database_url,
        "SELECT count(*) FROM twin.buildings b JOIN twin.territory t ON t.id = b.territory_id"
        " WHERE t.name = 'Montpellier-buildings' AND b.attributes->>'LIBQUART' = 'HOPITAUX-FACULTES'",
    )
    assert quarters == 695
    # area_m2 is computed in Lambert-93: it matches the file's own SHAPE_Area.
    [(median_ratio, worst)] = _rows(
        database_url,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r), max(abs(r - 1)) FROM (SELECT"
        " b.area_m2 / (b.attributes->>'SHAPE_Area')::float AS r FROM twin.buildings b JOIN twin.territory t"
        " ON t.id = b.territory_id WHERE t.name = 'Montpellier-buildings'"
        " AND (b.attributes->>'SHAPE_Area')::float > 10 AND ST_IsValid(b.geom)) q",
    )
    assert median_ratio == pytest.approx(1.0, abs=1e-3)
    assert worst < 0.01
    [(invalid,)] = _rows(
        database_url,
        "SELECT count(*) FROM twin.buildings b JOIN twin.territory t ON t.id = b.territory_id"
        " WHERE t.name = 'Montpellier-buildings' AND NOT ST_IsValid(ST_Transform(b.geom, 2154))",
    )
    assert invalid == 0


def test_montpellier_streets_become_a_directed_graph(database_url: str) -> None:
    streets = shared_file(STREETS_ZIP)
    report = import_gis(
        database_url, streets, layer="roads", territory_name="Montpellier-roads", encoding="latin-1"
    )

    rejected = report.rejected.get("roads", [])
    assert report.kept["roads"] + len(rejected) == 8_011
    assert sum("closed to motor traffic" in r for r in rejected) == 41  # SENS_CIRCU = 'INTERDIT'
    arcs = dict(
        _rows(
            database_url,
            "SELECT direction, array_agg(DISTINCT n) FROM (SELECT coalesce(e.attributes->>'SENS_CIRCU', '')"
            " AS direction, count(*) AS n FROM twin.road_edges e"
            " JOIN twin.territory t ON t.id = e.territory_id WHERE t.name = 'Montpellier-roads'"
            " GROUP BY e.source_id, 1) q GROUP BY direction",
        )
    )
    assert arcs["SENS UNIQUE"] == [1]
    assert arcs["DOUBLE SENS"] == [2]
    assert arcs["FICTIF"] == [2] and arcs[""] == [2]
    assert "INTERDIT" not in arcs
    assert report.kept["road_edges"] == 2 * (5_995 + 18 + 215) + 1_742 - _arcs_of_degenerate(rejected)
    [(arc_count, node_count)] = _rows(
        database_url,
        "SELECT (SELECT count(*) FROM twin.road_edges e WHERE e.territory_id = t.id),"
        " (SELECT count(*) FROM twin.road_nodes n WHERE n.territory_id = t.id)"
        " FROM twin.territory t WHERE t.name = 'Montpellier-roads'",
    )
    assert (arc_count, node_count) == (report.kept["road_edges"], report.kept["road_nodes"])
    # Every arc starts and ends exactly on its nodes; one-way arcs follow the digitised direction.
    [(off_node, wrong_way, bad_length, bad_time)] = _rows(
        database_url,
        "SELECT count(*) FILTER (WHERE NOT (ST_StartPoint(e.geom) = s.geom"
        " AND ST_EndPoint(e.geom) = d.geom)),"
        " count(*) FILTER (WHERE e.attributes->>'SENS_CIRCU' = 'SENS UNIQUE' AND e.reversed),"
        " count(*) FILTER (WHERE abs(e.length_m - (e.attributes->>'LEN')::float) > 0.5 + 0.005 * e.length_m),"
        " count(*) FILTER (WHERE abs(e.travel_time_s - e.length_m * 3.6 / e.speed_kph) > 1e-6)"
        " FROM twin.road_edges e JOIN twin.road_nodes s ON s.id = e.source_node"
        " JOIN twin.road_nodes d ON d.id = e.target_node JOIN twin.territory t ON t.id = e.territory_id"
        " WHERE t.name = 'Montpellier-roads'",
    )
    assert off_node == 0 and wrong_way == 0 and bad_time == 0
    assert bad_length == 0, "length_m (Lambert-93) disagrees with the file's own LEN"
    total, inside = _inside_montpellier(database_url, "road_nodes", "Montpellier-roads")
    assert inside == total
    [(accented,)] = _rows(
        database_url,
        "SELECT count(*) FROM twin.road_edges e JOIN twin.territory t ON t.id = e.territory_id"
        " WHERE t.name = 'Montpellier-roads' AND e.name = 'Avenue de la Liberté'",
    )
    assert accented == 2 * 36


def _arcs_of_degenerate(rejected: list[str]) -> int:
    """Arcs lost with segments rejected for being shorter than the snapping tolerance (none expected)."""
    assert not [r for r in rejected if "closed to motor traffic" not in r], rejected
    return 0


def test_geojson_in_lambert93_without_crs_member(database_url: str, tmp_path: Path) -> None:
    """Montpellier's defibrillators GeoJSON holds Lambert-93 coordinates but no "crs" member."""
    defibrillators = shared_file(DEFIBRILLATORS)
    before = database_fingerprint(database_url)
    with pytest.raises(ImportRejected, match=r"not longitude/latitude.*--crs 2154"):
        import_gis(database_url, defibrillators, layer="defibrillateurs", territory_name="Montpellier-defib")
    assert database_fingerprint(database_url) == before

    report = import_gis(
        database_url, defibrillators, layer="defibrillateurs", territory_name="Montpellier-defib", crs="2154"
    )
    assert report.kept["defibrillateurs"] == 167
    total, inside = _inside_montpellier(
        database_url, "gis_features", "Montpellier-defib", "layer = 'defibrillateurs'"
    )
    assert total == inside == 167
    [(table, layer_filter, geometry_type, visibility, fields)] = _rows(
        database_url,
        "SELECT table_name, layer_filter, geometry_type, visibility, fields FROM twin.layer_catalog"
        " WHERE name = 'defibrillateurs'",
    )
    assert (table, layer_filter, geometry_type, visibility) == (
        "gis_features",
        "defibrillateurs",
        "Point",
        "internal",
    )
    assert [f["name"] for f in fields] == ["Id", "Nom", "Adresse", "Tel", "Coord_X", "Coord_Y"]
    [(nom,)] = _rows(
        database_url,
        "SELECT attributes->>'Nom' FROM twin.gis_features WHERE layer = "
        "'defibrillateurs' AND source_id = '2'",
    )
    assert nom == "Hôtel de Ville"


# ---------------------------------------------------------------------------------------- awkward files


def test_empty_and_invalid_geometries(database_url: str, tmp_path: Path) -> None:
    x, y = CENTRE_L93
    bowtie = [[x, y], [x + 20, y + 20], [x + 20, y], [x, y + 20], [x, y]]
    collapsed = [[x, y], [x + 10, y + 10], [x + 20, y + 20], [x, y]]  # all on one line: no area at all
    features = [
        {
            "type": "Feature",
            "properties": {"id": "ok-1", "TYPE": "D"},
            "geometry": {"type": "Polygon", "coordinates": [[[*p, 12.5] for p in _square(x + 100, y, 20)]]},
        },
        {
            "type": "Feature",
            "properties": {"id": "bowtie-2", "TYPE": "D"},
            "geometry": {"type": "Polygon", "coordinates": [bowtie]},
        },
        {"type": "Feature", "properties": {"id": "null-3", "TYPE": "L"}, "geometry": None},
        {
            "type": "Feature",
            "properties": {"id": "empty-4", "TYPE": "L"},
            "geometry": {"type": "Polygon", "coordinates": []},
        },
        {
            "type": "Feature",
            "properties": {"id": "collapsed-5", "TYPE": "L"},
            "geometry": {"type": "Polygon", "coordinates": [collapsed]},
        },
    ]
    path = _write_geojson(tmp_path / "batiments_abimes.geojson", features, crs_epsg=2154)
    report = import_gis(database_url, path, layer="buildings", territory_name="Awkward-geometries")

    assert report.kept["buildings"] == 2
    assert [r.split(":")[0] for r in report.repaired["buildings"]] == ["bowtie-2"]
    rejected = {r.split(":")[0]: r for r in report.rejected["buildings"]}
    assert set(rejected) == {"null-3", "empty-4", "collapsed-5"}
    assert "empty geometry" in rejected["empty-4"] and "collapses" in rejected["collapsed-5"]
    assert any("Z values" in note for note in report.notes)
    rows = dict(
        _rows(
            database_url,
            "SELECT b.source_id, json_build_array(ST_IsValid(b.geom), ST_NumGeometries(b.geom), b.area_m2,"
            " ST_CoordDim(b.geom)) FROM twin.buildings b JOIN twin.territory t ON t.id = b.territory_id"
            " WHERE t.name = 'Awkward-geometries'",
        )
    )
    assert rows["ok-1"][0] and rows["ok-1"][3] == 2 and rows["ok-1"][2] == pytest.approx(400, rel=1e-3)
    assert rows["bowtie-2"][:2] == [True, 2]  # two triangles of 100 m² each
    assert rows["bowtie-2"][2] == pytest.approx(200, rel=1e-3)


def test_shapefile_without_prj_needs_crs(database_url: str, tmp_path: Path) -> None:
    x, y = CENTRE_L93
    frame = gpd.GeoDataFrame({"nom": ["Rond-point Richter"]}, geometry=[Point(x, y)], crs=2154)
    shp = tmp_path / "lampadaires.shp"
    frame.to_file(shp, engine="pyogrio")
    shp.with_suffix(".prj").unlink()
    before = database_fingerprint(database_url)
    with pytest.raises(ImportRejected, match=r"lampadaires\.shp declares no CRS.*--crs"):
        import_gis(database_url, shp, layer="street_lights", territory_name="No-prj")
    assert database_fingerprint(database_url) == before

    report = import_gis(database_url, shp, layer="street_lights", territory_name="No-prj", crs="EPSG:2154")
    assert report.kept["street_lights"] == 1
    assert _inside_montpellier(database_url, "street_lights", "No-prj") == (1, 1)


@pytest.mark.parametrize("crs", ["EPSG:999999", "lambert"])
def test_unknown_crs(database_url: str, tmp_path: Path, crs: str) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(InvalidInput, match="unknown CRS"):
        import_gis(
            database_url, _small_points(tmp_path), layer="fontaines", territory_name="Unknown-crs", crs=crs
        )
    assert database_fingerprint(database_url) == before


@pytest.mark.parametrize("layer", ["Défibrillateurs", "1st_layer", "road_edges", "water_pipes", ""])
def test_bad_layer_name(database_url: str, tmp_path: Path, layer: str) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(InvalidInput, match="layer name"):
        import_gis(database_url, _small_points(tmp_path), layer=layer, territory_name="Bad-name")
    assert database_fingerprint(database_url) == before


def test_wrong_geometry_type_for_layer(database_url: str, tmp_path: Path) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(
        ImportRejected, match=r"Point geometries; layer 'buildings' needs polygons.*--layer fontaines"
    ):
        import_gis(database_url, _small_points(tmp_path), layer="buildings", territory_name="Wrong-type")
    x, y = CENTRE_L93
    parcels = _write_geojson(
        tmp_path / "parcelles.geojson",
        [
            {
                "type": "Feature",
                "properties": {"id": 1},
                "geometry": {"type": "Polygon", "coordinates": [_square(x, y, 5)]},
            }
        ],
        crs_epsg=2154,
    )
    with pytest.raises(ImportRejected, match="needs lines"):
        import_gis(database_url, parcels, layer="roads", territory_name="Wrong-type")
    assert database_fingerprint(database_url) == before


def test_replace_then_append(database_url: str, tmp_path: Path) -> None:
    path = _small_points(tmp_path, n=5)
    messages: list[str] = []
    for _ in range(2):
        report = import_gis(
            database_url,
            path,
            layer="fontaines_test",
            territory_name="Replace-append",
            progress=messages.append,
        )
        assert report.kept["fontaines_test"] == 5
    assert "writing 5 features to gis_features …" in messages
    assert _inside_montpellier(database_url, "gis_features", "Replace-append") == (5, 5)
    import_gis(database_url, path, layer="fontaines_test", territory_name="Replace-append", append=True)
    assert _inside_montpellier(database_url, "gis_features", "Replace-append") == (10, 10)
    [(nom,)] = _rows(
        database_url,
        "SELECT DISTINCT attributes->>'nom' FROM twin.gis_features"
        " WHERE layer = 'fontaines_test' AND source_id = '3'",
    )
    assert nom == "Fontaine n°3 de l'Écusson"


def test_roads_cannot_be_appended(database_url: str, tmp_path: Path) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(InvalidInput, match="--append is not supported for roads"):
        import_gis(
            database_url, _small_points(tmp_path), layer="roads", territory_name="Roads-append", append=True
        )
    assert database_fingerprint(database_url) == before


def test_failure_after_writing_rolls_everything_back(database_url: str, tmp_path: Path) -> None:
    """The catalog conflict is found after the features are written: the whole import must vanish."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO twin.layer_catalog (name, table_name, title_fr, title_en, geometry_type)"
            " VALUES ('parcs_occupe', 'buildings', 'Parcs', 'Parks', 'MultiPolygon')"
        )
    try:
        before = database_fingerprint(database_url)
        with pytest.raises(ImportRejected, match="already used by table buildings"):
            import_gis(database_url, _small_points(tmp_path), layer="parcs_occupe", territory_name="Rollback")
        assert database_fingerprint(database_url) == before
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM twin.layer_catalog WHERE name = 'parcs_occupe'")


def test_undeclared_latin1_needs_encoding(database_url: str, tmp_path: Path) -> None:
    x, y = CENTRE_L93
    frame = gpd.GeoDataFrame(
        {"nom": ["Hôpital Lapeyronie"], "kind": ["Hôpital"]}, geometry=[Point(x, y)], crs=2154
    )
    shp = tmp_path / "sites.shp"
    frame.to_file(shp, engine="pyogrio", encoding="ISO-8859-1")
    shp.with_suffix(".cpg").write_text("UTF-8")  # a .cpg that lies about the Latin-1 attributes
    before = database_fingerprint(database_url)
    with pytest.raises(ImportRejected, match="--encoding latin-1"):
        import_gis(database_url, shp, layer="critical_sites", territory_name="Encodings")
    assert database_fingerprint(database_url) == before

    import_gis(database_url, shp, layer="critical_sites", territory_name="Encodings", encoding="latin-1")
    assert _rows(
        database_url,
        "SELECT c.name, c.kind FROM twin.critical_sites c JOIN twin.territory t"
        " ON t.id = c.territory_id WHERE t.name = 'Encodings'",
    ) == [("Hôpital Lapeyronie", "hospital")]


def test_polygon_critical_sites_and_mixed_types(database_url: str, tmp_path: Path) -> None:
    x, y = CENTRE_L93
    path = _write_geojson(
        tmp_path / "sites.geojson",
        [
            {
                "type": "Feature",
                "properties": {"id": "s1", "nom": "École Jules Ferry", "type": "École primaire"},
                "geometry": {"type": "Polygon", "coordinates": [_square(x, y, 40)]},
            },
            {
                "type": "Feature",
                "properties": {"id": "s2", "nom": "Caserne", "type": "Pompiers"},
                "geometry": {"type": "Point", "coordinates": [x + 200, y]},
            },
            {
                "type": "Feature",
                "properties": {"id": "s3", "nom": "Ligne", "type": "Mairie"},
                "geometry": {"type": "LineString", "coordinates": [[x, y], [x + 5, y]]},
            },
        ],
        crs_epsg=2154,
    )
    report = import_gis(database_url, path, layer="critical_sites", territory_name="Sites-mixed")
    assert report.kept["critical_sites"] == 2
    assert [r.split(":")[0] for r in report.rejected["critical_sites"]] == ["s3"]
    kinds = dict(
        _rows(
            database_url,
            "SELECT c.source_id, c.kind FROM twin.critical_sites c JOIN twin.territory t"
            " ON t.id = c.territory_id WHERE t.name = 'Sites-mixed'",
        )
    )
    assert kinds == {"s1": "school", "s2": "fire_station"}


# ---------------------------------------------------------------------------------------- command line


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYPERVISEUR_DATABASE_URL": database_url}
    return subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "hyperviseur"), "import", "gis", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def test_cli_import_gis(database_url: str, tmp_path: Path) -> None:
    x, y = CENTRE_L93
    frame = gpd.GeoDataFrame({"nom": ["a"]}, geometry=[Point(x, y)], crs=2154)
    shp = tmp_path / "sans_prj.shp"
    frame.to_file(shp, engine="pyogrio")
    shp.with_suffix(".prj").unlink()
    before = database_fingerprint(database_url)
    bad = _cli(database_url, str(shp), "--layer", "bornes", "--territory", "Cli-gis")
    assert bad.returncode == ImportRejected.exit_code, bad.stderr
    assert "sans_prj.shp declares no CRS" in bad.stderr and "--crs" in bad.stderr
    assert database_fingerprint(database_url) == before

    good = _cli(database_url, str(_small_points(tmp_path)), "--layer", "bornes", "--territory", "Cli-gis")
    assert good.returncode == 0, good.stderr
    assert "bornes: 5 kept, 0 repaired, 0 rejected" in good.stdout


def test_polygon_building_is_multipolygon(database_url: str, tmp_path: Path) -> None:
    x, y = CENTRE_L93
    shapes = [
        Polygon(_square(x, y, 10)),
        MultiPolygon([Polygon(_square(x + 50, y, 10)), Polygon(_square(x + 70, y, 10))]),
    ]
    path = tmp_path / "bati.gpkg"
    gpd.GeoDataFrame(
        {"usage": ["Résidentiel", "école"], "nb_etages": [4, 2]}, geometry=shapes, crs=2154
    ).to_file(path, engine="pyogrio")
    import_gis(database_url, path, layer="buildings", territory_name="Gpkg-buildings")
    rows = _rows(
        database_url,
        "SELECT GeometryType(b.geom), b.use, b.levels, round(b.area_m2), b.residents_est"
        " FROM twin.buildings b JOIN twin.territory t ON t.id = b.territory_id"
        " WHERE t.name = 'Gpkg-buildings' ORDER BY b.area_m2",
    )
    # 100 m² × 4 levels / 40 m² per resident = 10 residents; the school houses nobody.
    assert rows == [("MULTIPOLYGON", "Résidentiel", 4, 100, 10), ("MULTIPOLYGON", "école", 2, 200, 0)]
