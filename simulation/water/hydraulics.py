"""Pipe-break and leak scenarios run with wntr (EPANET 2.2 or wntr's own solver) against a baseline run.

Both runs use pressure-dependent demand (PDD): a junction gets its full demand at or above
``pdd_required_pressure_m``, none at ``pdd_minimum_pressure_m``, and a share in between, so a pressure drop
shows up as demand not served instead of impossible negative pressures.

- **Break**: the segment around the broken pipe is shut: every link of the segment and every link touching
  one of its nodes is closed from the start of the run (controls that would reopen a closed pump or valve are
  removed). EPANET reports meaningless pressures at nodes no source reaches, so with ``simulator="epanet"``
  the nodes the isolation analysis knows are without water get pressure 0 and demand 0 — what wntr's own
  solver reports for them by itself.
- **Leak**: the pipe is split at ``split_at`` of its length and a leak (orifice of ``area_m2``, discharge
  coefficient 0.75) opens at the new junction at ``start_s``. Only wntr's solver models leaks, so both
  runs use it; the baseline is the same split network without the leak.

Every run works on a copy: the model passed in is never changed.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from simulation.water.isolation import Isolation
from simulation.water.network import WaterNetwork
from twin.errors import InvalidInput, NotFound

Simulator = Literal["epanet", "wntr"]


@dataclass(frozen=True)
class HydraulicSettings:
    """How long to simulate, what counts as service, and which solver runs."""

    duration_s: int = 6 * 3600
    report_step_s: int = 3600
    service_pressure_m: float = 20.0
    pdd_required_pressure_m: float = 20.0
    pdd_minimum_pressure_m: float = 0.0
    simulator: Simulator = "epanet"

    def __post_init__(self) -> None:
        for name in ("duration_s", "report_step_s"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InvalidInput(f"{name} must be a positive whole number of seconds, not {value!r}")
        if self.report_step_s > self.duration_s:
            raise InvalidInput(
                f"report_step_s ({self.report_step_s}) is longer than duration_s ({self.duration_s})"
            )
        for name in ("service_pressure_m", "pdd_required_pressure_m", "pdd_minimum_pressure_m"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInput(f"{name} must be a finite number of metres, not {value!r}")
        if self.pdd_required_pressure_m <= self.pdd_minimum_pressure_m:
            raise InvalidInput(
                "pdd_required_pressure_m must be above pdd_minimum_pressure_m "
                f"({self.pdd_required_pressure_m} ≤ {self.pdd_minimum_pressure_m})"
            )
        if self.simulator not in ("epanet", "wntr"):
            raise InvalidInput(f"simulator {self.simulator!r} is not 'epanet' or 'wntr'")


@dataclass(frozen=True)
class RunOutput:
    """One simulation: pressures (m) and delivered and expected demands (m³/s), times in seconds as index."""

    pressure_m: pd.DataFrame
    demand_m3_s: pd.DataFrame
    expected_demand_m3_s: pd.DataFrame
    run_time_s: float
    results: Any  # wntr's SimulationResults, for anything not summarised here

    def demand_not_served_m3(self) -> pd.Series:
        """Per junction, the volume asked for and not delivered over the run (trapezoid rule)."""
        junctions = self.expected_demand_m3_s.columns
        shortfall = (self.expected_demand_m3_s - self.demand_m3_s[junctions]).clip(lower=0.0)
        times_s = shortfall.index.to_numpy(dtype=float)
        if len(times_s) < 2:
            return pd.Series(0.0, index=junctions)
        return pd.Series(np.trapezoid(shortfall.to_numpy(), x=times_s, axis=0), index=junctions)


@dataclass(frozen=True)
class ScenarioSummary:
    """What a scenario changes against its baseline, for the junctions (customers' nodes)."""

    below_service: tuple[str, ...]  # below service pressure at some time in the scenario, not in the baseline
    already_below_service: tuple[str, ...]  # below it in the baseline too
    min_pressure_m: pd.Series  # per junction, over the run
    baseline_min_pressure_m: pd.Series
    max_pressure_drop_m: pd.Series  # per junction, max over time of baseline − scenario
    demand_not_served_m3: float  # scenario minus baseline, all junctions
    demand_not_served_by_node_m3: pd.Series


@dataclass(frozen=True)
class BreakScenario:
    """A pipe break: the segment shut by its valves, against the intact network."""

    isolation: Isolation
    closed_links: tuple[str, ...]
    settings: HydraulicSettings
    baseline: RunOutput
    scenario: RunOutput
    summary: ScenarioSummary


@dataclass(frozen=True)
class LeakScenario:
    """A leak on a pipe, against the same network without it."""

    pipe: str
    leak_node: str
    area_m2: float
    start_s: int
    end_s: int | None
    settings: HydraulicSettings
    baseline: RunOutput
    scenario: RunOutput
    summary: ScenarioSummary
    leak_flow_m3_s: pd.Series
    leaked_volume_m3: float


def prepare_model(wn: Any, settings: HydraulicSettings) -> Any:
    """A copy of ``wn`` with the run length, report step and pressure-dependent demand of ``settings``."""
    model = copy.deepcopy(wn)
    time_options = model.options.time
    time_options.duration = settings.duration_s
    time_options.report_timestep = settings.report_step_s
    time_options.hydraulic_timestep = min(time_options.hydraulic_timestep, settings.report_step_s)
    hydraulic = model.options.hydraulic
    hydraulic.demand_model = "PDD"
    hydraulic.required_pressure = settings.pdd_required_pressure_m
    hydraulic.minimum_pressure = settings.pdd_minimum_pressure_m
    return model


def links_to_close(network: WaterNetwork, isolation: Isolation) -> tuple[str, ...]:
    """Links closed in the hydraulic model to shut a segment: its links and every link touching its nodes.

    A closed valve at the end of a pipe outside the segment stops that pipe at the segment's node; with
    no other way out it carries nothing, so closing it whole is hydraulically the same.
    """
    names = set(isolation.segment.links)
    nodes = np.array([network.node_index[n] for n in isolation.segment.nodes], dtype=np.int64)
    touching = np.isin(network.link_start, nodes) | np.isin(network.link_end, nodes)
    names.update(network.link_names[i] for i in np.flatnonzero(touching))
    return tuple(sorted(names))


def close_links(model: Any, links: tuple[str, ...]) -> None:
    """Close ``links`` in ``model`` for the whole run, removing the controls that would reopen them."""
    from wntr.network import LinkStatus

    closing = set(links)
    for name in links:
        model.get_link(name).initial_status = LinkStatus.Closed
    for control_name in list(model.control_name_list):
        targets = {action.target()[0].name for action in model.get_control(control_name).actions()}
        if targets & closing:
            model.remove_control(control_name)


def run_model(model: Any, simulator: Simulator) -> RunOutput:
    """Run ``model`` as is with ``simulator``; EPANET's files go to a throwaway folder."""
    import wntr

    started = time.perf_counter()
    if simulator == "epanet":
        with tempfile.TemporaryDirectory(prefix="hyperviseur-epanet-") as folder:
            results = wntr.sim.EpanetSimulator(model).run_sim(file_prefix=str(Path(folder) / "run"))
    else:
        results = wntr.sim.WNTRSimulator(model).run_sim()
    run_time_s = time.perf_counter() - started
    pressure = results.node["pressure"]
    expected = expected_demand_m3_s(
        model, model.options.time.duration, model.options.time.report_timestep
    ).reindex(pressure.index)
    return RunOutput(pressure, results.node["demand"], expected, run_time_s, results)


def expected_demand_m3_s(model: Any, end_s: int, step_s: int) -> pd.DataFrame:
    """What each junction asks for at each report time from 0 to ``end_s`` (base demands × patterns ×
    the demand multiplier): ``wntr.metrics.expected_demand``'s answer, computed once per pattern instead of
    once per junction and time (that took 90 % of a 24-hour scenario on L-Town)."""
    times = np.arange(0, end_s + step_s, step_s)
    multiplier = model.options.hydraulic.demand_multiplier
    by_pattern: dict[str | None, np.ndarray] = {}
    names, columns = [], []
    for name, junction in model.junctions():
        total = np.zeros(len(times))
        for demand in junction.demand_timeseries_list:
            key = demand.pattern_name
            if key not in by_pattern:
                pattern = demand.pattern
                by_pattern[key] = np.array([pattern.at(t) for t in times]) if pattern else np.ones(len(times))
            total += demand.base_value * by_pattern[key] * multiplier
        names.append(name)
        columns.append(total)
    data = np.column_stack(columns) if columns else np.empty((len(times), 0))
    return pd.DataFrame(data, index=times, columns=names)


def run_break_scenario(
    wn: Any, network: WaterNetwork, isolation: Isolation, *, settings: HydraulicSettings | None = None
) -> BreakScenario:
    """Shut the segment of ``isolation`` and compare pressures and served demand with the intact network.

    Parameters
    ----------
    wn : wntr.network.WaterNetworkModel
        The hydraulic model; ``network`` must be its graph (same names).
    network : WaterNetwork
        The graph the isolation was computed on.
    isolation : Isolation
        From ``SegmentModel.isolate``.
    settings : HydraulicSettings, optional
        Duration, service pressure, solver.
    """
    settings = settings or HydraulicSettings()
    _check_same_network(wn, network)
    baseline_model = prepare_model(wn, settings)
    baseline = run_model(baseline_model, settings.simulator)
    closed = links_to_close(network, isolation)
    model = prepare_model(wn, settings)
    close_links(model, closed)
    scenario = run_model(model, settings.simulator)
    if settings.simulator == "epanet":
        scenario = _without_water(scenario, [o.node for o in isolation.outages])
    return BreakScenario(
        isolation=isolation,
        closed_links=closed,
        settings=settings,
        baseline=baseline,
        scenario=scenario,
        summary=summarise(baseline, scenario, settings),
    )


def run_leak_scenario(
    wn: Any,
    pipe: str,
    *,
    area_m2: float,
    start_s: int = 0,
    end_s: int | None = None,
    split_at: float = 0.5,
    discharge_coeff: float = 0.75,
    settings: HydraulicSettings | None = None,
) -> LeakScenario:
    """Open a leak in the middle of ``pipe`` and compare with the same network without it (wntr's solver).

    Raises
    ------
    NotFound
        No pipe named ``pipe``.
    InvalidInput
        Area not positive or larger than the pipe's cross-section, times outside the run, split not in (0, 1).
    """
    import wntr

    settings = settings or HydraulicSettings(simulator="wntr")
    if pipe not in set(wn.pipe_name_list):
        raise NotFound(f"no pipe named {pipe!r} in the hydraulic model / aucune conduite nommée {pipe!r}")
    section_m2 = math.pi * wn.get_link(pipe).diameter ** 2 / 4
    if not isinstance(area_m2, int | float) or not math.isfinite(area_m2) or area_m2 <= 0:
        raise InvalidInput(f"leak area_m2 must be a positive number of m², not {area_m2!r}")
    if area_m2 > section_m2:
        raise InvalidInput(
            f"leak area {area_m2} m² is larger than the cross-section of {pipe} ({section_m2:.5f} m²): "
            "that is a full break — isolate the pipe instead"
        )
    if not (isinstance(split_at, int | float) and 0 < split_at < 1):
        raise InvalidInput(f"split_at must be strictly between 0 and 1, not {split_at!r}")
    _check_time("start_s", start_s, settings)
    if end_s is not None:
        _check_time("end_s", end_s, settings, allow_end=True)
        if end_s <= start_s:
            raise InvalidInput(f"end_s ({end_s}) must come after start_s ({start_s})")
    leak_node, new_pipe = _unused_name(wn, f"{pipe}_leak"), _unused_name(wn, f"{pipe}_b")
    split = wntr.morph.split_pipe(wn, pipe, new_pipe, leak_node, split_at_point=split_at, return_copy=True)
    wntr_settings = HydraulicSettings(**{**settings.__dict__, "simulator": "wntr"})
    baseline = run_model(prepare_model(split, wntr_settings), "wntr")
    model = prepare_model(split, wntr_settings)
    model.get_node(leak_node).add_leak(
        model, area=area_m2, discharge_coeff=discharge_coeff, start_time=start_s, end_time=end_s
    )
    scenario = run_model(model, "wntr")
    leak_flow = scenario.results.node["leak_demand"][leak_node]
    times_s = leak_flow.index.to_numpy(dtype=float)
    volume = float(np.trapezoid(leak_flow.to_numpy(), x=times_s)) if len(times_s) > 1 else 0.0
    return LeakScenario(
        pipe=pipe,
        leak_node=leak_node,
        area_m2=float(area_m2),
        start_s=start_s,
        end_s=end_s,
        settings=wntr_settings,
        baseline=baseline,
        scenario=scenario,
        summary=summarise(baseline, scenario, wntr_settings),
        leak_flow_m3_s=leak_flow,
        leaked_volume_m3=volume,
    )


def summarise(baseline: RunOutput, scenario: RunOutput, settings: HydraulicSettings) -> ScenarioSummary:
    """Junction pressures and unserved demand, scenario against baseline."""
    junctions = scenario.expected_demand_m3_s.columns
    pressure, base_pressure = scenario.pressure_m[junctions], baseline.pressure_m[junctions]
    min_pressure, base_min = pressure.min(), base_pressure.min()
    below = min_pressure < settings.service_pressure_m
    base_below = base_min < settings.service_pressure_m
    not_served = scenario.demand_not_served_m3() - baseline.demand_not_served_m3()
    return ScenarioSummary(
        below_service=tuple(junctions[below & ~base_below]),
        already_below_service=tuple(junctions[base_below]),
        min_pressure_m=min_pressure,
        baseline_min_pressure_m=base_min,
        max_pressure_drop_m=(base_pressure - pressure).max(),
        demand_not_served_m3=float(not_served.sum()),
        demand_not_served_by_node_m3=not_served,
    )


def _without_water(run: RunOutput, nodes: list[str]) -> RunOutput:
    """Pressure 0 and demand 0 at nodes no source reaches (EPANET's numbers there mean nothing)."""
    pressure, demand = run.pressure_m.copy(), run.demand_m3_s.copy()
    pressure.loc[:, nodes] = 0.0
    demand.loc[:, nodes] = 0.0
    return RunOutput(pressure, demand, run.expected_demand_m3_s, run.run_time_s, run.results)


def _check_same_network(wn: Any, network: WaterNetwork) -> None:
    if set(wn.node_name_list) != set(network.node_names) or set(wn.link_name_list) != set(network.link_names):
        raise InvalidInput(
            f"the hydraulic model and the graph of {network.source} do not have the same nodes and links: "
            "build the graph with network_from_wntr(wn)"
        )


def _check_time(name: str, value: Any, settings: HydraulicSettings, *, allow_end: bool = False) -> None:
    limit_ok = value <= settings.duration_s if allow_end else value < settings.duration_s
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or not limit_ok:
        raise InvalidInput(
            f"{name} must be a whole number of seconds within the run (0 … {settings.duration_s}), not {value!r}"
        )


def _unused_name(wn: Any, name: str) -> str:
    taken = set(wn.node_name_list) | set(wn.link_name_list)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}{n}"
    return candidate
