"""Validation of OGC API query parameters: every bad value becomes an InvalidInput saying what to send."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from twin.errors import InvalidInput, NotFound

# Query parameters of /collections/{id}/items. OGC core /req/core/query-param-unknown: anything else is
# a 400, so that a client misspelling a filter never silently gets unfiltered data.
ITEMS_PARAMS = (
    "bbox",
    "datetime",
    "limit",
    "offset",
    "properties",
    "territory",
    "filter",
    "filter-lang",
    "filter-crs",
    "f",
)
FILTER_LANGS = ("cql2-text", "cql2-json")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
FORMATS = ("json", "geojson")
_BIGINT_MAX = 2**63 - 1
_FEATURE_ID = re.compile(r"^[0-9]{1,19}$")


@dataclass(frozen=True)
class ItemsQuery:
    """The validated parameters of one items request (``limit`` already capped to the server maximum)."""

    limit: int
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None
    properties: tuple[str, ...] | None = None
    territory: str | None = None
    datetime: str | None = None
    filter: str | None = None
    filter_lang: str | None = None
    filter_crs: str | None = None

    def as_params(self) -> dict[str, str]:
        """The query string that reproduces this request (for self/next/prev links)."""
        params: dict[str, str] = {}
        if self.bbox is not None:
            params["bbox"] = ",".join(_number_text(v) for v in self.bbox)
        if self.datetime is not None:
            params["datetime"] = self.datetime
        if self.properties is not None:
            params["properties"] = ",".join(self.properties)
        if self.territory is not None:
            params["territory"] = self.territory
        if self.filter is not None:
            params["filter"] = self.filter
        if self.filter_lang is not None:
            params["filter-lang"] = self.filter_lang
        if self.filter_crs is not None:
            params["filter-crs"] = self.filter_crs
        params["limit"] = str(self.limit)
        if self.offset:
            params["offset"] = str(self.offset)
        return params


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def single_values(items: Iterable[tuple[str, str]], allowed: Iterable[str]) -> dict[str, str]:
    """Check that every parameter is known and given once; return them as a dict.

    Examples
    --------
    >>> single_values([("limit", "5")], ("limit", "offset"))
    {'limit': '5'}
    """
    allowed = tuple(allowed)
    values: dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            raise InvalidInput(
                f"unknown query parameter {name!r}; this resource accepts: {', '.join(allowed)}"
            )
        if name in values:
            raise InvalidInput(f"query parameter {name!r} is given more than once; send it once")
        values[name] = value
    return values


def parse_format(text: str | None) -> str:
    """``f`` selects the encoding; JSON (GeoJSON for features) is the only one served so far."""
    if text is None or text in FORMATS:
        return "json"
    raise InvalidInput(f"f={text!r} is not a supported format; send f=json (or leave f out)")


def parse_limit(text: str | None, *, default: int, maximum: int) -> int:
    """Page size: an integer >= 1; values above ``maximum`` are served as ``maximum``.

    OGC core (fc-limit-response and the spec's own example) says a limit above the server maximum
    is not an error: the server returns at most its maximum and a next link.

    Examples
    --------
    >>> parse_limit("50000", default=100, maximum=10000)
    10000
    """
    if text is None:
        return default
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise InvalidInput(
            f"limit must be a whole number between 1 and {maximum}, got {text!r}; e.g. limit=100"
        )
    value = int(text)
    if value < 1:
        raise InvalidInput(f"limit must be at least 1 (got {value}); send limit between 1 and {maximum}")
    return min(value, maximum)


def parse_offset(text: str | None) -> int:
    """Number of features to skip (paging): an integer >= 0."""
    if text is None:
        return 0
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise InvalidInput(f"offset must be a whole number >= 0, got {text!r}; e.g. offset=100")
    value = int(text)
    if value < 0:
        raise InvalidInput(f"offset must be >= 0 (got {value}); send offset=0 for the first page")
    if value > _BIGINT_MAX:
        raise InvalidInput(f"offset {value} is too large; it must be below {_BIGINT_MAX}")
    return value


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minLon,minLat,maxLon,maxLat`` in CRS84 (or the 6-number form with heights, which are ignored:
    the twin stores 2D geometries).

    A first longitude larger than the second is a box crossing the antimeridian, as OGC allows.

    Examples
    --------
    >>> parse_bbox("3.8,43.5,3.9,43.7")
    (3.8, 43.5, 3.9, 43.7)
    >>> parse_bbox("3.8,43.5,0,3.9,43.7,100")
    (3.8, 43.5, 3.9, 43.7)
    """
    if text is None:
        return None
    parts = text.split(",")
    hint = "send bbox=minLon,minLat,maxLon,maxLat in WGS84 degrees, e.g. bbox=3.80,43.56,3.95,43.66"
    if len(parts) not in (4, 6):
        raise InvalidInput(f"bbox must have 4 or 6 numbers, got {len(parts)} ({text!r}); {hint}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(f"bbox values must be numbers, got {text!r}; {hint}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidInput(f"bbox values must be finite numbers, got {text!r}; {hint}")
    if len(numbers) == 6:
        if numbers[2] > numbers[5]:
            raise InvalidInput(
                f"bbox minimum height {numbers[2]} is above maximum height {numbers[5]}; {hint}"
            )
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    min_lon, min_lat, max_lon, max_lat = numbers
    for lon in (min_lon, max_lon):
        if not -180 <= lon <= 180:
            raise InvalidInput(f"bbox longitude {lon} is outside -180..180 (order is lon,lat); {hint}")
    for lat in (min_lat, max_lat):
        if not -90 <= lat <= 90:
            raise InvalidInput(f"bbox latitude {lat} is outside -90..90 (order is lon,lat); {hint}")
    if min_lat > max_lat:
        raise InvalidInput(f"bbox minimum latitude {min_lat} is above maximum latitude {max_lat}; {hint}")
    return min_lon, min_lat, max_lon, max_lat


def _instant(text: str) -> datetime:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9:.]+([Zz]|[+-][0-9]{2}:[0-9]{2})", text):
        raise ValueError(text)
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    return moment.astimezone(UTC)


def parse_datetime(text: str | None) -> str | None:
    """Check an RFC 3339 instant or interval (``start/end``, ``..`` or empty for an open end).

    The value is validated, then has no effect: no layer of the twin has a temporal property, and OGC
    core only filters collections that do. Returned unchanged for the links.

    Examples
    --------
    >>> parse_datetime("2018-02-12T00:00:00Z/..")
    '2018-02-12T00:00:00Z/..'
    """
    if text is None:
        return None
    hint = (
        "send an RFC 3339 date-time or interval, e.g. datetime=2024-01-01T00:00:00Z or "
        "datetime=2024-01-01T00:00:00Z/.."
    )
    bounds = text.split("/")
    if len(bounds) > 2 or (len(bounds) == 1 and bounds[0] in ("", "..")):
        raise InvalidInput(f"datetime {text!r} is not an instant or an interval; {hint}")
    try:
        moments = [None if b in ("", "..") else _instant(b) for b in bounds]
    except ValueError:
        raise InvalidInput(f"datetime {text!r} is not RFC 3339; {hint}") from None
    if len(moments) == 2 and moments[0] is not None and moments[1] is not None and moments[0] > moments[1]:
        raise InvalidInput(f"datetime interval {text!r} ends before it starts; {hint}")
    return text


def parse_properties(text: str | None, available: tuple[str, ...]) -> tuple[str, ...] | None:
    """Property selection: a comma-separated list of the collection's properties (empty = none).

    Examples
    --------
    >>> parse_properties("name,use", ("name", "use", "height_m"))
    ('name', 'use')
    """
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InvalidInput(
            f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))};"
            f" this collection's properties are: {', '.join(available) or 'none'}"
        )
    return names


