"""What closures did to road access: isolated areas, affected points, and their reasons in French and English."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csgraph

from routing.closures import Closure
from routing.graph import INF_WEIGHT_MS
from simulation.access.points import AccessCause

if TYPE_CHECKING:
    from simulation.access.model import AccessModel, _State


@dataclass(frozen=True)
class PointImpact:
    """One point whose access changed, before → after (times in seconds, None when unreachable)."""

    point: int
    cause: AccessCause
    area: int | None
    from_station_s: tuple[float | None, float | None]
    to_hospital_s: tuple[float | None, float | None]
    station: tuple[int | None, int | None]  # point index of the nearest station
    hospital: tuple[int | None, int | None]
    edges: tuple[int, ...]  # stored arcs blamed (closed or slowed by the event)
    reason: dict[str, str]


@dataclass(frozen=True)
class IsolatedArea:
    """Nodes cut off together from the main component, and what stands there."""

    index: int
    node_ids: tuple[int, ...]  # twin.road_nodes ids
    points: tuple[int, ...]
    residents: int
    edges: tuple[int, ...]  # stored arcs closed at its boundary
    cut_in: bool  # cannot be reached from the rest of the territory
    cut_out: bool  # cannot get back to it
    reason: dict[str, str]


@dataclass(frozen=True)
class AccessImpact:
    """Everything an event does to road access; :meth:`as_json` for reports."""

    model: AccessModel
    closures: list[Closure]
    closed_edges: tuple[int, ...]  # stored arcs the event closed
    slowed_edges: tuple[int, ...]
    areas: tuple[IsolatedArea, ...]
    affected: tuple[PointImpact, ...]
    before: _State
    after: _State

    @property
    def isolated_points(self) -> tuple[int, ...]:
        return tuple(p.point for p in self.affected if p.cause == "isolated")

    def times_s(self, k: int) -> dict[str, Any]:
        """Point ``k``'s times before and after, and its nearest facilities."""
        return {
            "from_fire_station_s": [
                _seconds(self.before.from_station_ms[k]),
                _seconds(self.after.from_station_ms[k]),
            ],
            "to_hospital_s": [
                _seconds(self.before.to_hospital_ms[k]),
                _seconds(self.after.to_hospital_ms[k]),
            ],
            "reachable": [bool(self.before.reachable[k]), bool(self.after.reachable[k])],
            "can_leave": [bool(self.before.can_leave[k]), bool(self.after.can_leave[k])],
        }

    def as_json(self) -> dict[str, Any]:
        model, network = self.model, self.model.graph.network
        points = model.points

        def ref(k: int | None) -> dict[str, Any] | None:
            return (
                None if k is None else {"layer": points[k].layer, "id": points[k].id, "name": points[k].name}
            )

        id_lists: dict[tuple[int, ...], list[int]] = {}

        def edge_ids(edges: tuple[int, ...]) -> list[int]:
            # The buildings of an isolated area share its arcs: convert them once, hand out copies.
            found = id_lists.get(edges)
            if found is None:
                found = id_lists[edges] = network.edge_ids[list(edges)].tolist()
            return list(found)

        return {
            "profile": model.profile,
            "closed_edge_ids": [int(network.edge_ids[e]) for e in self.closed_edges],
            "slowed_edge_ids": [int(network.edge_ids[e]) for e in self.slowed_edges],
            "fire_stations": [ref(int(k)) for k in model.stations],
            "hospitals": [ref(int(k)) for k in model.hospitals],
            "isolated_areas": [
                {
                    "index": a.index,
                    "road_node_ids": list(a.node_ids),
                    "cut_in": a.cut_in,
                    "cut_out": a.cut_out,
                    "assets": [ref(k) for k in a.points],
                    "residents": a.residents,
                    "closed_edge_ids": [int(network.edge_ids[e]) for e in a.edges],
                    "reason": a.reason,
                }
                for a in self.areas
            ],
            "critical_sites": [
                {**(ref(k) or {}), "kind": points[k].kind, **self.times_s(k)}
                for k in range(len(points))
                if points[k].layer == "critical_sites"
            ],
            "affected": [
                {
                    **(ref(p.point) or {}),
                    "kind": points[p.point].kind,
                    "residents": points[p.point].residents,
                    "cause": p.cause,
                    "area": p.area,
                    "from_fire_station_s": list(p.from_station_s),
                    "to_hospital_s": list(p.to_hospital_s),
                    "nearest_fire_station": [ref(s) for s in p.station],
                    "nearest_hospital": [ref(h) for h in p.hospital],
                    "edge_ids": edge_ids(p.edges),
                    "reason": p.reason,
                }
                for p in self.affected
            ],
        }


