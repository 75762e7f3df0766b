"""CQL2 filtering of OGC API Features items (Part 3) against a live server on a migrated PostGIS.

The CQL2 abstract test suite's dataset is imported through the GIS importer, and every row of the
annexes' "Predicates and expected results" tables is sent over HTTP in CQL2 text and in CQL2 JSON; the
number of items must be the table's. Bad input (malformed filters, unknown properties or functions,
wrong filter-lang/filter-crs, injection attempts, dirty data) must be a clear 400 or an empty answer,
never a 5xx, and must leave the database exactly as it was.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import cql2
import geopandas as gpd
import httpx
import psycopg
import pytest
from jsonschema import Draft202012Validator
from psycopg import sql

from layers.catalog import Layer, load_catalog
from layers.ogc.cql2 import CONFORMANCE, filter_from_request, parse_filter
from tests.common import database_fingerprint, shared_file
from tests.layers.cql2_fixtures import (
    ATS_GPKG,
    COUNTRIES,
    PLACES,
    RIVERS,
    TERRITORY,
    AtsCase,
    ats_cases,
    example_pairs,
    load_ats_dataset,
)
from tests.layers.ogc_fixtures import running_server, signed_in
from twin.errors import InvalidInput

LANGS = ("cql2-text", "cql2-json")
CASES = ats_cases()
# A small French layer for the documentation's examples, arrays and dirty data (a number field holding
# text, an unreadable date): GIS attributes are whatever the source file held.
EQUIPEMENTS = "equipements_cql2test"
EQUIPEMENTS_FIELDS = [
    {"name": "nom", "type": "string", "title_fr": "Nom", "title_en": "Name"},
    {"name": "kind", "type": "string", "title_fr": "Type", "title_en": "Kind"},
    {"name": "lits", "type": "integer", "title_fr": "Lits", "title_en": "Beds"},
    {"name": "ouvert", "type": "boolean", "title_fr": "Ouvert", "title_en": "Open"},
    {"name": "inauguration", "type": "date", "title_fr": "Inauguration", "title_en": "Opening"},
    {"name": "services", "type": "array", "title_fr": "Services", "title_en": "Services"},
]
EQUIPEMENTS_ROWS: list[tuple[float, float, dict[str, Any]]] = [
    (
        3.8516,
        43.6312,
        {
            "nom": "Hôpital Lapeyronie",
            "kind": "hospital",
            "lits": 1200,
            "ouvert": True,
            "inauguration": "1980-05-12",
            "services": ["urgences", "cardiologie"],
        },
    ),
    (
        3.8463,
        43.6336,
        {
            "nom": "Hôpital Gui de Chauliac",
            "kind": "hospital",
            "lits": "beaucoup",
            "ouvert": "oui",
            "inauguration": "2023-02-30",
            "services": ["neurologie"],
        },
    ),
    (
        3.8767,
        43.6108,
        {
            "nom": "École Jules Ferry",
            "kind": "school",
            "lits": None,
            "ouvert": False,
            "inauguration": "1882-10-01T08:00:00",
            "services": "cantine",
        },
    ),
    (3.8800, 43.6000, {"nom": "Clinique du Millénaire", "kind": "clinic", "lits": 250.0, "ouvert": 1}),
]
# Rows of the ATS tables that contradict the ATS's own dataset: three names of populated places start with
# "Ch" once accents are removed (Chișinău, Chicago, Chengdu) and one with "chis" (Chișinău), whatever the
# accent folding, yet the tables expect 2 and 2. These rows are checked against the count computed in
# Python from the GeoPackage (Unicode NFD, combining marks dropped) instead.
ATS_ERRATA = {
    "ACCENTI(name) LIKE accenti('Ch%')": ("Ch", False),
    "ACCENTI(CASEI(name)) LIKE accenti(casei('Chiș%'))": ("chis", True),
    "ACCENTI(CASEI(name)) LIKE accenti(casei('cHis%'))": ("chis", True),
}
RESULTS: Counter[tuple[str, str]] = Counter()


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _oracle(predicate: str) -> int:
    prefix, fold_case = ATS_ERRATA[predicate]
    names = gpd.read_file(ATS_GPKG, layer=PLACES)["name"].dropna()
    folded = [(_unaccented(n).lower() if fold_case else _unaccented(n)) for n in names]
    return sum(1 for n in folded if n.startswith(prefix))


@pytest.fixture(scope="module")
def ats_dataset(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    shared_file(ATS_GPKG)
    kept = load_ats_dataset(database_url, tmp_path_factory.mktemp("cql2"))
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM twin.territory WHERE name = %s", (TERRITORY,)).fetchone()
        assert row is not None
        tid = row[0]
        conn.execute("DELETE FROM twin.gis_features WHERE layer = %s", (EQUIPEMENTS,))
        for x, y, attributes in EQUIPEMENTS_ROWS:
            conn.execute(
                "INSERT INTO twin.gis_features (territory_id, layer, source_id, attributes, geom)"
                " VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                (tid, EQUIPEMENTS, attributes["nom"], json.dumps(attributes), x, y),
            )
        conn.execute(
            "INSERT INTO twin.layer_catalog (name, table_name, layer_filter, title_fr, title_en, geometry_type,"
            " fields, visibility) VALUES (%s, 'gis_features', %s, 'Équipements', 'Facilities', 'Point',"
            " %s::jsonb, 'internal') ON CONFLICT (name) DO UPDATE SET fields = EXCLUDED.fields",
            (EQUIPEMENTS, EQUIPEMENTS, json.dumps(EQUIPEMENTS_FIELDS)),
        )
    return kept


@pytest.fixture(scope="module")
def base_url(database_url: str, ats_dataset: dict[str, int]) -> Iterator[str]:
    with running_server(database_url, items_max_limit=1000) as url:
        yield url


@pytest.fixture(scope="module")
def analyst(base_url: str, database_url: str) -> Iterator[httpx.Client]:
    """GIS layers are imported as 'internal': an analyst sees them."""
    caller = signed_in(database_url, "analyst")
    with httpx.Client(base_url=base_url, timeout=30, headers=caller.headers) as client:
        yield client


def _items(client: httpx.Client, collection: str, **params: str) -> httpx.Response:
    response = client.get(f"/ogc/collections/{collection}/items", params={"limit": "1000", **params})
    assert response.status_code < 500, response.text
    return response


def _matched(client: httpx.Client, collection: str, filter_text: str, lang: str = "cql2-text") -> int:
    response = _items(client, collection, filter=filter_text, **{"filter-lang": lang})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["numberReturned"] == len(body["features"]) == body["numberMatched"]
    return int(body["numberMatched"])


def _as_json(text: str) -> str:
    return json.dumps(cql2.parse_text(text).to_json(), ensure_ascii=False)


def _problem(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["detail"])


# --- the abstract test suite


def test_ats_dataset_is_imported_whole(ats_dataset):
    assert ats_dataset == {COUNTRIES: 177, PLACES: 243, RIVERS: 13}
    assert len(CASES) == 351  # every row of the ten tables (the combinations of Basic CQL2 included)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ats_predicate(analyst: httpx.Client, case: AtsCase, lang: str) -> None:
    text = case.predicate if lang == "cql2-text" else _as_json(case.predicate)
    expected = _oracle(case.predicate) if case.predicate in ATS_ERRATA else case.expected
    assert _matched(analyst, case.source, text, lang) == expected, case
    RESULTS[case.annex, lang] += 1


def test_ats_pass_counts(capsys):
    """Runs after the predicates: prints the figures of docs/api.md (pass counts per annex and language)."""
    totals = Counter(c.annex for c in CASES)
    with capsys.disabled():
        for annex in sorted(totals):
            row = ", ".join(f"{lang} {RESULTS[annex, lang]}/{totals[annex]}" for lang in LANGS)
            errata = sum(1 for c in CASES if c.annex == annex and c.predicate in ATS_ERRATA)
            note = f" ({errata} errata checked against the dataset)" if errata else ""
            print(f"\nATS {annex}: {row}{note}", end="")
        print()
    if RESULTS:  # the predicates ran in this session (not deselected)
        assert all(RESULTS[a, lang] == totals[a] for a in totals for lang in LANGS), RESULTS


_SAMPLE_VALUES = {
    "string": "'foo'",
    "boolean": "true",
    "number": "3.14",
    "integer": "1",
    "date": "DATE('2022-04-14')",
    "date-time": "TIMESTAMP('2022-04-14T14:48:46Z')",
}


def _ids(client: httpx.Client, collection: str, filter_text: str) -> set[int]:
    response = _items(client, collection, filter=filter_text)
    assert response.status_code == 200, (filter_text, response.text)
    return {f["id"] for f in response.json()["features"]}


@pytest.mark.parametrize("collection", [COUNTRIES, PLACES, RIVERS])
def test_ats_comparison_and_is_null_on_every_queryable(analyst, collection):
    """/conf/basic-cql2/basic-test, comparison and is-null: every queryable has a type, each comparison
    runs, and = / <>, > / <=, < / >=, IS NULL / IS NOT NULL select disjoint sets."""
    queryables = analyst.get(f"/ogc/collections/{collection}/queryables").json()["properties"]
    everything = _ids(analyst, collection, "true")
    assert _ids(analyst, collection, "false") == set()
    for name, schema in queryables.items():
        assert "type" in schema or "format" in schema, name
        quoted = f'"{name}"'
        null, not_null = (
            _ids(analyst, collection, f"{quoted} IS NULL"),
            _ids(analyst, collection, f"{quoted} IS NOT NULL"),
        )
        assert not null & not_null and null | not_null == everything, name
        value = _SAMPLE_VALUES.get(schema.get("format", schema.get("type", "")))
        if value is None:
            continue
        sets = {
            op: _ids(analyst, collection, f"{quoted} {op} {value}")
            for op in ("=", "<>", ">", "<=", "<", ">=")
        }
        for a, b in (("=", "<>"), (">", "<="), ("<", ">=")):
            assert not sets[a] & sets[b], (name, a, b)
            if schema.get("type") == "boolean" and a != "=":
                continue
            assert sets[a] | sets[b] == not_null, (name, a, b)


@pytest.mark.parametrize("annex", sorted({c.annex for c in CASES}))
def test_ats_logical_combinations(analyst, annex):
    """/conf/*/logical: ten random combinations of four predicates of one data source run (a fixed seed)."""
    rng = random.Random(annex)
    by_source: dict[str, list[str]] = {}
    for case in CASES:
        if case.annex == annex and "NOT (" not in case.predicate:
            by_source.setdefault(case.source, []).append(case.predicate)
    for source, predicates in by_source.items():
        everything = _ids(analyst, source, "true")
        for _ in range(10):
            p1, p2, p3, p4 = (rng.choice(predicates) for _ in range(4))
            combined = f"((NOT {p1} AND {p2}) OR ({p3} and NOT {p4}) or not ({p1} AND {p4}))"
            assert _ids(analyst, source, combined) <= everything
            assert _matched(analyst, source, _as_json(combined), "cql2-json") == len(
                _ids(analyst, source, combined)
            )


def test_ats_errata_really_contradict_the_dataset():
    for predicate in ATS_ERRATA:
        table = next(c.expected for c in CASES if c.predicate == predicate)
        assert _oracle(predicate) != table


# --- the standard's examples in both encodings


@pytest.mark.parametrize(("name", "text", "json_text"), example_pairs(), ids=[p[0] for p in example_pairs()])
def test_example_gets_the_same_answer_in_text_and_json(analyst, name, text, json_text):
    """The examples name properties of other datasets: both encodings must get the same answer (often the
    400 naming the first unknown property), and never a server error."""
    answers = []
    for lang, filter_text in (("cql2-text", text), ("cql2-json", json_text)):
        response = _items(analyst, PLACES, filter=filter_text, **{"filter-lang": lang})
        body = response.json()
        answers.append((response.status_code, body.get("numberMatched", body.get("detail"))))
    assert answers[0] == answers[1]
    if answers[0][0] == 400:
        assert re.search(
            r"unknown property|unsupported function|cannot compare|not a|applies to", answers[0][1]
        )


def test_json_example_on_a_queryable_property(analyst):
    places = {"op": "and", "args": [
        {"op": "like", "args": [{"property": "name"}, "B%"]},
        {"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [0, 40, 30, 60]}]},
    ]}  # fmt: skip
    assert _matched(analyst, PLACES, json.dumps(places), "cql2-json") == 7  # Berlin, Bern, Brussels…


# --- French examples, arrays, dirty data


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ("kind='hospital'", 2),
        ("kind IN ('hospital', 'clinic') AND lits >= 250", 2),  # 'beaucoup' is no number: not matched
        ("lits > 100", 2),
        ("lits IS NULL", 1),  # the school's JSON null; 'beaucoup' is a value, though not a number
        ("ouvert = true", 3),  # true, 'oui' and 1
        ("ACCENTI(CASEI(nom)) LIKE '%hopital%'", 2),
        ("CASEI(nom) = casei('ÉCOLE JULES FERRY')", 1),
        ("inauguration < DATE('2000-01-01')", 2),  # 2023-02-30 does not exist: not matched
        ("T_BEFORE(inauguration, INTERVAL('1900-01-01', '..'))", 1),
        ("A_CONTAINS(services, ('urgences'))", 1),
        ("A_OVERLAPS(services, ('neurologie', 'pédiatrie'))", 1),
        ("A_CONTAINEDBY(services, ('urgences', 'cardiologie', 'neurologie'))", 2),
        ("A_EQUALS(services, ('neurologie'))", 1),
        ("S_INTERSECTS(geometry, BBOX(3.80, 43.56, 3.95, 43.66)) AND NOT kind = 'school'", 3),
        ("S_WITHIN(geom, POLYGON((3.84 43.62, 3.86 43.62, 3.86 43.64, 3.84 43.64, 3.84 43.62)))", 2),
        ("id > 0 AND lits / 0 > 1", 0),  # a zero divisor is NULL, not an error
        ("'2021-12-31' < DATE('2022-01-01')", 4),  # a string literal read as a date: always true
        ("'2022-13-45' < DATE('2022-01-01') OR 'abc' = DATE('2022-01-01')", 0),  # not dates: NULL
        ("lits % 7 = 1200 % 7 AND lits div 100 = 12", 1),
    ],
)
def test_french_examples(analyst, filter_text, expected):
    assert _matched(analyst, EQUIPEMENTS, filter_text) == expected
    assert _matched(analyst, EQUIPEMENTS, _as_json(filter_text), "cql2-json") == expected


def test_missing_attribute_is_null(analyst):
    assert _matched(analyst, EQUIPEMENTS, "services IS NULL") == 1  # the clinic has no such key
    assert _matched(analyst, EQUIPEMENTS, "services IS NOT NULL") == 3


def test_filter_is_kept_in_paging_links(analyst):
    response = _items(analyst, PLACES, filter="pop_other > 1000000", limit="10")
    body = response.json()
    assert body["numberMatched"] == 125 and body["numberReturned"] == 10
    next_href = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "filter=pop_other" in next_href
    follow = analyst.get(next_href).json()
    assert follow["numberReturned"] == 10
    assert not {f["id"] for f in follow["features"]} & {f["id"] for f in body["features"]}


def test_filter_combines_with_bbox_and_properties(analyst):
    body = _items(analyst, PLACES, filter="pop_max > 5000000", bbox="0,40,30,60", properties="name").json()
    assert [set(f["properties"]) for f in body["features"]] == [{"name"}, {"name"}]
    assert {f["properties"]["name"] for f in body["features"]} == {"Istanbul", "Paris"}


# --- string-typed dates (what the GIS importer writes) are compared as instants


def test_temporal_filters_on_string_typed_dates(database_url, ats_dataset):
    async def places_layer() -> Layer:
        from psycopg.rows import dict_row

        async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as conn:
            return next(layer for layer in await load_catalog(conn) if layer.name == PLACES)

    import asyncio

    typed = asyncio.run(places_layer())
    as_text = replace(typed, fields=tuple(replace(f, type="string") for f in typed.fields))
    with psycopg.connect(database_url) as conn:
        for predicate, expected in [
            ("t_after(start, timestamp('2022-04-16T10:13:19Z'))", 1),
            ("t_intersects(\"date\", interval('2022-01-01','2022-12-31'))", 1),
            ("start >= TIMESTAMP('2022-04-16T10:13:19Z')", 2),
            ("\"date\" = DATE('2022-04-16')", 1),
            ("T_DURING(interval(start,end),interval('2022-01-01T00:00:00Z','2022-12-31T23:59:59Z'))", 1),
        ]:
            counts = set()
            for layer in (typed, as_text):
                params: dict[str, Any] = {"layer": PLACES}
                where = filter_from_request(predicate, "cql2-text", layer, params=params).where
                query = sql.SQL(
                    "SELECT count(*) FROM twin.gis_features AS t WHERE t.layer = %(layer)s AND {}"
                )
                counts.add(conn.execute(query.format(where), params).fetchone()[0])
            assert counts == {expected}, predicate


# --- bad input: a clear 400, never a 5xx, the database unchanged


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter": "name = "}, "not valid cql2-text"),
        ({"filter": "name = 'Paris' AND"}, "not valid cql2-text"),
        ({"filter": '{"op": "=", "args": [', "filter-lang": "cql2-json"}, "not valid cql2-json"),
        ({"filter": "name = 'Paris'", "filter-lang": "cql2-json"}, "not valid cql2-json"),
        ({"filter": "nom = 'Paris'"}, "unknown property 'nom' in filter; the queryables of collection"),
        ({"filter": "FOO(name) = 1"}, "unsupported function or operator 'FOO' in filter; supported: =, <>"),
        ({"filter": "name = 3"}, "cannot compare property 'name' (a string) with 3 (a number)"),
        ({"filter": "pop_max LIKE '1%'"}, "LIKE compares strings"),
        ({"filter": "S_INTERSECTS(name, POINT(1 2))"}, "spatial functions compare geometries"),
        ({"filter": "geom = POINT(1 2)"}, "S_EQUALS"),
        ({"filter": "pop_max"}, "not a condition"),
        ({"filter": "name = 'a'", "filter-lang": "cql2-xml"}, "filter-lang='cql2-xml' is not supported"),
        ({"filter": "name = 'a'", "filter-crs": "EPSG:4326"}, "filter-crs='EPSG:4326' is not supported"),
        ({"filter": ""}, "filter is empty"),
        ({"filter": "name LIKE 'Par\\'"}, "ends with a lone escape character"),
        ({"filter": "S_INTERSECTS(geom, POINT(48.85 2.35 0) )"}, ""),  # a 3D point is accepted (2D kept)
        ({"filter": "S_INTERSECTS(geom, POINT(200 45))"}, "outside longitude -180..180"),
        ({"filter": "S_INTERSECTS(geom, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))"}, "is not a valid geometry"),
        ({"filter": "\"date\" = DATE('2022-02-30')"}, "is not a date"),
        ({"filter": "start = TIMESTAMP('yesterday')"}, "is not an RFC 3339 date-time"),
        ({"filter": "(0 - pop_max) ^ 0.5 > 1"}, "the filter cannot be evaluated"),
        # Deep enough to overflow the parser's stack (a segfault of the server) without the pre-check.
        ({"filter": "(" * 1800 + "true" + ")" * 1800}, "nested too deeply"),
        ({"filter": "NOT " * 1000 + "true"}, "nested too deeply"),
        ({"filter": "pop_max = " + "-" * 4000 + "1"}, "nested too deeply"),
    ],
)
def test_bad_filters_are_a_clear_400(analyst, database_url, params, expected):
    before = database_fingerprint(database_url)
    response = _items(analyst, PLACES, **params)
    if expected:
        assert expected in _problem(response)
    else:
        assert response.status_code == 200, response.text
    assert analyst.get("/health").status_code in (200, 503)  # the server is still up
    assert database_fingerprint(database_url) == before


def test_unknown_property_lists_the_queryables(analyst):
    detail = _problem(_items(analyst, PLACES, filter="population > 1"))
    assert "'population'" in detail and "pop_max" in detail and "geometry" in detail
    assert f"/ogc/collections/{PLACES}/queryables" in detail


def test_filter_crs84_is_accepted(analyst):
    crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert _matched(analyst, PLACES, "S_INTERSECTS(geom,BBOX(0,40,10,50))") == 7
    response = _items(analyst, PLACES, filter="S_INTERSECTS(geom,BBOX(0,40,10,50))", **{"filter-crs": crs84})
    assert response.json()["numberMatched"] == 7


@pytest.mark.parametrize(
    ("filter_text", "lang"),
    [
        ("name = 'x''; DROP TABLE twin.gis_features; --'", "cql2-text"),
        ("name = 'x'' OR ''1''=''1'", "cql2-text"),
        ("name LIKE '%'' OR 1=1 --'", "cql2-text"),
        ('{"op":"=","args":[{"property":"name"},"x\'; DELETE FROM twin.territory; --"]}', "cql2-json"),
        ("S_INTERSECTS(geom, BBOX(0,0,1,1)) AND name = '); TRUNCATE twin.layer_catalog; --'", "cql2-text"),
    ],
)
def test_injected_values_just_match_nothing(analyst, database_url, filter_text, lang):
    before = database_fingerprint(database_url)
    assert _matched(analyst, PLACES, filter_text, lang) == 0
    assert database_fingerprint(database_url) == before


@pytest.mark.parametrize(
    ("filter_text", "lang"),
    [
        ('"name""; DROP TABLE twin.gis_features; --" = \'a\'', "cql2-text"),
        ('{"op":"=","args":[{"property":"t.id) OR (1=1"},"a"]}', "cql2-json"),
        ('{"op":"pg_sleep","args":[10]}', "cql2-json"),
        ('{"op":"=","args":[{"property":"name"},{"date":"2022-01-01\'; DROP TABLE x; --"}]}', "cql2-json"),
    ],
)
def test_injected_names_are_refused(analyst, database_url, filter_text, lang):
    before = database_fingerprint(database_url)
    response = _items(analyst, PLACES, filter=filter_text, **{"filter-lang": lang})
    assert response.status_code == 400, response.text
    assert database_fingerprint(database_url) == before


def test_nothing_but_bound_values_reaches_the_sql():
    """The composed SQL holds no value of the filter: only placeholders (and the catalog-checked names)."""
    layer = Layer(PLACES, "gis_features", PLACES, "Villes", "Places", "", "Point", (), "internal", 0)
    layer = replace(layer, fields=(*layer.fields, *_fields("name", "pop_max")))
    params: dict[str, Any] = {}
    where = filter_from_request(
        "name = 'Robert''); DROP TABLE x; --' AND pop_max > 12345 AND S_INTERSECTS(geom, POINT(1 2))",
        "cql2-text",
        layer,
        params=params,
    ).where
    text = where.as_string(None)
    assert "DROP" not in text and "12345" not in text and "Robert" not in text and "POINT" not in text
    assert "Robert'); DROP TABLE x; --" in params.values()


def _fields(*names: str) -> tuple[Any, ...]:
    from layers.catalog import Field

    return tuple(Field(n, "integer" if n.startswith("pop") else "string", n, n) for n in names)


def test_parse_filter_normalises_both_languages():
    text = parse_filter("kind = 'hospital' AND S_INTERSECTS(geom, BBOX(3.80, 43.56, 3.95, 43.66))")
    as_json = parse_filter(json.dumps(text), lang="cql2-json")
    assert text == as_json
    with pytest.raises(InvalidInput, match="not valid cql2-text"):
        parse_filter("kind = ")


@pytest.mark.parametrize(
    ("text", "lang", "message"),
    [
        ("(" * 5000 + "true" + ")" * 5000, "cql2-text", "nested too deeply"),
        ("NOT " * 3000 + "true", "cql2-text", "nested too deeply"),
        ("a = " + "- " * 5000 + "1", "cql2-text", "nested too deeply"),
        ('{"op":"not","args":[' * 500 + "true" + "]}" * 500, "cql2-json", "recursion limit"),
        ("a = 'x'" + " AND a = 'x'" * 2000, "cql2-text", "characters long"),
    ],
    ids=["parentheses", "not", "signs", "json", "length"],
)
def test_parser_is_protected_from_deep_and_huge_filters(text, lang, message):
    """In process: if a guard failed, the parser's stack overflow would kill the test run itself."""
    with pytest.raises(InvalidInput, match=message):
        parse_filter(text, lang=lang)


# --- the resources that describe filtering


def test_queryables_are_a_json_schema(analyst):
    response = analyst.get(f"/ogc/collections/{PLACES}/queryables")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert props["geometry"] == {
        "title": "Géométrie",
        "x-ogc-role": "primary-geometry",
        "format": "geometry-point",
    }
    assert props["id"]["x-ogc-role"] == "id"
    assert props["pop_max"]["type"] == "integer" and props["name"]["type"] == "string"
    assert props["date"] == {**props["date"], "type": "string", "format": "date"}
    assert props["start"]["format"] == "date-time" and props["boolean"]["type"] == "boolean"
    countries = analyst.get(f"/ogc/collections/{COUNTRIES}/queryables").json()
    assert countries["properties"]["geometry"]["format"] == "geometry-multipolygon"
    assert countries["properties"]["POP_EST"]["type"] == "number"


def test_conformance_and_api_definition_declare_filtering(analyst):
    conforms = analyst.get("/ogc/conformance").json()["conformsTo"]
    for cls in CONFORMANCE:
        assert cls in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conforms
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in conforms
    document = analyst.get("/ogc/api").json()
    parameters = document["paths"][f"/collections/{PLACES}/items"]["get"]["parameters"]
    names = {p["$ref"].rsplit("/", 1)[1] for p in parameters}
    assert {"filter", "filter-lang", "filter-crs"} <= names
    assert document["components"]["parameters"]["filter-lang"]["schema"]["enum"] == list(LANGS)
    assert f"/collections/{PLACES}/queryables" in document["paths"]


def test_filter_on_a_built_in_layer(analyst, database_url):
    """Built-in layers keep their properties in columns: the filter names them as identifiers."""
    response = _items(analyst, "buildings", filter="height_m >= 0 AND name IS NULL OR CASEI(use) LIKE 'res%'")
    assert response.status_code == 200, response.text
    with psycopg.connect(database_url) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM twin.buildings WHERE (height_m >= 0 AND name IS NULL) OR lower(use) LIKE 'res%'"
        ).fetchone()[0]
    assert response.json()["numberMatched"] == expected
