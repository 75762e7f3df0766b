"""The dependency model in memory: typed links dependent → provider as numpy arrays, and edits laid over them.

A link says that a *dependent* asset needs a *provider* asset. Each link has a type, a distance (metres, in the
territory's projected CRS), a position along the provider when it is a road arc (the fraction of its length,
in the arc's stored direction) and an origin: ``derived`` (computed from geometry) or ``edited`` (stated in
the twin, as ``twin.sensors.asset_layer`` / ``asset_id``, or corrected by a person). An edit may also say that
a dependent has *no* such provider (a building served by a private well): it then has no link of that kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from twin.errors import InvalidInput, NotFound

LinkKind = Literal["road_access", "water_service", "street_light_road", "power_feed", "sensor_asset"]
LINK_KINDS: tuple[str, ...] = (
    "road_access",
    "water_service",
    "street_light_road",
    "power_feed",
    "sensor_asset",
)
LINK_TITLES: dict[str, dict[str, str]] = {
    "road_access": {"fr": "accès routier", "en": "road access"},
    "water_service": {"fr": "branchement d'eau", "en": "water service connection"},
    "street_light_road": {"fr": "voie éclairée", "en": "road lit"},
    "power_feed": {"fr": "alimentation électrique", "en": "power feed"},
    "sensor_asset": {"fr": "équipement mesuré", "en": "asset measured"},
}

# Candidates fetched by the KNN in degrees before the metric re-ranking: a degree of longitude is shorter than
# one of latitude away from the equator, so the nearest in degrees is not always the nearest in metres.
KNN_CANDIDATES = 8
DEFAULT_MAX_ACCESS_M = 150.0
# Water demand is allocated to the nearest junction (EPANET's convention); junctions sit at pipe ends, so a
# building may be a long block away from one.
DEFAULT_MAX_SERVICE_M = 250.0
DEFAULT_MAX_LIGHT_M = 50.0
DEFAULT_MAX_SENSOR_M = 100.0
# A lighting cabinet feeds circuits of a few hundred metres; a pump hangs from a substation farther away.
DEFAULT_MAX_FEED_M = 500.0
DEFAULT_MAX_PUMP_FEED_M = 2000.0

# The layer a sensor of each kind measures when it names none (environmental kinds measure no asset).
SENSOR_KIND_LAYER: dict[str, str] = {
    "water_flow": "water_pipes",
    "water_pressure": "water_junctions",
    "tank_level": "water_tanks",
    "traffic_count": "road_edges",
    "traffic_speed": "road_edges",
    "light_state": "street_lights",
    "light_power": "street_lights",
    "building_energy": "buildings",
}
# Kinds added later fall back on their category (sensing.kinds.category).
SENSOR_CATEGORY_LAYER: dict[str, str] = {
    "water": "water_junctions",
    "traffic": "road_edges",
    "lighting": "street_lights",
    "energy": "buildings",
}
# Twin tables a link may point at (identifiers are never taken from input).
ASSET_TABLES: tuple[str, ...] = (
    "road_edges",
    "buildings",
    "critical_sites",
    "street_lights",
    "water_junctions",
    "water_tanks",
    "water_reservoirs",
    "water_pipes",
    "water_pumps",
    "water_valves",
)
FEEDER_LAYER = "power_feeders"  # simulation.power_feeders
# Which dependents each kind links, and to which provider layers.
DEPENDENT_LAYERS: dict[str, tuple[str, ...]] = {
    "road_access": ("buildings", "critical_sites"),
    "water_service": ("buildings",),
    "street_light_road": ("street_lights",),
    "power_feed": ("street_lights", "water_pumps"),
    "sensor_asset": ("sensors",),
}
PROVIDER_LAYERS: dict[str, tuple[str, ...]] = {
    "road_access": ("road_edges",),
    "water_service": ("water_junctions",),
    "street_light_road": ("road_edges",),
    "power_feed": (FEEDER_LAYER,),
    "sensor_asset": ASSET_TABLES,
}
DEFAULT_MAX_M: dict[tuple[str, str], float] = {
    ("road_access", "buildings"): DEFAULT_MAX_ACCESS_M,
    ("road_access", "critical_sites"): DEFAULT_MAX_ACCESS_M,
    ("water_service", "buildings"): DEFAULT_MAX_SERVICE_M,
    ("street_light_road", "street_lights"): DEFAULT_MAX_LIGHT_M,
    ("power_feed", "street_lights"): DEFAULT_MAX_FEED_M,
    ("power_feed", "water_pumps"): DEFAULT_MAX_PUMP_FEED_M,
    ("sensor_asset", "sensors"): DEFAULT_MAX_SENSOR_M,
}


def sensor_layer(kind: str, category: str | None) -> str | None:
    """The layer a sensor of ``kind`` measures when it names none (None: it measures no asset).

    Examples
    --------
    >>> sensor_layer("water_pressure", "water"), sensor_layer("no2", "air"), sensor_layer("flow_x", "water")
    ('water_junctions', None, 'water_junctions')
    """
    return SENSOR_KIND_LAYER.get(kind) or SENSOR_CATEGORY_LAYER.get(category or "")


@dataclass(frozen=True)
class Assets:
    """The dependents of one layer as read with their links: ids, names, kinds, residents, a point each.

    ``kinds`` is the building use, the critical-site kind, the sensor kind, the lamp type or the pump type;
    ``lonlat`` a point on the asset (WGS84).
    """

    layer: str
    ids: np.ndarray  # int64, sorted
    names: tuple[str | None, ...]
    kinds: tuple[str | None, ...]
    residents: np.ndarray  # int64, 0 where unknown or not a dwelling
    lonlat: np.ndarray  # (n, 2) float64

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, asset_id: int) -> int:
        """Position of ``asset_id`` in the arrays (NotFound if absent)."""
        pos = int(np.searchsorted(self.ids, asset_id))
        if pos >= len(self.ids) or self.ids[pos] != asset_id:
            raise NotFound(
                f"no {self.layer} feature with id {asset_id} / aucun objet {self.layer} d'id {asset_id}"
            )
        return pos


@dataclass(frozen=True)
class LinkSet:
    """Links of one type from one dependent layer to one provider layer, as parallel arrays.

    ``unlinked_ids`` are the dependents with no provider within the distance (no link, not a guess);
    ``no_provider_ids`` those a person said have no such provider (no link either, on purpose).
    """

    kind: str
    dependent_layer: str
    provider_layer: str
    dependent_ids: np.ndarray  # int64
    provider_ids: np.ndarray  # int64
    distance_m: np.ndarray  # float64, nan when the stated provider has no geometry we can measure
    position: np.ndarray  # float64 fraction along a road arc, nan for other providers
    edited: np.ndarray  # bool: True = stated or edited, False = derived
    max_distance_m: float
    unlinked_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    provider_names: tuple[str, ...] | None = None  # water junction names (the key the water network uses)
    no_provider_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.dependent_ids)

    def origin(self, i: int) -> str:
        return "edited" if self.edited[i] else "derived"

    def provider_of(self, dependent_id: int) -> int | None:
        """Row of ``dependent_id``'s link, or None if it has none."""
        hits = np.flatnonzero(self.dependent_ids == dependent_id)
        return int(hits[0]) if len(hits) else None

    def record(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a JSON-ready dict."""
        row: dict[str, Any] = {
            "kind": self.kind,
            "dependent": {"layer": self.dependent_layer, "id": int(self.dependent_ids[i])},
            "provider": {"layer": self.provider_layer, "id": int(self.provider_ids[i])},
            "distance_m": None if np.isnan(self.distance_m[i]) else round(float(self.distance_m[i]), 2),
            "origin": self.origin(i),
        }
        if not np.isnan(self.position[i]):
            row["position"] = round(float(self.position[i]), 6)
        if self.provider_names is not None:
            row["provider"]["name"] = self.provider_names[i]
        return row

    def links(self) -> set[tuple[str, str, int, str, int, str]]:
        """Every link as ``(kind, dependent_layer, dependent_id, provider_layer, provider_id, origin)``."""
        return {
            (self.kind, self.dependent_layer, int(d), self.provider_layer, int(p), self.origin(i))
            for i, (d, p) in enumerate(
                zip(self.dependent_ids.tolist(), self.provider_ids.tolist(), strict=True)
            )
        }


@dataclass(frozen=True)
class Edit:
    """One edited link: ``provider_id`` None says "this dependent has no such provider"."""

    kind: str
    dependent_layer: str
    dependent_id: int
    provider_layer: str
    provider_id: int | None
    distance_m: float | None = None
    position: float | None = None
    provider_name: str | None = None  # a water junction's name


@dataclass(frozen=True)
class DependencyModel:
    """The dependency links of one territory, with the dependents' identities (names, kinds, residents)."""

    territory_id: int
    territory: str
    crs_epsg: int
    assets: dict[str, Assets]
    link_sets: tuple[LinkSet, ...]

    def links(self, kind: str, *, dependent_layer: str | None = None) -> list[LinkSet]:
        """The link sets of ``kind`` (optionally from one dependent layer only)."""
        if kind not in LINK_KINDS:
            raise InvalidInput(f"link kind {kind!r} is not one of {', '.join(LINK_KINDS)}")
        return [
            s
            for s in self.link_sets
            if s.kind == kind and (dependent_layer is None or s.dependent_layer == dependent_layer)
        ]

    def link_set(self, kind: str, dependent_layer: str) -> LinkSet | None:
        """The first link set of ``kind`` from ``dependent_layer`` (None if that type was not derived)."""
        found = self.links(kind, dependent_layer=dependent_layer)
        return found[0] if found else None

    def providers_of(self, layer: str, asset_id: int) -> list[dict[str, Any]]:
        """Every link whose dependent is ``(layer, asset_id)``, and its "no provider" statements."""
        out = []
        for s in self.link_sets:
            if s.dependent_layer != layer:
                continue
            out += [s.record(int(i)) for i in np.flatnonzero(s.dependent_ids == asset_id)]
            if asset_id in s.no_provider_ids:
                out.append(
                    {
                        "kind": s.kind,
                        "dependent": {"layer": layer, "id": int(asset_id)},
                        "provider": None,
                        "distance_m": None,
                        "origin": "edited",
                    }
                )
        return out

    def dependents_of(self, layer: str, asset_id: int) -> list[dict[str, Any]]:
        """Every link whose provider is ``(layer, asset_id)``: what fails when it fails."""
        return [
            s.record(int(i))
            for s in self.link_sets
            if s.provider_layer == layer
            for i in np.flatnonzero(s.provider_ids == asset_id)
        ]

    def all_links(self) -> set[tuple[str, str, int, str, int, str]]:
        """Every link of every set (see :meth:`LinkSet.links`): two models with equal sets link alike."""
        return set().union(*(s.links() for s in self.link_sets)) if self.link_sets else set()

    def with_edited_link(
        self,
        kind: str,
        dependent_layer: str,
        dependent_id: int,
        provider_id: int | None,
        *,
        position: float | None = None,
        distance_m: float | None = None,
        provider_layer: str | None = None,
    ) -> DependencyModel:
        """A copy where ``dependent_id``'s link of ``kind`` points at ``provider_id`` (origin ``edited``).

        ``provider_id`` None: the dependent has no such provider. The provider layer defaults to that of the
        kind (a road arc for ``road_access``). No check of the provider against the database is made here:
        callers resolve it (``AccessModel`` rejects unknown arcs).
        """
        if dependent_layer in self.assets:
            self.assets[dependent_layer].index_of(dependent_id)
        if position is not None and not 0.0 <= position <= 1.0:
            raise InvalidInput(f"position {position} is not a fraction of the arc's length between 0 and 1")
        layer = provider_layer or _default_provider_layer(kind, self, dependent_layer)
        edit = Edit(kind, dependent_layer, int(dependent_id), layer, provider_id, distance_m, position)
        return apply_edits(self, [edit])

    def summary(self) -> dict[str, Any]:
        """Counts per link set, JSON-ready (the figures docs and reports quote)."""
        return {
            "territory": self.territory,
            "link_sets": [
                {
                    "kind": s.kind,
                    "title": LINK_TITLES[s.kind],
                    "dependent_layer": s.dependent_layer,
                    "provider_layer": s.provider_layer,
                    "links": len(s),
                    "edited": int(s.edited.sum()),
                    "unlinked": len(s.unlinked_ids),
                    "no_provider": len(s.no_provider_ids),
                    "max_distance_m": s.max_distance_m,
                    "median_distance_m": None
                    if not np.isfinite(s.distance_m).any()
                    else round(float(np.nanmedian(s.distance_m)), 2),
                }
                for s in self.link_sets
            ],
        }


def check_link_layers(kind: str, dependent_layer: str, provider_layer: str | None = None) -> None:
    """Refuse a kind, dependent layer or provider layer that do not go together (InvalidInput naming it)."""
    if kind not in LINK_KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(LINK_KINDS)} / type de lien inconnu")
    if dependent_layer not in DEPENDENT_LAYERS[kind]:
        raise InvalidInput(
            f"dependent_layer {dependent_layer!r} cannot have a {kind} link: send one of "
            f"{', '.join(DEPENDENT_LAYERS[kind])} / couche dépendante impossible pour ce type de lien"
        )
    if provider_layer is not None and provider_layer not in PROVIDER_LAYERS[kind]:
        raise InvalidInput(
            f"provider_layer {provider_layer!r} cannot provide a {kind} link: send one of "
            f"{', '.join(PROVIDER_LAYERS[kind])} / couche fournisseuse impossible pour ce type de lien"
        )


