"""Châteaubourg's 2022 Telraam counts (CC BY 4.0) as hourly readings of eight sensors on two streets.

The file (``opendata_fr/chateaubourg_telraam/telraam_chateaubourg_traffic.csv.gz``, documented by
``traffic.Rd``) holds one row per street segment and hour: counts of cars, heavy vehicles, two-wheelers and
pedestrians, the v85 car speed and ``uptime``, the part of the hour the camera actually counted.

Telraam already extrapolates each count to the full hour (a row with uptime 0.5 and 10 cars seen says 20):
the counts are stored as given, never scaled again. An hour counted for less than :data:`MIN_UPTIME` of its
length (night: the camera counts in daylight only; or the camera offline) is extrapolated from too little to
be trusted: its readings are refused into ``sensing.rejected`` with the uptime in the reason, which is what
the data-quality figures count. Telraam's own ``uptime_quality`` flag uses the same 0.5 cut.

The file has no coordinates. The two segments are placed at the streets their names give (Route de Vitré,
Rue de Paris), at positions read off a map, good to a few hundred metres: each sensor says so in its
attributes (``"position": "approximate"``).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg

from sensing.datasets._sensors import (
    already_rejected,
    ensure_territory,
    kind_units,
    nearest_road_edge,
    register_sensor,
)
from sensing.parse import InvalidReading, Reading, Rejection, parse_number
from sensing.store import ReadingStore, WriteResult
from twin.errors import InvalidInput

#: Where the shared data keeps the file (relative to ``../shared/data``).
TELRAAM_FILE = Path("opendata_fr/chateaubourg_telraam/telraam_chateaubourg_traffic.csv.gz")
TERRITORY_NAME = "Châteaubourg"
#: Hours counted for less than this part of their length are refused (Telraam's uptime_quality cut).
MIN_UPTIME = 0.5
#: Half-width of the territory created around the segments, in degrees (≈ 2 km).
_MARGIN_DEG = 0.02
_SOURCE = "Telraam (telraam-api.net) via the R dataset 'traffic', CC BY 4.0"

#: The file writes its times in Europe/Paris with the abbreviation of the offset in force.
_OFFSETS = {"CET": timezone(timedelta(hours=1)), "CEST": timezone(timedelta(hours=2)), "UTC": UTC}


@dataclass(frozen=True)
class Segment:
    """A Telraam street segment: its name in the file, the street, where it is (WGS84, approximate)."""

    label: str
    street: str
    lon: float
    lat: float


#: The two segments of the file. Positions: the middle of the named street's stretch in Châteaubourg.
SEGMENTS: dict[int, Segment] = {
    9000001844: Segment("RteVitre-06", "Route de Vitré", -1.3905, 48.1128),
    9000002453: Segment("ParisArcEnCiel-05", "Rue de Paris (Arc-en-Ciel)", -1.3960, 48.1098),
}


@dataclass(frozen=True)
class Measure:
    """One sensor per segment and measure: its name suffix, kind, and how a row gives its value."""

    suffix: str
    kind: str
    value: Callable[[dict[str, str]], float | None]
    title_fr: str


def _number(cell: str | None) -> float | None:
    if cell is None or not cell.strip():
        return None
    return parse_number(cell)


def _sum(*columns: str) -> Callable[[dict[str, str]], float | None]:
    def value(row: dict[str, str]) -> float | None:
        cells = [_number(row.get(c)) for c in columns]
        if any(c is None for c in cells):
            return None
        return float(sum(c for c in cells if c is not None))

    return value


MEASURES: tuple[Measure, ...] = (
    Measure(
        "vehicles", "traffic_count", _sum("car", "heavy"), "Véhicules (voitures + poids lourds) par heure"
    ),
    Measure("bikes", "traffic_count", _sum("bike"), "Deux-roues par heure"),
    Measure("pedestrians", "traffic_count", _sum("pedestrian"), "Piétons par heure"),
    Measure("v85", "traffic_speed", _sum("v85"), "Vitesse V85 des voitures"),
)


def sensor_name(segment_id: int, measure: Measure) -> str:
    """Name of a segment's sensor in ``twin.sensors``.

    Examples
    --------
    >>> sensor_name(9000001844, MEASURES[0])
    'telraam-9000001844-vehicles'
    """
    return f"telraam-{segment_id}-{measure.suffix}"


def parse_telraam_time(raw: str) -> datetime:
    """The start of the hour, from ``2022-01-01 01:00:00 CET`` (the offset named by its abbreviation).

    Examples
    --------
    >>> parse_telraam_time("2022-07-01 10:00:00 CEST").isoformat()
    '2022-07-01T10:00:00+02:00'
    """
    text, _, zone = raw.strip().rpartition(" ")
    offset = _OFFSETS.get(zone)
    if offset is None:
        raise InvalidReading(f"time {raw[:40]!r}: zone {zone!r} is not CET, CEST or UTC")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=offset)
    except ValueError:
        raise InvalidReading(f"time {raw[:40]!r} is not 'YYYY-MM-DD HH:MM:SS CET'") from None


@dataclass
class TelraamReport:
    rows: int = 0
    sensors: int = 0
    low_uptime_rows: int = 0
    territory_created: bool = False
    counts: WriteResult = field(default_factory=WriteResult)

    def summary(self) -> str:
        c = self.counts
        return (
            f"{self.rows} rows, {self.sensors} sensors: {c.inserted} readings stored, {c.duplicates} duplicates,"
            f" {c.rejected} rejected ({self.low_uptime_rows} hours with uptime below {MIN_UPTIME})"
        )


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        missing = {"segment_id", "date", "uptime", "car", "heavy"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInput(
                f"{path.name}: columns {', '.join(sorted(missing))} missing; is this a Telraam traffic export?"
            )
        for row in reader:
            yield reader.line_num, row


def _compact(row: dict[str, str]) -> str:
    """The cells that matter, not the speed histograms: what an operator reads in the rejected table."""
    keys = ("segment_id", "date", "uptime", "car", "heavy", "bike", "pedestrian", "v85")
    return ";".join(f"{k}={row.get(k, '')}" for k in keys)


def _boundary_wkt() -> str:
    lons = [s.lon for s in SEGMENTS.values()]
    lats = [s.lat for s in SEGMENTS.values()]
    w, e = min(lons) - _MARGIN_DEG, max(lons) + _MARGIN_DEG
    s, n = min(lats) - _MARGIN_DEG, max(lats) + _MARGIN_DEG
    return f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"


def register_telraam_sensors(conn: psycopg.Connection, territory_id: int) -> dict[tuple[int, str], int]:
    """Register (or refresh) the eight sensors; return their ids by (segment id, measure suffix)."""
    units = kind_units(conn)
    ids: dict[tuple[int, str], int] = {}
    for segment_id, segment in SEGMENTS.items():
        arc = nearest_road_edge(conn, territory_id, segment.lon, segment.lat)
        for measure in MEASURES:
            ids[(segment_id, measure.suffix)] = register_sensor(
                conn,
                territory_id,
                name=sensor_name(segment_id, measure),
                kind=measure.kind,
                lon=segment.lon,
                lat=segment.lat,
                asset=("road_edges", arc) if arc is not None else None,
                units=units,
                attributes={
                    "source": "telraam",
                    "segment_id": segment_id,
                    "segment": segment.label,
                    "street": segment.street,
                    "measure": measure.suffix,
                    "title_fr": measure.title_fr,
                    "position": "approximate",
                    "licence": "CC BY 4.0",
                },
            )
    return ids


def readings_of_row(
    line: int, row: dict[str, str], sensors: dict[tuple[int, str], int], *, origin: str, min_uptime: float
) -> tuple[list[Reading], list[Rejection], bool]:
    """A row's readings, or its refusals (one per sensor, with the reason); and whether its uptime was low."""
    where = f"{origin}:{line}"
    payload = _compact(row)
    try:
        segment_id = int(float(row["segment_id"]))
    except (TypeError, ValueError):
        return (
            [],
            [Rejection("file", where, payload, f"segment_id {row.get('segment_id')!r} is not a number")],
            False,
        )
    if segment_id not in SEGMENTS:
        reason = f"segment {segment_id} is not one of the documented Châteaubourg segments; its position is unknown"
        return [], [Rejection("file", where, payload, reason)], False
    ids = [sensors[(segment_id, m.suffix)] for m in MEASURES]
    try:
        at = parse_telraam_time(row["date"])
        uptime = _number(row.get("uptime"))
        if uptime is None:
            raise InvalidReading("uptime is missing")
    except InvalidReading as exc:
        return [], [Rejection("file", where, payload, str(exc), i) for i in ids], False
    if uptime < min_uptime:
        reason = (
            f"uptime {uptime:.2f} below {min_uptime}: the camera counted {uptime:.0%} of this hour"
            " (night, or offline), too little to extrapolate the hour's counts"
        )
        return [], [Rejection("file", where, payload, reason, i) for i in ids], True
    readings: list[Reading] = []
    rejections: list[Rejection] = []
    for measure, sensor in zip(MEASURES, ids, strict=True):
        try:
            value = measure.value(row)
        except InvalidReading as exc:
            rejections.append(Rejection("file", where, payload, f"{measure.suffix}: {exc}", sensor))
            continue
        if value is not None:  # v85 is empty when no car passed: no reading, not an error
            readings.append(Reading(sensor, at, value))
    return readings, rejections, False


