"""Consequence reports: isolation and scenario results as JSON-ready dicts, with reasons in French and English.

Every report built on assumed valves says so (``valves_assumed`` and the rule, in both languages), so no
one mistakes the rule's valves for the ones crews will find in the street.
"""

from __future__ import annotations

from typing import Any

from simulation.water.hydraulics import BreakScenario, LeakScenario, ScenarioSummary
from simulation.water.isolation import Isolation, NodeOutage


def outage_reason(isolation: Isolation, outage: NodeOutage) -> dict[str, str]:
    """Why ``outage.node`` has no water, as one sentence in French and one in English.

    Examples
    --------
    >>> from simulation.water.isolation import Segment
    >>> iso = Isolation("p227", Segment(0, ("p227",), ("n54",), ("V3", "V7")), ("V3", "V7"), (), (), (),
    ...                 False, "", "")
    >>> outage_reason(iso, NodeOutage("n12", "junction", 0.001, "cut_off"))["en"]
    'node n12: no water because pipe p227 is isolated by closing valves V3, V7, and no reservoir or tank reaches it any more (unintended isolation)'
    """
    valves = ", ".join(isolation.valves_to_close)
    if valves:
        closing_en = f"pipe {isolation.link} is isolated by closing valves {valves}"
        closing_fr = f"la conduite {isolation.link} est isolée par la fermeture des vannes {valves}"
    else:
        closing_en = f"no valve encloses pipe {isolation.link}: its whole connected network is shut"
        closing_fr = (
            f"aucune vanne n'encadre la conduite {isolation.link} : tout son réseau connexe est fermé"
        )
    if outage.cause == "in_segment":
        en = f"node {outage.node}: no water because {closing_en} (the node is in the shut segment)"
        fr = f"nœud {outage.node} : privé d'eau car {closing_fr} (le nœud est dans le tronçon fermé)"
    else:
        en = (
            f"node {outage.node}: no water because {closing_en}, and no reservoir or tank reaches it any more "
            "(unintended isolation)"
        )
        fr = (
            f"nœud {outage.node} : privé d'eau car {closing_fr}, et plus aucun réservoir ni château d'eau ne "
            "l'alimente (isolement non voulu)"
        )
    if isolation.valves_assumed:
        en, fr = en + " — valves assumed", fr + " — vannes supposées"
    return {"fr": fr, "en": en}


def isolation_report(isolation: Isolation) -> dict[str, Any]:
    """What to close and who loses water, with a reason per node."""
    customers = isolation.customers
    return {
        "link": isolation.link,
        "valves_assumed": isolation.valves_assumed,
        "valve_rule": {"fr": isolation.valve_rule_fr, "en": isolation.valve_rule_en},
        "valves_to_close": list(isolation.valves_to_close),
        "segment": {"links": list(isolation.segment.links), "nodes": list(isolation.segment.nodes)},
        "sources_lost": list(isolation.sources_lost),
        "cut_off_nodes": list(isolation.cut_off_nodes),
        "customers_without_water": len(customers),
        "demand_lost_m3_s": isolation.demand_lost_m3_s,
        "outages": [
            {
                "node": o.node,
                "kind": o.kind,
                "base_demand_m3_s": o.base_demand_m3_s,
                "cause": o.cause,
                "reason": outage_reason(isolation, o),
            }
            for o in isolation.outages
        ],
        "summary": _isolation_summary(isolation),
    }


def break_report(scenario: BreakScenario) -> dict[str, Any]:
    """The isolation report plus what the hydraulic run adds: pressures below service, demand not served."""
    return {
        **isolation_report(scenario.isolation),
        "hydraulics": {
            "simulator": scenario.settings.simulator,
            "duration_s": scenario.settings.duration_s,
            "closed_links": list(scenario.closed_links),
            "run_time_s": {
                "baseline": scenario.baseline.run_time_s,
                "scenario": scenario.scenario.run_time_s,
            },
            **_summary_dict(scenario.summary, scenario.settings.service_pressure_m),
        },
    }


def leak_report(scenario: LeakScenario) -> dict[str, Any]:
    """Leak flow and volume, pressure drops against the baseline, nodes pushed below service pressure."""
    summary = _summary_dict(scenario.summary, scenario.settings.service_pressure_m)
    drops = scenario.summary.max_pressure_drop_m.sort_values(ascending=False)
    return {
        "pipe": scenario.pipe,
        "leak_node": scenario.leak_node,
        "area_m2": scenario.area_m2,
        "start_s": scenario.start_s,
        "end_s": scenario.end_s,
        "simulator": "wntr",
        "run_time_s": {"baseline": scenario.baseline.run_time_s, "scenario": scenario.scenario.run_time_s},
        "max_leak_flow_m3_s": float(scenario.leak_flow_m3_s.max()),
        "leaked_volume_m3": scenario.leaked_volume_m3,
        "largest_pressure_drops_m": {str(k): float(v) for k, v in drops.head(10).items()},
        **summary,
        "summary": {
            "fr": f"fuite sur {scenario.pipe} : {scenario.leaked_volume_m3:.1f} m³ perdus, chute de pression "
            f"maximale {drops.iloc[0]:.2f} m, {len(scenario.summary.below_service)} nœuds passent sous "
            f"{scenario.settings.service_pressure_m:g} m",
            "en": f"leak on {scenario.pipe}: {scenario.leaked_volume_m3:.1f} m³ lost, largest pressure drop "
            f"{drops.iloc[0]:.2f} m, {len(scenario.summary.below_service)} nodes fall below "
            f"{scenario.settings.service_pressure_m:g} m",
        },
    }


def _summary_dict(summary: ScenarioSummary, service_pressure_m: float) -> dict[str, Any]:
    return {
        "service_pressure_m": service_pressure_m,
        "below_service": list(summary.below_service),
        "already_below_service": list(summary.already_below_service),
        "demand_not_served_m3": summary.demand_not_served_m3,
    }


def _isolation_summary(isolation: Isolation) -> dict[str, str]:
    n_cut, n_customers = len(isolation.cut_off_nodes), len(isolation.customers)
    assumed_en = " (valves assumed)" if isolation.valves_assumed else ""
    assumed_fr = " (vannes supposées)" if isolation.valves_assumed else ""
    return {
        "fr": f"isoler {isolation.link} : fermer {len(isolation.valves_to_close)} vannes{assumed_fr}, "
        f"{n_customers} nœuds clients privés d'eau, {n_cut} nœuds coupés hors du tronçon (isolement non voulu)",
        "en": f"isolating {isolation.link}: close {len(isolation.valves_to_close)} valves{assumed_en}, "
        f"{n_customers} customer nodes without water, {n_cut} nodes outside the segment (unintended isolation)",
    }
