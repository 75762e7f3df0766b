"""Start-up catch-up: incidents created while automatic consequences were off are computed when a server with
them on starts (the same path as after a lost bus connection)."""

from __future__ import annotations

import pytest

from simulation.live_use.worker import ConsequenceService
from tests.layers.ogc_fixtures import Caller, serve_app, server_settings, signed_in
from tests.live.conftest import wait_until
from tests.simulation.live_use.helpers import call, declare, finished
from tests.simulation.live_use.town import Town, make_town
from twin.app import create_app
from twin.settings import SimulationSettings


@pytest.fixture(scope="module")
def town(database_url: str) -> Town:
    return make_town(database_url, prefix="Vivre-reprise")


@pytest.fixture(scope="module")
def operator(database_url: str) -> Caller:
    return signed_in(database_url, "operator")


def test_catch_up_on_start_computes_incidents_created_while_automatic_was_off(
    database_url: str, town: Town, operator: Caller
) -> None:
    settings = server_settings(database_url)
    settings.simulation = SimulationSettings(auto_consequences=False)
    off = create_app(settings)
    with serve_app(off) as url:
        wait_until(lambda: off.state.bus.connected.is_set())
        quiet = declare(url, operator, town, "traffic", 200, 120)
        asked = declare(url, operator, town, "traffic", 200, 130)
        call(url, operator, "POST", f"/api/incidents/{asked}/consequences", 202)
        assert finished(url, operator, asked)["status"] == "done"
        # The worker handled the later request: the earlier incident was never queued.
        service: ConsequenceService = off.state.consequences
        assert quiet not in {o.incident_id for o in service.computed}
        call(url, operator, "GET", f"/api/incidents/{quiet}/consequences", 404)
    settings = server_settings(database_url)
    settings.simulation = SimulationSettings(auto_consequences=True)
    on = create_app(settings)
    with serve_app(on) as url:
        doc = finished(url, operator, quiet)
        assert doc["status"] == "done" and doc["events"][0]["edge_ids"] == town.street("Impasse des Lilas")
