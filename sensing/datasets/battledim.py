"""BattLeDIM 2019 SCADA sensors on the imported L-Town network, and the district inflow derived from them.

L-Town (Vrachimis et al. 2022, BattLeDIM; data: ``../shared/data/water/``) is fed by two reservoir mains,
pipes p227 and p235, each metered; PUMP_1 lifts water from the network into tank T1 (area C). The flows
file has ``Timestamp;p227;p235;PUMP_1`` every 5 min in m³/h, the levels file ``Timestamp;T1`` in m.

The pump switches between 0 and ≈44 m³/h, which moves both inlet flows by ≈22 m³/h each: as large as a
leak. The district's own consumption (areas A and B), where leaks show as a step of the night flow, is the
water balance ``p227 + p235 − PUMP_1``: :func:`write_inflow_csv` derives it as a column ``A_inflow`` of the
same wide format, so it is replayed like any sensor (a virtual meter, as water utilities compute for
district metered areas).
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from pathlib import Path

import psycopg

from twin.errors import InvalidInput

#: Sensor name → (kind, unit, asset layer, asset name). The inflow sits on p227's midpoint (the main inlet).
SENSORS: dict[str, tuple[str, str, str, str]] = {
    "p227": ("water_flow", "m³/h", "water_pipes", "p227"),
    "p235": ("water_flow", "m³/h", "water_pipes", "p235"),
    "PUMP_1": ("water_flow", "m³/h", "water_pumps", "PUMP_1"),
    "T1": ("tank_level", "m", "water_tanks", "T1"),
    "A_inflow": ("water_flow", "m³/h", "water_pipes", "p227"),
}
#: The inflow is p227 + p235 − PUMP_1.
INFLOW_TERMS = (("p227", 1.0), ("p235", 1.0), ("PUMP_1", -1.0))

_POINT_SQL = {
    "water_pipes": "SELECT id, ST_LineInterpolatePoint(geom, 0.5) FROM twin.water_pipes"
    " WHERE territory_id = %s AND name = %s",
    "water_pumps": "SELECT id, ST_LineInterpolatePoint(geom, 0.5) FROM twin.water_pumps"
    " WHERE territory_id = %s AND name = %s",
    "water_tanks": "SELECT id, geom FROM twin.water_tanks WHERE territory_id = %s AND name = %s",
}


def register_battledim_sensors(
    conn: psycopg.Connection, territory_id: int, *, prefix: str = ""
) -> dict[str, int]:
    """Register (or find again) the BattLeDIM sensors on the territory's imported L-Town network.

    Each sensor is placed on its asset (the midpoint of pipes p227/p235 and of the pump's link, tank T1
    itself) and linked to it (``asset_layer``, ``asset_id``). Idempotent: a sensor of the same name on the
    territory is kept. Raises :class:`InvalidInput` when the network is not imported there.
    """
    ids: dict[str, int] = {}
    for name, (kind, unit, layer, asset) in SENSORS.items():
        full = prefix + name
        found = conn.execute(
            "SELECT id FROM twin.sensors WHERE territory_id = %s AND name = %s", (territory_id, full)
        ).fetchone()
        if found is not None:
            ids[name] = int(found[0])
            continue
        placed = conn.execute(_POINT_SQL[layer], (territory_id, asset)).fetchone()
        if placed is None:
            raise InvalidInput(
                f"no {asset} in twin.{layer} of territory {territory_id}: import L-TOWN.inp there first"
                " (hyperviseur import epanet L-TOWN.inp --crs … --offset …)"
            )
        row = conn.execute(
            "INSERT INTO twin.sensors (territory_id, name, kind, unit, asset_layer, asset_id, attributes, geom)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id",
            (
                territory_id,
                full,
                kind,
                unit,
                layer,
                placed[0],
                '{"source": "BattLeDIM 2019 SCADA"}'
                if name != "A_inflow"
                else '{"source": "p227 + p235 - PUMP_1"}',
                placed[1],
            ),
        ).fetchone()
        assert row is not None
        ids[name] = int(row[0])
    return ids


def write_inflow_csv(
    flows: Path, target: Path, *, start: datetime | None = None, end: datetime | None = None
) -> int:
    """Copy the flows file (optionally only ``[start, end)``, naive times) with an ``A_inflow`` column added.

    Returns the number of data rows written. Rows with an empty cell get an empty inflow.
    """
    opener = gzip.open if flows.suffix == ".gz" else open
    with (
        opener(flows, "rt", encoding="utf-8", newline="") as src,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.reader(src, delimiter=";")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[1:]] != ["p227", "p235", "PUMP_1"]:
            raise InvalidInput(f"{flows}: expected the header Timestamp;p227;p235;PUMP_1")
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow([*header, "A_inflow"])
        written = 0
        for row in reader:
            if len(row) != 4:
                continue
            if start is not None or end is not None:
                at = datetime.fromisoformat(row[0])
                if (start is not None and at < start) or (end is not None and at >= end):
                    continue
            try:
                cells = dict(
                    zip(
                        ("p227", "p235", "PUMP_1"), (float(c.replace(",", ".")) for c in row[1:]), strict=True
                    )
                )
                inflow = sum(cells[name] * sign for name, sign in INFLOW_TERMS)
                writer.writerow([*row, f"{inflow:.2f}".replace(".", ",")])
            except ValueError:
                writer.writerow([*row, ""])
            written += 1
    return written


def slice_csv(source: Path, target: Path, *, start: datetime, end: datetime) -> int:
    """Copy the rows of a wide CSV (e.g. the levels file) whose naive time is in ``[start, end)``."""
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8", newline="") as src:
        text = io.StringIO()
        header = src.readline()
        text.write(header)
        n = 0
        for line in src:
            at = datetime.fromisoformat(line.split(";", 1)[0])
            if start <= at < end:
                text.write(line)
                n += 1
    target.write_text(text.getvalue(), encoding="utf-8")
    return n
