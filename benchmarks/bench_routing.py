"""Routing side by side with pgRouting on the same edges: routes, isochrones, matrices, closure latency.

Territories: Monaco (OSM import), Montpellier's municipal street graph (GIS import) and a generated grid of
500 × 500 crossings (250,000 nodes, ≈1M arcs) loaded into ``twin.road_edges`` with COPY. Peers read the same
arcs with the same integer-millisecond costs (``round(travel_time_s * 1000)``); every answer is compared.

* route: one source-target pair per call; ours = CCH query (and plain Dijkstra, the baseline), pgRouting =
  ``pgr_dijkstra`` (it rebuilds its graph from SQL on every call);
* isochrone: the nodes reached within 300 s; ours = a bounded Dijkstra on the resident CSR (polygons cost
  extra, printed apart), pgRouting = ``pgr_drivingDistance``;
* 100 × 100 matrix: ours = CCH one-to-many sweeps, pgRouting = ``pgr_dijkstraCostMatrix``;
* closure latency: from "these k arcs are closed" (closures resolved, overlay built) to the first route that
  avoids them, for k = 1, 100, 1,000; the CCH re-customisation that follows in the background is timed apart.

Turn restrictions are left out of the compared graphs (pgRouting's Dijkstra has none).
"""

from __future__ import annotations

import dataclasses
import io
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from benchmarks.harness import SHARED_DATA, percentile, report, throwaway_database, time_calls
from routing.closures import Closure
from routing.graph import profile_graph_from_network
from routing.isochrones import isochrones
from routing.network import RoadNetwork, road_network_from_db
from routing.profiles import PROFILES
from routing.resident import TerritoryGraph
from routing.search import CchEngine, CchIndex, DijkstraEngine

GRID_SIDE = 500
ROUTE_CALLS = {"Monaco": 100, "Montpellier": 100, "Grid": 15}
MATRIX_SIZE = 100
BUDGET_S = 300.0
MONACO_PBF = SHARED_DATA / "osm" / "monaco-latest.osm.pbf"
STREETS_ZIP = SHARED_DATA / "opendata_fr/montpellier/VilleMTP_MTP_FilaireVoies/VilleMTP_MTP_FilaireVoies.zip"


def load_grid(url: str, side: int = GRID_SIDE) -> None:
    """A ``side`` × ``side`` grid of two-way streets 100 m apart near Lyon, random speeds 20–90 km/h."""
    rng = np.random.default_rng(250)
    lon0, lat0, dlon, dlat = 4.80, 45.70, 100 / (111_320 * np.cos(np.radians(45.7))), 100 / 111_320
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, source) VALUES ('Grid', 2154, 'generated') RETURNING id"
        ).fetchone()
        seq = conn.execute("SELECT nextval('twin.road_nodes_id_seq')").fetchone()
        assert row is not None and seq is not None
        tid, first = row[0], seq[0]
        ids = first + 1 + np.arange(side * side)
        conn.execute("SELECT setval('twin.road_nodes_id_seq', %s)", (int(ids[-1]),))
        ij = np.indices((side, side)).reshape(2, -1).T
        lon, lat = lon0 + ij[:, 1] * dlon, lat0 + ij[:, 0] * dlat
        conn.execute("ALTER TABLE twin.road_nodes DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE twin.road_edges DISABLE TRIGGER USER")
        with conn.cursor().copy(
            "COPY twin.road_nodes (id, territory_id, source_id, geom) FROM STDIN"
        ) as copy:
            for k in range(side * side):
                copy.write_row((int(ids[k]), tid, f"grid/{k}", f"SRID=4326;POINT({lon[k]} {lat[k]})"))
        grid = np.arange(side * side).reshape(side, side)
        pairs = [(grid[:, :-1].ravel(), grid[:, 1:].ravel()), (grid[:-1, :].ravel(), grid[1:, :].ravel())]
        a = np.concatenate([p[0] for p in pairs])
        b = np.concatenate([p[1] for p in pairs])
        speed = rng.uniform(20, 90, len(a))
        buf = io.StringIO()
        for u, v, s in zip(a, b, speed, strict=True):
            for x, y in ((u, v), (v, u)):
                t = 100.0 / (s / 3.6)
                buf.write(
                    f"{tid}\t{ids[x]}\t{ids[y]}\tresidential\t100\t{s:.3f}\t{t:.6f}\t"
                    f"SRID=4326;LINESTRING({lon[x]} {lat[x]},{lon[y]} {lat[y]})\n"
                )
        with conn.cursor().copy(
            "COPY twin.road_edges (territory_id, source_node, target_node, highway, length_m, speed_kph,"
            " travel_time_s, geom) FROM STDIN"
        ) as copy:
            copy.write(buf.getvalue())
        conn.execute("ALTER TABLE twin.road_nodes ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE twin.road_edges ENABLE TRIGGER USER")
        conn.commit()