def _default_provider_layer(kind: str, model: DependencyModel, dependent_layer: str) -> str:
    check_link_layers(kind, dependent_layer)
    existing = model.link_set(kind, dependent_layer)
    return existing.provider_layer if existing is not None else PROVIDER_LAYERS[kind][0]


def _empty_set(kind: str, dependent_layer: str, provider_layer: str) -> LinkSet:
    return LinkSet(
        kind=kind,
        dependent_layer=dependent_layer,
        provider_layer=provider_layer,
        dependent_ids=np.zeros(0, dtype=np.int64),
        provider_ids=np.zeros(0, dtype=np.int64),
        distance_m=np.zeros(0, dtype=np.float64),
        position=np.zeros(0, dtype=np.float64),
        edited=np.zeros(0, dtype=bool),
        max_distance_m=DEFAULT_MAX_M.get((kind, dependent_layer), DEFAULT_MAX_SENSOR_M),
        provider_names=() if provider_layer == "water_junctions" else None,
    )


def apply_edits(model: DependencyModel, edits: Iterable[Edit]) -> DependencyModel:
    """``model`` with the edited links laid over it: each edit replaces its dependent's link of its kind.

    Edits whose dependent is not an asset of the model (a feature deleted since) are left out. Vectorised per
    link set: a few thousand edits over a city's links cost milliseconds.
    """
    by_group: dict[tuple[str, str], list[Edit]] = {}
    for e in edits:
        assets = model.assets.get(e.dependent_layer)
        if assets is not None and not _has(assets.ids, e.dependent_id):
            continue
        by_group.setdefault((e.kind, e.dependent_layer), []).append(e)
    if not by_group:
        return model
    sets = list(model.link_sets)
    for (kind, dependent_layer), group in by_group.items():
        edited_ids = np.array(sorted({e.dependent_id for e in group}), dtype=np.int64)
        for k, s in enumerate(sets):
            if s.kind == kind and s.dependent_layer == dependent_layer:
                sets[k] = _without(s, edited_ids)
        by_provider: dict[str, list[Edit]] = {}
        for e in group:
            by_provider.setdefault(e.provider_layer, []).append(e)
        for layer, mine in by_provider.items():
            found = [
                k
                for k, s in enumerate(sets)
                if s.kind == kind and s.dependent_layer == dependent_layer and s.provider_layer == layer
            ]
            if not found:
                sets.append(_empty_set(kind, dependent_layer, layer))
                found = [len(sets) - 1]
            sets[found[0]] = _with(sets[found[0]], mine)
    return dataclasses.replace(model, link_sets=tuple(sets))


