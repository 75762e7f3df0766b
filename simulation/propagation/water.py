"""Water events: a pipe burst (its segment isolated) and a pump failure, topologically and over time with EPANET.

Topology answers at once: who has no source any more (immediate), who is left on tanks only (water until they
are empty). The hydraulic run (``hydraulics=True``; EPANET through wntr) answers *when*: each junction's first
report time below the service pressure, and when each tank reaches its minimum level. The run starts at the
event with the network's initial state (tank initial levels), so its times are added to the event's ``at_s``.
Without a run, a tank's time is estimated as usable volume / demand of what it alone serves (a screening
figure, said so in the reasons).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from simulation.dependencies import DependencyModel
from simulation.propagation.collect import Collector, label_of
from simulation.water.hydraulics import (
    HydraulicSettings,
    RunOutput,
    close_links,
    prepare_model,
    run_break_scenario,
    run_model,
)
from simulation.water.isolation import Isolation
from simulation.water.network import WaterNetwork
from simulation.water.report import outage_reason
from twin.errors import InvalidInput

# Tank level (m) above its minimum that counts as empty (EPANET stops a tank at its minimum level).
TANK_EMPTY_MARGIN_M = 0.01
# A critical site with no water-service link takes the nearest junction within this distance (same rule as
# buildings: simulation.dependencies.DEFAULT_MAX_SERVICE_M).
SITE_SERVICE_MAX_M = 250.0
HYDRAULIC_HORIZON_S = 24 * 3600
Clock = Callable[[float], str]


@dataclass(frozen=True)
class PumpOutage:
    """What stopping ``pump`` cuts topologically: junctions with no source left, and those left on tanks."""

    pump: str
    cut_off: tuple[str, ...]  # no reservoir nor tank reaches them any more: no water at once
    tank_fed: tuple[str, ...]  # only tanks reach them now: water until the tanks are empty
    tanks: tuple[str, ...]  # tanks no reservoir refills any more
    tank_empty_estimate_s: float | None  # usable volume / demand of the tank-fed junctions (None: unknown)

    def as_json(self) -> dict[str, Any]:
        return {
            "pump": self.pump,
            "cut_off": list(self.cut_off),
            "tank_fed": list(self.tank_fed),
            "tanks": list(self.tanks),
            "tank_empty_estimate_s": self.tank_empty_estimate_s,
        }


@dataclass(frozen=True)
class WaterTiming:
    """One hydraulic run against its baseline: when each junction falls below service, when tanks empty."""

    event: str
    simulator: str
    duration_s: int
    report_step_s: int
    service_pressure_m: float
    junction_below_s: dict[str, float]  # first report time below service (baseline above it then)
    tank_empty_s: dict[str, float]
    demand_not_served_m3: float
    run_time_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "simulator": self.simulator,
            "duration_s": self.duration_s,
            "report_step_s": self.report_step_s,
            "service_pressure_m": self.service_pressure_m,
            "junctions_below_service": len(self.junction_below_s),
            "tank_empty_s": dict(self.tank_empty_s),
            "demand_not_served_m3": self.demand_not_served_m3,
            "run_time_s": self.run_time_s,
        }


def _reached(network: WaterNetwork, sources: np.ndarray, removed_link: int | None) -> np.ndarray:
    """Nodes water reaches from ``sources`` over open links (one-way links start → end only)."""
    keep = network.is_open.copy()
    if removed_link is not None:
        keep[removed_link] = False
    a, b = network.link_start[keep], network.link_end[keep]
    both = ~network.one_way[keep]
    n = network.n_nodes
    src = np.concatenate([a, b[both], np.full(len(sources), n)])
    dst = np.concatenate([b, a[both], sources])
    graph = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n + 1, n + 1))
    seen = np.zeros(n + 1, dtype=bool)
    seen[breadth_first_order(graph, n, directed=True, return_predecessors=False)] = True
    return seen[:n]


def pump_outage(network: WaterNetwork, pump: str, *, wn: Any | None = None) -> PumpOutage:
    """Who loses water when ``pump`` stops (reservoirs are endless; tanks last a while).

    Parameters
    ----------
    network
        The water network's graph.
    pump
        The pump's name.
    wn
        The wntr model, if any: its tank sizes give the volume / demand estimate.

    Raises
    ------
    NotFound
        No link of that name.
    InvalidInput
        The link is not a pump.

    Examples
    --------
    >>> from simulation.water.network import LinkRecord, NodeRecord, network_from_records
    >>> net = network_from_records(
    ...     [NodeRecord("R", "reservoir"), NodeRecord("T", "tank")]
    ...     + [NodeRecord(n, "junction", 0, 0.001) for n in "ABC"],
    ...     [LinkRecord("PU1", "pump", "R", "A", one_way=True), LinkRecord("AT", "pipe", "A", "T"),
    ...      LinkRecord("TB", "pipe", "T", "B"), LinkRecord("CV", "pipe", "B", "C", one_way=True)],
    ... )
    >>> out = pump_outage(net, "PU1")
    >>> out.cut_off, out.tank_fed, out.tanks
    ((), ('A', 'B', 'C'), ('T',))
    """
    link = network.link_of(pump)
    if network.link_kind[link] != "pump":
        raise InvalidInput(
            f"{pump!r} is a {network.link_kind[link]}, not a pump / {pump!r} n'est pas une pompe"
        )
    kinds = np.array(network.node_kind)
    reservoirs = np.flatnonzero(kinds == "reservoir")
    sources = np.flatnonzero(network.is_source)
    before = _reached(network, reservoirs, None)
    after_reservoirs = _reached(network, reservoirs, link)
    after_any = _reached(network, sources, link)
    lost = before & ~after_reservoirs
    junction = kinds == "junction"
    cut_off = np.flatnonzero(lost & ~after_any & junction)
    tank_fed = np.flatnonzero(lost & after_any & junction)
    tanks = np.flatnonzero(lost & (kinds == "tank"))
    estimate = None
    if wn is not None and len(tank_fed) and len(tanks):
        volume_m3 = sum(_usable_volume_m3(wn.get_node(network.node_names[t])) for t in tanks)
        demand_m3_s = float(network.base_demand_m3_s[tank_fed].sum())
        estimate = volume_m3 / demand_m3_s if demand_m3_s > 0 else None
    names = network.node_names
    return PumpOutage(
        pump,
        tuple(names[i] for i in cut_off),
        tuple(names[i] for i in tank_fed),
        tuple(names[i] for i in tanks),
        estimate,
    )


def _usable_volume_m3(tank: Any) -> float:
    """Water a cylindrical tank holds between its initial and its minimum level (m³)."""
    return max(0.0, math.pi * tank.diameter**2 / 4 * (tank.init_level - tank.min_level))


def _settings(settings: HydraulicSettings | None) -> HydraulicSettings:
    return settings or HydraulicSettings(duration_s=HYDRAULIC_HORIZON_S, report_step_s=300)


def pump_failure_timing(wn: Any, pump: str, *, settings: HydraulicSettings | None = None) -> WaterTiming:
    """Run the network for the horizon with ``pump`` closed, against the same run with it working."""
    settings = _settings(settings)
    if pump not in set(wn.pump_name_list):
        raise InvalidInput(f"no pump named {pump!r} in the hydraulic model / aucune pompe nommée {pump!r}")
    baseline = run_model(prepare_model(wn, settings), settings.simulator)
    model = prepare_model(wn, settings)
    close_links(model, (pump,))
    scenario = run_model(model, settings.simulator)
    return timing_from_runs(f"pump_failure:{pump}", wn, baseline, scenario, settings)


def burst_timing(
    wn: Any, network: WaterNetwork, isolation: Isolation, *, settings: HydraulicSettings | None = None
) -> WaterTiming:
    """The burst's segment shut for the horizon (simulation.water.hydraulics.run_break_scenario), timed."""
    settings = _settings(settings)
    scenario = run_break_scenario(wn, network, isolation, settings=settings)
    return timing_from_runs(
        f"pipe_burst:{isolation.link}", wn, scenario.baseline, scenario.scenario, settings
    )


