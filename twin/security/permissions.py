"""The permission matrix: one place that says which role may use which endpoint group and see which layer.

``docs/security.md`` shows the same matrix; ``tests/security/test_route_walk.py`` checks every route of the
OpenAPI document against it.
"""

from __future__ import annotations

from enum import StrEnum

from twin.security.roles import Role

ALL_ROLES = frozenset(Role)
SIGNED_IN = frozenset(Role) - {Role.ANONYMOUS}


class Group(StrEnum):
    """Endpoint groups; each route belongs to exactly one."""

    PUBLIC = "public"  # health, OGC landing/conformance/collections (layer rules apply), territories
    SESSION = "session"  # sign-in, sign-out, own account, TOTP enrolment
    ACCOUNTS = "accounts"  # account administration
    AUDIT = "audit"  # audit trail reading and verification
    ROUTING = "routing"  # routes, matrices, isochrones, closest facilities, listing closures
    CLOSURES = "closures"  # creating and lifting live road closures and slowdowns
    DISPATCH = "dispatch"  # crews, jobs, plans and re-plans (routing/dispatch_routes.py)
    CREW = "crew"  # a crew's own jobs, route and status buttons (GET /api/dispatch/my-jobs…)
    INGEST = "ingest"  # pushing sensor readings in batches (POST /api/sensing/readings)
    SENSING = (
        "sensing"  # reading sensors, readings, detections, data quality, SensorThings (layer rules apply)
    )
    SENSING_ADMIN = "sensing_admin"  # thresholds, learning profiles, retention
    INCIDENTS = "incidents"  # reading incidents and the main courante
    INCIDENT_HANDLING = "incident_handling"  # declaring, acknowledging, assigning, resolving, log entries
    LIVE = "live"  # the WebSocket/SSE stream of incidents, detections and sensor updates (layer rules apply)
    SIMULATION = "simulation"  # reading dependency links, consequence reports, scenarios and their results
    SCENARIOS = "scenarios"  # creating, editing, running and deleting what-if scenarios; ad hoc reports
    DEPENDENCY_EDITING = "dependency_editing"  # correcting dependency links, power feeders, re-deriving


ENDPOINT_GROUPS: dict[Group, frozenset[Role]] = {
    Group.PUBLIC: ALL_ROLES,
    Group.SESSION: ALL_ROLES,  # each route checks for itself whether it needs a session
    Group.ACCOUNTS: frozenset({Role.ADMIN}),
    Group.AUDIT: frozenset({Role.ADMIN}),
    Group.ROUTING: SIGNED_IN,
    # Live closures change every route in the territory: the control room decides them. Planners try theirs
    # in what-if scenarios, never on the live graph.
    Group.CLOSURES: frozenset({Role.ADMIN, Role.OPERATOR}),
    Group.DISPATCH: frozenset({Role.ADMIN, Role.OPERATOR, Role.PLANNER}),
    Group.CREW: frozenset({Role.CREW, Role.ADMIN, Role.OPERATOR}),
    # Readings feed detection and incidents: only the control room (and gateways signed in as operators).
    Group.INGEST: frozenset({Role.ADMIN, Role.OPERATOR}),
    Group.SENSING: SIGNED_IN,
    Group.SENSING_ADMIN: frozenset({Role.ADMIN, Role.OPERATOR}),
    # Crews see the incidents they are sent to on their page; analysts and planners read them for reports.
    Group.INCIDENTS: SIGNED_IN,
    # The control room handles incidents.
    Group.INCIDENT_HANDLING: frozenset({Role.ADMIN, Role.OPERATOR}),
    Group.LIVE: SIGNED_IN,
    # Reports name restricted assets (water network) only to the roles that may see that layer.
    Group.SIMULATION: SIGNED_IN,
    # Planners try their what-ifs; the control room too (never on the live state, which scenarios fork).
    Group.SCENARIOS: frozenset({Role.ADMIN, Role.OPERATOR, Role.PLANNER}),
    # The dependency model is network data: those who edit the twin's networks correct it.
    Group.DEPENDENCY_EDITING: frozenset({Role.ADMIN, Role.GIS_EDITOR, Role.PLANNER}),
}

# Layer visibility from the catalog (twin.layer_catalog.visibility).
LAYER_VISIBILITY: dict[str, frozenset[Role]] = {
    "public": ALL_ROLES,
    "internal": SIGNED_IN,
    # Critical infrastructure (water network) and personal data.
    "restricted": frozenset({Role.ADMIN, Role.OPERATOR, Role.PLANNER, Role.GIS_EDITOR}),
}


def may_use(role: Role, group: Group) -> bool:
    """Whether ``role`` may call the routes of ``group``.

    Examples
    --------
    >>> may_use(Role.ANALYST, Group.AUDIT)
    False
    """
    return role in ENDPOINT_GROUPS[group]


def may_see_layer(role: Role | str, visibility: str) -> bool:
    """Whether ``role`` may see a layer of this visibility (unknown visibility or role: no).

    Examples
    --------
    >>> may_see_layer(Role.ANONYMOUS, "internal"), may_see_layer(Role.PLANNER, "restricted")
    (False, True)
    """
    try:
        role = Role(role)
    except ValueError:
        return False
    return role in LAYER_VISIBILITY.get(visibility, frozenset())
