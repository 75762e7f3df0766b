"""Calls to the test server as one person, and waiting for an incident's consequences."""

from __future__ import annotations

from typing import Any

import httpx

from tests.layers.ogc_fixtures import Caller
from tests.live.conftest import wait_until
from tests.simulation.live_use.town import Town, ll


def call(url: str, caller: Caller | None, method: str, path: str, expect: int, **kw: Any) -> Any:
    headers = caller.headers if caller else {}
    response = httpx.request(method, f"{url}{path}", headers=headers, timeout=60, **kw)
    assert response.status_code == expect, response.text
    if expect >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def declare(url: str, caller: Caller, town: Town, category: str, x: float, y: float, **kw: Any) -> int:
    lon, lat = ll(x, y)
    body = {"territory": town.name, "title": f"Test {category}", "category": category, "severity": "alert"}
    return int(
        call(url, caller, "POST", "/api/incidents", 201, json={**body, "lon": lon, "lat": lat, **kw})["id"]
    )


def finished(url: str, caller: Caller, incident_id: int, timeout_s: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = httpx.get(
            f"{url}/api/incidents/{incident_id}/consequences", headers=caller.headers, timeout=30
        )
        if response.status_code == 200 and response.json()["status"] != "pending":
            return response.json()
        return None

    return wait_until(check, timeout_s=timeout_s, interval_s=0.05)
