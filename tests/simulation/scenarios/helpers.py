"""Scenario rows for the route walk: a fresh scenario or run of a territory, written straight to the tables."""

from __future__ import annotations

import json

import psycopg


def walk_scenario(url: str, territory_id: int) -> int:
    """A fresh scenario (one road closure event on the territory's first arc), version 1."""
    with psycopg.connect(url) as conn:
        edge = conn.execute(
            "SELECT min(id) FROM twin.road_edges WHERE territory_id = %s", (territory_id,)
        ).fetchone()
        events = (
            [{"type": "road_closure", "edge_ids": [int(edge[0])], "reason": "", "at_s": 0.0}]
            if edge and edge[0]
            else []
        )
        row = conn.execute(
            "INSERT INTO simulation.scenarios (territory_id, name, events, created_by) VALUES (%s, 'walk', %s, 'walk')"
            " RETURNING id",
            (territory_id, json.dumps(events)),
        ).fetchone()
    assert row is not None
    return int(row[0])


def walk_run(url: str, territory_id: int) -> int:
    """A finished run (done, with an empty report) of a fresh scenario."""
    scenario = walk_scenario(url, territory_id)
    report = {"territory": "walk", "events": [], "residents_hit": 0, "affected": [], "access": None}
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO simulation.scenario_runs (scenario_id, scenario_version, status, progress, requested_by,"
            " started_at, finished_at, kpis, baseline_kpis, report) VALUES (%s, 1, 'done', 1, 'walk', now(), now(),"
            " '{}', '{}', %s) RETURNING id",
            (scenario, json.dumps(report)),
        ).fetchone()
    assert row is not None
    return int(row[0])
