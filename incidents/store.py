"""Writing incidents: creation, the lifecycle transitions, edits and the main courante, with live events.

Every function runs inside the caller's transaction (an API request's, or the ingestion batch's for
correlation) and writes the change, its log entry and its live events together: they commit or roll back
as one. Transitions lock the incident row (``FOR UPDATE``) so two operators acting at once are serialised
and the second one gets a clear 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import h3
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from incidents.exposure import exposure_at
from incidents.model import ALLOWED_FROM, H3_RESOLUTION, Conflict, audience_of
from incidents.priority import priority_of
from incidents.views import ENTRY_COLUMNS, INCIDENT_SELECT, entry_json, incident_json
from twin.errors import InvalidInput, NotFound
from twin.live_events import emit

Conn = psycopg.Connection[Any]

#: How long an intervention created by an assignment takes, and within which delay it must start, by
#: severity (the crew is sent now; a critical incident cannot wait for the end of the day).
JOB_DURATION_S = 3600
JOB_START_WITHIN_S: dict[str, int] = {
    "critical": 2 * 3600,
    "alert": 4 * 3600,
    "warning": 8 * 3600,
    "info": 24 * 3600,
}

_STATUS_FR = {"new": "nouveau", "acknowledged": "pris en compte", "assigned": "affecté", "resolved": "résolu"}


@dataclass(frozen=True, slots=True)
class NewIncident:
    """What an incident is created from (by hand or by correlation)."""

    territory_id: int
    title: str
    category: str
    severity: str
    lon: float
    lat: float
    origin: str
    created_by: str
    confidence: float = 1.0
    description: str = ""
    asset_layer: str | None = None
    asset_id: int | None = None
    h3_cell: str | None = None
    observed_at: datetime | None = None  # observation time (detections); now for manual incidents


def _one(conn: Conn, sql: str, params: Any = None) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def incident(conn: Conn, incident_id: int, *, lock: bool = False) -> dict[str, Any]:
    """The incident's JSON (``lock``: and lock its row until the transaction ends); 404 if absent."""
    if lock:
        # FOR UPDATE cannot sit next to the detection count's sub-select: lock first, then read.
        _one(conn, "SELECT id FROM incidents.incidents WHERE id = %s FOR UPDATE", (incident_id,))
    row = _one(conn, f"{INCIDENT_SELECT} WHERE i.id = %s", (incident_id,))
    if row is None:
        raise NotFound(f"no incident {incident_id}: list them with GET /api/incidents")
    return incident_json(row)


def add_entry(
    conn: Conn,
    *,
    territory_id: int,
    incident_id: int | None,
    author: str,
    entry: str,
    text: str,
    data: dict[str, Any] | None = None,
    audience: str = "internal",
) -> dict[str, Any]:
    """Append a main-courante entry and its live event (topic ``log``); return the entry's JSON."""
    row = _one(
        conn,
        f"INSERT INTO incidents.log AS l (incident_id, territory_id, author, entry, text, data)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {ENTRY_COLUMNS}",
        (incident_id, territory_id, author, entry, text, Jsonb(data or {})),
    )
    assert row is not None
    out = entry_json(row)
    emit(conn, "log", audience, {"entry": out}, territory_id=territory_id)
    return out


def announce(conn: Conn, incident_id: int, action: str) -> dict[str, Any]:
    """Read the incident after a change and emit its live event (topic ``incident``)."""
    current = incident(conn, incident_id)
    emit(
        conn,
        "incident",
        audience_of(current["category"]),
        {"action": action, "incident": current},
        territory_id=current["territory_id"],
    )
    return current


#: incidents.log.text holds at most this many characters (CHECK in migration 0010).
LOG_TEXT_MAX = 10_000


def _log(conn: Conn, current: dict[str, Any], author: str, entry: str, text: str, **data: Any) -> None:
    # A generated entry quotes what the operator wrote (a resolution up to 10,000 characters) after a prefix:
    # the log keeps the beginning; the incident keeps the whole text.
    if len(text) > LOG_TEXT_MAX:
        text = text[: LOG_TEXT_MAX - 1] + "…"
    add_entry(
        conn,
        territory_id=current["territory_id"],
        incident_id=current["id"],
        author=author,
        entry=entry,
        text=text,
        data=data,
        audience=audience_of(current["category"]),
    )


