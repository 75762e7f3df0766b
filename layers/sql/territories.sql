-- Every territory with its extent in WGS84: the boundary's box when the import had a boundary, else
-- the box of its road graph, buildings, critical sites, street lights and GIS features (the water
-- network is restricted and does not contribute). Each part uses the territory_id index.
SELECT t.id,
       t.name,
       t.crs_epsg,
       t.source,
       t.imported_at,
       split_part(s.srtext, '"', 2) AS crs_name,
       ST_XMin(e.box) AS xmin, ST_YMin(e.box) AS ymin, ST_XMax(e.box) AS xmax, ST_YMax(e.box) AS ymax
  FROM twin.territory AS t
  LEFT JOIN spatial_ref_sys AS s ON s.srid = t.crs_epsg
  LEFT JOIN LATERAL (
      SELECT coalesce(box2d(t.boundary), ST_Extent(g.geom)) AS box
        FROM (
            SELECT geom FROM twin.road_nodes WHERE territory_id = t.id AND t.boundary IS NULL
            UNION ALL SELECT geom FROM twin.buildings WHERE territory_id = t.id AND t.boundary IS NULL
            UNION ALL SELECT geom FROM twin.critical_sites WHERE territory_id = t.id AND t.boundary IS NULL
            UNION ALL SELECT geom FROM twin.street_lights WHERE territory_id = t.id AND t.boundary IS NULL
            UNION ALL SELECT geom FROM twin.gis_features WHERE territory_id = t.id AND t.boundary IS NULL
        ) AS g
  ) AS e ON TRUE
 WHERE %(key)s::text IS NULL
    OR t.name = %(key)s
    OR t.id = CASE WHEN %(key)s ~ '^[0-9]{1,9}$' THEN %(key)s::integer END
 ORDER BY t.name = %(key)s DESC NULLS LAST, t.name
