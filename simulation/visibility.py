"""What a role may read of a consequence report: the water network is critical infrastructure (restricted).

A role that may not see restricted layers (``twin.security.permissions.LAYER_VISIBILITY``) still learns that a
building has no water (residents must be warned), but not through which pipes and valves: the report's water
section, valve actions and the reasons that name network elements are replaced by a plain statement.

Examples
--------
>>> doc = {"water": {"link": "P1"}, "recommended_actions": [{"kind": "close_valves"}, {"kind": "detour"}],
...        "affected": [{"causes": ["no_water"],
...        "reasons": [{"cause": "no_water", "fr": "… vannes V1", "en": "… valves V1"}]}]}
>>> out = redact_report(doc, "analyst")
>>> out["water"], [a["kind"] for a in out["recommended_actions"]], out["affected"][0]["reasons"][0]["en"]
(None, ['detour'], 'no water (network details restricted)')
>>> redact_report(doc, "operator") is doc
True
"""

from __future__ import annotations

import copy
from typing import Any

from twin.security.permissions import may_see_layer

WATER_CAUSES = frozenset({"no_water", "low_pressure", "water_at_risk", "water_quality"})
WATER_ACTIONS = frozenset({"close_valves", "open_valves", "operate_valve", "repair_pipe"})
_PLAIN = {
    "cause": "no_water",
    "fr": "privé d'eau (détails du réseau réservés)",
    "en": "no water (network details restricted)",
}


def sees_water_network(role: str) -> bool:
    return may_see_layer(role, "restricted")


def redact_report(doc: dict[str, Any], role: str) -> dict[str, Any]:
    """``doc`` (a report's JSON) as ``role`` may read it: the same object when nothing is hidden, else a copy."""
    if sees_water_network(role):
        return doc
    out = copy.deepcopy(doc)
    if "water" in out:
        out["water"] = None
    for section in ("hydraulics", "pumps", "water_network"):
        if section in out:
            out[section] = None
    out["recommended_actions"] = [
        a for a in out.get("recommended_actions", []) if a.get("kind") not in WATER_ACTIONS
    ]
    for asset in out.get("affected", []):
        causes = asset.get("causes", [])
        reasons = asset.get("reasons", [])
        if any(c in WATER_CAUSES for c in causes):
            # Every reason names its cause (consequences._Collector): keep the road/flood ones.
            kept = [r for r in reasons if r.get("cause") not in WATER_CAUSES]
            asset["reasons"] = [*kept, dict(_PLAIN)]
    for event in out.get("events", []):
        if event.get("type") in ("pipe_burst", "pump_failure"):
            event.pop("pipe", None)
            event.pop("pump", None)
    return out
