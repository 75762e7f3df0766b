"""Valve-controlled segments and isolation: hand-built networks, properties against a networkx oracle, L-Town."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layers.importers.epanet import import_epanet
from simulation.water.isolation import SegmentModel
from simulation.water.network import (
    LinkRecord,
    NodeRecord,
    WaterNetwork,
    network_from_inp,
    network_from_records,
    network_from_twin,
)
from simulation.water.report import isolation_report, outage_reason
from simulation.water.valves import (
    IsolationValve,
    ValvePlacement,
    default_isolation_valves,
    explicit_isolation_valves,
)
from tests.common import LTOWN_INP, database_fingerprint, shared_file
from twin.errors import InvalidInput, NotFound

L_PER_S = 0.001  # m³/s


def _junctions(names: str, demand_m3_s: float = L_PER_S) -> list[NodeRecord]:
    return [NodeRecord(n, "junction", 0.0, demand_m3_s) for n in names]


def _pipes(*pairs: str) -> list[LinkRecord]:
    """``"AB"`` is a pipe named AB from A to B."""
    return [LinkRecord(p, "pipe", p[0], p[1], 100.0, 0.2) for p in pairs]


def _line() -> WaterNetwork:
    """Reservoir R – A – B – C."""
    return network_from_records([NodeRecord("R", "reservoir"), *_junctions("ABC")], _pipes("RA", "AB", "BC"))


def _model(net: WaterNetwork, *valves: tuple[str, str]) -> SegmentModel:
    return SegmentModel(net, explicit_isolation_valves(net, valves))


# ---------------------------------------------------------------- answers known by construction


def test_line_isolating_a_b_cuts_off_b_and_c() -> None:
    iso = _model(_line(), ("AB", "A"), ("AB", "B")).isolate("AB")
    assert iso.valves_to_close == ("AB@A", "AB@B")
    assert (iso.segment.links, iso.segment.nodes) == (("AB",), ())
    assert iso.cut_off_nodes == ("B", "C")
    assert [c.node for c in iso.customers] == ["B", "C"]
    assert iso.demand_lost_m3_s == pytest.approx(2 * L_PER_S)
    assert not iso.valves_assumed


def test_line_valve_downstream_of_b_keeps_b_in_the_segment() -> None:
    iso = _model(_line(), ("AB", "A"), ("BC", "C")).isolate("AB")
    assert iso.segment.links == ("AB", "BC")
    assert iso.segment.nodes == ("B",)
    assert [(o.node, o.cause) for o in iso.outages] == [("B", "in_segment"), ("C", "cut_off")]


def test_loop_keeps_service() -> None:
    net = network_from_records(
        [NodeRecord("R", "reservoir"), *_junctions("ABC")], _pipes("RA", "AB", "BC", "CA")
    )
    iso = _model(net, ("AB", "A"), ("AB", "B")).isolate("AB")
    assert iso.valves_to_close == ("AB@A", "AB@B")
    assert iso.outages == ()
    assert iso.customers == ()


def test_branch_behind_the_segment_is_unintended_isolation() -> None:
    """R – A – B with B branching to C and D; valves around B: shutting A–B also dries C and D."""
    net = network_from_records(
        [NodeRecord("R", "reservoir"), *_junctions("ABCD")], _pipes("RA", "AB", "BC", "BD")
    )
    iso = _model(net, ("AB", "A"), ("BC", "B"), ("BD", "B")).isolate("AB")
    assert iso.valves_to_close == ("AB@A", "BC@B", "BD@B")
    assert iso.segment.nodes == ("B",)
    assert iso.cut_off_nodes == ("C", "D")
    reason = outage_reason(iso, next(o for o in iso.outages if o.node == "C"))
    assert reason["en"] == (
        "node C: no water because pipe AB is isolated by closing valves AB@A, BC@B, BD@B, "
        "and no reservoir or tank reaches it any more (unintended isolation)"
    )
    assert reason["fr"].startswith(
        "nœud C : privé d'eau car la conduite AB est isolée par la fermeture des vannes"
    )


def test_default_rule_puts_valves_next_to_branching_nodes() -> None:
    net = network_from_records(
        [NodeRecord("R", "reservoir"), *_junctions("ABCD")], _pipes("RA", "AB", "BC", "BD")
    )
    placement = default_isolation_valves(net)
    assert [v.name for v in placement.valves] == ["AB@B", "BC@B", "BD@B"]
    model = SegmentModel(net, placement)
    iso = model.isolate("BD")
    assert (iso.segment.links, iso.segment.nodes, iso.cut_off_nodes) == (("BD",), ("D",), ())
    # Only B's valves: R, A and the pipes up to B form one segment, a source inside it.
    upstream = model.isolate("RA")
    assert upstream.sources_lost == ("R",)
    assert set(upstream.cut_off_nodes) == {"B", "C", "D"}
    report = isolation_report(upstream)
    assert report["valves_assumed"] is True
    assert "valves assumed" in report["valve_rule"]["en"] and "vannes supposées" in report["valve_rule"]["fr"]
    assert all(o["reason"]["en"].endswith("— valves assumed") for o in report["outages"])
    assert all(o["reason"]["fr"].endswith("— vannes supposées") for o in report["outages"])


def test_n_minus_1_rule_leaves_the_largest_pipe_unvalved() -> None:
    net = network_from_records(
        _junctions("XABC"),
        [
            LinkRecord("pA", "pipe", "X", "A", 10, 0.1),
            LinkRecord("pB", "pipe", "X", "B", 10, 0.3),
            LinkRecord("pC", "pipe", "X", "C", 10, 0.2),
        ],
    )
    assert [v.name for v in default_isolation_valves(net, rule="N-1").valves] == ["pA@X", "pC@X"]


@pytest.mark.parametrize(("pump_from", "pump_to", "cut_off"), [("R", "A", ()), ("A", "R", ("A",))])
def test_pump_direction_is_respected(pump_from: str, pump_to: str, cut_off: tuple[str, ...]) -> None:
    """R –pump– A – B – tank T; shutting A–B leaves A fed by the pump only if it pumps towards A."""
    net = network_from_records(
        [NodeRecord("R", "reservoir"), NodeRecord("T", "tank"), *_junctions("AB")],
        [LinkRecord("P1", "pump", pump_from, pump_to, one_way=True), *_pipes("AB", "BT")],
    )
    iso = _model(net, ("AB", "A"), ("AB", "B")).isolate("AB")
    assert iso.cut_off_nodes == cut_off


def test_closed_link_carries_no_water_and_never_served_is_not_blamed_on_the_isolation() -> None:
    net = network_from_records(
        [NodeRecord("R", "reservoir"), *_junctions("ABC")],
        [*_pipes("RA", "AB"), LinkRecord("BC", "pipe", "B", "C", is_open=False)],
    )
    model = _model(net, ("AB", "A"), ("AB", "B"))
    assert model.served_nodes().tolist() == [True, True, True, False]
    iso = model.isolate("AB")
    assert iso.never_served == ("C",)
    assert iso.cut_off_nodes == ("B",)


def test_without_valves_the_whole_network_is_one_segment() -> None:
    model = SegmentModel(_line(), explicit_isolation_valves(_line(), []))
    iso = model.isolate("BC")
    assert model.n_segments == 1
    assert iso.valves_to_close == ()
    assert set(iso.segment.nodes) == {"R", "A", "B", "C"}
    assert iso.sources_lost == ("R",)
    assert "no valve encloses pipe BC" in outage_reason(iso, iso.outages[0])["en"]


def test_segment_graph_joins_segments_through_valves() -> None:
    model = _model(_line(), ("AB", "A"), ("AB", "B"))
    assert model.n_segments == 3
    edges = model.segment_graph_edges()
    assert sorted(valve for _, _, valve in edges) == ["AB@A", "AB@B"]
    pipe_segment = model.segment_of_link("AB")
    assert all(pipe_segment in (a, b) for a, b, _ in edges)


# ---------------------------------------------------------------- bad inputs


def test_unknown_pipe_is_a_clear_error() -> None:
    model = _model(_line(), ("AB", "A"))
    with pytest.raises(NotFound, match=r"no pipe, pump or valve named 'p999' .*aucune conduite"):
        model.isolate("p999")
    with pytest.raises(InvalidInput, match="a pipe name is a string"):
        model.isolate(7)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no valve named 'V9'"):
        model.served_nodes(closed_valves=["V9"])


@pytest.mark.parametrize(
    ("valves", "message"),
    [
        ([("XX", "A")], r"on link 'XX', which is not in the water network"),
        ([("AB", "C")], r"node 'C' is not an end of link 'AB' \(its ends are 'A' and 'B'\)"),
        ([("AB", "A"), ("AB", "A")], "is given twice"),
        ([IsolationValve("V1", "AB", "A"), IsolationValve("V1", "BC", "B")], "'V1' .* is given twice"),
    ],
)
def test_bad_valves_are_refused(valves: list, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        explicit_isolation_valves(_line(), valves)


@pytest.mark.parametrize(
    ("nodes", "links", "message"),
    [
        ([], [], "has no junction, tank or reservoir"),
        (_junctions("AA"), [], "node name 'A' appears twice"),
        (_junctions("AB"), _pipes("AB", "AB"), "link name 'AB' appears twice"),
        (_junctions("AB"), _pipes("AC"), r"1 link ends of records name no known node \(e.g. AC→C\)"),
        (_junctions("A"), [LinkRecord("AA", "pipe", "A", "A")], "starts and ends at node 'A'"),
        ([NodeRecord("A", "hydrant")], [], "kind 'hydrant' is not one of"),  # type: ignore[arg-type]
    ],
)
def test_bad_records_are_refused(nodes: list, links: list, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        network_from_records(nodes, links)


def test_bad_placement_rule_is_refused() -> None:
    with pytest.raises(InvalidInput, match="rule 'N-2' is not 'N' or 'N-1'"):
        default_isolation_valves(_line(), rule="N-2")  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties, against a networkx oracle


@st.composite
def networks_with_valves(draw: st.DrawFn) -> tuple[WaterNetwork, ValvePlacement]:
    n = draw(st.integers(2, 12))
    kinds = ["reservoir"] + draw(
        st.lists(st.sampled_from(["junction"] * 4 + ["tank"]), min_size=n - 1, max_size=n - 1)
    )
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]),
            max_size=20,
        )
    )
    links = [
        LinkRecord(
            f"L{i}",
            draw(st.sampled_from(["pipe", "pipe", "pipe", "pump", "valve"])),
            f"N{a}",
            f"N{b}",
            one_way=draw(st.booleans()),
            is_open=draw(st.sampled_from([True, True, True, False])),
        )
        for i, (a, b) in enumerate(pairs)
    ]
    net = network_from_records(
        [NodeRecord(f"N{i}", kinds[i], 0.0, draw(st.sampled_from([0.0, L_PER_S]))) for i in range(n)],  # type: ignore[arg-type]
        links,
    )
    ends = [(link.name, node) for link in links for node in (link.start, link.end)]
    chosen = draw(st.lists(st.sampled_from(ends), unique=True)) if ends else []
    return net, explicit_isolation_valves(net, chosen)


def _oracle_served(
    net: WaterNetwork,
    closed_valves: set[str],
    placement: ValvePlacement,
    gone_nodes: set[str],
    gone_links: set[str],
) -> set[str]:
    """Node-level directed reachability in networkx: a link with a closed valve at either end carries nothing."""
    blocked = {v.link for v in placement.valves if v.name in closed_valves} | gone_links
    graph = nx.DiGraph()
    graph.add_nodes_from(n for n in net.node_names if n not in gone_nodes)
    for i, name in enumerate(net.link_names):
        a, b = net.node_names[net.link_start[i]], net.node_names[net.link_end[i]]
        if name in blocked or not net.is_open[i] or a in gone_nodes or b in gone_nodes:
            continue
        graph.add_edge(a, b)
        if not net.one_way[i]:
            graph.add_edge(b, a)
    sources = [
        n for n, kind in zip(net.node_names, net.node_kind, strict=True) if kind != "junction" and n in graph
    ]
    served: set[str] = set(sources)
    for source in sources:
        served |= nx.descendants(graph, source)
    return served


def _oracle_segments(net: WaterNetwork, placement: ValvePlacement) -> set[frozenset[str]]:
    """Segments as networkx components of the element graph without valved link ends."""
    valved = {(v.link, v.node) for v in placement.valves}
    graph = nx.Graph()
    graph.add_nodes_from(("node", n) for n in net.node_names)
    graph.add_nodes_from(("link", n) for n in net.link_names)
    for i, name in enumerate(net.link_names):
        for end in (net.node_names[net.link_start[i]], net.node_names[net.link_end[i]]):
            if (name, end) not in valved:
                graph.add_edge(("link", name), ("node", end))
    return {frozenset(f"{kind}:{name}" for kind, name in c) for c in nx.connected_components(graph)}


def _segments_of(model: SegmentModel) -> set[frozenset[str]]:
    return {
        frozenset([*(f"node:{n}" for n in s.nodes), *(f"link:{n}" for n in s.links)])
        for s in model.segments()
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks_with_valves())
def test_segments_and_isolation_match_the_networkx_oracle(case: tuple[WaterNetwork, ValvePlacement]) -> None:
    net, placement = case
    model = SegmentModel(net, placement)
    assert _segments_of(model) == _oracle_segments(net, placement)
    served_before = _oracle_served(net, set(), placement, set(), set())
    assert {n for n, s in zip(net.node_names, model.served_nodes(), strict=True) if s} == served_before
    for link in net.link_names:
        iso = model.isolate(link)
        after = _oracle_served(
            net, set(iso.valves_to_close), placement, set(iso.segment.nodes), set(iso.segment.links)
        )
        assert set(iso.cut_off_nodes) == served_before - after - set(iso.segment.nodes)
        # Isolating a segment never serves more customers.
        served_after = {
            n for n, s in zip(net.node_names, model.served_nodes(isolated_links=[link]), strict=True) if s
        }
        assert served_after <= served_before
        assert served_after == after


@settings(max_examples=150, deadline=None)
@given(networks_with_valves(), st.data())
def test_closing_an_extra_valve_never_reconnects_a_node(
    case: tuple[WaterNetwork, ValvePlacement], data: st.DataObject
) -> None:
    net, placement = case
    names = [v.name for v in placement.valves]
    if not names:
        return
    model = SegmentModel(net, placement)
    closed = data.draw(st.lists(st.sampled_from(names), unique=True))
    extra = data.draw(st.sampled_from(names))
    before = model.served_nodes(closed_valves=closed)
    after = model.served_nodes(closed_valves=[*closed, extra])
    assert not np.any(after & ~before)
    assert {n for n, s in zip(net.node_names, after, strict=True) if s} == _oracle_served(
        net, {*closed, extra}, placement, set(), set()
    )


# ---------------------------------------------------------------- L-Town


def test_ltown_graph(ltown_network: WaterNetwork) -> None:
    net = ltown_network
    assert (net.n_nodes, net.n_links) == (785, 909)
    assert sorted(net.node_names[i] for i in np.flatnonzero(net.is_source)) == ["R1", "R2", "T1"]
    one_way = {net.link_names[i]: net.link_type[i] for i in np.flatnonzero(net.one_way)}
    assert one_way == {"PUMP_1": "HEAD", "PRV-1": "PRV", "PRV-2": "PRV", "PRV-3": "PRV"}
    assert net.length_m[net.link_of("p227")] > 0


def test_ltown_segments(ltown_network: WaterNetwork, ltown_segments: SegmentModel) -> None:
    """The N rule gives 788 valves and 664 segments on L-Town; the segments equal networkx's components."""
    placement = ltown_segments.placement
    assert (len(placement.valves), ltown_segments.n_segments) == (788, 664)
    assert _segments_of(ltown_segments) == _oracle_segments(ltown_network, placement)
    n_minus_1 = SegmentModel(ltown_network, default_isolation_valves(ltown_network, rule="N-1"))
    assert (len(n_minus_1.placement.valves), n_minus_1.n_segments) == (535, 411)
    assert all(s.valves or len(s.nodes) == ltown_network.n_nodes for s in ltown_segments.segments())


