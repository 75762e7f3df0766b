"""Priority from severity, exposure and confidence; exposure measured in the real database."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidents.exposure import exposure_at, radius_m_of
from incidents.model import CATEGORIES
from incidents.priority import SEVERITY_BASE, priority_of
from tests.incidents.helpers import X0, Y0, make_place

NOBODY = {"residents": 0, "critical_sites": []}


def test_a_hospital_nearby_raises_the_priority():
    hospital = {"residents": 0, "critical_sites": [{"kind": "hospital"}]}
    pharmacy = {"residents": 0, "critical_sites": [{"kind": "pharmacy"}]}
    assert (
        priority_of("alert", hospital, 1.0)
        > priority_of("alert", pharmacy, 1.0)
        > priority_of("alert", NOBODY, 1.0)
    )


def test_sites_are_weighted_hospital_above_nursing_home_above_school_above_others():
    def p(kind: str) -> int:
        return priority_of("warning", {"residents": 0, "critical_sites": [{"kind": kind}]}, 1.0)

    assert p("hospital") > p("nursing_home") > p("school") > p("town_hall")


def test_more_residents_raise_the_priority_with_diminishing_steps():
    values = [priority_of("warning", {"residents": n, "critical_sites": []}, 1.0) for n in (0, 10, 100, 1000)]
    assert values == sorted(values) and len(set(values)) == 4
    assert values[1] - values[0] >= values[3] - values[2]  # log scale: nobody → a few counts most


def test_low_confidence_lowers_the_priority_but_never_hides_it():
    sure = priority_of("critical", NOBODY, 1.0)
    doubtful = priority_of("critical", NOBODY, 0.2)
    assert sure == SEVERITY_BASE["critical"] and doubtful < sure
    assert priority_of("critical", NOBODY, 0.0) == SEVERITY_BASE["critical"] // 2


@given(
    severity=st.sampled_from(list(SEVERITY_BASE)),
    residents=st.integers(min_value=0, max_value=10**7),
    kinds=st.lists(st.sampled_from(["hospital", "school", "other", "nursing_home"]), max_size=10),
    confidence=st.floats(min_value=0, max_value=1),
)
def test_priority_stays_within_0_and_100_and_severity_orders_it_at_equal_exposure(
    severity, residents, kinds, confidence
):
    exposure = {"residents": residents, "critical_sites": [{"kind": k} for k in kinds]}
    value = priority_of(severity, exposure, confidence)
    assert 0 <= value <= 100
    if severity != "critical":
        order = list(SEVERITY_BASE)
        more = order[order.index(severity) + 1]
        assert priority_of(more, exposure, confidence) >= value


@pytest.fixture(scope="module")
def url(database_url: str) -> str:
    return database_url


def test_exposure_counts_residents_and_lists_sites_within_the_category_radius(url):
    place = make_place(url)
    with psycopg.connect(url) as conn:
        water = exposure_at(conn, place.territory_id, X0, Y0, "water")
        lighting = exposure_at(conn, place.territory_id, X0, Y0, "lighting")
    # Water (500 m): the two buildings by the square (40 + 60), not the one 2.7 km away; the hospital
    # ≈117 m east, not the nursing home 1.5 km north.
    assert water["radius_m"] == radius_m_of("water") == 500
    assert water["residents"] == 100
    (site,) = water["critical_sites"]
    assert site["name"] == "Hôpital Saint-Joseph" and site["kind"] == "hospital"
    assert 110 < site["distance_m"] < 125
    assert lighting["radius_m"] == 100 and lighting["residents"] == 100 and lighting["critical_sites"] == []


def test_an_incident_near_a_hospital_gets_a_higher_priority_than_the_same_one_elsewhere(url):
    with_sites = make_place(url)
    without = make_place(url, with_sites=False)
    with psycopg.connect(url) as conn:
        near = exposure_at(conn, with_sites.territory_id, X0, Y0, "water")
        bare = exposure_at(conn, without.territory_id, X0, Y0, "water")
    assert priority_of("alert", near, 0.9) > priority_of("alert", bare, 0.9)


def test_every_category_has_a_radius():
    assert all(radius_m_of(c) > 0 for c in CATEGORIES)


def test_doctests_of_the_incidents_modules():
    import doctest

    import incidents.exposure
    import incidents.model
    import incidents.priority
    import incidents.routes
    import incidents.store
    import incidents.views

    for module in (
        incidents.exposure,
        incidents.model,
        incidents.priority,
        incidents.routes,
        incidents.store,
        incidents.views,
    ):
        failures, tried = doctest.testmod(module)
        assert failures == 0 and tried > 0, module.__name__
