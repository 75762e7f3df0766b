"""The detection rules, one small state machine per sensor and rule, fed one reading at a time (no SQL here).

Each rule's ``observe`` returns the :class:`Finding` s of this reading: a condition opened, got stronger
(severity up) or cleared. Times are kept twice: epoch seconds for arithmetic, the reading's own datetime for
what is stored (so a replay stores exactly the same ``started_at``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from detection import explain
from detection.model import SEVERITIES
from detection.profiles import Profile

#: Defaults of the tunable settings; ``KIND_SETTINGS`` overrides them per kind and a sensor's
#: ``twin.sensors.attributes -> 'detection'`` object per sensor (docs/detection.md#tuning).
DEFAULT_SETTINGS: dict[str, float] = {
    "gap_factor": 3.0,  # silent for more than this many expected intervals: a gap
    "flatline_intervals": 12.0,  # the same value for this many intervals: stuck
    "flatline_enabled": 1.0,
    "flatline_zero_ok": 0.0,  # 1: a run of zeros is a legitimate state (pump stopped, no rain)
    "rate_k": 10.0,  # a jump is this many robust deviations from the recent changes…
    "rate_max_ratio": 1.5,  # …and this many times the largest change of the last days
    "rate_min_history": 24.0,  # changes seen before judging
    "rate_max_half_life_s": 7 * 86_400.0,
    "anomaly_z_open": 3.0,
    "anomaly_z_close": 1.5,
    "anomaly_floor_ratio": 0.03,  # scale floor, a fraction of the expected value: 3 % is never an anomaly
    "anomaly_window_s": 0.0,  # 0: max(1 h, 3 expected intervals)
    "anomaly_sustained_s": 0.0,  # 0: same as the window
    "threshold_release_ratio": 0.05,  # hysteresis: cleared 5 % back past the threshold
}
KIND_SETTINGS: dict[str, dict[str, float]] = {
    "light_state": {"flatline_enabled": 0.0},  # legitimately constant for hours
    "water_flow": {"flatline_zero_ok": 1.0},  # a stopped pump reads 0 for hours
    "rainfall": {"flatline_zero_ok": 1.0},
    "light_power": {"flatline_zero_ok": 1.0},
    "traffic_count": {"flatline_zero_ok": 1.0},
}


def settings_for(kind: str, overrides: dict[str, Any] | None) -> dict[str, float]:
    """Merged settings of a sensor: defaults, then its kind's, then its own (unknown keys ignored)."""
    merged = dict(DEFAULT_SETTINGS)
    merged.update(KIND_SETTINGS.get(kind, {}))
    for key, value in (overrides or {}).items():
        if key in merged and isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = float(value)
    return merged


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Context:
    """What every rule of one sensor needs to know about it."""

    subject: explain.Subject
    kind: str
    interval_s: int
    settings: dict[str, float]


@dataclass(slots=True)
class Finding:
    """A rule's verdict at one reading; ``action`` is open, update or close."""

    rule: str
    action: str
    started_at: datetime
    severity: str
    value: float | None
    expected: float | None
    score: float | None
    confidence: float
    explanation_fr: str
    explanation_en: str
    details: dict[str, Any] = field(default_factory=dict)
    ended_at: datetime | None = None
    threshold_id: int | None = None


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    id: int
    severity: str
    direction: str
    value: float
    averaging_s: int
    sustained_s: int
    label_fr: str
    label_en: str
    source: str


def effective_thresholds(
    kind_rows: list[ThresholdRow], sensor_rows: list[ThresholdRow]
) -> list[ThresholdRow]:
    """A sensor's thresholds: its own rows replace its kind's rows of the same severity and direction."""
    own = {(r.severity, r.direction) for r in sensor_rows}
    return [r for r in kind_rows if (r.severity, r.direction) not in own] + sensor_rows


class _RollingMean:
    """Mean of the readings in the last ``window_s`` seconds (the window ends at the newest reading)."""

    __slots__ = ("window_s", "items", "total")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.items: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def add(self, t: float, v: float) -> float:
        self.items.append((t, v))
        self.total += v
        while self.items[0][0] <= t - self.window_s:
            self.total -= self.items.popleft()[1]
        return self.total / len(self.items)


@dataclass(slots=True)
class _Open:
    started_at: datetime
    severity: str
    direction: str = ""


