"""The entry point crew dispatch uses: ``travel_time_matrix`` on the routing service, honouring closures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from routing.closures import Closure
from routing.engine import route, travel_time_matrix
from routing.service import RoutingService

POINTS = [(7.4236, 43.7372), (7.4268, 43.7395), (7.4197, 43.7313), (7.4286, 43.7412)]


def test_travel_time_matrix_for_dispatch(monaco_url):
    service = RoutingService(monaco_url)
    try:
        durations, distances = travel_time_matrix(service, POINTS, territory="Monaco")
        assert durations.shape == distances.shape == (4, 4)
        assert np.all(np.diag(durations) == 0) and np.all(np.diag(distances) == 0)
        graph = service.graph_for_points(POINTS)  # resident now: found by the points alone
        again, _ = travel_time_matrix(graph, POINTS, profile="crew_van")
        assert np.array_equal(again, durations, equal_nan=True)
        one, _ = route(graph, POINTS[0], POINTS[1], profile="crew_van")
        assert durations[0, 1] == one.duration_s
        with psycopg.connect(monaco_url) as conn:
            edge_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM twin.road_edges WHERE name = 'Avenue Princesse Alice'"
                ).fetchall()
            ]
        now = datetime.now(UTC)
        closure = Closure(
            1,
            graph.territory_id,
            "closure",
            None,
            tuple(edge_ids),
            None,
            None,
            None,
            now - timedelta(minutes=1),
            now + timedelta(minutes=5),
            "test",
            "test",
            now,
        )
        graph.set_closures([closure])
        closed, _ = travel_time_matrix(graph, POINTS)
        assert closed[0, 1] > durations[0, 1]
        assert np.array_equal(
            travel_time_matrix(graph, POINTS, at=now + timedelta(minutes=6))[0], durations, equal_nan=True
        )
    finally:
        service.close()
