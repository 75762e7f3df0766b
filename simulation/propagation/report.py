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

#: Appended to every water reason when the network was laid by `hyperviseur synthesize water`.
SYNTHETIC_NOTE = {
    "fr": " (réseau d'eau synthétique : tracé supposé sous les rues, non relevé)",
    "en": " (synthetic water network: assumed under the streets, not surveyed)",
}
WATER_CAUSES = frozenset({"no_water", "low_pressure", "water_at_risk"})


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
    # The water network the report ran on: its source, and whether it is synthetic (laid by
    # `hyperviseur synthesize water`, not surveyed): every water reason then says so.
    water_network: dict[str, Any] | None = None

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
        synthetic = bool(self.water_network and self.water_network.get("synthetic"))
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
                    "reasons": [_marked(r, synthetic) for r in a.reasons],
                }
                for a in self.affected
            ],
            "water_network": self.water_network,
            "access": None if self.access is None else self.access.as_json(),
            "water": None if self.water is None else isolation_report(self.water),
            "pumps": [p.as_json() for p in self.pumps] or None,
            "hydraulics": [h.as_json() for h in self.hydraulics] or None,
            "lights_out": self.lights_out,
            "power": [p.as_json() for p in self.power] or None,
            "plume": [p.as_json() for p in self.plumes] or None,
            "timeline": list(self.timeline),
            "recommended_actions": list(self.actions),
            "summary": _marked(
                {
                    "fr": f"{len(self.events)} événement(s) : {n_b} bâtiments ({self.residents_hit} habitants) "
                    f"et {len(sites)} sites sensibles touchés, {len(self.actions)} actions recommandées",
                    "en": f"{len(self.events)} event(s): {n_b} buildings ({self.residents_hit} residents) and "
                    f"{len(sites)} critical sites hit, {len(self.actions)} recommended actions",
                },
                synthetic and any(c in WATER_CAUSES for a in self.affected for c in a.causes),
            ),
        }


def _marked(text: dict[str, Any], synthetic: bool) -> dict[str, Any]:
    """``text`` ({fr, en[, cause]}) with the synthetic-network warning when it is about water on one."""
    if not synthetic or text.get("cause", "no_water") not in WATER_CAUSES:
        return text
    return {**text, "fr": text["fr"] + SYNTHETIC_NOTE["fr"], "en": text["en"] + SYNTHETIC_NOTE["en"]}