def _peer_table(conn: psycopg.Connection[Any], name: str, network: RoadNetwork, edge_ids: np.ndarray) -> str:
    table = f"bench_edges_{name.lower()}"
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(
        f"CREATE TABLE {table} AS SELECT id, source_node AS source, target_node AS target,"
        " round(travel_time_s * 1000)::float8 AS cost FROM twin.road_edges WHERE territory_id = %s AND id = ANY(%s)",
        (network.territory_id, edge_ids.tolist()),
    )
    conn.execute(f"ANALYZE {table}")
    conn.commit()
    return f"SELECT id, source, target, cost FROM {table}"


def _lines(name: str, results: list[str]) -> None:
    print(f"\n== {name} (summary) ==", flush=True)
    for line in results:
        print(line, flush=True)


def bench_territory(url: str, name: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        network = dataclasses.replace(road_network_from_db(conn, name), restrictions=[])
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        graph = profile_graph_from_network(network, PROFILES["car"])
        dijkstra = DijkstraEngine(graph, graph.weight_ms)
        graph_s = time.perf_counter() - started
        started = time.perf_counter()
        index = CchIndex(graph)
        cch_prep_s = time.perf_counter() - started
        started = time.perf_counter()
        cch = CchEngine(index, graph.weight_ms)
        customise_s = time.perf_counter() - started
        edges_sql = _peer_table(conn, name, network, network.edge_ids[np.unique(graph.edge)])
        rng = np.random.default_rng(6)
        ids = network.node_ids
        print(
            f"\n{name}: {network.n_nodes:,} nodes, {graph.n_arcs:,} arcs; load {load_s:.2f} s, CSR {graph_s:.2f} s, "
            f"CCH order+contraction {cch_prep_s:.2f} s, customisation {customise_s * 1000:.0f} ms",
            flush=True,
        )
        out: dict[str, Any] = {
            "nodes": network.n_nodes,
            "arcs": graph.n_arcs,
            "customise_ms": customise_s * 1000,
        }

        # --- routes
        n_calls = ROUTE_CALLS[name]
        pairs = [(int(s), int(t)) for s, t in rng.choice(network.n_nodes, (n_calls, 2))]
        peer_costs: list[float | None] = []
        ours: list[float] = []
        base: list[float] = []
        it = iter(pairs * 10)

        def peer_route() -> None:
            s, t = next(it)
            row = conn.execute(
                "SELECT agg_cost FROM pgr_dijkstra(%s, %s::bigint, %s::bigint) WHERE edge = -1",
                (edges_sql, int(ids[s]), int(ids[t])),
            ).fetchone()
            peer_costs.append(row[0] if row else (0.0 if s == t else None))

        peer = time_calls(peer_route, repeat=n_calls, warmup=0)
        for engine, sink in ((cch, ours), (dijkstra, base)):
            jt = iter(pairs * 10)
            sink.extend(
                time_calls(lambda e=engine, j=jt: _route_cost(e, next(j)), repeat=n_calls, warmup=0)  # type: ignore[misc]
            )
        for (s, t), want in zip(pairs, peer_costs, strict=True):
            got = [_route_cost(e, (s, t)) for e in (cch, dijkstra)]
            assert got[0] == got[1] == want, (name, s, t, got, want)
        lines = [
            report("route, CCH vs pgr_dijkstra", ours, peer, "pgr"),
            report("route, Dijkstra vs pgr_dijkstra", base, peer, "pgr"),
        ]
        out["route"] = (
            statistics.median(ours),
            percentile(ours, 99),
            statistics.median(peer),
            percentile(peer, 99),
            statistics.median(base),
        )

        # --- isochrone (reached nodes within the budget)
        starts = [int(s) for s in rng.choice(network.n_nodes, 10)]
        limit_ms = BUDGET_S * 1000
        reached_peer: list[set[int]] = []
        st = iter(starts * 10)

        def peer_iso() -> None:
            rows = conn.execute(
                "SELECT node FROM pgr_drivingDistance(%s, %s::bigint, %s)",
                (edges_sql, int(ids[next(st)]), limit_ms),
            ).fetchall()
            reached_peer.append({int(r[0]) for r in rows})

        peer = time_calls(peer_iso, repeat=len(starts), warmup=0)
        su = iter(starts * 10)
        ours = time_calls(lambda: dijkstra.tree(next(su), limit_ms=limit_ms), repeat=len(starts), warmup=0)
        for start, reached in zip(starts, reached_peer, strict=True):
            dist, _ = dijkstra.tree(start, limit_ms=limit_ms)
            assert set(ids[np.flatnonzero(dist <= limit_ms)].tolist()) == reached, (name, start)
        lines.append(report(f"isochrone {BUDGET_S:.0f} s (nodes) vs pgr_drivingDistance", ours, peer, "pgr"))
        out["isochrone"] = (
            statistics.median(ours),
            percentile(ours, 99),
            statistics.median(peer),
            percentile(peer, 99),
        )
        resident = TerritoryGraph(network, use_cch=False, profiles=("car",))
        lonlat = network.node_lonlat[starts[0]]
        polygons = time_calls(
            lambda: isochrones(resident, (float(lonlat[0]), float(lonlat[1])), [60, 180, BUDGET_S]),
            repeat=5,
            warmup=1,
        )
        out["isochrone_polygons_ms"] = statistics.median(polygons)
        lines.append(
            f"{'isochrone polygons 60/180/300 s (ours only)':<44} p50 {statistics.median(polygons):7.1f} ms"
        )

        # --- matrix
        nodes = sorted({int(s) for s in rng.choice(network.n_nodes, MATRIX_SIZE, replace=False)})
        groups = [[(n, 0)] for n in nodes]
        peer_rows: list[Any] = []
        peer = time_calls(
            lambda: peer_rows.append(
                conn.execute(
                    "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCostMatrix(%s, %s::bigint[])",
                    (edges_sql, ids[nodes].tolist()),
                ).fetchall()
            ),
            repeat=3 if name == "Grid" else 10,
            warmup=0,
        )
        tables: list[np.ndarray] = []
        ours = time_calls(lambda: tables.append(cch.costs(groups, groups)), repeat=10, warmup=1)
        position = {int(ids[n]): i for i, n in enumerate(nodes)}
        expected = np.full((len(nodes), len(nodes)), np.inf)
        np.fill_diagonal(expected, 0.0)
        for s, t, c in peer_rows[0]:
            expected[position[int(s)], position[int(t)]] = c
        assert np.array_equal(tables[0], expected), name
        lines.append(report(f"matrix {len(nodes)}x{len(nodes)} vs pgr_dijkstraCostMatrix", ours, peer, "pgr"))
        out["matrix"] = (
            statistics.median(ours),
            percentile(ours, 99),
            statistics.median(peer),
            percentile(peer, 99),
        )

        # --- closure latency
        out["closures"] = _closure_latency(network, lines)
        _lines(name, lines)
    return out


def _route_cost(engine: Any, pair: tuple[int, int]) -> float | None:
    path = engine.path([(pair[0], 0)], [(pair[1], 0)])
    return None if path is None else float(path.cost_ms)


def _closure_latency(network: RoadNetwork, lines: list[str]) -> dict[int, tuple[float, float, str]]:
    """Close k arcs (the first ones of a route, then random ones) and time until that route avoids them."""
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    results: dict[int, tuple[float, float, str]] = {}
    resident = TerritoryGraph(network, profiles=("car",))
    for k in (1, 100, 1000):
        samples, engines = [], set()
        for trial in range(7):
            s, t = (int(x) for x in rng.choice(network.n_nodes, 2))
            state = resident.state("car")
            before = state.base.dijkstra.path([(s, 0)], [(t, 0)])
            on_path = [int(state.graph.edge[a]) for a in (before.arcs if before else [])][: min(k, 5)]
            want = min(k, network.n_arcs) - len(on_path)  # Monaco has fewer than 1,000 arcs
            others = rng.choice(network.n_arcs, want, replace=False).tolist()
            edges = network.edge_ids[np.array(on_path + others, dtype=np.int64)]
            closure = Closure(
                10_000 * k + trial,
                network.territory_id,
                "closure",
                None,
                tuple(int(e) for e in edges),
                None,
                None,
                None,
                now - timedelta(minutes=1),
                None,
                "bench",
                "bench",
                now,
            )
            started = time.perf_counter()
            resident.set_closures([closure])
            state, overlay, engine = resident.engine("car")
            after = engine.path([(s, 0)], [(t, 0)])
            samples.append((time.perf_counter() - started) * 1000)
            engines.add(engine.name)
            closed = set(resident.closures[0].arcs.tolist())
            assert after is None or not closed & {int(state.graph.edge[a]) for a in after.arcs}
            reference = overlay.dijkstra.path([(s, 0)], [(t, 0)])
            assert (after is None) == (reference is None)
            assert after is None or reference is None or after.cost_ms == reference.cost_ms
        how = "+".join(sorted(engines))
        results[k] = (statistics.median(samples), percentile(samples, 99), how)
        label = f"closure of {min(k, network.n_arcs):,} arcs -> next route"
        lines.append(f"{label:<44} p50 {results[k][0]:7.2f} ms p99 {results[k][1]:7.2f} ms | engine {how}")
    return results


def main() -> None:
    from layers.importers.gis import import_gis
    from layers.importers.osm import import_osm

    with throwaway_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
        import_osm(url, MONACO_PBF, territory_name="Monaco")
        import_gis(url, STREETS_ZIP, layer="roads", territory_name="Montpellier", encoding="latin-1")
        started = time.perf_counter()
        load_grid(url)
        print(f"generated grid loaded in {time.perf_counter() - started:.1f} s", flush=True)
        for name in ("Monaco", "Montpellier", "Grid"):
            bench_territory(url, name)


if __name__ == "__main__":
    main()
