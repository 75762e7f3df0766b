"""What an asset depends on, link after link, with reasons: the providers chain.

A building's water comes through the chain building → junction (a stored ``water_service`` link) → the
valve-controlled segment holding that junction (the valves that would cut it, :mod:`simulation.water.isolation`)
→ the pumps and sources (tanks, reservoirs) from which water can reach it. Only the first step is stored: the
rest is the water network's topology, read at query time (no per-pipe rows). Road access, lighting, power
feed and sensor links give one step each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from simulation.dependencies.model import LINK_TITLES, DependencyModel

if TYPE_CHECKING:
    from simulation.water.isolation import SegmentModel

# Lists in reasons name at most this many elements, then say how many more.
NAMED_AT_MOST = 8
_SOURCE_WORDS = {"tank": ("château d'eau", "tank"), "reservoir": ("réservoir", "reservoir")}


class HasModels(Protocol):
    """What :func:`providers_chain` reads of ``simulation.territory.TerritoryModels``."""

    dependencies: DependencyModel
    segments: SegmentModel | None


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMED_AT_MOST])
    return shown + (f" (+{len(items) - NAMED_AT_MOST})" if len(items) > NAMED_AT_MOST else "")


def link_step(link: dict[str, Any]) -> dict[str, Any]:
    """One chain step from a link record (``DependencyModel.providers_of`` or the API's Link)."""
    title = LINK_TITLES[link["kind"]]
    provider = link.get("provider")
    step: dict[str, Any] = {"step": link["kind"], "link": link}
    if provider is None:
        step["fr"] = f"{title['fr']} : aucun (déclaré à la main)"
        step["en"] = f"{title['en']}: none (stated by hand)"
        return step
    label = provider.get("name") or f"{provider['layer']} {provider['id']}"
    distance = "" if link.get("distance_m") is None else f" ({link['distance_m']:g} m)"
    edited = link.get("origin") == "edited"
    step["fr"] = f"{title['fr']} : {label}{distance}" + (" — corrigé à la main" if edited else "")
    step["en"] = f"{title['en']}: {label}{distance}" + (" — edited by hand" if edited else "")
    return step


def water_chain(segments: SegmentModel, junction: str) -> list[dict[str, Any]]:
    """The water network's part of the chain from ``junction``: its segment and valves, pumps and sources.

    Examples
    --------
    >>> from simulation.water.network import LinkRecord, NodeRecord, network_from_records
    >>> from simulation.water.isolation import SegmentModel
    >>> from simulation.water.valves import explicit_isolation_valves
    >>> net = network_from_records(
    ...     [NodeRecord("R", "reservoir"), NodeRecord("A", "junction"), NodeRecord("B", "junction", 0, 1e-3)],
    ...     [LinkRecord("RA", "pump", "R", "A", one_way=True), LinkRecord("AB", "pipe", "A", "B")])
    >>> chain = water_chain(SegmentModel(net, explicit_isolation_valves(net, [("AB", "A")])), "B")
    >>> [(s["step"], s.get("valves") or s.get("pumps") or s.get("sources")) for s in chain]
    [('segment', ['AB@A']), ('pumps', ['RA']), ('sources', [{'name': 'R', 'kind': 'reservoir'}])]
    """
    net = segments.network
    node = net.node_of(junction)
    segment = segments.segment(int(segments.segment_of_vertex[node]))
    assumed_fr = " (vannes supposées)" if segments.placement.assumed else ""
    assumed_en = " (valves assumed)" if segments.placement.assumed else ""
    pipes = [name for name in segment.links if net.link_kind[net.link_index[name]] == "pipe"]
    valves = list(segment.valves)
    steps: list[dict[str, Any]] = [
        {
            "step": "segment",
            "segment": segment.index,
            "pipes": pipes,
            "valves": valves,
            "valves_assumed": segments.placement.assumed,
            "fr": f"le nœud {junction} est dans un secteur de {len(pipes)} conduite(s)"
            + (f" que ferment les vannes {_names(valves)}" if valves else ", qu'aucune vanne ne ferme")
            + assumed_fr,
            "en": f"junction {junction} lies in a segment of {len(pipes)} pipe(s)"
            + (f" closed by valves {_names(valves)}" if valves else " no valve closes")
            + assumed_en,
        }
    ]
    upstream = _upstream_nodes(segments, node)
    pumps = [
        net.link_names[i]
        for i in np.flatnonzero(
            (np.array(net.link_kind) == "pump")
            & net.is_open
            & upstream[net.link_end]
            & upstream[net.link_start]
        )
    ]
    if pumps:
        steps.append(
            {
                "step": "pumps",
                "pumps": pumps,
                "fr": f"l'eau peut y arriver par les pompes {_names(pumps)}",
                "en": f"water can reach it through pumps {_names(pumps)}",
            }
        )
    sources = [
        {"name": net.node_names[i], "kind": net.node_kind[i]}
        for i in np.flatnonzero(upstream & net.is_source)
    ]
    words_fr = [f"{_SOURCE_WORDS[s['kind']][0]} {s['name']}" for s in sources]
    words_en = [f"{_SOURCE_WORDS[s['kind']][1]} {s['name']}" for s in sources]
    steps.append(
        {
            "step": "sources",
            "sources": sources,
            "fr": f"alimenté par : {_names(words_fr)}"
            if sources
            else "aucun réservoir ni château d'eau ne l'alimente",
            "en": f"fed by: {_names(words_en)}" if sources else "no reservoir or tank feeds it",
        }
    )
    return steps


def _upstream_nodes(segments: SegmentModel, node: int) -> np.ndarray:
    """Boolean per node: can water flow from it to ``node`` (open links, one-way ones from start to end)?"""
    net = segments.network
    open_ = net.is_open
    start, end = net.link_start[open_].astype(np.int64), net.link_end[open_].astype(np.int64)
    two_way = ~net.one_way[open_]
    # Reversed arcs: from where water arrives back to where it came from.
    src = np.concatenate([end, start[two_way]])
    dst = np.concatenate([start, end[two_way]])
    graph = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(net.n_nodes, net.n_nodes))
    order = breadth_first_order(graph, node, directed=True, return_predecessors=False)
    upstream = np.zeros(net.n_nodes, dtype=bool)
    upstream[order] = True
    return upstream


def providers_chain(models: HasModels, layer: str, asset_id: int) -> list[dict[str, Any]]:
    """What ``(layer, asset_id)`` depends on, as steps with reasons in French and English.

    One step per link (road access, water service, lighting, power feed, measured asset); after a water
    service link, the water network's steps (:func:`water_chain`) when the territory has one.

    Raises
    ------
    NotFound
        ``asset_id`` is not an asset of ``layer`` among the model's dependents.
    """
    assets = models.dependencies.assets.get(layer)
    if assets is not None:
        assets.index_of(asset_id)
    steps: list[dict[str, Any]] = []
    for link in models.dependencies.providers_of(layer, asset_id):
        steps.append(link_step(link))
        provider = link.get("provider")
        if link["kind"] == "water_service" and provider is not None and provider.get("name"):
            if models.segments is None:
                steps.append(
                    {"step": "segments", "fr": "réseau d'eau non chargé", "en": "no water network loaded"}
                )
            else:
                steps += water_chain(models.segments, str(provider["name"]))
    return steps
