"""OGC API Features items: Hyperviseur vs TiPG on the same Monaco tables, same answers checked.

Prints p50/p99 per query and the p50 ratio (peer / ours: above 1 means we are faster).
"""

from __future__ import annotations

from functools import partial

import httpx

from benchmarks.harness import SHARED_DATA, report, server, throwaway_database, time_calls

QUERIES: list[tuple[str, str, dict[str, str | int]]] = [
    ("buildings, limit=100", "buildings", {"limit": 100}),
    ("buildings, limit=100, offset=1000", "buildings", {"limit": 100, "offset": 1000}),
    (
        "buildings, bbox Monte-Carlo, limit=500",
        "buildings",
        {"bbox": "7.418,43.735,7.432,43.745", "limit": 500},
    ),
    ("road_edges, limit=1000", "road_edges", {"limit": 1000}),
    ("single building", "buildings/items/1", {}),
]


def _ids(body: dict) -> list:
    if "features" in body:
        return [f["id"] for f in body["features"]]
    return [body["id"]]


def _analyst_token(url: str) -> str:
    from twin.db import connect
    from twin.security.accounts import create_account
    from twin.security.crypto import Keyring
    from twin.security.sessions import create_session

    with connect(url) as conn:
        new = create_account(
            conn, Keyring.parse("bench:" + Keyring.new_key_text()), username="bench", role="analyst"
        )
        token, _ = create_session(conn, new.account.id, method="password", scope="full", ttl_s=3600)
        conn.commit()
    return token


def main(repeat: int = 200) -> None:
    from layers.importers.osm import import_osm

    pbf = SHARED_DATA / "osm" / "monaco-latest.osm.pbf"
    if not pbf.exists():
        print(f"skipped: {pbf} is not on this machine")
        return
    with throwaway_database() as url:
        import_osm(url, pbf, territory_name="Monaco")
        # Buildings are an internal layer: we are measured as a signed-in agent (one session lookup per
        # request included); TiPG has no access control and ignores the header.
        token = _analyst_token(url)
        env = {"HYPERVISEUR_DATABASE_URL": url}
        tipg_env = {
            "DATABASE_URL": url,
            "TIPG_DB_SCHEMAS": '["twin"]',
            "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        }
        with (
            server(["--factory", "twin.app:create_app"], env, "/health") as ours,
            server(["tipg.main:app"], tipg_env, "/healthz") as tipg,
        ):
            print(
                f"OGC API Features items on Monaco, {repeat} sequential requests each, one uvicorn worker each"
            )
            with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
                for name, collection, params in QUERIES:
                    if "/items/" in collection:
                        layer, _, fid = collection.partition("/items/")
                        first_id = client.get(
                            f"{ours}/ogc/collections/{layer}/items", params={"limit": 1}
                        ).json()
                        fid = str(first_id["features"][0]["id"])
                        ours_url = f"{ours}/ogc/collections/{layer}/items/{fid}"
                        peer_url = f"{tipg}/collections/twin.{layer}/items/{fid}"
                    else:
                        ours_url = f"{ours}/ogc/collections/{collection}/items"
                        peer_url = f"{tipg}/collections/twin.{collection}/items"
                    mine = client.get(ours_url, params=params)
                    mine.raise_for_status()
                    # Same payload for both: ask TiPG for exactly the properties our collection serves
                    # (by default it also sends the attributes jsonb and every other column).
                    first = mine.json()["features"][0] if "features" in mine.json() else mine.json()
                    peer_params = {**params, "properties": ",".join(first["properties"])}
                    theirs = client.get(peer_url, params=peer_params)
                    mine.raise_for_status()
                    theirs.raise_for_status()
                    ours_ids = [str(i) for i in _ids(mine.json())]
                    peer_ids = [str(i) for i in _ids(theirs.json())]
                    if ours_ids != peer_ids:
                        raise SystemExit(f"{name}: different answers ({ours_ids[:5]}… vs {peer_ids[:5]}…)")
                    ours_ms = time_calls(partial(client.get, ours_url, params=params), repeat=repeat)
                    peer_ms = time_calls(partial(client.get, peer_url, params=peer_params), repeat=repeat)
                    report(name, ours_ms, peer_ms, "TiPG")
