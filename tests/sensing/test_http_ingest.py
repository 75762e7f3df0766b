"""POST /api/sensing/readings: counts of accepted, duplicate and rejected readings; a fully invalid batch changes nothing."""

from __future__ import annotations

import httpx
import psycopg

from tests.layers.ogc_fixtures import running_server, signed_in

ROUTE = "/api/sensing/readings"


def _totals(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM sensing.readings), (SELECT count(*) FROM sensing.rejected)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_http_batch_counts_and_fully_invalid_batch(database_url: str, sensor_ids: dict[str, int]) -> None:
    flow, no2 = sensor_ids["p227"], sensor_ids["no2-1"]
    operator = signed_in(database_url, "operator")
    analyst = signed_in(database_url, "analyst")
    batch = [
        {"sensor": flow, "observed_at": "2021-05-01T00:00:00Z", "value": 80.5},
        {"sensor": flow, "observed_at": "2021-05-01T00:05:00+00:00", "value": "81,5"},
        {"sensor": flow, "observed_at": "2021-05-01T00:05:00Z", "value": 99.0},  # same instant: duplicate
        {"sensor": flow, "observed_at": "2021-05-01 00:10:00", "value": 1.0},  # no offset
        {"sensor": no2, "observed_at": "2021-05-01T00:00:00Z", "value": "high"},  # not a number
        {"sensor": 987654321, "observed_at": "2021-05-01T00:00:00Z", "value": 1.0},  # unknown sensor
    ]
    with running_server(database_url) as base, httpx.Client(base_url=base) as client:
        assert client.post(ROUTE, json=batch).status_code == 401
        assert client.post(ROUTE, json=batch, headers=analyst.headers).status_code == 403

        first = client.post(ROUTE, json=batch, headers=operator.headers)
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 3)
        reasons = " | ".join(r["reason"] for r in body["rejections"])
        assert "has no offset" in reasons and "is not a number" in reasons and "unknown sensor" in reasons

        again = client.post(ROUTE, json=batch[:3], headers=operator.headers).json()
        assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 0)

        before = _totals(database_url)
        invalid = client.post(ROUTE, json=batch[3:], headers=operator.headers)
        assert invalid.status_code == 422
        assert invalid.json()["rejected"] == 3 and invalid.json()["accepted"] == 0
        assert client.post(ROUTE, content=b"{not json", headers=operator.headers).status_code == 422
        assert _totals(database_url) == before  # neither readings nor rejections kept

    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT value FROM sensing.readings WHERE sensor_id = %s"
            " AND observed_at >= '2021-05-01' AND observed_at < '2021-06-01' ORDER BY observed_at",
            (flow,),
        ).fetchall()
    assert [v for (v,) in stored] == [80.5, 81.5]
