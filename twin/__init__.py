"""The kernel of Hyperviseur: settings, database, schema, errors, app composition and CLI."""

__version__ = "0.1.0"