def create(
    conn: Conn, new: NewIncident, *, log_text: str, log_data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Insert an incident (exposure and priority computed here), its ``created`` entry and live events."""
    cell = new.h3_cell or h3.latlng_to_cell(new.lat, new.lon, H3_RESOLUTION)
    exposure = exposure_at(conn, new.territory_id, new.lon, new.lat, new.category)
    priority = priority_of(new.severity, exposure, new.confidence)
    with_asset = new.asset_layer is not None and new.asset_id is not None
    row = _one(
        conn,
        "INSERT INTO incidents.incidents (territory_id, title, category, severity, priority, confidence,"
        " exposure, origin, description, geom, h3_cell, asset_layer, asset_id, created_by, last_observed_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s, %s,"
        " coalesce(%s, now())) RETURNING id",
        (
            new.territory_id,
            new.title.strip(),
            new.category,
            new.severity,
            priority,
            new.confidence,
            Jsonb(exposure),
            new.origin,
            new.description,
            new.lon,
            new.lat,
            cell,
            new.asset_layer if with_asset else None,
            new.asset_id if with_asset else None,
            new.created_by,
            new.observed_at,
        ),
    )
    assert row is not None
    current = incident(conn, int(row["id"]))
    _log(conn, current, new.created_by, "created", log_text, **(log_data or {}), priority=priority)
    return announce(conn, current["id"], "created")


_DONE_EN = {"acknowledge": "acknowledged", "assign": "assigned", "resolve": "resolved", "edit": "edited"}


def _check(current: dict[str, Any], action: str, what_fr: str) -> None:
    """409 unless the incident's status allows ``action``, saying so in French and English."""
    status = current["status"]
    if status in ALLOWED_FROM[action]:
        return
    closed_fr = " (un incident résolu est clos)" if status == "resolved" else ""
    closed_en = " (a resolved incident is closed)" if status == "resolved" else ""
    raise Conflict(
        f"l'incident {current['id']} est {_STATUS_FR[status]}{closed_fr} : impossible de {what_fr}."
        f" Incident {current['id']} is {status}{closed_en}: it cannot be {_DONE_EN[action]}."
    )


def acknowledge(conn: Conn, incident_id: int, author: str, note: str | None = None) -> dict[str, Any]:
    """new → acknowledged (409 from any other status, including acknowledged)."""
    current = incident(conn, incident_id, lock=True)
    _check(current, "acknowledge", "le prendre en compte")
    conn.execute(
        "UPDATE incidents.incidents SET status = 'acknowledged', acknowledged_at = now(), updated_at = now()"
        " WHERE id = %s",
        (incident_id,),
    )
    text = f"Pris en compte par {author}" + (f" : {note}" if note else "")
    _log(conn, current, author, "status", text, status="acknowledged", previous=current["status"], note=note)
    return announce(conn, incident_id, "acknowledged")


def _crew(conn: Conn, crew_id: int, territory_id: int) -> dict[str, Any]:
    crew = _one(
        conn,
        "SELECT c.id, c.name, c.territory_id, c.active, t.name AS territory FROM dispatch.crews c"
        " JOIN twin.territory t ON t.id = c.territory_id WHERE c.id = %s",
        (crew_id,),
    )
    if crew is None:
        raise InvalidInput(f"no crew {crew_id}: list them with GET /api/dispatch/crews")
    if crew["territory_id"] != territory_id:
        raise InvalidInput(
            f"crew {crew_id} ({crew['name']}) works in territory '{crew['territory']}', not in the incident's"
        )
    if not crew["active"]:
        raise InvalidInput(f"crew {crew_id} ({crew['name']}) is inactive: activate it or choose another crew")
    return crew


def _job_priority(priority: int) -> int:
    """Dispatch priority 1–5 (5 urgent) of an incident of priority 0–100.

    Examples
    --------
    >>> _job_priority(0), _job_priority(59), _job_priority(80), _job_priority(100)
    (1, 3, 5, 5)
    """
    return max(1, min(5, 1 + priority // 20))


def _create_job(conn: Conn, current: dict[str, Any], crew_id: int) -> int:
    """A dispatch job at the incident's place for the crew: start now, within the severity's delay."""
    within_s = JOB_START_WITHIN_S[current["severity"]]
    row = _one(
        conn,
        "INSERT INTO dispatch.jobs (territory_id, location, duration_s, required_skill, window_start,"
        " window_end, priority, crew_id, incident_id, description)"
        " SELECT territory_id, geom, %s, NULL, now(), now() + %s, %s, %s, %s, %s FROM incidents.incidents"
        " WHERE id = %s RETURNING id",
        (
            JOB_DURATION_S,
            timedelta(seconds=within_s),
            _job_priority(current["priority"]),
            crew_id,
            str(current["id"]),
            f"Incident {current['id']} : {current['title']}"[:4000],
            current["id"],
        ),
    )
    assert row is not None
    return int(row["id"])


def _cancel_waiting_job(conn: Conn, job_id: int | None) -> bool:
    """Cancel the incident's previous job if nobody started it yet; whether one was cancelled."""
    if job_id is None:
        return False
    cur = conn.execute(
        "UPDATE dispatch.jobs SET status = 'cancelled', updated_at = now()"
        " WHERE id = %s AND status IN ('new', 'planned')",
        (job_id,),
    )
    return cur.rowcount > 0


def assign(
    conn: Conn,
    incident_id: int,
    author: str,
    *,
    crew_id: int | None = None,
    assigned_to: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """new/acknowledged/assigned → assigned, to a crew (a dispatch job is created for it) or a named service.

    Re-assigning cancels the previous job if it was not started. ``new → assigned`` acknowledges too.
    """
    if crew_id is None and not (assigned_to and assigned_to.strip()):
        raise InvalidInput(
            "send crew_id (a dispatch crew) or assigned_to (a service named in words), or both"
        )
    current = incident(conn, incident_id, lock=True)
    _check(current, "assign", "l'affecter")
    crew = _crew(conn, crew_id, current["territory_id"]) if crew_id is not None else None
    cancelled = _cancel_waiting_job(conn, current["dispatch_job_id"])
    job_id = _create_job(conn, current, crew["id"]) if crew is not None else None
    conn.execute(
        "UPDATE incidents.incidents SET status = 'assigned', assigned_at = now(),"
        " acknowledged_at = coalesce(acknowledged_at, now()), assigned_crew_id = %s, assigned_to = %s,"
        " dispatch_job_id = %s, updated_at = now() WHERE id = %s",
        (crew_id, assigned_to.strip() if assigned_to else None, job_id, incident_id),
    )
    who = " et ".join(
        p
        for p in (f"l'équipe {crew['name']}" if crew else None, assigned_to.strip() if assigned_to else None)
        if p
    )
    text = (
        f"Affecté à {who} par {author}"
        + (f" (intervention {job_id})" if job_id else "")
        + (f" : {note}" if note else "")
    )
    _log(
        conn,
        current,
        author,
        "assignment",
        text,
        status="assigned",
        previous=current["status"],
        crew_id=crew_id,
        assigned_to=assigned_to,
        dispatch_job_id=job_id,
        cancelled_job_id=current["dispatch_job_id"] if cancelled else None,
        note=note,
    )
    return announce(conn, incident_id, "assigned")


def resolve(conn: Conn, incident_id: int, author: str, resolution: str) -> dict[str, Any]:
    """Any open status → resolved (final); an intervention nobody started is cancelled."""
    if not resolution.strip():
        raise InvalidInput("resolution: say in words how the incident was resolved")
    current = incident(conn, incident_id, lock=True)
    _check(current, "resolve", "le résoudre")
    cancelled = _cancel_waiting_job(conn, current["dispatch_job_id"])
    conn.execute(
        "UPDATE incidents.incidents SET status = 'resolved', resolved_at = now(), resolution = %s,"
        " updated_at = now() WHERE id = %s",
        (resolution.strip(), incident_id),
    )
    _log(
        conn,
        current,
        author,
        "status",
        f"Résolu par {author} : {resolution.strip()}",
        status="resolved",
        previous=current["status"],
        cancelled_job_id=current["dispatch_job_id"] if cancelled else None,
    )
    return announce(conn, incident_id, "resolved")


def edit(conn: Conn, incident_id: int, author: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change title, description, severity and/or priority of an open incident.

    A new severity without a priority recomputes the priority; a priority sent is a manual override,
    logged on its own entry (``priority``) with the previous value.
    """
    allowed = {"title", "description", "severity", "priority"}
    changes = {k: v for k, v in changes.items() if k in allowed and v is not None}
    if not changes:
        raise InvalidInput("nothing to change: send title, description, severity or priority")
    current = incident(conn, incident_id, lock=True)
    _check(current, "edit", "le modifier")
    if "title" in changes:
        changes["title"] = changes["title"].strip()
        if not changes["title"]:
            raise InvalidInput("title: 1 to 300 characters, not only spaces")
    manual_priority = "priority" in changes
    if "severity" in changes and not manual_priority:
        changes["priority"] = priority_of(changes["severity"], current["exposure"], current["confidence"])
    changed = {k: v for k, v in changes.items() if current[k] != v}
    if not changed:
        return current
    sets = ", ".join(f"{k} = %s" for k in changed)
    conn.execute(
        f"UPDATE incidents.incidents SET {sets}, updated_at = now() WHERE id = %s",
        (*changed.values(), incident_id),
    )
    fields = {k: v for k, v in changed.items() if k != "priority" or not manual_priority}
    if fields:
        names = ", ".join(sorted(fields))
        before = {k: current[k] for k in fields}
        _log(conn, current, author, "edit", f"Modifié par {author} : {names}", before=before, after=fields)
    if manual_priority and "priority" in changed:
        _log(
            conn,
            current,
            author,
            "priority",
            f"Priorité fixée à la main par {author} : {current['priority']} → {changed['priority']}",
            before=current["priority"],
            after=changed["priority"],
        )
    return announce(conn, incident_id, "edited")


def add_note(
    conn: Conn, territory_id: int, author: str, text: str, incident_id: int | None = None
) -> dict[str, Any]:
    """A note in the main courante, general or about an incident of the same territory."""
    if not text.strip():
        raise InvalidInput("text: write the note (not only spaces)")
    audience = "internal"
    if incident_id is not None:
        current = incident(conn, incident_id)
        if current["territory_id"] != territory_id:
            raise InvalidInput(f"incident {incident_id} belongs to another territory than the note's")
        audience = audience_of(current["category"])
    return add_entry(
        conn,
        territory_id=territory_id,
        incident_id=incident_id,
        author=author,
        entry="note",
        text=text.strip(),
        audience=audience,
    )
