"""Periodic sensing jobs inside the server: rollups every few minutes, retention every hour.

Each run happens in a worker thread with its own connection (the event loop never waits on it); a failing
run is logged and retried at the next period, never fatal; stopping waits a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import psycopg

from sensing.retention import REJECTED_RETENTION_DAYS, apply_retention
from sensing.rollup import roll_up

log = logging.getLogger(__name__)

ROLLUP_PERIOD_S = 300.0
RETENTION_PERIOD_S = 3600.0
#: At shutdown, how long to wait for a run in progress (its thread finishes on its own afterwards).
STOP_WAIT_S = 5.0


@dataclass
class MaintenanceStats:
    rollups: int = 0
    retentions: int = 0
    failures: int = 0


def rollup_once(url: str) -> None:
    with psycopg.connect(url) as conn:
        report = roll_up(conn)
    log.debug("sensing rollup: %s", report.summary())


def retention_once(url: str, raw_retention_days: int, rejected_retention_days: int) -> None:
    report = apply_retention(
        url, raw_retention_days=raw_retention_days, rejected_retention_days=rejected_retention_days
    )
    log.info("sensing retention: %s", report.summary())


async def _run(job: Callable[[], None], name: str, stats: MaintenanceStats) -> bool:
    try:
        await asyncio.to_thread(job)
        return True
    except Exception:  # noqa: BLE001 - a failed run is retried at the next period
        stats.failures += 1
        log.exception("sensing %s failed; retried at the next period", name)
        return False


async def maintenance_loop(
    url: str,
    *,
    raw_retention_days: int,
    rejected_retention_days: int = REJECTED_RETENTION_DAYS,
    rollup_period_s: float = ROLLUP_PERIOD_S,
    retention_period_s: float = RETENTION_PERIOD_S,
    stats: MaintenanceStats | None = None,
) -> None:
    """Run forever: the first rollup after one period (a server that just started has little to roll)."""
    stats = stats if stats is not None else MaintenanceStats()
    next_retention = time.monotonic() + retention_period_s
    while True:
        await asyncio.sleep(rollup_period_s)
        if await _run(lambda: rollup_once(url), "rollup", stats):
            stats.rollups += 1
        if time.monotonic() >= next_retention:
            next_retention = time.monotonic() + retention_period_s
            job = lambda: retention_once(url, raw_retention_days, rejected_retention_days)  # noqa: E731
            if await _run(job, "retention", stats):
                stats.retentions += 1


@contextlib.asynccontextmanager
async def running_maintenance(
    url: str, *, raw_retention_days: int, **options: object
) -> AsyncIterator[MaintenanceStats]:
    """Run :func:`maintenance_loop` in the background for the duration of the block."""
    stats = MaintenanceStats()
    task = asyncio.create_task(
        maintenance_loop(url, raw_retention_days=raw_retention_days, stats=stats, **options)  # type: ignore[arg-type]
    )
    try:
        yield stats
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=STOP_WAIT_S)
