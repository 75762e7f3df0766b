"""The consequence report of one run of the engine; :meth:`ConsequenceReport.as_json` is the API's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulation.access import AccessImpact
from simulation.propagation.collect import AffectedAsset
from simulation.propagation.plume import Plume
from simulation.propagation.power import PowerOutage
from simulation.propagation.water import PumpOutage, WaterTiming
from simulation.water.isolation import Isolation
from simulation.water.report import isolation_report


@dataclass(frozen=True)
class ConsequenceReport:
    """What the events do to the territory; :meth:`as_json` for the API and the console."""

    territory: str
    events: tuple[dict[str, Any], ...]
    access: AccessImpact | None
    water: Isolation | None
    affected: tuple[AffectedAsset, ...]
    actions: tuple[dict[str, Any], ...]
    start: datetime | None = None
    timeline: tuple[dict[str, Any], ...] = ()
    power: tuple[PowerOutage, ...] = ()
    plumes: tuple[Plume, ...] = ()
    pumps: tuple[PumpOutage, ...] = ()
    hydraulics: tuple[WaterTiming, ...] = field(default_factory=tuple)

    @property
    def residents_hit(self) -> int:
        """Residents of every affected building (the people to warn)."""
        return sum(a.residents for a in self.affected if a.layer == "buildings")

    @property
    def critical_sites_hit(self) -> tuple[AffectedAsset, ...]:
        return tuple(a for a in self.affected if a.layer == "critical_sites")

    @property
    def lights_out(self) -> int | None:
        return sum(p.lights_out for p in self.power) if self.power else None

    def as_json(self) -> dict[str, Any]:
        by_cause: dict[str, int] = {}
        for asset in self.affected:
            for cause in asset.causes:
                by_cause[cause] = by_cause.get(cause, 0) + (
                    asset.residents if asset.layer == "buildings" else 0
                )
        sites = self.critical_sites_hit
        n_b = sum(1 for a in self.affected if a.layer == "buildings")
        return {
            "territory": self.territory,
            "start": None if self.start is None else self.start.isoformat(),
            "events": list(self.events),
            "residents_hit": self.residents_hit,
            "residents_by_cause": by_cause,
            "critical_sites_hit": [
                {"id": a.id, "name": a.name, "kind": a.kind, "causes": list(a.causes), "since_s": a.since_s}
                for a in sites
            ],
            "affected": [
                {
                    "layer": a.layer,
                    "id": a.id,
                    "name": a.name,
                    "kind": a.kind,
                    "residents": a.residents,
                    "causes": list(a.causes),
                    "since_s": a.since_s,
                    "reasons": list(a.reasons),
                }
                for a in self.affected
            ],
            "access": None if self.access is None else self.access.as_json(),
            "water": None if self.water is None else isolation_report(self.water),
            "pumps": [p.as_json() for p in self.pumps] or None,
            "hydraulics": [h.as_json() for h in self.hydraulics] or None,
            "lights_out": self.lights_out,
            "power": [p.as_json() for p in self.power] or None,
            "plume": [p.as_json() for p in self.plumes] or None,
            "timeline": list(self.timeline),
            "recommended_actions": list(self.actions),
            "summary": {
                "fr": f"{len(self.events)} événement(s) : {n_b} bâtiments ({self.residents_hit} habitants) et "
                f"{len(sites)} sites sensibles touchés, {len(self.actions)} actions recommandées",
                "en": f"{len(self.events)} event(s): {n_b} buildings ({self.residents_hit} residents) and "
                f"{len(sites)} critical sites hit, {len(self.actions)} recommended actions",
            },
        }
