"""The priority of an incident, 0–100: how much it matters now, from severity, exposure and confidence.

``priority = min(100, round((severity base + exposure bonus) × (0.5 + 0.5 × confidence)))``

- **Severity base** (info 10, warning 35, alert 60, critical 80): the severity decides the order of
  magnitude; a critical incident nobody is exposed to still outranks an alert (80 vs 60 + at most 25 bonus
  only when people or sites are near).
- **Exposure bonus**, at most 25 points:
  - residents within the category's radius, log-scaled: ``4 × log10(1 + residents)``, at most 12
    (10 residents ≈ 4, 100 ≈ 8, 1,000 and more 12). Each tenfold counts the same: the difference between
    nobody and a street matters more than between two districts;
  - critical sites within the radius, weighted by how vulnerable and hard to evacuate their occupants are:
    hospital 8, nursing home (EHPAD) 6, clinic 5, school and kindergarten 5, water works and power
    substations 4 (a failure spreads), others (fire station, police, town hall, pharmacy, shelter…) 2; at
    most 15 in all.
- **Confidence** (0–1) scales the total between half and full: a doubtful detection is looked at later,
  never hidden (confidence 0 still keeps half the points).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

SEVERITY_BASE: dict[str, int] = {"info": 10, "warning": 35, "alert": 60, "critical": 80}
RESIDENT_POINTS_PER_DECADE = 4.0
MAX_RESIDENT_POINTS = 12.0
SITE_WEIGHTS: dict[str, float] = {
    "hospital": 8.0,
    "nursing_home": 6.0,
    "clinic": 5.0,
    "school": 5.0,
    "kindergarten": 5.0,
    "water_works": 4.0,
    "power_substation": 4.0,
}
OTHER_SITE_WEIGHT = 2.0
MAX_SITE_POINTS = 15.0
MAX_EXPOSURE_POINTS = 25.0


def exposure_points(residents: int, site_kinds: Iterable[str]) -> float:
    """The exposure bonus (0–25) of ``residents`` people and critical sites of ``site_kinds`` nearby.

    Examples
    --------
    >>> exposure_points(0, [])
    0.0
    >>> round(exposure_points(99, ["hospital"]), 1)
    16.0
    >>> exposure_points(10**6, ["hospital"] * 5)
    25.0
    """
    resident_points = min(MAX_RESIDENT_POINTS, RESIDENT_POINTS_PER_DECADE * math.log10(1 + max(0, residents)))
    site_points = min(MAX_SITE_POINTS, sum(SITE_WEIGHTS.get(k, OTHER_SITE_WEIGHT) for k in site_kinds))
    return min(MAX_EXPOSURE_POINTS, resident_points + site_points)


def priority_of(severity: str, exposure: Mapping[str, object], confidence: float) -> int:
    """Priority 0–100 of an incident of ``severity`` with ``exposure`` (the stored jsonb) and ``confidence``.

    ``exposure`` holds ``residents`` and ``critical_sites`` (the ten nearest, each with its ``kind``). Ten
    are enough: when more sites are in range, the ten nearest alone reach the 15-point cap.

    Examples
    --------
    >>> priority_of("alert", {"residents": 0}, 1.0)
    60
    >>> priority_of("alert", {"residents": 0, "critical_sites": [{"kind": "hospital"}]}, 1.0)
    68
    >>> priority_of("alert", {"residents": 0}, 0.2)
    36
    >>> priority_of("critical", {"residents": 5000}, 1.0)
    92
    """
    residents = exposure.get("residents", 0)
    sites = exposure.get("critical_sites", [])
    bonus = exposure_points(
        int(residents) if isinstance(residents, int | float) else 0,
        [str(s.get("kind")) for s in sites if isinstance(s, dict)] if isinstance(sites, list) else [],
    )
    c = min(1.0, max(0.0, float(confidence)))
    score = (SEVERITY_BASE[severity] + bonus) * (0.5 + 0.5 * c)
    return max(0, min(100, round(score)))
