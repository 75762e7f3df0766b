"""Translate a normalised CQL2-JSON tree into a psycopg SQL condition on one layer (alias ``t``)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from layers.catalog import Layer
from layers.ogc import _cql2_values as v
from layers.ogc._cql2_values import ARRAY, BOOL, BOOLEAN, DATE, GEOMETRY, NUMBER, TEXT, TIMESTAMP, Typed
from twin.errors import InvalidInput

MAX_DEPTH = 200  # tree depth; the text is also pre-checked, as the parser itself recurses (layers.ogc.cql2)

COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
ARITHMETIC = ("+", "-", "*", "/", "%", "div", "^")
SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_equals": "ST_Equals",
    "s_disjoint": "ST_Disjoint",
    "s_touches": "ST_Touches",
    "s_within": "ST_Within",
    "s_overlaps": "ST_Overlaps",
    "s_crosses": "ST_Crosses",
    "s_contains": "ST_Contains",
}
# Allen's relations on periods a = [as, ae] and b = [bs, be]; an instant t is the period [t, t].
TEMPORAL = {
    "t_after": "{as} > {be}",
    "t_before": "{ae} < {bs}",
    "t_disjoint": "({ae} < {bs} OR {as} > {be})",
    "t_equals": "({as} = {bs} AND {ae} = {be})",
    "t_intersects": "({as} <= {be} AND {ae} >= {bs})",
    "t_contains": "({as} < {bs} AND {ae} > {be})",
    "t_during": "({as} > {bs} AND {ae} < {be})",
    "t_finishes": "({as} > {bs} AND {ae} = {be})",
    "t_finishedby": "({as} < {bs} AND {ae} = {be})",
    "t_meets": "{ae} = {bs}",
    "t_metby": "{as} = {be}",
    "t_overlappedby": "({as} > {bs} AND {as} < {be} AND {ae} > {be})",
    "t_overlaps": "({as} < {bs} AND {ae} > {bs} AND {ae} < {be})",
    "t_startedby": "({as} = {bs} AND {ae} > {be})",
    "t_starts": "({as} = {bs} AND {ae} < {be})",
}
ARRAYS = {
    "a_equals": "({a} = {b})",
    "a_contains": "({a} @> {b})",
    "a_containedby": "({a} <@ {b})",
    "a_overlaps": "EXISTS (SELECT 1 FROM jsonb_array_elements({a}) AS x"
    " JOIN jsonb_array_elements({b}) AS y ON x.value = y.value)",
}
OTHERS = ("and", "or", "not", "like", "between", "in", "isnull", "casei", "accenti")
SUPPORTED = (*COMPARISONS, *OTHERS, *ARITHMETIC, *SPATIAL, *TEMPORAL, *ARRAYS)
_COMPARABLE = (TEXT, NUMBER, BOOLEAN, DATE, TIMESTAMP)
_NEG_INFINITY = sql.SQL("'-infinity'::timestamptz")
_INFINITY = sql.SQL("'infinity'::timestamptz")


def _args(node: dict[str, Any], op: str, count: int | None = None) -> list[Any]:
    args = node.get("args")
    if not isinstance(args, list):
        raise InvalidInput(f"operator {op!r} needs a list of arguments ('args')")
    if count is not None and len(args) != count:
        raise InvalidInput(f"{op.upper()} takes {count} argument(s), got {len(args)}")
    return args


class Translator:
    """One filter on one layer: every value becomes a bound parameter added to ``params``."""

    def __init__(self, layer: Layer, params: dict[str, Any]) -> None:
        self.layer = layer
        self.binder = v.Binder(params)
        self.depth = 0

    # --- entry points

    def condition(self, node: Any) -> sql.Composable:
        """The SQL of a node that must be a condition (the whole filter, AND/OR/NOT operands)."""
        typed = self.expr(node)
        if typed.kind not in (BOOL, BOOLEAN):
            raise InvalidInput(
                f"{typed.label} is a {typed.kind}, not a condition; a filter is a predicate such as"
                " kind = 'hospital'"
            )
        return typed.code

    def expr(self, node: Any) -> Typed:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise InvalidInput(f"the filter is nested more than {MAX_DEPTH} levels deep; simplify it")
            return self._expr(node)
        finally:
            self.depth -= 1

    # --- dispatch

    def _expr(self, node: Any) -> Typed:
        if isinstance(node, bool):
            return Typed(sql.SQL("TRUE" if node else "FALSE"), BOOLEAN, str(node).lower())
        if isinstance(node, int | float):
            return v.number_literal(node, self.binder)
        if isinstance(node, str):
            return v.text_literal(node, self.binder)
        if isinstance(node, list):
            return Typed(self._array(node), ARRAY, "an array")
        if not isinstance(node, dict):
            raise InvalidInput(f"unexpected value {node!r} in the filter")
        if "property" in node:
            return v.property_of(self.layer, node["property"], self.binder)
        if "date" in node:
            return v.date_literal(node["date"], self.binder)
        if "timestamp" in node:
            return v.timestamp_literal(node["timestamp"], self.binder)
        if "interval" in node:
            raise InvalidInput(
                "an INTERVAL can only be an argument of a temporal function such as T_INTERSECTS"
            )
        if "bbox" in node or "type" in node:
            return v.geometry_literal(node, self.binder)
        if "op" in node:
            return self._operation(node)
        raise InvalidInput(f"unexpected object {node!r} in the filter")

    def _operation(self, node: dict[str, Any]) -> Typed:
        name = node["op"]
        op = name.lower() if isinstance(name, str) else ""
        if op in ("and", "or"):
            return self._logical(op, _args(node, op))
        if op == "not":
            (arg,) = _args(node, op, 1)
            return Typed(sql.SQL("(NOT {})").format(self.condition(arg)), BOOL, "NOT")
        if op in COMPARISONS:
            a, b = self._comparable(*(self.expr(x) for x in _args(node, op, 2)))
            return Typed(sql.SQL("({} " + COMPARISONS[op] + " {})").format(a, b), BOOL, op)
        if op == "isnull":
            (arg,) = _args(node, op, 1)
            return self._is_null(self.expr(arg))
        if op == "like":
            return self._like(_args(node, op, 2))
        if op == "between":
            return self._between(*(self.expr(x) for x in _args(node, op, 3)))
        if op == "in":
            return self._in(_args(node, op, 2))
        if op in ("casei", "accenti"):
            (arg,) = _args(node, op, 1)
            return self._fold(op, self.expr(arg))
        if op in ARITHMETIC:
            return self._arithmetic(op, _args(node, op))
        if op in SPATIAL:
            geoms = [self._geometry(x) for x in _args(node, op, 2)]
            return Typed(sql.SQL(SPATIAL[op] + "({}, {})").format(*geoms), BOOL, op.upper())
        if op in TEMPORAL:
            (a_start, a_end), (b_start, b_end) = (self._period(x) for x in _args(node, op, 2))
            bounds = {"as": a_start, "ae": a_end, "bs": b_start, "be": b_end}
            return Typed(sql.SQL(TEMPORAL[op]).format(**bounds), BOOL, op.upper())
        if op in ARRAYS:
            arrays = [self._array_arg(x) for x in _args(node, op, 2)]
            return Typed(sql.SQL(ARRAYS[op]).format(a=arrays[0], b=arrays[1]), BOOL, op.upper())
        raise InvalidInput(
            f"unsupported function or operator {name!r} in filter; supported: {', '.join(SUPPORTED)}"
        )

    # --- operators

    def _comparable(self, left: Typed, right: Typed) -> tuple[sql.Composable, sql.Composable]:
        """Both sides as SQL of one comparable kind, or InvalidInput saying what cannot be compared."""
        kinds = {left.kind, right.kind}
        if left.kind == right.kind and left.kind in _COMPARABLE:
            return left.code, right.code
        if kinds <= {DATE, TIMESTAMP, TEXT} and kinds & {DATE, TIMESTAMP}:
            # Dates and times of GIS files are kept as ISO 8601 text in the attributes document.
            if kinds == {DATE, TEXT}:
                as_date = [v.safe_date(s.code) if s.kind == TEXT else s.code for s in (left, right)]
                return as_date[0], as_date[1]
            return v.as_timestamp(left), v.as_timestamp(right)
        if GEOMETRY in kinds:
            raise InvalidInput(
                f"{left.label} and {right.label} cannot be compared with an operator; geometries are"
                " compared with spatial functions such as S_EQUALS or S_INTERSECTS"
            )
        raise InvalidInput(
            f"cannot compare {left.label} (a {left.kind}) with {right.label} (a {right.kind}); compare a"
            " property with a value of its type (see the collection's queryables)"
        )

    def _logical(self, op: str, args: list[Any]) -> Typed:
        if len(args) < 2:
            raise InvalidInput(f"{op.upper()} needs at least two operands")
        parts = [self.condition(a) for a in args]
        return Typed(sql.SQL("({})").format(sql.SQL(f" {op.upper()} ").join(parts)), BOOL, op.upper())

    def _is_null(self, value: Typed) -> Typed:
        if value.raw is not None:  # a property of the attributes document: a JSON null or a missing key
            test = sql.SQL("coalesce(jsonb_typeof({}), 'null') = 'null'").format(value.raw)
            return Typed(test, BOOL, "IS NULL")
        return Typed(sql.SQL("({} IS NULL)").format(value.code), BOOL, "IS NULL")

    def _between(self, value: Typed, low: Typed, high: Typed) -> Typed:
        a, lo = self._comparable(value, low)
        a2, hi = self._comparable(value, high)
        if a == a2:
            return Typed(sql.SQL("({} BETWEEN {} AND {})").format(a, lo, hi), BOOL, "BETWEEN")
        return Typed(sql.SQL("({} >= {} AND {} <= {})").format(a, lo, a2, hi), BOOL, "BETWEEN")

    def _like(self, args: list[Any]) -> Typed:
        value, pattern = (self.expr(a) for a in args)
        for side in (value, pattern):
            if side.kind != TEXT:
                raise InvalidInput(f"LIKE compares strings; {side.label} is a {side.kind}")
        if isinstance(args[1], str) and (len(args[1]) - len(args[1].rstrip("\\"))) % 2:
            raise InvalidInput(f"LIKE pattern {args[1]!r} ends with a lone escape character '\\'")
        return Typed(sql.SQL("({} LIKE {} ESCAPE '\\')").format(value.code, pattern.code), BOOL, "LIKE")

    def _in(self, args: list[Any]) -> Typed:
        value, items = args
        if not isinstance(items, list):
            raise InvalidInput("IN needs a list of values, e.g. kind IN ('hospital', 'clinic')")
        if not items:
            return Typed(sql.SQL("FALSE"), BOOL, "IN")
        target = self.expr(value)
        pairs = [self._comparable(target, self.expr(item)) for item in items]
        if all(a == pairs[0][0] for a, _ in pairs):
            listed = sql.SQL(", ").join(b for _, b in pairs)
            return Typed(sql.SQL("({} IN ({}))").format(pairs[0][0], listed), BOOL, "IN")
        ors = sql.SQL(" OR ").join(sql.SQL("{} = {}").format(a, b) for a, b in pairs)
        return Typed(sql.SQL("({})").format(ors), BOOL, "IN")

    def _fold(self, op: str, arg: Typed) -> Typed:
        if arg.kind != TEXT:
            raise InvalidInput(f"{op.upper()} applies to strings; {arg.label} is a {arg.kind}")
        if op == "casei":
            return Typed(sql.SQL("lower({})").format(arg.code), TEXT, f"CASEI({arg.label})")
        # No unaccent extension needed: translate() with a table built from Unicode decompositions, then
        # the combining marks of text stored decomposed are dropped.
        accented, unaccented, combining = self.binder.accent_args()
        folded = sql.SQL("regexp_replace(translate({}, {}, {}), {}, '', 'g')").format(
            arg.code, accented, unaccented, combining
        )
        return Typed(folded, TEXT, f"ACCENTI({arg.label})")

    def _arithmetic(self, op: str, args: list[Any]) -> Typed:
        operands = [self.expr(a) for a in args]
        for operand in operands:
            if operand.kind != NUMBER:
                raise InvalidInput(
                    f"arithmetic ({op}) applies to numbers; {operand.label} is a {operand.kind}"
                )
        if op == "-" and len(operands) == 1:
            return Typed(sql.SQL("(- {})").format(operands[0].code), NUMBER, "-")
        if len(operands) != 2:
            raise InvalidInput(f"operator {op!r} takes 2 arguments, got {len(operands)}")
        a, b = operands[0].code, operands[1].code
        # A zero divisor gives NULL (no match) rather than a division-by-zero error.
        templates = {
            "+": "({} + {})",
            "-": "({} - {})",
            "*": "({} * {})",
            "/": "({} / NULLIF({}, 0))",
            "%": "mod({}, NULLIF({}, 0))",
            "div": "div({}, NULLIF({}, 0))",
            "^": "power({}, {})",
        }
        return Typed(sql.SQL(templates[op]).format(a, b), NUMBER, f"an arithmetic expression ({op})")

    # --- operands of functions

    def _geometry(self, node: Any) -> sql.Composable:
        typed = self.expr(node)
        if typed.kind != GEOMETRY:
            raise InvalidInput(
                f"spatial functions compare geometries; {typed.label} is a {typed.kind} (use the geometry"
                " property, a WKT literal such as POINT(3.88 43.61) or BBOX(…))"
            )
        return typed.code

    def _period(self, node: Any) -> tuple[sql.Composable, sql.Composable]:
        """An instant or an INTERVAL as (start, end) timestamptz; open ends are ∓infinity."""
        if isinstance(node, dict) and "interval" in node:
            bounds = node["interval"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise InvalidInput("INTERVAL takes two bounds, e.g. INTERVAL('2024-01-01', '..')")
            start, end = (
                v.interval_bound(b, self.binder) if isinstance(b, str) else v.as_timestamp(self.expr(b))
                for b in bounds
            )
            return (start if start is not None else _NEG_INFINITY, end if end is not None else _INFINITY)
        instant = v.as_timestamp(self.expr(node))
        return instant, instant

    def _array(self, items: list[Any]) -> sql.Composable:
        if all(isinstance(i, str | int | float | bool) for i in items):
            if any(isinstance(i, str) and "\x00" in i for i in items):
                raise InvalidInput("a string in the filter contains a NUL character: remove it")
            return v.array_literal(items, self.binder)
        elements = []
        for item in items:
            typed = self.expr(item)
            if typed.kind in (GEOMETRY, BOOL):
                raise InvalidInput(
                    f"arrays hold strings, numbers, booleans, instants or arrays; not {typed.label}"
                )
            elements.append(typed.code if typed.kind == ARRAY else sql.SQL("to_jsonb({})").format(typed.code))
        return sql.SQL("jsonb_build_array({})").format(sql.SQL(", ").join(elements))

    def _array_arg(self, node: Any) -> sql.Composable:
        typed = self.expr(node)
        if typed.kind != ARRAY:
            raise InvalidInput(
                f"array functions compare arrays; {typed.label} is a {typed.kind}, write ('a', 'b')"
            )
        return typed.code