class ThresholdRule:
    """Thresholds of one sensor: per direction, one detection that opens at the first threshold whose
    (averaged) value holds for its ``sustained_s``, rises in severity with higher ones, and clears when every
    threshold of the direction is released (5 % back) for one expected interval."""

    name = "threshold"

    def __init__(self, ctx: Context, rows: list[ThresholdRow]) -> None:
        self.ctx = ctx
        self.rows = rows
        self.means = {r.averaging_s: _RollingMean(r.averaging_s) for r in rows if r.averaging_s > 0}
        self.since: dict[int, tuple[float, datetime]] = {}
        self.open: dict[str, _Open] = {}
        self.released_since: dict[str, tuple[float, datetime]] = {}

    def observe(self, t: float, at: datetime, v: float) -> list[Finding]:
        means = {a: m.add(t, v) for a, m in self.means.items()}
        active: dict[str, list[tuple[ThresholdRow, float, float, datetime]]] = {}
        released = {"above": True, "below": True}
        margin = self.ctx.settings["threshold_release_ratio"]
        for row in self.rows:
            m = means[row.averaging_s] if row.averaging_s > 0 else v
            above = row.direction == "above"
            holds = m > row.value if above else m < row.value
            limit = row.value - margin * abs(row.value) if above else row.value + margin * abs(row.value)
            if (m >= limit) if above else (m <= limit):
                released[row.direction] = False
            if not holds:
                self.since.pop(row.id, None)
                continue
            first_t, first_at = self.since.setdefault(row.id, (t, at))
            held_s = t - first_t + (row.averaging_s or self.ctx.interval_s)
            if held_s >= row.sustained_s:
                active.setdefault(row.direction, []).append((row, m, held_s, first_at))
        findings = []
        for direction in ("above", "below"):
            findings.extend(self._direction(direction, active.get(direction, []), released[direction], t, at))
        return findings

    def _direction(
        self,
        direction: str,
        active: list[tuple[ThresholdRow, float, float, datetime]],
        released: bool,
        t: float,
        at: datetime,
    ) -> list[Finding]:
        current = self.open.get(direction)
        if active:
            self.released_since.pop(direction, None)
            row, m, held_s, _ = max(
                active,
                key=lambda a: (severity_rank(a[0].severity), a[1] * (1 if direction == "above" else -1)),
            )
            if current is None:
                started = min(a[3] for a in active)
                self.open[direction] = _Open(started, row.severity, direction)
                return [self._finding("open", started, row, m, held_s)]
            if severity_rank(row.severity) > severity_rank(current.severity):
                current.severity = row.severity
                return [self._finding("update", current.started_at, row, m, held_s)]
            return []
        if current is None or not released:
            if current is not None:
                self.released_since.pop(direction, None)
            return []
        first_t, first_at = self.released_since.setdefault(direction, (t, at))
        if t - first_t < self.ctx.interval_s:
            return []
        del self.open[direction]
        self.released_since.pop(direction, None)
        return [_closing(self.name, current, first_at)]

    def _finding(self, action: str, started: datetime, row: ThresholdRow, m: float, held_s: float) -> Finding:
        fr, en = explain.threshold(
            self.ctx.subject,
            value=m,
            limit=row.value,
            direction=row.direction,
            averaging_s=row.averaging_s,
            held_s=held_s,
            label_fr=row.label_fr,
            label_en=row.label_en,
        )
        coverage = 1.0
        if row.averaging_s > self.ctx.interval_s:
            expected_n = row.averaging_s / self.ctx.interval_s
            coverage = min(1.0, len(self.means[row.averaging_s].items) / expected_n)
        return Finding(
            rule=self.name,
            action=action,
            started_at=started,
            severity=row.severity,
            value=m,
            expected=row.value,
            score=m / row.value if row.value else None,
            confidence=round(0.5 + 0.5 * coverage, 3),
            explanation_fr=fr,
            explanation_en=en,
            details={
                "direction": row.direction,
                "averaging_s": row.averaging_s,
                "sustained_s": row.sustained_s,
                "source": row.source,
            },
            threshold_id=row.id,
        )

    def resume(self, started_at: datetime, severity: str, details: dict[str, Any]) -> None:
        direction = str(details.get("direction", "above"))
        self.open[direction] = _Open(started_at, severity, direction)

    def forget_open(self) -> None:
        self.open.clear()
        self.released_since.clear()


