-- Detection: thresholds per kind (regulatory defaults where they exist) or per sensor, learned weekly
-- profiles (the weak signals), and the detections themselves, each explained in French and English and
-- attached to the incident it was correlated into.

-- Which roles see a kind's sensors, readings and detections (a layer visibility, twin/security/permissions.py):
-- the water network is critical infrastructure.
ALTER TABLE sensing.kinds ADD COLUMN visibility text NOT NULL DEFAULT 'internal'
    CHECK (visibility IN ('public', 'internal', 'restricted'));
UPDATE sensing.kinds SET visibility = 'restricted' WHERE kind IN ('water_flow', 'water_pressure', 'tank_level');
-- Incident category of a kind's detections.
ALTER TABLE sensing.kinds ADD COLUMN category text NOT NULL DEFAULT 'other';
UPDATE sensing.kinds SET category = CASE
    WHEN kind IN ('no2', 'pm10', 'pm2_5', 'o3') THEN 'air'
    WHEN kind IN ('traffic_count', 'traffic_speed') THEN 'traffic'
    WHEN kind IN ('water_flow', 'water_pressure', 'tank_level') THEN 'water'
    WHEN kind IN ('river_level', 'rainfall', 'temperature') THEN 'weather'
    WHEN kind IN ('light_state', 'light_power') THEN 'lighting'
    WHEN kind = 'building_energy' THEN 'energy'
    WHEN kind = 'noise' THEN 'security'
    ELSE 'other' END;

CREATE TABLE sensing.thresholds (
    id           serial PRIMARY KEY,
    -- Exactly one of kind (default for every sensor of the kind) and sensor_id (override for one sensor).
    kind         text REFERENCES sensing.kinds ON DELETE CASCADE,
    sensor_id    bigint REFERENCES twin.sensors ON DELETE CASCADE,
    severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'alert', 'critical')),
    direction    text NOT NULL CHECK (direction IN ('above', 'below')),
    value        double precision NOT NULL,
    -- Mean over this window before comparing (0: each reading; 3600: hourly mean; 86400: daily mean).
    averaging_s  integer NOT NULL DEFAULT 0 CHECK (averaging_s >= 0),
    -- The comparison must hold this long (e.g. the NO2 alert threshold: 3 consecutive hours).
    sustained_s  integer NOT NULL DEFAULT 0 CHECK (sustained_s >= 0),
    label_fr     text NOT NULL,
    label_en     text NOT NULL,
    source       text NOT NULL,
    CHECK ((kind IS NULL) <> (sensor_id IS NULL))
);
COMMENT ON TABLE sensing.thresholds IS 'Detection thresholds per kind (regulatory defaults) or per sensor';
CREATE INDEX thresholds_kind_idx ON sensing.thresholds (kind);
CREATE INDEX thresholds_sensor_idx ON sensing.thresholds (sensor_id);

-- Regulatory defaults: Directive 2008/50/CE (annexes XI, XII) and the French Code de l'environnement
-- (art. R221-1: seuils d'information et de recommandation, seuils d'alerte). Others are local defaults an
-- operator adjusts; their source says so.
INSERT INTO sensing.thresholds (kind, severity, direction, value, averaging_s, sustained_s, label_fr, label_en, source) VALUES
    ('no2',  'warning', 'above', 200, 3600, 0,     'Seuil d''information NO2 (moyenne horaire)', 'NO2 information threshold (hourly mean)', 'Code de l''environnement R221-1; directive 2008/50/CE annexe XI'),
    ('no2',  'alert',   'above', 400, 3600, 10800, 'Seuil d''alerte NO2 (3 h consécutives)',      'NO2 alert threshold (3 consecutive hours)', 'Directive 2008/50/CE annexe XII; Code de l''environnement R221-1'),
    ('pm10', 'warning', 'above', 50,  86400, 0,    'Seuil d''information PM10 (moyenne journalière)', 'PM10 information threshold (daily mean)', 'Code de l''environnement R221-1'),
    ('pm10', 'alert',   'above', 80,  86400, 0,    'Seuil d''alerte PM10 (moyenne journalière)',  'PM10 alert threshold (daily mean)',       'Code de l''environnement R221-1'),
    ('o3',   'warning', 'above', 180, 3600, 0,     'Seuil d''information O3 (moyenne horaire)',   'O3 information threshold (hourly mean)',  'Directive 2008/50/CE annexe XII; Code de l''environnement R221-1'),
    ('o3',   'alert',   'above', 240, 3600, 0,     'Seuil d''alerte O3 (moyenne horaire)',        'O3 alert threshold (hourly mean)',        'Directive 2008/50/CE annexe XII; Code de l''environnement R221-1'),
    ('pm2_5','info',    'above', 15,  86400, 0,    'Valeur guide OMS PM2,5 (moyenne journalière)', 'WHO PM2.5 guideline (daily mean)',       'OMS, lignes directrices 2021'),
    ('traffic_speed', 'warning', 'below', 15, 900, 900, 'Congestion (vitesse < 15 km/h pendant 15 min)', 'Congestion (speed < 15 km/h for 15 min)', 'local default'),
    ('tank_level', 'alert', 'below', 1.0, 0, 900,  'Réservoir presque vide',                      'Tank nearly empty',                       'local default'),
    ('water_pressure', 'warning', 'below', 20, 0, 600, 'Pression basse (< 2 bar)',               'Low pressure (< 2 bar)',                  'local default'),
    ('river_level', 'warning', 'above', 3.0, 0, 0, 'Crue : niveau de vigilance',                  'Flood: watch level',                      'local default (set per station from the Vigicrues levels)'),
    ('rainfall', 'warning', 'above', 20, 3600, 0,  'Pluie intense (> 20 mm/h)',                   'Intense rainfall (> 20 mm/h)',            'local default'),
    ('noise', 'warning', 'above', 85, 900, 0,      'Bruit élevé (> 85 dB(A) sur 15 min)',         'High noise (> 85 dB(A) over 15 min)',     'local default'),
    ('temperature', 'warning', 'above', 35, 3600, 0, 'Forte chaleur (> 35 °C)',                   'Heat (> 35 °C)',                          'local default'),
    ('temperature', 'warning', 'below', -5, 3600, 0, 'Grand froid (< -5 °C)',                     'Severe cold (< -5 °C)',                   'local default');

