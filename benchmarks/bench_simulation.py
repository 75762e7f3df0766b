"""Consequence simulation: report latency against networkx, wntr scenario runs, leak localisation and detection.

``make bench-simulation`` (``python -m benchmarks.bench_simulation``; ``--events``, ``--leaks``, ``--quick``).

1. **Consequence report** from an initiating event (1–5 random streets closed, both directions) to the full
   JSON report, on Monaco (OSM import: its own fire stations and hospitals, then 50 facilities spread over
   its streets) and Montpellier (municipal streets and public buildings, 50 spread facilities, a fifth of
   them fire stations), against a straightforward networkx recomputation (graph with the event's weights,
   strongly connected components, one Dijkstra per facility anchor): :mod:`simulation.access_benchmark`.
   Every answer is compared (times from stations, to hospitals, main component). Target: ≥ 50× at p50 and
   p95 ≤ 200 ms for ≤ 50 facilities. The models are built, then ``gc.freeze()`` moves them out of the
   collector's sight, as a resident server does after loading; the count of reports that still met a
   full (generation-2) collection is printed.
2. **wntr run time per scenario** on L-Town (6 h, 5-min steps): pipe break (EPANET and wntr's solver), leak
   (wntr's solver, it alone models leaks), pump failure (PUMP_1 closed, EPANET).
3. **Leak localisation** on leaks injected in L-Town: top-k hit rates, single period (03:00) against
   multi-period (02:00–04:00 averaged).
4. **2019 SCADA**: detection delay of the three abrupt onsets and the rank of the organisers' pipe
   (:mod:`simulation.water.scada`).

Nothing is asserted on time: the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from benchmarks.harness import SHARED_DATA
from routing.network import road_network_from_db
from routing.resident import TerritoryGraph
from simulation.access import AccessModel, access_points_from_dependencies
from simulation.access_benchmark import (
    BUILDINGS_ZIP,
    MONACO_PBF,
    STREETS_ZIP,
    naive_access,
    spread_facilities,
)
from simulation.consequences import RoadClosureEvent, consequence_report
from simulation.dependencies import dependency_model_from_twin

LTOWN_INP = SHARED_DATA / "water" / "L-TOWN.inp"
SCADA_FLOWS = SHARED_DATA / "water" / "LTown_2019_SCADA_Flows.csv.gz"
FACILITIES = 50


def _ms(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def bench_reports(url: str, territory: str, *, events: int, facilities: int | None, seed: int = 8) -> str:
    """One row: report p50/p95 against networkx p50/p95, ratios, answers checked equal."""
    with psycopg.connect(url) as conn:
        network = road_network_from_db(conn, territory)
    graph = TerritoryGraph(network, use_cch=False, profiles=("emergency",))
    deps = dependency_model_from_twin(url, territory, road_graph=graph)
    points = access_points_from_dependencies(graph, deps)
    if facilities:
        points = [p for p in points if p.layer == "buildings"] + spread_facilities(graph, facilities, seed)
    model = AccessModel(graph, points)
    model.assess([])
    gc.collect()
    gc.freeze()
    full_collections = []
    gc.callbacks.append(lambda phase, info: full_collections.append(1) if info["generation"] == 2 else None)
    rng = np.random.default_rng(seed)
    drivable = network.edge_ids[np.unique(model.state.graph.edge)]
    ours_ms, peer_ms, affected, isolating = [], [], [], 0
    for _ in range(events):
        picked = rng.choice(drivable, size=int(rng.integers(1, 6)), replace=False)
        twins = [
            int(network.edge_ids[t])
            for e in network.arcs_of_edge_ids(picked)
            for t in np.flatnonzero((network.tail == network.head[e]) & (network.head == network.tail[e]))
        ]
        event = RoadClosureEvent(tuple(sorted({*picked.tolist(), *twins})))
        started = time.perf_counter()
        report = consequence_report([event], access=model, dependencies=deps)
        document = report.as_json()
        ours_ms.append((time.perf_counter() - started) * 1000)
        affected.append(len(document["affected"]))
        isolating += bool(document["access"]["isolated_areas"])
        assert report.access is not None
        started = time.perf_counter()
        from_station, to_hospital, main = naive_access(model, report.access.closures)
        peer_ms.append((time.perf_counter() - started) * 1000)
        assert np.array_equal(from_station, report.access.after.from_station_ms), "times from stations differ"
        assert np.array_equal(to_hospital, report.access.after.to_hospital_ms), "times to hospitals differ"
        assert main == set(np.flatnonzero(report.access.after.in_main).tolist()), "main components differ"
    gc.callbacks.pop()
    gc.unfreeze()
    label = f"{territory} ({len(model.stations)} st. + {len(model.hospitals)} hosp.)"
    line = (
        f"{label:<34} {network.n_arcs:>6} arcs {len(points):>5} pts | report p50 {_ms(ours_ms, 50):6.2f} ms "
        f"p95 {_ms(ours_ms, 95):6.2f} ms | networkx p50 {_ms(peer_ms, 50):7.1f} ms p95 {_ms(peer_ms, 95):7.1f} ms "
        f"| ratio p50 {_ms(peer_ms, 50) / _ms(ours_ms, 50):5.1f}x p95 {_ms(peer_ms, 95) / _ms(ours_ms, 95):5.1f}x "
        f"| affected median {int(np.median(affected))} max {max(affected)}, {isolating}/{events} isolate, "
        f"{len(full_collections)} full GC | answers equal"
    )
    print(line, flush=True)
    return line


def bench_hydraulics(wn: Any, *, duration_h: int = 6) -> list[str]:
    """Run time of one scenario run (baseline and scenario each count) per kind, p50/p95 (s)."""
    from simulation.water.hydraulics import (
        HydraulicSettings,
        close_links,
        prepare_model,
        run_break_scenario,
        run_leak_scenario,
        run_model,
    )
    from simulation.water.isolation import SegmentModel
    from simulation.water.network import network_from_wntr
    from simulation.water.valves import default_isolation_valves

    network = network_from_wntr(wn, source="L-TOWN.inp")
    segments = SegmentModel(network, default_isolation_valves(network))
    pipes = sorted(wn.pipe_name_list)
    sample = pipes[:: max(1, len(pipes) // 5)][:5]
    duration_s = duration_h * 3600
    epanet = HydraulicSettings(duration_s=duration_s, report_step_s=300, simulator="epanet")
    solver = HydraulicSettings(duration_s=duration_s, report_step_s=300, simulator="wntr")
    runs: dict[str, list[float]] = {
        "break, EPANET": [],
        "break, wntr": [],
        "leak, wntr": [],
        "pump failure, EPANET": [],
    }
    for pipe in sample:
        for settings, key in ((epanet, "break, EPANET"), (solver, "break, wntr")):
            scenario = run_break_scenario(wn, network, segments.isolate(pipe), settings=settings)
            runs[key] += [scenario.baseline.run_time_s, scenario.scenario.run_time_s]
    for pipe in sample[:3]:
        leak = run_leak_scenario(wn, pipe, area_m2=2e-4, start_s=3600, settings=solver)
        runs["leak, wntr"] += [leak.baseline.run_time_s, leak.scenario.run_time_s]
    for _ in range(5):
        model = prepare_model(wn, epanet)
        close_links(model, ("PUMP_1",))
        runs["pump failure, EPANET"].append(run_model(model, "epanet").run_time_s)
    lines = []
    for key, samples_s in runs.items():
        ms = [s * 1000 for s in samples_s]
        line = f"L-Town {duration_h} h, {key:<22} one run p50 {_ms(ms, 50):7.0f} ms p95 {_ms(ms, 95):7.0f} ms (n={len(ms)})"
        print(line, flush=True)
        lines.append(line)
    return lines


def bench_localisation(wn: Any, *, leaks: int) -> list[str]:
    from simulation.water.leaks import NIGHT_TIME_S, NIGHT_TIMES_S, LeakLocator, evaluate_localisation
    from simulation.water.network import network_from_wntr

    network = network_from_wntr(wn, source="L-TOWN.inp")
    lines = []
    for label, times in (("single period 03:00", NIGHT_TIME_S), ("multi-period 02-04:00", NIGHT_TIMES_S)):
        locator = LeakLocator(wn, network, time_s=times)
        evaluation = evaluate_localisation(locator, wn, n_leaks=leaks, seed=0)
        locate_ms = [t.locate_time_s * 1000 for t in evaluation.trials]
        rates = " ".join(
            f"top-{k} {evaluation.pipe_hit_rate(k):.2f}/{evaluation.junction_hit_rate(k):.2f}"
            for k in (1, 5, 10, 20)
        )
        line = (
            f"leak localisation, {label:<22} {leaks} injected leaks, pipe/junction {rates} | "
            f"locator built in {locator.build_time_s:.1f} s, locate p50 {_ms(locate_ms, 50):.2f} ms"
        )
        print(line, flush=True)
        lines.append(line)
    return lines


def bench_scada(wn: Any) -> list[str]:
    from simulation.water import scada
    from simulation.water.network import network_from_wntr

    flows = scada.load_flows(SCADA_FLOWS)
    locator = scada.scada_locator(wn, network_from_wntr(wn, source="L-TOWN.inp"))
    lines = []
    for r in scada.evaluate_known_leaks(flows, locator):
        residual = ", ".join(f"{k} {v:+.1f}" for k, v in r.night_residual_m3_h.items())
        line = (
            f"2019 SCADA leak {r.leak.name} ({r.leak.pipe}, onset {r.leak.onset:%Y-%m-%d %H:%M}): detected after "
            f"{r.delay}, {r.alarms_before} alarms in the {r.leak.onset - r.leak.scan_start} before; night residual "
            f"{residual} m³/h; true pipe rank {r.pipe_rank} of {len(wn.pipe_name_list)}; top 5 {', '.join(r.top_pipes)}"
        )
        print(line, flush=True)
        lines.append(line)
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--leaks", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="Monaco only, 30 events, 20 leaks")
    args = parser.parse_args(argv)
    events, leaks = (30, 20) if args.quick else (args.events, args.leaks)
    print(
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    import wntr

    from benchmarks.harness import throwaway_database
    from layers.importers.gis import import_gis
    from layers.importers.osm import import_osm

    print(
        "\n== Consequence report from a road closure vs networkx (target ≥ 50× p50, p95 ≤ 200 ms) ==",
        flush=True,
    )
    with throwaway_database() as url:
        import_osm(url, MONACO_PBF, territory_name="Monaco")
        bench_reports(url, "Monaco", events=events, facilities=None)
        bench_reports(url, "Monaco", events=events, facilities=FACILITIES)
        if not args.quick:
            for layer, path in (("roads", STREETS_ZIP), ("buildings", BUILDINGS_ZIP)):
                import_gis(url, path, layer=layer, territory_name="Montpellier", encoding="latin-1")
            bench_reports(url, "Montpellier", events=events, facilities=FACILITIES)
    wn = wntr.network.WaterNetworkModel(str(LTOWN_INP))
    print("\n== wntr scenario runs on L-Town ==", flush=True)
    bench_hydraulics(wn)
    print(
        "\n== Leak localisation on injected leaks (L-Town, 33 pressure + 3 flow sensors, seed 0) ==",
        flush=True,
    )
    bench_localisation(wn, leaks=leaks)
    print("\n== BattLeDIM 2019 SCADA (flows only): detection delay, rank of the true pipe ==", flush=True)
    bench_scada(wn)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
