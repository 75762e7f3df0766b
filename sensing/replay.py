"""Replay wide CSV files (``Timestamp;p227;p235;PUMP_1``, ``;`` separators, decimal commas) into the readings.

Each column after the first is a sensor, found in ``twin.sensors`` by its name (``--sensor-prefix`` + column
header). Rows go through the same :class:`~sensing.store.ReadingStore` as MQTT, so replaying a file twice
stores nothing new, and a malformed row or cell lands in ``sensing.rejected`` with its reason and line.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import psycopg

from sensing.parse import InvalidReading, Reading, Rejection, clip_payload, parse_instant, parse_number
from sensing.store import AfterInsert, ReadingStore, WriteResult
from twin.errors import InvalidInput


@dataclass
class ReplayReport:
    rows: int = 0
    counts: WriteResult = field(default_factory=WriteResult)

    def summary(self) -> str:
        c = self.counts
        return f"{self.rows} rows: {c.inserted} readings stored, {c.duplicates} duplicates, {c.rejected} rejected"


def _open(path: Path, encoding: str) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def _sensor_ids(conn: psycopg.Connection, names: list[str], territory: str | None = None) -> dict[str, int]:
    rows = conn.execute(
        "SELECT s.name, array_agg(s.id ORDER BY s.id) FROM twin.sensors s JOIN twin.territory t"
        " ON t.id = s.territory_id WHERE s.name = ANY(%s)"
        " AND (%s::text IS NULL OR t.name = %s::text OR t.id::text = %s::text) GROUP BY s.name",
        (names, territory, territory, territory),
    ).fetchall()
    found = {name: ids for name, ids in rows}
    missing = [n for n in names if n not in found]
    if missing:
        raise InvalidInput(
            f"no sensor named {', '.join(missing)} in twin.sensors: register them, or adjust --sensor-prefix"
        )
    ambiguous = [n for n in names if len(found[n]) > 1]
    if ambiguous:
        raise InvalidInput(
            f"several sensors are named {', '.join(ambiguous)}: give --territory, or rename them so each is unique"
        )
    return {n: int(found[n][0]) for n in names}


def read_wide_csv(
    lines: Iterable[str],
    columns: dict[str, int],
    *,
    origin: str,
    naive_tz: tzinfo,
    delimiter: str = ";",
) -> Iterator[tuple[datetime | None, list[Reading], list[Rejection]]]:
    """Per data row: its instant (None when unreadable), its readings and its rejections.

    An empty cell is a missing reading, not an error; a row with the wrong number of cells or an unreadable
    time is rejected whole; a cell that is not a number is rejected alone.
    """
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return
    names = [h.strip() for h in header[1:]]
    for row in reader:
        where = f"{origin}:{reader.line_num}"
        raw = delimiter.join(row)
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            yield (
                None,
                [],
                [
                    Rejection(
                        "file", where, clip_payload(raw), f"{len(row)} cells, the header has {len(header)}"
                    )
                ],
            )
            continue
        try:
            at = parse_instant(row[0], naive_tz=naive_tz)
        except InvalidReading as exc:
            yield None, [], [Rejection("file", where, clip_payload(raw), str(exc))]
            continue
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        for name, cell in zip(names, row[1:], strict=True):
            if not cell.strip():
                continue
            sensor = columns[name]
            try:
                readings.append(Reading(sensor, at, parse_number(cell)))
            except InvalidReading as exc:
                rejections.append(
                    Rejection("file", where, clip_payload(f"{row[0]};{name}={cell}"), str(exc), sensor)
                )
        yield at, readings, rejections


def replay_csv(
    url: str,
    path: Path,
    *,
    sensor_prefix: str = "",
    timezone: str = "UTC",
    speed: float | None = None,
    batch_size: int = 5000,
    encoding: str = "utf-8",
    after_insert: AfterInsert | None = None,
    territory: str | None = None,
) -> ReplayReport:
    """Store every reading of a wide CSV file; ``speed`` (e.g. 60: an hour of data per minute) paces the replay
    in data time, committing each row as it goes; without it the file is written as fast as the database takes it.
    ``after_insert`` (live push, detection, incidents: ``incidents.pipeline``) runs on every stored batch.
    ``territory`` (name or id) looks the sensors up in that territory only.
    """
    try:
        naive_tz: tzinfo = ZoneInfo(timezone)
    except (KeyError, ValueError) as exc:
        raise InvalidInput(
            f"--timezone {timezone!r} is not an IANA zone such as UTC or Europe/Paris ({exc})"
        ) from None
    if speed is not None and speed <= 0:
        raise InvalidInput("--speed must be positive (e.g. 60 replays an hour of data per minute)")
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    report = ReplayReport()
    store = ReadingStore(after_insert=after_insert)
    with _open(path, encoding) as lines, psycopg.connect(url) as conn:
        header = lines.readline()
        cells = [h.strip() for h in header.rstrip("\r\n").split(";")]
        if len(cells) < 2 or not header.strip():
            raise InvalidInput(f"{path}: the first line should be a header such as Timestamp;p227;p235")
        columns = _sensor_ids(conn, [f"{sensor_prefix}{c}" for c in cells[1:]], territory)
        by_column = {c: columns[f"{sensor_prefix}{c}"] for c in cells[1:]}
        conn.commit()
        store.load_sensors(conn)
        body = itertools.chain([header], lines)  # streamed: the header already read, then the rest
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        previous: datetime | None = None
        started = time.monotonic()
        first: datetime | None = None

        def flush() -> None:
            if readings or rejections:
                report.counts += store.write(conn, readings, rejections, source="file", origin=path.name)
                conn.commit()
                readings.clear()
                rejections.clear()

        for at, row_readings, row_rejections in read_wide_csv(
            body, by_column, origin=path.name, naive_tz=naive_tz
        ):
            report.rows += 1
            if speed is not None and at is not None:
                if first is None:
                    first = at
                elif previous is not None and at > previous:
                    flush()
                    wait = (at - first).total_seconds() / speed - (time.monotonic() - started)
                    if wait > 0:
                        time.sleep(wait)
                previous = at
            readings.extend(row_readings)
            rejections.extend(row_rejections)
            if len(readings) >= batch_size:
                flush()
        flush()
    return report
