"""Leak detection and localisation on L-Town's 2019 SCADA (BattLeDIM): residuals, alarms, candidate pipes.

What the stored data holds (``../shared/data/water/``, see its SOURCES.md): the 5-minute 2019 flows of the two
inlets ``p227``, ``p235`` and of ``PUMP_1``, and tank T1's level. **No pressures** (BattLeDIM's 33 pressure
series are not stored) and no leak list: residuals are therefore built on flows, and against a baseline
learned from the data itself, not against the hydraulic model (the nominal model is not calibrated: its
inflow is ≈85 m³/h per inlet against ≈125 measured).

1. **Pump-free inlets.** PUMP_1 lifts water from the network into T1 and switches between 0 and ≈44 m³/h on
   an irregular schedule: each inlet moves by ≈22 m³/h with it, as much as a leak. Each inlet is replaced by
   ``inlet − a·PUMP_1``, ``a`` fitted by least squares on a leak-free fortnight (≈0.45 and 0.50).
2. **Weekly baseline.** Per inlet and 5-minute slot of the week, the value of one leak-free week (a new leak's
   onset must not fall inside it; leaks already running are part of "normal"); residual = measured −
   baseline at the same time of week.
3. **Noise.** Per inlet and hour of day, the standard deviation of the residual of another leak-free week
   against that baseline (week-to-week variability: ≈2 m³/h at 04:00, ≈6 at 19:00).
4. **Detection.** Noise-normalised residuals ``r/σ(hour)``, averaged over a sliding window (1 h), leak
   direction only (a leak adds inflow: negative means are 0), Euclidean norm over the two inlets, times √window;
   an alarm opens when it exceeds the threshold (6) and closes when it falls back.
5. **Localisation.** The residual averaged over the night hours (02:00–05:00) after the alarm is compared by
   :class:`~simulation.water.leaks.LeakLocator` with the model's unit-leak signatures at p227 and p235
   (multi-period, same hours). Two flows only tell which inlet a leak draws from, so expect a coarse ranking.

Ground truth used for evaluation: the three abrupt onsets visible in the inflow (docs/detection.md) and, for
the pipe, the organisers' 2019 leak list as reproduced by EPyT-Flow (``WaterFutures/EPyT-Flow``,
``epyt_flow/data/benchmarks/battledim.py``, commit 1537424b): ``p523`` from 2019-01-15 23:00, ``p827`` from
2019-01-24 18:30, ``p514`` from 2019-04-02 20:40 (the file itself is not in the shared data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.water.leaks import NIGHT_TIMES_S, LeakLocator
from twin.errors import InvalidInput, NotFound

INLETS: tuple[str, ...] = ("p227", "p235")
PUMP = "PUMP_1"
STEP = pd.Timedelta(minutes=5)
WEEK = pd.Timedelta(days=7)
SLOTS_PER_WEEK = int(WEEK / STEP)
DEFAULT_WINDOW = 12  # 1 h of 5-minute readings
DEFAULT_THRESHOLD = 6.0
NIGHT_HOURS: tuple[int, ...] = (2, 3, 4)


@dataclass(frozen=True)
class KnownLeak:
    """A 2019 leak with an abrupt onset, and the pipe the organisers put it on."""

    name: str
    pipe: str
    onset: pd.Timestamp
    baseline_start: pd.Timestamp  # a week without a new onset, before the scan
    scan_start: pd.Timestamp


KNOWN_2019_LEAKS: tuple[KnownLeak, ...] = (
    KnownLeak(
        "A", "p523", pd.Timestamp("2019-01-15 23:00"), pd.Timestamp("2019-01-08"), pd.Timestamp("2019-01-15")
    ),
    KnownLeak(
        "B", "p827", pd.Timestamp("2019-01-24 18:30"), pd.Timestamp("2019-01-16"), pd.Timestamp("2019-01-23")
    ),
    KnownLeak(
        "C", "p514", pd.Timestamp("2019-04-02 20:40"), pd.Timestamp("2019-03-25"), pd.Timestamp("2019-04-01")
    ),
)
#: Leak-free fortnight (no onset; the leaks already running are part of normal): pump fit, noise.
QUIET_START = pd.Timestamp("2019-01-01")


def load_flows(path: Path) -> pd.DataFrame:
    """The SCADA flows file (``Timestamp;p227;p235;PUMP_1``, decimal commas, m³/h), indexed by timestamp.

    Raises
    ------
    NotFound
        No such file.
    InvalidInput
        Columns missing, or timestamps not on a regular 5-minute grid.
    """
    if not Path(path).is_file():
        raise NotFound(f"SCADA flows file {str(path)!r} does not exist / fichier de débits SCADA introuvable")
    flows = pd.read_csv(path, sep=";", decimal=",", index_col=0, parse_dates=True)
    missing = [c for c in (*INLETS, PUMP) if c not in flows.columns]
    if missing:
        raise InvalidInput(
            f"SCADA flows file {Path(path).name} lacks columns {missing} (has {list(flows.columns)})"
        )
    steps = flows.index.to_series().diff().dropna()
    if len(steps) == 0 or not (steps == STEP).all():
        raise InvalidInput(f"SCADA flows file {Path(path).name}: timestamps are not every 5 minutes")
    return flows.astype(float)


def pump_free_inlets(flows: pd.DataFrame, fit_start: pd.Timestamp, days: int = 14) -> pd.DataFrame:
    """Each inlet minus its least-squares share of PUMP_1's flow, fitted over ``days`` from ``fit_start``."""
    fit = flows.loc[fit_start : fit_start + pd.Timedelta(days=days) - STEP]
    if len(fit) < 288:
        raise InvalidInput(f"fewer than one day of SCADA flows from {fit_start} to fit the pump's share")
    design = np.column_stack([fit[PUMP].to_numpy(), np.ones(len(fit))])
    out = pd.DataFrame(index=flows.index)
    for inlet in INLETS:
        share = float(np.linalg.lstsq(design, fit[inlet].to_numpy(), rcond=None)[0][0])
        out[inlet] = flows[inlet] - share * flows[PUMP]
    return out


