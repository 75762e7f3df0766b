"""What propagation needs beyond the resident models, read from the database: crews, power links, water positions.

Each reader returns plain data; :func:`simulation.propagation.engine.consequence_report` takes it as keyword
arguments, so the engine itself stays a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from twin.db import connect

# A crew's reported position counts while it is this fresh (as in routing's dispatch); else its depot.
POSITION_FRESH_S = 1800


@dataclass(frozen=True)
class Crew:
    """A field crew that could be sent: where it is now and what it knows how to do."""

    id: int
    name: str
    lonlat: tuple[float, float]
    skills: tuple[str, ...] = ()
    available: bool = True  # False while it works on a started job


@dataclass(frozen=True)
class PowerLink:
    """A ``power_feed`` dependency: ``(dependent_layer, dependent_id)`` hangs from feeder ``feeder_id``."""

    feeder_id: int
    dependent_layer: str
    dependent_id: int
    dependent_name: str | None = None  # a pump's name in the water network


@dataclass(frozen=True)
class PropagationContext:
    """Positions of water nodes and links (lon, lat by name), and the power links, of one territory."""

    water_lonlat: dict[str, tuple[float, float]] = field(default_factory=dict)
    junction_lonlat: dict[str, tuple[float, float]] = field(default_factory=dict)
    pump_lonlat: dict[str, tuple[float, float]] = field(default_factory=dict)
    power_links: tuple[PowerLink, ...] = ()


_CREWS_SQL = """
SELECT c.id, c.name, c.skills, ST_X(c.home) AS home_lon, ST_Y(c.home) AS home_lat,
       ST_X(c.position) AS pos_lon, ST_Y(c.position) AS pos_lat, c.position_updated_at,
       EXISTS (SELECT 1 FROM dispatch.jobs j WHERE j.crew_id = c.id AND j.status = 'started') AS busy
  FROM dispatch.crews c
 WHERE c.territory_id = %(t)s AND c.active AND c.shift_start <= %(at)s AND c.shift_end > %(at)s
 ORDER BY c.id
"""
_WATER_SQL = """
SELECT 'junction' AS kind, name, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM twin.water_junctions
 WHERE territory_id = %(t)s
UNION ALL SELECT 'tank', name, ST_X(geom), ST_Y(geom) FROM twin.water_tanks WHERE territory_id = %(t)s
UNION ALL SELECT 'reservoir', name, ST_X(geom), ST_Y(geom) FROM twin.water_reservoirs WHERE territory_id = %(t)s
UNION ALL SELECT 'pipe', name, ST_X(ST_LineInterpolatePoint(geom, 0.5)), ST_Y(ST_LineInterpolatePoint(geom, 0.5))
  FROM twin.water_pipes WHERE territory_id = %(t)s
UNION ALL SELECT 'valve', name, ST_X(ST_LineInterpolatePoint(geom, 0.5)), ST_Y(ST_LineInterpolatePoint(geom, 0.5))
  FROM twin.water_valves WHERE territory_id = %(t)s
UNION ALL SELECT 'pump', name, ST_X(ST_LineInterpolatePoint(geom, 0.5)), ST_Y(ST_LineInterpolatePoint(geom, 0.5))
  FROM twin.water_pumps WHERE territory_id = %(t)s
"""
# An edited link wins over the derived one of the same dependent; an edited link without provider says "none".
_POWER_SQL = """
SELECT DISTINCT ON (l.dependent_layer, l.dependent_id)
       l.provider_id, l.dependent_layer, l.dependent_id, p.name AS pump_name
  FROM simulation.dependency_links l
  LEFT JOIN twin.water_pumps p ON l.dependent_layer = 'water_pumps' AND p.id = l.dependent_id
 WHERE l.territory_id = %(t)s AND l.kind = 'power_feed'
 ORDER BY l.dependent_layer, l.dependent_id, l.origin = 'edited' DESC
"""


def crews_from_twin(url: str, territory_id: int, *, at: datetime | None = None) -> list[Crew]:
    """Active crews on shift at ``at`` (now): fresh position or depot; busy when on a started job."""
    at = at or datetime.now(UTC)
    with connect(url) as conn:
        rows = conn.execute(_CREWS_SQL, {"t": territory_id, "at": at}).fetchall()
    crews = []
    for r in rows:
        fresh = (
            r["pos_lon"] is not None
            and r["position_updated_at"] is not None
            and 0 <= (at - r["position_updated_at"]).total_seconds() <= POSITION_FRESH_S
        )
        lonlat = (r["pos_lon"], r["pos_lat"]) if fresh else (r["home_lon"], r["home_lat"])
        crews.append(
            Crew(
                int(r["id"]),
                str(r["name"]),
                (float(lonlat[0]), float(lonlat[1])),
                tuple(r["skills"]),
                not r["busy"],
            )
        )
    return crews


def propagation_context_from_twin(url: str, territory_id: int) -> PropagationContext:
    """Water positions and power links of a territory (empty when it has none)."""
    with connect(url) as conn:
        water = conn.execute(_WATER_SQL, {"t": territory_id}).fetchall()
        power = conn.execute(_POWER_SQL, {"t": territory_id}).fetchall()
    lonlat = {str(r["name"]): (float(r["lon"]), float(r["lat"])) for r in water}
    return PropagationContext(
        water_lonlat=lonlat,
        junction_lonlat={str(r["name"]): lonlat[str(r["name"])] for r in water if r["kind"] == "junction"},
        pump_lonlat={str(r["name"]): lonlat[str(r["name"])] for r in water if r["kind"] == "pump"},
        power_links=tuple(
            PowerLink(
                int(r["provider_id"]), str(r["dependent_layer"]), int(r["dependent_id"]), r["pump_name"]
            )
            for r in power
            if r["provider_id"] is not None
        ),
    )