-- A learned profile: for each slot of the week (slot_s wide, Monday 00:00 local time = slot 0), the
-- robust centre and spread of past readings. Anomalies are scored against it.
CREATE TABLE sensing.profiles (
    sensor_id    bigint NOT NULL REFERENCES twin.sensors ON DELETE CASCADE,
    slot         integer NOT NULL CHECK (slot >= 0),
    slot_s       integer NOT NULL CHECK (slot_s > 0 AND 604800 % slot_s = 0),
    median       double precision NOT NULL,
    -- Median absolute deviation, raw: detection multiplies it by 1.4826 to estimate a standard deviation.
    mad          double precision NOT NULL CHECK (mad >= 0),
    samples      integer NOT NULL CHECK (samples > 0),
    learned_from timestamptz NOT NULL,
    learned_to   timestamptz NOT NULL,
    timezone     text NOT NULL DEFAULT 'Europe/Paris',
    PRIMARY KEY (sensor_id, slot)
);
COMMENT ON TABLE sensing.profiles IS 'Learned weekly profiles per sensor (median and MAD per slot of the week)';

CREATE TABLE sensing.detections (
    id            bigserial PRIMARY KEY,
    sensor_id     bigint NOT NULL REFERENCES twin.sensors ON DELETE CASCADE,
    rule          text NOT NULL CHECK (rule IN ('threshold', 'rate', 'flatline', 'gap', 'anomaly')),
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'alert', 'critical')),
    -- Observation time at which the condition started (the same condition seen again is not a new row).
    started_at    timestamptz NOT NULL,
    -- Observation time at which it cleared; NULL while it holds.
    ended_at      timestamptz,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    value         double precision,
    expected      double precision,
    -- Rule-specific strength: robust z-score, ratio to the threshold, minutes of flatline…
    score         double precision,
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    explanation_fr text NOT NULL,
    explanation_en text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    threshold_id  integer REFERENCES sensing.thresholds ON DELETE SET NULL,
    h3_cell       text NOT NULL,
    incident_id   bigint REFERENCES incidents.incidents ON DELETE SET NULL,
    UNIQUE (sensor_id, rule, started_at)
);
COMMENT ON TABLE sensing.detections IS 'What detection found, explained; correlated into incidents';
CREATE INDEX detections_open_idx ON sensing.detections (sensor_id) WHERE ended_at IS NULL;
CREATE INDEX detections_incident_idx ON sensing.detections (incident_id);
CREATE INDEX detections_started_brin ON sensing.detections USING brin (started_at);

SELECT audit.audit_table('sensing.thresholds');

-- Bumped by every change of thresholds or profiles: the live detector reads it once per batch (one cheap
-- round trip) and reloads its sensors' thresholds and profiles when it moved.
CREATE TABLE sensing.detection_config (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0
);
INSERT INTO sensing.detection_config DEFAULT VALUES;
COMMENT ON TABLE sensing.detection_config IS 'Version of thresholds + profiles, bumped by triggers';
CREATE FUNCTION sensing.bump_detection_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sensing.detection_config SET version = version + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER thresholds_bump_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sensing.thresholds
    FOR EACH STATEMENT EXECUTE FUNCTION sensing.bump_detection_config();
CREATE TRIGGER profiles_bump_config AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sensing.profiles
    FOR EACH STATEMENT EXECUTE FUNCTION sensing.bump_detection_config();
