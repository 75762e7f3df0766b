"""Live sensing ingestion side by side with a raw COPY of the same rows (``make bench-ingest``).

One run, one throwaway PostgreSQL cluster (fsync on) and one throwaway Mosquitto (production settings:
persistence, autosave every 5 s), 1,000 water sensors whose 5-minute values are the BattLeDIM 2019 SCADA
series (``../shared/data/water``: 4 real series, each sensor a shifted and scaled copy):

1. **Sustained throughput**: the ingester's persistent session is filled while it is away (N QoS 1 messages,
   one reading each, published by two child processes), then the ingester starts and is timed until the
   last batch is committed: committed rows/s with the publishers out of the way. Peer: ``COPY`` of the same
   typed rows into an identical partitioned table (same key, foreign key and BRIN), one transaction per
   batch of the same size. Both stored sets are checked equal (row count and an md5 of every
   (sensor_id, observed_at, value)). Measured without after-insert hook and with the production stage
   (``incidents.pipeline.LivePipeline().after_insert``, as the server and ``hyperviseur sensing ingest``
   wire it: sensor-update NOTIFY, detection, correlation into incidents), and once more with 12 readings
   per message (a gateway uploading an hour of values: what the per-message cost weighs). The CPU of the
   ingester's two threads, PostgreSQL and Mosquitto is read from ``/proc`` around each first run.
2. **MQTT-to-row latency at 5,000 msg/s**: two child processes publish at exactly 2,500 msg/s each for
   30 s, each payload stamped with its send time (Unix µs) which becomes ``observed_at``; the ingester's
   ``on_batch`` callback (called after COMMIT) takes the wall clock, so latency = commit seen − publish,
   per reading, on the same machine clock. The first 2 s (connection warm-up) are left out.
3. **Breach to WebSocket** and 4. **fan-out to 1,000 WebSocket clients**: ``benchmarks.ingest_live``.
5. **Memory**: ``hyperviseur sensing ingest`` (the ingester alone, production stage and defaults) in a
   child process under the 5,000 msg/s stream for 3 minutes (``BENCH_INGEST_LONG=1``: one hour); its RSS
   sampled every second, slope by least squares after the first minute (a leak shows as a slope).

Only what the broker acknowledged to the publishers counts as sent; every part checks it was all stored.

Prints one table: metric, ours, peer, ratio, target, pass/fail.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from benchmarks.harness import PROJECT_ROOT, SHARED_DATA, percentile, throwaway_database
from benchmarks.ingest_cpu import cpu_by_process, describe, ingester_threads, thread_cpu_s
from benchmarks.ingest_publish import close_session, open_session, publish_all, publish_paced
from sensing.mqtt import MqttIngester
from sensing.parse import Reading
from sensing.store import AfterInsert, WriteResult
from twin.broker import EmbeddedBroker, host_port_from_url
from twin.cluster import free_port

PREFIX = "hyperviseur"
TOPIC_FILTER = f"{PREFIX}/sensors/+/readings"
SCADA_FLOWS = SHARED_DATA / "water" / "LTown_2019_SCADA_Flows.csv.gz"
SCADA_LEVELS = SHARED_DATA / "water" / "LTown_2019_SCADA_Levels.csv.gz"
DATA_START = datetime(2019, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
PUBLISHERS = 2
LATENCY_WARMUP_S = 2.0
#: Readings per message in the gateway variant: an hour of 5-minute values uploaded at once.
GATEWAY_READINGS = 12
MEMORY_WARMUP_S = 60.0

Row = tuple[int, datetime, float]


# ----------------------------------------------------------------------------------------------- data


def battledim_series() -> dict[str, np.ndarray]:
    """The four 5-minute SCADA series of L-Town 2019 (3 flows in m³/h, 1 tank level in m)."""
    import pandas as pd

    if not SCADA_FLOWS.exists() or not SCADA_LEVELS.exists():
        raise SystemExit(
            f"BattLeDIM SCADA files missing under {SCADA_FLOWS.parent} (see ../shared/data/README.md)"
        )
    flows = pd.read_csv(SCADA_FLOWS, sep=";", decimal=",")
    levels = pd.read_csv(SCADA_LEVELS, sep=";", decimal=",")
    series = {name: flows[name].to_numpy(dtype=float) for name in ("p227", "p235", "PUMP_1")}
    series["T1"] = levels["T1"].to_numpy(dtype=float)
    return series


def register_sensors(url: str, count: int) -> list[int]:
    """``count`` sensors in a bench territory: three flow meters in four, one tank level in four."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO twin.territory (name, crs_epsg, boundary) VALUES ('Bench-ingest', 2154,"
            " ST_Multi(ST_MakeEnvelope(-1.45, 48.10, -1.40, 48.13, 4326))) RETURNING id"
        ).fetchone()
        assert row is not None
        territory = int(row[0])
        ids = []
        for i in range(count):
            kind, unit = ("tank_level", "m") if i % 4 == 3 else ("water_flow", "m³/h")
            found = conn.execute(
                "INSERT INTO twin.sensors (territory_id, name, kind, unit, geom) VALUES"
                " (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(-1.45 + %s, 48.10 + %s), 4326)) RETURNING id",
                (territory, f"bench-{i}", kind, unit, (i % 50) * 0.001, (i // 50) * 0.001),
            ).fetchone()
            assert found is not None
            ids.append(int(found[0]))
    return ids


def battledim_rows(sensor_ids: list[int], steps: int) -> list[Row]:
    """``steps`` 5-minute readings per sensor, in time order (all sensors at t, then t + 5 min…).

    Sensor i replays series ``i % 4`` from a row offset of its own, scaled by 1 + (i mod 10) %.
    """
    series = battledim_series()
    names = ["p227", "p235", "PUMP_1", "T1"]
    columns = []
    for i, _ in enumerate(sensor_ids):
        values = series[names[i % 4]]
        offset = (i * 97) % (len(values) - steps)
        chunk = values[offset : offset + steps] * (1 + (i % 10) / 100)
        columns.append(np.nan_to_num(chunk, nan=0.0).round(3))
    rows = []
    for step in range(steps):
        at = DATA_START + step * STEP
        for i, sensor in enumerate(sensor_ids):
            rows.append((sensor, at, float(columns[i][step])))
    return rows


def mqtt_messages(rows: list[Row], per_message: int = 1) -> list[tuple[str, bytes]]:
    """One reading per message (``{"t", "v"}``), or ``per_message`` consecutive readings of a sensor as a
    JSON array (a gateway uploading an hour of 5-minute values at once), in time order."""
    if per_message == 1:
        return [(_topic(sensor), _item(at, value)) for sensor, at, value in rows]
    by_sensor: dict[int, list[Row]] = {}
    for row in rows:
        by_sensor.setdefault(row[0], []).append(row)
    chunks = [
        series[first : first + per_message]
        for series in by_sensor.values()
        for first in range(0, len(series), per_message)
    ]
    chunks.sort(key=lambda chunk: (chunk[0][1], chunk[0][0]))
    return [
        (_topic(chunk[0][0]), b"[" + b",".join(_item(at, value) for _, at, value in chunk) + b"]")
        for chunk in chunks
    ]


def _topic(sensor: int) -> str:
    return f"{PREFIX}/sensors/{sensor}/readings"


def _item(at: datetime, value: float) -> bytes:
    return b'{"t": "%s", "v": %r}' % (at.isoformat().encode(), value)


def production_stage() -> AfterInsert:
    """The after-insert stage the server and ``hyperviseur sensing ingest`` run (a fresh detector state)."""
    from incidents.pipeline import LivePipeline

    return LivePipeline().after_insert


# -------------------------------------------------------------------------------------- stored rows


def _reset_readings(url: str) -> None:
    """Every run starts from the same empty tables (detections and incidents too: correlation reads them)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "TRUNCATE sensing.readings, sensing.latest, sensing.rejected, sensing.detections,"
            " incidents.incidents, live.events CASCADE"
        )


def fingerprint(url: str, table: str) -> tuple[int, str]:
    """Row count and md5 of every (sensor_id, observed_at, value) of ``table``, in key order."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), md5(coalesce(string_agg(sensor_id || '|' || extract(epoch FROM observed_at)"
            f" || '|' || value, ',' ORDER BY sensor_id, observed_at), '')) FROM {table}"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def create_peer_table(url: str) -> None:
    """``bench.readings``: the same columns, key, foreign key, monthly partition and BRIN as sensing.readings."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        conn.execute(
            "CREATE TABLE bench.readings (LIKE sensing.readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS,"
            " PRIMARY KEY (sensor_id, observed_at),"
            " FOREIGN KEY (sensor_id) REFERENCES twin.sensors ON DELETE CASCADE)"
            " PARTITION BY RANGE (observed_at)"
        )
        conn.execute(
            "CREATE TABLE bench.readings_2019_01 PARTITION OF bench.readings"
            " FOR VALUES FROM ('2019-01-01T00:00:00Z') TO ('2019-02-01T00:00:00Z')"
        )
        conn.execute("CREATE INDEX ON bench.readings_2019_01 USING brin (observed_at)")


def raw_copy(url: str, rows: list[Row], batch: int) -> float:
    """Seconds to COPY ``rows`` into ``bench.readings``, one transaction per ``batch`` rows."""
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE bench.readings")
        conn.commit()
        start = time.perf_counter()
        for first in range(0, len(rows), batch):
            with (
                conn.transaction(),
                conn.cursor().copy("COPY bench.readings (sensor_id, observed_at, value) FROM STDIN") as copy,
            ):
                for row in rows[first : first + batch]:
                    copy.write_row(row)
        return time.perf_counter() - start


# ----------------------------------------------------------------------------------------- broker


@contextmanager
def production_broker() -> Iterator[EmbeddedBroker]:
    """A throwaway Mosquitto with the production configuration (autosave every 5 s, not the tests' 1 s)."""
    base = Path(tempfile.mkdtemp(prefix="hyperviseur-bench-mqtt-"))
    os.chmod(base, 0o755)
    broker = EmbeddedBroker(base, port=free_port())
    try:
        broker.start()
        yield broker
    finally:
        broker.destroy()


def _pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(PUBLISHERS, mp_context=multiprocessing.get_context("spawn"))


def preload(broker: EmbeddedBroker, messages: list[tuple[str, bytes]]) -> float:
    """Publish every message (QoS 1, several processes) while the ingester is away; seconds taken."""
    host, port = host_port_from_url(broker.url())
    start = time.perf_counter()
    with _pool() as pool:
        futures = [
            pool.submit(publish_all, host, port, f"bench-pub-{k}-{time.time_ns()}", messages[k::PUBLISHERS])
            for k in range(PUBLISHERS)
        ]
        acked = sum(f.result() for f in futures)
    if acked != len(messages):
        raise SystemExit(f"the broker acknowledged {acked} of {len(messages)} published messages")
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------ measurements


@dataclass
class Throughput:
    rows: int
    seconds: list[float] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / statistics.median(self.seconds)

    def spread(self) -> str:
        rates = sorted(self.rows / s for s in self.seconds)
        return f"{rates[0]:,.0f}–{rates[-1]:,.0f}"


def drain(
    url: str,
    broker: EmbeddedBroker,
    messages: list[tuple[str, bytes]],
    *,
    rows: int,
    max_batch: int,
    max_delay_s: float,
    after_insert: AfterInsert | None,
    run: str,
    cpu: list[str] | None = None,
) -> tuple[float, float]:
    """Fill a persistent session with ``messages``, then time the ingester until all are committed.

    Returns the seconds the publishing took (ingester away) and the seconds the ingester took; appends
    where the CPU went to ``cpu`` when given.
    """
    _reset_readings(url)
    client_id = f"bench-ingest-{run}-{time.time_ns()}"
    open_session(broker.url(), client_id, TOPIC_FILTER)
    preload_s = preload(broker, messages)
    host, port = host_port_from_url(broker.url())
    last_commit = [0.0]
    committed = [0]

    def on_batch(_readings: list[Reading], result: WriteResult) -> None:
        last_commit[0] = time.perf_counter()
        committed[0] += result.inserted + result.duplicates

    ingester = MqttIngester(
        url,
        host=host,
        port=port,
        prefix=PREFIX,
        client_id=client_id,
        max_batch=max_batch,
        max_delay_s=max_delay_s,
        on_batch=on_batch,
        after_insert=after_insert,
    )
    programs_before = cpu_by_process()
    start = time.perf_counter()
    ingester.start()
    threads = ingester_threads()
    deadline = time.monotonic() + 600
    while committed[0] < rows:
        if time.monotonic() > deadline:
            ingester.stop()
            raise SystemExit(f"ingester committed {committed[0]} of {rows} readings in 600 s")
        time.sleep(0.005)
    elapsed = last_commit[0] - start
    if cpu is not None:
        thread_cpu = {role: thread_cpu_s(thread) for role, thread in threads.items()}
        cpu.append(describe(programs_before, cpu_by_process(), thread_cpu, time.perf_counter() - start))
    ingester.stop()
    close_session(broker.url(), client_id)
    totals = ingester.stats.totals
    if totals.inserted != rows or totals.rejected:
        raise SystemExit(f"ingester run {run}: {totals.inserted} inserted, {totals.rejected} rejected")
    return preload_s, elapsed


@dataclass
class Latency:
    samples_ms: list[float]
    sent: int
    #: acknowledged by the broker: what must be stored
    acked: int
    stored: int
    worst_lag_s: float
    batches: int

    def line(self) -> str:
        return (
            f"p50 {statistics.median(self.samples_ms):.0f} ms, p99 {percentile(self.samples_ms, 99):.0f} ms"
        )


def _pace(result: Latency) -> str:
    """Whether the publishers held the rate: if not, the machine was overloaded and the load was lower."""
    if result.worst_lag_s < 0.25:
        return "publishers on schedule"
    return f"publishers up to {result.worst_lag_s:.1f} s behind schedule: machine overloaded"


def paced_latency(
    url: str,
    broker: EmbeddedBroker,
    sensor_ids: list[int],
    *,
    rate_per_s: float,
    duration_s: float,
    max_batch: int,
    max_delay_s: float,
    after_insert: AfterInsert | None,
) -> Latency:
    """Publish at ``rate_per_s`` for ``duration_s``; per reading, ms from its publish to its batch's commit."""
    _reset_readings(url)
    host, port = host_port_from_url(broker.url())
    samples: list[float] = []
    start_at = time.time() + 4.0  # the publisher processes are up by then

    def on_batch(readings: list[Reading], _result: WriteResult) -> None:
        now = time.time()
        for r in readings:
            sent = r.observed_at.timestamp()
            if sent >= start_at + LATENCY_WARMUP_S:
                samples.append((now - sent) * 1000.0)

    client_id = f"bench-latency-{time.time_ns()}"
    ingester = MqttIngester(
        url,
        host=host,
        port=port,
        prefix=PREFIX,
        client_id=client_id,
        max_batch=max_batch,
        max_delay_s=max_delay_s,
        on_batch=on_batch,
        after_insert=after_insert,
    )
    ingester.start()
    try:
        topics = [f"{PREFIX}/sensors/{s}/readings" for s in sensor_ids]
        with _pool() as pool:
            futures = [
                pool.submit(
                    publish_paced,
                    host,
                    port,
                    f"bench-paced-{k}-{time.time_ns()}",
                    topics[k::PUBLISHERS],
                    rate_per_s / PUBLISHERS,
                    duration_s,
                    start_at,
                )
                for k in range(PUBLISHERS)
            ]
            results = [f.result() for f in futures]
        ingester.wait_idle(timeout_s=60)
    finally:
        ingester.stop()
        close_session(broker.url(), client_id)
    sent = int(sum(r["sent"] for r in results))
    acked = int(sum(r["acked"] for r in results))
    stored, _ = fingerprint(url, "sensing.readings")
    return Latency(
        samples, sent, acked, stored, max(r["worst_lag_s"] for r in results), ingester.stats.batches
    )


@dataclass
class Memory:
    samples: list[tuple[float, float]]  # (s since start, RSS MiB)
    sent: int
    acked: int
    stored: int
    worst_lag_s: float

    def slope_mb_per_min(self) -> float:
        late = [(t, m) for t, m in self.samples if t >= MEMORY_WARMUP_S]
        if len(late) < 10:
            return float("nan")
        t, m = np.array(late).T
        return float(np.polyfit(t / 60.0, m, 1)[0])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def memory_run(
    url: str,
    broker: EmbeddedBroker,
    sensor_ids: list[int],
    *,
    rate_per_s: float,
    duration_s: float,
) -> Memory:
    """RSS of ``hyperviseur sensing ingest`` (production stage and defaults) fed ``rate_per_s`` for ``duration_s``."""
    _reset_readings(url)
    host, port = host_port_from_url(broker.url())
    client_id = f"bench-memory-{time.time_ns()}"
    # The session exists before the command starts: nothing published meanwhile is lost.
    open_session(broker.url(), client_id, TOPIC_FILTER)
    env = {
        **os.environ,
        "HYPERVISEUR_DATABASE_URL": url,
        "HYPERVISEUR_MQTT_URL": broker.url(),
        "HYPERVISEUR_MQTT_CLIENT_ID": client_id,
    }
    child = subprocess.Popen(
        [str(Path(sys.executable).parent / "hyperviseur"), "sensing", "ingest"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        if not child.stdout.readline().startswith("ingesting"):
            raise SystemExit("hyperviseur sensing ingest did not start")
        topics = [f"{PREFIX}/sensors/{s}/readings" for s in sensor_ids]
        start_at = time.time() + 4.0
        samples: list[tuple[float, float]] = []
        with _pool() as pool:
            futures = [
                pool.submit(
                    publish_paced,
                    host,
                    port,
                    f"bench-mem-{k}-{time.time_ns()}",
                    topics[k::PUBLISHERS],
                    rate_per_s / PUBLISHERS,
                    duration_s,
                    start_at,
                )
                for k in range(PUBLISHERS)
            ]
            while not all(f.done() for f in futures):
                samples.append((time.time() - start_at, _rss_mb(child.pid)))
                time.sleep(1.0)
            results = [f.result() for f in futures]
        sent = int(sum(r["sent"] for r in results))
        acked = int(sum(r["acked"] for r in results))
        deadline = time.monotonic() + 120
        while fingerprint(url, "sensing.readings")[0] < acked and time.monotonic() < deadline:
            samples.append((time.time() - start_at, _rss_mb(child.pid)))
            time.sleep(1.0)
        child.terminate()
        out, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
        close_session(broker.url(), client_id)
    if child.returncode != 0:
        raise SystemExit(f"the ingester child process failed (exit {child.returncode}): {out}")
    stored, _ = fingerprint(url, "sensing.readings")
    return Memory(samples, sent, acked, stored, max(r["worst_lag_s"] for r in results))


# ------------------------------------------------------------------------------------------ report


@dataclass
class Line:
    metric: str
    ours: str
    peer: str = "—"
    ratio: str = "—"
    target: str = "—"
    verdict: str = "—"


def print_table(lines: list[Line]) -> None:
    print("\n| metric | ours | peer | ratio | target | pass |")
    print("|---|---|---|---|---|---|")
    for line in lines:
        print(
            f"| {line.metric} | {line.ours} | {line.peer} | {line.ratio} | {line.target} | {line.verdict} |"
        )


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


# -------------------------------------------------------------------------------------------- main


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200, help="5-minute readings per sensor (throughput)")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs per variant (median reported)")
    parser.add_argument("--max-batch", type=int, default=2000)
    parser.add_argument("--max-delay-s", type=float, default=0.05)
    parser.add_argument("--tune", action="store_true", help="first sweep max_batch and max_delay_s")
    parser.add_argument("--rate", type=float, default=5000.0, help="msg/s for the latency and memory runs")
    parser.add_argument("--latency-s", type=float, default=30.0)
    default_memory_s = 3600.0 if os.environ.get("BENCH_INGEST_LONG") == "1" else 180.0
    parser.add_argument("--memory-s", type=float, default=default_memory_s)
    parser.add_argument("--ws-breaches", type=int, default=50)
    parser.add_argument("--ws-clients", type=int, default=1000)
    parser.add_argument("--ws-events", type=int, default=50)
    parser.add_argument(
        "--gateway-readings",
        type=int,
        default=GATEWAY_READINGS,
        help="readings per message of the gateway variants (12: an hour of 5-minute values)",
    )
    parser.add_argument(
        "--only", default="throughput,latency,breach,fanout,memory", help="comma-separated parts to run"
    )
    return parser.parse_args(argv)


def _tune(url: str, broker: EmbeddedBroker, messages: list[tuple[str, bytes]]) -> None:
    print("\nTuning (no hook, one run each):", flush=True)
    for max_batch in (500, 1000, 2000, 4000):
        for max_delay_s in (0.02, 0.05, 0.2):
            _, elapsed = drain(
                url,
                broker,
                messages,
                rows=len(messages),
                max_batch=max_batch,
                max_delay_s=max_delay_s,
                after_insert=None,
                run=f"tune-{max_batch}",
            )
            print(
                f"  max_batch {max_batch:>5} max_delay_s {max_delay_s:<5} {len(messages) / elapsed:10,.0f} rows/s",
                flush=True,
            )


def throughput_lines(
    url: str, broker: EmbeddedBroker, sensor_ids: list[int], args: argparse.Namespace
) -> list[Line]:
    rows = battledim_rows(sensor_ids, args.steps)
    messages = mqtt_messages(rows)
    gateway = mqtt_messages(rows, args.gateway_readings)
    print(f"\n1. Throughput: {len(rows):,} readings ({args.sensors} sensors × {args.steps} steps of 5 min)")
    create_peer_table(url)
    started = time.perf_counter()
    if args.tune:
        _tune(url, broker, messages)
    variants: dict[str, tuple[Callable[[], AfterInsert | None], list[tuple[str, bytes]]]] = {
        "no hook": (lambda: None, messages),
        "production stage": (production_stage, messages),
        f"no hook, {args.gateway_readings} readings per message": (lambda: None, gateway),
        f"production stage, {args.gateway_readings} readings per message": (production_stage, gateway),
    }
    results = {name: Throughput(len(rows)) for name in variants}
    copy = Throughput(len(rows))
    prints: dict[str, set[tuple[int, str]]] = {name: set() for name in [*variants, "COPY"]}
    for run in range(args.runs):
        copy.seconds.append(raw_copy(url, rows, args.max_batch))
        prints["COPY"].add(fingerprint(url, "bench.readings"))
        for name, (hook, sent) in variants.items():
            cpu: list[str] = []
            preload_s, elapsed = drain(
                url,
                broker,
                sent,
                rows=len(rows),
                max_batch=args.max_batch,
                max_delay_s=args.max_delay_s,
                after_insert=hook(),
                run=f"{run}-{time.time_ns()}",
                cpu=cpu,
            )
            results[name].seconds.append(elapsed)
            if run == 0:
                print(f"  CPU during the {name} run ({elapsed:.1f} s): {cpu[0]}", flush=True)
            prints[name].add(fingerprint(url, "sensing.readings"))
            if run == 0 and name == "no hook":
                print(
                    f"  pre-loading the session (2 publisher processes): {len(rows) / preload_s:,.0f} msg/s"
                )
        print(
            f"  run {run + 1}: COPY {len(rows) / copy.seconds[-1]:,.0f} rows/s, "
            + ", ".join(f"{n} {len(rows) / r.seconds[-1]:,.0f} rows/s" for n, r in results.items()),
            flush=True,
        )
    every = set.union(*prints.values())
    if len(every) != 1:
        raise SystemExit(f"the paths did not store the same rows: {prints}")
    count, digest = every.pop()
    if count != len(rows):
        raise SystemExit(f"{count} rows stored, {len(rows)} published")
    print(f"  same rows on every path: {count:,} rows, md5 {digest}; {time.perf_counter() - started:.0f} s")
    lines = []
    for name, result in results.items():
        ratio = result.rows_per_s / copy.rows_per_s
        lines.append(
            Line(
                f"MQTT → committed rows/s, {name} (max_batch {args.max_batch}, runs {result.spread()})",
                f"{result.rows_per_s:,.0f}",
                f"{copy.rows_per_s:,.0f} (COPY, runs {copy.spread()})",
                f"{ratio:.2f}",
                "≥ 0.50",
                _verdict(ratio >= 0.5),
            )
        )
    return lines


def latency_lines(
    url: str, broker: EmbeddedBroker, sensor_ids: list[int], args: argparse.Namespace
) -> list[Line]:
    lines = []
    for name, hook in (("no hook", None), ("production stage", production_stage())):
        print(
            f"\n2. MQTT-to-row latency at {args.rate:,.0f} msg/s for {args.latency_s:.0f} s, {name}",
            flush=True,
        )
        result = paced_latency(
            url,
            broker,
            sensor_ids,
            rate_per_s=args.rate,
            duration_s=args.latency_s,
            max_batch=args.max_batch,
            max_delay_s=args.max_delay_s,
            after_insert=hook,
        )
        print(
            f"  published {result.sent:,}, acknowledged by the broker {result.acked:,}, stored {result.stored:,},"
            f" {result.batches} batches,"
            f" publishers' worst lag behind schedule {result.worst_lag_s * 1000:.0f} ms; {result.line()},"
            f" p95 {percentile(result.samples_ms, 95):.0f} ms, max {max(result.samples_ms):.0f} ms",
            flush=True,
        )
        if result.stored != result.acked:
            raise SystemExit(f"latency run stored {result.stored} of {result.acked} acknowledged readings")
        lines.append(
            Line(
                f"MQTT → committed row at {args.rate:,.0f} msg/s, {name}: p50 / p95 / p99 ({_pace(result)})",
                f"{statistics.median(result.samples_ms):.0f} / {percentile(result.samples_ms, 95):.0f} /"
                f" {percentile(result.samples_ms, 99):.0f} ms",
                "QuantumLeap ≈ 500 ms p95 (quoted, not run)",
            )
        )
    return lines


def memory_lines(
    url: str, broker: EmbeddedBroker, sensor_ids: list[int], args: argparse.Namespace
) -> list[Line]:
    print(
        f"\n5. Memory: `hyperviseur sensing ingest` (production stage and defaults), {args.rate:,.0f} msg/s"
        f" for {args.memory_s:.0f} s",
        flush=True,
    )
    result = memory_run(
        url,
        broker,
        sensor_ids,
        rate_per_s=args.rate,
        duration_s=args.memory_s,
    )
    rss = [m for t, m in result.samples if t >= 0] or [m for _, m in result.samples]
    after_warmup = [m for t, m in result.samples if t >= MEMORY_WARMUP_S] or rss
    slope = result.slope_mb_per_min()
    print(
        f"  published {result.sent:,}, acknowledged {result.acked:,}, stored {result.stored:,}, publishers'"
        f" worst lag {result.worst_lag_s:.1f} s; RSS start {rss[0]:.0f} MiB, after 1 min"
        f" {after_warmup[0]:.0f} MiB, peak {max(rss):.0f} MiB, end {rss[-1]:.0f} MiB; slope after 1 min"
        f" {slope:+.2f} MiB/min",
        flush=True,
    )
    if result.stored != result.acked:
        raise SystemExit(f"memory run stored {result.stored} of {result.acked} acknowledged readings")
    return [
        Line(
            f"ingester RSS over {args.memory_s / 60:.1f} min at {args.rate:,.0f} msg/s: start / peak / end",
            f"{rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MiB",
        ),
        Line(
            "ingester RSS slope after the first minute (least squares)",
            f"{slope:+.2f} MiB/min" if slope == slope else "n/a (run shorter than 2 min)",
            target="flat (< 1 MiB/min)",
            verdict=_verdict(abs(slope) < 1.0) if slope == slope else "—",
        ),
    ]


def live_lines(url: str, broker: EmbeddedBroker, args: argparse.Namespace, parts: set[str]) -> list[Line]:
    from benchmarks.ingest_live import live_results

    results = live_results(
        url,
        broker,
        breaches=args.ws_breaches,
        clients=args.ws_clients,
        events=args.ws_events,
        breach="breach" in parts,
        fanout="fanout" in parts,
    )
    lines = []
    if results.breach is not None:
        metric = "NO2 breach published → detection/incident on the WebSocket: p50 / p99"
        if isinstance(results.breach, str):
            print(f"  not available: {results.breach}", flush=True)
            lines.append(Line(metric, f"not available: {results.breach}", target="p99 ≤ 1 s"))
        else:
            samples = results.breach
            print(f"  {len(samples)} breaches seen, {results.breach_missed} missed", flush=True)
            lines.append(
                Line(
                    metric + f" ({len(samples)} breaches, {results.breach_missed} missed)",
                    f"{statistics.median(samples):.0f} / {percentile(samples, 99):.0f} ms",
                    "QuantumLeap ≈ 500 ms p95 to storage (quoted, not run)",
                    target="p99 ≤ 1 s",
                    verdict=_verdict(percentile(samples, 99) <= 1000.0 and results.breach_missed == 0),
                )
            )
    if results.fanout is not None:
        metric = f"event committed → each of {args.ws_clients:,} WebSocket clients: p50 / p99"
        if isinstance(results.fanout, str):
            print(f"  not available: {results.fanout}", flush=True)
            lines.append(Line(metric, f"not available: {results.fanout}"))
        else:
            samples = results.fanout
            print(f"  {len(samples):,} deliveries, {results.fanout_missed:,} missed", flush=True)
            lines.append(
                Line(
                    metric + f" ({args.ws_events} events, {results.fanout_missed:,} deliveries missed)",
                    f"{statistics.median(samples):.0f} / {percentile(samples, 99):.0f} ms",
                    verdict=_verdict(results.fanout_missed == 0),
                    target="every delivery",
                )
            )
    return lines


def main(argv: list[str] | None = None) -> None:

    args = _args(argv)
    parts = set(args.only.split(","))
    lines: list[Line] = []
    print(
        f"Ingestion benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other users' jobs"
        f" share the machine), max_batch {args.max_batch}, max_delay_s {args.max_delay_s}",
        flush=True,
    )
    with throwaway_database() as url, production_broker() as broker:
        sensor_ids = register_sensors(url, args.sensors)
        if "throughput" in parts:
            lines += throughput_lines(url, broker, sensor_ids, args)
        if "latency" in parts:
            lines += latency_lines(url, broker, sensor_ids, args)
        if parts & {"breach", "fanout"}:
            lines += live_lines(url, broker, args, parts)
        if "memory" in parts:
            lines += memory_lines(url, broker, sensor_ids, args)
    print_table(lines)
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.1f} over the last minute, {os.getloadavg()[1]:.1f} over 5"
    )


if __name__ == "__main__":
    main()
