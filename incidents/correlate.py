"""Correlation of detections into incidents: being written."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from detection.model import Detection


def correlate(conn: psycopg.Connection, detections: Sequence[Detection]) -> None:
    return None
