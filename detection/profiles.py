"""Learned weekly profiles: median and MAD of a sensor's readings per slot of the week, and their lookup."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from twin.errors import InvalidInput

WEEK_S = 604_800
#: Seconds from the Unix epoch (a Thursday) back to the Monday 00:00 that starts its week.
_EPOCH_WEEK_SHIFT_S = 3 * 86_400
#: A slot with fewer readings than this gets no profile (its median would be noise).
MIN_SAMPLES = 3


@dataclass(frozen=True, slots=True)
class LearnReport:
    sensors: int
    slots: int

    def summary(self) -> str:
        return f"{self.sensors} sensor profiles learned ({self.slots} slots)"


def zone_from_name(name: str) -> tzinfo:
    """The IANA zone ``name``, or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"timezone {name!r} is not an IANA zone such as UTC or Europe/Paris") from None


def validate_slot_s(slot_s: int) -> None:
    if slot_s < 60 or WEEK_S % slot_s:
        raise InvalidInput(
            f"slot of {slot_s} s does not divide a week into whole slots of at least a minute;"
            " use e.g. 900, 1800, 3600 or 7200 s"
        )


_LEARN_SQL = """
WITH r AS (
    SELECT sensor_id, value,
           floor(extract(epoch FROM (observed_at AT TIME ZONE %(tz)s)
                 - date_trunc('week', observed_at AT TIME ZONE %(tz)s)) / %(slot_s)s)::int AS slot
    FROM sensing.readings
    WHERE observed_at >= %(start)s AND observed_at < %(end)s
      AND (%(ids)s::bigint[] IS NULL OR sensor_id = ANY(%(ids)s::bigint[]))
), m AS (
    SELECT sensor_id, slot, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS median, count(*) AS n
    FROM r GROUP BY sensor_id, slot HAVING count(*) >= %(min_n)s
)
SELECT m.sensor_id, m.slot, m.median,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.value - m.median)) AS mad, m.n
FROM r JOIN m USING (sensor_id, slot)
GROUP BY m.sensor_id, m.slot, m.median, m.n
"""


def learn_profiles(
    url_or_conn: str | psycopg.Connection,
    sensor_ids: list[int] | None,
    start: datetime,
    end: datetime,
    *,
    slot_s: int = 3600,
    timezone: str = "Europe/Paris",
) -> LearnReport:
    """Learn the weekly profile of each sensor from its readings in ``[start, end)`` and store it.

    Median and MAD (raw, not scaled) per slot of the week in local time (slot 0 starts Monday 00:00 in
    ``timezone``), computed in SQL with ``percentile_cont``: the median ignores the minority of readings a
    leak or an outage disturbs. A sensor's previous profile is replaced whole; sensors without readings in
    the period keep theirs. Nothing changes when the input is refused.
    """
    validate_slot_s(slot_s)
    zone_from_name(timezone)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("--from and --to need a time zone offset (e.g. 2019-01-01T00:00:00+00:00)")
    if end <= start:
        raise InvalidInput(
            f"the period is empty: --to {end.isoformat()} is not after --from {start.isoformat()}"
        )
    if isinstance(url_or_conn, str):
        with psycopg.connect(url_or_conn) as conn:
            return _learn(conn, sensor_ids, start, end, slot_s, timezone)
    with url_or_conn.transaction():
        return _learn(url_or_conn, sensor_ids, start, end, slot_s, timezone)


def _learn(
    conn: psycopg.Connection,
    sensor_ids: list[int] | None,
    start: datetime,
    end: datetime,
    slot_s: int,
    timezone: str,
) -> LearnReport:
    rows = conn.execute(
        _LEARN_SQL,
        {
            "tz": timezone,
            "slot_s": slot_s,
            "start": start,
            "end": end,
            "ids": sensor_ids,
            "min_n": MIN_SAMPLES,
        },
    ).fetchall()
    if not rows:
        which = "the sensors asked for" if sensor_ids else "any sensor"
        raise InvalidInput(
            f"no slot with {MIN_SAMPLES}+ readings of {which} between {start.isoformat()} and {end.isoformat()}:"
            " nothing learned, profiles unchanged"
        )
    learned = sorted({int(r[0]) for r in rows})
    conn.execute("DELETE FROM sensing.profiles WHERE sensor_id = ANY(%s)", (learned,))
    with conn.cursor().copy(
        "COPY sensing.profiles (sensor_id, slot, slot_s, median, mad, samples, learned_from, learned_to, timezone)"
        " FROM STDIN"
    ) as copy:
        for sensor_id, slot, median, mad, n in rows:
            copy.write_row((sensor_id, slot, slot_s, median, mad, n, start, end, timezone))
    return LearnReport(sensors=len(learned), slots=len(rows))


class Profile:
    """A sensor's weekly profile in memory: median and MAD arrays indexed by slot (NaN where not learned).

    Examples
    --------
    >>> p = Profile(3600, "UTC", {27: (30.0, 2.0)})
    >>> p.slot_of(datetime(2019, 1, 1, 3, 30, tzinfo=UTC).timestamp())  # a Tuesday
    27
    >>> p.median[27], p.mad[27]
    (30.0, 2.0)
    """

    __slots__ = ("slot_s", "timezone", "median", "mad", "_zone", "_offsets")

    def __init__(self, slot_s: int, timezone: str, slots: dict[int, tuple[float, float]]) -> None:
        self.slot_s = slot_s
        self.timezone = timezone
        n = WEEK_S // slot_s
        # Plain lists: indexing them gives Python floats, faster than numpy scalars one reading at a time.
        self.median = [math.nan] * n
        self.mad = [math.nan] * n
        for slot, (median, mad) in slots.items():
            if 0 <= slot < n:
                self.median[slot] = float(median)
                self.mad[slot] = float(mad)
        self._zone: tzinfo | None = None if timezone == "UTC" else zone_from_name(timezone)
        self._offsets: dict[int, float] = {}

    def slot_of(self, epoch_s: float) -> int:
        """The slot of the week holding this instant, in the profile's time zone."""
        return int(((epoch_s + self._offset_s(epoch_s) + _EPOCH_WEEK_SHIFT_S) % WEEK_S) // self.slot_s)

    def _offset_s(self, epoch_s: float) -> float:
        if self._zone is None:
            return 0.0
        hour = int(
            epoch_s // 3600
        )  # zones change offset on whole hours (or half hours, still cached per hour)
        offset = self._offsets.get(hour)
        if offset is None:
            at = datetime.fromtimestamp(hour * 3600, UTC)
            delta = self._zone.utcoffset(at.astimezone(self._zone)) or timedelta(0)
            offset = delta.total_seconds()
            if len(self._offsets) > 10_000:
                self._offsets.clear()
            self._offsets[hour] = offset
        return offset


def load_profiles(conn: psycopg.Connection, sensor_ids: list[int]) -> dict[int, Profile]:
    """The stored profiles of these sensors (sensors without one are absent)."""
    rows = conn.execute(
        "SELECT sensor_id, slot_s, timezone, array_agg(slot), array_agg(median), array_agg(mad)"
        " FROM sensing.profiles WHERE sensor_id = ANY(%s) GROUP BY sensor_id, slot_s, timezone",
        (sensor_ids,),
    ).fetchall()
    profiles = {}
    for sensor_id, slot_s, timezone, slots, medians, mads in rows:
        profiles[int(sensor_id)] = Profile(
            int(slot_s),
            timezone,
            {int(s): (float(m), float(d)) for s, m, d in zip(slots, medians, mads, strict=True)},
        )
    return profiles
