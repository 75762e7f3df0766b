"""OGC API Features: routes, parameter validation, feature SQL, links and the OpenAPI 3.0 document."""
