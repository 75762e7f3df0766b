"""Pure interpretation of OSM tags: numbers with units, building uses, residents, critical-site kinds."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

_FEET_TO_M = 0.3048
_INCH_TO_M = 0.0254
# Tallest building on Earth is ~830 m: anything above is a mapping error, not a height.
_MAX_HEIGHT_M = 1000.0
_MAX_LEVELS = 200
_NUMBER_UNIT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([a-z']*)$")
_FEET_INCHES = re.compile(r"^([0-9]+)\s*'\s*(?:([0-9]+(?:\.[0-9]+)?)\s*\")?$")

# One resident per 40 m² of residential floor area (INSEE: ~40 m² of dwelling per person in France).
FLOOR_AREA_PER_RESIDENT_M2 = 40.0
# Uses counted as housing. building=yes is counted too when nothing else says what it is (see below).
_HOUSE_USES = frozenset({"house", "detached", "semidetached_house", "terrace", "bungalow", "farm", "cabin"})
_RESIDENTIAL_USES = _HOUSE_USES | frozenset(
    {"residential", "apartments", "dormitory", "houseboat", "static_caravan"}
)
# Floors assumed when building:levels and height are both missing: a French house is mostly a single
# storey plus attic (1); collective housing and untyped urban buildings are typically R+2 (3 floors).
_DEFAULT_LEVELS_HOUSE = 1
_DEFAULT_LEVELS_OTHER = 3
_STOREY_HEIGHT_M = 3.0
# Tags that say a building=yes is not (only) housing.
_NON_RESIDENTIAL_KEYS = (
    "amenity",
    "shop",
    "office",
    "tourism",
    "craft",
    "industrial",
    "healthcare",
    "leisure",
)

# OSM tag (key, value) → critical-site kind of twin.critical_sites, checked in this order.
_CRITICAL_TAGS: tuple[tuple[str, str, str], ...] = (
    ("amenity", "hospital", "hospital"),
    ("healthcare", "hospital", "hospital"),
    ("amenity", "clinic", "clinic"),
    ("healthcare", "clinic", "clinic"),
    ("amenity", "nursing_home", "nursing_home"),
    # EHPAD are mapped as social_facility=nursing_home (amenity=social_facility) in France.
    ("social_facility", "nursing_home", "nursing_home"),
    ("amenity", "kindergarten", "kindergarten"),
    ("amenity", "school", "school"),
    ("amenity", "fire_station", "fire_station"),
    ("amenity", "police", "police"),
    ("amenity", "townhall", "town_hall"),
    ("amenity", "pharmacy", "pharmacy"),
    ("healthcare", "pharmacy", "pharmacy"),
    ("social_facility", "shelter", "shelter"),
    ("amenity", "refugee_site", "shelter"),
    ("emergency", "shelter", "shelter"),
    # Drinking-water production and storage both matter when a network fails.
    ("man_made", "water_works", "water_works"),
    ("man_made", "water_tower", "water_works"),
    ("power", "substation", "power_substation"),
)
CRITICAL_KEYS = tuple(sorted({key for key, _, _ in _CRITICAL_TAGS}))

_LIGHT_POWER_KEYS = ("light:power", "lamp_wattage", "lamp:wattage", "lamp_power")
_LAMP_TYPE_KEYS = ("lamp_type", "light:method")
_NAME_SUFFIXES = (".osm.pbf", ".osm.bz2", ".osm.gz", ".osm", ".pbf")
_NAME_NOISE = re.compile(r"[-_](latest|\d{6,8}|internal)$", re.IGNORECASE)


def _first_value(text: str) -> str:
    """OSM lists several values with ';'; the first is the one a mapper meant as main."""
    return text.split(";")[0].strip().lower().replace(",", ".")


def parse_height_m(text: str | None) -> float | None:
    """Parse an OSM ``height`` value into metres, or None if it is not a usable height.

    Accepts "12", "12 m", "12,5" (decimal comma), "40 ft", "10'6\"". Negative, absurd (> 1000 m)
    or unparseable values give None.

    Examples
    --------
    >>> parse_height_m("12,5 m")
    12.5
    >>> parse_height_m("10'")
    3.048
    >>> parse_height_m("tall") is None
    True
    """
    if text is None:
        return None
    value = _first_value(str(text))
    feet = _FEET_INCHES.match(value)
    if feet:
        height_m = int(feet.group(1)) * _FEET_TO_M + float(feet.group(2) or 0) * _INCH_TO_M
    else:
        match = _NUMBER_UNIT.match(value)
        if not match or match.group(2) not in ("", "m", "meter", "meters", "metre", "metres", "ft", "feet"):
            return None
        height_m = float(match.group(1)) * (_FEET_TO_M if match.group(2) in ("ft", "feet") else 1.0)
    if not math.isfinite(height_m) or height_m > _MAX_HEIGHT_M:
        return None
    return round(height_m, 3)


def parse_levels(text: str | None) -> int | None:
    """Parse ``building:levels`` into a whole number of storeys (half storeys round up), or None.

    Examples
    --------
    >>> parse_levels("4")
    4
    >>> parse_levels("2.5")
    3
    >>> parse_levels("-1") is None
    True
    """
    if text is None:
        return None
    try:
        levels = float(_first_value(str(text)))
    except ValueError:
        return None
    if not math.isfinite(levels) or levels < 0 or levels > _MAX_LEVELS:
        return None
    return math.ceil(levels)


def parse_power_w(text: str | None) -> float | None:
    """Parse a lamp power such as "70", "70 W" or "0.15 kW" into watts, or None.

    Examples
    --------
    >>> parse_power_w("150W")
    150.0
    >>> parse_power_w("0.1 kW")
    100.0
    """
    if text is None:
        return None
    match = _NUMBER_UNIT.match(_first_value(str(text)))
    if not match or match.group(2) not in ("", "w", "watt", "watts", "kw"):
        return None
    power_w = float(match.group(1)) * (1000.0 if match.group(2) == "kw" else 1.0)
    return power_w if math.isfinite(power_w) else None


def building_use(tags: Mapping[str, str]) -> str:
    """The use of a building: its ``building`` value, or what another tag says when that is just "yes"."""
    use = tags.get("building", "yes")
    if use == "yes":
        for key in _NON_RESIDENTIAL_KEYS:
            if key in tags and tags[key] not in ("no", "yes"):
                return tags[key]
    return use


def is_residential(tags: Mapping[str, str]) -> bool:
    """Whether people are assumed to live in the building.

    building=yes with no tag giving another use counts as housing: in French towns most untyped
    buildings are dwellings, and leaving them out would undercount residents far more than
    counting a few sheds overcounts them.
    """
    use = tags.get("building", "yes")
    if use in _RESIDENTIAL_USES:
        return True
    return use == "yes" and building_use(tags) == "yes"


def floor_levels(tags: Mapping[str, str], levels: int | None, height_m: float | None) -> int:
    """Storeys used for floor area: the tag, else height / 3 m, else a default by building type."""
    if levels is not None:
        return levels
    if height_m is not None:
        return max(1, round(height_m / _STOREY_HEIGHT_M))
    return _DEFAULT_LEVELS_HOUSE if tags.get("building") in _HOUSE_USES else _DEFAULT_LEVELS_OTHER


def residents_estimate(
    tags: Mapping[str, str], area_m2: float, levels: int | None, height_m: float | None
) -> int:
    """Estimated residents: residential floor area (footprint × storeys) / 40 m² per person.

    Examples
    --------
    >>> residents_estimate({"building": "apartments"}, 400.0, 5, None)
    50
    >>> residents_estimate({"building": "school"}, 400.0, 5, None)
    0
    """
    if not is_residential(tags) or not math.isfinite(area_m2) or area_m2 <= 0:
        return 0
    floor_area_m2 = area_m2 * floor_levels(tags, levels, height_m)
    return int(round(floor_area_m2 / FLOOR_AREA_PER_RESIDENT_M2))


def critical_kind(tags: Mapping[str, str]) -> str | None:
    """The twin.critical_sites kind an OSM object is, or None.

    Examples
    --------
    >>> critical_kind({"amenity": "townhall"})
    'town_hall'
    >>> critical_kind({"amenity": "social_facility", "social_facility": "nursing_home"})
    'nursing_home'
    >>> critical_kind({"amenity": "bench"}) is None
    True
    """
    for key, value, kind in _CRITICAL_TAGS:
        if tags.get(key) == value:
            return kind
    return None


def lamp_type(tags: Mapping[str, str]) -> str | None:
    return next((tags[k] for k in _LAMP_TYPE_KEYS if tags.get(k)), None)


def lamp_power_w(tags: Mapping[str, str]) -> float | None:
    return next((p for k in _LIGHT_POWER_KEYS if (p := parse_power_w(tags.get(k))) is not None), None)


def territory_name_from_path(path: Path) -> str:
    """A territory name from an extract's file name.

    Examples
    --------
    >>> territory_name_from_path(Path("monaco-latest.osm.pbf"))
    'Monaco'
    >>> territory_name_from_path(Path("/data/ile-de-france-240101.osm.pbf"))
    'Ile de france'
    """
    stem = path.name
    for suffix in _NAME_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = _NAME_NOISE.sub("", stem)
    words = re.sub(r"[-_.]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Territory"
