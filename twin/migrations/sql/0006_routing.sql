-- Routing: turn restrictions read from OSM, and closures/slowdowns laid over the resident road graph.
-- The graph itself lives in server memory (routing/); these tables are what it is built and overlaid from.

CREATE SCHEMA routing;
COMMENT ON SCHEMA routing IS 'Road graph inputs beside twin.road_edges: turn restrictions, closures and slowdowns.';

-- OSM type=restriction relations with one from-way, one via-node and one to-way (the common case; via-way
-- restrictions are not kept). Arcs are matched at graph build through road_edges.source_id ("way/…") and
-- road_nodes.source_id ("node/…"), so a simplified arc spanning several ways still matches.
CREATE TABLE routing.turn_restrictions (
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    relation_id   bigint NOT NULL,
    restriction   text NOT NULL CHECK (restriction ~ '^(no|only)_[a-z_]+$'),
    from_way      bigint NOT NULL,
    via_node      bigint NOT NULL,
    to_way        bigint NOT NULL,
    tags          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (territory_id, relation_id)
);
COMMENT ON TABLE routing.turn_restrictions IS
    'OSM turn restrictions (no_*/only_*, from way, via node, to way); tags keep except=, day_on= etc.';

-- A closure (the arcs cannot be used) or a slowdown (travel time multiplied by travel_time_factor), on
-- explicit arcs, on every arc meeting an area (a flooded zone), or both; incident_id groups the closures an
-- incident caused so that they can be listed and lifted together.
CREATE TABLE routing.closures (
    id                  bigserial PRIMARY KEY,
    territory_id        integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('closure', 'slowdown')),
    travel_time_factor  double precision,
    edge_ids            bigint[] NOT NULL DEFAULT '{}',
    area                geometry(MultiPolygon, 4326) CHECK (area IS NULL OR ST_IsValid(area)),
    incident_id         text CHECK (incident_id IS NULL OR length(trim(incident_id)) > 0),
    profiles            text[] CHECK (profiles IS NULL OR cardinality(profiles) > 0),
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_until         timestamptz,
    reason              text NOT NULL CHECK (length(trim(reason)) > 0),
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'closure' AND travel_time_factor IS NULL)
        OR (kind = 'slowdown' AND travel_time_factor > 1 AND travel_time_factor <= 100)),
    CHECK (cardinality(edge_ids) > 0 OR area IS NOT NULL),
    CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX closures_territory_idx ON routing.closures (territory_id, valid_until);
CREATE INDEX closures_incident_idx ON routing.closures (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX closures_area_idx ON routing.closures USING gist (area);
COMMENT ON COLUMN routing.closures.travel_time_factor IS 'Slowdowns: travel time x factor (>1); NULL for closures.';
COMMENT ON COLUMN routing.closures.profiles IS 'Profiles it applies to (car, emergency, crew_van, pedestrian); NULL = all.';

-- Every server process applies closure and restriction changes at once: one NOTIFY per statement.
CREATE FUNCTION routing.notify_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('routing_changed', json_build_object('table', TG_TABLE_NAME)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER closures_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing.closures
    FOR EACH STATEMENT EXECUTE FUNCTION routing.notify_change();
CREATE TRIGGER turn_restrictions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing.turn_restrictions
    FOR EACH STATEMENT EXECUTE FUNCTION routing.notify_change();

SELECT audit.audit_table('routing.closures');

-- GIS staff see closures and restrictions in QGIS; they change them through the API (audited as themselves).
GRANT USAGE ON SCHEMA routing TO hyperviseur_gis_editor;
GRANT SELECT ON routing.closures, routing.turn_restrictions TO hyperviseur_gis_editor;
