"""The routing API on Monaco: routes with French instructions and GPX, matrices, isochrones, closest facilities,
closures managed through the API, and bad input refused with a clear 4xx and nothing written."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import httpx
import numpy as np
import psycopg
import pyproj
import pytest
import shapely
from shapely.geometry import shape

from tests.common import database_fingerprint
from tests.layers.ogc_fixtures import running_server, signed_in

OSTENDE = "7.4236,43.7372"  # Avenue d'Ostende, by the port
MONTE_CARLO = "7.4268,43.7395"  # Avenue de Monte-Carlo
FONTVIEILLE = "7.4197,43.7313"
LARVOTTO = "7.4286,43.7412"
AT_SEA = "7.45,43.70"  # 3 km out in the Mediterranean


@pytest.fixture(scope="module")
def api(monaco_url: str):
    operator, crew = signed_in(monaco_url, "operator"), signed_in(monaco_url, "crew")
    with running_server(monaco_url) as url:
        yield (
            httpx.Client(base_url=url, headers=operator.headers, timeout=60),
            httpx.Client(base_url=url, headers=crew.headers, timeout=60),
        )


def _closures_fingerprint(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*), coalesce(max(id), 0) FROM routing.closures").fetchone()


def _route(client, start=OSTENDE, end=MONTE_CARLO, **params):
    return client.get(
        "/api/routing/route", params={"territory": "Monaco", "start": start, "end": end, **params}
    )


def test_route_in_french_with_geometry_distance_duration(api):
    operator, crew = api
    response = _route(crew)
    assert response.status_code == 200, response.text
    feature = response.json()
    props = feature["properties"]
    assert feature["geometry"]["type"] == "LineString" and len(feature["geometry"]["coordinates"]) > 5
    assert 900 < props["distance_m"] < 1300 and 60 < props["duration_s"] < 300
    texts = [step["text"] for step in props["instructions"]]
    assert texts[0].startswith("Partez vers l'est sur Avenue d'Ostende")
    assert "Continuez tout droit sur Avenue Princesse Alice" in texts
    assert "Tournez à droite sur Avenue de la Costa" in texts
    assert any(t.startswith("Prenez le rond-point, puis la 1re sortie") for t in texts)
    assert texts[-1] == "Vous êtes arrivé"
    english = _route(crew, lang="en").json()["properties"]["instructions"]
    assert english[-1]["text"] == "You have arrived" and "Turn right onto Avenue de la Costa" in [
        s["text"] for s in english
    ]
    # The geometry joins the snapped ends and its length agrees with distance_m (within 2 %).
    line = shape(feature["geometry"])
    assert line.coords[0] == pytest.approx(props["snapped"]["start"]["lonlat"], abs=1e-5)
    to_m = pyproj.Transformer.from_crs(4326, 2154, always_xy=True)
    length_m = shapely.transform(line, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1]))).length
    assert length_m == pytest.approx(props["distance_m"], rel=0.02)


def test_route_as_gpx(api):
    response = _route(api[1], format="gpx")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/gpx+xml")
    root = ET.fromstring(response.text)
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(root.findall(".//g:trkpt", ns)) > 5
    assert root.findall("g:wpt/g:name", ns)[-1].text == "Vous êtes arrivé"


def test_matrix_equals_one_to_one_routes_and_profiles_differ(api):
    operator, crew = api
    points = [OSTENDE, MONTE_CARLO, FONTVIEILLE, LARVOTTO]
    pairs = [[float(v) for v in p.split(",")] for p in points]
    body = {"territory": "Monaco", "origins": pairs, "profile": "car"}
    table = crew.post("/api/routing/matrix", json=body).json()
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if i == j:
                continue
            one = _route(crew, a, b).json()["properties"]
            assert table["durations_s"][i][j] == pytest.approx(one["duration_s"], abs=0.002)
            assert table["distances_m"][i][j] == pytest.approx(one["distance_m"], abs=0.2)
    walking = crew.post("/api/routing/matrix", json={**body, "profile": "pedestrian"}).json()
    assert walking["durations_s"][0][1] > 3 * table["durations_s"][0][1]
    durations_only = crew.post("/api/routing/matrix", json={**body, "annotations": ["duration"]}).json()
    assert "distances_m" not in durations_only
    assert durations_only["durations_s"] == table["durations_s"]  # CCH sweeps == Dijkstra trees


def test_isochrones_are_nested(api):
    response = api[1].get(
        "/api/routing/isochrones",
        params={"territory": "Monaco", "start": FONTVIEILLE, "budgets_s": "60,180,120"},
    )
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert [f["properties"]["budget_s"] for f in features] == [180, 120, 60]
    polygons = [shape(f["geometry"]) for f in features]
    assert polygons[2].area < polygons[1].area < polygons[0].area
    for small, large in zip(polygons[1:], polygons, strict=False):
        assert large.buffer(1e-7).contains(small)


def test_closest_fire_stations_by_travel_time(api):
    response = api[1].get(
        "/api/routing/closest",
        params={
            "territory": "Monaco",
            "point": LARVOTTO,
            "kind": "fire_station",
            "k": 2,
            "profile": "emergency",
        },
    )
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert 1 <= len(features) <= 2 and features[0]["properties"]["kind"] == "fire_station"
    durations = [f["properties"]["duration_s"] for f in features]
    assert durations == sorted(durations)


def test_closures_are_applied_to_the_next_request_listed_and_lifted(api, monaco_url):
    operator, crew = api
    before = _route(crew).json()
    legs = before["properties"]
    with psycopg.connect(monaco_url) as conn:
        edge_ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM twin.road_edges WHERE name = 'Avenue Princesse Alice'"
            ).fetchall()
        ]
    created = operator.post(
        "/api/routing/closures",
        json={
            "territory": "Monaco",
            "edge_ids": edge_ids,
            "reason": "travaux",
            "duration_s": 600,
            "incident_id": "INC-1",
        },
    )
    assert created.status_code == 201, created.text
    closure = created.json()
    assert closure["created_by"] and closure["arcs_affected"] == len(edge_ids)
    after = _route(crew).json()["properties"]
    assert after["closures_applied"] == 1 and after["duration_s"] > legs["duration_s"]
    assert "Avenue Princesse Alice" not in [s["street"] for s in after["instructions"]]
    listed = crew.get("/api/routing/closures", params={"territory": "Monaco", "incident_id": "INC-1"}).json()
    assert [c["id"] for c in listed["closures"]] == [closure["id"]]
    assert (
        crew.post(
            "/api/routing/closures", json={"territory": "Monaco", "edge_ids": edge_ids, "reason": "x"}
        ).status_code
        == 403
    )
    with psycopg.connect(monaco_url) as conn:
        audited = conn.execute(
            "SELECT count(*) FROM audit.entries WHERE object = 'routing.closures' AND action = 'INSERT'"
        ).fetchone()[0]
    assert audited >= 1
    assert operator.delete(f"/api/routing/closures/{closure['id']}").status_code == 204
    assert _route(crew).json()["properties"]["duration_s"] == pytest.approx(legs["duration_s"])
    assert operator.delete(f"/api/routing/closures/{closure['id']}").status_code == 404


def test_a_flooded_area_closes_the_streets_it_meets_then_expires(api, monaco_url):
    operator, crew = api
    before = _route(crew).json()["properties"]["duration_s"]
    with psycopg.connect(monaco_url) as conn:  # the middle of the longest arc of Avenue Princesse Alice
        lon, lat = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(geom, 0.5) AS p FROM twin.road_edges"
            " WHERE name = 'Avenue Princesse Alice' ORDER BY length_m DESC LIMIT 1) s"
        ).fetchone()
    d = 0.0001
    area = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - d, lat - d],
                [lon + d, lat - d],
                [lon + d, lat + d],
                [lon - d, lat + d],
                [lon - d, lat - d],
            ]
        ],
    }
    created = operator.post(
        "/api/routing/closures",
        json={"territory": "Monaco", "area": area, "reason": "inondation", "duration_s": 2},
    )
    assert created.status_code == 201 and created.json()["arcs_affected"] > 0
    assert _route(crew).json()["properties"]["duration_s"] > before
    time.sleep(2.2)
    assert _route(crew).json()["properties"]["duration_s"] == pytest.approx(before)
    active = crew.get("/api/routing/closures", params={"territory": "Monaco", "active": "true"}).json()
    assert created.json()["id"] not in [c["id"] for c in active["closures"]]


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status", "words"),
    [
        ("get", "/api/routing/route", {"start": AT_SEA}, None, 400, "more than 500 m from any street"),
        ("get", "/api/routing/route", {"start": "7.42;43.73"}, None, 400, "lon,lat"),
        ("get", "/api/routing/route", {"start": "200,43.7"}, None, 400, "not a WGS84"),
        ("get", "/api/routing/route", {"profile": "tank"}, None, 400, "unknown profile 'tank'"),
        ("get", "/api/routing/route", {"territory": "Atlantis"}, None, 404, "no territory"),
        ("get", "/api/routing/route", {"lang": "de"}, None, 400, "lang must be"),
        ("get", "/api/routing/isochrones", {"budgets_s": "-60"}, None, 400, "must be > 0"),
        ("get", "/api/routing/isochrones", {"budgets_s": "0"}, None, 400, "must be > 0"),
        ("get", "/api/routing/isochrones", {"budgets_s": "1e9"}, None, 400, "at most 14400 s"),
        ("get", "/api/routing/isochrones", {"budgets_s": "abc"}, None, 400, "comma-separated"),
        ("post", "/api/routing/matrix", None, {"origins": [[7.42, 43.73]] * 401}, 400, "cap of 400 points"),
        ("post", "/api/routing/matrix", None, {"origins": []}, 400, "at least 1"),
        (
            "post",
            "/api/routing/closures",
            None,
            {
                "area": {
                    "type": "Polygon",
                    "coordinates": [
                        [[7.42, 43.73], [7.43, 43.74], [7.42, 43.74], [7.43, 43.73], [7.42, 43.73]]
                    ],
                }
            },
            400,
            "not a valid polygon",
        ),
        (
            "post",
            "/api/routing/closures",
            None,
            {"area": {"type": "Polygon", "coordinates": [[7, 43]]}},
            400,
            "area",
        ),
        ("post", "/api/routing/closures", None, {"edge_ids": [-5]}, 400, "edge_ids not in territory"),
        ("post", "/api/routing/closures", None, {"edge_ids": [1], "reason": " "}, 400, "reason is required"),
        (
            "post",
            "/api/routing/closures",
            None,
            {"edge_ids": [1], "kind": "slowdown", "travel_time_factor": 0.5},
            400,
            "> 1",
        ),
        (
            "post",
            "/api/routing/closures",
            None,
            {"edge_ids": [1], "valid_until": "2020-01-01T00:00:00Z"},
            400,
            "after valid_from",
        ),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    api, monaco_url, method, path, params, body, status, words
):
    operator, _ = api
    before = database_fingerprint(monaco_url), _closures_fingerprint(monaco_url)
    if path.endswith("/route"):
        params = {"territory": "Monaco", "start": OSTENDE, "end": MONTE_CARLO, **params}
    elif path.endswith("/isochrones"):
        params = {"territory": "Monaco", "start": FONTVIEILLE, **params}
    if body is not None:
        body = {"territory": "Monaco", "reason": "test", **body}
        body.pop("reason") if path.endswith("/matrix") else None
    response = operator.request(method, path, params=params, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"]
    assert (database_fingerprint(monaco_url), _closures_fingerprint(monaco_url)) == before


def test_an_edit_of_the_road_table_reaches_the_resident_graph(api, monaco_url):
    """A GIS edit (here plain SQL, as QGIS would) NOTIFYs tiles_changed; the graph is rebuilt and swapped."""
    _, crew = api
    before = _route(crew).json()["properties"]
    with psycopg.connect(monaco_url) as conn:
        conn.execute(
            "UPDATE twin.road_edges SET travel_time_s = travel_time_s * 50 WHERE name = 'Avenue Princesse Alice'"
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            after = _route(crew).json()["properties"]
            if after["duration_s"] != before["duration_s"]:
                break
            time.sleep(0.2)
        assert after["duration_s"] > before["duration_s"]
        assert "Avenue Princesse Alice" not in [s["street"] for s in after["instructions"]]
    finally:
        with psycopg.connect(monaco_url) as conn:
            conn.execute(
                "UPDATE twin.road_edges SET travel_time_s = travel_time_s / 50 WHERE name = 'Avenue Princesse Alice'"
            )
