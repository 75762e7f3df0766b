"""Live sensing: sensor readings ingested over MQTT, HTTP and files, stored once each, refused with a reason."""
