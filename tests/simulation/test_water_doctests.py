"""The docstring examples of the water simulation modules run and hold."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import simulation.water.benchmark
import simulation.water.isolation
import simulation.water.leaks
import simulation.water.network
import simulation.water.report
import simulation.water.valves


@pytest.mark.parametrize(
    "module",
    [
        simulation.water.network,
        simulation.water.valves,
        simulation.water.isolation,
        simulation.water.report,
        simulation.water.benchmark,
        simulation.water.leaks,
    ],
)
def test_docstring_examples(module: ModuleType) -> None:
    failures, tried = doctest.testmod(module)
    assert tried >= 1 and failures == 0
