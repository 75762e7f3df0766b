"""Water network consequences: valve-controlled segments, isolation, and hydraulic break and leak scenarios."""
