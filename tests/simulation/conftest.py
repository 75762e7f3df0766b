"""L-Town loaded once per session: the wntr model, its graph and its segments under the default valve rule."""

from __future__ import annotations

from typing import Any

import pytest

from simulation.water.isolation import SegmentModel
from simulation.water.network import WaterNetwork, network_from_wntr
from simulation.water.valves import default_isolation_valves
from tests.common import LTOWN_INP, shared_file


@pytest.fixture(scope="session")
def ltown_wn() -> Any:
    import wntr

    return wntr.network.WaterNetworkModel(str(shared_file(LTOWN_INP)))


@pytest.fixture(scope="session")
def ltown_network(ltown_wn: Any) -> WaterNetwork:
    return network_from_wntr(ltown_wn, source="L-TOWN.inp")


@pytest.fixture(scope="session")
def ltown_segments(ltown_network: WaterNetwork) -> SegmentModel:
    return SegmentModel(ltown_network, default_isolation_valves(ltown_network))
