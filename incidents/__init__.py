"""Incidents: correlation of detections, priority, lifecycle and the main courante (docs/incidents.md)."""
