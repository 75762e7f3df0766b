-- Feature count of one layer in one territory (through the <table>_territory_idx index); the caller
-- joins one such query per visible layer with UNION ALL. {layer} is a bound parameter.
SELECT {layer}::text AS layer, count(*) AS features
  FROM {table} AS t
 WHERE t.territory_id = %(territory_id)s{layer_filter}
