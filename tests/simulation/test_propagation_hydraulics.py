"""Water events over time with EPANET: a tank-fed branch loses water when the tank is empty (checked against
volume / demand by hand), and isolating more never serves more customers (L-Town)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation.consequences import PumpFailureEvent, consequence_report
from simulation.propagation.water import pump_failure_timing, pump_outage
from simulation.water.hydraulics import HydraulicSettings
from simulation.water.isolation import SegmentModel
from simulation.water.network import network_from_wntr
from simulation.water.valves import default_isolation_valves
from tests.simulation.test_propagation_engine import START, _links, _territory

DEMAND_M3_S = {"J1": 0.002, "J2": 0.003}
TANK_DIAMETER_M, INIT_LEVEL_M, MIN_LEVEL_M = 10.0, 5.0, 1.0
STEP_S = 300


def _tank_branch() -> Any:
    """Reservoir R → pump PU1 → J0 → tank T1 (40 m up) → J1 → J2; demand only on J1 and J2."""
    import wntr

    wn = wntr.network.WaterNetworkModel()
    wn.add_reservoir("R", base_head=10.0)
    wn.add_junction("J0", base_demand=0.0, elevation=5.0)
    for name, demand in DEMAND_M3_S.items():
        wn.add_junction(name, base_demand=demand, elevation=0.0)
    wn.add_tank(
        "T1",
        elevation=40.0,
        init_level=INIT_LEVEL_M,
        min_level=MIN_LEVEL_M,
        max_level=6.0,
        diameter=TANK_DIAMETER_M,
    )
    wn.add_curve("C1", "HEAD", [(0.01, 60.0)])
    wn.add_pump("PU1", "R", "J0", "HEAD", "C1")
    wn.add_pipe("P1", "J0", "T1", length=100, diameter=0.3, roughness=100)
    wn.add_pipe("P2", "T1", "J1", length=200, diameter=0.2, roughness=100)
    wn.add_pipe("P3", "J1", "J2", length=200, diameter=0.2, roughness=100)
    return wn


def test_tank_fed_branch_loses_water_when_the_tank_is_empty_as_volume_over_demand_says() -> None:
    pytest.importorskip("wntr")
    wn = _tank_branch()
    network = network_from_wntr(wn, source="hand-built")
    water = SegmentModel(network, default_isolation_valves(network))
    by_hand_s = math.pi * TANK_DIAMETER_M**2 / 4 * (INIT_LEVEL_M - MIN_LEVEL_M) / sum(DEMAND_M3_S.values())
    outage = pump_outage(network, "PU1", wn=wn)
    assert outage.tank_fed == ("J0", "J1", "J2") and outage.tanks == ("T1",)
    assert outage.tank_empty_estimate_s == pytest.approx(by_hand_s, rel=1e-9)  # ≈ 17 h 27 min
    hydraulic = HydraulicSettings(duration_s=24 * 3600, report_step_s=STEP_S)
    timing = pump_failure_timing(wn, "PU1", settings=hydraulic)
    # EPANET stops the tank at its minimum level; reports come every STEP_S, so the times seen are within
    # one report step of the hand figure (EPANET's own step lands just before or after it).
    assert abs(timing.tank_empty_s["T1"] - by_hand_s) <= STEP_S
    for junction in DEMAND_M3_S:
        assert abs(timing.junction_below_s[junction] - by_hand_s) <= STEP_S
    assert timing.demand_not_served_m3 > 0

    _, access, deps = _territory()
    deps = dataclasses.replace(
        deps,
        link_sets=(
            _links("water_service", "buildings", "water_junctions", [(10, 1), (11, 2)], names=("J1", "J2")),
        ),
    )
    kwargs: dict[str, Any] = {"access": access, "dependencies": deps, "water": water, "at": START, "wn": wn}
    fast = consequence_report([PumpFailureEvent("PU1", at_s=600)], **kwargs)
    slow = consequence_report(
        [PumpFailureEvent("PU1", at_s=600)], hydraulics=True, hydraulic_settings=hydraulic, **kwargs
    )
    house = {a.id: a for a in fast.affected}[10]
    assert house.causes == ("no_water",) and house.since_s == pytest.approx(600 + by_hand_s)
    assert "estimation volume / consommation" in house.reasons[0]["fr"]
    timed = {a.id: a for a in slow.affected}[10]
    assert abs(timed.since_s - (600 + by_hand_s)) <= STEP_S
    assert (
        "le réservoir T1 est vide vers" in timed.reasons[0]["fr"]
        and "la pompe PU1 est arrêtée" in timed.reasons[0]["fr"]
    )
    doc = slow.as_json()
    assert (
        doc["hydraulics"][0]["event"] == "pump_failure:PU1" and doc["hydraulics"][0]["simulator"] == "epanet"
    )
    kinds = [e["kind"] for e in doc["timeline"]]
    assert kinds.index("tank_empty") < kinds.index("effect")  # the tank empties, then the homes go dry
    assert [e["at_s"] for e in doc["timeline"]] == sorted(e["at_s"] for e in doc["timeline"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_closing_more_valves_never_serves_more_nodes(
    ltown_segments: SegmentModel, data: st.DataObject
) -> None:
    valves = [v.name for v in ltown_segments.placement.valves]
    some = data.draw(st.lists(st.sampled_from(valves), max_size=30, unique=True))
    more = some + data.draw(st.lists(st.sampled_from(valves), max_size=30, unique=True))
    served_some = ltown_segments.served_nodes(closed_valves=some)
    served_more = ltown_segments.served_nodes(closed_valves=set(more))
    assert not (served_more & ~served_some).any()
