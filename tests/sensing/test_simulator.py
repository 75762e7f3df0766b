"""The demo simulator: its daily and weekly patterns, faults and incidents, and readings through real MQTT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from sensing import simulator as sim
from sensing.demo_sensors import DEMO_PLAN, ensure_demo_sensors
from sensing.mqtt import MqttIngester
from twin.broker import EmbeddedBroker, host_port_from_url
from twin.errors import InvalidInput

HELSINKI = ZoneInfo("Europe/Helsinki")
# A Monday in March, local time.
MONDAY = datetime(2024, 3, 4, tzinfo=HELSINKI)
SUNDAY = MONDAY + timedelta(days=6)


def _sensor(kind: str, scale: float = 1.0, sensor_id: int = 1, site: str = "s1") -> sim.SimSensor:
    return sim.SimSensor(sensor_id, kind, 60.17, 24.94, scale, HELSINKI, site)


def _at(day: datetime, hour: float) -> datetime:
    return day + timedelta(hours=hour)


# ------------------------------------------------------------------------------------------ patterns


def test_traffic_peaks_on_weekday_mornings_and_evenings_and_is_flatter_at_weekends() -> None:
    count = _sensor("traffic_count", 1000)
    value = {h: sim.expected_value(count, _at(MONDAY, h)) for h in (3, 8, 12, 17.5, 22)}
    assert value[8] > value[12] > value[3]
    assert value[17.5] > value[12] > value[22] > value[3]
    assert value[8] > 5 * value[3]
    sunday = {h: sim.expected_value(count, _at(SUNDAY, h)) for h in (8, 14)}
    assert sunday[8] < value[8] / 2
    assert sunday[14] > sunday[8]
    speed = _sensor("traffic_speed", 50)
    assert sim.expected_value(speed, _at(MONDAY, 8)) < sim.expected_value(speed, _at(MONDAY, 3)) <= 50
    # NO2 and noise follow traffic
    for kind in ("no2", "noise"):
        assert sim.expected_value(_sensor(kind), _at(MONDAY, 8)) > sim.expected_value(
            _sensor(kind), _at(MONDAY, 3)
        )


def test_street_lights_burn_from_dusk_to_dawn() -> None:
    light = _sensor("light_state")
    power = _sensor("light_power", 150)
    for day in (datetime(2024, 1, 15, tzinfo=HELSINKI), datetime(2024, 6, 15, tzinfo=HELSINKI)):
        assert sim.expected_value(light, _at(day, 12)) == 0.0
        assert sim.expected_value(power, _at(day, 12)) < 1
    winter = datetime(2024, 1, 15, tzinfo=HELSINKI)
    assert sim.expected_value(light, _at(winter, 17)) == 1.0  # Helsinki: dark by 16:00 in January
    assert sim.expected_value(light, _at(winter, 2)) == 1.0
    assert sim.expected_value(power, _at(winter, 20)) == 150.0
    assert sim.expected_value(power, _at(winter, 2)) == pytest.approx(90.0)  # dimmed after 23:00
    midsummer = datetime(2024, 6, 21, tzinfo=HELSINKI)
    assert sim.expected_value(light, _at(midsummer, 21)) == 0.0  # still light at 21:00 in June


def test_water_energy_weather_patterns() -> None:
    flow = _sensor("water_flow", 100)
    assert sim.expected_value(flow, _at(MONDAY, 7.5)) > 3 * sim.expected_value(flow, _at(MONDAY, 3.5))
    tank = _sensor("tank_level", 5)
    assert sim.expected_value(tank, _at(MONDAY, 5)) > sim.expected_value(tank, _at(MONDAY, 17))
    energy = _sensor("building_energy", 100)
    assert sim.expected_value(energy, _at(MONDAY, 11)) > 3 * sim.expected_value(energy, _at(SUNDAY, 11))
    o3 = _sensor("o3")
    july = datetime(2024, 7, 10, tzinfo=HELSINKI)
    assert sim.expected_value(o3, _at(july, 15)) > sim.expected_value(o3, _at(july, 6))
    assert sim.expected_value(o3, _at(july, 15)) > sim.expected_value(o3, _at(MONDAY, 15)) + 30
    temperature = _sensor("temperature")
    assert sim.expected_value(temperature, _at(MONDAY, 15)) > sim.expected_value(temperature, _at(MONDAY, 5))
    assert (
        sim.expected_value(temperature, _at(july, 12)) > sim.expected_value(temperature, _at(MONDAY, 12)) + 10
    )


# ------------------------------------------------------------------------- randomness, faults, incidents


def _sensors() -> list[sim.SimSensor]:
    kinds = [kind for _, kind, _ in DEMO_PLAN]
    scales = {
        "traffic_count": 900,
        "traffic_speed": 50,
        "water_flow": 100,
        "tank_level": 5,
        "light_power": 150,
    }
    return [
        _sensor(kind, scales.get(kind, 40 if kind == "building_energy" else 1), i, site=f"site{i % 3}")
        for i, kind in enumerate(kinds)
    ]


def _run(config: sim.SimulationConfig, hours: float) -> list[tuple[int, datetime, float]]:
    simulation = sim.Simulation(_sensors(), config)
    out: list[tuple[int, datetime, float]] = []
    start = MONDAY.astimezone(UTC)
    for k in range(int(hours * 3600 / config.step_s)):
        at = start + timedelta(seconds=k * config.step_s)
        out += [(s.id, at, v) for s, v in simulation.readings_at(at)]
    return out


def test_the_same_seed_gives_the_same_readings_another_seed_others() -> None:
    config = sim.SimulationConfig(seed=11, step_s=300, faults_per_sensor_day=2, incidents_per_day=20)
    first = _run(config, 48)
    assert first == _run(
        sim.SimulationConfig(seed=11, step_s=300, faults_per_sensor_day=2, incidents_per_day=20), 48
    )
    assert first != _run(
        sim.SimulationConfig(seed=12, step_s=300, faults_per_sensor_day=2, incidents_per_day=20), 48
    )


def test_without_faults_every_sensor_reports_every_step_within_its_range() -> None:
    config = sim.SimulationConfig(step_s=600, faults_per_sensor_day=0, incidents_per_day=0)
    readings = _run(config, 24)
    sensors = _sensors()
    assert len(readings) == len(sensors) * 24 * 6
    kinds = {s.id: s.kind for s in sensors}
    for sensor_id, _, value in readings:
        low, high = sim._RANGE[kinds[sensor_id]]
        assert low <= value <= high, (kinds[sensor_id], value)


def test_faults_make_sensors_silent_stuck_or_spiky() -> None:
    config = sim.SimulationConfig(step_s=300, faults_per_sensor_day=6, incidents_per_day=0)
    readings = _run(config, 48)
    sensors = _sensors()
    assert len(readings) < len(sensors) * 48 * 12  # some went silent
    by_sensor: dict[int, list[float]] = {}
    for sensor_id, _, value in readings:
        by_sensor.setdefault(sensor_id, []).append(value)
    noisy = [s for s in sensors if s.kind in ("traffic_count", "water_flow", "no2")]
    stuck_runs = sum(
        any(v[i] == v[i + 1] == v[i + 2] == v[i + 3] and v[i] > 0 for i in range(len(v) - 3))
        for v in (by_sensor[s.id] for s in noisy)
    )
    assert stuck_runs >= 1  # a noisy signal never repeats itself four times unless stuck


def test_incidents_leak_no2_episode_and_congestion_look_like_themselves() -> None:
    sensors = _sensors()
    simulation = sim.Simulation(
        sensors, sim.SimulationConfig(step_s=300, faults_per_sensor_day=0, incidents_per_day=0)
    )
    flow = next(s for s in sensors if s.kind == "water_flow")
    no2 = next(s for s in sensors if s.kind == "no2")
    speed = next(s for s in sensors if s.kind == "traffic_speed")
    start = MONDAY.astimezone(UTC)
    import random

    rng = random.Random(1)
    leak_at = start + timedelta(hours=24)
    values: dict[int, list[tuple[datetime, float]]] = {flow.id: [], no2.id: [], speed.id: []}
    for k in range(int(48 * 3600 / 300)):
        at = start + timedelta(seconds=300 * k)
        if at == leak_at:
            leak = simulation.start_incident("leak", flow, at, rng)
            leak.end = at + timedelta(hours=24)
            simulation.start_incident("no2_episode", no2, at + timedelta(hours=10), rng)
        if at == leak_at + timedelta(hours=10):
            simulation.start_incident("congestion", speed, at, rng)
        for sensor, value in simulation.readings_at(at):
            if sensor.id in values:
                values[sensor.id].append((at, value))

    def night_minimum(day: int) -> float:
        night = [
            v
            for at, v in values[flow.id]
            if at.astimezone(HELSINKI).day == MONDAY.day + day and 2 <= at.astimezone(HELSINKI).hour < 5
        ]
        return min(night)

    assert night_minimum(1) > 1.2 * night_minimum(0)  # the leak lifts the night minimum (by 30 %)
    episode = [v for at, v in values[no2.id] if v > 200]
    assert len(episode) * 300 >= 3600  # above 200 µg/m³ for an hour or more
    jam = [v for at, v in values[speed.id] if at >= leak_at + timedelta(hours=10)][:5]
    assert all(v < 15 for v in jam), jam
    with pytest.raises(ValueError, match="unknown incident"):
        simulation.start_incident("meteor", flow, start, rng)


def test_run_simulation_never_stamps_the_future_and_stops_at_until() -> None:
    simulation = sim.Simulation(_sensors()[:5], sim.SimulationConfig(step_s=60, faults_per_sensor_day=0))
    published: list[tuple[int, datetime, float]] = []
    now = datetime.now(UTC)
    stats = sim.run_simulation(
        simulation,
        lambda sensor, at, value: published.append((sensor, at, value)),
        start=now - timedelta(hours=1),
        speed=1e7,
        until=now - timedelta(minutes=10),
    )
    assert stats.steps in (50, 51)
    assert len(published) == 5 * stats.steps
    assert max(at for _, at, _ in published) <= now - timedelta(minutes=10)
    assert all(at.second == 0 for _, at, _ in published)  # on the minute grid
    with pytest.raises(InvalidInput, match="--speed must be positive"):
        sim.run_simulation(simulation, lambda *a: None, start=now, speed=0)


# ---------------------------------------------------------------------- demo sensors and real MQTT


@pytest.fixture()
def monaco_demo(monaco_url: str) -> Iterator[int]:
    """Monaco's territory id; its demo sensors (and their readings) are removed afterwards."""
    with psycopg.connect(monaco_url) as conn:
        territory = conn.execute("SELECT id FROM twin.territory WHERE name = 'Monaco'").fetchone()[0]
    yield territory
    with psycopg.connect(monaco_url) as conn:
        conn.execute(
            "DELETE FROM twin.sensors WHERE territory_id = %s AND attributes->>'demo' = 'true'", (territory,)
        )


