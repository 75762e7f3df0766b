"""The detection engine: being written (see detection/model.py for what it hands on)."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg

from detection.model import Detection
from sensing.parse import Reading
from sensing.store import SensorInfo


class Detector:
    def process(
        self, conn: psycopg.Connection, readings: list[Reading], sensors: Mapping[int, SensorInfo]
    ) -> list[Detection]:
        return []