def _has(sorted_ids: np.ndarray, value: int) -> bool:
    pos = int(np.searchsorted(sorted_ids, value))
    return pos < len(sorted_ids) and int(sorted_ids[pos]) == value


def _without(s: LinkSet, ids: np.ndarray) -> LinkSet:
    keep = ~np.isin(s.dependent_ids, ids)
    names = s.provider_names
    return dataclasses.replace(
        s,
        dependent_ids=s.dependent_ids[keep],
        provider_ids=s.provider_ids[keep],
        distance_m=s.distance_m[keep],
        position=s.position[keep],
        edited=s.edited[keep],
        unlinked_ids=s.unlinked_ids[~np.isin(s.unlinked_ids, ids)],
        no_provider_ids=s.no_provider_ids[~np.isin(s.no_provider_ids, ids)],
        provider_names=None if names is None else tuple(n for n, k in zip(names, keep, strict=True) if k),
    )


def _with(s: LinkSet, edits: list[Edit]) -> LinkSet:
    none = [e.dependent_id for e in edits if e.provider_id is None]
    linked = [e for e in edits if e.provider_id is not None]
    names = s.provider_names
    return dataclasses.replace(
        s,
        dependent_ids=np.append(s.dependent_ids, np.array([e.dependent_id for e in linked], dtype=np.int64)),
        provider_ids=np.append(s.provider_ids, np.array([e.provider_id for e in linked], dtype=np.int64)),
        distance_m=np.append(
            s.distance_m, [np.nan if e.distance_m is None else e.distance_m for e in linked]
        ),
        position=np.append(s.position, [np.nan if e.position is None else e.position for e in linked]),
        edited=np.append(s.edited, np.ones(len(linked), dtype=bool)),
        no_provider_ids=np.append(s.no_provider_ids, np.array(none, dtype=np.int64)),
        provider_names=None if names is None else (*names, *(e.provider_name or "" for e in linked)),
    )


