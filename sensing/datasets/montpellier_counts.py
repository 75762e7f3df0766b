"""Montpellier's traffic-count campaigns (1996–2013, Licence Ouverte) as readings of count-point sensors.

What the data is: **campaign aggregates, not continuous series**. Each row of ``VilleMTP_MTP_Comptage.csv``
is one campaign (usually a week, ``DDEBUT``–``DFIN``) of pneumatic or magnetic counters on one street, in one
direction (``SENS``, "from-to" place names), summed up in three figures: ``TJM`` (mean vehicles per day),
``PHJM`` and ``PHJS`` (vehicles in the morning and evening peak hour). A count point (a street arc and a
direction) becomes three ``traffic_count`` sensors, in veh/h:

- ``…-mean``: TJM / 24, the mean hourly flow over the campaign;
- ``…-peak-am`` and ``…-peak-pm``: PHJM and PHJS as given.

Each campaign gives one reading per sensor, stamped at 00:00 (Europe/Paris) of its first day; the campaign's
end is not stored with the reading (see docs/sensing-data.md).

Where: ``IDENTSIG`` is the ``IDARC`` of the street centre-line file ``VilleMTP_MTP_FilaireVoies`` (Lambert-93),
whose arc midpoint places the sensor. A campaign whose IDENTSIG names no arc (0, 9999, 99999) is placed on
its street (the street code opening ``IDENT``, e.g. ``1727TR``) at the arc nearest the street's middle; one
whose street is unknown too ("Voie non dénommée", code 9999) is refused with the reason. The ``.xls``
(``VilleMTP_MTP_FilaireComptage``) only repeats arc ↔ street names and is not needed.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from sensing.datasets._sensors import (
    ROAD_SNAP_M,
    SensorSpec,
    already_rejected,
    ensure_territory,
    register_sensors,
)
from sensing.parse import InvalidReading, Reading, Rejection, clip_payload, parse_number
from sensing.store import ReadingStore, WriteResult
from twin.errors import InvalidInput

COUNTS_FILE = Path("opendata_fr/montpellier/VilleMTP_MTP_Comptage/VilleMTP_MTP_Comptage.csv")
STREETS_FILE = Path("opendata_fr/montpellier/VilleMTP_MTP_FilaireVoies/VilleMTP_MTP_FilaireVoies.zip")
TERRITORY_NAME = "Montpellier"
PARIS = ZoneInfo("Europe/Paris")
_SOURCE = "Ville de Montpellier open data (VilleMTP_MTP_Comptage, VilleMTP_MTP_FilaireVoies), Licence Ouverte"
#: Street code of the unnamed streets: it places nothing.
_UNNAMED_STREET = "9999"
_REQUIRED = ("IDENT", "NOM", "DDEBUT", "DFIN", "SENS", "PHJM", "PHJS", "TJM", "IDENTSIG")

#: (name suffix, column, divisor, French title)
MEASURES: tuple[tuple[str, str, float, str], ...] = (
    ("mean", "TJM", 24.0, "Débit horaire moyen de la campagne (TJM / 24)"),
    ("peak-am", "PHJM", 1.0, "Heure de pointe du matin (PHJM)"),
    ("peak-pm", "PHJS", 1.0, "Heure de pointe du soir (PHJS)"),
)


@dataclass(frozen=True)
class Arc:
    idarc: int
    code_voie: str
    street: str
    lon: float
    lat: float


@dataclass
class MontpellierReport:
    rows: int = 0
    sensors: int = 0
    placed_by_street: int = 0
    territory_created: bool = False
    counts: WriteResult = field(default_factory=WriteResult)

    def summary(self) -> str:
        c = self.counts
        return (
            f"{self.rows} campaigns, {self.sensors} sensors ({self.placed_by_street} campaigns placed by street"
            f" name): {c.inserted} readings stored, {c.duplicates} duplicates, {c.rejected} rejected"
        )


def slug(text: str) -> str:
    """ASCII, lower case, dashes: a direction's place names in a sensor name.

    Examples
    --------
    >>> slug("Hébert-Danton")
    'hebert-danton'
    >>> slug("Villeneuve d'Ang-Bachelard")
    'villeneuve-d-ang-bachelard'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "sens"


