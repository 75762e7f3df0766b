"""The CQL2 abstract test suite: its dataset loaded through the GIS importer, and its predicate tables parsed.

The annexes ``annex_ats*.adoc`` of the CQL2 standard hold tables "Predicates and expected results" (data
source, predicate, expected number of items) computed on ``ne110m4cql2.gpkg`` (Natural Earth 1:110m
countries, populated places, rivers). They are read here rather than retyped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pyogrio
import shapely

from layers.importers.gis import import_gis
from layers.store import ensure_territory
from tests.common import OGC_DIR

CQL2_DIR = OGC_DIR / "cql2"
ATS_GPKG = CQL2_DIR / "data" / "ne110m4cql2.gpkg"
EXAMPLES_DIR = CQL2_DIR / "schema" / "examples"
TERRITORY = "Natural Earth CQL2"
COUNTRIES = "ne_110m_admin_0_countries"
PLACES = "ne_110m_populated_places_simple"
RIVERS = "ne_110m_rivers_lake_centerlines"
# The queryable types the ATS declares (data/ne_110m_*.json) where the importer's guess differs: pandas
# reads dates as datetimes, which the importer stores as ISO text typed "string", and a boolean column
# with nulls as floats (1.0/0.0). GIS staff set them in the catalog, as done here.
ATS_FIELD_TYPES = {PLACES: {"date": "date", "start": "datetime", "end": "datetime", "boolean": "boolean"}}
# The combination row of Basic CQL2 (test /conf/basic-cql2/logical).
COMBINATION = "(NOT ({p2}) AND {p1}) OR ({p3} and {p4}) or not ({p1} OR {p4})"


@dataclass(frozen=True)
class AtsCase:
    """One row of a predicates table."""

    annex: str  # the conformance class, from the annex file name
    source: str  # the collection
    predicate: str  # CQL2 text
    expected: int
    line: int

    @property
    def id(self) -> str:
        return f"{self.annex}:{self.line}"


def _unescape(cell: str) -> str:
    """An AsciiDoc table cell as CQL2 text: drop the backticks and the escapes of ``\\<`` and ``\\(``."""
    text = cell.strip()
    if text.startswith("`") and text.endswith("`"):
        text = text[1:-1]
    return re.sub(r"\\([<(])", r"\1", text)


def ats_cases(directory: Path = CQL2_DIR) -> list[AtsCase]:
    """Every row of every predicates table of the annexes, in file order.

    Tables have either ``|Data Source |Predicate |Expected`` or a leading Dependency column; the Basic CQL2
    combination table (``|p1 |p2 |p3 |p4 |Expected``) becomes one combined predicate per row.
    """
    cases: list[AtsCase] = []
    for path in sorted(directory.glob("annex_ats_*.adoc")):
        annex = path.stem.removeprefix("annex_ats_")
        header: list[str] | None = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.startswith("|") or line.startswith("|==="):
                continue
            cells = [c.strip() for c in line.split("|")[1:]]
            if cells[-1] == "Expected number of items":
                header = cells
                continue
            if header is None or len(cells) != len(header) or not cells[-1].isdigit():
                continue
            expected = int(cells[-1])
            if header[0] == "p1":
                parts = {f"p{i + 1}": _unescape(c) for i, c in enumerate(cells[:4])}
                cases.append(AtsCase(annex, PLACES, COMBINATION.format(**parts), expected, number))
            else:
                source, predicate = cells[-3], _unescape(cells[-2])
                cases.append(AtsCase(annex, source, predicate, expected, number))
    return cases


def _clean_copy(source: Path, target: Path) -> Path:
    """A copy of the ATS GeoPackage whose coordinates are clamped to -180..180 / -90..90.

    One country of the file reaches longitude 180.00000000000006 (a rounding error of its source), which
    the importer rightly refuses as "not longitude/latitude"; clamping moves it by 6e-14 degree.
    """
    for layer in pyogrio.list_layers(source)[:, 0]:
        frame = gpd.read_file(source, layer=layer)
        frame.geometry = shapely.transform(
            frame.geometry.to_numpy(),
            lambda xy: np.column_stack([np.clip(xy[:, 0], -180, 180), np.clip(xy[:, 1], -90, 90)]),
        )
        frame.to_file(target, layer=layer, driver="GPKG")
    return target


def load_ats_dataset(url: str, workdir: Path) -> dict[str, int]:
    """Import the three ATS layers through ``import_gis``; return features kept per layer.

    The territory is created first with EPSG:4326 as its "metric" CRS: the importer validates geometries
    in the territory's CRS, and no single projected CRS holds the whole world (a UTM zone would deform
    it), so the world-wide test data stays in degrees, unchanged.
    """
    gpkg = _clean_copy(ATS_GPKG, workdir / "ne110m4cql2-clamped.gpkg")
    with psycopg.connect(url) as conn:
        ensure_territory(conn, name=TERRITORY, crs_epsg=4326, source="tests: CQL2 ATS dataset")
    kept = {}
    for layer in (COUNTRIES, PLACES, RIVERS):
        report = import_gis(url, gpkg, layer=layer, territory_name=TERRITORY, source_layer=layer)
        assert not report.rejected and not report.repaired, report
        kept[layer] = report.kept[layer]
    with psycopg.connect(url) as conn:
        for layer, types in ATS_FIELD_TYPES.items():
            row = conn.execute("SELECT fields FROM twin.layer_catalog WHERE name = %s", (layer,)).fetchone()
            assert row is not None
            fields = [{**f, "type": types.get(f["name"], f["type"])} for f in row[0]]
            conn.execute(
                "UPDATE twin.layer_catalog SET fields = %s::jsonb WHERE name = %s",
                (json.dumps(fields), layer),
            )
    return kept


def example_pairs() -> list[tuple[str, str, str]]:
    """(name, CQL2 text, CQL2 JSON) of the standard's examples that exist in both encodings."""
    pairs = []
    for path in sorted((EXAMPLES_DIR / "json").glob("*.json")):
        text = EXAMPLES_DIR / "text" / f"{path.stem}.txt"
        if text.exists():
            pairs.append((path.stem, text.read_text(encoding="utf-8"), path.read_text(encoding="utf-8")))
    return pairs
