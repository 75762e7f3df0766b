"""Detection of incidents and weak signals in sensor readings (docs/detection.md)."""