class RateRule:
    """A change between consecutive readings far outside the sensor's recent changes (robust) and larger
    than any change of the last days: a jump the process cannot make (a sensor fault, a burst, a bad value)."""

    name = "rate"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.prev: tuple[float, float] | None = None
        self.changes: deque[float] = deque(maxlen=288)
        self.centre = 0.0
        self.spread = math.inf
        self.since_refresh = 0
        self.largest = 0.0
        self.largest_t = 0.0
        self.open: _Open | None = None

    def observe(self, t: float, at: datetime, v: float) -> list[Finding]:
        s = self.ctx.settings
        prev, self.prev = self.prev, (t, v)
        if prev is None or t <= prev[0]:
            return []
        dt = t - prev[0]
        if dt > s["gap_factor"] * self.ctx.interval_s:
            return self._close(at)  # across a gap the change says nothing about the rate
        change = (v - prev[1]) * self.ctx.interval_s / dt
        decay = 0.5 ** ((t - self.largest_t) / s["rate_max_half_life_s"])
        largest = self.largest * decay
        jump = (
            len(self.changes) >= s["rate_min_history"]
            and abs(change - self.centre) > s["rate_k"] * self.spread
            and abs(change) > s["rate_max_ratio"] * largest
        )
        self.changes.append(change)
        if abs(change) >= largest:
            self.largest, self.largest_t = abs(change), t
        else:
            self.largest, self.largest_t = largest, t
        self.since_refresh += 1
        # The robust scale moves slowly: recomputing it every 64 changes keeps this rule a few µs a reading.
        if self.since_refresh >= 64 or (
            math.isinf(self.spread) and len(self.changes) >= s["rate_min_history"]
        ):
            self._refresh()
        if not jump:
            return self._close(at)
        if self.open is not None:
            return []
        self.open = _Open(at, "warning")
        typical = 1.4826 * self.spread / s["rate_k"]
        fr, en = explain.rate(self.ctx.subject, previous=prev[1], value=v, dt_s=dt, typical=typical)
        score = abs(change - self.centre) / (self.spread / s["rate_k"])
        return [
            Finding(
                rule=self.name,
                action="open",
                started_at=at,
                severity="warning",
                value=v,
                expected=prev[1],
                score=round(score, 2),
                confidence=round(min(1.0, 0.5 + score / (4 * s["rate_k"])), 3),
                explanation_fr=fr,
                explanation_en=en,
                details={"change": v - prev[1], "dt_s": dt, "typical_change": typical},
            )
        ]

    def _refresh(self) -> None:
        if len(self.changes) < 2:
            return
        arr = np.array(self.changes)
        self.centre = float(np.median(arr))
        mad = float(np.median(np.abs(arr - self.centre)))
        floor = 1e-3 * max(1.0, float(np.median(np.abs(arr))))
        self.spread = 1.4826 * mad + floor
        self.since_refresh = 0

    def _close(self, at: datetime) -> list[Finding]:
        if self.open is None:
            return []
        opened, self.open = self.open, None
        return [_closing(self.name, opened, at)]

    def resume(self, started_at: datetime, severity: str, details: dict[str, Any]) -> None:
        self.open = _Open(started_at, severity)

    def forget_open(self) -> None:
        self.open = None


class FlatlineRule:
    """The same value repeated for ``flatline_intervals`` expected intervals: a stuck sensor."""

    name = "flatline"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.run: tuple[float, float, datetime] | None = None  # value, first t, first datetime
        self.open: _Open | None = None

    def observe(self, t: float, at: datetime, v: float) -> list[Finding]:
        s = self.ctx.settings
        if self.run is None or self.run[0] != v:
            self.run = (v, t, at)
            return self._close(at)
        if self.open is not None or (v == 0 and s["flatline_zero_ok"]):
            return []
        held_s = t - self.run[1]
        intervals = held_s / self.ctx.interval_s
        if intervals < s["flatline_intervals"]:
            return []
        self.open = _Open(self.run[2], "warning")
        fr, en = explain.flatline(
            self.ctx.subject, value=v, held_s=held_s, expected_interval_s=self.ctx.interval_s
        )
        return [
            Finding(
                rule=self.name,
                action="open",
                started_at=self.run[2],
                severity="warning",
                value=v,
                expected=None,
                score=round(intervals, 1),
                confidence=round(min(1.0, intervals / (2 * s["flatline_intervals"])), 3),
                explanation_fr=fr,
                explanation_en=en,
                details={"held_s": held_s},
            )
        ]

    def _close(self, at: datetime) -> list[Finding]:
        if self.open is None:
            return []
        opened, self.open = self.open, None
        return [_closing(self.name, opened, at)]

    def resume(self, started_at: datetime, severity: str, details: dict[str, Any]) -> None:
        self.open = _Open(started_at, severity)

    def forget_open(self) -> None:
        self.open = None


