"""The leaves of a CQL2 filter as SQL: properties of a layer (with safe casts) and bound literal values."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import shapely
from psycopg import sql
from psycopg.types.json import Jsonb
from shapely.geometry import box, shape

from layers.catalog import Field, Layer, quoted
from twin.errors import InvalidInput

# Kinds of a translated expression. BOOL is a condition (a predicate's result); BOOLEAN a boolean value
# (a property, ``true``); both may stand where a condition is expected.
BOOL, BOOLEAN, TEXT, NUMBER, DATE, TIMESTAMP, GEOMETRY, ARRAY = (
    "condition",
    "boolean",
    "string",
    "number",
    "date",
    "timestamp",
    "geometry",
    "array",
)
# Names under which the feature geometry is a queryable: ``geometry`` (the GeoJSON member, what
# /queryables lists) and ``geom`` (the column, and what the CQL2 test suite and many clients send).
GEOMETRY_NAMES = ("geometry", "geom")
DATETIME_TYPES = ("datetime", "date-time", "timestamp")

# A number as the attributes document may hold it in text: digits, one optional dot, a short exponent
# (numeric accepts exponents far beyond 999, so the cast below cannot overflow).
_NUMERIC_TEXT = r"^\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,3})?\s*$"
# RFC 3339 date or date-time, every field range-checked so that only the day of month can still be
# wrong (2023-02-30): that one is checked against the month's length before any cast.
_INSTANT_TEXT = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,9})?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?)?$"
)
_OFFSET_TEXT = r"([Zz]|[+-][0-9:]{4,5})$"
_TRUE_TEXT = ("true", "t", "yes", "y", "1", "oui", "vrai")
_FALSE_TEXT = ("false", "f", "no", "n", "0", "non", "faux")


def _accent_table() -> tuple[str, str]:
    """``translate()`` arguments mapping accented Latin letters to their base letter (é → e, ș → s).

    Built from Unicode decompositions, plus the letters that have none (ø, đ, ł, ħ, ı, ŧ), so that
    ACCENTI needs no ``unaccent`` extension.
    """
    source, target = [], []
    for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        char = chr(code)
        parts = unicodedata.normalize("NFD", char)
        base, marks = parts[0], parts[1:]
        if marks and base.isascii() and base.isalpha() and all(unicodedata.combining(c) for c in marks):
            source.append(char)
            target.append(base)
    for char, base in zip("øØđĐłŁħĦıŧŦ", "oOdDlLhHitT", strict=True):
        source.append(char)
        target.append(base)
    return "".join(source), "".join(target)


ACCENTED, UNACCENTED = _accent_table()
COMBINING_MARKS = "[\u0300-\u036f]"  # what is left of a letter written decomposed (e + U+0301)


@dataclass(frozen=True)
class Typed:
    """A translated expression: its SQL, its kind, and how to name it in an error message."""

    code: sql.Composable
    kind: str
    label: str
    raw: sql.Composable | None = None  # a property's stored jsonb value (IS NULL looks at it)


class Binder:
    """Bound parameters of one filter, named ``cql0``, ``cql1``… (never clashing with the page's own)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def bind(self, value: Any, cast: str | None = None) -> sql.Composable:
        name = f"cql{len(self.params)}"
        while name in self.params:
            name += "_"
        self.params[name] = value
        placeholder = sql.Placeholder(name)
        return sql.SQL("{}::" + cast).format(placeholder) if cast else placeholder

    def accent_args(self) -> tuple[sql.Composable, sql.Composable, sql.Composable]:
        """Placeholders of the accent table, bound once per filter."""
        for key, value in (
            ("cql_accented", ACCENTED),
            ("cql_unaccented", UNACCENTED),
            ("cql_combining", COMBINING_MARKS),
        ):
            self.params.setdefault(key, value)
        return (
            sql.Placeholder("cql_accented"),
            sql.Placeholder("cql_unaccented"),
            sql.Placeholder("cql_combining"),
        )


def safe_numeric(text: sql.Composable) -> sql.Composable:
    """``text`` as numeric, NULL when it does not read as a number (dirty data never raises)."""
    return sql.SQL("CASE WHEN {t} ~ {re} THEN ({t})::numeric END").format(
        t=text, re=sql.Literal(_NUMERIC_TEXT)
    )


def _valid_instant(text: sql.Composable) -> sql.Composable:
    # The day is checked against the month's last day, computed with make_date on fields the regex
    # has already bounded (year 1000-9999, month 01-12), so no step can raise. CASE, not AND: SQL does
    # not promise to evaluate AND's operands in order, CASE does (and folds a false WHEN first).
    return sql.SQL(
        "CASE WHEN {t} ~ {re} THEN substr({t}, 9, 2)::int <= extract(day FROM make_date("
        "substr({t}, 1, 4)::int, substr({t}, 6, 2)::int, 1) + interval '1 month' - interval '1 day')"
        " ELSE FALSE END"
    ).format(t=text, re=sql.Literal(_INSTANT_TEXT))


def safe_date(text: sql.Composable) -> sql.Composable:
    """The date of an RFC 3339 text, NULL when it is not one."""
    return sql.SQL("CASE WHEN {ok} THEN substr({t}, 1, 10)::date END").format(ok=_valid_instant(text), t=text)


def safe_timestamp(text: sql.Composable) -> sql.Composable:
    """An RFC 3339 text as timestamptz (UTC when it has no offset), NULL when it is not one."""
    return sql.SQL(
        "CASE WHEN {ok} THEN CASE WHEN {t} ~ {offset} THEN ({t})::timestamptz"
        " ELSE ({t})::timestamp AT TIME ZONE 'UTC' END END"
    ).format(ok=_valid_instant(text), t=text, offset=sql.Literal(_OFFSET_TEXT))


def as_timestamp(value: Typed) -> sql.Composable:
    """A date, timestamp or RFC 3339 text expression as timestamptz (a date is its first instant, UTC)."""
    if value.kind == TIMESTAMP:
        return value.code
    if value.kind == DATE:
        return sql.SQL("(({})::timestamp AT TIME ZONE 'UTC')").format(value.code)
    if value.kind == TEXT:
        return safe_timestamp(value.code)
    raise InvalidInput(
        f"{value.label} is a {value.kind}, not an instant: temporal operands are dates or timestamps"
    )


def _jsonb_boolean(raw: sql.Composable, text: sql.Composable) -> sql.Composable:
    return sql.SQL(
        "CASE jsonb_typeof({raw}) WHEN 'boolean' THEN ({raw})::boolean"
        " WHEN 'number' THEN ({raw})::numeric <> 0"
        " WHEN 'string' THEN CASE WHEN lower(btrim({text})) IN ({yes}) THEN TRUE"
        " WHEN lower(btrim({text})) IN ({no}) THEN FALSE END END"
    ).format(
        raw=raw,
        text=text,
        yes=sql.SQL(", ").join(sql.Literal(v) for v in _TRUE_TEXT),
        no=sql.SQL(", ").join(sql.Literal(v) for v in _FALSE_TEXT),
    )


def _attribute(field: Field, binder: Binder) -> Typed:
    """A property stored in the jsonb ``attributes`` of twin.gis_features, cast by its catalog type."""
    key = binder.bind(field.name, "text")
    raw = sql.SQL("t.attributes -> {}").format(key)
    text = sql.SQL("(t.attributes ->> {})").format(key)
    label = f"property {field.name!r}"
    kind = field.type
    if kind in ("number", "integer"):
        number = sql.SQL(
            "CASE jsonb_typeof({raw}) WHEN 'number' THEN ({raw})::numeric WHEN 'string' THEN {txt} END"
        )
        return Typed(number.format(raw=raw, txt=safe_numeric(text)), NUMBER, label, raw)
    if kind == "boolean":
        return Typed(_jsonb_boolean(raw, text), BOOLEAN, label, raw)
    if kind == "date":
        return Typed(safe_date(text), DATE, label, raw)
    if kind in DATETIME_TYPES:
        return Typed(safe_timestamp(text), TIMESTAMP, label, raw)
    if kind == "array":
        return Typed(
            sql.SQL("CASE WHEN jsonb_typeof({r}) = 'array' THEN {r} END").format(r=raw), ARRAY, label, raw
        )
    return Typed(text, TEXT, label, raw)


def _column(layer: Layer, field: Field) -> Typed:
    """A property that is a column of the layer's own table (the built-in layers)."""
    column = sql.SQL("t.{}").format(quoted(layer, field.name))
    label = f"property {field.name!r}"
    casts = {"number": ("numeric", NUMBER), "integer": ("numeric", NUMBER), "boolean": ("boolean", BOOLEAN)}
    casts.update({"date": ("date", DATE), **{t: ("timestamptz", TIMESTAMP) for t in DATETIME_TYPES}})
    if field.type == "array":
        return Typed(sql.SQL("to_jsonb({})").format(column), ARRAY, label)
    cast, kind = casts.get(field.type, ("text", TEXT))
    return Typed(sql.SQL("({})::" + cast).format(column), kind, label)


def queryable_names(layer: Layer) -> list[str]:
    """What a filter may name, in the order /queryables lists it."""
    names = list(layer.field_names())
    extra = [n for n in ("geometry", "id") if n not in names]
    return extra + names


def property_of(layer: Layer, name: Any, binder: Binder) -> Typed:
    """A property named by a filter, or InvalidInput naming it and listing the collection's queryables."""
    if not isinstance(name, str):
        raise InvalidInput(f"a property name must be a string, got {name!r}")
    for field in layer.fields:
        if field.name == name:
            return _attribute(field, binder) if layer.in_attributes else _column(layer, field)
    if name in GEOMETRY_NAMES:
        return Typed(sql.SQL("t.{}").format(quoted(layer, "geom")), GEOMETRY, f"property {name!r}")
    if name == "id":
        return Typed(sql.SQL("(t.{})::numeric").format(quoted(layer, "id")), NUMBER, "property 'id'")
    raise InvalidInput(
        f"unknown property {name!r} in filter; the queryables of collection {layer.name!r} are: "
        f"{', '.join(queryable_names(layer))} (see /ogc/collections/{layer.name}/queryables)"
    )


def text_literal(value: str, binder: Binder) -> Typed:
    if "\x00" in value:
        raise InvalidInput("a string in the filter contains a NUL character: remove it")
    return Typed(binder.bind(value, "text"), TEXT, repr(value))


def number_literal(value: float | int, binder: Binder) -> Typed:
    number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    label = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return Typed(binder.bind(number, "numeric"), NUMBER, label)


def _parse_date(text: Any) -> date:
    if isinstance(text, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidInput(f"DATE({text!r}) is not a date; write DATE('2024-03-31')")


def _parse_timestamp(text: Any) -> datetime:
    pattern = (
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
    )
    if isinstance(text, str) and re.fullmatch(pattern, text):
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
        except ValueError:
            pass
        else:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise InvalidInput(
        f"TIMESTAMP({text!r}) is not an RFC 3339 date-time; write TIMESTAMP('2024-03-31T08:00:00Z')"
    )


def date_literal(text: Any, binder: Binder) -> Typed:
    return Typed(binder.bind(_parse_date(text), "date"), DATE, f"DATE({text!r})")


def timestamp_literal(text: Any, binder: Binder) -> Typed:
    return Typed(binder.bind(_parse_timestamp(text), "timestamptz"), TIMESTAMP, f"TIMESTAMP({text!r})")


def interval_bound(value: Any, binder: Binder) -> sql.Composable | None:
    """One bound of an INTERVAL given as text: '..' (open, None), a date or a date-time."""
    if value == "..":
        return None
    if isinstance(value, str) and len(value) == 10:
        return as_timestamp(date_literal(value, binder))
    return timestamp_literal(value, binder).code


def _check_geometry(geom: shapely.Geometry, label: str) -> shapely.Geometry:
    if geom.is_empty:
        return geom
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise InvalidInput(f"{label} has non-finite coordinates")
    if (abs(coords[:, 0]) > 180).any() or (abs(coords[:, 1]) > 90).any():
        raise InvalidInput(
            f"{label} has coordinates outside longitude -180..180 / latitude -90..90: filter geometries are"
            " CRS84 (lon lat order, in degrees)"
        )
    if not geom.is_valid:
        raise InvalidInput(f"{label} is not a valid geometry ({shapely.is_valid_reason(geom)}); correct it")
    return geom


def geometry_literal(node: dict[str, Any], binder: Binder) -> Typed:
    """A GeoJSON geometry (POINT(…) in CQL2 text) or a BBOX, bound as WKB in EPSG:4326 (= CRS84 order)."""
    if "bbox" in node:
        values = node["bbox"]
        if (
            not isinstance(values, list)
            or len(values) not in (4, 6)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        ):
            raise InvalidInput(
                f"BBOX needs 4 (or 6) numbers, got {values!r}; write BBOX(minLon,minLat,maxLon,maxLat)"
            )
        west, south, east, north = (
            (values[0], values[1], values[3], values[4]) if len(values) == 6 else values
        )
        label = f"BBOX({', '.join(map(str, values))})"
        if south > north:
            raise InvalidInput(f"{label}: the minimum latitude is above the maximum latitude")
        # A first longitude above the second crosses the antimeridian (as for the bbox parameter).
        geom = (
            box(west, south, east, north)
            if west <= east
            else shapely.MultiPolygon([box(west, south, 180, north), box(-180, south, east, north)])
        )
    else:
        label = f"the {node.get('type', 'geometry')} literal"
        try:
            geom = shape(node)
        except Exception as exc:  # shapely raises several kinds for malformed GeoJSON
            raise InvalidInput(f"{label} is not a valid GeoJSON geometry: {exc}") from None
        geom = shapely.force_2d(geom)
    geom = _check_geometry(geom, label)
    return Typed(
        sql.SQL("ST_GeomFromWKB({}, 4326)").format(binder.bind(shapely.to_wkb(geom))), GEOMETRY, label
    )


def array_literal(values: list[Any], binder: Binder) -> sql.Composable:
    """A list of plain values as one bound jsonb array."""
    return binder.bind(Jsonb(values), "jsonb")
