-- The territory twin: one schema, every geometry column with its SRID declared.
-- Geometries are stored in WGS84 (EPSG:4326) so that every consumer (OGC API, tiles, QGIS) reads the
-- same column; metric values (length_m, area_m2) are computed at import in the territory's projected
-- CRS (twin.territory.crs_epsg) and stored, never derived from degrees.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS twin;

CREATE TABLE twin.territory (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    crs_epsg    integer NOT NULL CHECK (crs_epsg > 0),
    source      text,
    imported_at timestamptz NOT NULL DEFAULT now(),
    boundary    geometry(MultiPolygon, 4326)
);
COMMENT ON TABLE twin.territory IS 'A territory (commune, agglomeration); every feature belongs to one.';
COMMENT ON COLUMN twin.territory.crs_epsg IS 'Projected CRS for metric work: 2154 in metropolitan France, else UTM.';

CREATE TABLE twin.road_nodes (
    id            bigserial PRIMARY KEY,
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    source_id     text,
    street_count  integer,
    attributes    jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Point, 4326) NOT NULL
);

-- Directed arcs, as in an osmnx MultiDiGraph: a two-way street is two rows.
CREATE TABLE twin.road_edges (
    id             bigserial PRIMARY KEY,
    territory_id   integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    source_node    bigint NOT NULL REFERENCES twin.road_nodes ON DELETE CASCADE,
    target_node    bigint NOT NULL REFERENCES twin.road_nodes ON DELETE CASCADE,
    source_id      text,
    name           text,
    highway        text NOT NULL,
    oneway         boolean NOT NULL DEFAULT false,
    reversed       boolean NOT NULL DEFAULT false,
    maxspeed       text,
    lanes          text,
    length_m       double precision NOT NULL CHECK (length_m >= 0),
    speed_kph      double precision NOT NULL CHECK (speed_kph > 0),
    travel_time_s  double precision NOT NULL CHECK (travel_time_s >= 0),
    attributes     jsonb NOT NULL DEFAULT '{}',
    geom           geometry(LineString, 4326) NOT NULL
);

CREATE TABLE twin.buildings (
    id              bigserial PRIMARY KEY,
    territory_id    integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    source_id       text,
    name            text,
    use             text,
    height_m        double precision CHECK (height_m IS NULL OR height_m >= 0),
    levels          integer CHECK (levels IS NULL OR levels >= 0),
    area_m2         double precision CHECK (area_m2 IS NULL OR area_m2 >= 0),
    residents_est   integer CHECK (residents_est IS NULL OR residents_est >= 0),
    attributes      jsonb NOT NULL DEFAULT '{}',
    geom            geometry(MultiPolygon, 4326) NOT NULL
);
COMMENT ON COLUMN twin.buildings.residents_est IS 'Estimated residents: residential floor area / 40 m2 per person.';

CREATE TABLE twin.critical_sites (
    id            bigserial PRIMARY KEY,
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    source_id     text,
    name          text,
    kind          text NOT NULL CHECK (kind IN (
        'hospital', 'clinic', 'school', 'kindergarten', 'nursing_home', 'fire_station', 'police',
        'town_hall', 'water_works', 'pharmacy', 'shelter', 'power_substation', 'other')),
    attributes    jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Point, 4326) NOT NULL
);

CREATE TABLE twin.street_lights (
    id            bigserial PRIMARY KEY,
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    source_id     text,
    lamp_type     text,
    power_w       double precision CHECK (power_w IS NULL OR power_w >= 0),
    attributes    jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Point, 4326) NOT NULL
);

