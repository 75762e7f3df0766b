"""Correlation: related detections become one incident (same territory and category, neighbouring H3 cells,
same time window), so the control room handles one leak, not five sensor alarms.

Called by ``incidents.pipeline`` inside the ingestion transaction with the detections the engine has just
opened, strengthened or closed:

- an **opened** detection joins the open incident of its territory and category whose H3 cell is within
  ``CORRELATION_RING`` of its own and whose latest observed activity is within ``CORRELATION_WINDOW_S`` of
  its start (observation time); the incident's severity, confidence and priority rise if it is stronger.
  Otherwise it opens a new incident (origin ``detection``) at its sensor, linked to the sensor's asset;
- a strengthened or closed detection only writes a ``detection`` entry to its incident's log while the
  incident is open. Nothing is ever resolved automatically: an operator resolves.

Correlations of one territory and category are serialised by a transaction-level advisory lock, so two
ingestion threads cannot open two incidents for the same place at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import h3
import psycopg
from psycopg.rows import dict_row, tuple_row

from detection.model import Detection
from incidents import store
from incidents.model import (
    CORRELATION_RING,
    CORRELATION_WINDOW_S,
    DETECTION_AUTHOR,
    audience_of,
    stronger,
)
from incidents.priority import priority_of

#: Times written in log texts (the data keeps ISO 8601 with offset).
LOG_TIMEZONE = ZoneInfo("Europe/Paris")
RULE_TITLES_FR = {
    "threshold": "Dépassement de seuil",
    "rate": "Variation brutale",
    "flatline": "Valeur figée",
    "gap": "Données manquantes",
    "anomaly": "Anomalie",
}

Action = Literal["created", "joined", "logged", "ignored"]


@dataclass(frozen=True, slots=True)
class Correlation:
    """What correlation did with one detection."""

    detection_id: int
    incident_id: int | None
    action: Action


def correlate(conn: psycopg.Connection[Any], detections: Sequence[Detection]) -> list[Correlation]:
    """Create or update incidents from ``detections`` in the caller's transaction; say what was done."""
    if not detections:
        return []
    # The audit trail names who changed incidents; an ingestion connection has no signed-in person.
    conn.execute(
        "SELECT set_config('hyperviseur.actor', %s, true)"
        " WHERE coalesce(current_setting('hyperviseur.actor', true), '') = ''",
        (DETECTION_AUTHOR,),
    )
    out: list[Correlation] = []
    # Opened ones first, oldest first: a later detection of the batch may join the incident an earlier one
    # opened; then updates and closures, which may concern detections opened in this batch.
    ordered = sorted(detections, key=lambda d: (not d.opened, d.started_at, d.id))
    for d in ordered:
        out.append(_opened(conn, d) if d.opened else _changed(conn, d))
    return out


def _tuples(conn: psycopg.Connection[Any]) -> psycopg.Cursor[tuple[Any, ...]]:
    # The ingestion connection's row factory is the caller's: read positionally whatever it is.
    return conn.cursor(row_factory=tuple_row)


def _lock(conn: psycopg.Connection[Any], territory_id: int, category: str) -> None:
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('incidents.correlate:' || %s), %s)", (category, territory_id)
    )


def _candidate(conn: psycopg.Connection[Any], d: Detection) -> int | None:
    cells = list(h3.grid_disk(d.h3_cell, CORRELATION_RING))
    window = timedelta(seconds=CORRELATION_WINDOW_S)
    row = (
        _tuples(conn)
        .execute(
            "SELECT id FROM incidents.incidents WHERE territory_id = %s AND category = %s AND status <> 'resolved'"
            " AND h3_cell = ANY(%s) AND last_observed_at BETWEEN %s::timestamptz - %s AND %s::timestamptz + %s"
            " ORDER BY priority DESC, last_observed_at DESC, id LIMIT 1",
            (d.territory_id, d.category, cells, d.started_at, window, d.started_at, window),
        )
        .fetchone()
    )
    return int(row[0]) if row is not None else None


def _detection_data(d: Detection) -> dict[str, Any]:
    return {
        "detection_id": d.id,
        "sensor_id": d.sensor_id,
        "sensor_name": d.sensor_name,
        "rule": d.rule,
        "severity": d.severity,
        "confidence": d.confidence,
        "started_at": d.started_at.isoformat(),
        "ended_at": d.ended_at.isoformat() if d.ended_at else None,
        "explanation_en": d.explanation_en,
    }


def _link(conn: psycopg.Connection[Any], detection_id: int, incident_id: int) -> None:
    conn.execute("UPDATE sensing.detections SET incident_id = %s WHERE id = %s", (incident_id, detection_id))