def timing_from_runs(
    event: str, wn: Any, baseline: RunOutput, scenario: RunOutput, settings: HydraulicSettings
) -> WaterTiming:
    """First report time each junction is below service while the baseline is not; tank empty times."""
    junctions = list(scenario.expected_demand_m3_s.columns)
    pressure = scenario.pressure_m[junctions]
    base = baseline.pressure_m[junctions].reindex(pressure.index)
    below = (pressure < settings.service_pressure_m) & (base >= settings.service_pressure_m)
    times = pressure.index.to_numpy(dtype=float)
    hits = below.to_numpy()
    first = np.argmax(hits, axis=0)
    any_hit = hits.any(axis=0)
    junction_below = {junctions[j]: float(times[first[j]]) for j in np.flatnonzero(any_hit)}
    tank_empty: dict[str, float] = {}
    for name in wn.tank_name_list:
        floor = wn.get_node(name).min_level + TANK_EMPTY_MARGIN_M
        level = scenario.pressure_m[name].to_numpy()
        base_level = baseline.pressure_m[name].reindex(scenario.pressure_m.index).to_numpy()
        empty = np.flatnonzero((level <= floor) & (base_level > floor))
        if len(empty):
            tank_empty[name] = float(times[empty[0]])
    not_served = scenario.demand_not_served_m3() - baseline.demand_not_served_m3()
    return WaterTiming(
        event,
        settings.simulator,
        settings.duration_s,
        settings.report_step_s,
        settings.service_pressure_m,
        junction_below,
        tank_empty,
        float(not_served.sum()),
        baseline.run_time_s + scenario.run_time_s,
    )


