-- One feature as GeoJSON text; {where} restricts to the collection (layer filter of gis_features).
SELECT '{{"type":"Feature","id":' || t.id
       || ',"geometry":' || CASE WHEN t.geom IS NULL OR ST_IsEmpty(t.geom) THEN 'null' ELSE ST_AsGeoJSON(t.geom, 7) END
       || ',"properties":' || ({properties})::text || '}}' AS feature
  FROM {table} AS t
 WHERE t.id = %(feature_id)s AND {where}
