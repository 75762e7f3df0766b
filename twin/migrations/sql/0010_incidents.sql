-- Incidents and the control room's log (main courante). An incident is created by detection (correlated
-- detections of one place and time window) or by hand, located, linked to assets, and goes
-- new → acknowledged → assigned → resolved. Every change is written to incidents.log and to the audit trail.

CREATE SCHEMA incidents;

CREATE TABLE incidents.incidents (
    id               bigserial PRIMARY KEY,
    territory_id     integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    title            text NOT NULL CHECK (length(trim(title)) BETWEEN 1 AND 300),
    -- water, air, traffic, lighting, energy, weather, security, other (incidents/model.py lists them).
    category         text NOT NULL CHECK (category ~ '^[a-z][a-z_]{0,39}$'),
    status           text NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'acknowledged', 'assigned', 'resolved')),
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'alert', 'critical')),
    -- 0..100, from severity, exposure and confidence (incidents/priority.py explains the formula).
    priority         integer NOT NULL CHECK (priority BETWEEN 0 AND 100),
    confidence       double precision NOT NULL DEFAULT 1 CHECK (confidence BETWEEN 0 AND 1),
    -- What is exposed: residents nearby, critical sites nearby (id, name, kind, distance_m).
    exposure         jsonb NOT NULL DEFAULT '{}',
    origin           text NOT NULL CHECK (origin IN ('detection', 'manual')),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    geom             geometry(Point, 4326) NOT NULL,
    -- H3 cell (resolution 9, ≈0.1 km²) of geom: detections of neighbouring cells join the incident.
    h3_cell          text NOT NULL,
    asset_layer      text,
    asset_id         bigint,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    -- Observation time of the latest detection joined (opened_at for an incident declared by hand):
    -- detections of a later batch join the incident while they start within the correlation window of it.
    last_observed_at timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    assigned_at      timestamptz,
    resolved_at      timestamptz,
    -- Who acts: a crew (dispatch job created for it) or a service named in words.
    assigned_crew_id bigint REFERENCES dispatch.crews ON DELETE SET NULL,
    assigned_to      text CHECK (assigned_to IS NULL OR length(assigned_to) <= 200),
    dispatch_job_id  bigint REFERENCES dispatch.jobs ON DELETE SET NULL,
    created_by       text NOT NULL,
    resolution       text CHECK (resolution IS NULL OR length(resolution) <= 10000),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK ((asset_layer IS NULL) = (asset_id IS NULL))
);
COMMENT ON TABLE incidents.incidents IS 'Incidents: detected or declared, located, prioritised, with a lifecycle';
CREATE INDEX incidents_open_idx ON incidents.incidents (territory_id, priority DESC) WHERE status <> 'resolved';
CREATE INDEX incidents_geom_idx ON incidents.incidents USING gist (geom);
CREATE INDEX incidents_h3_idx ON incidents.incidents (territory_id, category, h3_cell) WHERE status <> 'resolved';

-- The main courante: every event of the control room, in order, attached to an incident or general.
CREATE TABLE incidents.log (
    id           bigserial PRIMARY KEY,
    incident_id  bigint REFERENCES incidents.incidents ON DELETE CASCADE,
    territory_id integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    author       text NOT NULL,
    entry        text NOT NULL
                 CHECK (entry IN ('created', 'status', 'assignment', 'priority', 'detection', 'note', 'edit')),
    text         text NOT NULL CHECK (length(text) BETWEEN 1 AND 10000),
    data         jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE incidents.log IS 'Main courante: the control room log, append-only';
CREATE INDEX log_incident_idx ON incidents.log (incident_id, id);
CREATE INDEX log_territory_idx ON incidents.log (territory_id, id);

CREATE FUNCTION incidents.refuse_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incidents.log is append-only: add an entry instead of changing one';
END $$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON incidents.log
    FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION incidents.refuse_log_change();

SELECT audit.audit_table('incidents.incidents');