def parse_campaign_date(raw: str) -> date:
    """``14/06/03`` → 2003-06-14 (two-digit years from 90 are 19xx); ``14/06/2003`` too.

    Examples
    --------
    >>> parse_campaign_date("18/11/98")
    datetime.date(1998, 11, 18)
    >>> parse_campaign_date("08/01/11")
    datetime.date(2011, 1, 8)
    """
    parts = raw.strip().split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise InvalidReading(f"date {raw[:20]!r} is not DD/MM/YY")
    day, month, year = (int(p) for p in parts)
    if len(parts[2]) <= 2:
        year += 1900 if year >= 90 else 2000
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise InvalidReading(f"date {raw[:20]!r}: {exc}") from None


def load_arcs(streets_zip: Path) -> tuple[dict[int, Arc], dict[str, Arc], str]:
    """Arcs of the street file by IDARC, the middle arc of each street by street code, and the hull (WKT).

    Positions are arc midpoints, reprojected from Lambert-93 to WGS84.
    """
    import geopandas as gpd
    import shapely

    if not streets_zip.is_file():
        raise InvalidInput(f"{streets_zip}: no such file (Montpellier's street centre-lines, {STREETS_FILE})")
    source = f"/vsizip/{streets_zip}" if streets_zip.suffix == ".zip" else str(streets_zip)
    lines = gpd.read_file(source, encoding="latin1", columns=["IDARC", "CODE_VOIE", "LIB_OFF"])
    if lines.crs is None:
        lines = lines.set_crs(2154)
    lines = lines[~lines.geometry.is_empty & lines.geometry.notna()]
    middles = lines.geometry.interpolate(0.5, normalized=True)
    middles_4326 = middles.to_crs(4326)
    arcs: dict[int, Arc] = {}
    by_code: dict[str, list[tuple[int, float, float]]] = {}
    for idarc, code, street, mid, mid_4326 in zip(
        lines["IDARC"], lines["CODE_VOIE"], lines["LIB_OFF"], middles, middles_4326, strict=True
    ):
        arc = Arc(
            int(idarc), str(code or "").strip(), str(street or ""), float(mid_4326.x), float(mid_4326.y)
        )
        arcs[arc.idarc] = arc
        by_code.setdefault(arc.code_voie, []).append((arc.idarc, float(mid.x), float(mid.y)))
    street_arcs: dict[str, Arc] = {}
    for code, members in by_code.items():
        if not code or code == _UNNAMED_STREET:
            continue
        cx = sum(m[1] for m in members) / len(members)
        cy = sum(m[2] for m in members) / len(members)
        nearest = min(members, key=lambda m: (m[1] - cx) ** 2 + (m[2] - cy) ** 2)
        street_arcs[code] = arcs[nearest[0]]
    hull = gpd.GeoSeries(
        [shapely.convex_hull(shapely.GeometryCollection(list(lines.geometry.values)))], crs=lines.crs
    )
    return arcs, street_arcs, hull.buffer(100).to_crs(4326).iloc[0].wkt


def _campaigns(path: Path) -> Iterator[tuple[int, dict[str, str], str]]:
    """(line, row by column name, raw line) of the Latin-1 CSV whose header cells read ``NAME,TYPE,LEN,DEC``."""
    with path.open(encoding="latin-1", newline="") as text:
        header_line = text.readline()
        delimiter = max((";", ","), key=lambda d: len(next(csv.reader([header_line], delimiter=d))))
        header = [
            h.split(",")[0].strip().upper() for h in next(csv.reader([header_line], delimiter=delimiter))
        ]
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise InvalidInput(
                f"{path.name}: columns {', '.join(missing)} missing; is this VilleMTP_MTP_Comptage.csv?"
            )
        reader = csv.reader(text, delimiter=delimiter)
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            raw = delimiter.join(cells)
            if len(cells) != len(header):
                yield reader.line_num + 1, {}, raw
                continue
            yield reader.line_num + 1, dict(zip(header, cells, strict=True)), raw


@dataclass(frozen=True)
class Campaign:
    point: Arc
    by_street: bool
    direction: str
    start: date
    values: dict[str, float]


