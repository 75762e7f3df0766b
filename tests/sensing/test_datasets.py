"""Real datasets replayed as readings: Châteaubourg's Telraam hours and Montpellier's count campaigns."""

from __future__ import annotations

import csv
import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from sensing.datasets import montpellier_counts, telraam
from tests.common import SHARED_DATA, shared_file
from twin.cli import app
from twin.errors import InvalidInput

TELRAAM = SHARED_DATA / telraam.TELRAAM_FILE
MTP_COUNTS = SHARED_DATA / montpellier_counts.COUNTS_FILE
MTP_STREETS = SHARED_DATA / montpellier_counts.STREETS_FILE


def _one(url: str, sql: str, *params: object) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def _rejected(url: str, file_name: str) -> list[tuple[int | None, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT sensor_id, reason FROM sensing.rejected WHERE source = 'file' AND origin LIKE %s",
            (file_name + ":%",),
        ).fetchall()


def _readings_of(url: str, territory: str) -> int:
    return int(
        _one(  # type: ignore[arg-type]
            url,
            "SELECT count(*) FROM sensing.readings r JOIN twin.sensors s ON s.id = r.sensor_id"
            " JOIN twin.territory t ON t.id = s.territory_id WHERE t.name = %s",
            territory,
        )
    )


# ------------------------------------------------------------------------------------------------ Telraam


def _expected_telraam(path: Path) -> tuple[int, int, int]:
    """(rows, rows with uptime < 0.5, readings expected) counted straight from the file, independently."""
    rows = low = readings = 0
    seen: set[tuple[str, str]] = set()
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            rows += 1
            if float(row["uptime"]) < 0.5:
                low += 1
                continue
            key = (row["segment_id"], row["date"])
            if key in seen:
                continue
            seen.add(key)
            readings += 3 + (row["v85"] != "")
    return rows, low, readings


def test_telraam_import_counts_refuses_low_uptime_hours_and_is_idempotent(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shared_file(TELRAAM)
    rows, low, readings = _expected_telraam(path)
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["sensing", "import-telraam", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{rows} rows, 8 sensors: {readings} readings stored" in result.output
    assert f"{low * 4} rejected ({low} hours with uptime below 0.5)" in result.output

    assert _readings_of(database_url, "Châteaubourg") == readings
    rejected = _rejected(database_url, path.name)
    assert len(rejected) == low * 4
    assert all(s is not None and "uptime" in reason and "below 0.5" in reason for s, reason in rejected)
    # the territory was created around the two segments, the sensors inside it
    inside = _one(
        database_url,
        "SELECT bool_and(ST_Contains(t.boundary, s.geom)) FROM twin.sensors s"
        " JOIN twin.territory t ON t.id = s.territory_id WHERE t.name = 'Châteaubourg'",
    )
    assert inside is True
    # one known hour: 2022-01-01 09:00 CET on the Route de Vitré (uptime 0.80): 27.66 cars + 7.54 heavy
    value = _one(
        database_url,
        "SELECT r.value FROM sensing.readings r JOIN twin.sensors s ON s.id = r.sensor_id"
        " WHERE s.name = 'telraam-9000001844-vehicles' AND r.observed_at = %s",
        datetime(2022, 1, 1, 8, 0, tzinfo=UTC),
    )
    assert value == pytest.approx(27.66329 + 7.544534)
    # and the same file again: nothing new stored, nothing new refused
    again = CliRunner().invoke(app, ["sensing", "import-telraam", str(path)])
    assert again.exit_code == 0, again.output
    assert f"0 readings stored, {readings} duplicates, 0 rejected" in again.output
    assert _readings_of(database_url, "Châteaubourg") == readings
    assert len(_rejected(database_url, path.name)) == low * 4
    assert _one(database_url, "SELECT count(*) FROM twin.territory WHERE name = 'Châteaubourg'") == 1
    assert _one(database_url, "SELECT count(*) FROM twin.sensors WHERE name LIKE 'telraam-%%'") == 8


def test_telraam_rows_with_unknown_segment_or_zone_are_refused_with_reason(
    database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "telraam-bad.csv.gz"
    header = "segment_id,date,interval,uptime,heavy,car,bike,pedestrian,v85"
    lines = [
        header,
        "9000001844.0,2021-05-01 10:00:00 CEST,hourly,0.8,1,10,2,3,45.0",  # good
        "123.0,2021-05-01 10:00:00 CEST,hourly,0.8,1,10,2,3,45.0",  # unknown segment
        "9000001844.0,2021-05-01 11:00:00 EST,hourly,0.8,1,10,2,3,45.0",  # zone not Europe/Paris
        "9000001844.0,2021-05-01 12:00:00 CEST,hourly,0.8,1,beaucoup,2,3,",  # car not a number
    ]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    report = telraam.import_telraam(database_url, path)
    assert report.counts.inserted == 4 + 2  # the good hour: 4 measures; the last: bikes and pedestrians
    reasons = [reason for _, reason in _rejected(database_url, path.name)]
    assert any("segment 123 is not one of the documented" in r for r in reasons), reasons
    assert sum("zone 'EST' is not CET, CEST or UTC" in r for r in reasons) == 4
    assert any(r.startswith("vehicles: value 'beaucoup' is not a number") for r in reasons), reasons


def test_telraam_refuses_a_file_that_is_not_telraam(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "not-telraam.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("a,b\n1,2\n")
    before = _readings_of(database_url, "Châteaubourg")
    with pytest.raises(InvalidInput, match="columns car, date, heavy, segment_id, uptime missing"):
        telraam.import_telraam(database_url, path)
    with pytest.raises(InvalidInput, match="must lie between 0 and 1"):
        telraam.import_telraam(database_url, path, min_uptime=2)
    assert _readings_of(database_url, "Châteaubourg") == before


# --------------------------------------------------------------------------------------------- Montpellier


def test_montpellier_counts_become_campaign_readings_of_count_points(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = shared_file(MTP_COUNTS)
    streets = shared_file(MTP_STREETS)
    monkeypatch.setenv("HYPERVISEUR_DATABASE_URL", database_url)
    args = ["sensing", "import-montpellier-counts", str(counts), "--streets", str(streets)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3314 campaigns")

    # row 614 of the file: Rue Saint Guilhem (arc 5373), Loge → Paume, from 14/06/03: PHJM 255, PHJS 322, TJM 2731
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.name, r.observed_at, r.value, s.attributes->>'street', ST_X(s.geom), ST_Y(s.geom)"
            " FROM sensing.readings r JOIN twin.sensors s ON s.id = r.sensor_id"
            " WHERE s.name LIKE 'mtp-comptage-5373-loge-paume-%%' AND r.observed_at = '2003-06-14 00:00+02'"
            " ORDER BY s.name"
        ).fetchall()
    assert [r[0].removeprefix("mtp-comptage-5373-loge-paume-") for r in rows] == [
        "mean",
        "peak-am",
        "peak-pm",
    ]
    assert [r[2] for r in rows] == [pytest.approx(2731 / 24, abs=1e-3), 255.0, 322.0]
    assert {r[3] for r in rows} == {"Rue Saint Guilhem"}
    lon, lat = rows[0][4], rows[0][5]
    assert 3.87 < lon < 3.885 and 43.605 < lat < 43.615, (lon, lat)  # the old town, west of the Comédie

    # every campaign is either stored (3 readings, or 3 duplicates of a repeated row) or refused with its reason
    match = re.search(r"(\d+) readings stored, (\d+) duplicates, (\d+) rejected", result.output)
    assert match is not None, result.output
    inserted, duplicates, refused = (int(g) for g in match.groups())
    assert inserted + duplicates == 3 * (3314 - refused)
    assert 0 < refused < 50
    stored = _readings_of(database_url, "Montpellier")
    assert stored == inserted
    rejected = _rejected(database_url, counts.name)
    assert len(rejected) == refused
    reasons = [r for _, r in rejected]
    assert any("count location unknown" in r and "Voie non dénommée" in r for r in reasons), reasons
    assert any(r.startswith("TJM 0: no vehicle") for r in reasons), reasons
    assert all(s is None for s, _ in rejected)
    inside = _one(
        database_url,
        "SELECT count(*) FILTER (WHERE NOT ST_Contains(t.boundary, s.geom)) FROM twin.sensors s"
        " JOIN twin.territory t ON t.id = s.territory_id WHERE t.name = 'Montpellier'",
    )
    assert inside == 0

    again = CliRunner().invoke(app, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "0 readings stored" in again.output and " 0 rejected" in again.output
    assert _readings_of(database_url, "Montpellier") == stored
    assert len(_rejected(database_url, counts.name)) == len(rejected)


def test_montpellier_campaign_rows_parse_or_say_why() -> None:
    arc = montpellier_counts.Arc(5373, "1940", "Rue Saint Guilhem", 3.876, 43.61)
    row = {
        "IDENT": "1940TR5373",
        "NOM": "Rue Saint Guilhem",
        "DDEBUT": "14/06/03",
        "DFIN": "20/06/03",
        "SENS": "Loge-Paume",
        "PHJM": "255",
        "PHJS": "322",
        "TJM": "2731",
        "IDENTSIG": "5373",
    }
    campaign = montpellier_counts.campaign_of_row(row, {5373: arc}, {})
    assert (campaign.point, campaign.by_street, campaign.start.isoformat()) == (arc, False, "2003-06-14")
    by_street = montpellier_counts.campaign_of_row({**row, "IDENTSIG": "0"}, {}, {"1940": arc})
    assert by_street.by_street is True
    for change, reason in (
        ({"IDENTSIG": "0", "IDENT": "9999TR"}, "count location unknown"),
        ({"DDEBUT": "31/02/03"}, "day is out of range"),
        ({"DFIN": "01/06/03"}, "ends (2003-06-01) before it starts"),
        ({"TJM": "n/a"}, "is not a number"),
    ):
        with pytest.raises(montpellier_counts.InvalidReading, match=re.escape(reason)):
            montpellier_counts.campaign_of_row({**row, **change}, {5373: arc}, {"1940": arc})