def parse_territory(text: str | None) -> str | None:
    if text is not None and not text.strip():
        raise InvalidInput("territory must be a territory name or id; leave it out for every territory")
    return text


def parse_filter_params(
    text: str | None, lang: str | None, crs: str | None
) -> tuple[str | None, str | None, str | None]:
    """``filter``, ``filter-lang`` and ``filter-crs`` (OGC API Features Part 3); the filter itself is
    parsed against the collection's queryables by ``layers.ogc.cql2``.

    Examples
    --------
    >>> parse_filter_params("kind='hospital'", None, None)
    ("kind='hospital'", None, None)
    """
    if lang is not None and lang not in FILTER_LANGS:
        raise InvalidInput(
            f"filter-lang={lang!r} is not supported; send filter-lang=cql2-text (the default) or cql2-json"
        )
    if crs is not None and crs != CRS84:
        raise InvalidInput(
            f"filter-crs={crs!r} is not supported: filter geometries are longitude/latitude; send"
            f" filter-crs={CRS84} or leave it out"
        )
    if text is not None and not text.strip():
        raise InvalidInput(
            "filter is empty; send a CQL2 expression, e.g. filter=kind='hospital', or leave it out"
        )
    return text, lang, crs


def items_query_from(
    items: Iterable[tuple[str, str]], *, properties: tuple[str, ...], default_limit: int, max_limit: int
) -> ItemsQuery:
    """Validate the query string of an items request.

    Parameters
    ----------
    items : iterable of (name, value)
        The raw query parameters, repeated names included (``request.query_params.multi_items()``).
    properties : tuple of str
        The collection's property names (for ``properties=``).
    default_limit, max_limit : int
        From ``ServerSettings``.

    Raises
    ------
    twin.errors.InvalidInput
        Naming the parameter, the value received and what to send instead.
    """
    values = single_values(items, ITEMS_PARAMS)
    parse_format(values.get("f"))
    text, lang, crs = parse_filter_params(
        values.get("filter"), values.get("filter-lang"), values.get("filter-crs")
    )
    return ItemsQuery(
        limit=parse_limit(values.get("limit"), default=default_limit, maximum=max_limit),
        offset=parse_offset(values.get("offset")),
        bbox=parse_bbox(values.get("bbox")),
        properties=parse_properties(values.get("properties"), properties),
        territory=parse_territory(values.get("territory")),
        datetime=parse_datetime(values.get("datetime")),
        filter=text,
        filter_lang=lang,
        filter_crs=crs,
    )


def feature_id_from(text: str, collection_id: str) -> int:
    """Feature ids are the table's integer ids.

    OGC defines ``featureId`` as a string: a non-integer id is a well-formed request for a feature
    that does not exist, so it is a 404, not a 400.
    """
    if _FEATURE_ID.fullmatch(text) and int(text) <= _BIGINT_MAX:
        return int(text)
    raise NotFound(
        f"feature {text!r} does not exist in collection {collection_id!r}; feature ids are whole numbers,"
        f" listed by /collections/{collection_id}/items"
    )
