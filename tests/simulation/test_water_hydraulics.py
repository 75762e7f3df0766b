"""Break and leak scenarios with wntr: small networks with known answers, and L-Town against direct wntr runs."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from simulation.water.hydraulics import (
    HydraulicSettings,
    close_links,
    expected_demand_m3_s,
    links_to_close,
    prepare_model,
    run_break_scenario,
    run_leak_scenario,
)
from simulation.water.isolation import SegmentModel
from simulation.water.network import WaterNetwork, network_from_wntr
from simulation.water.report import break_report, leak_report
from simulation.water.valves import explicit_isolation_valves
from twin.errors import InvalidInput, NotFound

# L-Town's pump has a one-point head curve: wntr's own solver fits its 3-parameter curve through it and warns.
pytestmark = pytest.mark.filterwarnings("ignore:Covariance of the parameters could not be estimated")

DEMAND_M3_S = 0.001
TWO_HOURS = HydraulicSettings(duration_s=2 * 3600)


def _small_model(*, loop: bool) -> Any:
    """Reservoir R (head 50 m) – A – B – C, 100 m pipes of 200 mm at elevation 0, 1 L/s at A, B, C.

    With ``loop`` a pipe C–A closes a loop.
    """
    import wntr

    wn = wntr.network.WaterNetworkModel()
    wn.add_reservoir("R", base_head=50.0)
    for name in "ABC":
        wn.add_junction(name, base_demand=DEMAND_M3_S, elevation=0.0)
    pairs = ["RA", "AB", "BC", *(["CA"] if loop else [])]
    for pair in pairs:
        wn.add_pipe(pair, pair[0], pair[1], length=100.0, diameter=0.2, roughness=100.0)
    return wn


def _isolate(wn: Any, link: str, *valves: tuple[str, str]) -> tuple[WaterNetwork, Any]:
    net = network_from_wntr(wn)
    return net, SegmentModel(net, explicit_isolation_valves(net, valves)).isolate(link)


def _fingerprint(wn: Any) -> str:
    import wntr

    return str(wntr.network.to_dict(wn))


# ---------------------------------------------------------------- answers known by construction


@pytest.mark.parametrize("simulator", ["epanet", "wntr"])
def test_line_break_dries_b_and_c(simulator: str) -> None:
    wn = _small_model(loop=False)
    before = _fingerprint(wn)
    net, iso = _isolate(wn, "AB", ("AB", "A"), ("AB", "B"))
    settings = HydraulicSettings(duration_s=2 * 3600, simulator=simulator)  # type: ignore[arg-type]
    result = run_break_scenario(wn, net, iso, settings=settings)
    assert result.closed_links == ("AB",)
    pressure = result.scenario.pressure_m
    assert (pressure[["B", "C"]] == 0).all().all()
    assert (pressure["A"] > 49).all()
    assert (result.scenario.demand_m3_s[["B", "C"]] == 0).all().all()
    assert result.summary.below_service == ("B", "C")
    assert result.summary.already_below_service == ()
    # B and C ask 1 L/s each, constantly, and get nothing for the two hours.
    assert result.summary.demand_not_served_m3 == pytest.approx(2 * DEMAND_M3_S * 2 * 3600, rel=1e-6)
    assert _fingerprint(wn) == before  # the model given is never changed


def test_loop_break_keeps_service() -> None:
    wn = _small_model(loop=True)
    net, iso = _isolate(wn, "AB", ("AB", "A"), ("AB", "B"))
    result = run_break_scenario(wn, net, iso, settings=TWO_HOURS)
    assert iso.outages == ()
    assert result.summary.below_service == ()
    assert (result.scenario.pressure_m[["A", "B", "C"]] > 45).all().all()
    assert result.summary.demand_not_served_m3 == pytest.approx(0.0, abs=1e-9)
    # B is now fed the long way round: its pressure drops a little, never rises.
    assert result.summary.max_pressure_drop_m["B"] > 0


def test_line_leak_loses_water_after_it_opens() -> None:
    wn = _small_model(loop=False)
    before = _fingerprint(wn)
    settings = HydraulicSettings(duration_s=3 * 3600, simulator="wntr")
    result = run_leak_scenario(wn, "BC", area_m2=0.0005, start_s=3600, settings=settings)
    flow = result.leak_flow_m3_s
    assert flow.loc[0] == 0
    assert (flow.loc[3600:] > 0).all()
    # Orifice law at ≈ 50 m of head: Q = Cd·A·√(2gH).
    expected_m3_s = (
        0.75 * 0.0005 * math.sqrt(2 * 9.81 * result.scenario.pressure_m[result.leak_node].iloc[-1])
    )
    assert flow.iloc[-1] == pytest.approx(expected_m3_s, rel=1e-3)
    assert result.leaked_volume_m3 == pytest.approx(float(np.trapezoid(flow, x=flow.index)), rel=1e-9)
    assert result.summary.max_pressure_drop_m["C"] > 0
    assert _fingerprint(wn) == before
    report = leak_report(result)
    assert report["leaked_volume_m3"] == result.leaked_volume_m3
    assert "fuite sur BC" in report["summary"]["fr"] and "leak on BC" in report["summary"]["en"]


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration_s": 0}, "duration_s must be a positive whole number"),
        ({"duration_s": 3600.5}, "duration_s must be a positive whole number"),
        ({"duration_s": 3600, "report_step_s": 7200}, r"report_step_s \(7200\) is longer than duration_s"),
        ({"service_pressure_m": float("nan")}, "service_pressure_m must be a finite number"),
        ({"pdd_required_pressure_m": 0.0}, "pdd_required_pressure_m must be above"),
        ({"simulator": "fluent"}, "simulator 'fluent' is not 'epanet' or 'wntr'"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        HydraulicSettings(**kwargs)


@pytest.mark.parametrize(
    ("pipe", "kwargs", "error", "message"),
    [
        ("XX", {"area_m2": 0.001}, NotFound, "no pipe named 'XX'"),
        ("AB", {"area_m2": -1.0}, InvalidInput, "area_m2 must be a positive number"),
        ("AB", {"area_m2": 1.0}, InvalidInput, r"larger than the cross-section of AB \(0.03142 m²\)"),
        ("AB", {"area_m2": 0.001, "start_s": 99999}, InvalidInput, r"start_s must be .* within the run"),
        ("AB", {"area_m2": 0.001, "start_s": 3600, "end_s": 3600}, InvalidInput, "must come after start_s"),
        (
            "AB",
            {"area_m2": 0.001, "split_at": 1.0},
            InvalidInput,
            "split_at must be strictly between 0 and 1",
        ),
    ],
)
def test_bad_leaks_are_refused(pipe: str, kwargs: dict, error: type, message: str) -> None:
    wn = _small_model(loop=False)
    before = _fingerprint(wn)
    with pytest.raises(error, match=message):
        run_leak_scenario(wn, pipe, settings=TWO_HOURS, **kwargs)
    assert _fingerprint(wn) == before


def test_graph_of_another_network_is_refused() -> None:
    _, iso = _isolate(_small_model(loop=True), "AB", ("AB", "A"))
    other = _small_model(loop=False)
    with pytest.raises(InvalidInput, match="do not have the same nodes and links"):
        run_break_scenario(other, network_from_wntr(_small_model(loop=True)), iso, settings=TWO_HOURS)


# ---------------------------------------------------------------- L-Town against direct wntr runs


def _direct_run(wn: Any, closed: set[str], simulator: str, duration_s: int) -> Any:
    """What a hydrologist would do by hand: copy, close the links, drop the pump controls on them, run."""
    import wntr
    from wntr.network import LinkStatus

    model = copy.deepcopy(wn)
    model.options.time.duration = duration_s
    model.options.time.report_timestep = 3600
    model.options.hydraulic.demand_model = "PDD"
    model.options.hydraulic.required_pressure = 20.0
    model.options.hydraulic.minimum_pressure = 0.0
    for name in closed:
        model.get_link(name).initial_status = LinkStatus.Closed
    for control in list(model.control_name_list):
        if any(a.target()[0].name in closed for a in model.get_control(control).actions()):
            model.remove_control(control)
    if simulator == "epanet":
        return wntr.sim.EpanetSimulator(model).run_sim(file_prefix=str(_tmp_prefix()))
    return wntr.sim.WNTRSimulator(model).run_sim()


def _tmp_prefix() -> Any:
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="hyperviseur-test-epanet-")) / "direct"


def test_ltown_break_equals_direct_epanet_run(
    ltown_wn: Any, ltown_network: WaterNetwork, ltown_segments: SegmentModel
) -> None:
    iso = ltown_segments.isolate("p239")
    result = run_break_scenario(ltown_wn, ltown_network, iso, settings=HydraulicSettings(duration_s=3 * 3600))
    segment_nodes = set(iso.segment.nodes)
    # Closed by hand: the segment's links and every link touching its nodes (T1, n44, n54 …), the pump too.
    by_hand = set(iso.segment.links) | {
        name
        for name in ltown_wn.link_name_list
        if {ltown_wn.get_link(name).start_node_name, ltown_wn.get_link(name).end_node_name} & segment_nodes
    }
    assert set(result.closed_links) == by_hand
    assert "PUMP_1" in by_hand
    direct = _direct_run(ltown_wn, by_hand, "epanet", 3 * 3600)
    dry = {o.node for o in iso.outages}
    wet = [n for n in ltown_wn.junction_name_list if n not in dry]
    np.testing.assert_allclose(result.scenario.pressure_m[wet], direct.node["pressure"][wet], atol=1e-9)
    assert (result.scenario.pressure_m[sorted(dry - {"T1"})] == 0).all().all()
    # The 91 cut-off junctions and the segment's own fall below 20 m; the baseline had none below.
    assert set(result.summary.below_service) == dry - {"T1"}
    assert result.summary.already_below_service == ()
    assert result.summary.demand_not_served_m3 > 0
    report = break_report(result)
    assert report["valves_assumed"] is True
    assert report["hydraulics"]["below_service"] == list(result.summary.below_service)


def test_ltown_break_wntr_solver_agrees_and_finds_the_same_dry_nodes(
    ltown_wn: Any, ltown_network: WaterNetwork, ltown_segments: SegmentModel
) -> None:
    """wntr's own solver finds by itself the junctions our graph says are cut off; pressures agree with EPANET."""
    iso = ltown_segments.isolate("p239")
    one_hour = {"duration_s": 3600, "report_step_s": 1800}
    by_epanet = run_break_scenario(ltown_wn, ltown_network, iso, settings=HydraulicSettings(**one_hour))
    by_wntr = run_break_scenario(
        ltown_wn, ltown_network, iso, settings=HydraulicSettings(**one_hour, simulator="wntr")
    )
    pressure, demand = by_wntr.scenario.pressure_m, by_wntr.scenario.demand_m3_s
    junctions = ltown_wn.junction_name_list
    dry_by_wntr = {n for n in junctions if (pressure[n] == 0).all() and (demand[n] == 0).all()}
    assert dry_by_wntr == {o.node for o in iso.outages if o.kind == "junction"}
    np.testing.assert_allclose(
        by_wntr.scenario.pressure_m[junctions], by_epanet.scenario.pressure_m[junctions], atol=0.01
    )
    assert by_wntr.summary.demand_not_served_m3 == pytest.approx(
        by_epanet.summary.demand_not_served_m3, rel=1e-3
    )


