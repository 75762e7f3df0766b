"""SQL on ``simulation.incident_consequences`` (migration 0014): requests, results, the API's JSON of a row.

One row per incident. A request (automatic or ``POST``) sets it ``pending`` with a new ``requested_at`` and
clears the previous result; the worker stores its result only if the row still carries the ``requested_at``
it started from (a newer request wins over a computation under way). The ``report`` column holds the
consequence report plus an ``inference`` key (the incident's place and category it was computed for, the
assumptions made, the reason when nothing applies): the API shows the report without it and lifts the rest
to top-level keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

COLUMNS = "incident_id, status, events, report, error, requested_at, computed_at, duration_ms"
REQUEST_SQL = f"""
INSERT INTO simulation.incident_consequences AS c (incident_id, status, requested_at)
VALUES (%(id)s, 'pending', clock_timestamp())
ON CONFLICT (incident_id) DO UPDATE
   SET status = 'pending', events = '[]', report = NULL, error = NULL, requested_at = clock_timestamp(),
       computed_at = NULL, duration_ms = NULL
RETURNING {COLUMNS}
"""
SELECT_SQL = f"SELECT {COLUMNS} FROM simulation.incident_consequences WHERE incident_id = %(id)s"
BASES_SQL = """
SELECT incident_id, status, report -> 'inference' -> 'basis' AS basis
  FROM simulation.incident_consequences WHERE incident_id = ANY(%(ids)s)
"""
# Open incidents never computed (they were created while this server was away or not listening) become
# pending; every pending row is then (re)queued.
CATCH_UP_SQL = """
INSERT INTO simulation.incident_consequences (incident_id, status, requested_at)
SELECT i.id, 'pending', clock_timestamp() FROM incidents.incidents i
 WHERE i.status <> 'resolved'
   AND NOT EXISTS (SELECT 1 FROM simulation.incident_consequences c WHERE c.incident_id = i.id)
ON CONFLICT (incident_id) DO NOTHING
"""
PENDING_SQL = (
    "SELECT incident_id FROM simulation.incident_consequences WHERE status = 'pending' ORDER BY requested_at"
)
_FINISH_SQL = """
UPDATE simulation.incident_consequences
   SET status = %(status)s, events = %(events)s, report = %(report)s, error = %(error)s,
       computed_at = clock_timestamp(), duration_ms = %(ms)s
 WHERE incident_id = %(id)s AND status = 'pending' AND requested_at = %(requested_at)s
RETURNING incident_id
"""
#: The error column holds at most this many characters (CHECK in migration 0014).
ERROR_MAX = 4000


def pending_since(conn: psycopg.Connection[Any], incident_id: int) -> datetime | None:
    """``requested_at`` of the incident's pending row (None: no row, or not pending any more)."""
    row = conn.execute(
        "SELECT requested_at FROM simulation.incident_consequences WHERE incident_id = %s AND status = 'pending'",
        (incident_id,),
    ).fetchone()
    return None if row is None else row[0]


def finish(
    conn: psycopg.Connection[Any],
    incident_id: int,
    requested_at: datetime,
    *,
    status: str,
    events: list[dict[str, Any]],
    report: dict[str, Any] | None,
    error: str | None,
    duration_ms: float,
) -> bool:
    """Store a result in the caller's transaction; False when a newer request replaced the row meanwhile."""
    if error is not None and len(error) > ERROR_MAX:
        error = error[: ERROR_MAX - 1] + "…"
    row = conn.execute(
        _FINISH_SQL,
        {
            "id": incident_id,
            "requested_at": requested_at,
            "status": status,
            "events": Jsonb(events),
            "report": None if report is None else Jsonb(report),
            "error": error,
            "ms": round(duration_ms, 3),
        },
    ).fetchone()
    return row is not None


def read_row(conn: psycopg.Connection[Any], incident_id: int) -> dict[str, Any] | None:
    """The row as a dict (blocking connection), or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_SQL, {"id": incident_id}).fetchone()


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API's JSON of a row (api.md), with ``summary``, ``reason``, ``assumptions`` and ``basis`` added.

    Examples
    --------
    >>> out = row_json({"incident_id": 3, "status": "not_applicable", "events": [], "error": None,
    ...     "report": {"inference": {"reason": {"fr": "r", "en": "r"}, "assumptions": [], "basis": {}}},
    ...     "requested_at": None, "computed_at": None, "duration_ms": None})
    >>> out["report"], out["summary"], out["reason"]["en"]
    (None, {'fr': 'r', 'en': 'r'}, 'r')
    """
    stored = dict(row["report"] or {})
    inference = stored.pop("inference", None) or {}
    report = stored if row["status"] == "done" and stored else None
    reason = inference.get("reason")
    return {
        "incident_id": int(row["incident_id"]),
        "status": row["status"],
        "events": row["events"] or [],
        "report": report,
        "error": row["error"],
        "requested_at": _iso(row["requested_at"]),
        "computed_at": _iso(row["computed_at"]),
        "duration_ms": row["duration_ms"],
        "summary": report.get("summary") if report else reason,
        "reason": reason,
        "assumptions": inference.get("assumptions", []),
        "basis": inference.get("basis"),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
