"""What a detection is, as the engine hands it to correlation and the live stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SEVERITIES = ("info", "warning", "alert", "critical")
RULES = ("threshold", "rate", "flatline", "gap", "anomaly")


@dataclass(frozen=True, slots=True)
class Detection:
    """One row of ``sensing.detections`` as it was just opened, updated or closed, with its sensor's context.

    ``opened`` is True when the condition has just started (a new row), False when an open detection got
    stronger or ended (``ended_at`` set). Correlation creates or joins incidents only for opened ones.
    """

    id: int
    sensor_id: int
    sensor_name: str
    kind: str
    category: str  # incident category of the kind (sensing.kinds.category): water, air, traffic…
    visibility: str  # layer visibility of the kind: who may see it
    territory_id: int
    lon: float
    lat: float
    h3_cell: str  # resolution 9
    rule: str
    severity: str
    started_at: datetime
    ended_at: datetime | None
    value: float | None
    expected: float | None
    score: float | None
    confidence: float
    explanation_fr: str
    explanation_en: str
    opened: bool
    asset_layer: str | None = None
    asset_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