def link_sets_from_rows(
    rows: Sequence[tuple[Any, ...]], *, kind: str, dependent: str, provider: str, max_m: float
) -> LinkSet:
    """A link set from derivation rows ``(id, name, kind, residents, lon, lat, provider_id, distance_m,
    position[, provider_name])``: rows without a provider are the unlinked dependents."""
    linked = [r for r in rows if r[6] is not None]
    return LinkSet(
        kind=kind,
        dependent_layer=dependent,
        provider_layer=provider,
        dependent_ids=np.array([r[0] for r in linked], dtype=np.int64),
        provider_ids=np.array([r[6] for r in linked], dtype=np.int64),
        distance_m=np.array([r[7] for r in linked], dtype=np.float64),
        position=np.array([np.nan if r[8] is None else r[8] for r in linked], dtype=np.float64),
        edited=np.zeros(len(linked), dtype=bool),
        max_distance_m=float(max_m),
        unlinked_ids=np.array([r[0] for r in rows if r[6] is None], dtype=np.int64),
        provider_names=tuple(str(r[9]) for r in linked) if provider == "water_junctions" else None,
    )


def assets_from_rows(layer: str, rows: Sequence[tuple[Any, ...]]) -> Assets:
    """Assets from rows ``(id, name, kind, residents, lon, lat, …)`` sorted by id."""
    return Assets(
        layer=layer,
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        names=tuple(r[1] for r in rows),
        kinds=tuple(r[2] for r in rows),
        residents=np.array([r[3] for r in rows], dtype=np.int64),
        lonlat=np.array([(r[4], r[5]) for r in rows], dtype=np.float64).reshape(-1, 2),
    )
