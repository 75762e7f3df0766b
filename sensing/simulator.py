"""The demo's live simulator: realistic readings of the demo sensors, published to MQTT like real sensors.

Each kind follows its daily and weekly pattern in the territory's local time (traffic peaks on weekday
mornings and evenings, NO2 and noise following traffic, ozone peaking on summer afternoons, water use with a
night minimum and a morning peak, a tank filling at night, street lights on from dusk to dawn, buildings
using energy in opening hours…), plus noise, occasional sensor faults (silent for a while, stuck on one
value, a single outlier) and incidents (a leak raising a flow's night minimum by 30 %, an NO2 episode above
200 µg/m³ for an hour or more, a congestion below 15 km/h). Everything random is drawn from generators
seeded per sensor: the same seed and clock give the same readings.

The simulated clock starts ``lookback_s`` in the past and runs ``speed`` times faster than the wall clock
until it reaches now, then at the wall clock's pace: readings are never stamped in the future (the ingester
would refuse them), and a demo opens on hours of history.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
import psycopg

log = logging.getLogger(__name__)

# -------------------------------------------------------------------------------------------- patterns


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def traffic_ratio(local: datetime) -> float:
    """Share of a road's peak flow at this local time: two peaks on weekdays, a flatter midday hump at weekends.

    Examples
    --------
    >>> monday = datetime(2024, 3, 4, 8, 0)
    >>> traffic_ratio(monday) > 0.9 > 0.1 > traffic_ratio(monday.replace(hour=3))
    True
    """
    hour = local.hour + local.minute / 60 + local.second / 3600
    night = 0.04 + 0.03 * _bump(hour, 0, 2.5) + 0.03 * _bump(hour, 24, 2.5)
    if local.weekday() < 5:
        day = 0.95 * _bump(hour, 8.0, 1.1) + 0.9 * _bump(hour, 17.5, 1.4) + 0.5 * _bump(hour, 12.5, 3.0)
        if local.weekday() == 4:
            day += 0.15 * _bump(hour, 20, 2)  # Friday evening
    else:
        day = 0.55 * _bump(hour, 14.0, 3.5) + (0.1 * _bump(hour, 21, 2) if local.weekday() == 5 else 0)
    return min(1.05, night + day)


def water_ratio(local: datetime) -> float:
    """Flow as a share of the daily mean: minimum around 03:30, a morning peak at 07:30, a second in the evening.

    Examples
    --------
    >>> water_ratio(datetime(2024, 3, 4, 7, 30)) > 1.4 > 0.5 > water_ratio(datetime(2024, 3, 4, 3, 30))
    True
    """
    hour = local.hour + local.minute / 60
    late = 0.5 if local.weekday() >= 5 else 0.0  # people rise later at weekends
    return (
        0.35 + 1.25 * _bump(hour, 7.5 + late, 1.3) + 0.75 * _bump(hour, 13, 2.5) + 0.85 * _bump(hour, 20, 1.8)
    )


def night_minimum_ratio() -> float:
    """The flow's night minimum as a share of the daily mean (what a leak raises by 30 %)."""
    return 0.35


def tank_fraction(local: datetime) -> float:
    """How full a tank is: pumped at night (full about 05:00), drawn down by day (lowest about 17:00)."""
    hour = local.hour + local.minute / 60
    return 0.6 + 0.25 * math.cos(2 * math.pi * (hour - 5) / 24)


def open_ratio(local: datetime) -> float:
    """A public building's activity: weekdays 08:00–18:00, Saturday mornings, closed on Sunday."""
    hour = local.hour + local.minute / 60
    weekday = local.weekday()
    if weekday < 5:
        start, end = 8.0, 18.0
    elif weekday == 5:
        start, end = 9.0, 13.0
    else:
        return 0.0
    ramp = 0.5
    return max(0.0, min(1.0, (hour - start + ramp) / ramp, (end + ramp - hour) / ramp))


