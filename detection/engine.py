"""The detection engine: per-sensor rule state in memory, fed by each stored batch, written in a few statements.

``Detector.process`` runs inside the ingestion transaction (``incidents.pipeline``). A sensor is loaded on
first sight (metadata, thresholds, profile, its last readings to fill the windows, its open detections), then
each of its readings goes through the rules in time order; readings older than the newest one seen are
stored but not judged (a late reading cannot rewrite a rolling window already used). Thresholds and
profiles are reloaded when ``sensing.detection_config.version`` moves (one cheap query per batch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from detection import explain
from detection.model import Detection
from detection.profiles import Profile, load_profiles
from detection.rules import (
    AnomalyRule,
    Context,
    Finding,
    FlatlineRule,
    RateRule,
    ThresholdRow,
    ThresholdRule,
    settings_for,
)
from detection.store import (
    Change,
    SensorMeta,
    config_version,
    detection_json,
    load_history,
    load_meta,
    load_open,
    load_thresholds,
    write_changes,
)
from sensing.parse import Reading
from sensing.store import SensorInfo
from twin.live_events import emit

Rule = ThresholdRule | RateRule | FlatlineRule | AnomalyRule


class SensorState:
    """Everything the engine remembers about one sensor between batches."""

    __slots__ = ("meta", "ctx", "rules", "last_t", "last_at", "ids")

    def __init__(self, meta: SensorMeta, thresholds: list[ThresholdRow], profile: Profile | None) -> None:
        self.meta = meta
        subject = explain.Subject(meta.name, meta.title_fr, meta.title_en, meta.unit)
        self.ctx = Context(subject, meta.kind, meta.interval_s, settings_for(meta.kind, meta.overrides))
        rules: list[Rule] = [RateRule(self.ctx)]
        if self.ctx.settings["flatline_enabled"]:
            rules.append(FlatlineRule(self.ctx))
        if thresholds:
            rules.append(ThresholdRule(self.ctx, thresholds))
        if profile is not None:
            rules.append(AnomalyRule(self.ctx, profile))
        self.rules = rules
        self.last_t: float | None = None
        self.last_at: datetime | None = None
        #: Ids of this sensor's open detections by (rule, started_at).
        self.ids: dict[tuple[str, datetime], int] = {}

    def observe(self, at: datetime, value: float) -> list[Finding]:
        t = at.timestamp()
        findings: list[Finding] = []
        if self.last_t is not None and self.last_at is not None:
            silent_s = t - self.last_t
            if silent_s > self.ctx.settings["gap_factor"] * self.ctx.interval_s:
                findings.append(gap_finding(self.ctx, self.last_at, silent_s, ended_at=at))
        self.last_t, self.last_at = t, at
        for rule in self.rules:
            findings.extend(rule.observe(t, at, value))
        return findings

    def prime(self, history: list[tuple[datetime, float]]) -> None:
        """Fill windows and run lengths from past readings; what they would have opened is not announced."""
        for at, value in history:
            t = at.timestamp()
            self.last_t, self.last_at = t, at
            for rule in self.rules:
                rule.observe(t, at, value)
        for rule in self.rules:
            rule.forget_open()


def gap_finding(ctx: Context, last_at: datetime, silent_s: float, *, ended_at: datetime | None) -> Finding:
    fr, en = explain.gap(
        ctx.subject, silent_s=silent_s, expected_interval_s=ctx.interval_s, ongoing=ended_at is None
    )
    severity = "warning" if silent_s >= 86_400 else "info"
    intervals = silent_s / ctx.interval_s
    return Finding(
        rule="gap", action="open", started_at=last_at, severity=severity, value=None, expected=None,
        score=round(intervals, 1), confidence=1.0, explanation_fr=fr, explanation_en=en,
        details={"silent_s": silent_s, "expected_interval_s": ctx.interval_s}, ended_at=ended_at,
    )  # fmt: skip


@dataclass
class ScanReport:
    readings: int = 0
    opened: dict[str, int] = field(default_factory=dict)
    closed: dict[str, int] = field(default_factory=dict)

    def count(self, written: list[Detection], actions: list[str]) -> None:
        for d, action in zip(written, actions, strict=True):
            if action == "opened":
                self.opened[d.rule] = self.opened.get(d.rule, 0) + 1
            if d.ended_at is not None:
                self.closed[d.rule] = self.closed.get(d.rule, 0) + 1

    def summary(self) -> str:
        opened = ", ".join(f"{k} {v}" for k, v in sorted(self.opened.items())) or "none"
        return f"{self.readings} readings scanned; detections opened: {opened}"


class Detector:
    """One per process: holds per-sensor state; safe to share between threads (one lock)."""

    def __init__(self, *, emit_events: bool = True) -> None:
        self.emit_events = emit_events
        self.states: dict[int, SensorState] = {}
        self._version: int | None = None
        self._lock = threading.RLock()
        self._last_actions: list[str] = []

    def process(
        self, conn: psycopg.Connection, readings: list[Reading], sensors: Mapping[int, SensorInfo]
    ) -> list[Detection]:
        """Judge a batch of just-stored readings; return the detections opened, updated or closed."""
        if not readings:
            return []
        with self._lock:
            self._check_config(conn)
            by_sensor: dict[int, list[Reading]] = {}
            for r in readings:
                by_sensor.setdefault(r.sensor_id, []).append(r)
            new = {sid: min(rs, key=lambda r: r.observed_at).observed_at for sid, rs in by_sensor.items()}
            new = {sid: first for sid, first in new.items() if sid not in self.states}
            if new:
                self._load(conn, new)
            changes: dict[tuple[int, str, datetime], Change] = {}
            for sensor_id, rs in by_sensor.items():
                state = self.states.get(sensor_id)
                if state is None:
                    continue  # not in twin.sensors any more
                rs.sort(key=lambda r: r.observed_at)
                for r in rs:
                    if state.last_at is not None and r.observed_at <= state.last_at:
                        continue
                    for f in state.observe(r.observed_at, r.value):
                        _merge(changes, state, f)
            return self._write(conn, list(changes.values()))

    def sweep(self, conn: psycopg.Connection, now: datetime) -> list[Detection]:
        """Open a gap detection for every sensor silent for more than ``gap_factor`` expected intervals.

        Call it every minute or so; a sensor already announced silent since the same reading is skipped, and
        its gap is closed by its next reading.
        """
        with self._lock:
            rows = conn.execute(
                "SELECT l.sensor_id, l.observed_at FROM sensing.latest l"
                " JOIN twin.sensors s ON s.id = l.sensor_id LEFT JOIN sensing.kinds k ON k.kind = s.kind"
                " WHERE l.observed_at < %(now)s - make_interval(secs => coalesce(k.expected_interval_s, 3600)"
                "  * coalesce((s.attributes -> 'detection' ->> 'gap_factor')::float8, %(factor)s))"
                " AND NOT EXISTS (SELECT 1 FROM sensing.detections d WHERE d.sensor_id = l.sensor_id"
                "  AND d.rule = 'gap' AND d.started_at = l.observed_at)",
                {"now": now, "factor": 3.0},
            ).fetchall()
            if not rows:
                return []
            metas = load_meta(conn, [int(r[0]) for r in rows])
            changes: dict[tuple[int, str, datetime], Change] = {}
            for sensor_id, last_at in rows:
                meta = metas.get(int(sensor_id))
                if meta is None:
                    continue
                state = self.states.get(meta.id)
                ctx = state.ctx if state else SensorState(meta, [], None).ctx
                f = gap_finding(ctx, last_at, (now - last_at).total_seconds(), ended_at=None)
                key = (meta.id, "gap", last_at)
                changes[key] = Change(meta.id, "gap", last_at, None)
                changes[key].add(f)
            return self._write(conn, list(changes.values()), metas)

    def scan(
        self,
        conn: psycopg.Connection,
        start: datetime,
        end: datetime,
        sensor_ids: Sequence[int] | None = None,
        *,
        chunk: int = 20_000,
        on_detections: Callable[[psycopg.Connection, list[Detection]], None] | None = None,
    ) -> ScanReport:
        """Re-run detection over the stored readings of ``[start, end)``, sensor by sensor, in time order.

        The sensors start afresh at ``start`` (windows filled from the readings before it, detections open
        then resumed), so scanning the same period twice writes nothing new.
        """
        report = ScanReport()
        ids = list(sensor_ids) if sensor_ids is not None else None
        with self._lock:
            for sid in ids if ids is not None else list(self.states):
                self.states.pop(sid, None)
            with conn.cursor(name="detection_scan") as cur:
                cur.execute(
                    "SELECT sensor_id, observed_at, value FROM sensing.readings"
                    " WHERE observed_at >= %s AND observed_at < %s"
                    " AND (%s::bigint[] IS NULL OR sensor_id = ANY(%s::bigint[])) ORDER BY sensor_id, observed_at",
                    (start, end, ids, ids),
                )
                while rows := cur.fetchmany(chunk):
                    batch = [Reading(int(r[0]), r[1], float(r[2])) for r in rows]
                    report.readings += len(batch)
                    found = self.process(conn, batch, {})
                    report.count(found, self._last_actions)
                    if found and on_detections is not None:
                        on_detections(conn, found)
        return report

    def _check_config(self, conn: psycopg.Connection) -> None:
        version = config_version(conn)
        if self._version is not None and version != self._version:
            self.states.clear()  # thresholds or profiles changed: reload each sensor on its next reading
        self._version = version

    def _load(self, conn: psycopg.Connection, firsts: dict[int, datetime]) -> None:
        metas = load_meta(conn, list(firsts))
        firsts = {sid: at for sid, at in firsts.items() if sid in metas}
        if not firsts:
            return
        thresholds = load_thresholds(conn, metas)
        profiles = load_profiles(conn, list(firsts))
        history = load_history(conn, firsts)
        open_rows = load_open(conn, firsts)
        for sid, meta in metas.items():
            state = SensorState(meta, thresholds.get(sid, []), profiles.get(sid))
            state.prime(history.get(sid, []))
            by_rule = {rule.name: rule for rule in state.rules}
            for det_id, rule_name, started_at, severity, details in open_rows.get(sid, []):
                rule = by_rule.get(rule_name)
                if rule is not None:
                    rule.resume(started_at, severity, details)
                if rule is not None or rule_name == "gap":
                    state.ids[(rule_name, started_at)] = det_id
            self.states[sid] = state

    def _write(
        self, conn: psycopg.Connection, changes: list[Change], metas: dict[int, SensorMeta] | None = None
    ) -> list[Detection]:
        self._last_actions = []
        if not changes:
            return []
        if metas is None:
            metas = {c.sensor_id: self.states[c.sensor_id].meta for c in changes}
        written = write_changes(conn, changes, metas)
        for c in changes:
            state = self.states.get(c.sensor_id)
            if state is None or c.known_id is None:
                continue
            if c.ended_at is None:
                state.ids[(c.rule, c.started_at)] = c.known_id
            else:
                state.ids.pop((c.rule, c.started_at), None)
        if self.emit_events:
            for w in written:
                d = w.detection
                emit(
                    conn,
                    "detection",
                    d.visibility,
                    {"action": w.action, "detection": detection_json(d)},
                    territory_id=d.territory_id,
                )
        self._last_actions = [w.action for w in written]
        return [w.detection for w in written]


def _merge(changes: dict[tuple[int, str, datetime], Change], state: SensorState, f: Finding) -> None:
    key = (state.meta.id, f.rule, f.started_at)
    change = changes.get(key)
    if change is None:
        change = changes[key] = Change(
            state.meta.id, f.rule, f.started_at, state.ids.get((f.rule, f.started_at))
        )
    change.add(f)
