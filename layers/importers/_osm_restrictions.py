"""OSM turn restrictions (``type=restriction`` relations) reduced to what routing compiles into its graph."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

# Keys naming the restriction; the vehicle-specific ones apply to cars too (motorcar, motor_vehicle).
_RESTRICTION_KEYS = ("restriction", "restriction:motorcar", "restriction:motor_vehicle")


def turn_restriction_from_relation(
    relation_id: int,
    tags: Mapping[str, str],
    members: Iterable[tuple[str, int, str]],
    skipped: Counter[str] | None = None,
) -> dict[str, Any] | None:
    """A ``routing.turn_restrictions`` row from a relation, or None when it is not one we can honour.

    Only the common shape is kept: ``no_*``/``only_*`` with exactly one ``from`` way, one ``via`` node and one
    ``to`` way. ``skipped`` counts why the others were left out (via ways, conditional or unknown kinds).

    Parameters
    ----------
    relation_id
        The OSM relation id.
    tags
        Its tags.
    members
        ``(type, ref, role)`` triples, type ``"n"``, ``"w"`` or ``"r"`` as pyosmium gives them.

    Examples
    --------
    >>> row = turn_restriction_from_relation(
    ...     7, {"type": "restriction", "restriction": "no_left_turn"},
    ...     [("w", 1, "from"), ("n", 2, "via"), ("w", 3, "to")])
    >>> row["restriction"], row["from_way"], row["via_node"], row["to_way"]
    ('no_left_turn', 1, 2, 3)
    >>> turn_restriction_from_relation(8, {"type": "restriction", "restriction": "no_u_turn"},
    ...     [("w", 1, "from"), ("w", 4, "via"), ("w", 3, "to")]) is None
    True
    """
    skipped = skipped if skipped is not None else Counter()
    if tags.get("type") != "restriction":
        return None
    kind = next((tags[k].strip() for k in _RESTRICTION_KEYS if tags.get(k)), "")
    if not (kind.startswith("no_") or kind.startswith("only_")) or not kind.replace("_", "").isalpha():
        skipped["unknown or conditional kind"] += 1
        return None
    by_role: dict[str, list[tuple[str, int]]] = {"from": [], "via": [], "to": []}
    for member_type, ref, role in members:
        if role in by_role:
            by_role[role].append((member_type, int(ref)))
    shapes = {role: [t for t, _ in items] for role, items in by_role.items()}
    if shapes["via"] and shapes["via"][0] == "w":
        skipped["via a way"] += 1
        return None
    if shapes != {"from": ["w"], "via": ["n"], "to": ["w"]}:
        skipped["not one from way, one via node, one to way"] += 1
        return None
    return {
        "relation_id": int(relation_id),
        "restriction": kind.lower(),
        "from_way": by_role["from"][0][1],
        "via_node": by_role["via"][0][1],
        "to_way": by_role["to"][0][1],
        "tags": dict(tags),
    }


def restrictions_on_graph(
    rows: Iterable[dict[str, Any]], way_ids: Iterable[int], node_ids: Iterable[int]
) -> tuple[list[dict[str, Any]], int]:
    """The restrictions whose ways are drivable ways of the import and whose via node is a graph node,
    and how many were dropped (a restriction on a footway, or cut off by the extract's edge).

    Examples
    --------
    >>> rows = [{"from_way": 1, "via_node": 2, "to_way": 3}, {"from_way": 9, "via_node": 2, "to_way": 3}]
    >>> kept, dropped = restrictions_on_graph(rows, {1, 3}, {2})
    >>> len(kept), dropped
    (1, 1)
    """
    ways, nodes = set(way_ids), set(node_ids)
    kept = [r for r in rows if r["from_way"] in ways and r["to_way"] in ways and r["via_node"] in nodes]
    rows = list(rows)
    return kept, len(rows) - len(kept)
