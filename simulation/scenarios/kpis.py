"""Key figures of a consequence report, the same function for the baseline and the scenario, and their comparison.

Both sides are measured against the same reference — the territory's roads with no closure — so a baseline
KPI is what the live state (its closures at the fork) already does, and the scenario's what it does with the
events and measures on top. A section the report did not compute gives ``None`` (e.g. water demand not
served without a hydraulic run), never 0.

Examples
--------
>>> k = kpis_of({"residents_hit": 40, "affected": [], "critical_sites_hit": [], "access": None})
>>> k["residents_hit"], k["water_demand_not_served_m3"], k["crew_arrival_s"]
(40, None, None)
>>> row = comparison({**k, "residents_hit": 10}, k)[0]
>>> row["kpi"], row["baseline"], row["scenario"], row["delta"], row["better"]
('residents_hit', 10, 40, 30, 'lower')
"""

from __future__ import annotations

from typing import Any

#: KPI key → (French label, English label, unit, which direction is better).
KPIS: dict[str, tuple[str, str, str, str]] = {
    "residents_hit": ("Habitants touchés", "Residents hit", "habitants", "lower"),
    "buildings_hit": ("Bâtiments touchés", "Buildings hit", "bâtiments", "lower"),
    "critical_sites_hit": ("Sites sensibles touchés", "Critical sites hit", "sites", "lower"),
    "isolated_areas": ("Zones isolées", "Isolated areas", "zones", "lower"),
    "residents_isolated": ("Habitants isolés", "Residents cut off", "habitants", "lower"),
    "worst_fire_access_delay_s": (
        "Pire allongement de l'accès des secours",
        "Worst fire-station access delay",
        "s",
        "lower",
    ),
    "worst_hospital_access_delay_s": (
        "Pire allongement de l'accès à l'hôpital",
        "Worst hospital access delay",
        "s",
        "lower",
    ),
    "sites_losing_fire_access": (
        "Sites sans accès des secours",
        "Sites losing fire-station access",
        "sites",
        "lower",
    ),
    "buildings_without_water": ("Bâtiments privés d'eau", "Buildings without water", "bâtiments", "lower"),
    "water_demand_not_served_m3": ("Eau non distribuée", "Water demand not served", "m³", "lower"),
    "lights_out": ("Points lumineux éteints", "Street lights out", "points lumineux", "lower"),
    "sites_in_plume": ("Sites dans le panache", "Sites in the plume", "sites", "lower"),
    "crew_arrival_s": ("Arrivée des équipes", "Crew arrival", "s", "lower"),
}


def _delays(access: dict[str, Any] | None, key: str) -> float:
    """Largest growth of a time (before → after) among the points whose access got worse (0 if none)."""
    worst = 0.0
    for point in (access or {}).get("affected", []):
        before, after = point.get(key, [None, None])
        if before is not None and after is not None:
            worst = max(worst, float(after) - float(before))
    return round(worst, 3)


def _count(section: Any) -> int | None:
    """A report section's size: a number, a list's length, a dict's ``count``; None when not computed."""
    if section is None:
        return None
    if isinstance(section, bool):
        return int(section)
    if isinstance(section, int | float):
        return int(section)
    if isinstance(section, list):
        return len(section)
    if isinstance(section, dict):
        for key in ("count", "n", "total"):
            if isinstance(section.get(key), int | float):
                return int(section[key])
        for key in ("street_lights", "lights", "ids"):
            if isinstance(section.get(key), list):
                return len(section[key])
    return None


def kpis_of(report: dict[str, Any], *, crew_arrival_s: float | None = None) -> dict[str, Any]:
    """The KPIs of one consequence report (JSON form), with the crews' arrival when crews were sent."""
    affected = report.get("affected", [])
    access = report.get("access")
    buildings = [a for a in affected if a.get("layer") == "buildings"]
    sites = (access or {}).get("critical_sites", [])
    hydraulics = report.get("hydraulics")
    demand = None
    if isinstance(hydraulics, dict) and hydraulics.get("demand_not_served_m3") is not None:
        demand = float(hydraulics["demand_not_served_m3"])
    in_plume = None
    if report.get("plume") is not None:
        in_plume = sum(
            1
            for a in affected
            if a.get("layer") == "critical_sites" and any("plume" in c for c in a.get("causes", []))
        )
    return {
        "residents_hit": int(report.get("residents_hit", 0)),
        "buildings_hit": len(buildings),
        "critical_sites_hit": len(report.get("critical_sites_hit", [])),
        "isolated_areas": len((access or {}).get("isolated_areas", [])),
        "residents_isolated": sum(
            int(a.get("residents", 0)) for a in buildings if "road_isolated" in a.get("causes", [])
        ),
        "worst_fire_access_delay_s": _delays(access, "from_fire_station_s"),
        "worst_hospital_access_delay_s": _delays(access, "to_hospital_s"),
        "sites_losing_fire_access": sum(
            1
            for s in sites
            if s.get("from_fire_station_s", [None, None])[0] is not None
            and s.get("from_fire_station_s", [None, None])[1] is None
        ),
        "buildings_without_water": sum(1 for a in buildings if "no_water" in a.get("causes", [])),
        "water_demand_not_served_m3": demand,
        "lights_out": _count(report.get("lights_out")),
        "sites_in_plume": in_plume,
        "crew_arrival_s": None if crew_arrival_s is None else round(float(crew_arrival_s), 1),
    }


def empty_kpis() -> dict[str, Any]:
    """The KPIs of a state where nothing happens (a baseline without any live closure)."""
    return kpis_of({"residents_hit": 0, "affected": [], "critical_sites_hit": [], "access": None})


def comparison(baseline: dict[str, Any], scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """Side by side, in :data:`KPIS` order: labels (fr, en), unit, both values, the delta, the better way."""
    rows = []
    for key, (fr, en, unit, better) in KPIS.items():
        b, s = baseline.get(key), scenario.get(key)
        delta = None if b is None or s is None else round(s - b, 3)
        if isinstance(delta, float) and delta.is_integer() and isinstance(b, int) and isinstance(s, int):
            delta = int(delta)
        rows.append(
            {
                "kpi": key,
                "label": {"fr": fr, "en": en},
                "unit": unit,
                "baseline": b,
                "scenario": s,
                "delta": delta,
                "better": better,
            }
        )
    return rows
