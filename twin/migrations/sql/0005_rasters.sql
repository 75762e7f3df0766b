-- Raster layers (elevation models, air-quality or noise grids, flood depths): each is one Cloud-Optimised
-- GeoTIFF under <var_dir>/rasters/, written by `hyperviseur import raster`, and one row here that the raster
-- tile routes (/raster/...) resolve a name through. A client only ever names a raster: file paths never
-- travel over HTTP.

CREATE TABLE twin.rasters (
    id              serial PRIMARY KEY,
    territory_id    integer NOT NULL REFERENCES twin.territory ON DELETE CASCADE,
    -- Same rule as twin.layer_catalog names; the importer also refuses a name the catalog already uses, so
    -- that one name means one layer in the console whatever its kind.
    name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    title_fr        text NOT NULL,
    title_en        text NOT NULL,
    description_fr  text NOT NULL DEFAULT '',
    -- Relative to the var dir, inside rasters/: a database row can never point a tile route elsewhere.
    path            text NOT NULL UNIQUE CHECK (path ~ '^rasters/[a-z][a-z0-9_]{0,62}\.tif$'),
    band_count      integer NOT NULL CHECK (band_count >= 1),
    dtype           text NOT NULL,
    nodata          double precision,
    unit            text,
    crs             text NOT NULL,
    width           integer NOT NULL CHECK (width > 0),
    height          integer NOT NULL CHECK (height > 0),
    resolution_m    double precision CHECK (resolution_m IS NULL OR resolution_m > 0),
    min             jsonb NOT NULL DEFAULT '[]',
    max             jsonb NOT NULL DEFAULT '[]',
    statistics      jsonb NOT NULL DEFAULT '[]',
    visibility      text NOT NULL DEFAULT 'internal' CHECK (visibility IN ('public', 'internal', 'restricted')),
    source          text,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    footprint       geometry(Polygon, 4326) NOT NULL
);
COMMENT ON TABLE twin.rasters IS 'Raster layers served as tiles by /raster; the pixels live in the COG at path.';
COMMENT ON COLUMN twin.rasters.crs IS 'CRS of the source grid, kept as is in the COG (e.g. EPSG:2154).';
COMMENT ON COLUMN twin.rasters.min IS 'Per band minimum of valid pixels (nodata excluded), a JSON array.';
COMMENT ON COLUMN twin.rasters.statistics IS
    'Per band: count of valid pixels, mean, std, p2, p98 (nodata excluded), a JSON array of objects.';
COMMENT ON COLUMN twin.rasters.visibility IS
    'Same rule as twin.layer_catalog.visibility (twin.security.permissions.LAYER_VISIBILITY).';
CREATE INDEX rasters_footprint_idx ON twin.rasters USING gist (footprint);
CREATE INDEX rasters_territory_idx ON twin.rasters (territory_id);

SELECT audit.audit_table('twin.rasters');

-- GIS staff (QGIS) see which rasters exist; rasters change only through the importer, which writes the file
-- and the row together.
GRANT SELECT ON twin.rasters TO hyperviseur_gis_editor;
