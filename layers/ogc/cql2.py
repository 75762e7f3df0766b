"""CQL2 filters of OGC API Features Part 3: parse a ``filter`` parameter and turn it into SQL for one layer.

Both languages go through the ``cql2`` package, which gives one normalised CQL2-JSON tree; the tree is
translated by :mod:`layers.ogc._cql2_sql`, where property names must be queryables of the layer (they
become bound jsonb keys or catalog-checked identifiers) and every value is a bound parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cql2
from psycopg import sql

from layers.catalog import Layer
from layers.ogc._cql2_sql import SUPPORTED, Translator
from layers.ogc._cql2_values import queryable_names
from layers.ogc._validate import CRS84, FILTER_LANGS
from twin.errors import InvalidInput

__all__ = ["CONFORMANCE", "SUPPORTED", "Filter", "filter_from_request", "parse_filter", "queryable_names"]

MAX_FILTER_CHARS = 20_000
# The Rust parser recurses on nesting and overflows its stack (a segfault of the whole server, not an
# exception) somewhere between 1,000 and 2,000 parentheses, NOT or unary signs: refuse long before.
_MAX_PARENTHESES = 100
_MAX_NOTS = 256
_MAX_SIGN_RUN = 16

_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    *(
        _CQL2 + name
        for name in (
            "cql2-text",
            "cql2-json",
            "basic-cql2",
            "advanced-comparison-operators",
            "case-insensitive-comparison",
            "accent-insensitive-comparison",
            "basic-spatial-functions",
            "basic-spatial-functions-plus",
            "spatial-functions",
            "temporal-functions",
            "array-functions",
            "property-property",
            "arithmetic",
        )
    ),
]


@dataclass(frozen=True)
class Filter:
    """A translated filter: a condition on the layer's table (alias ``t``) and its bound parameters."""

    where: sql.Composable
    params: dict[str, Any]


def _outside_quotes(text: str) -> str:
    """The filter text with its quoted strings and quoted property names blanked out."""
    return re.sub(r"'(?:[^']|'')*'?|\"[^\"]*\"?", "''", text)


def _check_nesting(text: str) -> None:
    bare = _outside_quotes(text)
    depth = deepest = 0
    for char in bare:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    nots = len(re.findall(r"(?i)\bnot\b", bare))
    signs = re.search(rf"(?:[-+]\s*){{{_MAX_SIGN_RUN + 1},}}", bare)
    if deepest > _MAX_PARENTHESES or nots > _MAX_NOTS or signs:
        raise InvalidInput(
            f"the filter is nested too deeply (at most {_MAX_PARENTHESES} levels of parentheses,"
            f" {_MAX_NOTS} NOT and {_MAX_SIGN_RUN} signs in a row); simplify it"
        )


def parse_filter(text: str, *, lang: str = "cql2-text") -> Any:
    """Parse a filter into its normalised CQL2-JSON tree (dicts, lists and scalars).

    Raises
    ------
    twin.errors.InvalidInput
        Unknown language, oversized or over-nested text, or the parser's own message for malformed input.

    Examples
    --------
    >>> parse_filter("kind = 'hospital'")
    {'op': '=', 'args': [{'property': 'kind'}, 'hospital']}
    """
    if lang not in FILTER_LANGS:
        raise InvalidInput(f"filter-lang={lang!r} is not supported; send filter-lang=cql2-text or cql2-json")
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidInput(
            f"the filter is {len(text)} characters long; at most {MAX_FILTER_CHARS} are accepted"
        )
    if not text.strip():
        raise InvalidInput("the filter is empty; send a CQL2 expression such as filter=kind='hospital'")
    if "\x00" in text:
        raise InvalidInput("the filter contains a NUL character: remove it")
    try:
        if lang == "cql2-json":
            expression = cql2.parse_json(text)
        else:
            _check_nesting(text)
            expression = cql2.parse_text(text)
        return expression.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        example = (
            "filter=kind='hospital'"
            if lang == "cql2-text"
            else 'filter={"op":"=","args":[{"property":"kind"},"hospital"]}'
        )
        message = " ".join(str(exc).split())[:500]
        raise InvalidInput(f"the filter is not valid {lang}: {message}; e.g. {example}") from None


def filter_from_request(
    text: str, lang: str | None, layer: Layer, *, crs: str | None = None, params: dict[str, Any] | None = None
) -> Filter:
    """Translate the ``filter`` of an items request into an SQL condition on ``layer``.

    Parameters
    ----------
    text : str
        The ``filter`` parameter, CQL2 text or CQL2 JSON.
    lang : str, optional
        ``filter-lang``: ``cql2-text`` (the default) or ``cql2-json``.
    layer : Layer
        The collection: property names must be its queryables (its fields, ``id``, ``geometry``/``geom``).
    crs : str, optional
        ``filter-crs``; only CRS84 (the default) is accepted.
    params : dict, optional
        Parameters of the surrounding statement: the filter's own are added under fresh ``cql*`` names.

    Raises
    ------
    twin.errors.InvalidInput
        Malformed filter, unknown property, unsupported operator, operands of the wrong type, invalid
        literal: the message names it and says what to send instead.
    """
    if crs is not None and crs != CRS84:
        raise InvalidInput(f"filter-crs={crs!r} is not supported; send filter-crs={CRS84} (or leave it out)")
    tree = parse_filter(text, lang=lang or "cql2-text")
    params = params if params is not None else {}
    where = Translator(layer, params).condition(tree)
    return Filter(where=where, params=params)
