"""Where the isolation valves are: given explicitly, or assumed by the segment literature's placement rule.

EPANET models carry control valves (PRV, TCV …), not the many gate valves crews close to isolate a main:
L-Town has 3 valves for 905 pipes. Until the twin stores real valve positions, the standard assumption of
the valve-controlled-segment literature (Walski 1993; Jun & Loganathan 2007) is used, and every result
built on it says "valves assumed":

- rule ``"N"`` (default): at every node where at least ``min_degree`` (3) links meet, one valve on each
  pipe next to that node. A pipe between two such nodes has a valve at each end; chains of pipes through
  nodes of degree ≤ 2 carry none, so a segment is a run of pipes between branching nodes.
- rule ``"N-1"``: the same, minus one valve per node, the one on its largest-diameter pipe (ties: first
  name) — common practice where a main runs through a junction unvalved.

A valve sits on one pipe next to one of its end nodes; closing it separates that pipe from that node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from simulation.water.network import WaterNetwork
from twin.errors import InvalidInput

PlacementRule = Literal["N", "N-1"]


@dataclass(frozen=True)
class IsolationValve:
    """A valve on ``link`` next to its end node ``node``."""

    name: str
    link: str
    node: str


@dataclass(frozen=True)
class ValvePlacement:
    """The valves used to cut the network into segments, and whether they are known or assumed."""

    valves: tuple[IsolationValve, ...]
    assumed: bool
    rule_fr: str
    rule_en: str


def valve_name(link: str, node: str) -> str:
    """Name of an assumed valve: the pipe, then the node it sits next to.

    Examples
    --------
    >>> valve_name("p227", "n54")
    'p227@n54'
    """
    return f"{link}@{node}"


def default_isolation_valves(
    network: WaterNetwork, *, rule: PlacementRule = "N", min_degree: int = 3
) -> ValvePlacement:
    """Assume valves by the placement rule (see the module docstring); only pipes get valves.

    Examples
    --------
    >>> from simulation.water.network import LinkRecord, NodeRecord, network_from_records
    >>> net = network_from_records(
    ...     [NodeRecord(n, "junction") for n in "XABC"],
    ...     [LinkRecord(f"p{n}", "pipe", "X", n) for n in "ABC"],
    ... )
    >>> [v.name for v in default_isolation_valves(net).valves]
    ['pA@X', 'pB@X', 'pC@X']
    >>> len(default_isolation_valves(net, rule="N-1").valves)
    2
    """
    if rule not in ("N", "N-1"):
        raise InvalidInput(f"valve placement rule {rule!r} is not 'N' or 'N-1'")
    if not isinstance(min_degree, int) or min_degree < 1:
        raise InvalidInput(f"min_degree must be a positive integer, not {min_degree!r}")
    degree = network.degree()
    is_pipe = np.array([kind == "pipe" for kind in network.link_kind], dtype=bool)
    at_node: dict[int, list[int]] = {}
    for link in np.flatnonzero(is_pipe):
        for node in (int(network.link_start[link]), int(network.link_end[link])):
            if degree[node] >= min_degree:
                at_node.setdefault(node, []).append(int(link))
    valves = []
    for node in sorted(at_node):
        links = sorted(at_node[node], key=lambda i: network.link_names[i])
        if rule == "N-1" and links:
            diameters = np.nan_to_num(network.diameter_m[links], nan=-1.0)
            links.pop(int(np.argmax(diameters)))  # argmax takes the first of equal diameters (name order)
        node_name = network.node_names[node]
        valves += [
            IsolationValve(valve_name(network.link_names[i], node_name), network.link_names[i], node_name)
            for i in links
        ]
    dropped = " minus the one on the largest pipe" if rule == "N-1" else ""
    dropped_fr = ", sauf celle de la plus grosse conduite" if rule == "N-1" else ""
    return ValvePlacement(
        valves=tuple(valves),
        assumed=True,
        rule_en=f"valves assumed: one on each pipe next to every node where ≥ {min_degree} links meet"
        f"{dropped} (rule {rule}, Walski / Jun & Loganathan valve-controlled segments)",
        rule_fr=f"vannes supposées : une sur chaque conduite au ras de chaque nœud où se rejoignent "
        f"≥ {min_degree} tronçons{dropped_fr} (règle {rule}, segments de Walski / Jun & Loganathan)",
    )


def explicit_isolation_valves(
    network: WaterNetwork, valves: Iterable[IsolationValve | tuple[str, str]]
) -> ValvePlacement:
    """Use the valves given (known positions); a tuple ``(link, node)`` gets the default name.

    Raises
    ------
    InvalidInput
        A valve on an unknown link, next to a node that is not an end of its link, or given twice.
    """
    checked: list[IsolationValve] = []
    names: set[str] = set()
    places: set[tuple[str, str]] = set()
    for given in valves:
        valve = given if isinstance(given, IsolationValve) else IsolationValve(valve_name(*given), *given)
        if valve.link not in network.link_index:
            raise InvalidInput(
                f"valve {valve.name!r} is on link {valve.link!r}, which is not in the water network of "
                f"{network.source} / la vanne {valve.name!r} est sur un tronçon inconnu"
            )
        link = network.link_index[valve.link]
        ends = (network.node_names[network.link_start[link]], network.node_names[network.link_end[link]])
        if valve.node not in ends:
            raise InvalidInput(
                f"valve {valve.name!r}: node {valve.node!r} is not an end of link {valve.link!r} "
                f"(its ends are {ends[0]!r} and {ends[1]!r})"
            )
        if valve.name in names or (valve.link, valve.node) in places:
            raise InvalidInput(
                f"valve {valve.name!r} on {valve.link!r} next to {valve.node!r} is given twice"
            )
        names.add(valve.name)
        places.add((valve.link, valve.node))
        checked.append(valve)
    return ValvePlacement(
        valves=tuple(checked),
        assumed=False,
        rule_en=f"{len(checked)} valves at known positions",
        rule_fr=f"{len(checked)} vannes à des positions connues",
    )