def _seconds(ms: float) -> float | None:
    return None if not np.isfinite(ms) else round(float(ms) / 1000.0, 3)


def format_duration(seconds: float | None) -> str:
    """``2 min 05 s`` (same in French and English); ``—`` when unreachable.

    Examples
    --------
    >>> format_duration(125.4), format_duration(42.0), format_duration(None)
    ('2 min 05 s', '42 s', '—')
    """
    if seconds is None:
        return "—"
    total = round(seconds)
    return f"{total // 60} min {total % 60:02d} s" if total >= 60 else f"{total} s"


def street_names(model: AccessModel, edges: Sequence[int]) -> dict[str, str]:
    """Streets of these stored arcs, each once, e.g. ``Boulevard Albert 1er, voie sans nom (arc 12)``."""
    key = tuple(edges)
    cached = model.street_cache.get(key)
    if cached is not None:  # every point of an isolated area names the same streets
        return cached
    network = model.graph.network
    fr: list[str] = []
    en: list[str] = []
    for e in edges:
        name = network.street_name[e]
        f = str(name) if name else f"voie sans nom (arc {int(network.edge_ids[e])})"
        if f not in fr:
            fr.append(f)
            en.append(str(name) if name else f"unnamed road (arc {int(network.edge_ids[e])})")
    named = {"fr": ", ".join(fr), "en": ", ".join(en), "n": str(len(fr))}
    if len(model.street_cache) < 10_000:
        model.street_cache[key] = named
    return named


def _blamed_arcs(model: AccessModel, state: _State, changed: np.ndarray, *, forward: bool) -> np.ndarray:
    """Per point, a graph arc whose weight grew on its before path from the nearest station (``forward``) or to
    the nearest hospital, the one nearest the point (-1: none).

    The tree's arcs are labelled changed or not, and every node takes the label of its nearest labelled
    ancestor by pointer jumping (log-depth numpy steps instead of one walk per point).
    """
    m = len(model.points)
    pred = state.pred_from if forward else state.pred_to
    best = state.best_arrival if forward else state.best_departure
    if pred is None:
        return np.full(m, -1, dtype=np.int64)
    anchors = model.arrival if forward else model.departure
    n = model.state.graph.n_nodes
    engine = state.engine
    nodes = np.arange(n)
    parent = pred[:n].astype(np.int64)
    in_tree = (parent >= 0) & (parent < n)
    tails, heads = (parent, nodes) if forward else (nodes, parent)
    keys = tails[in_tree] * n + heads[in_tree]
    label = np.full(n, -1, dtype=np.int64)
    tree_arcs = engine.pair_arc[np.searchsorted(engine.pair_keys, keys)]
    label[in_tree] = np.where(changed[tree_arcs], tree_arcs, -1)
    # A root's arc is the facility's own anchor arc (from its virtual node).
    facilities = model.stations if forward else model.hospitals
    leave = model.departure if forward else model.arrival
    slot = np.full(m, -1, dtype=np.int64)
    slot[facilities] = np.arange(len(facilities))
    theirs = np.flatnonzero(slot[leave.point] >= 0)
    theirs = theirs[
        changed[leave.weight_arc[theirs]] & (pred[leave.node[theirs]] == n + slot[leave.point[theirs]])
    ]
    label[leave.node[theirs]] = leave.weight_arc[theirs]
    parent = np.where(in_tree, parent, nodes)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2))))) + 1):
        label = np.where(label >= 0, label, label[parent])
        parent = parent[parent]
    blamed = np.full(m, -1, dtype=np.int64)
    has = best >= 0
    chosen = best[has]
    own = anchors.weight_arc[chosen]
    blamed[has] = np.where(changed[own], own, label[anchors.node[chosen]])
    return blamed