def weekly_residual(
    inlets: pd.DataFrame, baseline_start: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Measured − the value of the week from ``baseline_start`` at the same time of week, from start to end."""
    base = inlets.loc[baseline_start : baseline_start + WEEK - STEP]
    if len(base) != SLOTS_PER_WEEK:
        raise InvalidInput(f"the baseline week from {baseline_start} is not a full week of 5-minute readings")
    part = inlets.loc[start : end - STEP]
    slots = ((part.index - baseline_start) // STEP) % SLOTS_PER_WEEK
    return pd.DataFrame(part.to_numpy() - base.to_numpy()[slots], index=part.index, columns=part.columns)


def noise_by_hour(residual: pd.DataFrame) -> pd.DataFrame:
    """Standard deviation of a leak-free residual per hour of day (24 rows, one column per inlet)."""
    noise = residual.groupby(residual.index.hour).std()
    if len(noise) != 24 or not np.isfinite(noise.to_numpy()).all() or (noise.to_numpy() <= 0).any():
        raise InvalidInput("the noise needs a leak-free residual covering every hour of the day")
    return noise


def detection_statistic(
    residual: pd.DataFrame, noise: pd.DataFrame, window: int = DEFAULT_WINDOW
) -> pd.Series:
    """Norm over inlets of the window's mean of ``r/σ(hour)`` (leak direction only), times √window."""
    if not isinstance(window, int) or window < 1:
        raise InvalidInput(f"window must be a positive number of 5-minute readings, not {window!r}")
    z = residual / noise.loc[residual.index.hour].to_numpy()
    mean = z.rolling(window).mean().clip(lower=0.0)
    return np.sqrt((mean**2).sum(axis=1, min_count=1)) * math.sqrt(window)


@dataclass(frozen=True)
class Alarm:
    """A run of the statistic above the threshold: when it opened, closed, and its peak."""

    start: pd.Timestamp
    end: pd.Timestamp
    peak: float


def alarms(statistic: pd.Series, threshold: float = DEFAULT_THRESHOLD) -> list[Alarm]:
    """Runs of ``statistic`` above ``threshold``."""
    above = (statistic > threshold).to_numpy()
    edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(np.int8), [0]])))
    values = statistic.to_numpy()
    return [
        Alarm(statistic.index[a], statistic.index[b - 1], float(values[a:b].max()))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


@dataclass(frozen=True)
class LeakResult:
    """One known leak: detection delay, alarms before its onset, and where the locator ranks its pipe."""

    leak: KnownLeak
    detected_at: pd.Timestamp | None
    alarms_before: int
    night_residual_m3_h: dict[str, float]
    pipe_rank: int | None  # 1 = first of the model's pipes
    top_pipes: tuple[str, ...]

    @property
    def delay(self) -> pd.Timedelta | None:
        return None if self.detected_at is None else self.detected_at - self.leak.onset


def night_residual(
    residual: pd.DataFrame, after: pd.Timestamp, hours: Sequence[int] = NIGHT_HOURS
) -> dict[str, float]:
    """Mean residual over ``hours`` of the first night after ``after`` (the night the locator uses)."""
    day = after.normalize() + (pd.Timedelta(days=1) if after.hour >= min(hours) else pd.Timedelta(0))
    mask = (residual.index.normalize() == day) & np.isin(residual.index.hour, list(hours))
    night = residual.loc[mask]
    if night.empty:
        raise InvalidInput(f"no residual over the night of {day.date()}: scan further")
    return {name: float(v) for name, v in night.mean().items()}


def scada_locator(wn: Any, network: Any) -> LeakLocator:
    """The locator for what the SCADA measures: flows at the inlets, multi-period over the night hours."""
    return LeakLocator(wn, network, [], INLETS, time_s=NIGHT_TIMES_S)


def evaluate_known_leaks(
    flows: pd.DataFrame,
    locator: LeakLocator | None = None,
    *,
    leaks: Sequence[KnownLeak] = KNOWN_2019_LEAKS,
    window: int = DEFAULT_WINDOW,
    threshold: float = DEFAULT_THRESHOLD,
    scan_days: int = 3,
) -> list[LeakResult]:
    """Detect each known onset in ``flows`` and rank its pipe with ``locator`` (skipped when None).

    Noise comes from the quiet fortnight of January (second week against the first); each leak then has its
    own baseline week (``baseline_start``) and is scanned from ``scan_start`` for ``scan_days``.
    """
    inlets = pump_free_inlets(flows, QUIET_START)
    noise = noise_by_hour(weekly_residual(inlets, QUIET_START, QUIET_START + WEEK, QUIET_START + 2 * WEEK))
    results = []
    for leak in leaks:
        end = leak.scan_start + pd.Timedelta(days=scan_days)
        residual = weekly_residual(inlets, leak.baseline_start, leak.scan_start, end)
        found = alarms(detection_statistic(residual, noise, window), threshold)
        before = [a for a in found if a.start < leak.onset]
        after = [a for a in found if a.start >= leak.onset]
        detected = after[0].start if after else None
        night = night_residual(residual, detected or leak.onset)
        rank: int | None = None
        top: tuple[str, ...] = ()
        if locator is not None:
            result = locator.locate(locator.readings_from_residual(night))
            names = [c.name for c in result.pipes]
            rank = 1 + names.index(leak.pipe) if leak.pipe in names else None
            top = tuple(names[:5])
        results.append(LeakResult(leak, detected, len(before), night, rank, top))
    return results
