"""Affected assets keyed by (layer, id): causes, reasons in French and English, and when each effect starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulation.access import AccessPoint
from simulation.dependencies import DependencyModel

#: Critical-site kinds warned first (people who cannot easily protect themselves or be moved).
VULNERABLE_KINDS: tuple[str, ...] = ("hospital", "clinic", "nursing_home", "kindergarten", "school")


@dataclass(frozen=True)
class AffectedAsset:
    """One asset hit, with every cause (``road_isolated``, ``road_degraded``, ``flooded``, ``no_water``,
    ``water_at_risk``, ``no_power``, ``on_generator``, ``in_plume``) and the earliest time one applies."""

    layer: str
    id: int
    name: str | None
    kind: str | None
    residents: int
    causes: tuple[str, ...]
    reasons: tuple[dict[str, Any], ...]
    since_s: float = 0.0
    lonlat: tuple[float, float] | None = None


def label_of(layer: str, asset_id: int, name: str | None, kind: str | None) -> dict[str, str]:
    """How reasons name an asset (``École Jean Jaurès``, ``Bâtiment n° 12``)."""
    return AccessPoint(layer, asset_id, name, kind, 0, (0.0, 0.0), ()).label()


class Collector:
    """Affected assets accumulated in event order; an asset's ``since_s`` is its earliest cause's."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int], dict[str, Any]] = {}

    def add(
        self,
        layer: str,
        asset_id: int,
        name: str | None,
        kind: str | None,
        residents: int,
        cause: str,
        reason: dict[str, str],
        *,
        since_s: float = 0.0,
        lonlat: tuple[float, float] | None = None,
    ) -> None:
        row = self._rows.setdefault(
            (layer, asset_id),
            {
                "name": name,
                "kind": kind,
                "residents": residents,
                "causes": [],
                "reasons": [],
                "since_s": since_s,
                "lonlat": lonlat,
            },
        )
        if cause not in row["causes"]:
            row["causes"].append(cause)
        row["reasons"].append({"cause": cause, **reason, "since_s": float(since_s)})
        row["since_s"] = min(row["since_s"], since_s)
        if row["lonlat"] is None:
            row["lonlat"] = lonlat

    def add_from(
        self,
        dependencies: DependencyModel,
        layer: str,
        k: int,
        cause: str,
        reason: dict[str, str],
        *,
        since_s: float = 0.0,
    ) -> None:
        """Add row ``k`` of the dependency model's ``layer`` assets."""
        assets = dependencies.assets[layer]
        self.add(
            layer,
            int(assets.ids[k]),
            assets.names[k],
            assets.kinds[k],
            int(assets.residents[k]),
            cause,
            reason,
            since_s=since_s,
            lonlat=(float(assets.lonlat[k, 0]), float(assets.lonlat[k, 1])),
        )

    def assets(self) -> list[AffectedAsset]:
        return [
            AffectedAsset(
                layer,
                i,
                r["name"],
                r["kind"],
                int(r["residents"]),
                tuple(r["causes"]),
                tuple(r["reasons"]),
                float(r["since_s"]),
                r["lonlat"],
            )
            for (layer, i), r in sorted(self._rows.items())
        ]

    def buildings(self) -> list[tuple[int, int]]:
        return [
            (i, int(r["residents"])) for (layer, i), r in sorted(self._rows.items()) if layer == "buildings"
        ]
