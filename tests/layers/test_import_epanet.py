"""EPANET importer on real PostGIS: L-Town placed in Montpellier, and malformed networks refused."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from layers.importers.epanet import import_epanet
from tests.common import LTOWN_INP, PROJECT_ROOT, database_fingerprint, shared_file
from twin.errors import ImportRejected, InvalidInput

# L-Town's local metres (x 135…2835, y 77…1618) shifted into southern Montpellier, in Lambert-93.
OFFSET = "769000,6277000"
DX, DY = 769000.0, 6277000.0
TERRITORY = "L-Town-Montpellier"


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _water_counts(url: str, territory: str) -> dict[str, int]:
    tables = (
        "water_junctions",
        "water_pipes",
        "water_pumps",
        "water_valves",
        "water_tanks",
        "water_reservoirs",
    )
    counts = _rows(
        url,
        " UNION ALL ".join(
            f"SELECT '{t}', count(*) FROM twin.{t} x JOIN twin.territory t ON t.id = x.territory_id"
            " WHERE t.name = %s"
            for t in tables
        ),
        (territory,) * len(tables),
    )
    return dict(counts)


@pytest.fixture(scope="module")
def ltown(database_url: str) -> str:
    """The session database with L-Town imported once into TERRITORY."""
    report = import_epanet(
        database_url, shared_file(LTOWN_INP), crs="2154", offset=OFFSET, territory_name=TERRITORY
    )
    assert report.kept["water_junctions"] == 782
    return database_url


def test_ltown_counts(ltown: str) -> None:
    assert _water_counts(ltown, TERRITORY) == {
        "water_junctions": 782,
        "water_pipes": 905,
        "water_pumps": 1,
        "water_valves": 3,
        "water_tanks": 1,
        "water_reservoirs": 2,
    }
    [(crs_epsg, source)] = _rows(
        ltown, "SELECT crs_epsg, source FROM twin.territory WHERE name = %s", (TERRITORY,)
    )
    assert (crs_epsg, source) == (2154, "epanet:L-TOWN.inp")


def test_ltown_geometry_matches_inp(ltown: str) -> None:
    """The length of a straight pipe in Lambert-93 equals its .inp length: proof the placement is metric.

    875 of L-Town's 905 pipes are straight; the other 30 are longer in the .inp than the distance between
    their end nodes (bends not drawn: the file has no [VERTICES]), never shorter.
    """
    [(pipes, straight, shorter_than_drawn)] = _rows(
        ltown,
        "SELECT count(*), count(*) FILTER (WHERE abs(d - length_m) <= 0.01 + 0.001 * length_m),"
        " count(*) FILTER (WHERE d > length_m + 0.01 + 0.001 * length_m)"
        " FROM (SELECT ST_Length(ST_Transform(p.geom, 2154)) AS d, p.length_m FROM twin.water_pipes p"
        " JOIN twin.territory t ON t.id = p.territory_id WHERE t.name = %s) q",
        (TERRITORY,),
    )
    assert pipes == 905
    assert straight == 875
    assert shorter_than_drawn == 0
    # p1 runs n62 → n61, 26.9292 m, DN200, Hazen-Williams C 140 in the .inp.
    [(start, end, length_m, diameter_m, roughness, status)] = _rows(
        ltown,
        "SELECT start_node, end_node, length_m, diameter_m, roughness, status FROM twin.water_pipes p"
        " JOIN twin.territory t ON t.id = p.territory_id WHERE t.name = %s AND p.name = 'p1'",
        (TERRITORY,),
    )
    assert (start, end, diameter_m, roughness, status) == ("n62", "n61", 0.2, 140.0, "Open")
    assert length_m == pytest.approx(26.9292)
    # Junction n1 is at (138.22, 1549.64) in [COORDINATES]; elevation 73.2105 m in [JUNCTIONS].
    [(x, y, elevation_m, demand)] = _rows(
        ltown,
        "SELECT ST_X(ST_Transform(j.geom, 2154)), ST_Y(ST_Transform(j.geom, 2154)), j.elevation_m,"
        " j.base_demand_m3_s FROM twin.water_junctions j JOIN twin.territory t ON t.id = j.territory_id"
        " WHERE t.name = %s AND j.name = 'n1'",
        (TERRITORY,),
    )
    assert (x, y) == (pytest.approx(DX + 138.22, abs=1e-3), pytest.approx(DY + 1549.64, abs=1e-3))
    assert elevation_m == pytest.approx(73.2105)
    assert demand == pytest.approx(0.0001834)  # 0 residential + 0 commercial + industrial, in m³/s
    [(off_node,)] = _rows(
        ltown,
        "SELECT count(*) FROM twin.water_pipes p JOIN twin.territory t ON t.id = p.territory_id"
        " JOIN twin.water_junctions j ON j.territory_id = t.id AND j.name = p.start_node"
        " WHERE t.name = %s AND ST_Distance(ST_StartPoint(p.geom)::geography, j.geom::geography) > 0.01",
        (TERRITORY,),
    )
    assert off_node == 0
    [(west, south, east, north)] = _rows(
        ltown,
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(j.geom) AS e"
        " FROM twin.water_junctions j JOIN twin.territory t ON t.id = j.territory_id WHERE t.name = %s) q",
        (TERRITORY,),
    )
    assert 3.80 < west < east < 3.95 and 43.56 < south < north < 43.66  # inside Montpellier


def test_ltown_pump_valves_tank(ltown: str) -> None:
    valves = _rows(
        ltown,
        "SELECT v.name, v.valve_type, v.setting FROM twin.water_valves v JOIN twin.territory t"
        " ON t.id = v.territory_id WHERE t.name = %s ORDER BY v.name",
        (TERRITORY,),
    )
    assert valves == [("PRV-1", "PRV", 40.0), ("PRV-2", "PRV", 50.0), ("PRV-3", "PRV", 35.0)]
    [(pump, start, end, kind)] = _rows(
        ltown,
        "SELECT p.name, p.start_node, p.end_node, p.pump_type FROM twin.water_pumps p JOIN twin.territory t"
        " ON t.id = p.territory_id WHERE t.name = %s",
        (TERRITORY,),
    )
    assert (pump, start, end, kind) == ("PUMP_1", "n54", "T1", "HEAD")
    [(tank, diameter_m, max_level_m)] = _rows(
        ltown,
        "SELECT k.name, k.diameter_m, k.max_level_m FROM twin.water_tanks k JOIN twin.territory t"
        " ON t.id = k.territory_id WHERE t.name = %s",
        (TERRITORY,),
    )
    assert (tank, diameter_m, max_level_m) == ("T1", 16.0, 4.0)


def test_reimport_replaces_the_network(ltown: str) -> None:
    import_epanet(ltown, LTOWN_INP, crs="EPSG:2154", offset=OFFSET, territory_name=TERRITORY)
    assert _water_counts(ltown, TERRITORY)["water_pipes"] == 905


@pytest.mark.parametrize("offset", ["769000;6277000", "769000,", "1,2,3", "abc,def", "nan,1"])
def test_bad_offset(database_url: str, offset: str) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(InvalidInput, match=r"--offset .* 'dx,dy'"):
        import_epanet(
            database_url, shared_file(LTOWN_INP), crs="2154", offset=offset, territory_name="Bad-offset"
        )
    assert database_fingerprint(database_url) == before


@pytest.mark.parametrize("crs", ["EPSG:999999", "not-a-crs"])
def test_unknown_crs(database_url: str, crs: str) -> None:
    before = database_fingerprint(database_url)
    with pytest.raises(InvalidInput, match="unknown CRS"):
        import_epanet(database_url, shared_file(LTOWN_INP), crs=crs, offset=OFFSET, territory_name="Bad-crs")
    assert database_fingerprint(database_url) == before


def test_local_coordinates_without_offset(database_url: str) -> None:
    """Lambert-93 x = 135…2835 m lies in the Atlantic: the user forgot --offset, say so."""
    before = database_fingerprint(database_url)
    with pytest.raises(ImportRejected, match=r"outside the area of use of EPSG:2154.*--offset"):
        import_epanet(database_url, shared_file(LTOWN_INP), crs="2154", territory_name="No-offset")
    assert database_fingerprint(database_url) == before


def _truncated(tmp_path: Path, n_bytes: int | None = None, n_lines: int | None = None) -> Path:
    text = shared_file(LTOWN_INP).read_text()
    cut = text[:n_bytes] if n_bytes is not None else "\n".join(text.splitlines()[:n_lines])
    path = tmp_path / "L-TOWN-truncated.inp"
    path.write_text(cut)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # Cut in [PIPES]: wntr fails on the missing [OPTIONS] section.
        (lambda tmp: _truncated(tmp, n_bytes=40_000), r"not a valid EPANET network: wntr says .*truncated"),
        # Cut in [COORDINATES]: wntr accepts it and puts the remaining nodes at (0, 0); we do not.
        (
            lambda tmp: _truncated(tmp, n_lines=5_000),
            r"nodes of L-TOWN-truncated.inp have no \[COORDINATES\]",
        ),
        (
            lambda tmp: (
                (tmp / "garbage.inp").write_bytes(b"hello world\n\x00\x01 garbage") and tmp / "garbage.inp"
            ),
            r"garbage.inp is not a valid EPANET network: wntr says ENSyntaxError",
        ),
        (lambda tmp: (tmp / "empty.inp").write_text("") == 0 and tmp / "empty.inp", "has no junction"),
    ],
    ids=["truncated-in-pipes", "truncated-in-coordinates", "garbage", "empty"],
)
def test_malformed_inp(database_url: str, tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    before = database_fingerprint(database_url)
    with pytest.raises(ImportRejected, match=message):
        import_epanet(database_url, path, crs="2154", offset=OFFSET, territory_name="Malformed")
    assert database_fingerprint(database_url) == before


def test_cli_bad_offset_and_success(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "HYPERVISEUR_DATABASE_URL": database_url}
    command = [
        str(PROJECT_ROOT / ".venv" / "bin" / "hyperviseur"),
        "import",
        "epanet",
        str(shared_file(LTOWN_INP)),
        "--crs",
        "2154",
        "--territory",
        "Cli-epanet",
    ]
    before = database_fingerprint(database_url)
    bad = subprocess.run(
        [*command, "--offset", "769000 6277000"], capture_output=True, text=True, env=env, timeout=120
    )
    assert bad.returncode == InvalidInput.exit_code, bad.stderr
    assert "--offset '769000 6277000' is not 'dx,dy'" in bad.stderr
    assert database_fingerprint(database_url) == before

    good = subprocess.run(
        [*command, "--offset", OFFSET], capture_output=True, text=True, env=env, timeout=120
    )
    assert good.returncode == 0, good.stderr
    assert "water_pipes: 905 kept" in good.stdout