def test_demo_sensors_stand_on_real_features_and_register_once(monaco_url: str, monaco_demo: int) -> None:
    with psycopg.connect(monaco_url) as conn:
        ids = ensure_demo_sensors(conn, monaco_demo, timezone="Europe/Monaco")
        conn.commit()
        again = ensure_demo_sensors(conn, monaco_demo)
        conn.commit()
        rows = conn.execute(
            "SELECT s.kind, s.asset_layer, s.asset_id, ST_DWithin(t.boundary::geography, s.geom::geography, 1) FROM twin.sensors s"
            " JOIN twin.territory t ON t.id = s.territory_id WHERE s.id = ANY(%s)",
            (ids,),
        ).fetchall()
        assets_exist = conn.execute(
            "SELECT count(*) FROM twin.sensors s WHERE s.id = ANY(%s) AND ("
            " (s.asset_layer = 'road_edges' AND EXISTS (SELECT 1 FROM twin.road_edges e WHERE e.id = s.asset_id))"
            " OR (s.asset_layer = 'buildings' AND EXISTS (SELECT 1 FROM twin.buildings b WHERE b.id = s.asset_id))"
            " OR (s.asset_layer = 'critical_sites' AND EXISTS (SELECT 1 FROM twin.critical_sites c WHERE c.id = s.asset_id))"
            " OR (s.asset_layer = 'street_lights' AND EXISTS (SELECT 1 FROM twin.street_lights l WHERE l.id = s.asset_id)))",
            (ids,),
        ).fetchone()[0]
    assert again == ids
    assert len(ids) == len(set(ids)) == sum(n for _, _, n in DEMO_PLAN)
    assert 30 <= len(ids) <= 60
    assert {r[0] for r in rows} == {kind for _, kind, _ in DEMO_PLAN}
    assert assets_exist == len(ids)  # every one on a feature that exists
    assert [r[:2] for r in rows if not r[3]] == []  # inside the territory (or on its edge)
    assert {r[1] for r in rows if r[0] == "traffic_count"} == {"road_edges"}


