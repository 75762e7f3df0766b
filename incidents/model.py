"""What an incident is: its categories, statuses and allowed transitions, who may see it, its errors.

The lifecycle is ``new → acknowledged → assigned → resolved``; ``new → assigned`` acknowledges implicitly;
``resolved`` is final. An incident of category ``water`` concerns the drinking-water network (critical
infrastructure, a ``restricted`` layer): only the roles that may see restricted layers see it.
"""

from __future__ import annotations

from typing import Literal

from detection.model import SEVERITIES
from twin.errors import HyperviseurError
from twin.security.permissions import may_see_layer

Category = Literal["water", "air", "traffic", "lighting", "energy", "weather", "security", "other"]
CATEGORIES: tuple[str, ...] = (
    "water",
    "air",
    "traffic",
    "lighting",
    "energy",
    "weather",
    "security",
    "other",
)
Severity = Literal["info", "warning", "alert", "critical"]
STATUSES = ("new", "acknowledged", "assigned", "resolved")
OPEN_STATUSES = ("new", "acknowledged", "assigned")
StatusFilter = Literal["open", "all", "new", "acknowledged", "assigned", "resolved"]

#: Which statuses each action may start from (resolved is final: nothing starts from it).
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "acknowledge": ("new",),
    "assign": ("new", "acknowledged", "assigned"),  # re-assigning an assigned incident is allowed
    "resolve": OPEN_STATUSES,
    "edit": OPEN_STATUSES,
}

#: The author of what correlation writes (incidents.created_by, log entries).
DETECTION_AUTHOR = "détection automatique"

#: H3 resolution of incidents and detections (≈0.1 km² cells, ≈175 m edge).
H3_RESOLUTION = 9
#: A detection joins an open incident of the same territory and category whose cell is this many H3 steps
#: away or less (1: the cell and its six neighbours, ≈500 m across)...
CORRELATION_RING = 1
#: ...and whose latest observed activity is within this window of the detection's start (observation time,
#: so that a replay of past data correlates like live data). Two hours: a leak or a pollution episode
#: shows on several sensors within the hour; a new episode the next morning is a new incident.
CORRELATION_WINDOW_S = 2 * 3600

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


class Conflict(HyperviseurError):
    """The incident is not in a status that allows this action (e.g. acknowledging a resolved incident)."""

    http_status = 409
    exit_code = 2


class Unprocessable(HyperviseurError):
    """Well-formed, but names a place or an asset the territory does not hold (e.g. lon/lat off it)."""

    http_status = 422
    exit_code = 2


def audience_of(category: str) -> str:
    """The layer visibility of an incident's category: who may see it and receive its live events.

    Examples
    --------
    >>> audience_of("water"), audience_of("air")
    ('restricted', 'internal')
    """
    return "restricted" if category == "water" else "internal"


def hidden_categories(role: str) -> list[str]:
    """Categories a role may not see (by the layer rule of their audience).

    Examples
    --------
    >>> hidden_categories("analyst"), hidden_categories("operator")
    (['water'], [])
    """
    return [c for c in CATEGORIES if not may_see_layer(role, audience_of(c))]


def stronger(severity: str, than: str) -> bool:
    """Whether ``severity`` is more severe than ``than``.

    Examples
    --------
    >>> stronger("critical", "alert"), stronger("info", "warning")
    (True, False)
    """
    return SEVERITY_RANK[severity] > SEVERITY_RANK[than]