def solar_elevation_deg(at: datetime, lat: float, lon: float) -> float:
    """The sun's elevation above the horizon (degrees), to a fraction of a degree (NOAA's simple formulas).

    Examples
    --------
    >>> round(solar_elevation_deg(datetime(2024, 6, 21, 11, 50, tzinfo=UTC), 48.85, 2.35))  # Paris, solar noon
    65
    >>> solar_elevation_deg(datetime(2024, 12, 21, 23, 0, tzinfo=UTC), 48.85, 2.35) < -50
    True
    """
    utc = at.astimezone(UTC)
    day = utc.timetuple().tm_yday
    hour = utc.hour + utc.minute / 60 + utc.second / 3600
    gamma = 2 * math.pi / 365 * (day - 1 + (hour - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    solar_minutes = hour * 60 + eqtime + 4 * lon
    hour_angle = math.radians(solar_minutes / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


#: Street lights switch on when the sun is this far below the horizon (a light sensor's threshold in dusk).
LIGHTS_ON_BELOW_DEG = -3.0


def lights_on(at: datetime, lat: float, lon: float) -> bool:
    """Whether street lights burn: from dusk to dawn.

    Examples
    --------
    >>> lights_on(datetime(2024, 1, 15, 11, 0, tzinfo=UTC), 60.17, 24.94)  # Helsinki, winter noon
    False
    >>> lights_on(datetime(2024, 1, 15, 20, 0, tzinfo=UTC), 60.17, 24.94)
    True
    """
    return solar_elevation_deg(at, lat, lon) < LIGHTS_ON_BELOW_DEG


def _season(at: datetime) -> float:
    """-1 in mid-January, +1 in mid-July."""
    return -math.cos(2 * math.pi * (at.timetuple().tm_yday - 15) / 365.25)


# ------------------------------------------------------------------------------------------ the sensors


@dataclass(frozen=True)
class SimSensor:
    id: int
    kind: str
    lat: float
    lon: float
    #: Size of the signal (peak veh/h, free speed, kWh/h, W, m³/h, m…), from demo_sensors.sensor_scale.
    scale: float
    tz: ZoneInfo
    #: Sensors of one site (a roadside station) share incidents.
    site: str


def expected_value(sensor: SimSensor, at: datetime) -> float:
    """The value a healthy sensor reads at ``at``, before noise, faults and incidents (a pure function)."""
    local = at.astimezone(sensor.tz)
    kind, scale = sensor.kind, sensor.scale
    hour = local.hour + local.minute / 60
    traffic = traffic_ratio(local)
    if kind == "traffic_count":
        return scale * traffic
    if kind == "traffic_speed":
        return scale * (1 - 0.35 * traffic**2)
    if kind == "no2":
        return 14 + 48 * traffic + 6 * max(0.0, -_season(at))
    if kind == "pm10":
        return 13 + 10 * traffic + 5 * max(0.0, -_season(at))
    if kind == "pm2_5":
        return 7 + 6 * traffic + 4 * max(0.0, -_season(at))
    if kind == "o3":
        summer = max(0.0, _season(at))
        return 35 + (25 + 65 * summer) * _bump(hour, 15, 2.8) - 10 * traffic
    if kind == "noise":
        return 47 + 22 * traffic
    if kind == "water_flow":
        return scale * water_ratio(local)
    if kind == "water_pressure":
        return 52 - 9 * water_ratio(local)
    if kind == "tank_level":
        return scale * tank_fraction(local)
    if kind == "light_state":
        return 1.0 if lights_on(at, sensor.lat, sensor.lon) else 0.0
    if kind == "light_power":
        if not lights_on(at, sensor.lat, sensor.lon):
            return 0.5  # the controller's standby
        return scale * (0.6 if hour >= 23 or hour < 5 else 1.0)  # dimmed in the dead of night
    if kind == "building_energy":
        return scale * (0.25 + 0.75 * open_ratio(local))
    if kind == "temperature":
        annual = 32 - 0.45 * abs(sensor.lat)
        return annual + 10 * _season(at) + 4 * math.cos(2 * math.pi * (hour - 15) / 24)
    if kind == "river_level":
        return 1.2 + 0.25 * -_season(at)
    if kind == "rainfall":
        return 0.0
    return 0.0


#: Noise: (relative sd, absolute sd) per kind.
_NOISE: dict[str, tuple[float, float]] = {
    "traffic_count": (0.08, 2.0),
    "traffic_speed": (0.05, 1.0),
    "no2": (0.10, 1.0),
    "pm10": (0.10, 1.0),
    "pm2_5": (0.10, 0.5),
    "o3": (0.08, 1.0),
    "noise": (0.0, 1.5),
    "water_flow": (0.03, 0.2),
    "water_pressure": (0.0, 0.3),
    "tank_level": (0.0, 0.01),
    "light_power": (0.02, 0.0),
    "building_energy": (0.05, 0.5),
    "temperature": (0.0, 0.3),
    "river_level": (0.0, 0.01),
}

#: Physical range each kind is published within (inside sensing.kinds' valid range).
_RANGE: dict[str, tuple[float, float]] = {
    "traffic_count": (0, 20000),
    "traffic_speed": (0, 300),
    "no2": (0, 2000),
    "pm10": (0, 2000),
    "pm2_5": (0, 1500),
    "o3": (0, 1000),
    "noise": (20, 140),
    "water_flow": (0, 100000),
    "water_pressure": (-10, 300),
    "tank_level": (0, 100),
    "light_state": (0, 1),
    "light_power": (0, 5000),
    "building_energy": (0, 1e7),
    "temperature": (-60, 70),
    "river_level": (-20, 50),
    "rainfall": (0, 500),
}

#: (decimals) a sensor of the kind reports.
_DECIMALS = {"traffic_count": 0, "light_state": 0, "noise": 1, "temperature": 1}


# ------------------------------------------------------------------------------ faults and incidents


@dataclass
class Effect:
    """Something abnormal on one sensor from ``start`` to ``end`` (simulated time)."""

    name: str  # silent, stuck, outlier, leak, no2_episode, congestion, rain
    start: datetime
    end: datetime
    amount: float = 0.0


@dataclass
class SimulationConfig:
    seed: int = 7
    #: Simulated seconds between two readings of a sensor.
    step_s: int = 60
    #: Faults (silent, stuck, outlier) per sensor and simulated day.
    faults_per_sensor_day: float = 0.3
    #: Incidents (leak, NO2 episode, congestion) per simulated day, over the whole territory.
    incidents_per_day: float = 4.0
    #: Rain showers per rain gauge and simulated day.
    showers_per_day: float = 0.6


@dataclass
class _State:
    rng: random.Random
    effects: list[Effect] = field(default_factory=list)
    last: float | None = None


class Simulation:
    """Readings of the sensors step after step; ``readings_at(t)`` must be called with increasing ``t``.

    Faults and incidents are drawn per step from seeded generators: the same seed, sensors and steps give
    the same readings.
    """

    def __init__(self, sensors: list[SimSensor], config: SimulationConfig | None = None) -> None:
        self.sensors = sensors
        self.config = config or SimulationConfig()
        seed = self.config.seed
        self.states = {s.id: _State(random.Random(f"{seed}:{s.id}:{s.kind}")) for s in sensors}
        self.incident_rng = random.Random(f"{seed}:incidents")
        #: Incidents started so far: (name, sensor id, start, end).
        self.incidents: list[tuple[str, int, datetime, datetime]] = []

    # -- what goes wrong --------------------------------------------------------------------------------

    def _maybe_fault(self, sensor: SimSensor, state: _State, at: datetime) -> None:
        p = self.config.faults_per_sensor_day * self.config.step_s / 86400
        if state.rng.random() >= p:
            return
        choices = ["silent", "stuck"] if sensor.kind == "light_state" else ["silent", "stuck", "outlier"]
        name = state.rng.choice(choices)
        minutes = {"silent": (20, 120), "stuck": (30, 180), "outlier": (0, 0)}[name]
        duration = timedelta(minutes=state.rng.uniform(*minutes)) if name != "outlier" else timedelta(0)
        state.effects.append(Effect(name, at, at + duration, amount=state.rng.uniform(3, 5)))

    def _maybe_incident(self, at: datetime) -> None:
        p = self.config.incidents_per_day * self.config.step_s / 86400
        rng = self.incident_rng
        if rng.random() >= p:
            return
        options = {
            "leak": [s for s in self.sensors if s.kind == "water_flow"],
            "no2_episode": [s for s in self.sensors if s.kind == "no2"],
            "congestion": [s for s in self.sensors if s.kind == "traffic_speed"],
        }
        names = [n for n, found in options.items() if found]
        if not names:
            return
        name = rng.choice(names)
        sensor = rng.choice(options[name])
        self.start_incident(name, sensor, at, rng)

    def start_incident(self, name: str, sensor: SimSensor, at: datetime, rng: random.Random) -> Effect:
        """Start incident ``name`` on ``sensor`` (and the sensors of its site it affects) at ``at``."""
        if name == "leak":  # a lasting extra flow: the night minimum up by 30 %
            effect = Effect(name, at, at + timedelta(hours=rng.uniform(6, 36)), 0.3 * night_minimum_ratio())
        elif name == "no2_episode":
            effect = Effect(name, at, at + timedelta(minutes=rng.uniform(75, 180)), rng.uniform(215, 320))
        elif name == "congestion":
            effect = Effect(name, at, at + timedelta(minutes=rng.uniform(25, 90)), rng.uniform(5, 13))
        else:
            raise ValueError(f"unknown incident {name!r}: leak, no2_episode or congestion")
        targets = [sensor]
        if name == "congestion":  # the counter of the same road sees the jam too
            targets += [s for s in self.sensors if s.site == sensor.site and s.kind == "traffic_count"]
        for target in targets:
            self.states[target.id].effects.append(effect)
        self.incidents.append((name, sensor.id, effect.start, effect.end))
        return effect

    def _maybe_rain(self, state: _State, at: datetime) -> None:
        if state.rng.random() < self.config.showers_per_day * self.config.step_s / 86400:
            minutes = state.rng.uniform(30, 240)
            state.effects.append(
                Effect("rain", at, at + timedelta(minutes=minutes), state.rng.uniform(0.5, 9))
            )

    # -- readings -------------------------------------------------------------------------------------

    def readings_at(self, at: datetime) -> list[tuple[SimSensor, float]]:
        """The readings published at ``at`` (a silent sensor publishes nothing)."""
        self._maybe_incident(at)
        out: list[tuple[SimSensor, float]] = []
        for sensor in self.sensors:
            state = self.states[sensor.id]
            state.effects = [e for e in state.effects if e.end > at or e.start == at]
            self._maybe_fault(sensor, state, at)
            if sensor.kind == "rainfall":
                self._maybe_rain(state, at)
            value = self._value(sensor, state, at)
            if value is not None:
                out.append((sensor, value))
        return out

    def _value(self, sensor: SimSensor, state: _State, at: datetime) -> float | None:
        names = {e.name: e for e in state.effects}
        if "silent" in names:
            return None
        if "stuck" in names and state.last is not None:
            return state.last
        value = expected_value(sensor, at)
        if sensor.kind == "rainfall" and "rain" in names:
            value = names["rain"].amount * self.config.step_s / 3600  # mm fallen during the step
        relative, absolute = _NOISE.get(sensor.kind, (0.0, 0.0))
        if relative or absolute:
            value = value * (1 + state.rng.gauss(0, relative)) + state.rng.gauss(0, absolute)
        if "leak" in names:
            value += sensor.scale * names["leak"].amount
        if "no2_episode" in names:
            value = max(value, names["no2_episode"].amount * (1 + state.rng.gauss(0, 0.03)))
        if "congestion" in names:
            if sensor.kind == "traffic_speed":
                value = names["congestion"].amount * (1 + state.rng.gauss(0, 0.05))
            else:
                value *= 0.45  # a jam lets fewer vehicles through
        if "outlier" in names:
            value = value * names["outlier"].amount + 5
        low, high = _RANGE.get(sensor.kind, (-math.inf, math.inf))
        value = round(min(high, max(low, value)), _DECIMALS.get(sensor.kind, 2))
        state.last = value
        return value


# ------------------------------------------------------------------------------------------- the clock


@dataclass
class SimClock:
    """Simulated time: ``start`` plus ``speed`` × elapsed wall time, never ahead of the wall clock."""

    start: datetime
    speed: float
    wall_start: float = field(default_factory=time.monotonic)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def current(self) -> datetime:
        fast = self.start + timedelta(seconds=self.speed * (time.monotonic() - self.wall_start))
        return min(fast, self.now())


def steps(start: datetime, step_s: int) -> Iterator[datetime]:
    """Instants on the step grid (multiples of ``step_s`` since the epoch) from ``start`` on."""
    epoch = int(start.timestamp())
    first = epoch - epoch % step_s + (step_s if epoch % step_s else 0)
    at = datetime.fromtimestamp(first, tz=UTC)
    while True:
        yield at
        at += timedelta(seconds=step_s)


# ---------------------------------------------------------------------------------------- publishing


def load_demo_sensors(conn: psycopg.Connection, territory_id: int) -> list[SimSensor]:
    """The demo sensors of a territory (``attributes.demo``), as the simulator needs them."""
    rows = conn.execute(
        "SELECT id, kind, ST_Y(geom), ST_X(geom), attributes FROM twin.sensors"
        " WHERE territory_id = %s AND attributes->>'demo' = 'true' ORDER BY id",
        (territory_id,),
    ).fetchall()
    return [
        SimSensor(
            int(r[0]),
            str(r[1]),
            float(r[2]),
            float(r[3]),
            float(r[4].get("scale") or 1.0),
            ZoneInfo(str(r[4].get("timezone") or "Europe/Paris")),
            str(r[4].get("site") or r[0]),
        )
        for r in rows
    ]


def payload(at: datetime, value: float) -> bytes:
    """The MQTT payload of one reading (docs/sensing.md).

    Examples
    --------
    >>> payload(datetime(2024, 3, 4, 8, 0, tzinfo=UTC), 812.0)
    b'{"t":"2024-03-04T08:00:00+00:00","v":812.0}'
    """
    return orjson.dumps({"t": at.isoformat(), "v": value})


@dataclass
class SimStats:
    steps: int = 0
    published: int = 0
    last_step: datetime | None = None


class MqttPublisher:
    """A paho client publishing with QoS 1; messages wait in memory while the broker is away."""

    def __init__(
        self, host: str, port: int, *, prefix: str, client_id: str = "hyperviseur-simulator"
    ) -> None:
        self.prefix = prefix
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()
        self._last: mqtt.MQTTMessageInfo | None = None

    def publish(self, sensor_id: int, at: datetime, value: float) -> None:
        self._last = self.client.publish(
            f"{self.prefix}/sensors/{sensor_id}/readings", payload(at, value), qos=1
        )

    def close(self, *, timeout_s: float = 30.0) -> None:
        """Wait until what was published is acknowledged (in order: the last one closes the lot), then leave."""
        deadline = time.monotonic() + timeout_s
        if self._last is not None:
            while not self._last.is_published() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()


def run_simulation(
    simulation: Simulation,
    publish: Callable[[int, datetime, float], None],
    *,
    start: datetime,
    speed: float = 60.0,
    rate: float | None = None,
    until: datetime | None = None,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    clock: SimClock | None = None,
) -> SimStats:
    """Publish the simulation's readings step after step as the simulated clock reaches each step.

    Stops at ``until`` (simulated time), after ``duration_s`` of wall time, or when ``stop`` is set.
    ``rate`` caps readings per wall second (the simulated clock then lags, the readings stay the same).
    """
    if speed <= 0:
        from twin.errors import InvalidInput

        raise InvalidInput("--speed must be positive (60: an hour of simulated time per minute)")
    stop = stop or threading.Event()
    clock = clock or SimClock(start, speed)
    stats = SimStats()
    wall_start = time.monotonic()
    for at in steps(start, simulation.config.step_s):
        if until is not None and at > until:
            break
        while clock.current() < at:
            if stop.is_set() or (duration_s is not None and time.monotonic() - wall_start >= duration_s):
                return stats
            ahead_s = (at - clock.current()).total_seconds() / (speed if clock.current() < clock.now() else 1)
            stop.wait(min(0.5, max(0.001, ahead_s)))
        if stop.is_set() or (duration_s is not None and time.monotonic() - wall_start >= duration_s):
            break
        for sensor, value in simulation.readings_at(at):
            publish(sensor.id, at, value)
            stats.published += 1
            if rate is not None:
                wait = stats.published / rate - (time.monotonic() - wall_start)
                if wait > 0:
                    stop.wait(wait)
        stats.steps += 1
        stats.last_step = at
    return stats


def simulate(
    url: str,
    *,
    host: str,
    port: int,
    prefix: str,
    territory_id: int | None = None,
    config: SimulationConfig | None = None,
    speed: float = 60.0,
    rate: float | None = None,
    lookback_s: float = 24 * 3600,
    duration_s: float | None = None,
    until: datetime | None = None,
    stop: threading.Event | None = None,
    timezone: str | None = None,
) -> SimStats:
    """Register the demo sensors of the territory (the default one when not given) and publish their readings."""
    from sensing.demo_sensors import demo_territory, ensure_demo_sensors
    from twin.errors import NotFound

    with psycopg.connect(url) as conn:
        if territory_id is None:
            found = demo_territory(conn)
            if found is None:
                raise NotFound(
                    "no territory to simulate: import one first (hyperviseur demo imports Helsinki)"
                )
            territory_id = found[0]
        ensure_demo_sensors(conn, territory_id, timezone=timezone)
        conn.commit()
        sensors = load_demo_sensors(conn, territory_id)
    simulation = Simulation(sensors, config)
    publisher = MqttPublisher(host, port, prefix=prefix)
    start = datetime.now(UTC) - timedelta(seconds=lookback_s)
    log.info(
        "simulating %d demo sensors of territory %d from %s at %g×", len(sensors), territory_id, start, speed
    )
    try:
        return run_simulation(
            simulation,
            publisher.publish,
            start=start,
            speed=speed,
            rate=rate,
            until=until,
            duration_s=duration_s,
            stop=stop,
        )
    finally:
        publisher.close()


class SimulatorThread:
    """The simulator inside the server (``HYPERVISEUR_SENSING_SIMULATOR=true``, set by ``hyperviseur demo``)."""

    def __init__(self, url: str, *, host: str, port: int, prefix: str, speed: float = 60.0) -> None:
        self._stop = threading.Event()
        self._kwargs = {"host": host, "port": port, "prefix": prefix, "speed": speed}
        self._url = url
        self._thread = threading.Thread(target=self._run, name="sensing-simulator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                simulate(self._url, stop=self._stop, **self._kwargs)  # type: ignore[arg-type]
                return
            except Exception as exc:  # the database or the territory is not there yet: try again later
                log.warning("demo simulator not running (%s); retrying in %.0f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
