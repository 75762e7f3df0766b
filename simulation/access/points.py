"""Access points: where a building or critical site opens onto the road graph, and how reasons name it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from routing.resident import ProfileState, TerritoryGraph
from routing.snapping import Snap
from simulation.dependencies import DependencyModel
from twin.errors import InvalidInput

_TWIN_LENGTH_TOLERANCE_M = 0.5

KIND_LABELS: dict[str, tuple[str, str]] = {
    "hospital": ("Hôpital", "Hospital"),
    "clinic": ("Clinique", "Clinic"),
    "school": ("École", "School"),
    "kindergarten": ("Crèche", "Kindergarten"),
    "nursing_home": ("EHPAD", "Nursing home"),
    "fire_station": ("Centre de secours", "Fire station"),
    "police": ("Police", "Police"),
    "town_hall": ("Mairie", "Town hall"),
    "water_works": ("Ouvrage d'eau potable", "Water works"),
    "pharmacy": ("Pharmacie", "Pharmacy"),
    "shelter": ("Hébergement d'urgence", "Shelter"),
    "power_substation": ("Poste électrique", "Power substation"),
}
AccessCause = Literal["isolated", "degraded"]


@dataclass(frozen=True)
class AccessPoint:
    """Something reached by road: where it opens onto the graph (``traversals`` as routing's ``Snap``)."""

    layer: str
    id: int
    name: str | None
    kind: str | None
    residents: int
    lonlat: tuple[float, float]
    traversals: tuple[tuple[int, bool, float], ...]  # (stored arc, against, fraction in travel direction)

    def label(self) -> dict[str, str]:
        """How reasons name it, e.g. ``École de la Condamine`` or ``Hôpital n° 12``.

        Examples
        --------
        >>> AccessPoint("critical_sites", 12, None, "hospital", 0, (7.4, 43.7), ()).label()
        {'fr': 'Hôpital n° 12', 'en': 'Hospital #12'}
        """
        if self.name:
            return {"fr": self.name, "en": self.name}
        fr, en = KIND_LABELS.get(
            self.kind or "", ("Bâtiment", "Building") if self.layer == "buildings" else ("Site", "Site")
        )
        return {"fr": f"{fr} n° {self.id}", "en": f"{en} #{self.id}"}


def access_point_from_link(
    state: ProfileState,
    *,
    layer: str,
    id: int,
    name: str | None = None,
    kind: str | None = None,
    residents: int = 0,
    lonlat: tuple[float, float] | None = None,
    edge_id: int,
    position: float,
) -> AccessPoint:
    """The point at ``position`` (fraction, stored direction) along road arc ``edge_id``, both ways if two-way.

    The twin arc of a two-way street (same nodes reversed, same length) is added, as the snapper would.

    Raises
    ------
    InvalidInput
        ``edge_id`` is not a road arc of the territory, or ``profile`` may not travel it.
    """
    network, graph = state.graph.network, state.graph
    arcs = network.arcs_of_edge_ids(np.array([edge_id], dtype=np.int64))
    if not len(arcs):
        raise InvalidInput(
            f"{layer} {id}: road arc {edge_id} is not an arc of {network.name!r} / "
            f"l'arc routier {edge_id} n'existe pas dans {network.name!r}"
        )
    if not 0.0 <= position <= 1.0 or not math.isfinite(position):
        raise InvalidInput(f"{layer} {id}: position {position} along arc {edge_id} is not between 0 and 1")
    arc = int(arcs[0])
    twins = np.flatnonzero(
        (network.tail == network.head[arc])
        & (network.head == network.tail[arc])
        & (np.abs(network.length_m - network.length_m[arc]) <= _TWIN_LENGTH_TOLERANCE_M)
    )
    candidates = [(arc, False, position), (arc, True, 1.0 - position)]
    for twin in twins.tolist():
        candidates += [(twin, False, 1.0 - position), (twin, True, position)]
    has = np.zeros(2 * network.n_arcs, dtype=bool)
    has[2 * graph.edge.astype(np.int64) + graph.against] = True
    traversals = tuple((e, a, float(f)) for e, a, f in candidates if has[2 * e + int(a)])
    if not traversals:
        raise InvalidInput(
            f"{layer} {id}: road arc {edge_id} is not usable by the '{graph.profile.name}' profile; "
            "link it to a street that vehicle may use"
        )
    if lonlat is None:  # the access point itself
        spot = network.geometry[arc].interpolate(position, normalized=True)
        lonlat = (float(spot.x), float(spot.y))
    return AccessPoint(layer, int(id), name, kind, int(residents), lonlat, traversals)


def access_point_from_snap(
    snap: Snap, *, layer: str, id: int, name: str | None = None, kind: str | None = None, residents: int = 0
) -> AccessPoint:
    """The point routing snapped (``routing.engine.snap_point``): same anchors as a route to or from it."""
    return AccessPoint(layer, int(id), name, kind, int(residents), (snap.lon, snap.lat), snap.traversals)


def access_points_from_dependencies(
    graph: TerritoryGraph, model: DependencyModel, *, profile: str = "emergency", buildings: bool = True
) -> list[AccessPoint]:
    """Critical sites (and buildings) with a road-access link, as access points of ``profile``."""
    if model.territory_id != graph.territory_id:
        raise InvalidInput(
            f"dependency model of {model.territory!r} does not match graph {graph.network.name!r}"
        )
    state = graph.state(profile)
    points: list[AccessPoint] = []
    for layer in ("critical_sites", "buildings") if buildings else ("critical_sites",):
        links, assets = model.link_set("road_access", layer), model.assets.get(layer)
        if links is None or assets is None:
            continue
        for i in range(len(links)):
            k = assets.index_of(int(links.dependent_ids[i]))
            points.append(
                access_point_from_link(
                    state,
                    layer=layer,
                    id=int(assets.ids[k]),
                    name=assets.names[k],
                    kind=assets.kinds[k],
                    residents=int(assets.residents[k]),
                    lonlat=(float(assets.lonlat[k, 0]), float(assets.lonlat[k, 1])),
                    edge_id=int(links.provider_ids[i]),
                    position=float(np.nan_to_num(links.position[i], nan=0.5)),
                )
            )
    return points
