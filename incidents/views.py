"""How incidents and main-courante entries are read: the SQL, the JSON shape, and who sees what.

Shared by the synchronous writers (``incidents.store``, whose live events carry the incident JSON) and the
asynchronous read routes (``incidents.routes``).

Who sees an incident:

- a **crew** account sees only the incidents assigned to its crew (``dispatch.crews.account_id``), whatever
  their category: the control room sent it there, so it needs to know; it sees their log entries, not the
  general entries of the main courante;
- every other signed-in role sees the incidents whose category's audience (``incidents.model.audience_of``:
  ``water`` is ``restricted``) its layer rules allow, and the general entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.model import hidden_categories

INCIDENT_COLUMNS = (
    "i.id, i.territory_id, i.title, i.category, i.status, i.severity, i.priority, i.confidence, i.exposure,"
    " i.origin, i.description, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.h3_cell, i.asset_layer,"
    " i.asset_id, i.opened_at, i.updated_at, i.acknowledged_at, i.assigned_at, i.resolved_at,"
    " i.last_observed_at, i.assigned_crew_id, i.assigned_to, i.dispatch_job_id, i.created_by, i.resolution,"
    " (SELECT count(*) FROM sensing.detections d WHERE d.incident_id = i.id) AS detections_count"
)
INCIDENT_SELECT = f"SELECT {INCIDENT_COLUMNS} FROM incidents.incidents i"
ENTRY_COLUMNS = "l.id, l.incident_id, l.territory_id, l.at, l.author, l.entry, l.text, l.data"
DETECTION_SELECT = (
    "SELECT d.id, d.sensor_id, s.name AS sensor_name, s.kind, d.rule, d.severity, d.started_at, d.ended_at,"
    " d.detected_at, d.value, d.expected, d.score, d.confidence, d.explanation_fr, d.explanation_en,"
    " d.details, d.h3_cell FROM sensing.detections d JOIN twin.sensors s ON s.id = d.sensor_id"
    " WHERE d.incident_id = %s ORDER BY d.started_at, d.id"
)
_TIMES = ("opened_at", "updated_at", "acknowledged_at", "assigned_at", "resolved_at", "last_observed_at")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads: a role, and for a crew account the crew it signs in for (None: linked to no crew)."""

    role: str
    crew_id: int | None = None

    @property
    def is_crew(self) -> bool:
        return self.role == "crew"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def incident_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API's and the live stream's JSON of an incident row selected with :data:`INCIDENT_COLUMNS`."""
    out = dict(row)
    for key in _TIMES:
        out[key] = _iso(row[key])
    out["detections_count"] = int(row["detections_count"])
    return out


def entry_json(row: dict[str, Any]) -> dict[str, Any]:
    """JSON of a main-courante entry (``incidents.log`` row)."""
    return {**row, "at": _iso(row["at"])}


def detection_json(row: dict[str, Any]) -> dict[str, Any]:
    """JSON of a detection attached to an incident."""
    return {
        **row,
        "started_at": _iso(row["started_at"]),
        "ended_at": _iso(row["ended_at"]),
        "detected_at": _iso(row["detected_at"]),
    }


def incident_filter(viewer: Viewer, alias: str = "i") -> tuple[str, dict[str, Any]]:
    """A SQL condition on ``incidents.incidents`` (as ``alias``) keeping what ``viewer`` may see.

    Examples
    --------
    >>> incident_filter(Viewer("crew", None))
    ('false', {})
    >>> incident_filter(Viewer("analyst"))
    ('NOT (i.category = ANY(%(hidden)s))', {'hidden': ['water']})
    """
    if viewer.is_crew:
        if viewer.crew_id is None:
            return "false", {}
        return f"{alias}.assigned_crew_id = %(crew)s", {"crew": viewer.crew_id}
    return f"NOT ({alias}.category = ANY(%(hidden)s))", {"hidden": hidden_categories(viewer.role)}


def entry_filter(viewer: Viewer) -> tuple[str, dict[str, Any]]:
    """A SQL condition on ``incidents.log l LEFT JOIN incidents.incidents i`` keeping what ``viewer`` sees:
    entries of visible incidents, and general entries for every role but crews."""
    condition, params = incident_filter(viewer)
    general = "false" if viewer.is_crew else "l.incident_id IS NULL"
    return f"({general} OR (l.incident_id IS NOT NULL AND {condition}))", params
