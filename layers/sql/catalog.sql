-- The layer catalog, with the real columns of each layer's table: a catalog field that is not a column
-- (or, for twin.gis_features layers, not an attribute key) is never put into SQL as an identifier.
-- Layers whose table does not exist, or lacks id/territory_id/geom, are left out by the caller.
SELECT c.name,
       c.table_name,
       c.layer_filter,
       c.title_fr,
       c.title_en,
       c.description_fr,
       c.geometry_type,
       c.fields,
       c.visibility,
       c.sort_order,
       coalesce(
           (SELECT array_agg(a.attname::text ORDER BY a.attnum)
              FROM pg_attribute AS a
             WHERE a.attrelid = to_regclass('twin.' || quote_ident(c.table_name))
               AND a.attnum > 0
               AND NOT a.attisdropped),
           '{}'::text[]
       ) AS columns
  FROM twin.layer_catalog AS c
 ORDER BY c.sort_order, c.name
