"""Vector and raster tiles served from PostGIS SQL tile functions (to come)."""
