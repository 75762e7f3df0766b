"""Cost of the audit trail on the hot paths: audited tables vs the same tables with the audit triggers disabled.

* an interactive edit: a single-row UPDATE of a building in its own transaction (as QGIS or the API does);
* a Montpellier-size import: 30,000 buildings written with COPY in one transaction, audited per row (what any
  other writer gets), through ``layers.store.store_layer`` (one summary entry, ``hyperviseur.bulk_import``), and
  not audited;
* a READ entry (what a restricted collection page adds).

Every variant ends with the same rows in ``twin.buildings`` (checked). Prints p50/p99 and the ratio.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import geopandas as gpd
import psycopg
from psycopg import sql
from shapely.geometry import MultiPolygon, Polygon

from benchmarks.harness import percentile, report, throwaway_database, time_calls

N_IMPORT = 30_000
IMPORT_RUNS = 5
EDITS = 2000
AUDIT_TRIGGERS = ("audit_insert", "audit_update", "audit_delete")


def _buildings(n: int) -> gpd.GeoDataFrame:
    """Montpellier-like footprints: small squares with a name, use, height and levels."""
    rng = random.Random(34)
    rows, geoms = [], []
    for i in range(n):
        x, y, d = 3.80 + rng.random() * 0.12, 43.56 + rng.random() * 0.1, 0.0001 + rng.random() * 0.0002
        geoms.append(MultiPolygon([Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])]))
        rows.append(
            {
                "source_id": f"bat/{i}",
                "name": f"Bâtiment {i}" if i % 7 == 0 else None,
                "use": rng.choice(["residential", "commercial", "public", None]),
                "height_m": round(3 + rng.random() * 30, 1),
                "levels": rng.randint(1, 10),
                "area_m2": round(50 + rng.random() * 500, 1),
                "residents_est": rng.randint(0, 40),
                "attributes": {"src": "bench"},
            }
        )
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)


def _set_audit(conn: psycopg.Connection[Any], on: bool) -> None:
    verb = "ENABLE" if on else "DISABLE"
    for name in AUDIT_TRIGGERS:
        conn.execute(f"ALTER TABLE twin.buildings {verb} TRIGGER {name}")


def _fingerprint(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT md5(string_agg((to_jsonb(b) - 'id')::text, '|' ORDER BY source_id)) FROM twin.buildings b"
    ).fetchone()
    assert row is not None
    return str(row[0])


def _import_once(url: str, territory: int, frame: gpd.GeoDataFrame, mode: str) -> tuple[float, str, int]:
    from layers.model import LAYER_COLUMNS
    from layers.store import _copy, _rows, store_layer

    with psycopg.connect(url) as conn:
        _set_audit(conn, False)
        conn.execute("DELETE FROM twin.buildings")
        _set_audit(conn, mode != "peer")
        conn.commit()
        before = conn.execute("SELECT count(*) FROM audit.entries").fetchone()
        conn.commit()
        start = time.perf_counter()
        if mode == "per_row":
            # store_layer's COPY without its bulk-summary setting: what the trail would cost per row.
            columns = ["territory_id", *LAYER_COLUMNS["buildings"], "geom"]
            rows = _rows(frame.assign(territory_id=territory), columns[:-1])
            _copy(conn, sql.Identifier("twin", "buildings"), columns, rows)
        else:
            store_layer(conn, territory, "buildings", frame)
        conn.commit()
        elapsed = (time.perf_counter() - start) * 1000.0
        after = conn.execute("SELECT count(*) FROM audit.entries").fetchone()
        _set_audit(conn, True)
        conn.commit()
        assert before is not None and after is not None
        return elapsed, _fingerprint(conn), int(after[0]) - int(before[0])


def _edit_latency(url: str, audited: bool) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        _set_audit(conn, audited)
        ids = [r[0] for r in conn.execute("SELECT id FROM twin.buildings ORDER BY id")]
        rng = random.Random(7)

        def edit() -> None:
            conn.execute(
                "UPDATE twin.buildings SET height_m = height_m + 0.5 WHERE id = %s", (rng.choice(ids),)
            )

        conn.execute("CREATE TEMP TABLE saved AS SELECT id, height_m FROM twin.buildings")
        samples = time_calls(edit, repeat=EDITS, warmup=50)
        # Undo (unaudited) so that both variants leave the same data behind.
        _set_audit(conn, False)
        conn.execute("UPDATE twin.buildings b SET height_m = s.height_m FROM saved s WHERE s.id = b.id")
        _set_audit(conn, True)
    return samples


def main() -> None:
    frame = _buildings(N_IMPORT)
    with throwaway_database() as url:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "INSERT INTO twin.territory (name, crs_epsg) VALUES ('Bench', 2154) RETURNING id"
            ).fetchone()
            assert row is not None
            territory = int(row[0])
        print(f"Audit trail cost: {N_IMPORT:,} buildings imported with COPY, {IMPORT_RUNS} runs each")
        times: dict[str, list[float]] = {"per_row": [], "bulk": [], "peer": []}
        prints: dict[str, set[str]] = {k: set() for k in times}
        entries: dict[str, int] = {}
        _import_once(url, territory, frame, "peer")  # warm-up: caches, table extended
        for _ in range(IMPORT_RUNS):
            for mode in times:
                elapsed, fingerprint, n_entries = _import_once(url, territory, frame, mode)
                times[mode].append(elapsed)
                prints[mode].add(fingerprint)
                entries[mode] = n_entries
        if len(set.union(*prints.values())) != 1:
            raise SystemExit("the variants did not leave the same buildings behind")
        report("import 30k buildings, audited per row", times["per_row"], times["peer"], "no audit")
        report("import 30k buildings, bulk summary entry", times["bulk"], times["peer"], "no audit")
        print(
            f"  audit entries per import: per row {entries['per_row']:,}, bulk {entries['bulk']},"
            f" no audit {entries['peer']}"
        )
        with psycopg.connect(url) as conn:
            before_edits = _fingerprint(conn)
            size = conn.execute("SELECT pg_total_relation_size('audit.entries')").fetchone()
            n = conn.execute("SELECT count(*) FROM audit.entries").fetchone()
        assert size is not None and n is not None
        print(f"  audit.entries now {int(n[0]):,} rows, {int(size[0]) / 1e6:.1f} MB")
        peer = _edit_latency(url, audited=False)
        ours = _edit_latency(url, audited=True)
        with psycopg.connect(url) as conn:
            if _fingerprint(conn) != before_edits:
                raise SystemExit("the edit runs did not leave the same buildings behind")
        report(f"single-row UPDATE (autocommit), {EDITS} edits", ours, peer, "no audit")

        with psycopg.connect(url, autocommit=True) as conn:
            read = time_calls(
                lambda: conn.execute(
                    "INSERT INTO audit.entries (actor, action, object, details)"
                    " VALUES ('bench', 'READ', 'water_pipes', '{\"count\": 100}')"
                ),
                repeat=EDITS,
                warmup=50,
            )
        print(
            f"{'READ entry (autocommit INSERT)':<44} p50 {statistics.median(read):7.2f} ms"
            f" p99 {percentile(read, 99):7.2f} ms"
        )


if __name__ == "__main__":
    main()
