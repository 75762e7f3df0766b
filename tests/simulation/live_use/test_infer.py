"""Incident → initiating events: every category's rule, the assumptions said, events the API would accept."""

from __future__ import annotations

import doctest

import pytest
import shapely
from shapely.geometry import Point, shape

import simulation.live_use.infer
import simulation.live_use.store
from simulation.events import parse_events
from simulation.live_use.infer import (
    FLOOD_RADIUS_M,
    PLUME_LENGTH_M,
    RULES,
    IncidentFacts,
    disc,
    infer_events,
)

LON, LAT = 3.87, 43.61


def _facts(category: str, **kw: object) -> IncidentFacts:
    return IncidentFacts(1, 1, category, LON, LAT, **kw)  # type: ignore[arg-type]


def test_every_incident_category_has_a_rule() -> None:
    from incidents.model import CATEGORIES

    assert set(RULES) == set(CATEGORIES)


def test_water_incident_bursts_its_pipe_or_says_why_not() -> None:
    out = infer_events(_facts("water", has_water_network=True, pipe="AC", pipe_via="sensor"))
    assert out.status == "pending" and out.events == ({"type": "pipe_burst", "pipe": "AC", "at_s": 0.0},)
    assert "measures" in out.assumptions[0]["en"] and "mesurée par le capteur" in out.assumptions[0]["fr"]
    no_network = infer_events(_facts("water", pipe="AC"))
    assert no_network.status == "not_applicable" and no_network.events == ()
    assert no_network.reason == {
        "fr": "le territoire n'a pas de réseau d'eau : aucune coupure à propager",
        "en": "the territory has no water network: no outage to propagate",
    }
    far = infer_events(_facts("water", has_water_network=True))
    assert far.status == "not_applicable" and "no pipe within 100 m" in (far.reason or {})["en"]
    pump = infer_events(_facts("water", has_water_network=True, pump="PU1", pipe="AC"))
    assert [e["type"] for e in pump.events] == ["pump_failure"]


def test_traffic_incident_closes_the_arcs_it_stands_on() -> None:
    out = infer_events(_facts("traffic", road_edge_ids=(7, 8), street="Rue Basse"))
    assert out.events[0]["edge_ids"] == [7, 8] and out.events[0]["type"] == "road_closure"
    assert out.assumptions[0]["fr"] == "Rue Basse supposée fermée dans les deux sens au droit de l'incident"
    assert infer_events(_facts("traffic")).status == "not_applicable"
    assert infer_events(_facts("traffic", has_roads=False, road_edge_ids=(7,))).status == "not_applicable"


def test_river_level_floods_a_disc_with_the_depth_above_overflow() -> None:
    out = infer_events(
        _facts("weather", sensor_kinds=("river_level",), river_level_m=2.7, overflow_level_m=2.0)
    )
    [flood] = out.events
    assert flood["type"] == "flood" and flood["water_level_m"] == pytest.approx(0.7)
    area = shape(flood["area"])
    assert area.contains(Point(LON, LAT))
    # Radius in metres, checked against the 111.32 km degree of latitude.
    north = max(y for _, y in area.exterior.coords)
    assert (north - LAT) * 111_320 == pytest.approx(FLOOD_RADIUS_M, rel=1e-3)
    unknown = infer_events(_facts("weather", sensor_kinds=("river_level",), river_level_m=3.0))
    assert (
        unknown.events[0]["water_level_m"] is None
        and "depth in the streets unknown" in unknown.assumptions[0]["en"]
    )
    assert "3 m" in unknown.assumptions[0]["en"]
    assert infer_events(_facts("weather", sensor_kinds=("rainfall",))).status == "not_applicable"


def test_air_incident_without_wind_exposes_the_whole_disc() -> None:
    out = infer_events(_facts("air", sensor_kinds=("no2",)))
    assert [e["wind_from_deg"] for e in out.events] == [0.0, 120.0, 240.0]
    assert {e["pollutant"] for e in out.events} == {"NO2"} and {e["spread_deg"] for e in out.events} == {60.0}
    # Points 900 m away in any direction lie in one of the three sectors (±60° around each downwind axis).
    for bearing_deg in range(0, 360, 15):
        downwind = {(w + 180) % 360 for w in (0.0, 120.0, 240.0)}
        assert any(min(abs(bearing_deg - d), 360 - abs(bearing_deg - d)) <= 60 for d in downwind)
    assert out.events[0]["length_m"] == PLUME_LENGTH_M
    prevailing = infer_events(_facts("air", prevailing_wind_from_deg=250.0))
    assert [e["wind_from_deg"] for e in prevailing.events] == [250.0]
    assert prevailing.events[0]["pollutant"] == "unknown"


def test_lighting_and_energy_cut_power_around_the_incident() -> None:
    lighting = infer_events(_facts("lighting")).events[0]
    energy = infer_events(_facts("energy")).events[0]
    assert lighting["type"] == energy["type"] == "power_failure"
    assert shape(energy["area"]).area > 3.5 * shape(lighting["area"]).area  # 200 m vs 100 m radius


@pytest.mark.parametrize("category", ["security", "other", "unheard-of"])
def test_categories_without_a_network_are_not_applicable(category: str) -> None:
    out = infer_events(_facts(category))
    assert out.status == "not_applicable" and out.events == ()
    assert category in (out.reason or {})["fr"] and category in (out.reason or {})["en"]


@pytest.mark.parametrize(
    "facts",
    [
        _facts("water", has_water_network=True, pipe="P1"),
        _facts("traffic", road_edge_ids=(1, 2)),
        _facts("weather", sensor_kinds=("river_level",)),
        _facts("air"),
        _facts("lighting"),
    ],
    ids=lambda f: f.category,
)
def test_inferred_events_are_what_the_api_accepts(facts: IncidentFacts) -> None:
    out = infer_events(facts)
    assert parse_events(list(out.events))  # raises on any field the API would refuse
    assert out.as_json()["events"] == list(out.events)


def test_disc_is_a_valid_polygon_around_its_centre() -> None:
    area = shape(disc(LON, LAT, 150.0))
    assert area.is_valid and shapely.get_num_coordinates(area) == 33 and area.contains(Point(LON, LAT))


def test_basis_changes_with_place_and_asset_only() -> None:
    a = _facts("traffic", road_edge_ids=(1,)).basis()
    assert a == _facts("traffic", road_edge_ids=(9,)).basis()  # facts around it do not count
    assert a != IncidentFacts(1, 1, "traffic", LON + 0.001, LAT).basis()
    assert a != _facts("traffic", asset_layer="road_edges", asset_id=4).basis()


def test_docstring_examples() -> None:
    for module in (simulation.live_use.infer, simulation.live_use.store):
        failures, tried = doctest.testmod(module)
        assert tried >= 1 and failures == 0