# ---------------------------------------------------------------------------------------------- who is served


def customers_of(
    dependencies: DependencyModel, junction_lonlat: Mapping[str, tuple[float, float]] | None
) -> dict[str, list[tuple[str, int]]]:
    """Per junction name, the (layer, row) of the buildings linked to it and of the critical sites nearest it.

    Critical sites have no water-service link: with junction positions they take the nearest junction within
    :data:`SITE_SERVICE_MAX_M` (equirectangular metres: a few hundred metres, the error is negligible).
    """
    served: dict[str, list[tuple[str, int]]] = {}
    service = dependencies.link_set("water_service", "buildings")
    buildings = dependencies.assets.get("buildings")
    if service is not None and service.provider_names is not None and buildings is not None:
        for i, junction in enumerate(service.provider_names):
            k = buildings.index_of(int(service.dependent_ids[i]))
            served.setdefault(junction, []).append(("buildings", k))
    sites = dependencies.assets.get("critical_sites")
    if junction_lonlat and sites is not None and len(sites):
        names = list(junction_lonlat)
        xy = np.array([junction_lonlat[n] for n in names], dtype=float)
        for k in range(len(sites)):
            lon, lat = sites.lonlat[k]
            dx = (xy[:, 0] - lon) * 111_320.0 * math.cos(math.radians(lat))
            dy = (xy[:, 1] - lat) * 111_320.0
            d = np.hypot(dx, dy)
            j = int(np.argmin(d))
            if d[j] <= SITE_SERVICE_MAX_M:
                served.setdefault(names[j], []).append(("critical_sites", k))
    return served


def collect_burst(
    collected: Collector,
    isolation: Isolation,
    timing: WaterTiming | None,
    dependencies: DependencyModel,
    served: Mapping[str, list[tuple[str, int]]],
    *,
    at_s: float,
    clock: Clock,
) -> None:
    """Customers of the shut segment and of the nodes it cuts off: no water at ``at_s``; with a run, the
    junctions whose pressure then falls below service elsewhere, from that time."""
    outage_of = {o.node: o for o in isolation.outages}
    for junction, rows in served.items():
        outage = outage_of.get(junction)
        if outage is not None:
            why = outage_reason(isolation, outage)
            for layer, k in rows:
                label = _label(dependencies, layer, k)
                reason = {
                    "fr": f"{label['fr']} : privé d'eau — branché sur le {why['fr']} (dès {clock(at_s)})",
                    "en": f"{label['en']}: no water — served by {why['en']} (from {clock(at_s)})",
                }
                collected.add_from(dependencies, layer, k, "no_water", reason, since_s=at_s)
        elif timing is not None and junction in timing.junction_below_s:
            since = at_s + timing.junction_below_s[junction]
            p = f"{timing.service_pressure_m:g}"
            for layer, k in rows:
                label = _label(dependencies, layer, k)
                reason = {
                    "fr": f"{label['fr']} : pression sous {p} m à partir de {clock(since)} (nœud {junction}) — "
                    f"la conduite {isolation.link} est isolée",
                    "en": f"{label['en']}: pressure below {p} m from {clock(since)} (node {junction}) — pipe "
                    f"{isolation.link} is isolated",
                }
                collected.add_from(dependencies, layer, k, "low_pressure", reason, since_s=since)


