"""Closures and slowdowns: rows of ``routing.closures``, and the per-arc factor they lay over the graph.

A closure makes its arcs unusable (factor ``inf``); a slowdown multiplies their travel time. The overlay for a
request is computed from the closures valid at that moment, so an expired closure stops applying without
anyone deleting it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from routing.network import RoadNetwork

_COLUMNS = """id, territory_id, kind, travel_time_factor, edge_ids, ST_AsBinary(area) AS area, incident_id,
profiles, valid_from, valid_until, reason, created_by, created_at"""
SELECT_SQL = f"SELECT {_COLUMNS} FROM routing.closures"


@dataclass(frozen=True)
class Closure:
    """One row of ``routing.closures`` (``area`` in WGS84)."""

    id: int
    territory_id: int
    kind: str
    travel_time_factor: float | None
    edge_ids: tuple[int, ...]
    area: BaseGeometry | None
    incident_id: str | None
    profiles: tuple[str, ...] | None
    valid_from: datetime
    valid_until: datetime | None
    reason: str
    created_by: str
    created_at: datetime
    arcs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), compare=False)

    @property
    def factor(self) -> float:
        return math.inf if self.kind == "closure" else float(self.travel_time_factor or 1.0)

    def active_at(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def applies_to(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "territory_id": self.territory_id,
            "kind": self.kind,
            "travel_time_factor": self.travel_time_factor,
            "edge_ids": list(self.edge_ids),
            "area": shapely.geometry.mapping(self.area) if self.area is not None else None,
            "incident_id": self.incident_id,
            "profiles": list(self.profiles) if self.profiles is not None else None,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "arcs_affected": int(len(self.arcs)),
        }


def closure_from_row(row: dict[str, Any]) -> Closure:
    """A :class:`Closure` from a dict row of :data:`SELECT_SQL`."""
    area = shapely.from_wkb(bytes(row["area"])) if row["area"] is not None else None
    return Closure(
        id=int(row["id"]),
        territory_id=int(row["territory_id"]),
        kind=str(row["kind"]),
        travel_time_factor=row["travel_time_factor"],
        edge_ids=tuple(int(e) for e in row["edge_ids"] or ()),
        area=area,
        incident_id=row["incident_id"],
        profiles=tuple(row["profiles"]) if row["profiles"] is not None else None,
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        reason=str(row["reason"]),
        created_by=str(row["created_by"]),
        created_at=row["created_at"],
    )


def arcs_of_closure(network: RoadNetwork, closure: Closure, area_index: shapely.STRtree) -> np.ndarray:
    """Stored arcs a closure covers: its explicit edges, and every arc that meets its area.

    ``area_index`` is an STRtree over ``network.geometry`` (WGS84), built once per network.
    """
    arcs = [network.arcs_of_edge_ids(np.asarray(closure.edge_ids, dtype=np.int64))]
    if closure.area is not None:
        arcs.append(area_index.query(closure.area, predicate="intersects").astype(np.int64))
    return np.unique(np.concatenate(arcs)).astype(np.int64)


def edge_factor(n_arcs: int, closures: Iterable[Closure]) -> np.ndarray | None:
    """Per stored arc travel-time factor of these closures (1 = untouched, inf = closed); None if none.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> now = datetime.now(timezone.utc)
    >>> c = Closure(1, 1, "slowdown", 2.0, (), None, None, None, now, None, "works", "me", now,
    ...             arcs=np.array([1]))
    >>> edge_factor(3, [c]).tolist()
    [1.0, 2.0, 1.0]
    """
    factor: np.ndarray | None = None
    for closure in closures:
        if not len(closure.arcs):
            continue
        if factor is None:
            factor = np.ones(n_arcs)
        factor[closure.arcs] = np.maximum(factor[closure.arcs], closure.factor)
    return factor


def overlay_key(closures: Sequence[Closure]) -> tuple[int, ...]:
    """Identity of an overlay: the ids of the closures in it (rows are never updated in place by the API)."""
    return tuple(sorted(c.id for c in closures))