class AnomalyRule:
    """A rolling mean far from the learned weekly profile, robustly scaled, sustained: the weak signal.

    z = (mean(v) − mean(median_slot)) / (1.4826 · mean(MAD_slot) + floor_ratio · |mean(median_slot)|), over
    the readings of the last ``anomaly_window_s``. Opens when |z| ≥ z_open for ``anomaly_sustained_s`` with
    one sign (started_at: when it began to hold), info below 2·z_open, warning above; clears when
    |z| < z_close for the same duration.
    """

    name = "anomaly"

    def __init__(self, ctx: Context, profile: Profile) -> None:
        self.ctx = ctx
        self.profile = profile
        s = ctx.settings
        self.window_s = s["anomaly_window_s"] or max(3600.0, 3.0 * ctx.interval_s)
        self.sustained_s = s["anomaly_sustained_s"] or self.window_s
        self.items: deque[tuple[float, float, float, float]] = deque()
        self.sums = [0.0, 0.0, 0.0]
        self.run: tuple[float, datetime, int] | None = None  # first t, first datetime, sign
        self.calm_since: tuple[float, datetime] | None = None
        self.open: _Open | None = None

    def observe(self, t: float, at: datetime, v: float) -> list[Finding]:
        slot = self.profile.slot_of(t)
        median, mad = self.profile.median[slot], self.profile.mad[slot]
        if math.isnan(median):
            return []
        self.items.append((t, v, median, mad))
        self.sums[0] += v
        self.sums[1] += median
        self.sums[2] += mad
        while self.items[0][0] <= t - self.window_s:
            _, ov, om, od = self.items.popleft()
            self.sums[0] -= ov
            self.sums[1] -= om
            self.sums[2] -= od
        n = len(self.items)
        if n < max(1.0, 0.5 * self.window_s / self.ctx.interval_s):
            return []
        s = self.ctx.settings
        mean_v, mean_m, mean_d = self.sums[0] / n, self.sums[1] / n, self.sums[2] / n
        scale = 1.4826 * max(mean_d, 0.0) + s["anomaly_floor_ratio"] * abs(mean_m) + 1e-9
        z = (mean_v - mean_m) / scale
        sign = 1 if z > 0 else -1
        z_open = s["anomaly_z_open"]
        if self.open is not None:
            severity = "warning" if abs(z) >= 2 * z_open else "info"
            same_side = (sign > 0) == (self.open.direction == "above")
            if abs(z) >= s["anomaly_z_close"] and same_side:
                self.calm_since = None
                if same_side and severity_rank(severity) > severity_rank(self.open.severity):
                    self.open.severity = severity
                    return [
                        self._finding("update", self.open.started_at, severity, mean_v, mean_m, z, slot, n)
                    ]
                return []
            calm_t, calm_at = self.calm_since or (t, at)
            self.calm_since = (calm_t, calm_at)
            if t - calm_t < self.sustained_s and not (abs(z) >= z_open and not same_side):
                return []
            opened, self.open, self.calm_since, self.run = self.open, None, None, None
            return [_closing(self.name, opened, calm_at)]
        if abs(z) < z_open:
            self.run = None
            return []
        if self.run is None or self.run[2] != sign:
            self.run = (t, at, sign)
        if t - self.run[0] + self.ctx.interval_s < self.sustained_s:
            return []
        severity = "warning" if abs(z) >= 2 * z_open else "info"
        self.open = _Open(self.run[1], severity, "above" if sign > 0 else "below")
        return [self._finding("open", self.run[1], severity, mean_v, mean_m, z, slot, n)]

    def _finding(
        self,
        action: str,
        started: datetime,
        severity: str,
        mean_v: float,
        mean_m: float,
        z: float,
        slot: int,
        n: int,
    ) -> Finding:
        fr, en = explain.anomaly(
            self.ctx.subject,
            value=mean_v,
            expected=mean_m,
            z=z,
            slot=slot,
            slot_s=self.profile.slot_s,
            window_s=int(self.window_s),
        )
        coverage = min(1.0, n / (self.window_s / self.ctx.interval_s))
        z_open = self.ctx.settings["anomaly_z_open"]
        return Finding(
            rule=self.name,
            action=action,
            started_at=started,
            severity=severity,
            value=round(mean_v, 6),
            expected=round(mean_m, 6),
            score=round(z, 3),
            confidence=round((1 - math.exp(-abs(z) / z_open)) * coverage, 3),
            explanation_fr=fr,
            explanation_en=en,
            details={
                "direction": "above" if z > 0 else "below",
                "slot": slot,
                "slot_s": self.profile.slot_s,
                "window_s": self.window_s,
                "z": round(z, 3),
            },
        )

    def resume(self, started_at: datetime, severity: str, details: dict[str, Any]) -> None:
        self.open = _Open(started_at, severity, str(details.get("direction", "above")))

    def forget_open(self) -> None:
        self.open = None
        self.calm_since = None


def _closing(rule: str, opened: _Open, at: datetime) -> Finding:
    return Finding(
        rule=rule,
        action="close",
        started_at=opened.started_at,
        severity=opened.severity,
        value=None,
        expected=None,
        score=None,
        confidence=1.0,
        explanation_fr="",
        explanation_en="",
        ended_at=at,
    )
