"""A consequence report for one or several initiating events: affected assets with reasons, people, actions.

The engine lives in :mod:`simulation.propagation` (one module per kind of effect); this module keeps the
names other packages import: :func:`consequence_report`, :class:`ConsequenceReport`, :class:`AffectedAsset`
and the event classes.
"""

from __future__ import annotations

from simulation.events import (
    FloodEvent,
    InitiatingEvent,
    PipeBurstEvent,
    PollutionPlumeEvent,
    PowerFailureEvent,
    PumpFailureEvent,
    RoadClosureEvent,
)
from simulation.propagation.collect import AffectedAsset
from simulation.propagation.context import (
    Crew,
    PowerLink,
    PropagationContext,
    crews_from_twin,
    propagation_context_from_twin,
)
from simulation.propagation.engine import consequence_report
from simulation.propagation.report import ConsequenceReport

__all__ = [
    "AffectedAsset",
    "ConsequenceReport",
    "Crew",
    "FloodEvent",
    "InitiatingEvent",
    "PipeBurstEvent",
    "PollutionPlumeEvent",
    "PowerFailureEvent",
    "PowerLink",
    "PropagationContext",
    "PumpFailureEvent",
    "RoadClosureEvent",
    "consequence_report",
    "crews_from_twin",
    "propagation_context_from_twin",
]
