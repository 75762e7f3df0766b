"""Leak localisation from pressure and flow residuals against the hydraulic model (sensitivity matrix).

The classic model-based method (Pérez et al. 2011, "Methodology for leakage isolation using pressure
sensitivity analysis in water distribution networks"; Casillas et al. 2013):

1. **Baseline**: one EPANET run (pressure-dependent demand) of the model at representative times: either a
   single period — 03:00 by default, near the minimum night flow, when a leak is the largest share of the
   flow — or, **multi-period**, an extended-period run over several night hours (e.g. 02:00, 03:00, 04:00,
   started an hour before the first) whose sensor values are averaged. A single period holds tank levels
   fixed, so a leak fed by a tank moves no sensor (L-Town's tank T1 zone is blind); over hours the tank
   drains, its zone's pressures and the pump's flow move, and the average also divides reading noise.
2. **Signatures**: for every junction, the same run with a leak there (an EPANET emitter of
   ``unit_emitter_m3_h`` m³/h per √m); its signature is the change at the sensors (pressures in m, flows in
   m³/h), each divided by that sensor's noise so pressures and flows weigh by how much they can be trusted.
   The whole matrix is one EPANET project kept open, one run per junction (L-Town: 782 single-period runs
   < 1 s; 782 runs of 4 h ≈ 10 s).
3. **Ranking**: the residual vector (readings − baseline, divided by the same noise) is compared with every
   signature by cosine similarity, which ignores the leak's unknown size; junctions are ranked by it, and each
   pipe gets the best score of its two end nodes (a leak on a pipe looks like a leak at its nearest node).

:func:`simulate_leak_readings` injects a leak the way :func:`simulation.water.hydraulics.run_leak_scenario`
does — the pipe is split at ``split_at`` and an orifice of ``area_m2`` (discharge coefficient 0.75) opens at the
new node — but as an EPANET emitter (same orifice law, ``Q = Cd·A·√(2·g·p)``) in one single-period run, and adds
seeded Gaussian noise (divided by √n for an average of n hourly readings, errors assumed independent from
hour to hour): :func:`evaluate_localisation` uses it to measure top-k hit rates on random leaks.

Pressure sensors default to the 33 of the BattLeDIM 2020 competition on L-Town (column names of its
``Pressures.csv``, which is not stored here: the list is given from the competition's description, and every
name is checked against the model), flows to its ``p227``, ``p235`` (the inlets) and ``PUMP_1``.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulation.water.hydraulics import HydraulicSettings, prepare_model
from simulation.water.network import WaterNetwork
from twin.errors import InvalidInput, NotFound

BATTLEDIM_PRESSURE_SENSORS: tuple[str, ...] = (
    "n1", "n4", "n31", "n54", "n105", "n114", "n163", "n188", "n215", "n229", "n288",
    "n296", "n332", "n342", "n410", "n415", "n429", "n458", "n469", "n495", "n506", "n516",
    "n519", "n549", "n613", "n636", "n644", "n679", "n722", "n726", "n740", "n752", "n769",
)  # fmt: skip
BATTLEDIM_FLOW_SENSORS: tuple[str, ...] = ("p227", "p235", "PUMP_1")
NIGHT_TIME_S = 3 * 3600
#: Multi-period default: readings averaged at 02:00, 03:00 and 04:00 (the night minimum of L-Town's patterns).
NIGHT_TIMES_S: tuple[int, ...] = (2 * 3600, 3 * 3600, 4 * 3600)
#: A multi-period run starts this long before its first sample, so a leak has already drained the tanks a bit.
MULTI_PERIOD_LEAD_S = 3600
WEEK_S = 7 * 24 * 3600
GRAVITY_M_S2 = 9.81
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class SensorNoise:
    """Standard deviation of a reading's error: 2 cm of pressure, 0.2 m³/h of flow (assumed, typical loggers)."""

    pressure_m: float = 0.02
    flow_m3_h: float = 0.2

    def __post_init__(self) -> None:
        for name in ("pressure_m", "flow_m3_h"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not (value > 0):
                raise InvalidInput(f"sensor noise {name} must be a positive number, not {value!r}")
            if not math.isfinite(value):
                raise InvalidInput(f"sensor noise {name} must be finite, not {value!r}")


@dataclass(frozen=True)
class SensorReadings:
    """Readings at the sensors at one time: pressure (m) per junction name, flow (m³/h) per link name."""

    pressure_m: Mapping[str, float]
    flow_m3_h: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A junction or pipe with its similarity to the residual (1 = same direction)."""

    name: str
    score: float


@dataclass(frozen=True)
class Localisation:
    """Candidates best first, and the residual that ranked them (readings − baseline, m and m³/h)."""

    junctions: tuple[Candidate, ...]
    pipes: tuple[Candidate, ...]
    residual: dict[str, float]

    def top_junctions(self, k: int) -> tuple[str, ...]:
        return tuple(c.name for c in self.junctions[:k])

    def top_pipes(self, k: int) -> tuple[str, ...]:
        return tuple(c.name for c in self.pipes[:k])


class _SinglePeriod:
    """One EPANET project held open on a prepared copy of the model, for many runs of the same period.

    ``sample_offsets_s``: times (s from the run's start) whose sensor values are averaged; ``(0,)`` for a
    single period.
    """

    def __init__(
        self,
        project: Any,
        pressure_sensors: Sequence[str],
        flow_sensors: Sequence[str],
        sample_offsets_s: Sequence[int] = (0,),
    ) -> None:
        from wntr.epanet.util import EN

        self._en, self._codes = project, EN
        self._pressure_index = [project.ENgetnodeindex(name) for name in pressure_sensors]
        self._flow_index = [project.ENgetlinkindex(name) for name in flow_sensors]
        self._offsets = tuple(sample_offsets_s)
        self.watched_node: int | None = None  # its outflow is averaged over the samples too
        self.watched_outflow_m3_h = 0.0

    def node_index(self, name: str) -> int:
        return int(self._en.ENgetnodeindex(name))

    def set_emitter(self, node_index: int, coefficient_m3_h: float) -> None:
        self._en.ENsetnodevalue(node_index, self._codes.EMITTER, coefficient_m3_h)

    def outflow_m3_h(self, node_index: int) -> float:
        """What leaves the network at a node in the last run: its demand plus its emitter's flow."""
        return float(self._en.ENgetnodevalue(node_index, self._codes.DEMAND))

    def _read(self) -> np.ndarray:
        en, codes = self._en, self._codes
        pressures = [en.ENgetnodevalue(i, codes.PRESSURE) for i in self._pressure_index]
        flows = [en.ENgetlinkvalue(i, codes.FLOW) for i in self._flow_index]
        return np.array(pressures + flows, dtype=float)

    def solve(self) -> np.ndarray:
        """Pressures (m) then flows (m³/h) at the sensors, in the sensors' order, averaged over the samples."""
        en = self._en
        en.ENinitH(0)
        wanted, total, outflow = set(self._offsets), None, 0.0
        while True:
            now_s = en.ENrunH()
            if now_s in wanted:  # EPANET steps on every pattern step (5 min in L-Town): samples are hit
                wanted.discard(now_s)
                values = self._read()
                total = values if total is None else total + values
                if self.watched_node is not None:
                    outflow += self.outflow_m3_h(self.watched_node)
            if not wanted or en.ENnextH() <= 0:
                break
        if wanted or total is None:
            raise InvalidInput(f"the hydraulic run never reached sample times {sorted(wanted)} s")
        self.watched_outflow_m3_h = outflow / len(self._offsets)
        return total / len(self._offsets)


@contextmanager
def _single_period(
    model: Any,
    pressure_sensors: Sequence[str],
    flow_sensors: Sequence[str],
    sample_offsets_s: Sequence[int] = (0,),
) -> Iterator[_SinglePeriod]:
    """Write ``model`` (prepared by :func:`period_model`) to a throwaway folder and open it with EPANET."""
    import wntr
    from wntr.epanet import toolkit

    with tempfile.TemporaryDirectory(prefix="hyperviseur-leaks-") as folder:
        prefix = str(Path(folder) / "run")
        # CMH: the toolkit then speaks m³/h for flows and emitter coefficients, m for pressures.
        wntr.network.write_inpfile(model, prefix + ".inp", units="CMH")
        project = toolkit.ENepanet()
        project.ENopen(prefix + ".inp", prefix + ".rpt", prefix + ".bin")
        try:
            project.ENopenH()
            try:
                yield _SinglePeriod(project, pressure_sensors, flow_sensors, sample_offsets_s)
            finally:
                project.ENcloseH()
        finally:
            project.ENclose()


def single_period_model(wn: Any, time_s: int, settings: HydraulicSettings) -> Any:
    """A copy of ``wn`` with the PDD options of ``settings``, run for one period at ``time_s`` of its patterns."""
    if not isinstance(time_s, int) or isinstance(time_s, bool) or not 0 <= time_s < WEEK_S:
        raise InvalidInput(f"time_s must be whole seconds within a week (0 … 604799), not {time_s!r}")
    model = prepare_model(wn, settings)
    model.options.time.duration = 0
    model.options.time.pattern_start = time_s
    return model


def sample_times(time_s: int | Sequence[int]) -> tuple[int, ...]:
    """Checked sample times: one time (single period) or several, increasing, on 5-minute steps.

    Examples
    --------
    >>> sample_times(10800), sample_times([7200, 10800])
    ((10800,), (7200, 10800))
    """
    if isinstance(time_s, int) and not isinstance(time_s, bool):
        times: tuple[int, ...] = (time_s,)
    elif isinstance(time_s, Sequence) and not isinstance(time_s, str):
        times = tuple(time_s)
    else:
        raise InvalidInput(f"time_s must be whole seconds or a list of them, not {time_s!r}")
    if not times or not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        raise InvalidInput(f"time_s must be whole seconds or a list of them, not {time_s!r}")
    if len(times) == 1:
        if not 0 <= times[0] < WEEK_S:
            raise InvalidInput(f"time_s must be whole seconds within a week (0 … 604799), not {times[0]!r}")
        return times
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise InvalidInput(f"multi-period time_s must increase, not {list(times)}")
    if times[0] < MULTI_PERIOD_LEAD_S or times[-1] >= WEEK_S or any(t % 300 for t in times):
        raise InvalidInput(
            f"multi-period time_s must be multiples of 300 s between {MULTI_PERIOD_LEAD_S} and {WEEK_S - 1}, "
            f"not {list(times)}"
        )
    return times


def period_model(wn: Any, times_s: Sequence[int], settings: HydraulicSettings) -> tuple[Any, tuple[int, ...]]:
    """A prepared copy of ``wn`` for :func:`sample_times` ``times_s``, and the samples' offsets in its run.

    One time: a single period at it. Several: an extended-period run from ``MULTI_PERIOD_LEAD_S`` before the
    first to the last (tanks start at the model's initial levels), sampled at each.
    """
    if len(times_s) == 1:
        return single_period_model(wn, times_s[0], settings), (0,)
    start_s = times_s[0] - MULTI_PERIOD_LEAD_S
    model = prepare_model(wn, settings)
    model.options.time.duration = times_s[-1] - start_s
    model.options.time.pattern_start = start_s
    model.options.time.report_timestep = 300
    return model, tuple(t - start_s for t in times_s)


class LeakLocator:
    """The baseline and the leak signatures of every junction at the sensors, computed once per model.

    Parameters
    ----------
    wn : wntr.network.WaterNetworkModel
        The hydraulic model (never modified); ``network`` must be its graph.
    network : WaterNetwork
        Gives the pipes that meet at each junction.
    pressure_sensors : sequence of str
        Junction names where pressure is measured (may be empty when flows are measured).
    flow_sensors : sequence of str
        Pipe, pump or valve names where flow is measured (may be empty).
    time_s : int or sequence of int
        Time of the model's patterns at which baseline and signatures are computed (single period), or
        several night times whose values are averaged over one extended-period run (multi-period, e.g.
        :data:`NIGHT_TIMES_S`).
    unit_emitter_m3_h : float
        Emitter coefficient of the unit leak, m³/h per √m (1 ≈ 7 m³/h at 50 m).
    noise : SensorNoise
        Weighs pressures against flows (each residual is divided by its sensor's noise).
    """

    def __init__(
        self,
        wn: Any,
        network: WaterNetwork,
        pressure_sensors: Sequence[str] = BATTLEDIM_PRESSURE_SENSORS,
        flow_sensors: Sequence[str] = BATTLEDIM_FLOW_SENSORS,
        *,
        time_s: int | Sequence[int] = NIGHT_TIME_S,
        unit_emitter_m3_h: float = 1.0,
        noise: SensorNoise | None = None,
        settings: HydraulicSettings | None = None,
    ) -> None:
        self.pressure_sensors, self.flow_sensors = check_sensors(wn, pressure_sensors, flow_sensors)
        if set(network.node_names) != set(wn.node_name_list):
            raise InvalidInput(
                f"the graph of {network.source} does not have the model's nodes: build it with network_from_wntr(wn)"
            )
        if not isinstance(unit_emitter_m3_h, int | float) or not (0 < unit_emitter_m3_h < math.inf):
            raise InvalidInput(f"unit_emitter_m3_h must be a positive number, not {unit_emitter_m3_h!r}")
        self.network, self.times_s = network, sample_times(time_s)
        self.time_s = self.times_s[0]
        self.noise = noise or SensorNoise()
        self.settings = settings or HydraulicSettings()
        self.weights = np.array(
            [1 / self.noise.pressure_m] * len(self.pressure_sensors)
            + [1 / self.noise.flow_m3_h] * len(self.flow_sensors)
        )
        self.candidates: tuple[str, ...] = tuple(wn.junction_name_list)
        started = time.perf_counter()
        model, offsets = period_model(wn, self.times_s, self.settings)
        with _single_period(model, self.pressure_sensors, self.flow_sensors, offsets) as run:
            self.baseline = run.solve()
            signatures = np.empty((len(self.candidates), len(self.baseline)))
            for row, name in enumerate(self.candidates):
                index = run.node_index(name)
                run.set_emitter(index, unit_emitter_m3_h)
                signatures[row] = run.solve() - self.baseline
                run.set_emitter(index, 0.0)  # L-Town has no emitters of its own to restore
        self.build_time_s = time.perf_counter() - started
        self.signatures = signatures  # raw: m and m³/h per unit leak
        weighted = signatures * self.weights
        norms = np.linalg.norm(weighted, axis=1, keepdims=True)
        # A junction no sensor sees (norm 0) can never be told apart: its unit vector stays 0, score 0.
        self._unit_signatures = np.divide(weighted, norms, out=np.zeros_like(weighted), where=norms > 0)
        pipe_links = [i for i, kind in enumerate(network.link_kind) if kind == "pipe"]
        self._pipe_names = tuple(network.link_names[i] for i in pipe_links)
        self._pipe_start, self._pipe_end = network.link_start[pipe_links], network.link_end[pipe_links]
        self._candidate_node = np.array([network.node_index[name] for name in self.candidates])

    @property
    def sensor_names(self) -> tuple[str, ...]:
        return self.pressure_sensors + self.flow_sensors

    def readings_from_residual(self, residual: Mapping[str, float]) -> SensorReadings:
        """The readings the model's baseline plus ``residual`` (per sensor name, m or m³/h) would give.

        For residuals measured elsewhere (e.g. SCADA against its own leak-free baseline, not the model): the
        ranking then compares that residual with the model's signatures. Sensors left out count as 0.
        """
        unknown = sorted(set(residual) - set(self.sensor_names))
        if unknown:
            raise InvalidInput(f"residual for sensors the locator does not know: {', '.join(unknown[:5])}")
        values = self.baseline + np.array([float(residual.get(name, 0.0)) for name in self.sensor_names])
        n = len(self.pressure_sensors)
        return SensorReadings(
            dict(zip(self.pressure_sensors, values[:n].tolist(), strict=True)),
            dict(zip(self.flow_sensors, values[n:].tolist(), strict=True)),
        )

    def residual_of(self, readings: SensorReadings) -> np.ndarray:
        """Readings − baseline, in sensor order (m then m³/h); a clear error for missing or unknown sensors."""
        values = []
        for kind, expected, given in (
            ("pressure", self.pressure_sensors, readings.pressure_m),
            ("flow", self.flow_sensors, readings.flow_m3_h),
        ):
            unknown = sorted(set(given) - set(expected))
            if unknown:
                raise InvalidInput(
                    f"{kind} readings for sensors the locator does not know: {', '.join(unknown[:5])} "
                    f"(known: {', '.join(expected[:5])}…) / relevés de {kind} pour des capteurs inconnus"
                )
            missing = [name for name in expected if name not in given]
            if missing:
                raise InvalidInput(
                    f"{len(missing)} {kind} sensors have no reading: {', '.join(missing[:5])} / "
                    f"{len(missing)} capteurs sans relevé"
                )
            for name in expected:
                value = given[name]
                if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                    raise InvalidInput(f"{kind} reading of {name} must be a finite number, not {value!r}")
                values.append(float(value))
        return np.array(values) - self.baseline

    def locate(self, readings: SensorReadings) -> Localisation:
        """Rank junctions and pipes by how well their leak signature matches the readings' residual.

        Raises
        ------
        InvalidInput
            A sensor without a reading, a reading for an unknown sensor, a value that is not a finite number,
            or readings equal to the baseline (nothing to locate).
        """
        residual = self.residual_of(readings)
        weighted = residual * self.weights
        norm = float(np.linalg.norm(weighted))
        if norm == 0.0:
            raise InvalidInput(
                "the readings equal the model's baseline: no residual, nothing to locate / "
                "les relevés égalent la référence du modèle : aucun écart, rien à localiser"
            )
        scores = self._unit_signatures @ (weighted / norm)
        order = np.argsort(-scores, kind="stable")
        junctions = tuple(Candidate(self.candidates[i], float(scores[i])) for i in order)
        node_score = np.full(self.network.n_nodes, -np.inf)
        node_score[self._candidate_node] = scores
        start_score, end_score = node_score[self._pipe_start], node_score[self._pipe_end]
        pipe_scores, other_end = np.maximum(start_score, end_score), np.minimum(start_score, end_score)
        # Pipes meeting at the best node tie on their best end: the score of the other end breaks the tie.
        pipe_order = np.lexsort((-other_end, -pipe_scores))
        pipes = tuple(Candidate(self._pipe_names[i], float(pipe_scores[i])) for i in pipe_order)
        return Localisation(junctions, pipes, dict(zip(self.sensor_names, residual.tolist(), strict=True)))


def check_sensors(
    wn: Any, pressure_sensors: Sequence[str], flow_sensors: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sensor names as tuples, each checked against the model.

    Raises
    ------
    InvalidInput
        No sensor at all, a name given twice, a pressure sensor on a tank or reservoir.
    NotFound
        A name that is no junction (pressure) or no link (flow) of the model.
    """
    if isinstance(pressure_sensors, str) or isinstance(flow_sensors, str):
        raise InvalidInput("sensors must be lists of names, not one string")
    pressure, flow = tuple(pressure_sensors), tuple(flow_sensors)
    if not pressure and not flow:
        raise InvalidInput(
            "at least one pressure or flow sensor is needed to locate a leak / "
            "il faut au moins un capteur de pression ou de débit pour localiser une fuite"
        )
    for kind, names in (("pressure", pressure), ("flow", flow)):
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInput(f"{kind} sensors given twice: {', '.join(map(str, twice))}")
    nodes, junctions, links = set(wn.node_name_list), set(wn.junction_name_list), set(wn.link_name_list)
    for name in pressure:
        if name not in nodes:
            raise NotFound(
                f"pressure sensor {name!r}: no junction of that name in the hydraulic model / "
                f"capteur de pression {name!r} : aucun nœud de ce nom dans le modèle"
            )
        if name not in junctions:
            raise InvalidInput(
                f"pressure sensor {name!r} is on a tank or reservoir: only junctions are supported"
            )
    for name in flow:
        if name not in links:
            raise NotFound(
                f"flow sensor {name!r}: no pipe, pump or valve of that name in the hydraulic model / "
                f"débitmètre {name!r} : aucune conduite, pompe ou vanne de ce nom dans le modèle"
            )
    return pressure, flow


def orifice_emitter_m3_h(area_m2: float, discharge_coeff: float = 0.75) -> float:
    """EPANET emitter coefficient (m³/h per √m) of an orifice: ``Q = Cd·A·√(2·g·p)``, as wntr's leak model.

    Examples
    --------
    >>> round(orifice_emitter_m3_h(1e-4), 3)
    1.196
    """
    return discharge_coeff * area_m2 * math.sqrt(2 * GRAVITY_M_S2) * SECONDS_PER_HOUR


def simulate_leak_readings(
    locator: LeakLocator,
    wn: Any,
    pipe: str,
    *,
    area_m2: float,
    split_at: float = 0.5,
    rng: np.random.Generator | None = None,
) -> tuple[SensorReadings, float]:
    """Readings at ``locator``'s sensors with a leak in ``pipe`` (plus Gaussian noise if ``rng``), and its flow.

    The pipe is split at ``split_at`` (``wntr.morph.split_pipe`` on a copy) and an emitter with the orifice law
    of ``area_m2`` opens at the new node; one EPANET run over ``locator.times_s`` (values averaged, and the
    noise of an average of n readings is σ/√n).

    Returns
    -------
    (SensorReadings, float)
        The readings, and the leak's outflow in m³/h.
    """
    import wntr

    if pipe not in set(wn.pipe_name_list):
        raise NotFound(f"no pipe named {pipe!r} in the hydraulic model / aucune conduite nommée {pipe!r}")
    if not isinstance(area_m2, int | float) or not (0 < area_m2 < math.inf):
        raise InvalidInput(f"leak area_m2 must be a positive number of m², not {area_m2!r}")
    if not (isinstance(split_at, int | float) and 0 < split_at < 1):
        raise InvalidInput(f"split_at must be strictly between 0 and 1, not {split_at!r}")
    leak_node = f"{pipe}_leak"
    split = wntr.morph.split_pipe(wn, pipe, f"{pipe}_b", leak_node, split_at_point=split_at, return_copy=True)
    model, offsets = period_model(split, locator.times_s, locator.settings)
    with _single_period(model, locator.pressure_sensors, locator.flow_sensors, offsets) as run:
        index = run.node_index(leak_node)
        run.set_emitter(index, orifice_emitter_m3_h(area_m2))
        run.watched_node = index  # the new node has no demand of its own: all of its outflow is the leak
        values = run.solve()
        leak_m3_h = run.watched_outflow_m3_h
    if rng is not None:
        noise = rng.normal(0.0, 1.0, len(values)) / locator.weights / math.sqrt(len(locator.times_s))
        values = values + noise
    n_pressure = len(locator.pressure_sensors)
    readings = SensorReadings(
        dict(zip(locator.pressure_sensors, values[:n_pressure].tolist(), strict=True)),
        dict(zip(locator.flow_sensors, values[n_pressure:].tolist(), strict=True)),
    )
    return readings, leak_m3_h


@dataclass(frozen=True)
class LeakTrial:
    """One injected leak and where the locator ranked it (1 = first; pipe rank, and best end-node rank)."""

    pipe: str
    area_m2: float
    leak_m3_h: float
    pipe_rank: int
    junction_rank: int
    locate_time_s: float


@dataclass(frozen=True)
class LeakEvaluation:
    """Hit rates over random leaks: share of trials with the true pipe (or one of its end nodes) in the top k."""

    trials: tuple[LeakTrial, ...]

    def pipe_hit_rate(self, k: int) -> float:
        return float(np.mean([t.pipe_rank <= k for t in self.trials]))

    def junction_hit_rate(self, k: int) -> float:
        return float(np.mean([t.junction_rank <= k for t in self.trials]))


def evaluate_localisation(
    locator: LeakLocator,
    wn: Any,
    *,
    n_leaks: int = 20,
    seed: int = 0,
    area_range_m2: tuple[float, float] = (0.5e-4, 3e-4),
) -> LeakEvaluation:
    """Inject ``n_leaks`` leaks on random pipes (seeded), with noisy readings, and rank each.

    Areas are uniform in ``area_range_m2`` (default 0.5–3 cm²: about 4–25 m³/h at L-Town's pressures, the size
    of BattLeDIM's leaks).
    """
    if not isinstance(n_leaks, int) or isinstance(n_leaks, bool) or n_leaks < 1:
        raise InvalidInput(f"n_leaks must be a positive whole number, not {n_leaks!r}")
    low, high = area_range_m2
    if not 0 < low <= high:
        raise InvalidInput(f"area_range_m2 must be (low, high) with 0 < low ≤ high, not {area_range_m2!r}")
    rng = np.random.default_rng(seed)
    pipes = sorted(wn.pipe_name_list)
    trials = []
    for pipe in rng.choice(pipes, size=n_leaks, replace=False):
        area = float(rng.uniform(low, high))
        readings, leak_m3_h = simulate_leak_readings(locator, wn, str(pipe), area_m2=area, rng=rng)
        started = time.perf_counter()
        result = locator.locate(readings)
        elapsed = time.perf_counter() - started
        link = locator.network.link_of(str(pipe))
        ends = {
            locator.network.node_names[locator.network.link_start[link]],
            locator.network.node_names[locator.network.link_end[link]],
        }
        pipe_rank = 1 + [c.name for c in result.pipes].index(str(pipe))
        junction_rank = 1 + min(
            (i for i, c in enumerate(result.junctions) if c.name in ends), default=len(result.junctions)
        )
        trials.append(LeakTrial(str(pipe), area, leak_m3_h, pipe_rank, junction_rank, elapsed))
    return LeakEvaluation(tuple(trials))
