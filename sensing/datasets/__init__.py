"""Real third-party datasets attached to the twin and replayed as sensor readings (docs/sensing-data.md)."""
