-- Figures of one territory that do not depend on the catalog: residents and road network length.
-- Road arcs are directed (a two-way street is two rows, one per direction), so the street length
-- counts an arc half when its opposite arc (same nodes swapped, same length) exists; the directed
-- total is reported beside it. The opposite arc is found through road_edges_source_idx.
SELECT (SELECT sum(residents_est) FROM twin.buildings WHERE territory_id = %(territory_id)s) AS residents_est,
       (SELECT sum(e.length_m * CASE WHEN EXISTS (
                   SELECT 1 FROM twin.road_edges AS r
                    WHERE r.source_node = e.target_node AND r.target_node = e.source_node
                      AND r.id <> e.id AND abs(r.length_m - e.length_m) < 0.5) THEN 0.5 ELSE 1 END) / 1000.0
          FROM twin.road_edges AS e WHERE e.territory_id = %(territory_id)s) AS road_network_km,
       (SELECT sum(length_m) / 1000.0 FROM twin.road_edges WHERE territory_id = %(territory_id)s)
           AS road_arcs_km
