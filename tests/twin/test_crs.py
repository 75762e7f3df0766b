"""The metric CRS choice: Lambert-93 in metropolitan France, the right UTM zone elsewhere."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyproj import CRS

import twin.crs
from twin.crs import metric_crs_for, require_projected, validate_epsg
from twin.errors import InvalidInput


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(twin.crs)
    assert tried >= 6 and failures == 0


@pytest.mark.parametrize(
    ("place", "lon", "lat", "epsg"),
    [
        ("Montpellier", 3.877, 43.611, 2154),
        ("Brest", -4.486, 48.390, 2154),
        ("Strasbourg", 7.752, 48.573, 2154),
        ("Ajaccio", 8.737, 41.919, 2154),
        ("Monaco", 7.420, 43.737, 2154),
        ("Lille", 3.057, 50.629, 2154),
        ("Lausanne", 6.633, 46.520, 32632),
        ("Zurich", 8.541, 47.376, 32632),
        ("Turin", 7.686, 45.070, 32632),
        ("Barcelona", 2.170, 41.387, 32631),
        ("Brussels", 4.352, 50.847, 32631),
        ("Helsinki", 24.94, 60.17, 32635),
        ("Fort-de-France", -61.07, 14.60, 32620),
        ("Nouméa", 166.45, -22.27, 32758),
    ],
)
def test_known_places(place: str, lon: float, lat: float, epsg: int) -> None:
    assert metric_crs_for(lon, lat) == epsg, place


@given(st.floats(-179.9, 179.9), st.floats(-83.0, 83.0))
def test_choice_is_always_a_projected_crs_whose_zone_contains_the_point(lon: float, lat: float) -> None:
    epsg = metric_crs_for(lon, lat)
    crs = CRS.from_epsg(epsg)
    assert crs.is_projected
    if epsg != 2154:
        zone = epsg % 100
        west = -180 + (zone - 1) * 6
        assert west - 1e-9 <= lon <= west + 6 + 1e-9
        assert (epsg // 100 == 326) == (lat >= 0)


@pytest.mark.parametrize("bad", ["EPSG:999999", "lambert", "", "12.5"])
def test_unknown_crs_is_refused_by_name(bad: str) -> None:
    with pytest.raises(InvalidInput, match="unknown CRS"):
        validate_epsg(bad)


def test_geographic_crs_is_refused_for_metric_work() -> None:
    with pytest.raises(InvalidInput, match="not a projected CRS"):
        require_projected(4326)
