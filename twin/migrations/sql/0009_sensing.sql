-- Live sensing: the kinds of sensor (unit, plausible range, expected interval), readings stored by time
-- (monthly range partitions, BRIN on time, one row per sensor and instant: a reading delivered twice is
-- stored once), and the readings refused with the reason.

CREATE SCHEMA sensing;

-- What a sensor measures. `valid_min`/`valid_max` bound what the instrument can physically report: a value
-- outside is refused (rejected table), not stored. Detection thresholds (regulatory or local) live elsewhere.
CREATE TABLE sensing.kinds (
    kind                text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    unit                text NOT NULL,
    title_fr            text NOT NULL,
    title_en            text NOT NULL,
    valid_min           double precision,
    valid_max           double precision,
    -- How often a healthy sensor of this kind reports: the basis of gap and uptime rules.
    expected_interval_s integer NOT NULL CHECK (expected_interval_s > 0),
    CHECK (valid_min IS NULL OR valid_max IS NULL OR valid_min < valid_max)
);
COMMENT ON TABLE sensing.kinds IS 'Sensor kinds: unit, physically plausible range, expected reporting interval';

INSERT INTO sensing.kinds (kind, unit, title_fr, title_en, valid_min, valid_max, expected_interval_s) VALUES
    ('no2',             'µg/m³', 'Dioxyde d''azote (NO2)',          'Nitrogen dioxide (NO2)',      0, 2000,  3600),
    ('pm10',            'µg/m³', 'Particules PM10',                 'Particulate matter PM10',     0, 2000,  3600),
    ('pm2_5',           'µg/m³', 'Particules PM2,5',                'Particulate matter PM2.5',    0, 1500,  3600),
    ('o3',              'µg/m³', 'Ozone (O3)',                      'Ozone (O3)',                  0, 1000,  3600),
    ('traffic_count',   'veh/h', 'Comptage routier',                'Traffic count',               0, 20000, 3600),
    ('traffic_speed',   'km/h',  'Vitesse du trafic',               'Traffic speed',               0, 300,   3600),
    ('water_flow',      'm³/h',  'Débit d''eau',                    'Water flow',            -100000, 100000, 300),
    ('water_pressure',  'm',     'Pression d''eau (hauteur)',       'Water pressure (head)',     -10, 300,   300),
    ('tank_level',      'm',     'Niveau de réservoir',             'Tank level',                  0, 100,   300),
    ('river_level',     'm',     'Hauteur de cours d''eau',         'River level',               -20, 50,    900),
    ('rainfall',        'mm',    'Pluviométrie',                    'Rainfall',                    0, 500,   900),
    ('light_state',     '1',     'État de l''éclairage (0/1)',      'Street-light state (0/1)',    0, 1,     900),
    ('light_power',     'W',     'Puissance de l''éclairage',       'Street-light power',          0, 5000,  900),
    ('building_energy', 'kWh',   'Consommation du bâtiment',        'Building energy use',         0, 1e7,   3600),
    ('noise',           'dB(A)', 'Bruit',                           'Noise',                       0, 200,   900),
    ('temperature',     '°C',    'Température',                     'Temperature',               -60, 70,    900);

-- Readings: one row per sensor and observation instant. The primary key makes ingestion idempotent
-- (INSERT … ON CONFLICT DO NOTHING); it includes observed_at because a partitioned table's keys must.
CREATE TABLE sensing.readings (
    sensor_id    bigint NOT NULL REFERENCES twin.sensors ON DELETE CASCADE,
    observed_at  timestamptz NOT NULL,
    value        double precision NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, observed_at)
) PARTITION BY RANGE (observed_at);
COMMENT ON TABLE sensing.readings IS 'Sensor readings, monthly partitions created on demand by sensing.ensure_partition';

-- Monthly partitions, created when a month is first written (the ingester calls this once per new month).
-- No DEFAULT partition: a row would sit there and block creating its month later.
CREATE FUNCTION sensing.ensure_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    name text := 'readings_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass('sensing.' || name) IS NULL THEN
        -- Two ingesters may race for a new month: one creates it, the other finds it.
        PERFORM pg_advisory_xact_lock(hashtext('sensing.ensure_partition'));
        IF to_regclass('sensing.' || name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE sensing.%I PARTITION OF sensing.readings FOR VALUES FROM (%L) TO (%L)',
                name, month_start, month_start + interval '1 month');
            -- Readings arrive roughly in time order: a BRIN index on time is tiny and serves range scans.
            EXECUTE format('CREATE INDEX %I ON sensing.%I USING brin (observed_at)', name || '_brin', name);
            -- and on arrival time: the incremental rollup (migration 0013) reads "received since".
            EXECUTE format('CREATE INDEX %I ON sensing.%I USING brin (received_at)', name || '_received_brin', name);
        END IF;
    END IF;
    RETURN name;
END $$;
COMMENT ON FUNCTION sensing.ensure_partition(timestamptz) IS 'Create the monthly partition holding this instant (idempotent)';

-- Readings refused by validation, with the reason and the raw input, for operators and data-quality rules.
CREATE TABLE sensing.rejected (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL CHECK (source IN ('mqtt', 'http', 'file')),
    -- MQTT topic, HTTP route or file name and line.
    origin       text NOT NULL,
    sensor_id    bigint,
    payload      text NOT NULL,
    reason       text NOT NULL
);
CREATE INDEX rejected_received_brin ON sensing.rejected USING brin (received_at);
COMMENT ON TABLE sensing.rejected IS 'Readings refused at ingestion, with the reason; never blocks the pipeline';

-- The newest reading of each sensor, kept by the ingester, for the console and staleness rules.
CREATE TABLE sensing.latest (
    sensor_id    bigint PRIMARY KEY REFERENCES twin.sensors ON DELETE CASCADE,
    observed_at  timestamptz NOT NULL,
    value        double precision NOT NULL,
    -- When this row last changed: a live client that reconnects gets the sensors updated since it left.
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX latest_updated_idx ON sensing.latest (updated_at);