def collect_pump_failure(
    collected: Collector,
    outage: PumpOutage,
    timing: WaterTiming | None,
    dependencies: DependencyModel,
    served: Mapping[str, list[tuple[str, int]]],
    *,
    at_s: float,
    clock: Clock,
    why: dict[str, str] | None = None,
) -> None:
    """Customers of the pump's junctions: no source left → no water at once; tanks only → from the time the
    run (or the volume estimate) gives, or "at risk" when neither is known. ``why`` says why the pump stopped
    (a power cut)."""
    stopped_fr = f"la pompe {outage.pump} est arrêtée" + (f" ({why['fr']})" if why else "")
    stopped_en = f"pump {outage.pump} is stopped" + (f" ({why['en']})" if why else "")
    tanks = ", ".join(outage.tanks[:3]) + ("…" if len(outage.tanks) > 3 else "")
    cut_off, tank_fed = set(outage.cut_off), set(outage.tank_fed)
    timed = dict(timing.junction_below_s) if timing is not None else {}
    for junction, rows in served.items():
        if junction in cut_off:
            since, cause = at_s, "no_water"
            fr = f"plus d'eau à partir de {clock(since)} — {stopped_fr} et plus rien n'alimente le nœud {junction}"
            en = f"no water from {clock(since)} — {stopped_en} and nothing feeds node {junction} any more"
        elif junction in timed:
            since, cause = at_s + timed[junction], "no_water"
            empty = _tank_phrase(outage.tanks, timing, at_s, clock)
            fr = f"plus d'eau à partir de {clock(since)} — {stopped_fr}{empty['fr']}"
            en = f"no water from {clock(since)} — {stopped_en}{empty['en']}"
        elif junction in tank_fed and timing is None and outage.tank_empty_estimate_s is not None:
            since, cause = at_s + outage.tank_empty_estimate_s, "no_water"
            fr = (
                f"plus d'eau vers {clock(since)} (estimation volume / consommation) — {stopped_fr} et le "
                f"réservoir {tanks} se vide"
            )
            en = f"no water around {clock(since)} (volume / demand estimate) — {stopped_en} and tank {tanks} empties"
        elif junction in tank_fed and timing is None:
            since, cause = at_s, "water_at_risk"
            fr = (
                f"alimenté seulement par le réservoir {tanks} depuis {clock(at_s)} — {stopped_fr} ; plus d'eau "
                "quand il sera vide (durée inconnue sans calcul hydraulique)"
            )
            en = (
                f"fed by tank {tanks} only from {clock(at_s)} — {stopped_en}; no water once it is empty (time "
                "unknown without a hydraulic run)"
            )
        else:
            continue
        for layer, k in rows:
            label = _label(dependencies, layer, k)
            reason = {"fr": f"{label['fr']} : {fr}", "en": f"{label['en']}: {en}"}
            collected.add_from(dependencies, layer, k, cause, reason, since_s=since)


def _tank_phrase(
    tanks: tuple[str, ...], timing: WaterTiming | None, at_s: float, clock: Clock
) -> dict[str, str]:
    empties = [(t, timing.tank_empty_s[t]) for t in tanks if timing is not None and t in timing.tank_empty_s]
    if not empties:
        return {"fr": "", "en": ""}
    parts_fr = ", ".join(f"le réservoir {t} est vide vers {clock(at_s + s)}" for t, s in empties[:3])
    parts_en = ", ".join(f"tank {t} is empty around {clock(at_s + s)}" for t, s in empties[:3])
    return {"fr": f" et {parts_fr}", "en": f" and {parts_en}"}


def _label(dependencies: DependencyModel, layer: str, k: int) -> dict[str, str]:
    assets = dependencies.assets[layer]
    return label_of(layer, int(assets.ids[k]), assets.names[k], assets.kinds[k])