def test_ltown_leak_equals_direct_wntr_run(ltown_wn: Any) -> None:
    import wntr

    settings = HydraulicSettings(duration_s=3600, report_step_s=1800, simulator="wntr")
    result = run_leak_scenario(ltown_wn, "p227", area_m2=0.002, start_s=1800, settings=settings)
    split = wntr.morph.split_pipe(ltown_wn, "p227", "p227_b", "p227_leak")
    model = prepare_model(split, settings)
    model.get_node("p227_leak").add_leak(model, area=0.002, discharge_coeff=0.75, start_time=1800)
    direct = wntr.sim.WNTRSimulator(model).run_sim()
    assert result.leak_node == "p227_leak"
    np.testing.assert_allclose(
        result.scenario.pressure_m, direct.node["pressure"][result.scenario.pressure_m.columns]
    )
    assert result.leak_flow_m3_s.loc[0] == 0 and result.leak_flow_m3_s.loc[1800] > 0
    drops = result.summary.max_pressure_drop_m
    assert drops["p227_leak"] > 0.1  # the leak's own node loses pressure once it opens
    assert (drops > -1e-6).all()  # a leak never raises a pressure
    assert result.leaked_volume_m3 > 0


def test_links_to_close_and_close_links_on_the_small_line() -> None:
    wn = _small_model(loop=False)
    net, iso = _isolate(wn, "AB", ("AB", "A"), ("BC", "C"))
    closed = links_to_close(net, iso)
    assert closed == ("AB", "BC")
    model = prepare_model(wn, TWO_HOURS)
    close_links(model, closed)
    assert [model.get_link(n).initial_status.name for n in ("RA", "AB", "BC")] == ["Open", "Closed", "Closed"]


def test_expected_demand_equals_wntr_metrics_on_ltown(ltown_wn: Any) -> None:
    import wntr

    ours = expected_demand_m3_s(ltown_wn, 24 * 3600, 300)
    theirs = wntr.metrics.expected_demand(ltown_wn, start_time=0, end_time=24 * 3600, timestep=300)
    assert list(ours.columns) == list(theirs.columns) and list(ours.index) == list(theirs.index)
    assert np.array_equal(ours.to_numpy(), theirs.to_numpy())
    assert ours.to_numpy().max() > 0  # L-Town's demands follow their patterns: a real comparison
