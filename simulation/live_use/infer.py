"""Which initiating events an incident stands for: one rule per incident category, pure and table-driven.

The facts about the incident's surroundings (nearest pipe, the road arcs under it, the river level measured)
are gathered by :mod:`simulation.live_use.facts`; here they become events of :mod:`simulation.events`, with the
assumptions made said in French and English. The rules, in :data:`RULES`:

==========  ==================================================================================================
water       ``pipe_burst`` on the incident's pipe: the asset itself (a pipe), the pipe a sensor measures, the
            nearest pipe of the junction it names, else the nearest pipe within :data:`MAX_PIPE_M`; a pump asset
            gives ``pump_failure``. Not applicable without a water network or a pipe near enough.
traffic     ``road_closure`` of the drivable arcs at the incident's point (both directions of a two-way street),
            within :data:`MAX_ROAD_M`.
weather     with a river-level sensor: ``flood`` of a disc of :data:`FLOOD_RADIUS_M` around the incident; the
            depth in the streets is the level above the sensor's ``overflow_level_m`` attribute when it has one,
            else unknown (roads inside are then closed: the conservative reading). Rain, temperature: not
            applicable.
air         ``pollution_plume`` from the incident's place. The wind is not measured: with a prevailing wind
            configured, one plume downwind of it with the widest spread (:data:`UNKNOWN_WIND_SPREAD_DEG`);
            without, three plumes of 120° each, i.e. a full disc of :data:`PLUME_LENGTH_M` (everyone around is
            exposed, whichever way the wind blows).
lighting,   ``power_failure`` of a disc around the incident (the category's exposure radius,
energy      :data:`POWER_RADIUS_M`).
security,   not applicable: no network propagates them.
other
==========  ==================================================================================================

Examples
--------
>>> facts = IncidentFacts(1, 7, "traffic", 3.87, 43.61, road_edge_ids=(12, 13), road_distance_m=4.0)
>>> out = infer_events(facts)
>>> out.status, [e["type"] for e in out.events], out.events[0]["edge_ids"]
('pending', ['road_closure'], [12, 13])
>>> infer_events(IncidentFacts(2, 7, "security", 3.87, 43.61)).status
'not_applicable'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from simulation.events import event_json, parse_event

#: A water incident is a burst of the nearest pipe only within this distance (metres).
MAX_PIPE_M = 100.0
#: A traffic incident closes the arcs it stands on only within this distance (metres).
MAX_ROAD_M = 100.0
#: A river-level alert floods a disc of this radius around the incident (metres): a screening assumption,
#: without a terrain model; the operator refines it in a scenario.
FLOOD_RADIUS_M = 250.0
#: A pollution plume reaches this far (metres): the exposure radius of the air category.
PLUME_LENGTH_M = 1000.0
#: Spread of a plume downwind of the prevailing wind: the widest events allow, the wind of the moment being
#: unknown.
UNKNOWN_WIND_SPREAD_DEG = 60.0
#: Power failures: a disc of the category's exposure radius (metres).
POWER_RADIUS_M: dict[str, float] = {"lighting": 100.0, "energy": 200.0}
#: Polygons of discs: vertices (a 32-gon is within 0.5 % of the circle's area).
_DISC_VERTICES = 32
_METRES_PER_DEGREE = 111_320.0
_POLLUTANTS = {"no2": "NO2", "pm10": "PM10", "pm2_5": "PM2.5", "o3": "O3"}

Status = Literal["pending", "not_applicable"]


@dataclass(frozen=True)
class IncidentFacts:
    """An incident and what lies around it (metres, WGS84), as :mod:`simulation.live_use.facts` finds it."""

    incident_id: int
    territory_id: int
    category: str
    lon: float
    lat: float
    asset_layer: str | None = None
    asset_id: int | None = None
    has_water_network: bool = False
    has_roads: bool = True
    pipe: str | None = None  # name in the water network
    pipe_distance_m: float | None = None
    pipe_via: str | None = None  # asset, sensor, junction, nearest
    pump: str | None = None
    road_edge_ids: tuple[int, ...] = ()
    road_distance_m: float | None = None
    street: str | None = None
    sensor_kinds: tuple[str, ...] = ()  # kinds of the sensors whose detections made the incident
    river_level_m: float | None = None  # latest river level measured by one of them
    overflow_level_m: float | None = None  # that sensor's overflow level, when known
    prevailing_wind_from_deg: float | None = None

    def basis(self) -> dict[str, Any]:
        """What the inference depends on in the incident itself: a change of it means recomputing."""
        return {
            "category": self.category,
            "lon": round(self.lon, 7),
            "lat": round(self.lat, 7),
            "asset_layer": self.asset_layer,
            "asset_id": self.asset_id,
        }


@dataclass(frozen=True)
class Inference:
    """The events inferred (JSON of :mod:`simulation.events`), or why there are none."""

    status: Status
    events: tuple[dict[str, Any], ...] = ()
    reason: dict[str, str] | None = None
    assumptions: tuple[dict[str, str], ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "events": list(self.events),
            "reason": self.reason,
            "assumptions": list(self.assumptions),
        }


def _none(fr: str, en: str) -> Inference:
    return Inference("not_applicable", reason={"fr": fr, "en": en})


def _events(*objs: dict[str, Any], assumptions: tuple[dict[str, str], ...] = ()) -> Inference:
    # Through the events module both ways: what is stored is exactly what the API would accept.
    return Inference(
        "pending", tuple(event_json(parse_event(o, i)) for i, o in enumerate(objs)), None, assumptions
    )


def _water(f: IncidentFacts) -> Inference:
    if not f.has_water_network:
        return _none(
            "le territoire n'a pas de réseau d'eau : aucune coupure à propager",
            "the territory has no water network: no outage to propagate",
        )
    if f.pump is not None:
        return _events(
            {"type": "pump_failure", "pump": f.pump},
            assumptions=(
                {"fr": f"la pompe {f.pump} est supposée arrêtée", "en": f"pump {f.pump} assumed stopped"},
            ),
        )
    if f.pipe is None:
        return _none(
            f"aucune conduite à moins de {MAX_PIPE_M:g} m de l'incident",
            f"no pipe within {MAX_PIPE_M:g} m of the incident",
        )
    how = {
        "asset": ("la conduite désignée par l'incident", "the pipe the incident names"),
        "sensor": ("la conduite mesurée par le capteur", "the pipe its sensor measures"),
        "junction": ("une conduite du nœud désigné", "a pipe of the junction it names"),
    }.get(
        f.pipe_via or "", (f"la conduite la plus proche ({f.pipe_distance_m or 0:.0f} m)", "the nearest pipe")
    )
    return _events(
        {"type": "pipe_burst", "pipe": f.pipe},
        assumptions=(
            {
                "fr": f"casse supposée de {f.pipe}, {how[0]}",
                "en": f"burst of {f.pipe} assumed, {how[1]}",
            },
        ),
    )


def _traffic(f: IncidentFacts) -> Inference:
    if not f.has_roads or not f.road_edge_ids:
        return _none(
            f"aucune voie carrossable à moins de {MAX_ROAD_M:g} m de l'incident",
            f"no drivable road within {MAX_ROAD_M:g} m of the incident",
        )
    street = f.street or "voie sans nom"
    return _events(
        {"type": "road_closure", "edge_ids": list(f.road_edge_ids), "reason": f"incident {f.incident_id}"},
        assumptions=(
            {
                "fr": f"{street} supposée fermée dans les deux sens au droit de l'incident",
                "en": f"{f.street or 'unnamed road'} assumed closed both ways at the incident",
            },
        ),
    )


def _weather(f: IncidentFacts) -> Inference:
    if "river_level" not in f.sensor_kinds:
        return _none(
            "alerte météo sans mesure de cours d'eau : pas de zone inondée à propager",
            "weather alert without a river-level measurement: no flooded area to propagate",
        )
    depth = None
    if f.river_level_m is not None and f.overflow_level_m is not None:
        depth = round(max(0.0, f.river_level_m - f.overflow_level_m), 2)
    measured_fr = "" if f.river_level_m is None else f" (cote mesurée {f.river_level_m:g} m)"
    measured_en = "" if f.river_level_m is None else f" (level measured {f.river_level_m:g} m)"
    if depth is None:
        depth_fr = "hauteur d'eau dans les rues inconnue : voies fermées"
        depth_en = "depth in the streets unknown: roads closed"
    else:
        depth_fr = f"{depth:g} m d'eau au-dessus de la cote de débordement"
        depth_en = f"{depth:g} m of water above the overflow level"
    return _events(
        {"type": "flood", "area": disc(f.lon, f.lat, FLOOD_RADIUS_M), "water_level_m": depth},
        assumptions=(
            {
                "fr": f"zone inondée supposée : disque de {FLOOD_RADIUS_M:g} m autour de l'incident{measured_fr}, "
                f"{depth_fr}",
                "en": f"flooded area assumed: a {FLOOD_RADIUS_M:g} m disc around the incident{measured_en}, "
                f"{depth_en}",
            },
        ),
    )


def _air(f: IncidentFacts) -> Inference:
    pollutant = next((_POLLUTANTS[k] for k in f.sensor_kinds if k in _POLLUTANTS), "unknown")
    base = {
        "type": "pollution_plume",
        "source": [f.lon, f.lat],
        "wind_speed_m_s": 3.0,
        "length_m": PLUME_LENGTH_M,
        "pollutant": pollutant,
    }
    if f.prevailing_wind_from_deg is not None:
        wind = f.prevailing_wind_from_deg % 360.0
        return _events(
            {**base, "wind_from_deg": wind, "spread_deg": UNKNOWN_WIND_SPREAD_DEG},
            assumptions=(
                {
                    "fr": f"vent non mesuré : vent dominant du {wind:g}° supposé, panache de ±"
                    f"{UNKNOWN_WIND_SPREAD_DEG:g}° sur {PLUME_LENGTH_M:g} m, 3 m/s",
                    "en": f"wind not measured: prevailing wind from {wind:g}° assumed, ±"
                    f"{UNKNOWN_WIND_SPREAD_DEG:g}° plume over {PLUME_LENGTH_M:g} m, 3 m/s",
                },
            ),
        )
    # Three 120° sectors (±60° each) cover every direction: the whole disc is exposed.
    return _events(
        *({**base, "wind_from_deg": w, "spread_deg": 60.0} for w in (0.0, 120.0, 240.0)),
        assumptions=(
            {
                "fr": f"vent inconnu : tout le disque de {PLUME_LENGTH_M:g} m autour de la source est supposé "
                "exposé (trois secteurs de 120°)",
                "en": f"wind unknown: the whole {PLUME_LENGTH_M:g} m disc around the source is assumed exposed "
                "(three 120° sectors)",
            },
        ),
    )


def _power(f: IncidentFacts) -> Inference:
    radius = POWER_RADIUS_M.get(f.category, 100.0)
    return _events(
        {"type": "power_failure", "area": disc(f.lon, f.lat, radius), "feeder_ids": []},
        assumptions=(
            {
                "fr": f"coupure d'alimentation supposée dans un rayon de {radius:g} m autour de l'incident",
                "en": f"power cut assumed within {radius:g} m of the incident",
            },
        ),
    )


def _not_propagated(f: IncidentFacts) -> Inference:
    return _none(
        f"catégorie « {f.category} » : aucun réseau ne propage ses conséquences",
        f"category '{f.category}': no network propagates its consequences",
    )


RULES: dict[str, Callable[[IncidentFacts], Inference]] = {
    "water": _water,
    "traffic": _traffic,
    "weather": _weather,
    "air": _air,
    "lighting": _power,
    "energy": _power,
    "security": _not_propagated,
    "other": _not_propagated,
}


def infer_events(facts: IncidentFacts) -> Inference:
    """The initiating events ``facts`` stand for (status ``pending``: to compute), or why none (``not_applicable``)."""
    return RULES.get(facts.category, _not_propagated)(facts)


def disc(lon: float, lat: float, radius_m: float) -> dict[str, Any]:
    """A GeoJSON polygon approximating the circle of ``radius_m`` around (lon, lat) (local flat-earth maths,
    exact enough below a few kilometres).

    Examples
    --------
    >>> ring = disc(3.87, 43.61, 100.0)["coordinates"][0]
    >>> len(ring), ring[0] == ring[-1], round((ring[0][1] - 43.61) * 111_320)
    (33, True, 100)
    """
    dlat = radius_m / _METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    ring = [
        [
            round(lon + dlon * math.sin(2 * math.pi * k / _DISC_VERTICES), 7),
            round(lat + dlat * math.cos(2 * math.pi * k / _DISC_VERTICES), 7),
        ]
        for k in range(_DISC_VERTICES)
    ]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}