def import_telraam(
    url: str,
    path: Path,
    *,
    territory_name: str = TERRITORY_NAME,
    min_uptime: float = MIN_UPTIME,
    batch_size: int = 5000,
) -> TelraamReport:
    """Register the Châteaubourg territory (if absent) and sensors, then store every trusted hour once.

    Importing the file again stores nothing new and refuses nothing new.
    """
    if not path.is_file():
        raise InvalidInput(
            f"{path}: no such file (the Telraam export is {TELRAAM_FILE} under the shared data)"
        )
    if not 0 <= min_uptime <= 1:
        raise InvalidInput(f"--min-uptime {min_uptime} must lie between 0 and 1 (a part of the hour)")
    report = TelraamReport()
    store = ReadingStore()
    with psycopg.connect(url) as conn:
        territory_id, report.territory_created = ensure_territory(
            conn, territory_name, crs_epsg=2154, boundary_wkt=_boundary_wkt(), source=_SOURCE
        )
        sensors = register_telraam_sensors(conn, territory_id)
        report.sensors = len(sensors)
        seen = already_rejected(conn, path.name)
        conn.commit()
        store.load_sensors(conn)
        readings: list[Reading] = []
        rejections: list[Rejection] = []

        def flush() -> None:
            if readings or rejections:
                report.counts += store.write(conn, readings, rejections, source="file", origin=path.name)
                conn.commit()
                readings.clear()
                rejections.clear()

        for line, row in _rows(path):
            report.rows += 1
            good, bad, low = readings_of_row(line, row, sensors, origin=path.name, min_uptime=min_uptime)
            report.low_uptime_rows += low
            readings.extend(good)
            rejections.extend(r for r in bad if (r.origin, r.sensor_id) not in seen)
            if len(readings) + len(rejections) >= batch_size:
                flush()
        flush()
    return report