def test_ltown_isolating_p239_cuts_off_the_tank_zone(
    ltown_network: WaterNetwork, ltown_segments: SegmentModel
) -> None:
    """p239's segment holds tank T1: closing it leaves 91 junctions with no source (checked with networkx)."""
    iso = ltown_segments.isolate("p239")
    assert "T1" in iso.segment.nodes and iso.sources_lost == ("T1",)
    assert iso.valves_to_close == ("p240@n44", "p346@n54", "p37@n54")
    assert len(iso.cut_off_nodes) == 91
    assert {"n1", "n2", "n10"} <= set(iso.cut_off_nodes)
    placement = ltown_segments.placement
    before = _oracle_served(ltown_network, set(), placement, set(), set())
    after = _oracle_served(
        ltown_network, set(iso.valves_to_close), placement, set(iso.segment.nodes), set(iso.segment.links)
    )
    assert set(iso.cut_off_nodes) == before - after - set(iso.segment.nodes)


def test_ltown_most_isolations_cut_nothing_off(
    ltown_network: WaterNetwork, ltown_segments: SegmentModel
) -> None:
    cutting = [name for name in ltown_network.link_names if ltown_segments.isolate(name).cut_off_nodes]
    assert len(cutting) == 11
    assert "p239" in cutting


# ---------------------------------------------------------------- from the twin's tables