CREATE TABLE twin.water_junctions (
    id                 bigserial PRIMARY KEY,
    territory_id       integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name               text NOT NULL,
    elevation_m        double precision,
    base_demand_m3_s   double precision,
    attributes         jsonb NOT NULL DEFAULT '{}',
    geom               geometry(Point, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);

CREATE TABLE twin.water_tanks (
    id               bigserial PRIMARY KEY,
    territory_id     integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name             text NOT NULL,
    elevation_m      double precision,
    init_level_m     double precision,
    min_level_m      double precision,
    max_level_m      double precision,
    diameter_m       double precision,
    attributes       jsonb NOT NULL DEFAULT '{}',
    geom             geometry(Point, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);

CREATE TABLE twin.water_reservoirs (
    id            bigserial PRIMARY KEY,
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name          text NOT NULL,
    base_head_m   double precision,
    attributes    jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Point, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);

CREATE TABLE twin.water_pipes (
    id             bigserial PRIMARY KEY,
    territory_id   integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name           text NOT NULL,
    start_node     text NOT NULL,
    end_node       text NOT NULL,
    length_m       double precision CHECK (length_m IS NULL OR length_m >= 0),
    diameter_m     double precision CHECK (diameter_m IS NULL OR diameter_m >= 0),
    roughness      double precision,
    status         text,
    attributes     jsonb NOT NULL DEFAULT '{}',
    geom           geometry(LineString, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);

CREATE TABLE twin.water_valves (
    id             bigserial PRIMARY KEY,
    territory_id   integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name           text NOT NULL,
    start_node     text NOT NULL,
    end_node       text NOT NULL,
    valve_type     text,
    diameter_m     double precision,
    setting        double precision,
    attributes     jsonb NOT NULL DEFAULT '{}',
    geom           geometry(LineString, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);

CREATE TABLE twin.water_pumps (
    id             bigserial PRIMARY KEY,
    territory_id   integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name           text NOT NULL,
    start_node     text NOT NULL,
    end_node       text NOT NULL,
    pump_type      text,
    attributes     jsonb NOT NULL DEFAULT '{}',
    geom           geometry(LineString, 4326) NOT NULL,
    UNIQUE (territory_id, name)
);

CREATE TABLE twin.sensors (
    id             bigserial PRIMARY KEY,
    territory_id   integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    name           text NOT NULL,
    kind           text NOT NULL,
    unit           text NOT NULL,
    asset_layer    text,
    asset_id       bigint,
    attributes     jsonb NOT NULL DEFAULT '{}',
    geom           geometry(Point, 4326) NOT NULL
);

-- Features of layers imported from GIS files that have no dedicated table (e.g. defibrillators).
CREATE TABLE twin.gis_features (
    id            bigserial PRIMARY KEY,
    territory_id  integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    layer         text NOT NULL,
    source_id     text,
    attributes    jsonb NOT NULL DEFAULT '{}',
    geom          geometry(Geometry, 4326) NOT NULL
);

-- What every layer is, for the API, the tiles, the console and access control.
CREATE TABLE twin.layer_catalog (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    table_name      text NOT NULL,
    layer_filter    text,
    title_fr        text NOT NULL,
    title_en        text NOT NULL,
    description_fr  text NOT NULL DEFAULT '',
    geometry_type   text NOT NULL,
    fields          jsonb NOT NULL DEFAULT '[]',
    visibility      text NOT NULL DEFAULT 'internal' CHECK (visibility IN ('public', 'internal', 'restricted')),
    editable        boolean NOT NULL DEFAULT false,
    sort_order      integer NOT NULL DEFAULT 100
);
COMMENT ON COLUMN twin.layer_catalog.layer_filter IS 'For twin.gis_features: the value of its layer column.';
COMMENT ON COLUMN twin.layer_catalog.visibility IS
    'public: anyone; internal: signed-in agents; restricted: personal or sensitive data, named roles only.';

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['road_nodes', 'road_edges', 'buildings', 'critical_sites', 'street_lights',
        'water_junctions', 'water_tanks', 'water_reservoirs', 'water_pipes', 'water_valves', 'water_pumps',
        'sensors', 'gis_features']
    LOOP
        EXECUTE format('CREATE INDEX %I ON twin.%I USING gist (geom)', t || '_geom_idx', t);
        EXECUTE format('CREATE INDEX %I ON twin.%I (territory_id)', t || '_territory_idx', t);
    END LOOP;
END $$;
CREATE INDEX territory_boundary_idx ON twin.territory USING gist (boundary);
CREATE INDEX road_edges_source_idx ON twin.road_edges (source_node);
CREATE INDEX road_edges_target_idx ON twin.road_edges (target_node);
CREATE INDEX gis_features_layer_idx ON twin.gis_features (layer, id);