def impact_of(
    model: AccessModel, closures: list[Closure], before: _State, after: _State, changed: np.ndarray
) -> AccessImpact:
    g, network = model.state.graph, model.graph.network
    closed_arcs = changed & (after.weights >= INF_WEIGHT_MS)
    closed_edges = tuple(sorted(set(g.edge[closed_arcs].tolist())))
    slowed_edges = tuple(sorted(set(g.edge[changed & ~closed_arcs].tolist()) - set(closed_edges)))
    lost = before.in_main & ~after.in_main
    area_of_node = np.full(g.n_nodes, -1, dtype=np.int64)
    count = 0
    if lost.any():
        nodes = np.flatnonzero(lost)
        count, labels = csgraph.connected_components(before.engine.matrix[nodes][:, nodes], directed=False)
        area_of_node[nodes] = labels
    isolated = (before.reachable & ~after.reachable) | (before.can_leave & ~after.can_leave)
    worse = (after.from_station_ms > before.from_station_ms) | (after.to_hospital_ms > before.to_hospital_ms)
    blamed_from = _blamed_arcs(model, before, changed, forward=True)
    blamed_to = _blamed_arcs(model, before, changed, forward=False)
    closed_set = set(closed_edges)
    boundary_arcs = np.flatnonzero(closed_arcs)
    boundary_area = np.maximum(area_of_node[g.tail[boundary_arcs]], area_of_node[g.head[boundary_arcs]])
    area_edges = [sorted(set(g.edge[boundary_arcs[boundary_area == a]].tolist())) for a in range(count)]
    area_points: list[list[int]] = [[] for _ in range(count)]
    targets = np.flatnonzero(isolated | worse)
    # Vectorised over anchors: the few points whose own access arcs changed, and each point's isolated area
    # (that of its first arrival anchor inside one); only the reasons' text is built point by point.
    own_edges: dict[int, set[int]] = {}
    for anchors in (model.arrival, model.departure):
        hit = changed[anchors.weight_arc]
        for k, e in zip(anchors.point[hit].tolist(), g.edge[anchors.weight_arc[hit]].tolist(), strict=True):
            own_edges.setdefault(k, set()).add(e)
    anchor_area = area_of_node[model.arrival.node]
    inside = np.flatnonzero(anchor_area >= 0)[::-1]
    point_area = np.full(len(model.points), -1, dtype=np.int64)
    point_area[model.arrival.point[inside]] = anchor_area[inside]  # reversed: the first anchor wins
    area_edge_tuples = [tuple(edges) for edges in area_edges]
    texts = _ReasonTexts(model, targets, before, after, closed_set)
    affected: list[PointImpact] = []
    blame = [
        np.where(blamed[targets] >= 0, g.edge[np.maximum(blamed[targets], 0)], -1).tolist()
        for blamed in (blamed_from, blamed_to)
    ]
    for i, (k, is_isolated, a, blame_from, blame_to) in enumerate(
        zip(targets.tolist(), isolated[targets].tolist(), point_area[targets].tolist(), *blame, strict=True)
    ):
        own = own_edges.get(k)
        area = None
        if is_isolated:
            area = a if a >= 0 else None
            if area is not None:
                area_points[area].append(k)
                edges = area_edge_tuples[area] if own is None else tuple(sorted(own.union(area_edges[area])))
            else:
                edges = tuple(sorted(own or ()))
        else:
            edges = tuple(sorted({*(own or ()), *(e for e in (blame_from, blame_to) if e >= 0)}))
        cause: AccessCause = "isolated" if is_isolated else "degraded"
        affected.append(texts.point_impact(i, k, cause, area, edges))
    areas = []
    for a in range(count):
        members = np.flatnonzero(area_of_node == a)
        areas.append(
            IsolatedArea(
                a,
                tuple(sorted(set(network.node_ids[g.node_base[members]].tolist()))),
                tuple(area_points[a]),
                int(sum(model.points[k].residents for k in area_points[a])),
                tuple(area_edges[a]),
                bool((~after.reach_in[members]).any()),
                bool((~after.reach_out[members]).any()),
                _area_reason(
                    model, a, len(set(g.node_base[members].tolist())), area_points[a], tuple(area_edges[a])
                ),
            )
        )
    return AccessImpact(
        model, closures, closed_edges, slowed_edges, tuple(areas), tuple(affected), before, after
    )


