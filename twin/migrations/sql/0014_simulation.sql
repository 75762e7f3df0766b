-- Consequence simulation (issue 8): the territory's dependency links (derived at import, editable), power
-- feeders when known, planners' what-if scenarios and their runs, and the consequence reports computed for
-- incidents. simulation/ reads and writes these; docs/simulation.md explains them.

CREATE SCHEMA simulation;

-- Power feeders (substations, lighting cabinets) when the territory knows them: street lights and pumps hang
-- from one through 'power_feed' links.
CREATE TABLE simulation.power_feeders (
    id           bigserial PRIMARY KEY,
    territory_id integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 200),
    kind         text NOT NULL DEFAULT 'cabinet' CHECK (kind IN ('substation', 'cabinet', 'other')),
    attributes   jsonb NOT NULL DEFAULT '{}',
    geom         geometry(Point, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);
COMMENT ON TABLE simulation.power_feeders IS 'Power feeders (substations, lighting cabinets) when known';
CREATE INDEX power_feeders_geom_idx ON simulation.power_feeders USING gist (geom);

-- One row per dependent and link kind and origin: 'derived' rows are replaced by every derivation, an
-- 'edited' row (a person's correction) survives them and wins over the derived one. An edited row with no
-- provider says "this dependent has no such provider" (e.g. a building served by a private well).
CREATE TABLE simulation.dependency_links (
    id              bigserial PRIMARY KEY,
    territory_id    integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    kind            text NOT NULL
                    CHECK (kind IN ('road_access', 'water_service', 'street_light_road', 'power_feed',
                                    'sensor_asset')),
    dependent_layer text NOT NULL CHECK (dependent_layer ~ '^[a-z][a-z_]{0,62}$'),
    dependent_id    bigint NOT NULL,
    provider_layer  text NOT NULL CHECK (provider_layer ~ '^[a-z][a-z_]{0,62}$'),
    provider_id     bigint,
    -- Road arcs: where along the arc (0..1) the dependent meets it.
    position        double precision CHECK (position IS NULL OR position BETWEEN 0 AND 1),
    distance_m      double precision CHECK (distance_m IS NULL OR distance_m >= 0),
    origin          text NOT NULL CHECK (origin IN ('derived', 'edited')),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    updated_by      text NOT NULL DEFAULT 'import',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (origin = 'edited' OR provider_id IS NOT NULL),
    UNIQUE (territory_id, kind, dependent_layer, dependent_id, origin)
);
COMMENT ON TABLE simulation.dependency_links IS 'Typed links between assets (derived at import, editable)';
CREATE INDEX dependency_links_provider_idx
    ON simulation.dependency_links (territory_id, provider_layer, provider_id);
SELECT audit.audit_table('simulation.power_feeders');

-- Every write to the links (an edit through the API, a derivation, a GIS edit) tells the servers which
-- territory's resident models are stale: NOTIFY dependencies_changed, payload the territory id, once per
-- statement (a derivation's COPY of 60,000 rows is one notification).
CREATE FUNCTION simulation.notify_dependencies_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE t integer;
BEGIN
    FOR t IN SELECT DISTINCT territory_id FROM changed LOOP
        PERFORM pg_notify('dependencies_changed', t::text);
    END LOOP;
    RETURN NULL;
END $$;
-- Transition tables allow one event per trigger: three triggers, one function.
CREATE TRIGGER dependency_links_inserted AFTER INSERT ON simulation.dependency_links
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION simulation.notify_dependencies_changed();
CREATE TRIGGER dependency_links_updated AFTER UPDATE ON simulation.dependency_links
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION simulation.notify_dependencies_changed();
CREATE TRIGGER dependency_links_deleted AFTER DELETE ON simulation.dependency_links
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION simulation.notify_dependencies_changed();

-- Planners' what-if scenarios: a fork of the live state (its closures at forked_at) plus events and measures.
CREATE TABLE simulation.scenarios (
    id            bigserial PRIMARY KEY,
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    -- Initiating events and measures, as the API takes them (simulation/scenarios/model.py validates).
    events        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(events) = 'array'),
    measures      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(measures) = 'array'),
    -- The live state it starts from: the instant, and the live closures in force then.
    forked_at     timestamptz NOT NULL DEFAULT now(),
    live_closures jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(live_closures) = 'array'),
    -- Optimistic concurrency: an edit names the version it read, a run records the version it ran.
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE simulation.scenarios IS 'What-if scenarios: live state forked, events and measures added';
CREATE INDEX scenarios_territory_idx ON simulation.scenarios (territory_id, updated_at DESC);
SELECT audit.audit_table('simulation.scenarios');

