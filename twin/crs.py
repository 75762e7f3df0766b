"""Choose the projected CRS in which a territory's lengths, areas and buffers are computed."""

from __future__ import annotations

from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Point, Polygon

from twin.errors import InvalidInput

LAMBERT_93 = 2154
WGS84 = 4326
# Coarse outline of metropolitan France (mainland + Corsica), buffered by ~15 km below; Monaco and the
# border strip fall inside, Barcelona, Geneva or Turin do not. Good enough to pick a CRS, not for borders.
_MAINLAND = [
    (2.55, 51.09),
    (4.2, 49.95),
    (4.85, 50.15),
    (5.8, 49.55),
    (6.4, 49.47),
    (8.2, 48.97),
    (7.6, 47.58),
    (6.9, 47.4),
    (6.0, 46.2),
    (6.8, 45.9),
    (7.15, 45.25),
    (6.62, 44.9),
    (7.03, 44.2),
    (7.53, 43.78),
    (6.5, 43.05),
    (4.8, 43.3),
    (3.2, 42.9),
    (3.17, 42.43),
    (1.7, 42.5),
    (0.7, 42.85),
    (-0.7, 42.8),
    (-1.8, 43.37),
    (-1.45, 44.6),
    (-1.2, 46.2),
    (-2.3, 47.1),
    (-4.8, 47.9),
    (-4.8, 48.6),
    (-3.0, 48.85),
    (-1.6, 48.65),
    (-1.9, 49.7),
    (0.2, 49.7),
    (1.5, 50.2),
    (1.6, 50.9),
]
_CORSICA = [(8.5, 41.35), (9.6, 41.35), (9.6, 43.05), (8.5, 43.05)]
_METROPOLITAN_FRANCE = MultiPolygon([Polygon(_MAINLAND), Polygon(_CORSICA)]).buffer(0.15)


def metric_crs_for(lon: float, lat: float) -> int:
    """Return the EPSG code of the metric CRS for a territory centred on ``(lon, lat)``.

    Lambert-93 in metropolitan France, else the local UTM zone.

    Examples
    --------
    >>> metric_crs_for(3.87, 43.61)   # Montpellier
    2154
    >>> metric_crs_for(24.94, 60.17)  # Helsinki, UTM 35N
    32635
    >>> metric_crs_for(-70.6, -33.4)  # Santiago, UTM 19S
    32719
    >>> metric_crs_for(7.42, 43.74)   # Monaco, inside Lambert-93's area
    2154
    >>> metric_crs_for(2.17, 41.38)   # Barcelona
    32631
    """
    if _METROPOLITAN_FRANCE.contains(Point(lon, lat)):
        return LAMBERT_93
    zone = int((lon + 180) // 6) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def validate_epsg(code: int | str) -> int:
    """Return ``code`` as an int if pyproj knows it, else raise InvalidInput naming it.

    Examples
    --------
    >>> validate_epsg("EPSG:2154")
    2154
    """
    text = str(code).upper().removeprefix("EPSG:")
    try:
        epsg = int(text)
        CRS.from_epsg(epsg)
    except (ValueError, CRSError):
        raise InvalidInput(f"unknown CRS {code!r}: give an EPSG code such as 2154 or EPSG:4326") from None
    return epsg


def require_projected(epsg: int) -> int:
    """Refuse a geographic CRS where metres are needed."""
    if not CRS.from_epsg(epsg).is_projected:
        raise InvalidInput(f"EPSG:{epsg} is not a projected CRS; metric work needs metres (e.g. 2154)")
    return epsg
