"""Pure parts of scenarios: measures' JSON, KPIs and their comparison, redaction for roles, doctests."""

from __future__ import annotations

import doctest

import pytest

import simulation.scenarios.kpis
import simulation.scenarios.model
import simulation.scenarios.results
from simulation.scenarios.kpis import KPIS, comparison, kpis_of
from simulation.scenarios.model import measure_json, parse_measure, validate_patch
from simulation.scenarios.routes import redact
from twin.errors import InvalidInput

MEASURES = [
    {"type": "close_road", "edge_ids": [4, 5], "reason": "déviation", "at_s": 60.0},
    {"type": "reopen_road", "closure_ids": [7], "at_s": 0.0},
    {"type": "send_crew", "crew_id": 3, "event": 1, "at_s": 0.0},
    {"type": "operate_valve", "valve": "V-P12-J3", "open": True, "at_s": 0.0},
]


@pytest.mark.parametrize("doc", MEASURES, ids=lambda d: d["type"])
def test_measure_json_round_trip(doc):
    live = [{"id": 7, "kind": "closure"}]
    assert measure_json(parse_measure(doc, 0, n_events=2, live_closures=live)) == doc


def test_reopening_a_slowdown_or_an_unknown_closure_is_refused():
    live = [{"id": 7, "kind": "slowdown"}]
    with pytest.raises(InvalidInput, match=r"measure 2 \(reopen_road\): closure_ids names slowdowns \[7\]"):
        parse_measure({"type": "reopen_road", "closure_ids": [7]}, 2, n_events=0, live_closures=live)
    with pytest.raises(InvalidInput, match="closure_ids names \\[8\\], not live closures"):
        parse_measure({"type": "reopen_road", "closure_ids": [8]}, 0, n_events=0, live_closures=live)
    with pytest.raises(InvalidInput, match="unknown field"):
        parse_measure({"type": "send_crew", "crew_id": 1, "event": 0, "eta": 3}, 0, n_events=1)


def test_new_events_recheck_the_measures_pointing_at_them():
    current = {
        "events": [{"type": "pipe_burst", "pipe": "P1"}],
        "measures": [MEASURES[2]],
        "live_closures": [],
    }
    with pytest.raises(InvalidInput, match=r"measure 0 \(send_crew\): event"):
        validate_patch({"version": 1, "events": []}, current)
    with pytest.raises(InvalidInput, match="version is required"):
        validate_patch({"name": "x"}, current)


def test_kpis_measure_access_delays_and_losses():
    report = {
        "residents_hit": 30,
        "critical_sites_hit": [{"id": 1}],
        "affected": [
            {"layer": "buildings", "id": 1, "residents": 20, "causes": ["road_isolated", "no_water"]},
            {"layer": "buildings", "id": 2, "residents": 10, "causes": ["road_degraded"]},
        ],
        "access": {
            "isolated_areas": [{"index": 0}],
            "affected": [{"from_fire_station_s": [100.0, 340.5], "to_hospital_s": [50.0, 80.0]}],
            "critical_sites": [{"from_fire_station_s": [90.0, None]}, {"from_fire_station_s": [None, None]}],
        },
    }
    k = kpis_of(report, crew_arrival_s=612.34)
    assert k["worst_fire_access_delay_s"] == 240.5 and k["worst_hospital_access_delay_s"] == 30.0
    assert (k["residents_isolated"], k["buildings_without_water"], k["sites_losing_fire_access"]) == (
        20,
        1,
        1,
    )
    assert k["crew_arrival_s"] == 612.3 and set(k) == set(KPIS)
    rows = {r["kpi"]: r for r in comparison(kpis_of({"residents_hit": 0}), k)}
    assert rows["residents_hit"]["delta"] == 30 and rows["water_demand_not_served_m3"]["delta"] is None


def test_redaction_hides_valves_and_water_sections_from_analysts():
    doc = {
        "water": {"link": "P1"},
        "water_measures": {"closed_valves": ["V1"]},
        "events": [{"type": "pipe_burst", "pipe": "P1"}],
        "recommended_actions": [{"kind": "close_valves"}],
        "affected": [{"causes": ["no_water"], "reasons": [{"cause": "no_water", "fr": "V1", "en": "V1"}]}],
        "scenario": {"measures": [{"type": "operate_valve", "valve": "V1", "open": False}]},
    }
    out = redact(doc, "analyst")
    assert out["water"] is None and out["water_measures"] is None and "pipe" not in out["events"][0]
    assert "valve" not in out["scenario"]["measures"][0] and "V1" not in str(out)
    assert redact(doc, "planner") is doc and doc["water_measures"] == {"closed_valves": ["V1"]}


@pytest.mark.parametrize(
    "module", [simulation.scenarios.model, simulation.scenarios.kpis, simulation.scenarios.results]
)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