class _ReasonTexts:
    """Builds each affected point's :class:`PointImpact` and reason, sharing what points have in common.

    Times in seconds are converted once for all points (numpy), labels once per model, and the "— streets
    closed/slowed" part once per set of blamed arcs: every building of an isolated area shares it, so a
    report with thousands of cut-off buildings builds one string per building, not one street lookup each.
    """

    def __init__(
        self, model: AccessModel, targets: np.ndarray, before: _State, after: _State, closed: set[int]
    ) -> None:
        # Per-point values are lists in the order of ``targets`` (the affected points).
        self.model, self.closed = model, closed
        self.labels = _labels(model)
        self.from_station_s = [_seconds_list(s.from_station_ms[targets]) for s in (before, after)]
        self.to_hospital_s = [_seconds_list(s.to_hospital_ms[targets]) for s in (before, after)]
        self.station = [_index_list(s.station[targets], model.stations) for s in (before, after)]
        self.hospital = [_index_list(s.hospital[targets], model.hospitals) for s in (before, after)]
        self.slower_from = (after.from_station_ms[targets] > before.from_station_ms[targets]).tolist()
        self.slower_to = (after.to_hospital_ms[targets] > before.to_hospital_ms[targets]).tolist()
        self._because: dict[tuple[int, ...], tuple[str, str]] = {}

    def because(self, edges: tuple[int, ...]) -> tuple[str, str]:
        """`` — Rue X fermée ; Rue Y ralentie`` and its English, once per set of arcs."""
        found = self._because.get(edges)
        if found is not None:
            return found
        streets_closed = street_names(self.model, [e for e in edges if e in self.closed])
        streets_slowed = street_names(self.model, [e for e in edges if e not in self.closed])
        why_fr, why_en = [], []
        if streets_closed["fr"]:
            plural = "s" if streets_closed["n"] != "1" else ""
            why_fr.append(f"{streets_closed['fr']} fermée{plural}")
            why_en.append(f"{streets_closed['en']} closed")
        if streets_slowed["fr"]:
            plural = "s" if streets_slowed["n"] != "1" else ""
            why_fr.append(f"{streets_slowed['fr']} ralentie{plural}")
            why_en.append(f"{streets_slowed['en']} slowed down")
        found = (
            f" — {' ; '.join(why_fr)}" if why_fr else "",
            f" — {'; '.join(why_en)}" if why_en else "",
        )
        self._because[edges] = found
        return found

    def point_impact(
        self, i: int, k: int, cause: AccessCause, area: int | None, edges: tuple[int, ...]
    ) -> PointImpact:
        """The impact on point ``k``, the ``i``-th affected point."""
        label_fr, label_en = self.labels[k]
        because_fr, because_en = self.because(edges)
        times_station = (self.from_station_s[0][i], self.from_station_s[1][i])
        times_hospital = (self.to_hospital_s[0][i], self.to_hospital_s[1][i])
        if cause == "isolated":
            fr = f"{label_fr} : plus d'accès routier{because_fr}"
            en = f"{label_en}: no road access any more{because_en}"
        else:
            parts_fr, parts_en = [], []
            if self.slower_from[i]:
                fr_part, en_part = _time_change(times_station, "station")
                parts_fr.append(fr_part)
                parts_en.append(en_part)
            if self.slower_to[i]:
                fr_part, en_part = _time_change(times_hospital, "hospital")
                parts_fr.append(fr_part)
                parts_en.append(en_part)
            fr = f"{label_fr} : accès dégradé, {' ; '.join(parts_fr)}{because_fr}"
            en = f"{label_en}: access degraded, {'; '.join(parts_en)}{because_en}"
        return PointImpact(
            k,
            cause,
            area,
            times_station,
            times_hospital,
            (self.station[0][i], self.station[1][i]),
            (self.hospital[0][i], self.hospital[1][i]),
            edges,
            {"fr": fr, "en": en},
        )


