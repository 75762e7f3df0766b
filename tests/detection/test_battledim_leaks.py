"""BattLeDIM 2019: abrupt leaks in the real L-Town flows are detected as anomalies near their start.

Onsets identified in the data (week-over-week difference of the 5-min flows, docs/detection.md#battledim):

- A 2019-01-15 23:00: p235 +≈20 m³/h (p227 +≈5), held for weeks;
- B 2019-01-24 18:30: p227 +≈17 m³/h (p235 +≈5);
- C 2019-04-02 20:40: p235 +≈11 m³/h.

Each is scored on the district inflow ``A_inflow = p227 + p235 − PUMP_1`` (the pump's on/off moves each inlet
by ≈22 m³/h, as much as a leak), with a profile learned on the 4 weeks before the onset (as an operator
relearns profiles), then ``Detector.scan`` over the days around it. A quiet period (profile of 10 Feb–2 Mar,
scan 2–23 Mar) bounds the false alarms. Run with ``-s`` to print the table in docs/detection.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from detection.engine import Detector
from detection.profiles import learn_profiles
from layers.importers.epanet import import_epanet
from sensing.datasets.battledim import register_battledim_sensors, slice_csv, write_inflow_csv
from sensing.replay import replay_csv
from tests.common import LTOWN_INP, SHARED_DATA, shared_file

FLOWS = SHARED_DATA / "water" / "LTown_2019_SCADA_Flows.csv.gz"
LEVELS = SHARED_DATA / "water" / "LTown_2019_SCADA_Levels.csv.gz"
TERRITORY = "L-Town-detection"
REPLAY_FROM = datetime(2019, 1, 1)
REPLAY_TO = datetime(2019, 4, 6)
ONSETS = {
    "A": datetime(2019, 1, 15, 23, 0, tzinfo=UTC),
    "B": datetime(2019, 1, 24, 18, 30, tzinfo=UTC),
    "C": datetime(2019, 4, 2, 20, 40, tzinfo=UTC),
}
#: An anomaly must start between this long before the onset (rolling means see it coming) and this long after.
EARLY = timedelta(hours=1)
LATE = timedelta(hours=12)
QUIET_LEARN = (datetime(2019, 2, 10, tzinfo=UTC), datetime(2019, 3, 2, tzinfo=UTC))
QUIET_SCAN = (datetime(2019, 3, 2, tzinfo=UTC), datetime(2019, 3, 23, tzinfo=UTC))


@pytest.fixture(scope="module")
def ltown(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, int]]]:
    """L-Town imported, its SCADA sensors registered, January to early April 2019 replayed."""
    import_epanet(
        database_url, shared_file(LTOWN_INP), crs="2154", offset="769000,6277000", territory_name=TERRITORY
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (TERRITORY,)).fetchone()
        assert row is not None
        ids = register_battledim_sensors(conn, int(row[0]), prefix="ltd-")
    folder = tmp_path_factory.mktemp("battledim")
    flows = folder / "flows.csv"
    levels = folder / "levels.csv"
    assert write_inflow_csv(shared_file(FLOWS), flows, start=REPLAY_FROM, end=REPLAY_TO) == 95 * 288
    assert slice_csv(shared_file(LEVELS), levels, start=REPLAY_FROM, end=REPLAY_TO) == 95 * 288
    for path in (flows, levels):
        report = replay_csv(database_url, Path(path), sensor_prefix="ltd-", timezone="UTC")
        assert report.counts.rejected == 0, report.summary()
    yield database_url, ids


def _anomalies(url: str, sensor_id: int, start: datetime, end: datetime) -> list[tuple[datetime, float, str]]:
    with psycopg.connect(url) as conn:
        return [
            (r[0], float(r[1]), r[2])
            for r in conn.execute(
                "SELECT started_at, score, explanation_en FROM sensing.detections WHERE sensor_id = %s"
                " AND rule = 'anomaly' AND started_at >= %s AND started_at < %s ORDER BY started_at",
                (sensor_id, start, end),
            )
        ]


def _learn_and_scan(
    url: str, sensors: list[int], learn: tuple[datetime, datetime], scan: tuple[datetime, datetime]
) -> None:
    learn_profiles(url, sensors, learn[0], learn[1], slot_s=3600, timezone="UTC")
    with psycopg.connect(url) as conn:
        Detector(emit_events=False).scan(conn, scan[0], scan[1], sensors)


def test_battledim_leak_onsets_are_detected(ltown: tuple[str, dict[str, int]]) -> None:
    url, ids = ltown
    inflow = ids["A_inflow"]
    table = []
    for name, onset in ONSETS.items():
        learn = (
            max(onset - timedelta(days=28), datetime(2019, 1, 1, tzinfo=UTC)),
            onset - timedelta(hours=1),
        )
        _learn_and_scan(
            url,
            [inflow, ids["p227"], ids["p235"]],
            learn,
            (onset - timedelta(days=1), onset + timedelta(days=2)),
        )
        before = _anomalies(url, inflow, onset - timedelta(days=1), onset - EARLY)
        near = [a for a in _anomalies(url, inflow, onset - EARLY, onset + LATE) if a[1] > 0]
        table.append((name, onset, near[0][0] - onset if near else None, len(before)))
        assert near, f"leak {name} starting {onset:%Y-%m-%d %H:%M} not detected on the inflow within {LATE}"
        assert before == [], f"anomalies in the day before leak {name}: {before}"
        assert "above its" in near[0][2]
    print("\nonset, first anomaly start − onset, anomalies the day before")
    for name, onset, delay, before_n in table:
        print(f"{name} {onset:%Y-%m-%d %H:%M}  {delay}  {before_n}")


def test_battledim_quiet_period_has_few_false_alarms(ltown: tuple[str, dict[str, int]]) -> None:
    url, ids = ltown
    sensors = {name: ids[name] for name in ("A_inflow", "p227", "p235")}
    _learn_and_scan(url, list(sensors.values()), QUIET_LEARN, QUIET_SCAN)
    counts = {name: len(_anomalies(url, sid, *QUIET_SCAN)) for name, sid in sensors.items()}
    print(f"\nanomalies opened over 2–23 March 2019 (21 days): {counts}")
    assert counts["A_inflow"] <= 1
