"""Time isolation queries, consequence reports and wntr scenario runs on one EPANET network.

Run ``.venv/bin/python -m simulation.water.benchmark ../shared/data/water/L-TOWN.inp`` (add ``--no-hydraulics``
to skip the solver runs). Prints p50/p95/max; nothing is asserted: figures go to docs/simulation.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simulation.water.hydraulics import HydraulicSettings, Simulator, run_break_scenario, run_leak_scenario
from simulation.water.isolation import SegmentModel
from simulation.water.network import network_from_wntr
from simulation.water.report import break_report, isolation_report
from simulation.water.valves import PlacementRule, default_isolation_valves


def percentiles_ms(samples_s: Sequence[float]) -> str:
    """``p50 … p95 … max …`` in milliseconds.

    Examples
    --------
    >>> percentiles_ms([0.001, 0.002, 0.003])
    'p50 2.000 ms, p95 2.900 ms, max 3.000 ms (n=3)'
    """
    ms = np.asarray(samples_s) * 1000
    return (
        f"p50 {np.percentile(ms, 50):.3f} ms, p95 {np.percentile(ms, 95):.3f} ms, max {ms.max():.3f} ms "
        f"(n={len(ms)})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inp", type=Path)
    parser.add_argument("--no-hydraulics", action="store_true")
    parser.add_argument("--duration-h", type=int, default=6)
    args = parser.parse_args(argv)
    import wntr

    wn = wntr.network.WaterNetworkModel(str(args.inp))
    network = network_from_wntr(wn, source=args.inp.name)
    print(f"{args.inp.name}: {network.n_nodes} nodes, {network.n_links} links")
    rules: tuple[PlacementRule, ...] = ("N", "N-1")
    for rule in rules:
        placement = default_isolation_valves(network, rule=rule)
        started = time.perf_counter()
        model = SegmentModel(network, placement)
        build_s = time.perf_counter() - started
        print(
            f"rule {rule}: {len(placement.valves)} valves assumed, {model.n_segments} segments, "
            f"segment graph built in {build_s * 1000:.1f} ms"
        )
        isolate_s, report_s = [], []
        for name in network.link_names:
            started = time.perf_counter()
            isolation = model.isolate(name)
            isolate_s.append(time.perf_counter() - started)
            isolation_report(isolation)
            report_s.append(time.perf_counter() - started)
        print("  isolate(link), every link:", percentiles_ms(isolate_s))
        print("  isolate + consequence report:", percentiles_ms(report_s))
    if args.no_hydraulics:
        return
    model = SegmentModel(network, default_isolation_valves(network))
    worst = max(network.link_names, key=lambda n: len(model.isolate(n).cut_off_nodes))
    pipes = [name for name, kind in zip(network.link_names, network.link_kind, strict=True) if kind == "pipe"]
    sample = [worst, *pipes[:: max(1, len(pipes) // 4)][:4]]
    duration_s = args.duration_h * 3600
    simulators: tuple[Simulator, ...] = ("epanet", "wntr")
    for simulator in simulators:
        settings = HydraulicSettings(duration_s=duration_s, simulator=simulator)
        runs, reports = [], []
        for pipe in sample:
            scenario = run_break_scenario(wn, network, model.isolate(pipe), settings=settings)
            runs += [scenario.baseline.run_time_s, scenario.scenario.run_time_s]
            started = time.perf_counter()
            break_report(scenario)
            reports.append(time.perf_counter() - started)
        print(f"break scenario, {simulator}, {args.duration_h} h: one run {percentiles_ms(runs)}")
        print(f"  break report from results: {percentiles_ms(reports)}")
    leak_runs = []
    for pipe in sample[:2]:
        leak = run_leak_scenario(
            wn,
            pipe,
            area_m2=0.001,
            start_s=3600,
            settings=HydraulicSettings(duration_s=duration_s, simulator="wntr"),
        )
        leak_runs += [leak.baseline.run_time_s, leak.scenario.run_time_s]
    print(f"leak scenario, wntr, {args.duration_h} h: one run {percentiles_ms(leak_runs)}")


if __name__ == "__main__":
    main()