def campaign_of_row(row: dict[str, str], arcs: dict[int, Arc], street_arcs: dict[str, Arc]) -> Campaign:
    """Where, which direction, when and how much; :class:`InvalidReading` says why a row cannot be used."""
    if not row:
        raise InvalidReading(f"the row does not have the header's {len(_REQUIRED)}+ cells")
    try:
        idarc = int(float(row["IDENTSIG"].replace(",", "."))) if row["IDENTSIG"].strip() else 0
    except ValueError:
        idarc = 0
    point = arcs.get(idarc)
    by_street = False
    if point is None:
        code = row["IDENT"].strip().upper().split("TR")[0]
        point = street_arcs.get(code)
        by_street = True
        if point is None:
            raise InvalidReading(
                f"count location unknown: IDENTSIG {row['IDENTSIG'].strip() or '(empty)'} is no arc of the"
                f" street file and street code {code or '(none)'} ({row['NOM'].strip()}) names no street"
            )
    start = parse_campaign_date(row["DDEBUT"])
    end = parse_campaign_date(row["DFIN"])
    if end < start:
        raise InvalidReading(f"campaign ends ({end}) before it starts ({start})")
    values = {column: parse_number(row[column]) for _, column, _, _ in MEASURES}
    if values["TJM"] <= 0:
        raise InvalidReading(
            f"TJM {values['TJM']:g}: no vehicle in a whole campaign is a failed count, not a traffic figure"
        )
    return Campaign(point, by_street, row["SENS"].strip(), start, values)


def _sensor_name(point: Arc, by_street: bool, direction: str, suffix: str) -> str:
    where = f"voie{point.code_voie}" if by_street else str(point.idarc)
    return f"mtp-comptage-{where}-{slug(direction)}-{suffix}"


def import_montpellier_counts(
    url: str,
    counts_csv: Path,
    streets_zip: Path,
    *,
    territory_name: str = TERRITORY_NAME,
    batch_size: int = 5000,
) -> MontpellierReport:
    """Register a territory (if absent) and the count-point sensors; store each campaign's three figures once.

    When the territory has road arcs (Montpellier's streets imported), each sensor is attached to the nearest
    one. Importing again stores nothing new and refuses nothing new.
    """
    if not counts_csv.is_file():
        raise InvalidInput(f"{counts_csv}: no such file (Montpellier's counts are {COUNTS_FILE})")
    arcs, street_arcs, hull_wkt = load_arcs(streets_zip)
    report = MontpellierReport()
    store = ReadingStore()
    origin = counts_csv.name
    with psycopg.connect(url) as conn:
        territory_id, report.territory_created = ensure_territory(
            conn, territory_name, crs_epsg=2154, boundary_wkt=hull_wkt, source=_SOURCE
        )
        seen = already_rejected(conn, origin)
        specs: dict[str, SensorSpec] = {}
        values: list[tuple[str, datetime, float]] = []
        rejections: list[Rejection] = []
        for line, row, raw in _campaigns(counts_csv):
            report.rows += 1
            where = f"{origin}:{line}"
            try:
                campaign = campaign_of_row(row, arcs, street_arcs)
            except InvalidReading as exc:
                if (where, None) not in seen:
                    rejections.append(Rejection("file", where, clip_payload(raw), str(exc)))
                continue
            report.placed_by_street += campaign.by_street
            at = datetime.combine(campaign.start, datetime.min.time(), PARIS)
            for suffix, column, divisor, title_fr in MEASURES:
                name = _sensor_name(campaign.point, campaign.by_street, campaign.direction, suffix)
                if name not in specs:
                    specs[name] = _spec(name, campaign, suffix, column, title_fr)
                values.append((name, at, round(campaign.values[column] / divisor, 3)))
        sensor_ids = register_sensors(conn, territory_id, list(specs.values()), snap_to_roads_m=ROAD_SNAP_M)
        readings = [Reading(sensor_ids[name], at, value) for name, at, value in values]
        report.sensors = len(sensor_ids)
        conn.commit()
        store.load_sensors(conn)
        for i in range(0, max(len(readings), len(rejections)), batch_size):
            report.counts += store.write(
                conn,
                readings[i : i + batch_size],
                rejections[i : i + batch_size],
                source="file",
                origin=origin,
            )
            conn.commit()
    return report


def _spec(name: str, campaign: Campaign, suffix: str, column: str, title_fr: str) -> SensorSpec:
    point = campaign.point
    return SensorSpec(
        name,
        "traffic_count",
        point.lon,
        point.lat,
        {
            "source": "montpellier_counts",
            "street": point.street,
            "idarc": None if campaign.by_street else point.idarc,
            "code_voie": point.code_voie,
            "direction": campaign.direction,
            "measure": suffix,
            "column": column,
            "title_fr": title_fr,
            "aggregate": "campaign",
            "placement": "street (arc unknown)" if campaign.by_street else "arc midpoint",
            "licence": "Licence Ouverte",
        },
    )
