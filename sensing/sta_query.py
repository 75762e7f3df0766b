"""SensorThings query options, parsed strictly: ``$top``, ``$skip``, ``$count``, ``$orderby``, ``$select`` and
a ``$filter`` subset (``eq ne gt ge lt le`` between a property and a literal, ``and``/``or``, parentheses),
turned into SQL with bound parameters only. Anything else answers 400 saying what is supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from twin.errors import InvalidInput, NotFound

DEFAULT_TOP = 100
MAX_TOP = 10_000
MAX_SKIP = 10_000_000
MAX_FILTER_CHARS = 2_000
SUPPORTED = ("$top", "$skip", "$count", "$orderby", "$filter", "$select")
OPERATORS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

PropType = Literal["int", "str", "num", "time", "observation"]


@dataclass(frozen=True)
class Prop:
    sql: str
    type: PropType


@dataclass(frozen=True)
class Options:
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    orderby: list[tuple[str, str]] | None = None
    filter: str | None = None
    select: list[str] | None = None


def parse_observation_id(text: str) -> tuple[int, datetime]:
    """``"12-1546300800000"`` (quotes allowed) → sensor 12 at that millisecond (404 when unreadable).

    Examples
    --------
    >>> parse_observation_id("'12-1546300800000'")
    (12, datetime.datetime(2019, 1, 1, 0, 0, tzinfo=datetime.timezone.utc))
    """
    bare = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
    sensor, _, ms = bare.partition("-")
    if not (
        sensor.isascii()
        and ms.isascii()
        and sensor.isdigit()
        and ms.isdigit()
        and len(sensor) <= 18
        and len(ms) <= 15
    ):
        raise NotFound(
            f"no observation {text}: observation ids look like '12-1546300800000' (sensor-epoch ms)"
        )
    try:
        return int(sensor), datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise NotFound(f"no observation {text}: its time is out of range") from None


def _whole(name: str, text: str, upper: int) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) > upper:
        raise InvalidInput(f"{name}={text!r}: send a whole number from 0 to {upper}")
    return int(text)


def options_from(
    query: Mapping[str, str], props: Mapping[str, Prop], order: Mapping[str, str], *, single: bool = False
) -> Options:
    """Read the query options of a request; refuse unknown or unsupported ones (``$expand``…)."""
    for key in query:
        if key.startswith("$") and key not in SUPPORTED:
            raise InvalidInput(f"{key} is not supported here: use {', '.join(SUPPORTED)}")
    if single:
        extra = [k for k in ("$top", "$skip", "$count", "$orderby", "$filter") if k in query]
        if extra:
            raise InvalidInput(f"{', '.join(extra)} apply to collections, not to a single entity")
    count = query.get("$count", "false")
    if count not in ("true", "false"):
        raise InvalidInput(f"$count={count!r}: send true or false")
    orderby = None
    if "$orderby" in query:
        orderby = []
        for part in query["$orderby"].split(","):
            words = part.split()
            if (
                not words
                or len(words) > 2
                or words[0] not in order
                or (len(words) == 2 and words[1] not in ("asc", "desc"))
            ):
                raise InvalidInput(
                    f"$orderby {part.strip()!r} is not supported: use {' or '.join(order)}, optionally asc or desc"
                )
            orderby.append((words[0], words[1] if len(words) == 2 else "asc"))
    select = None
    if "$select" in query:
        select = [s.strip() for s in query["$select"].split(",")]
    filter_text = query.get("$filter")
    if filter_text is not None and len(filter_text) > MAX_FILTER_CHARS:
        raise InvalidInput(f"$filter longer than {MAX_FILTER_CHARS} characters")
    return Options(
        top=_whole("$top", query.get("$top", str(DEFAULT_TOP)), MAX_TOP),
        skip=_whole("$skip", query.get("$skip", "0"), MAX_SKIP),
        count=count == "true",
        orderby=orderby,
        filter=filter_text,
        select=select,
    )


def order_sql(orderby: list[tuple[str, str]] | None, order: Mapping[str, str]) -> str:
    """ORDER BY text from whitelisted expressions; the id expression always ends it (stable pages).

    Examples
    --------
    >>> order_sql([("phenomenonTime", "desc")], {"id": "r.sensor_id, r.observed_at", "phenomenonTime": "r.observed_at"})
    'r.observed_at DESC, r.sensor_id, r.observed_at'
    """
    parts = []
    for key, direction in orderby or []:
        parts.append(", ".join(f"{column} {direction.upper()}" for column in order[key].split(", ")))
    parts.append(next(iter(order.values())))
    return ", ".join(parts)


_TOKEN = re.compile(
    r"\s*(?:(?P<paren>[()])|(?P<comma>,)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<word>[A-Za-z@][A-Za-z0-9_@.]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise InvalidInput(f"$filter: cannot read {text[pos : pos + 20].strip()!r} (position {pos})")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, props: Mapping[str, Prop]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.props = props
        self.params: dict[str, Any] = {}

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise InvalidInput(
                "$filter ends too early: expected a comparison such as phenomenonTime gt 2019-01-01T00:00:00Z"
            )
        self.pos += 1
        return token

    def parse(self) -> str:
        sql = self.disjunction()
        if self.peek() is not None:
            raise InvalidInput(f"$filter: unexpected {self.peek()[1]!r}: join comparisons with and / or")  # type: ignore[index]
        return sql

    def disjunction(self) -> str:
        parts = [self.conjunction()]
        while self.peek() == ("word", "or"):
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def conjunction(self) -> str:
        parts = [self.primary()]
        while self.peek() == ("word", "and"):
            self.pos += 1
            parts.append(self.primary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def primary(self) -> str:
        kind, text = self.take()
        if (kind, text) == ("paren", "("):
            inner = self.disjunction()
            if self.peek() != ("paren", ")"):
                raise InvalidInput("$filter: a parenthesis is not closed")
            self.pos += 1
            return f"({inner})"
        if kind != "word" or text not in self.props:
            raise InvalidInput(
                f"$filter: {text!r} is not a property that can be filtered here: use {', '.join(self.props)}"
                " (functions such as substringof or geo.intersects are not supported)"
            )
        op_kind, op = self.take()
        if op_kind != "word" or op not in OPERATORS:
            raise InvalidInput(f"$filter: {op!r} is not a supported operator: use {', '.join(OPERATORS)}")
        return self.comparison(self.props[text], text, op, self.take())

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def comparison(self, prop: Prop, name: str, op: str, literal: tuple[str, str]) -> str:
        kind, text = literal
        if prop.type == "observation":
            if op not in ("eq", "ne") or kind != "string":
                raise InvalidInput(
                    "$filter: compare an Observation id with eq or ne and a quoted id, e.g. id eq '12-1546300800000'"
                )
            sensor, at = parse_observation_id(text)
            same = (
                f"(r.sensor_id = {self.bind(sensor)} AND r.observed_at >= {self.bind(at)}"
                f" AND r.observed_at < {self.bind(at + timedelta(milliseconds=1))})"
            )
            return same if op == "eq" else f"NOT {same}"
        value: Any
        if prop.type == "time":
            if kind != "time":
                raise InvalidInput(
                    f"$filter: {name} is compared with an ISO 8601 time with offset, e.g. 2019-01-01T00:00:00Z"
                )
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                raise InvalidInput(f"$filter: {text} is not a valid time") from None
        elif prop.type in ("int", "num"):
            if kind != "number" or (prop.type == "int" and not text.lstrip("-").isdigit()):
                raise InvalidInput(f"$filter: {name} is compared with a number, not {text!r}")
            value = int(text) if prop.type == "int" else float(text)
            if prop.type == "int" and abs(value) > 2**63 - 1:
                raise InvalidInput(f"$filter: {text} is out of range for {name}")
        else:
            if kind != "string":
                raise InvalidInput(f"$filter: {name} is compared with a quoted text, e.g. '{text}'")
            value = text[1:-1].replace("''", "'")
        return f"{prop.sql} {OPERATORS[op]} {self.bind(value)}"


def filter_sql(text: str | None, props: Mapping[str, Prop]) -> tuple[str, dict[str, Any]]:
    """SQL condition and its parameters for a ``$filter`` ('' when none).

    Examples
    --------
    >>> sql, params = filter_sql("result gt 3 and (id eq 1 or id eq 2)", {"result": Prop("v", "num"), "id": Prop("i", "int")})
    >>> sql, params
    ('(v > %(f0)s AND ((i = %(f1)s OR i = %(f2)s)))', {'f0': 3.0, 'f1': 1, 'f2': 2})
    """
    if text is None or not text.strip():
        return "", {}
    parser = _Parser(text, props)
    return parser.parse(), parser.params


def select_fields(entity: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """Keep the ``$select``-ed properties (``id`` is ``@iot.id``, a navigation property its link).

    Examples
    --------
    >>> select_fields({"@iot.id": 1, "name": "a", "Things@iot.navigationLink": "u"}, ["id", "Things"])
    {'@iot.id': 1, 'Things@iot.navigationLink': 'u'}
    """
    if not select:
        return entity
    out = {}
    for name in select:
        key = {"id": "@iot.id", "selfLink": "@iot.selfLink"}.get(name, name)
        if key not in entity:
            key = f"{name}@iot.navigationLink"
        if key not in entity:
            names = [{"@iot.id": "id", "@iot.selfLink": "selfLink"}.get(k, k.split("@")[0]) for k in entity]
            raise InvalidInput(f"$select: no property {name!r} here: use {', '.join(names)}")
        out[key] = entity[key]
    return out
