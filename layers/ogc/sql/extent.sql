-- Spatial extent of one collection in CRS84 (geometries are stored in EPSG:4326, lon/lat order).
-- Exact (ST_Extent) but cached by the caller: it reads the whole layer.
SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax
  FROM (SELECT ST_Extent(t.geom) AS e FROM {table} AS t WHERE {where}) AS s