_LABELS: weakref.WeakKeyDictionary[AccessModel, list[tuple[str, str]]] = weakref.WeakKeyDictionary()


def _labels(model: AccessModel) -> list[tuple[str, str]]:
    """Every point's label (French, English), computed once per model (points never change in a model)."""
    labels = _LABELS.get(model)
    if labels is None or len(labels) != len(model.points):
        labels = [(lab["fr"], lab["en"]) for lab in (p.label() for p in model.points)]
        _LABELS[model] = labels
    return labels


def _seconds_list(ms: np.ndarray) -> list[float | None]:
    """:func:`_seconds` of every value at once (``None`` where unreachable)."""
    seconds = np.asarray(ms, dtype=np.float64) / 1000.0
    finite = np.isfinite(seconds)
    return [round(s, 3) if ok else None for s, ok in zip(seconds.tolist(), finite.tolist(), strict=True)]


def _index_list(slots: np.ndarray, facilities: np.ndarray) -> list[int | None]:
    """:func:`_index` of every slot at once."""
    if not len(facilities):
        return [None] * len(slots)
    points = facilities[np.maximum(slots, 0)]
    return [int(f) if s >= 0 else None for s, f in zip(slots.tolist(), points.tolist(), strict=True)]


_FACILITY_WORDS = {
    "station": (
        "depuis le centre de secours le plus proche",
        "from the nearest fire station",
        "plus aucun centre de secours ne l'atteint",
        "no fire station reaches it any more",
    ),
    "hospital": (
        "jusqu'à l'hôpital le plus proche",
        "to the nearest hospital",
        "plus aucun hôpital n'est accessible",
        "no hospital can be reached any more",
    ),
}


def _time_change(times: tuple[float | None, float | None], facility: str) -> tuple[str, str]:
    """``5 min 10 s depuis … au lieu de 2 min 05 s`` (or: none reachable any more), in French and English.

    Examples
    --------
    >>> _time_change((125.0, 310.0), "hospital")[1]
    '5 min 10 s to the nearest hospital instead of 2 min 05 s'
    >>> _time_change((125.0, None), "station")[0]
    "plus aucun centre de secours ne l'atteint (2 min 05 s avant)"
    """
    near_fr, near_en, none_fr, none_en = _FACILITY_WORDS[facility]
    before, after = format_duration(times[0]), format_duration(times[1])
    if times[1] is None:
        return f"{none_fr} ({before} avant)", f"{none_en} (was {before})"
    return f"{after} {near_fr} au lieu de {before}", f"{after} {near_en} instead of {before}"


def _index(slot: int, facilities: np.ndarray) -> int | None:
    return None if slot < 0 else int(facilities[slot])


def _area_reason(
    model: AccessModel, index: int, n_nodes: int, points: list[int], edges: tuple[int, ...]
) -> dict[str, str]:
    streets = street_names(model, edges)
    residents = sum(model.points[k].residents for k in points)
    sites = [model.points[k].label() for k in points if model.points[k].layer == "critical_sites"]
    sites_fr = f", dont {', '.join(s['fr'] for s in sites)}" if sites else ""
    sites_en = f", including {', '.join(s['en'] for s in sites)}" if sites else ""
    plural = "s" if streets["n"] != "1" else ""
    return {
        "fr": f"zone isolée n° {index + 1} : {n_nodes} carrefours, {len(points)} bâtiments ou sites, {residents} "
        f"habitants{sites_fr} — {streets['fr']} fermée{plural}",
        "en": f"isolated area #{index + 1}: {n_nodes} junctions, {len(points)} buildings or sites, {residents} "
        f"residents{sites_en} — {streets['en']} closed",
    }
