"""Territory data: importers (OSM, GIS files, EPANET), the layer catalog, OGC API Features."""
