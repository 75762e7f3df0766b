"""Power cuts: what stands in the area or hangs from the feeders loses power, and what that stops.

Street lights go out (counted by street, through their ``street_light_road`` link). Pumps inside the area
or fed by a cut feeder stop: the engine then propagates them as pump failures (the chain). Buildings inside
the area lose power. Critical sites: hospitals and clinics are assumed to run on their backup generators
(French health establishments must have one: circulaire DHOS/E4 n° 2006-393) and are reported "on
generator"; the other sites lose power. Links come from ``simulation.dependency_links`` (kind
``power_feed``) when someone stored them: with none known, only the area counts, and the report says so.
The twin has no traffic-signal layer: signals are not assessed (said in the report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from routing.resident import TerritoryGraph
from simulation.dependencies import DependencyModel
from simulation.events import PowerFailureEvent
from simulation.propagation.collect import Collector, label_of
from simulation.propagation.context import PropagationContext

#: Critical-site kinds assumed to have a backup generator.
BACKUP_GENERATOR_KINDS: frozenset[str] = frozenset({"hospital", "clinic"})


@dataclass(frozen=True)
class PowerOutage:
    """One power cut: lights out (by street), pumps stopped, and what the feeders knew."""

    event_index: int
    at_s: float
    lights_out: int
    lights_by_street: dict[str, int]
    pumps: tuple[str, ...]
    feeders_known: bool
    sites_on_generator: tuple[int, ...]
    sites_without_power: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event_index,
            "at_s": self.at_s,
            "lights_out": self.lights_out,
            "lights_by_street": dict(self.lights_by_street),
            "pumps_stopped": list(self.pumps),
            "feeder_links_known": self.feeders_known,
            "sites_on_generator": list(self.sites_on_generator),
            "sites_without_power": list(self.sites_without_power),
            "traffic_signals": None,  # no traffic-signal layer in the twin
            "note": {
                "fr": "hôpitaux et cliniques supposés équipés d'un groupe électrogène ; feux tricolores non "
                "évalués (pas de couche)"
                + ("" if self.feeders_known else " ; aucun lien d'alimentation connu : zone seule"),
                "en": "hospitals and clinics assumed to have a backup generator; traffic signals not assessed "
                "(no layer)" + ("" if self.feeders_known else "; no power link known: area only"),
            },
        }


def collect_power_failure(
    collected: Collector,
    index: int,
    event: PowerFailureEvent,
    dependencies: DependencyModel | None,
    context: PropagationContext,
    graph: TerritoryGraph,
    *,
    clock: Callable[[float], str],
) -> PowerOutage:
    """Add what the cut hits to ``collected``; the pumps it stops are returned for the engine to chain."""
    fed = {
        (link.dependent_layer, link.dependent_id)
        for link in context.power_links
        if link.feeder_id in set(event.feeder_ids)
    }
    pump_names: dict[int, str] = {
        link.dependent_id: link.dependent_name
        for link in context.power_links
        if link.dependent_layer == "water_pumps" and link.dependent_name
    }
    if dependencies is not None:  # power_feed links held by the dependency model (derived or edited)
        pumps_layer = dependencies.assets.get("water_pumps")
        for links in dependencies.link_sets:
            if links.kind != "power_feed":
                continue
            for dep, feeder in zip(links.dependent_ids.tolist(), links.provider_ids.tolist(), strict=True):
                if feeder in set(event.feeder_ids):
                    fed.add((links.dependent_layer, int(dep)))
                    if links.dependent_layer == "water_pumps" and pumps_layer is not None:
                        name = pumps_layer.names[pumps_layer.index_of(int(dep))]
                        if name:
                            pump_names[int(dep)] = name
    at = clock(event.at_s)
    cause_fr = "coupure d'électricité" + (
        f" (départs {', '.join(map(str, event.feeder_ids))})" if event.feeder_ids else ""
    )
    cause_en = "power cut" + (
        f" (feeders {', '.join(map(str, event.feeder_ids))})" if event.feeder_ids else ""
    )

    def hit(layer: str, ids: np.ndarray, lonlat: np.ndarray) -> np.ndarray:
        inside = np.zeros(len(ids), dtype=bool)
        if event.area is not None and len(ids):
            inside = shapely.contains_xy(event.area, lonlat[:, 0], lonlat[:, 1])
        if fed:
            inside |= np.array([(layer, int(i)) in fed for i in ids], dtype=bool)
        return inside

    lights_out, by_street = 0, {}
    if dependencies is not None and "street_lights" in dependencies.assets:
        lights = dependencies.assets["street_lights"]
        out = np.flatnonzero(hit("street_lights", lights.ids, lights.lonlat))
        lights_out = len(out)
        by_street = _lights_by_street(dependencies, graph, lights.ids[out])
    sites_gen: list[int] = []
    sites_off: list[int] = []
    if dependencies is not None:
        for layer in ("critical_sites", "buildings"):
            assets = dependencies.assets.get(layer)
            if assets is None:
                continue
            for k in np.flatnonzero(hit(layer, assets.ids, assets.lonlat)):
                label = label_of(layer, int(assets.ids[k]), assets.names[k], assets.kinds[k])
                if layer == "critical_sites" and assets.kinds[k] in BACKUP_GENERATOR_KINDS:
                    sites_gen.append(int(assets.ids[k]))
                    reason = {
                        "fr": f"{label['fr']} : sur groupe électrogène à partir de {at} ({cause_fr}) — "
                        "vérifier son autonomie en carburant",
                        "en": f"{label['en']}: on backup generator from {at} ({cause_en}) — check its fuel",
                    }
                    collected.add_from(
                        dependencies, layer, int(k), "on_generator", reason, since_s=event.at_s
                    )
                    continue
                if layer == "critical_sites":
                    sites_off.append(int(assets.ids[k]))
                reason = {
                    "fr": f"{label['fr']} : privé d'électricité à partir de {at} ({cause_fr})",
                    "en": f"{label['en']}: no power from {at} ({cause_en})",
                }
                collected.add_from(dependencies, layer, int(k), "no_power", reason, since_s=event.at_s)
    pumps = sorted({name for pid, name in pump_names.items() if ("water_pumps", pid) in fed})
    if event.area is not None and context.pump_lonlat:
        names = list(context.pump_lonlat)
        xy = np.array([context.pump_lonlat[n] for n in names], dtype=float)
        pumps = sorted(
            set(pumps)
            | {names[k] for k in np.flatnonzero(shapely.contains_xy(event.area, xy[:, 0], xy[:, 1]))}
        )
    return PowerOutage(
        index,
        event.at_s,
        lights_out,
        by_street,
        tuple(pumps),
        bool(context.power_links) or bool(fed),
        tuple(sites_gen),
        tuple(sites_off),
    )


def _lights_by_street(
    dependencies: DependencyModel, graph: TerritoryGraph, light_ids: np.ndarray
) -> dict[str, int]:
    """Lights per street name (their road link); ``voie sans nom`` / unlinked ones grouped."""
    links = dependencies.link_set("street_light_road", "street_lights")
    counts: dict[str, int] = {}
    network = graph.network
    for light in light_ids.tolist():
        row = None if links is None else links.provider_of(int(light))
        street = "sans voie rattachée"
        if row is not None and links is not None:
            arcs = network.arcs_of_edge_ids(np.array([links.provider_ids[row]], dtype=np.int64))
            name = network.street_name[int(arcs[0])] if len(arcs) else None
            street = str(name) if name else "voie sans nom"
        counts[street] = counts.get(street, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