def _title(conn: psycopg.Connection[Any], d: Detection) -> str:
    row = _tuples(conn).execute("SELECT title_fr FROM sensing.kinds WHERE kind = %s", (d.kind,)).fetchone()
    what = str(row[0]) if row is not None else d.kind
    what = what[:1].lower() + what[1:]
    return f"{RULE_TITLES_FR.get(d.rule, 'Anomalie')} {what} — {d.sensor_name}"[:300]


def _opened(conn: psycopg.Connection[Any], d: Detection) -> Correlation:
    _lock(conn, d.territory_id, d.category)
    incident_id = _candidate(conn, d)
    if incident_id is None:
        created = store.create(
            conn,
            store.NewIncident(
                territory_id=d.territory_id,
                title=_title(conn, d),
                category=d.category,
                severity=d.severity,
                lon=d.lon,
                lat=d.lat,
                origin="detection",
                created_by=DETECTION_AUTHOR,
                confidence=d.confidence,
                description=d.explanation_fr,
                asset_layer=d.asset_layer,
                asset_id=d.asset_id,
                h3_cell=d.h3_cell,
                observed_at=d.started_at,
            ),
            log_text=f"Incident ouvert par la détection : {d.explanation_fr} ({d.sensor_name})",
            log_data=_detection_data(d),
        )
        _link(conn, d.id, created["id"])
        return Correlation(d.id, created["id"], "created")
    current, priority = _strengthen(conn, incident_id, d)
    _link(conn, d.id, incident_id)
    text = f"Détection rattachée : {d.explanation_fr} ({d.sensor_name})"
    store.add_entry(
        conn,
        territory_id=current["territory_id"],
        incident_id=incident_id,
        author=DETECTION_AUTHOR,
        entry="detection",
        text=text + _raised_text(current, d, priority),
        data={**_detection_data(d), "priority": priority, "previous_priority": current["priority"]},
        audience=audience_of(current["category"]),
    )
    store.announce(conn, incident_id, "detection")
    return Correlation(d.id, incident_id, "joined")


def _strengthen(conn: psycopg.Connection[Any], incident_id: int, d: Detection) -> tuple[dict[str, Any], int]:
    """Raise the incident's severity, confidence and priority to the detection's if stronger (never lower
    them: an operator's manual priority stays unless the evidence now says more); return the incident as it
    was and its new priority."""
    current = store.incident(conn, incident_id, lock=True)
    severity = d.severity if stronger(d.severity, current["severity"]) else current["severity"]
    confidence = max(current["confidence"], d.confidence)
    priority = max(current["priority"], priority_of(severity, current["exposure"], confidence))
    conn.execute(
        "UPDATE incidents.incidents SET severity = %s, confidence = %s, priority = %s,"
        " last_observed_at = greatest(last_observed_at, %s), updated_at = now() WHERE id = %s",
        (severity, confidence, priority, d.ended_at or d.started_at, incident_id),
    )
    return current, priority


def _raised_text(current: dict[str, Any], d: Detection, priority: int) -> str:
    if stronger(d.severity, current["severity"]) or priority != current["priority"]:
        severity = d.severity if stronger(d.severity, current["severity"]) else current["severity"]
        return f" — gravité {severity}, priorité {current['priority']} → {priority}"
    return ""


def _changed(conn: psycopg.Connection[Any], d: Detection) -> Correlation:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT i.id, i.territory_id, i.category, i.status FROM sensing.detections d"
            " JOIN incidents.incidents i ON i.id = d.incident_id WHERE d.id = %s",
            (d.id,),
        ).fetchone()
    if row is None or row["status"] == "resolved":
        return Correlation(d.id, row["id"] if row else None, "ignored")
    if d.ended_at is not None:
        at = d.ended_at.astimezone(LOG_TIMEZONE).strftime("%d/%m/%Y %H:%M")
        text = f"Condition levée le {at} : {d.sensor_name} ({d.explanation_fr})"
        conn.execute(
            "UPDATE incidents.incidents SET last_observed_at = greatest(last_observed_at, %s), updated_at = now()"
            " WHERE id = %s",
            (d.ended_at, row["id"]),
        )
    else:
        current, priority = _strengthen(conn, row["id"], d)
        text = f"Détection renforcée ({d.severity}) : {d.explanation_fr} ({d.sensor_name})"
        text += _raised_text(current, d, priority)
    store.add_entry(
        conn,
        territory_id=row["territory_id"],
        incident_id=row["id"],
        author=DETECTION_AUTHOR,
        entry="detection",
        text=text,
        data={**_detection_data(d), "cleared": d.ended_at is not None},
        audience=audience_of(row["category"]),
    )
    store.announce(conn, row["id"], "detection")
    return Correlation(d.id, row["id"], "logged")
