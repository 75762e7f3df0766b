"""Importers: each reads a source, validates it into TerritoryData, and only then writes it."""