def test_simulated_readings_reach_the_database_through_mosquitto_for_every_demo_sensor(
    monaco_url: str, monaco_demo: int, broker: EmbeddedBroker
) -> None:
    host, port = host_port_from_url(broker.url())
    ingester = MqttIngester(
        monaco_url, host=host, port=port, prefix="hyperviseur", client_id="ingest-simulator-test"
    )
    ingester.start()
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        stats = sim.simulate(
            monaco_url,
            host=host,
            port=port,
            prefix="hyperviseur",
            territory_id=monaco_demo,
            speed=1e7,
            lookback_s=3 * 3600,
            until=now,
            config=sim.SimulationConfig(seed=3, step_s=60),
        )
        assert stats.published > 40 * 170
        deadline = time.monotonic() + 60
        while ingester.stats.totals.inserted + ingester.stats.totals.duplicates < stats.published:
            assert time.monotonic() < deadline, (ingester.stats, stats)
            time.sleep(0.1)
        assert ingester.wait_idle()
    finally:
        ingester.stop()
    with psycopg.connect(monaco_url) as conn:
        rows = conn.execute(
            "SELECT s.id, s.kind, count(r.*), (SELECT l.observed_at FROM sensing.latest l WHERE l.sensor_id = s.id)"
            " FROM twin.sensors s LEFT JOIN sensing.readings r ON r.sensor_id = s.id"
            " WHERE s.territory_id = %s AND s.attributes->>'demo' = 'true' GROUP BY s.id, s.kind",
            (monaco_demo,),
        ).fetchall()
        rejected = conn.execute(
            "SELECT count(*) FROM sensing.rejected r JOIN twin.sensors s ON s.id = r.sensor_id"
            " WHERE s.territory_id = %s",
            (monaco_demo,),
        ).fetchone()[0]
    assert len(rows) == sum(n for _, _, n in DEMO_PLAN)
    assert sum(r[2] for r in rows) == ingester.stats.totals.inserted == stats.published
    assert all(r[2] >= 60 for r in rows), [r for r in rows if r[2] < 60]  # 3 h of minutes, minus faults
    assert all(r[3] is not None and r[3] > now - timedelta(hours=3) for r in rows)
    assert rejected == 0
