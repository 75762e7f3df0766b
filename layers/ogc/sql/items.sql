-- One page of features as GeoJSON text plus a capped count of all matches, in one round trip.
-- {table}, {properties} and {where} are composed by layers.ogc.features from catalog-checked names;
-- every value (bbox corners, territory, page bounds, property keys) is a bound parameter.
-- The page fetches limit + 1 rows: the extra row only tells whether a next page exists.
-- The count stops at count_cap + 1 rows so that a huge table never costs a full count.
-- GeoJSON is assembled as text in PostgreSQL: Python never parses or re-serialises the features.
WITH page AS (
    SELECT t.id, t.geom, {properties} AS properties
      FROM {table} AS t
     WHERE {where}
     ORDER BY t.id
     LIMIT %(limit)s + 1 OFFSET %(offset)s
), numbered AS (
    SELECT page.*, row_number() OVER (ORDER BY page.id) AS n FROM page
)
SELECT (SELECT count(*) FROM (SELECT 1 FROM {table} AS t WHERE {where} LIMIT %(count_cap)s + 1) AS c)
           AS matched,
       count(*) AS fetched,
       coalesce(string_agg(
           '{{"type":"Feature","id":' || id
           || ',"geometry":' || CASE WHEN geom IS NULL OR ST_IsEmpty(geom) THEN 'null' ELSE ST_AsGeoJSON(geom, 7) END
           || ',"properties":' || properties::text || '}}',
           ',' ORDER BY id) FILTER (WHERE n <= %(limit)s), '') AS features
  FROM numbered