CREATE TABLE simulation.scenario_runs (
    id               bigserial PRIMARY KEY,
    scenario_id      bigint NOT NULL REFERENCES simulation.scenarios ON DELETE CASCADE,
    scenario_version integer NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress         double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    stage            text NOT NULL DEFAULT '' CHECK (length(stage) <= 200),
    requested_by     text NOT NULL,
    queued_at        timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    -- KPIs of the baseline (live state at forked_at) and of the scenario, side by side.
    baseline_kpis    jsonb,
    kpis             jsonb,
    -- The complete consequence report of the scenario (affected assets, access, water, actions).
    report           jsonb,
    error            text CHECK (error IS NULL OR length(error) <= 4000),
    CHECK ((status IN ('done', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
COMMENT ON TABLE simulation.scenario_runs IS 'Runs of what-if scenarios, with progress, KPIs and report';
CREATE INDEX scenario_runs_scenario_idx ON simulation.scenario_runs (scenario_id, id DESC);
CREATE INDEX scenario_runs_pending_idx ON simulation.scenario_runs (id) WHERE status IN ('queued', 'running');

-- Consequences computed automatically for incidents (live use): one row per incident, recomputed when the
-- incident's place or asset changes.
CREATE TABLE simulation.incident_consequences (
    incident_id  bigint PRIMARY KEY REFERENCES incidents.incidents ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'done', 'failed', 'not_applicable')),
    -- The initiating events inferred from the incident (category, place, asset).
    events       jsonb NOT NULL DEFAULT '[]',
    report       jsonb,
    error        text CHECK (error IS NULL OR length(error) <= 4000),
    requested_at timestamptz NOT NULL DEFAULT now(),
    computed_at  timestamptz,
    duration_ms  double precision
);
COMMENT ON TABLE simulation.incident_consequences IS 'Consequence reports computed for incidents';
CREATE INDEX incident_consequences_pending_idx
    ON simulation.incident_consequences (requested_at) WHERE status = 'pending';

-- Synthetic water networks (`hyperviseur synthesize water`, docs/simulation.md): every row it writes says
-- {"synthetic": true} in its attributes; this derived column carries the flag to the OGC API, the tiles and
-- QGIS, which only show columns. A catalog field and a tile property: titles and descriptions are unchanged.
-- The catalog gains a field the schema defines, not a person's edit: kept out of the audit trail (which starts
-- empty on a fresh database and records data changes).
ALTER TABLE twin.layer_catalog DISABLE TRIGGER audit_update;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['water_junctions', 'water_tanks', 'water_reservoirs', 'water_pipes', 'water_valves',
        'water_pumps']
    LOOP
        EXECUTE format('ALTER TABLE twin.%I ADD COLUMN synthetic boolean'
                       ' GENERATED ALWAYS AS (attributes @> ''{"synthetic": true}'') STORED', t);
        EXECUTE format('COMMENT ON COLUMN twin.%I.synthetic IS %L', t,
                       'True for a row laid by hyperviseur synthesize water (an assumed network, not surveyed).');
        UPDATE twin.layer_catalog
           SET fields = fields || '[{"name": "synthetic", "type": "boolean", "title_fr": "Synthétique (supposé)",
                                     "title_en": "Synthetic (assumed)"}]'::jsonb
         WHERE name = t AND NOT fields @> '[{"name": "synthetic"}]';
    END LOOP;
END $$;
ALTER TABLE twin.layer_catalog ENABLE TRIGGER audit_update;
SELECT tiles.define_tile_function('water_pipes', 'water_pipes', 12,
    $$t.id, t.name, t.diameter_m, t.synthetic,
      CASE WHEN z >= 15 THEN t.start_node END AS start_node,
      CASE WHEN z >= 15 THEN t.end_node END AS end_node,
      CASE WHEN z >= 15 THEN t.length_m END AS length_m,
      CASE WHEN z >= 15 THEN t.status END AS status$$,
    'true', true);
SELECT tiles.define_tile_function('water_valves', 'water_valves', 14,
    't.id, t.name, t.start_node, t.end_node, t.valve_type, t.synthetic');
SELECT tiles.define_tile_function('water_pumps', 'water_pumps', 14,
    't.id, t.name, t.start_node, t.end_node, t.pump_type, t.synthetic');
SELECT tiles.define_tile_function('water_junctions', 'water_junctions', 14,
    't.id, t.name, t.elevation_m, t.base_demand_m3_s, t.synthetic');
SELECT tiles.define_tile_function('water_tanks', 'water_tanks', 12,
    't.id, t.name, t.elevation_m, t.max_level_m, t.synthetic');
SELECT tiles.define_tile_function('water_reservoirs', 'water_reservoirs', 12, 't.id, t.name, t.base_head_m, t.synthetic');
