"""The live stream: WebSocket and SSE push of incidents, detections and sensor updates (docs/live.md)."""
