"""Valve-controlled segments, and what isolating one cuts off (Walski 1993; Jun & Loganathan 2007).

A *segment* is a connected part of the network that valves enclose: the smallest part crews can shut to
work on a pipe. Here the network is an *element graph* whose vertices are the nodes and the links, with an
edge for each link end; a valve sits on one link end. Segments are the connected components once valved
ends are removed; each valve joins the two segments on its sides (the *segment graph*).

Isolating a pipe closes the valves around its segment: the segment's nodes lose water (intended isolation)
and so may nodes elsewhere that were fed only through it (*unintended isolation*). Those are found by
reachability from the sources (reservoirs, tanks) that stay outside the segment. Reachability respects
direction: pumps, check-valve pipes, PRVs and PSVs pass water only from start to end; closed links pass
none. To make that fast, everything is precomputed once per network on *atoms* — the components joined by
unvalved ends of open two-way links, a refinement of segments — and one query is a breadth-first search
over a few hundred atoms (L-Town: well under a millisecond; see ``simulation.water.benchmark``).

A tank counts as a source for as long as it holds water: the hydraulic run (``hydraulics``) says how long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from simulation.water.network import WaterNetwork
from simulation.water.valves import ValvePlacement
from twin.errors import InvalidInput

OutageCause = Literal["in_segment", "cut_off"]


@dataclass(frozen=True)
class Segment:
    """One valve-controlled segment: its links, its nodes and the valves that enclose it."""

    index: int
    links: tuple[str, ...]
    nodes: tuple[str, ...]
    valves: tuple[str, ...]


@dataclass(frozen=True)
class NodeOutage:
    """A node without water after an isolation, and why.

    ``cause`` is ``"in_segment"`` (the node is in the closed segment) or ``"cut_off"`` (outside it, but no
    source reaches it any more: unintended isolation).
    """

    node: str
    kind: str
    base_demand_m3_s: float
    cause: OutageCause


@dataclass(frozen=True)
class Isolation:
    """What closing the segment of ``link`` does; ``valves_assumed`` when the valves come from the rule."""

    link: str
    segment: Segment
    valves_to_close: tuple[str, ...]
    outages: tuple[NodeOutage, ...]
    sources_lost: tuple[str, ...]  # reservoirs and tanks inside the closed segment
    never_served: tuple[str, ...]  # nodes no source reached even before (not caused by this isolation)
    valves_assumed: bool
    valve_rule_fr: str
    valve_rule_en: str

    @property
    def cut_off_nodes(self) -> tuple[str, ...]:
        """Unintended isolation: nodes outside the segment left without any source."""
        return tuple(o.node for o in self.outages if o.cause == "cut_off")

    @property
    def customers(self) -> tuple[NodeOutage, ...]:
        """Outages of junctions that have a demand: the customers who lose service."""
        return tuple(o for o in self.outages if o.kind == "junction" and o.base_demand_m3_s > 0)

    @property
    def demand_lost_m3_s(self) -> float:
        return float(sum(o.base_demand_m3_s for o in self.customers))


class SegmentModel:
    """Segments and the atom graph of one network and one valve placement, built once.

    Examples
    --------
    A reservoir feeding A, B, C in a line, a valve at each end of pipe A–B: isolating it cuts off C.

    >>> from simulation.water.network import LinkRecord, NodeRecord, network_from_records
    >>> from simulation.water.valves import explicit_isolation_valves
    >>> net = network_from_records(
    ...     [NodeRecord("R", "reservoir")] + [NodeRecord(n, "junction", 0, 0.001) for n in "ABC"],
    ...     [LinkRecord("RA", "pipe", "R", "A"), LinkRecord("AB", "pipe", "A", "B"),
    ...      LinkRecord("BC", "pipe", "B", "C")],
    ... )
    >>> model = SegmentModel(net, explicit_isolation_valves(net, [("AB", "A"), ("AB", "B")]))
    >>> iso = model.isolate("AB")
    >>> iso.valves_to_close, iso.segment.nodes, iso.cut_off_nodes
    (('AB@A', 'AB@B'), (), ('B', 'C'))
    """

    def __init__(self, network: WaterNetwork, placement: ValvePlacement) -> None:
        self.network = network
        self.placement = placement
        n_nodes, n_links = network.n_nodes, network.n_links
        self._n_vertices = n_nodes + n_links
        # Link ends: end k = 2 * link + side, side 0 at the start node, 1 at the end node.
        end_link = np.repeat(np.arange(n_links, dtype=np.int64), 2)
        end_node = np.empty(2 * n_links, dtype=np.int64)
        end_node[0::2], end_node[1::2] = network.link_start, network.link_end
        end_valve = np.full(2 * n_links, -1, dtype=np.int64)
        for v, valve in enumerate(placement.valves):
            link = network.link_of(valve.link)
            side = 0 if network.node_names[network.link_start[link]] == valve.node else 1
            end_valve[2 * link + side] = v
        self._valve_link = np.array([network.link_of(v.link) for v in placement.valves], dtype=np.int64)
        self._valve_node = np.array([network.node_of(v.node) for v in placement.valves], dtype=np.int64)
        self._valve_names = tuple(v.name for v in placement.valves)
        self._valve_index = {name: v for v, name in enumerate(self._valve_names)}

        link_vertex = n_nodes + end_link
        unvalved = end_valve < 0
        self.segment_of_vertex = self._components(end_node[unvalved], link_vertex[unvalved])
        self.n_segments = int(self.segment_of_vertex.max()) + 1 if self._n_vertices else 0

        two_way_open = (~network.one_way & network.is_open)[end_link]
        joins = unvalved & two_way_open
        self._atom_of_vertex = self._components(end_node[joins], link_vertex[joins])
        self._n_atoms = int(self._atom_of_vertex.max()) + 1 if self._n_vertices else 0
        self._build_atom_edges(end_link, end_node, end_valve)
        source_nodes = np.flatnonzero(network.is_source)
        self._source_atoms = np.unique(self._atom_of_vertex[source_nodes])
        self._served_before = self._served_atoms(
            np.zeros(len(self._valve_names), dtype=bool), np.zeros(self._n_atoms, dtype=bool)
        )
        self._segments_cache: list[Segment] | None = None

    # ------------------------------------------------------------------ construction

    def _components(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        graph = csr_matrix(
            (np.ones(len(a), dtype=np.int8), (a, b)), shape=(self._n_vertices, self._n_vertices)
        )
        _, labels = connected_components(graph, directed=False)
        return labels.astype(np.int64)

    def _build_atom_edges(self, end_link: np.ndarray, end_node: np.ndarray, end_valve: np.ndarray) -> None:
        """Directed atom-graph edges, each with the valve it crosses (-1: none)."""
        net = self.network
        node_atom = self._atom_of_vertex[end_node]
        link_atom = self._atom_of_vertex[net.n_nodes + end_link]
        is_open = net.is_open[end_link]
        one_way = net.one_way[end_link]
        is_start = np.tile(np.array([True, False]), net.n_links)
        # Water enters a one-way link at its start and leaves at its end; a two-way link both ways.
        into_link = is_open & (~one_way | is_start)
        out_of_link = is_open & (~one_way | ~is_start)
        src = np.concatenate([node_atom[into_link], link_atom[out_of_link]])
        dst = np.concatenate([link_atom[into_link], node_atom[out_of_link]])
        valve = np.concatenate([end_valve[into_link], end_valve[out_of_link]])
        between_atoms = src != dst
        self._edge_src, self._edge_dst = src[between_atoms], dst[between_atoms]
        self._edge_valve = valve[between_atoms]

    # ------------------------------------------------------------------ queries

    def _served_atoms(self, closed_valves: np.ndarray, removed_atoms: np.ndarray) -> np.ndarray:
        """Atoms some source reaches, with these valves closed and these atoms gone."""
        keep = ~removed_atoms[self._edge_src] & ~removed_atoms[self._edge_dst]
        crosses_valve = self._edge_valve >= 0
        keep[crosses_valve] &= ~closed_valves[self._edge_valve[crosses_valve]]
        sources = self._source_atoms[~removed_atoms[self._source_atoms]]
        super_source = self._n_atoms  # one extra vertex feeding every source atom
        src = np.concatenate([self._edge_src[keep], np.full(len(sources), super_source)])
        dst = np.concatenate([self._edge_dst[keep], sources])
        size = self._n_atoms + 1
        graph = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(size, size))
        order = breadth_first_order(graph, super_source, directed=True, return_predecessors=False)
        served = np.zeros(size, dtype=bool)
        served[order] = True
        return served[: self._n_atoms]

    def served_nodes(
        self, *, closed_valves: Iterable[str] = (), isolated_links: Iterable[str] = ()
    ) -> np.ndarray:
        """Boolean per node: does some source still reach it?

        Parameters
        ----------
        closed_valves : iterable of str
            Valve names to close.
        isolated_links : iterable of str
            Links whose whole segment is shut (its nodes and sources count as unserved).
        """
        closed = np.zeros(len(self._valve_names), dtype=bool)
        for name in closed_valves:
            if name not in self._valve_index:
                raise InvalidInput(f"no valve named {name!r} / aucune vanne nommée {name!r}")
            closed[self._valve_index[name]] = True
        removed = np.zeros(self._n_atoms, dtype=bool)
        for link in isolated_links:
            removed |= self._atoms_of_segment(self.segment_of_link(link))
        served_atoms = self._served_atoms(closed, removed)
        return served_atoms[self._atom_of_vertex[: self.network.n_nodes]]

    def segment_of_link(self, link: str) -> int:
        """Index of the segment that holds link ``link`` (NotFound for an unknown name)."""
        return int(self.segment_of_vertex[self.network.n_nodes + self.network.link_of(link)])

    def _atoms_of_segment(self, segment: int) -> np.ndarray:
        removed = np.zeros(self._n_atoms, dtype=bool)
        removed[self._atom_of_vertex[self.segment_of_vertex == segment]] = True
        return removed

    def segments(self) -> list[Segment]:
        """Every segment, in index order (computed once)."""
        if self._segments_cache is None:
            self._segments_cache = [self.segment(s) for s in range(self.n_segments)]
        return self._segments_cache

    def segment(self, index: int) -> Segment:
        """Segment ``index`` with its links, nodes and enclosing valves."""
        net = self.network
        members = np.flatnonzero(self.segment_of_vertex == index)
        nodes = members[members < net.n_nodes]
        links = members[members >= net.n_nodes] - net.n_nodes
        valve_sides = (
            self.segment_of_vertex[net.n_nodes + self._valve_link],
            self.segment_of_vertex[self._valve_node],
        )
        # A valve with the same segment on both sides does not enclose anything: not needed to isolate.
        encloses = (valve_sides[0] != valve_sides[1]) & (
            (valve_sides[0] == index) | (valve_sides[1] == index)
        )
        return Segment(
            index=index,
            links=tuple(net.link_names[i] for i in links),
            nodes=tuple(net.node_names[i] for i in nodes),
            valves=tuple(self._valve_names[v] for v in np.flatnonzero(encloses)),
        )

    def segment_graph_edges(self) -> list[tuple[int, int, str]]:
        """The segment graph: ``(segment, segment, valve)`` for every valve between two segments."""
        net = self.network
        a = self.segment_of_vertex[net.n_nodes + self._valve_link]
        b = self.segment_of_vertex[self._valve_node]
        return [
            (int(a[v]), int(b[v]), self._valve_names[v])
            for v in range(len(self._valve_names))
            if a[v] != b[v]
        ]

    def isolate(self, link: str) -> Isolation:
        """Close the valves around the segment of ``link``; who loses water, and why.

        Raises
        ------
        NotFound
            ``link`` is not a link of the network.
        """
        if not isinstance(link, str):
            raise InvalidInput(f"a pipe name is a string, not {link!r}")
        net = self.network
        segment = self.segment(self.segment_of_link(link))
        removed = self._atoms_of_segment(segment.index)
        closed = np.zeros(len(self._valve_names), dtype=bool)
        closed[[self._valve_index[v] for v in segment.valves]] = True
        served_after = self._served_atoms(closed, removed)
        node_atom = self._atom_of_vertex[: net.n_nodes]
        in_segment = self.segment_of_vertex[: net.n_nodes] == segment.index
        served_before = self._served_before[node_atom]
        cut_off = served_before & ~served_after[node_atom] & ~in_segment
        outages = [
            NodeOutage(net.node_names[i], net.node_kind[i], float(net.base_demand_m3_s[i]), "in_segment")
            for i in np.flatnonzero(in_segment)
        ] + [
            NodeOutage(net.node_names[i], net.node_kind[i], float(net.base_demand_m3_s[i]), "cut_off")
            for i in np.flatnonzero(cut_off)
        ]
        return Isolation(
            link=link,
            segment=segment,
            valves_to_close=segment.valves,
            outages=tuple(outages),
            sources_lost=tuple(n for n in segment.nodes if net.node_kind[net.node_index[n]] != "junction"),
            never_served=tuple(net.node_names[i] for i in np.flatnonzero(~served_before)),
            valves_assumed=self.placement.assumed,
            valve_rule_fr=self.placement.rule_fr,
            valve_rule_en=self.placement.rule_en,
        )