@pytest.fixture(scope="module")
def ltown_in_twin(database_url: str) -> str:
    import_epanet(
        database_url,
        shared_file(LTOWN_INP),
        crs="2154",
        offset="769000,6277000",
        territory_name="Simulation-L-Town",
    )
    return database_url


def test_network_from_twin_equals_network_from_inp(ltown_in_twin: str, ltown_network: WaterNetwork) -> None:
    from_twin = network_from_twin(ltown_in_twin, "Simulation-L-Town")
    from_inp = ltown_network
    assert sorted(from_twin.node_names) == sorted(from_inp.node_names)
    assert sorted(from_twin.link_names) == sorted(from_inp.link_names)
    for name in from_inp.link_names:
        a, b = from_inp.link_of(name), from_twin.link_of(name)
        assert from_twin.node_names[from_twin.link_start[b]] == from_inp.node_names[from_inp.link_start[a]]
        assert from_twin.one_way[b] == from_inp.one_way[a]
        assert from_twin.link_type[b] == from_inp.link_type[a]
        assert np.isclose(from_twin.length_m[b], from_inp.length_m[a], equal_nan=True)
    demand = {n: from_twin.base_demand_m3_s[i] for i, n in enumerate(from_twin.node_names)}
    assert all(np.isclose(demand[n], from_inp.base_demand_m3_s[i]) for i, n in enumerate(from_inp.node_names))
    twin_model = SegmentModel(from_twin, default_isolation_valves(from_twin))
    assert twin_model.n_segments == 664
    assert set(twin_model.isolate("p239").cut_off_nodes) == set(
        SegmentModel(from_inp, default_isolation_valves(from_inp)).isolate("p239").cut_off_nodes
    )


def test_network_from_twin_bad_territory(ltown_in_twin: str) -> None:
    before = database_fingerprint(ltown_in_twin)
    with pytest.raises(NotFound, match="no territory named 'Atlantis'"):
        network_from_twin(ltown_in_twin, "Atlantis")
    with pytest.raises(InvalidInput, match="territory must be a territory name"):
        network_from_twin(ltown_in_twin, "  ")
    assert database_fingerprint(ltown_in_twin) == before


def test_network_from_inp_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="EPANET file not found"):
        network_from_inp(tmp_path / "nope.inp")
