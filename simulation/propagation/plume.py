"""Pollution plumes as a screening cone: a circular sector downwind of the source, reached at wind speed.

No dispersion model (no Gaussian plume, no stability class, no terrain): the sector is ``length_m`` long,
``spread_deg`` either side of the downwind bearing, and a point at distance d is reached d / wind speed after
the release. It answers "who may be in it, and from when" to decide confinement, not concentrations.
Calm wind (below :data:`CALM_WIND_M_S`) still uses the given direction and that minimum speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from simulation.dependencies import DependencyModel
from simulation.events import PollutionPlumeEvent
from simulation.propagation.collect import VULNERABLE_KINDS, Collector, label_of

CALM_WIND_M_S = 0.5
_ARC_STEPS = 24


@dataclass(frozen=True)
class Plume:
    """The cone of one release (WGS84 polygon) and the sites and buildings inside."""

    event_index: int
    polygon: BaseGeometry
    bearing_deg: float
    sites: tuple[int, ...]
    buildings: int
    residents: int

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event_index,
            "area": shapely.geometry.mapping(self.polygon),
            "downwind_bearing_deg": self.bearing_deg,
            "sites_in_plume": list(self.sites),
            "buildings_in_plume": self.buildings,
            "residents_in_plume": self.residents,
            "model": {
                "fr": "cône de dépistage (pas de modèle de dispersion) : arrivée = distance / vitesse du vent",
                "en": "screening cone (no dispersion model): arrival = distance / wind speed",
            },
        }


def _local(source: tuple[float, float]) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    """To and from metres on an azimuthal equidistant plane centred on the source (distances exact from it)."""
    aeqd = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={source[1]} +lon_0={source[0]} +datum=WGS84 +units=m")
    return (
        pyproj.Transformer.from_crs(4326, aeqd, always_xy=True),
        pyproj.Transformer.from_crs(aeqd, 4326, always_xy=True),
    )


def plume_polygon(event: PollutionPlumeEvent) -> BaseGeometry:
    """The sector (WGS84) downwind of the source.

    Examples
    --------
    >>> from simulation.events import PollutionPlumeEvent
    >>> cone = plume_polygon(PollutionPlumeEvent((3.88, 43.61), wind_from_deg=270, length_m=1000, spread_deg=15))
    >>> round(cone.bounds[2] - 3.88, 4)  # reaches ≈1 km east (a west wind blows eastwards)
    0.0124
    """
    _, back = _local(event.source)
    bearing = (event.wind_from_deg + 180.0) % 360.0
    angles = np.radians(np.linspace(bearing - event.spread_deg, bearing + event.spread_deg, _ARC_STEPS + 1))
    x = np.concatenate([[0.0], event.length_m * np.sin(angles), [0.0]])
    y = np.concatenate([[0.0], event.length_m * np.cos(angles), [0.0]])
    lon, lat = back.transform(x, y)
    return shapely.Polygon(np.column_stack([lon, lat]))


def collect_plume(
    collected: Collector,
    index: int,
    event: PollutionPlumeEvent,
    dependencies: DependencyModel | None,
    points: list[tuple[str, int, str | None, str | None, int, float, float]],
    *,
    clock: Callable[[float], str],
) -> Plume:
    """Buildings and critical sites inside the cone, each from its arrival time; ``points`` is the fallback
    when there is no dependency model (access points: layer, id, name, kind, residents, lon, lat)."""
    polygon = plume_polygon(event)
    to_m, _ = _local(event.source)
    speed = max(event.wind_speed_m_s, CALM_WIND_M_S)
    rows = points
    if dependencies is not None:
        rows = [
            (
                layer,
                int(a.ids[k]),
                a.names[k],
                a.kinds[k],
                int(a.residents[k]),
                float(a.lonlat[k, 0]),
                float(a.lonlat[k, 1]),
            )
            for layer in ("critical_sites", "buildings")
            if (a := dependencies.assets.get(layer)) is not None
            for k in range(len(a))
        ]
    sites: list[int] = []
    n_buildings = residents = 0
    if rows:
        xy = np.array([(r[5], r[6]) for r in rows], dtype=float)
        inside = np.flatnonzero(shapely.contains_xy(polygon, xy[:, 0], xy[:, 1]))
        mx, my = to_m.transform(xy[inside, 0], xy[inside, 1])
        distance_m = np.hypot(mx, my)
        for k, d in zip(inside.tolist(), np.atleast_1d(distance_m).tolist(), strict=True):
            layer, asset_id, name, kind, people, lon, lat = rows[k]
            since = event.at_s + d / speed
            label = label_of(layer, asset_id, name, kind)
            confine = kind in VULNERABLE_KINDS or layer == "buildings"
            reason = {
                "fr": f"{label['fr']} : dans le panache de {event.pollutant} à {d:.0f} m de la source, atteint vers "
                f"{clock(since)}" + (" — confinement" if confine else ""),
                "en": f"{label['en']}: in the {event.pollutant} plume {d:.0f} m from the source, reached around "
                f"{clock(since)}" + (" — shelter in place" if confine else ""),
            }
            collected.add(
                layer, asset_id, name, kind, people, "in_plume", reason, since_s=since, lonlat=(lon, lat)
            )
            if layer == "critical_sites":
                sites.append(asset_id)
            else:
                n_buildings += 1
                residents += people
    bearing = (event.wind_from_deg + 180.0) % 360.0
    return Plume(index, polygon, bearing, tuple(sites), n_buildings, residents)


def plume_length_for(minutes: float, wind_speed_m_s: float) -> float:
    """How far the wind carries a release in ``minutes`` (m): a helper for choosing ``length_m``.

    Examples
    --------
    >>> plume_length_for(10, 3.0)
    1800.0
    """
    return float(minutes * 60.0 * max(wind_speed_m_s, CALM_WIND_M_S)) if math.isfinite(minutes) else 0.0
